/* tinygen int8 LSTM variants: see tg_lstm_s8_variant.h. TFLite's lstm_eval.cc (LstmStepInteger8x8_16) and
 * portable_tensor_utils.cc, bit for bit, with gemmlowp's int16 fixed-point logistic and tanh (fixedpoint.h).
 * Unit sizes are small and the step is dominated by the gate FCs; everything runs gate by gate as TFLite
 * does (a layer norm needs a gate's whole row). */
#include "tg_lstm_s8_variant.h"

#include <string.h>

#include "tg_common.h"
#include "tg_conv_dsp_s8.h"

/* int16 two's-complement wrap-around (gemmlowp's int16 adds and negations): one SXTH (gcc and clang define
 * the conversion of an out-of-range value to a signed type as modulo 2^16) */
TG_INLINE int32_t tg_lstmv_w16(int32_t x)
{
    return (int16_t)x;
}

/* SaturatingRoundingDoublingHighMul on int16. Its one saturating case, both operands -32768, never occurs in
 * the functions below (tests/test_lstm_variants.py checks them on every int16 input against gemmlowp). */
TG_INLINE int32_t tg_lstmv_mul(int32_t a, int32_t b)
{
    const int32_t ab = a * b;
    return (ab + (ab >= 0 ? (1 << 14) : (1 - (1 << 14)))) / (1 << 15); /* a division: toward zero */
}

/* SaturatingRoundingMultiplyByPOT on int16: a saturating left shift (e > 0) or a rounding right shift */
TG_INLINE int32_t tg_lstmv_pot(int32_t x, int e)
{
    if (e > 0)
    {
        const int32_t t = (1 << (15 - e)) - 1;
        return x > t ? 32767 : x < -t ? -32768 : x * (1 << e);
    }
    return e < 0 ? tg_divide_by_pot(x, -e) : x;
}

/* exp_on_interval_between_negative_one_quarter_and_0_excl (Q0.15) */
TG_INLINE int32_t tg_lstmv_exp_quarter(int32_t a)
{
    const int32_t x = tg_lstmv_w16(a + 4096);
    const int32_t x2 = tg_lstmv_mul(x, x);
    const int32_t x3 = tg_lstmv_mul(x2, x), x4 = tg_lstmv_mul(x2, x2);
    const int32_t poly =
        tg_lstmv_pot(tg_lstmv_w16(tg_lstmv_mul(tg_lstmv_w16(tg_lstmv_pot(x4, -2) + x3), 10923) + x2), -1);
    const int32_t r = 28918 + tg_lstmv_mul(28918, tg_lstmv_w16(x + poly));
    return TG_CLAMP(r, -32768, 32767);
}

/* exp_on_negative_values of an int16 fixed point with `ib` integer bits (1..7), Q0.15 out */
TG_INLINE int32_t tg_lstmv_exp_negative(int32_t a, int ib)
{
    static const int32_t barrel[7] = {25520, 19875, 12055, 4435, 600, 11, 0}; /* exp(-2^e), e = -2..4 */
    const int frac = 15 - ib;
    const int32_t quarter = 1 << (frac - 2);
    const int32_t a_mod = tg_lstmv_w16((a & (quarter - 1)) - quarter);
    const uint32_t remainder = (uint32_t)tg_lstmv_w16(a_mod - a) & 0xFFFFu;
    int32_t result = tg_lstmv_exp_quarter(tg_lstmv_pot(a_mod, ib));
    int e;
    for (e = -2; e <= 4 && ib > e; ++e)
    {
        if (remainder & (1u << (frac + e)))
        {
            result = tg_lstmv_mul(result, barrel[e + 2]);
        }
    }
    if (ib > 5 && a < -(1 << (20 - ib)))
    {
        result = 0;
    }
    return a == 0 ? 32767 : result;
}

/* the Newton-Raphson division of one_over_one_plus_x_for_x_in_0_1 (Q2.13 out) */
TG_INLINE int32_t tg_lstmv_newton(int32_t a)
{
    const int32_t s = a + 32767;
    const int32_t half = (s + (s >= 0 ? 1 : -1)) / 2; /* RoundingHalfSum */
    int32_t x = tg_lstmv_w16(23130 + tg_lstmv_mul(half, -15420));
    int k;
    for (k = 0; k < 3; ++k)
    {
        x = tg_lstmv_w16(x + tg_lstmv_pot(tg_lstmv_mul(x, tg_lstmv_w16(8192 - tg_lstmv_mul(half, x))), 2));
    }
    return x;
}

