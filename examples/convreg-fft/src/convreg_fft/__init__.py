"""convreg-fft: a convreg backend that convolves through real FFTs.

By the convolution theorem, a full 2-D convolution is the inverse FFT of the
product of the zero-padded inputs' FFTs: ``O(n log n)`` in the image size
whatever the kernel size, against ``O(n k^2)`` for the direct loops. That
wins for large kernels; for small ones the direct kernels are faster (see
``benchmark.py``). Results carry FFT round-off, ~1e-15 relative in float64.

Implemented: ``corr2d``, ``convolve2d``, ``conv2d`` and its input and weight
gradients (stride, padding, dilation, groups). Not implemented: pooling (an
FFT does not help a maximum); convreg's automatic selection skips this
backend for those ops, and ``python -m convreg check`` reports them as not
implemented.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from convreg.hookspecs import API_VERSION, hookimpl
from convreg.shapes import convolve2d_offset
from convreg.threads import get_num_threads

__version__ = "0.1.0"
__all__ = ["FFTBackend", "full_convolve", "convreg_backends"]


def full_convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Full 2-D convolution over the last two axes, broadcasting the others.

    ``a`` is ``(..., H, W)`` and ``b`` is ``(..., kh, kw)``; the result is
    ``(..., H + kh - 1, W + kw - 1)`` in ``a``'s dtype. The transforms run in
    double precision whatever the dtype: a single-precision FFT's round-off
    grows with the whole image's magnitude, not with one window's.

    Both operands are scaled by powers of two (exactly) to magnitudes near 1
    first, and the result scaled back: the transforms' intermediates then
    never fall among the subnormals, where an FFT of values near 1e-305 lost
    7 bits (convreg's conformance kit found it).
    """
    shape = (a.shape[-2] + b.shape[-2] - 1, a.shape[-1] + b.shape[-1] - 1)
    fast = (sfft.next_fast_len(shape[0], real=True), sfft.next_fast_len(shape[1], real=True))
    workers = get_num_threads()
    a64, ea = _normalised(a)
    b64, eb = _normalised(b)
    spectrum = sfft.rfft2(a64, fast, workers=workers) * sfft.rfft2(b64, fast, workers=workers)
    out = sfft.irfft2(spectrum, fast, workers=workers)[..., :shape[0], :shape[1]]
    return np.ldexp(out, ea + eb).astype(a.dtype, copy=False)


def _normalised(a: np.ndarray) -> tuple[np.ndarray, int]:
    """``a`` in double precision divided by ``2**e``, its largest magnitude in [0.5, 1); and ``e``."""
    a64 = a.astype(np.float64, copy=False)
    top = float(np.abs(a64).max(initial=0.0))
    if top == 0.0 or not np.isfinite(top):
        return a64, 0
    e = int(np.frexp(top)[1])
    return np.ldexp(a64, -e), e


def _cut(full: np.ndarray, start: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    return np.ascontiguousarray(full[..., start[0]:start[0] + size[0], start[1]:start[1] + size[1]])


def _dilate(w: np.ndarray, d: tuple[int, int]) -> np.ndarray:
    """The kernel with ``d - 1`` zeros between taps."""
    if d == (1, 1):
        return w
    kh, kw = w.shape[-2:]
    out = np.zeros(w.shape[:-2] + ((kh - 1) * d[0] + 1, (kw - 1) * d[1] + 1), dtype=w.dtype)
    out[..., ::d[0], ::d[1]] = w
    return out


def _pad(x: np.ndarray, p: tuple[int, int, int, int]) -> np.ndarray:
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p[0], p[1]), (p[2], p[3])])


def _spread(g: np.ndarray, s: tuple[int, int]) -> np.ndarray:
    """``g`` with ``s - 1`` zeros between samples: the stride undone."""
    if s == (1, 1):
        return g
    oh, ow = g.shape[-2:]
    out = np.zeros(g.shape[:-2] + ((oh - 1) * s[0] + 1, (ow - 1) * s[1] + 1), dtype=g.dtype)
    out[..., ::s[0], ::s[1]] = g
    return out


