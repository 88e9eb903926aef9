/* tinygen integer LSTM: the gate arithmetic of TFLite Micro's integer LSTM (lstm_eval.h), bit-exact, shared by
 * tg_lstm_s8 (int8 activations) and tg_lstm_s16 (16x8): the parameter block's layout, the int16 sigmoid and tanh
 * (TFLite's interpolated table) and the int32 requantizations of the element-wise products. Header-only. */
#ifndef TG_LSTM_GATES_H
#define TG_LSTM_GATES_H

#include <stdint.h>

#include "tg_common.h"
#include "tg_conv_dsp_s8.h"
#include "tg_requant_fast.h"

/* The int32 parameter block `q` (tinygen/ops/lstm.py, quant_words): gates in the order input, forget,
 * cell, output (g = 0..3). */
#define TG_LSTM_Q_IN(g) (2 * (g))          /* input FC multiplier, shift (to int16 Q3.12) */
#define TG_LSTM_Q_REC(g) (8 + 2 * (g))     /* recurrent FC multiplier, shift */
#define TG_LSTM_Q_FORGET_CELL 16           /* forget gate x cell state -> cell state */
#define TG_LSTM_Q_INPUT_CELL 18            /* input gate x cell gate -> cell state */
#define TG_LSTM_Q_HIDDEN 20                /* output gate x tanh(cell) -> hidden state (int8, 16x8: int16) */
#define TG_LSTM_Q_HIDDEN_ZP 22             /* hidden state zero point */
#define TG_LSTM_Q_CLIP 23                  /* quantized cell clip, -1: no clipping */
#define TG_LSTM_Q_TANH_MULT 24             /* tanh(cell) input rescaling: (c * mult + round) >> shift */
#define TG_LSTM_Q_TANH_SHIFT 25
#define TG_LSTM_Q_WORDS 26

#if !TG_DSP
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
#endif

/* int16 saturation: one SSAT where the core has it (every Armv7-M/v8-M Mainline core) */
TG_INLINE int32_t tg_lstm_sat16(int32_t x)
{
#if defined(__ARM_FEATURE_SAT)
    /* the builtin behind ACLE's __ssat macro, whose expansion trips -Wsign-conversion */
    return (int32_t)__builtin_arm_ssat((int)x, 16);
#else
    return TG_CLAMP(x, -32768, 32767);
#endif
}

#if TG_DSP
/* the same table as pairs for SMLAD, k = 0..254: (table[k] - 32768) | (table[k + 1] - table[k]) << 16 (both
 * int16 lanes non-negative), so one SMLAD of the pair and (frac << 16) | 2^n interpolates:
 * (table[k] - 32768) * 2^n + frac * (table[k + 1] - table[k]) = TFLite's (ua << n) + frac * (ub - ua) - 2^(15+n) */
