/*
 * tg_depthwise_3x3_s8: int8 depthwise 3x3 convolution with depth multiplier 1 and no dilation
 * (the MobileNet / DS-CNN block), the fast path of tg_depthwise_s8.
 */
#ifndef TG_DEPTHWISE_3X3_S8_H
#define TG_DEPTHWISE_3X3_S8_H

#include <stdint.h>

/**
 * @brief 3x3 depthwise convolution, any stride and padding.
 *
 * Layouts: input NHWC [batches, in_h, in_w, channels], output NHWC [batches, out_h, out_w, channels].
 * Taps t = 3 * ky + kx outside the image read `input_zp` (real 0.0).
 *
 * `packed` holds the TFLite weights [1, 3, 3, channels] reordered and sign-extended offline
 * (exactly) to int16: for each group g of four channels (the last one zero-padded) and each tap t,
 * the weights of channels 4g+0, 4g+2, 4g+1, 4g+3 at packed[(g * 9 + t) * 4 + 0..3]. That is the
 * order SXTB16 leaves four input bytes in, so on the DSP path each tap of four channels costs one
 * input load, two SXTB16, one doubleword weight load and four SMLABB/SMLATT; the portable path
 * reads the same array.
 *
 * Every output pixel reads its nine taps through nine row pointers; a tap outside the image points
 * into `scratch`, which the kernel fills with `input_zp` once, so border pixels run the same code.
 *
 * @param bias    [channels] int32: bias - input_zp * sum of the nine taps (offline)
 * @param multiplier, shift  [channels] per-channel requantization (shift > 0: left)
 * @param act_min, act_max   clamp range within -128..127
 * @param scratch  `channels` bytes (the zero-point row)
 */
void tg_depthwise_3x3_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                         const int16_t *packed, const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                         int8_t *output, int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w,
                         int32_t pad_top, int32_t pad_left, int32_t input_zp, int32_t output_offset, int32_t act_min,
                         int32_t act_max, int8_t *scratch);

#endif /* TG_DEPTHWISE_3X3_S8_H */
