/*
 * tg_depthwise_1d_s8: depthwise convolution with a 1 x K or K x 1 filter (see tg_depthwise_1d_s8.h).
 */
#include "tg_depthwise_1d_s8.h"

#include "tg_conv_dsp_s8.h"
#include "tg_requant_fast.h"

/* line[j] = input value j - pad (`step` apart in src; NULL: a padding line), input_zp outside 0..len-1 */
static void tg_dw1d_fill(int16_t *line, int32_t width, const int8_t *src, int32_t len, int32_t step, int32_t pad,
                         int32_t input_zp)
{
    const int32_t lo = src != NULL ? TG_MIN(TG_MAX(pad, 0), width) : width;
    const int32_t hi = src != NULL ? TG_MAX(TG_MIN(pad + len, width), lo) : width;
    int32_t j, x;
    for (j = 0; j < lo; ++j)
    {
        line[j] = (int16_t)input_zp;
    }
    x = (j - pad) * step;
    for (; j + 4 <= hi; j += 4, x += 4 * step)
    {
        line[j] = src[x];
        line[j + 1] = src[x + step];
        line[j + 2] = src[x + 2 * step];
        line[j + 3] = src[x + 3 * step];
    }
    for (; j < hi; ++j, x += step)
    {
        line[j] = src[x];
    }
    for (; j < width; ++j)
    {
        line[j] = (int16_t)input_zp;
    }
}

/* one channel's outputs along a line: out[i * out_step] from line values i * stride .. i * stride + 2 * pairs - 1,
   w[p] the tap pairs (on the portable path, ws the taps); `pairs` and `mode` are constants where inlined (then
   the weights sit in registers and the tap loop unrolls) */
TG_INLINE void tg_dw1d_run(const int16_t *line, int32_t n, int32_t stride, const int32_t *w, const int16_t *ws,
                           const int32_t pairs, int32_t bias, const int32_t *rq, const int32_t mode, int8_t *out,
                           int32_t out_step, int32_t output_offset, int32_t act_min, int32_t act_max)
{
    /* local copies: the int8 stores cannot alias them, so they stay in registers */
    const int32_t q[3] = {rq[0], rq[1], rq[2]};
    int32_t i, p;
#if TG_DSP
    const int32_t w0 = w[0], w1 = pairs > 1 ? w[1] : 0, w2 = pairs > 2 ? w[2] : 0, w3 = pairs > 3 ? w[3] : 0;
    const int32_t w4 = pairs > 4 ? w[4] : 0;
    (void)ws;
#else
    const int32_t v0 = ws[0], v1 = ws[1], v2 = pairs > 1 ? ws[2] : 0, v3 = pairs > 1 ? ws[3] : 0;
    const int32_t v4 = pairs > 2 ? ws[4] : 0, v5 = pairs > 2 ? ws[5] : 0, v6 = pairs > 3 ? ws[6] : 0;
    const int32_t v7 = pairs > 3 ? ws[7] : 0, v8 = pairs > 4 ? ws[8] : 0, v9 = pairs > 4 ? ws[9] : 0;
    (void)w;
#endif
    for (i = 0; i < n; ++i, line += stride)
    {
        int32_t acc = bias;
#if TG_DSP
        if (pairs <= 5)
        {
            acc = tg_smlad((int32_t)tg_load32(line), w0, acc);
            if (pairs > 1)
            {
                acc = tg_smlad((int32_t)tg_load32(line + 2), w1, acc);
            }
            if (pairs > 2)
            {
                acc = tg_smlad((int32_t)tg_load32(line + 4), w2, acc);
            }
            if (pairs > 3)
            {
                acc = tg_smlad((int32_t)tg_load32(line + 6), w3, acc);
            }
            if (pairs > 4)
            {
                acc = tg_smlad((int32_t)tg_load32(line + 8), w4, acc);
            }
        }
        else
        {
            for (p = 0; p < pairs; ++p)
            {
                acc = tg_smlad((int32_t)tg_load32(line + 2 * p), w[p], acc);
            }
        }
#else
        /* the taps' sum is at most 16 * 128 * 128 in magnitude; the bias joins it in uint32 (the folded bias may
           sit near the int32 limits: TFLite's sum wraps the same) */
        int32_t sum = 0;
        if (pairs <= 5)
        {
            sum = line[0] * v0 + line[1] * v1;
            if (pairs > 1)
            {
                sum += line[2] * v2 + line[3] * v3;
            }
            if (pairs > 2)
            {
                sum += line[4] * v4 + line[5] * v5;
            }
            if (pairs > 3)
            {
                sum += line[6] * v6 + line[7] * v7;
            }
            if (pairs > 4)
            {
                sum += line[8] * v8 + line[9] * v9;
            }
        }
        else
        {
            for (p = 0; p < 2 * pairs; ++p)
            {
                sum += line[p] * ws[p];
            }
        }
        acc = (int32_t)((uint32_t)acc + (uint32_t)sum);
#endif
        if (mode == TG_RQ_FAST_FULL)
        {
            out[i * out_step] = (int8_t)tg_rq_sat8(tg_rq_fast(acc, q[0], q[1], q[2]));
        }
        else
        {
            out[i * out_step] = tg_rq_any(acc, q, mode, output_offset, act_min, act_max);
        }
    }
}

