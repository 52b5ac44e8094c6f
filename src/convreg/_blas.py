"""Which BLAS library the compiled kernels' GEMMs call.

The kernels built on GEMM (im2col, Winograd, implicit GEMM) call a Fortran
``sgemm``/``dgemm`` from inside their OpenMP loops (``_cy/blas.pxi``), one
single-threaded call per piece. A process running convreg usually holds two
OpenBLAS builds: SciPy's, which every SciPy exports to compiled code through
``scipy.linalg.cython_blas`` (32-bit ints), and NumPy's, the one ``np.matmul``
runs (in NumPy's wheels scipy-openblas64: 64-bit ints, its symbols named
``scipy_sgemm_64_``). They need not be the same release: with NumPy 2.4.6
(OpenBLAS 0.3.31) and SciPy 1.17.1 (0.3.30) on an AMD EPYC (Zen 3), NumPy's
ran the layers' GEMM shapes 1.15-1.24x faster on one thread (64 x 64 x 252,
Winograd's, 48.6 against 39.9 GFLOP/s; 128 x 576 x 784, im2col's, 80.8
against 70.1), and a team of one already called it through ``np.matmul``.

So the kernels call NumPy's BLAS where :func:`numpy_gemm` finds it (an OpenBLAS
loaded from NumPy's own folder, whose Fortran GEMMs are exported under a name
that says their integer width), and SciPy's otherwise. ``CONVREG_BLAS=scipy``
keeps them on SciPy's (read once, when the kernels load); :func:`describe`
says which one they call.
"""

from __future__ import annotations

import ctypes
import logging
import os
import warnings
from typing import NamedTuple

__all__ = ["Gemm", "numpy_gemm", "selected", "reject", "describe", "chosen"]

_log = logging.getLogger("convreg")

# Fortran GEMMs with 64-bit ints, as OpenBLAS names them when built with a
# symbol suffix (NumPy's wheels: prefix "scipy_", suffix "64_").
_ILP64_NAMES = (("scipy_sgemm_64_", "scipy_dgemm_64_"), ("sgemm_64_", "dgemm_64_"))


class Gemm(NamedTuple):
    """A BLAS library's Fortran ``sgemm`` and ``dgemm``: their addresses, whether their
    ints are 64-bit, and what to call the library in messages."""

    sgemm: int
    dgemm: int
    ilp64: bool
    name: str


def _numpy_openblas() -> dict[str, object] | None:
    """threadpoolctl's record of the OpenBLAS NumPy loaded from its own folder, if any."""
    import numpy as np
    from threadpoolctl import threadpool_info

    home = os.path.dirname(os.path.realpath(np.__file__))
    folders = (home, home + ".libs")  # numpy/.dylibs, numpy/../numpy.libs (auditwheel)
    for lib in threadpool_info():
        path = os.path.realpath(str(lib.get("filepath", "")))
        if lib.get("internal_api") == "openblas" and any(
                path.startswith(folder + os.sep) for folder in folders):
            return dict(lib)
    return None


def numpy_gemm() -> Gemm | None:
    """NumPy's OpenBLAS GEMMs, or None: not OpenBLAS, not from NumPy's folder, no GEMM
    under a name that says its int width, or ``CONVREG_BLAS=scipy``."""
    choice = os.environ.get("CONVREG_BLAS", "").strip().lower()
    if choice not in ("", "numpy", "scipy"):
        warnings.warn(f"CONVREG_BLAS={choice!r} is not 'numpy' or 'scipy'; ignored (the "
                      f"kernels call NumPy's BLAS where found)", RuntimeWarning, stacklevel=2)
    if choice == "scipy":
        return None
    try:
        lib = _numpy_openblas()
        if lib is None:
            return None
        handle = ctypes.CDLL(str(lib["filepath"]))
    except (ImportError, OSError) as exc:  # threadpoolctl missing, or the library moved
        _log.debug("NumPy's BLAS not usable (%s); the kernels call SciPy's", exc)
        return None
    for s_name, d_name in _ILP64_NAMES:
        try:
            s, d = getattr(handle, s_name), getattr(handle, d_name)
        except AttributeError:
            continue
        address = ctypes.cast(s, ctypes.c_void_p).value, ctypes.cast(d, ctypes.c_void_p).value
        if address[0] and address[1]:
            return Gemm(address[0], address[1], True,
                        f"NumPy's OpenBLAS {lib.get('version')} ({lib.get('architecture')}, "
                        f"64-bit ints)")
    return None


# The process's choice: numpy_gemm()'s answer once `selected` has asked (None after
# `reject`). Three kernel modules include blas.pxi, and each asks when it loads:
# so the libraries are looked up once (threadpoolctl walks every loaded library,
# 1-7 ms) and a bad CONVREG_BLAS is warned about once, not three times.
_asked = False
_selected: Gemm | None = None

# Set by the kernel modules (blas.pxi) when they load: the library they call.
chosen: str = "not loaded yet"


def selected() -> Gemm | None:
    """:func:`numpy_gemm`'s answer, looked up once per process; None after :func:`reject`."""
    global _asked, _selected
    if not _asked:
        _selected, _asked = numpy_gemm(), True
    return _selected


def reject(found: Gemm) -> None:
    """``found`` computed a kernel module's test product wrongly: warn, and have every
    kernel module call SciPy's BLAS (:func:`selected` answers None from now on)."""
    global _asked, _selected
    _selected, _asked = None, True
    warnings.warn(f"{found.name} computed a test product wrongly; convreg's GEMMs call "
                  f"SciPy's BLAS instead", RuntimeWarning, stacklevel=2)


def describe() -> str:
    """Which BLAS the compiled kernels' GEMMs call.

    >>> from convreg import _blas
    >>> import convreg.plugins.cython  # loads the kernels
    >>> _blas.describe().startswith(("NumPy's", "SciPy's"))
    True
    """
    return chosen
