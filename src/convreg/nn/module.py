"""The layer API: ``Parameter``, ``Module`` and ``Sequential``.

A module's forward pass stores what its backward pass needs; ``backward``
takes the gradient of the loss with respect to the module's output, adds the
gradients of its parameters into their ``.grad`` and returns the gradient
with respect to its input. Explicit, no autograd tape: each layer's backward
is the chapter's formula, dispatched through the registry like its forward.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["Parameter", "Module", "Sequential"]


class Parameter:
    """A trainable array ``data`` and the gradient ``grad`` accumulated into it."""

    def __init__(self, data: Any) -> None:
        self.data = np.asarray(data)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of the layers.

    ``backend`` names the backend this module's ops run on; ``None`` (the
    default) uses the current selection (``convreg.use_backend`` and friends).
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
        for p in self.parameters():
            p.grad[...] = 0

    def train(self, mode: bool = True) -> Module:
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse.

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2))
    >>> net(np.ones((1, 1, 4, 4), np.float32)).shape
    (1, 2, 2, 2)
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
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
        inner = "\n".join(f"  ({i}) {m!r}" for i, m in enumerate(self.modules))
        return f"Sequential(\n{inner}\n)"
