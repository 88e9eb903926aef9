/*
 * tg_fully_connected_dual_s8: vector x matrix per batch row, two weight rows per SMLAD, four rows per pass
 * (layouts and the arithmetic: tg_fully_connected_dual_s8.h).
 *
 * Specialisations (TG_VARIANT): FC_DUAL_RQ_FULL / _RELU / _FAST, a copy of the quad loop for the mode of the
 * same name (packed requantization epilogue), and FC_DUAL_G8, the eight-group unrolled inner loop of those
 * copies. The dispatch ends in the general copy (any mode, one group per iteration), always compiled and
 * exact for any argument, so a missing specialisation only costs instructions.
 * tinygen/lowering/fc_ops.py: dual_variants() mirrors this dispatch.
 */
#include "tg_fully_connected_dual_s8.h"

#include "tg_conv_dsp_s8.h"
#include "tg_requant_fast.h"

#if defined(__GNUC__) || defined(__clang__)
#define TG_FCD_NOINLINE __attribute__((noinline))
#else
#define TG_FCD_NOINLINE
#endif

/* the bias of a layer without one (its input offset is added to the inputs instead) */
static const int32_t tg_fcd_zero[4] = {0, 0, 0, 0};

#if TG_DSP && !(defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__)))
/* UXTB16 (bytes 0 and 2 zero-extended to two halfwords) for the C form of the inner loop */
TG_INLINE int32_t tg_fcd_uxtb16(uint32_t x)
{
#if defined(__ARM_FEATURE_DSP)
    return (int32_t)__uxtb16((int32_t)x);
#else
    return (int32_t)(x & UINT32_C(0x00ff00ff));
#endif
}
#endif

/* scratch <- the first 4 * groups inputs plus the input offset as int16, per group k, k+2, k+1, k+3 (|x +
   offset| <= 255); returns their sum */
static int32_t tg_fcd_expand(const int8_t *x, int16_t *xs, int32_t groups, int32_t offset)
{
    int32_t sum = 0;
    int32_t g;
#if TG_DSP
    const uint32_t off2 = (uint32_t)(uint16_t)offset * UINT32_C(0x00010001);
    for (g = 0; g < groups; ++g)
    {
        const uint32_t v = tg_load32(x);
        const int32_t x02 = tg_sxtab16(off2, v), x13 = tg_sxtab16_ror8(off2, v);
        tg_store32(xs, x02);
        tg_store32(xs + 2, x13);
        sum = tg_smlad(x02, 0x00010001, sum);
        sum = tg_smlad(x13, 0x00010001, sum);
        x += 4;
        xs += 4;
    }
#else
    for (g = 0; g < groups; ++g)
    {
        xs[0] = (int16_t)(x[0] + offset);
        xs[1] = (int16_t)(x[2] + offset);
        xs[2] = (int16_t)(x[1] + offset);
        xs[3] = (int16_t)(x[3] + offset);
        sum += xs[0] + xs[1] + xs[2] + xs[3];
        x += 4;
        xs += 4;
    }
#endif
    return sum;
}

#if TG_DSP && defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
/* One group (four inputs, the quad's four rows, 16 MACs) in 14 instructions: one LDRD of the expanded
   inputs, one LDM of the four weight words (into r8, r10, r11, r12: LDM needs its register list in
   ascending order, which only fixed registers guarantee; r9 and r7 stay free for the platform / frame),
   then per word SMLAD (both rows), UXTB16 in place, SMLAD (row A). C cannot make GCC emit the LDM. */
#define TG_FCD_GROUP                                                                                           \
    "ldrd %[x0], %[x1], [%[xp]], #8\n\t"                                                                       \
    "ldm %[wp]!, {r8, r10, r11, r12}\n\t"                                                                      \
    "smlad %[r0], %[x0], r8, %[r0]\n\t"                                                                        \
    "uxtb16 r8, r8\n\t"                                                                                        \
    "smlad %[u0], %[x0], r8, %[u0]\n\t"                                                                        \
    "smlad %[r0], %[x1], r10, %[r0]\n\t"                                                                       \
    "uxtb16 r10, r10\n\t"                                                                                      \
    "smlad %[u0], %[x1], r10, %[u0]\n\t"                                                                       \
    "smlad %[r1], %[x0], r11, %[r1]\n\t"                                                                       \
    "uxtb16 r11, r11\n\t"                                                                                      \
    "smlad %[u1], %[x0], r11, %[u1]\n\t"                                                                       \
    "smlad %[r1], %[x1], r12, %[r1]\n\t"                                                                       \
    "uxtb16 r12, r12\n\t"                                                                                      \
    "smlad %[u1], %[x1], r12, %[u1]\n\t"
