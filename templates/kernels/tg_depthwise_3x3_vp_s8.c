/*
 * tg_depthwise_3x3_vp_s8: the pair path of the 3x3 depthwise kernels (see tg_depthwise_3x3_vp_s8.h).
 */
#include "tg_depthwise_3x3_vp_s8.h"

/* the line functions a library compiles (TG_VARIANT DWVP_<TWO|ONE>_<MODE>, see the table below): the kernel
   exists only where some call runs one of them */
#define TG_DWVP_TWOS                                                                                           \
    (TG_VARIANT(DWVP_TWO_ANY) || TG_VARIANT(DWVP_TWO_SIGNED) || TG_VARIANT(DWVP_TWO_SIGNED_SAT) ||             \
     TG_VARIANT(DWVP_TWO_RELU) || TG_VARIANT(DWVP_TWO_RELU_SAT))
#define TG_DWVP_ONES                                                                                           \
    (TG_VARIANT(DWVP_ONE_ANY) || TG_VARIANT(DWVP_ONE_SIGNED) || TG_VARIANT(DWVP_ONE_SIGNED_SAT) ||             \
     TG_VARIANT(DWVP_ONE_RELU) || TG_VARIANT(DWVP_ONE_RELU_SAT))

#if TG_DSP && (TG_DWVP_TWOS || TG_DWVP_ONES)

/* requantization modes (compile-time arguments of the inlined line functions) */
#define TG_DWVP_ANY 0      /* generic: tg_requantize_mac of the plain sum (a layer without the fast form) */
#define TG_DWVP_RELU 1     /* fast form without sign correction (act_min >= output_offset), clamp */
#define TG_DWVP_RELU_SAT 2 /* as RELU, clamp range -128..127: one SSAT */
#define TG_DWVP_SIGNED 3   /* fast form with the sign correction (act_min < output_offset), clamp */
#define TG_DWVP_SIGNED_SAT 4 /* as SIGNED, clamp range -128..127: one SSAT */

/* STRD of two words at byte offset `off` (a literal) of the 8-byte aligned p (GCC does not pair stores) */
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
#define TG_DWVP_STRD(lo, hi, p, off)                                                                           \
    __asm__("strd %1, %2, [%3, #" #off "]"                                                                     \
            : "=m"(*(char(*)[(off) + 8])(void *)(p))                                                           \
            : "r"(lo), "r"(hi), "r"(p))
#else
#define TG_DWVP_STRD(lo, hi, p, off)                                                                           \
    do                                                                                                         \
    {                                                                                                          \
        tg_store32((char *)(p) + (off), (lo));                                                                 \
        tg_store32((char *)(p) + (off) + 4, (hi));                                                             \
    } while (0)
#endif

/* per-channel requantization values of the current group */
typedef struct
{
    int32_t bias;       /* start of the sum (2 * the folded bias in the fast modes) */
    int32_t multiplier;
    int32_t rnd;        /* fast: 2^(r-1) + output_offset * 2^r */
    int32_t shift;      /* fast: the right shift r; generic: TFLite's shift */
} tg_dwvp_rq;

/* output value of accumulator acc; generic (mode ANY): tg_requantize_mac with TFLite's shift */
TG_INLINE int8_t tg_dwvp_out(int32_t acc, int mode, int32_t multiplier, int32_t rnd, int32_t shift,
                             int32_t output_offset, int32_t act_min, int32_t act_max)
{
    int32_t v;
    if (mode == TG_DWVP_ANY)
    {
        v = tg_requantize_mac(acc, multiplier, shift) + output_offset;
    }
    else if (mode == TG_DWVP_SIGNED || mode == TG_DWVP_SIGNED_SAT)
    {
        v = tg_dw_rq_fast(acc, multiplier, rnd, 1) >> shift;
    }
    else
    {
        v = tg_dw_rq_fast(acc, multiplier, rnd, 0) >> shift;
    }
    if (mode == TG_DWVP_RELU_SAT || mode == TG_DWVP_SIGNED_SAT)
    {
        return (int8_t)tg_rq_sat8(v);
    }
    return (int8_t)TG_MIN(TG_MAX(v, act_min), act_max);
}

