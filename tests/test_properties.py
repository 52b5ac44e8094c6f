"""The property suite of DESIGN.md's Verification section.

Each test is parametrised over the available backends that implement the ops
it uses. Oracles are independent of the backend under test: the reference
backend, SciPy, or an identity between two different ops.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import signal

import convreg
from conftest import assert_close, implementing
from strategies import DTYPES, conv_problems, images_and_kernels, pool_problems, values


def _scale(*arrays) -> float:
    return float(np.prod([np.abs(a).max(initial=0.0) for a in arrays]))


# -- agreement with the reference -------------------------------------------


@pytest.mark.parametrize("op", ["corr2d", "convolve2d"])
@pytest.mark.parametrize("backend", implementing("corr2d", others=True))
@given(problem=images_and_kernels())
def test_single_image_ops_agree_with_reference(backend, op, problem):
    X, K, mode = problem
    if backend not in implementing(op):
        pytest.fail(f"{backend} implements corr2d but not {op}")
    got = getattr(convreg, op)(X, K, mode=mode, backend=backend)
    want = getattr(convreg, op)(X.astype(np.float64), K.astype(np.float64), mode=mode,
                                backend="reference")
    assert got.dtype == X.dtype
    assert_close(got, want, dtype=X.dtype, scale=_scale(X, K), terms=K.size)


@pytest.mark.parametrize("backend", implementing("corr2d"))
@given(problem=images_and_kernels(dtype=np.float64))
def test_corr2d_and_convolve2d_match_scipy(backend, problem):
    X, K, mode = problem
    assert_close(convreg.corr2d(X, K, mode=mode, backend=backend),
                 signal.correlate2d(X, K, mode=mode), dtype=np.float64,
                 scale=_scale(X, K), terms=K.size)
    assert_close(convreg.convolve2d(X, K, mode=mode, backend=backend),
                 signal.convolve2d(X, K, mode=mode), dtype=np.float64,
                 scale=_scale(X, K), terms=K.size)


def _reference_conv_call(op, problem):
    x, w, b, kw = problem["x"], problem["w"], problem["b"], problem["kw"]
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    y = convreg.conv2d(x64, w64, None if b is None else b.astype(np.float64),
                       backend="reference", **kw)
    return x64, w64, y


@pytest.mark.parametrize("backend", implementing("conv2d", others=True))
@given(problem=conv_problems())
def test_conv2d_agrees_with_reference(backend, problem):
    x, w, b, kw = problem["x"], problem["w"], problem["b"], problem["kw"]
    got = convreg.conv2d(x, w, b, backend=backend, **kw)
    *_, want = _reference_conv_call("conv2d", problem)
    assert got.dtype == x.dtype
    assert_close(got, want, dtype=x.dtype, scale=_scale(x, w) + _scale(b if b is not None else 0),
                 terms=w[0].size + 1)


@pytest.mark.parametrize("backend", implementing("conv2d_grad_input", others=True))
@given(problem=conv_problems(), data=st.data())
def test_conv2d_grad_input_agrees_with_reference(backend, problem, data):
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    y_shape = convreg.conv2d(x, w, backend="reference", **kw).shape
    g = data.draw(values(y_shape, x.dtype))
    got = convreg.conv2d_grad_input(g, w, x.shape, backend=backend, **kw)
    want = convreg.conv2d_grad_input(g.astype(np.float64), w.astype(np.float64), x.shape,
                                     backend="reference", **kw)
    assert_close(got, want, dtype=x.dtype, scale=_scale(g, w), terms=g.shape[1] * w[0, 0].size)


@pytest.mark.parametrize("backend", implementing("conv2d_grad_weight", others=True))
@given(problem=conv_problems(), data=st.data())
def test_conv2d_grad_weight_agrees_with_reference(backend, problem, data):
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    y_shape = convreg.conv2d(x, w, backend="reference", **kw).shape
    g = data.draw(values(y_shape, x.dtype))
    got = convreg.conv2d_grad_weight(x, g, w.shape, backend=backend, **kw)
    want = convreg.conv2d_grad_weight(x.astype(np.float64), g.astype(np.float64), w.shape,
                                      backend="reference", **kw)
    assert_close(got, want, dtype=x.dtype, scale=_scale(g, x), terms=g[:, 0].size)


@pytest.mark.parametrize("backend", implementing("max_pool2d", others=True))
@given(problem=pool_problems())
def test_pools_agree_with_reference(backend, problem):
    x, kw, d = problem
    got = convreg.max_pool2d(x, dilation=d, backend=backend, **kw)
    want = convreg.max_pool2d(x, dilation=d, backend="reference", **kw)
    np.testing.assert_array_equal(got, want)  # a maximum is exact
    for include in (True, False):
        got = convreg.avg_pool2d(x, count_include_pad=include, backend=backend, **kw)
        want = convreg.avg_pool2d(x.astype(np.float64), count_include_pad=include,
                                  backend="reference", **kw)
        assert_close(got, want, dtype=x.dtype, scale=_scale(x), terms=x.shape[-1] * x.shape[-2])


@pytest.mark.parametrize("backend", implementing("max_pool2d_grad", others=True))
@given(problem=pool_problems(), data=st.data())
def test_pool_gradients_agree_with_reference(backend, problem, data):
    x, kw, d = problem
    y = convreg.max_pool2d(x, dilation=d, backend="reference", **kw)
    g = data.draw(values(y.shape, x.dtype))
    got = convreg.max_pool2d_grad(g, x, dilation=d, backend=backend, **kw)
    want = convreg.max_pool2d_grad(g.astype(np.float64), x, dilation=d, backend="reference", **kw)
    assert_close(got, want, dtype=x.dtype, scale=_scale(g), terms=np.prod(kw["kernel_size"]))
    g = data.draw(values(convreg.avg_pool2d(x, **kw).shape, x.dtype))  # no dilation there
    for include in (True, False):
        got = convreg.avg_pool2d_grad(g, x.shape, count_include_pad=include, backend=backend, **kw)
        want = convreg.avg_pool2d_grad(g.astype(np.float64), x.shape, count_include_pad=include,
                                       backend="reference", **kw)
        assert_close(got, want, dtype=x.dtype, scale=_scale(g), terms=np.prod(kw["kernel_size"]))


# -- convolution versus correlation -----------------------------------------


@pytest.mark.parametrize("backend", implementing("convolve2d"))
@given(problem=images_and_kernels(dtype=np.float64))
def test_convolution_is_correlation_with_flipped_kernel(backend, problem):
    X, K, mode = problem
    conv = convreg.convolve2d(X, K, mode=mode, backend=backend)
    full = convreg.corr2d(X, K[::-1, ::-1], mode="full", backend=backend)
    if mode != "same" or (K.shape[0] % 2 and K.shape[1] % 2):
        # the identity itself, in every mode where SciPy centres both alike
        want = convreg.corr2d(X, K[::-1, ::-1], mode=mode, backend=backend)
    else:
        # even kernel, "same": SciPy's convolve2d sits (k - 1) // 2 into the
        # full result, correlate2d k // 2: the identity holds on the full grid
        (kh, kw), (H, W) = K.shape, X.shape
        want = full[(kh - 1) // 2:(kh - 1) // 2 + H, (kw - 1) // 2:(kw - 1) // 2 + W]
    assert_close(conv, want, dtype=np.float64, scale=_scale(X, K), terms=K.size)


@pytest.mark.parametrize("backend", implementing("conv2d"))
@given(problem=conv_problems(groups=False, stride=False, dilation=False, padding=False))
def test_conv2d_is_a_sum_of_flipped_kernel_convolutions(backend, problem):
    """``conv2d(x, w)[n, o] == sum_c convolve2d(x[n, c], w[o, c] flipped)``."""
    x, w = problem["x"], problem["w"]
    y = convreg.conv2d(x, w, backend=backend)
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            want = sum(signal.convolve2d(x[n, c].astype(np.float64),
                                         w[o, c, ::-1, ::-1].astype(np.float64), mode="valid")
                       for c in range(x.shape[1]))
            assert_close(y[n, o], want, dtype=x.dtype, scale=_scale(x, w), terms=w[0].size)


@pytest.mark.parametrize("backend", implementing("conv2d"))
@given(problem=conv_problems(groups=False, stride=False, dilation=False, padding=False))
def test_multichannel_is_sum_of_per_channel_corr2d(backend, problem):
    x, w = problem["x"], problem["w"]
    y = convreg.conv2d(x, w, backend=backend)
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            want = sum(convreg.corr2d(x[n, c], w[o, c], backend="reference")
                       for c in range(x.shape[1]))
            assert_close(y[n, o], want, dtype=x.dtype, scale=_scale(x, w), terms=w[0].size)


# -- structure ----------------------------------------------------------------


@pytest.mark.parametrize("backend", implementing("corr2d"))
@given(problem=images_and_kernels())
def test_transpose(backend, problem):
    X, K, mode = problem
    a = convreg.corr2d(X.T, K.T, mode=mode, backend=backend)
    b = convreg.corr2d(X, K, mode=mode, backend=backend).T
    assert_close(a, b, dtype=X.dtype, scale=_scale(X, K), terms=K.size)


@pytest.mark.parametrize("backend", implementing("conv2d"))
@given(problem=conv_problems(stride=False, padding=False))
def test_stride_is_subsampling(backend, problem):
    x, w = problem["x"], problem["w"]
    kw = dict(problem["kw"], stride=(2, 3))
    y1 = convreg.conv2d(x, w, backend=backend, **dict(kw, stride=1))
    ys = convreg.conv2d(x, w, backend=backend, **kw)
    assert_close(ys, y1[:, :, ::2, ::3], dtype=x.dtype, scale=_scale(x, w), terms=w[0].size)


@pytest.mark.parametrize("backend", implementing("conv2d"))
@given(problem=conv_problems(padding=False), pad=st.tuples(st.integers(0, 3), st.integers(0, 3)))
def test_padding_is_explicit_zero_pad(backend, problem, pad):
    x, w = problem["x"], problem["w"]
    kw = dict(problem["kw"], padding=pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    assert_close(convreg.conv2d(x, w, backend=backend, **kw),
                 convreg.conv2d(xp, w, backend=backend, **dict(kw, padding=0)),
                 dtype=x.dtype, scale=_scale(x, w), terms=w[0].size)


@pytest.mark.parametrize("backend", implementing("conv2d"))
@given(problem=conv_problems(dilation=False))
def test_dilation_is_zero_inserted_kernel(backend, problem):
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    if kw["padding"] == "same":
        kw = dict(kw, padding="valid")
    d = (2, 3)
    O, C, kh, kwd = w.shape
    wd = np.zeros((O, C, d[0] * (kh - 1) + 1, d[1] * (kwd - 1) + 1), dtype=w.dtype)
    wd[:, :, ::d[0], ::d[1]] = w
    xp = np.pad(x, ((0, 0), (0, 0), (wd.shape[2],) * 2, (wd.shape[3],) * 2))  # room for the window
    assert_close(convreg.conv2d(xp, w, backend=backend, **dict(kw, dilation=d)),
                 convreg.conv2d(xp, wd, backend=backend, **kw),
                 dtype=x.dtype, scale=_scale(x, w), terms=w[0].size)


@pytest.mark.parametrize("backend", implementing("conv2d"))
@given(problem=conv_problems())
def test_groups_are_separate_convolutions(backend, problem):
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    g = kw["groups"]
    cg, og = x.shape[1] // g, w.shape[0] // g
    parts = [convreg.conv2d(x[:, i * cg:(i + 1) * cg], w[i * og:(i + 1) * og], backend=backend,
                            **dict(kw, groups=1)) for i in range(g)]
    assert_close(convreg.conv2d(x, w, backend=backend, **kw), np.concatenate(parts, axis=1),
                 dtype=x.dtype, scale=_scale(x, w), terms=w[0].size)


@pytest.mark.parametrize("backend", implementing("conv2d"))
@given(dtype=st.sampled_from(DTYPES), data=st.data())
def test_1x1_convolution_is_a_matrix_product(backend, dtype, data):
    N, C, O, H, W = (data.draw(st.integers(1, 4)) for _ in range(5))
    x, w = data.draw(values((N, C, H, W), dtype)), data.draw(values((O, C, 1, 1), dtype))
    want = np.einsum("oc,nchw->nohw", w[:, :, 0, 0].astype(np.float64), x.astype(np.float64))
    assert_close(convreg.conv2d(x, w, backend=backend), want, dtype=dtype,
                 scale=_scale(x, w), terms=C)


@pytest.mark.parametrize("backend", implementing("avg_pool2d"))
@given(problem=pool_problems(dilation=False, ceil_mode=False))
def test_avg_pool_is_a_depthwise_uniform_convolution(backend, problem):
    x, kw, _ = problem
    C = x.shape[1]
    k = kw["kernel_size"]
    w = np.full((C, 1) + k, 1.0 / (k[0] * k[1]), dtype=x.dtype)
    want = convreg.conv2d(x, w, stride=kw["stride"], padding=kw["padding"], groups=C,
                          backend="reference")
    assert_close(convreg.avg_pool2d(x, backend=backend, **kw), want, dtype=x.dtype,
                 scale=_scale(x), terms=w[0].size)


@pytest.mark.parametrize("backend", implementing("max_pool2d"))
@given(problem=pool_problems(ceil_mode=False))
def test_max_pool_is_a_maximum_of_shifted_copies(backend, problem):
    x, kw, d = problem
    (kh, kwd), (sh, sw), (ph, pw) = kw["kernel_size"], kw["stride"], kw["padding"]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    y = convreg.max_pool2d(x, dilation=d, backend=backend, **kw)
    oh, ow = y.shape[2:]
    shifted = [xp[:, :, a * d[0]:, b * d[1]:][:, :, :(oh - 1) * sh + 1:sh, :(ow - 1) * sw + 1:sw]
               for a in range(kh) for b in range(kwd)]
    np.testing.assert_array_equal(y, np.max(shifted, axis=0))


@pytest.mark.parametrize("backend", implementing("conv2d"))
@given(problem=conv_problems())
def test_output_shape_follows_the_formula(backend, problem):
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    y = convreg.conv2d(x, w, backend=backend, **kw)
    p = kw["padding"]
    if isinstance(p, str):
        assert y.shape[2:] == (x.shape[2:] if p == "same" else
                               convreg.output_shape(x.shape[2:], w.shape[2:], kw["stride"], 0,
                                                    kw["dilation"]))
    else:
        assert y.shape[2:] == convreg.output_shape(x.shape[2:], w.shape[2:], kw["stride"], p,
                                                   kw["dilation"])
    assert y.shape[:2] == (x.shape[0], w.shape[0])


# -- gradients ----------------------------------------------------------------


def _dot(a, b) -> float:
    return float(np.vdot(np.asarray(a, np.float64), np.asarray(b, np.float64)))


@pytest.mark.parametrize("backend", implementing("conv2d_grad_weight"))
@given(problem=conv_problems(dtype=np.float64), data=st.data())
def test_adjoint_identity(backend, problem, data):
    """``<conv2d(x, w), g> == <x, grad_input(g)> == <w, grad_weight(x, g)>``."""
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    y = convreg.conv2d(x, w, backend=backend, **kw)
    g = data.draw(values(y.shape))
    dx = convreg.conv2d_grad_input(g, w, x.shape, backend=backend, **kw)
    dw = convreg.conv2d_grad_weight(x, g, w.shape, backend=backend, **kw)
    tol = 1e-11 * max(1.0, _scale(x, w, g) * y.size * w[0].size)
    assert abs(_dot(y, g) - _dot(x, dx)) <= tol
    assert abs(_dot(y, g) - _dot(w, dw)) <= tol
    db = convreg.conv2d_grad_bias(g)
    yb = convreg.conv2d(x, w, np.ones(w.shape[0]), backend=backend, **kw)
    assert abs(_dot(yb - y, g) - db.sum()) <= tol


def _finite_difference(f, at, direction, h=1e-3):
    return (f(at + h * direction) - f(at - h * direction)) / (2 * h)


@pytest.mark.parametrize("backend", implementing("conv2d_grad_input"))
@given(problem=conv_problems(dtype=np.float64), data=st.data())
def test_conv_gradients_by_finite_differences(backend, problem, data):
    x, w, b, kw = problem["x"], problem["w"], problem["b"], problem["kw"]
    y = convreg.conv2d(x, w, b, backend=backend, **kw)
    g = data.draw(values(y.shape))
    vx, vw = data.draw(values(x.shape)), data.draw(values(w.shape))

    def loss_x(xx):
        return _dot(convreg.conv2d(xx, w, b, backend=backend, **kw), g)

    def loss_w(ww):
        return _dot(convreg.conv2d(x, ww, b, backend=backend, **kw), g)

    dx = convreg.conv2d_grad_input(g, w, x.shape, backend=backend, **kw)
    dw = convreg.conv2d_grad_weight(x, g, w.shape, backend=backend, **kw)
    tol = 1e-7 * max(1.0, _scale(x, w, g, vx) * y.size * w[0].size)
    assert abs(_finite_difference(loss_x, x, vx) - _dot(dx, vx)) <= tol
    assert abs(_finite_difference(loss_w, w, vw) - _dot(dw, vw)) <= tol


@pytest.mark.parametrize("backend", implementing("max_pool2d_grad"))
@given(problem=pool_problems(dtype=np.float64), data=st.data())
def test_pool_gradients_by_finite_differences(backend, problem, data):
    x, kw, d = problem
    # distinct values spaced well apart, so a small step never changes a maximum
    x = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).permutation(x.size)
    x = x.reshape(problem[0].shape).astype(np.float64)
    y = convreg.max_pool2d(x, dilation=d, backend=backend, **kw)
    g = data.draw(values(y.shape))
    v = data.draw(values(x.shape))
    dx = convreg.max_pool2d_grad(g, x, dilation=d, backend=backend, **kw)
    fd = _finite_difference(lambda xx: _dot(convreg.max_pool2d(xx, dilation=d, backend=backend,
                                                               **kw), g), x, v)
    assert abs(fd - _dot(dx, v)) <= 1e-7 * max(1.0, _scale(g, v) * y.size)
    g = data.draw(values(convreg.avg_pool2d(x, **kw).shape))  # no dilation there
    for include in (True, False):
        y = convreg.avg_pool2d(x, count_include_pad=include, backend=backend, **kw)
        dx = convreg.avg_pool2d_grad(g, x.shape, count_include_pad=include, backend=backend, **kw)
        fd = _finite_difference(lambda xx: _dot(convreg.avg_pool2d(
            xx, count_include_pad=include, backend=backend, **kw), g), x, v)
        assert abs(fd - _dot(dx, v)) <= 1e-7 * max(1.0, _scale(g, v) * y.size)
        # and the adjoint identity: average pooling is linear
        assert abs(_dot(y, g) - _dot(x, dx)) <= 1e-9 * max(1.0, _scale(x, g) * y.size)
