"""Optimisers over :class:`~convreg.nn.Parameter` lists."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .module import Parameter

__all__ = ["SGD"]


class SGD:
    """Stochastic gradient descent with momentum and weight decay, as ``torch.optim.SGD``.

    Each step: ``d = grad + weight_decay * p``; with momentum,
    ``buf = momentum * buf + d`` (``buf = d`` at the first step) and ``d = buf``;
    then ``p -= lr * d``.

    Parameters
    ----------
    params : iterable of Parameter
        What to optimise, usually ``module.parameters()``.
    lr : float
        The learning rate, > 0.
    momentum : float, default 0
    weight_decay : float, default 0
        L2 penalty added to each gradient.

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> p = nn.Parameter(np.array([1.0]))
    >>> opt = nn.optim.SGD([p], lr=0.1)
    >>> p.grad[:] = 2.0
    >>> opt.step()
    >>> p.data
    array([0.8])
    """

    def __init__(self, params: Iterable[Parameter], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        if lr <= 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"need lr > 0, momentum >= 0, weight_decay >= 0; got lr={lr}, "
                             f"momentum={momentum}, weight_decay={weight_decay}")
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self._buffers: list[np.ndarray | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to zero."""
        for p in self.params:
            p.grad[...] = 0

    def step(self) -> None:
        """Update every parameter in place from its ``.grad``."""
        for i, p in enumerate(self.params):
            d = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if self.momentum:
                buf = self._buffers[i]
                buf = d.copy() if buf is None else self.momentum * buf + d
                self._buffers[i] = buf
                d = buf
            p.data -= (self.lr * d).astype(p.data.dtype, copy=False)