/* COUNT (>= 1) iterations of BODY, consuming inputs at xp and weights at wp */
#define TG_FCD_LOOP(BODY, COUNT)                                                                               \
    do                                                                                                         \
    {                                                                                                          \
        uint32_t x0, x1;                                                                                       \
        int32_t cnt = (COUNT);                                                                                 \
        __asm__("1:\n\t" BODY "subs %[n], %[n], #1\n\t"                                                        \
                "bne 1b\n\t"                                                                                   \
                : [u0] "+r"(u0), [r0] "+r"(r0), [u1] "+r"(u1), [r1] "+r"(r1), [x0] "=&r"(x0), [x1] "=&r"(x1),  \
                  [xp] "+r"(xp), [wp] "+r"(wp), [n] "+r"(cnt)                                                  \
                :                                                                                              \
                : "r8", "r10", "r11", "r12", "cc", "memory");                                                  \
    } while (0)
#endif

/**
 * The group part of rows o..o+3 (quad layout at *w, advanced past it) against the expanded input xs: the A
 * rows' accumulators a0, a2 come in holding their start values (already minus 128 * sum(x)) and leave holding
 * the accumulators; b1, b3 receive the B rows' dot products (the caller adds their bias after the loop, so
 * the bias need not stay live across it).
 */
TG_INLINE void tg_fcd_quad(const int16_t *xs, const int8_t **w, int32_t groups, const int unroll, int32_t *a0,
                           int32_t *b1, int32_t *a2, int32_t *b3)
{
    (void)unroll;
#if TG_DSP
    /* U (row A + 128 X) and R (U + 256 * row B) of each pair; R - U starts at 0 */
    int32_t u0 = *a0, r0 = *a0, u1 = *a2, r1 = *a2;
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
    const int16_t *xp = xs;
    const int8_t *wp = *w;
#if TG_VARIANT(FC_DUAL_G8)
    /* eight groups per iteration (two loop instructions per 128 MACs), in the specialised copies (`unroll`) */
    if (unroll && groups >= 8)
    {
        TG_TRACE_VARIANT(FC_DUAL_G8);
        TG_FCD_LOOP(TG_FCD_GROUP TG_FCD_GROUP TG_FCD_GROUP TG_FCD_GROUP TG_FCD_GROUP TG_FCD_GROUP TG_FCD_GROUP
                        TG_FCD_GROUP,
                    groups >> 3);
        groups &= 7;
    }
#endif
    /* general: the remaining groups (all of them without FC_DUAL_G8) one per iteration */
    if (groups != 0)
    {
        TG_FCD_LOOP(TG_FCD_GROUP, groups);
    }
    *w = wp;
#else
    const int8_t *wp = *w;
    int32_t g;
    for (g = 0; g < groups; ++g)
    {
        const uint32_t x0 = tg_load32(xs), x1 = tg_load32(xs + 2);
        const uint32_t w0 = tg_load32(wp), w1 = tg_load32(wp + 4), w2 = tg_load32(wp + 8), w3 = tg_load32(wp + 12);
        r0 = tg_smlad((int32_t)x0, (int32_t)w0, r0);
        u0 = tg_smlad((int32_t)x0, tg_fcd_uxtb16(w0), u0);
        r0 = tg_smlad((int32_t)x1, (int32_t)w1, r0);
        u0 = tg_smlad((int32_t)x1, tg_fcd_uxtb16(w1), u0);
        r1 = tg_smlad((int32_t)x0, (int32_t)w2, r1);
        u1 = tg_smlad((int32_t)x0, tg_fcd_uxtb16(w2), u1);
        r1 = tg_smlad((int32_t)x1, (int32_t)w3, r1);
        u1 = tg_smlad((int32_t)x1, tg_fcd_uxtb16(w3), u1);
        xs += 4;
        wp += 16;
    }
    *w = wp;
#endif
    /* R - U = 256 * B exactly (|B| < 2^23, checked offline); the shift is arithmetic */
    *a0 = u0;
    *b1 = (int32_t)((uint32_t)r0 - (uint32_t)u0) >> 8;
    *a2 = u1;
    *b3 = (int32_t)((uint32_t)r1 - (uint32_t)u1) >> 8;
#else
    /* portable: the same bytes, row A unsigned (+128, corrected by the caller's start value), row B signed */
    uint32_t s0 = (uint32_t)*a0, s1 = 0, s2 = (uint32_t)*a2, s3 = 0;
    const uint8_t *wb = (const uint8_t *)(const void *)*w;
    int32_t g;
    for (g = 0; g < groups; ++g)
    {
        s0 += (uint32_t)(xs[0] * wb[0] + xs[1] * wb[2] + xs[2] * wb[4] + xs[3] * wb[6]);
        s1 += (uint32_t)(xs[0] * (int8_t)wb[1] + xs[1] * (int8_t)wb[3] + xs[2] * (int8_t)wb[5] + xs[3] * (int8_t)wb[7]);
        s2 += (uint32_t)(xs[0] * wb[8] + xs[1] * wb[10] + xs[2] * wb[12] + xs[3] * wb[14]);
        s3 += (uint32_t)(xs[0] * (int8_t)wb[9] + xs[1] * (int8_t)wb[11] + xs[2] * (int8_t)wb[13] +
                         xs[3] * (int8_t)wb[15]);
        xs += 4;
        wb += 16;
    }
    *w = (const int8_t *)(const void *)wb;
    *a0 = (int32_t)s0;
    *b1 = (int32_t)s1;
    *a2 = (int32_t)s2;
    *b3 = (int32_t)s3;
#endif
}

