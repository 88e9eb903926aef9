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

/* the helpers only some specialisations call (a library compiles only its own: TG_VARIANT), not to be reported
   unused where its selection leaves them out */
#if defined(__GNUC__)
#define TG_DW1D_SELECTED TG_INLINE __attribute__((unused))
#else
#define TG_DW1D_SELECTED TG_INLINE
#endif

/* the fast form's requantization before its shift (tg_dw_rq_fast of the doubled sum a2; on the portable path the
   same arithmetic in C) */
TG_INLINE int32_t tg_dw1d_rq(int32_t a2, int32_t m, int32_t rnd, const int sign)
{
#if TG_DSP
    return tg_dw_rq_fast(a2, m, rnd, sign);
#elif TG_SINGLE_ROUNDING
    (void)sign;
    return rnd + (int32_t)(((int64_t)a2 * m) >> 32);
#else
    return (sign ? rnd + (a2 >> 31) : rnd) + (int32_t)(((int64_t)a2 * m + (INT64_C(1) << 31)) >> 32);
#endif
}

/* the requantized, clamped output of a doubled sum acc in the fast form (q = {m, rnd, r}) */
TG_INLINE int8_t tg_dw1d_out(int32_t acc, int32_t m, int32_t rnd, int32_t r, const int sign, const int full,
                             int32_t act_min, int32_t act_max)
{
    const int32_t v = tg_dw1d_rq(acc, m, rnd, sign) >> r;
    return (int8_t)(full ? tg_rq_sat8(v) : TG_CLAMP(v, act_min, act_max));
}

/* Cortex-M0/M0+ (eight low registers): the four pointers of stride > 1 cost more than they save there, and one
   output's sum is faster with the taps copied to locals (measured on the Pico) */
#if defined(__ARM_ARCH_6M__)
#define TG_DW1D_V6M 1
#else
#define TG_DW1D_V6M 0
#endif

/* one channel's outputs along a line in the fast form: out[i * out_step] from line values i * stride ..
   i * stride + 2 * pairs - 1, w[p] the doubled tap pairs (on the portable path, ws the doubled taps), bias2 the
   doubled bias, q = {multiplier, rounding term with the output offset, right shift}; `pairs`, `sign` (the double
   rounding's sign correction) and `full` (the clamp range is all of -128..127: one SSAT) are constants where
   inlined, so the weights and the channel's requantization values sit in registers and the tap loop unrolls */
