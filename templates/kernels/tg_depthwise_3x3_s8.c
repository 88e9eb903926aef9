/*
 * tg_depthwise_3x3_s8: 3x3 depthwise convolution fast path (see tg_depthwise_3x3_s8.h).
 *
 * The kernel sees the image as "lines" (ring rows) of "values": lines are image rows, or image
 * columns when the image is taller than wide (so that a narrow image, e.g. KWS's 25x5, still gives
 * long lines); the weights are transposed to match.
 */
#include "tg_depthwise_3x3_s8.h"

#include "tg_conv_dsp_s8.h"
#include "tg_depthwise_3x3_vp_s8.h"

/* requantization variants */
#define TG_DW3_GENERIC 0 /* tg_requantize_mac */
#define TG_DW3_FAST_SAT 1 /* fast form, clamp range -128..127 */
#define TG_DW3_FAST_CLAMP 2 /* fast form, narrower clamp range */

/*
 * The paths a library compiles (TG_VARIANT; tinygen.lowering.depthwise_ops.dw3_variants mirrors the dispatch in
 * tg_depthwise_3x3_s8 and tg_dw3_ring): on the DSP path the pair path (DW3_VP), the ring (DW3_RING; also
 * whenever the pair path is not compiled, so that the kernel always has a general path), and the ring's line
 * copies DW3_S<along-line stride 1|2>_<SAT|CLAMP|GENERIC>; any other ring line takes the portable loop.
 */
#define TG_DW3_S1 (TG_VARIANT(DW3_S1_SAT) || TG_VARIANT(DW3_S1_CLAMP) || TG_VARIANT(DW3_S1_GENERIC))
#define TG_DW3_S2 (TG_VARIANT(DW3_S2_SAT) || TG_VARIANT(DW3_S2_CLAMP) || TG_VARIANT(DW3_S2_GENERIC))
#define TG_DW3_LINES (TG_DSP && (TG_DW3_S1 || TG_DW3_S2))
#define TG_DW3_RING (!TG_DSP || TG_VARIANT(DW3_RING) || !TG_VARIANT(DW3_VP))

#if TG_DW3_LINES
/* two int16 values as one SMLAD operand: lo in bits 0..15, hi in 16..31 */
TG_INLINE int32_t tg_dw3_pair(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xffffu) | ((uint32_t)hi << 16));
}

/*
 * The output value of accumulator `acc`. Fast variants (exact within the bounds the lowering checks, see
 * tg_depthwise_3x3_s8.h): the kernel
 * accumulates 2 * acc (doubled weights and bias), and
 *   SaturatingRoundingDoublingHighMul(acc, m) = (acc * m + 2^30) >> 31 = SMMULR(2 * acc, m) = v,
 *   RoundingDivideByPOT(v, r) + offset = (v + (v < 0 ? -1 : 0) + 2^(r-1) + offset * 2^r) >> r
 * (half away from zero); rnd = 2^(r-1) + offset * 2^r. The sign of 2 * acc may stand for the sign
 * of v: they differ only when v = 0, and then (-1 + rnd) >> r = rnd >> r = offset. With single rounding
 * the same constants give TFLite's result through SMMLA (tg_dw_rq_fast in tg_conv_dsp_s8.h).
 */
TG_INLINE int32_t tg_dw3_out(int32_t acc, int mode, int32_t multiplier, int32_t shift, int32_t rnd, int32_t offset,
                             int32_t act_min, int32_t act_max)
{
    int32_t v;
    if (mode == TG_DW3_GENERIC)
    {
        v = tg_requantize_mac(acc, multiplier, shift) + offset;
        return TG_MIN(TG_MAX(v, act_min), act_max);
    }
    v = tg_dw_rq_fast(acc, multiplier, rnd, 1) >> -shift;
    if (mode == TG_DW3_FAST_SAT)
    {
        return tg_rq_sat8(v);
    }
    return TG_MIN(TG_MAX(v, act_min), act_max);
}

/*
 * One output line of one channel from the ring on the DSP path (stride 1, stride 2). ws holds, for ring
 * slot s, the weight pairs (w[3k], w[3k+1]) and (w[3k+1], w[3k+2]) of the kernel line k in that slot at
 * ws[2s], ws[2s+1], and us[s] its lone weight w[3k+2]. The ring interleaves its slots by pairs of values (see
 * TG_DW3_AT), so the six words of a block hold values 2j, 2j+1 of slots 0, 1, 2 and then 2j+2, 2j+3.
 */
