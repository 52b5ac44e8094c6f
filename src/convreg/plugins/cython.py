"""The ``cython`` backend: thin typed wrappers around the kernels in ``convreg._cy``.

The wrappers only shape each problem for a kernel (zero padding, the flipped
kernel of a convolution, output buffers, the thread count) and choose the
algorithm; the front ends have already checked every argument, so the
compiled code, which runs without the GIL and without bounds checks, never
sees an index it cannot take.

Algorithms (chosen in :func:`use_gemm`, the one place the choice is made):

* single-image ``corr2d``/``convolve2d``: a direct loop, parallel over
  output rows, whose inner loop runs along a contiguous output row;
* layers whose inner product per output element is short (few input
  channels per group times kernel taps, e.g. the chapter's examples,
  depthwise convolutions): direct loops, parallel over output planes;
* otherwise im2col (parallel) + one GEMM per image and group through
  NumPy's BLAS, and col2im for the input gradient.

Memory: besides its output, an op allocates at most one workspace: the
zero-padded input for the direct loops (the input's size plus its border),
or one column buffer of ``C/groups * kh * kw * H_out * W_out`` elements
(reused for every image and group) plus, for the weight gradient, one
``O/groups x C/groups*kh*kw`` product.
"""

from __future__ import annotations

import numpy as np

from .. import __version__
from ..hookspecs import API_VERSION, hookimpl
from ..shapes import corr2d_padding, output_size
from ..threads import get_num_threads, openmp_enabled

try:
    from .._cy import _conv, _corr2d, _pool
except ImportError as exc:  # not built: listed unavailable with this reason
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

__all__ = ["CythonBackend", "use_gemm", "GEMM_MIN_DEPTH"]

#: Shortest inner product (input channels per group x kernel taps) for which
#: im2col + GEMM beats the direct loops. Measured with ``python -m convreg
#: bench``; see benchmarks/RESULTS.md.
GEMM_MIN_DEPTH = 32


def use_gemm(c_per_group: int, kh: int, kw: int) -> bool:
    """Whether a layer op goes through im2col + GEMM (else the direct loops)."""
    return c_per_group * kh * kw >= GEMM_MIN_DEPTH


def _pad(x: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """Zero-pad the last two axes by ``(top, bottom, left, right)`` (no copy when zero)."""
    if not any(pads):
        return x
    pt, pb, pl, pr = pads
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(pt, pb), (pl, pr)])


