/*
 * tg_depthwise_s8: general depthwise convolution (see tg_depthwise_s8.h).
 */
#include "tg_depthwise_s8.h"

#include "tg_conv_dsp_s8.h"
#include "tg_requant_fast.h"

/* requantize and store the sums of output channels o..o+3 */
TG_INLINE void tg_dw_store4(int8_t *out, const int32_t *rq, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                            int32_t mode, int32_t output_offset, int32_t act_min, int32_t act_max)
{
    out[0] = tg_rq_any(a0, rq, mode, output_offset, act_min, act_max);
    out[1] = tg_rq_any(a1, rq + 3, mode, output_offset, act_min, act_max);
    out[2] = tg_rq_any(a2, rq + 6, mode, output_offset, act_min, act_max);
    out[3] = tg_rq_any(a3, rq + 9, mode, output_offset, act_min, act_max);
}

/* multiplier 1: the output channels of one pixel, `taps` input pointers (channel 0 of the tap's pixel) */
static void tg_dw_pixel_m1(const int8_t **tap, int32_t taps, int32_t channels, const int8_t *filter,
                           const int32_t *bias, const int32_t *rq, int32_t mode, int8_t *out, int32_t output_offset,
                           int32_t act_min, int32_t act_max)
{
    int32_t c = 0, t;
    for (; c + 4 <= channels; c += 4)
    {
        int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
        const int8_t *w = filter + c;
        for (t = 0; t < taps; ++t)
        {
            const int8_t *x = tap[t] + c;
#if TG_DSP
            /* (x0, x2), (x1, x3) and the weights likewise: one MAC per channel on its halfword */
            const uint32_t xv = tg_load32(x), wv = tg_load32(w);
            const int32_t xe = tg_sxtb16(xv), xo = tg_sxtb16_ror8(xv);
            const int32_t we = tg_sxtb16(wv), wo = tg_sxtb16_ror8(wv);
            a0 = tg_smlabb(xe, we, a0);
            a1 = tg_smlabb(xo, wo, a1);
            a2 = tg_smlatt(xe, we, a2);
            a3 = tg_smlatt(xo, wo, a3);
#else
            a0 += x[0] * w[0];
            a1 += x[1] * w[1];
            a2 += x[2] * w[2];
            a3 += x[3] * w[3];
#endif
            w += channels;
        }
        tg_dw_store4(out + c, rq + 3 * c, a0, a1, a2, a3, mode, output_offset, act_min, act_max);
    }
    for (; c < channels; ++c)
    {
        int32_t a = bias[c];
        for (t = 0; t < taps; ++t)
        {
            a += tap[t][c] * filter[t * channels + c];
        }
        out[c] = tg_rq_any(a, rq + 3 * c, mode, output_offset, act_min, act_max);
    }
}

/* multiplier > 1: output channel o reads input channel o / mult */
static void tg_dw_pixel_mult(const int8_t **tap, int32_t taps, int32_t out_c, int32_t mult,
                             const int8_t *filter, const int32_t *bias, const int32_t *rq, int32_t mode, int8_t *out,
                             int32_t output_offset, int32_t act_min, int32_t act_max)
{
    int32_t o = 0, t;
    for (; o + 4 <= out_c; o += 4)
    {
        const int32_t i0 = o / mult, i1 = (o + 1) / mult, i2 = (o + 2) / mult, i3 = (o + 3) / mult;
        int32_t a0 = bias[o], a1 = bias[o + 1], a2 = bias[o + 2], a3 = bias[o + 3];
        const int8_t *w = filter + o;
        for (t = 0; t < taps; ++t)
        {
            const int8_t *x = tap[t];
#if TG_DSP
            const uint32_t wv = tg_load32(w);
            const int32_t we = tg_sxtb16(wv), wo = tg_sxtb16_ror8(wv);
            a0 = tg_smlabb(x[i0], we, a0);
            a1 = tg_smlabb(x[i1], wo, a1);
            a2 = tg_smlabt(x[i2], we, a2);
            a3 = tg_smlabt(x[i3], wo, a3);
#else
            a0 += x[i0] * w[0];
            a1 += x[i1] * w[1];
            a2 += x[i2] * w[2];
            a3 += x[i3] * w[3];
#endif
            w += out_c;
        }
        tg_dw_store4(out + o, rq + 3 * o, a0, a1, a2, a3, mode, output_offset, act_min, act_max);
    }
    for (; o < out_c; ++o)
    {
        const int32_t i = o / mult;
        int32_t a = bias[o];
        for (t = 0; t < taps; ++t)
        {
            a += tap[t][i] * filter[t * out_c + o];
        }
        out[o] = tg_rq_any(a, rq + 3 * o, mode, output_offset, act_min, act_max);
    }
}

void tg_depthwise_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                     const int8_t *filter, int32_t k_h, int32_t k_w, int32_t depth_mult, const int32_t *bias,
                     const int32_t *rq, int32_t mode, int8_t *output, int32_t out_h, int32_t out_w,
                     int32_t stride_h, int32_t stride_w, int32_t dil_h, int32_t dil_w, int32_t pad_top,
                     int32_t pad_left, int32_t input_zp, int32_t output_offset, int32_t act_min, int32_t act_max,
                     void *scratch)
{
    const int32_t out_c = in_c * depth_mult, taps = k_h * k_w;
    const int8_t **tap = (const int8_t **)scratch;
    int8_t *pad = (int8_t *)scratch + 8 * taps; /* in_c zero points: what a padding tap reads */
    int32_t b, oy, ox, ky, kx, c;
    for (c = 0; c < in_c + 4; ++c)
    {
        pad[c] = (int8_t)input_zp;
    }
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w * in_c;
        for (oy = 0; oy < out_h; ++oy)
        {
            for (ox = 0; ox < out_w; ++ox)
            {
                int8_t *out = output + ((b * out_h + oy) * out_w + ox) * out_c;
                int32_t t = 0;
                for (ky = 0; ky < k_h; ++ky)
                {
                    const int32_t y = oy * stride_h - pad_top + ky * dil_h;
                    for (kx = 0; kx < k_w; ++kx, ++t)
                    {
                        const int32_t x = ox * stride_w - pad_left + kx * dil_w;
                        tap[t] = (y >= 0 && y < in_h && x >= 0 && x < in_w) ? image + (y * in_w + x) * in_c : pad;
                    }
                }
                if (depth_mult == 1)
                {
                    tg_dw_pixel_m1(tap, taps, in_c, filter, bias, rq, mode, out, output_offset, act_min, act_max);
                }
                else
                {
                    tg_dw_pixel_mult(tap, taps, out_c, depth_mult, filter, bias, rq, mode, out, output_offset,
                                     act_min, act_max);
                }
            }
        }
    }
}
