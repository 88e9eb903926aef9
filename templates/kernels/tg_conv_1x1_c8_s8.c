/*
 * tg_conv_1x1_c8_s8: eight-channel pointwise convolution, channel by channel over blocks of pixels (see the header).
 */
#include "tg_conv_1x1_c8_s8.h"

#include "tg_conv_dsp_s8.h"
#include "tg_requant_fast.h"

/* output pixels p .. p + n - 1 into the scratch, eight int16 per pixel (DSP path: each group as a0 a2 a1 a3) */
static void tg_c8_gather(int16_t *scratch, const int8_t *image, int32_t p, int32_t n, int32_t in_w, int32_t out_w,
                         int32_t stride_h, int32_t stride_w)
{
    const int dense = stride_h == 1 && stride_w == 1;
    int16_t *const end = scratch + 8 * n;
    for (; scratch != end; scratch += 8, ++p)
    {
        const int8_t *x = dense ? image + 8 * p : tg_pointwise_pixel(image, p, in_w, 8, out_w, stride_h, stride_w);
#if TG_DSP
        const uint32_t a = tg_load32(x), b = tg_load32(x + 4);
        tg_store32(scratch, tg_sxtb16(a));
        tg_store32(scratch + 2, tg_sxtb16_ror8(a));
        tg_store32(scratch + 4, tg_sxtb16(b));
        tg_store32(scratch + 6, tg_sxtb16_ror8(b));
#else
        int32_t r;
        for (r = 0; r < 8; ++r)
        {
            scratch[r] = x[r];
        }
#endif
    }
}

/* bias + the eight products of a pixel's int16 x with the channel's weights (kept in registers by the caller) */
#if TG_DSP
#define TG_C8_SUM(bias, x)                                                                                     \
    tg_smlad((int32_t)tg_load32((x) + 6), v13,                                                                 \
             tg_smlad((int32_t)tg_load32((x) + 4), v02,                                                        \
                      tg_smlad((int32_t)tg_load32((x) + 2), w13, tg_smlad((int32_t)tg_load32(x), w02, (bias)))))
#else
#define TG_C8_SUM(bias, x)                                                                                     \
    ((bias) + (x)[0] * w0 + (x)[1] * w1 + (x)[2] * w2 + (x)[3] * w3 + (x)[4] * w4 + (x)[5] * w5 + (x)[6] * w6 +  \
     (x)[7] * w7)
#endif

/*
 * One channel's outputs for the n pixels of the block at x (out: the first pixel's output of the channel, out_c
 * apart): weights w (values 0..3) and v (4..7), requantization values rq in either form, every output through
 * tg_rq_chan (clamped to act_min..act_max): the general channels, and the fast ones the loop below does not take.
 */
static void tg_c8_channel(const int16_t *x, int32_t n, const int8_t *w, const int8_t *v, int32_t bias,
                          const int32_t *rq, int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *out,
                          int32_t out_c)
{
    const int16_t *const end = x + 8 * n;
#if TG_DSP
    const uint32_t wv = tg_load32(w), vv = tg_load32(v);
    const int32_t w02 = tg_sxtb16(wv), w13 = tg_sxtb16_ror8(wv), v02 = tg_sxtb16(vv), v13 = tg_sxtb16_ror8(vv);
#else
    /* in locals: the int8 output stores could alias the weights, which would be read again for every pixel */
    const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = v[0], w5 = v[1], w6 = v[2], w7 = v[3];
#endif
    for (; x != end; x += 8, out += out_c)
    {
        *out = tg_rq_chan(TG_C8_SUM(bias, x), rq, output_offset, act_min, act_max);
    }
}

#if TG_DSP
/* |bias| below which a fast channel takes tg_c8_fast: |acc| <= |bias| + 8 * 128 * 128 < 2^30, so 2 * acc fits */
#define TG_C8_BIAS_MAX ((INT32_C(1) << 30) - (INT32_C(1) << 17))

