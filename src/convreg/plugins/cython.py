"""The ``cython`` backend: thin typed wrappers around the kernels in ``convreg._cy``.

The wrappers only shape the problem for a kernel (zero padding for a mode,
the flipped kernel for a convolution, the output buffer, the thread count);
the front ends have already checked every argument, so the compiled code,
which runs without the GIL and without bounds checks, never sees an index it
cannot take. Ops not listed here are not implemented yet; automatic
selection then picks the next backend that has them.
"""

from __future__ import annotations

import numpy as np

from .. import __version__
from ..hookspecs import API_VERSION, hookimpl
from ..shapes import corr2d_padding
from ..threads import get_num_threads, openmp_enabled

try:
    from .._cy import _corr2d
except ImportError as exc:  # not built: listed unavailable with this reason
    _corr2d = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

__all__ = ["CythonBackend"]


def _valid_corr2d(X: np.ndarray, K: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """Cross-correlate ``K`` over ``X`` zero-padded by ``pads`` (``(top, bottom, left, right)``)."""
    if any(pads):
        X = np.pad(X, ((pads[0], pads[1]), (pads[2], pads[3])))
    Y = np.zeros((X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1), dtype=X.dtype)
    _corr2d.corr2d_valid(X, K, Y, get_num_threads())
    return Y


class CythonBackend:
    """Typed-memoryview kernels, float and double, parallel with OpenMP."""

    name = "cython"
    version = __version__
    api_version = API_VERSION
    priority = 50
    array_types = (np.ndarray,)

    def available(self) -> tuple[bool, str]:
        if _IMPORT_ERROR is not None:
            return False, f"the compiled extension did not import: {_IMPORT_ERROR}"
        threads = "OpenMP" if openmp_enabled() else "no OpenMP: single thread"
        return True, f"compiled kernels ({threads})"

    def corr2d(self, X: np.ndarray, K: np.ndarray, mode: str) -> np.ndarray:
        return _valid_corr2d(X, K, corr2d_padding(K.shape, mode))

    def convolve2d(self, X: np.ndarray, K: np.ndarray, mode: str) -> np.ndarray:
        # Convolution is correlation with the kernel turned half a turn; the
        # padding is the correlation's mirrored, which puts "same" where
        # scipy.signal.convolve2d puts it.
        top, bottom, left, right = corr2d_padding(K.shape, mode)
        flipped = np.ascontiguousarray(K[::-1, ::-1])
        return _valid_corr2d(X, flipped, (bottom, top, right, left))


@hookimpl
def convreg_backends():
    return [CythonBackend()]
