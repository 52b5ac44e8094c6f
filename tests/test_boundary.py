"""The boundary between convreg and its backends, seen from the user's side.

What a backend returns is checked before a user sees it; an exception from
inside a backend names it; validation never depends on earlier calls; odd
inputs (None, subclasses, masked arrays, huge sizes, flags that are not
bools, empty batches) get the same clear answer on every backend; a plugin
that misbehaves at import is contained. Fork and Ctrl-C are in
test_fork_interrupt.py.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.signal
from conftest import implementing

import convreg
from convreg import registry

rng = np.random.default_rng(14)

# -- what a backend returns is checked ----------------------------------------

LIAR = '''
import numpy as np
from convreg.hookspecs import hookimpl

class Liar:
    name = "liar"
    version = "1.0"
    api_version = 1
    priority = -10
    array_types = (np.ndarray,)
    answer = None      # what corr2d returns; set by the test
    modify = False     # whether corr2d writes into X first

    def available(self):
        return True, "a backend that lies, for tests"

    def corr2d(self, X, K, mode):
        if self.modify:
            X[0, 0] += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer(X, K) if callable(self.answer) else self.answer

LIAR = Liar()

@hookimpl
def convreg_backends():
    return [LIAR]
'''

X, K = rng.standard_normal((4, 5)), rng.standard_normal((2, 2))  # valid output (3, 4)


@pytest.fixture
def liar(make_plugin):
    make_plugin("liardist", LIAR)
    registry.load(reload=True)
    import liardist_plugin

    yield liardist_plugin.LIAR
    convreg.set_debug_checks(False)


@pytest.mark.parametrize("answer, described", [
    (np.zeros((2, 4)), r"numpy.ndarray of shape \(2, 4\) and dtype float64"),
    (np.float64(3.0), r"numpy.float64"),
    (np.zeros(()), r"shape \(\) and dtype float64"),
    (np.zeros((3, 4), np.float16), r"dtype float16"),
    (np.zeros((3, 4), np.int64), r"dtype int64"),
    (np.zeros((3, 4), np.float32), r"dtype float32"),
    (None, r"NoneType"),
    ([[0.0] * 4] * 3, r"builtins.list"),
    (np.asmatrix(np.zeros((3, 4))), r"numpy.matrix"),
])
def test_a_wrong_result_is_refused_naming_backend_op_got_and_expected(liar, answer, described):
    liar.answer = answer
    with pytest.raises(convreg.BackendError) as info:
        convreg.corr2d(X, K, backend="liar")
    message = str(info.value)
    assert "corr2d: backend 'liar' returned" in message
    assert "expected numpy.ndarray of shape (3, 4) and dtype float64" in message
    assert __import__("re").search(described, message), message


def test_a_right_result_passes_through_unchanged(liar):
    liar.answer = lambda X, K: scipy.signal.correlate2d(X, K, mode="valid")
    np.testing.assert_allclose(convreg.corr2d(X, K, backend="liar"),
                               convreg.corr2d(X, K, backend="reference"), rtol=1e-12)


def test_an_exception_inside_a_backend_keeps_its_type_and_names_backend_and_op(liar):
    liar.answer = ZeroDivisionError("division by zero")
    with pytest.raises(ZeroDivisionError) as info:
        convreg.corr2d(X, K, backend="liar")
    assert info.value.__notes__ == ["(raised inside convreg backend 'liar', op 'corr2d')"]


def test_debug_checks_catch_a_backend_that_modifies_its_input(liar):
    liar.modify = True
    liar.answer = lambda X, K: np.zeros((3, 4))
    convreg.corr2d(X.copy(), K, backend="liar")  # off by default: not looked for
    convreg.set_debug_checks(True)
    assert convreg.get_debug_checks()
    with pytest.raises(convreg.BackendError, match="'liar' modified its input X in place"):
        convreg.corr2d(X.copy(), K, backend="liar")
    liar.modify = False
    convreg.corr2d(X.copy(), K, backend="liar")  # a well-behaved call passes


def test_debug_checks_pass_on_every_builtin_backend_and_op():
    convreg.set_debug_checks(True)
    try:
        x, w = rng.standard_normal((2, 4, 7, 7)), rng.standard_normal((6, 2, 3, 3))
        for backend in implementing("conv2d", builtin=True):
            y = convreg.conv2d(x, w, rng.standard_normal(6), padding=1, groups=2, backend=backend)
            convreg.conv2d_grad_input(y, w, x.shape, padding=1, groups=2, backend=backend)
            convreg.conv2d_grad_weight(x, y, w.shape, padding=1, groups=2, backend=backend)
            p = convreg.max_pool2d(x, 2, backend=backend)
            convreg.max_pool2d_grad(p, x, 2, backend=backend)
            a = convreg.avg_pool2d(x, 3, 1, 1, backend=backend)
            convreg.avg_pool2d_grad(a, x.shape, 3, 1, 1, backend=backend)
            convreg.convolve2d(x[0, 0], w[0, 0], mode="same", backend=backend)
    finally:
        convreg.set_debug_checks(False)


def test_the_debug_switch_reads_the_environment_and_takes_only_bools():
    code = "import convreg; print(convreg.get_debug_checks())"
    env = {"CONVREG_DEBUG_CHECKS": "1", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, **env})
    assert out.stdout.strip() == "True", out.stderr
    with pytest.raises(TypeError, match="True or False"):
        convreg.set_debug_checks(1)


# -- validation never depends on earlier calls --------------------------------

x4, w4 = np.ones((1, 4, 6, 6)), np.ones((4, 2, 3, 3))
p4 = np.ones((1, 2, 6, 6))

# (the accepted call, the refused call that hashes like it)
_LOOKALIKES = [
    (lambda: convreg.conv2d(x4, w4, padding=1, groups=2),
     lambda: convreg.conv2d(x4, w4, padding=1.0, groups=2)),
    (lambda: convreg.conv2d(x4, w4, groups=2),
     lambda: convreg.conv2d(x4, w4, groups=2.0)),
    (lambda: convreg.conv2d(x4, w4, stride=(2, 1), groups=2),
     lambda: convreg.conv2d(x4, w4, stride=(2, 1.0), groups=2)),
    (lambda: convreg.conv2d(x4, w4, padding=0, groups=2),
     lambda: convreg.conv2d(x4, w4, padding=False, groups=2)),
    (lambda: convreg.conv2d(x4, w4, dilation=1, groups=2),
     lambda: convreg.conv2d(x4, w4, dilation=True, groups=2)),
    (lambda: convreg.max_pool2d(p4, 2),
     lambda: convreg.max_pool2d(p4, 2.0)),
    (lambda: convreg.avg_pool2d(p4, 2, stride=(1, 1)),
     lambda: convreg.avg_pool2d(p4, 2, stride=(1, True))),
    (lambda: convreg.max_pool2d(p4, 2, ceil_mode=False),
     lambda: convreg.max_pool2d(p4, 2, ceil_mode=0)),
]


@pytest.mark.parametrize("accepted, refused", _LOOKALIKES)
def test_a_refused_argument_is_refused_before_and_after_its_lookalike_is_cached(accepted,
                                                                                refused):
    with pytest.raises(TypeError):
        refused()
    accepted()
    accepted()  # now cached
    with pytest.raises(TypeError):
        refused()


def test_a_numpy_int_is_an_int():
    np.testing.assert_array_equal(
        convreg.conv2d(x4, w4, padding=np.int64(1), stride=(np.int32(2), 1), groups=np.int8(2)),
        convreg.conv2d(x4, w4, padding=1, stride=(2, 1), groups=2))


def test_the_empty_backend_name_is_refused_the_same_way_always():
    def refusals():
        with pytest.raises(ValueError, match="empty string"):
            convreg.set_backend("")
        with pytest.raises(ValueError, match="empty string"):
            with convreg.use_backend(""):
                pass
        with pytest.raises(ValueError, match="empty string"):
            convreg.corr2d(X, K, backend="")

    # Run in a fresh interpreter first (nothing cached), then here after an
    # automatic call has filled the resolution cache.
    script = textwrap.dedent('''
        import numpy as np, convreg
        for call in (lambda: convreg.set_backend(""), lambda: convreg.use_backend("").__enter__(),
                     lambda: convreg.corr2d(np.ones((2, 2)), np.ones((1, 1)), backend="")):
            try:
                call(); print("accepted")
            except ValueError as exc:
                print("ValueError" if "empty string" in str(exc) else exc)
    ''')
    fresh = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert fresh.stdout.split() == ["ValueError"] * 3, fresh.stdout + fresh.stderr
    convreg.corr2d(X, K)
    refusals()


@pytest.mark.parametrize("bad", [["cython"], 3, b"cython", ("cython",)])
def test_a_backend_argument_that_is_not_a_name_is_a_type_error_naming_it(bad):
    with pytest.raises(TypeError, match=r"backend= takes a backend name \(str\) or None"):
        convreg.corr2d(X, K, backend=bad)
    with pytest.raises(TypeError, match="backend name"):
        convreg.set_backend(bad)


# -- odd inputs ----------------------------------------------------------------

@pytest.mark.parametrize("call, name", [
    (lambda: convreg.corr2d(None, K), "X"),
    (lambda: convreg.convolve2d(X, None), "K"),
    (lambda: convreg.conv2d(None, w4), "x"),
    (lambda: convreg.conv2d(x4, None), "weight"),
    (lambda: convreg.conv2d_grad_input(None, w4, x4.shape), "grad_output"),
    (lambda: convreg.conv2d_grad_weight(x4, None, w4.shape), "grad_output"),
    (lambda: convreg.conv2d_grad_bias(None), "grad_output"),
    (lambda: convreg.max_pool2d(None, 2), "x"),
    (lambda: convreg.max_pool2d_grad(np.ones((1, 1, 3, 3)), None, 2), "x"),
    (lambda: convreg.avg_pool2d_grad(None, (1, 1, 4, 4), 2), "grad_output"),
])
def test_none_as_an_array_is_a_type_error_naming_the_argument(call, name):
    with pytest.raises(TypeError, match=f"^{name} must be an array; got None"):
        call()


@pytest.mark.parametrize("call", [
    lambda: convreg.max_pool2d(p4, 2, ceil_mode="no"),
    lambda: convreg.max_pool2d_grad(np.ones((1, 2, 3, 3)), p4, 2, ceil_mode="no"),
    lambda: convreg.avg_pool2d(p4, 2, ceil_mode=None),
    lambda: convreg.avg_pool2d(p4, 2, count_include_pad="no"),
    lambda: convreg.avg_pool2d_grad(np.ones((1, 2, 3, 3)), p4.shape, 2, count_include_pad=1),
])
def test_flags_must_be_bools(call):
    with pytest.raises(TypeError, match="must be True or False"):
        call()


def test_numpy_bools_are_bools():
    np.testing.assert_array_equal(convreg.avg_pool2d(p4, 4, 3, ceil_mode=np.bool_(True),
                                                     count_include_pad=np.bool_(False)),
                                  convreg.avg_pool2d(p4, 4, 3, ceil_mode=True,
                                                     count_include_pad=False))


@pytest.mark.parametrize("backend", implementing("conv2d"))
@pytest.mark.parametrize("call", [
    lambda b: convreg.conv2d(x4, w4, stride=2**63, groups=2, backend=b),
    lambda b: convreg.conv2d(x4, w4, stride=(1, 2**64), groups=2, backend=b),
    lambda b: convreg.conv2d(x4, w4, dilation=2**63, groups=2, backend=b),
    lambda b: convreg.conv2d(x4, w4, padding=2**63, groups=2, backend=b),
    lambda b: convreg.conv2d(x4, w4, groups=2**63, backend=b),
    lambda b: convreg.max_pool2d(p4, 2, stride=2**63, backend=b),
    lambda b: convreg.max_pool2d(p4, 2**63, backend=b),
    lambda b: convreg.conv2d_grad_input(np.ones((0, 4, 1, 1)), w4, (0, 4, 2**63, 3), groups=2,
                                        backend=b),
])
def test_sizes_beyond_the_index_type_are_a_value_error_on_every_backend(backend, call):
    with pytest.raises(ValueError, match=r"beyond the largest index .* 2\*\*63 - 1"):
        call(backend)


def test_the_largest_index_itself_is_a_size_like_any_other():
    huge = 2**63 - 1
    for backend in implementing("conv2d"):  # a 1x1 output, read from the first pixel only
        np.testing.assert_array_equal(
            convreg.conv2d(x4, w4, stride=huge, groups=2, backend=backend),
            convreg.conv2d(x4[:, :, :3, :3], w4, groups=2, backend=backend))


class _Tagged(np.ndarray):
    """A user's subclass whose arithmetic differs: it must not leak into results."""

    def __mul__(self, other):
        return NotImplemented