/* SXTB16 of x, and the same doubled (each halfword added to itself by SXTAB16) */
TG_INLINE int32_t tg_c8_half(uint32_t x, const int twice)
{
    const int32_t h = tg_sxtb16(x);
    return twice ? tg_sxtab16((uint32_t)h, x) : h;
}

/* the same for the bytes rotated by 8 */
TG_INLINE int32_t tg_c8_half_ror8(uint32_t x, const int twice)
{
    const int32_t h = tg_sxtb16_ror8(x);
    return twice ? tg_sxtab16_ror8((uint32_t)h, x) : h;
}

/* a fast channel's output (as tg_c8_fast holds its values), before the activation */
#if TG_SINGLE_ROUNDING
#define TG_C8_FAST_RQ(r) (tg_smmla((r), m, hk) >> e)
#else
#define TG_C8_FAST_RQ(r) (tg_smmlar((r), m, hk + ((r) >> 31)) >> e)
#endif

/*
 * The full-range loop of tg_c8_fast below (two pixels per step while x != end2, at least once) as one asm loop on
 * Cortex-M with the DSP extension (GCC or clang, optimizing): the C loop's arithmetic, in an order for the
 * Cortex-M7's dual issue, which GCC's scheduler does not find (28 instructions in about 25 cycles on LLVM's
 * Cortex-M7 model, where GCC's copy of the C loop takes 31 in 31): the two pixels' chains interleaved, each pixel's
 * four words loaded by two LDRDs. 14 registers: the weights, bias, hk and m, x, out, out_c and four temporaries;
 * e and end2 are read from memory. On a host (TG_DSP_EMULATE), without optimization and with TG_DSP_NO_ASM (builds
 * that keep the frame pointer, -fno-omit-frame-pointer: too few registers) the C loop runs instead.
 */
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__) && defined(__OPTIMIZE__) && !defined(TG_DSP_NO_ASM)
#define TG_C8_ASM 1
#if TG_SINGLE_ROUNDING
#define TG_C8_ASM_RQ                                                                                           \
    "smmla %[t0], %[t0], %[m], %[hk]\n\t"                                                                      \
    "smmla %[t2], %[t2], %[m], %[hk]\n\t"
#else
#define TG_C8_ASM_RQ                                                                                           \
    "add %[t1], %[hk], %[t0], asr #31\n\t"                                                                     \
    "add %[t3], %[hk], %[t2], asr #31\n\t"                                                                     \
    "smmlar %[t0], %[t0], %[m], %[t1]\n\t"                                                                     \
    "smmlar %[t2], %[t2], %[m], %[t3]\n\t"
#endif
#define TG_C8_FAST_PAIRS(x, end2, out, out_c, w02, w13, v02, v13, bias, hk, m, e)                                \
    do                                                                                                         \
    {                                                                                                          \
        uint32_t t0, t1, t2, t3;                                                                               \
        __asm__ volatile("1:\n\t"                                                                              \
                         "ldrd %[t0], %[t1], [%[x]]\n\t"                                                       \
                         "ldrd %[t2], %[t3], [%[x], #16]\n\t"                                                  \
                         "smlad %[t0], %[t0], %[w02], %[bias]\n\t"                                             \
                         "smlad %[t2], %[t2], %[w02], %[bias]\n\t"                                             \
                         "smlad %[t0], %[t1], %[w13], %[t0]\n\t"                                               \
                         "smlad %[t2], %[t3], %[w13], %[t2]\n\t"                                               \
                         "ldrd %[t1], %[t3], [%[x], #8]\n\t"                                                   \
                         "smlad %[t0], %[t1], %[v02], %[t0]\n\t"                                               \
                         "smlad %[t0], %[t3], %[v13], %[t0]\n\t"                                               \
                         "ldrd %[t1], %[t3], [%[x], #24]\n\t"                                                  \
                         "smlad %[t2], %[t1], %[v02], %[t2]\n\t"                                               \
                         "smlad %[t2], %[t3], %[v13], %[t2]\n\t" TG_C8_ASM_RQ                                  \
                         "ldr %[t1], %[e]\n\t"                                                                 \
                         "adds %[x], %[x], #32\n\t"                                                            \
                         "asr %[t0], %[t0], %[t1]\n\t"                                                         \
                         "asr %[t2], %[t2], %[t1]\n\t"                                                         \
                         "ssat %[t0], #8, %[t0]\n\t"                                                           \
                         "ssat %[t2], #8, %[t2]\n\t"                                                           \
                         "strb %[t0], [%[out]]\n\t"                                                            \
                         "strb %[t2], [%[out], %[oc]]\n\t"                                                     \
                         "add %[out], %[out], %[oc], lsl #1\n\t"                                               \
                         "ldr %[t1], %[end]\n\t"                                                               \
                         "cmp %[x], %[t1]\n\t"                                                                 \
                         "bne 1b"                                                                              \
                         : [x] "+r"(x), [out] "+r"(out), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2),       \
                           [t3] "=&r"(t3)                                                                      \
                         : [w02] "r"(w02), [w13] "r"(w13), [v02] "r"(v02), [v13] "r"(v13), [bias] "r"(bias),   \
                           [hk] "r"(hk), [m] "r"(m), [oc] "r"(out_c), [e] "m"(e), [end] "m"(end2)              \
                         : "cc", "memory");                                                                    \
    } while (0)
