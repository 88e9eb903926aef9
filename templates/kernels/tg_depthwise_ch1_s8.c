/*
 * tg_depthwise_ch1_s8: depthwise convolution of a one-channel input (see tg_depthwise_ch1_s8.h).
 */
#include "tg_depthwise_ch1_s8.h"

#include "tg_conv_dsp_s8.h"
#include "tg_requant_fast.h"

#if TG_DSP
/* the DSP 3x3 path's modes where `dw_fast` (the lowering proved the depthwise kernels' fast requantization exact):
   2 * (bias + sum) through tg_dw_rq_fast (SMMLAR, one shift), then SSAT (the full -128..127 range) or a clamp */
#define TG_DWC1_DW_FULL 16
#define TG_DWC1_DW_CLAMP 17
#endif

/* the int16 window of the output pixel whose top-left tap is (y0, x0): tap t at col[t], a zero after an odd
   count (its weight is zero too) */
static void tg_dwc1_window(const int8_t *image, int32_t in_h, int32_t in_w, int32_t y0, int32_t x0, int32_t k_h,
                           int32_t k_w, int32_t dil_h, int32_t dil_w, int32_t input_zp, int16_t *col)
{
    int32_t ky, kx, t = 0;
    for (ky = 0; ky < k_h; ++ky)
    {
        const int32_t y = y0 + ky * dil_h;
        for (kx = 0; kx < k_w; ++kx, ++t)
        {
            const int32_t x = x0 + kx * dil_w;
            col[t] = (int16_t)((y >= 0 && y < in_h && x >= 0 && x < in_w) ? image[y * in_w + x] : input_zp);
        }
    }
    if ((t & 1) != 0)
    {
        col[t] = 0;
    }
}

#if TG_DSP
/* two int16 values as one SMLAD operand: lo in bits 0..15, hi in 16..31 (an int16 pair's memory order) */
TG_INLINE int32_t tg_dwc1_pair(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xffffu) | ((uint32_t)hi << 16));
}

/* the output of one pixel's window c (`pairs` tap pairs: 5, or 4 with w4 unused) for a channel's weight pairs
   w0..w4, bias b and requantization values q; `pairs` and `mode` are constants where inlined */
TG_INLINE int8_t tg_dwc1_px(const int16_t *c, const int32_t pairs, int32_t w0, int32_t w1, int32_t w2, int32_t w3,
                            int32_t w4, int32_t b, const int32_t *q, const int32_t mode, int32_t output_offset,
                            int32_t act_min, int32_t act_max)
{
    int32_t acc = tg_smlad((int32_t)tg_load32(c), w0, b);
    acc = tg_smlad((int32_t)tg_load32(c + 2), w1, acc);
    acc = tg_smlad((int32_t)tg_load32(c + 4), w2, acc);
    acc = tg_smlad((int32_t)tg_load32(c + 6), w3, acc);
    if (pairs == 5)
    {
        acc = tg_smlad((int32_t)tg_load32(c + 8), w4, acc);
    }
    if (mode == TG_DWC1_DW_FULL || mode == TG_DWC1_DW_CLAMP)
    {
        /* acc = 2 * (bias + sum) (doubled bias and weights): q = {multiplier, rnd, r} (tg_dw_rq_fast) */
        const int32_t v = tg_dw_rq_fast(acc, q[0], q[1], 1) >> q[2];
        return (int8_t)(mode == TG_DWC1_DW_FULL ? tg_rq_sat8(v) : TG_CLAMP(v, act_min, act_max));
    }
    if (mode == TG_RQ_FAST_FULL)
    {
        return (int8_t)tg_rq_sat8(tg_rq_fast(acc, q[0], q[1], q[2]));
    }
    return tg_rq_any(acc, q, mode, output_offset, act_min, act_max);
}

/*
 * One output row of a 3x3 filter (pairs = 5) or a 1 x 7 / 1 x 8 one (pairs = 4), output channel by output channel:
 * cols holds the n pixels' windows (2 * pairs int16 each: the tap pairs), so each channel's weight pairs and
 * requantization values stay in registers over the row. `pairs` and `mode` are constants where inlined.
 */
