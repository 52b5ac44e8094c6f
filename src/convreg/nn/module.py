"""The layer API: ``Parameter``, ``Module`` and ``Sequential``.

A module's forward pass stores what its backward pass needs; ``backward``
takes the gradient of the loss with respect to the module's output, adds the
gradients of its parameters into their ``.grad`` and returns the gradient
with respect to its input. Explicit, no autograd tape: each layer's backward
is the chapter's formula, dispatched through the registry like its forward.

Where PyTorch writes ``loss.backward()``, convreg writes the chain rule out:
the loss object returns the gradient of its last value, and the network
carries it back through every layer::

    loss = loss_fn(net(x), y)          # a float
    opt.zero_grad()
    net.backward(loss_fn.backward())   # fills every Parameter's .grad
    opt.step()

(``convreg.torch`` runs convreg's ops inside PyTorch's autograd instead.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["Parameter", "Module", "Sequential"]


class Parameter:
    """A trainable array ``data`` and the gradient ``grad`` accumulated into it.

    Parameters
    ----------
    data : array_like
        The initial value; kept as an array (no copy when it already is one).

    Attributes
    ----------
    data : numpy.ndarray
        The value, updated in place by the optimisers.
    grad : numpy.ndarray
        Same shape and dtype as ``data``; layers add into it in ``backward``,
        ``zero_grad`` resets it.

    Examples
    --------
    >>> import numpy as np
    >>> from convreg.nn import Parameter
    >>> Parameter(np.zeros((2, 3), np.float32))
    Parameter(shape=(2, 3), dtype=float32)
    """

    def __init__(self, data: Any) -> None:
        self.data = np.asarray(data)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of the layers: ``forward`` (also ``module(x)``) and ``backward``.

    A subclass defines ``forward(x)``, storing what its gradient needs (with
    ``self._cache``), and ``backward(grad_output)``, which adds its
    parameters' gradients into their ``.grad`` and returns the gradient with
    respect to ``x``. Attributes that are :class:`Parameter` objects are its
    parameters; attributes that are modules (or lists of them) its children.

    Parameters
    ----------
    backend : str or None
        The backend this module's ops run on; None (the default) uses the
        current selection (``convreg.use_backend`` and friends).

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> class Scale(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.a = nn.Parameter(np.ones(1))
    ...     def forward(self, x):
    ...         self._cache = x
    ...         return self.a.data * x
    ...     def backward(self, grad_output):
    ...         self.a.grad += np.sum(grad_output * self._saved())
    ...         return self.a.data * grad_output
    >>> m = Scale()
    >>> m(np.array([1.0, 2.0]))
    array([1., 2.])
    >>> m.backward(np.ones(2))
    array([1., 1.])
    >>> m.a.grad
    array([3.])
    """

    def __init__(self, *, backend: str | None = None) -> None:
        self.backend = backend
        self.training = True
        self._cache: Any = None

    def __call__(self, x: Any) -> Any:
        return self.forward(x)

    def forward(self, x: Any) -> Any:  # pragma: no cover - every layer overrides it
        raise NotImplementedError

    def backward(self, grad_output: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _saved(self) -> Any:
        """What the forward pass stored; a clear error if there was none."""
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called before forward(): run the "
                "forward pass on a batch first, then backward with the gradient of its output"
            )
        return self._cache

    def children(self) -> Iterator[Module]:
        """The modules held as attributes (or in lists of them), in definition order."""
        for value in vars(self).values():
            if isinstance(value, Module):
                yield value
            elif isinstance(value, (list, tuple)):
                yield from (v for v in value if isinstance(v, Module))

    def parameters(self) -> list[Parameter]:
        """This module's parameters and its children's, in definition order."""
        params = [v for v in vars(self).values() if isinstance(v, Parameter)]
        for child in self.children():
            params.extend(child.parameters())
        return params

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to zero (gradients accumulate otherwise)."""
        for p in self.parameters():
            p.grad[...] = 0

    def train(self, mode: bool = True) -> Module:
        """Training (True) or evaluation mode for this module and its children; returns it."""
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (``train(False)``): dropout off. Returns the module."""
        return self.train(False)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse.

    Parameters
    ----------
    *modules : Module
        The layers, first to last. ``net[i]`` and ``len(net)`` index them.

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2))
    >>> net(np.ones((1, 1, 4, 4), np.float32)).shape
    (1, 2, 2, 2)
    >>> net
    Sequential(
      (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
      (1): ReLU()
      (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    )
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential takes modules; argument {i} is a "
                                f"{type(m).__name__}")
        self.modules = list(modules)

    def forward(self, x: Any) -> Any:
        for m in self.modules:
            x = m(x)
        return x

    def backward(self, grad_output: Any) -> Any:
        for m in reversed(self.modules):
            grad_output = m.backward(grad_output)
        return grad_output

    def __getitem__(self, i: int) -> Module:
        return self.modules[i]

    def __len__(self) -> int:
        return len(self.modules)

    def __repr__(self) -> str:
        # PyTorch's layout: one child a line, a nested module's lines indented with it.
        inner = "\n".join(f"  ({i}): " + repr(m).replace("\n", "\n  ")
                          for i, m in enumerate(self.modules))
        return f"Sequential(\n{inner}\n)"
