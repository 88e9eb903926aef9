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
/* the fast form without the sign correction (exact where act_min >= output_offset: see tg_dw3_out) */
#define TG_DW3_RELU_SAT 3   /* clamp range -128..127 */
#define TG_DW3_RELU_CLAMP 4 /* narrower clamp range */

/*
 * The paths a library compiles (TG_VARIANT; tinygen.lowering.depthwise_ops.dw3_variants mirrors the dispatch in
 * tg_depthwise_3x3_s8 and tg_dw3_ring): on the DSP path the pair path (DW3_VP), the ring (DW3_RING; also
 * whenever the pair path is not compiled, so that the kernel always has a general path), and the ring's line
 * copies DW3_S<along-line stride 1|2>_<SAT|CLAMP|GENERIC>; any other ring line takes the portable loop.
 */
#define TG_DW3_S1 (TG_VARIANT(DW3_S1_SAT) || TG_VARIANT(DW3_S1_CLAMP) || TG_VARIANT(DW3_S1_GENERIC))
#define TG_DW3_S2 (TG_VARIANT(DW3_S2_SAT) || TG_VARIANT(DW3_S2_CLAMP) || TG_VARIANT(DW3_S2_GENERIC))
#define TG_DW3_LINES (TG_DSP && (TG_DW3_S1 || TG_DW3_S2))
/* the four-channel stride-2 path's line functions DW3_G2_<TWO|ONE>_<mode> (DSP only; see tg_dw3_g2) */
#define TG_DW3_G2_TWOS                                                                                             \
    (TG_DSP && (TG_VARIANT(DW3_G2_TWO_GENERIC) || TG_VARIANT(DW3_G2_TWO_SAT) || TG_VARIANT(DW3_G2_TWO_CLAMP) ||     \
                TG_VARIANT(DW3_G2_TWO_RELU_SAT) || TG_VARIANT(DW3_G2_TWO_RELU_CLAMP)))
#define TG_DW3_G2_ONES                                                                                             \
    (TG_DSP && (TG_VARIANT(DW3_G2_ONE_GENERIC) || TG_VARIANT(DW3_G2_ONE_SAT) || TG_VARIANT(DW3_G2_ONE_CLAMP) ||     \
                TG_VARIANT(DW3_G2_ONE_RELU_SAT) || TG_VARIANT(DW3_G2_ONE_RELU_CLAMP)))
#define TG_DW3_G2 (TG_DW3_G2_TWOS || TG_DW3_G2_ONES)
/* the ring: the general path, unless the library's calls all take the pair path or the stride-2 path */
#define TG_DW3_RING (!TG_DSP || TG_VARIANT(DW3_RING) || !(TG_VARIANT(DW3_VP) || TG_DW3_G2))

#if TG_DW3_LINES
/* two int16 values as one SMLAD operand: lo in bits 0..15, hi in 16..31 */
TG_INLINE int32_t tg_dw3_pair(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xffffu) | ((uint32_t)hi << 16));
}
#endif

#if TG_DW3_LINES || TG_DW3_G2

/*
 * The output value of accumulator `acc`. Fast variants (exact within the bounds the lowering checks, see
 * tg_depthwise_3x3_s8.h): the kernel
 * accumulates 2 * acc (doubled weights and bias), and
 *   SaturatingRoundingDoublingHighMul(acc, m) = (acc * m + 2^30) >> 31 = SMMULR(2 * acc, m) = v,
 *   RoundingDivideByPOT(v, r) + offset = (v + (v < 0 ? -1 : 0) + 2^(r-1) + offset * 2^r) >> r
 * (half away from zero); rnd = 2^(r-1) + offset * 2^r. The sign of 2 * acc may stand for the sign
 * of v: they differ only when v = 0, and then (-1 + rnd) >> r = rnd >> r = offset. With single rounding
 * the same constants give TFLite's result through SMMLA (tg_dw_rq_fast in tg_conv_dsp_s8.h).
 * The RELU modes leave the sign correction out: it only changes results of negative accumulators, whose
 * outputs are <= offset either way, and so both clamp to act_min where act_min >= offset.
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
    v = tg_dw_rq_fast(acc, multiplier, rnd, mode == TG_DW3_FAST_SAT || mode == TG_DW3_FAST_CLAMP) >> -shift;
    if (mode == TG_DW3_FAST_SAT || mode == TG_DW3_RELU_SAT)
    {
        return tg_rq_sat8(v);
    }
    return TG_MIN(TG_MAX(v, act_min), act_max);
}

/* one function per compiled line copy, not inlined: each hot loop gets the registers to itself (inlined into
   the ring's loops, the constants were spilled) */
