/*
 * tg_depthwise_mult_s8: depthwise 3x3 convolution with depth multiplier > 1 (see tg_depthwise_mult_s8.h).
 */
#include "tg_depthwise_mult_s8.h"

#include <string.h>

#include "tg_conv_dsp_s8.h"
#include "tg_depthwise_3x3_s8.h"

#if TG_DSP
/* dst[v * mult + j] = src[v] for the n values of src, j < mult */
static void tg_dwm_repeat(const int8_t *src, int32_t n, int32_t mult, int8_t *dst)
{
    int32_t v = 0, j;
    if (mult == 2)
    {
        /* four values b0 b1 b2 b3 -> b0 b0 b1 b1 and b2 b2 b3 b3: each byte into both bytes of a halfword */
        for (; v + 4 <= n; v += 4, dst += 8)
        {
            uint32_t x, lo, hi;
            memcpy(&x, src + v, sizeof x); /* one (unaligned) LDR */
            const uint32_t even = x & 0x00ff00ffu, odd = (x >> 8) & 0x00ff00ffu; /* b0, b2 and b1, b3 */
            const uint32_t e2 = even | (even << 8), o2 = odd | (odd << 8);
            lo = (e2 & 0xffffu) | (o2 << 16);
            hi = (e2 >> 16) | (o2 & 0xffff0000u);
            memcpy(dst, &lo, sizeof lo);
            memcpy(dst + 4, &hi, sizeof hi);
        }
    }
    for (; v < n; ++v)
    {
        for (j = 0; j < mult; ++j)
        {
            *dst++ = src[v];
        }
    }
}
#endif

#if !TG_DSP
#if defined(__GNUC__) || defined(__clang__)
#define TG_NOINLINE static __attribute__((noinline))
#else
#define TG_NOINLINE static
#endif

/*
 * The 3x3 kernels' fast requantization (tg_depthwise_3x3_s8.h, tg_dw_rq_fast in tg_conv_dsp_s8.h) of a2 = 2 * acc
 * with right shift r, in portable C: the high word of a2 * m (rounded: SMMLAR, with double rounding; floored:
 * SMMLA, with single rounding) plus rnd = 2^(r-1) + output_offset * 2^r (and -1 for a negative a2 with double
 * rounding), shifted right by r.
 */
TG_INLINE int32_t tg_dwm_rq_fast(int32_t a2, int32_t m, int32_t rnd, int32_t r)
{
#if TG_SINGLE_ROUNDING
    const int32_t hi = (int32_t)(((int64_t)a2 * m) >> 32) + rnd;
#else
    const int32_t hi = (int32_t)(((int64_t)a2 * m + (INT64_C(1) << 31)) >> 32) + rnd - (a2 < 0 ? 1 : 0);
#endif
    return hi >> r;
}

/* the fast form's {multiplier, rnd = 2^(r-1) + output_offset * 2^r, r = -shift} of each output channel */
static void tg_dwm_constants(const int32_t *multiplier, const int32_t *shift, int32_t out_c, int32_t output_offset,
                             int32_t *rq)
{
    int32_t o;
    for (o = 0; o < out_c; ++o, rq += 3)
    {
        const int32_t r = -shift[o];
        rq[0] = multiplier[o];
        rq[1] = (1 << (r - 1)) + output_offset * (1 << r);
        rq[2] = r;
    }
}

/* output channel o of the taps' sum: bias, requantization, clamp. Fast layers: the 3x3 kernels' fast form with
   o's {multiplier, rnd, r} at rq[3 * o] (tg_dwm_constants); otherwise TFLite's arithmetic. */
TG_INLINE int8_t tg_dwm_result(int32_t sum, int32_t o, const int32_t *bias, const int32_t *multiplier,
                               const int32_t *shift, const int32_t *rq, int32_t output_offset, int32_t act_min,
                               int32_t act_max, int32_t fast)
{
    int32_t v;
    if (fast)
    {
        /* bias[o] + 2 * sum is exact in int32 (the lowering's bounds) */
        v = tg_dwm_rq_fast(bias[o] + 2 * sum, rq[3 * o], rq[3 * o + 1], rq[3 * o + 2]);
    }
    else
    {
        /* in uint32: the folded bias may sit near the int32 limits (TFLite's sum wraps the same) */
        v = tg_requantize_mac((int32_t)((uint32_t)bias[o] + (uint32_t)sum), multiplier[o], shift[o]) + output_offset;
    }
    return (int8_t)TG_CLAMP(v, act_min, act_max);
}

/* tap t of two output channels (weights w[0], w[1]), then w to the next tap's */
#define TG_DWM_TAP2(t)                                                                                         \
    do                                                                                                         \
    {                                                                                                          \
        const int32_t x_ = tap[t][c];                                                                          \
        s0 += x_ * w[0];                                                                                       \
        s1 += x_ * w[1];                                                                                       \
        w += out_c;                                                                                            \
    } while (0)

/* s[0], s[1]: the taps' sums of input channel c with weights w[0], w[1] of each tap (a function of its own: its
   few values stay in registers) */
TG_NOINLINE void tg_dwm_sums2(const int8_t *const *tap, int32_t c, const int8_t *w, int32_t out_c, int32_t *s)
{
    int32_t s0 = 0, s1 = 0;
    TG_DWM_TAP2(0);
    TG_DWM_TAP2(1);
    TG_DWM_TAP2(2);
    TG_DWM_TAP2(3);
    TG_DWM_TAP2(4);
    TG_DWM_TAP2(5);
    TG_DWM_TAP2(6);
    TG_DWM_TAP2(7);
    TG_DWM_TAP2(8);
    s[0] = s0;
    s[1] = s1;
}

