"""
Padding and stride
==================

Output shapes of an 8x8 input under the chapter's four settings, each
computed by a real ``nn.Conv2d`` and by the formula
``floor((n + 2p - k) / s) + 1`` (``convreg.output_shape``).

Run it on its own with::

    python examples/chapter/padding_and_stride.py
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from convreg import nn, output_shape

SETTINGS = [(3, 1, 1), ((5, 3), (2, 1), 1), (3, 1, 2), ((3, 5), (0, 1), (3, 5))]

X = np.random.default_rng(0).random((1, 1, 8, 8)).astype(np.float32)
for kernel, padding, stride in SETTINGS:
    conv = nn.Conv2d(1, 1, kernel_size=kernel, padding=padding, stride=stride, rng=0)
    print(f"kernel {kernel}, padding {padding}, stride {stride}: {conv(X).shape[2:]} "
          f"(formula: {output_shape((8, 8), kernel, stride, padding)})")

# %%
# Each panel is the padded input: the 8x8 input in white, the zero padding
# in grey. The red window is the kernel at the first output position, the
# dashed blue ones where the stride moves it next, across and down.


def pair(v):
    return (v, v) if isinstance(v, int) else v


fig, axes = plt.subplots(1, len(SETTINGS), figsize=(13, 3.8))
for ax, (kernel, padding, stride) in zip(axes, SETTINGS):
    (kh, kw), (ph, pw), (sh, sw) = pair(kernel), pair(padding), pair(stride)
    H, W = 8 + 2 * ph, 8 + 2 * pw
    grid = np.full((H, W), 0.8)
    grid[ph:ph + 8, pw:pw + 8] = 1.0
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks(np.arange(-0.5, W), minor=True)
    ax.set_yticks(np.arange(-0.5, H), minor=True)
    ax.grid(which="minor", color="0.6", lw=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    for (r, c), color, style in [((0, sw), "tab:blue", "--"), ((sh, 0), "tab:blue", "--"),
                                 ((0, 0), "tab:red", "-")]:
        if r + kh <= H and c + kw <= W:
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), kw, kh, fill=False, lw=2.5, ec=color,
                                   ls=style))
    out = output_shape((8, 8), kernel, stride, padding)
    ax.set_title(f"kernel {kernel}, pad {padding},\nstride {stride} -> output {out}",
                 fontsize=9)
fig.tight_layout()
plt.show()