#if defined(__GNUC__) || defined(__clang__)
#define TG_DW3_NOINLINE __attribute__((noinline))
#else
#define TG_DW3_NOINLINE
#endif
#endif /* TG_DW3_LINES || TG_DW3_G2 */

#if TG_DW3_LINES

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

/* one function per compiled line copy (see TG_DW3_NOINLINE) */
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

#if TG_DW3_RING || TG_DW3_G2
/*
 * The image as "lines" of "values" (see the top of this file): image rows, or image columns when the output is
 * taller than wide (so that a narrow image, e.g. KWS's 25x5, still gives long lines). Steps are in bytes of the
 * NHWC tensors; line_stride and stride are the convolution's strides across and along the lines.
 */
typedef struct
{
    int cols;
    int32_t lines, len, line_step, value_step, out_lines, out_len, out_line_step, out_step;
    int32_t line_stride, stride, line_pad, pad;
} tg_dw3_view;

static tg_dw3_view tg_dw3_view_of(int32_t in_h, int32_t in_w, int32_t channels, int32_t out_h, int32_t out_w,
                                  int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left)
{
    tg_dw3_view lv;
    lv.cols = out_h > out_w;
    lv.lines = lv.cols ? in_w : in_h;
    lv.len = lv.cols ? in_h : in_w;
    lv.line_step = lv.cols ? channels : in_w * channels;
    lv.value_step = lv.cols ? in_w * channels : channels;
    lv.out_lines = lv.cols ? out_w : out_h;
    lv.out_len = lv.cols ? out_h : out_w;
    lv.out_line_step = lv.cols ? channels : out_w * channels;
    lv.out_step = lv.cols ? out_w * channels : channels;
    lv.line_stride = lv.cols ? stride_w : stride_h;
    lv.stride = lv.cols ? stride_h : stride_w;
    lv.line_pad = lv.cols ? pad_left : pad_top;
    lv.pad = lv.cols ? pad_top : pad_left;
    return lv;
}
#endif

#if TG_DW3_G2
/*
 * The four-channel stride-2 path (DSP, stride 2 both ways). For one group of four channels at a time, five
 * slots hold five input lines as int16 pairs along the line: the word of channel j for value pair p (values
 * 2p, 2p + 1 of the line, lo and hi halfword) of slot s is at
 *   40 * (p >> 1) + 8 * s + 2 * j + (p & 1)
 * (blocks of two pairs, each holding the five slots' four channels), so one LDRD loads two pairs of a channel
 * and one pointer reaches every slot. With (w[k][0], w[k][1]) and w[k][2] the pair and lone weight of kernel
 * line k, output i of the kernel lines 0..2 in slots s..s+2 is
 *   sum_k SMLAD(pair i of slot s + k, (w[k][0], w[k][1])) + SMLABB(pair i + 1 of slot s + k, w[k][2]):
 * 9 MACs in 6 instructions. A pass computes two output lines, two outputs of each per step: slots 0..2 and
 * 2..4 hold input lines l..l+2 and l+2..l+4. The next pass needs l+4..l+8: line l+4 stays in slot 4 and
 * the new lines go to slots 3..0, so that pass reads the slots in reverse order, i.e. it runs with the
 * kernel lines reversed and the two output lines swapped; the pass after is in order again. Every input
 * value is converted to int16 once (a word load of four channels gives, with PKHBT/PKHTB and SXTB16, the
 * pairs of all four) and the requantization constants stay in registers.
 */

/* words per block: two value pairs of five slots of four channels */
#define TG_DW3_G2_BLOCK 40

/* one channel's requantization values (tg_dw3_out's) */
typedef struct
{
    int32_t bias, multiplier, shift, rnd;
} tg_dw3_g2_rq;

/* STRD of the words lo, hi at byte offset `off` (a literal) of the 8-byte aligned p (GCC does not pair stores) */
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
#define TG_DW3_G2_STRD(lo, hi, p, off)                                                                             \
    __asm__("strd %1, %2, [%3, #" #off "]"                                                                         \
            : "=m"(*(int32_t(*)[(off) / 4 + 2])(void *)(p))                                                        \
            : "r"(lo), "r"(hi), "r"(p))
#else
#define TG_DW3_G2_STRD(lo, hi, p, off)                                                                             \
    do                                                                                                             \
    {                                                                                                              \
        (p)[(off) / 4] = (lo);                                                                                     \
        (p)[(off) / 4 + 1] = (hi);                                                                                 \
    } while (0)
#endif

