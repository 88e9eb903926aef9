/*
 * tg_conv_s8: general int8 convolution, im2col + tg_conv_gemm_s8 (see tg_conv_s8.h).
 */
#include "tg_conv_s8.h"

#include "tg_conv_gemm_s8.h"

void tg_conv_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c, const int8_t *filter,
                int32_t k_h, int32_t k_w, const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                int8_t *output, int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w,
                int32_t dil_h, int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t input_zp,
                int32_t output_offset, int32_t act_min, int32_t act_max, int16_t *scratch)
{
    const int32_t depth = k_h * k_w * in_c;
    const int32_t pixels = out_h * out_w;
    int32_t b;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w * in_c;
        int8_t *out = output + b * pixels * out_c;
        int32_t filled = 0;
        int32_t p;
        for (p = 0; p < pixels; ++p)
        {
            const int32_t oy = p / out_w;
            const int32_t ox = p - oy * out_w;
            int16_t *col = scratch + filled * depth;
            const int32_t x0 = ox * stride_w - pad_left;
            const int32_t y0 = oy * stride_h - pad_top;
            int32_t ky, kx, k = 0;
            if (dil_w == 1 && x0 >= 0 && x0 + k_w <= in_w && y0 >= 0 && y0 + (k_h - 1) * dil_h < in_h)
            {
                /* interior window: each kernel row is one contiguous span, no padding */
                const int32_t span = k_w * in_c;
                for (ky = 0; ky < k_h; ++ky, k += span)
                {
                    tg_conv_expand_s8(image + ((y0 + ky * dil_h) * in_w + x0) * in_c, col, k, span, depth);
                }
            }
            else
            {
                for (ky = 0; ky < k_h; ++ky)
                {
                    const int32_t y = y0 + ky * dil_h;
                    if (y < 0 || y >= in_h)
                    {
                        tg_conv_fill_s8(col, k, k_w * in_c, input_zp, depth);
                        k += k_w * in_c;
                    }
                    else if (dil_w == 1)
                    {
                        /* the taps of one kernel row are one contiguous span of the input row */
                        const int32_t left = x0 < 0 ? TG_MIN(-x0, k_w) : 0;
                        const int32_t right = TG_MIN(TG_MAX(x0 + k_w - in_w, 0), k_w - left);
                        const int32_t inside = k_w - left - right;
                        tg_conv_fill_s8(col, k, left * in_c, input_zp, depth);
                        k += left * in_c;
                        if (inside > 0)
                        {
                            tg_conv_expand_s8(image + (y * in_w + x0 + left) * in_c, col, k, inside * in_c, depth);
                            k += inside * in_c;
                        }
                        tg_conv_fill_s8(col, k, right * in_c, input_zp, depth);
                        k += right * in_c;
                    }
                    else
                    {
                        for (kx = 0; kx < k_w; ++kx)
                        {
                            const int32_t x = x0 + kx * dil_w;
                            if (x >= 0 && x < in_w)
                            {
                                tg_conv_expand_s8(image + (y * in_w + x) * in_c, col, k, in_c, depth);
                            }
                            else
                            {
                                tg_conv_fill_s8(col, k, in_c, input_zp, depth);
                            }
                            k += in_c;
                        }
                    }
                }
            }
            if (++filled == 2)
            {
                tg_conv_gemm_s8(scratch, 2, depth, filter, bias, multiplier, shift, 1, out_c, output_offset, act_min,
                                act_max, out + (p - 1) * out_c, out_c);
                filled = 0;
            }
        }
        if (filled)
        {
            tg_conv_gemm_s8(scratch, 1, depth, filter, bias, multiplier, shift, 1, out_c, output_offset, act_min,
                            act_max, out + (pixels - 1) * out_c, out_c);
        }
    }
}
