/*
 * tg_depthwise_s8: general depthwise convolution (see tg_depthwise_s8.h).
 */
#include "tg_depthwise_s8.h"

#include "tg_conv_dsp_s8.h"

void tg_depthwise_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                     const int8_t *filter, int32_t k_h, int32_t k_w, int32_t depth_mult, const int32_t *bias,
                     const int32_t *multiplier, const int32_t *shift, int8_t *output, int32_t out_h, int32_t out_w,
                     int32_t stride_h, int32_t stride_w, int32_t dil_h, int32_t dil_w, int32_t pad_top,
                     int32_t pad_left, int32_t input_zp, int32_t output_offset, int32_t act_min, int32_t act_max,
                     int32_t *scratch)
{
    const int32_t out_c = in_c * depth_mult;
    int32_t b, oy, ox, ky, kx, c, m, o;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w * in_c;
        for (oy = 0; oy < out_h; ++oy)
        {
            for (ox = 0; ox < out_w; ++ox)
            {
                int8_t *out = output + ((b * out_h + oy) * out_w + ox) * out_c;
                for (o = 0; o < out_c; ++o)
                {
                    scratch[o] = bias[o];
                }
                for (ky = 0; ky < k_h; ++ky)
                {
                    const int32_t y = oy * stride_h - pad_top + ky * dil_h;
                    for (kx = 0; kx < k_w; ++kx)
                    {
                        const int32_t x = ox * stride_w - pad_left + kx * dil_w;
                        const int8_t *w = filter + (ky * k_w + kx) * out_c;
                        if (y >= 0 && y < in_h && x >= 0 && x < in_w)
                        {
                            const int8_t *px = image + (y * in_w + x) * in_c;
                            if (depth_mult == 1)
                            {
                                for (c = 0; c < in_c; ++c)
                                {
                                    scratch[c] += px[c] * w[c];
                                }
                            }
                            else
                            {
                                for (c = 0, o = 0; c < in_c; ++c)
                                {
                                    const int32_t v = px[c];
                                    for (m = 0; m < depth_mult; ++m, ++o)
                                    {
                                        scratch[o] += v * w[o];
                                    }
                                }
                            }
                        }
                        else
                        {
                            for (o = 0; o < out_c; ++o)
                            {
                                scratch[o] += input_zp * w[o];
                            }
                        }
                    }
                }
                for (o = 0; o < out_c; ++o)
                {
                    int32_t v = tg_requantize_mac(scratch[o], multiplier[o], shift[o]) + output_offset;
                    out[o] = (int8_t)TG_CLAMP(v, act_min, act_max);
                }
            }
        }
    }
}