/* requantize and store through the output pointer p at index i */
#define TG_DWVP_PUT(p, i, acc) (p)[i] = tg_dwvp_out((acc), mode, mult, rnd, rsh, output_offset, act_min, act_max)

#if TG_DWVP_TWOS
/*
 * Two output lines of one channel. t, b: the channel's first word in slots T, B; w: P0 P1 P2 Q0 Q1 Q2;
 * outputs o0[i * step] and o0[ls + i * step], i < n.
 */
TG_INLINE void tg_dwvp_two(const int32_t *restrict t, const int32_t *restrict b, const int32_t *restrict w,
                           int8_t *restrict o0, int32_t ls, int32_t step, int32_t n, int mode, const tg_dwvp_rq *q,
                           int32_t output_offset, int32_t act_min, int32_t act_max)
{
    /* outputs never alias the slots, weights or constants: keep the constants in locals */
    const int32_t bias = q->bias, mult = q->multiplier, rnd = q->rnd, rsh = q->shift;
    /* t walks the slot by blocks (two columns, two outputs), up to `end`; the outputs go by index o (a
       pointer stepped past the last output could leave the array: undefined even when unused) */
    const int32_t *const end = t + 8 * (n >> 1);
    int8_t *restrict o1 = o0 + ls;
    int32_t o = 0;
    for (; t != end; t += 8, b += 8)
    {
        /* outputs i, i + 1 of both lines from columns i..i+3: one block and the next */
        int32_t x0, x1, p0, p1, p2;
        int32_t a00, a01, a10, a11;
        TG_LDRD(p0, p1, w, 0);
        p2 = w[2];
        TG_LDRD(x0, x1, t, 0);
        a00 = tg_smlad(x0, p0, bias);
        a10 = tg_smlatb(x0, p0, bias);
        a00 = tg_smlad(x1, p1, a00);
        a01 = tg_smlad(x1, p0, bias);
        a10 = tg_smlatb(x1, p1, a10);
        a11 = tg_smlatb(x1, p0, bias);
        TG_LDRD(x0, x1, t, 32);
        a00 = tg_smlad(x0, p2, a00);
        a01 = tg_smlad(x0, p1, a01);
        a10 = tg_smlatb(x0, p2, a10);
        a11 = tg_smlatb(x0, p1, a11);
        a01 = tg_smlad(x1, p2, a01);
        a11 = tg_smlatb(x1, p2, a11);
        TG_LDRD(p0, p1, w, 12);
        p2 = w[5];
        TG_LDRD(x0, x1, b, 0);
        a00 = tg_smlabt(x0, p0, a00);
        a10 = tg_smlad(x0, p0, a10);
        a00 = tg_smlabt(x1, p1, a00);
        a01 = tg_smlabt(x1, p0, a01);
        a10 = tg_smlad(x1, p1, a10);
        a11 = tg_smlad(x1, p0, a11);
        TG_LDRD(x0, x1, b, 32);
        a00 = tg_smlabt(x0, p2, a00);
        a01 = tg_smlabt(x0, p1, a01);
        a10 = tg_smlad(x0, p2, a10);
        a11 = tg_smlad(x0, p1, a11);
        a01 = tg_smlabt(x1, p2, a01);
        a11 = tg_smlad(x1, p2, a11);
        TG_DWVP_PUT(o0, o, a00);
        TG_DWVP_PUT(o1, o, a10);
        o += step;
        TG_DWVP_PUT(o0, o, a01);
        TG_DWVP_PUT(o1, o, a11);
        o += step;
    }
    if ((n & 1) != 0)
    {
        /* the last output of an odd line length: columns i..i+2 */
        const int32_t x0 = t[0], x1 = t[1], x2 = t[8], z0 = b[0], z1 = b[1], z2 = b[8];
        int32_t a0 = tg_smlad(x0, w[0], bias), a1 = tg_smlatb(x0, w[0], bias);
        a0 = tg_smlad(x1, w[1], a0);
        a1 = tg_smlatb(x1, w[1], a1);
        a0 = tg_smlad(x2, w[2], a0);
        a1 = tg_smlatb(x2, w[2], a1);
        a0 = tg_smlabt(z0, w[3], a0);
        a1 = tg_smlad(z0, w[3], a1);
        a0 = tg_smlabt(z1, w[4], a0);
        a1 = tg_smlad(z1, w[4], a1);
        a0 = tg_smlabt(z2, w[5], a0);
        a1 = tg_smlad(z2, w[5], a1);
        TG_DWVP_PUT(o0, o, a0);
        TG_DWVP_PUT(o1, o, a1);
    }
}