/* slot s of four stride-1 outputs (see tg_dw3_line1_dsp) */
#define TG_DW3_QUAD(s)                                                                                             \
    do                                                                                                             \
    {                                                                                                              \
        const int32_t p_ = ws[2 * (s)], q_ = ws[2 * (s) + 1];                                                      \
        const int32_t va_ = (int32_t)tg_load32(blk + 2 * (s)), vb_ = (int32_t)tg_load32(blk + 6 + 2 * (s));       \
        const int32_t vc_ = (int32_t)tg_load32(blk + 12 + 2 * (s));                                                \
        a0 = tg_smlad(va_, p_, a0);                                                                                \
        a1 = tg_smlatb(va_, p_, a1);                                                                           \
        a0 = tg_smlabt(vb_, q_, a0);                                                                           \
        a1 = tg_smlad(vb_, q_, a1);                                                                                \
        a2 = tg_smlad(vb_, p_, a2);                                                                                \
        a3 = tg_smlatb(vb_, p_, a3);                                                                           \
        a2 = tg_smlabt(vc_, q_, a2);                                                                           \
        a3 = tg_smlad(vc_, q_, a3);                                                                                \
    } while (0)

#if TG_DW3_S1
/* outputs at out[o], o advanced by index (a pointer stepped past the last output would leave the array) */
TG_INLINE void tg_dw3_line1_dsp(const int16_t *ring, const int32_t *ws, int8_t *out, int32_t step, int32_t n,
                                int32_t bias, int mode, int32_t multiplier, int32_t shift, int32_t rnd, int32_t offset,
                                int32_t act_min, int32_t act_max)
{
    const int16_t *blk = ring;
    int32_t i = 0, o = 0;
    /*
     * outputs i..i+3 from values i..i+5 of each slot: A = (i, i+1), B = (i+2, i+3), C = (i+4, i+5).
     * The weights are reloaded per slot (two loads for eight MACs), which leaves registers for
     * the four accumulators and the requantization constants.
     */
    for (; i + 4 <= n; i += 4)
    {
        int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias;
        TG_DW3_QUAD(0);
        TG_DW3_QUAD(1);
        TG_DW3_QUAD(2);
        out[o] = (int8_t)tg_dw3_out(a0, mode, multiplier, shift, rnd, offset, act_min, act_max);
        o += step;
        out[o] = (int8_t)tg_dw3_out(a1, mode, multiplier, shift, rnd, offset, act_min, act_max);
        o += step;
        out[o] = (int8_t)tg_dw3_out(a2, mode, multiplier, shift, rnd, offset, act_min, act_max);
        o += step;
        out[o] = (int8_t)tg_dw3_out(a3, mode, multiplier, shift, rnd, offset, act_min, act_max);
        o += step;
        blk += 12;
    }
    {
        const int32_t p0 = ws[0], q0 = ws[1], p1 = ws[2], q1 = ws[3], p2 = ws[4], q2 = ws[5];
        /* outputs i, i+1 from values i..i+3 of each slot: A = (i, i+1), B = (i+2, i+3) */
        for (; i + 2 <= n; i += 2)
        {
            int32_t a0, a1;
            int32_t va = (int32_t)tg_load32(blk), vb = (int32_t)tg_load32(blk + 6);
            a0 = tg_smlad(va, p0, bias);
            a1 = tg_smlatb(va, p0, bias);
            a0 = tg_smlabt(vb, q0, a0);
            a1 = tg_smlad(vb, q0, a1);
            va = (int32_t)tg_load32(blk + 2);
            vb = (int32_t)tg_load32(blk + 8);
            a0 = tg_smlad(va, p1, a0);
            a1 = tg_smlatb(va, p1, a1);
            a0 = tg_smlabt(vb, q1, a0);
            a1 = tg_smlad(vb, q1, a1);
            va = (int32_t)tg_load32(blk + 4);
            vb = (int32_t)tg_load32(blk + 10);
            a0 = tg_smlad(va, p2, a0);
            a1 = tg_smlatb(va, p2, a1);
            a0 = tg_smlabt(vb, q2, a0);
            a1 = tg_smlad(vb, q2, a1);
            out[o] = (int8_t)tg_dw3_out(a0, mode, multiplier, shift, rnd, offset, act_min, act_max);
            out[o + step] = (int8_t)tg_dw3_out(a1, mode, multiplier, shift, rnd, offset, act_min, act_max);
            o += 2 * step;
            blk += 6;
        }
        if (i < n)
        {
            int32_t a = tg_smlad((int32_t)tg_load32(blk), p0, bias);
            a = tg_smlabt((int32_t)tg_load32(blk + 6), q0, a);
            a = tg_smlad((int32_t)tg_load32(blk + 2), p1, a);
            a = tg_smlabt((int32_t)tg_load32(blk + 8), q1, a);
            a = tg_smlad((int32_t)tg_load32(blk + 4), p2, a);
            a = tg_smlabt((int32_t)tg_load32(blk + 10), q2, a);
            out[o] = (int8_t)tg_dw3_out(a, mode, multiplier, shift, rnd, offset, act_min, act_max);
        }
    }
}

