"""Every algorithm of the cython backend, plain and channel-blocked direct loops,
im2col + GEMM and implicit GEMM, on every layer op.

The backend picks one by shape (``algorithm``); here each is forced in turn
where it applies (implicit GEMM at stride 1, im2col otherwise) and
checked against the reference, with a workspace small enough that im2col
runs over several batch slices.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import assert_close, implementing
from hypothesis import assume, given
from hypothesis import strategies as st

import convreg
from convreg.testing.compare import SUBNORMAL_ULPS
from convreg.testing.strategies import conv_problems, exponents, values

cython = pytest.importorskip("convreg.plugins.cython")
pytestmark = pytest.mark.skipif("cython" not in implementing("conv2d"),
                                reason="the cython backend is not built")


@contextlib.contextmanager
def forced(how: str, workspace: int):
    """Every layer op runs ``how`` (where admissible: implicit GEMM is stride 1 only),
    im2col's columns bounded by ``workspace`` bytes: a block, or one thread's band in
    the forward pass (1 byte: no band fits, so the forward pass takes blocks too)."""
    saved = cython.WORKSPACE_BYTES, cython.COLUMN_BAND_BYTES
    cython.WORKSPACE_BYTES = cython.COLUMN_BAND_BYTES = workspace
    try:
        with convreg.planner.force(how):
            yield
    finally:
        cython.WORKSPACE_BYTES, cython.COLUMN_BAND_BYTES = saved


ISA_LEVELS = cython._conv.isa_levels() if cython._IMPORT_ERROR is None else [0]
ISA_NAMES = {0: "baseline", 1: "avx2", 2: "avx512"}


@contextlib.contextmanager
def isa_capped(level: int):
    """Run the kernels as on a CPU with at most ISA ``level``: each per-ISA variant
    (tile sizes differ by register file) is then exercised on this machine."""
    cython._conv.cap_isa(level)
    cython._corr2d.cap_isa(level)
    try:
        yield
    finally:
        cython._conv.cap_isa(None)
        cython._corr2d.cap_isa(None)


def _scale(*arrays):
    return float(np.prod([np.abs(a.astype(np.float64)).max(initial=0.0) for a in arrays]))


@pytest.mark.parametrize("how", cython.ALGORITHMS)
@given(problem=conv_problems(wide=True), data=st.data(),
       workspace=st.sampled_from([1, 1 << 10, 1 << 25]))
def test_every_algorithm_agrees_with_reference(how, problem, data, workspace):
    x, w, b, kw = problem["x"], problem["w"], problem["b"], problem["kw"]
    ref = {k: problem[k].astype(np.float64) if problem[k] is not None else None
           for k in ("x", "w", "b")}
    want_y = convreg.conv2d(ref["x"], ref["w"], ref["b"], backend="reference", **kw)
    g = data.draw(values(want_y.shape, x.dtype, problem["g_exponent"], cancelling=True))
    want_dx = convreg.conv2d_grad_input(g.astype(np.float64), ref["w"], x.shape,
                                        backend="reference", **kw)
    want_dw = convreg.conv2d_grad_weight(ref["x"], g.astype(np.float64), w.shape,
                                         backend="reference", **kw)
    with forced(how, workspace):
        y = convreg.conv2d(x, w, b, backend="cython", **kw)
        dx = convreg.conv2d_grad_input(g, w, x.shape, backend="cython", **kw)
        dw = convreg.conv2d_grad_weight(x, g, w.shape, backend="cython", **kw)
    bscale = _scale(b) if b is not None else 0.0
    assert_close(y, want_y, dtype=x.dtype, scale=_scale(x, w) + bscale, terms=w[0].size + 1)
    assert_close(dx, want_dx, dtype=x.dtype, scale=_scale(g, w), terms=g.shape[1] * w[0, 0].size)
    assert_close(dw, want_dw, dtype=x.dtype, scale=_scale(g, x), terms=g[:, 0].size)


@pytest.mark.parametrize(
    "op, out_per_group, n, out_hw, expected",
    [
        ("conv2d", 64, 8, (56, 56), True),
        ("conv2d", 1, 8, (56, 56), False),  # depthwise
        ("conv2d_grad_input", 8, 1, (3, 3), True),
        ("conv2d_grad_input", 2, 64, (28, 28), False),
        ("conv2d", 4, 16, (26, 26), True),
        ("conv2d_grad_weight", 1, 16, (28, 28), True),
        ("conv2d_grad_weight", 64, 1, (6, 7), False),  # the chapter's sizes
    ],
)
def test_the_algorithm_choice(op, out_per_group, n, out_hw, expected):
    assert cython.use_gemm(op, out_per_group, n, out_hw) is expected


@pytest.mark.parametrize(
    "op, x_shape, w_shape, stride, padding, expected",
    [
        # the rows of benchmarks/crossover.py's table each rule comes from
        ("conv2d", (8, 64, 56, 56), (64, 64, 3, 3), (1, 1), (1, 1, 1, 1), "blocked"),
        ("conv2d", (8, 256, 14, 14), (256, 256, 3, 3), (1, 1), (1, 1, 1, 1), "blocked"),
        ("conv2d", (8, 64, 56, 56), (128, 64, 3, 3), (2, 2), (1, 1, 1, 1), "blocked"),
        ("conv2d", (8, 256, 28, 28), (64, 256, 1, 1), (1, 1), (0, 0, 0, 0), "blocked"),
        ("conv2d_grad_input", (8, 256, 28, 28), (64, 256, 1, 1), (1, 1), (0, 0, 0, 0),
         "blocked"),
        ("conv2d_grad_weight", (8, 256, 28, 28), (64, 256, 1, 1), (1, 1), (0, 0, 0, 0),
         "blocked"),
        ("conv2d", (8, 32, 28, 28), (32, 1, 3, 3), (1, 1), (1, 1, 1, 1), "direct"),
        ("conv2d", (64, 6, 14, 14), (16, 6, 5, 5), (1, 1), (0, 0, 0, 0), "blocked"),
        ("conv2d", (8, 3, 112, 112), (64, 3, 7, 7), (2, 2), (3, 3, 3, 3), "blocked"),
        ("conv2d", (64, 1, 28, 28), (6, 1, 5, 5), (1, 1), (2, 2, 2, 2), "blocked"),
        ("conv2d_grad_input", (64, 1, 28, 28), (6, 1, 5, 5), (1, 1), (2, 2, 2, 2), "im2col"),
        ("conv2d_grad_input", (8, 64, 56, 56), (64, 64, 3, 3), (1, 1), (1, 1, 1, 1), "blocked"),
        ("conv2d_grad_input", (8, 256, 14, 14), (256, 256, 3, 3), (1, 1), (1, 1, 1, 1),
         "blocked"),
        ("conv2d_grad_input", (16, 16, 28, 28), (16, 16, 3, 3), (1, 1), (0, 0, 0, 0), "blocked"),
        ("conv2d_grad_input", (8, 3, 112, 112), (64, 3, 7, 7), (2, 2), (3, 3, 3, 3), "im2col"),
        ("conv2d_grad_input", (8, 64, 56, 56), (128, 64, 3, 3), (2, 2), (1, 1, 1, 1),
         "blocked"),
        ("conv2d_grad_weight", (64, 6, 14, 14), (16, 6, 5, 5), (1, 1), (0, 0, 0, 0), "blocked"),
        ("conv2d_grad_weight", (16, 3, 28, 28), (8, 3, 3, 3), (1, 1), (0, 0, 0, 0), "blocked"),
        ("conv2d_grad_weight", (16, 32, 28, 28), (32, 1, 3, 3), (1, 1), (1, 1, 1, 1),
         "implicit"),
        ("conv2d_grad_weight", (64, 1, 28, 28), (6, 1, 5, 5), (1, 1), (2, 2, 2, 2), "blocked"),
        ("conv2d_grad_weight", (16, 1, 28, 28), (8, 1, 3, 3), (1, 1), (0, 0, 0, 0), "im2col"),
        ("conv2d_grad_weight", (1, 1, 8, 8), (1, 1, 2, 2), (1, 1), (0, 0, 0, 0), "direct"),
    ],
)
def test_the_algorithm_for_a_layer(op, x_shape, w_shape, stride, padding, expected):
    groups = x_shape[1] // w_shape[1]
    out_hw = convreg.output_shape(x_shape[2:], w_shape[2:], stride, padding[::2])
    assert cython.algorithm(op, x_shape, w_shape, out_hw, stride, padding, groups) == expected


@pytest.mark.parametrize("isa", ISA_LEVELS, ids=lambda i: ISA_NAMES[i])
def test_few_input_channels_take_the_blocked_input_gradient_where_a_half_block_fits(isa):
    """LeNet's second layer: 6 input channels fill 6 of a half block's 8 float32
    lanes (AVX2, the baseline), but 6 of AVX-512's 16, where implicit GEMM won."""
    args = ("conv2d_grad_input", (64, 6, 14, 14), (16, 6, 5, 5), (10, 10), (1, 1), (0,) * 4, 1)
    with isa_capped(isa):
        half = cython._block_width(6, np.dtype(np.float32)) == 8
        assert half == (isa < cython.WIDE_BLOCKS_MIN_ISA)
        assert cython.algorithm(*args) == ("blocked" if half else "implicit")
        # 5 channels leave 3 of 8 lanes idle: not blocked on any ISA
        assert cython.algorithm(args[0], (64, 5, 14, 14), (16, 5, 5, 5), *args[3:]) != "blocked"


