/* tinygen int16x8 depthwise convolution: see tg_depthwise_s16.h. */
#include "tg_depthwise_s16.h"

#include <string.h>

#include "tg_common.h"
#include "tg_conv_dsp_s8.h"
#include "tg_requantize_s16.h"

/* taps below which four int32 sums stay exact (511 * 2^22 < 2^31) */
#define TG_DW_S16_MAX_TAPS 511

/* The taps [first, end) of a window starting at `origin` with `dilation` that fall inside 0..size-1. */
static void tg_dw_s16_span(int32_t origin, int32_t taps, int32_t dilation, int32_t size, int32_t *first, int32_t *end)
{
    int32_t lo = 0, hi = taps;
    while (lo < taps && origin + lo * dilation < 0)
    {
        ++lo;
    }
    while (hi > lo && origin + (hi - 1) * dilation >= size)
    {
        --hi;
    }
    *first = lo;
    *end = hi;
}

/* The geometry of one output pixel's window: the taps inside the image and where they start. */
typedef struct
{
    const int16_t *first; /* the input pixel at tap (ky0, kx0) (the image when the window misses it) */
    int32_t ky0, ky1, kx0, kx1;
    int32_t row_step, tap_step; /* input values between window rows and between taps of a row */
} tg_dw_s16_window;

/* *s0..*s3 += x[0..3] * w[0..3] (one tap of four channels), in int32 */
TG_INLINE void tg_dw_s16_tap(const int16_t *x, const int8_t *w, int32_t *s0, int32_t *s1, int32_t *s2, int32_t *s3)
{
#if TG_DSP
    const uint32_t q = tg_load32(w);
    const int32_t w02 = tg_sxtb16(q), w13 = tg_sxtb16_ror8(q);
    const int32_t x01 = (int32_t)tg_load32(x), x23 = (int32_t)tg_load32(x + 2);
    *s0 = tg_smlabb(x01, w02, *s0);
    *s1 = tg_smlatb(x01, w13, *s1);
    *s2 = tg_smlabt(x23, w02, *s2);
    *s3 = tg_smlatt(x23, w13, *s3);
#else
    *s0 += x[0] * w[0];
    *s1 += x[1] * w[1];
    *s2 += x[2] * w[2];
    *s3 += x[3] * w[3];
#endif
}

/* The fast form's output of channel sum s (its bias included) with its pair's multiplier (fast[1]) */
TG_INLINE int16_t tg_dw_s16_fast_out(int32_t s, const int32_t *fast, int32_t act_min, int32_t act_max)
{
    return (int16_t)TG_CLAMP(tg_requantize_s64_fast(s, fast[1]), act_min, act_max);
}

/* Channels 0..quads-1 (multiplier 1) of an output pixel in the fast form, four at a time, each sum starting at its
   bias in int32 (the lowering checked it stays inside): tap i of the `count` taps inside the image reads
   x + taps[2i] and the weights + taps[2i + 1]. */
static void tg_dw_s16_quads_fast(const int16_t *x, const int8_t *weights, const int32_t *taps, int32_t count,
                                 int32_t quads, const int32_t *fast, int16_t *out, int32_t act_min, int32_t act_max)
{
    const int32_t *const end = taps + 2 * count;
    const uint32_t lo2 = tg_s16x2(act_min), hi2 = tg_s16x2(act_max);
    int32_t c;
    for (c = 0; c < quads; c += 4)
    {
        uint32_t v01, v23;
        const int16_t *xc = x + c;
        const int8_t *w = weights + c;
        const int32_t *f = fast + 2 * c;
        const int32_t *t;
        int32_t s0 = f[0], s1 = f[2], s2 = f[4], s3 = f[6];
        for (t = taps; t < end; t += 2)
        {
            tg_dw_s16_tap(xc + t[0], w + t[1], &s0, &s1, &s2, &s3);
        }
        v01 = tg_requantize_s64_fast_x2(s0, f[1], s1, f[3], lo2, hi2);
        v23 = tg_requantize_s64_fast_x2(s2, f[5], s3, f[7], lo2, hi2);
        memcpy(out + c, &v01, sizeof v01);
        memcpy(out + c + 2, &v23, sizeof v23);
    }
}

/* The window's taps inside the image as pairs (input offset from win->first, weight offset) in `taps`; their count */
static int32_t tg_dw_s16_taps(const tg_dw_s16_window *win, int32_t kw, int32_t channels, int32_t *taps)
{
    int32_t ky, kx, count = 0;
    for (ky = win->ky0; ky < win->ky1; ++ky)
    {
        for (kx = win->kx0; kx < win->kx1; ++kx)
        {
            taps[2 * count] = (ky - win->ky0) * win->row_step + (kx - win->kx0) * win->tap_step;
            taps[2 * count + 1] = (ky * kw + kx) * channels;
            ++count;
        }
    }
    return count;
}

