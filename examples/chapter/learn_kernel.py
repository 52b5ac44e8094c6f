"""
Learning a kernel
=================

The edge kernel learned back from (image, edges) pairs: a
``Conv2d(1, 1, kernel_size=(1, 2), bias=False)`` on the 6x8 edge image,
squared loss summed, learning rate 3e-2, 10 iterations, the loss printed
every 2. The gradient of every step is convreg's ``conv2d_grad_weight``.

Run it on its own with::

    python examples/chapter/learn_kernel.py
"""

import matplotlib.pyplot as plt
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
losses, kernels = [], [conv.weight.data.ravel().copy()]
for i in range(10):
    l = loss(conv(X), Y)
    conv.zero_grad()
    conv.backward(loss.backward())
    conv.weight.data -= lr * conv.weight.grad
    losses.append(l)
    kernels.append(conv.weight.data.ravel().copy())
    if (i + 1) % 2 == 0:
        print(f"epoch {i + 1}, loss {l:.3f}")
print("learned kernel:", conv.weight.data.reshape(1, 2))

# %%
# The loss falls by about a factor of 3 an iteration, and the two weights
# walk from their random start to the chapter's ``[1, -1]``.

kernels = np.array(kernels)
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
left.semilogy(range(1, 11), losses, "o-")
left.set_xlabel("iteration")
left.set_ylabel("squared loss (sum)")
left.set_title("loss")
right.plot(kernels[:, 0], "o-", label="K[0, 0] (learned)")
right.plot(kernels[:, 1], "s-", label="K[0, 1] (learned)")
right.axhline(1, color="tab:blue", ls=":", label="1 (the true kernel)")
right.axhline(-1, color="tab:orange", ls=":", label="-1 (the true kernel)")
right.set_xlabel("iteration")
right.set_title("the kernel, against [1, -1]")
right.legend(fontsize=8, loc="center right")
fig.tight_layout()
plt.show()
