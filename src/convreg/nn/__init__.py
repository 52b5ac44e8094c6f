"""convreg.nn: layers with explicit gradients, losses and SGD, on convreg's backends.

Every convolution and pooling, forward and backward, dispatches through the
registry (``backend=`` per module, else the current selection); the rest is
NumPy. The chapter's learning loop:

>>> import numpy as np
>>> from convreg import nn
>>> X = np.ones((1, 1, 6, 8), np.float32); X[..., 2:6] = 0
>>> Y = np.zeros((1, 1, 6, 7), np.float32); Y[..., 1], Y[..., 5] = 1, -1
>>> conv = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False, rng=0)
>>> loss, opt = nn.MSELoss(reduction="sum"), nn.optim.SGD(conv.parameters(), lr=3e-2)
>>> for _ in range(10):
...     l = loss(conv(X), Y)
...     opt.zero_grad(); _ = conv.backward(loss.backward()); opt.step()
>>> np.round(conv.weight.data.ravel(), 1)
array([ 1., -1.], dtype=float32)
"""

from . import optim
from .layers import AvgPool2d, Conv2D, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU
from .loss import CrossEntropyLoss, MSELoss
from .module import Module, Parameter, Sequential

__all__ = ["Parameter", "Module", "Sequential", "Conv2D", "Conv2d", "MaxPool2d", "AvgPool2d",
           "ReLU", "Flatten", "Linear", "Dropout", "MSELoss", "CrossEntropyLoss", "optim"]
