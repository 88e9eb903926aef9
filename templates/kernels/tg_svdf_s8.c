/*
 * tg_svdf_s8: SVDF with an int8 or int16 state (see tg_svdf_s8.h). The feature products take two filters per pass
 * (each group of four inputs sign-extended once for both); on the DSP path four int8 products per two SMLADs, and
 * two int16 products of the time weights and the state per SMLAD; on Helium sixteen int8 products per VMLADAVA.
 *
 * Specialisations (TG_VARIANT): SVDF_STATE8 and SVDF_STATE16, the whole call for an int8 and an int16 state;
 * a call whose copy is missing stops (TG_UNREACHABLE). tinygen/ops/svdf.py: svdf_variants() mirrors this dispatch.
 */
#include "tg_svdf_s8.h"

#include <string.h>

#include "tg_conv_dsp_s8.h"
#include "tg_requant_fast.h"

/* Helium (Cortex-M55): the int8 dot products 16 products per VMLADAVA, the tail predicated */
#if (defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)) || defined(TG_MVE_EMULATE)
#include "tg_mve_s8.h"
#define TG_SVDF_MVE 1
#else
#define TG_SVDF_MVE 0
#endif

/* acc + a . b over n int8 values (any alignment) */
TG_INLINE int32_t tg_svdf_dot(const int8_t *a, const int8_t *b, int32_t n, int32_t acc)
{
#if TG_SVDF_MVE
    for (; n > 0; n -= 16)
    {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        acc = vmladavaq_s8(acc, vldrbq_z_s8(a, p), vldrbq_z_s8(b, p));
        a += 16;
        b += 16;
    }
#elif TG_DSP
    for (; n >= 4; n -= 4)
    {
        const uint32_t va = tg_load32(a), vb = tg_load32(b);
        acc = tg_smlad(tg_sxtb16(va), tg_sxtb16(vb), acc);
        acc = tg_smlad(tg_sxtb16_ror8(va), tg_sxtb16_ror8(vb), acc);
        a += 4;
        b += 4;
    }
#endif
    for (; n > 0; --n)
    {
        acc += (int32_t)*a++ * (int32_t)*b++;
    }
    return acc;
}

/* acc[0] += w0 . x, acc[1] += w1 . x over n int8 values (any alignment) */
static void tg_svdf_dot2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t acc[2])
{
    int32_t a0 = acc[0], a1 = acc[1];
#if TG_SVDF_MVE
    for (; n > 0; n -= 16)
    {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        const int8x16_t xv = vldrbq_z_s8(x, p);
        a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(w0, p));
        a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(w1, p));
        x += 16;
        w0 += 16;
        w1 += 16;
    }
#elif TG_DSP
    for (; n >= 4; n -= 4)
    {
        const uint32_t xv = tg_load32(x), v0 = tg_load32(w0), v1 = tg_load32(w1);
        const int32_t x02 = tg_sxtb16(xv), x13 = tg_sxtb16_ror8(xv);
        a0 = tg_smlad(x02, tg_sxtb16(v0), a0);
        a0 = tg_smlad(x13, tg_sxtb16_ror8(v0), a0);
        a1 = tg_smlad(x02, tg_sxtb16(v1), a1);
        a1 = tg_smlad(x13, tg_sxtb16_ror8(v1), a1);
        x += 4;
        w0 += 4;
        w1 += 4;
    }
#endif
    for (; n > 0; --n)
    {
        const int32_t xv = *x++;
        a0 += xv * (int32_t)*w0++;
        a1 += xv * (int32_t)*w1++;
    }
    acc[0] = a0;
    acc[1] = a1;
}

/* requantization `at` (TG_SVDF_Q_FEATURE or TG_SVDF_Q_OUTPUT) of acc, its offset added: the fast form where the layer
   has it (its e - 1 word is never 0 then), else the general one plus `offset` */