/* gemmlowp::logistic, Q3.12 in, Q0.15 out (TFLite's ApplySigmoid) */
TG_INLINE int32_t tg_lstmv_logistic(int32_t v)
{
    int32_t r;
    if (v == 0)
    {
        return 16384;
    }
    r = tg_lstmv_pot(tg_lstmv_newton(tg_lstmv_exp_negative(tg_lstmv_w16(-(v > 0 ? v : tg_lstmv_w16(-v))), 3)), 1);
    return v > 0 ? r : tg_lstmv_w16(32767 - r);
}

/* gemmlowp::tanh with `ib` (0..6) integer bits in, Q0.15 out (TFLite's ApplyTanh) */
TG_INLINE int32_t tg_lstmv_tanh(int32_t v, int ib)
{
    int32_t t;
    if (v == 0)
    {
        return 0;
    }
    t = tg_lstmv_pot(tg_lstmv_w16(tg_lstmv_newton(tg_lstmv_exp_negative(v < 0 ? v : tg_lstmv_w16(-v), ib + 1)) - 8192),
                     2);
    return v < 0 ? tg_lstmv_w16(-t) : t;
}

/* gemmlowp's int32 SaturatingRoundingMultiplyByPOT, left (e > 0) */
TG_INLINE int32_t tg_lstmv_shl_sat(int32_t x, int e)
{
    const int32_t t = (int32_t)((UINT32_C(1) << (31 - e)) - 1u);
    return x > t ? INT32_MAX : x < -t ? INT32_MIN : (int32_t)((uint32_t)x << e);
}

/* GetInvSqrtQuantizedMultiplierExp(value, reverse_shift = -1) */
static void tg_lstmv_inv_sqrt(int32_t value, int32_t *multiplier, int32_t *shift)
{
    const int32_t half_three = (1 << 28) + (1 << 27);
    int32_t s = 11, x = 1 << 28, half_input, pairs, clz = 0, k;
    if (value <= 1)
    {
        *multiplier = INT32_MAX;
        *shift = 0;
        return;
    }
    while (value >= (1 << 29))
    {
        value /= 4;
        ++s;
    }
    while (!((uint32_t)value & (UINT32_C(0x80000000) >> clz)))
    {
        ++clz;
    }
    pairs = (clz - 1) / 2 - 1;
    s -= pairs;
    value = (int32_t)((uint32_t)value << (2 * pairs));
    half_input = tg_divide_by_pot(value >> 1, 1);
    for (k = 0; k < 5; ++k)
    {
        const int32_t x3 = tg_lstmv_shl_sat(tg_doubling_high_mult(tg_doubling_high_mult(x, x), x), 6);
        x = tg_lstmv_shl_sat((int32_t)((uint32_t)tg_doubling_high_mult(half_three, x) -
                                       (uint32_t)tg_doubling_high_mult(half_input, x3)),
                             3);
    }
    x = tg_doubling_high_mult(x, 1518500250);
    if (s < 0)
    {
        x = (int32_t)((uint32_t)x << -s);
        s = 0;
    }
    *multiplier = x;
    *shift = -s;
}

/* PortableApplyLayerNorm on one row of n int16 gate values, in place */
static void tg_lstmv_layer_norm(int16_t *v, int32_t n, const int16_t *w, const int32_t *bias, const int32_t *q)
{
    int64_t sum = 0, squares = 0, variance;
    int32_t mean, inv_m, inv_s, j;
    for (j = 0; j < n; ++j)
    {
        sum += v[j];
        squares += (int32_t)v[j] * v[j];
    }
    mean = (int32_t)(sum * 1024 / n);
    variance = (squares * ((1 << 20) / n) - (int64_t)mean * mean) / (1 << 20);
    tg_lstmv_inv_sqrt(variance < 1 ? q[8] : (int32_t)variance, &inv_m, &inv_s);
    for (j = 0; j < n; ++j)
    {
        const int32_t rescaled = tg_requantize(1024 * v[j] - mean, inv_m, inv_s);
        /* TFLite's int32 arithmetic (wrapping), then the nearest multiple of 1024 */
        const int64_t weighted = (int32_t)((uint32_t)rescaled * (uint32_t)(int32_t)w[j] + (uint32_t)bias[j]);
        const int32_t r = (int32_t)((weighted > 0 ? weighted + 512 : weighted - 512) / 1024);
        const int32_t out = tg_requantize(r, q[6], q[7] + 12);
        v[j] = (int16_t)TG_CLAMP(out, -32768, 32767);
    }
}

