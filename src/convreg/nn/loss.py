"""Losses: a value from ``(prediction, target)``, and ``backward()`` for its gradient."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MSELoss", "CrossEntropyLoss"]


class _Loss:
    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum'; got {reduction!r}")
        self.reduction = reduction
        self._grad: Any = None

    def backward(self) -> Any:
        """The gradient of the last loss computed with respect to the prediction."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward() was called before the loss "
                               "was computed")
        return self._grad


class MSELoss(_Loss):
    """Squared error, averaged (``reduction="mean"``) or summed, as ``nn.MSELoss``.

    Calling it returns the loss as a float and keeps its gradient with
    respect to the prediction, which ``backward()`` returns.

    Parameters
    ----------
    reduction : {"mean", "sum"}, default "mean"

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> loss = nn.MSELoss(reduction="sum")
    >>> loss(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    5.0
    >>> loss.backward()
    array([2., 4.])
    """

    def __call__(self, prediction: Any, target: Any) -> float:
        diff = np.asarray(prediction) - np.asarray(target)
        n = diff.size if self.reduction == "mean" else 1
        self._grad = (2.0 / n) * diff
        return float((diff.astype(np.float64) ** 2).sum() / n)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits ``(N, classes)`` against integer labels ``(N,)``.

    As ``torch.nn.CrossEntropyLoss``: the softmax is part of the loss, so a
    network ends in a ``Linear`` layer's raw scores. ``backward()`` returns
    the gradient with respect to the logits, in their dtype.

    Parameters
    ----------
    reduction : {"mean", "sum"}, default "mean"

    Examples
    --------
    >>> import numpy as np
    >>> from convreg import nn
    >>> round(nn.CrossEntropyLoss()(np.zeros((2, 4)), np.array([0, 3])), 4)  # log 4
    1.3863
    """

    def __call__(self, logits: Any, labels: Any) -> float:
        z = np.asarray(logits)
        labels = np.asarray(labels)
        if z.ndim != 2 or labels.shape != (z.shape[0],):
            raise ValueError(f"expected logits (N, classes) and labels (N,); got {z.shape} "
                             f"and {labels.shape}")
        shifted = z - z.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = z.shape[0] if self.reduction == "mean" else 1
        picked = log_softmax[np.arange(z.shape[0]), labels]
        grad = np.exp(log_softmax)
        grad[np.arange(z.shape[0]), labels] -= 1
        self._grad = (grad / n).astype(z.dtype, copy=False)
        return float(-picked.astype(np.float64).sum() / n)
