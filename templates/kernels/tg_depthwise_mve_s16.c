/* tg_depthwise_mve_s16: see tg_depthwise_mve_s16.h */
#include "tg_depthwise_mve_s16.h"

#include "tg_common.h"
#include "tg_mve_s16.h"
#include "tg_requantize_s16.h"

/* channels per vector, int32 params per octet of channels */
#define TG_DW_MVE_S16_LANES 8
#define TG_DW_MVE_S16_PARAMS 16

/* The dual-octet loop in assembly: optimized builds for an MVE target (TG_MVE_NO_ASM: the C loop) */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && (defined(__GNUC__) || defined(__clang__)) &&         \
    defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__) && !defined(TG_MVE_NO_ASM)
#define TG_DW_MVE_S16_ASM 1
#else
#define TG_DW_MVE_S16_ASM 0
#endif

/* The layer's constants (one struct: the per-pixel functions take one pointer) */
typedef struct
{
    const int8_t *weights;
    const int32_t *params, *rq;
    const uint16_t *offsets; /* gather offsets (multiplier > 1), else NULL */
    int32_t channels, c8, kw, row_step, tap_step, wide, fast, act_min, act_max;
} tg_dw_mve_s16_layer_t;

/* The taps [*first, *end) of a window at `origin` (taps `dilation` apart) that fall inside 0..size-1 (none: first >=
   end); no division for a window inside the image */
TG_INLINE void tg_dw_mve_s16_clip(int32_t origin, int32_t taps, int32_t dilation, int32_t size, int32_t *first,
                                  int32_t *end)
{
    if (origin >= 0 && origin + (taps - 1) * dilation < size)
    {
        *first = 0;
        *end = taps;
        return;
    }
    *first = origin < 0 ? (dilation - 1 - origin) / dilation : 0;
    *end = origin < size ? TG_MIN(taps, (size - 1 - origin) / dilation + 1) : 0;
}

/* *even / *odd (int32, wrapping) += the products of one octet's channels over rows x cols taps: inputs from x
   (contiguous, gather 0, or at `offsets` from x, gather 1), weights from w (rows kw * c8 apart); pred: the channels
   present, full: all eight (gather and full constants at each use: the loop of whole octets has no predication) */
TG_INLINE void tg_dw_mve_s16_octet(const tg_dw_mve_s16_layer_t *layer, const int16_t *x, const int8_t *w, int32_t rows,
                                   int32_t cols, int32_t gather, int32_t full, uint16x8_t offsets, mve_pred16_t pred,
                                   int32x4_t *even, int32x4_t *odd)
{
    const int32_t tap_step = layer->tap_step, c8 = layer->c8;
    const int32_t x_skip = layer->row_step - cols * tap_step, w_skip = (layer->kw - cols) * c8;
    int32x4_t e = *even, o = *odd;
    int32_t r, k;
    for (r = 0; r < rows; ++r)
    {
        for (k = 0; k < cols; ++k)
        {
            const int16x8_t xv = gather ? (full ? vldrhq_gather_shifted_offset_s16(x, offsets)
                                                : vldrhq_gather_shifted_offset_z_s16(x, offsets, pred))
                                        : (full ? vldrhq_s16(x) : vldrhq_z_s16(x, pred));
            const int16x8_t wv = vldrbq_s16(w);
            e = vaddq_s32(e, vmullbq_int_s16(xv, wv));
            o = vaddq_s32(o, vmulltq_int_s16(xv, wv));
            x += tap_step;
            w += c8;
        }
        x += x_skip;
        w += w_skip;
    }
    *even = e;
    *odd = o;
}

