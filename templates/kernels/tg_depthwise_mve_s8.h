/*
 * tg_depthwise_mve_s8: int8 depthwise conv2d, depth multiplier 1, channels a multiple of 4, for Helium.
 *
 * Four channels per vector (int32 lanes): per output pixel and channel quad, acc = bias, then per tap
 * acc += input * weight (VLDRB.S32 widening loads, VMUL, then VQADD: MVE has no vector-by-vector VMLA,
 * and a saturating add keeps GCC from reassociating the sum into a tree that spills registers; the
 * lowering proves offline that no partial sum can leave the int32 range, so it equals TFLite's adds).
 * Then the quad requantization of tg_mve_s8.h. Padded taps read pad_value (the input zero point), since
 * the input offset is folded into the bias.
 * 3x3 kernels with dilation 1 read padded copies of the input rows from a ring in `scratch`: four slots
 * of wp * channels bytes, wp = pad_left + in_w + pad_right (three input rows, one row of padding), each
 * input row copied once, before any output is written over it; so the output may be the input itself
 * with stride 1 and the same shape (the planner's in-place rule). The gather mode keeps the ring planar
 * (see tg_depthwise_mve_s8.c). Other kernels: a slower general path.
 * weights: per quad, per tap (row-major over kh x kw), the quad's four int8 weights ([quad][tap][4]);
 * params: per quad {bias[4], multiplier[4], left shift[4], -right shift[4]} (see tg_mve_s8.h).
 */
#ifndef TG_DEPTHWISE_MVE_S8_H
#define TG_DEPTHWISE_MVE_S8_H

#include <stdint.h>

/* mode (chosen by the lowering, with the matching weight layout): */
#define TG_DW_MVE_GENERAL 0 /* any kernel; weights [quad][tap][4] */
#define TG_DW_MVE_RING 1    /* 3x3, dilation 1: four channels per vector over a ring of padded rows, ditto */
#define TG_DW_MVE_GATHER 2  /* 3x3, dilation 1, 4 * (pad_left + in_w + pad_right) <= 256 (tap offsets fit
                               a byte): a gather + VMLADAV per output, channel quads outer (the quad's weights
                               held over its row); weights [channel][16] (nine taps, 0s) */

void tg_depthwise_mve_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                         const int8_t *weights, int32_t kh, int32_t kw, const int32_t *params, int8_t *output,
                         int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                         int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t pad_right, int32_t pad_value,
                         int32_t out_offset, int32_t act_min, int32_t act_max, int32_t has_left, int32_t mode,
                         int8_t *scratch);

#endif /* TG_DEPTHWISE_MVE_S8_H */
