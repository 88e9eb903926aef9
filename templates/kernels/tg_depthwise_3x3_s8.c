/*
 * tg_depthwise_3x3_s8: 3x3 depthwise convolution fast path (see tg_depthwise_3x3_s8.h).
 */
#include "tg_depthwise_3x3_s8.h"

#include "tg_conv_dsp_s8.h"

/* position of channel j (0..3) of a group in the packed order 0, 2, 1, 3 */
#define TG_DW3_SLOT(j) ((((j) & 1) << 1) | ((j) >> 1))

TG_INLINE int8_t tg_dw3_out(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset, int32_t act_min,
                            int32_t act_max)
{
    const int32_t v = tg_requantize_mac(acc, multiplier, shift) + output_offset;
    return (int8_t)TG_CLAMP(v, act_min, act_max);
}

#if TG_DSP
/* One tap of four channels: x holds channels 0..3, w the packed int16 weights 0, 2, 1, 3. */
#define TG_DW3_TAP(px, w)                                                                                           \
    do                                                                                                             \
    {                                                                                                              \
        const uint32_t x_ = tg_load32(px);                                                                         \
        const int32_t e_ = tg_sxtb16(x_), o_ = tg_sxtb16_ror8(x_);                                                 \
        const int32_t we_ = (int32_t)tg_load32(w), wo_ = (int32_t)tg_load32((w) + 2);                              \
        acc0 = tg_smlabb(e_, we_, acc0);                                                                           \
        acc2 = tg_smlatt(e_, we_, acc2);                                                                           \
        acc1 = tg_smlabb(o_, wo_, acc1);                                                                           \
        acc3 = tg_smlatt(o_, wo_, acc3);                                                                           \
    } while (0)
#endif

void tg_depthwise_3x3_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                         const int16_t *packed, const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                         int8_t *output, int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w,
                         int32_t pad_top, int32_t pad_left, int32_t input_zp, int32_t output_offset, int32_t act_min,
                         int32_t act_max, int8_t *scratch)
{
    int32_t b, oy, ox, c, t;
    int32_t tap_offset[9]; /* of tap t from the window's top-left input pixel */
    for (t = 0; t < 9; ++t)
    {
        tap_offset[t] = ((t / 3) * in_w + t % 3) * channels;
    }
    for (c = 0; c < channels; ++c)
    {
        scratch[c] = (int8_t)input_zp;
    }
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w * channels;
        for (oy = 0; oy < out_h; ++oy)
        {
            const int32_t y0 = oy * stride_h - pad_top;
            for (ox = 0; ox < out_w; ++ox)
            {
                const int32_t x0 = ox * stride_w - pad_left;
                int8_t *out = output + ((b * out_h + oy) * out_w + ox) * channels;
                /* tap t reads channel c at taps[t][c]: the input pixel, or the zero-point row */
                const int8_t *taps[9];
                if (y0 >= 0 && y0 + 3 <= in_h && x0 >= 0 && x0 + 3 <= in_w)
                {
                    const int8_t *origin = image + (y0 * in_w + x0) * channels;
                    for (t = 0; t < 9; ++t)
                    {
                        taps[t] = origin + tap_offset[t];
                    }
                }
                else
                {
                    for (t = 0; t < 9; ++t)
                    {
                        const int32_t y = y0 + t / 3, x = x0 + t % 3;
                        taps[t] = (y >= 0 && y < in_h && x >= 0 && x < in_w) ? image + (y * in_w + x) * channels
                                                                            : scratch;
                    }
                }
                c = 0;
#if TG_DSP
                for (; c + 4 <= channels; c += 4)
                {
                    const int16_t *w = packed + (c >> 2) * 36;
                    int32_t acc0 = bias[c], acc1 = bias[c + 1], acc2 = bias[c + 2], acc3 = bias[c + 3];
                    TG_DW3_TAP(taps[0] + c, w);
                    TG_DW3_TAP(taps[1] + c, w + 4);
                    TG_DW3_TAP(taps[2] + c, w + 8);
                    TG_DW3_TAP(taps[3] + c, w + 12);
                    TG_DW3_TAP(taps[4] + c, w + 16);
                    TG_DW3_TAP(taps[5] + c, w + 20);
                    TG_DW3_TAP(taps[6] + c, w + 24);
                    TG_DW3_TAP(taps[7] + c, w + 28);
                    TG_DW3_TAP(taps[8] + c, w + 32);
                    out[c] = tg_dw3_out(acc0, multiplier[c], shift[c], output_offset, act_min, act_max);
                    out[c + 1] = tg_dw3_out(acc1, multiplier[c + 1], shift[c + 1], output_offset, act_min, act_max);
                    out[c + 2] = tg_dw3_out(acc2, multiplier[c + 2], shift[c + 2], output_offset, act_min, act_max);
                    out[c + 3] = tg_dw3_out(acc3, multiplier[c + 3], shift[c + 3], output_offset, act_min, act_max);
                }
#endif
                for (; c < channels; ++c)
                {
                    const int16_t *w = packed + (c >> 2) * 36 + TG_DW3_SLOT(c & 3); /* tap t at w[4t] */
                    int32_t acc = bias[c];
                    acc += taps[0][c] * w[0] + taps[1][c] * w[4] + taps[2][c] * w[8];
                    acc += taps[3][c] * w[12] + taps[4][c] * w[16] + taps[5][c] * w[20];
                    acc += taps[6][c] * w[24] + taps[7][c] * w[28] + taps[8][c] * w[32];
                    out[c] = tg_dw3_out(acc, multiplier[c], shift[c], output_offset, act_min, act_max);
                }
            }
        }
    }
}
