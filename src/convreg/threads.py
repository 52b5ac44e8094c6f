"""How many threads the compiled kernels use.

The count is passed to every OpenMP parallel region explicitly (not through
``omp_set_num_threads``, whose setting belongs to the calling thread only), so
:func:`set_num_threads` holds for calls made from any Python thread. Until it
is called, each call asks OpenMP for its default, which honours
``OMP_NUM_THREADS`` and ``threadpoolctl.threadpool_limits(n, "openmp")``.

:func:`set_num_threads` also limits the BLAS pool (through threadpoolctl)
that the im2col + GEMM path calls, so one setting governs both pools. The
two never nest: a kernel's OpenMP region and a GEMM run one after the other,
so at most ``n`` threads compute at any time.

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

__all__ = ["get_num_threads", "set_num_threads", "openmp_enabled", "limited"]

_num_threads: int | None = None
class _Local(threading.local):
    """The per-thread override set by `limited`; None: none. A class default, since
    getattr with a default on a missing thread-local attribute cost 0.8 us a call."""

    n: int | None = None


_local = _Local()
_blas_limit: Any = None  # threadpoolctl's handle, to restore the BLAS default
# True in a child made by fork: OpenMP may not start threads there (docstring).
_forked_child = False


def _after_fork_in_child() -> None:
    global _forked_child
    _forked_child = True


os.register_at_fork(after_in_child=_after_fork_in_child)


@functools.cache
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
    global _num_threads, _blas_limit
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
    from threadpoolctl import threadpool_limits

    if _blas_limit is not None:
        _blas_limit.restore_original_limits()
        _blas_limit = None
    if n is not None:
        _blas_limit = threadpool_limits(limits=int(n), user_api="blas")
    _num_threads = None if n is None else int(n)


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
