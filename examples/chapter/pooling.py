"""Maximum and average pooling, with padding, stride and several channels.

    python examples/chapter/pooling.py
"""

import numpy as np

import convreg

X = np.arange(9.0).reshape(1, 3, 3)
print("2x2 max pooling:\n", convreg.max_pool2d(X, 2, stride=1))
print("2x2 average pooling:\n", convreg.avg_pool2d(X, 2, stride=1))
X = np.arange(16.0).reshape(1, 1, 4, 4)
print("3x3 window, padding 1, stride 2:\n", convreg.max_pool2d(X, 3, padding=1, stride=2))
X2 = np.concatenate([X, X + 1], axis=1)
print("two channels stay two channels:\n", convreg.max_pool2d(X2, 3, padding=1, stride=2))
