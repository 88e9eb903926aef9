/* tinygen int8 LSTM: see tg_lstm_s8.h. TFLite Micro's lstm_eval.h (LstmStep), bit for bit.
 *
 * Every gate of a step depends on x_t and the previous h only, and everything after the gate FCs is
 * elementwise, so the kernel runs unit by unit: the four gate rows of a unit (the weights' quad layout, made
 * offline by tinygen/ops/lstm.py) against x_t and against h in four accumulators each (int32 sums are exact
 * in any order), then that unit's gates, cell state and hidden value. On the DSP path (Cortex-M4/M7/M33, or
 * TG_DSP_EMULATE on a host) four bytes of the vector and of each row go through SXTB16 (and its ror #8 form)
 * into two SMLADs per row; the portable path reads the same layout one byte at a time. */
#include "tg_lstm_s8.h"

#include <string.h>

#include "tg_common.h"
#include "tg_conv_dsp_s8.h"
#include "tg_lstm_gates.h"

/* The four accumulators a[0..3] += the four rows of a quad (quad layout: per group of four columns the four
 * rows' four bytes, then each row's n % 4 last bytes) . v[0..n-1]. */
#if TG_DSP
#define TG_LSTM_GROUP(LOAD)                                                                                    \
    do                                                                                                         \
    {                                                                                                          \
        const uint32_t xv = tg_load32(v);                                                                      \
        const int32_t x02 = tg_sxtb16(xv), x13 = tg_sxtb16_ror8(xv);                                           \
        uint32_t w0, w1, w2, w3;                                                                               \
        LOAD(w0, w1, w, 0);                                                                                    \
        LOAD(w2, w3, w, 8);                                                                                    \
        TG_LSTM_QUAD_SMLADS(x02, x13);                                                                         \
    } while (0)
#endif

TG_INLINE void tg_lstm_quad(const int8_t *v, const int8_t *w, int32_t n, const int32_t *bias, int32_t a[4],
                             const int aligned)
{
    int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
    const int32_t tail = n & 3;
    int32_t g, r;
#if TG_DSP
    if (aligned)
    {
        for (g = n >> 2; g > 0; --g)
        {
            TG_LSTM_GROUP(TG_LDRD);
        }
    }
    else
    {
        for (g = n >> 2; g > 0; --g)
        {
            TG_LSTM_GROUP(TG_LDR2);
        }
    }
#else
    (void)aligned;
    for (g = n >> 2; g > 0; --g)
    {
        for (r = 0; r < 4; ++r)
        {
            const int32_t xr = v[r];
            a0 += xr * w[r];
            a1 += xr * w[4 + r];
            a2 += xr * w[8 + r];
            a3 += xr * w[12 + r];
        }
        v += 4;
        w += 16;
    }
#endif
    for (r = 0; r < tail; ++r)
    {
        const int32_t xr = v[r];
        a0 += xr * w[r];
        a1 += xr * w[tail + r];
        a2 += xr * w[2 * tail + r];
        a3 += xr * w[3 * tail + r];
    }
    a[0] = a0;
    a[1] = a1;
    a[2] = a2;
    a[3] = a3;
}

/* the requantizations in the order of the parameter block: the gates' input FCs, their recurrent FCs, then
 * forget x cell, input x cell gate and output x tanh(cell) */
#define TG_LSTM_RQ_IN(g) (g)
#define TG_LSTM_RQ_REC(g) (4 + (g))
#define TG_LSTM_RQ_FORGET_CELL 8
#define TG_LSTM_RQ_INPUT_CELL 9
#define TG_LSTM_RQ_HIDDEN 10
#define TG_LSTM_RQ_COUNT 11

/* gate g's pre-activation: sat16(rq(W x + b_in)) +sat sat16(rq(R h + b_rec)) */
TG_INLINE int32_t tg_lstm_pre(int32_t acc_in, int32_t acc_rec, const tg_lstm_rq_t *rq, int g, const int fast)
{
    return tg_lstm_sat16(tg_lstm_sat16(tg_lstm_rq(acc_in, &rq[TG_LSTM_RQ_IN(g)], fast)) +
                         tg_lstm_sat16(tg_lstm_rq(acc_rec, &rq[TG_LSTM_RQ_REC(g)], fast)));
}

/* One step: every unit's four gates from x and h (the previous hidden state), its cell state (updated in
 * place) and its hidden value hout[u]. TFLite's order of computation does not matter: each gate reads x and h
 * only, and the rest is elementwise. FAST (a constant): every requantization has its tg_rq_fast constants and
 * both weight arrays are 4-byte aligned (always, in a generated library); otherwise each requantization's own
 * form (tg_lstm_rq) and two-word loads where ALIGNED (both weight arrays 4-byte aligned). */