class FFTBackend:
    """Convolution by real FFTs (scipy.fft, sizes rounded up to fast lengths)."""

    name = "fft"
    version = __version__
    api_version = API_VERSION
    priority = 10  # below convreg's cython: chosen automatically only for ops cython lacks
    array_types = (np.ndarray,)

    def available(self) -> tuple[bool, str]:
        return True, f"scipy.fft real transforms (scipy {__import__('scipy').__version__})"

    def convolve2d(self, X, K, mode):
        H, W = X.shape
        kh, kw = K.shape
        size = {"full": (H + kh - 1, W + kw - 1), "same": (H, W),
                "valid": (H - kh + 1, W - kw + 1)}[mode]
        return _cut(full_convolve(X, K), convolve2d_offset(K.shape, mode), size)

    def corr2d(self, X, K, mode):
        # correlation is convolution with the kernel turned half a turn; only
        # where "same" starts differs (SciPy centres the two differently)
        H, W = X.shape
        kh, kw = K.shape
        start = {"full": (0, 0), "same": (kh // 2, kw // 2), "valid": (kh - 1, kw - 1)}[mode]
        size = {"full": (H + kh - 1, W + kw - 1), "same": (H, W),
                "valid": (H - kh + 1, W - kw + 1)}[mode]
        return _cut(full_convolve(X, K[::-1, ::-1]), start, size)

    def conv2d(self, x, weight, bias, stride, padding, dilation, groups):
        N, C, H, W = x.shape
        O, Cg, _, _ = weight.shape
        Og = O // groups
        w = _dilate(weight, dilation)
        keff = w.shape[-2:]
        xp = _pad(x, padding)
        outs = []
        for g in range(groups):
            xs = xp[:, None, g * Cg:(g + 1) * Cg]                    # (N, 1, Cg, Hp, Wp)
            ws = w[None, g * Og:(g + 1) * Og, :, ::-1, ::-1]         # (1, Og, Cg, kh, kw)
            full = full_convolve(xs, np.ascontiguousarray(ws)).sum(axis=2)
            outs.append(full[:, :, keff[0] - 1:xp.shape[2], keff[1] - 1:xp.shape[3]])
        y = np.concatenate(outs, axis=1)[:, :, ::stride[0], ::stride[1]]
        y = np.ascontiguousarray(y)
        if bias is not None:
            y += bias[:, None, None]
        return y

    def conv2d_grad_input(self, grad_output, weight, input_shape, stride, padding, dilation,
                          groups):
        N, C, H, W = input_shape
        O, Cg, _, _ = weight.shape
        Og = O // groups
        w = _dilate(weight, dilation)
        gs = _spread(grad_output, stride)
        pt, pb, pl, pr = padding
        Hp, Wp = H + pt + pb, W + pl + pr
        dx = np.zeros((N, C, Hp, Wp), dtype=grad_output.dtype)
        for g in range(groups):
            gg = gs[:, g * Og:(g + 1) * Og, None]                   # (N, Og, 1, h, w)
            wg = w[None, g * Og:(g + 1) * Og]                       # (1, Og, Cg, kh, kw)
            full = full_convolve(gg, np.ascontiguousarray(wg)).sum(axis=1)  # (N, Cg, ., .)
            rows, cols = min(Hp, full.shape[2]), min(Wp, full.shape[3])
            dx[:, g * Cg:(g + 1) * Cg, :rows, :cols] = full[:, :, :rows, :cols]
        return np.ascontiguousarray(dx[:, :, pt:pt + H, pl:pl + W])

    def conv2d_grad_weight(self, x, grad_output, weight_shape, stride, padding, dilation,
                           groups):
        O, Cg, kh, kw = weight_shape
        Og = O // groups
        keff = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
        xp = _pad(x, padding)
        gs = _spread(grad_output, stride)
        parts = []
        for g in range(groups):
            xs = xp[:, None, g * Cg:(g + 1) * Cg]                    # (N, 1, Cg, Hp, Wp)
            gg = gs[:, g * Og:(g + 1) * Og, None, ::-1, ::-1]       # (N, Og, 1, h, w)
            full = full_convolve(xs, np.ascontiguousarray(gg)).sum(axis=0)  # (Og, Cg, ., .)
            start = (gs.shape[2] - 1, gs.shape[3] - 1)
            parts.append(full[:, :, start[0]:start[0] + keff[0]:dilation[0],
                              start[1]:start[1] + keff[1]:dilation[1]])
        return np.ascontiguousarray(np.concatenate(parts, axis=0))


@hookimpl
def convreg_backends():
    return [FFTBackend()]
