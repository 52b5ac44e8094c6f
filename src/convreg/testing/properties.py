"""The property suite of DESIGN.md's Verification section, for any backend.

Each property is a Hypothesis test taking the backend's name as its first
argument. Oracles never come from the backend under test alone: the
``reference`` backend, SciPy, PyTorch's semantics (through identities the
reference is checked on), or an identity between two different ops.

Properties are registered with :func:`prop`, which records the op a property
is about and every op of the backend under test it calls, so that a backend
implementing a subset of the ops runs exactly the properties it can.

Every call of the backend under test goes through :class:`on`, which
enforces the contract of docs/backends.md by name on every op: inputs
unchanged (bytes compared), output array type, shape and dtype. A broken
rule fails the property with :class:`ContractViolation`, which names the op
and the rule; a call the backend declines through ``can_run`` is left out
(Hypothesis draws another). A property that calls two ops checks each side
against the reference first, and when the other op is the wrong one it
raises :class:`Blame`, a skip naming that op, instead of failing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import unittest
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, reject
from hypothesis import settings as Settings
from hypothesis import strategies as st
from scipy import signal  # imported here, not inside a timed example

import convreg
from convreg import registry

from .compare import assert_close, scale
from .strategies import DTYPES, conv_problems, images_and_kernels, pool_problems, values

__all__ = ["Property", "PROPERTIES", "prop", "on", "kit_layer", "ContractViolation", "Blame"]

def kit_layer(parent: Settings) -> Settings:
    """``parent`` with what every run of the kit adds on top.

    No per-example deadline (the first call of an op may compile or load
    something, and timing is not what the kit checks), and no health check
    that would fail a correct backend for being slow or for declining calls.
    """
    return Settings(parent, deadline=None, suppress_health_check=[
        HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


@dataclasses.dataclass(frozen=True)
class Property:
    """One property of the suite, for any backend."""

    name: str
    op: str
    requires: tuple[str, ...]
    against_reference: bool
    check: Callable[..., None]
    strategies: dict[str, Any]

    def test(self, backend: str, settings: Any = None, seed: int | None = None) -> None:
        """Run the property on ``backend`` with Hypothesis drawing the other arguments.

        The Hypothesis test is built at each call, so it takes the settings
        profile active now (with :func:`kit_layer` on top), or ``settings``,
        whenever this module was imported. ``seed`` fixes a random run.
        """
        import hypothesis

        test = given(**self.strategies)(self.check)
        test = (settings if settings is not None else kit_layer(Settings()))(test)
        if seed is not None:
            test = hypothesis.seed(seed)(test)
        with _debug_checks():
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


class ContractViolation(AssertionError):
    """The backend under test broke a rule of the contract (inputs, output type/shape/dtype)."""


class Blame(unittest.SkipTest):
    """A property about one op could not judge it: another op it calls is wrong here."""


@contextlib.contextmanager
def _debug_checks() -> Iterator[None]:
    """The registry's input checks on, for the kit's calls (restored after)."""
    before = registry.get_debug_checks()
    registry.set_debug_checks(True)
    try:
        yield
    finally:
        registry.set_debug_checks(before)


class on:  # noqa: N801 - reads as a phrase: on(backend).corr2d(X, K)
    """convreg's ops run on ``backend``, with NumPy arrays in and out, the contract enforced.

    The suite draws NumPy arrays; a backend that takes another array type
    (a GPU's) provides ``asarray(numpy_array)`` and ``asnumpy(array)``,
    and its arguments and results are moved here, outside the op under test.
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend
        entry = registry._registry.entries[backend].backend
        native = issubclass(np.ndarray, tuple(entry.array_types))
        self._in = (lambda a: a) if native else entry.asarray
        self._out = (lambda a: a) if native else entry.asnumpy

    def __getattr__(self, op: str) -> Callable[..., Any]:
        fn = getattr(convreg, op)

        def call(*args: Any, **kwargs: Any) -> Any:
            def move(a: Any) -> Any:
                return self._in(a) if isinstance(a, np.ndarray) else a

            try:
                result = fn(*map(move, args), backend=self.backend,
                            **{k: move(v) for k, v in kwargs.items()})
            except convreg.BackendDeclined:
                reject()  # the backend's can_run declined this call: draw another
            except convreg.ContractError as exc:
                raise ContractViolation(
                    f"{op}: backend {self.backend!r} broke the contract rule {exc.rule!r}: "
                    f"expected {exc.expected}, got {exc.got}") from None
            return self._out(result)

        return call


def _ref(a: Any) -> Any:
    return None if a is None else np.asarray(a, dtype=np.float64)


def _blame_if_wrong(op: str, got: Any, want: Any, **close: Any) -> None:
    """Raise :class:`Blame` on ``op`` when its result here is not the reference's."""
    try:
        assert_close(got, want, **close)
    except AssertionError as exc:
        raise Blame(f"not judged: {op}, which this property also calls, disagrees with the "
                    f"reference here ({exc}); {op}'s own properties report it") from None


# -- the contract, by name, on every op ------------------------------------------


def _output_shape(x: Any, w: Any, kw: dict[str, Any]) -> tuple[int, ...]:
    return tuple(convreg.conv2d(x[:1], w, backend="reference", **kw).shape[1:])


def _pool_shape(op: str, x: Any, kw: dict[str, Any]) -> tuple[int, ...]:
    return tuple(getattr(convreg, op)(x[:1], backend="reference", **kw).shape[1:])


def _a_call(op: str, data: Any, dtype: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Well-formed arguments for ``op``, drawn: ``(args, kwargs)``."""
    if op in ("corr2d", "convolve2d"):
        X, K, mode = data.draw(images_and_kernels(dtype=dtype, wide=False))
        return (X, K), {"mode": mode}
    if op.startswith("conv2d"):
        pr = data.draw(conv_problems(dtype=dtype))
        x, w, kw = pr["x"], pr["w"], pr["kw"]
        if op == "conv2d":
            return (x, w, pr["b"]), kw
        g = data.draw(values((x.shape[0], *_output_shape(x, w, kw)), dtype))
        return ((g, w, x.shape) if op == "conv2d_grad_input" else (x, g, w.shape)), kw
    x, kw, d = data.draw(pool_problems(dtype=dtype, dilation=op.startswith("max")))
    if op.startswith("max"):
        kw = dict(kw, dilation=d)
    if op in ("max_pool2d", "avg_pool2d"):
        return (x,), kw
    g = data.draw(values((x.shape[0], *_pool_shape(op[:-5], x, kw)), dtype))
    return ((g, x) if op == "max_pool2d_grad" else (g, x.shape)), kw


def _keeps_the_contract(op: str) -> None:
    def check(backend: str, data: Any, dtype: Any) -> None:
        args, kwargs = _a_call(op, data, dtype)
        getattr(on(backend), op)(*args, **kwargs)  # on() checks every rule of the call

    check.__name__ = check.__qualname__ = f"{op}_keeps_the_contract"
    check.__doc__ = (f"``{op}`` keeps the contract of docs/backends.md: inputs unchanged, "
                     "output of an accepted array type, the promised shape, the inputs' dtype.")
    prop(op, data=st.data(), dtype=st.sampled_from(DTYPES))(check)


for _op in registry.OPS:
    _keeps_the_contract(_op)


# -- agreement with the reference -------------------------------------------


@prop("corr2d", against_reference=True,
      problem=images_and_kernels())
def corr2d_agrees_with_reference(backend: str, problem: Any) -> None:
    X, K, mode = problem
    got = on(backend).corr2d(X, K, mode=mode)
    want = convreg.corr2d(_ref(X), _ref(K), mode=mode, backend="reference")
    assert_close(got, want, dtype=X.dtype, scale=scale(X, K), terms=K.size,
                 what=f"corr2d(mode={mode!r}) against the reference")


@prop("convolve2d", against_reference=True,
      problem=images_and_kernels())
def convolve2d_agrees_with_reference(backend: str, problem: Any) -> None:
    X, K, mode = problem
    got = on(backend).convolve2d(X, K, mode=mode)
    want = convreg.convolve2d(_ref(X), _ref(K), mode=mode, backend="reference")
    assert_close(got, want, dtype=X.dtype, scale=scale(X, K), terms=K.size,
                 what=f"convolve2d(mode={mode!r}) against the reference")


@prop("conv2d", against_reference=True,
      problem=conv_problems(wide=True))
def conv2d_agrees_with_reference(backend: str, problem: Any) -> None:
    x, w, b, kw = problem["x"], problem["w"], problem["b"], problem["kw"]
    got = on(backend).conv2d(x, w, b, **kw)
    want = convreg.conv2d(_ref(x), _ref(w), _ref(b), backend="reference", **kw)
    bscale = scale(b) if b is not None else 0.0
    assert_close(got, want, dtype=x.dtype, scale=scale(x, w) + bscale, terms=w[0].size + 1,
                 what="conv2d against the reference")


@prop("conv2d_grad_input", against_reference=True,
      problem=conv_problems(wide=True), data=st.data())
def conv2d_grad_input_agrees_with_reference(backend: str, problem: Any, data: Any) -> None:
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    y_shape = convreg.conv2d(x, w, backend="reference", **kw).shape
    g = data.draw(values(y_shape, x.dtype, problem["g_exponent"], cancelling=True))
    got = on(backend).conv2d_grad_input(g, w, x.shape, **kw)
    want = convreg.conv2d_grad_input(_ref(g), _ref(w), x.shape, backend="reference", **kw)
    assert_close(got, want, dtype=x.dtype, scale=scale(g, w), terms=g.shape[1] * w[0, 0].size,
                 what="conv2d_grad_input against the reference")


@prop("conv2d_grad_weight", against_reference=True,
      problem=conv_problems(wide=True), data=st.data())
def conv2d_grad_weight_agrees_with_reference(backend: str, problem: Any, data: Any) -> None:
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    y_shape = convreg.conv2d(x, w, backend="reference", **kw).shape
    g = data.draw(values(y_shape, x.dtype, problem["g_exponent"], cancelling=True))
    got = on(backend).conv2d_grad_weight(x, g, w.shape, **kw)
    want = convreg.conv2d_grad_weight(_ref(x), _ref(g), w.shape, backend="reference", **kw)
    assert_close(got, want, dtype=x.dtype, scale=scale(g, x), terms=g[:, 0].size,
                 what="conv2d_grad_weight against the reference")


@prop("max_pool2d", against_reference=True,
      problem=pool_problems(wide=True))
def max_pool2d_agrees_with_reference(backend: str, problem: Any) -> None:
    x, kw, d = problem
    got = on(backend).max_pool2d(x, dilation=d, **kw)
    assert_close(got, convreg.max_pool2d(x, dilation=d, backend="reference", **kw),
                 dtype=x.dtype, scale=0.0, what="max_pool2d against the reference")  # exact


@prop("avg_pool2d", against_reference=True,
      problem=pool_problems(dilation=False, wide=True), include=st.booleans())
def avg_pool2d_agrees_with_reference(backend: str, problem: Any, include: bool) -> None:
    x, kw, _ = problem
    got = on(backend).avg_pool2d(x, count_include_pad=include, **kw)
    want = convreg.avg_pool2d(_ref(x), count_include_pad=include, backend="reference", **kw)
    assert_close(got, want, dtype=x.dtype, scale=scale(x), terms=int(np.prod(kw["kernel_size"])),
                 what="avg_pool2d against the reference")


@prop("max_pool2d_grad", against_reference=True,
      problem=pool_problems(), data=st.data())
def max_pool2d_grad_agrees_with_reference(backend: str, problem: Any, data: Any) -> None:
    x, kw, d = problem
    g = data.draw(values(convreg.max_pool2d(x, dilation=d, backend="reference", **kw).shape,
                         x.dtype))
    got = on(backend).max_pool2d_grad(g, x, dilation=d, **kw)
    want = convreg.max_pool2d_grad(_ref(g), x, dilation=d, backend="reference", **kw)
    assert_close(got, want, dtype=x.dtype, scale=scale(g), terms=int(np.prod(kw["kernel_size"])),
                 what="max_pool2d_grad against the reference")


@prop("avg_pool2d_grad", against_reference=True,
      problem=pool_problems(dilation=False), include=st.booleans(), data=st.data())
def avg_pool2d_grad_agrees_with_reference(backend: str, problem: Any, include: bool,
                                          data: Any) -> None:
    x, kw, _ = problem
    g = data.draw(values(convreg.avg_pool2d(x, backend="reference", **kw).shape, x.dtype))
    got = on(backend).avg_pool2d_grad(g, x.shape, count_include_pad=include, **kw)
    want = convreg.avg_pool2d_grad(_ref(g), x.shape, count_include_pad=include,
                                   backend="reference", **kw)
    assert_close(got, want, dtype=x.dtype, scale=scale(g), terms=int(np.prod(kw["kernel_size"])),
                 what="avg_pool2d_grad against the reference")


# -- SciPy as the oracle -------------------------------------------------------


@prop("corr2d",
      problem=images_and_kernels(dtype=np.float64))
def corr2d_matches_scipy(backend: str, problem: Any) -> None:
    """``corr2d`` is ``scipy.signal.correlate2d``, "same" centred where SciPy centres it."""
    X, K, mode = problem
    assert_close(on(backend).corr2d(X, K, mode=mode), signal.correlate2d(X, K, mode=mode),
                 dtype=np.float64, scale=scale(X, K), terms=K.size,
                 what=f"corr2d(mode={mode!r}) against scipy.signal.correlate2d")


@prop("convolve2d",
      problem=images_and_kernels(dtype=np.float64))
def convolve2d_matches_scipy(backend: str, problem: Any) -> None:
    """``convolve2d`` is ``scipy.signal.convolve2d``, "same" centred where SciPy centres it."""
    X, K, mode = problem
    assert_close(on(backend).convolve2d(X, K, mode=mode), signal.convolve2d(X, K, mode=mode),
                 dtype=np.float64, scale=scale(X, K), terms=K.size,
                 what=f"convolve2d(mode={mode!r}) against scipy.signal.convolve2d")


# -- convolution versus correlation -----------------------------------------


@prop("convolve2d", "corr2d",
      problem=images_and_kernels(dtype=np.float64))
def convolution_is_correlation_with_flipped_kernel(backend: str, problem: Any) -> None:
    X, K, mode = problem
    close = dict(dtype=np.float64, scale=scale(X, K), terms=K.size)
    flipped = np.ascontiguousarray(K[::-1, ::-1])
    # even kernel, "same": SciPy's convolve2d sits (k - 1) // 2 into the full
    # result, correlate2d k // 2; there the identity holds on the full grid
    on_full = mode == "same" and not (K.shape[0] % 2 and K.shape[1] % 2)
    corr_mode = "full" if on_full else mode
    corr = on(backend).corr2d(X, flipped, mode=corr_mode)
    if backend != "reference":
        _blame_if_wrong("corr2d", corr, convreg.corr2d(X, flipped, mode=corr_mode,
                                                       backend="reference"), **close)
    if on_full:
        (kh, kw), (H, W) = K.shape, X.shape
        corr = corr[(kh - 1) // 2:(kh - 1) // 2 + H, (kw - 1) // 2:(kw - 1) // 2 + W]
    assert_close(on(backend).convolve2d(X, K, mode=mode), corr, **close,
                 what=f"convolve2d(X, K, {mode!r}) against corr2d(X, K flipped)")


@prop("conv2d",
      problem=conv_problems(groups=False, stride=False, dilation=False, padding=False))
def conv2d_is_a_sum_of_flipped_kernel_convolutions(backend: str, problem: Any) -> None:
    """``conv2d(x, w)[n, o] == sum_c convolve2d(x[n, c], w[o, c] flipped)`` (SciPy's)."""
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
      problem=conv_problems(stride=False, padding=False, wide=True))
def stride_is_subsampling(backend: str, problem: Any) -> None:
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    y1 = on(backend).conv2d(x, w, **kw)
    ys = on(backend).conv2d(x, w, **dict(kw, stride=(2, 3)))
    assert_close(ys, y1[:, :, ::2, ::3], dtype=x.dtype, scale=scale(x, w), terms=w[0].size)


@prop("conv2d",
      problem=conv_problems(padding=False, wide=True), pad=st.tuples(st.integers(0, 3), st.integers(0, 3)))
def padding_is_an_explicit_zero_pad(backend: str, problem: Any, pad: Any) -> None:
    x, w, kw = problem["x"], problem["w"], problem["kw"]
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    assert_close(on(backend).conv2d(x, w, **dict(kw, padding=pad)),
                 on(backend).conv2d(xp, w, **kw),
                 dtype=x.dtype, scale=scale(x, w), terms=w[0].size)


@prop("conv2d",
      problem=conv_problems(dilation=False, padding=False, wide=True), d=st.tuples(st.integers(1, 3),
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
      problem=conv_problems(wide=True))
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
    assert_close(y, np.max(shifted, axis=0), dtype=x.dtype, scale=0.0,
                 what="max_pool2d against the maximum of shifted copies")  # exact


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
    if backend != "reference":  # the other two ops first: blame them, not grad_input
        close = dict(dtype=np.float64, terms=w[0].size + g.shape[0] * g[0, 0].size)
        _blame_if_wrong("conv2d", y, convreg.conv2d(x, w, backend="reference", **kw),
                        scale=scale(x, w), **close)
        _blame_if_wrong("conv2d_grad_weight", dw, convreg.conv2d_grad_weight(
            x, g, w.shape, backend="reference", **kw), scale=scale(x, g), **close)
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
    if backend != "reference":  # the other two ops first: blame them, not grad_weight
        close = dict(dtype=np.float64, terms=w[0].size + 1 + g.shape[1] * w[0, 0].size)
        _blame_if_wrong("conv2d", y, convreg.conv2d(x, w, b, backend="reference", **kw),
                        scale=scale(x, w) + (scale(b) if b is not None else 0.0), **close)
        _blame_if_wrong("conv2d_grad_input", dx, convreg.conv2d_grad_input(
            g, w, x.shape, backend="reference", **kw), scale=scale(g, w), **close)
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
    if backend != "reference":
        _blame_if_wrong("max_pool2d", y, convreg.max_pool2d(x, dilation=d, backend="reference",
                                                            **kw), dtype=np.float64)
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
    if backend != "reference":
        _blame_if_wrong("avg_pool2d", y, convreg.avg_pool2d(
            x, count_include_pad=include, backend="reference", **kw), dtype=np.float64,
            scale=scale(x), terms=int(np.prod(kw["kernel_size"])))
    g, v = data.draw(values(y.shape)), data.draw(values(x.shape))
    dx = on(backend).avg_pool2d_grad(g, x.shape, count_include_pad=include, **kw)
    fd = _finite_difference(lambda xx: _dot(on(backend).avg_pool2d(
        xx, count_include_pad=include, **kw), g), x, v)
    assert abs(fd - _dot(dx, v)) <= 1e-7 * max(1.0, scale(g, v) * y.size)
    # average pooling is linear: the gradient is its adjoint
    assert abs(_dot(y, g) - _dot(x, dx)) <= 1e-9 * max(1.0, scale(x, g) * y.size)