@pytest.mark.parametrize("how", ["blocked", "blocked-narrow"])
@pytest.mark.parametrize("isa", ISA_LEVELS, ids=lambda i: ISA_NAMES[i])
@given(dtype=st.sampled_from([np.float32, np.float64]),
       og=st.sampled_from([1, 7, 8, 9, 16, 17, 33]), cg=st.integers(1, 5), groups=st.integers(1, 2),
       k=st.tuples(st.integers(1, 5), st.integers(1, 5)), stride=st.tuples(st.integers(1, 3),
                                                                           st.integers(1, 3)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), padding=st.integers(0, 2),
       width=st.integers(0, 40), data=st.data())
def test_the_blocked_kernel_on_wide_layers(how, isa, dtype, og, cg, groups, k, stride, dilation,
                                           padding, width, data):
    """Several vector blocks of output channels per group (16 floats or 8 doubles a
    block, two a block in "blocked" where a group has more, one in "blocked-narrow"),
    full tiles of 12 or 14 pixels or taps and every narrower one, every stride phase of the
    input gradient: the three ops against the reference."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    reach = [d * (kk - 1) + 1 for d, kk in zip(dilation, k)]
    H, W = max(1, reach[0] - 2 * padding) + 2, max(1, reach[1] - 2 * padding) + width
    x = rng.standard_normal((2, groups * cg, H, W)).astype(dtype)
    w = rng.standard_normal((groups * og, cg, *k)).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    want = convreg.conv2d(x.astype(np.float64), w.astype(np.float64), backend="reference", **kw)
    g = rng.standard_normal(want.shape).astype(dtype)
    with forced(how, cython.WORKSPACE_BYTES), isa_capped(isa):
        y = convreg.conv2d(x, w, backend="cython", **kw)
        dx = convreg.conv2d_grad_input(g, w, x.shape, backend="cython", **kw)
        dw = convreg.conv2d_grad_weight(x, g, w.shape, backend="cython", **kw)
    assert_close(y, want, dtype=dtype, scale=_scale(x, w), terms=w[0].size)
    want_dx = convreg.conv2d_grad_input(g.astype(np.float64), w.astype(np.float64), x.shape,
                                        backend="reference", **kw)
    assert_close(dx, want_dx, dtype=dtype, scale=_scale(g, w), terms=og * w[0, 0].size)
    want_dw = convreg.conv2d_grad_weight(x.astype(np.float64), g.astype(np.float64), w.shape,
                                         backend="reference", **kw)
    assert_close(dw, want_dw, dtype=dtype, scale=_scale(g, x), terms=g[:, 0].size)


@pytest.mark.parametrize("isa", ISA_LEVELS, ids=lambda i: ISA_NAMES[i])
@given(dtype=st.sampled_from([np.float32, np.float64]), c=st.integers(1, 13),
       o=st.integers(1, 9), k=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), padding=st.integers(0, 2),
       width=st.integers(0, 40), data=st.data())
def test_the_pixels_input_gradient_is_the_blocked_one_bit_for_bit(isa, dtype, c, o, k, stride,
                                                                 dilation, padding, width, data):
    """The input gradient vectorised along pixels, six channels a tile (1-13 input
    channels: partial groups of six; rows of 1-40+ pixels: partial chunks; every
    stride phase), sums each value's terms in the blocked kernel's order: the
    same bits, on each ISA's kernels, and the reference's values."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    reach = [d * (kk - 1) + 1 for d, kk in zip(dilation, k)]
    H, W = max(1, reach[0] - 2 * padding) + 2, max(1, reach[1] - 2 * padding) + width
    x_shape = (2, c, H, W)
    w = rng.standard_normal((o, c, *k)).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    g = rng.standard_normal(convreg.conv2d(np.zeros(x_shape, dtype), w, **kw).shape).astype(dtype)
    with isa_capped(isa):
        with forced("pixels", cython.WORKSPACE_BYTES):
            got = convreg.conv2d_grad_input(g, w, x_shape, backend="cython", **kw)
        with forced("blocked", cython.WORKSPACE_BYTES):
            blocked = convreg.conv2d_grad_input(g, w, x_shape, backend="cython", **kw)
    np.testing.assert_array_equal(got, blocked)
    want = convreg.conv2d_grad_input(g.astype(np.float64), w.astype(np.float64), x_shape,
                                     backend="reference", **kw)
    assert_close(got, want, dtype=dtype, scale=_scale(g, w), terms=o * w[0, 0].size)