#if TG_DSP && (TG_VARIANT(FC_DUAL_RQ_FULL) || TG_VARIANT(FC_DUAL_RQ_RELU) || TG_VARIANT(FC_DUAL_RQ_FAST))
/* four int8 results (each already within -128..127) packed into one little-endian word: three BFIs (GCC
   does not find them in the C form) */
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
#define TG_FCD_BFI8(v, x, LSB) __asm__("bfi %0, %1, #" #LSB ", #8" : "+r"(v) : "r"(x))
#else
#define TG_FCD_BFI8(v, x, LSB) ((v) = ((v) & ~(UINT32_C(0xff) << (LSB))) | (((uint32_t)(x) & 0xffu) << (LSB)))
#endif
TG_INLINE uint32_t tg_fcd_pack4(int32_t v0, int32_t v1, int32_t v2, int32_t v3)
{
    uint32_t v = (uint32_t)v0;
    TG_FCD_BFI8(v, v1, 8);
    TG_FCD_BFI8(v, v2, 16);
    TG_FCD_BFI8(v, v3, 24);
    return v;
}
#endif

#if TG_DSP && (TG_VARIANT(FC_DUAL_RQ_RELU) || TG_VARIANT(FC_DUAL_RQ_FAST))
/* act_min or act_max replicated in the four byte lanes */
TG_INLINE uint32_t tg_fcd_rep4(int32_t v)
{
    return (uint32_t)(uint8_t)v * UINT32_C(0x01010101);
}
#endif

#if TG_DSP && (TG_VARIANT(FC_DUAL_RQ_FAST) ||                                                                  \
               (TG_VARIANT(FC_DUAL_RQ_RELU) && !(defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__)))))
/* clamp four packed int8 lanes to lo..hi (each replicated in four lanes): SSUB8 sets the lanes' GE flags,
   SEL picks by them (two pairs; inline assembly because the flags must not be separated from SEL) */
TG_INLINE uint32_t tg_fcd_clamp4(uint32_t v, uint32_t lo4, uint32_t hi4)
{
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
    uint32_t t;
    __asm__("ssub8 %[t], %[v], %[lo]\n\t"
            "sel %[v], %[v], %[lo]\n\t"
            "ssub8 %[t], %[hi], %[v]\n\t"
            "sel %[v], %[v], %[hi]"
            : [v] "+r"(v), [t] "=&r"(t)
            : [lo] "r"(lo4), [hi] "r"(hi4)
            : "cc");
    return v;
#else
    uint32_t out = 0;
    int k;
    for (k = 0; k < 32; k += 8)
    {
        const int32_t x = (int8_t)(v >> k), lo = (int8_t)(lo4 >> k), hi = (int8_t)(hi4 >> k);
        out |= ((uint32_t)TG_CLAMP(x, lo, hi) & 0xffu) << k;
    }
    return out;
#endif
}
#endif

