/* tinygen int16x8 LSTM: see tg_lstm_s16.h. TFLite Micro's lstm_eval.h (LstmStep) on int16 activations, bit for bit.
 *
 * As tg_lstm_s8: every gate of a step depends on x_t and the previous h only, and everything after the gate FCs is
 * elementwise, so the kernel runs unit by unit: the four gate rows of a unit against x_t and against h in four
 * accumulators each, then that unit's gates, cell state and hidden value. The sums are exact in any order: int32
 * partial sums over blocks of at most 256 columns (|x w| <= 2^22, so a block stays within 2^30) added into int64,
 * as TFLite's int64 accumulator. On the DSP path (Cortex-M4/M7/M33/M55, or TG_DSP_EMULATE on a host) one word of two
 * int16 activations and two weights sign-extended by SXTB16 go through one SMLAD; the portable path reads the same
 * layout one value at a time. */
#include "tg_lstm_s16.h"

#include <string.h>

#include "tg_common.h"
#include "tg_conv_dsp_s8.h"
#include "tg_lstm_gates.h"
#include "tg_requantize_s16.h"

/* groups of four columns per int32 partial sum: 64 groups * 4 * 2^22 = 2^30 */
#define TG_LSTM_S16_BLOCK 64

#if TG_DSP
/* a0..a3 += the four gate rows' group of four columns (w0 w2 w1 w3 each) . v[0..3] */
#define TG_LSTM_S16_GROUP(LOAD)                                                                                \
    do                                                                                                         \
    {                                                                                                          \
        const int32_t x01 = (int32_t)tg_load32(v), x23 = (int32_t)tg_load32(v + 2);                            \
        uint32_t w0, w1, w2, w3;                                                                               \
        LOAD(w0, w1, w, 0);                                                                                    \
        LOAD(w2, w3, w, 8);                                                                                    \
        TG_LSTM_QUAD_SMLADS(x01, x23);                                                                         \
    } while (0)
#endif

/* acc[0..3] += the four rows of a unit's quad (n columns) . v[0..n-1] */
TG_INLINE void tg_lstm_s16_quad(const int16_t *v, const int8_t *w, int32_t n, int64_t acc[4], const int aligned)
{
    int32_t groups = n >> 2;
    const int32_t tail = n & 3;
    int32_t r;
    while (groups > 0)
    {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int32_t g = TG_MIN(groups, TG_LSTM_S16_BLOCK);
        groups -= g;
#if TG_DSP
        if (aligned)
        {
            for (; g > 0; --g)
            {
                TG_LSTM_S16_GROUP(TG_LDRD);
            }
        }
        else
        {
            for (; g > 0; --g)
            {
                TG_LSTM_S16_GROUP(TG_LDR2);
            }
        }
#else
        (void)aligned;
        for (; g > 0; --g)
        {
            const int32_t x0 = v[0], x1 = v[1], x2 = v[2], x3 = v[3];
            a0 += x0 * w[0] + x1 * w[2] + x2 * w[1] + x3 * w[3];
            a1 += x0 * w[4] + x1 * w[6] + x2 * w[5] + x3 * w[7];
            a2 += x0 * w[8] + x1 * w[10] + x2 * w[9] + x3 * w[11];
            a3 += x0 * w[12] + x1 * w[14] + x2 * w[13] + x3 * w[15];
            v += 4;
            w += 16;
        }
#endif
        acc[0] += a0;
        acc[1] += a1;
        acc[2] += a2;
        acc[3] += a3;
    }
    for (r = 0; r < tail; ++r)
    {
        const int32_t xr = v[r];
        acc[0] += xr * w[r];
        acc[1] += xr * w[tail + r];
        acc[2] += xr * w[2 * tail + r];
        acc[3] += xr * w[3 * tail + r];
    }
}

/* A gate FC's int64 requantization (tg_requantize_s64), made ready once per call: `fast` the pre-shifted multiplier
 * of tg_requantize_s64_fast (one SMMULR) where its total shift 15 - shift is in 17..32, else -1; the fast form also
 * needs the sum inside int32, checked per value (always so without a large bias, up to 512 columns). */
typedef struct
{
    int32_t m, shift, fast;
} tg_lstm_s16_rq64_t;

TG_INLINE tg_lstm_s16_rq64_t tg_lstm_s16_rq64_prepare(const int32_t *q)
{
    tg_lstm_s16_rq64_t r;
    const int32_t reduced = q[0] < 0x7FFF0000 ? (q[0] + (1 << 15)) >> 16 : 0x7FFF;
    const int32_t total = 15 - q[1];
    r.m = q[0];
    r.shift = q[1];
    r.fast = total >= 17 && total <= 32 ? (int32_t)((uint32_t)reduced << (32 - total)) : -1;
    return r;
}

TG_INLINE int32_t tg_lstm_s16_rq64(int64_t acc, const tg_lstm_s16_rq64_t *r)
{
    if (r->fast >= 0 && acc >= INT32_MIN && acc <= INT32_MAX)
    {
        return tg_requantize_s64_fast((int32_t)acc, r->fast);
    }
    return tg_requantize_s64(acc, r->m, r->shift);
}

/* gate g's pre-activation: sat16(rq(W x + b)) +sat sat16(rq(R h)) */
TG_INLINE int32_t tg_lstm_s16_pre(int64_t acc_in, int64_t acc_rec, const tg_lstm_s16_rq64_t *fc, int g)
{
    return tg_lstm_sat16(tg_lstm_sat16(tg_lstm_s16_rq64(acc_in, &fc[g])) +
                         tg_lstm_sat16(tg_lstm_s16_rq64(acc_rec, &fc[4 + g])));
}