def test_the_pixels_kernel_refuses_what_it_cannot_compute():
    """Weights that do not fit, rows that do not reach the last chunk, too few thread
    rows: ValueError before any loop runs."""
    conv = cython._conv
    R, chunk = conv.PIXEL_CHANNELS, conv.pixel_chunk(4)
    xp = np.zeros((1, 2, 5, chunk + 2), np.float32)  # one chunk of output, kw = 3
    wr = np.zeros((1, 2, 3, 3, R), np.float32)
    y = np.empty((1, R, 3, chunk), np.float32)
    rows = np.empty((1, R * chunk), np.float32)
    conv.conv2d_pixels(xp, wr, y, rows, 1, 1, 1)  # fits
    assert np.all(y == 0)
    for bad, match in [((xp[:, :1], wr, y, rows), "do not fit"),
                       ((xp, wr, np.empty((1, R + 1, 3, chunk), np.float32), rows), "do not fit"),
                       ((np.zeros((1, 2, 5, chunk + 1), np.float32), wr, y, rows), "reads past"),
                       ((xp, wr, y, rows[:, :-1]), "rows must hold")]:
        with pytest.raises(ValueError, match=match):
            conv.conv2d_pixels(*bad, 1, 1, 1)
    with pytest.raises(ValueError, match="nonzero rows"):
        conv.conv2d_pixels(xp, wr, y, rows, 1, 1, 1, 3, 2)


@pytest.mark.parametrize("isa", ISA_LEVELS, ids=lambda i: ISA_NAMES[i])
@given(dtype=st.sampled_from([np.float32, np.float64]), kh=st.integers(1, 9),
       kw=st.integers(1, 7), rows=st.integers(0, 13), cols=st.integers(0, 100),
       mode=st.sampled_from(["valid", "same", "full"]), data=st.data())
def test_corr2d_in_bands_of_rows(isa, dtype, kh, kw, rows, cols, mode, data):
    """Single-image correlation runs in bands of output rows (a register tile of rows
    x vectors, 4 x 2 zmm by default with AVX-512) with the leftover rows and columns
    one row at a time: every split of an image, by every tile of every ISA variant,
    against SciPy; and every tile bit for bit as the default one."""
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    X = rng.standard_normal((kh + rows, kw + cols)).astype(dtype)
    K = rng.standard_normal((kh, kw)).astype(dtype)
    with isa_capped(isa):
        tiles = cython.corr2d_tiles()
        tile = data.draw(st.sampled_from(tiles[1:] or tiles), label="tile")
        with convreg.planner.force(tile):
            got = convreg.corr2d(X, K, mode=mode, backend="cython")
            conv = convreg.convolve2d(X, K, mode=mode, backend="cython")
        default = convreg.corr2d(X, K, mode=mode, backend="cython")  # tile 0, the rules'
    # Every tile and the one-row loop for the leftovers sum in one order; they agree bit
    # for bit where both contract to FMA (the one-row loop's clone follows the CPU, not
    # the cap: under a baseline cap its sums are FMAs, the SSE2 tiles' are not).
    if isa > 0 or max(ISA_LEVELS) == 0:
        np.testing.assert_array_equal(got, default)
    want = signal.correlate2d(X.astype(np.float64), K.astype(np.float64), mode=mode)
    assert_close(got, want, dtype=dtype, scale=_scale(X, K), terms=K.size)
    want = signal.convolve2d(X.astype(np.float64), K.astype(np.float64), mode=mode)
    assert_close(conv, want, dtype=dtype, scale=_scale(X, K), terms=K.size)


@pytest.mark.parametrize("isa", ISA_LEVELS, ids=lambda i: ISA_NAMES[i])
@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_corr2d_tiles_with_the_kernel_size_compiled_in(isa, k, dtype):
    """3x3 and 5x5 run tiles compiled with the kernel's size a constant: every tile of
    every ISA, on an image with leftover rows and columns, against SciPy and bit for
    bit as the same tile with a kernel of another size that holds the same taps
    (its extra row and column zero, over an input whose extra row and column are
    zero): the same sums in the same order."""
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(k)
    X = rng.standard_normal((k + 13, k + 70)).astype(dtype)
    K = rng.standard_normal((k, k)).astype(dtype)
    want = signal.correlate2d(X.astype(np.float64), K.astype(np.float64), mode="valid")
    with isa_capped(isa):
        for tile in cython.corr2d_tiles():
            with convreg.planner.force(tile):
                got = convreg.corr2d(X, K, backend="cython")
            assert_close(got, want, dtype=dtype, scale=_scale(X, K), terms=K.size)
            with convreg.planner.force(tile):
                # k+1 x k+1, generic loops; the zero taps add exact zeros to each sum
                generic = convreg.corr2d(np.pad(X, ((0, 1), (0, 1))), np.pad(K, ((0, 1), (0, 1))),
                                         backend="cython")
            if isa > 0 or max(ISA_LEVELS) == 0:
                np.testing.assert_array_equal(got, generic[:got.shape[0], :got.shape[1]])


@given(dtype=st.sampled_from([np.float32, np.float64]), planes=st.integers(1, 3),
       h=st.integers(1, 6), w=st.integers(1, 6), out_h=st.integers(1, 9), out_w=st.integers(1, 9),
       r0=st.integers(-8, 8), c0=st.integers(-8, 8))
def test_placing_planes_with_any_offset(dtype, planes, h, w, out_h, out_w, r0, c0):
    """Zero padding and the input gradient's shifted, clipped planes (``_conv.place``),
    against the same thing spelled out in NumPy, offsets past either edge included."""
    x = np.arange(1, planes * h * w + 1, dtype=dtype).reshape(planes, h, w)
    want = np.zeros((planes, out_h, out_w), dtype=dtype)
    for r in range(out_h):
        for c in range(out_w):
            if 0 <= r - r0 < h and 0 <= c - c0 < w:
                want[:, r, c] = x[:, r - r0, c - c0]
    got = np.full_like(want, np.nan)
    cython._conv.place(x, got, r0, c0, 2)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("isa", ISA_LEVELS, ids=lambda i: ISA_NAMES[i])
@pytest.mark.parametrize("threads", [2, 3])
@given(dtype=st.sampled_from([np.float32, np.float64]), n=st.integers(1, 5),
       og=st.integers(1, 20), cg=st.integers(1, 3), k=st.integers(1, 5), data=st.data())
