"""The reference backend: every op written straight from its definition.

This is the oracle the other backends are tested against, not a fast path.
Each function loops over output positions (or kernel taps) in Python, as the
chapter writes ``corr2d``, and lets NumPy do only the small inner products.
``convolve2d`` is computed from the convolution formula itself (each tap
scatters a shifted copy of the input), never by flipping the kernel and
calling ``corr2d``, so that the identity between them is a real test.

Arguments arrive checked and normalised by the front ends (see
``convreg.conv`` for the conventions); nothing is re-validated here.
"""

from __future__ import annotations

import numpy as np

from .. import __version__
from ..hookspecs import API_VERSION, hookimpl
from ..shapes import Pads, Pair, Shape4, conv_output_hw, convolve2d_offset, corr2d_padding, pool_output_hw

__all__ = [
    "ReferenceBackend",
    "corr2d",
    "convolve2d",
    "conv2d",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "max_pool2d",
    "avg_pool2d",
    "max_pool2d_grad",
    "avg_pool2d_grad",
]


def _zero_pad(x: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """Zero-pad the last two axes by ``(top, bottom, left, right)``."""
    pt, pb, pl, pr = pads
    width = [(0, 0)] * (x.ndim - 2) + [(pt, pb), (pl, pr)]
    return np.pad(x, width)


# -- single image -----------------------------------------------------------


def corr2d(X: np.ndarray, K: np.ndarray, mode: str) -> np.ndarray:
    """``Y[i, j] = sum_ab X[i + a, j + b] K[a, b]`` over the zero-padded ``X``."""
    Xp = _zero_pad(X, corr2d_padding(K.shape, mode))
    h, w = K.shape
    Y = np.zeros((Xp.shape[0] - h + 1, Xp.shape[1] - w + 1), dtype=X.dtype)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (Xp[i:i + h, j:j + w] * K).sum()
    return Y


def convolve2d(X: np.ndarray, K: np.ndarray, mode: str) -> np.ndarray:
    """``Y[i, j] = sum_ab Xz[i - a, j - b] K[a, b]``, then cut to ``mode``.

    ``Xz`` is ``X`` with its zero fill, which is part of the definition (as
    in SciPy): every full-mode output sums every tap, so a NaN or Inf in
    ``K`` reaches every output, 0 x NaN being NaN. The full convolution is
    built tap by tap: tap ``(a, b)`` adds ``K[a, b]`` times ``Xz`` shifted
    down by ``a`` and right by ``b``.
    """
    H, W = X.shape
    kh, kw = K.shape
    Hf, Wf = H + kh - 1, W + kw - 1
    Xz = _zero_pad(X, (kh - 1, kh - 1, kw - 1, kw - 1))  # Xz[kh-1+r, kw-1+c] = X[r, c]
    full = np.zeros((Hf, Wf), dtype=X.dtype)
    for a in range(kh):
        for b in range(kw):
            full += K[a, b] * Xz[kh - 1 - a:kh - 1 - a + Hf, kw - 1 - b:kw - 1 - b + Wf]
    oi, oj = convolve2d_offset(K.shape, mode)
    rows = H - kh + 1 if mode == "valid" else (H if mode == "same" else Hf)
    cols = W - kw + 1 if mode == "valid" else (W if mode == "same" else Wf)
    return np.array(full[oi:oi + rows, oj:oj + cols])


# -- convolution layer ------------------------------------------------------


def _window(i: int, j: int, k: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int]) -> tuple[slice, slice]:
    """The padded-input rows and columns that output ``(i, j)`` reads."""
    (kh, kw), (sh, sw), (dh, dw) = k, stride, dilation
    return (slice(i * sh, i * sh + dh * (kh - 1) + 1, dh),
            slice(j * sw, j * sw + dw * (kw - 1) + 1, dw))


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: Pair, padding: Pads,
           dilation: Pair, groups: int) -> np.ndarray:
    """``y[n, o, i, j] = b[o] + sum_{c,a,b} xpad[n, c, i*sh + a*dh, j*sw + b*dw] w[o, c, a, b]``."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = weight.shape
    Og = O // groups
    xp = _zero_pad(x, padding)
    oh, ow = conv_output_hw((H, W), (kh, kw), stride, padding, dilation)
    y = np.zeros((N, O, oh, ow), dtype=x.dtype)
    for g in range(groups):
        xs, ws = xp[:, g * Cg:(g + 1) * Cg], weight[g * Og:(g + 1) * Og]
        for i in range(oh):
            for j in range(ow):
                rows, cols = _window(i, j, (kh, kw), stride, dilation)
                y[:, g * Og:(g + 1) * Og, i, j] = np.tensordot(
                    xs[:, :, rows, cols], ws, axes=([1, 2, 3], [1, 2, 3]))
    if bias is not None:
        y += bias[None, :, None, None]
    return y


def conv2d_grad_input(grad_output: np.ndarray, weight: np.ndarray, input_shape: Shape4, stride: Pair,
                      padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
    """Each output's gradient, times the kernel, added back onto the window it read."""
    N, C, H, W = input_shape
    O, Cg, kh, kw = weight.shape
    Og = O // groups
    pt, pb, pl, pr = padding
    dxp = np.zeros((N, C, H + pt + pb, W + pl + pr), dtype=grad_output.dtype)
    oh, ow = grad_output.shape[2:]
    for g in range(groups):
        gs, ws = grad_output[:, g * Og:(g + 1) * Og], weight[g * Og:(g + 1) * Og]
        for i in range(oh):
            for j in range(ow):
                rows, cols = _window(i, j, (kh, kw), stride, dilation)
                dxp[:, g * Cg:(g + 1) * Cg, rows, cols] += np.tensordot(
                    gs[:, :, i, j], ws, axes=([1], [0]))
    return np.array(dxp[:, :, pt:pt + H, pl:pl + W])