TG_INLINE void tg_dwc1_row(const int16_t *cols, int32_t n, const int32_t pairs, const int16_t *w, int32_t out_c,
                           const int32_t *bias, const int32_t *rq, const int32_t mode, int8_t *out,
                           int32_t output_offset, int32_t act_min, int32_t act_max)
{
    const int32_t step = 2 * pairs;
    const int16_t *const end = cols + step * n; /* the loop over the row: no counter, one register fewer */
    int32_t m;
    for (m = 0; m < out_c; ++m, w += step, rq += 3)
    {
        const int32_t w0 = (int32_t)tg_load32(w), w1 = (int32_t)tg_load32(w + 2), w2 = (int32_t)tg_load32(w + 4);
        const int32_t w3 = (int32_t)tg_load32(w + 6), w4 = pairs == 5 ? (int32_t)tg_load32(w + 8) : 0;
        const int dw = mode == TG_DWC1_DW_FULL || mode == TG_DWC1_DW_CLAMP;
        /* a local copy: the int8 stores below cannot alias it, so it stays in registers. The DW modes double the
           bias (the weights are doubled) and take the fast form's {m, 2^(e-2) + off * 2^(e-1), e - 1} as
           tg_dw_rq_fast's {m, 2^(r-1) + off * 2^r, r} with r = e */
        const int32_t b = dw ? 2 * bias[m] : bias[m];
        const int32_t q[3] = {rq[0], dw ? 2 * rq[1] : rq[1], dw ? rq[2] + 1 : rq[2]};
        const int16_t *c = cols;
        int8_t *o = out + m;
        if (dw)
        {
            /* the fast forms: two pixels per pass, the loop's own instructions once for both */
            for (; c + step < end; c += 2 * step, o += 2 * out_c)
            {
                o[0] = tg_dwc1_px(c, pairs, w0, w1, w2, w3, w4, b, q, mode, output_offset, act_min, act_max);
                o[out_c] = tg_dwc1_px(c + step, pairs, w0, w1, w2, w3, w4, b, q, mode, output_offset, act_min,
                                      act_max);
            }
        }
        for (; c != end; c += step, o += out_c)
        {
            *o = tg_dwc1_px(c, pairs, w0, w1, w2, w3, w4, b, q, mode, output_offset, act_min, act_max);
        }
    }
}

/* tg_dwc1_row with its pairs and mode constants: one loop per requantization form (1 x 7 / 1 x 8 filters: the
   fast depthwise form or the general code) */
static void tg_dwc1_rows(const int16_t *cols, int32_t n, int32_t pairs, const int16_t *w, int32_t out_c,
                         const int32_t *bias, const int32_t *rq, int32_t mode, int8_t *out, int32_t output_offset,
                         int32_t act_min, int32_t act_max)
{
    if (pairs == 4)
    {
        if (mode == TG_DWC1_DW_FULL)
        {
            tg_dwc1_row(cols, n, 4, w, out_c, bias, rq, TG_DWC1_DW_FULL, out, output_offset, act_min, act_max);
        }
        else if (mode == TG_DWC1_DW_CLAMP)
        {
            tg_dwc1_row(cols, n, 4, w, out_c, bias, rq, TG_DWC1_DW_CLAMP, out, output_offset, act_min, act_max);
        }
        else
        {
            tg_dwc1_row(cols, n, 4, w, out_c, bias, rq, mode, out, output_offset, act_min, act_max);
        }
    }
    else if (mode == TG_DWC1_DW_FULL)
    {
        tg_dwc1_row(cols, n, 5, w, out_c, bias, rq, TG_DWC1_DW_FULL, out, output_offset, act_min, act_max);
    }
    else if (mode == TG_DWC1_DW_CLAMP)
    {
        tg_dwc1_row(cols, n, 5, w, out_c, bias, rq, TG_DWC1_DW_CLAMP, out, output_offset, act_min, act_max);
    }
    else
    {
        /* layers the fast depthwise form does not cover (rare): one copy for the other modes */
        tg_dwc1_row(cols, n, 5, w, out_c, bias, rq, mode, out, output_offset, act_min, act_max);
    }
}
#else
/* the portable path's interior window of up to nine taps x0..x8 (a 3x3 one, or a 1 x 7 / 1 x 8 row with the
   missing taps literal zeros, which the compiler drops), filters `step` int16 apart, every output channel */
