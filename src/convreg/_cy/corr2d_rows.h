/* One output row of a valid 2-D cross-correlation, register-blocked.
 *
 * y[j] = sum_{a,b} K[a, b] * x[a*ldx + j + b] for j in [0, ow): the caller
 * points x at the input row its output row starts on. Outputs are computed
 * in blocks of CONVREG_JB held in registers across all kernel taps (one
 * broadcast tap, one unaligned load and one FMA per vector and tap; the
 * output is written once), instead of read-modify-writing the output row
 * once per tap.
 *
 * Compiled once per instruction set (CONVREG_CLONES: AVX-512, AVX2+FMA,
 * and the baseline) and chosen when the library loads, so the wheel stays
 * portable while each machine runs its widest vectors.
 *
 * Contract (checked in Python before entry): ow >= 1, kh, kw >= 1, every
 * x[a*ldx + j + b] read lies inside the input.
 */
#ifndef CONVREG_CORR2D_ROWS_H
#define CONVREG_CORR2D_ROWS_H

#include <stddef.h>

#include "cpu_dispatch.h"

#define CONVREG_JB 64

#define CONVREG_DEFINE_ROW(NAME, T)                                                      \
    CONVREG_CLONES static void NAME(const T *x, ptrdiff_t ldx, const T *k, ptrdiff_t kh, \
                                    ptrdiff_t kw, T *y, ptrdiff_t ow)                    \
    {                                                                                    \
        ptrdiff_t j0 = 0;                                                                \
        for (; j0 + CONVREG_JB <= ow; j0 += CONVREG_JB) {                                \
            T acc[CONVREG_JB];                                                           \
            for (int jj = 0; jj < CONVREG_JB; ++jj) acc[jj] = 0;                         \
            for (ptrdiff_t a = 0; a < kh; ++a) {                                         \
                for (ptrdiff_t b = 0; b < kw; ++b) {                                     \
                    const T t = k[a * kw + b];                                           \
                    const T *xs = x + a * ldx + j0 + b;                                  \
                    for (int jj = 0; jj < CONVREG_JB; ++jj) acc[jj] += t * xs[jj];       \
                }                                                                        \
            }                                                                            \
            for (int jj = 0; jj < CONVREG_JB; ++jj) y[j0 + jj] = acc[jj];                \
        }                                                                                \
        if (j0 < ow) {                                                                   \
            const ptrdiff_t n = ow - j0;                                                 \
            T acc[CONVREG_JB];                                                           \
            for (ptrdiff_t jj = 0; jj < n; ++jj) acc[jj] = 0;                            \
            for (ptrdiff_t a = 0; a < kh; ++a) {                                         \
                for (ptrdiff_t b = 0; b < kw; ++b) {                                     \
                    const T t = k[a * kw + b];                                           \
                    const T *xs = x + a * ldx + j0 + b;                                  \
                    for (ptrdiff_t jj = 0; jj < n; ++jj) acc[jj] += t * xs[jj];          \
                }                                                                        \
            }                                                                            \
            for (ptrdiff_t jj = 0; jj < n; ++jj) y[j0 + jj] = acc[jj];                   \
        }                                                                                \
    }

CONVREG_DEFINE_ROW(convreg_corr2d_row_f32, float)
CONVREG_DEFINE_ROW(convreg_corr2d_row_f64, double)

/* Several output rows at once: a tile of R rows x NV vectors held in
 * registers. Input row r feeds output row q through kernel row r - q, so
 * each loaded input vector serves up to R output rows: per kernel tap, NV
 * loads for R * NV FMAs, where the one-row loop needs a load per FMA and so
 * ran at a quarter of the FMA units' speed. The input rows every output row
 * of the tile reads (R - 1 <= r < kh) take a loop with no test per row.
 *
 * Which tile is fastest depends on the chip, not only on its ISA: on one
 * core of an AMD EPYC (AVX-512 on a 256-bit datapath) 4 x 2 zmm was (3x3
 * 99, 5x5 122, 15x15 154 GFLOP/s; R = 2 or 8, NV = 1 to 4 were slower);
 * on an Intel Xeon with two 512-bit FMA units 6 x 4 zmm ran 15x15 at 108
 * GFLOP/s against 4 x 2's 79. So each ISA compiles a few tiles
 * (convreg_corr2d_tiles), the first its default, and the planner times
 * them on the machine (plugins/cython.py). R * NV accumulators plus the
 * NV loaded vectors (and, without AVX-512's embedded broadcast, the tap)
 * must fit the register file: V is the ISA's own register width, since
 * GCC kept a 64-byte vector type under the AVX2 target on the stack (the
 * AVX2 tile ran at 4-9 GFLOP/s, below SSE2). Every tile sums each output
 * in the same order (kernel rows, then columns), so all agree bit for bit.
 * The columns past the last whole block go through the one-row loop.
 *
 * Contract as above, for rows i .. i + R - 1: x points at input row i and
 * y at output row i, ldy apart. */

