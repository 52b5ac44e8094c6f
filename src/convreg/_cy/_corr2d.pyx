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
    ctypedef void (*convreg_rows_f32_fn)(const float*, Py_ssize_t, const float*, Py_ssize_t,
                                         Py_ssize_t, float*, Py_ssize_t, Py_ssize_t) noexcept nogil
    ctypedef void (*convreg_rows_f64_fn)(const double*, Py_ssize_t, const double*, Py_ssize_t,
                                         Py_ssize_t, double*, Py_ssize_t, Py_ssize_t) noexcept nogil
    ctypedef struct convreg_rows_tile:
        Py_ssize_t rows
        Py_ssize_t vectors
        convreg_rows_f32_fn f32
        convreg_rows_f64_fn f64
    const convreg_rows_tile* convreg_corr2d_tiles(int isa, int* count)
    const convreg_rows_tile* convreg_corr2d_tile(int isa, int tile)


include "cpu_dispatch.pxi"
include "interrupt.pxi"
include "buffers.pxi"


cdef inline void _band(const convreg_rows_tile* tile, const floating* X, Py_ssize_t ldx,
                       const floating* K, Py_ssize_t kh, Py_ssize_t kw, floating* Y,
                       Py_ssize_t ldy, Py_ssize_t out_h, Py_ssize_t out_w,
                       Py_ssize_t band) noexcept nogil:
    """Output rows ``band*R ..``: a whole band in one call of the tile's ``R``-row kernel,
    the rows left over below the last whole band one at a time."""
    cdef Py_ssize_t i, R = tile.rows
    if band * R + R <= out_h:
        if floating is float:
            tile.f32(X + band * R * ldx, ldx, K, kh, kw, Y + band * R * ldy, ldy, out_w)
        else:
            tile.f64(X + band * R * ldx, ldx, K, kh, kw, Y + band * R * ldy, ldy, out_w)
    else:
        for i in range(band * R, out_h):
            if floating is float:
                convreg_corr2d_row_f32(X + i * ldx, ldx, K, kh, kw, Y + i * ldy, out_w)
            else:
                convreg_corr2d_row_f64(X + i * ldx, ldx, K, kh, kw, Y + i * ldy, out_w)


cdef const convreg_rows_tile* _tile(int tile) except NULL:
    """Register tile ``tile`` of the ISA the kernels run now, checked against the table."""
    cdef int isa = convreg_isa(), count
    convreg_corr2d_tiles(isa, &count)
    if not 0 <= tile < count:
        raise ValueError(f"tile must index tiles() (0 to {count - 1}); got {tile}")
    return convreg_corr2d_tile(isa, tile)


def tiles():
    """The register tiles compiled for the ISA the kernels run now, as ``(rows,
    vectors)`` pairs (``corr2d_rows.h``); the first is the default, and
    :func:`corr2d_valid`'s ``tile`` is an index into this list."""
    cdef int count
    cdef const convreg_rows_tile* table = convreg_corr2d_tiles(convreg_isa(), &count)
    return [(table[i].rows, table[i].vectors) for i in range(count)]


def corr2d_valid(const floating[:, ::1] X, const floating[:, ::1] K,
                 floating[:, ::1] Y, int num_threads, int tile=0):
    """``Y[i, j] = sum_ab X[i + a, j + b] * K[a, b]`` (``Y`` is overwritten).

    The output rows go in bands of ``R`` (the register tile's rows), one
    band per task, so no two threads write one element; a band is the
    register-blocked, per-CPU-dispatched C loop of ``corr2d_rows.h``, which
    reuses each loaded input vector for the ``R`` rows; the rows left over
    below the last whole band run one at a time. ``tile`` indexes
    :func:`tiles`; every tile gives the same result bit for bit.
    Interruptible between bands (``interrupt.h``).
    """
    cdef Py_ssize_t out_h = Y.shape[0], out_w = Y.shape[1]
    cdef Py_ssize_t kh = K.shape[0], kw = K.shape[1], ldx = X.shape[1], ldy = Y.shape[1]
    cdef const convreg_rows_tile* t = _tile(tile)
    cdef Py_ssize_t R = t.rows
    cdef Py_ssize_t bands = (out_h + R - 1) // R
    cdef Py_ssize_t band
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for band in prange(bands, schedule="static", num_threads=num_threads):
            if convreg_tick(&halt, R * out_w * kh * kw):
                continue
            _band(t, &X[0, 0], ldx, &K[0, 0], kh, kw, &Y[0, 0], ldy, out_h, out_w, band)
    convreg_interrupt_finish(&halt)


def corr2d_planes(const floating[:, :, :, ::1] X, const floating[:, :, :, ::1] K,
                  floating[:, :, :, ::1] Y, int num_threads, int tile=0):
    """``Y[n, o] = corr2d_valid(X[n, o // (O // C)], K[o, 0])``: a layer with one input
    channel per group (``X`` ``(N, C, H, W)``, zero-padded; ``K`` ``(O, 1, kh, kw)``
    with ``O`` a multiple of ``C``; ``Y`` ``(N, O, H - kh + 1, W - kw + 1)``).

    Each output plane is :func:`corr2d_valid`'s sum, vectorised along the
    plane's rows: where the channel-blocked kernels would fill one lane of
    a vector per output channel (6 of 16 for LeNet's first layer), these
    fill every lane with pixels. Tasks are (plane, band) pairs, so small
    planes still spread over the threads.
    """
    cdef Py_ssize_t N = X.shape[0], C = X.shape[1], H = X.shape[2], W = X.shape[3]
    cdef Py_ssize_t O = K.shape[0], kh = K.shape[2], kw = K.shape[3]
    cdef Py_ssize_t out_h = Y.shape[2], out_w = Y.shape[3]
    if (K.shape[1] != 1 or C < 1 or O % C or Y.shape[0] != N or Y.shape[1] != O
            or kh < 1 or kw < 1 or out_h != H - kh + 1 or out_w != W - kw + 1 or out_h < 1
            or out_w < 1):
        raise ValueError(f"corr2d_planes: X {(N, C, H, W)}, K {(O, K.shape[1], kh, kw)} and "
                         f"Y {(Y.shape[0], Y.shape[1], out_h, out_w)} do not fit")
    cdef const convreg_rows_tile* t = _tile(tile)
    cdef Py_ssize_t bands = (out_h + t.rows - 1) // t.rows, per_group = O // C
    cdef Py_ssize_t q, n, o, band
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for q in prange(N * O * bands, schedule="static", num_threads=num_threads):
            if convreg_tick(&halt, t.rows * out_w * kh * kw):
                continue
            n, o, band = q // (O * bands), (q // bands) % O, q % bands
            _band(t, &X[n, o // per_group, 0, 0], W, &K[o, 0, 0, 0], kh, kw, &Y[n, o, 0, 0],
                  out_w, out_h, out_w, band)
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
    cdef const convreg_rows_tile* t = convreg_corr2d_tile(convreg_isa(), 0)
    cdef Py_ssize_t band
    with nogil:
        for band in range((out_h + t.rows - 1) // t.rows):
            if fmt == "f":
                _band(t, <const float*>bx.buf, W, <const float*>bk.buf, kh, kw,
                      <float*>by.buf, out_w, out_h, out_w, band)
            else:
                _band(t, <const double*>bx.buf, W, <const double*>bk.buf, kh, kw,
                      <double*>by.buf, out_w, out_h, out_w, band)
    return 0
