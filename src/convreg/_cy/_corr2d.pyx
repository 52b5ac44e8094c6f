"""Valid-mode 2-D cross-correlation, the kernel under corr2d and convolve2d.

Contract (checked by the caller, convreg/plugins/cython.py, before entry):
``X`` is ``(H, W)``, ``K`` is ``(kh, kw)`` with ``kh <= H`` and ``kw <= W``,
``Y`` is ``(H - kh + 1, W - kw + 1)``, all C-contiguous and of one dtype, and
``num_threads >= 1``. Other modes are this kernel on a zero-padded ``X``.
"""

from cython.parallel cimport prange

ctypedef fused floating:
    float
    double


def corr2d_valid(const floating[:, ::1] X, const floating[:, ::1] K,
                 floating[:, ::1] Y, int num_threads):
    """``Y[i, j] = sum_ab X[i + a, j + b] * K[a, b]``, written into zeroed ``Y``.

    Each thread owns whole output rows, so no two threads write one element.
    The innermost loop runs along a contiguous output row with the kernel tap
    held in a register, which the C compiler vectorises.
    """
    cdef Py_ssize_t out_h = Y.shape[0], out_w = Y.shape[1]
    cdef Py_ssize_t kh = K.shape[0], kw = K.shape[1]
    cdef Py_ssize_t i, j, a, b
    cdef floating tap
    with nogil:
        for i in prange(out_h, schedule="static", num_threads=num_threads):
            for a in range(kh):
                for b in range(kw):
                    tap = K[a, b]
                    for j in range(out_w):
                        Y[i, j] += tap * X[i + a, j + b]
