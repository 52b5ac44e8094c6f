"""Front ends of the layer ops: ``conv2d`` and its three gradients.

Semantics are ``torch.nn.functional.conv2d`` and ``torch.nn.grad``: x is
``(N, C, H, W)`` (or unbatched ``(C, H, W)``), weight is
``(O, C / groups, kh, kw)``. Every argument is checked here once; the backend
receives 4-D C-contiguous arrays of one float dtype, ``stride`` and
``dilation`` as ``(h, w)``, ``padding`` as ``(top, bottom, left, right)`` and
``groups`` as an int. Its result is checked (:func:`convreg.registry.call`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from . import _dask, registry
from ._arrays import as_arrays, compute_dtype, contiguous
from ._validate import (
    Seen,
    _key,
    check_ndim,
    check_output,
    conv_padding,
    memoized,
    positive_int,
    positive_pair,
    shape_arg,
    window_fits,
)
from .shapes import conv_output_hw

__all__ = ["conv2d", "conv2d_grad_input", "conv2d_grad_weight", "conv2d_grad_bias"]

_X_LAYOUT = "(N, C, H, W) or unbatched (C, H, W)"
_W_LAYOUT = "(out_channels, in_channels / groups, kh, kw)"

# conv2d signatures validated before (the fast path for tiny calls): plain
# ndarrays passed as they are, by shape, strides and dtype, and the geometry
# as a typed key (_validate._key), so a hit is a call that validates alike.
_seen = Seen()


class _Problem(NamedTuple):
    """A checked convolution: shapes (always batched) and normalised geometry."""

    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    y_shape: tuple[int, int, int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    dilation: tuple[int, int]
    groups: int

    def geometry(self) -> tuple[Any, ...]:
        return (self.stride, self.padding, self.dilation, self.groups)


@memoized
def _problem(op: str, x_shape: Sequence[int], w_shape: Sequence[int], stride: Any,
             padding: Any, dilation: Any, groups: Any, dtype: Any) -> _Problem:
    x_shape = tuple(x_shape) if len(x_shape) == 4 else (1, *x_shape)
    N, C, H, W = x_shape
    O, Cg, kh, kw = w_shape
    if min(C, H, W) < 1 or min(w_shape) < 1 or N < 0:
        raise ValueError(f"{op}: input {x_shape} and weight {tuple(w_shape)} must not be empty")
    stride = positive_pair(stride, "stride")
    dilation = positive_pair(dilation, "dilation")
    groups = positive_int(groups, "groups")
    if C % groups or O % groups:
        raise ValueError(
            f"{op}: groups={groups} must divide both the input channels ({C}) and "
            f"the output channels ({O})"
        )
    if Cg * groups != C:
        raise ValueError(
            f"{op}: weight of shape {tuple(w_shape)} expects {Cg * groups} input "
            f"channel{'s' if Cg * groups != 1 else ''} "
            f"({Cg} per group x {groups} group{'s' if groups != 1 else ''}), but the input "
            f"has {C} (shape {x_shape})"
        )
    pads = conv_padding(padding, (kh, kw), stride, dilation)
    window_fits(op, (H, W), pads, (kh, kw), dilation)
    y_shape = (N, O, *conv_output_hw((H, W), (kh, kw), stride, pads, dilation))
    check_output(y_shape, dtype, op)
    return _Problem((N, C, H, W), (O, Cg, kh, kw), y_shape, stride, pads, dilation, groups)


def _grad_shape_matches(op: str, grad_output: Any, expected: tuple[int, ...], batched: bool) -> None:
    want = expected if batched else expected[1:]
    if tuple(grad_output.shape) != want:
        raise ValueError(
            f"{op}: grad_output has shape {tuple(grad_output.shape)}, but the forward "
            f"conv2d with these arguments produces {want}"
        )


def conv2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1, *, backend: str | None = None) -> Any:
    """2-D convolution layer op (cross-correlation), as ``torch.nn.functional.conv2d``.

    ``y[n, o, i, j] = bias[o] + sum_{c, a, b} x[n, g*C/groups + c, i*sh + a*dh - pt,
    j*sw + b*dw - pl] * weight[o, c, a, b]`` where ``g`` is ``o``'s group and
    ``x`` is zero outside its bounds.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W) or (C, H, W)
    weight : array_like, shape (O, C / groups, kh, kw)
    bias : array_like, shape (O,), optional
    stride, dilation : int or (int, int)
        Positive.
    padding : int, (int, int), "valid" or "same"
        Zeros added on both sides. ``"same"`` keeps the size (stride 1 only),
        putting the odd extra zero at the bottom/right as PyTorch does.
    groups : int
        Split channels into ``groups`` independent convolutions.
    backend : str, optional
        Run on this backend instead of the current selection.

    Returns
    -------
    ndarray, shape (N, O, H_out, W_out) or (O, H_out, W_out)
        ``H_out = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1``, see
        :func:`convreg.output_shape`. A 4-D dask array ``x`` gives a lazy dask
        array: chunks along the batch, and at stride 1 along height and
        width too (with a halo); other spatial chunkings are merged first.

    Examples
    --------
    Two input channels, summed (the chapter's multi-channel example):

    >>> import numpy as np, convreg
    >>> x = np.array([np.arange(9.0).reshape(3, 3), np.arange(1.0, 10.0).reshape(3, 3)])
    >>> w = np.array([[[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]]])
    >>> convreg.conv2d(x, w)
    array([[[ 56.,  72.],
            [104., 120.]]])
    >>> convreg.conv2d(np.ones((1, 1, 8, 8)), np.ones((1, 1, 3, 3)), padding=1, stride=2).shape
    (1, 1, 4, 4)
    """
    if type(x) is np.ndarray and type(weight) is np.ndarray and (bias is None
                                                             or type(bias) is np.ndarray):
        key = (x.shape, x.strides, x.dtype, weight.shape, weight.strides, weight.dtype,
               None if bias is None else (bias.shape, bias.strides, bias.dtype),
               _key((stride, padding, dilation, groups)))
        p = _seen.get(key)
        if p is not None:  # validated before: straight to the backend
            y = registry.call("conv2d", backend, np.ndarray, p.y_shape, x.dtype,
                              x if x.ndim == 4 else x.reshape(p.x_shape), weight, bias,
                              *p.geometry())
            return y if x.ndim == 4 else y[0]
    else:
        key = None
        if _dask.is_dask(x):
            return _dask.conv2d(x, weight, bias, stride, padding, dilation, groups,
                                backend=backend)
    given = (x, weight, bias)
    if bias is None:
        x, weight = as_arrays(x=x, weight=weight)
    else:
        x, weight, bias = as_arrays(x=x, weight=weight, bias=bias)
    dtype = compute_dtype(x=x, weight=weight, bias=bias)
    check_ndim(x, "x", (3, 4), _X_LAYOUT)
    check_ndim(weight, "weight", (4,), _W_LAYOUT)
    p = _problem("conv2d", x.shape, weight.shape, stride, padding, dilation, groups, dtype)
    if bias is not None:
        if bias.shape != (p.w_shape[0],):
            raise ValueError(
                f"bias must have shape ({p.w_shape[0]},), one value per output channel; "
                f"got {bias.shape}"
            )
        bias = contiguous(bias, dtype)
    xc, weight = contiguous(x, dtype), contiguous(weight, dtype)
    if key is not None and xc is given[0] and weight is given[1] and bias is given[2]:
        # valid, and nothing needed converting: the fast path takes it next time
        _seen.add(key, p)
    x4 = xc.reshape(p.x_shape)
    y = registry.call("conv2d", backend, type(x4), p.y_shape, dtype, x4, weight, bias,
                      *p.geometry())
    return y if x.ndim == 4 else y[0]


def conv2d_grad_input(grad_output: Any, weight: Any, input_shape: Sequence[int], stride: Any = 1,
                      padding: Any = 0, dilation: Any = 1, groups: int = 1, *,
                      backend: str | None = None) -> Any:
    """Gradient of :func:`conv2d` with respect to its input, as ``torch.nn.grad.conv2d_input``.

    Parameters
    ----------
    grad_output : array_like, shape (N, O, H_out, W_out) or (O, H_out, W_out)
        Must be exactly the shape the forward call produces.
    weight : array_like, shape (O, C / groups, kh, kw)
    input_shape : sequence of int
        ``(N, C, H, W)`` or ``(C, H, W)``, the forward input's shape.
    stride, padding, dilation, groups
        As given to :func:`conv2d`.

    Returns
    -------
    ndarray of shape ``input_shape``
        ``dx = sum over windows of grad_output * weight`` (the transposed
        convolution); input pixels no window covers get zero.

    Examples
    --------
    >>> import numpy as np, convreg
    >>> convreg.conv2d_grad_input(np.ones((1, 1, 1, 2)), np.array([[[[1.0, -1.0]]]]), (1, 1, 1, 3))
    array([[[[ 1.,  0., -1.]]]])
    """
    if _dask.is_dask(grad_output):
        return _dask.conv2d_grad_input(grad_output, weight, input_shape, stride, padding,
                                       dilation, groups, backend=backend)
    grad_output, weight = as_arrays(grad_output=grad_output, weight=weight)
    dtype = compute_dtype(grad_output=grad_output, weight=weight)
    input_shape = shape_arg(input_shape, "input_shape", (3, 4))
    check_ndim(grad_output, "grad_output", (len(input_shape),), "matching input_shape")
    check_ndim(weight, "weight", (4,), _W_LAYOUT)
    p = _problem("conv2d_grad_input", input_shape, weight.shape, stride, padding, dilation,
                 groups, dtype)
    check_output(p.x_shape, dtype, "conv2d_grad_input")
    _grad_shape_matches("conv2d_grad_input", grad_output, p.y_shape, len(input_shape) == 4)
    g4 = contiguous(grad_output, dtype).reshape(p.y_shape)
    dx = registry.call("conv2d_grad_input", backend, type(g4), p.x_shape, dtype, g4,
                       contiguous(weight, dtype), p.x_shape, *p.geometry())
    return dx if len(input_shape) == 4 else dx[0]


def conv2d_grad_weight(x: Any, grad_output: Any, weight_shape: Sequence[int], stride: Any = 1,
                       padding: Any = 0, dilation: Any = 1, groups: int = 1, *,
                       backend: str | None = None) -> Any:
    """Gradient of :func:`conv2d` with respect to the weight, as ``torch.nn.grad.conv2d_weight``.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W) or (C, H, W)
        The forward input.
    grad_output : array_like
        Exactly the shape the forward call produces.
    weight_shape : sequence of 4 int
        ``(O, C / groups, kh, kw)``.
    stride, padding, dilation, groups
        As given to :func:`conv2d`.

    Returns
    -------
    ndarray of shape ``weight_shape``
        ``dw[o, c, a, b] = sum_{n, i, j} grad_output[n, o, i, j] * x_window[n, c, a, b]``.

    Examples
    --------
    Learning the edge kernel: the gradient of the squared error pushes
    ``[[0, 0]]`` toward ``[[1, -1]]``.

    >>> import numpy as np, convreg
    >>> x = np.array([[[[1.0, 1.0, 0.0]]]]); y = np.array([[[[0.0, 1.0]]]])
    >>> w = np.zeros((1, 1, 1, 2))
    >>> convreg.conv2d_grad_weight(x, 2 * (convreg.conv2d(x, w) - y), w.shape)
    array([[[[-2.,  0.]]]])
    """
    if _dask.is_dask(x, grad_output):
        return _dask.conv2d_grad_weight(x, grad_output, weight_shape, stride, padding, dilation,
                                        groups, backend=backend)
    x, grad_output = as_arrays(x=x, grad_output=grad_output)
    dtype = compute_dtype(x=x, grad_output=grad_output)
    weight_shape = shape_arg(weight_shape, "weight_shape", (4,))
    check_ndim(x, "x", (3, 4), _X_LAYOUT)
    check_ndim(grad_output, "grad_output", (x.ndim,), "matching x")
    p = _problem("conv2d_grad_weight", x.shape, weight_shape, stride, padding, dilation,
                 groups, dtype)
    _grad_shape_matches("conv2d_grad_weight", grad_output, p.y_shape, x.ndim == 4)
    x4 = contiguous(x, dtype).reshape(p.x_shape)
    g4 = contiguous(grad_output, dtype).reshape(p.y_shape)
    return registry.call("conv2d_grad_weight", backend, type(x4), p.w_shape, dtype, x4, g4,
                         p.w_shape, *p.geometry())


def conv2d_grad_bias(grad_output: Any) -> Any:
    """Gradient of :func:`conv2d` with respect to the bias: ``grad_output`` summed over N, H, W.

    Examples
    --------
    >>> import numpy as np, convreg
    >>> convreg.conv2d_grad_bias(np.ones((2, 3, 4, 5)))
    array([40., 40., 40.])
    """
    if not _dask.is_dask(grad_output):  # a dask array sums lazily, as it is
        (grad_output,) = as_arrays(grad_output=grad_output)
    dtype = compute_dtype(grad_output=getattr(grad_output, "_meta", grad_output))
    check_ndim(grad_output, "grad_output", (3, 4), "(N, O, H_out, W_out) or (O, H_out, W_out)")
    axes = (0, 2, 3) if grad_output.ndim == 4 else (1, 2)
    return grad_output.astype(dtype).sum(axis=axes)
