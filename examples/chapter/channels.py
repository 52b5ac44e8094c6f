"""
Multiple input and output channels, and the 1x1 convolution
===========================================================

Two input channels are correlated with one kernel each and summed; three
output channels are three such kernels stacked; a 1x1 convolution is a
matrix product over the channels at every pixel.

Run it on its own with::

    python examples/chapter/channels.py
"""

import matplotlib.pyplot as plt
import numpy as np

import convreg

X = np.stack([np.arange(9.0).reshape(3, 3), np.arange(1.0, 10.0).reshape(3, 3)])
K = np.stack([np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([[1.0, 2.0], [3.0, 4.0]])])
Y = convreg.conv2d(X, K[None])
print("two input channels, one output:\n", Y)
K3 = np.stack([K, K + 1, K + 2])
print("three output channels, shape", K3.shape, "->\n", convreg.conv2d(X, K3))

rng = np.random.default_rng(0)
X1, K1 = rng.standard_normal((3, 3, 3)), rng.standard_normal((2, 3, 1, 1))
via_conv = convreg.conv2d(X1, K1)
via_matmul = (K1.reshape(2, 3) @ X1.reshape(3, 9)).reshape(2, 3, 3)
print("1x1 convolution == matrix product over channels:", np.allclose(via_conv, via_matmul))

# %%
# Top: each input channel correlated with its own kernel, and their sum,
# the one output channel. Bottom: a 1x1 convolution from three channels to
# two, pixel by pixel the same as the weight matrix times the pixel's
# channel vector.


def draw(ax, values, title):
    ax.imshow(values, cmap="viridis")
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=8, color="w")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


fig, axes = plt.subplots(2, 4, figsize=(11, 5.6))
for c in range(2):
    draw(axes[0, c], convreg.corr2d(X[c], K[c]), f"corr2d(X[{c}], K[{c}])")
draw(axes[0, 2], Y[0], "their sum: conv2d(X, K)")
axes[0, 3].axis("off")
for o in range(2):
    draw(axes[1, o], via_conv[o], f"1x1 conv, output channel {o}")
    draw(axes[1, 2 + o], via_matmul[o], f"W @ X over channels, row {o}")
fig.tight_layout()
plt.show()