#endif /* TG_DW3_S1 */

#if TG_DW3_S2
/* stride 2: output i from values 2i..2i+2, SMLAD of (2i, 2i+1), SMLABB of 2i+2 with the lone weight */
TG_INLINE void tg_dw3_line2_dsp(const int16_t *ring, const int32_t *ws, const int32_t *us, int8_t *out, int32_t step,
                                int32_t n, int32_t bias, int mode, int32_t multiplier, int32_t shift, int32_t rnd,
                                int32_t offset, int32_t act_min, int32_t act_max)
{
    /* blk walks the ring's blocks up to `end` (no output counter: the loop is short of registers) */
    const int16_t *blk = ring, *const end = ring + 6 * n;
    /* in locals: the int8 output stores may alias them */
    const int32_t p0 = ws[0], p1 = ws[2], p2 = ws[4], u0 = us[0], u1 = us[1], u2 = us[2];
    int32_t o = 0;
    while (blk != end)
    {
        int32_t a = tg_smlad((int32_t)tg_load32(blk), p0, bias);
        a = tg_smlabb((int32_t)tg_load32(blk + 6), u0, a);
        a = tg_smlad((int32_t)tg_load32(blk + 2), p1, a);
        a = tg_smlabb((int32_t)tg_load32(blk + 8), u1, a);
        a = tg_smlad((int32_t)tg_load32(blk + 4), p2, a);
        a = tg_smlabb((int32_t)tg_load32(blk + 10), u2, a);
        out[o] = (int8_t)tg_dw3_out(a, mode, multiplier, shift, rnd, offset, act_min, act_max);
        o += step;
        blk += 6;
    }
}
#endif /* TG_DW3_S2 */

/* a channel's requantization values, for the line functions */
typedef struct
{
    int32_t bias, multiplier, shift, rnd, offset, act_min, act_max;
} tg_dw3_rq;

/* one function per compiled line copy, not inlined: each hot loop gets the registers to itself (inlined into
   the ring's loops, the constants were spilled) */
#if defined(__GNUC__) || defined(__clang__)
#define TG_DW3_NOINLINE __attribute__((noinline))
#else
#define TG_DW3_NOINLINE
#endif
#define TG_DW3_LINE1_FN(name, mode, variant)                                                                       \
    static TG_DW3_NOINLINE void name(const int16_t *ring, const int32_t *ws, const int32_t *us, int8_t *out,        \
                                     int32_t step, int32_t n, const tg_dw3_rq *q)                                  \
    {                                                                                                              \
        TG_TRACE_VARIANT(variant);                                                                                 \
        (void)us;                                                                                                  \
        tg_dw3_line1_dsp(ring, ws, out, step, n, q->bias, (mode), q->multiplier, q->shift, q->rnd, q->offset,      \
                         q->act_min, q->act_max);                                                                  \
    }
#define TG_DW3_LINE2_FN(name, mode, variant)                                                                       \
    static TG_DW3_NOINLINE void name(const int16_t *ring, const int32_t *ws, const int32_t *us, int8_t *out,        \
                                     int32_t step, int32_t n, const tg_dw3_rq *q)                                  \
    {                                                                                                              \
        TG_TRACE_VARIANT(variant);                                                                                 \
        tg_dw3_line2_dsp(ring, ws, us, out, step, n, q->bias, (mode), q->multiplier, q->shift, q->rnd, q->offset,  \
                         q->act_min, q->act_max);                                                                  \
    }
