"""Hypothesis strategies for convreg's ops: arrays and well-formed argument sets.

An array is drawn as mantissas times one power of two, ``m * 2**e``:

* the mantissas are exact small integers (sums of their products are exact
  in float64), general floats in [-4, 4], signed zeros among either, or
  near-cancelling values (``+-2**10`` plus a small integer, so that sums of
  products cancel their large parts, exactly even in float32);
* the exponent is 0 in about a third of the draws; otherwise it reaches from the
  subnormals (2**-149 in float32, 2**-1074 in float64) to 2**100 (~1e30),
  and where a result multiplies arrays, their exponents together stay far
  enough below the dtype's largest value that no correct sum overflows.

So the defaults reach kernels of weights at or below machine epsilon (a
backend that drops them returns zeros where the reference does not) and
results among the subnormals. Hypothesis shrinks an exponent towards 0 and
mantissas towards small integers, so counterexamples stay readable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

__all__ = ["DTYPES", "MODES", "values", "exponents", "images_and_kernels", "conv_problems",
           "pool_problems"]

DTYPES = (np.float64, np.float32)
MODES = ("valid", "same", "full")

#: The largest binary exponent of one array.
TOP = 100
#: Bits each array's mantissas may add to a product (they reach 2**10 + 4).
MANTISSA_BITS = 11
#: Bits a sum of terms may add (up to 2**16 terms).
SUM_BITS = 16


def _bottom(dtype: Any) -> int:
    """The smallest exponent an array may have: its smallest subnormal, 2**bottom."""
    info = np.finfo(dtype)
    return int(np.log2(info.smallest_subnormal))


def _room(dtype: Any, count: int) -> int:
    """The most the exponents of ``count`` arrays multiplied together may add up to."""
    return int(np.finfo(dtype).maxexp) - MANTISSA_BITS * count - SUM_BITS


@st.composite
def exponents(draw: st.DrawFn, dtype: Any, count: int) -> tuple[int, ...]:
    """``count`` binary exponents of arrays multiplied together, their sum within range.

    Each is 0 about a third of the time (shrinking goes there), else anywhere
    from the dtype's subnormals to ``TOP``; drawn one after the other, each
    one bounded by the room the others leave.
    """
    room, bottom = _room(dtype, count), _bottom(dtype)
    chosen: list[int] = []
    for _ in range(count):
        top = min(TOP, room - sum(e for e in chosen if e > 0))  # >= 0: the rest may be 0
        # three bands, so that each is reached often: O(1), up to ~1e30 or down to
        # machine epsilon and somewhat below, and the subnormals' neighbourhood
        chosen.append(draw(st.one_of(st.just(0), st.integers(-60, top),
                                     st.integers(bottom, -61))))
    return tuple(chosen)


def _mantissas(shape: tuple[int, ...], cancelling: bool) -> st.SearchStrategy[np.ndarray]:
    ints = arrays(np.int8, shape, elements=st.integers(-4, 4)).map(
        lambda a: a.astype(np.float64))
    floats = arrays(np.float64, shape,
                    elements=st.floats(-4, 4, width=32, allow_subnormal=False))
    zeros = arrays(np.float64, shape, elements=st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0]))
    near_cancelling = st.tuples(
        arrays(np.int8, shape, elements=st.integers(-1, 1)),
        arrays(np.int8, shape, elements=st.integers(-4, 4)),
    ).map(lambda p: p[0].astype(np.float64) * 2.0**10 + p[1])
    # every mantissa here is exact in float32 and float64
    return st.one_of(ints, floats, zeros, *([near_cancelling] if cancelling else []))


@st.composite
def values(draw: st.DrawFn, shape: tuple[int, ...], dtype: Any = np.float64,
           exponent: int = 0, cancelling: bool = False) -> np.ndarray:
    """An array of ``shape`` and ``dtype``: mantissas drawn as the module says, times ``2**exponent``.

    The defaults, ``exponent=0`` and no near-cancelling mantissas, keep every
    value within [-4, 4], as properties built on finite differences need.
    """
    m = draw(_mantissas(tuple(shape), cancelling))
    return np.asarray(np.ldexp(m, exponent).astype(dtype))


@st.composite
def images_and_kernels(draw: st.DrawFn, mode: str | None = None, dtype: Any = None,
                       wide: bool = True) -> tuple[np.ndarray, np.ndarray, str]:
    """``(X, K, mode)`` for corr2d/convolve2d; in "valid" mode K fits X.

    ``wide``: magnitudes from the subnormals to ~1e30 (see the module).
    """
    mode = mode or draw(st.sampled_from(MODES))
    dtype = dtype or draw(st.sampled_from(DTYPES))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    lo_h, lo_w = (kh, kw) if mode == "valid" else (1, 1)
    H, W = draw(st.integers(lo_h, lo_h + 9)), draw(st.integers(lo_w, lo_w + 9))
    ex, ek = draw(exponents(dtype, 2)) if wide else (0, 0)
    return (draw(values((H, W), dtype, ex, cancelling=wide)),
            draw(values((kh, kw), dtype, ek, cancelling=wide)), mode)


@st.composite
def conv_problems(draw: st.DrawFn, *, groups: bool = True, stride: bool = True,
                  dilation: bool = True, padding: bool = True, dtype: Any = None,
                  wide: bool = False) -> dict[str, Any]:
    """A well-formed conv2d call: ``x``, ``w``, ``b``, the keyword arguments ``kw``.

    With ``wide``, the magnitudes of ``x`` and ``w`` range as the module
    says, and ``g_exponent`` is the exponent an output gradient may have so
    that its products with either stay in range (0 otherwise).
    """
    dtype = dtype or draw(st.sampled_from(DTYPES))
    g = draw(st.integers(1, 3)) if groups else 1
    cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n = draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if stride else (1, 1)
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilation else (1, 1)
    if padding:
        choices = [st.tuples(st.integers(0, 3), st.integers(0, 3)), st.just("valid")]
        if s == (1, 1):
            choices.append(st.just("same"))
        p = draw(st.one_of(*choices))
    else:
        p = (0, 0)
    if p == "same":
        tot = (d[0] * (kh - 1), d[1] * (kw - 1))
        pads = (tot[0] // 2, tot[0] - tot[0] // 2, tot[1] // 2, tot[1] - tot[1] // 2)
    elif p == "valid":
        pads = (0, 0, 0, 0)
    else:
        pads = (p[0], p[0], p[1], p[1])
    eff = (d[0] * (kh - 1) + 1, d[1] * (kw - 1) + 1)
    H = max(1, eff[0] - pads[0] - pads[1]) + draw(st.integers(0, 6))
    W = max(1, eff[1] - pads[2] - pads[3]) + draw(st.integers(0, 6))
    ex, ew, eg = draw(exponents(dtype, 3)) if wide else (0, 0, 0)
    x = draw(values((n, g * cg, H, W), dtype, ex, cancelling=wide))
    w = draw(values((g * og, cg, kh, kw), dtype, ew, cancelling=wide))
    # the bias is of the size of the sums it is added to
    b = draw(st.one_of(st.none(), values((g * og,), dtype, min(TOP, max(ex + ew, _bottom(dtype))))))
    return dict(x=x, w=w, b=b, kw=dict(stride=s, padding=p, dilation=d, groups=g),
                g_exponent=eg)


@st.composite
def pool_problems(draw: st.DrawFn, *, dilation: bool = True, ceil_mode: bool = True,
                  dtype: Any = None, wide: bool = False,
                  ) -> tuple[np.ndarray, dict[str, Any], tuple[int, int]]:
    """A well-formed pooling call: ``x``, the keyword arguments and the dilation."""
    dtype = dtype or draw(st.sampled_from(DTYPES))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    eff = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
    # A dilated window can fall wholly in the padding (PyTorch allows it; the
    # maximum would be -inf); inputs at least one dilated window tall avoid it.
    H = max(1, eff[0] - (0 if d[0] > 1 else 2 * p[0])) + draw(st.integers(0, 6))
    W = max(1, eff[1] - (0 if d[1] > 1 else 2 * p[1])) + draw(st.integers(0, 6))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    (ex,) = draw(exponents(dtype, 1)) if wide else (0,)
    x = draw(values((n, c, H, W), dtype, ex, cancelling=wide))
    kw = dict(kernel_size=k, stride=s, padding=p,
              ceil_mode=draw(st.booleans()) if ceil_mode else False)
    return x, kw, d
