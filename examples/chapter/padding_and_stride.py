"""Padding and stride: output shapes of an 8x8 input.

    python examples/chapter/padding_and_stride.py
"""

import numpy as np

from convreg import nn, output_shape

X = np.random.default_rng(0).random((1, 1, 8, 8)).astype(np.float32)
for kernel, padding, stride in [(3, 1, 1), ((5, 3), (2, 1), 1), (3, 1, 2), ((3, 5), (0, 1), (3, 5))]:
    conv = nn.Conv2d(1, 1, kernel_size=kernel, padding=padding, stride=stride, rng=0)
    print(f"kernel {kernel}, padding {padding}, stride {stride}: {conv(X).shape[2:]} "
          f"(formula: {output_shape((8, 8), kernel, stride, padding)})")
