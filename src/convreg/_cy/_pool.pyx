"""Kernels of max and average pooling and their gradients.

Contract (checked by convreg/plugins/cython.py before entry): ``x`` and
``dx`` are ``(P, H, W)`` with ``P = N*C`` planes, ``y`` and ``g`` are
``(P, oh, ow)`` with ``oh, ow`` from ``convreg.shapes.output_size``, all
C-contiguous and of one dtype; kernel, stride and dilation are positive,
padding non-negative. Padding is implicit: windows are clipped to the input.
Each parallel loop gives every thread whole planes, and ticks once per
output row, or per 64 rows where a row is light (``_tick_mask``), so that
Ctrl-C is seen promptly (``interrupt.h``).
"""

from libc.math cimport INFINITY, isnan
from cython cimport floating
from cython.parallel cimport prange

include "interrupt.pxi"


cdef inline Py_ssize_t _tick_mask(Py_ssize_t row_work) noexcept nogil:
    """Tick every output row (mask 0) when a row is heavy (a large window), every
    64 rows (mask 63) when it is light: ticking each light row cost 2.5% of
    max_pool2d's instructions on 2x2 windows (callgrind)."""
    return 0 if row_work >= 4096 else 63


cdef inline Py_ssize_t _first_max(const floating[:, :, ::1] x, Py_ssize_t p, Py_ssize_t h0,
                                  Py_ssize_t w0, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t dh,
                                  Py_ssize_t dw) noexcept nogil:
    """Flat index ``h*W + w`` of the window's first maximum (first NaN wins); -1 if empty.

    The window's taps are ``(h0 + a*dh, w0 + b*dw)``, scanned row by row as
    PyTorch scans them; taps outside the input are skipped.
    """
    cdef Py_ssize_t H = x.shape[1], W = x.shape[2]
    cdef Py_ssize_t a, b, h, w, best = -1
    cdef floating v, top = -INFINITY
    for a in range(kh):
        h = h0 + a * dh
        if h < 0 or h >= H:
            continue
        for b in range(kw):
            w = w0 + b * dw
            if w < 0 or w >= W:
                continue
            v = x[p, h, w]
            if best < 0 or v > top or (isnan(v) and not isnan(top)):
                top = v
                best = h * W + w
    return best