#endif /* TG_DWVP_TWOS */

#if TG_DWVP_ONES
/* One output line (of input lines l..l+2: T and the lower half of B), arguments as tg_dwvp_two. */
TG_INLINE void tg_dwvp_one(const int32_t *restrict t, const int32_t *restrict b, const int32_t *restrict w,
                           int8_t *restrict o0, int32_t step, int32_t n, int mode, const tg_dwvp_rq *q,
                           int32_t output_offset, int32_t act_min, int32_t act_max)
{
    const int32_t bias = q->bias, mult = q->multiplier, rnd = q->rnd, rsh = q->shift;
    const int32_t *const end = t + 8 * (n >> 1);
    const int32_t step2 = 2 * step;
    int32_t o = 0;
    for (; t != end; t += 8, b += 8)
    {
        int32_t x0, x1, p0, p1, p2, a0, a1;
        TG_LDRD(p0, p1, w, 0);
        p2 = w[2];
        TG_LDRD(x0, x1, t, 0);
        a0 = tg_smlad(x0, p0, bias);
        a0 = tg_smlad(x1, p1, a0);
        a1 = tg_smlad(x1, p0, bias);
        TG_LDRD(x0, x1, t, 32);
        a0 = tg_smlad(x0, p2, a0);
        a1 = tg_smlad(x0, p1, a1);
        a1 = tg_smlad(x1, p2, a1);
        TG_LDRD(p0, p1, w, 12);
        p2 = w[5];
        TG_LDRD(x0, x1, b, 0);
        a0 = tg_smlabt(x0, p0, a0);
        a0 = tg_smlabt(x1, p1, a0);
        a1 = tg_smlabt(x1, p0, a1);
        TG_LDRD(x0, x1, b, 32);
        a0 = tg_smlabt(x0, p2, a0);
        a1 = tg_smlabt(x0, p1, a1);
        a1 = tg_smlabt(x1, p2, a1);
        TG_DWVP_PUT(o0, o, a0);
        TG_DWVP_PUT(o0, o + step, a1);
        o += step2;
    }
    if ((n & 1) != 0)
    {
        int32_t a = tg_smlad(t[0], w[0], bias);
        a = tg_smlad(t[1], w[1], a);
        a = tg_smlad(t[8], w[2], a);
        a = tg_smlabt(b[0], w[3], a);
        a = tg_smlabt(b[1], w[4], a);
        a = tg_smlabt(b[8], w[5], a);
        TG_DWVP_PUT(o0, o, a);
    }
}

#endif /* TG_DWVP_ONES */

/* the four channels' pair words of one column from words a (line l) and b (line l + 1) of four channels */
#define TG_DWVP_SPLIT(a, b, e0, e1, e2, e3)                                                                    \
    do                                                                                                         \
    {                                                                                                          \
        const uint32_t lo_ = tg_pkhbt((a), (b)), hi_ = tg_pkhtb((b), (a));                                     \
        (e0) = tg_sxtb16(lo_);                                                                                 \
        (e1) = tg_sxtb16_ror8(lo_);                                                                            \
        (e2) = tg_sxtb16(hi_);                                                                                 \
        (e3) = tg_sxtb16_ror8(hi_);                                                                            \
    } while (0)

/*
 * Fill blocks [b0, b1) of a slot (`dst`: the slot) with complete groups of four channels from lines
 * pa, pb (the group's first channel at value 0; NULL: a padding line of zero points, word zw), whose
 * value v is at p + v * step, column x = value x - pad. The blocks' columns must all be inside the line.
 */