#if TG_DSP && TG_VARIANT(FC_DUAL_RQ_RELU)
/* the lane-wise maximum of four packed int8 lanes and lo4 (SSUB8 sets the lanes' GE flags, SEL picks by them;
   inline assembly because the flags must not be separated from SEL) */
TG_INLINE uint32_t tg_fcd_max4(uint32_t v, uint32_t lo4)
{
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
    uint32_t t;
    __asm__("ssub8 %[t], %[v], %[lo]\n\t"
            "sel %[v], %[v], %[lo]"
            : [v] "+r"(v), [t] "=&r"(t)
            : [lo] "r"(lo4)
            : "cc");
    return v;
#else
    return tg_fcd_clamp4(v, lo4, UINT32_C(0x7f7f7f7f));
#endif
}
#endif

/* hi32(ra * 2^32 + a * b (+ 2^31 with double rounding)): SMMLAR / SMMLA */
TG_INLINE int32_t tg_fcd_smmla(int32_t ra, int32_t a, int32_t b)
{
#if TG_DSP && defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
    int32_t r;
#if TG_SINGLE_ROUNDING
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(ra));
#else
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(ra));
#endif
    return r;
#else
    const int64_t s = (int64_t)ra * INT64_C(4294967296) + (int64_t)a * (int64_t)b;
#if TG_SINGLE_ROUNDING
    return (int32_t)(s >> 32);
#else
    return (int32_t)((s + INT64_C(0x80000000)) >> 32);
#endif
#endif
}

/**
 * TFLite's requantization of acc (|acc| < 2^29, checked offline) plus the output offset, unsaturated, from the
 * channel's {multiplier m, H = 2^(e-1) + output_offset * 2^e, e} (e = -shift in 1..22). With
 * S = acc * m + 2^30 + 2^(30+e) + offset * 2^(31+e) - [acc < 0] * 2^31 (tg_requant_fast.h: double rounding),
 * 2S = 2acc * m + 2^31 + (H - [acc < 0]) * 2^32, so SMMLAR(H - [acc < 0], 2acc, m) = floor(S / 2^31) and the
 * result floor(S / 2^(31+e)) is that shifted right by e. Single rounding: S = acc * m + 2^(30+e) + offset *
 * 2^(31+e), SMMLA(H, 2acc, m) = floor(S / 2^31). `sign` 0 drops the [acc < 0] term, exact when the activation
 * clamps at or above the output offset: for acc < 0 both results are <= offset (acc * m <= -2^30).
 */
TG_INLINE int32_t tg_fcd_requant(int32_t acc, const int32_t *q, int sign)
{
    int32_t ra = q[1];
#if !TG_SINGLE_ROUNDING
    if (sign)
    {
        ra -= (int32_t)((uint32_t)acc >> 31);
    }
#else
    (void)sign;
#endif
    return tg_fcd_smmla(ra, (int32_t)((uint32_t)acc << 1), q[0]) >> q[2];
}

/* one output in any mode (tg_fully_connected_dual_s8.h), saturated and clamped: the general epilogue, one
   out-of-line copy */
static TG_FCD_NOINLINE int8_t tg_fcd_out(int32_t acc, const int32_t *q, int32_t mode, int32_t output_offset,
                                         int32_t act_min, int32_t act_max)
{
    if (mode == TG_FCD_RQ_GENERAL)
    {
        return tg_rq_any(acc, q, TG_RQ_GENERAL, output_offset, act_min, act_max);
    }
    return (int8_t)TG_CLAMP(tg_fcd_requant(acc, q, mode != TG_FCD_RQ_RELU), act_min, act_max);
}

/* plain int8 tail bytes t of one row against the raw inputs x plus the offset */
TG_INLINE int32_t tg_fcd_tail(const int8_t *x, const int8_t *t, int32_t tail, int32_t offset, int32_t acc)
{
    int32_t i;
    for (i = 0; i < tail; ++i)
    {
        acc += (x[i] + offset) * t[i];
    }
    return acc;
}

