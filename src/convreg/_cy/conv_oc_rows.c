/* Direct convolution kernels vectorized over a block of output channels: one
 * output row of the forward pass (below) and one tile of kernel taps of the
 * weight gradient (further down); the input gradient is the forward kernel
 * run per stride phase (plugins/cython.py).
 *
 * For output row i of one image and one block of OB output channels:
 *
 *   y[j*ldy + o] = sum_{c,a,b} w[((c*wkh + a)*kw + b)*OB + o] * x[c*plane + a*dh*ldx + (j*sw + b*dw)]
 *
 * for j in [0, ow), o in [0, OB) and a in [0, kh) of a kernel of wkh >= kh
 * rows; the caller points x at the first input row and column the output
 * row reads (row i*sh of every channel plane) and y at the row's first
 * pixel of its channel block. A caller that knows some input rows to be
 * zero (padding, or the border of the output gradient an input gradient is
 * correlated from) skips the kernel rows that read only those: it points x
 * and w at the first row it keeps (w + a0*kw*OB) and passes the rows kept
 * as kh, the kernel's as wkh. The weights of a block are laid out
 * tap-major with the OB channels innermost, so one tap is one vector load;
 * each input pixel is one broadcast. A tile of JB output pixels x OB
 * channels stays in registers across all C*kh*kw taps and is written once:
 * one FMA per loaded value, where a row-at-a-time loop would read-modify-
 * write the output once per tap. This is the register blocking oneDNN's
 * direct convolutions use (it vectorizes over output channels too),
 * written here in C with GCC's vector extensions.
 *
 * OB is half, one or two 64-byte vectors (8, 16 or 32 floats; 4, 8 or 16
 * doubles): the block's size in 32-byte units, NB, is 1, 2 or 4. A half
 * block serves a group of few channels on a CPU whose registers are 32
 * bytes or less: LeNet's 6 channels fill 6 of AVX2's 8 float lanes, where a
 * 64-byte block (two ymm) computed 16 lanes for them. The tile width
 * depends on the registers the instruction set has (32 vectors with
 * AVX-512, 16 with AVX2, whose vectors are half as wide), so each is a
 * function of its own, chosen per call by the CPU's features (cpu_dispatch.h).
 *
 * Contract (checked in Python before entry): ow >= 1; C, kh, kw, sw, dh,
 * dw >= 1; kh <= wkh; every x read lies inside the (padded) input; y has ow pixels
 * ldy apart, each with OB writable channels.
 */
/* A translation unit of its own (declared in conv_oc_rows.h), so that it
 * compiles in parallel with _conv.pyx's C file, which calls it. */
#include "conv_oc_rows.h"

#define CONVREG_JB_MAX 14
/* Tile sizes (pixels of a forward tile, taps of a weight-gradient tile) per
 * ISA, for half-vector (_H), one-vector (_1) and two-vector (_2) channel
 * blocks: as many accumulators as the registers hold (see
 * CONVREG_BLOCK_FAMILIES). AVX2's half-block tile takes 14: 14 sums, the
 * block's weights and a broadcast pixel fill its 16 ymm exactly (GCC spills
 * none), and a 14-pixel row (LeNet's second layer's input gradient) is one
 * tile instead of 7 + 7; that row ran 1.20-1.25x faster, 28 pixels as 14 +
 * 14 instead of 10 + 9 + 9 1.10-1.13x (AVX2 EPYC, RESULTS.md run 15). */
#define CONVREG_TILE_BASE_H 4
#define CONVREG_TILE_BASE_1 2
#define CONVREG_TILE_BASE_2 1
#define CONVREG_TILE_AVX2_H 14
#define CONVREG_TILE_AVX2_1 6
#define CONVREG_TILE_AVX2_2 3
#define CONVREG_TILE_AVX512_H 12
#define CONVREG_TILE_AVX512_1 12
#define CONVREG_TILE_AVX512_2 7
/* The register tiles' loops have constant trip counts once inlined; they
 * must be unrolled completely for the sums to live in registers. Asked for
 * here rather than through -O3, whose other unrolling made this header 5x
 * the code and 10x the compile time for no measured speed. */
#define CONVREG_UNROLL _Pragma("GCC unroll 16")

#include "cpu_dispatch.h"

