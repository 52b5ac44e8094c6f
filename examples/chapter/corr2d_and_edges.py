"""Cross-correlation and edge detection (the chapter's first two sections).

    python examples/chapter/corr2d_and_edges.py
"""

import numpy as np

import convreg

X = np.arange(9.0).reshape(3, 3)
K = np.array([[0.0, 1.0], [2.0, 3.0]])
print("corr2d(X, K) =\n", convreg.corr2d(X, K))

image = np.ones((6, 8))
image[:, 2:6] = 0  # a black band across a white image
edge = np.array([[1.0, -1.0]])
print("image =\n", image)
print("edges: 1 marks white-to-black, -1 black-to-white =\n", convreg.corr2d(image, edge))
print("the transposed image has no vertical edges =\n", convreg.corr2d(image.T, edge))