#if defined(__GNUC__)
/* One input row's taps into the tile: all R rows (ALL, a constant), or
 * those whose kernel row r - q exists. */
#define CONVREG_ROWS_TAPS(T, V, R, NV, ALL)                                              \
    for (ptrdiff_t b = 0; b < kw; ++b) {                                                 \
        V X[NV];                                                                         \
        for (int v = 0; v < NV; ++v)                                                     \
            __builtin_memcpy(&X[v], xr + b + v * LANES, sizeof(V));                      \
        for (int q = 0; q < R; ++q) {                                                    \
            if (!(ALL) && (r - q < 0 || r - q >= kh)) continue;                          \
            const T t = k[(r - q) * kw + b];                                             \
            for (int v = 0; v < NV; ++v) acc[q][v] += t * X[v];                          \
        }                                                                                \
    }

#define CONVREG_DEFINE_ROWS(NAME, ATTR, T, V, ONE_ROW, R, NV)                            \
    ATTR CONVREG_INLINE void NAME##_body(const T *x, ptrdiff_t ldx, const T *k, ptrdiff_t kh, \
                                         ptrdiff_t kw, T *y, ptrdiff_t ldy, ptrdiff_t ow) \
    {                                                                                    \
        enum { LANES = sizeof(V) / sizeof(T) };                                          \
        ptrdiff_t j0 = 0;                                                                \
        for (; j0 + NV * LANES <= ow; j0 += NV * LANES) {                                \
            V acc[R][NV];                                                                \
            for (int q = 0; q < R; ++q)                                                  \
                for (int v = 0; v < NV; ++v) acc[q][v] = (V){0};                         \
            for (ptrdiff_t r = 0; r < kh + R - 1; ++r) {                                 \
                const T *xr = x + r * ldx + j0;                                          \
                if (r >= R - 1 && r < kh) {                                              \
                    CONVREG_ROWS_TAPS(T, V, R, NV, 1)                                    \
                } else {                                                                 \
                    CONVREG_ROWS_TAPS(T, V, R, NV, 0)                                    \
                }                                                                        \
            }                                                                            \
            for (int q = 0; q < R; ++q)                                                  \
                for (int v = 0; v < NV; ++v)                                             \
                    __builtin_memcpy(y + q * ldy + j0 + v * LANES, &acc[q][v], sizeof(V)); \
        }                                                                                \
        if (j0 < ow)                                                                     \
            for (int q = 0; q < R; ++q)                                                  \
                ONE_ROW(x + q * ldx + j0, ldx, k, kh, kw, y + q * ldy + j0, ow - j0);    \
    }                                                                                    \
    /* 3x3 and 5x5 with the kernel's size a constant: every loop over taps and  \
     * rows unrolls, so the edge rows' tests vanish (with R = 4 every row of a  \
     * 3x3 kernel is an edge row). The same sums in the same order. */         \
    ATTR static void NAME(const T *x, ptrdiff_t ldx, const T *k, ptrdiff_t kh,           \
                          ptrdiff_t kw, T *y, ptrdiff_t ldy, ptrdiff_t ow)               \
    {                                                                                    \
        if (kh == 3 && kw == 3)                                                          \
            NAME##_body(x, ldx, k, 3, 3, y, ldy, ow);                                    \
        else if (kh == 5 && kw == 5)                                                     \
            NAME##_body(x, ldx, k, 5, 5, y, ldy, ow);                                    \
        else                                                                             \
            NAME##_body(x, ldx, k, kh, kw, y, ldy, ow);                                  \
    }
#else
/* Without vector extensions: the rows one at a time. */
#define CONVREG_DEFINE_ROWS(NAME, ATTR, T, V, ONE_ROW, R, NV)                            \
    static void NAME(const T *x, ptrdiff_t ldx, const T *k, ptrdiff_t kh, ptrdiff_t kw,  \
                     T *y, ptrdiff_t ldy, ptrdiff_t ow)                                  \
    {                                                                                    \
        for (int q = 0; q < R; ++q) ONE_ROW(x + q * ldx, ldx, k, kh, kw, y + q * ldy, ow); \
    }
