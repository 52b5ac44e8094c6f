"""The GEMMs the cython backend runs on its own OpenMP team (``convreg._cy._gemm``), and
BLAS held at one thread meanwhile (``convreg.threads.one_blas_thread``).

The oracle is NumPy's ``matmul``; the layer ops that use these GEMMs are
checked against the reference backend in test_cython_paths.py.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import threadpoolctl
from hypothesis import given
from hypothesis import strategies as st

import convreg
from convreg import planner
from convreg.threads import one_blas_thread

pytest.importorskip("convreg.plugins.cython")
from convreg._cy import _gemm  # noqa: E402  (after the skip: a build without kernels)

DTYPES = [np.float32, np.float64]


def _blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]


def _strided(rng: np.random.Generator, shape: tuple[int, ...], dtype, pad: int) -> np.ndarray:
    """Random values in a view whose rows are ``pad`` items longer than they hold and
    whose batch axis runs backwards: a layout the kernels must read through strides."""
    base = rng.standard_normal((shape[0], shape[1], shape[2] + pad)).astype(dtype)
    return base[::-1, :, :shape[2]]


@pytest.mark.parametrize("dtype", DTYPES)
@given(batch=st.integers(0, 5), m=st.integers(0, 9), k=st.integers(0, 9),
       n=st.integers(0, 700), shared=st.booleans(), pad=st.sampled_from([0, 3]),
       threads=st.sampled_from([1, 2, 3]), seed=st.integers(0, 2**16))
def test_matmul_is_numpys(dtype, batch, m, k, n, shared, pad, threads, seed):
    rng = np.random.default_rng(seed)
    A = _strided(rng, (1 if shared else batch, m, k), dtype, pad)
    B = _strided(rng, (batch, k, n), dtype, pad)
    C = np.full((batch, m, n + pad), np.nan, dtype=dtype)[:, :, :n]
    with one_blas_thread(threads) as team:
        assert team == threads  # this is the main thread: BLAS takes its setting
        _gemm.matmul(A, B, C, team)
    want = np.matmul(A, B)
    np.testing.assert_allclose(C, want, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@given(batch=st.integers(0, 5), m=st.integers(0, 7), n=st.integers(0, 7),
       L=st.integers(0, 900), threads=st.sampled_from([1, 2, 3]), seed=st.integers(0, 2**16))
def test_matmul_nt_sum_adds_every_product_once(dtype, batch, m, n, L, threads, seed):
    rng = np.random.default_rng(seed)
    A = _strided(rng, (batch, m, L), dtype, 2)
    B = _strided(rng, (batch, n, L), dtype, 0)
    start = rng.standard_normal((threads + 1, m, n)).astype(dtype)  # one more than needed
    partial = start.copy()
    with one_blas_thread(threads) as team:
        _gemm.matmul_nt_sum(A, B, partial, team)
    want = start.sum(0) + np.einsum("bml,bnl->mn", A.astype(np.float64), B.astype(np.float64))
    np.testing.assert_allclose(partial.sum(0), want, rtol=1e-4 if dtype == np.float32 else 1e-11,
                               atol=1e-3 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("call, match", [
    (lambda: _gemm.matmul(np.ones((2, 3, 4)), np.ones((2, 5, 6)), np.empty((2, 3, 6)), 1),
     "A's columns and B's rows"),
    (lambda: _gemm.matmul(np.ones((3, 3, 4)), np.ones((2, 4, 6)), np.empty((2, 3, 6)), 1),
     "batch"),
    (lambda: _gemm.matmul(np.ones((1, 3, 4)), np.ones((2, 4, 6)), np.empty((2, 3, 12))[:, :, ::2], 1),
     "not adjacent"),
    (lambda: _gemm.matmul(np.ones((1, 3, 4)), np.ones((2, 4, 6)), np.empty((2, 3, 6), np.float32),
                          1), "Buffer dtype mismatch"),
    (lambda: _gemm.matmul_nt_sum(np.ones((2, 3, 4)), np.ones((2, 5, 4)), np.zeros((1, 3, 5)), 2),
     "1 partial sums for 2 threads"),
    (lambda: _gemm.matmul_nt_sum(np.ones((2, 3, 4)), np.ones((2, 5, 7)), np.zeros((2, 3, 5)), 2),
     "A's and B's columns"),
])
def test_gemm_arguments_are_checked_before_the_loops(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_one_blas_thread_holds_blas_at_one_and_restores_it():
    convreg.set_num_threads(2)
    assert set(_blas_threads()) == {2}
    with one_blas_thread(2) as team:
        assert team == 2 and set(_blas_threads()) == {1}
        with one_blas_thread(3) as inner:  # nested: still one, and the outer exit restores
            assert inner == 3 and set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {1}
    assert set(_blas_threads()) == {2}
    with pytest.raises(RuntimeError), one_blas_thread(2):
        raise RuntimeError("a kernel failed")
    assert set(_blas_threads()) == {2}


def test_one_blas_thread_changes_nothing_outside_the_main_thread():
    """OpenBLAS ignores a thread count set outside the main thread once the main
    thread set one: there the GEMMs get a team of 1 and BLAS keeps its count,
    also while the main thread holds it at one."""
    convreg.set_num_threads(2)
    inside, release = threading.Barrier(3), threading.Event()
    got: list[tuple[int, set[int]]] = []

    def hold():
        with one_blas_thread(2) as team:
            got.append((team, set(_blas_threads())))
            inside.wait(timeout=30)
            release.wait(timeout=30)
        got.append((0, set(_blas_threads())))

    workers = [threading.Thread(target=hold) for _ in range(2)]
    for w in workers:
        w.start()
    inside.wait(timeout=30)
    with one_blas_thread(2) as team:
        assert team == 2 and set(_blas_threads()) == {1}
        release.set()
        for w in workers:
            w.join(timeout=30)
        assert set(_blas_threads()) == {1}  # the workers' leaving restored nothing
    assert sorted(got) == [(0, {1}), (0, {1}), (1, {2}), (1, {2})]
    assert set(_blas_threads()) == {2}


class _Recorder:
    """A kernel module whose functions (those in ``only``, if given) note BLAS's thread
    counts when called."""

    def __init__(self, module, seen: list[set[int]], only: frozenset[str] | None = None) -> None:
        self.module, self.seen, self.only = module, seen, only

    def __getattr__(self, name):
        kernel = getattr(self.module, name)
        if self.only is not None and name not in self.only:
            return kernel

        def recorded(*args):
            self.seen.append(set(_blas_threads()))
            return kernel(*args)
        return recorded


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("how", ["im2col", "implicit", "winograd"])
def test_gemm_algorithms_on_any_team(how, threads):
    """A team of one takes NumPy's matmul, larger ones the pieces: the same sums."""
    convreg.set_num_threads(threads)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 16, 11, 10))
    w = rng.standard_normal((20, 16, 3, 3))
    g = rng.standard_normal((3, 20, 11, 10))
    for op, args in {"conv2d": (x, w), "conv2d_grad_input": (g, w, x.shape),
                     "conv2d_grad_weight": (x, g, w.shape)}.items():
        with planner.force(how):
            got = getattr(convreg, op)(*args, padding=1, backend="cython")
        want = getattr(convreg, op)(*args, padding=1, backend="reference")
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("how", ["im2col", "implicit", "winograd"])
def test_gemm_algorithms_hold_blas_at_one_thread_inside_the_call_only(how, monkeypatch):
    from convreg._cy import _implicit_gemm
    from convreg.plugins import cython

    seen: list[set[int]] = []
    monkeypatch.setattr(cython, "_gemm", _Recorder(_gemm, seen))
    monkeypatch.setattr(cython, "_implicit_gemm", _Recorder(_implicit_gemm, seen))
    # im2col's forward pass calls its GEMMs from the kernel that unfolds the bands
    monkeypatch.setattr(cython, "_conv", _Recorder(cython._conv, seen, frozenset({"conv2d_im2col"})))
    convreg.set_num_threads(2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 16, 9, 9))
    w = rng.standard_normal((16, 16, 3, 3))
    g = rng.standard_normal((2, 16, 9, 9))
    ops = {"conv2d": (x, w), "conv2d_grad_input": (g, w, x.shape),
           "conv2d_grad_weight": (x, g, w.shape)}
    for op, args in ops.items():
        if how == "winograd" and op == "conv2d_grad_weight":
            continue  # not a Winograd op: the forced plan does not apply
        seen.clear()
        with planner.force(how):
            got = getattr(convreg, op)(*args, padding=1, backend="cython")
        want = getattr(convreg, op)(*args, padding=1, backend="reference")
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
        assert seen, f"{how} ran no team GEMM for {op}"
        assert all(s == {1} for s in seen), seen
        assert set(_blas_threads()) == {2}