TG_DW1D_SELECTED void tg_dw1d_run(const int16_t *line, int32_t n, int32_t stride, const int32_t *w, const int16_t *ws,
                           const int32_t pairs, int32_t bias2, const int32_t *q, const int sign, const int full,
                           int8_t *out, int32_t out_step, int32_t act_min, int32_t act_max)
{
    const int32_t m = q[0], rnd = q[1], r = q[2];
    int8_t *const out_end = out + n * out_step;
    int32_t p, k;
#if TG_DSP
    const int32_t w0 = w[0], w1 = pairs > 1 ? w[1] : 0, w2 = pairs > 2 ? w[2] : 0, w3 = pairs > 3 ? w[3] : 0;
    const int32_t w4 = pairs > 4 ? w[4] : 0;
    (void)ws;
#elif TG_DW1D_V6M
    /* local copies: the int8 stores cannot alias them (on Cortex-M0/M0+ the faster form, spilled or not) */
    const int32_t v0 = ws[0], v1 = ws[1], v2 = pairs > 1 ? ws[2] : 0, v3 = pairs > 1 ? ws[3] : 0;
    const int32_t v4 = pairs > 2 ? ws[4] : 0, v5 = pairs > 2 ? ws[5] : 0, v6 = pairs > 3 ? ws[6] : 0;
    const int32_t v7 = pairs > 3 ? ws[7] : 0, v8 = pairs > 4 ? ws[8] : 0, v9 = pairs > 4 ? ws[9] : 0;
    (void)w;
#else
    (void)w;
#endif
    k = -n * out_step;
#if !TG_DSP
    /* four outputs a turn, each tap read once for the four (one LDRSH of the tap, four MLAs: on a core without SIMD
       the ten taps held in registers would spill, measured on M3); with stride 1 the window of values slides through
       registers (one new value a tap), else each output reads its values through its own pointer. The outputs
       past the last four: one at a time below. */
#define TG_DW1D_TAPS(TAP)                                                                                          \
    do                                                                                                             \
    {                                                                                                              \
        TAP(0);                                                                                                    \
        TAP(1);                                                                                                    \
        if (pairs > 1)                                                                                             \
        {                                                                                                          \
            TAP(2);                                                                                                \
            TAP(3);                                                                                                \
        }                                                                                                          \
        if (pairs > 2)                                                                                             \
        {                                                                                                          \
            TAP(4);                                                                                                \
            TAP(5);                                                                                                \
        }                                                                                                          \
        if (pairs > 3)                                                                                             \
        {                                                                                                          \
            TAP(6);                                                                                                \
            TAP(7);                                                                                                \
        }                                                                                                          \
        if (pairs > 4)                                                                                             \
        {                                                                                                          \
            TAP(8);                                                                                                \
            TAP(9);                                                                                                \
        }                                                                                                          \
    } while (0)
#define TG_DW1D_PUT4()                                                                                             \
    do                                                                                                             \
    {                                                                                                              \
        out_end[k] = tg_dw1d_out(a0, m, rnd, r, sign, full, act_min, act_max);                                     \
        out_end[k + out_step] = tg_dw1d_out(a1, m, rnd, r, sign, full, act_min, act_max);                          \
        out_end[k + 2 * out_step] = tg_dw1d_out(a2, m, rnd, r, sign, full, act_min, act_max);                      \
        out_end[k + 3 * out_step] = tg_dw1d_out(a3, m, rnd, r, sign, full, act_min, act_max);                      \
    } while (0)
#define TG_DW1D_ONE(t) acc += line[t] * ws[t]
#define TG_DW1D_SLIDE(t)                                                                                           \
    do                                                                                                             \
    {                                                                                                              \
        const int32_t wt = ws[t], x3 = line[(t) + 3];                                                              \
        a0 += x0 * wt;                                                                                             \
        a1 += x1 * wt;                                                                                             \
        a2 += x2 * wt;                                                                                             \
        a3 += x3 * wt;                                                                                             \
        x0 = x1;                                                                                                   \
        x1 = x2;                                                                                                   \
        x2 = x3;                                                                                                   \
    } while (0)
#define TG_DW1D_APART(t)                                                                                           \
    do                                                                                                             \
    {                                                                                                              \
        const int32_t wt = ws[t];                                                                                  \
        a0 += line[t] * wt;                                                                                        \
        a1 += l1[t] * wt;                                                                                          \
        a2 += l2[t] * wt;                                                                                          \
        a3 += l3[t] * wt;                                                                                          \
    } while (0)
    if (pairs <= 5 && stride == 1)
    {
        for (; k <= -4 * out_step; k += 4 * out_step, line += 4)
        {
            int32_t a0 = bias2, a1 = bias2, a2 = bias2, a3 = bias2;
            int32_t x0 = line[0], x1 = line[1], x2 = line[2];
            TG_DW1D_TAPS(TG_DW1D_SLIDE);
            TG_DW1D_PUT4();
        }
    }
#if !TG_DW1D_V6M
    else if (pairs <= 5)
    {
        const int16_t *l1 = line + stride, *l2 = line + 2 * stride, *l3 = line + 3 * stride;
        for (; k <= -4 * out_step; k += 4 * out_step)
        {
            int32_t a0 = bias2, a1 = bias2, a2 = bias2, a3 = bias2;
            TG_DW1D_TAPS(TG_DW1D_APART);
            TG_DW1D_PUT4();
            line += 4 * stride;
            l1 += 4 * stride;
            l2 += 4 * stride;
            l3 += 4 * stride;
        }
    }
#endif
#undef TG_DW1D_SLIDE
#undef TG_DW1D_APART
#undef TG_DW1D_PUT4
#endif
    for (; k != 0; k += out_step, line += stride) /* one index, up to 0: one test a turn */
    {
        int32_t acc = bias2;
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
        /* no overflow: the lowering bounds the doubled sum (depthwise_ops.fast_requantization) */
#if TG_DW1D_V6M
        if (pairs <= 5)
        {
            acc += line[0] * v0 + line[1] * v1;
            if (pairs > 1)
            {
                acc += line[2] * v2 + line[3] * v3;
            }
            if (pairs > 2)
            {
                acc += line[4] * v4 + line[5] * v5;
            }
            if (pairs > 3)
            {
                acc += line[6] * v6 + line[7] * v7;
            }
            if (pairs > 4)
            {
                acc += line[8] * v8 + line[9] * v9;
            }
        }
#else
        /* the taps read at every output: ten held in registers spill, and the sum costs more (measured on M3) */
        if (pairs <= 5)
        {
            TG_DW1D_TAPS(TG_DW1D_ONE);
        }
#endif
        else
        {
            for (p = 0; p < 2 * pairs; ++p)
            {
                acc += line[p] * ws[p];
            }
        }
#endif
        out_end[k] = tg_dw1d_out(acc, m, rnd, r, sign, full, act_min, act_max);
    }
}
#if !TG_DSP
#undef TG_DW1D_TAPS
#undef TG_DW1D_ONE
#endif

