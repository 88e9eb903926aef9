/*
 * tg_conv_1x1_s8: pointwise convolution as a GEMM over pairs of input pixels (see tg_conv_1x1_s8.h).
 */
#include "tg_conv_1x1_s8.h"

#include "tg_conv_gemm_s8.h"

void tg_conv_1x1_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                    const int8_t *filter, const int32_t *bias, const int32_t *rq, int32_t mode, int8_t *output,
                    int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w,
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
            /* both pixels are read into the scratch before any output is written (in-place safe);
               a last odd pixel fills both columns */
            const int32_t second = pixels - p >= 2 ? 1 : 0;
            int32_t j;
            for (j = 0; j < 2; ++j)
            {
                const int32_t q = p + j * second;
                const int32_t oy = q / out_w;
                const int32_t ox = q - oy * out_w;
                tg_pair_put(scratch, j, in_c, 0, image + (oy * stride_h * in_w + ox * stride_w) * in_c, in_c);
            }
            tg_conv_gemm_s8(scratch, second, in_c, filter, bias, rq, mode, out_c, output_offset, act_min, act_max,
                            out + p * out_c, out_c);
        }
    }
}