/* Both kernel families (KIND OC: the forward rows, GW: the weight gradient)
 * are defined for each ISA (its vector bytes, and those of a half block),
 * each block size (SUF h, 1, 2: NB 32-byte units, at most N pixels or taps
 * a tile) and each dtype, through CONVREG_DEFINE_<KIND>_TILE (the register
 * tile) and CONVREG_DEFINE_<KIND> (what calls it): the functions
 * TILE_f32_1_avx2, FN_f32_1_avx2 and so on. */
#define CONVREG_BLOCK_SIZE(KIND, TILE, FN, ISA, ATTR, SUF, BYTES, NB, N)                 \
    CONVREG_DEFINE_##KIND##_TILE(TILE##_f32_##SUF##_##ISA, ATTR, float, convreg_vf32_##BYTES, NB) \
    CONVREG_DEFINE_##KIND##_TILE(TILE##_f64_##SUF##_##ISA, ATTR, double, convreg_vf64_##BYTES, NB) \
    CONVREG_DEFINE_##KIND(FN##_f32_##SUF##_##ISA, ATTR, float, TILE##_f32_##SUF##_##ISA, N) \
    CONVREG_DEFINE_##KIND(FN##_f64_##SUF##_##ISA, ATTR, double, TILE##_f64_##SUF##_##ISA, N)
#define CONVREG_BLOCK_FAMILY(KIND, TILE, FN, ISA, ATTR, BYTES, HBYTES, NH, N1, N2)      \
    CONVREG_BLOCK_SIZE(KIND, TILE, FN, ISA, ATTR, h, HBYTES, 1, NH)                      \
    CONVREG_BLOCK_SIZE(KIND, TILE, FN, ISA, ATTR, 1, BYTES, 2, N1)                       \
    CONVREG_BLOCK_SIZE(KIND, TILE, FN, ISA, ATTR, 2, BYTES, 4, N2)