/* kept out of the kernel's body, whose loop state would crowd the line loops' registers */
#if defined(__GNUC__) || defined(__clang__)
#define TG_DW1D_NOINLINE __attribute__((noinline))
#else
#define TG_DW1D_NOINLINE
#endif

/* one channel's line in the fast form: tg_dw1d_run with the tap-pair count (1..5, filters of up to 10 taps; N: more),
   `sign` and `full` as constants, each form a specialisation (TG_VARIANT DW1D_P<pairs|N>_<RELU|SIGNED>[_SAT]:
   tinygen.lowering.depthwise_ops.dw1d_variants names the ones a call runs) */
#define TG_DW1D_LINE_FORM(pairs_, sign_, full_, variant)                                                           \
    TG_TRACE_VARIANT(variant);                                                                                     \
    tg_dw1d_run(line, n, stride, w, ws, (pairs_), bias2, q, (sign_), (full_), out, out_step, act_min, act_max);    \
    return
static TG_DW1D_NOINLINE void tg_dw1d_line(const int16_t *line, int32_t n, int32_t stride, const int32_t *w,
                                          const int16_t *ws, int32_t pairs, int32_t bias2, const int32_t *q,
                                          int32_t sign, int32_t full, int8_t *out, int32_t out_step, int32_t act_min,
                                          int32_t act_max)
{
    switch (4 * (pairs > 5 ? 0 : pairs) + 2 * sign + full)
    {
#if TG_VARIANT(DW1D_P1_RELU)
    case 4:
        TG_DW1D_LINE_FORM(1, 0, 0, DW1D_P1_RELU);
#endif
#if TG_VARIANT(DW1D_P1_RELU_SAT)
    case 5:
        TG_DW1D_LINE_FORM(1, 0, 1, DW1D_P1_RELU_SAT);
#endif
#if TG_VARIANT(DW1D_P1_SIGNED)
    case 6:
        TG_DW1D_LINE_FORM(1, 1, 0, DW1D_P1_SIGNED);
#endif
#if TG_VARIANT(DW1D_P1_SIGNED_SAT)
    case 7:
        TG_DW1D_LINE_FORM(1, 1, 1, DW1D_P1_SIGNED_SAT);
#endif
#if TG_VARIANT(DW1D_P2_RELU)
    case 8:
        TG_DW1D_LINE_FORM(2, 0, 0, DW1D_P2_RELU);
#endif
#if TG_VARIANT(DW1D_P2_RELU_SAT)
    case 9:
        TG_DW1D_LINE_FORM(2, 0, 1, DW1D_P2_RELU_SAT);
#endif
#if TG_VARIANT(DW1D_P2_SIGNED)
    case 10:
        TG_DW1D_LINE_FORM(2, 1, 0, DW1D_P2_SIGNED);
#endif
#if TG_VARIANT(DW1D_P2_SIGNED_SAT)
    case 11:
        TG_DW1D_LINE_FORM(2, 1, 1, DW1D_P2_SIGNED_SAT);
#endif
#if TG_VARIANT(DW1D_P3_RELU)
    case 12:
        TG_DW1D_LINE_FORM(3, 0, 0, DW1D_P3_RELU);
#endif
#if TG_VARIANT(DW1D_P3_RELU_SAT)
    case 13:
        TG_DW1D_LINE_FORM(3, 0, 1, DW1D_P3_RELU_SAT);
#endif
#if TG_VARIANT(DW1D_P3_SIGNED)
    case 14:
        TG_DW1D_LINE_FORM(3, 1, 0, DW1D_P3_SIGNED);
#endif
#if TG_VARIANT(DW1D_P3_SIGNED_SAT)
    case 15:
        TG_DW1D_LINE_FORM(3, 1, 1, DW1D_P3_SIGNED_SAT);
#endif
#if TG_VARIANT(DW1D_P4_RELU)
    case 16:
        TG_DW1D_LINE_FORM(4, 0, 0, DW1D_P4_RELU);
#endif
#if TG_VARIANT(DW1D_P4_RELU_SAT)
    case 17:
        TG_DW1D_LINE_FORM(4, 0, 1, DW1D_P4_RELU_SAT);
#endif
#if TG_VARIANT(DW1D_P4_SIGNED)
    case 18:
        TG_DW1D_LINE_FORM(4, 1, 0, DW1D_P4_SIGNED);
#endif
#if TG_VARIANT(DW1D_P4_SIGNED_SAT)
    case 19:
        TG_DW1D_LINE_FORM(4, 1, 1, DW1D_P4_SIGNED_SAT);
#endif
#if TG_VARIANT(DW1D_P5_RELU)
    case 20:
        TG_DW1D_LINE_FORM(5, 0, 0, DW1D_P5_RELU);
#endif
#if TG_VARIANT(DW1D_P5_RELU_SAT)
    case 21:
        TG_DW1D_LINE_FORM(5, 0, 1, DW1D_P5_RELU_SAT);
#endif
#if TG_VARIANT(DW1D_P5_SIGNED)
    case 22:
        TG_DW1D_LINE_FORM(5, 1, 0, DW1D_P5_SIGNED);
#endif
#if TG_VARIANT(DW1D_P5_SIGNED_SAT)
    case 23:
        TG_DW1D_LINE_FORM(5, 1, 1, DW1D_P5_SIGNED_SAT);
#endif
#if TG_VARIANT(DW1D_PN_RELU)
    case 0:
        TG_DW1D_LINE_FORM(pairs, 0, 0, DW1D_PN_RELU);
#endif
#if TG_VARIANT(DW1D_PN_RELU_SAT)
    case 1:
        TG_DW1D_LINE_FORM(pairs, 0, 1, DW1D_PN_RELU_SAT);
#endif
#if TG_VARIANT(DW1D_PN_SIGNED)
    case 2:
        TG_DW1D_LINE_FORM(pairs, 1, 0, DW1D_PN_SIGNED);
#endif
#if TG_VARIANT(DW1D_PN_SIGNED_SAT)
    case 3:
        TG_DW1D_LINE_FORM(pairs, 1, 1, DW1D_PN_SIGNED_SAT);
#endif
    default:
        break;
    }
    (void)line, (void)n, (void)stride, (void)w, (void)ws, (void)bias2, (void)q, (void)out, (void)out_step;
    (void)act_min, (void)act_max;
    TG_UNREACHABLE(); /* the library lacks this call's form: the lowering's bug */
}
#undef TG_DW1D_LINE_FORM