/*
 * The int16 pairs (value a, value b) of channels 0..3 from the words a, b of four channels' int8 values:
 * PKHBT and PKHTB gather the bytes of channels 0, 1 and of channels 2, 3 of both values, and SXTB16 (plain and
 * rotated by 8) sign-extends a channel's two bytes.
 */
TG_INLINE void tg_dw3_g2_pairs(uint32_t a, uint32_t b, int32_t *e0, int32_t *e1, int32_t *e2, int32_t *e3)
{
    uint32_t lo, hi;
    tg_pkh_both(a, b, &lo, &hi);
    *e0 = tg_sxtb16(lo);
    *e1 = tg_sxtb16_ror8(lo);
    *e2 = tg_sxtb16(hi);
    *e3 = tg_sxtb16_ror8(hi);
}

/* where the values of a line are in its slot (value v of the slot is input value v - pad) */
typedef struct
{
    int32_t len, step, pad, npairs; /* input values, their distance, the padding before them; pairs per slot */
    int32_t p0, p1;                 /* pairs [p0, p1) hold input values, the others padding only */
    int32_t b0, b1;                 /* blocks [b0, b1): four input values (pairs 2 * b0 .. 2 * b1 - 1) */
} tg_dw3_g2_geo;

static tg_dw3_g2_geo tg_dw3_g2_geometry(int32_t len, int32_t step, int32_t pad, int32_t npairs)
{
    tg_dw3_g2_geo g;
    g.len = len;
    g.step = step;
    g.pad = pad;
    g.npairs = npairs;
    g.p0 = pad >> 1;
    g.p1 = TG_MIN((pad + len + 1) >> 1, npairs);
    g.b0 = TG_MIN((pad + 3) >> 2, npairs >> 1);
    g.b1 = TG_MAX(g.b0, TG_MIN((pad + len) >> 2, npairs >> 1));
    return g;
}

/* the padding pairs (outside [p0, p1)) of every slot and channel: zero points, once per call */
static void tg_dw3_g2_pad(int32_t *ring, const tg_dw3_g2_geo *g, int32_t zz)
{
    int32_t p, k;
    for (p = 0; p < g->npairs; p = p + 1 == g->p0 ? TG_MAX(g->p1, g->p0) : p + 1)
    {
        int32_t *w = ring + TG_DW3_G2_BLOCK * (p >> 1) + (p & 1);
        for (k = 0; k < TG_DW3_G2_BLOCK; k += 2)
        {
            w[k] = zz; /* the five slots' four channels */
        }
    }
}

/*
 * Fill slot `slot` with the pairs [p0, p1) that hold input values (the padding pairs stay as tg_dw3_g2_pad
 * wrote them) of one input line of the group (`src`: channel 0 of its first value; NULL: a padding line), nch
 * channels of it: whole blocks of four channels with one word load per value, the others value by value.
 */
static TG_DW3_NOINLINE void tg_dw3_g2_fill(int32_t *ring, int32_t slot, const int8_t *src, const tg_dw3_g2_geo *g,
                                           int32_t nch, int32_t zp)
{
    int32_t *const line = ring + 8 * slot;
    const int32_t step = g->step, b0 = g->b0, b1 = src != NULL && nch == 4 ? g->b1 : b0;
    const int32_t skip = b0 < b1 ? 2 * b0 : -1; /* pairs [2 * b0, 2 * b1) are done by blocks */
    int32_t p, j;
    if (b0 < b1)
    {
        const int32_t step2 = 2 * step, step4 = 4 * step;
        int32_t off = (4 * b0 - g->pad) * step; /* src + off: the block's first value (by index from src) */
        const int32_t end = off + (b1 - b0) * step4;
        int32_t *d = line + TG_DW3_G2_BLOCK * b0;
        for (; off != end; off += step4)
        {
            int32_t e0, e1, e2, e3, f0, f1, f2, f3;
            tg_dw3_g2_pairs(tg_load32(src + off), tg_load32(src + off + step), &e0, &e1, &e2, &e3);
            tg_dw3_g2_pairs(tg_load32(src + off + step2), tg_load32(src + off + step2 + step), &f0, &f1, &f2, &f3);
            TG_DW3_G2_STRD(e0, f0, d, 0);
            TG_DW3_G2_STRD(e1, f1, d, 8);
            TG_DW3_G2_STRD(e2, f2, d, 16);
            TG_DW3_G2_STRD(e3, f3, d, 24);
            d += TG_DW3_G2_BLOCK;
        }
    }
    /* the other pairs value by value (edges, a partial group: its missing channels are never read) */
    for (p = g->p0 == skip ? 2 * b1 : g->p0; p < g->p1; p = p + 1 == skip ? 2 * b1 : p + 1)
    {
        const int32_t v = 2 * p - g->pad, zz = (int32_t)(((uint32_t)zp & 0xffffu) | ((uint32_t)zp << 16));
        int32_t *w = line + TG_DW3_G2_BLOCK * (p >> 1) + (p & 1);
        for (j = 0; j < nch; ++j)
        {
            const int32_t lo = src != NULL && v >= 0 ? src[v * step + j] : zp;
            const int32_t hi = src != NULL && v + 1 < g->len ? src[(v + 1) * step + j] : zp;
            w[2 * j] = src != NULL ? (int32_t)(((uint32_t)lo & 0xffffu) | ((uint32_t)hi << 16)) : zz;
        }
    }
}

