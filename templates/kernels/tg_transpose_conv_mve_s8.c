/* tg_transpose_conv_mve_s8: see tg_transpose_conv_mve_s8.h */
#include "tg_transpose_conv_mve_s8.h"

#include "tg_mve_s8.h"

/* taps of a sub-kernel along one dimension: the filter offsets r, r + stride, ... below k */
TG_INLINE int32_t tg_tconv_mve_taps(int32_t r, int32_t k, int32_t stride)
{
    return r < k ? (k - r + stride - 1) / stride : 0;
}

/* The ny x nx window whose top-left input pixel is (y0, x0) into col: outside the image = zp */
static void tg_tconv_mve_window(int8_t *col, const int8_t *image, int32_t in_h, int32_t in_w, int32_t in_c,
                                int32_t ny, int32_t nx, int32_t y0, int32_t x0, int8_t zp)
{
    const int32_t left = x0 < 0 ? TG_MIN(-x0, nx) : 0;
    const int32_t right = TG_MIN(TG_MAX(x0 + nx - in_w, 0), nx - left);
    const int32_t inside = (nx - left - right) * in_c;
    const int32_t span = nx * in_c;
    int32_t m;
    for (m = 0; m < ny; ++m, col += span)
    {
        const int32_t y = y0 + m;
        if (y < 0 || y >= in_h)
        {
            tg_mve_fill_s8(col, zp, span);
            continue;
        }
        tg_mve_fill_s8(col, zp, left * in_c);
        if (inside > 0)
        {
            tg_mve_copy_s8(col + left * in_c, image + (y * in_w + x0 + left) * in_c, inside);
        }
        tg_mve_fill_s8(col + left * in_c + inside, zp, right * in_c);
    }
}

/* One pixel's out_c outputs from its column (steps of 16; 0: a phase without taps, the bias alone) */
static TG_MVE_NOINLINE void tg_tconv_mve_pixel(const int8_t *col, int32_t steps, const int8_t *w,
                                               const int32_t *params, int32_t out_c, int32_t has_left,
                                               int32x4_t offset, int32x4_t lo, int32x4_t hi, int8_t *out)
{
    if (steps == 0)
    {
        int32_t oc;
        for (oc = 0; oc < out_c; oc += 4, params += TG_MVE_QUAD_PARAMS)
        {
            const int32x4_t r = has_left ? tg_mve_requant_vec(vldrwq_s32(params), params, 1, offset, lo, hi)
                                         : tg_mve_requant_vec(vldrwq_s32(params), params, 0, offset, lo, hi);
            vstrbq_p_s32(out + oc, r, vctp32q((uint32_t)(out_c - oc)));
        }
        return;
    }
    if (has_left)
    {
        tg_mve_gemm_quads(col, steps, w, params, out_c, 1, offset, lo, hi, out);
    }
    else
    {
        tg_mve_gemm_quads(col, steps, w, params, out_c, 0, offset, lo, hi, out);
    }
}

void tg_transpose_conv_mve_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                              const int8_t *weights, int32_t k_h, int32_t k_w, const int32_t *params,
                              int8_t *output, int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h,
                              int32_t stride_w, int32_t pad_top, int32_t pad_left, int32_t input_zp,
                              int32_t out_offset, int32_t act_min, int32_t act_max, int32_t has_left,
                              int8_t *scratch)
{
    const int32x4_t offset = vdupq_n_s32(out_offset);
    const int32x4_t lo = vdupq_n_s32(act_min);
    const int32x4_t hi = vdupq_n_s32(act_max);
    const int32_t quads = (out_c + 3) >> 2;
    int32_t b, ry, rx;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w * in_c;
        int8_t *out = output + b * out_h * out_w * out_c;
        const int8_t *w = weights;
        const int32_t *prm = params;
        for (ry = 0; ry < stride_h; ++ry)
        {
            const int32_t oy0 = ((ry - pad_top) % stride_h + stride_h) % stride_h;
            const int32_t ny = tg_tconv_mve_taps(ry, k_h, stride_h);
            for (rx = 0; rx < stride_w; ++rx)
            {
                const int32_t ox0 = ((rx - pad_left) % stride_w + stride_w) % stride_w;
                const int32_t nx = tg_tconv_mve_taps(rx, k_w, stride_w);
                const int32_t depth = ny * nx * in_c;
                const int32_t d16 = (depth + 15) & ~15;
                int32_t oy, ox;
                tg_mve_fill_s8(scratch + depth, 0, d16 - depth); /* defined bytes where the zero weights pad */
                for (oy = oy0; oy < out_h; oy += stride_h)
                {
                    const int32_t y0 = (oy + pad_top - ry) / stride_h - ny + 1;
                    for (ox = ox0; ox < out_w; ox += stride_w)
                    {
                        if (depth > 0)
                        {
                            tg_tconv_mve_window(scratch, image, in_h, in_w, in_c, ny, nx, y0,
                                                (ox + pad_left - rx) / stride_w - nx + 1, (int8_t)input_zp);
                        }
                        tg_tconv_mve_pixel(scratch, d16 >> 4, w, prm, out_c, has_left, offset, lo, hi,
                                           out + (oy * out_w + ox) * out_c);
                    }
                }
                w += quads * 4 * d16;
                prm += quads * TG_MVE_QUAD_PARAMS;
            }
        }
    }
}
