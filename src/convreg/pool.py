"""Front ends of pooling and its gradients, as ``torch.nn.functional``.

Pooling works per channel: x is ``(N, C, H, W)`` or ``(C, H, W)``. The
backend receives 4-D C-contiguous arrays and ``kernel_size``, ``stride``,
``padding`` and ``dilation`` as ``(h, w)`` pairs (padding is symmetric),
and its result is checked (:func:`convreg.registry.call`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from . import _dask, registry
from ._arrays import as_arrays, compute_dtype, contiguous
from ._validate import (
    check_ndim,
    check_output,
    flag,
    memoized,
    nonnegative_pair,
    positive_pair,
    shape_arg,
)
from .shapes import pool_output_hw

__all__ = ["max_pool2d", "avg_pool2d", "max_pool2d_grad", "avg_pool2d_grad"]

_X_LAYOUT = "(N, C, H, W) or unbatched (C, H, W)"


class _Window(NamedTuple):
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    ceil_mode: bool
    x_shape: tuple[int, int, int, int]
    y_shape: tuple[int, int, int, int]


def _window(op: str, x_shape: tuple[int, ...], kernel_size: Any, stride: Any, padding: Any,
            dilation: Any, ceil_mode: Any, dtype: Any) -> _Window:
    """The checked pooling window; ``ceil_mode`` is checked here, before the cache.

    The memoized part takes it as 0 or 1: a bool would hash like the int
    and so need a typed cache key, which costs more than this check.
    """
    return _window_of(op, x_shape, kernel_size, stride, padding, dilation,
                      int(flag(ceil_mode, "ceil_mode")), dtype)


@memoized
def _window_of(op: str, x_shape: tuple[int, ...], kernel_size: Any, stride: Any, padding: Any,
               dilation: Any, ceil_mode: int, dtype: Any) -> _Window:
    x_shape = tuple(x_shape) if len(x_shape) == 4 else (1, *x_shape)
    N, C, H, W = x_shape
    if min(C, H, W) < 1:
        raise ValueError(f"{op}: the input of shape {x_shape} must not be empty")
    kernel = positive_pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else positive_pair(stride, "stride")
    pads = nonnegative_pair(padding, "padding")
    dil = positive_pair(dilation, "dilation")
    if pads[0] > kernel[0] // 2 or pads[1] > kernel[1] // 2:
        raise ValueError(
            f"{op}: padding {pads} must be at most half the kernel size {kernel} "
            "(PyTorch's rule: otherwise a window could hold only padding)"
        )
    ceil = bool(ceil_mode)
    hw = pool_output_hw((H, W), kernel, stride, pads, dil, ceil)
    y_shape = (N, C, *hw)
    if min(hw) < 1:
        raise ValueError(
            f"{op}: the output would have shape {y_shape}: the window {kernel} "
            f"(dilation {dil}) does not fit the input {(H, W)} with padding {pads}"
        )
    check_output(y_shape, dtype, op)
    return _Window(kernel, stride, pads, dil, ceil, (N, C, H, W), y_shape)


def _input(x: Any) -> tuple[Any, Any]:
    (x,) = as_arrays(x=x)
    dtype = compute_dtype(x=x)
    check_ndim(x, "x", (3, 4), _X_LAYOUT)
    return x, dtype


def _grad_output(op: str, grad_output: Any, win: _Window, batched: bool, dtype: Any) -> Any:
    want = win.y_shape if batched else win.y_shape[1:]
    if tuple(grad_output.shape) != want:
        raise ValueError(
            f"{op}: grad_output has shape {tuple(grad_output.shape)}, but the forward "
            f"pooling with these arguments produces {want}"
        )
    return contiguous(grad_output, dtype).reshape(win.y_shape)


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, *, backend: str | None = None) -> Any:
    """Maximum over each window, per channel, as ``torch.nn.functional.max_pool2d``.

    Padding is implicit negative infinity (it never wins); NaN propagates.
    ``stride`` defaults to ``kernel_size``; ``padding`` may be at most half
    the kernel size.

    Examples
    --------
    >>> import numpy as np, convreg
    >>> X = np.arange(9.0).reshape(1, 3, 3)
    >>> convreg.max_pool2d(X, 2, stride=1)
    array([[[4., 5.],
            [7., 8.]]])
    >>> convreg.max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 3, padding=1, stride=2)
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    if _dask.is_dask(x):
        return _dask.pool("max_pool2d", x, dict(kernel_size=kernel_size, stride=stride,
                                                padding=padding, dilation=dilation,
                                                ceil_mode=ceil_mode), backend)
    x, dtype = _input(x)
    win = _window("max_pool2d", x.shape, kernel_size, stride, padding, dilation, ceil_mode, dtype)
    x4 = contiguous(x, dtype).reshape(win.x_shape)
    y = registry.call("max_pool2d", backend, type(x4), win.y_shape, dtype, x4, win.kernel,
                      win.stride, win.padding, win.dilation, win.ceil_mode)
    return y if x.ndim == 4 else y[0]


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True, *,
               backend: str | None = None) -> Any:
    """Mean over each window, per channel, as ``torch.nn.functional.avg_pool2d``.

    With ``count_include_pad`` the divisor counts the zero padding inside the
    window (but not the part of a ``ceil_mode`` window beyond the padding);
    without it, only the input elements.

    Examples
    --------
    >>> import numpy as np, convreg
    >>> convreg.avg_pool2d(np.arange(9.0).reshape(1, 3, 3), 2, stride=1)
    array([[[2., 3.],
            [5., 6.]]])
    """
    if _dask.is_dask(x):
        return _dask.pool("avg_pool2d", x, dict(kernel_size=kernel_size, stride=stride,
                                                padding=padding, ceil_mode=ceil_mode,
                                                count_include_pad=count_include_pad), backend)
    x, dtype = _input(x)
    win = _window("avg_pool2d", x.shape, kernel_size, stride, padding, 1, ceil_mode, dtype)
    x4 = contiguous(x, dtype).reshape(win.x_shape)
    y = registry.call("avg_pool2d", backend, type(x4), win.y_shape, dtype, x4, win.kernel,
                      win.stride, win.padding, win.ceil_mode,
                      flag(count_include_pad, "count_include_pad"))
    return y if x.ndim == 4 else y[0]


