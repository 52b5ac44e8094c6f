"""Learning the edge kernel back from (image, edges): the chapter's training loop.

    python examples/chapter/learn_kernel.py

A Conv2d(1, 1, kernel_size=(1, 2), bias=False) on the 6x8 edge image, squared
loss summed, learning rate 3e-2, 10 iterations, the loss printed every 2.
"""

import numpy as np

import convreg
from convreg import nn

X = np.ones((6, 8), np.float32)
X[:, 2:6] = 0
Y = convreg.corr2d(X, np.array([[1.0, -1.0]], np.float32))
X, Y = X.reshape(1, 1, 6, 8), Y.reshape(1, 1, 6, 7)

conv = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False, rng=0)
loss = nn.MSELoss(reduction="sum")
lr = 3e-2
for i in range(10):
    l = loss(conv(X), Y)
    conv.zero_grad()
    conv.backward(loss.backward())
    conv.weight.data -= lr * conv.weight.grad
    if (i + 1) % 2 == 0:
        print(f"epoch {i + 1}, loss {l:.3f}")
print("learned kernel:", conv.weight.data.reshape(1, 2))
