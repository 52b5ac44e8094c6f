"""convreg's ops inside PyTorch: custom ops with autograd, and a ``Conv2d`` module.

Each op is registered with ``torch.library.custom_op`` under the ``convreg``
namespace, with a fake (meta) kernel for its output shape and, through
``register_autograd``, a backward made of convreg's own gradient ops. So a
convreg backend runs inside a torch model, ``loss.backward()`` gives
convreg's gradients, and ``torch.compile`` sees each op as one opaque node.

Tensors cross the boundary without a copy where the memory can be shared:
a CPU tensor is read through ``Tensor.numpy()`` and the result comes back
through ``torch.from_numpy``. A CUDA tensor goes to a GPU backend through
DLPack (``cupy.from_dlpack``; convreg's ``cupy`` backend) and its result
comes back the same way; without CuPy it is refused with a clear error,
never copied to the host behind your back.

Install with ``pip install "convreg[torch]"``.

>>> import torch, convreg.torch as ct
>>> x = torch.arange(9.0).reshape(1, 1, 3, 3)
>>> w = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]], requires_grad=True)
>>> y = ct.conv2d(x, w)
>>> y.tolist()
[[[[19.0, 25.0], [37.0, 43.0]]]]
>>> y.sum().backward()
>>> w.grad
tensor([[[[ 8., 12.],
          [20., 24.]]]])
"""

# Every custom op below is registered with an explicit schema: torch.library
# then reads no annotations from the op functions, which stay unannotated.

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

import convreg

from .shapes import conv_output_hw, corr2d_padding, pool_output_hw

__all__ = ["conv2d", "corr2d", "max_pool2d", "avg_pool2d", "Conv2d"]

_Size = int | Sequence[int]
_ModulePair = int | tuple[int, int]  # torch.nn.Conv2d's own argument types


# -- the boundary: tensors to arrays and back ---------------------------------


def _array(t: torch.Tensor) -> Any:
    """``t``'s memory as an array of the module that owns it: NumPy on the CPU, CuPy on CUDA."""
    t = t.detach()
    if t.device.type == "cpu":
        return t.resolve_conj().resolve_neg().numpy()
    if t.device.type == "cuda":
        try:
            import cupy
        except ImportError:
            raise TypeError(
                "convreg.torch: a CUDA tensor needs a GPU backend, and CuPy is not installed; "
                'install it with pip install "convreg[cupy]", or move the tensor with .cpu()'
            ) from None
        return cupy.from_dlpack(t)
    raise TypeError(f"convreg.torch: tensors on device {t.device} are not supported; "
                    "use CPU tensors, or CUDA tensors with CuPy installed")


def _tensor(a: Any) -> torch.Tensor:
    """The result array as a tensor sharing its memory."""
    if isinstance(a, np.ndarray):
        return torch.from_numpy(a if a.flags.writeable else a.copy())
    return torch.utils.dlpack.from_dlpack(a)


def _floating(name: str, *tensors: torch.Tensor | None) -> None:
    """Refuse what torch's own ops refuse: non-float tensors, mixed dtypes and devices."""
    present = [t for t in tensors if t is not None]
    for t in present:
        if t.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"convreg.torch.{name}: tensors must be float32 or float64; "
                            f"got {t.dtype}")
    if len({t.dtype for t in present}) > 1 or len({t.device for t in present}) > 1:
        raise TypeError(
            f"convreg.torch.{name}: all tensors must share one dtype and device; got "
            + ", ".join(f"{t.dtype} on {t.device}" for t in present))


def _pair(v: _Size, name: str) -> list[int]:
    if isinstance(v, int):
        return [int(v), int(v)]
    values = list(v)
    if len(values) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints; got {v!r}")
    return [int(a) for a in values]


# -- conv2d ---------------------------------------------------------------------


def _padding(padding: _Size | str) -> tuple[list[int], bool]:
    """``(pair, same)``: the custom op's encoding of torch's int, pair or string padding."""
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"padding string must be 'valid' or 'same'; got {padding!r}")
        return [0, 0], padding == "same"
    return _pair(padding, "padding"), False


def _conv_padding(padding: Sequence[int], same: bool) -> Any:
    return "same" if same else tuple(padding)


@torch.library.custom_op(
    "convreg::conv2d", mutates_args=(),
    schema="(Tensor x, Tensor weight, Tensor? bias, int[] stride, int[] padding, bool same, "
           "int[] dilation, int groups, str? backend) -> Tensor")
