"""The ``cython`` backend: thin typed wrappers around the kernels in ``convreg._cy``.

The wrappers only shape each problem for a kernel (zero padding, the flipped
kernel of a convolution, output buffers, the thread count) and choose the
algorithm; the front ends have already checked every argument, so the
compiled code, which runs without the GIL and without bounds checks, never
sees an index it cannot take.

Algorithms. A layer op's is its plan (``convreg.planner``): by default the
first call of a large signature times the contenders and keeps the
fastest, and :func:`algorithm` holds the rules used otherwise (the one place
they are written); :func:`admissible` says which algorithms can run a
geometry. Calls under ``PARALLEL_MIN_WORK`` multiply-adds run the plain
direct loops without a plan (``conv2d``'s through ``_conv.conv2d_tiny``,
the same loops entered without typed memoryviews, whose creation was a
quarter of such a call). The rules:

* single-image ``corr2d``/``convolve2d``: a direct loop, parallel over
  bands of output rows, each band a register tile of rows x vectors
  (``_cy/corr2d_rows.h``); each ISA compiles a few tiles
  (:func:`corr2d_tiles`), the first the rules' choice, the others
  measured by the planner like a layer op's algorithms;
* layers with few output channels per group (the chapter's examples,
  depthwise convolutions): plain direct loops, parallel over output planes;
* most forward passes, weight gradients with 16+ output channels per group
  and input gradients at stride 1 with 16+ input channels per group: direct
  kernels vectorized over output channels (``_cy/conv_oc_rows.c``), a tile
  of pixels (or taps) x channels held in registers across the whole sum;
* otherwise, at stride 1, implicit GEMM (``_cy/_implicit_gemm.pyx``: one
  BLAS call per kernel tap over a shifted view of the padded input);
* otherwise im2col + GEMM (col2im for the input gradient): the forward
  pass a band of output rows per task, unfolded and multiplied by one
  thread in its own cache-sized columns (``_conv.conv2d_im2col``); the
  gradients a batch slice at a time; a 1x1 unpadded kernel at stride 1
  uses its input as the column matrix.

Every GEMM (im2col's, Winograd's, implicit GEMM's) runs on the OpenMP team
that runs the kernels, cut into pieces of one single-threaded BLAS call
each (``_cy/_gemm.pyx``, :func:`convreg.threads.one_blas_thread`), never on
BLAS's own threads: those spin-wait after each call, and an OpenMP team
started meanwhile shares the cores with them (2-5x slower, measured;
OpenBLAS issue 3187 describes the clash).

Memory: besides its output, an op allocates one workspace of about the
size of its largest operand, never a column matrix of all patches:

* direct, blocked and per-plane loops: the zero-padded input (the input
  plus its border; none without padding); the blocked kernels add their weights
  laid out by channel block (the weights' size, the last block of a group
  padded) and one output row per thread; the blocked weight gradient adds
  the output gradient laid out channels-last (its size, padded to whole
  blocks) and, when it splits the images over threads, one weight-sized
  partial sum per thread; the blocked input gradient instead zero-extends
  the output gradient by the kernel's reach, and at stride > 1 holds one
  stride phase's share of the input gradient at a time;
* the pixel-vectorised input gradient: as the blocked one, its padded grid
  widened to whole chunks of pixels, with its weights laid out by six
  channels and six output rows per thread;
* implicit GEMM: the input and the result on the padded grid (``N x C x
  Hp x Wp`` and ``N x O x Hp x Wp``); the weight gradient one weight-sized
  partial sum per thread;
* Winograd: the transformed weights (16/9 of the weights' size), one
  buffer of at most ``WINOGRAD_WORKSPACE_BYTES`` (four times the L2 cache,
  1-16 MiB) for the transformed input and the GEMMs' results of a block of
  tiles, and four rows of the padded tile grid per thread (the transforms
  read the input unpadded);
* im2col: the forward pass, one band of columns per thread, at most
  ``COLUMN_BAND_BYTES`` each (four times the L2 cache, 1-16 MiB); the
  gradients, and a forward pass whose single output row's ``C * kh * kw *
  W_out`` columns exceed that, one column buffer of at most
  ``WORKSPACE_BYTES`` (32 MiB; more only when a single output row's
  columns exceed it), reused for every block of images or of one image's
  output rows, plus, for the weight gradient, one weight-sized partial sum
  per thread.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .. import __version__, planner
from ..hookspecs import API_VERSION, hookimpl
from ..shapes import Pads, Pair, Shape4, conv_output_hw, corr2d_padding, pool_output_hw
from ..threads import blas_loaded, get_num_threads, one_blas_thread, openmp_enabled

try:
    from .._cy import _conv, _corr2d, _gemm, _implicit_gemm, _pool
    from .._cy import _winograd as _winograd_k
except ImportError as exc:  # not built: listed unavailable with this reason
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None
    blas_loaded()  # the kernels loaded a BLAS (convreg._blas): under set_num_threads's count too

__all__ = ["CythonBackend", "ALGORITHMS", "admissible", "algorithm", "corr2d_tiles", "plan_of",
           "use_gemm", "winograd_admissible", "planes_admissible", "WINOGRAD_OPS",
           "WINOGRAD_MIN_CHANNELS", "WORKSPACE_BYTES",
           "WINOGRAD_WORKSPACE_BYTES"]

#: The layer ops' algorithms, as `algorithm` and the planner name them.
#: "blocked-narrow" is the blocked kernels with one-vector channel blocks
#: where "blocked" takes two (groups of more channels than a vector holds):
#: the register tile the rules chose on a 256-bit FMA datapath (AMD) is not
#: always the one a CPU with two 512-bit FMA units prefers, so the planner
#: measures both. "winograd" is F(2x2, 3x3) for 3x3 kernels at stride 1
#: (`winograd_admissible`; its error bound is stated beside it): the rules
#: never choose it, measuring may. "planes" is a forward pass with one input
#: channel per group (LeNet's first layer, depthwise layers) at stride 1 as
#: single-image correlations, vectorised along each output plane's rows
#: (`planes_admissible`); the rules never choose it either. "pixels" is the
#: input gradient with one group by the kernel of ``_cy/conv_pixels.h``:
#: output pixels in the vectors and six of the input's channels a tile,
#: where "blocked" puts the channels in the lanes (LeNet's 6 fill 6 of 8);
#: measured only.
ALGORITHMS = ("direct", "blocked", "blocked-narrow", "implicit", "im2col", "winograd", "planes",
              "pixels")

#: The plain direct loops beat the blocked kernels and every GEMM below this
#: many output channels per group for the forward pass and the input
#: gradient (depthwise convolutions lose 3-13x through GEMM; at 4 the
#: blocked kernel and im2col + GEMM already win).
GEMM_MIN_OUT_CHANNELS = 4
#: The weight gradient's direct loop reduces over N * H_out * W_out with one
#: thread per kernel plane; GEMM wins once that reduction is longer than this.
GEMM_MIN_REDUCTION = 256
#: The channel-blocked direct kernels (one or two vectors of 16 output
#: channels per pixel or tap, ``_cy/conv_oc_rows.c``) produce the output's
#: channels in the forward pass, the input's in the input gradient, and sum
#: into the output's in the weight gradient. They were the fastest forward
#: algorithm from 4 output channels per group on (1.2-2.6x the best GEMM in
#: benchmarks/crossover.py's table); for the input gradient they win when
#: the input's channels fill the vectors (16 and more per group, at most
#: 25% of the lanes idle), while LeNet's 6 input channels ran 1.4x slower
#: than implicit GEMM with AVX-512 (16 lanes); in AVX2's half blocks (8
#: lanes, `_fills_half_block`) they win.
BLOCKED_MIN_CHANNELS = 16
#: The blocked weight gradient does ``O/groups x C/groups x kh x kw``
#: multiply-adds per output pixel of a group; from this many on it beat
#: GEMM (LeNet's first layer, 150: 1.4x), below it (72 and less: 3x3
#: kernels over 1-4 channels, depthwise layers) the per-pixel overhead made
#: it up to 2.3x slower.
BLOCKED_MIN_PIXEL_WORK = 128
#: Implicit GEMM runs one GEMM per tap whose inner dimensions are the
#: channels per group; below this many, the unfolded im2col GEMM is faster.
IMPLICIT_MIN_CHANNELS = 6


def use_gemm(op: str, out_per_group: int, n: int, out_hw: tuple[int, int]) -> bool:
    """Whether a layer op leaves the plain direct loops (for a blocked kernel or a GEMM).

    Thresholds measured on the 2-core benchmark machine with
    ``benchmarks/crossover.py`` (table in benchmarks/RESULTS.md).
    """
    if op == "conv2d_grad_weight":
        return n * out_hw[0] * out_hw[1] >= GEMM_MIN_REDUCTION
    return out_per_group >= GEMM_MIN_OUT_CHANNELS


def _fills_vectors(channels: int, lanes: int = 16) -> bool:
    """At least 16 channels, padded to whole vectors with at most 25% of the lanes idle."""
    return channels >= BLOCKED_MIN_CHANNELS and 4 * channels >= 3 * lanes * -(-channels // lanes)


def _fills_half_block(channels: int) -> bool:
    """The channels take a half block (`_block_width`, float32: CPUs without AVX-512)
    with at most 25% of its lanes idle. LeNet's second layer's input gradient (6
    channels of AVX2's 8 lanes) ran blocked 2.2x (1 thread) and 2.3x (2 threads)
    faster than by implicit GEMM on the AVX2-only EPYC (RESULTS.md run 15)."""
    lanes = _block_width(channels, np.dtype(np.float32))
    return lanes < _conv.OC_BLOCK["float32"] and 4 * channels >= 3 * lanes


#: Below this many multiply-adds a kernel runs on the calling thread alone:
#: waking the OpenMP team costs more than it saves (~1.3 us measured on the
#: chapter's 6x8 example).
PARALLEL_MIN_WORK = 1 << 15


def _threads(work: int) -> int:
    return 1 if work < PARALLEL_MIN_WORK else get_num_threads()


def _tiny(work: int) -> bool:
    """A call of microseconds: one thread, no plan (nothing forced), the plain loops."""
    return work < PARALLEL_MIN_WORK and planner.forced() is None


def _pad(x: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """Zero-pad the last two axes by ``(top, bottom, left, right)`` (no copy when zero)."""
    if not any(pads):
        return x
    pt, pb, pl, pr = pads
    return _shifted(x, (x.shape[-2] + pt + pb, x.shape[-1] + pl + pr), (pt, pl))


def _shifted(a: np.ndarray, hw: tuple[int, int], offset: tuple[int, int]) -> np.ndarray:
    """``a`` (..., h, w) at ``offset`` (either may be negative) in zero ``hw`` planes, clipped.

    One parallel pass over the result (``_conv.place``): ``np.pad`` and
    ``zeros`` + assignment took 13% of a VGG layer's forward pass on one
    thread while the kernel used two.
    """
    if tuple(offset) == (0, 0) and tuple(hw) == a.shape[-2:]:
        return a  # already in place; callers only read the result
    out = np.empty(a.shape[:-2] + tuple(hw), dtype=a.dtype)
    if out.size:
        _conv.place(a.reshape(-1, *a.shape[-2:]), out.reshape(-1, *hw), *offset,
                    _threads(out.size))
    return out


def corr2d_tiles() -> tuple[str, ...]:
    """The register tiles of single-image correlation for this CPU's ISA, as plan
    names: ``"tile-4x2"`` holds 4 output rows x 2 vectors (``_cy/corr2d_rows.h``).
    The first is the rules' choice; every tile gives the same result bit for bit."""
    return tuple(f"tile-{rows}x{vectors}" for rows, vectors in _corr2d.tiles())


def _corr2d_tile(tile: int, X: np.ndarray, K: np.ndarray, threads: int) -> np.ndarray:
    Y = np.empty((X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1), dtype=X.dtype)
    _corr2d.corr2d_valid(X, K, Y, threads, tile)
    return Y


@functools.cache
def _corr2d_algorithms(isa: int) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The tiles' names and kernels on one ISA, made once (they were a quarter of a
    100^2 x 5x5 call's time when made per call)."""
    names = corr2d_tiles()
    return names, {name: functools.partial(_corr2d_tile, i) for i, name in enumerate(names)}


def _valid_corr2d(X: np.ndarray, K: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """Cross-correlate ``K`` over ``X`` zero-padded by ``pads``, by the plan's tile.

    The signature has the layer ops' layout (a valid correlation is a
    conv2d of one channel at stride 1), so `plan_of` finds it too.
    """
    X = _pad(X, pads)
    out_h, out_w = X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1
    work = out_h * out_w * K.size
    if _tiny(work):
        Y = np.empty((out_h, out_w), dtype=X.dtype)  # the same sums, no typed memoryviews
        _corr2d.corr2d_tiny(X, K, Y)
        return Y
    threads, isa = _threads(work), _corr2d.isa()
    names, algorithms = _corr2d_algorithms(isa)
    signature = ("corr2d", X.shape, K.shape, (1, 1), (0, 0, 0, 0), (1, 1), 1, X.dtype.char,
                 threads, isa)
    out: np.ndarray = planner.run("corr2d", signature, algorithms, names, lambda: names[0],
                                  work, (X, K, threads))
    return out


#: Upper bound on the im2col column buffer; a batch is processed in slices of
#: as many images as fit (at least one).
WORKSPACE_BYTES = 32 << 20


def _is_own_columns(k_hw: Pair, stride: Pair, padding: Pads) -> bool:
    """Whether an input is its own column matrix: a 1x1 kernel at stride 1 without
    padding reads each pixel once, in order, so im2col needs no copy."""
    return k_hw == (1, 1) and stride == (1, 1) and not any(padding)


class _Columns:
    """im2col / col2im for one layer geometry, block by block, with one reused buffer.

    A *block* is a slice of images and a band of output rows: as many whole
    images as fit in ``WORKSPACE_BYTES`` of columns, or, when one image's
    columns do not fit, one image's output rows in bands that do (at least
    one row). The buffer holds ``(images, C*kh*kw, rows*W_out)`` for the
    largest block; each block is unfolded (or folded) and multiplied on the
    OpenMP team (``_gemm``). Bounded blocks also bound the workspace, and
    Ctrl-C is seen inside every loop.
    """

    def __init__(self, x_shape: Sequence[int], k_hw: Pair, y_hw: Pair, stride: Pair, padding: Pads,
                 dilation: Pair, dtype: np.dtype[Any]) -> None:
        N, C = x_shape[:2]
        rows, (oh, ow) = C * k_hw[0] * k_hw[1], y_hw
        self.identity = _is_own_columns(k_hw, stride, padding)
        per_row = max(1, rows * ow * np.dtype(dtype).itemsize)
        fit = WORKSPACE_BYTES // per_row  # output rows of columns the workspace holds
        if self.identity:
            self.batch, self.band = max(1, N), oh
        elif fit >= oh:  # whole images; at least one a slice, also for N = 0
            self.batch, self.band = max(1, min(N, fit // max(1, oh))), oh
        else:
            self.batch, self.band = 1, max(1, fit)
        self.oh, self.ow = oh, ow
        self.args = (*k_hw, *stride, *dilation, padding[0], padding[2])
        # Flat, so that every block's columns are one C-contiguous array.
        self.buffer = np.empty(0 if self.identity else self.batch * rows * self.band * ow,
                               dtype=dtype)
        self.depth = rows  # rows of a column matrix: C * kh * kw

    def blocks(self, N: int) -> Iterator[tuple[slice, slice]]:
        """The ``(images, output rows)`` of each block, in order."""
        for n0 in range(0, N, self.batch):
            for r0 in range(0, self.oh, self.band):
                yield slice(n0, min(N, n0 + self.batch)), slice(r0, min(self.oh, r0 + self.band))

    def _cols(self, images: slice, rows: slice) -> np.ndarray:
        n, length = images.stop - images.start, (rows.stop - rows.start) * self.ow
        return self.buffer[:n * self.depth * length].reshape(n, self.depth, length)

    def unfold(self, x: np.ndarray, images: slice, rows: slice, threads: int) -> np.ndarray:
        """The column matrices ``(images, C*kh*kw, rows*W_out)`` of one block of ``x``."""
        if self.identity:
            return x[images].reshape(x[images].shape[0], x.shape[1], -1)
        cols = self._cols(images, rows)
        _conv.im2col(x[images], cols, *self.args, rows.start, rows.stop - rows.start, self.ow,
                     threads)
        return cols

    def target(self, dx: np.ndarray, images: slice, rows: slice) -> np.ndarray:
        """Where a block's input-gradient columns go: ``dx`` itself for the identity."""
        if self.identity:
            return dx[images].reshape(dx[images].shape[0], dx.shape[1], -1)
        return self._cols(images, rows)

    def fold(self, cols: np.ndarray, dx: np.ndarray, images: slice, rows: slice,
             threads: int) -> None:
        """Add a block's columns into ``dx`` (the identity's were written in place)."""
        if not self.identity:
            _conv.col2im(cols, dx[images], *self.args, rows.start, rows.stop - rows.start,
                         self.ow, threads)


def _matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, team: int) -> None:
    """``out[i] = a[i] @ b[i]`` (``a`` may hold one matrix for all) on a team of ``team``
    threads (``_gemm.matmul``). A team of one takes NumPy's matmul, held at one thread by
    `one_blas_thread` (or on its own threads off the main thread): the same BLAS the
    team's pieces call where convreg._blas finds NumPy's, without cutting the GEMMs."""
    if team == 1:
        np.matmul(a, b, out=out)
    else:
        _gemm.matmul(a, b, out, team)


def _rows(a: np.ndarray, images: slice, rows: slice) -> np.ndarray:
    """``a[images, :, rows]`` with each plane's rows as one axis.

    A view of a C-contiguous ``a`` (whole rows are adjacent), so a GEMM's
    ``out=`` into it writes ``a``.
    """
    block = a[images, :, rows]
    return block.reshape(*block.shape[:2], -1)


_BLAS_INT_MAX = 2**31 - 1


def _fits_blas(x_shape: Sequence[int], padding: Pads) -> bool:
    """Whether implicit GEMM's padded grid (``Hp*Wp`` columns of an image's GEMMs) fits a
    32-bit BLAS int."""
    _, _, H, W = x_shape
    return (H + padding[0] + padding[1]) * (W + padding[2] + padding[3]) <= _BLAS_INT_MAX


def algorithm(op: str, x_shape: tuple[int, ...], w_shape: tuple[int, ...], out_hw: tuple[int, int],
              stride: tuple[int, int], padding: tuple[int, int, int, int], groups: int) -> str:
    """How a layer op runs: "direct" loops, "blocked" direct loops, "implicit" GEMM or "im2col".

    The rules: the plan in ``estimate`` mode, and wherever ``measure`` has
    not timed a signature (the one place they are written), from
    ``benchmarks/crossover.py``'s table (benchmarks/RESULTS.md):

    1. few output channels per group (or, for the weight gradient, a short
       reduction): the plain direct loops;
    2. the channel-blocked direct kernels: every other forward pass; the
       weight gradient from ``BLOCKED_MIN_PIXEL_WORK`` products per pixel;
       the input gradient (a forward convolution with in and out swapped,
       per stride phase) when the input channels fill the vectors, or a
       half block where the ISA takes those. (This
       rule was also chosen to keep a layer's three ops off BLAS's threads:
       the 1x1 layer's step took 6.6x the sum of its ops while its forward
       pass and input gradient were GEMMs, each a little faster alone, 1.1x
       and 1.5x. The GEMMs now run on the kernels' own team, so that reason
       is gone; the planner measures such layers anyway);
    3. at stride 1, implicit GEMM, if the per-tap GEMMs are not too thin
       (the weight gradient's reduces over pixels, so it only needs more
       than one input channel);
    4. otherwise im2col + GEMM.
    """
    O, Cg, kh, kw = w_shape
    Og = O // groups
    if not use_gemm(op, Og, x_shape[0], out_hw):
        return "direct"
    stride1 = stride == (1, 1)
    if op == "conv2d":
        return "blocked"
    if op == "conv2d_grad_input":
        if _fills_vectors(Cg) or _fills_half_block(Cg):
            return "blocked"
    elif Og * Cg * kh * kw >= BLOCKED_MIN_PIXEL_WORK:
        return "blocked"
    thin = x_shape[1] == 1 if op == "conv2d_grad_weight" else min(Og, Cg) < IMPLICIT_MIN_CHANNELS
    if stride1 and not thin and _fits_blas(x_shape, padding):
        return "implicit"
    return "im2col"


def _lanes_last(a: np.ndarray, ob: int) -> np.ndarray:
    """``a`` ``(G, n, *rest)``, any strides, as contiguous ``(G * ceil(n/ob), *rest, ob)``.

    Each of the ``G`` groups' ``n`` channels in blocks of ``ob`` vector
    lanes, the last block zero-padded, the lanes innermost: the layout the
    channel-blocked kernels read. One copy (two when padding is needed).
    """
    G, n, *rest = a.shape
    per = -(-n // ob)
    if n % ob:
        padded = np.zeros((G, per * ob, *rest), dtype=a.dtype)
        padded[:, :n] = a
        a = padded
    a = np.moveaxis(a.reshape(G, per, ob, *rest), 2, -1)
    return np.ascontiguousarray(a).reshape(G * per, *rest, ob)


#: The narrowest ISA whose blocked kernels take two-vector blocks. With AVX2's
#: 16 registers the two-vector tile has 3 pixels (12 accumulators, 4 weight
#: vectors, and the broadcast pixel spills), and ran VGG's 64-channel layer
#: at 45 GFLOP/s against the one-vector tile's 55 (one core of the Xeon,
#: kernels capped to AVX2).
WIDE_BLOCKS_MIN_ISA = 2


def _block_width(channels: int, dtype: np.dtype, narrow: bool = False) -> int:
    """Channels per block of the blocked kernels: one 64-byte vector; two where a
    group has more channels than one holds (two load less per FMA; see
    conv_oc_rows.c) and the ISA has the registers for them, unless ``narrow``
    asks for one; half of one where the group's channels fit in it and the
    ISA's registers are narrower than 64 bytes (AVX2, the baseline), so that
    each FMA computes more than the block's padding. On an AVX2-only AMD EPYC
    (RESULTS.md run 14) the blocked weight gradient of LeNet's first layer (6
    output channels) ran 1.23-1.31x faster, its second layer's input gradient
    (6 input channels) 1.31-1.35x; the first layer's forward pass, which is
    bound by writing its rows out, not by FMAs, 0.97-1.07x. With AVX-512 a
    half block would only trade zmm for ymm FMAs."""
    lanes = int(_conv.OC_BLOCK[np.dtype(dtype).name])
    if _conv.isa() < WIDE_BLOCKS_MIN_ISA:
        return lanes // 2 if channels <= lanes // 2 else lanes
    return lanes if narrow or channels <= lanes else 2 * lanes


def _oc_blocked(xp: np.ndarray, wg: np.ndarray, out_hw: Pair, stride: Pair,
                dilation: Pair, narrow: bool = False, rows: Pair | None = None) -> np.ndarray:
    """Direct convolution of the padded ``xp`` vectorized over output channels.

    ``wg`` is the grouped weight ``(groups, Og, Cg, kh, kw)`` (a view of any
    strides); the result is ``(N, groups*Og, oh, ow)``. Each group's output
    channels are padded with zero weights to whole blocks of ``OB`` channels
    (`_block_width`: half, one or two 64-byte vectors). ``rows``, where
    given, are the rows ``[lo, hi)`` of ``xp`` that may be nonzero: the
    kernel skips the taps that read only the others. The input gradient
    gives them (its correlation's zero border is no part of its definition);
    the forward pass does not, since its zero padding is: a NaN or
    infinite weight times a padded zero is NaN there. The workspace besides
    the output is the blocked weights and one output row per thread.
    """
    groups, Og, Cg, kh, kw = wg.shape
    wb = _lanes_last(wg, _block_width(Og, wg.dtype, narrow))
    y = np.empty((xp.shape[0], groups * Og, *out_hw), dtype=xp.dtype)
    threads = _threads(y.size * Cg * kh * kw)
    out_rows = np.empty((threads, out_hw[1] * wb.shape[-1]), dtype=xp.dtype)  # one per thread
    _conv.conv2d_oc_blocked(xp, wb, y, out_rows, *stride, *dilation, wb.shape[0] // groups,
                            threads, *(rows or ()))
    return y


def _pixel_width(width: int, dtype: np.dtype[Any]) -> int:
    """``width`` pixels rounded up to the whole chunks `_pixels`' kernel computes a row in
    on this CPU (`_conv.pixel_chunk`)."""
    chunk = _conv.pixel_chunk(dtype.itemsize)
    return -(-width // chunk) * chunk


def _pixels(xp: np.ndarray, wg: np.ndarray, out_hw: Pair, dilation: Pair,
            rows: Pair) -> np.ndarray:
    """Stride-1 direct correlation of the padded ``xp`` vectorised along output pixels
    (``_conv.conv2d_pixels``), for one group: ``wg`` is ``(1, C, S, kh, kw)``, laid
    out here as groups of `_conv.PIXEL_CHANNELS` output channels, the last one
    padded with zero weights. ``xp``'s rows must reach the output row rounded up
    to whole chunks (`_pixel_width`) plus the kernel's reach; ``rows`` as
    `_oc_blocked`'s. Workspace besides the output: the laid-out weights and one
    row of every group channel per thread."""
    _, C, S, kh, kw = wg.shape
    R = _conv.PIXEL_CHANNELS
    wr = np.zeros((-(-C // R) * R, S, kh, kw), dtype=xp.dtype)
    wr[:C] = wg[0]
    wr = np.ascontiguousarray(wr.reshape(-1, R, S, kh, kw).transpose(0, 2, 3, 4, 1))
    y = np.empty((xp.shape[0], C, *out_hw), dtype=xp.dtype)
    threads = _threads(y.size * S * kh * kw)
    out_rows = np.empty((threads, R * _pixel_width(out_hw[1], xp.dtype)), dtype=xp.dtype)
    _conv.conv2d_pixels(xp, wr, y, out_rows, *dilation, threads, *rows)
    return y


def _oc_blocked_grad_weight(xp: np.ndarray, grad_output: np.ndarray, weight_shape: Shape4,
                            stride: Pair, dilation: Pair, groups: int,
                            narrow: bool = False) -> np.ndarray:
    """The weight gradient by the channel-blocked kernel, from the padded ``xp``.

    Workspace: the output gradient re-laid channels-last per block of ``OB``
    (its size, padded to whole blocks) and the blocked sums.
    """
    O, Cg, kh, kw = weight_shape
    N, _, oh, ow = grad_output.shape
    Hp, Wp = xp.shape[2:]
    Og = O // groups
    ob = _block_width(Og, xp.dtype, narrow)
    per_group = -(-Og // ob)
    gb = np.empty((N * groups * per_group, oh * ow, ob), dtype=xp.dtype)
    _conv.lanes_last(grad_output.reshape(N * groups, Og, oh * ow), gb, _threads(gb.size))
    gb = gb.reshape(N, groups * per_group, -1)
    c, a, b = np.meshgrid(np.arange(Cg), np.arange(kh), np.arange(kw), indexing="ij")
    offsets = np.ascontiguousarray(
        (c * Hp * Wp + a * dilation[0] * Wp + b * dilation[1]).ravel(), dtype=np.intp)
    taps, blocks = Cg * kh * kw, groups * per_group
    threads = _threads(grad_output.size * taps)
    tiles = blocks * -(-taps // _conv.gw_taps_per_tile(ob * xp.dtype.itemsize))
    # Too few tiles to share: split the images instead, one partial sum each.
    parts = threads if tiles < 2 * threads and N >= threads else 1
    dwb = np.zeros((parts, blocks, taps, ob), dtype=xp.dtype)
    _conv.conv2d_grad_weight_oc_blocked(xp, gb, offsets, dwb, oh, ow, *stride, per_group, threads)
    dwb = dwb.sum(axis=0) if parts > 1 else dwb[0]
    dw = dwb.reshape(groups, per_group, taps, ob).transpose(0, 1, 3, 2)
    dw = dw.reshape(groups, per_group * ob, Cg, kh, kw)[:, :Og]
    return np.ascontiguousarray(dw.reshape(weight_shape))


def _phase_taps(k: int, s: int, d: int, phase: int) -> tuple[slice, int, int, int]:
    """The taps ``a`` of a ``k``-tap kernel (stride ``s``, dilation ``d``) that reach
    padded-input positions ``phase + s*u``, as a slice taking them last first;
    how many; the output shift ``q = (a*d - phase) // s`` of the last; and the
    spacing of the shifts. Such taps are ``s / gcd(s, d)`` apart."""
    first = next((a for a in range(min(k, s)) if (a * d - phase) % s == 0), None)
    if first is None:
        return slice(0, 0), 0, 0, 1
    apart = s // math.gcd(s, d)
    count = (k - 1 - first) // apart + 1
    last = first + (count - 1) * apart
    return slice(last, first - 1 if first else None, -apart), count, (last * d - phase) // s, \
        d // math.gcd(s, d)


def _oc_blocked_grad_input(grad_output: np.ndarray, weight: np.ndarray, input_shape: Shape4,
                           stride: Pair, padding: Pads, dilation: Pair, groups: int,
                           narrow: bool = False, pixels: bool = False) -> np.ndarray:
    """The input gradient as forward passes of the channel-blocked kernel, one per stride phase.

    Padded-input row ``R = r + sh*u`` (phase ``r = R mod sh``) receives from
    the kernel rows ``a`` with ``a*dh = r (mod sh)`` only, from output row
    ``u - q_a``, ``q_a = (a*dh - r) / sh``: a stride-1 correlation of the
    output gradient with those rows taken last first, dilated by
    ``dh / gcd(sh, dh)``, each group's in/out channels swapped. Likewise
    for columns, so ``sh*sw`` such correlations, each computing just the
    rows and columns of its phase that survive the crop to the unpadded
    input, cover the input gradient with no multiplication by an inserted
    zero. At stride 1 it is the single correlation with the kernel turned
    half a turn. With ``pixels`` (one group) each correlation runs on
    `_pixels`' kernel instead, its grid widened to whole chunks of pixels.
    """
    N, C, H, W = input_shape
    O, Cg, kh, kw = weight.shape
    swapped = weight.reshape(groups, O // groups, Cg, kh, kw).transpose(0, 2, 1, 3, 4)
    (sh, sw), (dh, dw), (pt, pl) = stride, dilation, (padding[0], padding[2])
    dx = np.zeros(input_shape, dtype=grad_output.dtype)  # phases no tap reaches stay 0
    for r in range(sh):
        rows, nr, qr, step_r = _phase_taps(kh, sh, dh, r)
        u0, u1 = max(0, -(-(pt - r) // sh)), -(-(pt + H - r) // sh)
        for c in range(sw):
            cols, nc, qc, step_c = _phase_taps(kw, sw, dw, c)
            v0, v1 = max(0, -(-(pl - c) // sw)), -(-(pl + W - c) // sw)
            if not nr or not nc or u1 <= u0 or v1 <= v0:
                continue  # no tap reaches this phase: its gradient is zero
            hw = (u1 - u0, v1 - v0)
            reach = ((nr - 1) * step_r, (nc - 1) * step_c)
            # (pixels: whole chunks of pixels, zero columns past the phase's width)
            width = _pixel_width(hw[1], grad_output.dtype) if pixels else hw[1]
            grid = (hw[0] + reach[0], width + reach[1])
            gp = _shifted(grad_output, grid, (qr - u0, qc - v0))
            lo = min(max(0, qr - u0), grid[0])  # gp's rows that hold grad_output's
            inside = (lo, max(lo, min(grid[0], qr - u0 + grad_output.shape[2])))
            taps = swapped[:, :, :, rows, cols]
            part = (_pixels(gp, taps, hw, (step_r, step_c), inside) if pixels else
                    _oc_blocked(gp, taps, hw, (1, 1), (step_r, step_c), narrow, inside))
            if (sh, sw) == (1, 1):
                return part  # the one phase is the whole input gradient
            dx[:, :, r + sh * u0 - pt::sh, c + sw * v0 - pl::sw] = part
    return dx


def _grid_hw(x_shape: tuple[int, ...], padding: tuple[int, int, int, int]) -> tuple[int, int]:
    return (x_shape[2] + padding[0] + padding[1], x_shape[3] + padding[2] + padding[3])


def _padded(a: np.ndarray, pads: tuple[int, int, int, int], grid_hw: tuple[int, int]) -> np.ndarray:
    """``a`` (N, C, h, w) at offset ``(top, left)`` of zero ``Hp x Wp`` grids, as ``(N, C, Hp*Wp)``."""
    return _shifted(a, grid_hw, (pads[0], pads[2])).reshape(*a.shape[:2], -1)


def _corner(grid: np.ndarray, grid_hw: Pair, corner: tuple[int, int, int, int]) -> np.ndarray:
    """The ``h x w`` block at ``(r0, c0)`` of every ``Hp x Wp`` grid of ``(N, C, Hp*Wp)``."""
    r0, c0, h, w = corner
    N, C = grid.shape[:2]
    return np.ascontiguousarray(grid.reshape(N, C, *grid_hw)[:, :, r0:r0 + h, c0:c0 + w])


# -- the layer ops' algorithms --------------------------------------------------
# Each takes its op's arguments (the output's height and width first computed
# for the forward pass) and returns the op's result; convreg.planner picks one
# per signature, by the rules of `algorithm` or by measuring.


def _conv2d_blocked(x: np.ndarray, weight: np.ndarray, out_hw: Pair, stride: Pair, padding: Pads,
                    dilation: Pair, groups: int, narrow: bool = False) -> np.ndarray:
    O, Cg, kh, kw = weight.shape
    return _oc_blocked(_pad(x, padding), weight.reshape(groups, O // groups, Cg, kh, kw), out_hw,
                       stride, dilation, narrow)


def _conv2d_implicit(x: np.ndarray, weight: np.ndarray, out_hw: Pair, stride: Pair,
                     padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
    N = x.shape[0]
    O, Cg, kh, kw = weight.shape
    Og = O // groups
    grid_hw = _grid_hw(x.shape, padding)
    wt = np.ascontiguousarray(weight.reshape(groups, Og, Cg, kh, kw).transpose(3, 4, 0, 1, 2))
    xg = _padded(x, padding, grid_hw)
    out = np.zeros((N, O, grid_hw[0] * grid_hw[1]), dtype=x.dtype)
    with one_blas_thread(_threads(out.size * Cg * kh * kw)) as threads:
        _implicit_gemm.forward(xg, wt, out, grid_hw[1], *dilation, threads)
    return _corner(out, grid_hw, (0, 0, *out_hw))


def _column_band_bytes(l2: int | None) -> int:
    """Winograd's block bound, `_winograd_workspace` (four times one core's L2 cache,
    ``l2`` bytes, within 1-16 MiB). On the AVX2 EPYC (512 KiB L2, RESULTS.md run 17)
    im2col's forward pass ran alike in bands of 1, 2 or 4 MiB of columns a
    thread, mostly faster than unfolding a whole block first (VGG 64 1.2-1.3x,
    LeNet 1.0-1.5x), the strided layer within 5% either way and best in the
    largest bands; 128-512 KiB made the GEMMs too thin."""
    return _winograd_workspace(l2)


def _column_band(K: int, out_hw: Pair, N: int, threads: int, itemsize: int) -> int:
    """Output rows a band of the forward pass by im2col takes: as many as
    `COLUMN_BAND_BYTES` of ``K``-row columns hold, and few enough that the team has
    at least two bands a thread; 0 where one row's columns alone exceed the bound."""
    oh, ow = out_hw
    fit = COLUMN_BAND_BYTES // max(1, K * ow * itemsize)
    spread = -(-oh * N // (2 * threads))  # rows a band may take for 2 bands a thread
    most = min(fit, oh, max(1, spread))
    if most < 1:
        return 0
    return -(-oh // -(-oh // most))  # the image's rows in bands of equal height


def _conv2d_im2col(x: np.ndarray, weight: np.ndarray, out_hw: Pair, stride: Pair, padding: Pads,
                   dilation: Pair, groups: int) -> np.ndarray:
    N = x.shape[0]
    O, Cg, kh, kw = weight.shape
    K, Og = Cg * kh * kw, O // groups
    w3 = weight.reshape(groups, Og, K)
    y = np.empty((N, O, *out_hw), dtype=x.dtype)  # every band or block is a GEMM's output
    threads = _threads(y.size * K)
    own = _is_own_columns((kh, kw), stride, padding)
    band = 0 if own or y.size == 0 else _column_band(K, out_hw, N, threads, x.itemsize)
    if band:
        cols = np.empty((threads, K * band * out_hw[1]), dtype=x.dtype)
        with one_blas_thread(threads) as team:
            _conv.conv2d_im2col(x, w3, y.reshape(N, O, -1), cols, kh, kw, *stride, *dilation,
                                padding[0], padding[2], out_hw[1], band, team)
        return y
    columns = _Columns(x.shape, (kh, kw), out_hw, stride, padding, dilation, x.dtype)
    with one_blas_thread(threads) as team:
        for images, rows in columns.blocks(N):
            cols, y3 = columns.unfold(x, images, rows, threads), _rows(y, images, rows)
            for g in range(groups):
                _matmul(w3[g:g + 1], cols[:, g * K:(g + 1) * K], y3[:, g * Og:(g + 1) * Og],
                        team)
    return y


def _conv2d_direct(x: np.ndarray, weight: np.ndarray, out_hw: Pair, stride: Pair, padding: Pads,
                   dilation: Pair, groups: int) -> np.ndarray:
    y = np.zeros((x.shape[0], weight.shape[0], *out_hw), dtype=x.dtype)  # the loops accumulate
    _conv.conv2d_direct(_pad(x, padding), weight, y, *stride, *dilation, groups,
                        _threads(y.size * weight[0].size))
    return y


def _conv2d_planes(x: np.ndarray, weight: np.ndarray, out_hw: Pair, stride: Pair,
                   padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
    y = np.empty((x.shape[0], weight.shape[0], *out_hw), dtype=x.dtype)
    if y.size:
        _corr2d.corr2d_planes(_pad(x, padding), weight, y, _threads(y.size * weight[0].size))
    return y


#: conv2d's output height and width and its multiply-adds, by the geometry of
#: the call (shapes, stride, padding, dilation: exact ints and tuples of them,
#: as the front end passes them). A repeated call of microseconds looks them
#: up instead of recomputing them (0.7 us of the chapter's 6.5 us call on an
#: AMD EPYC). Bounded: emptied when it holds SIZES_SEEN_MAX geometries.
_sizes_seen: dict[tuple[Any, ...], tuple[Pair, int]] = {}
SIZES_SEEN_MAX = 512


def _conv2d_size(x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: Pair,
                 padding: Pads, dilation: Pair) -> tuple[Pair, int]:
    """conv2d's output ``(oh, ow)`` and multiply-adds, through `_sizes_seen`."""
    key = (x_shape, w_shape, stride, padding, dilation)
    seen = _sizes_seen.get(key)
    if seen is None:
        O, Cg, kh, kw = w_shape
        oh, ow = conv_output_hw(x_shape[2:], (kh, kw), stride, padding, dilation)
        seen = ((oh, ow), x_shape[0] * O * oh * ow * Cg * kh * kw)
        if len(_sizes_seen) >= SIZES_SEEN_MAX:
            _sizes_seen.clear()
        _sizes_seen[key] = seen
    return seen


def _conv2d_tiny(x: np.ndarray, weight: np.ndarray, out_hw: Pair, stride: Pair, padding: Pads,
                 dilation: Pair, groups: int) -> np.ndarray:
    """`_conv2d_direct`'s sums on one thread, for calls under ``PARALLEL_MIN_WORK``:
    ``conv2d_tiny`` takes its arrays as buffers, not typed memoryviews, whose
    creation was a quarter of such a call."""
    y = np.zeros((x.shape[0], weight.shape[0], *out_hw), dtype=x.dtype)
    _conv.conv2d_tiny(_pad(x, padding), weight, y, *stride, *dilation, groups)
    return y


def _grad_input_implicit(grad_output: np.ndarray, weight: np.ndarray, input_shape: Shape4,
                         stride: Pair, padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
    N, C, H, W = input_shape
    O, Cg, kh, kw = weight.shape
    Og = O // groups
    grid_hw = _grid_hw(input_shape, padding)
    wt = np.ascontiguousarray(weight.reshape(groups, Og, Cg, kh, kw).transpose(3, 4, 0, 2, 1))
    dgrid = np.zeros((N, C, grid_hw[0] * grid_hw[1]), dtype=grad_output.dtype)
    gy = _padded(grad_output, (0, 0, 0, 0), grid_hw)
    with one_blas_thread(_threads(gy.size * Cg * kh * kw)) as threads:
        _implicit_gemm.grad_input(gy, wt, dgrid, grid_hw[1], *dilation, threads)
    return _corner(dgrid, grid_hw, (padding[0], padding[2], H, W))


def _grad_input_im2col(grad_output: np.ndarray, weight: np.ndarray, input_shape: Shape4,
                       stride: Pair, padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
    N = input_shape[0]
    O, Cg, kh, kw = weight.shape
    oh, ow = grad_output.shape[2:]
    K, Og = Cg * kh * kw, O // groups
    dx = np.zeros(input_shape, dtype=grad_output.dtype)
    columns = _Columns(input_shape, (kh, kw), (oh, ow), stride, padding, dilation, dx.dtype)
    wT = np.ascontiguousarray(weight.reshape(groups, Og, K).transpose(0, 2, 1))
    threads = _threads(grad_output.size * K)
    with one_blas_thread(threads) as team:
        for images, rows in columns.blocks(N):
            cols, g3 = columns.target(dx, images, rows), _rows(grad_output, images, rows)
            for g in range(groups):
                _matmul(wT[g:g + 1], g3[:, g * Og:(g + 1) * Og], cols[:, g * K:(g + 1) * K],
                        team)
            columns.fold(cols, dx, images, rows, threads)
    return dx


def _grad_input_direct(grad_output: np.ndarray, weight: np.ndarray, input_shape: Shape4,
                       stride: Pair, padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
    N, C, H, W = input_shape
    pt, pb, pl, pr = padding
    dxp = np.zeros((N, C, H + pt + pb, W + pl + pr), dtype=grad_output.dtype)
    _conv.conv2d_grad_input_direct(grad_output, weight, dxp, *stride, *dilation, groups,
                                   _threads(grad_output.size * weight[0].size))
    return np.ascontiguousarray(dxp[:, :, pt:pt + H, pl:pl + W])


def _grad_weight_blocked(x: np.ndarray, grad_output: np.ndarray, weight_shape: Shape4,
                         stride: Pair, padding: Pads, dilation: Pair, groups: int,
                         narrow: bool = False) -> np.ndarray:
    return _oc_blocked_grad_weight(_pad(x, padding), grad_output, weight_shape, stride, dilation,
                                   groups, narrow)


def _grad_weight_implicit(x: np.ndarray, grad_output: np.ndarray, weight_shape: Shape4,
                          stride: Pair, padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
    O, Cg, kh, kw = weight_shape
    Og = O // groups
    grid_hw = _grid_hw(x.shape, padding)
    xg = _padded(x, padding, grid_hw)
    gy = _padded(grad_output, (0, 0, 0, 0), grid_hw)
    with one_blas_thread(_threads(gy.size * Cg * kh * kw)) as threads:
        partial = np.zeros((threads, kh, kw, groups, Og, Cg), dtype=x.dtype)  # per thread
        _implicit_gemm.grad_weight(xg, gy, partial, grid_hw[1], *dilation, threads)
    dwt = partial.sum(axis=0)
    return np.ascontiguousarray(dwt.transpose(2, 3, 4, 0, 1).reshape(weight_shape))


def _grad_weight_im2col(x: np.ndarray, grad_output: np.ndarray, weight_shape: Shape4,
                        stride: Pair, padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
    N = x.shape[0]
    O, Cg, kh, kw = weight_shape
    oh, ow = grad_output.shape[2:]
    K, Og = Cg * kh * kw, O // groups
    columns = _Columns(x.shape, (kh, kw), (oh, ow), stride, padding, dilation, x.dtype)
    threads = _threads(grad_output.size * K)
    with one_blas_thread(threads) as team:
        partial = np.zeros((groups, team, Og, K), dtype=x.dtype)  # each thread's sums
        for images, rows in columns.blocks(N):
            cols, g3 = columns.unfold(x, images, rows, threads), _rows(grad_output, images, rows)
            for g in range(groups):
                _gemm.matmul_nt_sum(g3[:, g * Og:(g + 1) * Og], cols[:, g * K:(g + 1) * K],
                                    partial[g], team)
    dw: np.ndarray = partial.sum(axis=1).reshape(weight_shape)
    return dw


def _grad_weight_direct(x: np.ndarray, grad_output: np.ndarray, weight_shape: Shape4,
                        stride: Pair, padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
    dw = np.zeros(weight_shape, dtype=x.dtype)
    _conv.conv2d_grad_weight_direct(_pad(x, padding), grad_output, dw, *stride, *dilation,
                                    groups, _threads(grad_output.size * dw[0].size))
    return dw


# -- Winograd F(2x2, 3x3) ----------------------------------------------------
#
# Error bound. With d = max|x|, g = max|w|, C channels summed, u the unit
# roundoff and s = d g, to first order in u:
# * the input transform adds two values twice: |V| <= 4d, |error| <= 8ud;
# * the weight transform (G g by rows, then (G g) G^T, each entry a sum of
#   at most three values halved): |U| <= 2.25g, |error| <= 9ug (the sums
#   below count 20ug, the bound of the 9-term sum it once was);
# * M = sum_c U V over the 9 entries an output reads: |sum_c U V| adds up
#   to at most (sum_i |G_i| |B_i|)^2 C s = 64 C s, so the GEMMs err by at
#   most gamma_C 64 C s = 64 C^2 u s, and the two transforms' errors carried
#   through them by (128 + 720) C u s;
# * the output transform adds 9 entries in two stages: 256 C u s.
# In all |error| <= (64 C^2 + 1104 C) u s. The direct sum's classic bound,
# in any order, is gamma_{9C} 9 C s = 81 C^2 u s: Winograd's is 14x larger
# for one channel, 2.1x from 16 channels, and smaller from 65, its GEMMs
# summing over C where the direct sum adds 9 C terms in one. So Winograd is
# admissible only from WINOGRAD_MIN_CHANNELS = 16 channels summed (the
# input's for the forward pass, the output's for the input gradient), and
# tests/test_cython_paths.py checks every result against that bound.
# The conformance kit's tolerance (4 eps per term, ``testing.tolerance``) is
# not a worst-case bound for any algorithm: a Hypothesis search with more
# channels than the kit draws finds same-sign sums of 50 terms or more
# beyond it for the blocked kernel too. Within the kit's problems every
# algorithm passes; on the bound's worst inputs (equal magnitudes, sign
# patterns aligned with the transforms, 16-2048 channels) Winograd's
# largest float32 error is 0.87 of it, exactly the blocked kernel's,
# implicit GEMM's and im2col's on the same inputs.
# Where the bound itself fails, Winograd is not run (`_winograd_holds`):
# non-finite values (inf - inf in a transform gives NaN where the direct
# sum gives inf), a largest intermediate 64 C d g beyond the dtype's range,
# and weights so small (max|w| under 16 times the smallest normal number)
# that a transformed weight rounded among the subnormals would lose relative
# precision the direct sum never does. The call then runs the blocked
# kernel, and the answer is the same up to rounding either way.

#: The fewest channels summed for which Winograd is admissible: its error
#: bound is within 2.1x of the direct sum's from here (see above), and with
#: fewer its GEMMs are too thin to be fast anyway.
WINOGRAD_MIN_CHANNELS = 16

#: F(2x2, 3x3)'s ops: the forward pass, and the input gradient as the
#: forward pass of the flipped, transposed kernel over the output gradient.
WINOGRAD_OPS = ("conv2d", "conv2d_grad_input")
#: sum_i |G_i| |B_i| squared: the largest intermediate per C d g (see above).
_WINOGRAD_GROWTH = 64.0


def winograd_admissible(op: str, w_shape: Sequence[int], stride: Pair, padding: Pads,
                        dilation: Pair, groups: int) -> bool:
    """Whether F(2x2, 3x3) computes this geometry within its error bound: a 3x3
    kernel at stride 1, no dilation, one group, at least `WINOGRAD_MIN_CHANNELS`
    channels summed (the input's for the forward pass, the output's for the
    input gradient); for the input gradient, padding of at most 2 (its forward
    pass pads the output gradient by ``2 - padding``)."""
    summed = w_shape[1] if op == "conv2d" else w_shape[0]
    return (op in WINOGRAD_OPS and tuple(w_shape[2:]) == (3, 3) and stride == (1, 1)
            and dilation == (1, 1) and groups == 1 and summed >= WINOGRAD_MIN_CHANNELS
            and (op == "conv2d" or max(padding) <= 2))


def _winograd_holds(x: np.ndarray, weight: np.ndarray, threads: int = 1) -> bool:
    """Whether the error bound holds for these values (see above): all finite, the
    largest intermediate, 64 C max|x| max|w|, inside the dtype's range, and max|w| at
    least 16 times the smallest normal number, so that a transformed weight rounded
    among the subnormals errs by less than eps/16 of max|w|. C is ``x``'s channels,
    the ones summed whichever way ``weight`` is read. (`magnitude` reads an
    infinity or a NaN as an infinite maximum, which fails the first test.)"""
    d = _winograd_k.magnitude(x.reshape(-1), threads)
    g = _winograd_k.magnitude(weight.reshape(-1), threads)
    info = np.finfo(x.dtype)
    bound = _WINOGRAD_GROWTH * x.shape[1] * d * g
    return math.isfinite(bound) and bound <= float(info.max) and g >= 16 * float(info.tiny)


def _winograd_workspace(l2: int | None) -> int:
    """Four times one core's L2 cache (``l2`` bytes), within 1-16 MiB; 4 MiB where
    the size is unknown. A block of tiles that big keeps its transformed input
    and products near the cores between the transforms and the 16 GEMMs,
    whose inner dimensions are the channels, and is still wide enough for
    those GEMMs. On the AVX2 EPYC (512 KiB L2; RESULTS.md run 15) VGG's
    layers ran 1.0-1.7x faster (mostly 1.2-1.3x) in 2 MiB blocks than in
    16 MiB ones; 0.5 MiB made the 256-channel layer's GEMMs too thin
    (0.6x), 2-4 MiB were alike."""
    return 4 << 20 if not l2 else min(16 << 20, max(1 << 20, 4 * l2))


#: Upper bound on Winograd's transformed input and GEMM results together
#: (``16 (C + O)`` values per tile); a batch is transformed in blocks of
#: whole images, or of one image's tile rows, that fit. Set from this CPU's
#: L2 cache when convreg loads (`_winograd_workspace`).
WINOGRAD_WORKSPACE_BYTES = _winograd_workspace(planner.cache_bytes(2))

#: Upper bound on one thread's columns in the forward pass by im2col (a band of
#: output rows, `_conv.conv2d_im2col`). Set from this CPU's L2 cache when
#: convreg loads (`_column_band_bytes`).
COLUMN_BAND_BYTES = _column_band_bytes(planner.cache_bytes(2))


def _winograd(x: np.ndarray, weight: np.ndarray, adjoint: bool, padding: Pads, out_hw: Pair,
              fallback: Callable[[], np.ndarray]) -> np.ndarray:
    """The 3x3 stride-1 correlation of ``x`` zero-padded by ``padding`` with ``weight``
    (with ``adjoint``: with ``weight`` turned half a turn, its channel axes
    swapped), by F(2x2, 3x3); ``fallback()`` computes it where the bound does not
    hold (see above). The transforms read ``x`` and ``weight`` as they are: no
    padded or flipped copy."""
    N, C = x.shape[:2]
    O = weight.shape[1] if adjoint else weight.shape[0]
    oh, ow = out_hw
    threads = _threads(N * O * oh * ow * C * 9)
    if x.size == 0 or oh * ow == 0 or not _winograd_holds(x, weight, threads):
        return fallback()
    th, tw = -(-oh // 2), -(-ow // 2)
    y = np.empty((N, O, oh, ow), dtype=x.dtype)
    per_row = 16 * (C + O) * tw * x.dtype.itemsize
    fit = max(1, WINOGRAD_WORKSPACE_BYTES // per_row)  # tile rows per block
    images, rows = (max(1, min(N, fit // th)), th) if fit >= th else (1, fit)
    V = _planes(C * images * rows * tw, x.dtype)
    M = _planes(O * images * rows * tw, x.dtype)
    U = np.empty((16, O, C), dtype=x.dtype)
    grid_rows = np.empty((threads, 4 * (2 * tw + 2)), dtype=x.dtype)
    with one_blas_thread(threads) as team:
        _winograd_k.weight_transform(weight, U, adjoint, threads)
        for n0 in range(0, N, images):
            block = slice(n0, min(N, n0 + images))
            n = block.stop - block.start
            for r0 in range(0, th, rows):
                r = min(rows, th - r0)
                T = n * r * tw
                _winograd_k.input_transform(x[block], V, grid_rows, r0, r, padding[0],
                                            padding[2], tw, threads)
                _matmul(U, _matrices(V, C, T), _matrices(M, O, T), team)
                _winograd_k.output_transform(M, y[block], r0, r, threads)
    return y


def _matrices(planes: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """The ``(16, rows, columns)`` matrices at the start of each plane: a view, always
    (``out=`` must write the planes themselves)."""
    itemsize = planes.itemsize
    return np.lib.stride_tricks.as_strided(
        planes, (16, rows, columns), (planes.strides[0], columns * itemsize, itemsize))


def _planes(size: int, dtype: np.dtype[Any]) -> np.ndarray:
    """16 planes of ``size`` values, rows of a ``(16, S)`` array whose row length in bytes is
    256 more than a multiple of 4 KiB: planes a multiple of 4 KiB apart share L1 cache
    sets, and a transform writing all 16 at once ran 6x slower."""
    itemsize = np.dtype(dtype).itemsize
    pad = (256 - size * itemsize) % 4096 // itemsize
    return np.empty((16, size + pad), dtype=dtype)


def _conv2d_winograd(x: np.ndarray, weight: np.ndarray, out_hw: Pair, stride: Pair,
                     padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
    return _winograd(x, weight, False, padding, out_hw,
                     lambda: _conv2d_blocked(x, weight, out_hw, stride, padding, dilation, groups))


def _grad_input_winograd(grad_output: np.ndarray, weight: np.ndarray, input_shape: Shape4,
                         stride: Pair, padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
    # The adjoint of a stride-1 correlation is the correlation of the output
    # gradient, padded by 2 - padding, with the kernel turned half a turn
    # and its channel axes swapped (the weight transform reads it so).
    return _winograd(grad_output, weight, True, tuple(2 - p for p in padding),  # type: ignore[arg-type]
                     (input_shape[2], input_shape[3]),
                     lambda: _oc_blocked_grad_input(grad_output, weight, input_shape, stride,
                                                    padding, dilation, groups))


#: The algorithms of each layer op, by the names `algorithm` returns.
_CONV2D = {"direct": _conv2d_direct, "blocked": _conv2d_blocked,
           "blocked-narrow": functools.partial(_conv2d_blocked, narrow=True),
           "implicit": _conv2d_implicit, "im2col": _conv2d_im2col,
           "winograd": _conv2d_winograd, "planes": _conv2d_planes}
_GRAD_INPUT = {"direct": _grad_input_direct, "blocked": _oc_blocked_grad_input,
               "blocked-narrow": functools.partial(_oc_blocked_grad_input, narrow=True),
               "implicit": _grad_input_implicit, "im2col": _grad_input_im2col,
               "winograd": _grad_input_winograd,
               "pixels": functools.partial(_oc_blocked_grad_input, pixels=True)}
_GRAD_WEIGHT = {"direct": _grad_weight_direct, "blocked": _grad_weight_blocked,
                "blocked-narrow": functools.partial(_grad_weight_blocked, narrow=True),
                "implicit": _grad_weight_implicit, "im2col": _grad_weight_im2col}


#: What cpu_dispatch.h's ISA levels are called.
ISA_NAMES = ("baseline", "AVX2", "AVX-512")


def isa_name() -> str:
    """The instruction set the blocked kernels run on this CPU (``AVX-512``, ``AVX2``...)."""
    return ISA_NAMES[_conv.isa()] if _IMPORT_ERROR is None else "none (not built)"


#: ``CONVREG_MAX_ISA``'s values, by cpu_dispatch.h's level.
MAX_ISA_VALUES = {"baseline": 0, "avx2": 1, "avx512": 2}


def _env_max_isa() -> None:
    """``CONVREG_MAX_ISA=avx2`` (or ``baseline``): run the per-ISA kernels as on a CPU
    without the wider instruction sets (oneDNN's ``ONEDNN_MAX_CPU_ISA``), to compare
    the variants on one machine or keep a CPU that slows down under AVX-512 off it.
    A level above the CPU's changes nothing; an unknown value is a warning."""
    value = os.environ.get("CONVREG_MAX_ISA", "").strip().lower()
    if not value or _IMPORT_ERROR is not None:
        return
    if value not in MAX_ISA_VALUES:
        warnings.warn(f"CONVREG_MAX_ISA={value!r} is not one of {', '.join(MAX_ISA_VALUES)}; "
                      f"ignored", RuntimeWarning, stacklevel=2)
        return
    for module in (_conv, _corr2d):
        module.cap_isa(MAX_ISA_VALUES[value])


_env_max_isa()


def admissible(op: str, x_shape: Sequence[int], w_shape: Sequence[int], stride: Pair,
               padding: Pads, dilation: Pair, groups: int) -> tuple[str, ...]:
    """The algorithms that can compute a layer op of this geometry, in `ALGORITHMS` order.

    All of them, except implicit GEMM off stride 1 or where its padded grids
    would overflow a 32-bit BLAS int, Winograd outside `winograd_admissible`,
    "planes" outside `planes_admissible` and "pixels" but for the input
    gradient with one group.
    """
    implicit = stride == (1, 1) and _fits_blas(x_shape, padding)
    special = {"winograd": winograd_admissible(op, w_shape, stride, padding, dilation, groups),
               "planes": planes_admissible(op, w_shape, stride, dilation), "implicit": implicit,
               "pixels": op == "conv2d_grad_input" and groups == 1}
    return tuple(a for a in ALGORITHMS if special.get(a, True))


def planes_admissible(op: str, w_shape: Sequence[int], stride: Pair, dilation: Pair) -> bool:
    """Whether "planes" (``_corr2d.corr2d_planes``) can run: a forward pass with one input
    channel per group, at stride 1 without dilation."""
    return op == "conv2d" and w_shape[1] == 1 and stride == (1, 1) and dilation == (1, 1)


def _planned(op: str, algorithms: dict[str, Any], x_shape: tuple[int, ...],
             w_shape: tuple[int, ...], out_hw: tuple[int, ...], stride: Pair, padding: Pads,
             dilation: Pair, groups: int, dtype: np.dtype[Any], args: tuple[Any, ...]) -> Any:
    """Run a layer op by its plan. The signature holds every input of the choice,
    each already an exact int or tuple of ints (the front end normalised them)."""
    N, O = x_shape[0], w_shape[0]
    work = N * O * out_hw[0] * out_hw[1] * w_shape[1] * w_shape[2] * w_shape[3]
    if _tiny(work):
        # Tiny (the chapter's examples): one thread, microseconds whichever
        # algorithm runs; the plain loops start fastest, and no plan is worth
        # the lookup. (conv2d takes its own tiny path before this, entering
        # them without typed memoryviews: CythonBackend.conv2d.)
        return algorithms["direct"](*args)
    signature = (op, x_shape, w_shape, stride, padding, dilation, groups, dtype.char,
                 get_num_threads(), _conv.isa())
    Og, Cg = w_shape[0] // groups, w_shape[1]
    few = min(Og, Cg) < BLOCKED_MIN_CHANNELS
    # The blocked kernels' vectors hold the output channels (the forward pass
    # and weight gradient) or the input channels (the input gradient).
    blocked = Cg if op == "conv2d_grad_input" else Og
    wide = _block_width(blocked, dtype) != _block_width(blocked, dtype, narrow=True)
    allowed = admissible(op, x_shape, w_shape, stride, padding, dilation, groups)
    return planner.run(op, signature, algorithms, allowed,
                       lambda: algorithm(op, x_shape, w_shape, (out_hw[0], out_hw[1]), stride,
                                         padding, groups), work, args,
                       lambda estimate: _contenders(estimate, allowed, few, wide))


def plan_of(op: str, x_shape: Sequence[int], w_shape: Sequence[int],
            threads: int) -> planner.Plan | None:
    """The cached plan of a layer op with these shapes at this thread count, if any
    (what ``python -m convreg bench`` shows beside each timing)."""
    for signature, plan in planner.plans().items():
        if signature[:3] == (op, tuple(x_shape), tuple(w_shape)) and signature[8] == threads:
            return plan
    return None


def _contenders(estimate: str, allowed: Sequence[str], few_channels: bool,
                wide_blocks: bool) -> tuple[str, ...]:
    """The algorithms worth timing for one signature, the rules' choice first.

    The plain direct loops parallelise over output planes and vectorise over
    nothing: with 16 or more channels per group on both sides they ran 5-50x
    slower than the blocked kernels here (``python -m convreg plan`` shows
    it), so they contend only when a side has few channels or the rules
    pick them. "blocked-narrow" contends only where "blocked" takes
    two-vector blocks: elsewhere the two are the same kernel.
    """
    names = [estimate] + [a for a in allowed if a != estimate]
    return tuple(a for a in names
                 if (a != "direct" or few_channels or estimate == "direct")
                 and (a != "blocked-narrow" or wide_blocks))


class CythonBackend:
    """Typed-memoryview kernels, float and double, parallel with OpenMP."""

    name = "cython"
    version = __version__
    api_version = API_VERSION
    priority = 50
    array_types = (np.ndarray,)

    def available(self) -> tuple[bool, str]:
        if _IMPORT_ERROR is not None:
            return False, f"the compiled extension did not import: {_IMPORT_ERROR}"
        threads = "OpenMP" if openmp_enabled() else "no OpenMP: single thread"
        return True, f"compiled kernels ({threads})"

    # -- single image --------------------------------------------------------

    def corr2d(self, X: np.ndarray, K: np.ndarray, mode: str) -> np.ndarray:
        return _valid_corr2d(X, K, corr2d_padding(K.shape, mode))

    def convolve2d(self, X: np.ndarray, K: np.ndarray, mode: str) -> np.ndarray:
        # Convolution is correlation with the kernel turned half a turn; the
        # padding is the correlation's mirrored, which puts "same" where
        # scipy.signal.convolve2d puts it.
        top, bottom, left, right = corr2d_padding(K.shape, mode)
        flipped = np.ascontiguousarray(K[::-1, ::-1])
        return _valid_corr2d(X, flipped, (bottom, top, right, left))

    # -- convolution layer ---------------------------------------------------
    # Each layer op runs the algorithm its plan names (convreg.planner; the
    # functions are _CONV2D, _GRAD_INPUT and _GRAD_WEIGHT below).

    def conv2d(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: Pair,
               padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
        out_hw, work = _conv2d_size(x.shape, weight.shape, stride, padding, dilation)
        y: np.ndarray
        if _tiny(work):
            y = _conv2d_tiny(x, weight, out_hw, stride, padding, dilation, groups)
        else:
            y = _planned("conv2d", _CONV2D, x.shape, weight.shape, out_hw, stride, padding,
                         dilation, groups, x.dtype,
                         (x, weight, out_hw, stride, padding, dilation, groups))
        if bias is not None:
            y += bias[:, None, None]
        return y

    def conv2d_grad_input(self, grad_output: np.ndarray, weight: np.ndarray, input_shape: Shape4,
                          stride: Pair, padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
        result: np.ndarray = _planned(
            "conv2d_grad_input", _GRAD_INPUT, input_shape, weight.shape, grad_output.shape[2:],
            stride, padding, dilation, groups, grad_output.dtype,
            (grad_output, weight, input_shape, stride, padding, dilation, groups))
        return result

    def conv2d_grad_weight(self, x: np.ndarray, grad_output: np.ndarray, weight_shape: Shape4,
                           stride: Pair, padding: Pads, dilation: Pair, groups: int) -> np.ndarray:
        result: np.ndarray = _planned(
            "conv2d_grad_weight", _GRAD_WEIGHT, x.shape, weight_shape, grad_output.shape[2:],
            stride, padding, dilation, groups, x.dtype,
            (x, grad_output, weight_shape, stride, padding, dilation, groups))
        return result

    # -- pooling -------------------------------------------------------------

    def max_pool2d(self, x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
                   ceil_mode: bool) -> np.ndarray:
        N, C, H, W = x.shape
        oh, ow = pool_output_hw((H, W), kernel, stride, padding, dilation, ceil_mode)
        y = np.empty((N, C, oh, ow), dtype=x.dtype)
        _pool.max_pool2d(x.reshape(N * C, H, W), y.reshape(N * C, oh, ow), *kernel, *stride,
                         *padding, *dilation, get_num_threads())
        return y

    def max_pool2d_grad(self, grad_output: np.ndarray, x: np.ndarray, kernel: Pair, stride: Pair,
                        padding: Pair, dilation: Pair, ceil_mode: bool) -> np.ndarray:
        N, C, H, W = x.shape
        oh, ow = grad_output.shape[2:]
        dx = np.zeros_like(x)
        _pool.max_pool2d_grad(grad_output.reshape(N * C, oh, ow), x.reshape(N * C, H, W),
                              dx.reshape(N * C, H, W), *kernel, *stride, *padding, *dilation,
                              get_num_threads())
        return dx

    def avg_pool2d(self, x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, ceil_mode: bool,
                   count_include_pad: bool) -> np.ndarray:
        N, C, H, W = x.shape
        oh, ow = pool_output_hw((H, W), kernel, stride, padding, (1, 1), ceil_mode)
        y = np.empty((N, C, oh, ow), dtype=x.dtype)
        _pool.avg_pool2d(x.reshape(N * C, H, W), y.reshape(N * C, oh, ow), *kernel, *stride,
                         *padding, count_include_pad, get_num_threads())
        return y

    def avg_pool2d_grad(self, grad_output: np.ndarray, input_shape: Shape4, kernel: Pair,
                        stride: Pair, padding: Pair, ceil_mode: bool,
                        count_include_pad: bool) -> np.ndarray:
        N, C, H, W = input_shape
        oh, ow = grad_output.shape[2:]
        dx = np.zeros(input_shape, dtype=grad_output.dtype)
        _pool.avg_pool2d_grad(grad_output.reshape(N * C, oh, ow), dx.reshape(N * C, H, W),
                              *kernel, *stride, *padding, count_include_pad, get_num_threads())
        return dx


@hookimpl
def convreg_backends() -> list[CythonBackend]:
    return [CythonBackend()]
