/*
 * tg_fully_connected_s8: vector x matrix per batch row, four rows per pass (see tg_fully_connected_s8.h).
 */
#include "tg_fully_connected_s8.h"

#include "tg_conv_dsp_s8.h"
#include "tg_requant_fast.h"

#if TG_DSP
/* one group of four inputs at x + OFF against the four rows' bytes at w + 4 * OFF (LOAD: TG_LDRD when
   the weights are 4-byte aligned) */
#define TG_FC_GROUP(OFF, LOAD)                                                                                 \
    do                                                                                                         \
    {                                                                                                          \
        const uint32_t xv = tg_load32(x + (OFF));                                                              \
        const int32_t x02 = tg_sxtb16(xv), x13 = tg_sxtb16_ror8(xv);                                           \
        uint32_t w0, w1, w2, w3;                                                                               \
        LOAD(w0, w1, w, 4 * (OFF));                                                                            \
        LOAD(w2, w3, w, 4 * (OFF) + 8);                                                                        \
        a0 = tg_smlad(x02, tg_sxtb16(w0), a0);                                                                 \
        a0 = tg_smlad(x13, tg_sxtb16_ror8(w0), a0);                                                            \
        a1 = tg_smlad(x02, tg_sxtb16(w1), a1);                                                                 \
        a1 = tg_smlad(x13, tg_sxtb16_ror8(w1), a1);                                                            \
        a2 = tg_smlad(x02, tg_sxtb16(w2), a2);                                                                 \
        a2 = tg_smlad(x13, tg_sxtb16_ror8(w2), a2);                                                            \
        a3 = tg_smlad(x02, tg_sxtb16(w3), a3);                                                                 \
        a3 = tg_smlad(x13, tg_sxtb16_ror8(w3), a3);                                                            \
    } while (0)
#endif

/* four weight rows (quad layout) against one input vector; two groups per iteration on the DSP path */
static void tg_fc_quad(const int8_t *x, const int8_t *w, int32_t n, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int32_t tail = n & 3;
    int32_t g, r;
#if TG_DSP
    if (((uintptr_t)w & 3u) == 0)
    {
        for (g = n >> 3; g > 0; --g)
        {
            TG_FC_GROUP(0, TG_LDRD);
            TG_FC_GROUP(4, TG_LDRD);
            x += 8;
            w += 32;
        }
    }
    else
    {
        for (g = n >> 3; g > 0; --g)
        {
            TG_FC_GROUP(0, TG_LDR2);
            TG_FC_GROUP(4, TG_LDR2);
            x += 8;
            w += 32;
        }
    }
    if (n & 4)
    {
        TG_FC_GROUP(0, TG_LDR2);
        x += 4;
        w += 16;
    }
#else
    for (g = n >> 2; g > 0; --g)
    {
        for (r = 0; r < 4; ++r)
        {
            a0 += x[r] * w[r];
            a1 += x[r] * w[4 + r];
            a2 += x[r] * w[8 + r];
            a3 += x[r] * w[12 + r];
        }
        x += 4;
        w += 16;
    }
#endif
    for (r = 0; r < tail; ++r)
    {
        a0 += x[r] * w[r];
        a1 += x[r] * w[tail + r];
        a2 += x[r] * w[2 * tail + r];
        a3 += x[r] * w[3 * tail + r];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
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
                           const int32_t *bias, const int32_t *rq, int32_t rq_step, int32_t mode, int8_t *output,
                           int32_t out_features, int32_t output_offset, int32_t act_min, int32_t act_max)
{
    int32_t b;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *x = input + b * in_features;
        int8_t *out = output + b * out_features;
        int32_t o = 0;
        for (; o + 4 <= out_features; o += 4)
        {
            int32_t acc[4];
            int32_t i;
            acc[0] = bias[o];
            acc[1] = bias[o + 1];
            acc[2] = bias[o + 2];
            acc[3] = bias[o + 3];
            tg_fc_quad(x, weights + o * in_features, in_features, acc);
            if (mode == TG_RQ_FAST_FULL)
            {
                for (i = 0; i < 4; ++i)
                {
                    const int32_t *q = rq + rq_step * (o + i);
                    out[o + i] = (int8_t)tg_rq_sat8(tg_rq_fast(acc[i], q[0], q[1], q[2]));
                }
            }
            else
            {
                for (i = 0; i < 4; ++i)
                {
                    out[o + i] =
                        tg_rq_any(acc[i], rq + rq_step * (o + i), mode, output_offset, act_min, act_max);
                }
            }
        }
        for (; o < out_features; ++o)
        {
            const int32_t acc = tg_fc_dot(x, weights + o * in_features, in_features, bias[o]);
            out[o] = tg_rq_any(acc, rq + rq_step * o, mode, output_offset, act_min, act_max);
        }
    }
}
