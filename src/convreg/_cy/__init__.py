"""The compiled kernels (``.pyx`` modules built by meson; see ``meson.build``).

Importing this package, before any kernel module loads the OpenMP runtime,
shortens how long libgomp's idle threads spin after a parallel region:
``GOMP_SPINCOUNT=10000`` (a few microseconds) instead of 300,000, unless
you have set ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` yourself. A thread
spinning there takes a core that OpenBLAS's threads need when NumPy's BLAS
runs next (a ``Linear`` layer's matmul between two convolutions): with the
default, such a step took 2.65x the sum of its parts; with this, 1.45x
(and 1.03x when ``OPENBLAS_THREAD_TIMEOUT=4`` is also set before NumPy
loads, which convreg cannot do for you). Back-to-back convreg calls keep
their speed: measured unchanged on the benchmark's LeNet cases and on
15-60 us calls in a loop. It applies to this process and the processes it
starts, and only if libgomp was not loaded before convreg.
"""

import os

if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "10000"
