/* tg_fully_connected_mve_s16: see tg_fully_connected_mve_s16.h */
#include "tg_fully_connected_mve_s16.h"

#include "tg_common.h"
#include "tg_mve_s16.h"

/* Rows whose sums one pass over the input row computes */
#define TG_FC_MVE_S16_ROWS 4

/*
 * acc[0..3] += the sums of `steps` (>= 1) steps of 8 of input row x with the quad's four weight rows; w walks
 * them. On the target (optimized builds) the loop is assembly: GCC 12 keeps one of the four 64-bit sums on the
 * stack and recomputes the weight addresses from C (16 instructions a step instead of 10); VMLALDAVA takes an
 * even low and an odd high register, hence the pinned pairs (r7, a frame pointer in Thumb, left out), and
 * VLDRB.S16 a low base register (r6). Other builds (and TG_MVE_NO_ASM, for flags that reserve those registers)
 * take the C loop.
 */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && (defined(__GNUC__) || defined(__clang__)) &&         \
    defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__) && !defined(TG_MVE_NO_ASM)
static TG_MVE_NOINLINE void tg_fc_mve_s16_steps(const int16_t *x, int32_t steps, const int8_t *w, int64_t *acc)
{
    const uint64_t u0 = (uint64_t)acc[0], u1 = (uint64_t)acc[1], u2 = (uint64_t)acc[2], u3 = (uint64_t)acc[3];
    register uint32_t l0 __asm__("r0") = (uint32_t)u0, h0 __asm__("r1") = (uint32_t)(u0 >> 32);
    register uint32_t l1 __asm__("r2") = (uint32_t)u1, h1 __asm__("r3") = (uint32_t)(u1 >> 32);
    register uint32_t l2 __asm__("r4") = (uint32_t)u2, h2 __asm__("r5") = (uint32_t)(u2 >> 32);
    register uint32_t l3 __asm__("r8") = (uint32_t)u3, h3 __asm__("r9") = (uint32_t)(u3 >> 32);
    register const int8_t *wp __asm__("r6") = w; /* the widening VLDRB.S16 takes a low base register */
    __asm__("dls lr, %[k]\n"
            "1:\n"
            "vldrh.16 q0, [%[x]], #16\n"
            "vldrb.s16 q1, [%[w]], #8\n"
            "vldrb.s16 q2, [%[w]], #8\n"
            "vmlaldava.s16 %[l0], %[h0], q0, q1\n"
            "vldrb.s16 q3, [%[w]], #8\n"
            "vmlaldava.s16 %[l1], %[h1], q0, q2\n"
            "vldrb.s16 q1, [%[w]], #8\n"
            "vmlaldava.s16 %[l2], %[h2], q0, q3\n"
            "vmlaldava.s16 %[l3], %[h3], q0, q1\n"
            "le lr, 1b\n"
            : [l0] "+r"(l0), [h0] "+r"(h0), [l1] "+r"(l1), [h1] "+r"(h1), [l2] "+r"(l2), [h2] "+r"(h2),
              [l3] "+r"(l3), [h3] "+r"(h3), [x] "+r"(x), [w] "+r"(wp)
            : [k] "r"(steps)
            : "q0", "q1", "q2", "q3", "lr", "memory");
    acc[0] = (int64_t)(((uint64_t)h0 << 32) | l0);
    acc[1] = (int64_t)(((uint64_t)h1 << 32) | l1);
    acc[2] = (int64_t)(((uint64_t)h2 << 32) | l2);
    acc[3] = (int64_t)(((uint64_t)h3 << 32) | l3);
}
#else
static TG_MVE_NOINLINE void tg_fc_mve_s16_steps(const int16_t *x, int32_t steps, const int8_t *w, int64_t *acc)
{
    int64_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (; steps > 0; --steps)
    {
        const int16x8_t xv = vldrhq_s16(x);
        a0 = vmlaldavaq_s16(a0, xv, vldrbq_s16(w));
        a1 = vmlaldavaq_s16(a1, xv, vldrbq_s16(w + 8));
        a2 = vmlaldavaq_s16(a2, xv, vldrbq_s16(w + 16));
        a3 = vmlaldavaq_s16(a3, xv, vldrbq_s16(w + 24));
        x += 8;
        w += 32;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#endif

/* acc[0..3] += the sums of input row x with the quad's four weight rows (w: the quad's first step). */
TG_INLINE void tg_fc_mve_s16_quad(const int16_t *x, int32_t full, int32_t rest, const int8_t *w, int64_t *acc)
{
    if (full > 0)
    {
        tg_fc_mve_s16_steps(x, full / 8, w, acc);
    }
    if (rest > 0)
    {
        /* the depth % 8 tail: lanes past the row are zero and not read (the weights there are zero too) */
        const int16x8_t xv = vldrhq_z_s16(x + full, vctp16q((uint32_t)rest));
        w += 4 * full;
        acc[0] = vmlaldavaq_s16(acc[0], xv, vldrbq_s16(w));
        acc[1] = vmlaldavaq_s16(acc[1], xv, vldrbq_s16(w + 8));
        acc[2] = vmlaldavaq_s16(acc[2], xv, vldrbq_s16(w + 16));
        acc[3] = vmlaldavaq_s16(acc[3], xv, vldrbq_s16(w + 24));
    }
}

/* TFLite's requantization of the sum s (bias included) with rq = {reduced, t} (`wide`) or {multiplier, shift}. */
TG_INLINE int32_t tg_fc_mve_s16_requant(int64_t s, const int32_t *rq, int32_t wide)
{
    if (wide)
    {
        return (int32_t)(uint32_t)(uint64_t)((s * rq[0] + (INT64_C(1) << (rq[1] - 1))) >> rq[1]);
    }
    return tg_requantize((int32_t)(uint32_t)(uint64_t)s, rq[0], rq[1]);
}

void tg_fully_connected_mve_s16(const int16_t *input, int32_t batches, int32_t in_features, const int8_t *weights,
                                const int64_t *bias, const int32_t *rq, int32_t wide, int16_t *output,
                                int32_t out_features, int32_t output_offset, int32_t act_min, int32_t act_max)
{
    const int32_t full = in_features & ~7, rest = in_features - full;
    const int32_t d8 = full + (rest > 0 ? 8 : 0);
    /* clamp(v + offset, act_min, act_max) == clamp(v, act_min - offset, act_max - offset) + offset, in int32 */
    const int32_t lo = act_min - output_offset, hi = act_max - output_offset;
    int32_t b, q, j;
    for (b = 0; b < batches; ++b)
    {
        const int16_t *x = input + b * in_features;
        for (q = 0; q < out_features; q += TG_FC_MVE_S16_ROWS)
        {
            const int32_t n = TG_MIN(TG_FC_MVE_S16_ROWS, out_features - q);
            int64_t acc[TG_FC_MVE_S16_ROWS];
            for (j = 0; j < TG_FC_MVE_S16_ROWS; ++j)
            {
                acc[j] = bias[q + j];
            }
            tg_fc_mve_s16_quad(x, full, rest, weights + q * d8, acc);
            for (j = 0; j < n; ++j)
            {
                const int32_t v = tg_fc_mve_s16_requant(acc[j], rq + 2 * (q + j), wide);
                *output++ = (int16_t)(TG_CLAMP(v, lo, hi) + output_offset);
            }
        }
    }
}
