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
    Py_ssize_t convreg_corr2d_rows_per_call(int isa)
    void convreg_corr2d_rows_f32(int isa, const float* x, Py_ssize_t ldx, const float* k,
                                 Py_ssize_t kh, Py_ssize_t kw, float* y, Py_ssize_t ldy,
                                 Py_ssize_t ow)
    void convreg_corr2d_rows_f64(int isa, const double* x, Py_ssize_t ldx, const double* k,
                                 Py_ssize_t kh, Py_ssize_t kw, double* y, Py_ssize_t ldy,
                                 Py_ssize_t ow)


include "cpu_dispatch.pxi"
include "interrupt.pxi"


def corr2d_valid(const floating[:, ::1] X, const floating[:, ::1] K,
                 floating[:, ::1] Y, int num_threads):
    """``Y[i, j] = sum_ab X[i + a, j + b] * K[a, b]`` (``Y`` is overwritten).

    The output rows go in bands of ``R`` (4 with AVX2 or AVX-512), one band
    per task, so no two threads write one element; a band is the
    register-blocked, per-CPU-dispatched C loop of ``corr2d_rows.h``, which
    reuses each loaded input vector for the ``R`` rows; the rows left over
    below the last whole band run one at a time. Interruptible between
    bands (``interrupt.h``).
    """
    cdef Py_ssize_t out_h = Y.shape[0], out_w = Y.shape[1]
    cdef Py_ssize_t kh = K.shape[0], kw = K.shape[1], ldx = X.shape[1], ldy = Y.shape[1]
    cdef int isa = convreg_isa()
    cdef Py_ssize_t R = convreg_corr2d_rows_per_call(isa)
    cdef Py_ssize_t bands = (out_h + R - 1) // R
    cdef Py_ssize_t band, i
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for band in prange(bands, schedule="static", num_threads=num_threads):
            if convreg_tick(&halt, R * out_w * kh * kw):
                continue
            if band * R + R <= out_h:
                if floating is float:
                    convreg_corr2d_rows_f32(isa, &X[band * R, 0], ldx, &K[0, 0], kh, kw,
                                            &Y[band * R, 0], ldy, out_w)
                else:
                    convreg_corr2d_rows_f64(isa, &X[band * R, 0], ldx, &K[0, 0], kh, kw,
                                            &Y[band * R, 0], ldy, out_w)
            else:
                for i in range(band * R, out_h):
                    if floating is float:
                        convreg_corr2d_row_f32(&X[i, 0], ldx, &K[0, 0], kh, kw, &Y[i, 0], out_w)
                    else:
                        convreg_corr2d_row_f64(&X[i, 0], ldx, &K[0, 0], kh, kw, &Y[i, 0], out_w)
    convreg_interrupt_finish(&halt)