static const uint32_t tg_lstm_sigmoid_pairs[255] = {
    0x02AB0000u, 0x02AA02ABu, 0x02A80555u, 0x02A807FDu, 0x02A40AA5u, 0x02A20D49u, 0x029E0FEBu, 0x029B1289u,
    0x02951524u, 0x029117B9u, 0x028B1A4Au, 0x02851CD5u, 0x027E1F5Au, 0x027821D8u, 0x02702450u, 0x026826C0u,
    0x02602928u, 0x02572B88u, 0x024F2DDFu, 0x0245302Eu, 0x023C3273u, 0x023234AFu, 0x022836E1u, 0x021E3909u,
    0x02143B27u, 0x02093D3Bu, 0x01FF3F44u, 0x01F44143u, 0x01E94337u, 0x01DE4520u, 0x01D346FEu, 0x01C848D1u,
    0x01BE4A99u, 0x01B24C57u, 0x01A84E09u, 0x019C4FB1u, 0x0192514Du, 0x018752DFu, 0x017D5466u, 0x017255E3u,
    0x01685755u, 0x015D58BDu, 0x01545A1Au, 0x01495B6Eu, 0x01405CB7u, 0x01365DF7u, 0x012C5F2Du, 0x01236059u,
    0x011B617Cu, 0x01116297u, 0x010863A8u, 0x010064B0u, 0x00F865B0u, 0x00F066A8u, 0x00E76798u, 0x00E0687Fu,
    0x00D8695Fu, 0x00D16A37u, 0x00CA6B08u, 0x00C36BD2u, 0x00BC6C95u, 0x00B66D51u, 0x00AF6E07u, 0x00A96EB6u,
    0x00A26F5Fu, 0x009E7001u, 0x0097709Fu, 0x00927136u, 0x008C71C8u, 0x00887254u, 0x008272DCu, 0x007E735Eu,
    0x007973DCu, 0x00757455u, 0x007074CAu, 0x006C753Au, 0x006875A6u, 0x0064760Eu, 0x00607672u, 0x005D76D2u,
    0x0059772Fu, 0x00567788u, 0x005277DEu, 0x004F7830u, 0x004C787Fu, 0x004A78CBu, 0x00467915u, 0x0044795Bu,
    0x0041799Fu, 0x003E79E0u, 0x003C7A1Eu, 0x003A7A5Au, 0x00387A94u, 0x00357ACCu, 0x00337B01u, 0x00317B34u,
    0x00307B65u, 0x002D7B95u, 0x002C7BC2u, 0x002A7BEEu, 0x00287C18u, 0x00267C40u, 0x00267C66u, 0x00237C8Cu,
    0x00227CAFu, 0x00217CD1u, 0x00207CF2u, 0x001E7D12u, 0x001D7D30u, 0x001C7D4Du, 0x001B7D69u, 0x001A7D84u,
    0x00187D9Eu, 0x00187DB6u, 0x00177DCEu, 0x00167DE5u, 0x00147DFBu, 0x00157E0Fu, 0x00137E24u, 0x00127E37u,
    0x00127E49u, 0x00117E5Bu, 0x00117E6Cu, 0x000F7E7Du, 0x000F7E8Cu, 0x000F7E9Bu, 0x000E7EAAu, 0x000D7EB8u,
    0x000D7EC5u, 0x000C7ED2u, 0x000C7EDEu, 0x000B7EEAu, 0x000B7EF5u, 0x000B7F00u, 0x000A7F0Bu, 0x00097F15u,
    0x00097F1Eu, 0x00097F27u, 0x00097F30u, 0x00087F39u, 0x00077F41u, 0x00087F48u, 0x00077F50u, 0x00077F57u,
    0x00077F5Eu, 0x00067F65u, 0x00067F6Bu, 0x00067F71u, 0x00057F77u, 0x00067F7Cu, 0x00057F82u, 0x00057F87u,
    0x00057F8Cu, 0x00047F91u, 0x00047F95u, 0x00057F99u, 0x00047F9Eu, 0x00037FA2u, 0x00047FA5u, 0x00047FA9u,
    0x00037FADu, 0x00037FB0u, 0x00037FB3u, 0x00037FB6u, 0x00037FB9u, 0x00037FBCu, 0x00037FBFu, 0x00027FC2u,
    0x00037FC4u, 0x00027FC7u, 0x00027FC9u, 0x00027FCBu, 0x00037FCDu, 0x00017FD0u, 0x00027FD1u, 0x00027FD3u,
    0x00027FD5u, 0x00027FD7u, 0x00017FD9u, 0x00027FDAu, 0x00017FDCu, 0x00027FDDu, 0x00017FDFu, 0x00017FE0u,
    0x00027FE1u, 0x00017FE3u, 0x00017FE4u, 0x00017FE5u, 0x00017FE6u, 0x00017FE7u, 0x00017FE8u, 0x00017FE9u,
    0x00017FEAu, 0x00017FEBu, 0x00017FECu, 0x00007FEDu, 0x00017FEDu, 0x00017FEEu, 0x00017FEFu, 0x00007FF0u,
    0x00017FF0u, 0x00017FF1u, 0x00007FF2u, 0x00017FF2u, 0x00007FF3u, 0x00017FF3u, 0x00007FF4u, 0x00017FF4u,
    0x00007FF5u, 0x00017FF5u, 0x00007FF6u, 0x00007FF6u, 0x00017FF6u, 0x00007FF7u, 0x00017FF7u, 0x00007FF8u,
    0x00007FF8u, 0x00017FF8u, 0x00007FF9u, 0x00007FF9u, 0x00007FF9u, 0x00017FF9u, 0x00007FFAu, 0x00007FFAu,
    0x00007FFAu, 0x00017FFAu, 0x00007FFBu, 0x00007FFBu, 0x00007FFBu, 0x00007FFBu, 0x00017FFBu, 0x00007FFCu,
    0x00007FFCu, 0x00007FFCu, 0x00007FFCu, 0x00007FFCu, 0x00017FFCu, 0x00007FFDu, 0x00007FFDu, 0x00007FFDu,
    0x00007FFDu, 0x00007FFDu, 0x00007FFDu, 0x00007FFDu, 0x00017FFDu, 0x00007FFEu, 0x00007FFEu, 0x00007FFEu,
    0x00007FFEu, 0x00007FFEu, 0x00007FFEu, 0x00007FFEu, 0x00007FFEu, 0x00007FFEu, 0x00017FFEu
};
#endif

