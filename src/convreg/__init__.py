"""convreg: 2-D cross-correlation and convolution with interchangeable backends.

One call, ``convreg.conv2d(x, w)``, runs on whichever backend the registry
selects: the pure-Python ``reference`` (the oracle), the compiled ``cython``
kernels, or a backend a third party ships as its own package. See
``convreg.registry`` for how a backend is chosen, and ``python -m convreg
info`` for what is installed.

>>> import convreg
>>> convreg.corr2d([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]])
array([[19., 25.],
       [37., 43.]])

Modules beside the ops:

* ``convreg.nn``: layers with explicit gradients (``Conv2d``, pooling,
  ``Linear``, ``Sequential``, losses, ``optim.SGD``). Training writes the
  chain rule out where PyTorch writes ``loss.backward()``::

      l = loss_fn(net(x), y)             # a float
      opt.zero_grad()
      net.backward(loss_fn.backward())   # every Parameter's .grad
      opt.step()

* ``convreg.torch``: the same ops as PyTorch custom ops with autograd, and
  ``convreg.torch.Conv2d`` (``pip install "convreg[torch]"``).
* ``convreg.testing``: the conformance kit for backend authors.
* ``convreg.shapes``: output shapes and the padding of each mode.
"""

from . import planner
from ._errors import BackendDeclined, BackendError, ContractError
from ._version import __version__  # first: the plugins import it from here
from .conv import conv2d, conv2d_grad_bias, conv2d_grad_input, conv2d_grad_weight
from .correlate import convolve2d, corr2d
from .planner import get_planner, set_planner
from .pool import avg_pool2d, avg_pool2d_grad, max_pool2d, max_pool2d_grad
from .registry import (
    backends,
    get_backend,
    get_debug_checks,
    set_backend,
    set_debug_checks,
    use_backend,
)
from .shapes import output_shape
from .threads import get_num_threads, set_num_threads

__all__ = [
    "__version__",
    "BackendError",
    "BackendDeclined",
    "ContractError",
    "corr2d",
    "convolve2d",
    "conv2d",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "conv2d_grad_bias",
    "max_pool2d",
    "avg_pool2d",
    "max_pool2d_grad",
    "avg_pool2d_grad",
    "output_shape",
    "backends",
    "set_backend",
    "use_backend",
    "get_backend",
    "set_debug_checks",
    "get_debug_checks",
    "set_planner",
    "get_planner",
    "planner",
    "set_num_threads",
    "get_num_threads",
]