/* a0 += w0 . v, a1 += w1 . v over n int8 values (int32 sums are exact in any order). On the DSP path
 * (Cortex-M4/M7/M33/M55, or TG_DSP_EMULATE) four values per step: one SXTB16 pair of v for both rows, then
 * two SMLADs per row; the portable path one value at a time. */
TG_INLINE void tg_lstmv_dot2(const int8_t *v, const int8_t *w0, const int8_t *w1, int32_t n, int32_t *a0,
                             int32_t *a1)
{
    int32_t s0 = *a0, s1 = *a1, k = 0;
#if TG_DSP
    for (; k + 4 <= n; k += 4)
    {
        const uint32_t xv = tg_load32(v + k), p = tg_load32(w0 + k), q = tg_load32(w1 + k);
        const int32_t x02 = tg_sxtb16(xv), x13 = tg_sxtb16_ror8(xv);
        s0 = tg_smlad(x02, tg_sxtb16(p), s0);
        s0 = tg_smlad(x13, tg_sxtb16_ror8(p), s0);
        s1 = tg_smlad(x02, tg_sxtb16(q), s1);
        s1 = tg_smlad(x13, tg_sxtb16_ror8(q), s1);
    }
#endif
    for (; k < n; ++k)
    {
        s0 += v[k] * w0[k];
        s1 += v[k] * w1[k];
    }
    *a0 = s0;
    *a1 = s1;
}

/* the int32 sums bias[r] + W[r] . v of `rows` rows of n values, two rows at a time */
static void tg_lstmv_rows(const int8_t *v, int32_t n, const int8_t *w, const int32_t *bias, int32_t rows,
                          int32_t *acc)
{
    int32_t r;
    for (r = 0; r + 2 <= rows; r += 2)
    {
        acc[r] = bias[r];
        acc[r + 1] = bias[r + 1];
        tg_lstmv_dot2(v, w + r * n, w + (r + 1) * n, n, &acc[r], &acc[r + 1]);
    }
    if (r < rows)
    {
        int32_t unused = 0;
        acc[r] = bias[r];
        tg_lstmv_dot2(v, w + r * n, w + r * n, n, &acc[r], &unused);
    }
}

/* sat16(gate + rq(W v + bias)) for the rows of one gate (MatrixBatchVectorMultiplyAccumulate, int16 out);
 * acc: `rows` int32 of scratch */
static void tg_lstmv_fc(const int8_t *v, int32_t n, const int8_t *w, const int32_t *bias, int32_t rows, int32_t m,
                        int32_t s, int16_t *gate, int32_t *acc)
{
    int32_t r;
    tg_lstmv_rows(v, n, w, bias, rows, acc);
    for (r = 0; r < rows; ++r)
    {
        const int32_t sum = gate[r] + tg_requantize(acc[r], m, s);
        gate[r] = (int16_t)TG_CLAMP(sum, -32768, 32767);
    }
}

/* gate slot `slot` (the s-th present gate) of GATES index g: its FCs, peephole, layer norm and activation */
static void tg_lstmv_gate(const int8_t *x, const int8_t *h, const int16_t *cell, int32_t features, int32_t cells,
                          int32_t outputs, int32_t slot, int g, const int8_t *w_in, const int8_t *w_rec,
                          const int32_t *b_in, const int32_t *b_rec, const int16_t *peephole, const int16_t *ln_w,
                          const int32_t *ln_b, const int32_t *q, int16_t *gate, int32_t *acc)
{
    const int32_t *qg = q + TG_LSTMV_Q_GATE(g);
    const int32_t flags = q[TG_LSTMV_Q_FLAGS];
    int32_t u;
    memset(gate, 0, (size_t)cells * sizeof(int16_t));
    tg_lstmv_fc(x, features, w_in + slot * cells * features, b_in + slot * cells, cells, qg[0], qg[1], gate, acc);
    tg_lstmv_fc(h, outputs, w_rec + slot * cells * outputs, b_rec + slot * cells, cells, qg[2], qg[3], gate, acc);
    if ((flags & TG_LSTMV_PEEPHOLE) && g != 2)
    {
        const int16_t *p = peephole + slot * cells;
        for (u = 0; u < cells; ++u)
        {
            const int32_t acc = gate[u] + tg_requantize((int32_t)p[u] * cell[u], qg[4], qg[5]);
            gate[u] = (int16_t)TG_CLAMP(acc, -32768, 32767);
        }
    }
    if (flags & TG_LSTMV_LAYER_NORM)
    {
        tg_lstmv_layer_norm(gate, cells, ln_w + slot * cells, ln_b + slot * cells, qg);
    }
    if (g == 2)
    {
        for (u = 0; u < cells; ++u)
        {
            gate[u] = (int16_t)tg_lstmv_tanh(gate[u], 3);
        }
    }
    else
    {
        for (u = 0; u < cells; ++u)
        {
            gate[u] = (int16_t)tg_lstmv_logistic(gate[u]);
        }
    }
}