def _conv2d(x, weight, bias, stride, padding, same, dilation, groups, backend):  # type: ignore[no-untyped-def]
    b = None if bias is None else _array(bias)
    return _tensor(convreg.conv2d(_array(x), _array(weight), b, tuple(stride),
                                  _conv_padding(padding, same), tuple(dilation), groups,
                                  backend=backend))


def _conv2d_out_hw(x_hw: Sequence[int], w_hw: Sequence[int], stride: Sequence[int],
                   padding: Sequence[int], same: bool, dilation: Sequence[int]) -> tuple[int, int]:
    if same:
        return (int(x_hw[0]), int(x_hw[1]))
    pads = (padding[0], padding[0], padding[1], padding[1])
    return conv_output_hw(x_hw, w_hw, stride, pads, dilation)


@_conv2d.register_fake
def _(x, weight, bias, stride, padding, same, dilation, groups, backend):  # type: ignore[no-untyped-def]
    hw = _conv2d_out_hw(x.shape[2:], weight.shape[2:], stride, padding, same, dilation)
    return x.new_empty((x.shape[0], weight.shape[0], *hw))


def _conv2d_grad_op(name: str, front_end: Any, first: str, second: str, shape: str) -> Any:
    """The custom op of one of conv2d's gradients: two tensors, the shape of the result
    (the forward pass's input or weight) and the forward pass's geometry."""

    def compute(a, b, shape_, stride, padding, same, dilation, groups, backend):  # type: ignore[no-untyped-def]
        return _tensor(front_end(_array(a), _array(b), tuple(shape_), tuple(stride),
                                 _conv_padding(padding, same), tuple(dilation), groups,
                                 backend=backend))

    op = torch.library.custom_op(
        f"convreg::{name}", compute, mutates_args=(),
        schema=f"(Tensor {first}, Tensor {second}, int[] {shape}, int[] stride, int[] padding, "
               "bool same, int[] dilation, int groups, str? backend) -> Tensor")
    op.register_fake(lambda a, b, shape_, *geometry: a.new_empty(tuple(shape_)))
    return op


_conv2d_grad_input = _conv2d_grad_op("conv2d_grad_input", convreg.conv2d_grad_input,
                                     "grad_output", "weight", "input_shape")
_conv2d_grad_weight = _conv2d_grad_op("conv2d_grad_weight", convreg.conv2d_grad_weight,
                                      "x", "grad_output", "weight_shape")


def _conv2d_setup(ctx, inputs, output):  # type: ignore[no-untyped-def]
    x, weight, bias, *geometry = inputs
    ctx.save_for_backward(x, weight)
    ctx.has_bias = bias is not None
    ctx.geometry = geometry  # stride, padding, same, dilation, groups, backend


def _conv2d_backward(ctx, grad):  # type: ignore[no-untyped-def]
    x, weight = ctx.saved_tensors
    grad = grad.contiguous()
    dx = dw = db = None
    if ctx.needs_input_grad[0]:
        dx = _conv2d_grad_input(grad, weight, list(x.shape), *ctx.geometry)
    if ctx.needs_input_grad[1]:
        dw = _conv2d_grad_weight(x, grad, list(weight.shape), *ctx.geometry)
    if ctx.has_bias and ctx.needs_input_grad[2]:
        db = grad.sum(dim=(0, 2, 3))
    return dx, dw, db, None, None, None, None, None, None


_conv2d.register_autograd(_conv2d_backward, setup_context=_conv2d_setup)