#else
#define TG_C8_ASM 0
#endif

/*
 * A fast channel on the DSP path (|bias| <= TG_C8_BIAS_MAX): tg_rq_fast (tg_requant_fast.h) in three instructions.
 * Single rounding: its high word hk + floor(acc * m / 2^32) is SMMLA(acc, m, hk). Double rounding: with a2 = 2 * acc
 * (the weights and the bias doubled) and s = (acc < 0), its high word >> e1 equals
 * SMMLAR(a2, m, 2 * hk - s) >> (e1 + 1): both are floor((2 * hk - s + floor((acc * m + 2^30) / 2^31)) / 2^(e1 + 1)),
 * and every term stays inside int32 (|hk| < 2^29, |acc * m / 2^31| < 2^30). Two pixels per step (two independent
 * chains of SMLADs and requantization for the Cortex-M7's dual issue to interleave), then an odd last one. `full`
 * (a literal): the activation is the full int8 range, one SSAT; else the value is clamped to act_min..act_max.
 */
TG_INLINE void tg_c8_fast(const int16_t *x, int32_t n, const int8_t *w, const int8_t *v, int32_t bias,
                          const int32_t *rq, int32_t act_min, int32_t act_max, int8_t *out, int32_t out_c,
                          const int full)
{
    const int16_t *const end2 = x + 8 * (n & ~1);
    const uint32_t wv = tg_load32(w), vv = tg_load32(v);
    const int32_t m = rq[0];
    const int twice = !TG_SINGLE_ROUNDING;
    const int32_t w02 = tg_c8_half(wv, twice), w13 = tg_c8_half_ror8(wv, twice);
    const int32_t v02 = tg_c8_half(vv, twice), v13 = tg_c8_half_ror8(vv, twice);
#if TG_SINGLE_ROUNDING
    const int32_t hk = rq[1], e = rq[2];
#else
    const int32_t hk = 2 * rq[1], e = rq[2] + 1;
    bias *= 2;
#endif
#if TG_C8_ASM
    if (full)
    {
        if (x != end2)
        {
            TG_C8_FAST_PAIRS(x, end2, out, out_c, w02, w13, v02, v13, bias, hk, m, e);
        }
    }
    else
#endif
    for (; x != end2; x += 16, out += 2 * out_c)
    {
        const int32_t r0 = TG_C8_SUM(bias, x), r1 = TG_C8_SUM(bias, x + 8);
        const int32_t y0 = TG_C8_FAST_RQ(r0), y1 = TG_C8_FAST_RQ(r1);
        out[0] = (int8_t)(full ? tg_rq_sat8(y0) : TG_CLAMP(y0, act_min, act_max));
        out[out_c] = (int8_t)(full ? tg_rq_sat8(y1) : TG_CLAMP(y1, act_min, act_max));
    }
    if (n & 1)
    {
        const int32_t r0 = TG_C8_SUM(bias, x);
        const int32_t y0 = TG_C8_FAST_RQ(r0);
        *out = (int8_t)(full ? tg_rq_sat8(y0) : TG_CLAMP(y0, act_min, act_max));
    }
}
#else
#define TG_C8_BIAS_MAX INT32_MAX /* the portable path's sums are not doubled */

