"""Turning user input into the arrays a backend may assume.

Invariant established here for every backend: arrays of one array type
(NumPy or CuPy, never mixed), one dtype (float32 or float64, native byte
order) and C-contiguous. Inputs are never written to: when an input already
satisfies the invariant it is passed through untouched (backends only read
it), otherwise a copy is made.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_arrays", "compute_dtype", "contiguous", "is_device_array"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# (argument dtypes) -> compute dtype; only accepted combinations are stored,
# so the cache stays as small as the set of dtype combinations in use.
_DTYPE_CACHE: dict[tuple[Any, ...], np.dtype] = {}


def is_device_array(obj: Any) -> bool:
    """True for array types that must not be converted with ``numpy.asarray`` (CuPy)."""
    return type(obj).__module__.partition(".")[0] == "cupy"


def _as_array(obj: Any, name: str) -> Any:
    if isinstance(obj, np.ndarray) or is_device_array(obj):
        return obj
    try:
        arr = np.asarray(obj)
    except (ValueError, TypeError) as exc:
        raise TypeError(
            f"{name} must be an array or a nested sequence of numbers with a "
            f"rectangular shape; got {type(obj).__name__} ({exc})"
        ) from None
    return arr


def as_arrays(**named: Any) -> tuple[Any, ...]:
    """Convert each named argument to an array; refuse mixed NumPy/device input.

    Returns the arrays in argument order (``None`` values are passed through).
    """
    arrays = tuple(named.values())
    if all(type(a) is np.ndarray or a is None for a in arrays):
        return arrays  # the common case, kept cheap for tiny calls
    arrays = tuple(None if v is None else _as_array(v, k) for k, v in named.items())
    kinds = {type(a) for a in arrays if a is not None}
    if len(kinds) > 1:
        listing = ", ".join(
            f"{k} is {type(a).__module__}.{type(a).__name__}"
            for k, a in zip(named, arrays)
            if a is not None
        )
        raise TypeError(
            f"all array arguments must be of one array type ({listing}); convreg "
            "never copies between host and device silently: move them with "
            "cupy.asarray(...) or cupy.asnumpy(...) first"
        )
    return arrays


def compute_dtype(**named: Any) -> np.dtype:
    """The dtype the operation computes in, per DESIGN.md.

    float32 and float64 keep their dtype, integer and bool inputs compute in
    float64, mixed floats follow ``numpy.result_type``; everything else
    (complex, float16, long double, object, strings) raises ``TypeError``.
    """
    key = tuple(None if a is None else a.dtype for a in named.values())
    try:
        return _DTYPE_CACHE[key]
    except KeyError:
        pass
    dtypes = []
    for name, arr in named.items():
        if arr is None:
            continue
        dt = arr.dtype
        if dt.kind in "biu":
            dtypes.append(_FLOATS[1])
        elif dt.kind == "f" and dt.itemsize in (4, 8):
            dtypes.append(_FLOATS[0] if dt.itemsize == 4 else _FLOATS[1])
        else:
            raise TypeError(
                f"{name} has dtype {dt}, which convreg does not compute in; "
                "expected float32 or float64 (integer and bool inputs are "
                "computed in float64). Convert it with .astype(numpy.float32) "
                "or .astype(numpy.float64)"
            )
    result = _DTYPE_CACHE[key] = np.result_type(*dtypes)
    return result


def contiguous(arr: Any, dtype: np.dtype) -> Any:
    """``arr`` as a C-contiguous array of ``dtype`` in native byte order.

    Returns ``arr`` itself when it already is one (no copy, read-only
    allowed); otherwise a new array, so the caller's input is never modified.
    """
    if arr.dtype == dtype and arr.flags.c_contiguous:
        return arr
    if isinstance(arr, np.ndarray):
        return np.ascontiguousarray(arr, dtype=dtype)
    xp = __import__(type(arr).__module__.partition(".")[0])
    return xp.ascontiguousarray(arr, dtype=dtype)
