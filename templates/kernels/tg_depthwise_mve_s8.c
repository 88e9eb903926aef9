/* tg_depthwise_mve_s8: see tg_depthwise_mve_s8.h */
#include "tg_depthwise_mve_s8.h"

#include "tg_mve_s8.h"

/* GCC's first scheduling pass hoists the 18 loads of a 3x3 quad and spills vectors: keep program order */
#if defined(__GNUC__) && !defined(__clang__)
#define TG_DW_MVE_ORDERED __attribute__((noinline, optimize("no-schedule-insns")))
#elif defined(__clang__)
#define TG_DW_MVE_ORDERED __attribute__((noinline))
#else
#define TG_DW_MVE_ORDERED
#endif

/* Requantize a quad accumulator, return the four int8 results in the lanes' low bytes. */
TG_INLINE int32x4_t tg_dw_mve_requant(int32x4_t acc, const int32_t *params, int32_t has_left, int32x4_t offset,
                                      int32x4_t lo, int32x4_t hi)
{
    return tg_mve_requant_vec(acc, params, has_left, offset, lo, hi);
}

#define TG_DW_MVE_TAP(acc, p, w) (acc) = vqaddq_s32((acc), vmulq_s32(vldrbq_s32(p), vldrbq_s32(w)))

/* `count` output pixels of one row, 3x3 window: r0..r2 point at the first window's left tap in three
   padded rows; consecutive windows are `advance` bytes apart. */
static TG_DW_MVE_ORDERED void tg_dw_mve_3x3_row(const int8_t *r0, const int8_t *r1, const int8_t *r2,
                                                int32_t advance, int32_t count, int32_t channels,
                                                const int8_t *weights, const int32_t *params_in,
                                                int32_t has_left, int32_t out_offset, int32_t act_min,
                                                int32_t act_max, int8_t *out)
{
    const int32x4_t offset = vdupq_n_s32(out_offset);
    const int32x4_t lo = vdupq_n_s32(act_min);
    const int32x4_t hi = vdupq_n_s32(act_max);
    const int32_t step = channels;
    for (; count > 0; --count)
    {
        const int8_t *w = weights;
        const int32_t *params = params_in;
        int32_t c;
        for (c = 0; c < channels; c += 4)
        {
            int32x4_t acc = vldrwq_s32(params);
            TG_DW_MVE_TAP(acc, r0 + c, w);
            TG_DW_MVE_TAP(acc, r0 + c + step, w + 4);
            TG_DW_MVE_TAP(acc, r0 + c + 2 * step, w + 8);
            TG_DW_MVE_TAP(acc, r1 + c, w + 12);
            TG_DW_MVE_TAP(acc, r1 + c + step, w + 16);
            TG_DW_MVE_TAP(acc, r1 + c + 2 * step, w + 20);
            TG_DW_MVE_TAP(acc, r2 + c, w + 24);
            TG_DW_MVE_TAP(acc, r2 + c + step, w + 28);
            TG_DW_MVE_TAP(acc, r2 + c + 2 * step, w + 32);
            vstrbq_s32(out + c, tg_dw_mve_requant(acc, params, has_left, offset, lo, hi));
            w += 36;
            params += TG_MVE_QUAD_PARAMS;
        }
        r0 += advance;
        r1 += advance;
        r2 += advance;
        out += channels;
    }
}

/* Any kernel, one output pixel: rows[ky] is the input row of kernel row ky (NULL: padding); x0 the
   window's left column (may be outside the image). */
static void tg_dw_mve_any(const int8_t *const *rows, int32_t kh, int32_t kw, int32_t x0, int32_t dil_w, int32_t in_w,
                          int32_t channels, const int8_t *w, const int32_t *params, int32_t has_left,
                          int32x4_t pad, int32x4_t offset, int32x4_t lo, int32x4_t hi, int8_t *out)
{
    int32_t c, ky, kx;
    for (c = 0; c < channels; c += 4)
    {
        int32x4_t acc = vldrwq_s32(params);
        for (ky = 0; ky < kh; ++ky)
        {
            for (kx = 0; kx < kw; ++kx)
            {
                const int32_t x = x0 + kx * dil_w;
                const int32x4_t wv = vldrbq_s32(w);
                const int32x4_t xv = (rows[ky] != 0 && x >= 0 && x < in_w) ? vldrbq_s32(rows[ky] + x * channels + c) : pad;
                acc = vqaddq_s32(acc, vmulq_s32(xv, wv));
                w += 4;
            }
        }
        vstrbq_s32(out + c, tg_dw_mve_requant(acc, params, has_left, offset, lo, hi));
        params += TG_MVE_QUAD_PARAMS;
    }
}

#define TG_DW_MVE_MAX_KH 16

