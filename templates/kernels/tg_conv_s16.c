/* tinygen int16x8 convolution: see tg_conv_s16.h. */
#include "tg_conv_s16.h"

#include <string.h>

#include "tg_common.h"
#include "tg_conv_dsp_s8.h"
#include "tg_requantize_s16.h"

/* depth values per int32 partial sum: 256 * 2^22 = 2^30 stays inside int32 */
#define TG_CONV_S16_BLOCK 256

/* col = the kh x kw window at (y0, x0) of the in_c-channel image, 0 where it leaves the image */
static void tg_conv_s16_window(const int16_t *image, int32_t in_h, int32_t in_w, int32_t in_c, int32_t kh, int32_t kw,
                               int32_t y0, int32_t x0, int32_t dilation_h, int32_t dilation_w, int16_t *col)
{
    const size_t pixel_bytes = (size_t)in_c * sizeof(int16_t);
    int32_t ky, kx;
    for (ky = 0; ky < kh; ++ky)
    {
        const int32_t y = y0 + ky * dilation_h;
        if (y < 0 || y >= in_h)
        {
            memset(col, 0, (size_t)kw * pixel_bytes);
            col += kw * in_c;
            continue;
        }
        if (dilation_w == 1 && x0 >= 0 && x0 + kw <= in_w)
        {
            /* the window's row lies inside the image: one copy */
            memcpy(col, image + (y * in_w + x0) * in_c, (size_t)kw * pixel_bytes);
            col += kw * in_c;
            continue;
        }
        for (kx = 0; kx < kw; ++kx)
        {
            const int32_t x = x0 + kx * dilation_w;
            if (x < 0 || x >= in_w)
            {
                memset(col, 0, pixel_bytes);
            }
            else
            {
                memcpy(col, image + (y * in_w + x) * in_c, pixel_bytes);
            }
            col += in_c;
        }
    }
}

/* s[0..3] += (a . wa, a . wb, b . wa, b . wb) over n values (n % 4 == 0) of the columns a, b and the weight rows
   wa, wb (groups stored w0 w2 w1 w3), in int32: the caller keeps the sums inside int32 */
