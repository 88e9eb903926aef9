/*
 * tg_fully_connected_s8: vector x matrix per batch row (see tg_fully_connected_s8.h).
 */
#include "tg_fully_connected_s8.h"

#include "tg_conv_dsp_s8.h"

TG_INLINE int8_t tg_fc_out(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset, int32_t act_min,
                        int32_t act_max)
{
    const int32_t v = tg_requantize_mac(acc, multiplier, shift) + output_offset;
    return (int8_t)TG_CLAMP(v, act_min, act_max);
}

static int32_t tg_fc_dot(const int8_t *x, const int8_t *w, int32_t n, int32_t acc)
{
    int32_t k = 0;
#if TG_DSP
    for (; k + 4 <= n; k += 4)
    {
        const uint32_t xv = tg_load32(x + k), wv = tg_load32(w + k);
        acc = tg_smlad(tg_sxtb16(xv), tg_sxtb16(wv), acc);
        acc = tg_smlad(tg_sxtb16_ror8(xv), tg_sxtb16_ror8(wv), acc);
    }
#endif
    for (; k < n; ++k)
    {
        acc += x[k] * w[k];
    }
    return acc;
}

void tg_fully_connected_s8(const int8_t *input, int32_t batches, int32_t in_features, const int8_t *weights,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int32_t per_channel,
                           int8_t *output, int32_t out_features, int32_t output_offset, int32_t act_min,
                           int32_t act_max)
{
    const int32_t q = per_channel ? 1 : 0;
    int32_t b;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *x = input + b * in_features;
        int8_t *out = output + b * out_features;
        int32_t o = 0;
#if TG_DSP
        for (; o + 4 <= out_features; o += 4)
        {
            /* four weight rows share each sign-extended group of four inputs */
            const int8_t *w0 = weights + o * in_features;
            const int8_t *w1 = w0 + in_features, *w2 = w1 + in_features, *w3 = w2 + in_features;
            int32_t acc0 = bias[o], acc1 = bias[o + 1], acc2 = bias[o + 2], acc3 = bias[o + 3];
            int32_t k = 0;
            for (; k + 4 <= in_features; k += 4)
            {
                const uint32_t xv = tg_load32(x + k);
                const int32_t x02 = tg_sxtb16(xv), x13 = tg_sxtb16_ror8(xv);
                uint32_t wv = tg_load32(w0 + k);
                acc0 = tg_smlad(x02, tg_sxtb16(wv), acc0);
                acc0 = tg_smlad(x13, tg_sxtb16_ror8(wv), acc0);
                wv = tg_load32(w1 + k);
                acc1 = tg_smlad(x02, tg_sxtb16(wv), acc1);
                acc1 = tg_smlad(x13, tg_sxtb16_ror8(wv), acc1);
                wv = tg_load32(w2 + k);
                acc2 = tg_smlad(x02, tg_sxtb16(wv), acc2);
                acc2 = tg_smlad(x13, tg_sxtb16_ror8(wv), acc2);
                wv = tg_load32(w3 + k);
                acc3 = tg_smlad(x02, tg_sxtb16(wv), acc3);
                acc3 = tg_smlad(x13, tg_sxtb16_ror8(wv), acc3);
            }
            for (; k < in_features; ++k)
            {
                acc0 += x[k] * w0[k];
                acc1 += x[k] * w1[k];
                acc2 += x[k] * w2[k];
                acc3 += x[k] * w3[k];
            }
            out[o] = tg_fc_out(acc0, multiplier[o * q], shift[o * q], output_offset, act_min, act_max);
            out[o + 1] = tg_fc_out(acc1, multiplier[(o + 1) * q], shift[(o + 1) * q], output_offset, act_min, act_max);
            out[o + 2] = tg_fc_out(acc2, multiplier[(o + 2) * q], shift[(o + 2) * q], output_offset, act_min, act_max);
            out[o + 3] = tg_fc_out(acc3, multiplier[(o + 3) * q], shift[(o + 3) * q], output_offset, act_min, act_max);
        }
#endif
        for (; o < out_features; ++o)
        {
            const int32_t acc = tg_fc_dot(x, weights + o * in_features, in_features, bias[o]);
            out[o] = tg_fc_out(acc, multiplier[o * q], shift[o * q], output_offset, act_min, act_max);
        }
    }
}