# Which BLAS the GEMMs call (convreg._blas): NumPy's OpenBLAS where found, SciPy's
# otherwise or on request. The oracle is NumPy's float64 product.

_PRODUCT = """
import sys, numpy as np, convreg.plugins.cython
from convreg import _blas
from convreg._cy import _gemm
from convreg.threads import one_blas_thread
rng = np.random.default_rng(7)
for dtype in (np.float32, np.float64):
    A = rng.standard_normal((3, 17, 33)).astype(dtype)
    B = rng.standard_normal((3, 33, 300)).astype(dtype)
    C = np.full((3, 17, 300), np.nan, dtype=dtype)
    with one_blas_thread(2) as team:
        _gemm.matmul(A, B, C, team)
    want = np.matmul(A.astype(np.float64), B.astype(np.float64))
    tol = 1e-4 if dtype == np.float32 else 1e-12
    assert np.allclose(C, want, rtol=tol, atol=tol), (dtype, np.abs(C - want).max())
print(_blas.describe())
"""


def _describe_in_child(env: dict[str, str]) -> tuple[str, str]:
    """What a fresh interpreter with ``env`` says its GEMMs call, after checking a
    product through them; and what it logged."""
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _PRODUCT], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), done.stderr


def test_gemms_call_numpys_blas_where_it_is_found():
    from convreg import _blas

    found = _blas.numpy_gemm()
    said, _ = _describe_in_child({"CONVREG_BLAS": "numpy"})
    assert said == _blas.describe()
    if found is None:  # NumPy built on another BLAS (MKL, Accelerate, a system OpenBLAS)
        assert said.startswith("SciPy's BLAS"), said
    else:
        assert said == found.name and said.startswith("NumPy's OpenBLAS"), said
        assert found.ilp64 and found.sgemm and found.dgemm


