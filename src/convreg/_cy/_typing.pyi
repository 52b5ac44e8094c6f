# Shared names for the kernels' stubs. Each kernel takes float32 or float64
# arrays (a Cython fused type), C-contiguous, already validated: the stubs say
# "an ndarray" and leave shapes and dtypes to the wrappers in plugins/cython.py.
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
IndexArray = npt.NDArray[np.intp]
