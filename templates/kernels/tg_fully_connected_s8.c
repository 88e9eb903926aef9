/*
 * tg_fully_connected_s8: vector x matrix per batch row, four rows per pass (see tg_fully_connected_s8.h).
 *
 * Specialisation (TG_VARIANT): FC_QUADS, the four-rows-per-pass loop over the row quads. The final loop over
 * single rows is always compiled and reads either layout, so without FC_QUADS it computes every row (slower,
 * same bytes). tinygen/lowering/fc_ops.py: fc_variants() mirrors this dispatch.
 */
#include "tg_fully_connected_s8.h"

#include "tg_conv_dsp_s8.h"
#include "tg_requant_fast.h"

#if TG_DSP
/* the input offset in both int16 lanes */
TG_INLINE uint32_t tg_fc_pair(int32_t offset)
{
    return (uint32_t)(uint16_t)offset * UINT32_C(0x00010001);
}
#endif

#if TG_VARIANT(FC_QUADS)
#if TG_DSP
/* one group of four inputs at x + OFF (plus the offset pair off2) against the four rows' bytes at w + 4 * OFF
   (LOAD: TG_LDRD when the weights are 4-byte aligned) */
#define TG_FC_GROUP(OFF, LOAD)                                                                                 \
    do                                                                                                         \
    {                                                                                                          \
        const uint32_t xv = tg_load32(x + (OFF));                                                              \
        const int32_t x02 = tg_sxtab16(off2, xv), x13 = tg_sxtab16_ror8(off2, xv);                             \
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

/* four weight rows (quad layout) against one input vector plus offset; on the DSP path LDRD when the weights
   are aligned (always, in a generated library), one group per iteration (unrolling twice saves 1 instruction
   per 2 groups for ~60 bytes) */
static void tg_fc_quad(const int8_t *x, const int8_t *w, int32_t n, int32_t offset, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int32_t tail = n & 3;
    int32_t g, r;
#if TG_DSP
    const uint32_t off2 = tg_fc_pair(offset);
    if (((uintptr_t)w & 3u) == 0)
    {
        for (g = n >> 2; g > 0; --g)
        {
            TG_FC_GROUP(0, TG_LDRD);
            x += 4;
            w += 16;
        }
    }
    else
    {
        for (g = n >> 2; g > 0; --g)
        {
            TG_FC_GROUP(0, TG_LDR2);
            x += 4;
            w += 16;
        }
    }
#else
    for (g = n >> 2; g > 0; --g)
    {
        for (r = 0; r < 4; ++r)
        {
            const int32_t xr = x[r] + offset;
            a0 += xr * w[r];
            a1 += xr * w[4 + r];
            a2 += xr * w[8 + r];
            a3 += xr * w[12 + r];
        }
        x += 4;
        w += 16;
    }
#endif
    for (r = 0; r < tail; ++r)
    {
        const int32_t xr = x[r] + offset;
        a0 += xr * w[r];
        a1 += xr * w[tail + r];
        a2 += xr * w[2 * tail + r];
        a3 += xr * w[3 * tail + r];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#endif

/* one plain row (natural layout) against the input plus offset */
static int32_t tg_fc_row(const int8_t *x, const int8_t *w, int32_t n, int32_t offset, int32_t acc)
{
    int32_t g, k;
#if TG_DSP
    const uint32_t off2 = tg_fc_pair(offset);
#endif
    for (g = n >> 2; g > 0; --g)
    {
#if TG_DSP
        const uint32_t xv = tg_load32(x), wv = tg_load32(w);
        acc = tg_smlad(tg_sxtab16(off2, xv), tg_sxtb16(wv), acc);
        acc = tg_smlad(tg_sxtab16_ror8(off2, xv), tg_sxtb16_ror8(wv), acc);
#else
        for (k = 0; k < 4; ++k)
        {
            acc += (x[k] + offset) * w[k];
        }
#endif
        x += 4;
        w += 4;
    }
    for (k = 0; k < (n & 3); ++k)
    {
        acc += (x[k] + offset) * w[k];
    }
    return acc;
}

void tg_fully_connected_s8(const int8_t *input, int32_t batches, int32_t in_features, int32_t input_offset,
                           const int8_t *weights, const int32_t *bias, const int32_t *rq, int32_t rq_step,
                           int32_t mode, int8_t *output, int32_t out_features, int32_t output_offset,
                           int32_t act_min, int32_t act_max)
{
    const int32_t quad_rows = out_features & ~3;
    int32_t b;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *x = input + b * in_features;
        int8_t *out = output + b * out_features;
        int32_t o = 0;
#if TG_VARIANT(FC_QUADS)
        for (; o < quad_rows; o += 4)
        {
            int32_t acc[4];
            int32_t i;
            TG_TRACE_VARIANT(FC_QUADS);
            for (i = 0; i < 4; ++i)
            {
                acc[i] = bias != 0 ? bias[o + i] : 0;
            }
            tg_fc_quad(x, weights + o * in_features, in_features, input_offset, acc);
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
#endif
        /* general: the rows left (every row without FC_QUADS) */
        for (; o < out_features; ++o)
        {
            int32_t acc = bias != 0 ? bias[o] : 0;
#if !TG_VARIANT(FC_QUADS)
            if (o < quad_rows)
            {
                /* a row of a quad, one byte at a time: only without FC_QUADS, which fc_variants() requests for
                   every layer with a quad (a safety net, never run in a generated library) */
                const int32_t r = o & 3, full = in_features & ~3, tail = in_features - full;
                const int8_t *const quad = weights + (o - r) * in_features;
                int32_t k;
                for (k = 0; k < in_features; ++k)
                {
                    const int32_t at = k < full ? 16 * (k >> 2) + 4 * r + (k & 3) : 4 * full + r * tail + (k - full);
                    acc += (x[k] + input_offset) * quad[at];
                }
            }
            else
#endif
            {
                acc = tg_fc_row(x, weights + o * in_features, in_features, input_offset, acc);
            }
            out[o] = tg_rq_any(acc, rq + rq_step * o, mode, output_offset, act_min, act_max);
        }
    }
}
