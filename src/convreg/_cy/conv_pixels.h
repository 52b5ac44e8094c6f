/* One output row of a stride-1 direct correlation for six output channels at
 * once, vectorised along the row's pixels: the input gradient's kernel where
 * its channels are few.
 *
 * y[c * ldy + j] = sum_{s, a, b} w[((s*wkh + a)*kw + b)*R + c] * x[s*plane + a*dh*ldx + j + b*dw]
 *
 * for c < R = CONVREG_PIX_R, a < kh (the kernel rows summed: the caller
 * points x and w at the first), s < S, and j < the row's width rounded up
 * to whole chunks of CONVREG_PIX_NV vectors. A tile holds R channels x NV
 * vectors of sums in registers over all S*kh*kw taps: per tap, NV
 * unaligned loads of pixels, R broadcast weights, R*NV FMAs (6 x 2 fills
 * 15 of AVX2's 16 ymm). The channel-blocked kernel (conv_oc_rows.c) puts
 * channels in the lanes instead: with LeNet's 6 input channels it fills 6
 * of 8 lanes and loads a broadcast pixel per FMA; on its input gradient
 * this one ran 1.3-1.5x faster (C harness, the AVX2 EPYC). Each output sums
 * its terms in the same order as the channel-blocked kernel (s, a, b), so
 * the two agree bit for bit.
 *
 * Compiled per instruction set with its own register width (CONVREG_AVX512
 * zmm, CONVREG_AVX2 ymm, the baseline xmm) and chosen at run time
 * (cpu_dispatch.h).
 *
 * Contract (checked in _conv.pyx before entry): every x read, up to column
 * ceil(ow / chunk) * chunk - 1 + (kw - 1) * dw of each row, lies inside the
 * input; y holds R rows of ldy >= that rounded width.
 */
#ifndef CONVREG_CONV_PIXELS_H
#define CONVREG_CONV_PIXELS_H

#include <stddef.h>

#include "cpu_dispatch.h"

#define CONVREG_PIX_R 6
#define CONVREG_PIX_NV 2

#if defined(__GNUC__)
#define CONVREG_DEFINE_PIX(NAME, ATTR, T, V)                                              \
    ATTR static void NAME(const T *x, ptrdiff_t plane, ptrdiff_t ldx, ptrdiff_t S,       \
                          ptrdiff_t kh, ptrdiff_t wkh, ptrdiff_t kw, ptrdiff_t dh,       \
                          ptrdiff_t dw, const T *w, T *y, ptrdiff_t ldy, ptrdiff_t ow)   \
    {                                                                                    \
        enum { LANES = sizeof(V) / sizeof(T), R = CONVREG_PIX_R, NV = CONVREG_PIX_NV };  \
        for (ptrdiff_t j0 = 0; j0 < ow; j0 += NV * LANES) {                              \
            V acc[R][NV];                                                                \
            for (int c = 0; c < R; ++c)                                                  \
                for (int v = 0; v < NV; ++v) acc[c][v] = (V){0};                         \
            for (ptrdiff_t s = 0; s < S; ++s)                                            \
                for (ptrdiff_t a = 0; a < kh; ++a) {                                     \
                    const T *xr = x + s * plane + a * dh * ldx + j0;                     \
                    const T *wr = w + (s * wkh + a) * kw * R;                            \
                    for (ptrdiff_t b = 0; b < kw; ++b) {                                 \
                        V X[NV];                                                         \
                        for (int v = 0; v < NV; ++v)                                     \
                            __builtin_memcpy(&X[v], xr + b * dw + v * LANES, sizeof(V)); \
                        for (int c = 0; c < R; ++c) {                                    \
                            const T t = wr[b * R + c];                                   \
                            for (int v = 0; v < NV; ++v) acc[c][v] += t * X[v];          \
                        }                                                                \
                    }                                                                    \
                }                                                                        \
            for (int c = 0; c < R; ++c)                                                  \
                for (int v = 0; v < NV; ++v)                                             \
                    __builtin_memcpy(y + c * ldy + j0 + v * LANES, &acc[c][v], sizeof(V)); \
        }                                                                                \
    }
