"""How many threads the compiled kernels use.

The count is passed to every OpenMP parallel region explicitly (not through
``omp_set_num_threads``, whose setting belongs to the calling thread only), so
:func:`set_num_threads` holds for calls made from any Python thread. Until it
is called, each call asks OpenMP for its default, which honours
``OMP_NUM_THREADS`` and ``threadpoolctl.threadpool_limits(n, "openmp")``.

:func:`set_num_threads` also limits the BLAS pools (through threadpoolctl),
so one setting governs both kinds. The kernels' own GEMMs (im2col,
Winograd, implicit GEMM) do not use BLAS's threads: they run in pieces on
convreg's OpenMP team, one single-threaded BLAS call per piece, inside
:func:`one_blas_thread`. BLAS's threads spin-wait after each call, and an
OpenMP team started meanwhile shared the cores with them (a 0.9 ms kernel
took 4.8 ms right after a GEMM, on 2 threads): with one pool doing all the
work nothing spins against the next call. (Called from a Python thread
other than the main one, where OpenBLAS does not take a thread count,
those GEMMs run one at a time on BLAS's threads, as before.)

After ``os.fork()`` (and so in ``multiprocessing`` workers started with the
``fork`` method, Linux's default before Python 3.14) the child runs every
kernel on one thread. GNU OpenMP's thread pool does not survive fork: a
child that starts a parallel region after its parent used one waits forever
for threads that were never copied. A one-thread region needs no pool, so
the child works whatever the parent ran. For parallel kernels in worker
processes, use the ``spawn`` or ``forkserver`` start method.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import os
import threading
import warnings
from collections.abc import Iterator
from typing import Any

__all__ = ["get_num_threads", "set_num_threads", "openmp_enabled", "limited", "one_blas_thread",
           "blas_loaded"]

_num_threads: int | None = None


class _Local(threading.local):
    """The per-thread override set by `limited`; None: none. A class default, since
    getattr with a default on a missing thread-local attribute cost 0.8 us a call."""

    n: int | None = None


_local = _Local()
_blas_limit: Any = None  # threadpoolctl's handle, to restore the BLAS default
# one_blas_thread's state, the main thread's only: the calls inside it and the
# BLAS libraries' thread counts to restore when the outermost one leaves.
_one_blas_depth = 0
_one_blas_saved: list[tuple[Any, int]] = []
# True in a child made by fork: OpenMP may not start threads there (docstring).
_forked_child = False


def _after_fork_in_child() -> None:
    global _forked_child
    _forked_child = True


os.register_at_fork(after_in_child=_after_fork_in_child)


@functools.cache  # an import statement per call was most of a kernel call's thread lookup
def _openmp() -> Any:
    try:
        from ._cy import _openmp as omp
    except ImportError:
        return None
    return omp


def openmp_enabled() -> bool:
    """True when the compiled kernels were built with OpenMP."""
    omp = _openmp()
    return omp is not None and omp.openmp_enabled()


def get_num_threads() -> int:
    """Threads the compiled kernels use per call (from this Python thread).

    Always 1 in a process made by ``os.fork()`` (see the module docstring).
    """
    if _forked_child:
        return 1
    local = _local.n
    if local is not None:
        return int(local)
    if _num_threads is not None:
        return _num_threads
    omp = _openmp()
    return 1 if omp is None else max(1, int(omp.default_num_threads()))


def set_num_threads(n: int | None) -> None:
    """Use ``n`` threads per kernel call and in BLAS from now on (``None``: the defaults).

    Examples
    --------
    >>> import convreg
    >>> convreg.set_num_threads(1); convreg.get_num_threads()
    1
    >>> convreg.set_num_threads(None)
    """
    global _num_threads
    given: object = n  # checked as any object: NumPy integers are welcome, bools and floats not
    if given is not None and (isinstance(given, bool) or not isinstance(given, numbers.Integral)
                              or int(given) < 1):
        raise ValueError(f"the thread count must be a positive int or None; got {n!r}")
    if _forked_child and n is not None and n > 1:
        warnings.warn(
            f"convreg.set_num_threads({n}) in a process made by fork: the compiled kernels "
            "stay on one thread here, because OpenMP cannot start threads after fork. "
            "Use the 'spawn' or 'forkserver' start method for parallel kernels in workers",
            RuntimeWarning, stacklevel=2)
    _num_threads = None if n is None else int(n)
    _limit_blas()


def _limit_blas() -> None:
    """Hold every BLAS library loaded now at the set count (restoring any earlier hold
    first, so that each library's own default comes back on ``None``)."""
    global _blas_limit
    from threadpoolctl import threadpool_limits

    if _blas_limit is not None:
        _blas_limit.restore_original_limits()
        _blas_limit = None
    if _num_threads is not None:
        _blas_limit = threadpool_limits(limits=_num_threads, user_api="blas")


def blas_loaded() -> None:
    """Bring a BLAS library loaded since :func:`set_num_threads` under its count.

    The cython backend calls this once its kernels have loaded their BLAS:
    a count set before that would otherwise not reach it (it did not: the
    kernels' GEMMs ran on 2 threads after ``set_num_threads(1)``).
    """
    if _num_threads is not None:
        _limit_blas()


@contextlib.contextmanager
def limited(n: int) -> Iterator[None]:
    """Run the enclosed calls from this Python thread on at most ``n`` kernel threads.

    For code that is already parallel over Python threads (dask's threaded
    scheduler runs one chunk per thread): each chunk's kernel then runs on
    its own thread instead of starting an OpenMP team per worker thread,
    which would oversubscribe the cores.
    """
    previous = _local.n
    _local.n = min(n, get_num_threads())
    try:
        yield
    finally:
        _local.n = previous


@functools.cache
def _blas_libraries() -> tuple[Any, ...]:
    """threadpoolctl's controllers of the BLAS libraries loaded now (NumPy's and SciPy's,
    the kernels' GEMMs calling one of them: convreg._blas)."""
    from threadpoolctl import ThreadpoolController

    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


@contextlib.contextmanager
def one_blas_thread(threads: int) -> Iterator[int]:
    """Hold every BLAS library at one thread while the enclosed kernels run GEMMs in
    pieces on a team of ``threads``; yields the team size the GEMMs may use.

    Only from the main thread: OpenBLAS ignores a thread count set from
    another thread once the main thread has set one (measured with the
    OpenBLAS 0.3.30 and 0.3.31 that SciPy and NumPy ship: a worker's
    ``set_num_threads(1)`` left 2, so its restoring could not be trusted
    either). From any other thread this yields 1 and changes nothing: the
    pieces run one at a time, each on BLAS's own threads, as before.

    Process-wide, as BLAS's setting is: a GEMM another Python thread starts
    meanwhile runs on one thread too. Nested uses count: the libraries'
    settings come back when the outermost one leaves. Costs about 6 us (two
    libraries), so only algorithms whose calls take far longer use it.
    """
    global _one_blas_depth
    if threading.current_thread() is not threading.main_thread():
        yield 1
        return
    if _one_blas_depth == 0:
        _one_blas_saved[:] = [(lib, lib.num_threads) for lib in _blas_libraries()]
        for lib, n in _one_blas_saved:
            if n != 1:
                lib.set_num_threads(1)
    _one_blas_depth += 1
    try:
        yield threads if all(lib.num_threads == 1 for lib, _ in _one_blas_saved) else 1
    finally:
        _one_blas_depth -= 1
        if _one_blas_depth == 0:
            for lib, n in _one_blas_saved:
                if n != 1:
                    lib.set_num_threads(n)
            _one_blas_saved.clear()
