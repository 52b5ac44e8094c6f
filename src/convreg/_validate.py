"""Argument checks shared by the front ends.

Every public op validates and normalises its arguments here, once, so that a
backend receives only clean values: ints as ``(h, w)`` pairs, padding as
``(top, bottom, left, right)``, arrays with the right number of dimensions.
Messages say what was given and what was expected, as PyTorch's do.

Validation is pure: a call's outcome never depends on earlier calls. The
checks that are memoized (:func:`memoized`) key their cache on each
argument's type as well as its value, because ``1``, ``1.0`` and ``True``
hash alike: without the types, a refused ``padding=1.0`` would be accepted
once ``padding=1`` had been cached.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "Seen",
    "INDEX_MAX",
    "flag",
    "positive_int",
    "pair",
    "positive_pair",
    "nonnegative_pair",
    "conv_padding",
    "check_ndim",
    "check_output",
    "check_mode",
    "MODES",
    "window_fits",
    "shape_arg",
    "memoized",
]

MODES = ("valid", "same", "full")

#: The largest size, stride, padding or dilation the compiled kernels can
#: index with (``Py_ssize_t``); larger values are refused here, the same on
#: every backend, instead of overflowing inside one.
INDEX_MAX = sys.maxsize


def _is_int(v: Any) -> bool:
    """An int, NumPy's included; never a bool (True is not a size)."""
    return type(v) is int or (isinstance(v, numbers.Integral) and not isinstance(v, bool))


def _in_range(v: int, name: str, shown: Any) -> int:
    if -INDEX_MAX <= v <= INDEX_MAX:
        return v
    raise ValueError(
        f"{name}={shown!r} is beyond the largest index the compiled kernels take "
        f"({INDEX_MAX}, 2**63 - 1)"
    )


def flag(value: Any, name: str) -> bool:
    """A bool (NumPy's too), as PyTorch requires of its flags: ``'no'`` is not False."""
    if type(value) is bool:
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__})")


def positive_int(value: Any, name: str) -> int:
    """A positive int (not a bool, not a float)."""
    if not _is_int(value):
        raise TypeError(f"{name} must be a positive int; got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return _in_range(int(value), name, value)


def pair(value: Any, name: str) -> tuple[int, int]:
    """An int or a pair of ints as ``(h, w)``; bools and floats are refused."""
    if type(value) is int:
        v = _in_range(value, name, value)
        return (v, v)
    if _is_int(value):
        v = _in_range(int(value), name, value)
        return (v, v)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_int, value)):
        return (_in_range(int(value[0]), name, value), _in_range(int(value[1]), name, value))
    raise TypeError(f"{name} must be an int or a pair of ints (h, w); got {value!r}")


def positive_pair(value: Any, name: str) -> tuple[int, int]:
    p = pair(value, name)
    if min(p) < 1:
        raise ValueError(f"{name} must be positive; got {value!r}")
    return p


def nonnegative_pair(value: Any, name: str) -> tuple[int, int]:
    p = pair(value, name)
    if min(p) < 0:
        raise ValueError(f"padding must be non-negative; got {name}={value!r}")
    return p