@pytest.mark.parametrize("backend", implementing("corr2d"))
@pytest.mark.parametrize("wrap", [
    np.asmatrix,
    lambda a: a.view(_Tagged),
    "memmap",
])
def test_array_subclasses_behave_as_their_plain_array_and_mix_with_plain_ones(backend, wrap,
                                                                              tmp_path):
    if wrap == "memmap":
        def wrap(a):
            m = np.memmap(tmp_path / f"a{a.size}.dat", dtype=a.dtype, mode="w+", shape=a.shape)
            m[:] = a
            return m
    A, B = rng.standard_normal((6, 7)), rng.standard_normal((3, 2))
    expected = convreg.corr2d(A, B, backend="reference")
    for args in ((wrap(A), B), (A, wrap(B)), (wrap(A), wrap(B))):
        got = convreg.corr2d(*args, backend=backend)
        assert type(got) is np.ndarray
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    x, w = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 2, 2))
    if wrap is not np.asmatrix:  # a matrix is 2-D only
        np.testing.assert_allclose(convreg.conv2d(wrap(x), w, backend=backend),
                                   convreg.conv2d(x, w, backend="reference"), rtol=1e-12)


@pytest.mark.parametrize("call", [
    lambda m: convreg.corr2d(m, K),
    lambda m: convreg.convolve2d(X, m),
    lambda m: convreg.max_pool2d(m[None, None], 2),
])
def test_masked_arrays_are_refused_with_how_to_fill_them(call):
    masked = np.ma.masked_array(X, mask=X > 0)
    with pytest.raises(TypeError, match=r"masked array.*\.filled\(0\)"):
        call(masked)


