/*
 * tg_conv_s16: int16x8 convolution: int16 activations (zero point 0), int8 weights with per-channel (or
 * per-tensor) scales (TFLite Micro's reference_integer_ops::ConvPerChannel on int16).
 */
#ifndef TG_CONV_S16_H
#define TG_CONV_S16_H

#include <stdint.h>

/**
 * @brief output[b, oy, ox, o] = clamp(requant(bias[o] + sum over the window of input * weights[o]))
 *
 * Layouts: input NHWC [batches, in_h, in_w, in_c] int16, output NHWC [batches, out_h, out_w, out_c] int16, both
 * with zero point 0 (taps outside the image add nothing). Weights OHWI flattened to rows of depth = kh * kw * in_c
 * per output channel, each row's complete groups of four w0 w1 w2 w3 stored as w0 w2 w1 w3 (tg_fully_connected_s16's
 * layout, same size; the depth % 4 tail as it is), so that on the DSP path SXTB16 of a group gives (w0, w1) and,
 * rotated by 8, (w2, w3): each pairs with a word of two int16 column values in one SMLAD.
 *
 * Per two output pixels the kernel copies their int16 windows (im2col; a 1x1 window without padding is read in
 * place), then computes two output channels of both pixels per step. Sums are exact: int32 partial sums over at
 * most 256 depth values (|x * w| <= 2^22) added into an int64, then bias[o] (int64; NULL: none) and
 * tg_requantize_acc_s16 with multipliers[o], shifts[o] and `wide` (1: TFLite's int64 accumulator, the caller
 * guarantees |bias| + 32768 * sum|w| < 2^47 and shifts <= 7; 0: its int32 accumulator, the sum wrapped).
 * `fast` (NULL: not used): the pairs fast[2o] = bias (int32), fast[2o + 1] = the multiplier of
 * tg_requantize_s64_fast, which the caller guarantees computes TFLite's int64 requantization exactly and every
 * |bias| + 32768 * sum|w| < 2^31: the same results in int32 (bias, multipliers, shifts unused).
 * act_min..act_max within -32768..32767. scratch: TG_CONV_S16_SCRATCH_BYTES(kh * kw * in_c) bytes, int16-aligned.
 * The output must not overlap the input.
 */
void tg_conv_s16(const int16_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                 const int8_t *weights, int32_t kh, int32_t kw, const int64_t *bias, const int32_t *multipliers,
                 const int32_t *shifts, const int32_t *fast, int32_t wide, int16_t *output, int32_t out_h,
                 int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w, int32_t dilation_h,
                 int32_t dilation_w, int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max,
                 int16_t *scratch);

/* the int16 columns of two output pixels */
#define TG_CONV_S16_SCRATCH_BYTES(depth) (4 * (depth))

#endif /* TG_CONV_S16_H */