/* tg_dw_mve_s16_octet for two whole octets of contiguous inputs at once (one pass over the taps for 16 channels) */
TG_INLINE void tg_dw_mve_s16_octets2(const tg_dw_mve_s16_layer_t *layer, const int16_t *x, const int8_t *w,
                                     int32_t rows, int32_t cols, int32x4_t *sums)
{
    const int32_t tap_step = layer->tap_step, c8 = layer->c8;
    const int32_t x_skip = layer->row_step - cols * tap_step, w_skip = (layer->kw - cols) * c8;
    int32x4_t e0 = sums[0], o0 = sums[1], e1 = sums[2], o1 = sums[3];
    int32_t r, k;
    for (r = 0; r < rows; ++r)
    {
#if TG_DW_MVE_S16_ASM
        /* a row's taps: 15 instructions per tap (GCC 12 keeps one of the four sums on the stack: 20) */
        const int8_t *wl = w; /* the widening VLDRB.S16 takes a low base register */
        (void)k;
        __asm__("dls lr, %[n]\n"
                "1:\n"
                "vldrh.16 q0, [%[x]]\n"
                "vldrb.s16 q1, [%[w]]\n"
                "vmullb.s16 q2, q0, q1\n"
                "vmullt.s16 q3, q0, q1\n"
                "vadd.i32 %q[e0], %q[e0], q2\n"
                "vadd.i32 %q[o0], %q[o0], q3\n"
                "vldrh.16 q0, [%[x], #16]\n"
                "vldrb.s16 q1, [%[w], #8]\n"
                "vmullb.s16 q2, q0, q1\n"
                "vmullt.s16 q3, q0, q1\n"
                "vadd.i32 %q[e1], %q[e1], q2\n"
                "vadd.i32 %q[o1], %q[o1], q3\n"
                "add %[x], %[x], %[xs]\n"
                "add %[w], %[w], %[ws]\n"
                "le lr, 1b\n"
                : [e0] "+w"(e0), [o0] "+w"(o0), [e1] "+w"(e1), [o1] "+w"(o1), [x] "+r"(x), [w] "+l"(wl)
                : [n] "r"(cols), [xs] "r"(2 * tap_step), [ws] "r"(c8)
                : "q0", "q1", "q2", "q3", "lr", "memory");
        w = wl;
#else
        for (k = 0; k < cols; ++k)
        {
            int16x8_t xv = vldrhq_s16(x), wv = vldrbq_s16(w);
            e0 = vaddq_s32(e0, vmullbq_int_s16(xv, wv));
            o0 = vaddq_s32(o0, vmulltq_int_s16(xv, wv));
            xv = vldrhq_s16(x + TG_DW_MVE_S16_LANES);
            wv = vldrbq_s16(w + TG_DW_MVE_S16_LANES);
            e1 = vaddq_s32(e1, vmullbq_int_s16(xv, wv));
            o1 = vaddq_s32(o1, vmulltq_int_s16(xv, wv));
            x += tap_step;
            w += c8;
        }
#endif
        x += x_skip;
        w += w_skip;
    }
    sums[0] = e0;
    sums[1] = o0;
    sums[2] = e1;
    sums[3] = o1;
}

/* The n (1..8) outputs of an octet from its int32 sums (bias included): with the fast multipliers (p[8..15]) VRMULH,
   clamp and both halves narrowed into one vector, else tg_requantize_acc_s16 per channel with rq */
TG_INLINE void tg_dw_mve_s16_store(const tg_dw_mve_s16_layer_t *layer, int32x4_t even, int32x4_t odd, const int32_t *p,
                                   int32_t c, int32_t n, int16_t *out)
{
    if (layer->fast)
    {
        const int32x4_t lo = vdupq_n_s32(layer->act_min), hi = vdupq_n_s32(layer->act_max);
        int16x8_t v = vdupq_n_s16(0);
        even = vminq_s32(vmaxq_s32(vrmulhq_s32(even, vldrwq_s32(p + 8)), lo), hi);
        odd = vminq_s32(vmaxq_s32(vrmulhq_s32(odd, vldrwq_s32(p + 12)), lo), hi);
        v = vmovntq_s32(vmovnbq_s32(v, even), odd);
        vstrhq_p_s16(out + c, v, vctp16q((uint32_t)n));
    }
    else
    {
        const int32_t *rq = layer->rq + 2 * c;
        int32_t s[8], j;
        vstrwq_s32(s, even);
        vstrwq_s32(s + 4, odd);
        for (j = 0; j < n; ++j)
        {
            out[c + j] = tg_requantize_acc_s16(s[j % 2 * 4 + j / 2], layer->wide, rq[2 * j], rq[2 * j + 1], 0,
                                               layer->act_min, layer->act_max);
        }
    }
}

/* Every channel of one output pixel whose window's taps inside the image are rows x cols from tap `tap0` (its
   index in the window), x the input pixel at that tap (gather as in tg_dw_mve_s16_octet) */
