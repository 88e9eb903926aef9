/*
 * tg_conv_s8: general int8 2-D convolution (any kernel size, stride, dilation and padding).
 */
#ifndef TG_CONV_S8_H
#define TG_CONV_S8_H

#include <stdint.h>

/**
 * @brief Convolution as im2col + GEMM, two output pixels (one column pair) per pass.
 *
 * Layouts: input NHWC [batches, in_h, in_w, in_c], output NHWC [batches, out_h, out_w, out_c];
 * filter OHWI [out_c, k_h * k_w * in_c] in tg_conv_gemm_s8's pair-interleaved layout. Input pixel
 * (y, x) of output (oy, ox) and tap (ky, kx) is y = oy * stride_h - pad_top + ky * dil_h,
 * x = ox * stride_w - pad_left + kx * dil_w; taps outside the image read `input_zp` (real 0.0),
 * which is what TFLite Micro's skipped taps add once the input offset is folded into the bias.
 *
 * @param bias        [out_c] int32: bias - input_zp * sum(filter[c]) (precomputed offline)
 * @param rq          [out_c][3] requantization values, `mode` TG_RQ_* (tg_requant_fast.h)
 * @param input_zp    input zero point, -128..127
 * @param output_offset output zero point, -128..127
 * @param act_min     lower clamp, -128..act_max (fused activation)
 * @param act_max     upper clamp, act_min..127
 * @param scratch     2 * k_h * k_w * in_c int16 (one column pair), then k_h * k_w * in_c bytes
 *                    (an int8 column, used when k_w * in_c % 4 != 0)
 */
void tg_conv_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c, const int8_t *filter,
                int32_t k_h, int32_t k_w, const int32_t *bias, const int32_t *rq, int32_t mode, int8_t *output,
                int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t input_zp, int32_t output_offset,
                int32_t act_min, int32_t act_max, int16_t *scratch);

#endif /* TG_CONV_S8_H */