/* the MACs of kernel line k (pair p, lone l) on slot `s` of the block at t for outputs 2b, 2b + 1 (a0, a1) */
#define TG_DW3_G2_MAC(s, a0, a1)                                                                                   \
    do                                                                                                             \
    {                                                                                                              \
        int32_t x0_, x1_;                                                                                          \
        TG_LDRD(x0_, x1_, t, 32 * (s));                                                                            \
        a0 = tg_smlad(x0_, p, a0);                                                                                 \
        a0 = tg_smlabb(x1_, l, a0);                                                                                \
        a1 = tg_smlad(x1_, p, a1);                                                                                 \
        a1 = tg_smlabb(t[TG_DW3_G2_BLOCK + 8 * (s)], l, a1);                                                       \
    } while (0)

/* requantize and store through the output pointer p at index i */
#define TG_DW3_G2_PUT(p, i, acc) (p)[i] = (int8_t)tg_dw3_out((acc), mode, mult, sh, rnd, offset, act_min, act_max)

#if TG_DW3_G2_TWOS
/*
 * Two output lines of one channel: t its first word in the ring (block 0, slot 0), w the pair and lone weights
 * of the kernel lines for slots 0, 1, 2 (and 2, 3, 4); outputs of slots 0..2 at o0[i * step], of slots 2..4 at
 * o0[ls + i * step], i < n (ls may be negative).
 */
TG_INLINE void tg_dw3_g2_two(const int32_t *restrict t, const int32_t *restrict w, int8_t *restrict o0, int32_t ls,
                             int32_t step, int32_t n, int mode, const tg_dw3_g2_rq *q, int32_t offset,
                             int32_t act_min, int32_t act_max)
{
    /* outputs never alias the ring, weights or constants: keep the constants in locals */
    const int32_t bias = q->bias, mult = q->multiplier, rnd = q->rnd, sh = q->shift;
    const int32_t *const end = t + TG_DW3_G2_BLOCK * (n >> 1);
    int32_t o = 0; /* by index: a pointer stepped past the last output would leave the array */
    for (; t != end; t += TG_DW3_G2_BLOCK)
    {
        /* outputs 2b, 2b + 1 from pairs 2b, 2b + 1 (this block) and 2b + 2 (the next one's first) */
        int32_t p, l, a0 = bias, a1 = bias, b0 = bias, b1 = bias;
        TG_LDRD(p, l, w, 0);
        TG_DW3_G2_MAC(0, a0, a1);
        TG_DW3_G2_MAC(2, b0, b1);
        TG_LDRD(p, l, w, 8);
        TG_DW3_G2_MAC(1, a0, a1);
        TG_DW3_G2_MAC(3, b0, b1);
        TG_LDRD(p, l, w, 16);
        TG_DW3_G2_MAC(2, a0, a1);
        TG_DW3_G2_MAC(4, b0, b1);
        TG_DW3_G2_PUT(o0, o, a0);
        TG_DW3_G2_PUT(o0, o + ls, b0);
        o += step;
        TG_DW3_G2_PUT(o0, o, a1);
        TG_DW3_G2_PUT(o0, o + ls, b1);
        o += step;
    }
    if ((n & 1) != 0)
    {
        /* the last output of an odd line length: pairs 2b, 2b + 1 */
        int32_t a = bias, b = bias, k;
        for (k = 0; k < 3; ++k)
        {
            a = tg_smlad(t[8 * k], w[2 * k], a);
            a = tg_smlabb(t[8 * k + 1], w[2 * k + 1], a);
            b = tg_smlad(t[8 * k + 16], w[2 * k], b);
            b = tg_smlabb(t[8 * k + 17], w[2 * k + 1], b);
        }
        TG_DW3_G2_PUT(o0, o, a);
        TG_DW3_G2_PUT(o0, o + ls, b);
    }
}