/* one plain int8 row: its groups against the expanded inputs xs (order k, k+2, k+1, k+3), then its tail */
static int32_t tg_fcd_dot(const int16_t *xs, const int8_t *xt, const int8_t *w, int32_t groups, int32_t tail,
                          int32_t offset, int32_t acc)
{
    int32_t g;
    for (g = 0; g < groups; ++g)
    {
#if TG_DSP
        const uint32_t wv = tg_load32(w);
        acc = tg_smlad((int32_t)tg_load32(xs), tg_sxtb16(wv), acc);
        acc = tg_smlad((int32_t)tg_load32(xs + 2), tg_sxtb16_ror8(wv), acc);
#else
        acc += xs[0] * w[0] + xs[1] * w[2] + xs[2] * w[1] + xs[3] * w[3];
#endif
        xs += 4;
        w += 4;
    }
    return tg_fcd_tail(xt, w, tail, offset, acc);
}

/* the general epilogue's stand-in for a mode: the run-time `mode` argument decides */
#define TG_FCD_ANY (-1)

/**
 * All row quads of one batch row. `cmode` is a constant after inlining: FULL, RELU or FAST give a specialised
 * copy (packed epilogue of that mode, eight-group loop); TG_FCD_ANY the general copy (any `mode`, one output at
 * a time, one group per loop iteration), always compiled.
 */
TG_INLINE void tg_fcd_quads(const int16_t *xs, const int8_t *xt, uint32_t c, int32_t groups, int32_t tail,
                            int8_t *out, int8_t *const end, const int8_t *w, const int8_t *t, const int32_t *bp,
                            int32_t bstep, const int32_t *p, const int cmode, int32_t mode, int32_t input_offset,
                            int32_t output_offset, int32_t act_min, int32_t act_max)
{
    for (; out != end; out += 4)
    {
        int32_t a0 = (int32_t)((uint32_t)bp[0] - c), a1, a2 = (int32_t)((uint32_t)bp[2] - c), a3;
        tg_fcd_quad(xs, &w, groups, cmode != TG_FCD_ANY, &a0, &a1, &a2, &a3);
        a1 = (int32_t)((uint32_t)a1 + (uint32_t)bp[1]);
        a3 = (int32_t)((uint32_t)a3 + (uint32_t)bp[3]);
        if (tail != 0)
        {
            a0 = tg_fcd_tail(xt, t, tail, input_offset, a0);
            a1 = tg_fcd_tail(xt, t + tail, tail, input_offset, a1);
            a2 = tg_fcd_tail(xt, t + 2 * tail, tail, input_offset, a2);
            a3 = tg_fcd_tail(xt, t + 3 * tail, tail, input_offset, a3);
            t += 4 * tail;
        }
#if TG_DSP && TG_VARIANT(FC_DUAL_RQ_FULL)
        if (cmode == TG_FCD_RQ_FULL)
        {
            TG_TRACE_VARIANT(FC_DUAL_RQ_FULL);
            tg_store32(out, (int32_t)tg_fcd_pack4(tg_rq_sat8(tg_fcd_requant(a0, p, 1)),
                                                  tg_rq_sat8(tg_fcd_requant(a1, p + 3, 1)),
                                                  tg_rq_sat8(tg_fcd_requant(a2, p + 6, 1)),
                                                  tg_rq_sat8(tg_fcd_requant(a3, p + 9, 1))));
        }
        else
#endif
#if TG_DSP && TG_VARIANT(FC_DUAL_RQ_RELU)
            if (cmode == TG_FCD_RQ_RELU)
        {
            TG_TRACE_VARIANT(FC_DUAL_RQ_RELU);
            /* act_max is 127: SSAT did the upper bound */
            tg_store32(out, (int32_t)tg_fcd_max4(tg_fcd_pack4(tg_rq_sat8(tg_fcd_requant(a0, p, 0)),
                                                              tg_rq_sat8(tg_fcd_requant(a1, p + 3, 0)),
                                                              tg_rq_sat8(tg_fcd_requant(a2, p + 6, 0)),
                                                              tg_rq_sat8(tg_fcd_requant(a3, p + 9, 0))),
                                                 tg_fcd_rep4(act_min)));
        }
        else
#endif
#if TG_DSP && TG_VARIANT(FC_DUAL_RQ_FAST)
            if (cmode == TG_FCD_RQ_FAST)
        {
            TG_TRACE_VARIANT(FC_DUAL_RQ_FAST);
            tg_store32(out, (int32_t)tg_fcd_clamp4(tg_fcd_pack4(tg_rq_sat8(tg_fcd_requant(a0, p, 1)),
                                                                tg_rq_sat8(tg_fcd_requant(a1, p + 3, 1)),
                                                                tg_rq_sat8(tg_fcd_requant(a2, p + 6, 1)),
                                                                tg_rq_sat8(tg_fcd_requant(a3, p + 9, 1))),
                                                   tg_fcd_rep4(act_min), tg_fcd_rep4(act_max)));
        }
        else
#endif
        {
            out[0] = tg_fcd_out(a0, p, mode, output_offset, act_min, act_max);
            out[1] = tg_fcd_out(a1, p + 3, mode, output_offset, act_min, act_max);
            out[2] = tg_fcd_out(a2, p + 6, mode, output_offset, act_min, act_max);
            out[3] = tg_fcd_out(a3, p + 9, mode, output_offset, act_min, act_max);
        }
        bp += bstep;
        p += 12;
    }
}