/* value j of a line (`step` apart in src; NULL: a padding line), input_zp outside 0..len-1 */
TG_INLINE int32_t tg_dw1d_at(const int8_t *src, int32_t len, int32_t step, int32_t j, int32_t input_zp)
{
    return src != NULL && j >= 0 && j < len ? src[j * step] : input_zp;
}


#if TG_DSP
/* SMLADX: acc + lo(a) * hi(b) + hi(a) * lo(b) */
TG_INLINE int32_t tg_dw1d_smladx(int32_t a, int32_t b, int32_t acc)
{
#if defined(__ARM_FEATURE_DSP)
    return __smladx(a, b, acc);
#else
    return tg_smlad((int32_t)tg_ror8(tg_ror8((uint32_t)a)), b, acc); /* the halves of a exchanged */
#endif
}

/* one channel's line in the fast form for five taps and stride 1 on the DSP path, as tg_dw1d_run3 for three: the
   window's first four values in two registers, the first pair in order (SMLAD with the taps' pair w01), the second
   the newer on the bottom (SMLADX with w23), then SMLABB of the new value with w4; PKHTB and PKHBT slide them */
TG_INLINE void tg_dw1d_run5(const int8_t *src, int32_t len, int32_t step, int32_t pad, int32_t n, const int8_t *f,
                            int32_t f_step, int32_t bias2, const int32_t *q, const int sign, const int full,
                            int8_t *out, int32_t input_zp, int32_t act_min, int32_t act_max)
{
    const int32_t m = q[0], rnd = q[1], r = q[2], w4 = 2 * f[4 * f_step];
    const int32_t w01 = (int32_t)(((uint32_t)(2 * f[0]) & 0xffffu) | ((uint32_t)(2 * f[f_step]) << 16));
    const int32_t w23 = (int32_t)(((uint32_t)(2 * f[2 * f_step]) & 0xffffu) | ((uint32_t)(2 * f[3 * f_step]) << 16));
    /* outputs 0..inner-1 read their last value inside the line (never before it: pad <= 4) */
    const int32_t inner = TG_MAX(TG_MIN(n, len + pad - 4), 0);
    uint32_t win01 = tg_pkhbt((uint32_t)(tg_dw1d_at(src, len, step, -pad, input_zp)),
                                  (uint32_t)(tg_dw1d_at(src, len, step, 1 - pad, input_zp)));
    uint32_t win32 = tg_pkhbt((uint32_t)(tg_dw1d_at(src, len, step, 3 - pad, input_zp)),
                                  (uint32_t)(tg_dw1d_at(src, len, step, 2 - pad, input_zp)));
    int32_t i, k, x4, acc, x[4];
    const int8_t *const next_end = src + (inner > 0 ? (4 - pad + inner) * step : 0);
    int8_t *const out_end = out + inner * step;
#define TG_DW1D_STEP5()                                                                                            \
    do                                                                                                             \
    {                                                                                                              \
        x4 = next_end[k];                                                                                          \
        acc = tg_smlabb(x4, w4, tg_dw1d_smladx((int32_t)win32, w23, tg_smlad((int32_t)win01, w01, bias2)));        \
        win01 = tg_pkhtb(win32, win01);                                                                            \
        win32 = tg_pkhbt((uint32_t)x4, win32);                                                                     \
        out_end[k] = tg_dw1d_out(acc, m, rnd, r, sign, full, act_min, act_max);                                    \
    } while (0)
    k = -inner * step;
    if (inner & 1)
    {
        TG_DW1D_STEP5();
        k += step;
    }
    while (k != 0) /* two outputs a turn: one loop test for both */
    {
        TG_DW1D_STEP5();
        k += step;
        TG_DW1D_STEP5();
        k += step;
    }
#undef TG_DW1D_STEP5
    /* the outputs past the line's end, the window's values back from its registers */
    x[0] = (int16_t)(win01 & 0xffffu);
    x[1] = (int16_t)(win01 >> 16);
    x[2] = (int16_t)(win32 >> 16);
    x[3] = (int16_t)(win32 & 0xffffu);
    for (i = inner; i < n; ++i)
    {
        acc = bias2 + x[0] * (2 * f[0]) + x[1] * (2 * f[f_step]) + x[2] * (2 * f[2 * f_step]) +
              x[3] * (2 * f[3 * f_step]) + input_zp * w4;
        out[i * step] = tg_dw1d_out(acc, m, rnd, r, sign, full, act_min, act_max);
        x[0] = x[1];
        x[1] = x[2];
        x[2] = x[3];
        x[3] = input_zp;
    }
}
#endif