#endif /* TG_DW3_G2_TWOS */

#if TG_DW3_G2_ONES
/* One output line (of slots 0..2 from t), arguments as tg_dw3_g2_two (ls unused). */
TG_INLINE void tg_dw3_g2_one(const int32_t *restrict t, const int32_t *restrict w, int8_t *restrict o0, int32_t ls,
                             int32_t step, int32_t n, int mode, const tg_dw3_g2_rq *q, int32_t offset,
                             int32_t act_min, int32_t act_max)
{
    (void)ls;
    const int32_t bias = q->bias, mult = q->multiplier, rnd = q->rnd, sh = q->shift;
    const int32_t *const end = t + TG_DW3_G2_BLOCK * (n >> 1);
    int32_t o = 0;
    for (; t != end; t += TG_DW3_G2_BLOCK)
    {
        int32_t p, l, a0 = bias, a1 = bias;
        TG_LDRD(p, l, w, 0);
        TG_DW3_G2_MAC(0, a0, a1);
        TG_LDRD(p, l, w, 8);
        TG_DW3_G2_MAC(1, a0, a1);
        TG_LDRD(p, l, w, 16);
        TG_DW3_G2_MAC(2, a0, a1);
        TG_DW3_G2_PUT(o0, o, a0);
        o += step;
        TG_DW3_G2_PUT(o0, o, a1);
        o += step;
    }
    if ((n & 1) != 0)
    {
        int32_t a = bias, k;
        for (k = 0; k < 3; ++k)
        {
            a = tg_smlad(t[8 * k], w[2 * k], a);
            a = tg_smlabb(t[8 * k + 1], w[2 * k + 1], a);
        }
        TG_DW3_G2_PUT(o0, o, a);
    }
}

#endif /* TG_DW3_G2_ONES */

/*
 * The line functions, one per requantization mode and line count, not inlined (each hot loop gets the
 * registers to itself): the group's nch channels (channel j: ring words from ring + 2 * j, weights w[j],
 * outputs from o0 + j).
 */
typedef void (*tg_dw3_g2_fn)(const int32_t *ring, const int32_t (*w)[6], int8_t *o0, int32_t ls, int32_t step,
                             int32_t n, const tg_dw3_g2_rq *q, const int32_t *act, int32_t nch);
#define TG_DW3_G2_FN(name, line, mode, variant)                                                                    \
    static TG_DW3_NOINLINE void name(const int32_t *ring, const int32_t (*w)[6], int8_t *o0, int32_t ls,           \
                                     int32_t step, int32_t n, const tg_dw3_g2_rq *q, const int32_t *act,           \
                                     int32_t nch)                                                                  \
    {                                                                                                              \
        int32_t j;                                                                                                 \
        TG_TRACE_VARIANT(variant);                                                                                 \
        for (j = 0; j < nch; ++j)                                                                                  \
        {                                                                                                          \
            line(ring + 2 * j, w[j], o0 + j, ls, step, n, (mode), &q[j], act[0], act[1], act[2]);                  \
        }                                                                                                          \
    }
