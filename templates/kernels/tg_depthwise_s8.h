/*
 * tg_depthwise_s8: general int8 depthwise convolution (any size, stride, dilation, padding and
 * depth multiplier).
 */
#ifndef TG_DEPTHWISE_S8_H
#define TG_DEPTHWISE_S8_H

#include <stdint.h>

/**
 * @brief Depthwise convolution: output channel o = c * depth_mult + m filters input channel c.
 *
 * Layouts are TFLite's: input NHWC [batches, in_h, in_w, in_c], filter [1, k_h, k_w, out_c] with
 * out_c = in_c * depth_mult, output NHWC [batches, out_h, out_w, out_c]. Taps outside the image
 * read `input_zp` (real 0.0). For each output pixel the kernel accumulates tap by tap over
 * contiguous channels into `scratch`, then requantizes.
 *
 * @param bias        [out_c] int32: bias - input_zp * sum over taps of filter[.., o] (offline)
 * @param multiplier  [out_c] Q0.31 per-channel multipliers
 * @param shift       [out_c] per-channel shifts (> 0 left)
 * @param act_min     lower clamp, -128..act_max;  act_max: upper clamp, act_min..127
 * @param scratch     out_c int32 accumulators
 */
void tg_depthwise_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                     const int8_t *filter, int32_t k_h, int32_t k_w, int32_t depth_mult, const int32_t *bias,
                     const int32_t *multiplier, const int32_t *shift, int8_t *output, int32_t out_h, int32_t out_w,
                     int32_t stride_h, int32_t stride_w, int32_t dil_h, int32_t dil_w, int32_t pad_top,
                     int32_t pad_left, int32_t input_zp, int32_t output_offset, int32_t act_min, int32_t act_max,
                     int32_t *scratch);

#endif /* TG_DEPTHWISE_S8_H */