def test_the_host_device_message_appears_only_when_a_device_array_is_involved():
    with pytest.raises(TypeError) as info:
        convreg.corr2d(X, np.ma.masked_array(K))
    assert "cupy" not in str(info.value) and "device" not in str(info.value)


# Every op, every backend that has it, on an empty batch: the shapes PyTorch gives.
_EMPTY = np.zeros((0, 4, 7, 7))
_EMPTY_CASES = {
    "conv2d": lambda b, w, kw: convreg.conv2d(_EMPTY, w, backend=b, **kw),
    "conv2d_grad_input": lambda b, w, kw: convreg.conv2d_grad_input(
        np.zeros(convreg.conv2d(_EMPTY, w, backend="reference", **kw).shape), w, _EMPTY.shape,
        backend=b, **kw),
    "conv2d_grad_weight": lambda b, w, kw: convreg.conv2d_grad_weight(
        _EMPTY, np.zeros(convreg.conv2d(_EMPTY, w, backend="reference", **kw).shape), w.shape,
        backend=b, **kw),
}


@pytest.mark.parametrize("op", list(_EMPTY_CASES))
@pytest.mark.parametrize("w_shape, kw, y_hw", [
    ((6, 4, 1, 1), {}, (7, 7)),  # the 1x1 layer (its input is its own column matrix)
    ((6, 4, 3, 3), {"padding": 1}, (7, 7)),
    ((8, 2, 3, 3), {"stride": 2, "groups": 2}, (3, 3)),
    ((32, 4, 3, 3), {"padding": 1}, (7, 7)),  # the channel-blocked kernels
    ((2, 4, 2, 2), {"dilation": 2}, (5, 5)),
])
def test_an_empty_batch_works_for_every_layer_op_on_every_backend(op, w_shape, kw, y_hw):
    w = np.ones(w_shape)
    expected = {"conv2d": (0, w_shape[0], *y_hw), "conv2d_grad_input": _EMPTY.shape,
                "conv2d_grad_weight": w_shape}[op]
    for backend in implementing(op):
        got = _EMPTY_CASES[op](backend, w, kw)
        assert got.shape == expected, backend
        assert not got.any(), backend  # the weight gradient of no images is zero


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_an_empty_batch_works_for_pooling_and_its_gradient_on_every_backend(op):
    for backend in implementing(op):
        y = getattr(convreg, op)(_EMPTY, 3, 2, 1, backend=backend)
        assert y.shape == (0, 4, 4, 4)
        second = _EMPTY if op == "max_pool2d" else _EMPTY.shape
        dx = getattr(convreg, op + "_grad")(y, second, 3, 2, 1, backend=backend)
        assert dx.shape == _EMPTY.shape
    np.testing.assert_array_equal(convreg.conv2d_grad_bias(np.zeros((0, 4, 2, 2))), np.zeros(4))