TG_INLINE void tg_dwc1_out9(int32_t x0, int32_t x1, int32_t x2, int32_t x3, int32_t x4, int32_t x5, int32_t x6,
                            int32_t x7, int32_t x8, const int16_t *w, const int32_t step, int32_t out_c,
                            const int32_t *bias, const int32_t *rq, int32_t mode, int8_t *out, int32_t output_offset,
                            int32_t act_min, int32_t act_max)
{
    int32_t m;
    for (m = 0; m < out_c; ++m, w += step, rq += 3)
    {
        /* the taps' sum is at most 9 * 128 * 128 in magnitude; the bias joins it in uint32 (it wraps as TFLite's) */
        const int32_t sum = x0 * w[0] + x1 * w[1] + x2 * w[2] + x3 * w[3] + x4 * w[4] + x5 * w[5] + x6 * w[6] +
                            x7 * w[7] + x8 * w[8];
        out[m] = tg_rq_any((int32_t)((uint32_t)bias[m] + (uint32_t)sum), rq, mode, output_offset, act_min, act_max);
    }
}
#endif

/* the outputs of one pixel from its window col (pairs tap pairs), filters w (pairs tap pairs each) */
static void tg_dwc1_out(const int16_t *col, int32_t pairs, const int16_t *w, int32_t out_c, const int32_t *bias,
                        const int32_t *rq, int32_t mode, int8_t *out, int32_t output_offset, int32_t act_min,
                        int32_t act_max)
{
    int32_t m, p;
    for (m = 0; m < out_c; ++m, w += 2 * pairs)
    {
        int32_t acc = bias[m];
        for (p = 0; p < pairs; ++p)
        {
#if TG_DSP
            acc = tg_smlad((int32_t)tg_load32(col + 2 * p), (int32_t)tg_load32(w + 2 * p), acc);
#else
            /* in uint32: the folded bias may sit near the int32 limits (TFLite's sum wraps the same) */
            acc = (int32_t)((uint32_t)acc + (uint32_t)(col[2 * p] * w[2 * p] + col[2 * p + 1] * w[2 * p + 1]));
#endif
        }
        out[m] = tg_rq_any(acc, rq + 3 * m, mode, output_offset, act_min, act_max);
    }
}

