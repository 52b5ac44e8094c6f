"""Multiple input and output channels, and the 1x1 convolution.

    python examples/chapter/channels.py
"""

import numpy as np

import convreg

X = np.stack([np.arange(9.0).reshape(3, 3), np.arange(1.0, 10.0).reshape(3, 3)])
K = np.stack([np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([[1.0, 2.0], [3.0, 4.0]])])
print("two input channels, one output:\n", convreg.conv2d(X, K[None]))
K3 = np.stack([K, K + 1, K + 2])
print("three output channels, shape", K3.shape, "->\n", convreg.conv2d(X, K3))

rng = np.random.default_rng(0)
X1, K1 = rng.standard_normal((3, 3, 3)), rng.standard_normal((2, 3, 1, 1))
via_conv = convreg.conv2d(X1, K1)
via_matmul = (K1.reshape(2, 3) @ X1.reshape(3, 9)).reshape(2, 3, 3)
print("1x1 convolution == matrix product over channels:", np.allclose(via_conv, via_matmul))