def max_pool2d_grad(grad_output: Any, x: Any, kernel_size: Any, stride: Any = None,
                    padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False, *,
                    backend: str | None = None) -> Any:
    """Gradient of :func:`max_pool2d` with respect to ``x``.

    Each window's gradient goes to its first maximum in row-major order (the
    first NaN if there is one), as PyTorch routes it; overlapping windows add.

    Examples
    --------
    >>> import numpy as np, convreg
    >>> convreg.max_pool2d_grad(np.ones((1, 1, 1)), np.array([[[3.0, 3.0, 1.0]]]), (1, 3))
    array([[[1., 0., 0.]]])
    """
    if _dask.is_dask(grad_output, x):
        return _dask.pool_grad("max_pool2d_grad", grad_output, x,
                               dict(kernel_size=kernel_size, stride=stride, padding=padding,
                                    dilation=dilation, ceil_mode=ceil_mode), backend)
    grad_output, x = as_arrays(grad_output=grad_output, x=x)
    dtype = compute_dtype(grad_output=grad_output, x=x)
    check_ndim(x, "x", (3, 4), _X_LAYOUT)
    check_ndim(grad_output, "grad_output", (x.ndim,), "matching x")
    win = _window("max_pool2d_grad", x.shape, kernel_size, stride, padding, dilation,
                  ceil_mode, dtype)
    g4 = _grad_output("max_pool2d_grad", grad_output, win, x.ndim == 4, dtype)
    x4 = contiguous(x, dtype).reshape(win.x_shape)
    dx = registry.call("max_pool2d_grad", backend, type(x4), win.x_shape, dtype, g4, x4,
                       win.kernel, win.stride, win.padding, win.dilation, win.ceil_mode)
    return dx if x.ndim == 4 else dx[0]


def avg_pool2d_grad(grad_output: Any, input_shape: Any, kernel_size: Any, stride: Any = None,
                    padding: Any = 0, ceil_mode: bool = False, count_include_pad: bool = True,
                    *, backend: str | None = None) -> Any:
    """Gradient of :func:`avg_pool2d` with respect to its input of shape ``input_shape``.

    Examples
    --------
    >>> import numpy as np, convreg
    >>> convreg.avg_pool2d_grad(np.ones((1, 1, 1)), (1, 2, 2), 2)
    array([[[0.25, 0.25],
            [0.25, 0.25]]])
    """
    if _dask.is_dask(grad_output):
        return _dask.pool_grad("avg_pool2d_grad", grad_output, input_shape,
                               dict(kernel_size=kernel_size, stride=stride, padding=padding,
                                    ceil_mode=ceil_mode, count_include_pad=count_include_pad),
                               backend)
    (grad_output,) = as_arrays(grad_output=grad_output)
    dtype = compute_dtype(grad_output=grad_output)
    input_shape = shape_arg(input_shape, "input_shape", (3, 4))
    check_ndim(grad_output, "grad_output", (len(input_shape),), "matching input_shape")
    win = _window("avg_pool2d_grad", input_shape, kernel_size, stride, padding, 1, ceil_mode,
                  dtype)
    check_output(win.x_shape, dtype, "avg_pool2d_grad")
    g4 = _grad_output("avg_pool2d_grad", grad_output, win, len(input_shape) == 4, dtype)
    dx = registry.call("avg_pool2d_grad", backend, type(g4), win.x_shape, dtype, g4,
                       win.x_shape, win.kernel, win.stride, win.padding, win.ceil_mode,
                       flag(count_include_pad, "count_include_pad"))
    return dx if len(input_shape) == 4 else dx[0]
