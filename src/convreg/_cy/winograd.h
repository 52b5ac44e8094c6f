/* One tile row of Winograd F(2x2, 3x3)'s input and output transforms.
 *
 * The Cython loops in _winograd.pyx hand each call one tile row of one
 * plane; the pointers are `restrict` (the input, the 16 transformed planes
 * and the output never overlap), which is what lets the compiler vectorise
 * across the row's tiles: without it, 16 output streams against 4 input
 * rows are more pairs than GCC versions loops for, and the transform ran
 * scalar at a tenth of this speed. Compiled once per instruction set
 * (CONVREG_CLONES in cpu_dispatch.h), as corr2d_rows.h.
 *
 * Contract (checked in _winograd.pyx before entry): the input rows p0 ..
 * p0 + 3*ldx hold 2*tw + 2 values each; v and s address 16 planes `plane`
 * apart of tw values each; y0 and y1 hold 2*full + (tw > full) values.
 */
#ifndef CONVREG_WINOGRAD_H
#define CONVREG_WINOGRAD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu_dispatch.h"

/* V[4i + j] = (B^T d B)[i, j] for each tile of the row: the rows of B^T d
 * are (d0 - d2, d1 + d2, d2 - d1, d1 - d3), and B combines columns alike. */
#define CONVREG_WINOGRAD_INPUT(NAME, T)                                                   \
    CONVREG_CLONES static void NAME(const T *restrict p0, ptrdiff_t ldx,         \
                                             T *restrict v, ptrdiff_t plane, ptrdiff_t tw) \
    {                                                                                     \
        const T *restrict p1 = p0 + ldx, *restrict p2 = p1 + ldx, *restrict p3 = p2 + ldx; \
        for (ptrdiff_t t = 0; t < tw; ++t) {                                              \
            const ptrdiff_t j = 2 * t;                                                    \
            T r[4][4];                                                                    \
            for (int b = 0; b < 4; ++b) {                                                 \
                r[0][b] = p0[j + b] - p2[j + b];                                          \
                r[1][b] = p1[j + b] + p2[j + b];                                          \
                r[2][b] = p2[j + b] - p1[j + b];                                          \
                r[3][b] = p1[j + b] - p3[j + b];                                          \
            }                                                                             \
            for (int a = 0; a < 4; ++a) {                                                 \
                v[(4 * a + 0) * plane + t] = r[a][0] - r[a][2];                           \
                v[(4 * a + 1) * plane + t] = r[a][1] + r[a][2];                           \
                v[(4 * a + 2) * plane + t] = r[a][2] - r[a][1];                           \
                v[(4 * a + 3) * plane + t] = r[a][1] - r[a][3];                           \
            }                                                                             \
        }                                                                                 \
    }

/* Each 2x2 tile = A^T m A: the rows of A^T m are (m0 + m1 + m2, m1 - m2 - m3),
 * and A combines columns alike. y0 gets the tile's top row, y1 its bottom;
 * the first `full` tiles store both columns, a last odd one its left. y0 and
 * y1 are the same row for an odd last tile row (its bottom row is computed,
 * then overwritten): they may alias each other, never s. */
#define CONVREG_WINOGRAD_OUTPUT(NAME, T)                                                  \
    CONVREG_CLONES static void NAME(const T *restrict s, ptrdiff_t plane,        \
                                             T *y0, T *y1,                                \
                                             ptrdiff_t tw, ptrdiff_t full)                \
    {                                                                                     \
        for (ptrdiff_t t = 0; t < tw; ++t) {                                              \
            T u[4], w[4];                                                                 \
            for (int b = 0; b < 4; ++b) {                                                 \
                u[b] = s[b * plane + t] + s[(4 + b) * plane + t] + s[(8 + b) * plane + t]; \
                w[b] = s[(4 + b) * plane + t] - s[(8 + b) * plane + t]                     \
                       - s[(12 + b) * plane + t];                                         \
            }                                                                             \
            y1[2 * t] = w[0] + w[1] + w[2];                                               \
            if (t < full) y1[2 * t + 1] = w[1] - w[2] - w[3];                             \
            y0[2 * t] = u[0] + u[1] + u[2];                                               \
            if (t < full) y0[2 * t + 1] = u[1] - u[2] - u[3];                             \
        }                                                                                 \
    }

