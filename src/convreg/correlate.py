"""Front ends of the single-image ops: ``corr2d`` and ``convolve2d``.

Validation happens here, once; the backend receives 2-D C-contiguous arrays
of one float dtype and a checked ``mode``, and its result is checked
(:func:`convreg.registry.call`) before it is returned.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _dask, registry
from ._arrays import as_arrays, compute_dtype, contiguous
from ._validate import Seen, check_mode, check_ndim, check_output

__all__ = ["corr2d", "convolve2d"]

# Signatures validated before (the fast path for tiny calls): plain ndarrays
# passed as they are, with an exact str mode. The key holds each array's
# shape, strides and dtype, so it implies everything validation checked.
_seen = Seen()


def _single(op: str, X: Any, K: Any, mode: Any, backend: str | None) -> Any:
    """Check the arguments of ``op``, run it on the selected backend, return its checked result."""
    if type(X) is np.ndarray and type(K) is np.ndarray and type(mode) is str:
        key = (op, mode, X.shape, X.strides, X.dtype, K.shape, K.strides, K.dtype)
        out = _seen.get(key)
        if out is not None:
            return registry.call(op, backend, np.ndarray, out, X.dtype, X, K, mode)
    else:
        key = None
    X0, K0 = X, K
    X, K = as_arrays(X=X, K=K)
    mode = check_mode(mode)
    dtype = compute_dtype(X=X, K=K)
    check_ndim(X, "X", (2,), "(height, width)")
    check_ndim(K, "K", (2,), "(kh, kw)")
    if 0 in X.shape or 0 in K.shape:
        raise ValueError(f"{op}: X {X.shape} and K {K.shape} must not be empty")
    (H, W), (kh, kw) = X.shape, K.shape
    if mode == "valid":
        if kh > H or kw > W:
            raise ValueError(
                f"{op}: kernel of shape {K.shape} is larger than the input of shape "
                f"{X.shape}; mode='valid' needs kh <= height and kw <= width "
                "(use mode='same' or 'full' for zero fill)"
            )
        out = (H - kh + 1, W - kw + 1)
    elif mode == "full":
        out = (H + kh - 1, W + kw - 1)
    else:
        out = (H, W)
    check_output(out, dtype, op)
    X, K = contiguous(X, dtype), contiguous(K, dtype)
    if key is not None and X is X0 and K is K0:  # valid, and nothing needed a copy
        _seen.add(key, out)
    return registry.call(op, backend, type(X), out, dtype, X, K, mode)


def corr2d(X: Any, K: Any, *, mode: str = "valid", backend: str | None = None) -> Any:
    """2-D cross-correlation: ``Y[i, j] = sum_ab X[i + a, j + b] K[a, b]``.

    Parameters
    ----------
    X : array_like, shape (H, W)
        The input image.
    K : array_like, shape (kh, kw)
        The kernel. In ``"valid"`` mode it may not be larger than ``X``.
    mode : {"valid", "same", "full"}
        As in :func:`scipy.signal.correlate2d`, with zero fill: ``"valid"``
        gives ``(H - kh + 1, W - kw + 1)``, ``"same"`` gives ``(H, W)``
        centred as SciPy centres it, ``"full"`` gives ``(H + kh - 1, W + kw - 1)``.
    backend : str, optional
        Run on this backend; default: the current selection (see
        :mod:`convreg.registry`).

    Returns
    -------
    ndarray
        float32 if both inputs are float32, else float64 (integers and bools
        compute in float64). Same array type as the inputs; a dask array
        ``X`` (any chunking) gives a lazy dask array, each chunk computed with
        the halo the kernel needs (see :mod:`convreg._dask`).

    Examples
    --------
    The chapter's first example:

    >>> import numpy as np, convreg
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> convreg.corr2d(X, [[0.0, 1.0], [2.0, 3.0]])
    array([[19., 25.],
           [37., 43.]])

    An edge detector: ``[[1, -1]]`` marks where a row changes value.

    >>> convreg.corr2d([[1, 1, 0, 0, 1]], [[1, -1]])
    array([[ 0.,  1.,  0., -1.]])
    """
    if _dask.is_dask(X, K):
        return _dask.corr2d(X, K, mode=mode, backend=backend)
    return _single("corr2d", X, K, mode, backend)


def convolve2d(X: Any, K: Any, *, mode: str = "valid", backend: str | None = None) -> Any:
    """True 2-D convolution: ``Y[i, j] = sum_ab X[i - a, j - b] K[a, b]``.

    Equal to :func:`corr2d` with the kernel flipped on both axes in
    ``"valid"`` and ``"full"`` modes and, for odd kernel sizes, in ``"same"``
    mode; for an even kernel size ``"same"`` is centred as
    :func:`scipy.signal.convolve2d` centres it, which is one sample earlier
    than ``corr2d``'s ``"same"``.

    Parameters and return value are those of :func:`corr2d`.

    Examples
    --------
    >>> import numpy as np, convreg
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> convreg.convolve2d(X, [[3.0, 2.0], [1.0, 0.0]])
    array([[19., 25.],
           [37., 43.]])
    >>> convreg.convolve2d([[1, 2]], [[1, 1]], mode="full")
    array([[1., 3., 2.]])
    """
    if _dask.is_dask(X, K):
        return _dask.convolve2d(X, K, mode=mode, backend=backend)
    return _single("convolve2d", X, K, mode, backend)
