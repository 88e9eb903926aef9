/*
 * tg_depthwise_s16: int16x8 depthwise convolution: int16 activations (zero point 0), int8 weights with
 * per-channel (or per-tensor) scales (TFLite Micro's reference_integer_ops::DepthwiseConvPerChannel on int16).
 */
#ifndef TG_DEPTHWISE_S16_H
#define TG_DEPTHWISE_S16_H

#include <stdint.h>

/**
 * @brief output[b, oy, ox, c] = clamp(requant(bias[c] + sum over the window of input[.., c / M] * weights[.., c]))
 *
 * Layouts: input NHWC [batches, in_h, in_w, in_c] int16, output NHWC [batches, out_h, out_w, in_c * M] int16
 * (M = depth_multiplier; output channel c reads input channel c / M), both with zero point 0 (taps outside the
 * image add nothing). Weights TFLite's [1, kh, kw, in_c * M] int8.
 *
 * Requantization: without `fast` (NULL), bias int64 (NULL: none), then tg_requantize_acc_s16 with multipliers[c],
 * shifts[c] and `wide` (1: TFLite's int64 accumulator, the caller guarantees |bias| + 32768 * sum|w| < 2^47 and
 * shifts <= 7; 0: its int32 accumulator, the sum wrapped). With `fast`, the pairs fast[2c] = bias (int32),
 * fast[2c + 1] = the multiplier of tg_requantize_s64_fast, which the caller guarantees computes TFLite's int64
 * requantization exactly and every |bias| + 32768 * sum|w| < 2^31 (bias, multipliers, shifts unused).
 *
 * Fast form, multiplier 1, fewer than 512 taps: four channels at a time in int32, over the list of the window's
 * taps inside the image (offsets of input and weights) the kernel writes to `scratch` whenever the clipping
 * changes (TG_DEPTHWISE_S16_SCRATCH_BYTES, int32-aligned); on the DSP path one word of four weights gives,
 * sign-extended by SXTB16, the pairs (w0, w2) and (w1, w3), each multiplied with a half of the input words (x0, x1)
 * and (x2, x3) by SMLABB/SMLATB/SMLABT/SMLATT. Other channels and multipliers: one channel at a time in int64.
 * act_min..act_max within -32768..32767. The output must not overlap the input.
 */
void tg_depthwise_s16(const int16_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                      const int8_t *weights, int32_t kh, int32_t kw, int32_t depth_multiplier, const int64_t *bias,
                      const int32_t *multipliers, const int32_t *shifts, const int32_t *fast, int32_t wide,
                      int16_t *output, int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w,
                      int32_t dilation_h, int32_t dilation_w, int32_t pad_top, int32_t pad_left, int32_t act_min,
                      int32_t act_max, int32_t *scratch);

/* the input and weight offsets of each tap of a window */
#define TG_DEPTHWISE_S16_SCRATCH_BYTES(kh, kw) (8 * (kh) * (kw))

#endif /* TG_DEPTHWISE_S16_H */