TG_INLINE int32_t tg_svdf_rq(int32_t acc, const int32_t *q, int32_t at, int32_t fast, int32_t offset)
{
    if (q[fast + 1] != 0)
    {
        return tg_rq_fast(acc, q[at], q[fast], q[fast + 1]);
    }
    return tg_requantize_mac(acc, q[at], q[at + 1]) + offset;
}

/* the new feature value of a filter from its accumulator, in the state's type (`bits` 8 or 16): saturated, then
   the zero point added and the sum wrapped to that type (TFLite Micro's order: its int32 sum converted to the
   state's type), stored at place `index` of `state` */
TG_INLINE void tg_svdf_store(void *state, int32_t index, int32_t acc, const int32_t *q, int32_t bits)
{
    const int32_t v = tg_svdf_rq(acc, q, TG_SVDF_Q_FEATURE, TG_SVDF_Q_FEATURE_FAST, 0);
    if (bits == 8)
    {
        ((int8_t *)state)[index] = (int8_t)(((tg_sat_s8(v) + q[TG_SVDF_Q_STATE_ZP] + 128) & 0xFF) - 128);
    }
    else
    {
        const int32_t s16 = TG_CLAMP(v, -32768, 32767);
        ((int16_t *)state)[index] = (int16_t)(((s16 + q[TG_SVDF_Q_STATE_ZP] + 32768) & 0xFFFF) - 32768);
    }
}

/* the newest place of every filter of one batch row (`newest`: filter 0's, then every `memory` places) */
static void tg_svdf_features(const int8_t *x, int32_t input_size, int32_t filters, int32_t memory,
                             const int8_t *w_feature, const int32_t *b_feature, const int32_t *q, void *newest,
                             int32_t bits)
{
    int32_t f = 0;
    for (; f + 2 <= filters; f += 2)
    {
        int32_t acc[2];
        const int8_t *w = w_feature + f * input_size;
        acc[0] = b_feature[f];
        acc[1] = b_feature[f + 1];
        tg_svdf_dot2(x, w, w + input_size, input_size, acc);
        tg_svdf_store(newest, f * memory, acc[0], q, bits);
        tg_svdf_store(newest, (f + 1) * memory, acc[1], q, bits);
    }
    if (f < filters)
    {
        tg_svdf_store(newest, f * memory, tg_svdf_dot(x, w_feature + f * input_size, input_size, b_feature[f]), q,
                      bits);
    }
}

/*
 * acc + a . b over n values of the state's type (`bits` 8 or 16; int16 values 2-byte aligned): the time weights
 * against a unit's state. On the DSP path four values per step, two SMLADs: int8 words sign-extended by SXTB16 into
 * (v0, v2) and (v1, v3), int16 words taken as the pairs (v0, v1) and (v2, v3) they are; Helium's int8 products go
 * to tg_svdf_dot.
 */
TG_INLINE int32_t tg_svdf_time_dot(const void *a, const void *b, int32_t n, const int32_t bits, int32_t acc)
{
    const int8_t *pa = (const int8_t *)a, *pb = (const int8_t *)b;
    const int32_t bytes = bits / 8;
#if TG_SVDF_MVE
    if (bits == 8)
    {
        return tg_svdf_dot(pa, pb, n, acc);
    }
#endif
#if TG_DSP
    for (; n >= 4; n -= 4, pa += 4 * bytes, pb += 4 * bytes)
    {
        int32_t a_lo, a_hi, b_lo, b_hi;
        if (bits == 8)
        {
            const uint32_t va = tg_load32(pa), vb = tg_load32(pb);
            a_lo = tg_sxtb16(va);
            a_hi = tg_sxtb16_ror8(va);
            b_lo = tg_sxtb16(vb);
            b_hi = tg_sxtb16_ror8(vb);
        }
        else
        {
            a_lo = (int32_t)tg_load32(pa);
            a_hi = (int32_t)tg_load32(pa + 4);
            b_lo = (int32_t)tg_load32(pb);
            b_hi = (int32_t)tg_load32(pb + 4);
        }
        acc = tg_smlad(a_lo, b_lo, acc);
        acc = tg_smlad(a_hi, b_hi, acc);
    }
#endif
    for (; n > 0; --n, pa += bytes, pb += bytes)
    {
        acc += bits == 8 ? (int32_t)*pa * (int32_t)*pb
                         : (int32_t)*(const int16_t *)(const void *)pa * (int32_t)*(const int16_t *)(const void *)pb;
    }
    return acc;
}

