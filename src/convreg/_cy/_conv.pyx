"""Kernels of conv2d and its gradients: direct loops and im2col / col2im.

Contract (checked by convreg/plugins/cython.py before entry): arrays are
C-contiguous, of one dtype, with the shapes each docstring states; strides,
dilations and paddings are non-negative (strides and dilations positive);
every window the output shape implies lies inside the (padded) input;
``num_threads >= 1``. All loops run without the GIL; each parallel loop
gives every thread its own output elements, so no two threads write one.
Every loop is interruptible (``interrupt.h``): long loops tick every 64
rows, so a Ctrl-C is seen within milliseconds even on a huge plane. The
plain direct loops tick between blocks of 64 rows rather than inside the
row loop, which kept GCC from optimising it: +14% instructions there,
+4% this way (callgrind), on the few-channel layers only.
"""

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.string cimport memcpy, memset

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #else
    static int omp_get_num_threads(void) { return 1; }
    #endif
    """
    int omp_get_num_threads() nogil

cdef extern from "conv_oc_rows.h" nogil:
    const int CONVREG_OB_F32
    const int CONVREG_OB_F64
    void convreg_oc_row_f32(int isa, int units, const float* x, Py_ssize_t plane, Py_ssize_t ldx,
                            Py_ssize_t C, Py_ssize_t kh, Py_ssize_t wkh, Py_ssize_t kw, Py_ssize_t sw,
                            Py_ssize_t dh, Py_ssize_t dw, const float* w, float* y,
                            Py_ssize_t ldy, Py_ssize_t ow)
    void convreg_oc_row_f64(int isa, int units, const double* x, Py_ssize_t plane, Py_ssize_t ldx,
                            Py_ssize_t C, Py_ssize_t kh, Py_ssize_t wkh, Py_ssize_t kw, Py_ssize_t sw,
                            Py_ssize_t dh, Py_ssize_t dw, const double* w, double* y,
                            Py_ssize_t ldy, Py_ssize_t ow)
    Py_ssize_t convreg_gw_taps(int isa, int units)
    void convreg_gw_f32(int isa, int units, const float* x, const Py_ssize_t* off, const float* g,
                        Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t ldr, Py_ssize_t sw, float* dw,
                        Py_ssize_t nt)
    void convreg_gw_f64(int isa, int units, const double* x, const Py_ssize_t* off, const double* g,
                        Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t ldr, Py_ssize_t sw, double* dw,
                        Py_ssize_t nt)

cdef extern from "conv_pixels.h" nogil:
    const int CONVREG_PIX_R
    Py_ssize_t convreg_pix_chunk(int isa, Py_ssize_t itemsize)
    void convreg_pix_row_f32(int isa, const float* x, Py_ssize_t plane, Py_ssize_t ldx,
                             Py_ssize_t S, Py_ssize_t kh, Py_ssize_t wkh, Py_ssize_t kw,
                             Py_ssize_t dh, Py_ssize_t dw, const float* w, float* y,
                             Py_ssize_t ldy, Py_ssize_t ow)
    void convreg_pix_row_f64(int isa, const double* x, Py_ssize_t plane, Py_ssize_t ldx,
                             Py_ssize_t S, Py_ssize_t kh, Py_ssize_t wkh, Py_ssize_t kw,
                             Py_ssize_t dh, Py_ssize_t dw, const double* w, double* y,
                             Py_ssize_t ldy, Py_ssize_t ow)


include "cpu_dispatch.pxi"
include "interrupt.pxi"
include "buffers.pxi"
include "blas.pxi"


#: Channels in one 64-byte vector, by dtype name. A block of output channels
#: of :func:`conv2d_oc_blocked` and :func:`conv2d_grad_weight_oc_blocked` is
#: half, one or two such vectors (``OC_BLOCK[dtype] // 2``, ``OC_BLOCK[dtype]``
#: or ``2 * OC_BLOCK[dtype]`` channels, the last dimension of their blocked
#: arrays).
OC_BLOCK = {"float32": CONVREG_OB_F32, "float64": CONVREG_OB_F64}


cdef int _units(Py_ssize_t ob, Py_ssize_t itemsize) except -1:
    """A block of ``ob`` channels in 32-byte units (1, 2 or 4), checked: the
    kernels are compiled for those sizes only."""
    if ob * itemsize not in (32, 64, 128):
        raise ValueError(f"a channel block must be 32, 64 or 128 bytes; got {ob} channels "
                         f"of {itemsize} bytes")
    return <int>(ob * itemsize // 32)


cdef Py_ssize_t _nonzero_rows_end(Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t Hp) except -1:
    """``hi`` (``-1``: ``Hp``), checked: the rows ``[lo, hi)`` a kernel may read as
    nonzero lie in the input's ``Hp``."""
    if hi == -1:
        hi = Hp
    if not 0 <= lo <= hi <= Hp:
        raise ValueError(f"the nonzero rows [{lo}, {hi}) must lie in the input's {Hp} rows")
    return hi