def _valid_corr2d(X: np.ndarray, K: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """Cross-correlate ``K`` over ``X`` zero-padded by ``pads``."""
    X = _pad(X, pads)
    Y = np.zeros((X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1), dtype=X.dtype)
    _corr2d.corr2d_valid(X, K, Y, get_num_threads())
    return Y


def _out_hw(x_hw, k_hw, stride, padding, dilation) -> tuple[int, int]:
    return (output_size(x_hw[0], k_hw[0], stride[0], padding[0], padding[1], dilation[0]),
            output_size(x_hw[1], k_hw[1], stride[1], padding[2], padding[3], dilation[1]))


def _pool_out(x_hw, kernel, stride, padding, dilation, ceil_mode) -> tuple[int, int]:
    return tuple(output_size(n, k, s, p, p, d, ceil_mode)
                 for n, k, s, p, d in zip(x_hw, kernel, stride, padding, dilation))


class _Im2col:
    """im2col/col2im for one layer geometry, with a column buffer reused across images."""

    def __init__(self, c_per_group, kh, kw, oh, ow, stride, padding, dilation, dtype):
        self.args = (kh, kw, *stride, *dilation, padding[0], padding[2], oh, ow)
        self.cols = np.empty((c_per_group * kh * kw, oh * ow), dtype=dtype)

    def unfold(self, x_cg: np.ndarray) -> np.ndarray:
        _conv.im2col(x_cg, self.cols, *self.args, get_num_threads())
        return self.cols

    def fold(self, cols: np.ndarray, dx_cg: np.ndarray) -> None:
        _conv.col2im(cols, dx_cg, *self.args, get_num_threads())


class CythonBackend:
    """Typed-memoryview kernels, float and double, parallel with OpenMP."""

    name = "cython"
    version = __version__
    api_version = API_VERSION
    priority = 50
    array_types = (np.ndarray,)

    def available(self) -> tuple[bool, str]:
        if _IMPORT_ERROR is not None:
            return False, f"the compiled extension did not import: {_IMPORT_ERROR}"
        threads = "OpenMP" if openmp_enabled() else "no OpenMP: single thread"
        return True, f"compiled kernels ({threads})"

    # -- single image --------------------------------------------------------

    def corr2d(self, X: np.ndarray, K: np.ndarray, mode: str) -> np.ndarray:
        return _valid_corr2d(X, K, corr2d_padding(K.shape, mode))

    def convolve2d(self, X: np.ndarray, K: np.ndarray, mode: str) -> np.ndarray:
        # Convolution is correlation with the kernel turned half a turn; the
        # padding is the correlation's mirrored, which puts "same" where
        # scipy.signal.convolve2d puts it.
        top, bottom, left, right = corr2d_padding(K.shape, mode)
        flipped = np.ascontiguousarray(K[::-1, ::-1])
        return _valid_corr2d(X, flipped, (bottom, top, right, left))

    # -- convolution layer ---------------------------------------------------

    def conv2d(self, x, weight, bias, stride, padding, dilation, groups):
        N, C, H, W = x.shape
        O, Cg, kh, kw = weight.shape
        oh, ow = _out_hw((H, W), (kh, kw), stride, padding, dilation)
        y = np.zeros((N, O, oh, ow), dtype=x.dtype)
        if use_gemm(Cg, kh, kw):
            Og = O // groups
            unfold = _Im2col(Cg, kh, kw, oh, ow, stride, padding, dilation, x.dtype)
            w2 = weight.reshape(groups, Og, Cg * kh * kw)
            y3 = y.reshape(N, O, oh * ow)
            for n in range(N):
                for g in range(groups):
                    cols = unfold.unfold(x[n, g * Cg:(g + 1) * Cg])
                    np.matmul(w2[g], cols, out=y3[n, g * Og:(g + 1) * Og])
        else:
            _conv.conv2d_direct(_pad(x, padding), weight, y, *stride, *dilation, groups,
                                get_num_threads())
        if bias is not None:
            y += bias[:, None, None]
        return y

    def conv2d_grad_input(self, grad_output, weight, input_shape, stride, padding, dilation,
                          groups):
        N, C, H, W = input_shape
        O, Cg, kh, kw = weight.shape
        oh, ow = grad_output.shape[2:]
        if use_gemm(Cg, kh, kw):
            Og = O // groups
            dx = np.zeros(input_shape, dtype=grad_output.dtype)
            fold = _Im2col(Cg, kh, kw, oh, ow, stride, padding, dilation, dx.dtype)
            wT = np.ascontiguousarray(weight.reshape(groups, Og, Cg * kh * kw).transpose(0, 2, 1))
            g3 = grad_output.reshape(N, O, oh * ow)
            for n in range(N):
                for g in range(groups):
                    np.matmul(wT[g], g3[n, g * Og:(g + 1) * Og], out=fold.cols)
                    fold.fold(fold.cols, dx[n, g * Cg:(g + 1) * Cg])
            return dx
        pt, pb, pl, pr = padding
        dxp = np.zeros((N, C, H + pt + pb, W + pl + pr), dtype=grad_output.dtype)
        _conv.conv2d_grad_input_direct(grad_output, weight, dxp, *stride, *dilation, groups,
                                       get_num_threads())
        return np.ascontiguousarray(dxp[:, :, pt:pt + H, pl:pl + W])

    def conv2d_grad_weight(self, x, grad_output, weight_shape, stride, padding, dilation,
                           groups):
        N, C, H, W = x.shape
        O, Cg, kh, kw = weight_shape
        oh, ow = grad_output.shape[2:]
        dw = np.zeros(weight_shape, dtype=x.dtype)
        if use_gemm(Cg, kh, kw):
            Og = O // groups
            unfold = _Im2col(Cg, kh, kw, oh, ow, stride, padding, dilation, x.dtype)
            dw3 = dw.reshape(groups, Og, Cg * kh * kw)
            g3 = grad_output.reshape(N, O, oh * ow)
            product = np.empty((Og, Cg * kh * kw), dtype=x.dtype)
            for n in range(N):
                for g in range(groups):
                    cols = unfold.unfold(x[n, g * Cg:(g + 1) * Cg])
                    np.matmul(g3[n, g * Og:(g + 1) * Og], cols.T, out=product)
                    dw3[g] += product
            return dw
        _conv.conv2d_grad_weight_direct(_pad(x, padding), grad_output, dw, *stride, *dilation,
                                        groups, get_num_threads())
        return dw

    # -- pooling -------------------------------------------------------------

    def max_pool2d(self, x, kernel, stride, padding, dilation, ceil_mode):
        N, C, H, W = x.shape
        oh, ow = _pool_out((H, W), kernel, stride, padding, dilation, ceil_mode)
        y = np.empty((N, C, oh, ow), dtype=x.dtype)
        _pool.max_pool2d(x.reshape(N * C, H, W), y.reshape(N * C, oh, ow), *kernel, *stride,
                         *padding, *dilation, get_num_threads())
        return y

    def max_pool2d_grad(self, grad_output, x, kernel, stride, padding, dilation, ceil_mode):
        N, C, H, W = x.shape
        oh, ow = grad_output.shape[2:]
        dx = np.zeros_like(x)
        _pool.max_pool2d_grad(grad_output.reshape(N * C, oh, ow), x.reshape(N * C, H, W),
                              dx.reshape(N * C, H, W), *kernel, *stride, *padding, *dilation,
                              get_num_threads())
        return dx

    def avg_pool2d(self, x, kernel, stride, padding, ceil_mode, count_include_pad):
        N, C, H, W = x.shape
        oh, ow = _pool_out((H, W), kernel, stride, padding, (1, 1), ceil_mode)
        y = np.empty((N, C, oh, ow), dtype=x.dtype)
        _pool.avg_pool2d(x.reshape(N * C, H, W), y.reshape(N * C, oh, ow), *kernel, *stride,
                         *padding, count_include_pad, get_num_threads())
        return y

    def avg_pool2d_grad(self, grad_output, input_shape, kernel, stride, padding, ceil_mode,
                        count_include_pad):
        N, C, H, W = input_shape
        oh, ow = grad_output.shape[2:]
        dx = np.zeros(input_shape, dtype=grad_output.dtype)
        _pool.avg_pool2d_grad(grad_output.reshape(N * C, oh, ow), dx.reshape(N * C, H, W),
                              *kernel, *stride, *padding, count_include_pad, get_num_threads())
        return dx


@hookimpl
def convreg_backends():
    return [CythonBackend()]