def conv2d_grad_weight(x: np.ndarray, grad_output: np.ndarray, weight_shape: Shape4, stride: Pair,
                       padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
    """``dw[o, c, a, b] = sum_{n,i,j} g[n, o, i, j] xpad[n, c, i*sh + a*dh, j*sw + b*dw]``."""
    O, Cg, kh, kw = weight_shape
    Og = O // groups
    xp = _zero_pad(x, padding)
    dw = np.zeros(weight_shape, dtype=x.dtype)
    oh, ow = grad_output.shape[2:]
    for g in range(groups):
        gs, xs = grad_output[:, g * Og:(g + 1) * Og], xp[:, g * Cg:(g + 1) * Cg]
        for i in range(oh):
            for j in range(ow):
                rows, cols = _window(i, j, (kh, kw), stride, dilation)
                dw[g * Og:(g + 1) * Og] += np.tensordot(
                    gs[:, :, i, j], xs[:, :, rows, cols], axes=([0], [0]))
    return dw


# -- pooling ----------------------------------------------------------------


def _max_taps(n_in: int, n_out: int, k: int, s: int, p: int, d: int) -> list[list[int]]:
    """For each output index, the input indices inside its window (padding left out)."""
    return [[t for t in range(o * s - p, o * s - p + d * (k - 1) + 1, d) if 0 <= t < n_in]
            for o in range(n_out)]


def _avg_windows(n_in: int, n_out: int, k: int, s: int, p: int) -> list[tuple[int, int, int]]:
    """For each output index: (first, stop, window length counting padding), PyTorch's rule."""
    spans = []
    for o in range(n_out):
        start = o * s - p
        stop = min(start + k, n_in + p)
        spans.append((max(start, 0), min(stop, n_in), stop - start))
    return spans


def max_pool2d(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
               ceil_mode: bool) -> np.ndarray:
    """``y[n, c, i, j] = max over the window's input elements``."""
    N, C, H, W = x.shape
    oh, ow = pool_output_hw(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
    taps_h = _max_taps(H, oh, kernel[0], stride[0], padding[0], dilation[0])
    taps_w = _max_taps(W, ow, kernel[1], stride[1], padding[1], dilation[1])
    y = np.full((N, C, oh, ow), -np.inf, dtype=x.dtype)
    for i, rows in enumerate(taps_h):
        for j, cols in enumerate(taps_w):
            if rows and cols:
                y[:, :, i, j] = x[:, :, rows][:, :, :, cols].max(axis=(2, 3))
    return y


def max_pool2d_grad(grad_output: np.ndarray, x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair,
                    dilation: Pair, ceil_mode: bool) -> np.ndarray:
    """Each window's gradient goes to its first maximum (row-major; first NaN wins)."""
    N, C, H, W = x.shape
    oh, ow = grad_output.shape[2:]
    taps_h = _max_taps(H, oh, kernel[0], stride[0], padding[0], dilation[0])
    taps_w = _max_taps(W, ow, kernel[1], stride[1], padding[1], dilation[1])
    dx = np.zeros_like(x)
    if dx.size == 0:
        return dx  # an empty batch: no window to route from (argmax refuses empties)
    n_idx, c_idx = np.indices((N, C))
    for i, rows in enumerate(taps_h):
        for j, cols in enumerate(taps_w):
            if rows and cols:
                window = x[:, :, rows][:, :, :, cols].reshape(N, C, -1)
                first = np.argmax(window, axis=2)  # first maximum; NaN counts as maximum
                r = np.asarray(rows)[first // len(cols)]
                c = np.asarray(cols)[first % len(cols)]
                np.add.at(dx, (n_idx, c_idx, r, c), grad_output[:, :, i, j])
    return dx


def avg_pool2d(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, ceil_mode: bool,
               count_include_pad: bool) -> np.ndarray:
    """``y[n, c, i, j] = sum over the window / its size`` (see ``_avg_windows``)."""
    N, C, H, W = x.shape
    oh, ow = pool_output_hw(x.shape[2:], kernel, stride, padding, (1, 1), ceil_mode)
    spans_h = _avg_windows(H, oh, kernel[0], stride[0], padding[0])
    spans_w = _avg_windows(W, ow, kernel[1], stride[1], padding[1])
    y = np.zeros((N, C, oh, ow), dtype=x.dtype)
    for i, (h0, h1, hn) in enumerate(spans_h):
        for j, (w0, w1, wn) in enumerate(spans_w):
            if h1 > h0 and w1 > w0:
                count = hn * wn if count_include_pad else (h1 - h0) * (w1 - w0)
                y[:, :, i, j] = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3)) / count
    return y


def avg_pool2d_grad(grad_output: np.ndarray, input_shape: Shape4, kernel: Pair, stride: Pair,
                    padding: Pair, ceil_mode: bool, count_include_pad: bool) -> np.ndarray:
    """Each window's gradient, divided by its size, spread evenly over the window."""
    N, C, H, W = input_shape
    oh, ow = grad_output.shape[2:]
    spans_h = _avg_windows(H, oh, kernel[0], stride[0], padding[0])
    spans_w = _avg_windows(W, ow, kernel[1], stride[1], padding[1])
    dx = np.zeros(input_shape, dtype=grad_output.dtype)
    for i, (h0, h1, hn) in enumerate(spans_h):
        for j, (w0, w1, wn) in enumerate(spans_w):
            if h1 > h0 and w1 > w0:
                count = hn * wn if count_include_pad else (h1 - h0) * (w1 - w0)
                dx[:, :, h0:h1, w0:w1] += (grad_output[:, :, i, j] / count)[:, :, None, None]
    return dx


# -- the backend object -----------------------------------------------------


class ReferenceBackend:
    """Pure-Python definitions of every op; the oracle."""

    name = "reference"
    version = __version__
    api_version = API_VERSION
    priority = 0
    array_types = (np.ndarray,)

    def available(self) -> tuple[bool, str]:
        return True, "pure Python, always available"

    corr2d = staticmethod(corr2d)
    convolve2d = staticmethod(convolve2d)
    conv2d = staticmethod(conv2d)
    conv2d_grad_input = staticmethod(conv2d_grad_input)
    conv2d_grad_weight = staticmethod(conv2d_grad_weight)
    max_pool2d = staticmethod(max_pool2d)
    avg_pool2d = staticmethod(avg_pool2d)
    max_pool2d_grad = staticmethod(max_pool2d_grad)
    avg_pool2d_grad = staticmethod(avg_pool2d_grad)


@hookimpl
def convreg_backends() -> list[ReferenceBackend]:
    return [ReferenceBackend()]
