"""The chapter's own examples, values and shapes, on every backend that has the op.

The published values are small integers; a backend that rounds (an FFT) must
hit them to 1e-12, an exact one (direct sums) hits them exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import implementing

import convreg

X3 = np.arange(9.0).reshape(3, 3)
K2 = np.array([[0.0, 1.0], [2.0, 3.0]])


def assert_published(actual, expected) -> None:
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12)


def edge_image() -> np.ndarray:
    X = np.ones((6, 8))
    X[:, 2:6] = 0
    return X


@pytest.mark.parametrize("backend", implementing("corr2d"))
def test_corr2d_of_0_to_8(backend):
    Y = convreg.corr2d(X3, K2, backend=backend)
    assert_published(Y, [[19.0, 25.0], [37.0, 43.0]])


@pytest.mark.parametrize("backend", implementing("corr2d"))
def test_edge_detection(backend):
    Y = convreg.corr2d(edge_image(), [[1.0, -1.0]], backend=backend)
    assert Y.shape == (6, 7)
    assert_published(Y, np.tile([0.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0], (6, 1)))


@pytest.mark.parametrize("backend", implementing("corr2d"))
def test_edge_detector_misses_horizontal_edges(backend):
    Y = convreg.corr2d(edge_image().T, [[1.0, -1.0]], backend=backend)
    assert Y.shape == (8, 5)
    assert_published(Y, np.zeros((8, 5)))


@pytest.mark.parametrize("backend", implementing("conv2d"))
@pytest.mark.parametrize(
    "kernel, padding, stride, expected",
    [
        (3, 1, 1, (8, 8)),
        ((5, 3), (2, 1), 1, (8, 8)),
        (3, 1, 2, (4, 4)),
        ((3, 5), (0, 1), (3, 5), (2, 2)),
    ],
)
def test_padding_and_stride_shapes(backend, kernel, padding, stride, expected):
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = np.random.default_rng(0).random((1, 1, 8, 8))
    y = convreg.conv2d(x, np.ones((1, 1) + k), padding=padding, stride=stride, backend=backend)
    assert y.shape[2:] == expected
    assert convreg.output_shape((8, 8), kernel, stride, padding) == expected


@pytest.mark.parametrize("backend", implementing("conv2d"))
def test_two_input_channels(backend):
    x = np.stack([X3, X3 + 1])
    w = np.stack([K2, K2 + 1])[None]
    assert_published(convreg.conv2d(x, w, backend=backend),
                                  [[[56.0, 72.0], [104.0, 120.0]]])


@pytest.mark.parametrize("backend", implementing("conv2d"))
def test_multiple_output_channels_stack(backend):
    x = np.stack([X3, X3 + 1])
    K = np.stack([K2, K2 + 1])
    w = np.stack([K, K + 1, K + 2])
    y = convreg.conv2d(x, w, backend=backend)
    assert y.shape == (3, 2, 2)
    assert_published(y[0], [[56.0, 72.0], [104.0, 120.0]])
    assert_published(y[1], [[76.0, 100.0], [148.0, 172.0]])
    assert_published(y[2], [[96.0, 128.0], [192.0, 224.0]])


@pytest.mark.parametrize("backend", implementing("conv2d"))
def test_1x1_convolution_is_a_matrix_product(backend):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((3, 3, 3)), rng.standard_normal((2, 3, 1, 1))
    y = convreg.conv2d(x, w, backend=backend)
    expected = (w.reshape(2, 3) @ x.reshape(3, 9)).reshape(2, 3, 3)
    np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("backend", implementing("max_pool2d"))
def test_max_pooling(backend):
    assert_published(
        convreg.max_pool2d(X3[None], 2, stride=1, backend=backend), [[[4.0, 5.0], [7.0, 8.0]]])


@pytest.mark.parametrize("backend", implementing("avg_pool2d"))
def test_average_pooling(backend):
    assert_published(
        convreg.avg_pool2d(X3[None], 2, stride=1, backend=backend), [[[2.0, 3.0], [5.0, 6.0]]])


@pytest.mark.parametrize("backend", implementing("max_pool2d"))
def test_max_pooling_with_padding_and_stride(backend):
    X = np.arange(16.0).reshape(1, 1, 4, 4)
    assert_published(
        convreg.max_pool2d(X, 3, padding=1, stride=2, backend=backend), [[[[5.0, 7.0], [13.0, 15.0]]]])
    # the default stride is the window: one 3x3 window
    assert_published(convreg.max_pool2d(X, 3, backend=backend), [[[[10.0]]]])
    # a (2, 3) window, padding (0, 1), stride (2, 3)
    assert_published(
        convreg.max_pool2d(X, (2, 3), padding=(0, 1), stride=(2, 3), backend=backend),
        [[[[5.0, 7.0], [13.0, 15.0]]]])


@pytest.mark.parametrize("backend", implementing("max_pool2d"))
def test_pooling_keeps_channels_apart(backend):
    X = np.arange(16.0).reshape(1, 1, 4, 4)
    X2 = np.concatenate([X, X + 1], axis=1)
    y = convreg.max_pool2d(X2, 3, padding=1, stride=2, backend=backend)
    assert_published(y, [[[[5.0, 7.0], [13.0, 15.0]], [[6.0, 8.0], [14.0, 16.0]]]])


def test_vgg11_shape_walk():
    size = 224
    shapes = []
    for n_convs in (1, 1, 2, 2, 2):
        for _ in range(n_convs):
            size = convreg.output_shape(size, 3, 1, 1)
        size = convreg.output_shape(size, 2, 2)
        shapes.append(size)
    assert shapes == [112, 56, 28, 14, 7]