CONVREG_WINOGRAD_INPUT(convreg_winograd_input_f32, float)
CONVREG_WINOGRAD_INPUT(convreg_winograd_input_f64, double)

/* The same for a tile row of the zero-padded input, read from the unpadded
 * plane x (h x w, contiguous rows): grid row g is x's row g - top and grid
 * column g x's column g - left, zero outside x. row0 is the tile row's first
 * grid row minus top. Where the tile row lies inside x (no padding on its
 * rows or on the left, the grid no wider than x), the transform reads x;
 * elsewhere it reads the four grid rows built in buf (4 * (2*tw + 2)
 * values, the calling thread's own). This replaces a padded copy of the
 * whole input: on VGG's 64-channel layer that copy (allocated, faulted in
 * and written by one pass) cost as long as the transform itself. */
#define CONVREG_WINOGRAD_INPUT_PADDED(NAME, INPUT, T)                                     \
    static void NAME(const T *x, ptrdiff_t h, ptrdiff_t w, ptrdiff_t row0, ptrdiff_t left, \
                     T *restrict buf, T *restrict v, ptrdiff_t plane, ptrdiff_t tw)       \
    {                                                                                     \
        const ptrdiff_t wg = 2 * tw + 2;                                                  \
        if (row0 >= 0 && row0 + 4 <= h && left == 0 && wg <= w) {                         \
            INPUT(x + row0 * w, w, v, plane, tw);                                         \
            return;                                                                       \
        }                                                                                 \
        /* Grid columns [g0, g1) come from x; the rest are zero. */                       \
        const ptrdiff_t g0 = left > 0 ? left : 0;                                         \
        const ptrdiff_t g1 = left + w < wg ? left + w : wg;                               \
        for (ptrdiff_t a = 0; a < 4; ++a) {                                               \
            T *restrict b = buf + a * wg;                                                 \
            const ptrdiff_t r = row0 + a;                                                 \
            const int inside = r >= 0 && r < h && g0 < g1;                               \
            for (ptrdiff_t g = 0; g < (inside ? g0 : wg); ++g) b[g] = 0;                  \
            if (!inside) continue;                                                        \
            memcpy(b + g0, x + r * w + (g0 - left), (size_t)(g1 - g0) * sizeof(T));       \
            for (ptrdiff_t g = g1; g < wg; ++g) b[g] = 0;                                 \
        }                                                                                 \
        INPUT(buf, wg, v, plane, tw);                                                     \
    }

CONVREG_WINOGRAD_INPUT_PADDED(convreg_winograd_input_padded_f32, convreg_winograd_input_f32,
                              float)
CONVREG_WINOGRAD_INPUT_PADDED(convreg_winograd_input_padded_f64, convreg_winograd_input_f64,
                              double)

/* One row of the transformed weights: U[k * ld + c] = (G g G^T)[k / 4, k % 4]
 * for the C kernels g = w + c * cstride (3x3, row-major), each turned half a
 * turn first where flip is set (the input gradient's kernel). G g by rows,
 * then (G g) G^T, each entry a sum of at most three values halved (exact
 * by a power of two above the subnormals, which _winograd_holds keeps the
 * weights from), |U| <= 2.25 max|g|; G's rows are (1, 0, 0), (1, 1, 1)/2,
 * (1, -1, 1)/2, (0, 0, 1). The 16 planes are usually a multiple of 4 KiB
 * apart (ld = O * C), so a kernel's 16 values are gathered for a block of
 * kernels and written plane by plane in runs of whole cache lines: stored
 * one by one they shared L1 sets, and the transform ran at 50 ns a
 * kernel. */