TG_INLINE void tg_dwvp_fill_blocks(int32_t *dst, int32_t b0, int32_t b1, const int8_t *pa, const int8_t *pb,
                                   int32_t step, int32_t pad, uint32_t zw)
{
    int32_t blk;
    int32_t off = (2 * b0 - pad) * step;
    const int32_t step2 = 2 * step;
    int32_t *d = dst + 8 * b0;
    for (blk = b0; blk < b1; ++blk)
    {
        const uint32_t a0 = pa != NULL ? tg_load32(pa + off) : zw, a1 = pa != NULL ? tg_load32(pa + off + step) : zw;
        const uint32_t c0 = pb != NULL ? tg_load32(pb + off) : zw, c1 = pb != NULL ? tg_load32(pb + off + step) : zw;
        int32_t e0, e1, e2, e3, f0, f1, f2, f3;
        TG_DWVP_SPLIT(a0, c0, e0, e1, e2, e3);
        TG_DWVP_SPLIT(a1, c1, f0, f1, f2, f3);
        TG_DWVP_STRD(e0, f0, d, 0);
        TG_DWVP_STRD(e1, f1, d, 8);
        TG_DWVP_STRD(e2, f2, d, 16);
        TG_DWVP_STRD(e3, f3, d, 24);
        d += 8;
        off += step2;
    }
}

/* the word of channels 0..3 at p, zero points (bytes of zw) past the first nch channels */
TG_INLINE uint32_t tg_dwvp_word(const int8_t *p, int32_t nch, uint32_t zw)
{
    uint32_t w = zw;
    int32_t j;
    if (nch == 4)
    {
        return tg_load32(p);
    }
    for (j = 0; j < nch; ++j)
    {
        w = (w & ~(UINT32_C(0xff) << (8 * j))) | ((uint32_t)(uint8_t)p[j] << (8 * j));
    }
    return w;
}

/*
 * Fill slot `dst` (columns 0..width-1, width even) with lines la, la + 1 of the group whose first channel
 * is at `src` (line l, value v at src + l * line_step + v * step), nch (1..4) channels of it.
 */
static void tg_dwvp_fill(int32_t *dst, int32_t width, const int8_t *src, int32_t la, int32_t lines,
                         int32_t line_step, int32_t len, int32_t step, int32_t pad, int32_t nch, int32_t zp)
{
    const uint32_t zw = (uint32_t)(uint8_t)zp * UINT32_C(0x01010101);
    const int8_t *pa = la >= 0 && la < lines ? src + la * line_step : NULL;
    const int8_t *pb = la + 1 >= 0 && la + 1 < lines ? src + (la + 1) * line_step : NULL;
    /* blocks whose columns are all inside the line (2b >= pad and 2b + 1 < pad + len): fast, below */
    const int32_t in0 = TG_MIN((pad + 1) / 2, width / 2);
    const int32_t in1 =
        (nch == 4 && (pa != NULL || pb != NULL)) ? TG_MAX(in0, TG_MIN((pad + len) / 2, width / 2)) : in0;
    int32_t x;
    if (pa != NULL && pb != NULL)
    {
        tg_dwvp_fill_blocks(dst, in0, in1, pa, pb, step, pad, zw);
    }
    else if (pa != NULL)
    {
        tg_dwvp_fill_blocks(dst, in0, in1, pa, NULL, step, pad, zw);
    }
    else if (pb != NULL)
    {
        tg_dwvp_fill_blocks(dst, in0, in1, NULL, pb, step, pad, zw);
    }
    if (pa == NULL && pb == NULL)
    {
        /* a slot of padding lines: every word is (zp, zp) */
        const int32_t zz = (int32_t)(((uint32_t)zp & 0xffffu) | ((uint32_t)zp << 16));
        for (x = 0; x < 4 * width; x += 2)
        {
            TG_DWVP_STRD(zz, zz, dst + x, 0);
        }
        return;
    }
    /* the other columns (padding, partial groups) one by one */
    for (x = 0; x < width; x = (x + 1 == 2 * in0) ? 2 * in1 : x + 1)
    {
        const int32_t v = x - pad;
        const int inside = v >= 0 && v < len;
        const uint32_t a = pa != NULL && inside ? tg_dwvp_word(pa + v * step, nch, zw) : zw;
        const uint32_t c = pb != NULL && inside ? tg_dwvp_word(pb + v * step, nch, zw) : zw;
        int32_t *d = dst + 8 * (x >> 1) + (x & 1);
        int32_t e0, e1, e2, e3;
        TG_DWVP_SPLIT(a, c, e0, e1, e2, e3);
        d[0] = e0;
        d[2] = e1;
        d[4] = e2;
        d[6] = e3;
    }
}