void tg_fully_connected_dual_s8(const int8_t *input, int32_t batches, int32_t in_features, int32_t input_offset,
                                const int8_t *weights, const int32_t *bias, const int32_t *rq, int32_t mode,
                                int8_t *output, int32_t out_features, int32_t output_offset, int32_t act_min,
                                int32_t act_max, int16_t *scratch)
{
    const int32_t groups = in_features >> 2, tail = in_features & 3, quads = out_features >> 2;
    const int8_t *const tails = weights + 16 * groups * quads;
    const int8_t *const rest = tails + 4 * tail * quads;
    /* a layer without a bias reads zeros (its input offset is added to the inputs instead) */
    const int32_t bstep = bias != 0 ? 4 : 0;
    const int32_t *const b0 = bias != 0 ? bias : tg_fcd_zero;
    int32_t b;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *const x = input + b * in_features;
        const int8_t *const xt = x + 4 * groups;
        /* 128 * sum(x + offset): what the A rows' unsigned (+128) bytes add */
        const uint32_t c = (uint32_t)tg_fcd_expand(x, scratch, groups, input_offset) << 7;
        int8_t *const out = output + b * out_features;
        int8_t *const end = out + 4 * quads;
        int32_t o;
        /* the specialised copy of the layer's mode when compiled, else the general one (exact in every mode) */
#if TG_DSP && TG_VARIANT(FC_DUAL_RQ_FULL)
        if (mode == TG_FCD_RQ_FULL)
        {
            tg_fcd_quads(scratch, xt, c, groups, tail, out, end, weights, tails, b0, bstep, rq, TG_FCD_RQ_FULL, mode,
                         input_offset, output_offset, act_min, act_max);
        }
        else
#endif
#if TG_DSP && TG_VARIANT(FC_DUAL_RQ_RELU)
            if (mode == TG_FCD_RQ_RELU)
        {
            tg_fcd_quads(scratch, xt, c, groups, tail, out, end, weights, tails, b0, bstep, rq, TG_FCD_RQ_RELU, mode,
                         input_offset, output_offset, act_min, act_max);
        }
        else
#endif
#if TG_DSP && TG_VARIANT(FC_DUAL_RQ_FAST)
            if (mode == TG_FCD_RQ_FAST)
        {
            tg_fcd_quads(scratch, xt, c, groups, tail, out, end, weights, tails, b0, bstep, rq, TG_FCD_RQ_FAST, mode,
                         input_offset, output_offset, act_min, act_max);
        }
        else
#endif
        {
            tg_fcd_quads(scratch, xt, c, groups, tail, out, end, weights, tails, b0, bstep, rq, TG_FCD_ANY, mode,
                         input_offset, output_offset, act_min, act_max);
        }
        for (o = 4 * quads; o < out_features; ++o)
        {
            const int32_t acc = tg_fcd_dot(scratch, xt, rest + (o - 4 * quads) * in_features, groups, tail,
                                           input_offset, bias != 0 ? bias[o] : 0);
            out[o] = tg_fcd_out(acc, rq + 3 * o, mode, output_offset, act_min, act_max);
        }
    }
}