/* one channel's line in the fast form for three taps and stride 1, straight from the int8 input (no line copy):
   output i reads values i - pad .. i - pad + 2 (pad 0..2), the window sliding through registers, one new value
   per output; values past the line's end read input_zp. Inputs and outputs are `step` apart (one index walks
   both, up to 0). w0, w1, w2: the doubled taps. On the DSP path the window's first two values are one register
   (the older on top): SMLADX with the taps' pair, SMLABB of the new value, and PKHBT slides the window. */
TG_INLINE void tg_dw1d_run3(const int8_t *src, int32_t len, int32_t step, int32_t pad, int32_t n, int32_t w0,
                            int32_t w1, int32_t w2, int32_t bias2, const int32_t *q, const int sign, const int full,
                            int8_t *out, int32_t input_zp, int32_t act_min, int32_t act_max)
{
    const int32_t m = q[0], rnd = q[1], r = q[2];
    /* outputs 0..inner-1 read their last value inside the line (never before it: pad <= 2) */
    const int32_t inner = TG_MAX(TG_MIN(n, len + pad - 2), 0);
    int32_t x0 = tg_dw1d_at(src, len, step, -pad, input_zp), x1 = tg_dw1d_at(src, len, step, 1 - pad, input_zp);
    int32_t i, k, x2, acc;
    /* past the inner outputs' last values, and past their outputs */
    const int8_t *const next_end = src + (inner > 0 ? (2 - pad + inner) * step : 0);
    int8_t *const out_end = out + inner * step;
#if TG_DSP
    const int32_t w01 = (int32_t)(((uint32_t)w0 & 0xffffu) | ((uint32_t)w1 << 16));
    uint32_t win = tg_pkhbt((uint32_t)x1, (uint32_t)x0);
#endif
/* output k's sum from its new value x2, the window moving on */
#if TG_DSP
#define TG_DW1D_STEP3()                                                                                            \
    do                                                                                                             \
    {                                                                                                              \
        x2 = next_end[k];                                                                                          \
        acc = tg_smlabb(x2, w2, tg_dw1d_smladx((int32_t)win, w01, bias2));                                         \
        win = tg_pkhbt((uint32_t)x2, win);                                                                         \
        out_end[k] = tg_dw1d_out(acc, m, rnd, r, sign, full, act_min, act_max);                                    \
    } while (0)
#else
#define TG_DW1D_STEP3()                                                                                            \
    do                                                                                                             \
    {                                                                                                              \
        x2 = next_end[k];                                                                                          \
        acc = bias2 + x0 * w0 + x1 * w1 + x2 * w2;                                                                 \
        x0 = x1;                                                                                                   \
        x1 = x2;                                                                                                   \
        out_end[k] = tg_dw1d_out(acc, m, rnd, r, sign, full, act_min, act_max);                                    \
    } while (0)
#endif
    k = -inner * step;
    if (inner & 1)
    {
        TG_DW1D_STEP3();
        k += step;
    }
    while (k != 0) /* two outputs a turn: one loop test for both */
    {
        TG_DW1D_STEP3();
        k += step;
        TG_DW1D_STEP3();
        k += step;
    }
#undef TG_DW1D_STEP3
    /* the outputs past the line's end (on the DSP path the window's values back from its register) */
#if TG_DSP
    x0 = (int16_t)(win >> 16);
    x1 = (int16_t)(win & 0xffffu);
#endif
    for (i = inner; i < n; ++i)
    {
        out[i * step] = tg_dw1d_out(bias2 + x0 * w0 + x1 * w1 + input_zp * w2, m, rnd, r, sign, full, act_min,
                                    act_max);
        x0 = x1;
        x1 = input_zp;
    }
}