#if TG_VARIANT(DW3_S1_SAT)
TG_DW3_LINE1_FN(tg_dw3_s1_sat, TG_DW3_FAST_SAT, DW3_S1_SAT)
#endif
#if TG_VARIANT(DW3_S1_CLAMP)
TG_DW3_LINE1_FN(tg_dw3_s1_clamp, TG_DW3_FAST_CLAMP, DW3_S1_CLAMP)
#endif
#if TG_VARIANT(DW3_S1_GENERIC)
TG_DW3_LINE1_FN(tg_dw3_s1_generic, TG_DW3_GENERIC, DW3_S1_GENERIC)
#endif
#if TG_VARIANT(DW3_S2_SAT)
TG_DW3_LINE2_FN(tg_dw3_s2_sat, TG_DW3_FAST_SAT, DW3_S2_SAT)
#endif
#if TG_VARIANT(DW3_S2_CLAMP)
TG_DW3_LINE2_FN(tg_dw3_s2_clamp, TG_DW3_FAST_CLAMP, DW3_S2_CLAMP)
#endif
#if TG_VARIANT(DW3_S2_GENERIC)
TG_DW3_LINE2_FN(tg_dw3_s2_generic, TG_DW3_GENERIC, DW3_S2_GENERIC)
#endif
#endif /* TG_DW3_LINES */

#if TG_DW3_RING
/* halfword index of value i of ring slot s: blocks of six halfwords hold values 2j, 2j+1 of slots 0..2 */
#define TG_DW3_AT(s, i) (((i) >> 1) * 6 + 2 * (s) + ((i)&1))

/*
 * Copy an input line (`src`: its first value, values `step` apart; NULL: a padding line) into ring
 * slot `slot`: values pad..pad+len-1 of the slot, the others (up to `width`) input_zp.
 */
static void tg_dw3_fill(int16_t *ring, int32_t slot, const int8_t *src, int32_t len, int32_t step, int32_t pad,
                        int32_t width, int32_t zp)
{
    /*
     * Input values and ring slots are addressed by index from `src` and `line` (a pointer stepped past
     * the last value copied could leave the input or the ring: formally undefined even when unused).
     */
    int16_t *line = ring + 2 * slot;
    const int32_t lo = src != NULL ? TG_MIN(pad, width) : width, hi = src != NULL ? TG_MIN(pad + len, width) : width;
    int32_t i, o; /* o: halfword index of value i's block in `line` */
    /* whole blocks holding a padding value: zero points first, the input values overwrite theirs */
    for (i = 0, o = 0; i < lo; i += 2, o += 6)
    {
        line[o] = line[o + 1] = (int16_t)zp;
    }
    for (i = hi & ~1, o = TG_DW3_AT(0, i); i < width; i += 2, o += 6)
    {
        line[o] = line[o + 1] = (int16_t)zp;
    }
    if (lo < hi)
    {
        const int32_t step2 = 2 * step;
        int32_t x = 0; /* index in `src` of input value i - pad */
        i = lo;
        o = TG_DW3_AT(0, i & ~1);
        if ((i & 1) != 0)
        {
            line[o + 1] = src[0];
            x = step;
            ++i;
            o += 6;
        }
        {
            /* four values per step, all loads at register offsets from one pointer */
            const int32_t step3 = 3 * step, step4 = 4 * step;
            const int32_t end = x + ((hi - i) >> 2) * step4;
            i += (hi - i) & ~3;
            while (x != end)
            {
                const int8_t *p = src + x;
                line[o] = p[0];
                line[o + 1] = p[step];
                line[o + 6] = p[step2];
                line[o + 7] = p[step3];
                x += step4;
                o += 12;
            }
        }
        for (; i + 2 <= hi; i += 2, o += 6)
        {
            line[o] = src[x];
            line[o + 1] = src[x + step];
            x += step2;
        }
        if (i < hi)
        {
            line[o] = src[x];
        }
    }
}

