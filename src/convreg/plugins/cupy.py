"""The ``cupy`` backend: every op on the GPU, CuPy arrays in, CuPy arrays out.

Loaded only when CuPy imports and a CUDA device answers; otherwise it is
listed in ``convreg.backends()`` as unavailable with the reason (CuPy not
installed, no device, a driver error). It accepts ``cupy.ndarray`` only, so
automatic selection sends CuPy arrays here and NumPy arrays elsewhere, and a
NumPy array sent here by name raises ``BackendError`` telling the user to
move it with ``cupy.asarray`` (no silent host/device copy).

The algorithms are written once, against an array module ``xp``
(:class:`ArrayModuleOps`): taps as strided slices, im2col as a stack of
them, the contraction as one batched ``xp.matmul`` (cuBLAS on the GPU),
col2im and the pooling gradients as slice-wise adds. With ``xp = numpy``
the same code runs on the CPU, which is how the test suite checks nearly all
of this backend on machines without a GPU.

On the device, CUDA sources beside this file (``cupy.RawModule``, float and
double) take pooling and the cases where im2col would be mostly memory
traffic:

- ``_corr2d_tiled.cu``: ``corr2d`` and ``convolve2d`` of one image, a
  shared-memory tile of input per block of outputs;
- ``_conv2d_direct.cu``: the ``conv2d`` layer for few channels per group
  (LeNet's layers), one input patch in shared memory feeding
  ``_CHANNEL_BLOCK`` output channels per thread;
- ``_pool2d.cu``: max and average pooling and their gradients, one thread
  per element written, the gradients as gathers (deterministic, no atomics).

:func:`algorithm` is where the layer's choice is made. The tests run every
source, with this class's own launch code, in a CPU emulator of CUDA's
launch model (tests/cuda_emulator.py), so their indexing, barriers and launch
limits are checked without a GPU. Everything runs on CuPy's current stream
(RawKernel launches, cuBLAS and CuPy's own kernels alike), so the backend
orders correctly with the caller's other GPU work.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import __version__
from ..hookspecs import API_VERSION, hookimpl
from ..shapes import Pads, Pair, Shape4, conv_output_hw, corr2d_padding, pool_output_hw
from .reference import _avg_windows

try:
    import cupy
except Exception as exc:  # ImportError, or a CUDA library that fails to load
    cupy = None
    _IMPORT_ERROR: Exception | None = exc
else:
    _IMPORT_ERROR = None

__all__ = ["ArrayModuleOps", "CupyBackend", "algorithm"]


def _taps(k: tuple[int, int], d: tuple[int, int], s: tuple[int, int],
          out: tuple[int, int]) -> list[tuple[slice, slice]]:
    """For each kernel tap ``(a, b)``, the padded-input slices its outputs read."""
    return [(slice(a * d[0], a * d[0] + (out[0] - 1) * s[0] + 1, s[0]),
             slice(b * d[1], b * d[1] + (out[1] - 1) * s[1] + 1, s[1]))
            for a in range(k[0]) for b in range(k[1])]


class ArrayModuleOps:
    """Every op of DESIGN.md in array-module operations (``xp`` is CuPy or NumPy).

    Arguments arrive normalised by convreg's front ends (see
    ``convreg.conv``); outputs have the inputs' dtype and array type.
    """

    def __init__(self, xp: Any) -> None:
        self.xp = xp

    # -- single image -----------------------------------------------------------

    def _valid_corr2d(self, X: Any, K: Any, pads: tuple[int, int, int, int]) -> Any:
        xp = self.xp
        pt, pb, pl, pr = pads
        Xp = xp.pad(X, ((pt, pb), (pl, pr))) if any(pads) else X
        oh, ow = Xp.shape[0] - K.shape[0] + 1, Xp.shape[1] - K.shape[1] + 1
        Y = xp.zeros((oh, ow), dtype=X.dtype)
        for a in range(K.shape[0]):
            for b in range(K.shape[1]):
                Y += K[a, b] * Xp[a:a + oh, b:b + ow]
        return Y

    def corr2d(self, X: Any, K: Any, mode: str) -> Any:
        return self._valid_corr2d(X, K, corr2d_padding(K.shape, mode))

    def convolve2d(self, X: Any, K: Any, mode: str) -> Any:
        top, bottom, left, right = corr2d_padding(K.shape, mode)
        return self._valid_corr2d(X, self.xp.ascontiguousarray(K[::-1, ::-1]),
                                  (bottom, top, right, left))

    # -- convolution layer --------------------------------------------------------

    def _columns(self, xpad: Any, k: tuple[int, int], stride: Any, dilation: Any,
                 out: tuple[int, int], groups: int) -> Any:
        """im2col: ``(N, groups, C/groups * kh * kw, H_out * W_out)``."""
        N, C = xpad.shape[:2]
        taps = [xpad[:, :, r, c] for r, c in _taps(k, dilation, stride, out)]
        cols = self.xp.stack(taps, axis=2)  # (N, C, kh*kw, oh, ow)
        return cols.reshape(N, groups, (C // groups) * k[0] * k[1], out[0] * out[1])

    def _pad(self, x: Any, pads: tuple[int, int, int, int], value: float = 0.0) -> Any:
        pt, pb, pl, pr = pads
        if not any(pads):
            return x
        return self.xp.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=value)

    def conv2d(self, x: Any, weight: Any, bias: Any, stride: Pair, padding: Pads, dilation: Pair,
               groups: int) -> Any:
        N = x.shape[0]
        O, Cg, kh, kw = weight.shape
        out = conv_output_hw(x.shape[2:], (kh, kw), stride, padding, dilation)
        cols = self._columns(self._pad(x, padding), (kh, kw), stride, dilation, out, groups)
        w = weight.reshape(groups, O // groups, Cg * kh * kw)
        y = self.xp.matmul(w[None], cols).reshape(N, O, *out)
        if bias is not None:
            y += bias[:, None, None]
        return self.xp.ascontiguousarray(y)

    def conv2d_grad_input(self, grad_output: Any, weight: Any, input_shape: Shape4, stride: Pair,
                          padding: Pads, dilation: Pair, groups: int) -> Any:
        xp = self.xp
        N, C, H, W = input_shape
        O, Cg, kh, kw = weight.shape
        out = grad_output.shape[2:]
        wT = weight.reshape(groups, O // groups, Cg * kh * kw).transpose(0, 2, 1)
        g = grad_output.reshape(N, groups, O // groups, out[0] * out[1])
        cols = xp.matmul(wT[None], g).reshape(N, C, kh * kw, *out)
        pt, pb, pl, pr = padding
        dxp = xp.zeros((N, C, H + pt + pb, W + pl + pr), dtype=grad_output.dtype)
        for t, (r, c) in enumerate(_taps((kh, kw), dilation, stride, out)):
            dxp[:, :, r, c] += cols[:, :, t]
        return xp.ascontiguousarray(dxp[:, :, pt:pt + H, pl:pl + W])

    def conv2d_grad_weight(self, x: Any, grad_output: Any, weight_shape: Shape4, stride: Pair,
                           padding: Pads, dilation: Pair, groups: int) -> Any:
        N = x.shape[0]
        O, Cg, kh, kw = weight_shape
        out = grad_output.shape[2:]
        cols = self._columns(self._pad(x, padding), (kh, kw), stride, dilation, out, groups)
        g = grad_output.reshape(N, groups, O // groups, out[0] * out[1])
        dw = self.xp.matmul(g, cols.transpose(0, 1, 3, 2)).sum(axis=0)
        return self.xp.ascontiguousarray(dw.reshape(weight_shape))

    # -- pooling ------------------------------------------------------------------

    @staticmethod
    def _pool_geometry(hw: Sequence[int], kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
                       ceil_mode: bool) -> tuple[Pair, Pads]:
        out = pool_output_hw(hw, kernel, stride, padding, dilation, ceil_mode)
        # ceil_mode's last window may reach past the padding: pad that far too
        reach = tuple((o - 1) * s + d * (k - 1) + 1
                      for o, s, d, k in zip(out, stride, dilation, kernel))
        pads = (padding[0], max(padding[0], reach[0] - hw[0] - padding[0]),
                padding[1], max(padding[1], reach[1] - hw[1] - padding[1]))
        return out, pads

    def _max_taps(self, x: Any, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
                  ceil_mode: bool) -> tuple[Any, list[tuple[slice, slice]], Pads]:
        out, pads = self._pool_geometry(x.shape[2:], kernel, stride, padding, dilation,
                                        ceil_mode)
        xpad = self._pad(x, pads, value=-np.inf)
        taps = _taps(kernel, dilation, stride, out)
        return self.xp.stack([xpad[:, :, r, c] for r, c in taps]), taps, pads

    def max_pool2d(self, x: Any, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
                   ceil_mode: bool) -> Any:
        stacked, _, _ = self._max_taps(x, kernel, stride, padding, dilation, ceil_mode)
        return self.xp.ascontiguousarray(stacked.max(axis=0))

    def max_pool2d_grad(self, grad_output: Any, x: Any, kernel: Pair, stride: Pair, padding: Pair,
                        dilation: Pair, ceil_mode: bool) -> Any:
        xp = self.xp
        stacked, taps, pads = self._max_taps(x, kernel, stride, padding, dilation, ceil_mode)
        first = stacked.argmax(axis=0)  # the first maximum in row-major tap order
        # Padding is -inf too: where the maximum is -inf, a padding tap may come first.
        # The reference gives the gradient to the first tap inside the image.
        N, C, H, W = x.shape
        inside = self._pad(xp.ones((1, 1, H, W), dtype=bool), pads, value=False)
        first_inside = xp.stack([inside[:, :, r, c] for r, c in taps]).argmax(axis=0)
        first = xp.where(stacked.max(axis=0) == -np.inf, first_inside, first)
        dxp = xp.zeros((N, C, H + pads[0] + pads[1], W + pads[2] + pads[3]),
                       dtype=grad_output.dtype)
        for t, (r, c) in enumerate(taps):
            dxp[:, :, r, c] += xp.where(first == t, grad_output, 0)
        return xp.ascontiguousarray(dxp[:, :, pads[0]:pads[0] + H, pads[2]:pads[2] + W])

    def _divisor(self, hw: Sequence[int], out: Sequence[int], kernel: Pair, stride: Pair,
                 padding: Pair, count_include_pad: bool, dtype: Any) -> Any:
        """Each output's divisor by PyTorch's rule (1 where the window is empty)."""
        counts = []
        for n, o, k, s, p in zip(hw, out, kernel, stride, padding):
            axis = []
            for first, stop, length in _avg_windows(n, o, k, s, p):
                if stop <= first:
                    axis.append(1)  # an empty window sums to zero whatever it is divided by
                else:
                    axis.append(length if count_include_pad else stop - first)
            counts.append(axis)
        return self.xp.asarray(np.outer(counts[0], counts[1]).astype(dtype))

    def avg_pool2d(self, x: Any, kernel: Pair, stride: Pair, padding: Pair, ceil_mode: bool,
                   count_include_pad: bool) -> Any:
        out, pads = self._pool_geometry(x.shape[2:], kernel, stride, padding, (1, 1), ceil_mode)
        xpad = self._pad(x, pads)
        total = self.xp.zeros(x.shape[:2] + out, dtype=x.dtype)
        for r, c in _taps(kernel, (1, 1), stride, out):
            total += xpad[:, :, r, c]
        return total / self._divisor(x.shape[2:], out, kernel, stride, padding,
                                     count_include_pad, x.dtype)

    def avg_pool2d_grad(self, grad_output: Any, input_shape: Shape4, kernel: Pair, stride: Pair,
                        padding: Pair, ceil_mode: bool, count_include_pad: bool) -> Any:
        xp = self.xp
        N, C, H, W = input_shape
        out, pads = self._pool_geometry((H, W), kernel, stride, padding, (1, 1), ceil_mode)
        share = grad_output / self._divisor((H, W), out, kernel, stride, padding,
                                            count_include_pad, grad_output.dtype)
        dxp = xp.zeros((N, C, H + pads[0] + pads[1], W + pads[2] + pads[3]),
                       dtype=grad_output.dtype)
        for r, c in _taps(kernel, (1, 1), stride, out):
            dxp[:, :, r, c] += share
        return xp.ascontiguousarray(dxp[:, :, pads[0]:pads[0] + H, pads[2]:pads[2] + W])


_TILE = 16  # threads per block side, and output pixels per tile side, of both kernels
_CHANNEL_BLOCK = 8  # output channels a conv2d_direct thread accumulates (its template OB)
_SHARED_LIMIT = 48 * 1024  # bytes of dynamic shared memory a launch may ask without opting in
_GRID_X_LIMIT = 2**31 - 1  # CUDA's limits on gridDim.x, and on gridDim.y and .z
_GRID_YZ_LIMIT = 65535

_POOL_THREADS = 256  # threads per block of the pooling kernels (1-D, grid-stride loops)
_POOL_MAX_BLOCKS = 32 * 1024  # enough to fill any GPU; larger arrays loop within a thread

# Each kernel: the source beside this file that defines it, and its template instance
# for the element type {T}. The kernels of one source are compiled as one module.
_KERNELS = {
    "corr2d_tiled": ("_corr2d_tiled.cu", "corr2d_tiled<{T}>"),
    "conv2d_direct": ("_conv2d_direct.cu", f"conv2d_direct<{{T}}, {_CHANNEL_BLOCK}>"),
    "max_pool2d": ("_pool2d.cu", "max_pool2d<{T}>"),
    "max_pool2d_grad": ("_pool2d.cu", "max_pool2d_grad<{T}>"),
    "avg_pool2d": ("_pool2d.cu", "avg_pool2d<{T}>"),
    "avg_pool2d_grad": ("_pool2d.cu", "avg_pool2d_grad<{T}>"),
}
_CTYPES: dict[np.dtype[Any], str] = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def _instances(source: str) -> dict[tuple[str, np.dtype[Any]], str]:
    """The name expressions compiled from ``source``: (kernel, dtype) -> template instance."""
    return {(kernel, dtype): template.format(T=ctype)
            for kernel, (file, template) in _KERNELS.items() if file == source
            for dtype, ctype in _CTYPES.items()}

# The direct kernel's bounds: at most this many output channels per group and
# products per output (Cg * kh * kw). Chosen from the arithmetic, not measured
# (no GPU has run this code yet): direct reads each input patch once per
# _CHANNEL_BLOCK output channels and needs no im2col buffer, which is what makes
# LeNet-like layers (1 or 6 input channels, 6 or 16 outputs) memory-bound under
# im2col; past a few dozen channels cuBLAS's GEMM wins. benchmarks/gpu.py
# --crossover times both on a GPU: set these from its table.
DIRECT_MAX_OUT_CHANNELS = 16
DIRECT_MAX_PRODUCTS = 512


def _patch_bytes(kernel: tuple[int, int], stride: tuple[int, int],
                 dilation: tuple[int, int], itemsize: int) -> int:
    """Shared memory for the input patch that a _TILE x _TILE tile of outputs reads.

    Both tiled kernels ask for this much (corr2d_tiled at stride and dilation 1).
    """
    rows, cols = ((_TILE - 1) * s + (k - 1) * d + 1
                  for k, s, d in zip(kernel, stride, dilation))
    return rows * cols * itemsize


def algorithm(x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: tuple[int, int],
              dilation: tuple[int, int], itemsize: int) -> str:
    """How the cupy backend runs ``conv2d``: ``"direct"`` (conv2d_direct.cu) or ``"im2col"``.

    The one place the choice is made. Direct needs few channels
    (``DIRECT_MAX_OUT_CHANNELS``, ``DIRECT_MAX_PRODUCTS``), an input patch that
    fits one launch's shared memory, and a grid CUDA can launch; everything
    else, and both gradients, run im2col + cuBLAS (``ArrayModuleOps``).

    >>> algorithm((256, 6, 14, 14), (16, 6, 5, 5), (1, 1), (1, 1), 4)
    'direct'
    >>> algorithm((64, 64, 56, 56), (64, 64, 3, 3), (1, 1), (1, 1), 4)
    'im2col'
    """
    O, Cg, kh, kw = w_shape
    groups = x_shape[1] // Cg
    Og = O // groups
    if Og > DIRECT_MAX_OUT_CHANNELS or Cg * kh * kw > DIRECT_MAX_PRODUCTS:
        return "im2col"
    if _patch_bytes((kh, kw), stride, dilation, itemsize) > _SHARED_LIMIT:
        return "im2col"
    if groups * -(-Og // _CHANNEL_BLOCK) > _GRID_YZ_LIMIT:
        return "im2col"
    return "direct"


class CupyBackend(ArrayModuleOps):
    """Every op on the GPU through CuPy: RawKernels, cuBLAS, the current stream.

    ``xp`` and ``raw_module`` default to CuPy and ``cupy.RawModule``. The
    tests pass NumPy and a CPU emulator of ``RawModule`` (tests/cuda_emulator.py),
    which runs this class's own code, the CUDA sources and their launch
    configuration included, on machines without a GPU.
    """

    name = "cupy"
    version = __version__
    api_version = API_VERSION
    priority = 100
    array_types = (cupy.ndarray,) if cupy is not None else ()

    def __init__(self, xp: Any = None, raw_module: Callable[..., Any] | None = None) -> None:
        super().__init__(cupy if xp is None else xp)
        self._raw_module: Callable[..., Any] | None = (
            raw_module if raw_module is not None else getattr(cupy, "RawModule", None))
        self._kernels: dict[tuple[str, np.dtype], Any] = {}  # compiled on first use

    # For convreg.testing: the suite's NumPy arrays in and out (never used by the ops).
    @staticmethod
    def asarray(a: Any) -> Any:
        return cupy.asarray(a)

    @staticmethod
    def asnumpy(a: Any) -> Any:
        return cupy.asnumpy(a)

    def available(self) -> tuple[bool, str]:
        if cupy is None:
            return False, (f"CuPy is not installed or failed to import ({_IMPORT_ERROR!r}); "
                           "pip install 'convreg[cupy]' (CUDA 12: cupy-cuda12x, 13: cupy-cuda13x)")
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDARuntimeError: no driver, driver too old, ...
            return False, f"the CUDA driver did not answer: {exc}"
        if count == 0:
            return False, "CuPy is installed but no CUDA device is visible"
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return True, f"CuPy {cupy.__version__} on {name} ({count} device(s))"

    def _kernel(self, name: str, dtype: np.dtype) -> Any:
        """The compiled kernel ``name`` (a key of ``_KERNELS``) for ``dtype``.

        One module per source holds the float and the double instance of each
        of its kernels; it is compiled on first use (CuPy caches the binary on
        disk as well).
        """
        try:
            return self._kernels[name, dtype]
        except KeyError:
            pass
        if self._raw_module is None:
            raise RuntimeError("the cupy backend needs CuPy's RawModule; is CuPy installed?")
        source = _KERNELS[name][0]
        instances = _instances(source)
        module = self._raw_module(
            code=pathlib.Path(__file__).with_name(source).read_text(), options=("-std=c++17",),
            name_expressions=tuple(instances.values()))
        for key, instance in instances.items():
            self._kernels[key] = module.get_function(instance)
        return self._kernels[name, dtype]

    def _valid_corr2d(self, X: Any, K: Any, pads: tuple[int, int, int, int]) -> Any:
        xp = self.xp
        kh, kw = K.shape
        shared = _patch_bytes((kh, kw), (1, 1), (1, 1), X.dtype.itemsize)
        if shared > _SHARED_LIMIT:  # a kernel too large for one tile: the generic path
            return super()._valid_corr2d(X, K, pads)
        pt, pb, pl, pr = pads
        Xp = xp.ascontiguousarray(xp.pad(X, ((pt, pb), (pl, pr)))) if any(pads) else X
        H, W = Xp.shape
        oh, ow = H - kh + 1, W - kw + 1
        Y = xp.empty((oh, ow), dtype=X.dtype)
        if Y.size == 0:
            return Y
        grid = ((ow + _TILE - 1) // _TILE, (oh + _TILE - 1) // _TILE)
        if grid[1] > _GRID_YZ_LIMIT:  # over a million rows: the generic path
            return super()._valid_corr2d(X, K, pads)
        self._kernel("corr2d_tiled", X.dtype)(
            grid, (_TILE, _TILE), (Xp, K, Y, np.int64(H), np.int64(W), np.int32(kh),
                                   np.int32(kw), np.int64(oh), np.int64(ow)),
            shared_mem=shared)
        return Y

    def conv2d(self, x: Any, weight: Any, bias: Any, stride: Pair, padding: Pads, dilation: Pair,
               groups: int) -> Any:
        if algorithm(x.shape, weight.shape, stride, dilation, x.dtype.itemsize) != "direct":
            return super().conv2d(x, weight, bias, stride, padding, dilation, groups)
        xp = self.xp
        N, C, H, W = x.shape
        O, Cg, kh, kw = weight.shape
        OH, OW = conv_output_hw((H, W), (kh, kw), stride, padding, dilation)
        tiles = -(-OH // _TILE) * -(-OW // _TILE)
        if tiles > _GRID_X_LIMIT:  # an image of over 740000^2 outputs: the generic path
            return super().conv2d(x, weight, bias, stride, padding, dilation, groups)
        y = xp.empty((N, O, OH, OW), dtype=x.dtype)
        if y.size == 0:
            return y
        b = bias if bias is not None else xp.zeros(O, dtype=x.dtype)
        blocks = groups * -(-(O // groups) // _CHANNEL_BLOCK)
        shared = _patch_bytes((kh, kw), stride, dilation, x.dtype.itemsize)
        kernel = self._kernel("conv2d_direct", x.dtype)
        for n0 in range(0, N, _GRID_YZ_LIMIT):  # gridDim.z is the image
            n1 = min(N, n0 + _GRID_YZ_LIMIT)
            kernel((tiles, blocks, n1 - n0), (_TILE, _TILE),
                   (x[n0:n1], weight, b, y[n0:n1], np.int32(C), np.int64(H), np.int64(W),
                    np.int32(O), np.int32(groups), np.int32(kh), np.int32(kw),
                    np.int32(stride[0]), np.int32(stride[1]), np.int32(padding[0]),
                    np.int32(padding[2]), np.int32(dilation[0]), np.int32(dilation[1]),
                    np.int64(OH), np.int64(OW)),
                   shared_mem=shared)
        return y

    # -- pooling: _pool2d.cu, one thread per element written --------------------------

    def _pooled(self, kernel: str, inputs: tuple[Any, ...], shape: tuple[int, ...],
                window: tuple[Any, ...]) -> Any:
        """A new ``shape`` array (N, C, h, w) written by ``kernel(*inputs, out, P, *window)``."""
        out = self.xp.empty(shape, dtype=inputs[0].dtype)
        if out.size:
            blocks = min(-(-out.size // _POOL_THREADS), _POOL_MAX_BLOCKS)
            self._kernel(kernel, out.dtype)((blocks,), (_POOL_THREADS,),
                                            (*inputs, out, np.int64(shape[0] * shape[1]), *window))
        return out

    @staticmethod
    def _window(hw: Sequence[int], out: Sequence[int], kernel: Pair, stride: Pair, padding: Pair,
                dilation: Pair) -> tuple[Any, ...]:
        """The kernels' CONVREG_WINDOW_PARAMETERS: H, W, OH, OW, then kh ... dw."""
        return (*(np.int64(n) for n in (*hw, *out)),
                *(np.int32(v) for v in (*kernel, *stride, *padding, *dilation)))

    def max_pool2d(self, x: Any, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
                   ceil_mode: bool) -> Any:
        out = pool_output_hw(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
        return self._pooled("max_pool2d", (x,), x.shape[:2] + out,
                            self._window(x.shape[2:], out, kernel, stride, padding, dilation))

    def max_pool2d_grad(self, grad_output: Any, x: Any, kernel: Pair, stride: Pair, padding: Pair,
                        dilation: Pair, ceil_mode: bool) -> Any:
        window = self._window(x.shape[2:], grad_output.shape[2:], kernel, stride, padding,
                              dilation)
        return self._pooled("max_pool2d_grad", (grad_output, x), x.shape, window)

    def avg_pool2d(self, x: Any, kernel: Pair, stride: Pair, padding: Pair, ceil_mode: bool,
                   count_include_pad: bool) -> Any:
        out = pool_output_hw(x.shape[2:], kernel, stride, padding, (1, 1), ceil_mode)
        divisor = self._divisor(x.shape[2:], out, kernel, stride, padding, count_include_pad,
                                x.dtype)
        return self._pooled("avg_pool2d", (x, divisor), x.shape[:2] + out,
                            self._window(x.shape[2:], out, kernel, stride, padding, (1, 1)))

    def avg_pool2d_grad(self, grad_output: Any, input_shape: Shape4, kernel: Pair, stride: Pair,
                        padding: Pair, ceil_mode: bool, count_include_pad: bool) -> Any:
        out = grad_output.shape[2:]
        divisor = self._divisor(input_shape[2:], out, kernel, stride, padding,
                                count_include_pad, grad_output.dtype)
        return self._pooled("avg_pool2d_grad", (grad_output, divisor), tuple(input_shape),
                            self._window(input_shape[2:], out, kernel, stride, padding, (1, 1)))


@hookimpl
def convreg_backends() -> list[CupyBackend]:
    return [CupyBackend()]
