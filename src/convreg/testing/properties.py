"""The property suite of DESIGN.md's Verification section, for any backend.

Each property is a Hypothesis test taking the backend's name as its first
argument. Oracles never come from the backend under test alone: the
``reference`` backend, SciPy, PyTorch's semantics (through identities the
reference is checked on), or an identity between two different ops.

Properties are registered with :func:`prop`, which records the op a property
is about and every op of the backend under test it calls, so that a backend
implementing a subset of the ops runs exactly the properties it can.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import convreg

from .compare import assert_close, scale
from .strategies import DTYPES, conv_problems, images_and_kernels, pool_problems, values

__all__ = ["Property", "PROPERTIES", "prop"]


@dataclasses.dataclass(frozen=True)
class Property:
    """One property of the suite, for any backend."""

    name: str
    op: str
    requires: tuple[str, ...]
    against_reference: bool
    check: Callable[..., None]
    strategies: dict[str, Any]

    def test(self, backend: str, settings: Any = None) -> None:
        """Run the property on ``backend`` with Hypothesis drawing the other arguments.

        The Hypothesis test is built at each call, so it takes the settings
        profile active now (or ``settings``), whenever this module was imported.
        """
        test = given(**self.strategies)(self.check)
        if settings is not None:
            test = settings(test)
        test(backend)


PROPERTIES: list[Property] = []


def prop(op: str, *also: str, against_reference: bool = False,
         **strategies: Any) -> Callable[[Any], Any]:
    """Register a property about ``op`` that also calls the backend's ``also`` ops.

    ``strategies`` are the Hypothesis strategies of the check's other
    arguments. ``against_reference`` marks a comparison with the
    ``reference`` backend, left out when the backend under test is
    ``reference`` itself (a comparison with itself could not fail).
    """
    def register(check: Callable[..., None]) -> Callable[..., None]:
        PROPERTIES.append(Property(check.__name__, op, (op, *also), against_reference, check,
                                   strategies))
        return check

    return register


class on:  # noqa: N801 - reads as a phrase: on(backend).corr2d(X, K)
    """convreg's ops run on ``backend``, with NumPy arrays in and out.

    The suite draws NumPy arrays; a backend that takes another array type
    (a GPU's) provides ``asarray(numpy_array)`` and ``asnumpy(array)``,
    and its arguments and results are moved here, outside the op under test.
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend
        entry = convreg.registry._registry.entries[backend].backend
        native = issubclass(np.ndarray, tuple(entry.array_types))
        self._in = (lambda a: a) if native else entry.asarray
        self._out = (lambda a: a) if native else entry.asnumpy

    def __getattr__(self, op: str) -> Callable[..., Any]:
        fn = getattr(convreg, op)

        def call(*args: Any, **kwargs: Any) -> Any:
            def move(a: Any) -> Any:
                return self._in(a) if isinstance(a, np.ndarray) else a

            result = fn(*map(move, args), backend=self.backend,
                        **{k: move(v) for k, v in kwargs.items()})
            return self._out(result)

        return call


def _ref(a: Any) -> Any:
    return None if a is None else np.asarray(a, dtype=np.float64)


# -- agreement with the reference -------------------------------------------


@prop("corr2d", against_reference=True,
      problem=images_and_kernels())
def corr2d_agrees_with_reference(backend: str, problem: Any) -> None:
    X, K, mode = problem
    got = on(backend).corr2d(X, K, mode=mode)
    want = convreg.corr2d(_ref(X), _ref(K), mode=mode, backend="reference")
    assert got.dtype == X.dtype
    assert_close(got, want, dtype=X.dtype, scale=scale(X, K), terms=K.size)


@prop("convolve2d", against_reference=True,
      problem=images_and_kernels())
def convolve2d_agrees_with_reference(backend: str, problem: Any) -> None:
    X, K, mode = problem
    got = on(backend).convolve2d(X, K, mode=mode)
    want = convreg.convolve2d(_ref(X), _ref(K), mode=mode, backend="reference")
    assert got.dtype == X.dtype
    assert_close(got, want, dtype=X.dtype, scale=scale(X, K), terms=K.size)


@prop("conv2d", against_reference=True,
      problem=conv_problems())
def conv2d_agrees_with_reference(backend: str, problem: Any) -> None:
    x, w, b, kw = problem["x"], problem["w"], problem["b"], problem["kw"]
    got = on(backend).conv2d(x, w, b, **kw)
    want = convreg.conv2d(_ref(x), _ref(w), _ref(b), backend="reference", **kw)
    assert got.dtype == x.dtype
    bscale = scale(b) if b is not None else 0.0
    assert_close(got, want, dtype=x.dtype, scale=scale(x, w) + bscale, terms=w[0].size + 1)


@prop("conv2d_grad_input", against_reference=True,
      problem=conv_problems(), data=st.data())
def conv2d_grad_input_agrees_with_reference(backend: str, problem: Any, data: Any) -> None:
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    y_shape = convreg.conv2d(x, w, backend="reference", **kw).shape
    g = data.draw(values(y_shape, x.dtype))
    got = on(backend).conv2d_grad_input(g, w, x.shape, **kw)
    want = convreg.conv2d_grad_input(_ref(g), _ref(w), x.shape, backend="reference", **kw)
    assert_close(got, want, dtype=x.dtype, scale=scale(g, w), terms=g.shape[1] * w[0, 0].size)


@prop("conv2d_grad_weight", against_reference=True,
      problem=conv_problems(), data=st.data())
def conv2d_grad_weight_agrees_with_reference(backend: str, problem: Any, data: Any) -> None:
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    y_shape = convreg.conv2d(x, w, backend="reference", **kw).shape
    g = data.draw(values(y_shape, x.dtype))
    got = on(backend).conv2d_grad_weight(x, g, w.shape, **kw)
    want = convreg.conv2d_grad_weight(_ref(x), _ref(g), w.shape, backend="reference", **kw)
    assert_close(got, want, dtype=x.dtype, scale=scale(g, x), terms=g[:, 0].size)


@prop("max_pool2d", against_reference=True,
      problem=pool_problems())
def max_pool2d_agrees_with_reference(backend: str, problem: Any) -> None:
    x, kw, d = problem
    got = on(backend).max_pool2d(x, dilation=d, **kw)
    np.testing.assert_array_equal(got, convreg.max_pool2d(x, dilation=d, backend="reference",
                                                          **kw))  # a maximum is exact


@prop("avg_pool2d", against_reference=True,
      problem=pool_problems(dilation=False), include=st.booleans())
def avg_pool2d_agrees_with_reference(backend: str, problem: Any, include: bool) -> None:
    x, kw, _ = problem
    got = on(backend).avg_pool2d(x, count_include_pad=include, **kw)
    want = convreg.avg_pool2d(_ref(x), count_include_pad=include, backend="reference", **kw)
    assert_close(got, want, dtype=x.dtype, scale=scale(x), terms=int(np.prod(kw["kernel_size"])))


@prop("max_pool2d_grad", against_reference=True,
      problem=pool_problems(), data=st.data())
def max_pool2d_grad_agrees_with_reference(backend: str, problem: Any, data: Any) -> None:
    x, kw, d = problem
    g = data.draw(values(convreg.max_pool2d(x, dilation=d, backend="reference", **kw).shape,
                         x.dtype))
    got = on(backend).max_pool2d_grad(g, x, dilation=d, **kw)
    want = convreg.max_pool2d_grad(_ref(g), x, dilation=d, backend="reference", **kw)
    assert_close(got, want, dtype=x.dtype, scale=scale(g), terms=int(np.prod(kw["kernel_size"])))


@prop("avg_pool2d_grad", against_reference=True,
      problem=pool_problems(dilation=False), include=st.booleans(), data=st.data())
def avg_pool2d_grad_agrees_with_reference(backend: str, problem: Any, include: bool,
                                          data: Any) -> None:
    x, kw, _ = problem
    g = data.draw(values(convreg.avg_pool2d(x, backend="reference", **kw).shape, x.dtype))
    got = on(backend).avg_pool2d_grad(g, x.shape, count_include_pad=include, **kw)
    want = convreg.avg_pool2d_grad(_ref(g), x.shape, count_include_pad=include,
                                   backend="reference", **kw)
    assert_close(got, want, dtype=x.dtype, scale=scale(g), terms=int(np.prod(kw["kernel_size"])))


# -- SciPy as the oracle -------------------------------------------------------


@prop("corr2d", "convolve2d",
      problem=images_and_kernels(dtype=np.float64))
def single_image_ops_match_scipy(backend: str, problem: Any) -> None:
    from scipy import signal

    X, K, mode = problem
    assert_close(on(backend).corr2d(X, K, mode=mode),
                 signal.correlate2d(X, K, mode=mode), dtype=np.float64,
                 scale=scale(X, K), terms=K.size)
    assert_close(on(backend).convolve2d(X, K, mode=mode),
                 signal.convolve2d(X, K, mode=mode), dtype=np.float64,
                 scale=scale(X, K), terms=K.size)


# -- convolution versus correlation -----------------------------------------


@prop("convolve2d", "corr2d",
      problem=images_and_kernels(dtype=np.float64))
def convolution_is_correlation_with_flipped_kernel(backend: str, problem: Any) -> None:
    X, K, mode = problem
    conv = on(backend).convolve2d(X, K, mode=mode)
    if mode != "same" or (K.shape[0] % 2 and K.shape[1] % 2):
        # the identity itself, in every mode where SciPy centres both alike
        want = on(backend).corr2d(X, K[::-1, ::-1], mode=mode)
    else:
        # even kernel, "same": SciPy's convolve2d sits (k - 1) // 2 into the
        # full result, correlate2d k // 2; the identity holds on the full grid
        full = on(backend).corr2d(X, K[::-1, ::-1], mode="full")
        (kh, kw), (H, W) = K.shape, X.shape
        want = full[(kh - 1) // 2:(kh - 1) // 2 + H, (kw - 1) // 2:(kw - 1) // 2 + W]
    assert_close(conv, want, dtype=np.float64, scale=scale(X, K), terms=K.size)


@prop("conv2d",
      problem=conv_problems(groups=False, stride=False, dilation=False, padding=False))
def conv2d_is_a_sum_of_flipped_kernel_convolutions(backend: str, problem: Any) -> None:
    """``conv2d(x, w)[n, o] == sum_c convolve2d(x[n, c], w[o, c] flipped)`` (SciPy's)."""
    from scipy import signal

    x, w = problem["x"], problem["w"]
    y = on(backend).conv2d(x, w)
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            want = sum(signal.convolve2d(_ref(x[n, c]), _ref(w[o, c, ::-1, ::-1]), mode="valid")
                       for c in range(x.shape[1]))
            assert_close(y[n, o], want, dtype=x.dtype, scale=scale(x, w), terms=w[0].size)


@prop("conv2d",
      problem=conv_problems(groups=False, stride=False, dilation=False, padding=False))
def multichannel_is_a_sum_of_per_channel_corr2d(backend: str, problem: Any) -> None:
    x, w = problem["x"], problem["w"]
    y = on(backend).conv2d(x, w)
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            want = sum(convreg.corr2d(x[n, c], w[o, c], backend="reference")
                       for c in range(x.shape[1]))
            assert_close(y[n, o], want, dtype=x.dtype, scale=scale(x, w), terms=w[0].size)


# -- structure ----------------------------------------------------------------


@prop("corr2d",
      problem=images_and_kernels())
def corr2d_commutes_with_transposition(backend: str, problem: Any) -> None:
    X, K, mode = problem
    assert_close(on(backend).corr2d(X.T, K.T, mode=mode),
                 on(backend).corr2d(X, K, mode=mode).T,
                 dtype=X.dtype, scale=scale(X, K), terms=K.size)


@prop("conv2d",
      problem=conv_problems(stride=False, padding=False))
def stride_is_subsampling(backend: str, problem: Any) -> None:
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    y1 = on(backend).conv2d(x, w, **kw)
    ys = on(backend).conv2d(x, w, **dict(kw, stride=(2, 3)))
    assert_close(ys, y1[:, :, ::2, ::3], dtype=x.dtype, scale=scale(x, w), terms=w[0].size)


@prop("conv2d",
      problem=conv_problems(padding=False), pad=st.tuples(st.integers(0, 3), st.integers(0, 3)))
def padding_is_an_explicit_zero_pad(backend: str, problem: Any, pad: Any) -> None:
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    assert_close(on(backend).conv2d(x, w, **dict(kw, padding=pad)),
                 on(backend).conv2d(xp, w, **kw),
                 dtype=x.dtype, scale=scale(x, w), terms=w[0].size)


@prop("conv2d",
      problem=conv_problems(dilation=False, padding=False), d=st.tuples(st.integers(1, 3),
                                                                        st.integers(1, 3)))
def dilation_is_a_zero_inserted_kernel(backend: str, problem: Any, d: Any) -> None:
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    O, C, kh, kwd = w.shape
    wd = np.zeros((O, C, d[0] * (kh - 1) + 1, d[1] * (kwd - 1) + 1), dtype=w.dtype)
    wd[:, :, ::d[0], ::d[1]] = w
    xp = np.pad(x, ((0, 0), (0, 0), (wd.shape[2],) * 2, (wd.shape[3],) * 2))  # room to fit
    assert_close(on(backend).conv2d(xp, w, **dict(kw, dilation=d)),
                 on(backend).conv2d(xp, wd, **kw),
                 dtype=x.dtype, scale=scale(x, w), terms=w[0].size)


@prop("conv2d",
      problem=conv_problems())
def groups_are_separate_convolutions(backend: str, problem: Any) -> None:
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    g = kw["groups"]
    cg, og = x.shape[1] // g, w.shape[0] // g
    parts = [on(backend).conv2d(x[:, i * cg:(i + 1) * cg], w[i * og:(i + 1) * og],
                            **dict(kw, groups=1)) for i in range(g)]
    assert_close(on(backend).conv2d(x, w, **kw), np.concatenate(parts, axis=1),
                 dtype=x.dtype, scale=scale(x, w), terms=w[0].size)


@prop("conv2d",
      dtype=st.sampled_from(DTYPES), data=st.data())
def one_by_one_convolution_is_a_matrix_product(backend: str, dtype: Any, data: Any) -> None:
    N, C, O, H, W = (data.draw(st.integers(1, 9)) for _ in range(5))
    x, w = data.draw(values((N, C, H, W), dtype)), data.draw(values((O, C, 1, 1), dtype))
    want = np.einsum("oc,nchw->nohw", _ref(w[:, :, 0, 0]), _ref(x))
    assert_close(on(backend).conv2d(x, w), want, dtype=dtype, scale=scale(x, w),
                 terms=C)


@prop("avg_pool2d",
      problem=pool_problems(dilation=False, ceil_mode=False))
def avg_pool_is_a_depthwise_uniform_convolution(backend: str, problem: Any) -> None:
    x, kw, _ = problem
    C, k = x.shape[1], kw["kernel_size"]
    w = np.full((C, 1) + k, 1.0 / (k[0] * k[1]), dtype=x.dtype)
    want = convreg.conv2d(x, w, stride=kw["stride"], padding=kw["padding"], groups=C,
                          backend="reference")
    assert_close(on(backend).avg_pool2d(x, **kw), want, dtype=x.dtype,
                 scale=scale(x), terms=w[0].size)


@prop("max_pool2d",
      problem=pool_problems(ceil_mode=False))
def max_pool_is_a_maximum_of_shifted_copies(backend: str, problem: Any) -> None:
    x, kw, d = problem
    (kh, kwd), (sh, sw), (ph, pw) = kw["kernel_size"], kw["stride"], kw["padding"]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    y = on(backend).max_pool2d(x, dilation=d, **kw)
    oh, ow = y.shape[2:]
    shifted = [xp[:, :, a * d[0]:, b * d[1]:][:, :, :(oh - 1) * sh + 1:sh, :(ow - 1) * sw + 1:sw]
               for a in range(kh) for b in range(kwd)]
    np.testing.assert_array_equal(y, np.max(shifted, axis=0))


@prop("conv2d",
      problem=conv_problems())
def output_shape_follows_the_formula(backend: str, problem: Any) -> None:
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    y = on(backend).conv2d(x, w, **kw)
    p = kw["padding"]
    if p == "same":
        assert y.shape[2:] == x.shape[2:]
    else:
        assert y.shape[2:] == convreg.output_shape(x.shape[2:], w.shape[2:], kw["stride"],
                                                   0 if p == "valid" else p, kw["dilation"])
    assert y.shape[:2] == (x.shape[0], w.shape[0])


# -- gradients ----------------------------------------------------------------


def _dot(a: Any, b: Any) -> float:
    return float(np.vdot(_ref(a), _ref(b)))


def _finite_difference(f: Callable[[Any], float], at: Any, direction: Any, h: float = 1e-3) -> float:
    return (f(at + h * direction) - f(at - h * direction)) / (2 * h)


@prop("conv2d_grad_input", "conv2d", "conv2d_grad_weight",
      problem=conv_problems(dtype=np.float64), data=st.data())
def adjoint_identity(backend: str, problem: Any, data: Any) -> None:
    """``<conv2d(x, w), g> == <x, grad_input(g)> == <w, grad_weight(x, g)>``."""
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    y = on(backend).conv2d(x, w, **kw)
    g = data.draw(values(y.shape))
    dx = on(backend).conv2d_grad_input(g, w, x.shape, **kw)
    dw = on(backend).conv2d_grad_weight(x, g, w.shape, **kw)
    tol = 1e-11 * max(1.0, scale(x, w, g) * y.size * w[0].size)
    assert abs(_dot(y, g) - _dot(x, dx)) <= tol
    assert abs(_dot(y, g) - _dot(w, dw)) <= tol
    yb = on(backend).conv2d(x, w, np.ones(w.shape[0]), **kw)
    assert abs(_dot(yb - y, g) - float(convreg.conv2d_grad_bias(g).sum())) <= tol


@prop("conv2d_grad_weight", "conv2d", "conv2d_grad_input",
      problem=conv_problems(dtype=np.float64), data=st.data())
def conv_gradients_match_finite_differences(backend: str, problem: Any, data: Any) -> None:
    x, w, b, kw = problem["x"], problem["w"], problem["b"], problem["kw"]
    y = on(backend).conv2d(x, w, b, **kw)
    g = data.draw(values(y.shape))
    vx, vw = data.draw(values(x.shape)), data.draw(values(w.shape))
    dx = on(backend).conv2d_grad_input(g, w, x.shape, **kw)
    dw = on(backend).conv2d_grad_weight(x, g, w.shape, **kw)
    tol = 1e-7 * max(1.0, scale(x, w, g, vx) * y.size * w[0].size)
    fx = _finite_difference(lambda xx: _dot(on(backend).conv2d(xx, w, b, **kw), g),
                            x, vx)
    fw = _finite_difference(lambda ww: _dot(on(backend).conv2d(x, ww, b, **kw), g),
                            w, vw)
    assert abs(fx - _dot(dx, vx)) <= tol
    assert abs(fw - _dot(dw, vw)) <= tol


@prop("max_pool2d_grad", "max_pool2d",
      problem=pool_problems(dtype=np.float64), data=st.data())
def max_pool_gradient_matches_finite_differences(backend: str, problem: Any, data: Any) -> None:
    x, kw, d = problem
    # distinct values spaced well apart, so a small step never changes a maximum
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.permutation(x.size).reshape(x.shape).astype(np.float64)
    y = on(backend).max_pool2d(x, dilation=d, **kw)
    g, v = data.draw(values(y.shape)), data.draw(values(x.shape))
    dx = on(backend).max_pool2d_grad(g, x, dilation=d, **kw)
    fd = _finite_difference(
        lambda xx: _dot(on(backend).max_pool2d(xx, dilation=d, **kw), g), x, v)
    assert abs(fd - _dot(dx, v)) <= 1e-7 * max(1.0, scale(g, v) * y.size)


@prop("avg_pool2d_grad", "avg_pool2d",
      problem=pool_problems(dtype=np.float64, dilation=False), include=st.booleans(),
       data=st.data())
def avg_pool_gradient_is_the_adjoint(backend: str, problem: Any, include: bool,
                                     data: Any) -> None:
    x, kw, _ = problem
    y = on(backend).avg_pool2d(x, count_include_pad=include, **kw)
    g, v = data.draw(values(y.shape)), data.draw(values(x.shape))
    dx = on(backend).avg_pool2d_grad(g, x.shape, count_include_pad=include, **kw)
    fd = _finite_difference(lambda xx: _dot(on(backend).avg_pool2d(
        xx, count_include_pad=include, **kw), g), x, v)
    assert abs(fd - _dot(dx, v)) <= 1e-7 * max(1.0, scale(g, v) * y.size)
    # average pooling is linear: the gradient is its adjoint
    assert abs(_dot(y, g) - _dot(x, dx)) <= 1e-9 * max(1.0, scale(x, g) * y.size)
