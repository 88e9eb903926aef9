/*
 * tg_transpose_conv_s8: int8 2-D transposed convolution (TFLite's TRANSPOSE_CONV, bit-exact with TFLite Micro).
 */
#ifndef TG_TRANSPOSE_CONV_S8_H
#define TG_TRANSPOSE_CONV_S8_H

#include <stdint.h>

/**
 * @brief Transposed convolution, gathered per output pixel (no scratch).
 *
 * TFLite Micro scatters: input pixel (iy, ix) and tap (ky, kx) add (x + input_offset) * w to output pixel
 * (iy * stride_h - pad_top + ky, ix * stride_w - pad_left + kx) when it lies inside the output. This kernel
 * computes each output pixel (oy, ox) from the taps that land on it: ky = oy + pad_top - iy * stride_h in
 * 0..k_h-1 for every input row iy in 0..in_h-1 (columns alike), so
 *   acc[c] = bias[c] + sum over those (iy, ix) of sum_i (x[iy, ix, i] + input_offset) * w[c, ky, kx, i]
 * in int32: the same sum in another order, exact because the lowering checked that no partial sum can leave
 * int32 (|bias| + 255 * sum|w[c]| <= INT32_MAX). Then out = clamp(requant(acc) + output_offset) per channel
 * (tg_requant_fast.h). On the DSP path (TG_DSP) groups of four inputs are widened with the offset added
 * (SXTAB16) and multiplied in pairs (SMLAD).
 *
 * Layouts: input NHWC [batches, in_h, in_w, in_c], output NHWC [batches, out_h, out_w, out_c], filter OHWI
 * [out_c, k_h, k_w, in_c] (TFLite's, unchanged; any alignment).
 *
 * @param params        per output channel: bias, then the three requantization values of tg_requant_fast.h
 *                      (4 int32 per channel)
 * @param mode          TG_RQ_GENERAL, TG_RQ_FAST or TG_RQ_FAST_FULL (tg_requant_fast.h)
 * @param pad_top       TFLite Micro's padding_values.height (from the output size), >= 0
 * @param pad_left      TFLite Micro's padding_values.width, >= 0
 * @param input_offset  minus the input zero point, -127..128
 * @param output_offset output zero point, -128..127
 * @param act_min       lower clamp, -128..act_max (fused activation)
 * @param act_max       upper clamp, act_min..127
 * The output must not overlap the input.
 */
void tg_transpose_conv_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                          const int8_t *filter, int32_t k_h, int32_t k_w, const int32_t *params, int32_t mode,
                          int8_t *output, int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h,
                          int32_t stride_w, int32_t pad_top, int32_t pad_left, int32_t input_offset,
                          int32_t output_offset, int32_t act_min, int32_t act_max);

#endif /* TG_TRANSPOSE_CONV_S8_H */
