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
include "buffers.pxi"


cdef inline void _band(int isa, const floating* X, Py_ssize_t ldx, const floating* K,
                       Py_ssize_t kh, Py_ssize_t kw, floating* Y, Py_ssize_t ldy,
                       Py_ssize_t out_h, Py_ssize_t out_w, Py_ssize_t R,
                       Py_ssize_t band) noexcept nogil:
    """Output rows ``band*R ..``: a whole band in one call of the ``R``-row kernel, the
    rows left over below the last whole band one at a time."""
    cdef Py_ssize_t i
    if band * R + R <= out_h:
        if floating is float:
            convreg_corr2d_rows_f32(isa, X + band * R * ldx, ldx, K, kh, kw, Y + band * R * ldy,
                                    ldy, out_w)
        else:
            convreg_corr2d_rows_f64(isa, X + band * R * ldx, ldx, K, kh, kw, Y + band * R * ldy,
                                    ldy, out_w)
    else:
        for i in range(band * R, out_h):
            if floating is float:
                convreg_corr2d_row_f32(X + i * ldx, ldx, K, kh, kw, Y + i * ldy, out_w)
            else:
                convreg_corr2d_row_f64(X + i * ldx, ldx, K, kh, kw, Y + i * ldy, out_w)


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
    cdef Py_ssize_t band
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for band in prange(bands, schedule="static", num_threads=num_threads):
            if convreg_tick(&halt, R * out_w * kh * kw):
                continue
            _band(isa, &X[0, 0], ldx, &K[0, 0], kh, kw, &Y[0, 0], ldy, out_h, out_w, R, band)
    convreg_interrupt_finish(&halt)


def corr2d_tiny(X, K, Y):
    """:func:`corr2d_valid` on one thread for calls of microseconds (the chapter's).

    The same sums (the same row kernels); the arrays are taken through the
    buffer protocol instead of as typed memoryviews, whose creation was a
    third of a tiny call. Everything the loops index is checked first:
    C-contiguous 2-D arrays of one float type, ``Y`` writable, ``Y``'s rows
    and columns plus the kernel's within ``X``, at most :data:`TINY_MAX_WORK`
    multiply-adds.
    """
    _tiny_checked(_Operands(X, K, Y))


cdef int _tiny_checked(_Operands ops) except -1:
    fmt = ops.dtype(2, "corr2d_tiny")
    cdef Py_buffer* bx = &ops.a
    cdef Py_buffer* bk = &ops.b
    cdef Py_buffer* by = &ops.out
    cdef Py_ssize_t H = bx.shape[0], W = bx.shape[1], kh = bk.shape[0], kw = bk.shape[1]
    cdef Py_ssize_t out_h = by.shape[0], out_w = by.shape[1]
    if min(kh, kw, out_h, out_w) < 1 or out_h + kh - 1 > H or out_w + kw - 1 > W:
        raise ValueError(f"corr2d_tiny: shapes do not fit: X {(H, W)}, K {(kh, kw)}, "
                         f"Y {(out_h, out_w)}")
    if out_h * out_w * kh * kw > TINY_MAX_WORK:
        raise ValueError("corr2d_tiny is for calls of at most TINY_MAX_WORK multiply-adds")
    cdef int isa = convreg_isa()
    cdef Py_ssize_t R = convreg_corr2d_rows_per_call(isa)
    cdef Py_ssize_t band
    with nogil:
        for band in range((out_h + R - 1) // R):
            if fmt == "f":
                _band(isa, <const float*>bx.buf, W, <const float*>bk.buf, kh, kw,
                      <float*>by.buf, out_w, out_h, out_w, R, band)
            else:
                _band(isa, <const double*>bx.buf, W, <const double*>bk.buf, kh, kw,
                      <double*>by.buf, out_w, out_h, out_w, R, band)
    return 0