/* reference_integer_ops::Logistic (int16), input multiplier 3 (Q3.12 in), Q0.15 out. |3 v| <= 98304, so the
 * table index |3 v| >> 9 <= 192 never reaches TFLite's saturation branch (index >= 255). For x < 0 TFLite
 * computes ((1 << 25) - r + 511) >> 10 from the table value r of |x|, which is 32768 - ((r + 512) >> 10)
 * (floor((511 - r) / 1024) = -floor((r + 512) / 1024)): the result for |x|, mirrored. */
TG_INLINE int32_t tg_lstm_sigmoid(int32_t v)
{
    const int32_t x = v * 3;
    const uint32_t a = (uint32_t)(x < 0 ? -x : x);
    const uint32_t uh = a >> 9;
#if TG_DSP
    const int32_t s = tg_smlad((int32_t)tg_lstm_sigmoid_pairs[uh], (int32_t)(((a & 0x1FFu) << 16) | (1u << 9)),
                               (1 << 24) + (1 << 9)) >> 10;
#else
    const uint32_t ua = tg_lstm_sigmoid_table[uh];
    const uint32_t ub = tg_lstm_sigmoid_table[uh + 1u];
    const int32_t s = (int32_t)(((ua << 9) + (a & 0x1FFu) * (ub - ua) + (1u << 9)) >> 10);
#endif
    return x >= 0 ? s : 32768 - s;
}

/* reference_integer_ops::Tanh (int16) of x, the input already rescaled: for x < 0 TFLite computes
 * (-r + (1 << 23) + 127) >> 8 from the table value r of |x|, which is -((r - (1 << 23) + 128) >> 8), the
 * result for |x| negated (r >= 1 << 23, so the shift is of a non-negative value). */
TG_INLINE int32_t tg_lstm_tanh_of(int32_t x)
{
    const uint32_t a = (uint32_t)(x < 0 ? -x : x);
    const uint32_t uh = a >> 8;
    int32_t t;
    if (uh >= 255u)
    {
        t = 0xFFFF - (1 << 15); /* ((0xFFFF << 8) - (1 << 23) + 128) >> 8 */
    }
    else
    {
#if TG_DSP
        t = tg_smlad((int32_t)tg_lstm_sigmoid_pairs[uh], (int32_t)(((a & 0xFFu) << 16) | (1u << 8)), 1 << 7) >> 8;
#else
        const uint32_t ua = tg_lstm_sigmoid_table[uh];
        const uint32_t ub = tg_lstm_sigmoid_table[uh + 1u];
        t = (int32_t)(((ua << 8) + (a & 0xFFu) * (ub - ua) - (1u << 23) + (1u << 7)) >> 8);
#endif
    }
    return x >= 0 ? t : -t;
}