static void tg_dw_mve_general(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                              const int8_t *weights, int32_t kh, int32_t kw, const int32_t *params, int8_t *output,
                              int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                              int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t pad_value, int32_t out_offset,
                              int32_t act_min, int32_t act_max, int32_t has_left)
{
    const int32x4_t pad = vdupq_n_s32(pad_value);
    const int32x4_t offset = vdupq_n_s32(out_offset);
    const int32x4_t lo = vdupq_n_s32(act_min);
    const int32x4_t hi = vdupq_n_s32(act_max);
    const int32_t row_bytes = in_w * channels;
    const int8_t *rows[TG_DW_MVE_MAX_KH];
    int32_t b, oy, ox, ky;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * row_bytes;
        for (oy = 0; oy < out_h; ++oy)
        {
            for (ky = 0; ky < kh; ++ky)
            {
                const int32_t y = oy * stride_h - pad_top + ky * dil_h;
                rows[ky] = (y < 0 || y >= in_h) ? 0 : image + y * row_bytes;
            }
            for (ox = 0; ox < out_w; ++ox)
            {
                tg_dw_mve_any(rows, kh, kw, ox * stride_w - pad_left, dil_w, in_w, channels, weights, params, has_left,
                              pad, offset, lo, hi, output);
                output += channels;
            }
        }
    }
}

/*
 * The gather path (mode TG_DW_MVE_GATHER, 3x3, dilation 1): the ring holds, per channel, four planar
 * padded rows ([channel][slot 0..3][wp], slot 3 all padding), so the nine taps of one output of one
 * channel are bytes at offsets slot * wp + kx (< 256) from one base: one VLDRB.8 gather loads them, and
 * one VMLADAVA.S8 with the channel's 16 weights (nine taps, seven zeros) adds the nine products.
 */

/* One output row: `count` pixels, the window of pixel i starting at padded column i * stride; offs: the
   nine tap offsets (lanes 9..15: 0, their weights are 0). */
TG_INLINE void tg_dw_mve_gather_quads(const int8_t *ring, int32_t plane4, uint8x16_t offs, int32_t count,
                                      int32_t stride, int32_t channels, const int8_t *weights, const int32_t *params_in,
                                      int32_t has_left, int32x4_t offset, int32x4_t lo, int32x4_t hi, int8_t *out)
{
    for (; count > 0; --count)
    {
        const int8_t *w = weights;
        const int32_t *params = params_in;
        const int8_t *base = ring;
        int32_t q;
        for (q = channels >> 2; q > 0; --q)
        {
            /* the bias joins as a vector: no scalar accumulator to initialise */
            const int32_t a0 = vmladavq_s8(vldrbq_gather_offset_s8(base, offs), vldrbq_s8(w));
            const int32_t a1 = vmladavq_s8(vldrbq_gather_offset_s8(base + plane4, offs), vldrbq_s8(w + 16));
            const int32_t a2 = vmladavq_s8(vldrbq_gather_offset_s8(base + 2 * plane4, offs), vldrbq_s8(w + 32));
            const int32_t a3 = vmladavq_s8(vldrbq_gather_offset_s8(base + 3 * plane4, offs), vldrbq_s8(w + 48));
            base += 4 * plane4;
            w += 64;
            vstrbq_s32(out, tg_mve_requant_vec(vaddq_s32(tg_mve_lanes(a0, a1, a2, a3), vldrwq_s32(params)), params,
                                               has_left, offset, lo, hi));
            params += TG_MVE_QUAD_PARAMS;
            out += 4;
        }
        ring += stride;
    }
}

static TG_DW_MVE_ORDERED void tg_dw_mve_gather_row(const int8_t *ring, int32_t plane4, const uint8_t *tap_offsets,
                                                 int32_t count, int32_t stride, int32_t channels,
                                                 const int8_t *weights, const int32_t *params, int32_t has_left,
                                                 int32_t out_offset, int32_t act_min, int32_t act_max, int8_t *out)
{
    const uint8x16_t offs = vldrbq_u8(tap_offsets);
    const int32x4_t offset = vdupq_n_s32(out_offset);
    const int32x4_t lo = vdupq_n_s32(act_min);
    const int32x4_t hi = vdupq_n_s32(act_max);
    if (has_left)
    {
        tg_dw_mve_gather_quads(ring, plane4, offs, count, stride, channels, weights, params, 1, offset, lo, hi, out);
    }
    else
    {
        tg_dw_mve_gather_quads(ring, plane4, offs, count, stride, channels, weights, params, 0, offset, lo, hi, out);
    }
}

/* Input row `row` (in_w pixels of `channels`) into ring slot `slot`, planar: channel c at
   ring[(c * 4 + slot) * wp + pad_left + x]; four channels per step (one VSTRB.32 scatter). */