TG_INLINE void tg_dw_mve_s16_pixel(const tg_dw_mve_s16_layer_t *layer, const int16_t *x, int32_t tap0, int32_t rows,
                                   int32_t cols, int32_t gather, int16_t *out)
{
    const int8_t *const w = layer->weights + tap0 * layer->c8;
    const int32_t *p = layer->params;
    const int32_t channels = layer->channels;
    int32_t c = 0;
    if (!gather)
    {
        for (; c + 2 * TG_DW_MVE_S16_LANES <= channels; c += 2 * TG_DW_MVE_S16_LANES)
        {
            int32x4_t sums[4];
            sums[0] = vldrwq_s32(p);
            sums[1] = vldrwq_s32(p + 4);
            sums[2] = vldrwq_s32(p + TG_DW_MVE_S16_PARAMS);
            sums[3] = vldrwq_s32(p + TG_DW_MVE_S16_PARAMS + 4);
            tg_dw_mve_s16_octets2(layer, x + c, w + c, rows, cols, sums);
            tg_dw_mve_s16_store(layer, sums[0], sums[1], p, c, TG_DW_MVE_S16_LANES, out);
            tg_dw_mve_s16_store(layer, sums[2], sums[3], p + TG_DW_MVE_S16_PARAMS, c + TG_DW_MVE_S16_LANES,
                                TG_DW_MVE_S16_LANES, out);
            p += 2 * TG_DW_MVE_S16_PARAMS;
        }
    }
    for (; c < channels; c += TG_DW_MVE_S16_LANES)
    {
        const int32_t n = TG_MIN(TG_DW_MVE_S16_LANES, channels - c);
        const uint16x8_t offs = gather ? vldrhq_u16(layer->offsets + c) : vdupq_n_u16(0);
        const int16_t *xc = gather ? x : x + c;
        int32x4_t even = vldrwq_s32(p), odd = vldrwq_s32(p + 4);
        if (n == TG_DW_MVE_S16_LANES)
        {
            tg_dw_mve_s16_octet(layer, xc, w + c, rows, cols, gather, 1, offs, 0xffffu, &even, &odd);
        }
        else
        {
            tg_dw_mve_s16_octet(layer, xc, w + c, rows, cols, gather, 0, offs, vctp16q((uint32_t)n), &even, &odd);
        }
        tg_dw_mve_s16_store(layer, even, odd, p, c, n, out);
        p += TG_DW_MVE_S16_PARAMS;
    }
}

/* tg_dw_mve_s16_pixel for a multiplier 1 (contiguous inputs) and above (gathered): one function each */
static TG_MVE_NOINLINE void tg_dw_mve_s16_pixel_contiguous(const tg_dw_mve_s16_layer_t *layer, const int16_t *x,
                                                           int32_t tap0, int32_t rows, int32_t cols, int16_t *out)
{
    tg_dw_mve_s16_pixel(layer, x, tap0, rows, cols, 0, out);
}
static TG_MVE_NOINLINE void tg_dw_mve_s16_pixel_gather(const tg_dw_mve_s16_layer_t *layer, const int16_t *x,
                                                       int32_t tap0, int32_t rows, int32_t cols, int16_t *out)
{
    tg_dw_mve_s16_pixel(layer, x, tap0, rows, cols, 1, out);
}

void tg_depthwise_mve_s16(const int16_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                          const int8_t *weights, int32_t kh, int32_t kw, int32_t depth_multiplier,
                          const int32_t *params, const int32_t *rq, int32_t wide, int32_t fast, int16_t *output,
                          int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w, int32_t dilation_h,
                          int32_t dilation_w, int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max,
                          uint16_t *scratch)
{
    tg_dw_mve_s16_layer_t layer;
    int32_t n, oy, ox, c, ky0, ky1, kx0, kx1;
    int16_t *out = output;
    layer.weights = weights;
    layer.params = params;
    layer.rq = rq;
    layer.offsets = depth_multiplier > 1 ? scratch : 0;
    layer.channels = in_c * depth_multiplier;
    layer.c8 = (layer.channels + TG_DW_MVE_S16_LANES - 1) & ~(TG_DW_MVE_S16_LANES - 1);
    layer.kw = kw;
    layer.row_step = dilation_h * in_w * in_c;
    layer.tap_step = dilation_w * in_c;
    layer.wide = wide;
    layer.fast = fast;
    layer.act_min = act_min;
    layer.act_max = act_max;
    if (depth_multiplier > 1)
    {
        for (c = 0; c < layer.c8; ++c)
        {
            scratch[c] = (uint16_t)(c < layer.channels ? c / depth_multiplier : 0);
        }
    }
    for (n = 0; n < batches; ++n)
    {
        const int16_t *image = input + n * in_h * in_w * in_c;
        for (oy = 0; oy < out_h; ++oy)
        {
            const int32_t y0 = oy * stride_h - pad_top;
            tg_dw_mve_s16_clip(y0, kh, dilation_h, in_h, &ky0, &ky1);
            for (ox = 0; ox < out_w; ++ox)
            {
                const int32_t x0 = ox * stride_w - pad_left;
                const int16_t *x = image; /* the input pixel at the first tap inside the image (if any) */
                int32_t rows = 0, cols = 0, tap0 = 0; /* no tap: the bias alone */
                tg_dw_mve_s16_clip(x0, kw, dilation_w, in_w, &kx0, &kx1);
                if (ky0 < ky1 && kx0 < kx1)
                {
                    x += ((y0 + ky0 * dilation_h) * in_w + x0 + kx0 * dilation_w) * in_c;
                    rows = ky1 - ky0;
                    cols = kx1 - kx0;
                    tap0 = ky0 * kw + kx0;
                }
                if (depth_multiplier > 1)
                {
                    tg_dw_mve_s16_pixel_gather(&layer, x, tap0, rows, cols, out);
                }
                else
                {
                    tg_dw_mve_s16_pixel_contiguous(&layer, x, tap0, rows, cols, out);
                }
                out += layer.channels;
            }
        }
    }
}
