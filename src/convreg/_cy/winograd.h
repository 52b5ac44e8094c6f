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
CONVREG_WINOGRAD_OUTPUT(convreg_winograd_output_f32, float)
CONVREG_WINOGRAD_OUTPUT(convreg_winograd_output_f64, double)

#endif
