"""The ``cython`` backend: thin typed wrappers around the kernels in ``convreg._cy``.

The wrappers only shape each problem for a kernel (zero padding, the flipped
kernel of a convolution, output buffers, the thread count) and choose the
algorithm; the front ends have already checked every argument, so the
compiled code, which runs without the GIL and without bounds checks, never
sees an index it cannot take.

Algorithms (chosen in :func:`algorithm`, the one place the choice is made):

* single-image ``corr2d``/``convolve2d``: a direct loop, parallel over
  output rows, whose inner loop runs along a contiguous output row;
* layers with few output channels per group (the chapter's examples,
  depthwise convolutions): direct loops, parallel over output planes;
* otherwise, at stride 1, implicit GEMM (``_cy/_implicit_gemm.pyx``: one
  BLAS call per kernel tap over a shifted view of the padded input);
* otherwise im2col + GEMM through NumPy's BLAS (col2im for the input
  gradient), a batch slice at a time; a 1x1 unpadded kernel at stride 1
  uses its input as the column matrix. im2col/col2im are prange loops but run
  on one thread here: BLAS's own pthreads do the GEMM, and an OpenMP team
  spin-waiting between the two pools' turns cost 2-5x (measured; OpenBLAS
  issue 3187 describes the same clash), more than a parallel unfold gains on
  a memory-bound copy.

Memory: besides its output, an op allocates at most one workspace: the
zero-padded input for the direct loops (the input's size plus its border),
or one column buffer of at most ``WORKSPACE_BYTES`` (32 MiB; more only when
a single image's ``C * kh * kw * H_out * W_out`` columns exceed it), reused
for every batch slice, plus, for the weight gradient, the per-image
products of one slice (``images x O/groups x C/groups*kh*kw``).
"""

from __future__ import annotations

import numpy as np

from .. import __version__
from ..hookspecs import API_VERSION, hookimpl
from ..shapes import conv_output_hw, corr2d_padding, pool_output_hw
from ..threads import get_num_threads, openmp_enabled

try:
    from .._cy import _conv, _corr2d, _implicit_gemm, _pool
except ImportError as exc:  # not built: listed unavailable with this reason
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

__all__ = ["CythonBackend", "algorithm", "use_gemm", "WORKSPACE_BYTES"]

#: im2col + GEMM pays off for the forward pass and the input gradient once
#: each group has this many output channels (the GEMM's M dimension); below
#: it the direct loops win (depthwise convolutions lose 3-13x through GEMM).
GEMM_MIN_OUT_CHANNELS = 8
#: The weight gradient's direct loop reduces over N * H_out * W_out with one
#: thread per kernel plane; im2col + GEMM wins once that reduction is longer
#: than this.
GEMM_MIN_REDUCTION = 256


def use_gemm(op: str, out_per_group: int, n: int, out_hw: tuple[int, int]) -> bool:
    """Whether a layer op runs as im2col + GEMM (else as direct loops): the one place
    the algorithm is chosen.

    Thresholds measured on the 2-core benchmark machine with
    ``benchmarks/crossover.py`` (table in benchmarks/RESULTS.md): with 8+
    output channels per group GEMM was 1.1-3x faster than the direct loops
    for the forward pass and input gradient, with 1-2 it was 1.4-9x slower.
    """
    if op == "conv2d_grad_weight":
        return n * out_hw[0] * out_hw[1] >= GEMM_MIN_REDUCTION
    return out_per_group >= GEMM_MIN_OUT_CHANNELS


#: Below this many multiply-adds a kernel runs on the calling thread alone:
#: waking the OpenMP team costs more than it saves (~1.3 us measured on the
#: chapter's 6x8 example).
PARALLEL_MIN_WORK = 1 << 15


def _threads(work: int) -> int:
    return 1 if work < PARALLEL_MIN_WORK else get_num_threads()


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
    _corr2d.corr2d_valid(X, K, Y, _threads(Y.size * K.size))
    return Y


#: Upper bound on the im2col column buffer; a batch is processed in slices of
#: as many images as fit (at least one).
WORKSPACE_BYTES = 32 << 20


