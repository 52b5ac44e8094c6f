"""How many threads the compiled kernels use.

The count is passed to every OpenMP parallel region explicitly (not through
``omp_set_num_threads``, whose setting belongs to the calling thread only), so
:func:`set_num_threads` holds for calls made from any Python thread. The
default is OpenMP's own, which honours ``OMP_NUM_THREADS``.
"""

from __future__ import annotations

import functools
import numbers

__all__ = ["get_num_threads", "set_num_threads", "openmp_enabled"]

_num_threads: int | None = None


@functools.lru_cache(maxsize=None)
def _openmp() -> tuple[bool, int]:
    try:
        from ._cy import _openmp as omp
    except ImportError:
        return (False, 1)
    return (omp.openmp_enabled(), max(1, omp.default_num_threads()))


def openmp_enabled() -> bool:
    """True when the compiled kernels were built with OpenMP."""
    return _openmp()[0]


def get_num_threads() -> int:
    """Threads the compiled kernels use per call."""
    return _openmp()[1] if _num_threads is None else _num_threads


def set_num_threads(n: int | None) -> None:
    """Use ``n`` threads per kernel call from now on (``None``: OpenMP's default).

    Examples
    --------
    >>> import convreg
    >>> convreg.set_num_threads(1); convreg.get_num_threads()
    1
    >>> convreg.set_num_threads(None)
    """
    global _num_threads
    if n is not None and (not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1):
        raise ValueError(f"the thread count must be a positive int or None; got {n!r}")
    _num_threads = None if n is None else int(n)