def test_the_blocked_weight_gradient_split_over_images(isa, threads, dtype, n, og, cg, k, data):
    """With fewer tiles of taps than threads to share, the blocked weight gradient
    splits the images over per-thread partial sums instead: every thread count and
    batch size, against the reference (parallel even on tiny shapes here)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, cg, k + 3, k + 4)).astype(dtype)
    w_shape = (og, cg, k, k)
    g = rng.standard_normal((n, og, 4, 5)).astype(dtype)
    want = convreg.conv2d_grad_weight(x.astype(np.float64), g.astype(np.float64), w_shape,
                                      backend="reference")
    saved = cython.PARALLEL_MIN_WORK
    cython.PARALLEL_MIN_WORK = 0
    convreg.set_num_threads(threads)
    try:
        with forced("blocked", cython.WORKSPACE_BYTES), isa_capped(isa):
            got = convreg.conv2d_grad_weight(x, g, w_shape, backend="cython")
    finally:
        cython.PARALLEL_MIN_WORK = saved
        convreg.set_num_threads(None)
    assert_close(got, want, dtype=dtype, scale=_scale(g, x), terms=g[:, 0].size)


def test_an_isa_cap_never_raises_the_instruction_set():
    """Capping above what the CPU has changes nothing (no illegal instruction)."""
    top = max(ISA_LEVELS)
    taps, tiles = cython._conv.gw_taps_per_tile(128), cython.corr2d_tiles()
    with isa_capped(top + 5):
        assert cython._conv.gw_taps_per_tile(128) == taps
        assert cython.corr2d_tiles() == tiles
    with isa_capped(0):
        assert cython._conv.gw_taps_per_tile(128) == 1  # the baseline's two-vector tile
        assert cython._conv.gw_taps_per_tile(32) == 4  # its half-block tile: 2 xmm a tap
        assert cython.corr2d_tiles()[0] == "tile-2x4"  # its correlation tile: 2 rows x 4 xmm
    if 1 in ISA_LEVELS:
        with isa_capped(1):
            assert cython._conv.gw_taps_per_tile(32) == 14  # AVX2's half block: 14 + 2 ymm
    assert cython._conv.gw_taps_per_tile(128) == taps
    assert cython.corr2d_tiles() == tiles


@pytest.mark.parametrize("block_bytes", [0, 16, 48, 96, 256])
def test_the_blocked_kernels_refuse_a_block_size_they_are_not_compiled_for(block_bytes):
    with pytest.raises(ValueError, match="32, 64 or 128 bytes"):
        cython._conv.gw_taps_per_tile(block_bytes)
    ob = max(1, block_bytes // 4)
    x, y = np.zeros((1, 1, 3, 3), np.float32), np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match="32, 64 or 128 bytes"):
        cython._conv.conv2d_oc_blocked(x, np.zeros((1, 1, 1, 1, ob), np.float32), y,
                                       np.zeros((1, 3 * ob), np.float32), 1, 1, 1, 1, 1, 1)


@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 1), (1, 2), (3, 2)])
def test_the_blocked_kernel_skips_only_kernel_rows_that_read_zeros(stride, dilation):
    """Rows of the input outside [lo, hi) zero: the sums over the kernel rows that
    read inside equal the full sums (every row of the output, including rows that
    read no nonzero row at all), and a range outside the input is refused."""
    rng = np.random.default_rng(11)
    xp = np.zeros((2, 3, 23, 9), np.float32)
    xp[:, :, 7:15] = rng.standard_normal((2, 3, 8, 9))
    ob = cython._block_width(5, xp.dtype)
    wb = rng.standard_normal((1, 3, 4, 2, ob)).astype(np.float32)
    oh, ow = (22 - 3 * dilation) // stride + 1, (9 - 2) // stride + 1  # 4x2 taps
    rows = np.empty((1, ow * ob), np.float32)
    full, skipped = (np.full((2, ob, oh, ow), np.nan, np.float32) for _ in range(2))
    args = (stride, stride, dilation, 1, 1, 1)
    cython._conv.conv2d_oc_blocked(xp, wb, full, rows, *args)
    cython._conv.conv2d_oc_blocked(xp, wb, skipped, rows, *args, 7, 15)
    np.testing.assert_array_equal(skipped, full)  # zeros only left out: the same sums
    assert not full[:, :, -1].any()  # the last rows read zeros only: written as zeros
    for lo, hi in [(-1, 5), (5, 4), (0, 24)]:
        with pytest.raises(ValueError, match="nonzero rows"):
            cython._conv.conv2d_oc_blocked(xp, wb, skipped, rows, *args, lo, hi)


@pytest.mark.parametrize("isa", ISA_LEVELS, ids=lambda i: ISA_NAMES[i])
@pytest.mark.parametrize("vectors", [0.5, 1, 2], ids=["half", "one", "two"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_compiled_channel_block_size(isa, vectors, dtype, monkeypatch):
    """Each ISA's kernels of each block size, including those the rules do not pick
    on it (half blocks with AVX-512, two vectors with AVX2), against the reference:
    11 output channels (a partial block), 3 input channels, stride 2, dilation 2."""
    ob = int(cython._conv.OC_BLOCK[np.dtype(dtype).name] * vectors)
    monkeypatch.setattr(cython, "_block_width", lambda *args, **kwargs: ob)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 13, 29)).astype(dtype)
    w = rng.standard_normal((11, 3, 3, 2)).astype(dtype)
    kw = dict(stride=2, padding=1, dilation=(2, 1))
    want = convreg.conv2d(x, w, backend="reference", **kw)
    g = rng.standard_normal(want.shape).astype(dtype)
    with forced("blocked", cython.WORKSPACE_BYTES), isa_capped(isa):
        y = convreg.conv2d(x, w, backend="cython", **kw)
        dx = convreg.conv2d_grad_input(g, w, x.shape, backend="cython", **kw)
        dw = convreg.conv2d_grad_weight(x, g, w.shape, backend="cython", **kw)
    assert_close(y, want, dtype=dtype, scale=_scale(x, w), terms=w[0].size)
    assert_close(dx, convreg.conv2d_grad_input(g, w, x.shape, backend="reference", **kw),
                 dtype=dtype, scale=_scale(g, w), terms=11 * 6)
    assert_close(dw, convreg.conv2d_grad_weight(x, g, w.shape, backend="reference", **kw),
                 dtype=dtype, scale=_scale(g, x), terms=g[:, 0].size)


@pytest.mark.parametrize("isa", ISA_LEVELS, ids=lambda i: ISA_NAMES[i])
@pytest.mark.parametrize("channels", [1, 4, 6, 8, 9, 16, 17, 32, 33])
def test_channel_blocks_by_isa(isa, channels):
    """Half a 64-byte block where the channels fit it and the registers are narrower
    (AVX2, the baseline); one, or two past one vector's channels, with AVX-512."""
    with isa_capped(isa):
        for dtype, lanes in ((np.float32, 16), (np.float64, 8)):
            got = cython._block_width(channels, np.dtype(dtype))
            if cython._conv.isa() < cython.WIDE_BLOCKS_MIN_ISA:
                assert got == (lanes // 2 if channels <= lanes // 2 else lanes)
            else:
                assert got == (lanes if channels <= lanes else 2 * lanes)
            assert cython._block_width(channels, np.dtype(dtype), narrow=True) <= lanes


# -- Winograd F(2x2, 3x3) --------------------------------------------------------


@st.composite
def winograd_problems(draw):
    """3x3 kernels at stride 1, one group, 16+ channels summed both ways: where
    F(2x2, 3x3) runs. The kit's wide magnitudes and cancelling sums, padding 0-2."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(16, 40)), draw(st.integers(16, 24))
    pads = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    H = max(1, 3 - 2 * pads[0]) + draw(st.integers(0, 9))
    W = max(1, 3 - 2 * pads[1]) + draw(st.integers(0, 9))
    ex, ew, eg = draw(exponents(dtype, 3))
    x = draw(values((n, c, H, W), dtype, ex, cancelling=True))
    w = draw(values((o, c, 3, 3), dtype, ew, cancelling=True))
    return x, w, pads, eg


def _winograd_bound(dtype, scale, channels):
    """plugins/cython.py's first-order bound on Winograd's error, (64 C^2 + 1104 C) u s,
    plus the float64 reference's own (gamma_{9C} 9 C s) and the kit's subnormal floor."""
    u, u64 = np.finfo(dtype).eps / 2, np.finfo(np.float64).eps / 2
    floor = SUBNORMAL_ULPS * 9 * channels * float(np.finfo(dtype).smallest_subnormal)
    return (64 * channels**2 + 1104 * channels) * u * scale + 81 * channels**2 * u64 * scale + floor


@given(problem=winograd_problems(), data=st.data())
def test_winograd_stays_within_its_error_bound(problem, data):
    x, w, pads, eg = problem
    assert cython.winograd_admissible("conv2d", w.shape, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    ref_x, ref_w = x.astype(np.float64), w.astype(np.float64)
    want_y = convreg.conv2d(ref_x, ref_w, padding=pads, backend="reference")
    g = data.draw(values(want_y.shape, x.dtype, eg, cancelling=True))
    want_dx = convreg.conv2d_grad_input(g.astype(np.float64), ref_w, x.shape, padding=pads,
                                        backend="reference")
    with convreg.planner.force("winograd"):
        y = convreg.conv2d(x, w, padding=pads, backend="cython")
        dx = convreg.conv2d_grad_input(g, w, x.shape, padding=pads, backend="cython")
    for got, want, scale, channels in ((y, want_y, _scale(x, w), x.shape[1]),
                                       (dx, want_dx, _scale(g, w), g.shape[1])):
        error = float(np.abs(got.astype(np.float64) - want).max())
        assert error <= _winograd_bound(x.dtype, scale, channels), (error, scale, channels)


def _sign_patterns(shape, rng):
    """Inputs that make Winograd's intermediates largest: every value at the same
    magnitude, in sign patterns that align with the transforms' rows."""
    n, c, h, w = shape
    checker = np.indices((h, w)).sum(axis=0) % 2 * 2 - 1.0
    stripes = np.where(np.arange(w) % 4 < 2, 1.0, -1.0) * np.ones((h, 1))
    yield np.broadcast_to(checker, shape)
    yield np.broadcast_to(stripes, shape)
    yield np.ones(shape)
    yield rng.choice([-1.0, 1.0], size=shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [16, 64, 256])
def test_winograd_stays_within_the_kit_tolerance_on_its_worst_inputs(dtype, channels):
    """The error bound's worst cases (see plugins/cython.py): intermediates at 64 C
    max|x| max|w| against the direct sum's 9 C. Errors stay within the tolerance
    (measured: at most 0.87 of it in float32, as the blocked kernel, implicit GEMM
    and im2col on the same inputs, for 16 to 2048 channels)."""
    from convreg.testing import tolerance

    rng = np.random.default_rng(channels)
    worst = 0.0
    for x in _sign_patterns((1, channels, 10, 10), rng):
        for w in _sign_patterns((4, channels, 3, 3), rng):
            # ... times the largest-mantissa values of a binade, which round worst
            x_, w_ = (x * (2 - 2.0**-20)).astype(dtype), (w * 1.75).astype(dtype)
            assert cython._winograd_holds(x_, w_)  # Winograd runs, no fallback
            want = convreg.conv2d(x_.astype(np.float64), w_.astype(np.float64), padding=1,
                                  backend="reference")
            with convreg.planner.force("winograd"):
                got = convreg.conv2d(x_, w_, padding=1, backend="cython")
            tol = tolerance(dtype, _scale(x_, w_), 9 * channels)
            worst = max(worst, float(np.abs(got - want).max()) / tol)
    assert worst <= 1.0, f"error {worst:.3g} times the kit's tolerance"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_falls_back_where_its_bound_does_not_hold(dtype):
    """Non-finite values, intermediates beyond the dtype's range, weights near the
    subnormals: the blocked kernel answers, so the result is the definition's."""
    info = np.finfo(dtype)
    x = np.ones((1, 16, 6, 6), dtype)
    w = np.ones((3, 16, 3, 3), dtype)
    with_inf = x.copy()
    with_inf[0, 0, 2, 2] = with_inf[0, 1, 3, 3] = np.inf  # two infs in one tile: inf - inf
    huge = np.full_like(x, info.max / 64)  # 64 C d g overflows; 9 C d g does not
    cases = [(with_inf, w), (huge, w / 8), (x, w * (4 * float(info.tiny)))]
    # The input gradient sums the output gradient's channels (64 here), not the
    # input's (16), read from the same weights: 64 C d g overflows with C = 64.
    g64 = np.full((1, 64, 6, 6), info.max / (64 * 40), dtype)
    assert not cython._winograd_holds(g64, np.ones((64, 16, 3, 3), dtype))
    assert cython._winograd_holds(g64[:, :16], np.ones((16, 64, 3, 3), dtype))
    for x_, w_ in cases:
        assert not cython._winograd_holds(x_, w_)
        with np.errstate(all="ignore"):
            want = convreg.conv2d(x_, w_, padding=1, backend="reference")
            with convreg.planner.force("winograd"):
                got = convreg.conv2d(x_, w_, padding=1, backend="cython")
        np.testing.assert_allclose(got, want, rtol=1e-5)  # inf where inf, no NaN


def test_winograd_blocks_are_four_times_the_l2_cache_within_bounds():
    ws = cython._winograd_workspace
    assert ws(512 << 10) == 2 << 20  # the AVX2 EPYC's L2
    assert ws(2 << 20) == 8 << 20
    assert ws(64 << 10) == 1 << 20 and ws(32 << 20) == 16 << 20  # clamped
    assert ws(None) == 4 << 20  # not known
    assert cython.WINOGRAD_WORKSPACE_BYTES == ws(convreg.planner.cache_bytes(2))


def test_im2col_bands_are_four_times_the_l2_cache_within_bounds():
    bb = cython._column_band_bytes
    assert bb(512 << 10) == 2 << 20  # the AVX2 EPYC's L2
    assert bb(64 << 10) == 1 << 20 and bb(32 << 20) == 16 << 20  # clamped
    assert bb(None) == 4 << 20  # not known
    assert cython.COLUMN_BAND_BYTES == bb(convreg.planner.cache_bytes(2))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("N, oh, row_bytes, want", [
    (8, 28, 64 << 10, 14),  # the strided layer: 16 rows fit 1 MiB; two bands of 14
    (8, 5, 1 << 10, 5),  # small images: whole ones
    (2, 9, 2 << 20, 0),  # one row's columns exceed the bound: no band
    (1, 28, 64 << 10, None),  # one image: cut so that each thread gets two bands
    (1, 7, 1 << 10, None),
])
def test_im2col_bands_fill_the_bound_and_spread_over_the_team(N, oh, row_bytes, want, threads,
                                                              monkeypatch):
    monkeypatch.setattr(cython, "COLUMN_BAND_BYTES", 1 << 20)
    band = cython._column_band(row_bytes // 4, (oh, 1), N, threads, 4)
    if want is not None:
        assert band == want
    else:  # no taller than two bands a thread allow, and of equal height
        bands = -(-oh // band)
        assert 1 <= band <= -(-oh // (2 * threads))
        assert band * bands - oh < bands  # the last band short by less than one row each
    assert band * row_bytes <= 1 << 20


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_banded_im2col_refuses_what_it_cannot_compute(dtype):
    x = np.zeros((2, 4, 9, 9), dtype)
    w3 = np.zeros((2, 3, 2 * 3 * 3), dtype)
    y = np.zeros((2, 6, 7 * 7), dtype)
    cols = np.zeros((2, 18 * 3 * 7), dtype)
    conv = cython._conv.conv2d_im2col
    conv(x, w3, y, cols, 3, 3, 1, 1, 1, 1, 0, 0, 7, 3, 2)  # fits
    with pytest.raises(ValueError, match="cols must hold 378 values for each of 3 threads"):
        conv(x, w3, y, cols, 3, 3, 1, 1, 1, 1, 0, 0, 7, 3, 3)
    with pytest.raises(ValueError, match="cols must hold 504 values"):
        conv(x, w3, y, cols, 3, 3, 1, 1, 1, 1, 0, 0, 7, 4, 2)
    with pytest.raises(ValueError, match="do not fit"):
        conv(x, w3, y, cols, 3, 2, 1, 1, 1, 1, 0, 0, 7, 3, 2)  # K is not C/G*kh*kw
    with pytest.raises(ValueError, match="do not fit"):
        conv(x, w3, y, cols, 3, 3, 1, 1, 1, 1, 0, 0, 6, 3, 2)  # rows of 6 do not tile 49
    with pytest.raises(ValueError, match="do not fit"):
        conv(x, w3, y, cols, 3, 3, 1, 1, 1, 1, 0, 0, 7, 0, 2)  # no band


def test_cache_sizes_are_read_per_level_leaving_out_instruction_caches(tmp_path):
    for name, level, kind, size in [("index0", 1, "Data", "48K"), ("index1", 1, "Instruction",
                                    "32K"), ("index2", 2, "Unified", "2M"),
                                    ("index3", 3, "Unified", "36864K")]:
        (tmp_path / name).mkdir()
        for field, value in (("level", level), ("type", kind), ("size", size)):
            (tmp_path / name / field).write_text(f"{value}\n")
    read = convreg.planner._cache_bytes
    assert read(1, str(tmp_path)) == 48 << 10
    assert read(2, str(tmp_path)) == 2 << 20
    assert read(3, str(tmp_path)) == 36864 << 10
    assert read(4, str(tmp_path)) is None
    assert read(2, str(tmp_path / "absent")) is None


@pytest.mark.parametrize("workspace", [1, 260_000, 1 << 30], ids=["tile-rows", "images", "all"])
def test_winograd_in_blocks_of_tile_rows_or_images(workspace, monkeypatch):
    """A block of one tile row of one image (float64: 21120 bytes a tile row), of
    two images (12 tile rows) or of all three: both ops against the reference."""
    monkeypatch.setattr(cython, "WINOGRAD_WORKSPACE_BYTES", workspace)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 16, 11, 9))
    w = rng.standard_normal((17, 16, 3, 3))
    want = convreg.conv2d(x, w, padding=1, backend="reference")
    g = rng.standard_normal(want.shape)
    want_dx = convreg.conv2d_grad_input(g, w, x.shape, padding=1, backend="reference")
    with convreg.planner.force("winograd"):
        y = convreg.conv2d(x, w, padding=1, backend="cython")
        dx = convreg.conv2d_grad_input(g, w, x.shape, padding=1, backend="cython")
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-10, atol=1e-10)


_B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("adjoint", [False, True], ids=["forward", "adjoint"])
def test_winograd_weight_transform_is_g_g_gt(dtype, adjoint):
    """U[k, o, c] = (G g G^T)[k] with g = w[o, c], or w[c, o] turned half a turn:
    against NumPy's G g G^T, exactly on small integers (every sum and halving
    exact), within the stated 9 u max|g| elsewhere. 70 kernels a row: two whole
    blocks of 32 and a part."""
    wk = cython._winograd_k
    rng = np.random.default_rng(3)
    for w in (rng.integers(-8, 9, (5, 70, 3, 3)).astype(dtype),
              rng.standard_normal((5, 70, 3, 3)).astype(dtype)):
        g = w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1] if adjoint else w
        want = np.einsum("ia,ocab,jb->ijoc", _G, g.astype(np.float64), _G).reshape(16, *g.shape[:2])
        U = np.full((16, *g.shape[:2]), np.nan, dtype)
        wk.weight_transform(w, U, adjoint, 2)
        bound = 9 * np.finfo(dtype).eps / 2 * np.abs(w).max()
        assert np.abs(U - want).max() <= bound
        if np.all(w == np.round(w)):
            np.testing.assert_array_equal(U, want)
    with pytest.raises(ValueError, match="does not fit the kernels"):
        wk.weight_transform(w, np.empty((16, *g.shape[:2][::-1]), dtype), adjoint, 1)


