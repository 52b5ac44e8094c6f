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
``M[k] (O x T) = U[k] (O x C) @ V[k] (C x T)`` for ``k = 4*i + j``. The
weight transform ``U = G g G^T`` is small and done in NumPy; this module
does the two that touch every pixel, a tile row at a time in C
(``winograd.h``, vectorised across the row's tiles):

* :func:`input_transform`: ``V[k, c, t] = (B^T d B)[i, j]`` for the 4x4
  patch ``d`` of tile ``t`` in channel ``c``;
* :func:`output_transform`: ``y`` tile ``t`` of channel ``o`` is
  ``A^T M[:, o, t] A`` (as a 4x4), clipped at the output's edge.

Both add and subtract only: every intermediate is a sum of at most four
inputs (``|V| <= 4 max|x|``), which is what the error bound in
``convreg/plugins/cython.py`` counts.

Contract (checked here before the loops, which index unchecked): ``x`` is
a block of images ``(n, C, 2*th + 2, 2*tw + 2)`` padded to whole tiles;
``V`` is ``(16, S)`` holding ``(C, T)`` at the start of each row, ``M``
``(16, S')`` holding ``(O, T)``, ``T = n*rows*tw`` tiles ordered ``(image,
tile row, tile column)`` for tile rows ``r0 .. r0+rows-1``;
``y`` is ``(n, O, oh, ow)`` with ``tw = ceil(ow / 2)``. All C-contiguous
(the wrapper makes them so) and of one dtype. Each parallel loop gives a
thread whole tile rows of one plane and ticks once per row (interrupt.h).
"""

from cython cimport floating
from cython.parallel cimport prange

include "interrupt.pxi"

cdef extern from "winograd.h" nogil:
    void convreg_winograd_input_f32(const float* p0, Py_ssize_t ldx, float* v, Py_ssize_t plane,
                                    Py_ssize_t tw)
    void convreg_winograd_input_f64(const double* p0, Py_ssize_t ldx, double* v,
                                    Py_ssize_t plane, Py_ssize_t tw)
    void convreg_winograd_output_f32(const float* s, Py_ssize_t plane, float* y0, float* y1,
                                     Py_ssize_t tw, Py_ssize_t full)
    void convreg_winograd_output_f64(const double* s, Py_ssize_t plane, double* y0, double* y1,
                                     Py_ssize_t tw, Py_ssize_t full)


cdef inline (Py_ssize_t, Py_ssize_t, Py_ssize_t) _task(Py_ssize_t q, Py_ssize_t planes,
                                                       Py_ssize_t rows) noexcept nogil:
    """Task ``q`` of a loop over (image, plane, tile row), as those three indices."""
    return q // (planes * rows), (q // rows) % planes, q % rows


def input_transform(const floating[:, :, :, ::1] x, floating[:, ::1] V, Py_ssize_t r0,
                    Py_ssize_t rows, int num_threads):
    """``V[4*i + j, c*T + t] = (B^T d B)[i, j]``, ``d`` tile ``t``'s 4x4 patch of channel ``c``.

    ``V`` is ``(16, S)`` with ``S >= C*T``, ``T = n*rows*tw``: its rows may be
    longer than ``C*T`` so that the 16 planes a tile writes are not a
    multiple of 4 KiB apart (they then share L1 sets, and the transform ran
    6x slower).
    """
    cdef Py_ssize_t n = x.shape[0], C = x.shape[1], Hx = x.shape[2], Wx = x.shape[3]
    cdef Py_ssize_t th = (Hx - 2) // 2, tw = (Wx - 2) // 2
    cdef Py_ssize_t T = n * rows * tw
    if (Hx < 4 or Wx < 4 or Hx % 2 or Wx % 2 or r0 < 0 or rows < 0 or r0 + rows > th
            or V.shape[0] != 16 or V.shape[1] < C * T):
        raise ValueError(f"input_transform: V {(V.shape[0], V.shape[1])} does not fit tile "
                         f"rows {r0}..{r0 + rows - 1} of x {(n, C, Hx, Wx)}")
    cdef Py_ssize_t plane = V.shape[1]
    cdef Py_ssize_t q, m, c, ti
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for q in prange(n * C * rows, schedule="static", num_threads=num_threads):
            if convreg_tick(&halt, 16 * tw):
                continue
            m, c, ti = _task(q, C, rows)
            if floating is float:
                convreg_winograd_input_f32(&x[m, c, 2 * (r0 + ti), 0], Wx,
                                           &V[0, c * T + (m * rows + ti) * tw], plane, tw)
            else:
                convreg_winograd_input_f64(&x[m, c, 2 * (r0 + ti), 0], Wx,
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