#if TG_VARIANT(DW3_G2_TWO_GENERIC)
TG_DW3_G2_FN(tg_dw3_g2_two_generic, tg_dw3_g2_two, TG_DW3_GENERIC, DW3_G2_TWO_GENERIC)
#define TG_DW3_G2_TWO_GENERIC_FN tg_dw3_g2_two_generic
#else
#define TG_DW3_G2_TWO_GENERIC_FN NULL
#endif
#if TG_VARIANT(DW3_G2_TWO_SAT)
TG_DW3_G2_FN(tg_dw3_g2_two_sat, tg_dw3_g2_two, TG_DW3_FAST_SAT, DW3_G2_TWO_SAT)
#define TG_DW3_G2_TWO_SAT_FN tg_dw3_g2_two_sat
#else
#define TG_DW3_G2_TWO_SAT_FN NULL
#endif
#if TG_VARIANT(DW3_G2_TWO_CLAMP)
TG_DW3_G2_FN(tg_dw3_g2_two_clamp, tg_dw3_g2_two, TG_DW3_FAST_CLAMP, DW3_G2_TWO_CLAMP)
#define TG_DW3_G2_TWO_CLAMP_FN tg_dw3_g2_two_clamp
#else
#define TG_DW3_G2_TWO_CLAMP_FN NULL
#endif
#if TG_VARIANT(DW3_G2_TWO_RELU_SAT)
TG_DW3_G2_FN(tg_dw3_g2_two_relu_sat, tg_dw3_g2_two, TG_DW3_RELU_SAT, DW3_G2_TWO_RELU_SAT)
#define TG_DW3_G2_TWO_RELU_SAT_FN tg_dw3_g2_two_relu_sat
#else
#define TG_DW3_G2_TWO_RELU_SAT_FN NULL
#endif
#if TG_VARIANT(DW3_G2_TWO_RELU_CLAMP)
TG_DW3_G2_FN(tg_dw3_g2_two_relu_clamp, tg_dw3_g2_two, TG_DW3_RELU_CLAMP, DW3_G2_TWO_RELU_CLAMP)
#define TG_DW3_G2_TWO_RELU_CLAMP_FN tg_dw3_g2_two_relu_clamp
#else
#define TG_DW3_G2_TWO_RELU_CLAMP_FN NULL
#endif
#if TG_VARIANT(DW3_G2_ONE_GENERIC)
TG_DW3_G2_FN(tg_dw3_g2_one_generic, tg_dw3_g2_one, TG_DW3_GENERIC, DW3_G2_ONE_GENERIC)
#define TG_DW3_G2_ONE_GENERIC_FN tg_dw3_g2_one_generic
#else
#define TG_DW3_G2_ONE_GENERIC_FN NULL
#endif
#if TG_VARIANT(DW3_G2_ONE_SAT)
TG_DW3_G2_FN(tg_dw3_g2_one_sat, tg_dw3_g2_one, TG_DW3_FAST_SAT, DW3_G2_ONE_SAT)
#define TG_DW3_G2_ONE_SAT_FN tg_dw3_g2_one_sat
#else
#define TG_DW3_G2_ONE_SAT_FN NULL
#endif
#if TG_VARIANT(DW3_G2_ONE_CLAMP)
TG_DW3_G2_FN(tg_dw3_g2_one_clamp, tg_dw3_g2_one, TG_DW3_FAST_CLAMP, DW3_G2_ONE_CLAMP)
#define TG_DW3_G2_ONE_CLAMP_FN tg_dw3_g2_one_clamp
#else
#define TG_DW3_G2_ONE_CLAMP_FN NULL
#endif
#if TG_VARIANT(DW3_G2_ONE_RELU_SAT)
TG_DW3_G2_FN(tg_dw3_g2_one_relu_sat, tg_dw3_g2_one, TG_DW3_RELU_SAT, DW3_G2_ONE_RELU_SAT)
#define TG_DW3_G2_ONE_RELU_SAT_FN tg_dw3_g2_one_relu_sat
#else
#define TG_DW3_G2_ONE_RELU_SAT_FN NULL
#endif
#if TG_VARIANT(DW3_G2_ONE_RELU_CLAMP)
TG_DW3_G2_FN(tg_dw3_g2_one_relu_clamp, tg_dw3_g2_one, TG_DW3_RELU_CLAMP, DW3_G2_ONE_RELU_CLAMP)
#define TG_DW3_G2_ONE_RELU_CLAMP_FN tg_dw3_g2_one_relu_clamp
#else
#define TG_DW3_G2_ONE_RELU_CLAMP_FN NULL
#endif

