"""Winograd's minimal filtering F(2x2, 3x3): the transforms around its 16 GEMMs.

A 3x3 correlation at stride 1 computes each 2x2 block of outputs (a *tile*)
from the 4x4 input patch under it. Winograd's algorithm (Lavin and Gray,
"Fast Algorithms for Convolutional Neural Networks", 2016) writes

    Y = A^T [ (G g G^T) . (B^T d B) ] A      (. elementwise, 4x4)

    B^T = [1  0 -1  0]    G = [1    0    0 ]    A^T = [1  1  1  0]
          [0  1  1  0]        [1/2  1/2  1/2]          [0  1 -1 -1]
          [0 -1  1  0]        [1/2 -1/2  1/2]
          [0  1  0 -1]        [0    0    1 ]

so a tile takes 16 multiplications instead of 36, and over channels the
elementwise products become 16 independent GEMMs,
``M[k] (O x T) = U[k] (O x C) @ V[k] (C x T)`` for ``k = 4*i + j``. This
module does the transforms around them in C (``winograd.h``), on the
OpenMP team:

* :func:`weight_transform`: ``U[k, o, c] = (G g G^T)[i, j]`` for kernel
  ``g = w[o, c]`` (or, for the input gradient, ``w[c, o]`` turned half a
  turn);
* :func:`input_transform`: ``V[k, c, t] = (B^T d B)[i, j]`` for the 4x4
  patch ``d`` of tile ``t`` in channel ``c`` of the zero-padded input, read
  from the unpadded one, a tile row at a time (vectorised across the row's
  tiles);
* :func:`output_transform`: ``y`` tile ``t`` of channel ``o`` is
  ``A^T M[:, o, t] A`` (as a 4x4), clipped at the output's edge;
* :func:`magnitude`: ``max |a|``, for the error bound's check.

The input and output transforms add and subtract only: every intermediate
is a sum of at most four inputs (``|V| <= 4 max|x|``), which is what the
error bound in ``convreg/plugins/cython.py`` counts.

Contract (checked here before the loops, which index unchecked): ``x`` is
a block of images ``(n, C, h, w)``, at ``(top, left)`` on a grid of tiles
``tw`` wide; ``V`` is ``(16, S)`` holding ``(C, T)`` at the start of each
row, ``M`` ``(16, S')`` holding ``(O, T)``, ``T = n*rows*tw`` tiles ordered
``(image, tile row, tile column)`` for tile rows ``r0 .. r0+rows-1``; ``y``
is ``(n, O, oh, ow)`` with ``tw = ceil(ow / 2)``. All C-contiguous (the
wrapper makes them so) and of one dtype. Each parallel loop gives a thread
whole tile rows of one plane and ticks once per row (interrupt.h).
"""

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy

include "interrupt.pxi"

cdef extern from "winograd.h" nogil:
    void convreg_winograd_input_padded_f32(const float* x, Py_ssize_t h, Py_ssize_t w,
                                           Py_ssize_t row0, Py_ssize_t left, float* buf,
                                           float* v, Py_ssize_t plane, Py_ssize_t tw)
    void convreg_winograd_input_padded_f64(const double* x, Py_ssize_t h, Py_ssize_t w,
                                           Py_ssize_t row0, Py_ssize_t left, double* buf,
                                           double* v, Py_ssize_t plane, Py_ssize_t tw)
    void convreg_winograd_weights_f32(const float* w, Py_ssize_t cstride, int flip, float* u,
                                      Py_ssize_t ld, Py_ssize_t C)
    void convreg_winograd_weights_f64(const double* w, Py_ssize_t cstride, int flip, double* u,
                                      Py_ssize_t ld, Py_ssize_t C)
    uint32_t convreg_magnitude_f32(const float* a, Py_ssize_t n)
    uint64_t convreg_magnitude_f64(const double* a, Py_ssize_t n)
    uint32_t CONVREG_NONFINITE_F32
    uint64_t CONVREG_NONFINITE_F64
    void convreg_winograd_output_f32(const float* s, Py_ssize_t plane, float* y0, float* y1,
                                     Py_ssize_t tw, Py_ssize_t full)
    void convreg_winograd_output_f64(const double* s, Py_ssize_t plane, double* y0, double* y1,
                                     Py_ssize_t tw, Py_ssize_t full)


