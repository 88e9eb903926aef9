/*
 * tg_conv_1x1_s8: pointwise convolution as a GEMM over input pixels (see tg_conv_1x1_s8.h).
 */
#include "tg_conv_1x1_s8.h"

#include "tg_conv_gemm_s8.h"

void tg_conv_1x1_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                    const int8_t *filter, const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                    int8_t *output, int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w,
                    int32_t output_offset, int32_t act_min, int32_t act_max, int16_t *scratch)
{
    const int32_t pixels = out_h * out_w;
    int32_t b;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w * in_c;
        int8_t *out = output + b * pixels * out_c;
        int32_t p;
        for (p = 0; p < pixels; p += 2)
        {
            const int32_t n = pixels - p >= 2 ? 2 : 1;
            int32_t j;
            for (j = 0; j < n; ++j)
            {
                const int32_t oy = (p + j) / out_w;
                const int32_t ox = (p + j) - oy * out_w;
                tg_conv_expand_s8(image + (oy * stride_h * in_w + ox * stride_w) * in_c, scratch + j * in_c, 0, in_c,
                                  in_c);
            }
            tg_conv_gemm_s8(scratch, n, in_c, filter, bias, multiplier, shift, 1, out_c, output_offset, act_min,
                            act_max, out + p * out_c, out_c);
        }
    }
}