/* int8 saturation: one SSAT on cores that have it without the DSP extension (Cortex-M3) */
#if defined(__ARM_FEATURE_SAT) && (defined(__GNUC__) || defined(__clang__))
#define TG_C8_SAT8(y) ((int32_t)__builtin_arm_ssat((int)(y), 8))
#else
#define TG_C8_SAT8(y) tg_rq_sat8(y)
#endif

/* a fast channel on the portable path: tg_rq_fast, the weights in locals, `full` as above */
TG_INLINE void tg_c8_fast(const int16_t *x, int32_t n, const int8_t *w, const int8_t *v, int32_t bias,
                          const int32_t *rq, int32_t act_min, int32_t act_max, int8_t *out, int32_t out_c,
                          const int full)
{
    const int16_t *const end = x + 8 * n;
    const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = v[0], w5 = v[1], w6 = v[2], w7 = v[3];
    const int32_t m = rq[0], hk = rq[1], e1 = rq[2];
    for (; x != end; x += 8, out += out_c)
    {
        const int32_t y = tg_rq_fast(TG_C8_SUM(bias, x), m, hk, e1);
        *out = (int8_t)(full ? TG_C8_SAT8(y) : TG_CLAMP(y, act_min, act_max));
    }
}
#endif

/* channel c of a block: weights w and v, bias and values from the GEMM layouts (tg_conv_1x1_c8_s8.h) */
static void tg_c8_output_channel(const int16_t *x, int32_t n, const int8_t *filter, const int32_t *params, int32_t c,
                                 int32_t out_c, int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *out)
{
    const int32_t pair = c >> 1, d = c & 1;
    const int last = pair == out_c >> 1; /* an odd last channel: its natural row, bias and values */
    const int8_t *w = filter + 16 * pair + 4 * d;
    const int8_t *v = w + (last ? 4 : 8);
    const int32_t *prm = params + 8 * pair;
    const int32_t bias = prm[d];
    const int32_t *rq = last ? prm + 1 : prm + 2 + 3 * d;
    if (rq[2] != 0 && bias <= TG_C8_BIAS_MAX && bias >= -TG_C8_BIAS_MAX)
    {
        if (act_min == -128 && act_max == 127)
        {
            tg_c8_fast(x, n, w, v, bias, rq, act_min, act_max, out, out_c, 1);
        }
        else
        {
            tg_c8_fast(x, n, w, v, bias, rq, act_min, act_max, out, out_c, 0);
        }
        return;
    }
    tg_c8_channel(x, n, w, v, bias, rq, output_offset, act_min, act_max, out, out_c);
}

void tg_conv_1x1_c8_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, const int8_t *filter,
                       const int32_t *params, int8_t *output, int32_t out_h, int32_t out_w, int32_t out_c,
                       int32_t stride_h, int32_t stride_w, int32_t output_offset, int32_t act_min, int32_t act_max,
                       int16_t *scratch)
{
    const int32_t pixels = out_h * out_w;
    int32_t b;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w * 8;
        int32_t p;
        for (p = 0; p < pixels; p += TG_CONV_1X1_C8_PIXELS)
        {
            const int32_t n = TG_MIN(pixels - p, TG_CONV_1X1_C8_PIXELS);
            int8_t *const out = output + (b * pixels + p) * out_c;
            int32_t c;
            tg_c8_gather(scratch, image, p, n, in_w, out_w, stride_h, stride_w);
            for (c = 0; c < out_c; ++c)
            {
                tg_c8_output_channel(scratch, n, filter, params, c, out_c, output_offset, act_min, act_max, out + c);
            }
        }
    }
}
