"""The layers of the chapter and of the networks it builds, forward and backward.

Shapes and semantics are PyTorch's modules'; initialisation is PyTorch's
default (uniform in +-1/sqrt(fan_in) for weights and biases of ``Conv2d``
and ``Linear``), drawn from ``rng`` (a seed or a ``numpy.random.Generator``)
so that a network is reproducible.

Dtypes. A layer with parameters computes in its parameters' dtype
(``dtype=``, float32 by default, float64 for the chapter's ``Conv2D``). An
input of that dtype goes in as it is; integer and bool inputs (images of
counts, the chapter's 0/1 pictures) are converted to it; a floating input of
another precision raises ``TypeError``, as PyTorch does, rather than
silently computing in the wider of the two. Layers without parameters
(pooling, ``ReLU``, ``Flatten``, ``Dropout``) keep their input's dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import convreg

from .module import Module, Parameter

__all__ = ["Conv2D", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU", "Flatten", "Linear", "Dropout"]


def _rng(rng: Any) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _as_param_dtype(layer: Module, x: Any, dtype: np.dtype[Any]) -> np.ndarray:
    """``x`` as an array of the layer's parameter dtype, by the module docstring's rule."""
    a = np.asarray(x)
    if a.dtype == dtype:
        return a
    if a.dtype.kind in "biu":
        return a.astype(dtype)
    raise TypeError(
        f"{type(layer).__name__}: input dtype {a.dtype} does not match the layer's parameters "
        f"({dtype}); convert the input with x.astype(np.{dtype}) or build the layer with "
        f"dtype=np.{a.dtype}"
    )


def _fmt_pair(v: Any) -> str:
    """PyTorch's repr of a size argument: ``(3, 3)`` for 3, ``'same'`` for a string,
    a sequence as a tuple."""
    return repr(v) if isinstance(v, str) else str(_pair(v))


class Conv2D(Module):
    """The chapter's single-channel layer: ``corr2d(x, weight) + bias``.

    The weight of shape ``kernel_size`` is drawn uniformly from [0, 1), the
    bias is a zero scalar, as the chapter writes it.

    Parameters
    ----------
    kernel_size : int or (int, int)
        ``(kh, kw)`` of the kernel; an int means a square one.
    rng : int, numpy.random.Generator or None
        Seed or generator of the initial weight (None: fresh entropy).
    dtype : numpy dtype, default float64
        Dtype of the parameters and of the computation (module docstring).
    backend : str or None
        Backend of this layer's ops; None follows the current selection.

    Attributes
    ----------
    weight : Parameter
        ``(kh, kw)``.
    bias : Parameter
        ``(1,)``, added to every output pixel.

    Notes
    -----
    Input ``(H, W)``, output ``(H - kh + 1, W - kw + 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> layer = nn.Conv2D((1, 2), rng=0)
    >>> layer(np.ones((6, 8))).shape
    (6, 7)
    """

    def __init__(self, kernel_size: Any, *, rng: Any = None, dtype: Any = np.float64,
                 backend: str | None = None) -> None:
        super().__init__(backend=backend)
        self.weight = Parameter(_rng(rng).random(_pair(kernel_size)).astype(dtype))
        self.bias = Parameter(np.zeros(1, dtype=dtype))

    def forward(self, x: Any) -> Any:
        x = _as_param_dtype(self, x, self.weight.data.dtype)
        self._cache = x
        return convreg.corr2d(x, self.weight.data, backend=self.backend) + self.bias.data

    def backward(self, grad_output: Any) -> Any:
        x = self._saved()
        g4 = np.asarray(grad_output)[None, None]
        w4 = self.weight.data[None, None]
        self.weight.grad += convreg.conv2d_grad_weight(x[None, None], g4, w4.shape,
                                                       backend=self.backend)[0, 0]
        self.bias.grad += np.sum(grad_output)
        return convreg.conv2d_grad_input(g4, w4, (1, 1) + x.shape, backend=self.backend)[0, 0]

    def extra_repr(self) -> str:
        return f"kernel_size={self.weight.shape}, dtype={self.weight.data.dtype}"


class Conv2d(Module):
    """PyTorch's ``nn.Conv2d``: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``.

    ``y = conv2d(x, weight, bias, stride, padding, dilation, groups)``
    (:func:`convreg.conv2d`), the cross-correlation deep-learning libraries
    call convolution. ``backward`` adds the weight and bias gradients into
    ``weight.grad`` and ``bias.grad`` and returns the input gradient.

    Parameters
    ----------
    in_channels, out_channels : int
        ``C_in`` and ``C_out``; both divisible by ``groups``.
    kernel_size : int or (int, int)
        ``(kh, kw)``.
    stride, dilation : int or (int, int), default 1
    padding : int, (int, int), "valid" or "same", default 0
        Zero padding as :func:`convreg.conv2d` takes it.
    groups : int, default 1
        Channel groups: each output channel sees ``C_in / groups`` inputs.
    bias : bool, default True
        Whether to learn an additive bias per output channel.
    rng : int, numpy.random.Generator or None
        Seed or generator of the initial parameters, uniform in
        ``+-1/sqrt(C_in / groups * kh * kw)`` as PyTorch initialises them.
    dtype : numpy dtype, default float32
        Dtype of the parameters and the computation (module docstring).
    backend : str or None
        Backend of this layer's ops; None follows the current selection.

    Attributes
    ----------
    weight : Parameter
        ``(C_out, C_in / groups, kh, kw)``.
    bias : Parameter or None
        ``(C_out,)``.

    Notes
    -----
    Input ``(N, C_in, H, W)``; output ``(N, C_out, H_out, W_out)`` with
    ``H_out = (H + pad_top + pad_bottom - dilation*(kh - 1) - 1) // stride + 1``
    and likewise ``W_out`` (:func:`convreg.output_shape`).

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> conv = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False, rng=0)
    >>> conv
    Conv2d(1, 1, kernel_size=(1, 2), stride=(1, 1), bias=False)
    >>> y = conv(np.ones((1, 1, 6, 8), np.float32))
    >>> y.shape
    (1, 1, 6, 7)
    >>> dx = conv.backward(np.ones_like(y))   # fills conv.weight.grad
    >>> conv.weight.grad.shape, dx.shape
    ((1, 1, 1, 2), (1, 1, 6, 8))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True, *,
                 rng: Any = None, dtype: Any = np.float32, backend: str | None = None) -> None:
        super().__init__(backend=backend)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        kh, kw = _pair(kernel_size)
        fan_in = in_channels // groups * kh * kw
        bound = 1.0 / np.sqrt(fan_in)
        gen = _rng(rng)
        shape = (out_channels, in_channels // groups, kh, kw)
        self.weight = Parameter(gen.uniform(-bound, bound, shape).astype(dtype))
        self.bias = Parameter(gen.uniform(-bound, bound, out_channels).astype(dtype)) \
            if bias else None
        self.geometry = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)

    def forward(self, x: Any) -> Any:
        self._cache = x = _as_param_dtype(self, x, self.weight.data.dtype)
        b = None if self.bias is None else self.bias.data
        return convreg.conv2d(x, self.weight.data, b, backend=self.backend, **self.geometry)

    def backward(self, grad_output: Any) -> Any:
        x = self._saved()
        self.weight.grad += convreg.conv2d_grad_weight(x, grad_output, self.weight.shape,
                                                       backend=self.backend, **self.geometry)
        if self.bias is not None:
            self.bias.grad += convreg.conv2d_grad_bias(grad_output)
        return convreg.conv2d_grad_input(grad_output, self.weight.data, x.shape,
                                         backend=self.backend, **self.geometry)

    def extra_repr(self) -> str:
        # As PyTorch's: stride always, the rest where they differ from the default.
        O, Cg, kh, kw = self.weight.shape
        g = self.geometry
        parts = [f"{Cg * g['groups']}, {O}, kernel_size=({kh}, {kw})",
                 f"stride={_fmt_pair(g['stride'])}"]
        if _fmt_pair(g["padding"]) != "(0, 0)":
            parts.append(f"padding={_fmt_pair(g['padding'])}")
        if _fmt_pair(g["dilation"]) != "(1, 1)":
            parts.append(f"dilation={_fmt_pair(g['dilation'])}")
        if g["groups"] != 1:
            parts.append(f"groups={g['groups']}")
        if self.bias is None:
            parts.append("bias=False")
        if self.weight.data.dtype != np.float32:
            parts.append(f"dtype={self.weight.data.dtype}")
        if self.backend is not None:
            parts.append(f"backend={self.backend!r}")
        return ", ".join(parts)


