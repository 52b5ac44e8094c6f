"""Stride-1 convolution as implicit GEMM: one BLAS call per kernel tap, no im2col.

The functions take a batch of images, each a run of ``Hp x Wp`` grids laid
out channel-major: ``xcn[n, c, m]``. Tap ``(a, b)`` of the output at grid
position ``m = i*Wp + j`` reads ``xcn[n, c, m + a*dh*Wp + b*dw]``: a *fixed
offset* from the output's own position on the padded grid. So a tap is one
GEMM over a shifted view of the input, ``Y (O x M) += W_ab (O x C) @ X_ab
(C x M)``, accumulated in place by BLAS (``beta = 1``), with no column
matrix. Positions ``m`` outside an image's
``H_out x W_out`` corner are computed and dropped by the caller (a fraction
``1 - H_out W_out / (Hp Wp)`` of the flops: 7% for VGG's 56x56 layer, 23%
for 14x14). The gradients are the same GEMMs transposed; the output
gradient is given on the same grid with zeros outside the corners, so those
positions add nothing. BLAS is NumPy's OpenBLAS or SciPy's
(``blas.pxi``, ``convreg/_blas.py``), called without the GIL, on one thread per call: the OpenMP
team takes the images, each cut into pieces of positions ``m``, and runs
every tap's GEMM of a piece (``_gemm.pyx`` says why not BLAS's own
threads). A piece of the forward pass owns its output columns; a piece of
the input gradient owns a band of ``dxcn``'s columns and takes from each
tap the positions that land there; the weight gradient sums each thread's pieces into its
own partial sum, which the caller adds up.

Contract (checked by convreg/plugins/cython.py before entry): arrays are
C-contiguous and of one dtype; ``xcn``/``dxcn`` are ``(N, C, T)`` and the
grid arrays ``(N, O, T)`` with ``T = Hp*Wp``; ``M = T - dh*(kh-1)*Wp -
dw*(kw-1)`` is positive; the tap-major weights are ``(kh, kw, groups,
O/groups, C/groups)`` (forward) or ``(kh, kw, groups, C/groups, O/groups)`` (input
gradient), the weight gradient's partial sums ``(threads, kh, kw, groups,
O/groups, C/groups)`` with at least ``num_threads`` of them; ``T`` fits a
32-bit BLAS int.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid

include "interrupt.pxi"
include "blas.pxi"


def forward(const floating[:, :, ::1] xcn, const floating[:, :, :, :, ::1] wt,
            floating[:, :, ::1] y, Py_ssize_t Wp, Py_ssize_t dh, Py_ssize_t dw, int num_threads):
    """``y[n, g*Og + o, m] += sum_{c,a,b} wt[a, b, g, o, c] xcn[n, g*Cg + c, m + a*dh*Wp +
    b*dw]``."""
    cdef Py_ssize_t kh = wt.shape[0], kw = wt.shape[1], G = wt.shape[2]
    cdef Py_ssize_t Og = wt.shape[3], Cg = wt.shape[4], N = xcn.shape[0], T = xcn.shape[2]
    cdef Py_ssize_t M = T - dh * (kh - 1) * Wp - dw * (kw - 1)
    cdef Py_ssize_t pieces, step
    pieces, step = pieces_of(N, M, num_threads)
    cdef Py_ssize_t q, n, g, a, b, m0, width
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for q in prange(N * pieces, schedule="static", num_threads=num_threads):
            n, m0, width = piece(q, pieces, step, M)
            for g in range(G):
                for a in range(kh):
                    for b in range(kw):
                        if width <= 0 or convreg_tick(&halt, width * Og * Cg):  # between GEMMs
                            break
                        # Y^T (width x Og) += X_ab^T (width x Cg) W_ab^T (Cg x Og), column-major
                        _gemm(b"N", b"N", <int>width, <int>Og, <int>Cg,
                              &xcn[n, g * Cg, m0 + a * dh * Wp + b * dw], <int>T,
                              &wt[a, b, g, 0, 0], <int>Cg, 1, &y[n, g * Og, m0], <int>T)
    convreg_interrupt_finish(&halt)


def grad_input(const floating[:, :, ::1] gy, const floating[:, :, :, :, ::1] wt,
               floating[:, :, ::1] dxcn, Py_ssize_t Wp, Py_ssize_t dh, Py_ssize_t dw,
               int num_threads):
    """``dxcn[n, g*Cg + c, m + a*dh*Wp + b*dw] += sum_o wt[a, b, g, c, o] gy[n, g*Og + o,
    m]``."""
    cdef Py_ssize_t kh = wt.shape[0], kw = wt.shape[1], G = wt.shape[2]
    cdef Py_ssize_t Cg = wt.shape[3], Og = wt.shape[4], N = dxcn.shape[0], T = dxcn.shape[2]
    cdef Py_ssize_t M = T - dh * (kh - 1) * Wp - dw * (kw - 1)
    cdef Py_ssize_t pieces, step
    pieces, step = pieces_of(N, T, num_threads)
    cdef Py_ssize_t q, n, g, a, b, d0, width, shift, m0, m1
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for q in prange(N * pieces, schedule="static", num_threads=num_threads):
            n, d0, width = piece(q, pieces, step, T)  # writes dxcn[n, :, d0:d0+width] only
            for g in range(G):
                for a in range(kh):
                    for b in range(kw):
                        shift = a * dh * Wp + b * dw
                        m0 = max(0, d0 - shift)
                        m1 = min(M, d0 + width - shift)
                        if m1 <= m0:
                            continue
                        if convreg_tick(&halt, (m1 - m0) * Og * Cg):  # between GEMMs
                            break
                        # dX_ab^T (width x Cg) += G^T (width x Og) W_ab (Og x Cg)
                        _gemm(b"N", b"N", <int>(m1 - m0), <int>Cg, <int>Og, &gy[n, g * Og, m0],
                              <int>T, &wt[a, b, g, 0, 0], <int>Og, 1,
                              &dxcn[n, g * Cg, m0 + shift], <int>T)
    convreg_interrupt_finish(&halt)


def grad_weight(const floating[:, :, ::1] xcn, const floating[:, :, ::1] gy,
                floating[:, :, :, :, :, ::1] partial, Py_ssize_t Wp, Py_ssize_t dh,
                Py_ssize_t dw, int num_threads):
    """``partial[t, a, b, g, o, c] += sum gy[n, g*Og + o, m] xcn[n, g*Cg + c, m + a*dh*Wp +
    b*dw]`` over the images and positions ``(n, m)`` of thread ``t``'s pieces."""
    cdef Py_ssize_t kh = partial.shape[1], kw = partial.shape[2], G = partial.shape[3]
    cdef Py_ssize_t Og = partial.shape[4], Cg = partial.shape[5]
    cdef Py_ssize_t N = xcn.shape[0], T = xcn.shape[2]
    cdef Py_ssize_t M = T - dh * (kh - 1) * Wp - dw * (kw - 1)
    check_partial_sums("grad_weight", partial.shape[0], num_threads)
    cdef Py_ssize_t pieces, step
    pieces, step = pieces_of(N, M, num_threads)
    cdef Py_ssize_t q, n, g, a, b, m0, width
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for q in prange(N * pieces, schedule="static", num_threads=num_threads):
            n, m0, width = piece(q, pieces, step, M)
            for g in range(G):
                for a in range(kh):
                    for b in range(kw):
                        if width <= 0 or convreg_tick(&halt, width * Og * Cg):  # between GEMMs
                            break
                        # dW_ab^T (Cg x Og) += X_ab (Cg x width) G^T (width x Og)
                        _gemm(b"T", b"N", <int>Cg, <int>Og, <int>width,
                              &xcn[n, g * Cg, m0 + a * dh * Wp + b * dw], <int>T,
                              &gy[n, g * Og, m0], <int>T, 1, &partial[threadid(), a, b, g, 0, 0],
                              <int>Cg)
    convreg_interrupt_finish(&halt)
