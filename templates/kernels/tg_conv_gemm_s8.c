/*
 * tg_conv_gemm_s8: int16 columns times int8 weight rows, requantized to int8 (see the header).
 */
#include "tg_conv_gemm_s8.h"

TG_INLINE int8_t tg_gemm_requant(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset,
                              int32_t act_min, int32_t act_max)
{
    int32_t v = tg_requantize_mac(acc, multiplier, shift) + output_offset;
    v = TG_CLAMP(v, act_min, act_max);
    return (int8_t)v;
}

#if TG_DSP
/* Two columns times two weight rows: four accumulators share every load and sign extension. */
static void tg_gemm_2x2(const int16_t *c0, const int16_t *c1, const int8_t *w0, const int8_t *w1, int32_t depth,
                        int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t k;
    const int32_t groups_end = depth & ~3;
    for (k = 0; k < groups_end; k += 4)
    {
        const uint32_t wa = tg_load32(w0 + k);
        const uint32_t wb = tg_load32(w1 + k);
        const int32_t wa02 = tg_sxtb16(wa), wa13 = tg_sxtb16_ror8(wa);
        const int32_t wb02 = tg_sxtb16(wb), wb13 = tg_sxtb16_ror8(wb);
        const int32_t x02 = (int32_t)tg_load32(c0 + k), x13 = (int32_t)tg_load32(c0 + k + 2);
        const int32_t y02 = (int32_t)tg_load32(c1 + k), y13 = (int32_t)tg_load32(c1 + k + 2);
        a00 = tg_smlad(x02, wa02, a00);
        a00 = tg_smlad(x13, wa13, a00);
        a01 = tg_smlad(x02, wb02, a01);
        a01 = tg_smlad(x13, wb13, a01);
        a10 = tg_smlad(y02, wa02, a10);
        a10 = tg_smlad(y13, wa13, a10);
        a11 = tg_smlad(y02, wb02, a11);
        a11 = tg_smlad(y13, wb13, a11);
    }
    for (; k < depth; ++k)
    {
        a00 += c0[k] * w0[k];
        a01 += c0[k] * w1[k];
        a10 += c1[k] * w0[k];
        a11 += c1[k] * w1[k];
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

static int32_t tg_gemm_dot(const int16_t *c, const int8_t *w, int32_t depth, int32_t acc)
{
    int32_t k;
    const int32_t groups_end = depth & ~3;
    for (k = 0; k < groups_end; k += 4)
    {
        const uint32_t wa = tg_load32(w + k);
        acc = tg_smlad((int32_t)tg_load32(c + k), tg_sxtb16(wa), acc);
        acc = tg_smlad((int32_t)tg_load32(c + k + 2), tg_sxtb16_ror8(wa), acc);
    }
    for (; k < depth; ++k)
    {
        acc += c[k] * w[k];
    }
    return acc;
}
#else
static int32_t tg_gemm_dot(const int16_t *c, const int8_t *w, int32_t depth, int32_t acc)
{
    int32_t k;
    for (k = 0; k < depth; ++k)
    {
        acc += c[k] * w[k];
    }
    return acc;
}
#endif

void tg_conv_gemm_s8(const int16_t *cols, int32_t num_cols, int32_t depth, const int8_t *weights,
                     const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int32_t per_channel,
                     int32_t out_ch, int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *out,
                     int32_t out_stride)
{
    const int32_t q = per_channel ? 1 : 0;
    int32_t j = 0;
#if TG_DSP
    for (; j + 2 <= num_cols; j += 2)
    {
        const int16_t *c0 = cols + j * depth;
        const int16_t *c1 = c0 + depth;
        int8_t *o0 = out + j * out_stride;
        int8_t *o1 = o0 + out_stride;
        int32_t c = 0;
        for (; c + 2 <= out_ch; c += 2)
        {
            int32_t acc[4];
            acc[0] = bias[c];
            acc[1] = bias[c + 1];
            acc[2] = bias[c];
            acc[3] = bias[c + 1];
            tg_gemm_2x2(c0, c1, weights + c * depth, weights + (c + 1) * depth, depth, acc);
            o0[c] = tg_gemm_requant(acc[0], multiplier[c * q], shift[c * q], output_offset, act_min, act_max);
            o0[c + 1] =
                tg_gemm_requant(acc[1], multiplier[(c + 1) * q], shift[(c + 1) * q], output_offset, act_min, act_max);
            o1[c] = tg_gemm_requant(acc[2], multiplier[c * q], shift[c * q], output_offset, act_min, act_max);
            o1[c + 1] =
                tg_gemm_requant(acc[3], multiplier[(c + 1) * q], shift[(c + 1) * q], output_offset, act_min, act_max);
        }
        for (; c < out_ch; ++c)
        {
            const int8_t *w = weights + c * depth;
            o0[c] = tg_gemm_requant(tg_gemm_dot(c0, w, depth, bias[c]), multiplier[c * q], shift[c * q],
                                    output_offset, act_min, act_max);
            o1[c] = tg_gemm_requant(tg_gemm_dot(c1, w, depth, bias[c]), multiplier[c * q], shift[c * q],
                                    output_offset, act_min, act_max);
        }
    }
#endif
    for (; j < num_cols; ++j)
    {
        const int16_t *col = cols + j * depth;
        int8_t *o = out + j * out_stride;
        int32_t c;
        for (c = 0; c < out_ch; ++c)
        {
            o[c] = tg_gemm_requant(tg_gemm_dot(col, weights + c * depth, depth, bias[c]), multiplier[c * q],
                                   shift[c * q], output_offset, act_min, act_max);
        }
    }
}