def conv2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride: _Size = 1, padding: _Size | str = 0, dilation: _Size = 1, groups: int = 1,
           *, backend: str | None = None) -> torch.Tensor:
    """``torch.nn.functional.conv2d`` computed by a convreg backend, differentiable.

    Parameters
    ----------
    input : Tensor, shape (N, C, H, W) or (C, H, W)
    weight : Tensor, shape (O, C / groups, kh, kw)
    bias : Tensor, shape (O,), optional
    stride, dilation : int or (int, int)
    padding : int, (int, int), "valid" or "same"
    groups : int
    backend : str, optional
        The convreg backend (``"cython"``, ``"reference"``, a plugin's name);
        None follows convreg's current selection.

    Returns
    -------
    Tensor
        As ``F.conv2d`` returns it; its gradients (input, weight, bias) are
        convreg's ``conv2d_grad_input`` and ``conv2d_grad_weight`` on the
        same backend.

    Examples
    --------
    >>> import torch, convreg.torch as ct
    >>> x, w = torch.ones(1, 2, 5, 5), torch.ones(3, 2, 3, 3)
    >>> ct.conv2d(x, w, padding=1).shape
    torch.Size([1, 3, 5, 5])
    """
    _floating("conv2d", input, weight, bias)
    if input.dim() == 3:
        return conv2d(input[None], weight, bias, stride, padding, dilation, groups,
                      backend=backend)[0]
    if input.dim() != 4 or weight.dim() != 4:
        raise ValueError(f"convreg.torch.conv2d: input must be 3-D or 4-D and weight 4-D; got "
                         f"shapes {tuple(input.shape)} and {tuple(weight.shape)}")
    pair, same = _padding(padding)
    return _conv2d(input, weight, bias, _pair(stride, "stride"), pair, same,  # type: ignore[no-any-return]
                   _pair(dilation, "dilation"), groups, backend)


# -- corr2d -------------------------------------------------------------------


def _single_image_op(name: str, front_end: Any) -> Any:
    """The custom op of ``corr2d`` or ``convolve2d``: one 2-D image, one kernel, a mode."""

    def compute(X, K, mode, backend):  # type: ignore[no-untyped-def]
        return _tensor(front_end(_array(X), _array(K), mode=mode, backend=backend))

    def fake(X, K, mode, backend):  # type: ignore[no-untyped-def]
        top, bottom, left, right = corr2d_padding(tuple(K.shape), mode)
        return X.new_empty((X.shape[0] + top + bottom - K.shape[0] + 1,
                            X.shape[1] + left + right - K.shape[1] + 1))

    op = torch.library.custom_op(f"convreg::{name}", compute, mutates_args=(),
                                 schema="(Tensor X, Tensor K, str mode, str? backend) -> Tensor")
    op.register_fake(fake)
    return op


_corr2d = _single_image_op("corr2d", convreg.corr2d)
# convolve2d is corr2d's backward (the input gradient); it needs no autograd of its own.
_convolve2d = _single_image_op("convolve2d", convreg.convolve2d)


def _corr2d_setup(ctx, inputs, output):  # type: ignore[no-untyped-def]
    X, K, ctx.mode, ctx.backend = inputs
    ctx.save_for_backward(X, K)


def _corr2d_backward(ctx, grad):  # type: ignore[no-untyped-def]
    # Y = corr2d(Xp, K, "valid") over X zero-padded by (top, bottom, left, right):
    # dXp = convolve2d(G, K, "full"), of which X's part is dX; dK = corr2d(Xp, G, "valid").
    X, K = ctx.saved_tensors
    top, bottom, left, right = corr2d_padding(tuple(K.shape), ctx.mode)
    grad = grad.contiguous()
    dX = dK = None
    if ctx.needs_input_grad[0]:
        full = _convolve2d(grad, K, "full", ctx.backend)
        dX = full[top:top + X.shape[0], left:left + X.shape[1]].contiguous()
    if ctx.needs_input_grad[1]:
        Xp = torch.nn.functional.pad(X, (left, right, top, bottom))
        dK = _corr2d(Xp, grad, "valid", ctx.backend)
    return dX, dK, None, None


_corr2d.register_autograd(_corr2d_backward, setup_context=_corr2d_setup)


def corr2d(X: torch.Tensor, K: torch.Tensor, *, mode: str = "valid",
           backend: str | None = None) -> torch.Tensor:
    """The chapter's ``corr2d`` of one 2-D tensor with a 2-D kernel, differentiable in both.

    ``mode`` is ``"valid"``, ``"same"`` or ``"full"``, as :func:`convreg.corr2d`
    (and ``scipy.signal.correlate2d``) take it.

    Examples
    --------
    >>> import torch, convreg.torch as ct
    >>> ct.corr2d(torch.arange(9.0).reshape(3, 3), torch.tensor([[0.0, 1.0], [2.0, 3.0]]))
    tensor([[19., 25.],
            [37., 43.]])
    """
    _floating("corr2d", X, K)
    if X.dim() != 2 or K.dim() != 2:
        raise ValueError(f"convreg.torch.corr2d: X and K must be 2-D; got shapes "
                         f"{tuple(X.shape)} and {tuple(K.shape)}")
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"mode must be 'valid', 'same' or 'full'; got {mode!r}")
    return _corr2d(X, K, mode, backend)  # type: ignore[no-any-return]