class MaxPool2d(Module):
    """PyTorch's ``nn.MaxPool2d``: the largest value of each window, channel by channel.

    The gradient goes to each window's first maximum (row-major order), as
    PyTorch routes it.

    Parameters
    ----------
    kernel_size : int or (int, int)
        The window ``(kh, kw)``.
    stride : int, (int, int) or None, default None
        None means the window: non-overlapping windows, as PyTorch's default.
    padding : int or (int, int), default 0
        Implicit -inf padding on each side; at most half the window.
    dilation : int or (int, int), default 1
    ceil_mode : bool, default False
        Round the output size up, so a partial window at the end counts.
    backend : str or None
        Backend of this layer's ops; None follows the current selection.

    Notes
    -----
    ``(N, C, H, W) -> (N, C, H_out, W_out)`` (:func:`convreg.max_pool2d`).

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> pool = nn.MaxPool2d(2)
    >>> pool
    MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> pool(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, ceil_mode: bool = False, *,
                 backend: str | None = None) -> None:
        super().__init__(backend=backend)
        self.args = dict(kernel_size=kernel_size, stride=stride, padding=padding,
                         dilation=dilation, ceil_mode=ceil_mode)

    def forward(self, x: Any) -> Any:
        self._cache = x = np.asarray(x)
        return convreg.max_pool2d(x, backend=self.backend, **self.args)

    def backward(self, grad_output: Any) -> Any:
        return convreg.max_pool2d_grad(grad_output, self._saved(), backend=self.backend,
                                       **self.args)

    def extra_repr(self) -> str:
        return _pool_repr(self.args, self.backend)


class AvgPool2d(Module):
    """PyTorch's ``nn.AvgPool2d``: the mean of each window, channel by channel.

    Parameters
    ----------
    kernel_size : int or (int, int)
        The window ``(kh, kw)``.
    stride : int, (int, int) or None, default None
        None means the window, as PyTorch's default.
    padding : int or (int, int), default 0
        Implicit zero padding on each side; at most half the window.
    ceil_mode : bool, default False
        Round the output size up, so a partial window at the end counts.
    count_include_pad : bool, default True
        Whether the padding's zeros count in each window's divisor.
    backend : str or None
        Backend of this layer's ops; None follows the current selection.

    Notes
    -----
    ``(N, C, H, W) -> (N, C, H_out, W_out)`` (:func:`convreg.avg_pool2d`).

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> nn.AvgPool2d(2)(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True, *,
                 backend: str | None = None) -> None:
        super().__init__(backend=backend)
        self.args = dict(kernel_size=kernel_size, stride=stride, padding=padding,
                         ceil_mode=ceil_mode, count_include_pad=count_include_pad)

    def forward(self, x: Any) -> Any:
        x = np.asarray(x)
        self._cache = x.shape
        return convreg.avg_pool2d(x, backend=self.backend, **self.args)

    def backward(self, grad_output: Any) -> Any:
        return convreg.avg_pool2d_grad(grad_output, self._saved(), backend=self.backend,
                                       **self.args)

    def extra_repr(self) -> str:
        return _pool_repr(self.args, self.backend)