/* dst[i] = src[i] for i < n bytes, forward, four bytes per step (one LDR and one STR where unaligned access is
   allowed): src may be above dst (each word is read before any byte of it is written) */
static void tg_svdf_shift(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4)
    {
        uint32_t w;
        memcpy(&w, src, sizeof w);
        memcpy(dst, &w, sizeof w);
        src += 4;
        dst += 4;
    }
    for (; n > 0; --n)
    {
        *dst++ = *src++;
    }
}

/* the whole call for a state of `bits` 8 or 16 (a constant where it is inlined: one copy per state type) */
TG_INLINE void tg_svdf_body(const int8_t *input, const void *state_in, const int32_t bits, int32_t batches,
                            int32_t input_size, int32_t filters, int32_t memory, int32_t rank,
                            const int8_t *w_feature, const void *w_time, const int32_t *b_feature,
                            const int32_t *b_unit, const int32_t *q, int8_t *output, void *state_out)
{
    /* a unit's filters are consecutive rows of w_time and of the state: one dot product of rank x memory values */
    const int32_t row = filters * memory, units = filters / rank, bytes = bits / 8, span = rank * memory;
    const int32_t out_zp = q[TG_SVDF_Q_OUT_ZP];
    int32_t b, u;
    /* TFLite shifts the whole buffer by one place; the place each row's last filter leaves is a newest one below */
    tg_svdf_shift((int8_t *)state_out, (const int8_t *)state_in + bytes, (batches * row - 1) * bytes);
    for (b = 0; b < batches; ++b)
    {
        int8_t *state = (int8_t *)state_out + b * row * bytes;
        const int8_t *w = (const int8_t *)w_time;
        tg_svdf_features(input + b * input_size, input_size, filters, memory, w_feature, b_feature, q,
                         state + (memory - 1) * bytes, bits);
        for (u = 0; u < units; ++u)
        {
            const int32_t acc = tg_svdf_time_dot(w, state, span, bits, b_unit[u]);
            output[b * units + u] = tg_sat_s8(tg_svdf_rq(acc, q, TG_SVDF_Q_OUTPUT, TG_SVDF_Q_OUTPUT_FAST, out_zp));
            w += span * bytes;
            state += span * bytes;
        }
    }
}

void tg_svdf_s8(const int8_t *input, const void *state_in, int32_t state_bits, int32_t batches, int32_t input_size,
                int32_t filters, int32_t memory, int32_t rank, const int8_t *w_feature, const void *w_time,
                const int32_t *b_feature, const int32_t *b_unit, const int32_t *q, int8_t *output, void *state_out)
{
#if TG_VARIANT(SVDF_STATE8)
    if (state_bits == 8)
    {
        TG_TRACE_VARIANT(SVDF_STATE8);
        tg_svdf_body(input, state_in, 8, batches, input_size, filters, memory, rank, w_feature, w_time, b_feature,
                     b_unit, q, output, state_out);
        return;
    }
#endif
#if TG_VARIANT(SVDF_STATE16)
    if (state_bits == 16)
    {
        TG_TRACE_VARIANT(SVDF_STATE16);
        tg_svdf_body(input, state_in, 16, batches, input_size, filters, memory, rank, w_feature, w_time, b_feature,
                     b_unit, q, output, state_out);
        return;
    }
#endif
    (void)state_bits;
    TG_UNREACHABLE();
}