/* a line of every channel (channel c's values at src + c, its outputs at out + c) in tg_dw1d_run3's form (`taps`
   3) or tg_dw1d_run5's (5, DSP path only): filter, bias (doubled) and rq as the kernel's */
TG_DW1D_SELECTED void tg_dw1d_chans(const int8_t *src, int32_t len, int32_t step, int32_t pad, int32_t n, int32_t channels,
                             const int8_t *filter, const int32_t taps, const int32_t *bias, const int32_t *rq,
                             const int sign, const int full, int8_t *out, int32_t input_zp, int32_t act_min,
                             int32_t act_max)
{
    int32_t c;
#if !TG_DSP
    (void)taps;
#endif
    for (c = 0; c < channels; ++c)
    {
#if TG_DSP
        if (taps == 5)
        {
            tg_dw1d_run5(src + c, len, step, pad, n, filter + c, channels, bias[c], rq + 3 * c, sign, full, out + c,
                         input_zp, act_min, act_max);
            continue;
        }
#endif
        tg_dw1d_run3(src + c, len, step, pad, n, 2 * filter[c], 2 * filter[channels + c], 2 * filter[2 * channels + c],
                     bias[c], rq + 3 * c, sign, full, out + c, input_zp, act_min, act_max);
    }
}

/* tg_dw1d_chans with `taps` (3, or 5 on the DSP path), `sign` and `full` as constants, each form a specialisation
   (TG_VARIANT DW1D_D<taps>_<RELU|SIGNED>[_SAT]) */
