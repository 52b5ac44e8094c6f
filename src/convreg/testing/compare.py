"""Comparing results up to rounding, with a tolerance scaled to the dtype and the sum."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["assert_close", "scale"]


def scale(*arrays: Any) -> float:
    """The product of the arrays' largest magnitudes: the size of one term of a sum."""
    return float(np.prod([np.abs(np.asarray(a)).max(initial=0.0) for a in arrays]))


def assert_close(actual: Any, expected: Any, *, dtype: Any, scale: float = 1.0,
                 terms: int = 1) -> None:
    """Equal up to rounding: ``terms`` products of magnitude ``scale`` summed in ``dtype``.

    The bound is ``4 * eps(dtype) * terms * scale`` absolute, a few ulps of
    the largest partial sum, so float64 results must agree to ~1e-15 of
    their terms and float32 results to ~1e-6.
    """
    assert np.shape(actual) == np.shape(expected), (np.shape(actual), np.shape(expected))
    eps = np.finfo(dtype).eps
    tol = 4 * eps * max(terms, 1) * max(scale, 1e-30)
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64),
                               np.asarray(expected, dtype=np.float64), rtol=0, atol=tol)