/* the `mult` outputs of input channel c at out[c * mult ..], two at a time: each tap value read once for both
   (the taps' sums are at most 9 * 255 * 128 in magnitude) */
static void tg_dwm_channel(const int8_t *const *tap, int32_t c, int32_t mult, int32_t out_c, const int8_t *filter,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift, const int32_t *rq,
                           int8_t *out,
                           int32_t output_offset, int32_t act_min, int32_t act_max, int32_t fast)
{
    int32_t o = c * mult, t;
    const int32_t end = o + mult;
    for (; o + 2 <= end; o += 2)
    {
        int32_t s[2];
        tg_dwm_sums2(tap, c, filter + o, out_c, s);
        out[o] = tg_dwm_result(s[0], o, bias, multiplier, shift, rq, output_offset, act_min, act_max, fast);
        out[o + 1] = tg_dwm_result(s[1], o + 1, bias, multiplier, shift, rq, output_offset, act_min, act_max, fast);
    }
    if (o < end)
    {
        const int8_t *w = filter + o;
        int32_t s0 = 0;
        for (t = 0; t < 9; ++t, w += out_c)
        {
            s0 += tap[t][c] * w[0];
        }
        out[o] = tg_dwm_result(s0, o, bias, multiplier, shift, rq, output_offset, act_min, act_max, fast);
    }
}

/*
 * The portable path (no DSP: the 3x3 kernel's portable ring runs one channel at a time, slower than this):
 * output pixel by output pixel, a pointer per tap (channel 0 of its pixel, or `pad`: in_c zero points where the
 * tap is outside the image), each input channel's nine taps read once for its `mult` output channels.
 */
static void tg_dwm_portable(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                            int32_t mult, const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                            const int32_t *shift, int8_t *output, int32_t out_h, int32_t out_w, int32_t stride_h,
                            int32_t stride_w, int32_t pad_top, int32_t pad_left, int32_t input_zp,
                            int32_t output_offset, int32_t act_min, int32_t act_max, int32_t fast, int32_t *rq)
{
    const int32_t out_c = in_c * mult;
    int8_t *pad = (int8_t *)(rq + 3 * out_c);
    const int8_t *tap[9];
    int32_t b, oy, ox, c, ky, kx;
    if (fast)
    {
        tg_dwm_constants(multiplier, shift, out_c, output_offset, rq);
    }
    for (c = 0; c < in_c; ++c)
    {
        pad[c] = (int8_t)input_zp;
    }
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w * in_c;
        for (oy = 0; oy < out_h; ++oy)
        {
            for (ox = 0; ox < out_w; ++ox)
            {
                int8_t *out = output + ((b * out_h + oy) * out_w + ox) * out_c;
                for (ky = 0; ky < 3; ++ky)
                {
                    const int32_t y = oy * stride_h - pad_top + ky;
                    for (kx = 0; kx < 3; ++kx)
                    {
                        const int32_t x = ox * stride_w - pad_left + kx;
                        tap[3 * ky + kx] = (y >= 0 && y < in_h && x >= 0 && x < in_w) ? image + (y * in_w + x) * in_c
                                                                                      : pad;
                    }
                }
                if ((mult & 1) == 0)
                {
                    /* an even multiplier: pairs of output channels never straddle two input channels */
                    int32_t o, s[2];
                    for (o = 0; o < out_c; o += 2)
                    {
                        tg_dwm_sums2(tap, o / mult, filter + o, out_c, s);
                        out[o] = tg_dwm_result(s[0], o, bias, multiplier, shift, rq, output_offset, act_min, act_max,
                                               fast);
                        out[o + 1] = tg_dwm_result(s[1], o + 1, bias, multiplier, shift, rq, output_offset, act_min,
                                                   act_max, fast);
                    }
                    continue;
                }
                for (c = 0; c < in_c; ++c)
                {
                    tg_dwm_channel(tap, c, mult, out_c, filter, bias, multiplier, shift, rq, out, output_offset,
                                   act_min, act_max, fast);
                }
            }
        }
    }
}
#endif

void tg_depthwise_mult_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                          int32_t mult, int8_t *expanded, const int8_t *filter, const int32_t *bias,
                          const int32_t *multiplier, const int32_t *shift, int8_t *output, int32_t out_h,
                          int32_t out_w, int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                          int32_t input_zp, int32_t output_offset, int32_t act_min, int32_t act_max, int32_t fast,
                          int16_t *scratch)
{
#if TG_DSP
    tg_dwm_repeat(input, batches * in_h * in_w * in_c, mult, expanded);
    tg_depthwise_3x3_s8(expanded, batches, in_h, in_w, in_c * mult, filter, bias, multiplier, shift, output, out_h,
                        out_w, stride_h, stride_w, pad_top, pad_left, input_zp, output_offset, act_min, act_max, fast,
                        scratch);
#else
    (void)expanded;
    tg_dwm_portable(input, batches, in_h, in_w, in_c, mult, filter, bias, multiplier, shift, output, out_h, out_w,
                    stride_h, stride_w, pad_top, pad_left, input_zp, output_offset, act_min, act_max, fast,
                    (int32_t *)(void *)scratch);
#endif
}
