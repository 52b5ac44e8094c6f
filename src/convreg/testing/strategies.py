"""Hypothesis strategies for convreg's ops: arrays and well-formed argument sets.

Values are small integers stored as floats in half the tests' draws, so many
sums are exact in float64; the rest are general floats in [-4, 4].
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

DTYPES = (np.float64, np.float32)
MODES = ("valid", "same", "full")


@st.composite
def values(draw: st.DrawFn, shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    if draw(st.booleans()):
        ints = draw(arrays(np.int8, shape, elements=st.integers(-4, 4)))
        return np.asarray(ints.astype(dtype))
    return np.asarray(draw(arrays(dtype, shape, elements=st.floats(-4, 4, width=32))))


@st.composite
def images_and_kernels(draw: st.DrawFn, mode: str | None = None,
                       dtype: Any = None) -> tuple[np.ndarray, np.ndarray, str]:
    """``(X, K, mode)`` for corr2d/convolve2d; in "valid" mode K fits X."""
    mode = mode or draw(st.sampled_from(MODES))
    dtype = dtype or draw(st.sampled_from(DTYPES))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    lo_h, lo_w = (kh, kw) if mode == "valid" else (1, 1)
    H, W = draw(st.integers(lo_h, lo_h + 9)), draw(st.integers(lo_w, lo_w + 9))
    return draw(values((H, W), dtype)), draw(values((kh, kw), dtype)), mode


@st.composite
def conv_problems(draw: st.DrawFn, *, groups: bool = True, stride: bool = True,
                  dilation: bool = True, padding: bool = True, dtype: Any = None) -> dict[str, Any]:
    """A well-formed conv2d call: ``x``, ``w``, ``b`` and the keyword arguments."""
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
    x = draw(values((n, g * cg, H, W), dtype))
    w = draw(values((g * og, cg, kh, kw), dtype))
    b = draw(st.one_of(st.none(), values((g * og,), dtype)))
    return dict(x=x, w=w, b=b, kw=dict(stride=s, padding=p, dilation=d, groups=g))


@st.composite
def pool_problems(draw: st.DrawFn, *, dilation: bool = True, ceil_mode: bool = True,
                  dtype: Any = None) -> tuple[np.ndarray, dict[str, Any], tuple[int, int]]:
    """A well-formed pooling call: ``x``, the keyword arguments and the dilation."""
    dtype = dtype or draw(st.sampled_from(DTYPES))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    eff = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
    # With dilation, a window near the border could hold padding only (its
    # maximum would be -inf); inputs at least one dilated window tall avoid it.
    H = max(1, eff[0] - (0 if d[0] > 1 else 2 * p[0])) + draw(st.integers(0, 6))
    W = max(1, eff[1] - (0 if d[1] > 1 else 2 * p[1])) + draw(st.integers(0, 6))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    x = draw(values((n, c, H, W), dtype))
    kw = dict(kernel_size=k, stride=s, padding=p,
              ceil_mode=draw(st.booleans()) if ceil_mode else False)
    return x, kw, d