cdef inline (Py_ssize_t, Py_ssize_t, Py_ssize_t) _task(Py_ssize_t q, Py_ssize_t planes,
                                                       Py_ssize_t rows) noexcept nogil:
    """Task ``q`` of a loop over (image, plane, tile row), as those three indices."""
    return q // (planes * rows), (q // rows) % planes, q % rows


def weight_transform(const floating[:, :, :, ::1] w, floating[:, :, ::1] U, bint adjoint,
                     int num_threads):
    """``U[k, o, c] = (G g G^T)[k // 4, k % 4]`` with ``g = w[o, c]``, or, where ``adjoint``
    is set, ``g = w[c, o]`` turned half a turn (the input gradient's kernel:
    no flipped, transposed copy of ``w``). ``w`` holds 3x3 kernels, ``U`` is
    ``(16, O, C)``."""
    cdef Py_ssize_t O = U.shape[1], C = U.shape[2]
    cdef Py_ssize_t wo = C if adjoint else O, wc = O if adjoint else C
    if (U.shape[0] != 16 or w.shape[0] != wo or w.shape[1] != wc or w.shape[2] != 3
            or w.shape[3] != 3):
        raise ValueError(f"weight_transform: U {(U.shape[0], O, C)} does not fit the kernels "
                         f"w {(w.shape[0], w.shape[1], w.shape[2], w.shape[3])} "
                         f"(3x3; adjoint: {bool(adjoint)})")
    cdef Py_ssize_t plane = O * C, o
    # Row o of U reads w[o, c] (c adjacent kernels) or w[c, o] (c a row of w apart).
    cdef Py_ssize_t cstride = 9 * O if adjoint else 9
    if plane == 0:
        return
    with nogil:
        for o in prange(O, schedule="static", num_threads=num_threads):
            if floating is float:
                convreg_winograd_weights_f32(&w[0, o, 0, 0] if adjoint else &w[o, 0, 0, 0],
                                             cstride, adjoint, &U[0, o, 0], plane, C)
            else:
                convreg_winograd_weights_f64(&w[0, o, 0, 0] if adjoint else &w[o, 0, 0, 0],
                                             cstride, adjoint, &U[0, o, 0], plane, C)


