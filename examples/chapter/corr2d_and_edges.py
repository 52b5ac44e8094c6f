"""
Cross-correlation and edge detection
====================================

The chapter's first two sections: ``corr2d`` of a 3x3 input with a 2x2
kernel, then the 6x8 image of a black band on white, whose vertical edges
the kernel ``[[1, -1]]`` finds: 1 where white turns black, -1 where black
turns white. The transposed image has horizontal edges only, which this
kernel cannot see.

Run it on its own with::

    python examples/chapter/corr2d_and_edges.py
"""

import matplotlib.pyplot as plt
import numpy as np

import convreg

X = np.arange(9.0).reshape(3, 3)
K = np.array([[0.0, 1.0], [2.0, 3.0]])
print("corr2d(X, K) =\n", convreg.corr2d(X, K))

image = np.ones((6, 8))
image[:, 2:6] = 0  # a black band across a white image
edge = np.array([[1.0, -1.0]])
edges = convreg.corr2d(image, edge)
edges_t = convreg.corr2d(image.T, edge)
print("image =\n", image)
print("edges: 1 marks white-to-black, -1 black-to-white =\n", edges)
print("the transposed image has no vertical edges =\n", edges_t)

# %%
# The image and its edges, then the same for the transposed image. Each
# cell shows its value.


def draw(ax, values, title, cmap, vmin):
    ax.imshow(values, cmap=cmap, vmin=vmin, vmax=1)
    for (i, j), v in np.ndenumerate(values):
        dark = (v == 0) if vmin == 0 else (v != 0)  # black pixel, or a coloured edge
        ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=9,
                color="w" if dark else "0.3")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


fig, axes = plt.subplots(2, 2, figsize=(8, 6.5), gridspec_kw={"width_ratios": [1, 1]})
draw(axes[0, 0], image, "X (6x8): a black band", "gray", 0)
draw(axes[0, 1], edges, "corr2d(X, [[1, -1]]) (6x7)", "coolwarm", -1)
draw(axes[1, 0], image.T, "X.T (8x6)", "gray", 0)
draw(axes[1, 1], edges_t, "corr2d(X.T, [[1, -1]]): no edges", "coolwarm", -1)
fig.tight_layout()
plt.show()