#endif

typedef void (*convreg_rows_f32_fn)(const float *, ptrdiff_t, const float *, ptrdiff_t,
                                    ptrdiff_t, float *, ptrdiff_t, ptrdiff_t);
typedef void (*convreg_rows_f64_fn)(const double *, ptrdiff_t, const double *, ptrdiff_t,
                                    ptrdiff_t, double *, ptrdiff_t, ptrdiff_t);

/* One tile of one ISA, both dtypes, and its entry in that ISA's table. */
#define CONVREG_ROWS_TILE(ISA, ATTR, BYTES, R, NV)                                       \
    CONVREG_DEFINE_ROWS(convreg_corr2d_rows_f32_##ISA##_##R##x##NV, ATTR, float,         \
                        convreg_vf32_##BYTES, convreg_corr2d_row_f32, R, NV)             \
    CONVREG_DEFINE_ROWS(convreg_corr2d_rows_f64_##ISA##_##R##x##NV, ATTR, double,        \
                        convreg_vf64_##BYTES, convreg_corr2d_row_f64, R, NV)
#define CONVREG_ROWS_ENTRY(ISA, R, NV)                                                   \
    {R, NV, convreg_corr2d_rows_f32_##ISA##_##R##x##NV, convreg_corr2d_rows_f64_##ISA##_##R##x##NV}

typedef struct {
    ptrdiff_t rows, vectors;
    convreg_rows_f32_fn f32;
    convreg_rows_f64_fn f64;
} convreg_rows_tile;

/* Each ISA's tiles, its default first. Baseline (SSE2, 16 xmm): 2 x 4 ran
 * 21-27 GFLOP/s (3x3 .. 15x15) where a 64-byte type's 2 x 1 ran 8-15. */
CONVREG_ROWS_TILE(base, , 16, 2, 4)
CONVREG_ROWS_TILE(base, , 16, 3, 3)
static const convreg_rows_tile convreg_rows_tiles_base[] = {
    CONVREG_ROWS_ENTRY(base, 2, 4), CONVREG_ROWS_ENTRY(base, 3, 3)};
#ifdef CONVREG_X86_DISPATCH
/* AVX2 (16 ymm, no embedded broadcast): 4 x 2 ran 24-68 GFLOP/s on the
 * Xeon; 4 x 3 and 3 x 4 leave no register for the tap and spill. */
CONVREG_ROWS_TILE(avx2, CONVREG_AVX2, 32, 4, 2)
CONVREG_ROWS_TILE(avx2, CONVREG_AVX2, 32, 6, 2)
static const convreg_rows_tile convreg_rows_tiles_avx2[] = {
    CONVREG_ROWS_ENTRY(avx2, 4, 2), CONVREG_ROWS_ENTRY(avx2, 6, 2)};
/* AVX-512 (32 zmm): the EPYC's 4 x 2, and the Xeon's 6 x 4 and 4 x 4. */
CONVREG_ROWS_TILE(avx512, CONVREG_AVX512, 64, 4, 2)
CONVREG_ROWS_TILE(avx512, CONVREG_AVX512, 64, 6, 4)
CONVREG_ROWS_TILE(avx512, CONVREG_AVX512, 64, 4, 4)
static const convreg_rows_tile convreg_rows_tiles_avx512[] = {
    CONVREG_ROWS_ENTRY(avx512, 4, 2), CONVREG_ROWS_ENTRY(avx512, 6, 4),
    CONVREG_ROWS_ENTRY(avx512, 4, 4)};
#endif

#define CONVREG_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The tiles compiled for an ISA, and how many. */
static const convreg_rows_tile *convreg_corr2d_tiles(int isa, int *count)
{
#ifdef CONVREG_X86_DISPATCH
    if (isa == CONVREG_ISA_AVX512) {
        *count = CONVREG_COUNT(convreg_rows_tiles_avx512);
        return convreg_rows_tiles_avx512;
    }
    if (isa == CONVREG_ISA_AVX2) {
        *count = CONVREG_COUNT(convreg_rows_tiles_avx2);
        return convreg_rows_tiles_avx2;
    }
#endif
    *count = CONVREG_COUNT(convreg_rows_tiles_base);
    return convreg_rows_tiles_base;
}

/* Tile `tile` of the ISA (0 <= tile < its count: checked in Python). */
static const convreg_rows_tile *convreg_corr2d_tile(int isa, int tile)
{
    int count;
    return convreg_corr2d_tiles(isa, &count) + tile;
}

#endif
