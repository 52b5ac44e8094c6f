"""A VGG block, and VGG-11's shape walk on a 1x1x224x224 input (run for real).

    python examples/chapter/vgg.py
"""

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
net = vgg(CONV_ARCH, rng).eval()
X = rng.standard_normal((1, 1, 224, 224)).astype(np.float32)
for layer in net.modules:
    X = layer(X)
    print(f"{type(layer).__name__:10s} output shape: {X.shape}")