void tg_lstm_s8_variant(const int8_t *input, const int8_t *hidden_in, const int8_t *cell_in, int32_t batches,
                        int32_t steps, int32_t features, int32_t cells, int32_t outputs, const int8_t *w_in,
                        const int8_t *w_rec, const int32_t *b_in, const int32_t *b_rec, const int16_t *peephole,
                        const int16_t *ln_w, const int32_t *ln_b, const int8_t *proj_w, const int32_t *proj_b,
                        const int32_t *q, int8_t *scratch, int8_t *output, int8_t *hidden_out, int8_t *cell_out)
{
    int32_t *const acc = (int32_t *)(void *)scratch; /* [max(cells, outputs)] */
    int16_t *const gates = (int16_t *)(void *)(acc + (cells > outputs ? cells : outputs)); /* [4][cells] */
    int16_t *const cell = gates + 4 * cells;
    int8_t *const hidden = (int8_t *)(void *)(cell + cells);
    const size_t state_bytes = (size_t)cells * sizeof(int16_t);
    const int32_t flags = q[TG_LSTMV_Q_FLAGS], power = q[TG_LSTMV_Q_CELL_POWER];
    const int32_t clip = q[TG_LSTMV_Q_CLIP], proj_clip = q[TG_LSTMV_Q_PROJ_CLIP];
    const int first = (flags & TG_LSTMV_CIFG) ? 1 : 0;
    int32_t b, t, u, r;
    int g;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *h = hidden_in + b * outputs;
        memcpy(cell, cell_in + (size_t)b * state_bytes, state_bytes);
        for (t = 0; t < steps; ++t)
        {
            const int8_t *x = input + (b * steps + t) * features;
            int8_t *hout = output + (b * steps + t) * outputs;
            for (g = first; g < 3; ++g)
            {
                tg_lstmv_gate(x, h, cell, features, cells, outputs, g - first, g, w_in, w_rec, b_in, b_rec, peephole,
                              ln_w, ln_b, q, gates + g * cells, acc);
            }
            /* cell = f * cell + i * g (i = 1 - f in a CIFG LSTM), TFLite's CwiseMul shifts, clipped */
            for (u = 0; u < cells; ++u)
            {
                const int32_t f = gates[cells + u];
                const int32_t i = first ? 32767 - f : gates[u];
                const int32_t c =
                    tg_divide_by_pot(f * cell[u], 15) + tg_divide_by_pot(i * gates[2 * cells + u], 30 + power);
                int32_t cs = TG_CLAMP(c, -32768, 32767);
                if (clip > 0)
                {
                    cs = TG_CLAMP(cs, -clip, clip);
                }
                cell[u] = (int16_t)cs;
            }
            tg_lstmv_gate(x, h, cell, features, cells, outputs, 3 - first, 3, w_in, w_rec, b_in, b_rec, peephole,
                          ln_w, ln_b, q, gates + 3 * cells, acc);
            for (u = 0; u < cells; ++u)
            {
                const int32_t th = tg_lstmv_tanh(cell[u], 15 + power);
                const int32_t v =
                    tg_requantize(gates[3 * cells + u] * th, q[TG_LSTMV_Q_HIDDEN], q[TG_LSTMV_Q_HIDDEN + 1]);
                hidden[u] = tg_sat_s8(v + q[TG_LSTMV_Q_HIDDEN_ZP]);
            }
            if (flags & TG_LSTMV_PROJECTION)
            {
                tg_lstmv_rows(hidden, cells, proj_w, proj_b, outputs, acc);
                for (r = 0; r < outputs; ++r)
                {
                    int32_t v = tg_requantize(acc[r], q[TG_LSTMV_Q_PROJ], q[TG_LSTMV_Q_PROJ + 1]) +
                                q[TG_LSTMV_Q_OUTPUT_ZP];
                    v = TG_CLAMP(v, -128, 127);
                    hout[r] = (int8_t)(proj_clip > 0 ? TG_CLAMP(v, -proj_clip, proj_clip) : v);
                }
            }
            else
            {
                memcpy(hout, hidden, (size_t)cells);
            }
            h = hout;
        }
        memcpy(hidden_out + b * outputs, h, (size_t)outputs);
        memcpy(cell_out + (size_t)b * state_bytes, cell, state_bytes);
    }
}