/* The sum of output channel c (input channel c / multiplier) over the window's taps inside the image, in int64
   (any window and multiplier) */
static int64_t tg_dw_s16_one(const tg_dw_s16_window *win, const int8_t *weights, int32_t kw, int32_t channels,
                             int32_t c, int32_t multiplier)
{
    int64_t acc = 0;
    int32_t ky, kx;
    for (ky = win->ky0; ky < win->ky1; ++ky)
    {
        const int16_t *x = win->first + (ky - win->ky0) * win->row_step + c / multiplier;
        const int8_t *w = weights + (ky * kw + win->kx0) * channels + c;
        for (kx = win->kx0; kx < win->kx1; ++kx)
        {
            acc += *x * *w;
            x += win->tap_step;
            w += channels;
        }
    }
    return acc;
}

/* Channels c0..channels-1 of an output pixel, one at a time (any window and multiplier): the fast form or
   tg_requantize_acc_s16 */
static void tg_dw_s16_each(const tg_dw_s16_window *win, const int8_t *weights, int32_t kw, int32_t channels,
                           int32_t c0, int32_t multiplier, const int64_t *bias, const int32_t *multipliers,
                           const int32_t *shifts, const int32_t *fast, int32_t wide, int16_t *out, int32_t act_min,
                           int32_t act_max)
{
    int32_t c;
    for (c = c0; c < channels; ++c)
    {
        const int64_t sum = tg_dw_s16_one(win, weights, kw, channels, c, multiplier);
        if (fast != NULL)
        {
            out[c] = tg_dw_s16_fast_out((int32_t)sum + fast[2 * c], fast + 2 * c, act_min, act_max);
        }
        else
        {
            out[c] = tg_requantize_acc_s16(sum + (bias != NULL ? bias[c] : 0), wide, multipliers[c], shifts[c], 0,
                                           act_min, act_max);
        }
    }
}

void tg_depthwise_s16(const int16_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                      const int8_t *weights, int32_t kh, int32_t kw, int32_t depth_multiplier, const int64_t *bias,
                      const int32_t *multipliers, const int32_t *shifts, const int32_t *fast, int32_t wide,
                      int16_t *output, int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w,
                      int32_t dilation_h, int32_t dilation_w, int32_t pad_top, int32_t pad_left, int32_t act_min,
                      int32_t act_max, int32_t *scratch)
{
    const int32_t channels = in_c * depth_multiplier;
    const int32_t taps = kh * kw;
    /* channels computed four at a time (the rest one at a time) */
    const int32_t quads = fast != NULL && depth_multiplier == 1 && taps <= TG_DW_S16_MAX_TAPS ? channels & ~3 : 0;
    int32_t n, oy, ox, count = 0;
    int32_t built[4] = {-1, -1, -1, -1}; /* the window clipping whose taps `scratch` holds */
    tg_dw_s16_window win;
    win.row_step = dilation_h * in_w * in_c;
    win.tap_step = dilation_w * in_c;
    for (n = 0; n < batches; ++n)
    {
        const int16_t *image = input + n * in_h * in_w * in_c;
        for (oy = 0; oy < out_h; ++oy)
        {
            const int32_t y0 = oy * stride_h - pad_top;
            tg_dw_s16_span(y0, kh, dilation_h, in_h, &win.ky0, &win.ky1);
            for (ox = 0; ox < out_w; ++ox)
            {
                const int32_t x0 = ox * stride_w - pad_left;
                int16_t *out = output + ((n * out_h + oy) * out_w + ox) * channels;
                tg_dw_s16_span(x0, kw, dilation_w, in_w, &win.kx0, &win.kx1);
                win.first = image;
                if (win.ky0 < win.ky1 && win.kx0 < win.kx1)
                {
                    win.first += ((y0 + win.ky0 * dilation_h) * in_w + x0 + win.kx0 * dilation_w) * in_c;
                }
                if (quads > 0)
                {
                    if (win.ky0 != built[0] || win.ky1 != built[1] || win.kx0 != built[2] || win.kx1 != built[3])
                    {
                        count = tg_dw_s16_taps(&win, kw, channels, scratch);
                        built[0] = win.ky0;
                        built[1] = win.ky1;
                        built[2] = win.kx0;
                        built[3] = win.kx1;
                    }
                    tg_dw_s16_quads_fast(win.first, weights, scratch, count, quads, fast, out, act_min, act_max);
                }
                tg_dw_s16_each(&win, weights, kw, channels, quads, depth_multiplier, bias, multipliers, shifts, fast,
                               wide, out, act_min, act_max);
            }
        }
    }
}