@pytest.mark.parametrize("backend", implementing("convolve2d", builtin=True))
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_nan_or_inf_in_the_kernel_reaches_what_the_definition_says(backend, mode, bad):
    # The zero fill is part of the definition: 0 x NaN is NaN, 0 x Inf is NaN.
    A = rng.standard_normal((6, 6))
    B = rng.standard_normal((3, 3))
    B[1, 2] = bad
    for op, scipy_op in ((convreg.convolve2d, scipy.signal.convolve2d),
                         (convreg.corr2d, scipy.signal.correlate2d)):
        got, want = op(A, B, mode=mode, backend=backend), scipy_op(A, B, mode=mode)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want))


# -- a misbehaving plugin is contained -----------------------------------------

@pytest.mark.parametrize("statement, shown", [
    ("import sys; sys.exit('bye')", "SystemExit('bye')"),
    ("raise SystemExit(3)", "SystemExit(3)"),
    ("raise GeneratorExit()", "GeneratorExit()"),
])
def test_a_plugin_that_exits_at_import_is_listed_unavailable(make_plugin, caplog, statement,
                                                            shown):
    make_plugin("exitdist", statement)
    with caplog.at_level(logging.DEBUG, logger="convreg.dispatch"):
        with pytest.warns(RuntimeWarning, match="exitdist") as record:
            registry.load(reload=True)
    assert len([w for w in record if "exitdist" in str(w.message)]) == 1
    row = next(b for b in convreg.backends() if b.name == "exitdist")
    assert not row.available and shown in row.reason
    assert any(r.exc_info and "exitdist" in r.getMessage() for r in caplog.records)
    # The other backends still answer (to rounding: the kernels contract to FMA).
    np.testing.assert_allclose(convreg.corr2d(X, K), convreg.corr2d(X, K, backend="reference"),
                               rtol=1e-13, atol=1e-13)