/* the line functions of each mode, not inlined (each a tight loop with all registers to itself) */
#if defined(__GNUC__) || defined(__clang__)
#define TG_DWVP_NOINLINE __attribute__((noinline))
#else
#define TG_DWVP_NOINLINE
#endif
typedef void (*tg_dwvp_line_fn)(const int32_t *t, const int32_t *b, const int32_t *w, int8_t *o0, int32_t ls,
                                int32_t step, int32_t n, const tg_dwvp_rq *q, const int32_t *act);
#define TG_DWVP_TWO_FN(name, mode, variant)                                                                    \
    static TG_DWVP_NOINLINE void tg_dwvp_two_##name(const int32_t *t, const int32_t *b, const int32_t *w,      \
                                                    int8_t *o0, int32_t ls, int32_t step, int32_t n,           \
                                                    const tg_dwvp_rq *q, const int32_t *act)                   \
    {                                                                                                          \
        TG_TRACE_VARIANT(variant);                                                                             \
        tg_dwvp_two(t, b, w, o0, ls, step, n, (mode), q, act[0], act[1], act[2]);                              \
    }
#define TG_DWVP_ONE_FN(name, mode, variant)                                                                    \
    static TG_DWVP_NOINLINE void tg_dwvp_one_##name(const int32_t *t, const int32_t *b, const int32_t *w,      \
                                                    int8_t *o0, int32_t ls, int32_t step, int32_t n,           \
                                                    const tg_dwvp_rq *q, const int32_t *act)                   \
    {                                                                                                          \
        TG_TRACE_VARIANT(variant);                                                                             \
        (void)ls;                                                                                              \
        tg_dwvp_one(t, b, w, o0, step, n, (mode), q, act[0], act[1], act[2]);                                  \
    }

/*
 * Each line function is a specialisation (TG_VARIANT DWVP_<TWO|ONE>_<MODE>: two output lines, or the last
 * one of an odd count, in one requantization mode) compiled only where a call of the library runs it:
 * tinygen.lowering.depthwise_ops.vp_variants mirrors the choice made in tg_depthwise_3x3_vp_s8 below.
 * A missing one is NULL in the table (the kernel then stops: TG_UNREACHABLE, tg_common.h).
 */
