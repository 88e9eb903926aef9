/* tg_conv_mve_s16: see tg_conv_mve_s16.h */
#include "tg_conv_mve_s16.h"

#include "tg_common.h"
#include "tg_mve_s16.h"
#include "tg_requantize_s16.h"

/* int16 values per step (one VLDRH.16) and int32 params per quad of output channels */
#define TG_CONV_MVE_S16_STEP 8
#define TG_CONV_MVE_S16_PARAMS 8

/* n int16 values from src to dst, or zeros (src NULL): tail-predicated byte loops on the target */
TG_INLINE void tg_conv_mve_s16_put(int16_t *dst, const int16_t *src, int32_t n)
{
    if (src != 0)
    {
        tg_mve_copy_s8((int8_t *)(void *)dst, (const int8_t *)(const void *)src, 2 * n);
    }
    else
    {
        tg_mve_fill_s8((int8_t *)(void *)dst, 0, 2 * n);
    }
}

/* col = the kh x kw window at (y0, x0) of the in_c-channel image (0 where it leaves the image), then zeros up to d8 */
static void tg_conv_mve_s16_window(const int16_t *image, int32_t in_h, int32_t in_w, int32_t in_c, int32_t kh,
                                   int32_t kw, int32_t y0, int32_t x0, int32_t dilation_h, int32_t dilation_w,
                                   int32_t d8, int16_t *col)
{
    int16_t *const start = col;
    int32_t ky, kx;
    for (ky = 0; ky < kh; ++ky)
    {
        const int32_t y = y0 + ky * dilation_h;
        const int16_t *row = y >= 0 && y < in_h ? image + y * in_w * in_c : 0;
        if (row != 0 && dilation_w == 1 && x0 >= 0 && x0 + kw <= in_w)
        {
            tg_conv_mve_s16_put(col, row + x0 * in_c, kw * in_c); /* the window's row inside the image: one copy */
            col += kw * in_c;
            continue;
        }
        for (kx = 0; kx < kw; ++kx)
        {
            const int32_t x = x0 + kx * dilation_w;
            tg_conv_mve_s16_put(col, row != 0 && x >= 0 && x < in_w ? row + x * in_c : 0, in_c);
            col += in_c;
        }
    }
    tg_conv_mve_s16_put(col, 0, d8 - (int32_t)(col - start));
}

/*
 * acc[0..3] (column a) and acc[4..7] (column b) = bias[0..3] plus the int32 sums (wrapping) of `steps` (>= 1) steps
 * of 8 of the two columns with the quad's four weight rows; w walks them. On the target (optimized builds) the loop is assembly, 16
 * instructions per step (64 products): GCC 12 keeps two of the eight sums on the stack and moves others between
 * registers (27). VMLADAVA takes an even accumulator register, so the eight sums take r0..r12 and lr (the loop
 * counts down in r9 instead of a low-overhead loop); VLDRB.S16 a low base register (r5); r7, a frame pointer in
 * Thumb, is left out. Other builds (and TG_MVE_NO_ASM) take the C loop.
 */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && (defined(__GNUC__) || defined(__clang__)) &&         \
    defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__) && !defined(TG_MVE_NO_ASM)