/* A requantization (MultiplyByQuantizedMultiplier; every multiplier of the op is >= 0), made ready once per
 * call: for a right shift e = -shift in 2..31 tg_rq_fast's constants (tg_requant_fast.h, output offset 0:
 * hk = 2^(e-2), e1 = e - 1 >= 1), bit-exact and branch-free; for e = 1 (common: a gate FC's scale above 2^-13)
 * e1 = 0 and tg_lstm_rq_half; otherwise e1 = -1 and tg_requantize_mac. */
typedef struct
{
    int32_t m, hk, e1, shift;
} tg_lstm_rq_t;

TG_INLINE tg_lstm_rq_t tg_lstm_rq_prepare(const int32_t *q)
{
    tg_lstm_rq_t r;
    r.m = q[0];
    r.shift = q[1];
    r.hk = q[1] <= -2 && q[1] >= -31 ? (int32_t)(UINT32_C(1) << (-q[1] - 2)) : 0;
    r.e1 = q[1] <= -1 && q[1] >= -31 ? -q[1] - 1 : -1;
    return r;
}

/* MultiplyByQuantizedMultiplier with shift -1 (e = 1): tg_rq_fast's derivation, its 2^(30+e) = 2^31 in the low
 * word. Double rounding: S = acc * m + 2^30 + 2^31 - [acc < 0] * 2^31 (its h = floor((acc m + 2^30) / 2^31),
 * then (h + 1 - [h < 0]) >> 1, the floors merged); single rounding: S = acc * m + 2^31; the result is S >> 32. */
TG_INLINE int32_t tg_lstm_rq_half(int32_t acc, int32_t m)
{
#if TG_SINGLE_ROUNDING
    const uint32_t lo = UINT32_C(0x80000000);
#else
    const uint32_t lo = (~(uint32_t)acc & UINT32_C(0x80000000)) | UINT32_C(0x40000000);
#endif
    return (int32_t)(((int64_t)lo + (int64_t)acc * (int64_t)m) >> 32);
}

/* FAST (a constant after inlining): every requantization of the call has its tg_rq_fast constants; otherwise
 * each one takes them where it has them (a model with a few shifts below 2 keeps the fast form elsewhere) */
TG_INLINE int32_t tg_lstm_rq(int32_t acc, const tg_lstm_rq_t *r, const int fast)
{
    if (fast || r->e1 >= 1)
    {
        return tg_rq_fast(acc, r->m, r->hk, r->e1);
    }
    return r->e1 == 0 ? tg_lstm_rq_half(acc, r->m) : tg_requantize_mac(acc, r->m, r->shift);
}

#if TG_DSP
/* a0..a3 += the four gate rows' group of four columns . the vector's four values, given as two int16 pairs xa, xb
 * (their order matching the weights' SXTB16 / SXTB16 ror 8 halves); each row's four weight bytes are w0..w3, and
 * the group ends by advancing v by four values and w by 16 bytes. Shared by tg_lstm_s8 and tg_lstm_s16. */
#define TG_LSTM_QUAD_SMLADS(xa, xb)                                                                            \
    do                                                                                                         \
    {                                                                                                          \
        a0 = tg_smlad((xa), tg_sxtb16(w0), a0);                                                                \
        a0 = tg_smlad((xb), tg_sxtb16_ror8(w0), a0);                                                           \
        a1 = tg_smlad((xa), tg_sxtb16(w1), a1);                                                                \
        a1 = tg_smlad((xb), tg_sxtb16_ror8(w1), a1);                                                           \
        a2 = tg_smlad((xa), tg_sxtb16(w2), a2);                                                                \
        a2 = tg_smlad((xb), tg_sxtb16_ror8(w2), a2);                                                           \
        a3 = tg_smlad((xa), tg_sxtb16(w3), a3);                                                                \
        a3 = tg_smlad((xb), tg_sxtb16_ror8(w3), a3);                                                           \
        v += 4;                                                                                                \
        w += 16;                                                                                               \
    } while (0)
#endif

#endif /* TG_LSTM_GATES_H */