# -- pooling ------------------------------------------------------------------


_POOL = "int[] kernel_size, int[] stride, int[] padding"


@torch.library.custom_op(
    "convreg::max_pool2d", mutates_args=(),
    schema=f"(Tensor x, {_POOL}, int[] dilation, bool ceil_mode, str? backend) -> Tensor")
def _max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode, backend):  # type: ignore[no-untyped-def]
    return _tensor(convreg.max_pool2d(_array(x), tuple(kernel_size), tuple(stride),
                                      tuple(padding), tuple(dilation), ceil_mode,
                                      backend=backend))


@_max_pool2d.register_fake
def _(x, kernel_size, stride, padding, dilation, ceil_mode, backend):  # type: ignore[no-untyped-def]
    hw = pool_output_hw(x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    return x.new_empty((*x.shape[:2], *hw))


@torch.library.custom_op(
    "convreg::max_pool2d_grad", mutates_args=(),
    schema=f"(Tensor grad_output, Tensor x, {_POOL}, int[] dilation, bool ceil_mode, "
           "str? backend) -> Tensor")
def _max_pool2d_grad(grad_output, x, kernel_size, stride, padding, dilation, ceil_mode,  # type: ignore[no-untyped-def]
                     backend):
    return _tensor(convreg.max_pool2d_grad(_array(grad_output), _array(x), tuple(kernel_size),
                                           tuple(stride), tuple(padding), tuple(dilation),
                                           ceil_mode, backend=backend))


@_max_pool2d_grad.register_fake
def _(grad_output, x, kernel_size, stride, padding, dilation, ceil_mode, backend):  # type: ignore[no-untyped-def]
    return torch.empty_like(x)


def _max_pool2d_setup(ctx, inputs, output):  # type: ignore[no-untyped-def]
    x, *ctx.window = inputs
    ctx.save_for_backward(x)


def _max_pool2d_backward(ctx, grad):  # type: ignore[no-untyped-def]
    (x,) = ctx.saved_tensors
    return (_max_pool2d_grad(grad.contiguous(), x, *ctx.window),) + (None,) * len(ctx.window)


_max_pool2d.register_autograd(_max_pool2d_backward, setup_context=_max_pool2d_setup)


@torch.library.custom_op(
    "convreg::avg_pool2d", mutates_args=(),
    schema=f"(Tensor x, {_POOL}, bool ceil_mode, bool count_include_pad, str? backend) -> Tensor")
def _avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad, backend):  # type: ignore[no-untyped-def]
    return _tensor(convreg.avg_pool2d(_array(x), tuple(kernel_size), tuple(stride),
                                      tuple(padding), ceil_mode, count_include_pad,
                                      backend=backend))


@_avg_pool2d.register_fake
def _(x, kernel_size, stride, padding, ceil_mode, count_include_pad, backend):  # type: ignore[no-untyped-def]
    hw = pool_output_hw(x.shape[2:], kernel_size, stride, padding, (1, 1), ceil_mode)
    return x.new_empty((*x.shape[:2], *hw))


@torch.library.custom_op(
    "convreg::avg_pool2d_grad", mutates_args=(),
    schema=f"(Tensor grad_output, int[] input_shape, {_POOL}, bool ceil_mode, "
           "bool count_include_pad, str? backend) -> Tensor")
def _avg_pool2d_grad(grad_output, input_shape, kernel_size, stride, padding, ceil_mode,  # type: ignore[no-untyped-def]
                     count_include_pad, backend):
    return _tensor(convreg.avg_pool2d_grad(_array(grad_output), tuple(input_shape),
                                           tuple(kernel_size), tuple(stride), tuple(padding),
                                           ceil_mode, count_include_pad, backend=backend))


@_avg_pool2d_grad.register_fake
def _(grad_output, input_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,  # type: ignore[no-untyped-def]
      backend):
    return grad_output.new_empty(tuple(input_shape))


def _avg_pool2d_setup(ctx, inputs, output):  # type: ignore[no-untyped-def]
    x, *ctx.window = inputs
    ctx.input_shape = list(x.shape)


def _avg_pool2d_backward(ctx, grad):  # type: ignore[no-untyped-def]
    return ((_avg_pool2d_grad(grad.contiguous(), ctx.input_shape, *ctx.window),)
            + (None,) * len(ctx.window))