class _Columns:
    """im2col / col2im for one layer geometry, over batch slices, with one reused buffer.

    The buffer holds ``(images per slice, C*kh*kw, H_out*W_out)``; each slice
    is unfolded (or folded) in one OpenMP region and multiplied in one NumPy
    ``matmul`` call, so OpenMP's team and BLAS's threads take turns once per
    slice: alternating per image makes each spin-wait for the other.
    """

    def __init__(self, x_shape, k_hw, y_hw, stride, padding, dilation, dtype):
        N, C = x_shape[:2]
        rows, length = C * k_hw[0] * k_hw[1], y_hw[0] * y_hw[1]
        # A 1x1 kernel at stride 1 without padding reads each pixel once, in
        # order: the input already is its column matrix, no copy needed.
        self.identity = k_hw == (1, 1) and stride == (1, 1) and not any(padding)
        per_image = max(1, rows * length * np.dtype(dtype).itemsize)
        self.batch = N if self.identity else max(1, min(N, WORKSPACE_BYTES // per_image))
        self.args = (*k_hw, *stride, *dilation, padding[0], padding[2], *y_hw)
        self.buffer = None if self.identity else np.empty((self.batch, rows, length), dtype=dtype)

    def slices(self, N: int):
        for n0 in range(0, N, self.batch):
            yield slice(n0, min(N, n0 + self.batch))

    def unfold(self, x: np.ndarray) -> np.ndarray:
        if self.identity:
            return x.reshape(x.shape[0], x.shape[1], -1)
        cols = self.buffer[:x.shape[0]]
        _conv.im2col(x, cols, *self.args, 1)
        return cols

    def target(self, dx: np.ndarray) -> np.ndarray:
        """Where the input gradient's columns go: ``dx`` itself for the identity."""
        if self.identity:
            return dx.reshape(dx.shape[0], dx.shape[1], -1)
        return self.buffer[:dx.shape[0]]

    def fold(self, cols: np.ndarray, dx: np.ndarray) -> None:
        if not self.identity:
            _conv.col2im(cols, dx, *self.args, 1)


_BLAS_INT_MAX = 2**31 - 1


def _implicit(stride, x_shape, padding) -> bool:
    """Whether a GEMM-path op runs as implicit GEMM (stride 1, a BLAS-int-sized grid)."""
    N, _, H, W = x_shape
    return stride == (1, 1) and N * (H + padding[0] + padding[1]) * (W + padding[2] + padding[3]) \
        <= _BLAS_INT_MAX


def algorithm(op: str, x_shape: tuple[int, ...], w_shape: tuple[int, ...], out_hw: tuple[int, int],
              stride: tuple[int, int], padding: tuple[int, int, int, int], groups: int) -> str:
    """How a layer op runs: "implicit" GEMM, "im2col" + GEMM, or "direct" loops.

    The one place the choice is made: GEMM or not by :func:`use_gemm`'s
    measured thresholds; then implicit GEMM (no column matrix) at stride 1,
    except for the 1x1 kernel whose input already is its column matrix.
    """
    if not use_gemm(op, w_shape[0] // groups, x_shape[0], out_hw):
        return "direct"
    if w_shape[2:] != (1, 1) and _implicit(stride, x_shape, padding):
        return "implicit"
    return "im2col"


def _grid_hw(x_shape: tuple[int, ...], padding: tuple[int, int, int, int]) -> tuple[int, int]:
    return (x_shape[2] + padding[0] + padding[1], x_shape[3] + padding[2] + padding[3])


def _padded(a: np.ndarray, pads: tuple[int, int, int, int], grid_hw: tuple[int, int]) -> np.ndarray:
    """``a`` (N, C, h, w) at offset ``(top, left)`` of zero ``Hp x Wp`` grids, as ``(N, C, Hp*Wp)``."""
    N, C, h, w = a.shape
    grid = np.zeros((N, C) + grid_hw, dtype=a.dtype)
    grid[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w] = a
    return grid.reshape(N, C, -1)


def _corner(grid: np.ndarray, grid_hw: tuple[int, int], corner) -> np.ndarray:
    """The ``h x w`` block at ``(r0, c0)`` of every ``Hp x Wp`` grid of ``(N, C, Hp*Wp)``."""
    r0, c0, h, w = corner
    N, C = grid.shape[:2]
    return np.ascontiguousarray(grid.reshape(N, C, *grid_hw)[:, :, r0:r0 + h, c0:c0 + w])


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
        oh, ow = conv_output_hw((H, W), (kh, kw), stride, padding, dilation)
        y = np.zeros((N, O, oh, ow), dtype=x.dtype)
        how = algorithm("conv2d", x.shape, weight.shape, (oh, ow), stride, padding, groups)
        if how == "implicit":
            Og = O // groups
            grid_hw = _grid_hw(x.shape, padding)
            wt = np.ascontiguousarray(
                weight.reshape(groups, Og, Cg, kh, kw).transpose(3, 4, 0, 1, 2))
            xg = _padded(x, padding, grid_hw)
            out = np.zeros((N, O, grid_hw[0] * grid_hw[1]), dtype=x.dtype)
            for n in range(N):  # per image: measured faster than one batch-wide GEMM per tap
                _implicit_gemm.forward(xg[n], wt, out[n], grid_hw[1], *dilation)
            y = _corner(out, grid_hw, (0, 0, oh, ow))
        elif how == "im2col":
            K, Og = Cg * kh * kw, O // groups
            columns = _Columns(x.shape, (kh, kw), (oh, ow), stride, padding, dilation, x.dtype)
            w3 = weight.reshape(groups, Og, K)
            y3 = y.reshape(N, O, oh * ow)
            for s in columns.slices(N):
                cols = columns.unfold(x[s])
                for g in range(groups):
                    np.matmul(w3[g], cols[:, g * K:(g + 1) * K], out=y3[s, g * Og:(g + 1) * Og])
        else:
            _conv.conv2d_direct(_pad(x, padding), weight, y, *stride, *dilation, groups,
                                _threads(y.size * weight[0].size))
        if bias is not None:
            y += bias[:, None, None]
        return y

    def conv2d_grad_input(self, grad_output, weight, input_shape, stride, padding, dilation,
                          groups):
        N, C, H, W = input_shape
        O, Cg, kh, kw = weight.shape
        oh, ow = grad_output.shape[2:]
        how = algorithm("conv2d_grad_input", input_shape, weight.shape, (oh, ow), stride,
                        padding, groups)
        if how == "implicit":
            Og = O // groups
            grid_hw = _grid_hw(input_shape, padding)
            wt = np.ascontiguousarray(
                weight.reshape(groups, Og, Cg, kh, kw).transpose(3, 4, 0, 2, 1))
            dgrid = np.zeros((N, C, grid_hw[0] * grid_hw[1]), dtype=grad_output.dtype)
            g = _padded(grad_output, (0, 0, 0, 0), grid_hw)
            for n in range(N):
                _implicit_gemm.grad_input(g[n], wt, dgrid[n], grid_hw[1], *dilation)
            return _corner(dgrid, grid_hw, (padding[0], padding[2], H, W))
        if how == "im2col":
            K, Og = Cg * kh * kw, O // groups
            dx = np.zeros(input_shape, dtype=grad_output.dtype)
            columns = _Columns(input_shape, (kh, kw), (oh, ow), stride, padding, dilation,
                               dx.dtype)
            wT = weight.reshape(groups, Og, K).transpose(0, 2, 1)
            g3 = grad_output.reshape(N, O, oh * ow)
            for s in columns.slices(N):
                cols = columns.target(dx[s])
                for g in range(groups):
                    np.matmul(wT[g], g3[s, g * Og:(g + 1) * Og], out=cols[:, g * K:(g + 1) * K])
                columns.fold(cols, dx[s])
            return dx
        pt, pb, pl, pr = padding
        dxp = np.zeros((N, C, H + pt + pb, W + pl + pr), dtype=grad_output.dtype)
        _conv.conv2d_grad_input_direct(grad_output, weight, dxp, *stride, *dilation, groups,
                                       _threads(grad_output.size * weight[0].size))
        return np.ascontiguousarray(dxp[:, :, pt:pt + H, pl:pl + W])

    def conv2d_grad_weight(self, x, grad_output, weight_shape, stride, padding, dilation,
                           groups):
        N, C, H, W = x.shape
        O, Cg, kh, kw = weight_shape
        oh, ow = grad_output.shape[2:]
        how = algorithm("conv2d_grad_weight", x.shape, weight_shape, (oh, ow), stride, padding,
                        groups)
        if how == "implicit":
            Og = O // groups
            grid_hw = _grid_hw(x.shape, padding)
            dwt = np.zeros((kh, kw, groups, Og, Cg), dtype=x.dtype)
            xg = _padded(x, padding, grid_hw)
            g = _padded(grad_output, (0, 0, 0, 0), grid_hw)
            for n in range(N):  # BLAS accumulates into dwt image by image
                _implicit_gemm.grad_weight(xg[n], g[n], dwt, grid_hw[1], *dilation)
            return np.ascontiguousarray(dwt.transpose(2, 3, 4, 0, 1).reshape(weight_shape))
        dw = np.zeros(weight_shape, dtype=x.dtype)
        if how == "im2col":
            K, Og = Cg * kh * kw, O // groups
            columns = _Columns(x.shape, (kh, kw), (oh, ow), stride, padding, dilation, x.dtype)
            dw3 = dw.reshape(groups, Og, K)
            g3 = grad_output.reshape(N, O, oh * ow)
            for s in columns.slices(N):
                cols = columns.unfold(x[s])
                for g in range(groups):
                    per_image = np.matmul(g3[s, g * Og:(g + 1) * Og],
                                          cols[:, g * K:(g + 1) * K].transpose(0, 2, 1))
                    dw3[g] += per_image.sum(axis=0)
            return dw
        _conv.conv2d_grad_weight_direct(_pad(x, padding), grad_output, dw, *stride, *dilation,
                                        groups, _threads(grad_output.size * dw[0].size))
        return dw

    # -- pooling -------------------------------------------------------------

    def max_pool2d(self, x, kernel, stride, padding, dilation, ceil_mode):
        N, C, H, W = x.shape
        oh, ow = pool_output_hw((H, W), kernel, stride, padding, dilation, ceil_mode)
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
        oh, ow = pool_output_hw((H, W), kernel, stride, padding, (1, 1), ceil_mode)
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