def magnitude(const floating[::1] a, int num_threads):
    """``max |a|`` (0 for no values), or ``inf`` where ``a`` holds an infinity or a NaN:
    one pass, in pieces on the team, exact (a maximum of bit patterns,
    ``winograd.h``)."""
    cdef Py_ssize_t n = a.shape[0], pieces = max(1, min(n // 65536, 4 * max(1, num_threads)))
    cdef Py_ssize_t step = (n + pieces - 1) // pieces, q  # (cdivision: no floor of negatives)
    cdef uint64_t* most = <uint64_t*>calloc(pieces, sizeof(uint64_t))
    if most == NULL:
        raise MemoryError()
    cdef uint64_t bits = 0
    try:
        with nogil:
            for q in prange(pieces, schedule="static", num_threads=num_threads):
                if q * step >= n:
                    continue
                if floating is float:
                    most[q] = convreg_magnitude_f32(&a[q * step], min(step, n - q * step))
                else:
                    most[q] = convreg_magnitude_f64(&a[q * step], min(step, n - q * step))
        for q in range(pieces):
            bits = max(bits, most[q])
    finally:
        free(most)
    cdef uint32_t b32 = <uint32_t>bits
    cdef float f32
    cdef double f64
    if floating is float:
        if b32 >= CONVREG_NONFINITE_F32:
            return float("inf")
        memcpy(&f32, &b32, sizeof(float))
        return f32
    if bits >= CONVREG_NONFINITE_F64:
        return float("inf")
    memcpy(&f64, &bits, sizeof(double))
    return f64


def input_transform(const floating[:, :, :, ::1] x, floating[:, ::1] V, floating[:, ::1] buf,
                    Py_ssize_t r0, Py_ssize_t rows, Py_ssize_t top, Py_ssize_t left,
                    Py_ssize_t tw, int num_threads):
    """``V[4*i + j, c*T + t] = (B^T d B)[i, j]``, ``d`` tile ``t``'s 4x4 patch of channel ``c``
    on the zero grid ``2*tw + 2`` columns wide that holds ``x`` at row ``top``,
    column ``left`` (either may be negative: ``x`` is clipped to the grid).

    ``V`` is ``(16, S)`` with ``S >= C*T``, ``T = n*rows*tw``: its rows may be
    longer than ``C*T`` so that the 16 planes a tile writes are not a
    multiple of 4 KiB apart (they then share L1 sets, and the transform ran
    6x slower). ``buf`` is ``(num_threads, 4*(2*tw + 2))``: each thread's
    four grid rows where a tile row reaches into the padding.
    """
    cdef Py_ssize_t n = x.shape[0], C = x.shape[1], h = x.shape[2], w = x.shape[3]
    cdef Py_ssize_t T = n * rows * tw
    if (tw < 1 or r0 < 0 or rows < 0 or V.shape[0] != 16 or V.shape[1] < C * T
            or buf.shape[0] < num_threads or buf.shape[1] < 4 * (2 * tw + 2)):
        raise ValueError(f"input_transform: V {(V.shape[0], V.shape[1])} or buf "
                         f"{(buf.shape[0], buf.shape[1])} does not fit tile rows "
                         f"{r0}..{r0 + rows - 1} ({tw} tiles wide) of x {(n, C, h, w)} "
                         f"on {num_threads} threads")
    cdef Py_ssize_t plane = V.shape[1]
    cdef Py_ssize_t q, m, c, ti
    cdef floating* row
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil, parallel(num_threads=num_threads):
        row = &buf[threadid(), 0]  # a team never has more threads than asked
        for q in prange(n * C * rows, schedule="static"):
            if convreg_tick(&halt, 16 * tw):
                continue
            m, c, ti = _task(q, C, rows)
            if floating is float:
                convreg_winograd_input_padded_f32(&x[m, c, 0, 0] if h * w else NULL, h, w,
                                                  2 * (r0 + ti) - top, left, row,
                                                  &V[0, c * T + (m * rows + ti) * tw], plane, tw)
            else:
                convreg_winograd_input_padded_f64(&x[m, c, 0, 0] if h * w else NULL, h, w,
                                                  2 * (r0 + ti) - top, left, row,
                                                  &V[0, c * T + (m * rows + ti) * tw], plane, tw)
    convreg_interrupt_finish(&halt)


def output_transform(const floating[:, ::1] M, floating[:, :, :, ::1] y, Py_ssize_t r0,
                     Py_ssize_t rows, int num_threads):
    """Write tile rows ``r0 .. r0+rows-1`` of ``y``: each 2x2 tile is ``A^T M[:, o*T + t] A``
    (``M`` ``(16, S)``, ``S >= O*T``, as ``V`` of :func:`input_transform`)."""
    cdef Py_ssize_t n = y.shape[0], O = y.shape[1], oh = y.shape[2], ow = y.shape[3]
    cdef Py_ssize_t tw = (ow + 1) // 2
    cdef Py_ssize_t T = n * rows * tw
    if (r0 < 0 or rows < 0 or 2 * (r0 + rows) > oh + 1 or ow < 1 or M.shape[0] != 16
            or M.shape[1] < O * T):
        raise ValueError(f"output_transform: M {(M.shape[0], M.shape[1])} does not fit tile "
                         f"rows {r0}..{r0 + rows - 1} of y {(n, O, oh, ow)}")
    cdef Py_ssize_t plane = M.shape[1]
    cdef Py_ssize_t q, m, o, ti, i
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for q in prange(n * O * rows, schedule="static", num_threads=num_threads):
            if convreg_tick(&halt, 16 * tw):
                continue
            m, o, ti = _task(q, O, rows)
            i = 2 * (r0 + ti)
            # An odd last row: its tiles' bottom row is computed into the top
            # row, which is then written over with the right values.
            if floating is float:
                convreg_winograd_output_f32(&M[0, o * T + (m * rows + ti) * tw], plane,
                                            &y[m, o, i, 0],
                                            &y[m, o, i + 1 if i + 1 < oh else i, 0], tw, ow // 2)
            else:
                convreg_winograd_output_f64(&M[0, o * T + (m * rows + ti) * tw], plane,
                                            &y[m, o, i, 0],
                                            &y[m, o, i + 1 if i + 1 < oh else i, 0], tw, ow // 2)
    convreg_interrupt_finish(&halt)