/* the stride-2 path: every stride-2 layer on the DSP path (TG_DW3_G2_USE) */
static void tg_dw3_g2(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                      const int8_t *filter, const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                      int8_t *output, int32_t out_h, int32_t out_w, int32_t pad_top, int32_t pad_left,
                      int32_t input_zp, int32_t output_offset, int32_t act_min, int32_t act_max, int32_t fast,
                      int32_t *scratch)
{
    const tg_dw3_view lv = tg_dw3_view_of(in_h, in_w, channels, out_h, out_w, 2, 2, pad_top, pad_left);
    const int sat = act_min == -128 && act_max == 127;
    /* mode and line count as depthwise_ops.dw3_variants, which names the functions this call runs */
    const int mode = !fast                       ? TG_DW3_GENERIC
                     : act_min >= output_offset ? (sat ? TG_DW3_RELU_SAT : TG_DW3_RELU_CLAMP)
                                                : (sat ? TG_DW3_FAST_SAT : TG_DW3_FAST_CLAMP);
    static const tg_dw3_g2_fn table[5][2] = {
        {TG_DW3_G2_TWO_GENERIC_FN, TG_DW3_G2_ONE_GENERIC_FN},
        {TG_DW3_G2_TWO_SAT_FN, TG_DW3_G2_ONE_SAT_FN},
        {TG_DW3_G2_TWO_CLAMP_FN, TG_DW3_G2_ONE_CLAMP_FN},
        {TG_DW3_G2_TWO_RELU_SAT_FN, TG_DW3_G2_ONE_RELU_SAT_FN},
        {TG_DW3_G2_TWO_RELU_CLAMP_FN, TG_DW3_G2_ONE_RELU_CLAMP_FN},
    };
    const tg_dw3_g2_fn *fns = table[mode];
    const int32_t m = fast ? 2 : 1; /* the fast modes accumulate 2 * the sum (bias doubled already) */
    const int32_t act[3] = {output_offset, act_min, act_max};
    /* the line functions read pairs 0..out_len */
    const tg_dw3_g2_geo geo = tg_dw3_g2_geometry(lv.len, lv.value_step, lv.pad, lv.out_len + 1);
    int32_t bt, c0, j, a, tl[9];
    if ((lv.out_lines >= 2 && fns[0] == NULL) || ((lv.out_lines & 1) != 0 && fns[1] == NULL))
    {
        TG_UNREACHABLE(); /* a line function this call runs is not in the library: the lowering's bug */
    }
    for (a = 0; a < 9; ++a)
    {
        tl[a] = lv.cols ? 3 * (a % 3) + a / 3 : a; /* filter tap of kernel line a / 3, position a % 3 along it */
    }
    tg_dw3_g2_pad(scratch, &geo, (int32_t)(((uint32_t)input_zp & 0xffffu) | ((uint32_t)input_zp << 16)));
    for (bt = 0; bt < batches; ++bt)
    {
        const int8_t *image = input + bt * in_h * in_w * channels;
        int8_t *out_image = output + bt * out_h * out_w * channels;
        for (c0 = 0; c0 < channels; c0 += 4)
        {
            const int32_t nch = TG_MIN(4, channels - c0);
            /* per channel: (pair, lone) weights of kernel lines 0, 1, 2 and, for the reversed passes, 2, 1, 0 */
            int32_t wv[2][4][6];
            tg_dw3_g2_rq q[4];
            int32_t ol;
            for (j = 0; j < nch; ++j)
            {
                const int8_t *wc = filter + c0 + j;
                for (a = 0; a < 3; ++a)
                {
                    const int32_t w0 = m * wc[tl[3 * a] * channels], w1 = m * wc[tl[3 * a + 1] * channels];
                    wv[0][j][2 * a] = wv[1][j][4 - 2 * a] = (int32_t)(((uint32_t)w0 & 0xffffu) | ((uint32_t)w1 << 16));
                    wv[0][j][2 * a + 1] = wv[1][j][5 - 2 * a] = m * wc[tl[3 * a + 2] * channels];
                }
                q[j].bias = bias[c0 + j];
                q[j].multiplier = multiplier[c0 + j];
                q[j].shift = shift[c0 + j];
                /* 2^(r-1) + offset * 2^r for the right shift r = -shift >= 1 (uint32: no overflow UB) */
                q[j].rnd = fast ? (int32_t)((UINT32_C(1) << (-shift[c0 + j] - 1)) +
                                            (uint32_t)output_offset * (UINT32_C(1) << -shift[c0 + j]))
                                : 0;
            }
            for (ol = 0; ol < lv.out_lines; ol += 2)
            {
                /* pass k = ol / 2: input lines l..l+4 (l..l+2 for a last single output line); line l + i in slot
                   i, or 4 - i in the odd (reversed) passes, where line l is already there but at the first pass */
                const int32_t l = 2 * ol - lv.line_pad, k = ol >> 1, count = ol + 1 < lv.out_lines ? 5 : 3;
                const int rev = (k & 1) != 0;
                int8_t *o0 = out_image + ol * lv.out_line_step + c0;
                int32_t i;
                for (i = k == 0 ? 0 : 1; i < count; ++i)
                {
                    const int32_t line = l + i;
                    const int8_t *src = line >= 0 && line < lv.lines ? image + c0 + line * lv.line_step : NULL;
                    tg_dw3_g2_fill(scratch, rev ? 4 - i : i, src, &geo, nch, input_zp);
                }
                if (count == 5)
                {
                    /* reversed: slots 0..2 hold the second output line's input lines */
                    fns[0](scratch, (const int32_t(*)[6])wv[rev], rev ? o0 + lv.out_line_step : o0,
                           rev ? -lv.out_line_step : lv.out_line_step, lv.out_step, lv.out_len, q, act, nch);
                }
                else
                {
                    /* reversed: the line's input lines are in slots 4, 3, 2 */
                    fns[1](rev ? scratch + 16 : scratch, (const int32_t(*)[6])wv[rev], o0, 0, lv.out_step, lv.out_len,
                           q, act, nch);
                }
            }
        }
    }
}
#endif /* TG_DW3_G2 */

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
    const tg_dw3_view lv = tg_dw3_view_of(in_h, in_w, channels, out_h, out_w, stride_h, stride_w, pad_top, pad_left);
    /* values per ring slot: + 1 as the DSP path's pair loads read one value more, even for the blocks */
    const int32_t width = ((lv.out_len - 1) * lv.stride + 4 + 1) & ~1;
    /* line l of the image sits in ring slot (l + line_pad) % 3, kept incrementally */
    const int32_t slot_step = lv.line_stride % 3;
    int32_t b, c, ol, a, k, toff[9];
    for (a = 0; a < 3; ++a)
    {
        for (k = 0; k < 3; ++k)
        {
            toff[3 * a + k] = (lv.cols ? 3 * k + a : 3 * a + k) * channels;
        }
    }
    for (b = 0; b < batches; ++b)
    {
        for (c = 0; c < channels; ++c)
        {
            const int8_t *src = input + b * in_h * in_w * channels + c;
            int8_t *dst = output + b * out_h * out_w * channels + c;
            int32_t w[9];
            int32_t next = -lv.line_pad, next_slot = 0; /* first input line not in the ring, its slot */
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
                for (ol = 0; ol < lv.out_lines; ++ol)
                {
                    const int32_t l0 = ol * lv.line_stride - lv.line_pad;
                    int8_t *out = dst + ol * lv.out_line_step;
                    if (next < l0)
                    {
                        next = l0;
                        next_slot = s0;
                    }
                    for (; next < l0 + 3; ++next)
                    {
                        tg_dw3_fill(scratch, next_slot, next >= 0 && next < lv.lines ? src + next * lv.line_step : NULL,
                                    lv.len, lv.value_step, lv.pad, width, input_zp);
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
                    else if (lv.stride == 1 && fast && sat)
                    {
                        tg_dw3_s1_sat(scratch, ws, us, out, lv.out_step, lv.out_len, &rq);
                    }
#endif
#if TG_VARIANT(DW3_S1_CLAMP)
                    else if (lv.stride == 1 && fast && !sat)
                    {
                        tg_dw3_s1_clamp(scratch, ws, us, out, lv.out_step, lv.out_len, &rq);
                    }
#endif
#if TG_VARIANT(DW3_S1_GENERIC)
                    else if (lv.stride == 1 && !fast)
                    {
                        tg_dw3_s1_generic(scratch, ws, us, out, lv.out_step, lv.out_len, &rq);
                    }
#endif
#if TG_VARIANT(DW3_S2_SAT)
                    else if (lv.stride == 2 && fast && sat)
                    {
                        tg_dw3_s2_sat(scratch, ws, us, out, lv.out_step, lv.out_len, &rq);
                    }
#endif
#if TG_VARIANT(DW3_S2_CLAMP)
                    else if (lv.stride == 2 && fast && !sat)
                    {
                        tg_dw3_s2_clamp(scratch, ws, us, out, lv.out_step, lv.out_len, &rq);
                    }
#endif
#if TG_VARIANT(DW3_S2_GENERIC)
                    else if (lv.stride == 2 && !fast)
                    {
                        tg_dw3_s2_generic(scratch, ws, us, out, lv.out_step, lv.out_len, &rq);
                    }
#endif
                    else
#endif
                    {
                        /* portable path (and strides > 2): plain sums, TFLite's requantization */
                        const int32_t s1 = (s0 + 1) % 3, s2 = (s0 + 2) % 3;
                        int32_t i;
                        for (i = 0; i < lv.out_len; ++i)
                        {
                            const int32_t x = i * lv.stride;
                            int32_t v = fast ? bias[c] / 2 : bias[c];
                            for (k = 0; k < 3; ++k)
                            {
                                v += scratch[TG_DW3_AT(s0, x + k)] * w[k] + scratch[TG_DW3_AT(s1, x + k)] * w[3 + k] +
                                     scratch[TG_DW3_AT(s2, x + k)] * w[6 + k];
                            }
                            v = tg_requantize_mac(v, multiplier[c], shift[c]) + output_offset;
                            out[i * lv.out_step] = (int8_t)TG_MIN(TG_MAX(v, act_min), act_max);
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
#if TG_DW3_G2
    if (TG_DW3_G2_USE(stride_h, stride_w))
    {
        /* the stride-2 path; its scratch is 8-byte aligned (the arena's 16) */
        tg_dw3_g2(input, batches, in_h, in_w, channels, filter, bias, multiplier, shift, output, out_h, out_w,
                  pad_top, pad_left, input_zp, output_offset, act_min, act_max, fast, (int32_t *)(void *)scratch);
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
