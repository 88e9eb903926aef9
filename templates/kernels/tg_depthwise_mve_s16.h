/*
 * tg_depthwise_mve_s16: int16x8 depthwise convolution for Helium (MVE, Cortex-M55): TFLite Micro's 16x8
 * DepthwiseConvPerChannel (tg_depthwise_s16's arithmetic), bit-exact, eight channels per vector.
 */
#ifndef TG_DEPTHWISE_MVE_S16_H
#define TG_DEPTHWISE_MVE_S16_H

#include <stdint.h>

/**
 * @brief output[b, oy, ox, c] = clamp(requant(bias[c] + sum over the window of input[.., c / M] * weights[.., c]))
 *
 * Layouts: input NHWC [batches, in_h, in_w, in_c] int16, output NHWC [batches, out_h, out_w, in_c * M] int16
 * (M = depth_multiplier; output channel c reads input channel c / M), both with zero point 0 (taps outside the
 * image add nothing).
 *
 * Per output pixel, per octet of channels, per tap of the window inside the image: one load of the eight inputs
 * (VLDRH.16; with M > 1 a gather by the offsets c / M the kernel writes to `scratch`), one widening load of the
 * eight weights (VLDRB.S16), VMULLB.S16 and VMULLT.S16 (the int32 products of the even and the odd channels) added
 * to two int32x4 sums; a channel tail is predicated.
 *
 * Offline (tinygen/ops/depthwise_conv2d.py, lower_mve_s16): weights [kh * kw][c8] int8 (c8 = in_c * M rounded up
 * to 8, zeros past the channels); `params` per octet 16 int32 {bias of the even channels[4], of the odd[4], fast
 * multipliers of the even[4], of the odd[4]}. The caller guarantees every |bias| + 32768 * sum|w| < 2^31 or
 * `wide` 0 (TFLite's int32 accumulator, which wraps as the int32 sums do). `fast` 1: tg_requantize_s64_fast's exact
 * int32 form of TFLite's int64 requantization (VRMULH, clamp, narrowing interleave, eight channels at once; the
 * caller guarantees it applies); `fast` 0: tg_requantize_acc_s16 per channel with rq[2c] (multiplier), rq[2c + 1]
 * (shift) and `wide`. act_min..act_max within -32768..32767.
 * scratch: TG_DEPTHWISE_MVE_S16_SCRATCH_BYTES(in_c * M) bytes, int16-aligned (unused, may be NULL, for M 1).
 * The output must not overlap the input.
 */
void tg_depthwise_mve_s16(const int16_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                          const int8_t *weights, int32_t kh, int32_t kw, int32_t depth_multiplier,
                          const int32_t *params, const int32_t *rq, int32_t wide, int32_t fast, int16_t *output,
                          int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w, int32_t dilation_h,
                          int32_t dilation_w, int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max,
                          uint16_t *scratch);

/* the input channel of each output channel (gather offsets), for depth multipliers above 1 */
#define TG_DEPTHWISE_MVE_S16_SCRATCH_BYTES(channels) (2 * (((channels) + 7) & ~7))

#endif /* TG_DEPTHWISE_MVE_S16_H */