#define CONVREG_WINOGRAD_WEIGHT_BLOCK 32
#define CONVREG_WINOGRAD_WEIGHTS(NAME, T)                                                 \
    static void NAME(const T *w, ptrdiff_t cstride, int flip, T *u, ptrdiff_t ld,         \
                     ptrdiff_t C)                                                         \
    {                                                                                     \
        T blk[16][CONVREG_WINOGRAD_WEIGHT_BLOCK];                                         \
        for (ptrdiff_t c0 = 0; c0 < C; c0 += CONVREG_WINOGRAD_WEIGHT_BLOCK) {             \
            const ptrdiff_t n =                                                           \
                C - c0 < CONVREG_WINOGRAD_WEIGHT_BLOCK ? C - c0 : CONVREG_WINOGRAD_WEIGHT_BLOCK; \
            for (ptrdiff_t c = 0; c < n; ++c) {                                           \
                const T *g = w + (c0 + c) * cstride;                                      \
                T k[3][3], t[4][3];                                                       \
                for (int a = 0; a < 3; ++a)                                               \
                    for (int b = 0; b < 3; ++b)                                           \
                        k[a][b] = flip ? g[(2 - a) * 3 + 2 - b] : g[a * 3 + b];           \
                for (int b = 0; b < 3; ++b) {                                             \
                    t[0][b] = k[0][b];                                                    \
                    t[1][b] = (k[0][b] + k[1][b] + k[2][b]) * (T)0.5;                     \
                    t[2][b] = (k[0][b] - k[1][b] + k[2][b]) * (T)0.5;                     \
                    t[3][b] = k[2][b];                                                    \
                }                                                                         \
                for (int a = 0; a < 4; ++a) {                                             \
                    blk[4 * a + 0][c] = t[a][0];                                          \
                    blk[4 * a + 1][c] = (t[a][0] + t[a][1] + t[a][2]) * (T)0.5;           \
                    blk[4 * a + 2][c] = (t[a][0] - t[a][1] + t[a][2]) * (T)0.5;           \
                    blk[4 * a + 3][c] = t[a][2];                                          \
                }                                                                         \
            }                                                                             \
            for (int q = 0; q < 16; ++q) memcpy(u + q * ld + c0, blk[q], (size_t)n * sizeof(T)); \
        }                                                                                 \
    }

CONVREG_WINOGRAD_WEIGHTS(convreg_winograd_weights_f32, float)
CONVREG_WINOGRAD_WEIGHTS(convreg_winograd_weights_f64, double)

/* The largest |a[i]| of n values, as the bits of a non-negative float: the
 * sign bit cleared, non-negative IEEE values order as their bit patterns do,
 * so an unsigned maximum finds it, and any infinity or NaN (exponent all
 * ones) reads as at least CONVREG_NONFINITE_F32/F64. Integers, so the
 * compiler vectorises the reduction without reassociating floats. */
#define CONVREG_NONFINITE_F32 0x7f800000u
#define CONVREG_NONFINITE_F64 0x7ff0000000000000ull
#define CONVREG_MAGNITUDE(NAME, T, U, MASK)                                               \
    CONVREG_CLONES static U NAME(const T *a, ptrdiff_t n)                                 \
    {                                                                                     \
        U m = 0;                                                                          \
        for (ptrdiff_t i = 0; i < n; ++i) {                                               \
            U b;                                                                          \
            memcpy(&b, a + i, sizeof b);                                                  \
            b &= MASK;                                                                    \
            m = b > m ? b : m;                                                            \
        }                                                                                 \
        return m;                                                                         \
    }

CONVREG_MAGNITUDE(convreg_magnitude_f32, float, uint32_t, 0x7fffffffu)
CONVREG_MAGNITUDE(convreg_magnitude_f64, double, uint64_t, 0x7fffffffffffffffull)
CONVREG_WINOGRAD_OUTPUT(convreg_winograd_output_f32, float)
CONVREG_WINOGRAD_OUTPUT(convreg_winograd_output_f64, double)

#endif
