"""
VGG blocks
==========

A VGG block (3x3 convolutions with padding 1 and ReLUs, then 2x2 max
pooling), its feature maps on a small picture, and VGG-11's shape walk on
a 1x1x224x224 input, run for real.

Run it on its own with::

    python examples/chapter/vgg.py
"""

import matplotlib.pyplot as plt
import numpy as np

from convreg import nn

CONV_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def vgg_block(num_convs: int, in_channels: int, out_channels: int, rng) -> nn.Sequential:
    layers = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1, rng=rng), nn.ReLU()]
        in_channels = out_channels
    return nn.Sequential(*layers, nn.MaxPool2d(2, stride=2))


def vgg(conv_arch, rng) -> nn.Sequential:
    blocks, in_channels = [], 1
    for num_convs, out_channels in conv_arch:
        blocks.append(vgg_block(num_convs, in_channels, out_channels, rng))
        in_channels = out_channels
    return nn.Sequential(*blocks, nn.Flatten(),
                         nn.Linear(in_channels * 7 * 7, 4096, rng=rng), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(4096, 4096, rng=rng), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(4096, 10, rng=rng))


rng = np.random.default_rng(0)

# %%
# Feature maps
# ------------
# A 64x64 picture (a disc, a square and stripes) through one block of two
# convolutions to 8 channels. Each channel's randomly initialised kernels
# respond to other edges and textures; pooling halves the size and keeps
# the strongest responses.

yy, xx = np.mgrid[:64, :64]
picture = ((xx - 20) ** 2 + (yy - 22) ** 2 < 12**2).astype(np.float32)
picture[36:56, 30:54] = 1.0
picture[4:20, 36:60] = (xx[4:20, 36:60] // 3) % 2
block = vgg_block(2, 1, 8, np.random.default_rng(1))
maps = [picture[None, None]]
for layer in block.modules:
    maps.append(layer(maps[-1]))
after_convs, pooled = maps[-2][0], maps[-1][0]

fig, axes = plt.subplots(3, 8, figsize=(12, 5.2))
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
axes[0, 0].imshow(picture, cmap="gray")
axes[0, 0].set_title("input 64x64", fontsize=8)
for ax in axes[0, 1:]:
    ax.axis("off")
for c in range(8):
    axes[1, c].imshow(after_convs[c], cmap="inferno")
    axes[1, c].set_title(f"conv-ReLU x2, ch {c}", fontsize=7)
    axes[2, c].imshow(pooled[c], cmap="inferno")
    axes[2, c].set_title(f"max pooled 32x32, ch {c}", fontsize=7)
fig.tight_layout()
plt.show()

# %%
# VGG-11's shape walk
# -------------------
# Five blocks halve 224 down to 7; the dense layers end in 10 classes.

net = vgg(CONV_ARCH, rng).eval()
X = rng.standard_normal((1, 1, 224, 224)).astype(np.float32)
for layer in net.modules:
    X = layer(X)
    print(f"{type(layer).__name__:10s} output shape: {X.shape}")