#define TG_DW1D_CHANS(taps_, sign_, full_, variant)                                                                \
    TG_TRACE_VARIANT(variant);                                                                                     \
    tg_dw1d_chans(src, len, step, pad, n, channels, filter, (taps_), bias, rq, (sign_), (full_), out, input_zp,    \
                  act_min, act_max);                                                                               \
    return
static TG_DW1D_NOINLINE void tg_dw1d_direct(const int8_t *src, int32_t len, int32_t step, int32_t pad, int32_t n,
                                            int32_t channels, const int8_t *filter, int32_t taps, const int32_t *bias,
                                            const int32_t *rq, int32_t sign, int32_t full, int8_t *out,
                                            int32_t input_zp, int32_t act_min, int32_t act_max)
{
    switch (4 * (taps == 5) + 2 * sign + full)
    {
#if TG_VARIANT(DW1D_D3_RELU)
    case 0:
        TG_DW1D_CHANS(3, 0, 0, DW1D_D3_RELU);
#endif
#if TG_VARIANT(DW1D_D3_RELU_SAT)
    case 1:
        TG_DW1D_CHANS(3, 0, 1, DW1D_D3_RELU_SAT);
#endif
#if TG_VARIANT(DW1D_D3_SIGNED)
    case 2:
        TG_DW1D_CHANS(3, 1, 0, DW1D_D3_SIGNED);
#endif
#if TG_VARIANT(DW1D_D3_SIGNED_SAT)
    case 3:
        TG_DW1D_CHANS(3, 1, 1, DW1D_D3_SIGNED_SAT);
#endif
#if TG_DSP && TG_VARIANT(DW1D_D5_RELU)
    case 4:
        TG_DW1D_CHANS(5, 0, 0, DW1D_D5_RELU);
#endif
#if TG_DSP && TG_VARIANT(DW1D_D5_RELU_SAT)
    case 5:
        TG_DW1D_CHANS(5, 0, 1, DW1D_D5_RELU_SAT);
#endif
#if TG_DSP && TG_VARIANT(DW1D_D5_SIGNED)
    case 6:
        TG_DW1D_CHANS(5, 1, 0, DW1D_D5_SIGNED);
#endif
#if TG_DSP && TG_VARIANT(DW1D_D5_SIGNED_SAT)
    case 7:
        TG_DW1D_CHANS(5, 1, 1, DW1D_D5_SIGNED_SAT);
#endif
    default:
        break;
    }
    (void)src, (void)len, (void)step, (void)pad, (void)n, (void)channels, (void)filter, (void)bias, (void)rq;
    (void)out, (void)input_zp, (void)act_min, (void)act_max;
    TG_UNREACHABLE(); /* the library lacks this call's form: the lowering's bug */
}
#undef TG_DW1D_CHANS

/* one channel's line in the other forms (layers whose sums or shifts the fast form does not cover: rare): the
   plain taps and the channel's rq values of `mode` (tg_requant_fast.h) */