def max_pool2d(const floating[:, :, ::1] x, floating[:, :, ::1] y, Py_ssize_t kh, Py_ssize_t kw,
               Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t dh,
               Py_ssize_t dw, int num_threads):
    """``y[p, i, j]`` = the maximum of the window (``-inf`` for a window of padding only)."""
    cdef Py_ssize_t P = y.shape[0], oh = y.shape[1], ow = y.shape[2], W = x.shape[2]
    cdef Py_ssize_t p, i, j, k
    cdef convreg_interrupt halt = convreg_interrupt_start()
    cdef Py_ssize_t every = _tick_mask(ow * kh * kw)
    with nogil:
        for p in prange(P, schedule="static", num_threads=num_threads):
            for i in range(oh):
                if (i & every) == 0 and convreg_tick(&halt, (every + 1) * ow * kh * kw):
                    break
                for j in range(ow):
                    k = _first_max(x, p, i * sh - ph, j * sw - pw, kh, kw, dh, dw)
                    y[p, i, j] = x[p, k // W, k % W] if k >= 0 else -INFINITY
    convreg_interrupt_finish(&halt)


def max_pool2d_grad(const floating[:, :, ::1] g, const floating[:, :, ::1] x,
                    floating[:, :, ::1] dx, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
                    Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw,
                    int num_threads):
    """Add each ``g[p, i, j]`` to ``dx`` at its window's first maximum (``dx`` zeroed)."""
    cdef Py_ssize_t P = g.shape[0], oh = g.shape[1], ow = g.shape[2], W = x.shape[2]
    cdef Py_ssize_t p, i, j, k
    cdef convreg_interrupt halt = convreg_interrupt_start()
    cdef Py_ssize_t every = _tick_mask(ow * kh * kw)
    with nogil:
        for p in prange(P, schedule="static", num_threads=num_threads):
            for i in range(oh):
                if (i & every) == 0 and convreg_tick(&halt, (every + 1) * ow * kh * kw):
                    break
                for j in range(ow):
                    k = _first_max(x, p, i * sh - ph, j * sw - pw, kh, kw, dh, dw)
                    if k >= 0:
                        dx[p, k // W, k % W] += g[p, i, j]
    convreg_interrupt_finish(&halt)


cdef struct Span:
    Py_ssize_t first   # first input index inside the window
    Py_ssize_t stop    # one past the last
    Py_ssize_t length  # the window's length counting padding (PyTorch's divisor)


cdef inline Span _span(Py_ssize_t o, Py_ssize_t n, Py_ssize_t k, Py_ssize_t s,
                       Py_ssize_t pad) noexcept nogil:
    """PyTorch's average-pooling window along one axis.

    Returned by value, not through pointers: a variable whose address is
    passed out of a prange body would be shared between threads.
    """
    cdef Span sp
    cdef Py_ssize_t start = o * s - pad
    cdef Py_ssize_t end = start + k
    if end > n + pad:
        end = n + pad
    sp.length = end - start
    sp.first = start if start > 0 else 0
    sp.stop = end if end < n else n
    return sp


def avg_pool2d(const floating[:, :, ::1] x, floating[:, :, ::1] y, Py_ssize_t kh, Py_ssize_t kw,
               Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
               bint count_include_pad, int num_threads):
    """``y[p, i, j]`` = the window's sum over its size (with or without the padding)."""
    cdef Py_ssize_t P = y.shape[0], oh = y.shape[1], ow = y.shape[2]
    cdef Py_ssize_t H = x.shape[1], W = x.shape[2]
    cdef Py_ssize_t p, i, j, h, w, count
    cdef Span rows, cols
    cdef double acc
    cdef convreg_interrupt halt = convreg_interrupt_start()
    cdef Py_ssize_t every = _tick_mask(ow * kh * kw)
    with nogil:
        for p in prange(P, schedule="static", num_threads=num_threads):
            for i in range(oh):
                if (i & every) == 0 and convreg_tick(&halt, (every + 1) * ow * kh * kw):
                    break
                rows = _span(i, H, kh, sh, ph)
                for j in range(ow):
                    cols = _span(j, W, kw, sw, pw)
                    if rows.stop <= rows.first or cols.stop <= cols.first:
                        y[p, i, j] = 0
                        continue
                    if count_include_pad:
                        count = rows.length * cols.length
                    else:
                        count = (rows.stop - rows.first) * (cols.stop - cols.first)
                    acc = 0
                    for h in range(rows.first, rows.stop):
                        for w in range(cols.first, cols.stop):
                            acc = acc + x[p, h, w]
                    y[p, i, j] = <floating>(acc / count)
    convreg_interrupt_finish(&halt)


def avg_pool2d_grad(const floating[:, :, ::1] g, floating[:, :, ::1] dx, Py_ssize_t kh,
                    Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
                    bint count_include_pad, int num_threads):
    """Spread each ``g[p, i, j]`` over its window, divided by the window's size (``dx`` zeroed)."""
    cdef Py_ssize_t P = g.shape[0], oh = g.shape[1], ow = g.shape[2]
    cdef Py_ssize_t H = dx.shape[1], W = dx.shape[2]
    cdef Py_ssize_t p, i, j, h, w, count
    cdef Span rows, cols
    cdef floating share
    cdef convreg_interrupt halt = convreg_interrupt_start()
    cdef Py_ssize_t every = _tick_mask(ow * kh * kw)
    with nogil:
        for p in prange(P, schedule="static", num_threads=num_threads):
            for i in range(oh):
                if (i & every) == 0 and convreg_tick(&halt, (every + 1) * ow * kh * kw):
                    break
                rows = _span(i, H, kh, sh, ph)
                for j in range(ow):
                    cols = _span(j, W, kw, sw, pw)
                    if rows.stop <= rows.first or cols.stop <= cols.first:
                        continue
                    if count_include_pad:
                        count = rows.length * cols.length
                    else:
                        count = (rows.stop - rows.first) * (cols.stop - cols.first)
                    share = g[p, i, j] / count
                    for h in range(rows.first, rows.stop):
                        for w in range(cols.first, cols.stop):
                            dx[p, h, w] += share
    convreg_interrupt_finish(&halt)