def test_convreg_blas_scipy_keeps_the_gemms_on_scipys():
    said, _ = _describe_in_child({"CONVREG_BLAS": "scipy"})
    assert said.startswith("SciPy's BLAS"), said


def test_an_unknown_convreg_blas_warns_and_takes_the_default(monkeypatch):
    from convreg import _blas

    expected = _blas.numpy_gemm()
    monkeypatch.setenv("CONVREG_BLAS", "mkl")
    with pytest.warns(RuntimeWarning, match="CONVREG_BLAS='mkl' is not 'numpy' or 'scipy'"):
        assert _blas.numpy_gemm() == expected


def test_numpy_gemm_declines_a_library_without_a_named_gemm(monkeypatch):
    """A library that is not NumPy's OpenBLAS, or exports no GEMM under a name that says
    its int width, is never called: the kernels stay on SciPy's."""
    from convreg import _blas
    from convreg._cy import _openmp

    monkeypatch.setattr(_blas, "_numpy_openblas", lambda: None)
    assert _blas.numpy_gemm() is None
    # A shared library that exports no GEMM: one of convreg's own kernel modules.
    monkeypatch.setattr(_blas, "_numpy_openblas",
                        lambda: {"filepath": _openmp.__file__, "version": "x", "architecture": "y"})
    assert _blas.numpy_gemm() is None


def test_the_blas_is_looked_up_once_for_all_kernel_modules():
    """Three kernel modules include blas.pxi; the lookup, and its warning about a bad
    CONVREG_BLAS, happen once a process."""
    import os
    import subprocess
    import sys

    code = ("import warnings; warnings.simplefilter('always')\n"
            "import convreg.plugins.cython, convreg._cy._gemm, convreg._cy._implicit_gemm\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "CONVREG_BLAS": "mkl"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("CONVREG_BLAS='mkl' is not 'numpy' or 'scipy'") == 1, done.stderr


def test_a_rejected_library_is_no_kernel_modules_choice(monkeypatch):
    from convreg import _blas

    monkeypatch.setattr(_blas, "_asked", False)
    monkeypatch.setattr(_blas, "_selected", None)
    monkeypatch.setattr(_blas, "numpy_gemm", lambda: _blas.Gemm(1, 2, True, "a stand-in BLAS"))
    found = _blas.selected()
    assert found is not None and found.name == "a stand-in BLAS"
    with pytest.warns(RuntimeWarning, match="a stand-in BLAS computed a test product wrongly"):
        _blas.reject(found)
    assert _blas.selected() is None