#else
/* Without vector extensions: one pixel a "vector". */
#define CONVREG_DEFINE_PIX(NAME, ATTR, T, V)                                              \
    static void NAME(const T *x, ptrdiff_t plane, ptrdiff_t ldx, ptrdiff_t S, ptrdiff_t kh, \
                     ptrdiff_t wkh, ptrdiff_t kw, ptrdiff_t dh, ptrdiff_t dw, const T *w,  \
                     T *y, ptrdiff_t ldy, ptrdiff_t ow)                                   \
    {                                                                                    \
        const ptrdiff_t width = (ow + CONVREG_PIX_NV - 1) / CONVREG_PIX_NV * CONVREG_PIX_NV; \
        for (ptrdiff_t c = 0; c < CONVREG_PIX_R; ++c)                                    \
            for (ptrdiff_t j = 0; j < width; ++j) {                                      \
                T sum = 0;                                                               \
                for (ptrdiff_t s = 0; s < S; ++s)                                        \
                    for (ptrdiff_t a = 0; a < kh; ++a)                                   \
                        for (ptrdiff_t b = 0; b < kw; ++b)                               \
                            sum += w[((s * wkh + a) * kw + b) * CONVREG_PIX_R + c] *     \
                                   x[s * plane + a * dh * ldx + j + b * dw];             \
                y[c * ldy + j] = sum;                                                    \
            }                                                                            \
    }
#endif

#if defined(CONVREG_X86_DISPATCH)
CONVREG_DEFINE_PIX(convreg_pix_row_f32_avx512, CONVREG_AVX512, float, convreg_vf32_64)
CONVREG_DEFINE_PIX(convreg_pix_row_f64_avx512, CONVREG_AVX512, double, convreg_vf64_64)
CONVREG_DEFINE_PIX(convreg_pix_row_f32_avx2, CONVREG_AVX2, float, convreg_vf32_32)
CONVREG_DEFINE_PIX(convreg_pix_row_f64_avx2, CONVREG_AVX2, double, convreg_vf64_32)
#endif
CONVREG_DEFINE_PIX(convreg_pix_row_f32_base, , float, convreg_vf32_16)
CONVREG_DEFINE_PIX(convreg_pix_row_f64_base, , double, convreg_vf64_16)

/* Output pixels per chunk (CONVREG_PIX_NV vectors) for an ISA and item size:
 * the row widths the caller rounds up to. */
static ptrdiff_t convreg_pix_chunk(int isa, ptrdiff_t itemsize)
{
    ptrdiff_t bytes = 16;
#if defined(CONVREG_X86_DISPATCH)
    if (isa == CONVREG_ISA_AVX512) bytes = 64;
    else if (isa == CONVREG_ISA_AVX2) bytes = 32;
#else
    (void)isa;
#endif
#if defined(__GNUC__)
    return CONVREG_PIX_NV * bytes / itemsize;
#else
    (void)bytes;
    (void)itemsize;
    return CONVREG_PIX_NV;
#endif
}

static void convreg_pix_row_f32(int isa, const float *x, ptrdiff_t plane, ptrdiff_t ldx,
                                ptrdiff_t S, ptrdiff_t kh, ptrdiff_t wkh, ptrdiff_t kw,
                                ptrdiff_t dh, ptrdiff_t dw, const float *w, float *y,
                                ptrdiff_t ldy, ptrdiff_t ow)
{
    CONVREG_DISPATCH(isa, convreg_pix_row_f32, (x, plane, ldx, S, kh, wkh, kw, dh, dw, w, y, ldy, ow));
}

static void convreg_pix_row_f64(int isa, const double *x, ptrdiff_t plane, ptrdiff_t ldx,
                                ptrdiff_t S, ptrdiff_t kh, ptrdiff_t wkh, ptrdiff_t kw,
                                ptrdiff_t dh, ptrdiff_t dw, const double *w, double *y,
                                ptrdiff_t ldy, ptrdiff_t ow)
{
    CONVREG_DISPATCH(isa, convreg_pix_row_f64, (x, plane, ldx, S, kh, wkh, kw, dh, dw, w, y, ldy, ow));
}

#endif