def conv_padding(padding: Any, kernel: tuple[int, int], stride: tuple[int, int],
                 dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """Padding as ``(top, bottom, left, right)``.

    ``"same"`` pads ``d(k - 1)`` in total, the smaller half first, as PyTorch
    does; it is refused with stride > 1, where no padding keeps the size.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(
                    f"padding='same' is not supported with stride {stride}; it "
                    "keeps the input size only at stride 1. Give the padding "
                    "as numbers instead"
                )
            th, tw = (d * (k - 1) for d, k in zip(dilation, kernel))
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        raise ValueError(
            f"padding string must be 'valid' or 'same'; got {padding!r}"
        )
    ph, pw = nonnegative_pair(padding, "padding")
    return (ph, ph, pw, pw)


def check_ndim(arr: Any, name: str, ndims: Sequence[int], layout: str) -> None:
    if arr.ndim not in ndims:
        expected = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(
            f"{name} must be {expected} {layout}; got a {arr.ndim}-D array of shape {arr.shape}"
        )


def check_mode(mode: Any) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    return str(mode)


@functools.cache
def _memory_limit() -> int:
    """Bytes of physical memory: no single output may need more."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 40


def check_output(shape: tuple[int, ...], dtype: np.dtype, what: str) -> None:
    """Refuse an empty or absurdly large output before anything is allocated."""
    if shape[-2] < 1 or shape[-1] < 1:
        raise ValueError(f"{what}: the output would have shape {shape}; the window does not fit")
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if nbytes > (1 << 30) and nbytes > _memory_limit():
        limit = _memory_limit()
        raise ValueError(
            f"{what}: the output would have shape {shape} ({nbytes / 2**30:.1f} GiB "
            f"of {dtype}), more than this machine's {limit / 2**30:.1f} GiB of "
            "memory; check the arguments, or split the work (e.g. over the batch)"
        )


def window_fits(what: str, size: tuple[int, int], pads: tuple[int, int, int, int],
                kernel: tuple[int, int], dilation: tuple[int, int]) -> None:
    """The (dilated) kernel must fit inside the padded input, as PyTorch requires."""
    padded = (size[0] + pads[0] + pads[1], size[1] + pads[2] + pads[3])
    eff = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
    if eff[0] > padded[0] or eff[1] > padded[1]:
        raise ValueError(
            f"{what}: kernel size {kernel} (dilated: {eff}) is larger than the "
            f"padded input {padded} (input {size}, padding {pads}); use a smaller "
            "kernel or more padding"
        )


def shape_arg(value: Any, name: str, lengths: tuple[int, ...]) -> tuple[int, ...]:
    """A shape given by the caller (``input_shape``, ``weight_shape``) as a tuple of ints."""
    if (isinstance(value, (tuple, list)) or hasattr(value, "__len__")) and len(value) in lengths \
            and all(_is_int(v) and v >= 0 for v in value):
        return tuple(_in_range(int(v), name, value) for v in value)
    expected = " or ".join(map(str, lengths)) + " non-negative ints"
    raise ValueError(f"{name} must be a sequence of {expected}; got {value!r}")


#: Types whose values never hash like a value of another type that a check
#: treats differently: such arguments are their own cache key.
_EXACT = frozenset({int, str, type(None), *(type(np.dtype(c)) for c in "fd")})


def _typed(value: Any) -> Any:
    """``value`` as a cache key that tells ``1``, ``1.0``, ``True`` and ``np.int64(1)`` apart.

    Values of the ``_EXACT`` types stand for themselves; anything else is
    tagged with its type (a type object, which no exact value is), tuples
    and lists element by element.
    """
    t = type(value)
    if t in _EXACT:
        return value
    if t is tuple or t is list:
        return (t, *map(_typed, value))
    return (t, value)


def _key(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The cache key of ``args``: each argument itself when it is of an exact type
    (or a tuple of ints), else tagged by :func:`_typed`.

    A tagged argument holds a type object, which no plain one does, so a
    tagged key never equals a plain one.
    """
    for a in args:
        t = type(a)
        if t in _EXACT:
            continue
        if t is tuple:
            for e in a:
                if type(e) is not int:
                    break
            else:
                continue
        return tuple(map(_typed, args))
    return args


class Seen:
    """Call signatures validated before, each with what validation computed (never None).

    The one bounded cache of validation: :func:`memoized` keeps its checks'
    results here, and the front ends' fast path for tiny calls keeps whole
    signatures, so that a call found here skips validation and goes straight
    to the backend. The key must determine the whole check (arrays by shape,
    strides and dtype; other arguments of exact types only, or typed by
    :func:`_key`), and only calls that passed validation are added (the fast
    path: without any conversion), so a hit is exactly a call that would
    validate the same way again: the purity rule holds. Full at ``maxsize``:
    stops growing rather than evicting.
    """

    def __init__(self, maxsize: int = 512) -> None:
        self._known: dict[tuple[Any, ...], Any] = {}
        self._maxsize = maxsize
        self.get = self._known.get

    def add(self, key: tuple[Any, ...], value: Any) -> None:
        if len(self._known) < self._maxsize:
            self._known[key] = value


_Check = TypeVar("_Check", bound=Callable[..., Any])


def memoized(check: _Check, maxsize: int = 512) -> _Check:
    """Cache a pure argument check on its arguments, types included.

    Training loops call an op with the same shapes and settings thousands of
    times; the cache makes the second call's validation a dict lookup.
    Failures are not cached (so they raise every time), keys carry each
    argument's type (so an argument refused for its type is refused every
    time: see the module docstring), unhashable arguments skip the cache,
    and a full cache stops growing rather than evicting.
    """
    seen = Seen(maxsize)

    @functools.wraps(check)
    def wrapper(*args: Any) -> Any:
        key = _key(args)
        try:
            result = seen.get(key)
        except TypeError:  # unhashable (a list inside a key)
            return check(*args)
        if result is None:
            result = check(*args)
            seen.add(key, result)
        return result

    return wrapper  # type: ignore[return-value]
