/* tinygen int8 LSTM: see tg_lstm_s8.h. TFLite Micro's lstm_eval.h (LstmStep), bit for bit. */
#include "tg_lstm_s8.h"

#include <string.h>

#include "tg_common.h"

/* TFLite's sigmoid_table_uint16: 65536 * sigmoid(k / 32), k = 0..255 (kernels/internal/common.h). */
static const uint16_t tg_lstm_sigmoid_table[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535};

TG_INLINE int16_t tg_lstm_sat16(int32_t x)
{
    return (int16_t)TG_CLAMP(x, -32768, 32767);
}

/* reference_integer_ops::Logistic (int16), input multiplier 3 (Q3.12 in), Q0.15 out. */
TG_INLINE int16_t tg_lstm_sigmoid(int16_t v)
{
    const int32_t x = (int32_t)v * 3;
    const uint32_t a = (uint32_t)(x < 0 ? -x : x);
    const uint32_t uh = a >> 9;
    uint32_t result;
    if (uh >= 255u)
    {
        result = UINT32_C(0x7FFF) << 10;
    }
    else
    {
        const uint32_t ua = tg_lstm_sigmoid_table[uh];
        const uint32_t ub = tg_lstm_sigmoid_table[uh + 1u];
        result = (ua << 9) + (a & 0x1FFu) * (ub - ua);
    }
    result = x >= 0 ? result + (1u << 9) : (1u << 25) - result + (1u << 9) - 1u;
    return (int16_t)(result >> 10);
}

/* reference_integer_ops::Tanh (int16): (v * mult + round) >> shift, then the interpolated table. */
TG_INLINE int16_t tg_lstm_tanh(int16_t v, int32_t mult, int32_t shift)
{
    const int32_t round = shift > 0 ? (INT32_C(1) << (shift - 1)) : 0;
    const int32_t x = ((int32_t)v * mult + round) >> shift;
    const uint32_t a = (uint32_t)(x < 0 ? -x : x);
    const uint32_t uh = a >> 8;
    int32_t result;
    if (uh >= 255u)
    {
        result = INT32_C(0xFFFF) << 8;
    }
    else
    {
        const int32_t ua = tg_lstm_sigmoid_table[uh];
        const int32_t ub = tg_lstm_sigmoid_table[uh + 1u];
        result = (ua << 8) + (int32_t)(a & 0xFFu) * (ub - ua);
    }
    result = x >= 0 ? result - (INT32_C(1) << 23) + (1 << 7) : -result + (INT32_C(1) << 23) + (1 << 7) - 1;
    return (int16_t)(result >> 8);
}

/* One gate for every unit: sat16(rq(W x + b_in)) +sat sat16(rq(R h + b_rec)), then the activation. */
static void tg_lstm_gate(const int8_t *x, int32_t features, const int8_t *h, int32_t units, const int8_t *w,
                         const int8_t *r, const int32_t *b_in, const int32_t *b_rec, const int32_t *q_in,
                         const int32_t *q_rec, int tanh_gate, int16_t *gate)
{
    int32_t u, k;
    for (u = 0; u < units; ++u)
    {
        const int8_t *wrow = w + u * features;
        const int8_t *rrow = r + u * units;
        int32_t acc_in = b_in[u];
        int32_t acc_rec = b_rec[u];
        int32_t pre;
        for (k = 0; k < features; ++k)
        {
            acc_in += (int32_t)wrow[k] * x[k];
        }
        for (k = 0; k < units; ++k)
        {
            acc_rec += (int32_t)rrow[k] * h[k];
        }
        pre = (int32_t)tg_lstm_sat16(tg_requantize(acc_in, q_in[0], q_in[1])) +
              (int32_t)tg_lstm_sat16(tg_requantize(acc_rec, q_rec[0], q_rec[1]));
        pre = tg_lstm_sat16(pre);
        gate[u] = tanh_gate ? tg_lstm_tanh((int16_t)pre, 3, 0) : tg_lstm_sigmoid((int16_t)pre);
    }
}

void tg_lstm_s8(const int8_t *input, const int8_t *hidden_in, const int8_t *cell_in, int32_t batches, int32_t steps,
                int32_t features, int32_t units, const int8_t *w_in, const int8_t *w_rec, const int32_t *b_in,
                const int32_t *b_rec, const int32_t *q, int8_t *scratch, int8_t *output, int8_t *hidden_out,
                int8_t *cell_out)
{
    int16_t *const gates = (int16_t *)(void *)scratch; /* [4][units]: input, forget, cell, output */
    int16_t *const cell = gates + 4 * units;
    const size_t state_bytes = (size_t)units * sizeof(int16_t);
    const int32_t hidden_zp = q[TG_LSTM_Q_HIDDEN_ZP];
    const int32_t clip = q[TG_LSTM_Q_CLIP];
    int32_t b, t, u, g;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *h = hidden_in + b * units;
        memcpy(cell, cell_in + (size_t)b * state_bytes, state_bytes);
        for (t = 0; t < steps; ++t)
        {
            const int32_t row = b * steps + t;
            const int8_t *x = input + row * features;
            int8_t *hout = output + row * units;
            /* forget, input and cell gates (TFLite Micro's order; each depends on x and h only) */
            for (g = 0; g < 3; ++g)
            {
                const int gate = g == 0 ? 1 : g == 1 ? 0 : 2;
                tg_lstm_gate(x, features, h, units, w_in + gate * units * features, w_rec + gate * units * units,
                             b_in + gate * units, b_rec + gate * units, q + TG_LSTM_Q_IN(gate), q + TG_LSTM_Q_REC(gate),
                             gate == 2, gates + gate * units);
            }
            /* cell = forget * cell + input * cell_gate, each product requantized to int16, then clipped */
            for (u = 0; u < units; ++u)
            {
                const int32_t kept = tg_lstm_sat16(tg_requantize((int32_t)gates[units + u] * cell[u],
                                                                 q[TG_LSTM_Q_FORGET_CELL], q[TG_LSTM_Q_FORGET_CELL + 1]));
                const int32_t added = tg_lstm_sat16(tg_requantize((int32_t)gates[u] * gates[2 * units + u],
                                                                  q[TG_LSTM_Q_INPUT_CELL], q[TG_LSTM_Q_INPUT_CELL + 1]));
                int32_t c = tg_lstm_sat16(kept + added);
                if (clip >= 0)
                {
                    c = TG_MAX(TG_MIN(clip, c), -clip);
                }
                cell[u] = (int16_t)c;
            }
            /* output gate (from the same h), then h = output * tanh(cell), written as this step's row */
            tg_lstm_gate(x, features, h, units, w_in + 3 * units * features, w_rec + 3 * units * units, b_in + 3 * units,
                         b_rec + 3 * units, q + TG_LSTM_Q_IN(3), q + TG_LSTM_Q_REC(3), 0, gates + 3 * units);
            for (u = 0; u < units; ++u)
            {
                const int32_t th = tg_lstm_tanh(cell[u], q[TG_LSTM_Q_TANH_MULT], q[TG_LSTM_Q_TANH_SHIFT]);
                const int32_t y = hidden_zp + tg_requantize(th * gates[3 * units + u], q[TG_LSTM_Q_HIDDEN],
                                                            q[TG_LSTM_Q_HIDDEN + 1]);
                hout[u] = tg_sat_s8(y);
            }
            h = hout;
        }
        memcpy(hidden_out + b * units, h, (size_t)units);
        memcpy(cell_out + (size_t)b * state_bytes, cell, state_bytes);
    }
}