def test_ctrl_c_during_plugin_import_is_not_swallowed(make_plugin):
    make_plugin("ctrlcdist", "raise KeyboardInterrupt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(KeyboardInterrupt):
            registry.load(reload=True)


def test_the_fast_path_for_seen_signatures_takes_only_calls_that_validate_alike():
    X = np.arange(48.0).reshape(6, 8)
    K = np.array([[1.0, -2.0, 0.5]])
    want = convreg.corr2d(X, K, backend="reference")
    for _ in range(2):  # the second call of each is a fast-path hit
        np.testing.assert_allclose(convreg.corr2d(X, K), want)
        # Same shape and dtype, other strides or byte order: validated (and copied) again.
        np.testing.assert_allclose(convreg.corr2d(np.asfortranarray(X), K), want)
        np.testing.assert_allclose(convreg.corr2d(X.astype(">f8"), K), want)
    x, w = np.ones((1, 2, 5, 5), np.float32), np.ones((3, 2, 3, 3), np.float32)
    for _ in range(2):
        assert convreg.conv2d(x, w, padding=1).shape == (1, 3, 5, 5)
        assert convreg.conv2d(x[0], w, padding=1).shape == (3, 5, 5)
        for bad in (1.0, True, (1, 1.0)):
            with pytest.raises(TypeError):
                convreg.conv2d(x, w, padding=bad)
        with pytest.raises(ValueError, match="bias"):
            convreg.conv2d(x, w, np.ones(2, np.float32), padding=1)