TG_INLINE void tg_lstm_step(const int8_t *x, const int8_t *h, int32_t features, int32_t units, const int8_t *w_in,
                            const int8_t *w_rec, const int32_t *b_in, const int32_t *b_rec, const tg_lstm_rq_t *rq,
                            const int32_t *q, int16_t *cell, int8_t *hout, const int fast, const int aligned)
{
    const int32_t hidden_zp = q[TG_LSTM_Q_HIDDEN_ZP];
    const int32_t clip = q[TG_LSTM_Q_CLIP];
    const int32_t tanh_mult = q[TG_LSTM_Q_TANH_MULT], tanh_shift = q[TG_LSTM_Q_TANH_SHIFT];
    const int32_t tanh_round = tanh_shift > 0 ? (INT32_C(1) << (tanh_shift - 1)) : 0;
    int32_t u;
    for (u = 0; u < units; ++u)
    {
        int32_t ai[4], ar[4];
        int32_t in_gate, forget, cell_gate, out_gate, c, th;
        tg_lstm_quad(x, w_in, features, b_in + 4 * u, ai, fast || aligned);
        tg_lstm_quad(h, w_rec, units, b_rec + 4 * u, ar, fast || aligned);
        w_in += 4 * features;
        w_rec += 4 * units;
        forget = tg_lstm_sigmoid(tg_lstm_pre(ai[1], ar[1], rq, 1, fast));
        in_gate = tg_lstm_sigmoid(tg_lstm_pre(ai[0], ar[0], rq, 0, fast));
        cell_gate = tg_lstm_tanh_of(tg_lstm_pre(ai[2], ar[2], rq, 2, fast) * 3);
        /* cell = forget * cell + input * cell_gate, each product requantized to int16, then clipped */
        c = tg_lstm_sat16(tg_lstm_sat16(tg_lstm_rq(forget * cell[u], &rq[TG_LSTM_RQ_FORGET_CELL], fast)) +
                          tg_lstm_sat16(tg_lstm_rq(in_gate * cell_gate, &rq[TG_LSTM_RQ_INPUT_CELL], fast)));
        if (clip >= 0)
        {
            c = TG_MAX(TG_MIN(clip, c), -clip);
        }
        cell[u] = (int16_t)c;
        /* h = output * tanh(cell), this step's output row */
        out_gate = tg_lstm_sigmoid(tg_lstm_pre(ai[3], ar[3], rq, 3, fast));
        th = tg_lstm_tanh_of((c * tanh_mult + tanh_round) >> tanh_shift);
        hout[u] = tg_sat_s8(hidden_zp + tg_lstm_rq(th * out_gate, &rq[TG_LSTM_RQ_HIDDEN], fast));
    }
}

void tg_lstm_s8(const int8_t *input, const int8_t *hidden_in, const int8_t *cell_in, int32_t batches, int32_t steps,
                int32_t features, int32_t units, const int8_t *w_in, const int8_t *w_rec, const int32_t *b_in,
                const int32_t *b_rec, const int32_t *q, int8_t *scratch, int8_t *output, int8_t *hidden_out,
                int8_t *cell_out)
{
    int16_t *const cell = (int16_t *)(void *)scratch;
    const size_t state_bytes = (size_t)units * sizeof(int16_t);
    tg_lstm_rq_t rq[TG_LSTM_RQ_COUNT];
    const int aligned = (((uintptr_t)w_in | (uintptr_t)w_rec) & 3u) == 0;
    int fast = aligned;
    int32_t b, t, k;
    for (k = 0; k < TG_LSTM_RQ_COUNT; ++k)
    {
        rq[k] = tg_lstm_rq_prepare(q + 2 * k); /* TG_LSTM_Q_IN(0) = 0, ... TG_LSTM_Q_HIDDEN = 20 */
        fast = fast && rq[k].e1 >= 1;
    }
    for (b = 0; b < batches; ++b)
    {
        const int8_t *h = hidden_in + b * units;
        memcpy(cell, cell_in + (size_t)b * state_bytes, state_bytes);
        for (t = 0; t < steps; ++t)
        {
            const int32_t row = b * steps + t;
            int8_t *hout = output + row * units;
            if (fast)
            {
                tg_lstm_step(input + row * features, h, features, units, w_in, w_rec, b_in, b_rec, rq, q, cell,
                             hout, 1, 1);
            }
            else
            {
                tg_lstm_step(input + row * features, h, features, units, w_in, w_rec, b_in, b_rec, rq, q, cell,
                             hout, 0, aligned);
            }
            h = hout;
        }
        memcpy(hidden_out + b * units, h, (size_t)units);
        memcpy(cell_out + (size_t)b * state_bytes, cell, state_bytes);
    }
}