cdef inline (Py_ssize_t, Py_ssize_t) _kernel_rows(Py_ssize_t top, Py_ssize_t lo, Py_ssize_t hi,
                                                  Py_ssize_t dh, Py_ssize_t kh) noexcept nogil:
    """The kernel rows ``a0 <= a < a1`` with ``lo <= top + a*dh < hi``, for an output row
    whose first kernel row reads input row ``top`` (none: ``a1 <= a0``)."""
    return max(0, (lo - top + dh - 1) // dh), min(kh, (hi - top + dh - 1) // dh)


def conv2d_oc_blocked(const floating[:, :, :, ::1] xp, const floating[:, :, :, :, ::1] wb,
                      floating[:, :, :, ::1] y, floating[:, ::1] rows, Py_ssize_t sh,
                      Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t blocks_per_group,
                      int num_threads, Py_ssize_t lo=0, Py_ssize_t hi=-1):
    """Direct convolution vectorized over blocks of output channels (``conv_oc_rows.c``).

    ``y[n, g*Og + q*OB + o, i, j] = sum_{c,a,b} wb[B, c, a, b, o] * xp[n, g*Cg + c, i*sh + a*dh, j*sw + b*dw]``
    for block ``B = g*blocks_per_group + q`` and ``q*OB + o < Og``. ``xp`` is
    the zero-padded input ``(N, C, Hp, Wp)``, ``wb`` the weights ``(blocks,
    Cg, kh, kw, OB)`` with ``OB`` half, one or two vectors (``OC_BLOCK[dtype]``
    times 1/2, 1 or 2; each group's ``Og`` channels padded with zero weights to
    whole blocks), ``y`` the output
    ``(N, O, oh, ow)``, overwritten. One task per output row of one block of
    one image: the kernel fills a channels-last row in the thread's own row
    of ``rows`` (``(num_threads, ow * OB)``, allocated by the caller, so no
    allocation can fail without the GIL), which is then written out channel
    by channel as contiguous output rows: each task writes only its own row
    of its own channels.

    Rows of ``xp`` outside ``[lo, hi)`` (``hi = -1``: ``Hp``) must be zero:
    each output row then sums over the kernel rows that read a row inside
    only, and a row that reads none is zero: the input gradient's border of
    zeros around the output gradient (29% of the multiply-adds of LeNet's
    second layer) is skipped so.
    """
    cdef Py_ssize_t N = y.shape[0], O = y.shape[1], oh = y.shape[2], ow = y.shape[3]
    cdef Py_ssize_t Hp = xp.shape[2], Wp = xp.shape[3]
    cdef Py_ssize_t nb = wb.shape[0], Cg = wb.shape[1], kh = wb.shape[2], kw = wb.shape[3]
    cdef Py_ssize_t ob = wb.shape[4]
    cdef Py_ssize_t Og = O // (nb // blocks_per_group)
    cdef Py_ssize_t p, n, rest, blk, i, j, o, c0, o0, valid, a0, a1
    cdef int isa = convreg_isa()
    cdef int units = _units(ob, sizeof(floating))
    cdef floating* row
    hi = _nonzero_rows_end(lo, hi, Hp)
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil, parallel(num_threads=num_threads):
        row = &rows[threadid(), 0]  # a team never has more threads than asked
        for p in prange(N * nb * oh, schedule="static"):
            if convreg_tick(&halt, ow * Cg * kh * kw * ob):
                continue
            n = p // (nb * oh)
            rest = p % (nb * oh)
            blk = rest // oh
            i = rest % oh
            c0 = (blk // blocks_per_group) * Cg
            o0 = (blk // blocks_per_group) * Og + (blk % blocks_per_group) * ob
            valid = min(ob, Og - (blk % blocks_per_group) * ob)
            a0, a1 = _kernel_rows(i * sh, lo, hi, dh, kh)
            if a1 <= a0:
                for o in range(valid):
                    memset(&y[n, o0 + o, i, 0], 0, ow * sizeof(floating))
                continue
            if floating is float:
                convreg_oc_row_f32(isa, units, &xp[n, c0, i * sh + a0 * dh, 0], Hp * Wp, Wp, Cg,
                                   a1 - a0, kh, kw, sw, dh, dw, &wb[blk, 0, a0, 0, 0], row, ob, ow)
            else:
                convreg_oc_row_f64(isa, units, &xp[n, c0, i * sh + a0 * dh, 0], Hp * Wp, Wp, Cg,
                                   a1 - a0, kh, kw, sw, dh, dw, &wb[blk, 0, a0, 0, 0], row, ob, ow)
            for o in range(valid):
                for j in range(ow):
                    y[n, o0 + o, i, j] = row[j * ob + o]
    convreg_interrupt_finish(&halt)


#: Output channels a tile of :func:`conv2d_pixels` computes (its weights' last axis).
PIXEL_CHANNELS = CONVREG_PIX_R


def pixel_chunk(Py_ssize_t itemsize):
    """Output pixels per chunk of :func:`conv2d_pixels` on the ISA the kernels run now:
    its rows are computed in whole chunks, so the input must reach that far."""
    return convreg_pix_chunk(convreg_isa(), itemsize)


def conv2d_pixels(const floating[:, :, :, ::1] xp, const floating[:, :, :, :, ::1] wr,
                  floating[:, :, :, ::1] y, floating[:, ::1] rows, Py_ssize_t dh, Py_ssize_t dw,
                  int num_threads, Py_ssize_t lo=0, Py_ssize_t hi=-1):
    """Stride-1 direct correlation vectorised along output pixels (``conv_pixels.h``).

    ``y[n, q*R + c, i, j] = sum_{s,a,b} wr[q, s, a, b, c] * xp[n, s, i + a*dh, j + b*dw]``
    for ``q*R + c < C``, ``R = PIXEL_CHANNELS``: ``wr`` is ``(ceil(C / R), S,
    kh, kw, R)``, the last group's missing channels zero weights. One task per
    output row of one group of ``R`` channels of one image; the kernel fills
    ``R`` rows of the thread's own row of ``rows`` (``(num_threads, R *
    width)``, ``width`` the output row rounded up to whole chunks,
    :func:`pixel_chunk`), copied out channel by channel. ``xp``'s rows must
    reach ``width - 1 + (kw - 1) * dw``. As :func:`conv2d_oc_blocked`, rows
    of ``xp`` outside ``[lo, hi)`` must be zero, and the taps that read only
    them are skipped.
    """
    cdef Py_ssize_t N = y.shape[0], C = y.shape[1], oh = y.shape[2], ow = y.shape[3]
    cdef Py_ssize_t S = xp.shape[1], Hp = xp.shape[2], Wp = xp.shape[3]
    cdef Py_ssize_t G = wr.shape[0], kh = wr.shape[2], kw = wr.shape[3], R = CONVREG_PIX_R
    cdef int isa = convreg_isa()
    cdef Py_ssize_t chunk = convreg_pix_chunk(isa, sizeof(floating))
    cdef Py_ssize_t width = (ow + chunk - 1) // chunk * chunk  # (cdivision: no floor of negatives)
    if (wr.shape[1] != S or wr.shape[4] != R or y.shape[0] != xp.shape[0]
            or not (G - 1) * R < C <= G * R or kh < 1 or kw < 1 or dh < 1 or dw < 1):
        raise ValueError(f"conv2d_pixels: weights {[wr.shape[d] for d in range(5)]} do not "
                         f"fit input {[xp.shape[d] for d in range(4)]} and output "
                         f"{[y.shape[d] for d in range(4)]}")
    if oh and ow and ((oh - 1) + (kh - 1) * dh >= Hp or width - 1 + (kw - 1) * dw >= Wp):
        raise ValueError(f"conv2d_pixels: an output of {oh} x {ow} (rows of {width}) reads "
                         f"past the input's {Hp} x {Wp}")
    if rows.shape[0] < num_threads or rows.shape[1] < R * width:
        raise ValueError(f"conv2d_pixels: rows must hold {R * width} values per thread")
    hi = _nonzero_rows_end(lo, hi, Hp)
    cdef Py_ssize_t p, n, q, i, c, a0, a1
    cdef floating* row
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil, parallel(num_threads=num_threads):
        row = &rows[threadid(), 0]  # a team never has more threads than asked
        for p in prange(N * G * oh, schedule="static"):
            if convreg_tick(&halt, width * S * kh * kw * R):
                continue
            n = p // (G * oh)
            q = (p // oh) % G
            i = p % oh
            a0, a1 = _kernel_rows(i, lo, hi, dh, kh)
            if a1 <= a0:
                for c in range(min(R, C - q * R)):
                    memset(&y[n, q * R + c, i, 0], 0, ow * sizeof(floating))
                continue
            if floating is float:
                convreg_pix_row_f32(isa, &xp[n, 0, i + a0 * dh, 0], Hp * Wp, Wp, S, a1 - a0, kh,
                                    kw, dh, dw, &wr[q, 0, a0, 0, 0], row, width, ow)
            else:
                convreg_pix_row_f64(isa, &xp[n, 0, i + a0 * dh, 0], Hp * Wp, Wp, S, a1 - a0, kh,
                                    kw, dh, dw, &wr[q, 0, a0, 0, 0], row, width, ow)
            for c in range(min(R, C - q * R)):
                memcpy(&y[n, q * R + c, i, 0], row + c * width, ow * sizeof(floating))
    convreg_interrupt_finish(&halt)


def gw_taps_per_tile(Py_ssize_t block_bytes):
    """Kernel taps per tile of :func:`conv2d_grad_weight_oc_blocked` on this CPU, for
    channel blocks of ``block_bytes`` (32, 64 or 128)."""
    return convreg_gw_taps(convreg_isa(), _units(block_bytes, 1))


def conv2d_grad_weight_oc_blocked(const floating[:, :, :, ::1] xp, const floating[:, :, ::1] gb,
                                  const Py_ssize_t[::1] offsets, floating[:, :, :, ::1] dwb,
                                  Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t sh, Py_ssize_t sw,
                                  Py_ssize_t blocks_per_group, int num_threads):
    """The weight gradient, vectorized over blocks of output channels (``conv_oc_rows.c``).

    ``dwb[s, B, t, o] += sum_{n,i,j} gb[n, B, (i*ow + j)*OB + o] * xp[n, g*Cg + c, i*sh + a*dh, j*sw + b*dw]``
    for every tap ``t = (c*kh + a)*kw + b`` (``offsets[t] = c*Hp*Wp +
    a*dh*Wp + b*dw``) of block ``B`` of group ``g = B // blocks_per_group``,
    the images ``n`` split over the ``S = dwb.shape[0]`` partial sums ``s``.
    ``gb`` is the output gradient ``(N, blocks, oh*ow*OB)``, channels-last
    within each block; ``dwb`` is ``(S, blocks, Cg*kh*kw, OB)``, zeroed;
    ``OB`` is half, one or two vectors (``OC_BLOCK[dtype]`` times 1/2, 1 or 2).

    A tile is a block's taps, as many as the registers hold; its sums stay
    in registers over an image's pixels. With ``S == 1`` the tiles are split
    into one contiguous run per thread and each thread walks all images,
    its tiles over each (an image's gradient block stays in cache while the
    thread's tiles read it). With fewer tiles than threads to share (LeNet's
    first layer has 3) each of ``S`` threads instead takes a run of images,
    all tiles, into its own partial sums, which the caller adds. Either way
    no two threads write one sum.
    """
    cdef Py_ssize_t N = xp.shape[0], Hp = xp.shape[2], Wp = xp.shape[3]
    cdef Py_ssize_t S = dwb.shape[0], nb = dwb.shape[1], taps = dwb.shape[2], ob = dwb.shape[3]
    cdef Py_ssize_t Cg = xp.shape[1] // (nb // blocks_per_group)
    cdef int isa = convreg_isa()
    cdef int units = _units(ob, sizeof(floating))
    cdef Py_ssize_t per_tile = convreg_gw_taps(isa, units)
    cdef Py_ssize_t tiles_per_block = (taps + per_tile - 1) // per_tile
    cdef Py_ssize_t tiles = nb * tiles_per_block
    cdef Py_ssize_t nthreads = S if S > 1 else min(<Py_ssize_t>num_threads, tiles)
    cdef Py_ssize_t me, team, first, stop, n0, n1, part, n, tile, blk, t0, nt, c0
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil, parallel(num_threads=nthreads):
        # The work is split by the team OpenMP actually gave (it may give
        # fewer threads than asked), so none is left undone.
        me = threadid()
        team = omp_get_num_threads()
        part = me if S > 1 else 0
        while part < S:
            if S > 1:
                first, stop, n0, n1 = 0, tiles, N * part // S, N * (part + 1) // S
            else:
                first, stop, n0, n1 = tiles * me // team, tiles * (me + 1) // team, 0, N
            for n in range(n0, n1):
                for tile in range(first, stop):
                    blk = tile // tiles_per_block
                    t0 = (tile % tiles_per_block) * per_tile
                    nt = min(per_tile, taps - t0)
                    if convreg_tick(&halt, oh * ow * ob * nt):
                        break
                    c0 = (blk // blocks_per_group) * Cg
                    if floating is float:
                        convreg_gw_f32(isa, units, &xp[n, c0, 0, 0], &offsets[t0],
                                       &gb[n, blk, 0], oh, ow, sh * Wp, sw,
                                       &dwb[part, blk, t0, 0], nt)
                    else:
                        convreg_gw_f64(isa, units, &xp[n, c0, 0, 0], &offsets[t0],
                                       &gb[n, blk, 0], oh, ow, sh * Wp, sw,
                                       &dwb[part, blk, t0, 0], nt)
            part = part + team if S > 1 else S
    convreg_interrupt_finish(&halt)


def place(const floating[:, :, ::1] x, floating[:, :, ::1] out, Py_ssize_t r0, Py_ssize_t c0,
          int num_threads):
    """``out[p, r, c] = x[p, r - r0, c - c0]`` where that lies inside ``x``, else 0.

    Zero padding (``r0, c0 >= 0``) and the shifted, clipped planes of the
    input gradient's phases (either offset may be negative) in one pass over
    ``out``, parallel over planes. ``x`` is ``(P, H, W)``, ``out`` ``(P, Ho,
    Wo)`` with ``Ho, Wo >= 1``.
    """
    cdef Py_ssize_t P = x.shape[0], H = x.shape[1], W = x.shape[2]
    cdef Py_ssize_t Ho = out.shape[1], Wo = out.shape[2]
    cdef Py_ssize_t rlo = max(0, r0), rhi = min(Ho, r0 + H)
    cdef Py_ssize_t clo = max(0, c0), chi = min(Wo, c0 + W)
    cdef Py_ssize_t p, r
    cdef convreg_interrupt halt = convreg_interrupt_start()
    if chi < clo:
        chi = clo
    with nogil:
        for p in prange(P, schedule="static", num_threads=num_threads):
            for r in range(Ho):
                if (r & 63) == 0 and convreg_tick(&halt, 64 * Wo):
                    break
                if r < rlo or r >= rhi:
                    memset(&out[p, r, 0], 0, Wo * sizeof(floating))
                    continue
                if clo > 0:
                    memset(&out[p, r, 0], 0, clo * sizeof(floating))
                if chi > clo:
                    memcpy(&out[p, r, clo], &x[p, r - r0, clo - c0], (chi - clo) * sizeof(floating))
                if chi < Wo:
                    memset(&out[p, r, chi], 0, (Wo - chi) * sizeof(floating))
    convreg_interrupt_finish(&halt)


def lanes_last(const floating[:, :, ::1] a, floating[:, :, ::1] out, int num_threads):
    """``out[B, l, o] = a[g, q*OB + o, l]`` for block ``B = g*per + q``, zero past ``a``'s channels.

    ``a`` is ``(G, n, L)``, ``out`` ``(G*per, L, OB)`` with ``per = ceil(n /
    OB)``: each group's ``n`` channels in blocks of ``OB`` vector lanes,
    the lanes innermost (the output gradient's layout for
    :func:`conv2d_grad_weight_oc_blocked`). Parallel over blocks.
    """
    cdef Py_ssize_t G = a.shape[0], n = a.shape[1], L = a.shape[2]
    cdef Py_ssize_t nb = out.shape[0], ob = out.shape[2], per = nb // G
    cdef Py_ssize_t blk, g, q0, valid, l, o
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for blk in prange(nb, schedule="static", num_threads=num_threads):
            g = blk // per
            q0 = (blk % per) * ob
            valid = min(ob, n - q0)
            for l in range(L):
                if (l & 4095) == 0 and convreg_tick(&halt, 4096 * ob):
                    break
                for o in range(valid):
                    out[blk, l, o] = a[g, q0 + o, l]
                for o in range(valid, ob):
                    out[blk, l, o] = 0
    convreg_interrupt_finish(&halt)


def conv2d_direct(const floating[:, :, :, ::1] xp, const floating[:, :, :, ::1] w,
                  floating[:, :, :, ::1] y, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh,
                  Py_ssize_t dw, Py_ssize_t groups, int num_threads):
    """``y[n, o] += sum_{c,a,b} w[o, c, a, b] * xp[n, g*Cg + c, i*sh + a*dh, j*sw + b*dw]``.

    ``xp`` is the zero-padded input ``(N, C, Hp, Wp)``, ``w`` is
    ``(O, Cg, kh, kw)``, ``y`` is the zeroed ``(N, O, oh, ow)``. One thread per
    output plane ``(n, o)``; the inner loop runs along an output row.
    """
    cdef Py_ssize_t N = y.shape[0], O = y.shape[1], oh = y.shape[2], ow = y.shape[3]
    cdef Py_ssize_t Cg = w.shape[1], kh = w.shape[2], kw = w.shape[3]
    cdef Py_ssize_t Og = O // groups
    cdef Py_ssize_t p, n, o, ci, c, a, b, i, i0, j, r0, c0
    cdef floating tap
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for p in prange(N * O, schedule="static", num_threads=num_threads):
            n = p // O
            o = p % O
            for ci in range(Cg):
                c = (o // Og) * Cg + ci
                for a in range(kh):
                    for b in range(kw):
                        tap = w[o, ci, a, b]
                        for i0 in range(0, oh, 64):  # tick between blocks of rows
                            if convreg_tick(&halt, 64 * ow):
                                break
                            for i in range(i0, min(i0 + 64, oh)):
                                r0 = i * sh + a * dh
                                c0 = b * dw
                                for j in range(ow):
                                    y[n, o, i, j] += tap * xp[n, c, r0, c0 + j * sw]
    convreg_interrupt_finish(&halt)


cdef inline void _conv2d_tiny(const floating* x, const floating* w, floating* y, Py_ssize_t N,
                              Py_ssize_t C, Py_ssize_t Hp, Py_ssize_t Wp, Py_ssize_t O,
                              Py_ssize_t Cg, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t oh,
                              Py_ssize_t ow, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh,
                              Py_ssize_t dw, Py_ssize_t Og) noexcept nogil:
    # conv2d_direct's loops in its order (the same sums, bit for bit), on raw pointers.
    cdef Py_ssize_t n, o, ci, c, a, b, i, j
    cdef floating tap
    cdef const floating* row
    cdef floating* out
    for n in range(N):
        for o in range(O):
            for ci in range(Cg):
                c = (o // Og) * Cg + ci
                for a in range(kh):
                    for b in range(kw):
                        tap = w[((o * Cg + ci) * kh + a) * kw + b]
                        for i in range(oh):
                            row = x + ((n * C + c) * Hp + i * sh + a * dh) * Wp + b * dw
                            out = y + ((n * O + o) * oh + i) * ow
                            for j in range(ow):
                                out[j] += tap * row[j * sw]


def conv2d_tiny(xp, w, y, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw,
                Py_ssize_t groups):
    """:func:`conv2d_direct` on one thread for calls of microseconds (the chapter's).

    The same sums in the same order; what differs is the entry: the arrays
    are taken through the buffer protocol, not as typed memoryviews, whose
    creation was a quarter of a tiny call. Everything the loops index is
    checked first: C-contiguous 4-D arrays of one float type, ``y`` writable,
    shapes that fit (``(oh - 1)*sh + (kh - 1)*dh < Hp``, and so on), and at
    most :data:`TINY_MAX_WORK` multiply-adds.
    """
    _tiny_checked(_Operands(xp, w, y), sh, sw, dh, dw, groups)


cdef int _tiny_checked(_Operands ops, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh,
                       Py_ssize_t dw, Py_ssize_t groups) except -1:
    fmt = ops.dtype(4, "conv2d_tiny")
    cdef Py_buffer* bx = &ops.a
    cdef Py_buffer* bw = &ops.b
    cdef Py_buffer* by = &ops.out
    cdef Py_ssize_t N = bx.shape[0], C = bx.shape[1], Hp = bx.shape[2], Wp = bx.shape[3]
    cdef Py_ssize_t O = bw.shape[0], Cg = bw.shape[1], kh = bw.shape[2], kw = bw.shape[3]
    cdef Py_ssize_t oh = by.shape[2], ow = by.shape[3]
    if (min(sh, sw, dh, dw, groups) < 1 or by.shape[0] != N or by.shape[1] != O
            or O % groups or Cg * groups != C or min(kh, kw, oh, ow) < 1
            or (oh - 1) * sh + (kh - 1) * dh >= Hp or (ow - 1) * sw + (kw - 1) * dw >= Wp):
        raise ValueError(f"conv2d_tiny: shapes do not fit: x {(N, C, Hp, Wp)}, "
                         f"w {(O, Cg, kh, kw)}, y {(by.shape[0], by.shape[1], oh, ow)}")
    if N * O * oh * ow * Cg * kh * kw > TINY_MAX_WORK:
        raise ValueError("conv2d_tiny is for calls of at most TINY_MAX_WORK multiply-adds")
    with nogil:
        if fmt == "f":
            _conv2d_tiny(<const float*>bx.buf, <const float*>bw.buf, <float*>by.buf, N, C, Hp,
                         Wp, O, Cg, kh, kw, oh, ow, sh, sw, dh, dw, O // groups)
        else:
            _conv2d_tiny(<const double*>bx.buf, <const double*>bw.buf, <double*>by.buf, N, C,
                         Hp, Wp, O, Cg, kh, kw, oh, ow, sh, sw, dh, dw, O // groups)
    return 0


def conv2d_grad_input_direct(const floating[:, :, :, ::1] g, const floating[:, :, :, ::1] w,
                             floating[:, :, :, ::1] dxp, Py_ssize_t sh, Py_ssize_t sw,
                             Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t groups, int num_threads):
    """``dxp[n, c, i*sh + a*dh, j*sw + b*dw] += w[o, c', a, b] * g[n, o, i, j]``.

    ``g`` is ``(N, O, oh, ow)``, ``dxp`` the zeroed padded input gradient
    ``(N, C, Hp, Wp)``. One thread per input plane ``(n, c)``.
    """
    cdef Py_ssize_t N = dxp.shape[0], C = dxp.shape[1]
    cdef Py_ssize_t O = g.shape[1], oh = g.shape[2], ow = g.shape[3]
    cdef Py_ssize_t Cg = w.shape[1], kh = w.shape[2], kw = w.shape[3]
    cdef Py_ssize_t Og = O // groups
    cdef Py_ssize_t p, n, c, ci, oo, o, a, b, i, i0, j, r0, c0
    cdef floating tap
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for p in prange(N * C, schedule="static", num_threads=num_threads):
            n = p // C
            c = p % C
            ci = c % Cg
            for oo in range(Og):
                o = (c // Cg) * Og + oo
                for a in range(kh):
                    for b in range(kw):
                        tap = w[o, ci, a, b]
                        for i0 in range(0, oh, 64):  # tick between blocks of rows
                            if convreg_tick(&halt, 64 * ow):
                                break
                            for i in range(i0, min(i0 + 64, oh)):
                                r0 = i * sh + a * dh
                                c0 = b * dw
                                for j in range(ow):
                                    dxp[n, c, r0, c0 + j * sw] += tap * g[n, o, i, j]
    convreg_interrupt_finish(&halt)


def conv2d_grad_weight_direct(const floating[:, :, :, ::1] xp, const floating[:, :, :, ::1] g,
                              floating[:, :, :, ::1] dw_out, Py_ssize_t sh, Py_ssize_t sw,
                              Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t groups, int num_threads):
    """``dw[o, c, a, b] = sum_{n,i,j} g[n, o, i, j] * xp[n, g*Cg + c, i*sh + a*dh, j*sw + b*dw]``.

    One thread per kernel plane ``(o, c)``; sums accumulate in double.
    """
    cdef Py_ssize_t N = g.shape[0], O = g.shape[1], oh = g.shape[2], ow = g.shape[3]
    cdef Py_ssize_t Cg = dw_out.shape[1], kh = dw_out.shape[2], kw = dw_out.shape[3]
    cdef Py_ssize_t Og = O // groups
    cdef Py_ssize_t p, o, ci, c, a, b, n, i, i0, j, r0, c0
    cdef double acc
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for p in prange(O * Cg, schedule="static", num_threads=num_threads):
            o = p // Cg
            ci = p % Cg
            c = (o // Og) * Cg + ci
            for a in range(kh):
                for b in range(kw):
                    acc = 0
                    for n in range(N):
                        for i0 in range(0, oh, 64):  # tick between blocks of rows
                            if convreg_tick(&halt, 64 * ow):
                                break
                            for i in range(i0, min(i0 + 64, oh)):
                                r0 = i * sh + a * dh
                                c0 = b * dw
                                for j in range(ow):
                                    acc = acc + g[n, o, i, j] * xp[n, c, r0, c0 + j * sw]
                    dw_out[o, ci, a, b] = <floating>acc
    convreg_interrupt_finish(&halt)


cdef struct Range:
    Py_ssize_t first
    Py_ssize_t stop


cdef inline Range _inside(Py_ssize_t n_in, Py_ssize_t n_out, Py_ssize_t s,
                          Py_ssize_t off) noexcept nogil:
    """Output indices ``t`` in ``[first, stop)`` whose input ``t*s + off`` is in ``[0, n_in)``.

    Returned by value, not through pointers: a variable whose address is
    passed out of a prange body would be shared between threads.
    """
    cdef Range r
    r.first = (-off + s - 1) // s if off < 0 else 0
    r.stop = (n_in - 1 - off) // s + 1 if n_in - 1 - off >= 0 else 0
    if r.stop > n_out:
        r.stop = n_out
    if r.first > r.stop:
        r.first = r.stop
    return r


cdef int _check_columns(Py_ssize_t n, Py_ssize_t C, Py_ssize_t kh, Py_ssize_t kw,
                        Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t[8] cols_shape) except -1:
    """Raise unless ``cols`` is ``(n, C*kh*kw, oh*ow)``: the loops index it unchecked."""
    if (cols_shape[0] != n or cols_shape[1] != C * kh * kw or cols_shape[2] != oh * ow
            or oh < 0 or ow < 0):
        shape = (cols_shape[0], cols_shape[1], cols_shape[2])
        raise ValueError(f"columns of shape {shape} do not fit {n} images of {C} channels, "
                         f"a {kh}x{kw} kernel and {oh}x{ow} outputs")
    return 0


cdef inline void _unfold_rows(const floating* xc, Py_ssize_t H, Py_ssize_t W, floating* out,
                              Py_ssize_t a, Py_ssize_t b, Py_ssize_t sh, Py_ssize_t sw,
                              Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t pt, Py_ssize_t pl,
                              Py_ssize_t i0, Py_ssize_t first, Py_ssize_t stop,
                              Py_ssize_t ow) noexcept nogil:
    """One row of a column matrix, its output rows ``first <= i < stop``:
    ``out[i*ow + j] = xc[(i0 + i)*sh + a*dh - pt, j*sw + b*dw - pl]`` (0 outside the
    ``H x W`` plane ``xc``), the row of kernel tap ``(a, b)``."""
    cdef Py_ssize_t iw0 = b * dw - pl, i, j, ih
    cdef Range js = _inside(W, ow, sw, iw0)
    cdef const floating* src
    cdef floating* dst
    for i in range(first, stop):
        dst = out + i * ow
        ih = (i0 + i) * sh + a * dh - pt
        if ih < 0 or ih >= H:
            memset(dst, 0, ow * sizeof(floating))
            continue
        src = xc + ih * W  # the row; its columns iw0 + j*sw for j in js lie inside it
        for j in range(js.first):
            dst[j] = 0
        if sw == 1:
            memcpy(dst + js.first, src + iw0 + js.first, (js.stop - js.first) * sizeof(floating))
        elif sw == 2:  # the stride a constant: the compiler vectorises the gather
            for j in range(js.first, js.stop):
                dst[j] = src[iw0 + 2 * j]
        else:
            for j in range(js.first, js.stop):
                dst[j] = src[iw0 + j * sw]
        for j in range(js.stop, ow):
            dst[j] = 0


def im2col(const floating[:, :, :, ::1] x, floating[:, :, ::1] cols, Py_ssize_t kh,
           Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw,
           Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t i0, Py_ssize_t oh, Py_ssize_t ow,
           int num_threads):
    """Unfold output rows ``i0 .. i0+oh-1`` of ``x`` ``(n, C, H, W)`` into ``cols``
    ``(n, C*kh*kw, oh*ow)``, zero padding implicit.

    ``cols[m, (c*kh + a)*kw + b, i*ow + j] = x[m, c, (i0 + i)*sh + a*dh - pt, j*sw + b*dw - pl]``
    (zero outside ``x``). One thread per row of ``cols``; the whole block is
    one parallel region, so the OpenMP team and the BLAS threads of the GEMM
    that follows alternate once per block, not once per image.
    """
    cdef Py_ssize_t n = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t rows = C * kh * kw
    _check_columns(n, C, kh, kw, oh, ow, cols.shape)
    cdef Py_ssize_t q, m, r, i
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for q in prange(n * rows, schedule="static", num_threads=num_threads):
            m = q // rows
            r = q % rows
            for i in range(0, oh, 64):
                if convreg_tick(&halt, 64 * ow):
                    break
                _unfold_rows(&x[m, r // (kh * kw), 0, 0], H, W, &cols[m, r, 0], (r // kw) % kh,
                             r % kw, sh, sw, dh, dw, pt, pl, i0, i, min(oh, i + 64), ow)
    convreg_interrupt_finish(&halt)


def conv2d_im2col(const floating[:, :, :, ::1] x, const floating[:, :, ::1] w3,
                  floating[:, :, ::1] y, floating[:, ::1] cols, Py_ssize_t kh, Py_ssize_t kw,
                  Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t pt,
                  Py_ssize_t pl, Py_ssize_t ow, Py_ssize_t band, int num_threads):
    """The forward pass by im2col, each band of output rows unfolded and multiplied by
    one thread in its own columns.

    ``y[n, g*Og + o, i*ow + j] = sum_r w3[g, o, r] * cols[r, i*ow + j]``, ``cols``
    being image ``n``'s column matrix of group ``g`` (:func:`im2col`'s, zero
    padding implicit): ``x`` is ``(N, C, H, W)``, ``w3`` ``(G, Og, C/G*kh*kw)``,
    ``y`` ``(N, G*Og, oh*ow)``. A task is one image's band of ``band`` output
    rows: its thread unfolds the band into its own row of ``cols`` (``(threads,
    C/G*kh*kw*band*ow)`` at least) and multiplies it there at once, one
    single-threaded BLAS call a group, while the columns are still in the
    core's cache; unfolding a whole block first wrote them out to the shared
    cache or memory and read them back.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t G = w3.shape[0], Og = w3.shape[1], K = w3.shape[2]
    cdef Py_ssize_t plane = y.shape[2], oh = plane // ow if ow > 0 else 0
    if (G < 1 or C % G or kh < 1 or kw < 1 or K != C // G * kh * kw or y.shape[0] != N
            or y.shape[1] != G * Og or ow < 1 or plane != oh * ow or band < 1):
        raise ValueError(f"conv2d_im2col: x {(N, C, H, W)}, w3 {(G, Og, K)}, a {kh}x{kw} "
                         f"kernel and y {(y.shape[0], y.shape[1], plane)} in rows of {ow} "
                         f"(bands of {band}) do not fit")
    if cols.shape[0] < num_threads or cols.shape[1] < K * band * ow:
        raise ValueError(f"conv2d_im2col: cols must hold {K * band * ow} values for each of "
                         f"{num_threads} threads")
    if max(K, Og, plane, band * ow) > _INT_MAX:
        raise ValueError("conv2d_im2col: a GEMM's dimension exceeds a 32-bit BLAS int")
    if N == 0 or oh == 0 or G * Og == 0:
        return
    cdef Py_ssize_t bands = (oh + band - 1) // band, Cg = C // G
    cdef Py_ssize_t q, n, i0, rows, L, g, r
    cdef floating* buf
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil, parallel(num_threads=num_threads):
        buf = &cols[threadid(), 0]  # a team never has more threads than asked
        for q in prange(N * bands, schedule="static"):
            n = q // bands
            i0 = (q % bands) * band
            rows = min(band, oh - i0)
            L = rows * ow
            if convreg_tick(&halt, L * K * G * Og):
                continue
            for g in range(G):
                for r in range(K):
                    _unfold_rows(&x[n, g * Cg + r // (kh * kw), 0, 0], H, W, buf + r * L,
                                 (r // kw) % kh, r % kw, sh, sw, dh, dw, pt, pl, i0, 0, rows, ow)
                # y[n, g*Og:, i0*ow:][:, :L]^T = cols^T w3[g]^T (column-major)
                _gemm(b"N", b"N", <int>L, <int>Og, <int>K, buf, <int>L, &w3[g, 0, 0], <int>K, 0,
                      &y[n, g * Og, i0 * ow], <int>plane)
    convreg_interrupt_finish(&halt)


def col2im(const floating[:, :, ::1] cols, floating[:, :, :, ::1] dx, Py_ssize_t kh,
           Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw,
           Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t i0, Py_ssize_t oh, Py_ssize_t ow,
           int num_threads):
    """Fold ``cols`` ``(n, C*kh*kw, oh*ow)`` of output rows ``i0 .. i0+oh-1`` back into
    ``dx`` ``(n, C, H, W)``, adding.

    The adjoint of :func:`im2col`. One thread per plane ``(m, c)``, so every
    thread owns the plane it adds into.
    """
    cdef Py_ssize_t n = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    _check_columns(n, C, kh, kw, oh, ow, cols.shape)
    cdef Py_ssize_t q, m, r, c, a, b, i, j, ih, iw0
    cdef Range js
    cdef convreg_interrupt halt = convreg_interrupt_start()
    with nogil:
        for q in prange(n * C, schedule="static", num_threads=num_threads):
            m = q // C
            c = q % C
            for a in range(kh):
                for b in range(kw):
                    r = (c * kh + a) * kw + b
                    iw0 = b * dw - pl
                    js = _inside(W, ow, sw, iw0)
                    for i in range(oh):
                        if (i & 63) == 0 and convreg_tick(&halt, 64 * ow):
                            break
                        ih = (i0 + i) * sh + a * dh - pt
                        if ih < 0 or ih >= H:
                            continue
                        for j in range(js.first, js.stop):
                            dx[m, c, ih, iw0 + j * sw] += cols[m, r, i * ow + j]
    convreg_interrupt_finish(&halt)
