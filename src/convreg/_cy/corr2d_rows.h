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

/* Several output rows at once: R rows x NV vectors of 64 bytes held in
 * registers. Input row r feeds output row q through kernel row r - q, so
 * each loaded input vector serves up to R output rows: per kernel tap, NV
 * loads for R * NV FMAs, where the one-row loop needs a load per FMA and so
 * ran at a quarter of the FMA units' speed. Measured on one core of the
 * benchmark machine (AVX-512, 1024^2 float32 image): 3x3 26 -> 99,
 * 5x5 37 -> 122, 15x15 43 -> 154 GFLOP/s with R = 4, NV = 2 (R = 2 or 8,
 * NV = 1 to 4 were slower). R * NV accumulators must fit the register
 * file, so each ISA has its own (cpu_dispatch.h); the columns past the
 * last whole block go through the one-row loop.
 *
 * Contract as above, for rows i .. i + R - 1: x points at input row i and
 * y at output row i, ldy apart. */
#include "cpu_dispatch.h"

#if defined(__GNUC__)
typedef float convreg_rows_vf32 __attribute__((vector_size(64)));
typedef double convreg_rows_vf64 __attribute__((vector_size(64)));

#define CONVREG_DEFINE_ROWS(NAME, ATTR, T, V, ONE_ROW, R, NV)                            \
    ATTR static void NAME(const T *x, ptrdiff_t ldx, const T *k, ptrdiff_t kh,           \
                          ptrdiff_t kw, T *y, ptrdiff_t ldy, ptrdiff_t ow)               \
    {                                                                                    \
        enum { LANES = sizeof(V) / sizeof(T) };                                          \
        ptrdiff_t j0 = 0;                                                                \
        for (; j0 + NV * LANES <= ow; j0 += NV * LANES) {                                \
            V acc[R][NV];                                                                \
            for (int q = 0; q < R; ++q)                                                  \
                for (int v = 0; v < NV; ++v) acc[q][v] = (V){0};                         \
            for (ptrdiff_t r = 0; r < kh + R - 1; ++r) {                                 \
                const T *xr = x + r * ldx + j0;                                          \
                for (ptrdiff_t b = 0; b < kw; ++b) {                                     \
                    V X[NV];                                                             \
                    for (int v = 0; v < NV; ++v)                                         \
                        __builtin_memcpy(&X[v], xr + b + v * LANES, sizeof(V));          \
                    for (int q = 0; q < R; ++q) {                                        \
                        if (r - q < 0 || r - q >= kh) continue;                          \
                        const T t = k[(r - q) * kw + b];                                 \
                        for (int v = 0; v < NV; ++v) acc[q][v] += t * X[v];              \
                    }                                                                    \
                }                                                                        \
            }                                                                            \
            for (int q = 0; q < R; ++q)                                                  \
                for (int v = 0; v < NV; ++v)                                             \
                    __builtin_memcpy(y + q * ldy + j0 + v * LANES, &acc[q][v], sizeof(V)); \
        }                                                                                \
        if (j0 < ow)                                                                     \
            for (int q = 0; q < R; ++q)                                                  \
                ONE_ROW(x + q * ldx + j0, ldx, k, kh, kw, y + q * ldy + j0, ow - j0);    \
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

#define CONVREG_ROWS_BASE 2
CONVREG_DEFINE_ROWS(convreg_corr2d_rows_f32_base, , float, convreg_rows_vf32,
                    convreg_corr2d_row_f32, CONVREG_ROWS_BASE, 1)
CONVREG_DEFINE_ROWS(convreg_corr2d_rows_f64_base, , double, convreg_rows_vf64,
                    convreg_corr2d_row_f64, CONVREG_ROWS_BASE, 1)
#ifdef CONVREG_X86_DISPATCH
CONVREG_DEFINE_ROWS(convreg_corr2d_rows_f32_avx2, CONVREG_AVX2, float, convreg_rows_vf32,
                    convreg_corr2d_row_f32, 4, 1)
CONVREG_DEFINE_ROWS(convreg_corr2d_rows_f64_avx2, CONVREG_AVX2, double, convreg_rows_vf64,
                    convreg_corr2d_row_f64, 4, 1)
CONVREG_DEFINE_ROWS(convreg_corr2d_rows_f32_avx512, CONVREG_AVX512, float, convreg_rows_vf32,
                    convreg_corr2d_row_f32, 4, 2)
CONVREG_DEFINE_ROWS(convreg_corr2d_rows_f64_avx512, CONVREG_AVX512, double, convreg_rows_vf64,
                    convreg_corr2d_row_f64, 4, 2)
#endif

/* Output rows per call of convreg_corr2d_rows_*, by ISA. */
static ptrdiff_t convreg_corr2d_rows_per_call(int isa)
{
    return isa == CONVREG_ISA_BASE ? CONVREG_ROWS_BASE : 4;
}

#define CONVREG_DEFINE_ROWS_DISPATCH(NAME, T, SUFFIX)                                    \
    static void NAME(int isa, const T *x, ptrdiff_t ldx, const T *k, ptrdiff_t kh,       \
                     ptrdiff_t kw, T *y, ptrdiff_t ldy, ptrdiff_t ow)                    \
    {                                                                                    \
        CONVREG_DISPATCH(isa, convreg_corr2d_rows_##SUFFIX, (x, ldx, k, kh, kw, y, ldy, ow)); \
    }
CONVREG_DEFINE_ROWS_DISPATCH(convreg_corr2d_rows_f32, float, f32)
CONVREG_DEFINE_ROWS_DISPATCH(convreg_corr2d_rows_f64, double, f64)

#endif