/* the ring path: every layer on cores without DSP; on the DSP path the layers the pair path leaves */
static void tg_dw3_ring(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                        const int8_t *filter, const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                        int8_t *output, int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w,
                        int32_t pad_top, int32_t pad_left, int32_t input_zp, int32_t output_offset, int32_t act_min,
                        int32_t act_max, int32_t fast, int16_t *scratch)
{
    /* columns as lines when that makes the lines longer */
    const int cols = out_h > out_w;
    const int32_t lines = cols ? in_w : in_h, len = cols ? in_h : in_w;
    const int32_t line_step = cols ? channels : in_w * channels, value_step = cols ? in_w * channels : channels;
    const int32_t out_lines = cols ? out_w : out_h, out_len = cols ? out_h : out_w;
    const int32_t out_line_step = cols ? channels : out_w * channels, out_step = cols ? out_w * channels : channels;
    const int32_t line_stride = cols ? stride_w : stride_h, stride = cols ? stride_h : stride_w;
    const int32_t line_pad = cols ? pad_left : pad_top, pad = cols ? pad_top : pad_left;
    /* values per ring slot: + 1 as the DSP path's pair loads read one value more, even for the blocks */
    const int32_t width = ((out_len - 1) * stride + 4 + 1) & ~1;
    /* line l of the image sits in ring slot (l + line_pad) % 3, kept incrementally */
    const int32_t slot_step = line_stride % 3;
    int32_t b, c, ol, a, k, toff[9];
    for (a = 0; a < 3; ++a)
    {
        for (k = 0; k < 3; ++k)
        {
            toff[3 * a + k] = (cols ? 3 * k + a : 3 * a + k) * channels;
        }
    }
    for (b = 0; b < batches; ++b)
    {
        for (c = 0; c < channels; ++c)
        {
            const int8_t *src = input + b * in_h * in_w * channels + c;
            int8_t *dst = output + b * out_h * out_w * channels + c;
            int32_t w[9];
            int32_t next = -line_pad, next_slot = 0; /* first input line not in the ring, its slot */
            int32_t s0 = 0;                          /* slot of the current output line's first input line */
            for (k = 0; k < 9; ++k)
            {
                w[k] = filter[toff[k] + c];
            }
#if TG_DW3_LINES
            {
                /* fast: 2^(r-1) + offset * 2^r for the right shift r = -shift >= 1 (in uint32: no overflow UB) */
                const int32_t rnd = fast ? (int32_t)((UINT32_C(1) << (-shift[c] - 1)) +
                                                     (uint32_t)output_offset * (UINT32_C(1) << -shift[c]))
                                         : 0;
                /* fast variants accumulate 2 * acc: doubled weights, and `bias` holds 2 * bias already */
                const int32_t m = fast ? 2 : 1, bias_c = bias[c];
                const int sat = act_min == -128 && act_max == 127;
                const tg_dw3_rq rq = {bias_c, multiplier[c], shift[c], rnd, output_offset, act_min, act_max};
                /* weights of kernel lines 0, 1, 2, 0, 1, 2: ring slots 0..2 hold kernel lines r.. r+2 */
                int32_t pq[12], u[6];
                for (a = 0; a < 3; ++a)
                {
                    pq[2 * a] = pq[2 * a + 6] = tg_dw3_pair(m * w[3 * a], m * w[3 * a + 1]);
                    pq[2 * a + 1] = pq[2 * a + 7] = tg_dw3_pair(m * w[3 * a + 1], m * w[3 * a + 2]);
                    u[a] = u[a + 3] = m * w[3 * a + 2];
                }
#endif
                for (ol = 0; ol < out_lines; ++ol)
                {
                    const int32_t l0 = ol * line_stride - line_pad;
                    int8_t *out = dst + ol * out_line_step;
                    if (next < l0)
                    {
                        next = l0;
                        next_slot = s0;
                    }
                    for (; next < l0 + 3; ++next)
                    {
                        tg_dw3_fill(scratch, next_slot, next >= 0 && next < lines ? src + next * line_step : NULL, len,
                                    value_step, pad, width, input_zp);
                        next_slot = next_slot == 2 ? 0 : next_slot + 1;
                    }
#if TG_DW3_LINES
                    /* the line copies this library has (see TG_DW3_LINES); the portable loop takes the others */
                    const int32_t r = s0 == 0 ? 0 : 3 - s0; /* kernel line in slot 0 */
                    const int32_t *ws = pq + 2 * r, *us = u + r;
                    (void)ws;
                    (void)us;
                    (void)sat;
                    if (0)
                    {
                    }
#if TG_VARIANT(DW3_S1_SAT)
                    else if (stride == 1 && fast && sat)
                    {
                        tg_dw3_s1_sat(scratch, ws, us, out, out_step, out_len, &rq);
                    }
#endif
#if TG_VARIANT(DW3_S1_CLAMP)
                    else if (stride == 1 && fast && !sat)
                    {
                        tg_dw3_s1_clamp(scratch, ws, us, out, out_step, out_len, &rq);
                    }
#endif
#if TG_VARIANT(DW3_S1_GENERIC)
                    else if (stride == 1 && !fast)
                    {
                        tg_dw3_s1_generic(scratch, ws, us, out, out_step, out_len, &rq);
                    }
#endif
#if TG_VARIANT(DW3_S2_SAT)
                    else if (stride == 2 && fast && sat)
                    {
                        tg_dw3_s2_sat(scratch, ws, us, out, out_step, out_len, &rq);
                    }
#endif
#if TG_VARIANT(DW3_S2_CLAMP)
                    else if (stride == 2 && fast && !sat)
                    {
                        tg_dw3_s2_clamp(scratch, ws, us, out, out_step, out_len, &rq);
                    }
#endif
#if TG_VARIANT(DW3_S2_GENERIC)
                    else if (stride == 2 && !fast)
                    {
                        tg_dw3_s2_generic(scratch, ws, us, out, out_step, out_len, &rq);
                    }
#endif
                    else
#endif
                    {
                        /* portable path (and strides > 2): plain sums, TFLite's requantization */
                        const int32_t s1 = (s0 + 1) % 3, s2 = (s0 + 2) % 3;
                        int32_t i;
                        for (i = 0; i < out_len; ++i)
                        {
                            const int32_t x = i * stride;
                            int32_t v = fast ? bias[c] / 2 : bias[c];
                            for (k = 0; k < 3; ++k)
                            {
                                v += scratch[TG_DW3_AT(s0, x + k)] * w[k] + scratch[TG_DW3_AT(s1, x + k)] * w[3 + k] +
                                     scratch[TG_DW3_AT(s2, x + k)] * w[6 + k];
                            }
                            v = tg_requantize_mac(v, multiplier[c], shift[c]) + output_offset;
                            out[i * out_step] = (int8_t)TG_MIN(TG_MAX(v, act_min), act_max);
                        }
                    }
                    s0 += slot_step;
                    s0 = s0 >= 3 ? s0 - 3 : s0;
                }
#if TG_DW3_LINES
            }
#endif
        }
    }
}
#endif

