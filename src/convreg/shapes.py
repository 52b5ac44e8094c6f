"""Output shapes: the one formula every op, backend and layer shares.

Along one axis, a window of ``k`` taps spaced ``d`` apart, moved ``s`` at a
time over an input of ``n`` padded by ``p`` on both sides, fits

    floor((n + 2p - d(k - 1) - 1) / s) + 1

times (Dive into Deep Learning, "Padding and Stride"). Pooling's
``ceil_mode`` rounds up instead, but never lets the last window start in the
right-hand padding (PyTorch's rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

__all__ = ["output_shape", "output_size", "conv_output_hw", "pool_output_hw", "corr2d_padding",
           "convolve2d_offset"]

IntOrPair = int | Sequence[int]
# The normalised forms the front ends hand to backends (see convreg.conv).
Pair = tuple[int, int]
Pads = tuple[int, int, int, int]  # (top, bottom, left, right)
Shape4 = tuple[int, int, int, int]  # (N, C, H, W) or (O, C / groups, kh, kw)


def output_size(n: int, k: int, s: int = 1, p_lo: int = 0, p_hi: int | None = None,
                d: int = 1, ceil_mode: bool = False) -> int:
    """Output length along one axis (padding ``p_lo`` before, ``p_hi`` after).

    May be zero or negative when the window does not fit; callers decide
    whether that is an error.
    """
    if p_hi is None:
        p_hi = p_lo
    span = n + p_lo + p_hi - d * (k - 1) - 1
    if span < 0:
        return span // s + 1  # negative numerator: floor keeps it non-positive
    out = -(-span // s) + 1 if ceil_mode else span // s + 1
    if ceil_mode and (out - 1) * s >= n + p_lo:
        out -= 1
    return out


def conv_output_hw(size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                   pads: Sequence[int], dilation: Sequence[int]) -> tuple[int, int]:
    """A convolution's ``(H_out, W_out)``: pairs, and padding ``(top, bottom, left, right)``."""
    return (output_size(size[0], kernel[0], stride[0], pads[0], pads[1], dilation[0]),
            output_size(size[1], kernel[1], stride[1], pads[2], pads[3], dilation[1]))


def pool_output_hw(size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                   padding: Sequence[int], dilation: Sequence[int],
                   ceil_mode: bool) -> tuple[int, int]:
    """A pooling's ``(H_out, W_out)``: pairs, symmetric padding, PyTorch's ``ceil_mode``."""
    return (output_size(size[0], kernel[0], stride[0], padding[0], padding[0], dilation[0],
                        ceil_mode),
            output_size(size[1], kernel[1], stride[1], padding[1], padding[1], dilation[1],
                        ceil_mode))


def _pair(v: IntOrPair) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    a, b = v
    return (int(a), int(b))


@overload
def output_shape(input_size: int, kernel_size: IntOrPair, stride: IntOrPair = 1,
                 padding: IntOrPair = 0, dilation: IntOrPair = 1, *,
                 ceil_mode: bool = False) -> int: ...
@overload
def output_shape(input_size: Sequence[int], kernel_size: IntOrPair, stride: IntOrPair = 1,
                 padding: IntOrPair = 0, dilation: IntOrPair = 1, *,
                 ceil_mode: bool = False) -> tuple[int, int]: ...
def output_shape(input_size: IntOrPair, kernel_size: IntOrPair, stride: IntOrPair = 1,
                 padding: IntOrPair = 0, dilation: IntOrPair = 1, *,
                 ceil_mode: bool = False) -> int | tuple[int, int]:
    """Spatial output size of a convolution or pooling window.

    Parameters
    ----------
    input_size, kernel_size, stride, padding, dilation : int or pair of int
        Per axis; an int applies to both axes. ``padding`` is added on both
        sides.
    ceil_mode : bool
        Round up as pooling's ``ceil_mode`` does.

    Returns
    -------
    int or tuple of int
        An int when ``input_size`` is an int, else ``(height, width)``.

    Examples
    --------
    The chapter's shapes: an 8x8 input keeps its size with a 3x3 kernel and
    padding 1, and halves with stride 2.

    >>> from convreg import output_shape
    >>> output_shape((8, 8), 3, padding=1)
    (8, 8)
    >>> output_shape((8, 8), 3, stride=2, padding=1)
    (4, 4)
    >>> output_shape((8, 8), (3, 5), stride=(3, 5), padding=(0, 1))
    (2, 2)
    >>> output_shape(224, 2, stride=2)
    112
    """
    scalar = isinstance(input_size, int)
    n, k, s, p, d = map(_pair, (input_size, kernel_size, stride, padding, dilation))
    hw = (output_size(n[0], k[0], s[0], p[0], p[0], d[0], ceil_mode),
          output_size(n[1], k[1], s[1], p[1], p[1], d[1], ceil_mode))
    return hw[0] if scalar else hw


def corr2d_padding(kernel_shape: tuple[int, int], mode: str) -> tuple[int, int, int, int]:
    """Zero padding ``(top, bottom, left, right)`` that turns a ``mode`` cross-correlation
    into a valid one.

    "full" pads ``k - 1`` on both sides; "same" pads ``(k - 1) // 2`` before and
    ``k // 2`` after, so the output keeps the input's size and sits where
    ``scipy.signal.correlate2d`` (and PyTorch's ``padding="same"``) put it.
    """
    kh, kw = kernel_shape
    if mode == "valid":
        return (0, 0, 0, 0)
    if mode == "full":
        return (kh - 1, kh - 1, kw - 1, kw - 1)
    return ((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2)


def convolve2d_offset(kernel_shape: tuple[int, int], mode: str) -> tuple[int, int]:
    """Where a ``mode`` convolution starts inside the full convolution.

    "valid" starts at ``k - 1``; "same" at ``(k - 1) // 2``, as in
    ``scipy.signal.convolve2d``. Note that for even kernel sizes this is one
    less than the cross-correlation's "same" offset ``k // 2``: SciPy centres
    the two differently, and convreg follows SciPy.
    """
    kh, kw = kernel_shape
    if mode == "valid":
        return (kh - 1, kw - 1)
    if mode == "full":
        return (0, 0)
    return ((kh - 1) // 2, (kw - 1) // 2)