def _grid_tiles(x, top, left, th, tw):
    """The reference input transform: ``x`` placed at (top, left) on a zero grid of
    2*th + 2 by 2*tw + 2 (clipped), each tile's B^T d B, as (16, C, n*th*tw)."""
    n, C, h, w = x.shape
    grid = np.zeros((n, C, 2 * th + 2 + h + abs(top), 2 * tw + 2 + w + abs(left)))
    r, c = max(top, 0), max(left, 0)
    grid[:, :, r:r + h, c:c + w] = x
    grid = grid[:, :, r - top:r - top + 2 * th + 2, c - left:c - left + 2 * tw + 2]
    d = np.array([[grid[:, :, 2 * i:2 * i + 4, 2 * j:2 * j + 4] for j in range(tw)]
                  for i in range(th)]).transpose(2, 3, 0, 1, 4, 5)  # (n, C, th, tw, 4, 4)
    v = np.einsum("ia,nctsab,jb->ijcnts", _B_T, d, _B_T)
    return v.reshape(16, C, n * th * tw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("top,left,th,tw", [
    (1, 1, 4, 4),    # VGG's padding: every row reaches into it
    (0, 0, 2, 3),    # inside x and narrower than it: the transform reads x itself
    (2, 0, 3, 2), (0, 2, 4, 5),   # padding on one side only
    (-1, -2, 3, 2),  # x clipped at the top and left
    (0, 0, 5, 6),    # the grid longer and wider than x: zeros past its edge
])
def test_winograd_input_transform_reads_the_padded_grid_from_x(dtype, top, left, th, tw):
    """Tile rows of the zero-padded grid, read from the unpadded x: against B^T d B
    of NumPy's padded copy, over blocks of tile rows, with planes longer than
    needed (the padding between them untouched)."""
    wk = cython._winograd_k
    rng = np.random.default_rng(th * 10 + tw)
    x = rng.integers(-9, 10, (2, 3, 7, 8)).astype(dtype)  # integers: exact sums
    want = _grid_tiles(x.astype(np.float64), top, left, th, tw)
    threads = 2
    buf = np.empty((threads, 4 * (2 * tw + 2)), dtype)
    for r0, rows in ((0, th), (1, th - 1), (th - 1, 1)):
        T = x.shape[0] * rows * tw
        V = np.full((16, 3 * T + 5), 7.0, dtype)
        wk.input_transform(x, V, buf, r0, rows, top, left, tw, threads)
        got = V[:, :3 * T].reshape(16, 3, x.shape[0], rows, tw)
        expect = want.reshape(16, 3, x.shape[0], th, tw)[:, :, :, r0:r0 + rows]
        np.testing.assert_array_equal(got, expect)
        assert np.all(V[:, 3 * T:] == 7.0)
    with pytest.raises(ValueError, match="does not fit"):
        wk.input_transform(x, V, buf[:1], 0, th, top, left, tw, threads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_magnitude_is_the_largest_absolute_value_or_inf(dtype):
    """max |a| exactly, in one piece or many (2^19 values: 8 pieces on 2 threads);
    inf wherever an infinity or a NaN is; 0 for no values."""
    wk = cython._winograd_k
    info = np.finfo(dtype)
    rng = np.random.default_rng(9)
    a = rng.standard_normal(1 << 19).astype(dtype)
    a[-1] = -7.5  # the largest magnitude, negative, in the last piece
    for threads in (1, 2):
        assert wk.magnitude(a, threads) == 7.5
        assert wk.magnitude(a[:1000], threads) == np.abs(a[:1000]).max()
        # pieces that do not divide the values: the last piece's tail counts too
        odd = np.concatenate([a[:-1], np.ones(7, dtype), [dtype(-9.0)]])
        assert wk.magnitude(odd, threads) == 9.0
        assert wk.magnitude(np.array([-0.0, info.smallest_subnormal], dtype), threads) == \
            info.smallest_subnormal
        assert wk.magnitude(np.array([info.max, -info.max], dtype), threads) == info.max
        assert wk.magnitude(np.empty(0, dtype), threads) == 0.0
        for bad in (np.inf, -np.inf, np.nan, -np.nan):
            b = a.copy()
            b[123_456] = bad
            assert wk.magnitude(b, threads) == np.inf


def test_winograd_is_admissible_only_for_its_geometry():
    ok = cython.winograd_admissible
    assert ok("conv2d", (8, 16, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    assert ok("conv2d_grad_input", (16, 4, 3, 3), (1, 1), (2, 2, 0, 0), (1, 1), 1)
    # fewer than 16 channels summed: the bound is more than 2.1x the direct sum's
    assert not ok("conv2d", (8, 15, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    assert not ok("conv2d_grad_input", (15, 64, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    assert not ok("conv2d_grad_input", (16, 16, 3, 3), (1, 1), (3, 3, 3, 3), (1, 1), 1)
    assert not ok("conv2d_grad_weight", (16, 16, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    assert not ok("conv2d", (16, 16, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1)
    assert not ok("conv2d", (16, 16, 3, 3), (1, 1), (1, 1, 1, 1), (2, 2), 1)
    assert not ok("conv2d", (32, 16, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2)
    assert not ok("conv2d", (16, 16, 5, 5), (1, 1), (2, 2, 2, 2), (1, 1), 1)


# -- the tiny calls' kernel -------------------------------------------------------


@given(problem=conv_problems(wide=True))
def test_tiny_calls_run_the_direct_loops_bit_for_bit(problem):
    """Tiny calls take conv2d_tiny (no plan, no forcing); forcing "direct" runs
    conv2d_direct: the same sums in the same order."""
    x, w, b, kw = problem["x"], problem["w"], problem["b"], problem["kw"]
    tiny = convreg.conv2d(x, w, b, backend="cython", **kw)
    assume(tiny.size * w[0].size < cython.PARALLEL_MIN_WORK)
    with convreg.planner.force("direct"):
        direct = convreg.conv2d(x, w, b, backend="cython", **kw)
    np.testing.assert_array_equal(tiny, direct)


def test_conv2d_sizes_are_remembered_per_geometry_and_bounded(monkeypatch):
    """The sizes conv2d looks up by geometry are conv_output_hw's and the direct
    definition's multiply-adds, whichever geometry came before; the table is emptied
    at its bound, and results stay right across the emptying."""
    monkeypatch.setattr(cython, "SIZES_SEEN_MAX", 5)
    cython._sizes_seen.clear()
    rng = np.random.default_rng(3)
    for h in range(3, 15):
        for stride, padding in (((1, 1), (0, 0, 0, 0)), ((2, 1), (1, 1, 2, 2))):
            x, w = rng.standard_normal((2, 3, h, 7)), rng.standard_normal((4, 3, 3, 2))
            hw = ((h + 2 * padding[0] - 3) // stride[0] + 1, (7 + 2 * padding[2] - 2) // stride[1] + 1)
            for _ in range(2):  # computed, then looked up
                got = cython._conv2d_size(x.shape, w.shape, stride, padding, (1, 1))
                assert got == (hw, 2 * 4 * hw[0] * hw[1] * 3 * 3 * 2)
                assert len(cython._sizes_seen) <= 5
            y = convreg.conv2d(x, w, stride=stride, padding=(padding[0], padding[2]),
                               backend="cython")
            want = convreg.conv2d(x, w, stride=stride, padding=(padding[0], padding[2]),
                                  backend="reference")
            np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


def test_tiny_kernel_checks_what_it_indexes():
    tiny = cython._conv.conv2d_tiny
    x, w = np.ones((1, 2, 5, 5), np.float32), np.ones((3, 2, 2, 2), np.float32)
    y = np.zeros((1, 3, 4, 4), np.float32)
    tiny(x, w, y, 1, 1, 1, 1, 1)
    assert (y == 8).all()
    with pytest.raises(ValueError, match="do not fit"):
        tiny(x, w, np.zeros((1, 3, 5, 4), np.float32), 1, 1, 1, 1, 1)  # one row too many
    with pytest.raises(ValueError, match="do not fit"):
        tiny(x, w, y, 1, 1, 1, 1, 2)  # 3 output channels in 2 groups
    with pytest.raises(TypeError, match="one dtype"):
        tiny(x, w.astype(np.float64), y, 1, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="4-D"):
        tiny(x[0], w, y, 1, 1, 1, 1, 1)
    read_only = y.copy()
    read_only.flags.writeable = False
    with pytest.raises((BufferError, ValueError)):
        tiny(x, w, read_only, 1, 1, 1, 1, 1)
    with pytest.raises((BufferError, ValueError)):
        tiny(x[:, :, :, ::2], w, np.zeros((1, 3, 4, 2), np.float32), 1, 1, 1, 1, 1)
    big = np.ones((1, 1, 1100, 1100), np.float32)
    with pytest.raises(ValueError, match="TINY_MAX_WORK"):
        tiny(big, np.ones((1, 1, 1, 1), np.float32), np.zeros_like(big), 1, 1, 1, 1, 1)


@given(data=st.data())
def test_tiny_correlation_is_the_banded_kernel_bit_for_bit(data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    H, W = data.draw(st.integers(1, 40)), data.draw(st.integers(1, 40))
    kh, kw = data.draw(st.integers(1, H)), data.draw(st.integers(1, W))
    X = data.draw(values((H, W), dtype, cancelling=True))
    K = data.draw(values((kh, kw), dtype, cancelling=True))
    tiny, banded = (np.empty((H - kh + 1, W - kw + 1), dtype) for _ in range(2))
    cython._corr2d.corr2d_tiny(X, K, tiny)
    cython._corr2d.corr2d_valid(X, K, banded, 2)
    np.testing.assert_array_equal(tiny, banded)


def test_tiny_correlation_checks_what_it_indexes():
    tiny = cython._corr2d.corr2d_tiny
    X, K = np.ones((6, 8), np.float32), np.ones((1, 2), np.float32)
    Y = np.empty((6, 7), np.float32)
    tiny(X, K, Y)
    assert (Y == 2).all()
    with pytest.raises(ValueError, match="do not fit"):
        tiny(X, K, np.empty((6, 8), np.float32))
    with pytest.raises(TypeError, match="one dtype"):
        tiny(X, K.astype(np.float64), Y)
    with pytest.raises(ValueError, match="2-D"):
        tiny(X[None], K, Y)
    read_only = Y.copy()
    read_only.flags.writeable = False
    with pytest.raises((BufferError, ValueError)):
        tiny(X, K, read_only)
    big = np.ones((1100, 1100), np.float32)
    with pytest.raises(ValueError, match="TINY_MAX_WORK"):
        tiny(big, np.ones((1, 1), np.float32), np.empty_like(big))


@pytest.mark.parametrize("value, level", [("avx2", 1), ("BASELINE", 0), ("avx512", 2),
                                          ("sse9", None)])
def test_convreg_max_isa_caps_the_kernels_of_a_process(value, level):
    """CONVREG_MAX_ISA at import caps both kernel modules (never above the CPU's
    level); a value it does not know is a warning naming it, and nothing changes."""
    code = ("import warnings, numpy as np, convreg\n"
            "from convreg.plugins import cython as c\n"
            "print(c._conv.isa(), c._corr2d.isa(), c.isa_name())\n"
            "x = np.arange(30.0).reshape(5, 6)\n"
            "print(float(convreg.corr2d(x, np.ones((2, 2)), backend='cython').sum()))\n")
    env = {**os.environ, "CONVREG_MAX_ISA": value}
    out = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    top = max(ISA_LEVELS)
    want = top if level is None else min(level, top)
    conv, corr, name = out.stdout.split("\n")[0].split(" ", 2)
    assert (int(conv), int(corr), name) == (want, want, cython.ISA_NAMES[want])
    x = np.arange(30.0).reshape(5, 6)
    assert float(out.stdout.split("\n")[1]) == (x[:-1, :-1] + x[1:, :-1] + x[:-1, 1:]
                                                 + x[1:, 1:]).sum()
    assert ("CONVREG_MAX_ISA='sse9'" in out.stderr) == (level is None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(n=st.integers(1, 3), c=st.integers(1, 4), per_group=st.integers(1, 3),
       h=st.integers(1, 40), w=st.integers(1, 70), kh=st.integers(1, 7), kw=st.integers(1, 7),
       pad=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_planes_is_the_reference_on_one_channel_per_group(dtype, n, c, per_group, h, w, kh, kw,
                                                          pad, seed):
    """"planes": every output plane a single-image correlation (planes narrower and
    wider than a vector, kernels up to 7x7, depthwise and one-input-channel layers)."""
    assume(h + 2 * pad >= kh and w + 2 * pad >= kw)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((c * per_group, 1, kh, kw)).astype(dtype)
    with convreg.planner.force("planes"):
        got = convreg.conv2d(x, wt, padding=pad, groups=c, backend="cython")
    want = convreg.conv2d(x.astype(np.float64), wt.astype(np.float64), padding=pad, groups=c,
                          backend="reference")
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * kh * kw)
    assert cython.admissible("conv2d", x.shape, wt.shape, (1, 1), (pad,) * 4, (1, 1), c)[-1] \
        == "planes"


def test_planes_is_admissible_only_for_its_geometry():
    ok = dict(op="conv2d", w_shape=(8, 1, 3, 3), stride=(1, 1), dilation=(1, 1))
    assert cython.planes_admissible(**ok)
    for change in ({"op": "conv2d_grad_input"}, {"op": "conv2d_grad_weight"},
                   {"w_shape": (8, 2, 3, 3)}, {"stride": (2, 1)}, {"dilation": (1, 2)}):
        assert not cython.planes_admissible(**{**ok, **change}), change