void tg_depthwise_3x3_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                         const int8_t *filter, const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                         int8_t *output, int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w,
                         int32_t pad_top, int32_t pad_left, int32_t input_zp, int32_t output_offset, int32_t act_min,
                         int32_t act_max, int32_t fast, int16_t *scratch)
{
    /* the paths this library has: tinygen.lowering.depthwise_ops.dw3_variants mirrors this dispatch */
#if TG_DSP && TG_VARIANT(DW3_VP)
    if (TG_DWVP_USE(out_h, out_w, stride_h, stride_w))
    {
        /* the pair path; its scratch is 8-byte aligned (the arena's 16) */
        TG_TRACE_VARIANT(DW3_VP);
        tg_depthwise_3x3_vp_s8(input, batches, in_h, in_w, channels, filter, 0, bias, multiplier, shift, output,
                               out_h, out_w, pad_top, pad_left, input_zp, output_offset, act_min, act_max, fast,
                               (int32_t *)(void *)scratch);
        return;
    }
#endif
#if TG_DW3_RING
#if TG_DSP
    TG_TRACE_VARIANT(DW3_RING);
#endif
    tg_dw3_ring(input, batches, in_h, in_w, channels, filter, bias, multiplier, shift, output, out_h, out_w, stride_h,
                stride_w, pad_top, pad_left, input_zp, output_offset, act_min, act_max, fast, scratch);
#else
    TG_UNREACHABLE(); /* only the pair path is compiled, and this call is not for it: a lowering bug */
#endif
}