static void tg_dw_mve_gather_fill(int8_t *ring, const int8_t *row, int32_t in_w, int32_t channels, int32_t wp,
                                  int32_t slot, int32_t pad_left)
{
    const uint32_t planes[4] = {0u, (uint32_t)(4 * wp), (uint32_t)(8 * wp), (uint32_t)(12 * wp)};
    const uint32x4_t scatter = vldrwq_u32(planes);
    int32_t x, c;
    for (x = 0; x < in_w; ++x)
    {
        int8_t *dst = ring + slot * wp + pad_left + x;
        for (c = 0; c < channels; c += 4)
        {
            vstrbq_scatter_offset_s32(dst, scatter, vldrbq_s32(row));
            row += 4;
            dst += 16 * wp;
        }
    }
}

static void tg_dw_mve_gather(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                             const int8_t *weights, const int32_t *params, int8_t *output, int32_t out_h,
                             int32_t out_w, int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                             int32_t pad_right, int32_t pad_value, int32_t out_offset, int32_t act_min,
                             int32_t act_max, int32_t has_left, int8_t *ring)
{
    const int32_t wp = pad_left + in_w + pad_right;
    const int32_t row_bytes = in_w * channels;
    int32_t held[3]; /* the input row each ring slot holds (-1: none) */
    uint8_t taps[16];
    int32_t b, oy, ky, kx;
    tg_mve_fill_s8(ring, (int8_t)pad_value, 4 * wp * channels); /* pad columns and slot 3 stay padding */
    for (kx = 9; kx < 16; ++kx)
    {
        taps[kx] = 0;
    }
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * row_bytes;
        held[0] = held[1] = held[2] = -1;
        for (oy = 0; oy < out_h; ++oy)
        {
            for (ky = 0; ky < 3; ++ky)
            {
                const int32_t y = oy * stride_h - pad_top + ky;
                int32_t slot = 3;
                if (y >= 0 && y < in_h)
                {
                    slot = y % 3;
                    if (held[slot] != y) /* first use of input row y: copy it into the ring */
                    {
                        tg_dw_mve_gather_fill(ring, image + y * row_bytes, in_w, channels, wp, slot, pad_left);
                        held[slot] = y;
                    }
                }
                for (kx = 0; kx < 3; ++kx)
                {
                    taps[3 * ky + kx] = (uint8_t)(slot * wp + kx);
                }
            }
            tg_dw_mve_gather_row(ring, 4 * wp, taps, out_w, stride_w, channels, weights, params, has_left, out_offset,
                                 act_min, act_max, output);
            output += out_w * channels;
        }
    }
}

void tg_depthwise_mve_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                         const int8_t *weights, int32_t kh, int32_t kw, const int32_t *params, int8_t *output,
                         int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                         int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t pad_right, int32_t pad_value,
                         int32_t out_offset, int32_t act_min, int32_t act_max, int32_t has_left, int32_t mode,
                         int8_t *scratch)
{
    const int32_t row_bytes = in_w * channels;
    const int32_t slot_bytes = (pad_left + in_w + pad_right) * channels;
    int8_t *const pad_row = scratch + 3 * slot_bytes;
    int32_t held[3]; /* the input row each ring slot holds (-1: none) */
    int32_t b, oy, ky;
    if (mode == TG_DW_MVE_GATHER)
    {
        tg_dw_mve_gather(input, batches, in_h, in_w, channels, weights, params, output, out_h, out_w, stride_h, stride_w,
                         pad_top, pad_left, pad_right, pad_value, out_offset, act_min, act_max, has_left, scratch);
        return;
    }
    if (mode == TG_DW_MVE_GENERAL)
    {
        tg_dw_mve_general(input, batches, in_h, in_w, channels, weights, kh, kw, params, output, out_h, out_w,
                          stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, pad_value, out_offset, act_min,
                          act_max, has_left);
        return;
    }
    tg_mve_fill_s8(pad_row, (int8_t)pad_value, slot_bytes);
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * row_bytes;
        held[0] = held[1] = held[2] = -1;
        for (oy = 0; oy < out_h; ++oy)
        {
            const int8_t *r[3];
            for (ky = 0; ky < 3; ++ky)
            {
                const int32_t y = oy * stride_h - pad_top + ky;
                if (y < 0 || y >= in_h)
                {
                    r[ky] = pad_row;
                }
                else
                {
                    int8_t *slot = scratch + (y % 3) * slot_bytes;
                    if (held[y % 3] != y) /* first use of input row y: copy it, padded, into the ring */
                    {
                        tg_mve_fill_s8(slot, (int8_t)pad_value, pad_left * channels);
                        tg_mve_copy_s8(slot + pad_left * channels, image + y * row_bytes, row_bytes);
                        tg_mve_fill_s8(slot + (pad_left + in_w) * channels, (int8_t)pad_value, pad_right * channels);
                        held[y % 3] = y;
                    }
                    r[ky] = slot;
                }
            }
            tg_dw_mve_3x3_row(r[0], r[1], r[2], stride_w * channels, out_w, channels, weights, params, has_left,
                              out_offset, act_min, act_max, output);
            output += out_w * channels;
        }
    }
}
