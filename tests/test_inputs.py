"""Awkward but legal inputs give correct results and are never modified."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import implementing

import convreg

rng = np.random.default_rng(42)


def _variants(a: np.ndarray):
    """The same values in layouts a user may hand over."""
    yield "contiguous", a
    big = np.zeros((a.shape[0] * 2, a.shape[1] * 3), a.dtype)
    big[::2, ::3] = a
    yield "strided view", big[::2, ::3]
    yield "negative strides", a[::-1, ::-1].copy()[::-1, ::-1]
    yield "Fortran order", np.asfortranarray(a)
    ro = a.copy()
    ro.setflags(write=False)
    yield "read-only", ro
    yield "big-endian", a.astype(a.dtype.newbyteorder(">"))
    yield "nested list", a.tolist()


@pytest.mark.parametrize("backend", implementing("corr2d"))
@pytest.mark.parametrize("op", ["corr2d", "convolve2d"])
def test_layouts_give_the_same_answer(backend, op):
    X, K = rng.standard_normal((7, 9)), rng.standard_normal((3, 2))
    want = getattr(convreg, op)(X, K, mode="same", backend="reference")
    for (xname, Xv), (kname, Kv) in zip(_variants(X), _variants(K)):
        before = np.array(Xv, copy=True), np.array(Kv, copy=True)
        got = getattr(convreg, op)(Xv, Kv, mode="same", backend=backend)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13, err_msg=f"{xname}/{kname}")
        np.testing.assert_array_equal(np.asarray(Xv), before[0])
        np.testing.assert_array_equal(np.asarray(Kv), before[1])


@pytest.mark.parametrize("backend", implementing("conv2d"))
def test_conv2d_on_views_and_read_only(backend):
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, 3, 3))
    want = convreg.conv2d(x, w, padding=1, backend="reference")
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # non-contiguous
    w_ro = w.copy()
    w_ro.setflags(write=False)
    got = convreg.conv2d(xt, w_ro, padding=1, backend=backend)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", implementing("conv2d"))
def test_inputs_are_never_modified(backend):
    x = rng.standard_normal((2, 4, 6, 6))
    w = rng.standard_normal((4, 2, 3, 3))
    b = rng.standard_normal(4)
    g = rng.standard_normal((2, 4, 4, 4))
    copies = [a.copy() for a in (x, w, b, g)]
    convreg.conv2d(x, w, b, groups=2, backend=backend)
    convreg.conv2d_grad_input(g, w, x.shape, groups=2, backend=backend)
    convreg.conv2d_grad_weight(x, g, w.shape, groups=2, backend=backend)
    convreg.conv2d_grad_bias(g)
    for a, c in zip((x, w, b, g), copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("backend", implementing("max_pool2d"))
def test_pools_do_not_modify_inputs(backend):
    x = rng.standard_normal((2, 3, 6, 6))
    g = rng.standard_normal((2, 3, 3, 3))
    xc, gc = x.copy(), g.copy()
    convreg.max_pool2d(x, 2, backend=backend)
    convreg.max_pool2d_grad(g, x, 2, backend=backend)
    convreg.avg_pool2d(x, 2, backend=backend)
    convreg.avg_pool2d_grad(g, x.shape, 2, backend=backend)
    np.testing.assert_array_equal(x, xc)
    np.testing.assert_array_equal(g, gc)


@pytest.mark.parametrize(
    "x_dtype, k_dtype, expected",
    [
        (np.float32, np.float32, np.float32),
        (np.float64, np.float64, np.float64),
        (np.float32, np.float64, np.float64),
        (np.int32, np.int32, np.float64),
        (np.int64, np.float32, np.float64),
        (np.bool_, np.uint8, np.float64),
    ],
)
@pytest.mark.parametrize("backend", implementing("corr2d"))
def test_dtype_rules(backend, x_dtype, k_dtype, expected):
    X = np.arange(12).reshape(3, 4).astype(x_dtype)
    K = np.ones((2, 2), dtype=k_dtype)
    Y = convreg.corr2d(X, K, backend=backend)
    assert Y.dtype == expected
    np.testing.assert_allclose(Y, convreg.corr2d(X.astype(np.float64), K.astype(np.float64),
                                                 backend="reference"), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", implementing("conv2d"))
def test_unbatched_input_matches_batch_of_one(backend):
    x = rng.standard_normal((3, 6, 5))
    w = rng.standard_normal((2, 3, 2, 2))
    y = convreg.conv2d(x, w, backend=backend)
    assert y.shape == (2, 5, 4)
    np.testing.assert_array_equal(y, convreg.conv2d(x[None], w, backend=backend)[0])
    g = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(convreg.conv2d_grad_input(g, w, x.shape, backend=backend),
                                  convreg.conv2d_grad_input(g[None], w, (1,) + x.shape,
                                                            backend=backend)[0])


@pytest.mark.parametrize("backend", implementing("max_pool2d_grad"))
def test_max_pool_gradient_goes_to_the_first_maximum(backend):
    x = np.array([[[[1.0, 3.0, 3.0], [3.0, 0.0, 3.0]]]])
    dx = convreg.max_pool2d_grad(np.ones((1, 1, 1, 1)), x, (2, 3), backend=backend)
    np.testing.assert_array_equal(dx, [[[[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]])
    # overlapping windows add their gradients on a shared maximum
    x = np.array([[[[0.0, 5.0, 0.0]]]])
    dx = convreg.max_pool2d_grad(np.array([[[[2.0, 3.0]]]]), x, (1, 2), stride=1, backend=backend)
    np.testing.assert_array_equal(dx, [[[[0.0, 5.0, 0.0]]]])


@pytest.mark.parametrize("backend", implementing("max_pool2d"))
def test_max_pool_propagates_nan(backend):
    x = np.array([[[[1.0, np.nan], [2.0, 0.0]]]])
    assert np.isnan(convreg.max_pool2d(x, 2, backend=backend)).all()
    dx = convreg.max_pool2d_grad(np.ones((1, 1, 1, 1)), x, 2, backend=backend)
    np.testing.assert_array_equal(dx, [[[[0.0, 1.0], [0.0, 0.0]]]])
