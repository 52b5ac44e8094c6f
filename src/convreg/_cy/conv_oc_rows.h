/* The channel-blocked direct convolution kernels of conv_oc_rows.c (what they
 * compute, their layout and their contract are described there).
 *
 * isa is cpu_dispatch.h's CONVREG_ISA_* level the caller chose; units is the
 * channel block's size in 32-byte units: 4 (two 64-byte vectors, 2 *
 * CONVREG_OB_*), 2 (one) or 1 (half of one); any other value runs half blocks. */
#ifndef CONVREG_CONV_OC_ROWS_H
#define CONVREG_CONV_OC_ROWS_H

#include <stddef.h>

/* Channels in one 64-byte vector. */
#define CONVREG_OB_F32 16
#define CONVREG_OB_F64 8

/* One output row of the forward pass for one block of output channels: kernel
 * rows [0, kh) of a kernel of wkh rows (conv_oc_rows.c). */
void convreg_oc_row_f32(int isa, int units, const float *x, ptrdiff_t plane, ptrdiff_t ldx,
                        ptrdiff_t C, ptrdiff_t kh, ptrdiff_t wkh, ptrdiff_t kw, ptrdiff_t sw,
                        ptrdiff_t dh, ptrdiff_t dw, const float *w, float *y, ptrdiff_t ldy,
                        ptrdiff_t ow);
void convreg_oc_row_f64(int isa, int units, const double *x, ptrdiff_t plane, ptrdiff_t ldx,
                        ptrdiff_t C, ptrdiff_t kh, ptrdiff_t wkh, ptrdiff_t kw, ptrdiff_t sw,
                        ptrdiff_t dh, ptrdiff_t dw, const double *w, double *y, ptrdiff_t ldy,
                        ptrdiff_t ow);

/* Taps per weight-gradient tile for an ISA and block width. */
ptrdiff_t convreg_gw_taps(int isa, int units);

/* One tile of nt taps of the weight gradient over one image's output pixels. */
void convreg_gw_f32(int isa, int units, const float *x, const ptrdiff_t *off, const float *g,
                    ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t ldr, ptrdiff_t sw, float *dw,
                    ptrdiff_t nt);
void convreg_gw_f64(int isa, int units, const double *x, const ptrdiff_t *off, const double *g,
                    ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t ldr, ptrdiff_t sw, double *dw,
                    ptrdiff_t nt);

#endif
