"""
LeNet's shapes
==============

LeNet as the chapter builds it, and the shape of a 1x1x28x28 input after
every layer.

Run it on its own with::

    python examples/chapter/lenet.py

``lenet_digits.py`` trains the same pattern on handwritten digits.
"""

import numpy as np

from convreg import nn

rng = np.random.default_rng(0)
net = nn.Sequential(
    nn.Conv2d(1, 6, kernel_size=5, padding=2, rng=rng), nn.ReLU(), nn.AvgPool2d(2, stride=2),
    nn.Conv2d(6, 16, kernel_size=5, rng=rng), nn.ReLU(), nn.AvgPool2d(2, stride=2),
    nn.Flatten(), nn.Linear(16 * 5 * 5, 120, rng=rng), nn.ReLU(),
    nn.Linear(120, 84, rng=rng), nn.ReLU(), nn.Linear(84, 10, rng=rng),
)
print(net)
X = rng.standard_normal((1, 1, 28, 28)).astype(np.float32)
for layer in net.modules:
    X = layer(X)
    print(f"{type(layer).__name__:10s} output shape: {X.shape}")
