"""
Pooling
=======

Maximum and average pooling of a small image, with padding, stride and
several channels (each channel pooled on its own). The stride defaults to
the window, as in PyTorch; the chapter's first example uses stride 1.

Run it on its own with::

    python examples/chapter/pooling.py
"""

import matplotlib.pyplot as plt
import numpy as np

import convreg

X = np.arange(9.0).reshape(1, 3, 3)
print("2x2 max pooling:\n", convreg.max_pool2d(X, 2, stride=1))
print("2x2 average pooling:\n", convreg.avg_pool2d(X, 2, stride=1))
X = np.arange(16.0).reshape(1, 1, 4, 4)
print("3x3 window, padding 1, stride 2:\n", convreg.max_pool2d(X, 3, padding=1, stride=2))
X2 = np.concatenate([X, X + 1], axis=1)
print("two channels stay two channels:\n", convreg.max_pool2d(X2, 3, padding=1, stride=2))

# %%
# A 6x6 image, pooled over 2x2 windows at the default stride (2) and over
# 3x3 windows at stride 1: the maximum keeps the brightest pixel of each
# window, the average blurs.

image = np.add.outer(np.sin(np.linspace(0, 3, 6)), np.cos(np.linspace(0, 4, 6)))[None, None]
panels = [
    ("input 6x6", image[0, 0]),
    ("max_pool2d(X, 2)", convreg.max_pool2d(image, 2)[0, 0]),
    ("avg_pool2d(X, 2)", convreg.avg_pool2d(image, 2)[0, 0]),
    ("max_pool2d(X, 3, stride=1)", convreg.max_pool2d(image, 3, stride=1)[0, 0]),
    ("avg_pool2d(X, 3, stride=1)", convreg.avg_pool2d(image, 3, stride=1)[0, 0]),
]
fig, axes = plt.subplots(1, len(panels), figsize=(13, 3))
for ax, (title, values) in zip(axes, panels):
    ax.imshow(values, cmap="magma", vmin=image.min(), vmax=image.max())
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7, color="c")
    ax.set_title(f"{title}\n{values.shape[0]}x{values.shape[1]}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()