_avg_pool2d.register_autograd(_avg_pool2d_backward, setup_context=_avg_pool2d_setup)


def _pool_args(name: str, x: torch.Tensor, kernel_size: _Size, stride: _Size | None,
               padding: _Size) -> tuple[list[int], list[int], list[int]]:
    _floating(name, x)
    if x.dim() != 4:
        raise ValueError(f"convreg.torch.{name}: input must be 4-D (N, C, H, W); got shape "
                         f"{tuple(x.shape)} (unbatched input: x[None], then [0])")
    kernel = _pair(kernel_size, "kernel_size")
    return kernel, kernel if stride is None else _pair(stride, "stride"), _pair(padding, "padding")


def max_pool2d(input: torch.Tensor, kernel_size: _Size, stride: _Size | None = None,
               padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False,
               return_indices: bool = False, *, backend: str | None = None) -> torch.Tensor:
    """``torch.nn.functional.max_pool2d`` computed by a convreg backend, differentiable.

    The gradient goes to each window's first maximum, as PyTorch routes it.
    ``return_indices=True`` is not supported (convreg's gradient needs no
    indices); it raises ``NotImplementedError``.

    Examples
    --------
    >>> import torch, convreg.torch as ct
    >>> ct.max_pool2d(torch.arange(16.0).reshape(1, 1, 4, 4), 2)
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """
    if return_indices:
        raise NotImplementedError("convreg.torch.max_pool2d does not return indices; use "
                                  "torch.nn.functional.max_pool2d for them")
    kernel, stride_, padding_ = _pool_args("max_pool2d", input, kernel_size, stride, padding)
    return _max_pool2d(input, kernel, stride_, padding_,  # type: ignore[no-any-return]
                       _pair(dilation, "dilation"), bool(ceil_mode), backend)


def avg_pool2d(input: torch.Tensor, kernel_size: _Size, stride: _Size | None = None,
               padding: _Size = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None, *,
               backend: str | None = None) -> torch.Tensor:
    """``torch.nn.functional.avg_pool2d`` computed by a convreg backend, differentiable.

    ``divisor_override`` is not supported (``NotImplementedError``).

    Examples
    --------
    >>> import torch, convreg.torch as ct
    >>> ct.avg_pool2d(torch.arange(16.0).reshape(1, 1, 4, 4), 2)
    tensor([[[[ 2.5000,  4.5000],
              [10.5000, 12.5000]]]])
    """
    if divisor_override is not None:
        raise NotImplementedError("convreg.torch.avg_pool2d has no divisor_override; use "
                                  "torch.nn.functional.avg_pool2d for it")
    kernel, stride_, padding_ = _pool_args("avg_pool2d", input, kernel_size, stride, padding)
    return _avg_pool2d(input, kernel, stride_, padding_,  # type: ignore[no-any-return]
                       bool(ceil_mode), bool(count_include_pad), backend)


# -- the module -----------------------------------------------------------------


class Conv2d(torch.nn.Conv2d):  # type: ignore[misc,unused-ignore]  # Any without torch's types
    """``torch.nn.Conv2d`` whose forward and backward run on a convreg backend.

    The parameters, their initialisation, ``state_dict`` and repr are
    PyTorch's own (this is a subclass); only the computation moves. A
    ``Conv2d`` here loads a ``torch.nn.Conv2d``'s state dict and back.

    Parameters
    ----------
    in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias
        As ``torch.nn.Conv2d``; ``padding_mode`` is always ``"zeros"``.
    backend : str, optional
        The convreg backend; None follows convreg's current selection.
    device, dtype
        As ``torch.nn.Conv2d``.

    Examples
    --------
    >>> import torch, convreg.torch as ct
    >>> conv = ct.Conv2d(3, 8, 3, padding=1, backend="cython")
    >>> conv
    Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), backend='cython')
    >>> conv(torch.ones(2, 3, 16, 16)).shape
    torch.Size([2, 8, 16, 16])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: _ModulePair,
                 stride: _ModulePair = 1, padding: _ModulePair | str = 0, dilation: _ModulePair = 1,
                 groups: int = 1, bias: bool = True, *, backend: str | None = None,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, device=device, dtype=dtype)
        self.backend = backend

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups, backend=self.backend)

    def extra_repr(self) -> str:
        base: str = super().extra_repr()  # type: ignore[no-untyped-call]
        return base if self.backend is None else f"{base}, backend={self.backend!r}"
