"""Argument checks shared by the front ends.

Every public op validates and normalises its arguments here, once, so that a
backend receives only clean values: ints as ``(h, w)`` pairs, padding as
``(top, bottom, left, right)``, arrays with the right number of dimensions.
Messages say what was given and what was expected, as PyTorch's do.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
from typing import Any, Sequence

import numpy as np


__all__ = [
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


def _is_int(v: Any) -> bool:
    return type(v) is int or (isinstance(v, numbers.Integral) and not isinstance(v, bool))


def pair(value: Any, name: str) -> tuple[int, int]:
    """An int or a pair of ints as ``(h, w)``."""
    if type(value) is int:
        return (value, value)
    if _is_int(value):
        return (int(value), int(value))
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_int, value)):
        return (int(value[0]), int(value[1]))
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
    return mode


@functools.lru_cache(maxsize=None)
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
        return tuple(int(v) for v in value)
    expected = " or ".join(map(str, lengths)) + " non-negative ints"
    raise ValueError(f"{name} must be a sequence of {expected}; got {value!r}")


def memoized(check: Any) -> Any:
    """Cache a pure argument check on its (hashable) arguments.

    Training loops call an op with the same shapes and settings thousands of
    times; the cache makes the second call's validation a dict lookup.
    Failures are not cached, and unhashable arguments (lists) skip the cache.
    """
    cached = functools.lru_cache(maxsize=512)(check)

    @functools.wraps(check)
    def wrapper(*args: Any) -> Any:
        try:
            hash(args)
        except TypeError:
            return check(*args)
        return cached(*args)

    return wrapper