#if TG_VARIANT(DWVP_TWO_ANY)
TG_DWVP_TWO_FN(any, TG_DWVP_ANY, DWVP_TWO_ANY)
#define TG_DWVP_TWO_ANY_FN tg_dwvp_two_any
#else
#define TG_DWVP_TWO_ANY_FN NULL
#endif
#if TG_VARIANT(DWVP_ONE_ANY)
TG_DWVP_ONE_FN(any, TG_DWVP_ANY, DWVP_ONE_ANY)
#define TG_DWVP_ONE_ANY_FN tg_dwvp_one_any
#else
#define TG_DWVP_ONE_ANY_FN NULL
#endif
#if TG_VARIANT(DWVP_TWO_SIGNED)
TG_DWVP_TWO_FN(signed, TG_DWVP_SIGNED, DWVP_TWO_SIGNED)
#define TG_DWVP_TWO_SIGNED_FN tg_dwvp_two_signed
#else
#define TG_DWVP_TWO_SIGNED_FN NULL
#endif
#if TG_VARIANT(DWVP_ONE_SIGNED)
TG_DWVP_ONE_FN(signed, TG_DWVP_SIGNED, DWVP_ONE_SIGNED)
#define TG_DWVP_ONE_SIGNED_FN tg_dwvp_one_signed
#else
#define TG_DWVP_ONE_SIGNED_FN NULL
#endif
#if TG_VARIANT(DWVP_TWO_SIGNED_SAT)
TG_DWVP_TWO_FN(signed_sat, TG_DWVP_SIGNED_SAT, DWVP_TWO_SIGNED_SAT)
#define TG_DWVP_TWO_SIGNED_SAT_FN tg_dwvp_two_signed_sat
#else
#define TG_DWVP_TWO_SIGNED_SAT_FN NULL
#endif
#if TG_VARIANT(DWVP_ONE_SIGNED_SAT)
TG_DWVP_ONE_FN(signed_sat, TG_DWVP_SIGNED_SAT, DWVP_ONE_SIGNED_SAT)
#define TG_DWVP_ONE_SIGNED_SAT_FN tg_dwvp_one_signed_sat
#else
#define TG_DWVP_ONE_SIGNED_SAT_FN NULL
#endif
#if TG_VARIANT(DWVP_TWO_RELU)
TG_DWVP_TWO_FN(relu, TG_DWVP_RELU, DWVP_TWO_RELU)
#define TG_DWVP_TWO_RELU_FN tg_dwvp_two_relu
#else
#define TG_DWVP_TWO_RELU_FN NULL
#endif
#if TG_VARIANT(DWVP_ONE_RELU)
TG_DWVP_ONE_FN(relu, TG_DWVP_RELU, DWVP_ONE_RELU)
#define TG_DWVP_ONE_RELU_FN tg_dwvp_one_relu
#else
#define TG_DWVP_ONE_RELU_FN NULL
#endif
#if TG_VARIANT(DWVP_TWO_RELU_SAT)
TG_DWVP_TWO_FN(relu_sat, TG_DWVP_RELU_SAT, DWVP_TWO_RELU_SAT)
#define TG_DWVP_TWO_RELU_SAT_FN tg_dwvp_two_relu_sat
#else
#define TG_DWVP_TWO_RELU_SAT_FN NULL
#endif
#if TG_VARIANT(DWVP_ONE_RELU_SAT)
TG_DWVP_ONE_FN(relu_sat, TG_DWVP_RELU_SAT, DWVP_ONE_RELU_SAT)
#define TG_DWVP_ONE_RELU_SAT_FN tg_dwvp_one_relu_sat
#else
#define TG_DWVP_ONE_RELU_SAT_FN NULL
#endif

