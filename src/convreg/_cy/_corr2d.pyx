"""Valid-mode 2-D cross-correlation, the kernel under corr2d and convolve2d.

Contract (checked by the caller, convreg/plugins/cython.py, before entry):
``X`` is ``(H, W)``, ``K`` is ``(kh, kw)`` with ``kh <= H`` and ``kw <= W``,
``Y`` is ``(H - kh + 1, W - kw + 1)``, all C-contiguous and of one dtype, and
``num_threads >= 1``. Other modes are this kernel on a zero-padded ``X``.
"""

from cython cimport floating
from cython.parallel cimport prange

cdef extern from "corr2d_rows.h" nogil:
    void convreg_corr2d_row_f32(const float* x, Py_ssize_t ldx, const float* k, Py_ssize_t kh,
                                Py_ssize_t kw, float* y, Py_ssize_t ow)
    void convreg_corr2d_row_f64(const double* x, Py_ssize_t ldx, const double* k, Py_ssize_t kh,
                                Py_ssize_t kw, double* y, Py_ssize_t ow)


def corr2d_valid(const floating[:, ::1] X, const floating[:, ::1] K,
                 floating[:, ::1] Y, int num_threads):
    """``Y[i, j] = sum_ab X[i + a, j + b] * K[a, b]`` (``Y`` is overwritten).

    Each thread owns whole output rows, so no two threads write one element;
    each row is the register-blocked, per-CPU-dispatched C loop of
    ``corr2d_rows.h``.
    """
    cdef Py_ssize_t out_h = Y.shape[0], out_w = Y.shape[1]
    cdef Py_ssize_t kh = K.shape[0], kw = K.shape[1], ldx = X.shape[1]
    cdef Py_ssize_t i
    with nogil:
        for i in prange(out_h, schedule="static", num_threads=num_threads):
            if floating is float:
                convreg_corr2d_row_f32(&X[i, 0], ldx, &K[0, 0], kh, kw, &Y[i, 0], out_w)
            else:
                convreg_corr2d_row_f64(&X[i, 0], ldx, &K[0, 0], kh, kw, &Y[i, 0], out_w)
