/* One output row of a valid 2-D cross-correlation, register-blocked.
 *
 * y[j] = sum_{a,b} K[a, b] * x[a*ldx + j + b] for j in [0, ow): the caller
 * points x at the input row its output row starts on. Outputs are computed
 * in blocks of CONVREG_JB held in registers across all kernel taps (one
 * broadcast tap, one unaligned load and one FMA per vector and tap; the
 * output is written once), instead of read-modify-writing the output row
 * once per tap.
 *
 * Compiled once per instruction set (target_clones: AVX-512, AVX2+FMA, and
 * the baseline) and chosen when the library loads, so the wheel stays
 * portable while each machine runs its widest vectors.
 *
 * Contract (checked in Python before entry): ow >= 1, kh, kw >= 1, every
 * x[a*ldx + j + b] read lies inside the input.
 */
#ifndef CONVREG_CORR2D_ROWS_H
#define CONVREG_CORR2D_ROWS_H

#include <stddef.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CONVREG_CLONES __attribute__((target_clones("arch=skylake-avx512", "arch=haswell", "default")))
#else
#define CONVREG_CLONES
#endif

#define CONVREG_JB 64

#define CONVREG_DEFINE_ROW(NAME, T)                                                  \
    CONVREG_CLONES static void NAME(const T *x, ptrdiff_t ldx, const T *k, ptrdiff_t kh, \
                                    ptrdiff_t kw, T *y, ptrdiff_t ow)                 \
    {                                                                                \
        ptrdiff_t j0 = 0;                                                            \
        for (; j0 + CONVREG_JB <= ow; j0 += CONVREG_JB) {                            \
            T acc[CONVREG_JB];                                                       \
            for (int jj = 0; jj < CONVREG_JB; ++jj) acc[jj] = 0;                     \
            for (ptrdiff_t a = 0; a < kh; ++a) {                                     \
                for (ptrdiff_t b = 0; b < kw; ++b) {                                 \
                    const T t = k[a * kw + b];                                       \
                    const T *xs = x + a * ldx + j0 + b;                              \
                    for (int jj = 0; jj < CONVREG_JB; ++jj) acc[jj] += t * xs[jj];   \
                }                                                                    \
            }                                                                        \
            for (int jj = 0; jj < CONVREG_JB; ++jj) y[j0 + jj] = acc[jj];            \
        }                                                                            \
        if (j0 < ow) {                                                               \
            const ptrdiff_t n = ow - j0;                                             \
            T acc[CONVREG_JB];                                                       \
            for (ptrdiff_t jj = 0; jj < n; ++jj) acc[jj] = 0;                        \
            for (ptrdiff_t a = 0; a < kh; ++a) {                                     \
                for (ptrdiff_t b = 0; b < kw; ++b) {                                 \
                    const T t = k[a * kw + b];                                       \
                    const T *xs = x + a * ldx + j0 + b;                              \
                    for (ptrdiff_t jj = 0; jj < n; ++jj) acc[jj] += t * xs[jj];      \
                }                                                                    \
            }                                                                        \
            for (ptrdiff_t jj = 0; jj < n; ++jj) y[j0 + jj] = acc[jj];               \
        }                                                                            \
    }

CONVREG_DEFINE_ROW(convreg_corr2d_row_f32, float)
CONVREG_DEFINE_ROW(convreg_corr2d_row_f64, double)

#endif