def _pool_repr(args: dict[str, Any], backend: str | None) -> str:
    """Every argument, the stride as the window when it was left None (PyTorch's repr)."""
    shown = dict(args, stride=args["kernel_size"] if args["stride"] is None else args["stride"])
    if backend is not None:
        shown["backend"] = backend
    return ", ".join(f"{k}={v!r}" for k, v in shown.items())


class ReLU(Module):
    """The rectified linear unit ``max(x, 0)``, elementwise; its gradient passes where ``x > 0``.

    Notes
    -----
    Any shape; the output has the input's shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> nn.ReLU()(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """

    def forward(self, x: Any) -> Any:
        x = np.asarray(x)
        self._cache = x > 0
        return np.where(self._cache, x, 0).astype(x.dtype, copy=False)

    def backward(self, grad_output: Any) -> Any:
        return np.where(self._saved(), grad_output, 0).astype(grad_output.dtype, copy=False)


class Flatten(Module):
    """Flatten every axis from ``start_dim`` on (default: all but the batch).

    Parameters
    ----------
    start_dim : int, default 1
        The first axis folded into the last one.

    Notes
    -----
    ``(N, C, H, W) -> (N, C*H*W)`` with the default ``start_dim``.

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> nn.Flatten()(np.zeros((2, 3, 4, 5))).shape
    (2, 60)
    """

    def __init__(self, start_dim: int = 1) -> None:
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x: Any) -> Any:
        x = np.asarray(x)
        self._cache = x.shape
        return x.reshape(x.shape[:self.start_dim] + (-1,))

    def backward(self, grad_output: Any) -> Any:
        return np.reshape(grad_output, self._saved())

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}"