static TG_DW1D_NOINLINE void tg_dw1d_line_any(const int16_t *line, int32_t n, int32_t stride, const int16_t *ws, int32_t taps,
                             int32_t bias, const int32_t *rq, int32_t mode, int8_t *out, int32_t out_step,
                             int32_t output_offset, int32_t act_min, int32_t act_max)
{
#if TG_VARIANT(DW1D_ANY)
    int32_t i, p;
    TG_TRACE_VARIANT(DW1D_ANY);
    for (i = 0; i < n; ++i, line += stride)
    {
        /* the taps' sum is at most 16 * 128 * 128 in magnitude; the bias joins it in uint32 (the folded bias may
           sit near the int32 limits: TFLite's sum wraps the same) */
        int32_t sum = 0;
        for (p = 0; p < taps; ++p)
        {
            sum += line[p] * ws[p];
        }
        out[i * out_step] = tg_rq_any((int32_t)((uint32_t)bias + (uint32_t)sum), rq, mode, output_offset, act_min,
                                      act_max);
    }
#else
    (void)line, (void)n, (void)stride, (void)ws, (void)taps, (void)bias, (void)rq, (void)mode, (void)out;
    (void)out_step, (void)output_offset, (void)act_min, (void)act_max;
    TG_UNREACHABLE(); /* the library lacks this call's form: the lowering's bug */
#endif
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
    const int32_t fast = mode == TG_DW1D_FAST_RELU || mode == TG_DW1D_FAST_SIGNED;
    const int32_t sign = mode == TG_DW1D_FAST_SIGNED, full = act_min == -128 && act_max == 127;
    const int32_t scale = fast ? 2 : 1; /* the fast form accumulates twice the sum */
    /* three taps (five on the DSP path), stride 1, outputs as far apart as inputs: each line straight from the
       input (tg_dw1d_direct) */
    const int32_t direct = fast && (taps == 3 || (taps == 5 && TG_DSP)) && stride == 1 && pad >= 0 &&
                           pad <= taps - 1 && out_step == value_step &&
                            line_pad == 0 && (out_lines - 1) * line_stride < lines; /* and no padding line */
    int32_t b, ol, c, p;
    for (b = 0; b < batches; ++b)
    {
        for (ol = 0; ol < out_lines && direct; ++ol)
        {
            /* every channel's line at once, straight from the input */
            tg_dw1d_direct(input + b * in_h * in_w * channels + ol * line_stride * line_step, len, value_step, pad,
                           out_len, channels, filter, taps, bias, rq, sign, full,
                           output + b * out_h * out_w * channels + ol * out_line_step, input_zp, act_min, act_max);
        }
        for (c = 0; c < channels && !direct; ++c)
        {
            /* the channel's taps as int16 pairs (a zero after an odd count) */
            int16_t ws[TG_DEPTHWISE_1D_MAX_TAPS + 1];
            int32_t w[TG_DEPTHWISE_1D_MAX_TAPS / 2];
            const int8_t *f = filter + c;
            for (p = 0; p < taps; ++p, f += channels)
            {
                ws[p] = (int16_t)(scale * *f);
            }
            ws[taps] = 0; /* (past an even count: unused) */
#if TG_DSP
            for (p = 0; p < pairs; ++p)
            {
                w[p] = (int32_t)(((uint32_t)ws[2 * p] & 0xffffu) | ((uint32_t)ws[2 * p + 1] << 16));
            }
#endif
            /* a mixed layer (TG_RQ_MIXED): this channel's form, told by its third value (0: the general form) */
            const int32_t chan_mode = mode != TG_RQ_MIXED  ? mode
                                      : rq[3 * c + 2] == 0 ? TG_RQ_GENERAL
                                      : full              ? TG_RQ_FAST_FULL
                                                          : TG_RQ_FAST;
            for (ol = 0; ol < out_lines; ++ol)
            {
                const int32_t l = ol * line_stride - line_pad; /* the input line (the filter's one tap across) */
                const int8_t *src = l >= 0 && l < lines ? input + (b * in_h * in_w * channels) + l * line_step + c : NULL;
                int8_t *out = output + b * out_h * out_w * channels + ol * out_line_step + c;
                tg_dw1d_fill(scratch, width, src, len, value_step, pad, input_zp);
                if (fast)
                {
                    tg_dw1d_line(scratch, out_len, stride, w, ws, pairs, bias[c], rq + 3 * c, sign, full, out,
                                 out_step, act_min, act_max);
                }
                else
                {
                    tg_dw1d_line_any(scratch, out_len, stride, ws, taps, bias[c], rq + 3 * c, chan_mode, out,
                                     out_step, output_offset, act_min, act_max);
                }
            }
        }
    }
}