TG_INLINE void tg_conv_s16_dot2x2(const int16_t *a, const int16_t *b, const int8_t *wa, const int8_t *wb, int32_t n,
                                  int32_t s[4])
{
    int32_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    const int8_t *const end = wa + n;
    while (wa < end)
    {
#if TG_DSP
        const uint32_t qa = tg_load32(wa), qb = tg_load32(wb);
        const int32_t a01 = (int32_t)tg_load32(a), a23 = (int32_t)tg_load32(a + 2);
        const int32_t b01 = (int32_t)tg_load32(b), b23 = (int32_t)tg_load32(b + 2);
        const int32_t wa01 = tg_sxtb16(qa), wb01 = tg_sxtb16(qb);
        s0 = tg_smlad(a01, wa01, s0);
        s1 = tg_smlad(a01, wb01, s1);
        s2 = tg_smlad(b01, wa01, s2);
        s3 = tg_smlad(b01, wb01, s3);
        {
            const int32_t wa23 = tg_sxtb16_ror8(qa), wb23 = tg_sxtb16_ror8(qb);
            s0 = tg_smlad(a23, wa23, s0);
            s1 = tg_smlad(a23, wb23, s1);
            s2 = tg_smlad(b23, wa23, s2);
            s3 = tg_smlad(b23, wb23, s3);
        }
#else
        s0 += a[0] * wa[0] + a[1] * wa[2] + a[2] * wa[1] + a[3] * wa[3];
        s1 += a[0] * wb[0] + a[1] * wb[2] + a[2] * wb[1] + a[3] * wb[3];
        s2 += b[0] * wa[0] + b[1] * wa[2] + b[2] * wa[1] + b[3] * wa[3];
        s3 += b[0] * wb[0] + b[1] * wb[2] + b[2] * wb[1] + b[3] * wb[3];
#endif
        a += 4;
        b += 4;
        wa += 4;
        wb += 4;
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
}

/* s[0..3] += the same products over the n values of a depth % 4 tail (natural order) */
TG_INLINE void tg_conv_s16_tail2x2(const int16_t *a, const int16_t *b, const int8_t *wa, const int8_t *wb, int32_t n,
                                   int32_t s[4])
{
    int32_t k;
    for (k = 0; k < n; ++k)
    {
        s[0] += a[k] * wa[k];
        s[1] += a[k] * wb[k];
        s[2] += b[k] * wa[k];
        s[3] += b[k] * wb[k];
    }
}

/* sums[0..3] += the exact products of two pixels' columns and two weight rows (as tg_conv_s16_dot2x2): int32 sums
   of blocks of at most 256 values added into int64 (any layer) */
static void tg_conv_s16_sums64(const int16_t *a, const int16_t *b, const int8_t *wa, const int8_t *wb, int32_t depth,
                               int64_t sums[4])
{
    const int32_t full = depth & ~3;
    int32_t k, i;
    for (k = 0; k < full; k += TG_CONV_S16_BLOCK)
    {
        int32_t s[4] = {0, 0, 0, 0};
        tg_conv_s16_dot2x2(a + k, b + k, wa + k, wb + k, TG_MIN(TG_CONV_S16_BLOCK, full - k), s);
        for (i = 0; i < 4; ++i)
        {
            sums[i] += s[i];
        }
    }
    {
        int32_t s[4] = {0, 0, 0, 0};
        tg_conv_s16_tail2x2(a + full, b + full, wa + full, wb + full, depth - full, s);
        for (i = 0; i < 4; ++i)
        {
            sums[i] += s[i];
        }
    }
}

/* The fast form's output of a sum s (its bias included) with multiplier m */
TG_INLINE int16_t tg_conv_s16_fast_out(int32_t s, int32_t m, int32_t act_min, int32_t act_max)
{
    return (int16_t)TG_CLAMP(tg_requantize_s64_fast(s, m), act_min, act_max);
}

/* Every output channel of the pixels whose columns are a and b, in the fast form: the pairs (bias, multiplier)
   `fast`, every sum with its bias inside int32 (the lowering checked), int32 throughout, one SMMULR each. When b is
   a (an odd last pixel), out_b is out_a: the same values are written twice. */
static void tg_conv_s16_pixels_fast(const int16_t *a, const int16_t *b, const int8_t *weights, int32_t depth,
                                    int32_t out_c, const int32_t *fast, int16_t *out_a, int16_t *out_b,
                                    int32_t act_min, int32_t act_max)
{
    const int32_t full = depth & ~3;
    const uint32_t lo2 = tg_s16x2(act_min), hi2 = tg_s16x2(act_max);
    int32_t o;
    for (o = 0; o < out_c; o += 2)
    {
        const int32_t pair = o + 1 < out_c;
        const int8_t *wa = weights + o * depth;
        const int8_t *wb = pair ? wa + depth : wa;
        const int32_t *fb = pair ? fast + 2 : fast;
        int32_t s[4];
        s[0] = s[2] = fast[0];
        s[1] = s[3] = fb[0];
        tg_conv_s16_dot2x2(a, b, wa, wb, full, s);
        if (full < depth)
        {
            tg_conv_s16_tail2x2(a + full, b + full, wa + full, wb + full, depth - full, s);
        }
        if (pair)
        {
            const uint32_t va = tg_requantize_s64_fast_x2(s[0], fast[1], s[1], fb[1], lo2, hi2);
            const uint32_t vb = tg_requantize_s64_fast_x2(s[2], fast[1], s[3], fb[1], lo2, hi2);
            memcpy(out_a + o, &va, sizeof va);
            memcpy(out_b + o, &vb, sizeof vb);
        }
        else
        {
            out_a[o] = tg_conv_s16_fast_out(s[0], fast[1], act_min, act_max);
            out_b[o] = tg_conv_s16_fast_out(s[2], fast[1], act_min, act_max);
        }
        fast += 4;
    }
}

/* Every output channel of the pixels whose columns are a and b (out_b as in tg_conv_s16_pixels_fast), any layer:
   exact int64 sums, tg_requantize_acc_s16 */
static void tg_conv_s16_pixels(const int16_t *a, const int16_t *b, const int8_t *weights, int32_t depth,
                               int32_t out_c, const int64_t *bias, const int32_t *multipliers, const int32_t *shifts,
                               int32_t wide, int16_t *out_a, int16_t *out_b, int32_t act_min, int32_t act_max)
{
    int32_t o, c;
    for (o = 0; o < out_c; o += 2)
    {
        const int32_t pair = o + 1 < out_c;
        const int8_t *wa = weights + o * depth;
        int64_t sums[4];
        for (c = 0; c < 2; ++c)
        {
            sums[c] = sums[2 + c] = bias != NULL ? bias[pair ? o + c : o] : 0;
        }
        tg_conv_s16_sums64(a, b, wa, pair ? wa + depth : wa, depth, sums);
        for (c = 0; c < 1 + pair; ++c)
        {
            out_a[o + c] = tg_requantize_acc_s16(sums[c], wide, multipliers[o + c], shifts[o + c], 0, act_min, act_max);
            out_b[o + c] =
                tg_requantize_acc_s16(sums[2 + c], wide, multipliers[o + c], shifts[o + c], 0, act_min, act_max);
        }
    }
}

void tg_conv_s16(const int16_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                 const int8_t *weights, int32_t kh, int32_t kw, const int64_t *bias, const int32_t *multipliers,
                 const int32_t *shifts, const int32_t *fast, int32_t wide, int16_t *output, int32_t out_h,
                 int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w, int32_t dilation_h,
                 int32_t dilation_w, int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max,
                 int16_t *scratch)
{
    const int32_t depth = kh * kw * in_c;
    const int32_t pixels = out_h * out_w;
    /* a 1x1 window without padding is its input pixel: no copy */
    const int32_t direct = kh == 1 && kw == 1 && pad_top == 0 && pad_left == 0;
    int32_t n, p, i;
    for (n = 0; n < batches; ++n)
    {
        const int16_t *image = input + n * in_h * in_w * in_c;
        int16_t *out = output + n * pixels * out_c;
        for (p = 0; p < pixels; p += 2)
        {
            const int32_t two = p + 1 < pixels;
            const int16_t *col[2];
            for (i = 0; i < 1 + two; ++i)
            {
                const int32_t y0 = ((p + i) / out_w) * stride_h - pad_top;
                const int32_t x0 = ((p + i) % out_w) * stride_w - pad_left;
                if (direct)
                {
                    col[i] = image + (y0 * in_w + x0) * in_c;
                }
                else
                {
                    tg_conv_s16_window(image, in_h, in_w, in_c, kh, kw, y0, x0, dilation_h, dilation_w,
                                       scratch + i * depth);
                    col[i] = scratch + i * depth;
                }
            }
            if (!two)
            {
                col[1] = col[0]; /* an odd last pixel: computed twice, written twice to the same place */
            }
            if (fast != NULL)
            {
                tg_conv_s16_pixels_fast(col[0], col[1], weights, depth, out_c, fast, out + p * out_c,
                                        out + (p + two) * out_c, act_min, act_max);
            }
            else
            {
                tg_conv_s16_pixels(col[0], col[1], weights, depth, out_c, bias, multipliers, shifts, wide,
                                   out + p * out_c, out + (p + two) * out_c, act_min, act_max);
            }
        }
    }
}
