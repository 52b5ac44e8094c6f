"""
LeNet on handwritten digits
===========================

The chapter's LeNet pattern (convolution, ReLU, pooling, twice, then dense
layers) trained on scikit-learn's 8x8 digits with ``convreg.nn``, by
``examples/train_digits.py`` (which also runs on its own, with options).
The figures: the loss of every step and the test accuracy after every
epoch, then the first layer's sixteen learned 3x3 kernels.

Run it on its own with::

    python examples/chapter/lenet_digits.py

Needs ``pip install "convreg[examples]"`` (scikit-learn ships the digits:
nothing is downloaded).
"""

import importlib.util
import pathlib

import matplotlib.pyplot as plt

# The training script one folder up, loaded by its path: one definition of
# the network, its loop and its figures. (The documentation build runs this
# file in its own folder, without __file__.)
_here = pathlib.Path(globals().get("__file__", "lenet_digits.py")).resolve().parent
_path = _here.parent / "train_digits.py"
_spec = importlib.util.spec_from_file_location("train_digits", _path)
train_digits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train_digits)

history = train_digits.train(epochs=8, progress=False)
print(f"test accuracy after {len(history['test_accuracy'])} epochs: "
      f"{100 * history['test_accuracy'][-1]:.1f}% ({history['seconds']:.1f} s)")

# %%
# Loss, accuracy and the learned kernels
# --------------------------------------

train_digits.figures(history)
plt.show()