void tg_depthwise_ch1_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, const int8_t *filter,
                         int32_t k_h, int32_t k_w, int32_t out_c, const int32_t *bias, const int32_t *rq, int32_t mode,
                         int8_t *output, int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w,
                         int32_t dil_h, int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t input_zp,
                         int32_t output_offset, int32_t act_min, int32_t act_max, int32_t dw_fast, void *scratch)
{
    const int32_t taps = k_h * k_w, pairs = (taps + 1) / 2;
    int16_t *w16 = (int16_t *)scratch; /* filter m's taps at w16[2 * pairs * m ..] */
    int16_t *col = w16 + 2 * pairs * out_c; /* one window, or (DSP path, 3x3) one output row's windows */
    int32_t b, oy, ox, m, t;
    const int fast3 = k_h == 3 && k_w == 3 && dil_h == 1 && dil_w == 1;
    const int line8 = k_h == 1 && (k_w == 7 || k_w == 8) && dil_w == 1; /* four tap pairs along a row */
#if TG_DSP
    /* the 3x3 and 1 x 7 / 1 x 8 paths (every output through tg_dwc1_row) with the depthwise kernels' fast
       requantization: doubled weights (|w| <= 128: 2 * w fits int16) */
    const int dw = (fast3 || line8) && dw_fast && (mode == TG_RQ_FAST || mode == TG_RQ_FAST_FULL);
    const int32_t scale = dw ? 2 : 1;
    const int32_t mode3 = !dw ? mode : mode == TG_RQ_FAST_FULL ? TG_DWC1_DW_FULL : TG_DWC1_DW_CLAMP;
#else
    const int32_t scale = 1;
    (void)dw_fast;
#endif
    for (m = 0; m < out_c; ++m)
    {
        for (t = 0; t < 2 * pairs; ++t)
        {
            w16[2 * pairs * m + t] = (int16_t)(t < taps ? scale * filter[t * out_c + m] : 0);
        }
    }
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w;
        for (oy = 0; oy < out_h; ++oy)
        {
            const int32_t y0 = oy * stride_h - pad_top;
            const int rows_in = fast3 && y0 >= 0 && y0 + 2 < in_h;
            int8_t *out_row = output + (b * out_h + oy) * out_w * out_c;
#if TG_DSP
            if (fast3)
            {
                /* the row's windows as tap pairs (interior ones straight from the image), then channel by channel */
                for (ox = 0; ox < out_w; ++ox)
                {
                    const int32_t x0 = ox * stride_w - pad_left;
                    int16_t *slot = col + 10 * ox;
                    if (rows_in && x0 >= 0 && x0 + 2 < in_w)
                    {
                        const int8_t *r0 = image + y0 * in_w + x0, *r1 = r0 + in_w, *r2 = r1 + in_w;
                        tg_store32(slot, tg_dwc1_pair(r0[0], r0[1]));
                        tg_store32(slot + 2, tg_dwc1_pair(r0[2], r1[0]));
                        tg_store32(slot + 4, tg_dwc1_pair(r1[1], r1[2]));
                        tg_store32(slot + 6, tg_dwc1_pair(r2[0], r2[1]));
                        tg_store32(slot + 8, tg_dwc1_pair(r2[2], 0));
                    }
                    else
                    {
                        tg_dwc1_window(image, in_h, in_w, y0, x0, 3, 3, 1, 1, input_zp, slot);
                    }
                }
                tg_dwc1_rows(col, out_w, 5, w16, out_c, bias, rq, mode3, out_row, output_offset, act_min, act_max);
                continue;
            }
            if (line8)
            {
                /* 1 x 7 / 1 x 8: the row's windows as four tap pairs (interior ones straight from the image) */
                for (ox = 0; ox < out_w; ++ox)
                {
                    const int32_t x0 = ox * stride_w - pad_left;
                    int16_t *slot = col + 8 * ox;
                    if (y0 >= 0 && y0 < in_h && x0 >= 0 && x0 + k_w <= in_w)
                    {
                        const int8_t *r0 = image + y0 * in_w + x0;
                        tg_store32(slot, tg_dwc1_pair(r0[0], r0[1]));
                        tg_store32(slot + 2, tg_dwc1_pair(r0[2], r0[3]));
                        tg_store32(slot + 4, tg_dwc1_pair(r0[4], r0[5]));
                        tg_store32(slot + 6, tg_dwc1_pair(r0[6], k_w == 8 ? r0[7] : 0));
                    }
                    else
                    {
                        tg_dwc1_window(image, in_h, in_w, y0, x0, 1, k_w, 1, 1, input_zp, slot);
                    }
                }
                tg_dwc1_rows(col, out_w, 4, w16, out_c, bias, rq, mode3, out_row, output_offset, act_min, act_max);
                continue;
            }
#endif
            for (ox = 0; ox < out_w; ++ox)
            {
                const int32_t x0 = ox * stride_w - pad_left;
                int8_t *out = out_row + ox * out_c;
#if !TG_DSP
                if (rows_in && x0 >= 0 && x0 + 2 < in_w)
                {
                    /* an interior 3x3 window: its taps straight from the image */
                    const int8_t *r0 = image + y0 * in_w + x0, *r1 = r0 + in_w, *r2 = r1 + in_w;
                    tg_dwc1_out9(r0[0], r0[1], r0[2], r1[0], r1[1], r1[2], r2[0], r2[1], r2[2], w16, 10, out_c, bias,
                                 rq, mode, out, output_offset, act_min, act_max);
                    continue;
                }
                if (line8 && y0 >= 0 && y0 < in_h && x0 >= 0 && x0 + k_w <= in_w)
                {
                    /* an interior 1 x 7 / 1 x 8 window (w16: eight taps per filter, the eighth zero for 1 x 7) */
                    const int8_t *r0 = image + y0 * in_w + x0;
                    tg_dwc1_out9(r0[0], r0[1], r0[2], r0[3], r0[4], r0[5], r0[6], k_w == 8 ? r0[7] : 0, 0, w16, 8,
                                 out_c, bias, rq, mode, out, output_offset, act_min, act_max);
                    continue;
                }
#endif
                tg_dwc1_window(image, in_h, in_w, y0, x0, k_h, k_w, dil_h, dil_w, input_zp, col);
                tg_dwc1_out(col, pairs, w16, out_c, bias, rq, mode, out, output_offset, act_min, act_max);
            }
        }
    }
}