class Linear(Module):
    """PyTorch's ``nn.Linear``: ``y = x @ weight.T + bias``.

    NumPy's matmul, not a convreg backend: a fully connected layer is a GEMM.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of each input and output sample.
    bias : bool, default True
        Whether to learn an additive bias.
    rng : int, numpy.random.Generator or None
        Seed or generator of the initial parameters, uniform in
        ``+-1/sqrt(in_features)`` as PyTorch initialises them.
    dtype : numpy dtype, default float32
        Dtype of the parameters and the computation (module docstring).

    Attributes
    ----------
    weight : Parameter
        ``(out_features, in_features)``.
    bias : Parameter or None
        ``(out_features,)``.

    Notes
    -----
    ``(N, in_features) -> (N, out_features)``.

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> fc = nn.Linear(4, 3, rng=0)
    >>> fc
    Linear(in_features=4, out_features=3, bias=True)
    >>> fc(np.ones((2, 4), np.float32)).shape
    (2, 3)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 rng: Any = None, dtype: Any = np.float32) -> None:
        super().__init__()
        bound = 1.0 / np.sqrt(in_features)
        gen = _rng(rng)
        self.weight = Parameter(gen.uniform(-bound, bound, (out_features, in_features))
                                .astype(dtype))
        self.bias = Parameter(gen.uniform(-bound, bound, out_features).astype(dtype)) \
            if bias else None

    def forward(self, x: Any) -> Any:
        self._cache = x = _as_param_dtype(self, x, self.weight.data.dtype)
        y = x @ self.weight.data.T
        return y if self.bias is None else y + self.bias.data

    def backward(self, grad_output: Any) -> Any:
        x = self._saved()
        self.weight.grad += grad_output.T @ x
        if self.bias is not None:
            self.bias.grad += grad_output.sum(axis=0)
        return grad_output @ self.weight.data

    def extra_repr(self) -> str:
        out_f, in_f = self.weight.shape
        dtype = "" if self.weight.data.dtype == np.float32 else f", dtype={self.weight.data.dtype}"
        return f"in_features={in_f}, out_features={out_f}, bias={self.bias is not None}{dtype}"


class Dropout(Module):
    """Zero each element with probability ``p`` while training, scaling the rest by
    ``1 / (1 - p)``; the identity in evaluation mode (``module.eval()``).

    Parameters
    ----------
    p : float, default 0.5
        Probability of zeroing an element, in ``[0, 1)``.
    rng : int, numpy.random.Generator or None
        Seed or generator of the masks.

    Notes
    -----
    Any shape; the output has the input's shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> drop = nn.Dropout(0.5, rng=0).eval()
    >>> drop(np.ones(3))
    array([1., 1., 1.])
    """

    def __init__(self, p: float = 0.5, *, rng: Any = None) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1); got {p}")
        self.p = p
        self.rng = _rng(rng)

    def forward(self, x: Any) -> Any:
        x = np.asarray(x)
        if not self.training or self.p == 0:
            self._cache = np.ones((), dtype=x.dtype)
            return x
        self._cache = (self.rng.random(x.shape) >= self.p).astype(x.dtype) / (1 - self.p)
        return x * self._cache

    def backward(self, grad_output: Any) -> Any:
        return grad_output * self._saved()

    def extra_repr(self) -> str:
        return f"p={self.p}"
