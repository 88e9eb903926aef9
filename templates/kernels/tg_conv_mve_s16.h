/*
 * tg_conv_mve_s16: int16x8 convolution for Helium (MVE, Cortex-M55): TFLite Micro's 16x8 ConvPerChannel
 * (tg_conv_s16's arithmetic), bit-exact, with VMLADAVA.S16 / VMLALDAVA.S16.
 */
#ifndef TG_CONV_MVE_S16_H
#define TG_CONV_MVE_S16_H

#include <stdint.h>

/* tg_conv_mve_s16 modes: how the sums are kept and requantized */
#define TG_CONV_MVE_S16_FAST 0  /* int32 sums, tg_requantize_s64_fast four lanes at once (VRMULH) */
#define TG_CONV_MVE_S16_ACC32 1 /* int32 sums (wrapping), tg_requantize_acc_s16 */
#define TG_CONV_MVE_S16_ACC64 2 /* exact int64 sums, tg_requantize_acc_s16 */

/**
 * @brief output[b, oy, ox, o] = clamp(requant(bias[o] + sum over the window of input * weights[o]))
 *
 * Layouts: input NHWC [batches, in_h, in_w, in_c] int16, output NHWC [batches, out_h, out_w, out_c] int16, both
 * with zero point 0 (taps outside the image add nothing). Per two output pixels the kernel copies their int16
 * windows into `scratch` (im2col, each column zero-padded to d8 = depth rounded up to 8; a 1x1 window without
 * padding and in_c a multiple of 8 is read in place), then per quad of output channels and step of 8 depth values
 * loads each column once (VLDRH.16), each channel's 8 weights widened (VLDRB.S16), and adds their products.
 *
 * Offline (tinygen/ops/conv2d.py, lower_mve_s16): weights in mve_ops.quad_layout with steps of 8 (OHWI rows of
 * depth = kh * kw * in_c, [quad][d8 / 8][4][8], zero rows and zero depth padding); `params` per quad 8 int32
 * {bias[4], fast multiplier[4]}; `mode`:
 * - TG_CONV_MVE_S16_FAST: TFLite's int64 requantization in tg_requantize_s64_fast's exact int32 form (the caller
 *   guarantees it applies and every |bias| + 32768 * sum|w| < 2^31): two pixels x four channels per step of 8
 *   (VMLADAVA.S16 into int32 sums), VRMULH, clamp and a narrowing store four channels at once;
 * - TG_CONV_MVE_S16_ACC32: the same int32 sums (the bias in params, the fast multipliers unused), then
 *   tg_requantize_acc_s16 with rq[2o] (multiplier), rq[2o + 1] (shift) and `wide`: exact for `wide` 0 (TFLite's
 *   int32 accumulator wraps as the sums do) and for `wide` 1 when every |bias| + 32768 * sum|w| < 2^31;
 * - TG_CONV_MVE_S16_ACC64: exact int64 sums (one pixel x four channels, VMLALDAVA.S16) from bias64[o] (int64, zeros
 *   up to a multiple of 4), then tg_requantize_acc_s16 as above (any layer; params unused).
 * act_min..act_max within -32768..32767. scratch: TG_CONV_MVE_S16_SCRATCH_BYTES(kh * kw * in_c) bytes,
 * int16-aligned. The output must not overlap the input.
 */
void tg_conv_mve_s16(const int16_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                     const int8_t *weights, int32_t kh, int32_t kw, const int32_t *params, const int64_t *bias64,
                     const int32_t *rq, int32_t wide, int32_t mode, int16_t *output, int32_t out_h, int32_t out_w,
                     int32_t out_c, int32_t stride_h, int32_t stride_w, int32_t dilation_h, int32_t dilation_w,
                     int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max, int16_t *scratch);

/* the zero-padded int16 columns of two output pixels */
#define TG_CONV_MVE_S16_SCRATCH_BYTES(depth) (4 * (((depth) + 7) & ~7))

#endif /* TG_CONV_MVE_S16_H */
