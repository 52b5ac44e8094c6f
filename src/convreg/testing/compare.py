"""Comparing results up to rounding, with a tolerance scaled to the dtype and the sum."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["assert_close", "scale", "tolerance", "SUBNORMAL_ULPS"]

#: Units of the smallest subnormal allowed per term of a sum (see :func:`tolerance`).
SUBNORMAL_ULPS = 1024


def scale(*arrays: Any) -> float:
    """The product of the arrays' largest magnitudes: the size of one term of a sum."""
    return float(np.prod([np.abs(np.asarray(a, dtype=np.float64)).max(initial=0.0)
                          for a in arrays]))


def tolerance(dtype: Any, scale: float = 1.0, terms: int = 1) -> float:
    """The absolute error allowed for ``terms`` products of magnitude ``scale`` summed in ``dtype``.

    ``4 * eps * terms * scale``, a few ulps of the largest partial sum, plus
    ``SUBNORMAL_ULPS * terms`` of the smallest subnormal: a step that lands
    among the subnormals rounds to a multiple of that, whatever its size,
    and a fast algorithm (an FFT, Winograd's) takes many steps per output.
    That floor is ~5e-321 per term in float64 and ~1.4e-42 in float32, so a
    kernel of weights at 1e-20 must still give results at 1e-20, not zeros,
    and a backend that flushes subnormals to zero fails. (An FFT must scale
    its operands to magnitudes near 1 first: its intermediates are smaller
    than its inputs, and near 1e-305 it lost 7 bits; the example backend
    does so.)
    """
    info = np.finfo(dtype)
    terms = max(int(terms), 1)
    return float(4 * info.eps * terms * scale + SUBNORMAL_ULPS * terms * info.smallest_subnormal)


def assert_close(actual: Any, expected: Any, *, dtype: Any, scale: float = 1.0,
                 terms: int = 1, what: str = "result") -> None:
    """Equal up to rounding (see :func:`tolerance`), else an AssertionError saying where.

    The message labels the two sides (got, expected), gives the worst
    element's index and both values, the error and the tolerance, so float64
    results must agree to ~1e-15 of their terms and float32 ones to ~1e-6.
    """
    got = np.asarray(actual)
    want = np.asarray(expected)
    if got.shape != want.shape:
        raise AssertionError(f"{what}: shape: expected {want.shape}, got {got.shape}")
    tol = tolerance(dtype, scale, terms)
    g64, w64 = got.astype(np.float64), want.astype(np.float64)
    same_nan = np.isnan(g64) & np.isnan(w64)
    same_inf = np.isinf(w64) & (g64 == w64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(same_nan | same_inf, 0.0, np.abs(g64 - w64))
    err = np.where(np.isnan(err), np.inf, err)
    if err.size == 0 or err.max() <= tol:
        return
    where = np.unravel_index(int(np.argmax(err)), err.shape)
    bad = int(np.count_nonzero(err > tol))
    raise AssertionError(
        f"{what}: {bad} of {err.size} elements differ by more than the tolerance {tol:.3g} "
        f"({terms} terms of magnitude {scale:.3g} in {np.dtype(dtype).name}); the worst, at "
        f"index {tuple(int(i) for i in where)}: expected {float(w64[where])!r}, got "
        f"{float(g64[where])!r} "
        f"(error {err[where]:.3g})"
    )