void tg_depthwise_3x3_vp_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                            const int8_t *filter, int32_t packed, const int32_t *bias, const int32_t *multiplier,
                            const int32_t *shift, int8_t *output, int32_t out_h, int32_t out_w, int32_t pad_top,
                            int32_t pad_left, int32_t input_zp, int32_t output_offset, int32_t act_min,
                            int32_t act_max, int32_t fast, int32_t *scratch)
{
    /* columns as lines when that makes the lines longer */
    const int cols = out_h > out_w;
    const int32_t lines = cols ? in_w : in_h, len = cols ? in_h : in_w;
    const int32_t line_step = cols ? channels : in_w * channels, value_step = cols ? in_w * channels : channels;
    const int32_t out_lines = cols ? out_w : out_h, out_len = cols ? out_h : out_w;
    const int32_t out_line_step = cols ? channels : out_w * channels, out_step = cols ? out_w * channels : channels;
    const int32_t line_pad = cols ? pad_left : pad_top, pad = cols ? pad_top : pad_left;
    const int32_t width = 2 * ((out_len + 3) / 2); /* columns per slot (out_len + 2), whole blocks */
    const int32_t groups = (channels + 3) / 4;
    const int sat = act_min == -128 && act_max == 127;
    const int mode = !fast                    ? TG_DWVP_ANY
                     : act_min < output_offset ? (sat ? TG_DWVP_SIGNED_SAT : TG_DWVP_SIGNED)
                                               : (sat ? TG_DWVP_RELU_SAT : TG_DWVP_RELU);
    const int32_t m = fast ? 2 : 1; /* the fast modes accumulate 2 * the sum */
    /* mode and line count as depthwise_ops.vp_variants, which names the entries this call needs */
    static const tg_dwvp_line_fn table[5][2] = {
        {TG_DWVP_TWO_ANY_FN, TG_DWVP_ONE_ANY_FN},
        {TG_DWVP_TWO_RELU_FN, TG_DWVP_ONE_RELU_FN},
        {TG_DWVP_TWO_RELU_SAT_FN, TG_DWVP_ONE_RELU_SAT_FN},
        {TG_DWVP_TWO_SIGNED_FN, TG_DWVP_ONE_SIGNED_FN},
        {TG_DWVP_TWO_SIGNED_SAT_FN, TG_DWVP_ONE_SIGNED_SAT_FN},
    };
    const tg_dwvp_line_fn *fns = table[mode];
    const int32_t act[3] = {output_offset, act_min, act_max};
    int32_t bt, g, j, a, k, tl[9];
    if ((out_lines >= 2 && fns[0] == NULL) || ((out_lines & 1) != 0 && fns[1] == NULL))
    {
        TG_UNREACHABLE(); /* a line function this call runs is not in the library: the lowering's bug */
    }
    for (a = 0; a < 3; ++a)
    {
        for (k = 0; k < 3; ++k)
        {
            tl[3 * a + k] = cols ? 3 * k + a : 3 * a + k; /* tap of kernel line a, position k along the line */
        }
    }
    for (bt = 0; bt < batches; ++bt)
    {
        const int8_t *image = input + bt * in_h * in_w * channels;
        int8_t *out_image = output + bt * out_h * out_w * channels;
        for (g = 0; g < groups; ++g)
        {
            const int32_t c0 = 4 * g, nch = TG_MIN(4, channels - c0);
            int32_t wv[4][6];
            tg_dwvp_rq q[4];
            int32_t *slot[2];
            int32_t cur = 0, ol;
            slot[0] = scratch;
            slot[1] = scratch + 4 * width;
            for (j = 0; j < nch; ++j)
            {
                /* channel c's tap t = 3 * kernel row + kernel column is at wc[t * ws] */
                const int32_t c = c0 + j;
                const int8_t *wc = !packed ? filter + c
                                   : c < (channels & ~3) ? filter + (c >> 2) * 36 + (c & 3)
                                                         : filter + 36 * (channels >> 2) + 9 * (c - (channels & ~3));
                const int32_t ws = !packed ? channels : c < (channels & ~3) ? 4 : 1;
                for (k = 0; k < 3; ++k)
                {
                    /* kernel lines 0..2 at position k along the line, doubled in the fast modes */
                    const int32_t w0 = m * wc[tl[k] * ws], w1 = m * wc[tl[3 + k] * ws], w2 = m * wc[tl[6 + k] * ws];
                    wv[j][k] = (int32_t)(((uint32_t)w0 & 0xffffu) | ((uint32_t)w1 << 16));
                    wv[j][3 + k] = (int32_t)(((uint32_t)w1 & 0xffffu) | ((uint32_t)w2 << 16));
                }
                q[j].bias = bias[c];
                q[j].multiplier = multiplier[c];
                /* 2^(r-1) + offset * 2^r for the right shift r = -shift >= 1 (uint32: no overflow UB) */
                q[j].rnd = fast ? (int32_t)((UINT32_C(1) << (-shift[c] - 1)) +
                                            (uint32_t)output_offset * (UINT32_C(1) << -shift[c]))
                                : 0;
                q[j].shift = fast ? -shift[c] : shift[c];
            }
            tg_dwvp_fill(slot[0], width, image + c0, -line_pad, lines, line_step, len, value_step, pad, nch,
                         input_zp);
            for (ol = 0; ol < out_lines; ol += 2)
            {
                /* output lines ol, ol + 1 (the last one alone); T = slot[cur] holds input lines l, l + 1, B gets
                   l + 2, l + 3 */
                const int32_t l = ol - line_pad;
                const int32_t *t = slot[cur], *b = slot[1 - cur];
                int8_t *o0 = out_image + ol * out_line_step + c0;
                const tg_dwvp_line_fn fn = ol + 1 < out_lines ? fns[0] : fns[1]; /* two lines, or the last alone */
                tg_dwvp_fill(slot[1 - cur], width, image + c0, l + 2, lines, line_step, len, value_step, pad, nch,
                             input_zp);
                for (j = 0; j < nch; ++j)
                {
                    fn(t + 2 * j, b + 2 * j, wv[j], o0 + j, out_line_step, out_step, out_len, &q[j], act);
                }
                cur = 1 - cur;
            }
        }
    }
}

#else
/* the pair path exists on DSP targets only, where a call runs it; ISO C wants a declaration in every translation
   unit */
typedef int tg_depthwise_3x3_vp_s8_dsp_only;
#endif /* TG_DSP */