static TG_MVE_NOINLINE void tg_conv_mve_s16_sums32(const int16_t *a, const int16_t *b, int32_t steps, const int8_t *w,
                                                   const int32_t *bias, int32_t *acc)
{
    register int32_t a0 __asm__("r0") = bias[0], a1 __asm__("r2") = bias[1];
    register int32_t a2 __asm__("r4") = bias[2], a3 __asm__("r6") = bias[3];
    register int32_t b0 __asm__("r8") = bias[0], b1 __asm__("r10") = bias[1];
    register int32_t b2 __asm__("r12") = bias[2], b3 __asm__("lr") = bias[3];
    register const int16_t *xa __asm__("r1") = a;
    register const int16_t *xb __asm__("r3") = b;
    register const int8_t *wp __asm__("r5") = w;
    register int32_t k __asm__("r9") = steps;
    __asm__("1:\n"
            "vldrh.16 q0, [%[xa]], #16\n"
            "vldrh.16 q1, [%[xb]], #16\n"
            "vldrb.s16 q2, [%[w]], #8\n"
            "vldrb.s16 q3, [%[w]], #8\n"
            "vmladava.s16 %[a0], q0, q2\n"
            "vmladava.s16 %[b0], q1, q2\n"
            "vldrb.s16 q2, [%[w]], #8\n"
            "vmladava.s16 %[a1], q0, q3\n"
            "vmladava.s16 %[b1], q1, q3\n"
            "vldrb.s16 q3, [%[w]], #8\n"
            "vmladava.s16 %[a2], q0, q2\n"
            "vmladava.s16 %[b2], q1, q2\n"
            "vmladava.s16 %[a3], q0, q3\n"
            "vmladava.s16 %[b3], q1, q3\n"
            "subs %[k], %[k], #1\n"
            "bne 1b\n"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [b0] "+r"(b0), [b1] "+r"(b1),
              [b2] "+r"(b2), [b3] "+r"(b3), [xa] "+r"(xa), [xb] "+r"(xb), [w] "+r"(wp), [k] "+r"(k)
            :
            : "q0", "q1", "q2", "q3", "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    acc[4] = b0;
    acc[5] = b1;
    acc[6] = b2;
    acc[7] = b3;
}
#else
static TG_MVE_NOINLINE void tg_conv_mve_s16_sums32(const int16_t *a, const int16_t *b, int32_t steps, const int8_t *w,
                                                   const int32_t *bias, int32_t *acc)
{
    int32_t j;
    for (j = 0; j < 4; ++j)
    {
        acc[j] = acc[4 + j] = bias[j];
    }
    for (; steps > 0; --steps)
    {
        const int16x8_t xa = vldrhq_s16(a), xb = vldrhq_s16(b);
        for (j = 0; j < 4; ++j)
        {
            const int16x8_t wv = vldrbq_s16(w + j * TG_CONV_MVE_S16_STEP);
            acc[j] = vmladavaq_s16(acc[j], xa, wv);
            acc[4 + j] = vmladavaq_s16(acc[4 + j], xb, wv);
        }
        a += TG_CONV_MVE_S16_STEP;
        b += TG_CONV_MVE_S16_STEP;
        w += 4 * TG_CONV_MVE_S16_STEP;
    }
}
#endif

/* acc[0..3] += the exact sums of `steps` steps of 8 of column x with the quad's four weight rows (VMLALDAVA.S16) */
static TG_MVE_NOINLINE void tg_conv_mve_s16_sums64(const int16_t *x, int32_t steps, const int8_t *w, int64_t *acc)
{
    int64_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (; steps > 0; --steps)
    {
        const int16x8_t xv = vldrhq_s16(x);
        a0 = vmlaldavaq_s16(a0, xv, vldrbq_s16(w));
        a1 = vmlaldavaq_s16(a1, xv, vldrbq_s16(w + 8));
        a2 = vmlaldavaq_s16(a2, xv, vldrbq_s16(w + 16));
        a3 = vmlaldavaq_s16(a3, xv, vldrbq_s16(w + 24));
        x += TG_CONV_MVE_S16_STEP;
        w += 4 * TG_CONV_MVE_S16_STEP;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The outputs of a quad (pred: those present) from its int32 sums s[0..3] (bias included), fast multipliers m: VRMULH,
   clamp and a narrowing store */
TG_INLINE void tg_conv_mve_s16_store_fast(const int32_t *s, int32x4_t m, mve_pred16_t pred, int32x4_t lo, int32x4_t hi,
                                          int16_t *out)
{
    vstrhq_p_s32(out, vminq_s32(vmaxq_s32(vrmulhq_s32(vldrwq_s32(s), m), lo), hi), pred);
}

/* Every output channel of the pixels whose columns are a and b (d8 values each; b == a for an odd last pixel, whose
   outputs out_b == out_a then get the same values twice), int32 sums (modes FAST and ACC32) */
static void tg_conv_mve_s16_pixels32(const int16_t *a, const int16_t *b, const int8_t *weights, int32_t d8,
                                     int32_t out_c, const int32_t *params, const int32_t *rq, int32_t wide,
                                     int32_t mode, int16_t *out_a, int16_t *out_b, int32_t act_min, int32_t act_max)
{
    const int32x4_t lo = vdupq_n_s32(act_min), hi = vdupq_n_s32(act_max);
    int32_t q, j;
    for (q = 0; q < out_c; q += 4)
    {
        const int32_t n = TG_MIN(4, out_c - q);
        int32_t acc[8];
        tg_conv_mve_s16_sums32(a, b, d8 / TG_CONV_MVE_S16_STEP, weights + q * d8, params, acc);
        if (mode == TG_CONV_MVE_S16_FAST)
        {
            const int32x4_t m = vldrwq_s32(params + 4);
            const mve_pred16_t pred = vctp32q((uint32_t)n);
            tg_conv_mve_s16_store_fast(acc, m, pred, lo, hi, out_a + q);
            tg_conv_mve_s16_store_fast(acc + 4, m, pred, lo, hi, out_b + q);
        }
        else
        {
            for (j = 0; j < n; ++j)
            {
                const int32_t *r = rq + 2 * (q + j);
                out_a[q + j] = tg_requantize_acc_s16(acc[j], wide, r[0], r[1], 0, act_min, act_max);
                out_b[q + j] = tg_requantize_acc_s16(acc[4 + j], wide, r[0], r[1], 0, act_min, act_max);
            }
        }
        params += TG_CONV_MVE_S16_PARAMS;
    }
}

/* Every output channel of the pixel whose column is x (d8 values), exact int64 sums (mode ACC64) */
static void tg_conv_mve_s16_pixel64(const int16_t *x, const int8_t *weights, int32_t d8, int32_t out_c,
                                    const int64_t *bias64, const int32_t *rq, int32_t wide, int16_t *out,
                                    int32_t act_min, int32_t act_max)
{
    int32_t q, j;
    for (q = 0; q < out_c; q += 4)
    {
        const int32_t n = TG_MIN(4, out_c - q);
        int64_t acc[4];
        for (j = 0; j < 4; ++j)
        {
            acc[j] = bias64[q + j];
        }
        tg_conv_mve_s16_sums64(x, d8 / TG_CONV_MVE_S16_STEP, weights + q * d8, acc);
        for (j = 0; j < n; ++j)
        {
            out[q + j] = tg_requantize_acc_s16(acc[j], wide, rq[2 * (q + j)], rq[2 * (q + j) + 1], 0, act_min, act_max);
        }
    }
}

void tg_conv_mve_s16(const int16_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                     const int8_t *weights, int32_t kh, int32_t kw, const int32_t *params, const int64_t *bias64,
                     const int32_t *rq, int32_t wide, int32_t mode, int16_t *output, int32_t out_h, int32_t out_w,
                     int32_t out_c, int32_t stride_h, int32_t stride_w, int32_t dilation_h, int32_t dilation_w,
                     int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max, int16_t *scratch)
{
    const int32_t depth = kh * kw * in_c;
    const int32_t d8 = (depth + TG_CONV_MVE_S16_STEP - 1) & ~(TG_CONV_MVE_S16_STEP - 1);
    const int32_t pixels = out_h * out_w;
    /* a 1x1 window without padding over whole steps is its input pixel: no copy */
    const int32_t direct = kh == 1 && kw == 1 && pad_top == 0 && pad_left == 0 && in_c % TG_CONV_MVE_S16_STEP == 0;
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
                    tg_conv_mve_s16_window(image, in_h, in_w, in_c, kh, kw, y0, x0, dilation_h, dilation_w, d8,
                                           scratch + i * d8);
                    col[i] = scratch + i * d8;
                }
            }
            if (mode == TG_CONV_MVE_S16_ACC64)
            {
                for (i = 0; i < 1 + two; ++i)
                {
                    tg_conv_mve_s16_pixel64(col[i], weights, d8, out_c, bias64, rq, wide, out + (p + i) * out_c,
                                            act_min, act_max);
                }
                continue;
            }
            tg_conv_mve_s16_pixels32(col[0], col[two], weights, d8, out_c, params, rq, wide, mode, out + p * out_c,
                                     out + (p + two) * out_c, act_min, act_max);
        }
    }
}
