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
    """``obj`` as an array the backends accept: a plain ndarray or a device array.

    NumPy subclasses (``memmap``, ``matrix``, a user's) become their plain
    ndarray view, so they behave alike on every backend (``matrix``'s ``*``
    is a matrix product, which would silently change the reference's
    answer). Masked arrays are refused: no backend applies a mask, so the
    answer would depend on the backend.
    """
    if type(obj) is np.ndarray or is_device_array(obj):
        return obj
    if obj is None:
        raise TypeError(f"{name} must be an array; got None")
    if isinstance(obj, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a masked array, and convreg's ops do not apply masks; fill the "
            f"masked entries first, e.g. {name}.filled(0), or pass {name}.data to ignore "
            "the mask"
        )
    try:
        arr = np.asarray(obj)  # a subclass becomes its base-class view, no copy
    except (ValueError, TypeError) as exc:
        raise TypeError(
            f"{name} must be an array or a nested sequence of numbers with a "
            f"rectangular shape; got {type(obj).__name__} ({exc})"
        ) from None
    return arr


def as_arrays(**named: Any) -> tuple[Any, ...]:
    """Convert each named argument to an array; refuse mixed host/device input.

    Every argument is required (leave an optional one out rather than
    passing None). Returns the arrays in argument order.
    """
    arrays = tuple(named.values())
    for a in arrays:
        if type(a) is not np.ndarray:
            break
    else:
        return arrays  # the common case, kept cheap for tiny calls
    arrays = tuple(_as_array(v, k) for k, v in named.items())
    kinds = {type(a) for a in arrays}
    if len(kinds) > 1:  # host arrays all became np.ndarray: a device array is involved
        listing = ", ".join(
            f"{k} is {type(a).__module__}.{type(a).__name__}" for k, a in zip(named, arrays)
        )
        raise TypeError(
            f"all array arguments must be on one device ({listing}); convreg "
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
    dtypes: list[np.dtype[np.floating[Any]]] = []
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
