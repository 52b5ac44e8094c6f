"""The layers of the chapter and of the networks it builds, forward and backward.

Shapes and semantics are PyTorch's modules'; initialisation is PyTorch's
default (uniform in +-1/sqrt(fan_in) for weights and biases of ``Conv2d``
and ``Linear``), drawn from ``rng`` (a seed or a ``numpy.random.Generator``)
so that a network is reproducible.
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


class Conv2D(Module):
    """The chapter's single-channel layer: ``corr2d(x, weight) + bias``.

    The weight of shape ``kernel_size`` is drawn uniformly from [0, 1), the
    bias is a zero scalar, as the chapter writes it.

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
        x = np.asarray(x, dtype=self.weight.data.dtype)
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
        return f"kernel_size={self.weight.shape}"


class Conv2d(Module):
    """PyTorch's ``nn.Conv2d``: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``.

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> conv = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False, rng=0)
    >>> conv(np.ones((1, 1, 6, 8), np.float32)).shape
    (1, 1, 6, 7)
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
        self._cache = x = np.asarray(x)
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
        O, Cg, kh, kw = self.weight.shape
        return (f"{Cg * self.geometry['groups']}, {O}, kernel_size=({kh}, {kw}), "
                + ", ".join(f"{k}={v}" for k, v in self.geometry.items()))


class MaxPool2d(Module):
    """PyTorch's ``nn.MaxPool2d``; the gradient goes to each window's first maximum."""

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
        return ", ".join(f"{k}={v}" for k, v in self.args.items())


class AvgPool2d(Module):
    """PyTorch's ``nn.AvgPool2d``."""

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
        return ", ".join(f"{k}={v}" for k, v in self.args.items())


class ReLU(Module):
    """``max(x, 0)``; its gradient passes where ``x > 0``."""

    def forward(self, x: Any) -> Any:
        x = np.asarray(x)
        self._cache = x > 0
        return np.where(self._cache, x, 0).astype(x.dtype, copy=False)

    def backward(self, grad_output: Any) -> Any:
        return np.where(self._saved(), grad_output, 0).astype(grad_output.dtype, copy=False)


class Flatten(Module):
    """Flatten every axis from ``start_dim`` on (default: all but the batch)."""

    def __init__(self, start_dim: int = 1) -> None:
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x: Any) -> Any:
        x = np.asarray(x)
        self._cache = x.shape
        return x.reshape(x.shape[:self.start_dim] + (-1,))

    def backward(self, grad_output: Any) -> Any:
        return np.reshape(grad_output, self._saved())


class Linear(Module):
    """PyTorch's ``nn.Linear``: ``y = x @ weight.T + bias``, weight ``(out, in)``."""

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
        self._cache = x = np.asarray(x)
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
        return f"in_features={in_f}, out_features={out_f}, bias={self.bias is not None}"


class Dropout(Module):
    """Zero each element with probability ``p`` while training, scaling the rest by
    ``1 / (1 - p)``; the identity in evaluation mode."""

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