/* the element-wise products' requantizations (rq[0..2]): forget x cell, input x cell gate, output x tanh(cell) */
#define TG_LSTM_S16_FORGET_CELL 0
#define TG_LSTM_S16_INPUT_CELL 1
#define TG_LSTM_S16_HIDDEN 2

/* One step: every unit's four gates from x and h (the previous hidden state), its cell state (updated in place) and
 * its hidden value hout[u]. FAST (a constant): every product's requantization has its tg_rq_fast constants and both
 * weight arrays are 4-byte aligned (always, in a generated library); otherwise each requantization's own form and
 * two-word loads where ALIGNED. */
TG_INLINE void tg_lstm_s16_step(const int16_t *x, const int16_t *h, int32_t features, int32_t units,
                                const int8_t *w_in, const int8_t *w_rec, const int64_t *bias,
                                const tg_lstm_s16_rq64_t *fc, const tg_lstm_rq_t *rq, const int32_t *q, int16_t *cell,
                                int16_t *hout, const int fast, const int aligned)
{
    const int32_t hidden_zp = q[TG_LSTM_Q_HIDDEN_ZP];
    const int32_t clip = q[TG_LSTM_Q_CLIP];
    const int32_t tanh_mult = q[TG_LSTM_Q_TANH_MULT], tanh_shift = q[TG_LSTM_Q_TANH_SHIFT];
    const int32_t tanh_round = tanh_shift > 0 ? (INT32_C(1) << (tanh_shift - 1)) : 0;
    int32_t u;
    for (u = 0; u < units; ++u)
    {
        int64_t ai[4], ar[4] = {0, 0, 0, 0};
        int32_t in_gate, forget, cell_gate, out_gate, c, th;
        memcpy(ai, bias + 4 * u, sizeof ai);
        tg_lstm_s16_quad(x, w_in, features, ai, fast || aligned);
        tg_lstm_s16_quad(h, w_rec, units, ar, fast || aligned);
        w_in += 4 * features;
        w_rec += 4 * units;
        forget = tg_lstm_sigmoid(tg_lstm_s16_pre(ai[1], ar[1], fc, 1));
        in_gate = tg_lstm_sigmoid(tg_lstm_s16_pre(ai[0], ar[0], fc, 0));
        cell_gate = tg_lstm_tanh_of(tg_lstm_s16_pre(ai[2], ar[2], fc, 2) * 3);
        /* cell = forget * cell + input * cell_gate, each product requantized to int16, then clipped */
        c = tg_lstm_sat16(tg_lstm_sat16(tg_lstm_rq(forget * cell[u], &rq[TG_LSTM_S16_FORGET_CELL], fast)) +
                          tg_lstm_sat16(tg_lstm_rq(in_gate * cell_gate, &rq[TG_LSTM_S16_INPUT_CELL], fast)));
        if (clip >= 0)
        {
            c = TG_MAX(TG_MIN(clip, c), -clip);
        }
        cell[u] = (int16_t)c;
        /* h = output * tanh(cell), this step's output row */
        out_gate = tg_lstm_sigmoid(tg_lstm_s16_pre(ai[3], ar[3], fc, 3));
        th = tg_lstm_tanh_of((c * tanh_mult + tanh_round) >> tanh_shift);
        hout[u] = (int16_t)tg_lstm_sat16(hidden_zp + tg_lstm_rq(th * out_gate, &rq[TG_LSTM_S16_HIDDEN], fast));
    }
}

void tg_lstm_s16(const int16_t *input, const int16_t *hidden_in, const int16_t *cell_in, int32_t batches,
                 int32_t steps, int32_t features, int32_t units, const int8_t *w_in, const int8_t *w_rec,
                 const int64_t *bias, const int32_t *q, int16_t *output, int16_t *hidden_out, int16_t *cell_out)
{
    const size_t state_bytes = (size_t)units * sizeof(int16_t);
    tg_lstm_s16_rq64_t fc[8];
    tg_lstm_rq_t rq[3];
    const int aligned = (((uintptr_t)w_in | (uintptr_t)w_rec) & 3u) == 0;
    int fast = aligned;
    int32_t b, t, k;
    for (k = 0; k < 4; ++k)
    {
        fc[k] = tg_lstm_s16_rq64_prepare(q + TG_LSTM_Q_IN(k));
        fc[4 + k] = tg_lstm_s16_rq64_prepare(q + TG_LSTM_Q_REC(k));
    }
    for (k = 0; k < 3; ++k)
    {
        rq[k] = tg_lstm_rq_prepare(q + TG_LSTM_Q_FORGET_CELL + 2 * k); /* FORGET_CELL, INPUT_CELL, HIDDEN */
        fast = fast && rq[k].e1 >= 1;
    }
    for (b = 0; b < batches; ++b)
    {
        const int16_t *h = hidden_in + b * units;
        int16_t *const cell = cell_out + b * units;
        memmove(cell, cell_in + b * units, state_bytes);
        for (t = 0; t < steps; ++t)
        {
            const int32_t row = b * steps + t;
            int16_t *hout = output + row * units;
            if (fast)
            {
                tg_lstm_s16_step(input + row * features, h, features, units, w_in, w_rec, bias, fc, rq, q, cell, hout,
                                 1, 1);
            }
            else
            {
                tg_lstm_s16_step(input + row * features, h, features, units, w_in, w_rec, bias, fc, rq, q, cell, hout,
                                 0, aligned);
            }
            h = hout;
        }
        memmove(hidden_out + b * units, h, state_bytes);
    }
}