/* tg_dw1d_run for the mode's requantization form (a constant in each copy) */
#define TG_DW1D_MODES(pairs_)                                                                                      \
    do                                                                                                             \
    {                                                                                                              \
        if (mode == TG_RQ_FAST_FULL)                                                                               \
        {                                                                                                          \
            tg_dw1d_run(line, n, stride, w, ws, (pairs_), bias, rq, TG_RQ_FAST_FULL, out, out_step, output_offset, \
                        act_min, act_max);                                                                         \
        }                                                                                                          \
        else                                                                                                       \
        {                                                                                                          \
            tg_dw1d_run(line, n, stride, w, ws, (pairs_), bias, rq, mode, out, out_step, output_offset, act_min,    \
                        act_max);                                                                                  \
        }                                                                                                          \
    } while (0)

/* one channel's line, with the tap-pair counts up to 5 (filters of up to 10 taps) as constants */
static void tg_dw1d_line(const int16_t *line, int32_t n, int32_t stride, const int32_t *w, const int16_t *ws,
                         int32_t pairs, int32_t bias, const int32_t *rq, int32_t mode, int8_t *out, int32_t out_step,
                         int32_t output_offset, int32_t act_min, int32_t act_max)
{
    if (pairs == 1)
    {
        TG_DW1D_MODES(1);
    }
    else if (pairs == 2)
    {
        TG_DW1D_MODES(2);
    }
    else if (pairs == 3)
    {
        TG_DW1D_MODES(3);
    }
    else if (pairs == 4)
    {
        TG_DW1D_MODES(4);
    }
    else if (pairs == 5)
    {
        TG_DW1D_MODES(5);
    }
    else
    {
        TG_DW1D_MODES(pairs);
    }
}

void tg_depthwise_1d_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                        const int8_t *filter, int32_t taps, int32_t along_w, const int32_t *bias, const int32_t *rq,
                        int32_t mode, int8_t *output, int32_t out_h, int32_t out_w, int32_t stride_h,
                        int32_t stride_w, int32_t pad_top, int32_t pad_left, int32_t input_zp, int32_t output_offset,
                        int32_t act_min, int32_t act_max, int16_t *scratch)
{
    /* a line: an image row (1 x K filters) or column (K x 1); `lines` of them, `len` values each */
    const int32_t lines = along_w ? in_h : in_w, len = along_w ? in_w : in_h;
    const int32_t line_step = along_w ? in_w * channels : channels, value_step = along_w ? channels : in_w * channels;
    const int32_t out_lines = along_w ? out_h : out_w, out_len = along_w ? out_w : out_h;
    const int32_t out_line_step = along_w ? out_w * channels : channels;
    const int32_t out_step = along_w ? channels : out_w * channels;
    const int32_t line_stride = along_w ? stride_h : stride_w, stride = along_w ? stride_w : stride_h;
    const int32_t line_pad = along_w ? pad_top : pad_left, pad = along_w ? pad_left : pad_top;
    const int32_t pairs = (taps + 1) / 2, width = (out_len - 1) * stride + 2 * pairs;
    int32_t b, ol, c, p;
    for (b = 0; b < batches; ++b)
    {
        for (c = 0; c < channels; ++c)
        {
            /* the channel's taps as int16 pairs (a zero after an odd count) */
            int16_t ws[TG_DEPTHWISE_1D_MAX_TAPS];
            int32_t w[TG_DEPTHWISE_1D_MAX_TAPS / 2];
            for (p = 0; p < 2 * pairs; ++p)
            {
                ws[p] = (int16_t)(p < taps ? filter[p * channels + c] : 0);
            }
#if TG_DSP
            for (p = 0; p < pairs; ++p)
            {
                w[p] = (int32_t)(((uint32_t)ws[2 * p] & 0xffffu) | ((uint32_t)ws[2 * p + 1] << 16));
            }
#endif
            /* a mixed layer (TG_RQ_MIXED): this channel's form, told by its third value (0: the general form) */
            const int32_t chan_mode = mode != TG_RQ_MIXED  ? mode
                                      : rq[3 * c + 2] == 0 ? TG_RQ_GENERAL
                                      : (act_min == -128 && act_max == 127) ? TG_RQ_FAST_FULL
                                                                             : TG_RQ_FAST;
            for (ol = 0; ol < out_lines; ++ol)
            {
                const int32_t l = ol * line_stride - line_pad; /* the input line (the filter's one tap across) */
                const int8_t *src = l >= 0 && l < lines ? input + (b * in_h * in_w * channels) + l * line_step + c : NULL;
                tg_dw1d_fill(scratch, width, src, len, value_step, pad, input_zp);
                tg_dw1d_line(scratch, out_len, stride, w, ws, pairs, bias[c], rq + 3 * c, chan_mode,
                             output + b * out_h * out_w * channels + ol * out_line_step + c, out_step, output_offset,
                             act_min, act_max);
            }
        }
    }
}