#ifdef CONVREG_X86_DISPATCH
#define CONVREG_BLOCK_FAMILIES(KIND, TILE, FN, SIZES)                                    \
    CONVREG_BLOCK_FAMILY(KIND, TILE, FN, base, , 16, 16, SIZES##_BASE_H, SIZES##_BASE_1, \
                         SIZES##_BASE_2)                                                 \
    CONVREG_BLOCK_FAMILY(KIND, TILE, FN, avx2, CONVREG_AVX2, 32, 32, SIZES##_AVX2_H,     \
                         SIZES##_AVX2_1, SIZES##_AVX2_2)                                 \
    CONVREG_BLOCK_FAMILY(KIND, TILE, FN, avx512, CONVREG_AVX512, 64, 32, SIZES##_AVX512_H, \
                         SIZES##_AVX512_1, SIZES##_AVX512_2)
#else
#define CONVREG_BLOCK_FAMILIES(KIND, TILE, FN, SIZES)                                    \
    CONVREG_BLOCK_FAMILY(KIND, TILE, FN, base, , 16, 16, SIZES##_BASE_H, SIZES##_BASE_1, \
                         SIZES##_BASE_2)
#endif

/* The tile: jn (a constant once inlined) pixels x NVO vectors of channels
 * (OB = NVO * LANES). SW is the stride, a literal 1 for the common case so
 * the pixel addresses are consecutive. Defined once per instruction set:
 * GCC inlines only into a caller compiled for the same target.
 *
 * Per tap a tile loads NVO weight vectors and jn input pixels (broadcast)
 * for jn * NVO FMAs. The loads, not the FMAs, were the limit: one core,
 * VGG's 64 -> 64 3x3 layer, 16 channels x 12 pixels (13 loads per 12 FMAs)
 * ran at 121 GFLOP/s, 32 channels x 7 pixels (9 per 14) at 228; 48 x 4,
 * 64 x 3, 32 x 12 and 32 x 14 were no better. So a group with more than
 * one vector of output channels runs in "wide" blocks of two vectors. */
#if defined(__GNUC__)
/* GCC/Clang vector extensions, the ISA's own register (cpu_dispatch.h): a
 * block of channels (NB * 32 bytes) is NB * 32 / sizeof(V) registers: one
 * 64-byte block is 1 zmm, 2 ymm or 4 xmm; a half block, which needs a
 * register of 32 bytes or less, one ymm (AVX-512 too) or 2 xmm (a 64-byte type under AVX2 made the AVX2
 * kernels run at 1.6 GFLOP/s where AVX-512's ran at 71). Loads and stores
 * go through memcpy, which makes no alignment assumption. Written with
 * plain arrays, GCC neither kept the tile in registers nor vectorized it
 * cleanly. */
#define CONVREG_DEFINE_OC_TILE(NAME, ATTR, T, V, NB)                                    \
    ATTR CONVREG_INLINE void NAME(const T *x, ptrdiff_t plane, ptrdiff_t ldx, ptrdiff_t C, \
                                  ptrdiff_t kh, ptrdiff_t wkh, ptrdiff_t kw, ptrdiff_t sw, \
                                  ptrdiff_t dh, ptrdiff_t dw, const T *w, T *y,          \
                                  ptrdiff_t ldy, const int jn)                           \
    {                                                                                    \
        enum { LANES = sizeof(V) / sizeof(T), NVO = NB * 32 / sizeof(V), OB = NB * 32 / sizeof(T) }; \
        V acc[CONVREG_JB_MAX][NVO];                                                      \
        CONVREG_UNROLL for (int jj = 0; jj < jn; ++jj)                                                  \
            CONVREG_UNROLL for (int v = 0; v < NVO; ++v) acc[jj][v] = (V){0};                           \
        for (ptrdiff_t c = 0; c < C; ++c) {                                              \
            for (ptrdiff_t a = 0; a < kh; ++a) {                                         \
                const T *xr = x + c * plane + a * dh * ldx;                              \
                const T *wr = w + (c * wkh + a) * kw * OB;                                \
                for (ptrdiff_t b = 0; b < kw; ++b) {                                     \
                    V wv[NVO];                                                           \
                    CONVREG_UNROLL for (int v = 0; v < NVO; ++v)                                        \
                        __builtin_memcpy(&wv[v], wr + b * OB + v * LANES, sizeof(V));    \
                    const T *xb = xr + b * dw;                                           \
                    CONVREG_UNROLL for (int jj = 0; jj < jn; ++jj) {                                    \
                        const T xv = xb[jj * sw];                                        \
                        CONVREG_UNROLL for (int v = 0; v < NVO; ++v) acc[jj][v] += wv[v] * xv;          \
                    }                                                                    \
                }                                                                        \
            }                                                                            \
        }                                                                                \
        CONVREG_UNROLL for (int jj = 0; jj < jn; ++jj)                                                  \
            CONVREG_UNROLL for (int v = 0; v < NVO; ++v)                                                \
                __builtin_memcpy(y + jj * ldy + v * LANES, &acc[jj][v], sizeof(V));      \
    }
#else
#define CONVREG_DEFINE_OC_TILE(NAME, ATTR, T, V, NB)                                    \
    ATTR CONVREG_INLINE void NAME(const T *x, ptrdiff_t plane, ptrdiff_t ldx, ptrdiff_t C, \
                                  ptrdiff_t kh, ptrdiff_t wkh, ptrdiff_t kw, ptrdiff_t sw, \
                                  ptrdiff_t dh, ptrdiff_t dw, const T *w, T *y,          \
                                  ptrdiff_t ldy, const int jn)                           \
    {                                                                                    \
        enum { OB = NB * 32 / sizeof(T) };                                              \
        T acc[CONVREG_JB_MAX][OB];                                                       \
        CONVREG_UNROLL for (int jj = 0; jj < jn; ++jj)                                                  \
            for (int o = 0; o < OB; ++o) acc[jj][o] = 0;                                 \
        for (ptrdiff_t c = 0; c < C; ++c)                                                \
            for (ptrdiff_t a = 0; a < kh; ++a)                                           \
                for (ptrdiff_t b = 0; b < kw; ++b) {                                     \
                    const T *wv = w + ((c * wkh + a) * kw + b) * OB;                      \
                    const T *xb = x + c * plane + a * dh * ldx + b * dw;                 \
                    CONVREG_UNROLL for (int jj = 0; jj < jn; ++jj)                                      \
                        for (int o = 0; o < OB; ++o) acc[jj][o] += wv[o] * xb[jj * sw];  \
                }                                                                        \
        CONVREG_UNROLL for (int jj = 0; jj < jn; ++jj)                                                  \
            for (int o = 0; o < OB; ++o) y[jj * ldy + o] = acc[jj][o];                   \
    }
#endif

/* A tile of n <= CONVREG_JB_MAX pixels from pixel j, each width its own
 * constant-size tile. */
#define CONVREG_OC_TILE_CASE(TILE, SW, K, JB)                                            \
    case K:                                                                              \
        if (K <= JB) /* wider tiles are never asked for: not instantiated */             \
            TILE(x + j * sw, plane, ldx, C, kh, wkh, kw, SW, dh, dw, w, y + j * ldy, ldy, K); \
        break;
#define CONVREG_OC_TILE_OF_WIDTH(TILE, SW, JB)                                           \
    switch (n) {                                                                         \
        CONVREG_OC_TILE_CASE(TILE, SW, 1, JB) CONVREG_OC_TILE_CASE(TILE, SW, 2, JB)      \
        CONVREG_OC_TILE_CASE(TILE, SW, 3, JB) CONVREG_OC_TILE_CASE(TILE, SW, 4, JB)      \
        CONVREG_OC_TILE_CASE(TILE, SW, 5, JB) CONVREG_OC_TILE_CASE(TILE, SW, 6, JB)      \
        CONVREG_OC_TILE_CASE(TILE, SW, 7, JB) CONVREG_OC_TILE_CASE(TILE, SW, 8, JB)      \
        CONVREG_OC_TILE_CASE(TILE, SW, 9, JB) CONVREG_OC_TILE_CASE(TILE, SW, 10, JB)     \
        CONVREG_OC_TILE_CASE(TILE, SW, 11, JB) CONVREG_OC_TILE_CASE(TILE, SW, 12, JB)    \
        CONVREG_OC_TILE_CASE(TILE, SW, 13, JB) CONVREG_OC_TILE_CASE(TILE, SW, 14, JB)    \
        default: break;                                                                  \
    }

/* A whole row in ceil(ow / JB) tiles (JB <= CONVREG_JB_MAX) of near-equal
 * width: 28 pixels run as 10 + 9 + 9, not 12 + 12 + 4, since a narrow tile
 * has too few independent sums to cover the FMA latency (two units, four
 * cycles each: eight sums in flight). */
#define CONVREG_DEFINE_OC(NAME, ATTR, T, TILE, JB)                                       \
    ATTR static void NAME(const T *x, ptrdiff_t plane, ptrdiff_t ldx, ptrdiff_t C,       \
                          ptrdiff_t kh, ptrdiff_t wkh, ptrdiff_t kw, ptrdiff_t sw,       \
                          ptrdiff_t dh, ptrdiff_t dw, const T *w, T *y, ptrdiff_t ldy,   \
                          ptrdiff_t ow)                                                  \
    {                                                                                    \
        const ptrdiff_t tiles = (ow + JB - 1) / JB, base = ow / tiles, wider = ow % tiles; \
        ptrdiff_t j = 0;                                                                 \
        for (ptrdiff_t t = 0; t < tiles; ++t) {                                          \
            const ptrdiff_t n = base + (t < wider);                                      \
            if (sw == 1) {                                                               \
                CONVREG_OC_TILE_OF_WIDTH(TILE, 1, JB)                                    \
            } else {                                                                     \
                CONVREG_OC_TILE_OF_WIDTH(TILE, sw, JB)                                   \
            }                                                                            \
            j += n;                                                                      \
        }                                                                                \
    }

/* Every ISA's forward kernels: both dtypes, half-, one- and two-block tiles
 * of CONVREG_TILE_<ISA>_H, _1 and _2 pixels in the ISA's vectors (32-byte
 * ones or narrower for half blocks): as many accumulators as the registers
 * hold beside the block's weights and a broadcast pixel, 12-14 of 32 zmm
 * with AVX-512, 12-14 of 16 ymm with AVX2 (a block is two, a half block
 * one), 8 of 16 xmm on the baseline (a block is four, a half block two). */
CONVREG_BLOCK_FAMILIES(OC, convreg_oc_tile, convreg_oc_row, CONVREG_TILE)

/* The forward row for the CPU's ISA and the block size in 32-byte units (4: two
 * vectors of 64 bytes, 2: one, 1: half of one). */
#define CONVREG_DEFINE_OC_DISPATCH(NAME, T, SUFFIX)                                      \
    void NAME(int isa, int units, const T *x, ptrdiff_t plane, ptrdiff_t ldx,           \
                     ptrdiff_t C, ptrdiff_t kh, ptrdiff_t wkh, ptrdiff_t kw, ptrdiff_t sw, \
                     ptrdiff_t dh, ptrdiff_t dw, const T *w, T *y, ptrdiff_t ldy,       \
                     ptrdiff_t ow)                                                       \
    {                                                                                    \
        if (units == 4)                                                                  \
            CONVREG_DISPATCH(isa, convreg_oc_row_##SUFFIX##_2,                           \
                             (x, plane, ldx, C, kh, wkh, kw, sw, dh, dw, w, y, ldy, ow));     \
        else if (units == 2)                                                             \
            CONVREG_DISPATCH(isa, convreg_oc_row_##SUFFIX##_1,                           \
                             (x, plane, ldx, C, kh, wkh, kw, sw, dh, dw, w, y, ldy, ow));     \
        else                                                                             \
            CONVREG_DISPATCH(isa, convreg_oc_row_##SUFFIX##_h,                           \
                             (x, plane, ldx, C, kh, wkh, kw, sw, dh, dw, w, y, ldy, ow));     \
    }
CONVREG_DEFINE_OC_DISPATCH(convreg_oc_row_f32, float, f32)
CONVREG_DEFINE_OC_DISPATCH(convreg_oc_row_f64, double, f64)

/* ---- the weight gradient -------------------------------------------------
 *
 * dw[t*OB + o] += sum_{i,j} g[(i*ow + j)*OB + o] * x[off[t] + i*ldr + j*sw]
 *
 * for the nt taps t of a tile (tap t = (c, a, b) of one input channel c0 + c
 * at offset off[t] = c*plane + a*dh*ldx + b*dw) over one image's output
 * pixels, g being that image's output gradient for one block of OB = NVO
 * vectors of channels, channels-last, and ldr = sh*ldx the input rows
 * between output rows. The nt x OB sums stay in registers over all pixels:
 * per pixel NVO vector loads of g and nt broadcasts for nt * NVO FMAs (blocks of
 * half, one or two 64-byte vectors, as in the forward pass). */
#if defined(__GNUC__)
#define CONVREG_DEFINE_GW_TILE(NAME, ATTR, T, V, NB)                                    \
    ATTR CONVREG_INLINE void NAME(const T *x, const ptrdiff_t *off, const T *g,          \
                                  ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t ldr, ptrdiff_t sw, \
                                  T *dw, const int nt)                                   \
    {                                                                                    \
        enum { LANES = sizeof(V) / sizeof(T), NVO = NB * 32 / sizeof(V), OB = NB * 32 / sizeof(T) }; \
        V acc[CONVREG_JB_MAX][NVO];                                                      \
        const T *p[CONVREG_JB_MAX];                                                      \
        CONVREG_UNROLL for (int t = 0; t < nt; ++t) {                                                   \
            CONVREG_UNROLL for (int v = 0; v < NVO; ++v)                                                \
                __builtin_memcpy(&acc[t][v], dw + t * OB + v * LANES, sizeof(V));        \
            p[t] = x + off[t];                                                           \
        }                                                                                \
        for (ptrdiff_t i = 0; i < oh; ++i) {                                             \
            const T *gr = g + i * ow * OB;                                               \
            const ptrdiff_t xr = i * ldr;                                                \
            for (ptrdiff_t j = 0; j < ow; ++j) {                                         \
                V gv[NVO];                                                               \
                CONVREG_UNROLL for (int v = 0; v < NVO; ++v)                                            \
                    __builtin_memcpy(&gv[v], gr + j * OB + v * LANES, sizeof(V));        \
                const ptrdiff_t xj = xr + j * sw;                                        \
                CONVREG_UNROLL for (int t = 0; t < nt; ++t) {                                           \
                    const T xv = p[t][xj];                                               \
                    CONVREG_UNROLL for (int v = 0; v < NVO; ++v) acc[t][v] += gv[v] * xv;               \
                }                                                                        \
            }                                                                            \
        }                                                                                \
        CONVREG_UNROLL for (int t = 0; t < nt; ++t)                                                     \
            CONVREG_UNROLL for (int v = 0; v < NVO; ++v)                                                \
                __builtin_memcpy(dw + t * OB + v * LANES, &acc[t][v], sizeof(V));        \
    }
#else
#define CONVREG_DEFINE_GW_TILE(NAME, ATTR, T, V, NB)                                    \
    ATTR CONVREG_INLINE void NAME(const T *x, const ptrdiff_t *off, const T *g,          \
                                  ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t ldr, ptrdiff_t sw, \
                                  T *dw, const int nt)                                   \
    {                                                                                    \
        enum { OB = NB * 32 / sizeof(T) };                                              \
        CONVREG_UNROLL for (int t = 0; t < nt; ++t)                                                     \
            for (ptrdiff_t i = 0; i < oh; ++i)                                           \
                for (ptrdiff_t j = 0; j < ow; ++j)                                       \
                    for (int o = 0; o < OB; ++o)                                         \
                        dw[t * OB + o] += g[(i * ow + j) * OB + o] * x[off[t] + i * ldr + j * sw]; \
    }
#endif

#define CONVREG_GW_CASE(TILE, K, NT)                                                     \
    case K:                                                                              \
        if (K <= NT) /* larger tiles are never asked for: not instantiated */            \
            TILE(x, off, g, oh, ow, ldr, sw, dw, K);                                     \
        break;
/* One tile of nt <= NT taps, each count its own constant-size tile. */
#define CONVREG_DEFINE_GW(NAME, ATTR, T, TILE, NT)                                       \
    ATTR static void NAME(const T *x, const ptrdiff_t *off, const T *g, ptrdiff_t oh,    \
                          ptrdiff_t ow, ptrdiff_t ldr, ptrdiff_t sw, T *dw, ptrdiff_t nt) \
    {                                                                                    \
        switch (nt) {                                                                    \
            CONVREG_GW_CASE(TILE, 1, NT) CONVREG_GW_CASE(TILE, 2, NT)                    \
            CONVREG_GW_CASE(TILE, 3, NT) CONVREG_GW_CASE(TILE, 4, NT)                    \
            CONVREG_GW_CASE(TILE, 5, NT) CONVREG_GW_CASE(TILE, 6, NT)                    \
            CONVREG_GW_CASE(TILE, 7, NT) CONVREG_GW_CASE(TILE, 8, NT)                    \
            CONVREG_GW_CASE(TILE, 9, NT) CONVREG_GW_CASE(TILE, 10, NT)                   \
            CONVREG_GW_CASE(TILE, 11, NT) CONVREG_GW_CASE(TILE, 12, NT)                  \
            CONVREG_GW_CASE(TILE, 13, NT) CONVREG_GW_CASE(TILE, 14, NT)                  \
            default: break;                                                              \
        }                                                                                \
    }

/* Every ISA's weight-gradient kernels: both dtypes, half-, one- and two-vector
 * blocks, with tiles of at most CONVREG_TILE_*_H, _1 and _2 taps
 * (convreg_gw_taps), as many sums as the forward tiles' pixels. */
CONVREG_BLOCK_FAMILIES(GW, convreg_gw_tile, convreg_gw, CONVREG_TILE)

/* Taps per weight-gradient tile, by ISA and block width: as many sums as
 * the registers hold (as the forward tile's pixels). */
#define CONVREG_BY_UNITS(units, PREFIX) \
    ((units) == 4 ? PREFIX##_2 : (units) == 2 ? PREFIX##_1 : PREFIX##_H)
ptrdiff_t convreg_gw_taps(int isa, int units)
{
    if (isa == CONVREG_ISA_AVX512) return CONVREG_BY_UNITS(units, CONVREG_TILE_AVX512);
    if (isa == CONVREG_ISA_AVX2) return CONVREG_BY_UNITS(units, CONVREG_TILE_AVX2);
    return CONVREG_BY_UNITS(units, CONVREG_TILE_BASE);
}

#define CONVREG_DEFINE_GW_DISPATCH(NAME, T, SUFFIX)                                      \
    void NAME(int isa, int units, const T *x, const ptrdiff_t *off, const T *g,        \
                     ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t ldr, ptrdiff_t sw, T *dw,     \
                     ptrdiff_t nt)                                                       \
    {                                                                                    \
        if (units == 4)                                                                  \
            CONVREG_DISPATCH(isa, convreg_gw_##SUFFIX##_2, (x, off, g, oh, ow, ldr, sw, dw, nt)); \
        else if (units == 2)                                                             \
            CONVREG_DISPATCH(isa, convreg_gw_##SUFFIX##_1, (x, off, g, oh, ow, ldr, sw, dw, nt)); \
        else                                                                             \
            CONVREG_DISPATCH(isa, convreg_gw_##SUFFIX##_h, (x, off, g, oh, ow, ldr, sw, dw, nt)); \
    }
CONVREG_DEFINE_GW_DISPATCH(convreg_gw_f32, float, f32)
CONVREG_DEFINE_GW_DISPATCH(convreg_gw_f64, double, f64)
