/*
 * tg_transpose_conv_s8: int8 2-D transposed convolution as stride_h * stride_w ordinary convolutions of the
 * input with sub-kernels (one per output phase), each an im2col into tg_conv_gemm_s8's column block and that
 * GEMM (see the header).
 */
#include "tg_transpose_conv_s8.h"

#include <string.h>

#include "tg_conv_gemm_s8.h"

/* taps of a sub-kernel along one dimension: the filter offsets r, r + stride, ... below k */
TG_INLINE int32_t tg_tconv_taps(int32_t r, int32_t k, int32_t stride)
{
    return r < k ? (k - r + stride - 1) / stride : 0;
}

/* n bytes from src to dst (a window row), word by word, then byte by byte */
static void tg_tconv_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4)
    {
        uint32_t v;
        memcpy(&v, src, sizeof v); /* one unaligned LDR / STR each on Cortex-M3 and up */
        memcpy(dst, &v, sizeof v);
        src += 4;
        dst += 4;
    }
    for (; n > 0; --n)
    {
        *dst++ = *src++;
    }
}

static void tg_tconv_pad(int8_t *dst, int32_t n, int8_t pad)
{
    for (; n > 0; --n)
    {
        *dst++ = pad;
    }
}

/* The geometry of one phase's windows (one struct: fewer arguments to the column builders) */
typedef struct
{
    const int8_t *image; /* the batch's input */
    int32_t in_h, in_w, in_c, ny, nx, span, depth, zp;
} tg_tconv_geom_t;

/*
 * Column j of the block = the ny x nx window whose top-left input pixel is (y0, x0): rows outside the
 * image and columns left or right of it hold the input zero point (the folded bias makes them add 0).
 * in_c % 4 == 0: straight into the block group by group; otherwise gathered as int8 into stage first.
 */
static void tg_tconv_column(const tg_tconv_geom_t *g, int32_t y0, int32_t x0, int16_t *block, int32_t j,
                            int8_t *stage)
{
    const int32_t left = x0 < 0 ? TG_MIN(-x0, g->nx) : 0;
    const int32_t right = TG_MIN(TG_MAX(x0 + g->nx - g->in_w, 0), g->nx - left);
    const int32_t inside = (g->nx - left - right) * g->in_c;
    const int32_t row_bytes = g->in_w * g->in_c;
    int32_t m, k = 0;
    if ((g->in_c & 3) == 0)
    {
        for (m = 0; m < g->ny; ++m, k += g->span)
        {
            const int32_t y = y0 + m;
            if (y < 0 || y >= g->in_h)
            {
                tg_pair_fill_groups(block, j, k, g->span, g->zp);
            }
            else
            {
                tg_pair_fill_groups(block, j, k, left * g->in_c, g->zp);
                if (inside > 0)
                {
                    tg_pair_put_groups(block, j, k + left * g->in_c,
                                       g->image + y * row_bytes + (x0 + left) * g->in_c, inside);
                }
                tg_pair_fill_groups(block, j, k + (g->nx - right) * g->in_c, right * g->in_c, g->zp);
            }
        }
        return;
    }
    for (m = 0; m < g->ny; ++m, k += g->span)
    {
        const int32_t y = y0 + m;
        if (y < 0 || y >= g->in_h)
        {
            tg_tconv_pad(stage + k, g->span, (int8_t)g->zp);
        }
        else
        {
            tg_tconv_pad(stage + k, left * g->in_c, (int8_t)g->zp);
            if (inside > 0)
            {
                tg_tconv_copy(stage + k + left * g->in_c, g->image + y * row_bytes + (x0 + left) * g->in_c, inside);
            }
            tg_tconv_pad(stage + k + (g->nx - right) * g->in_c, right * g->in_c, (int8_t)g->zp);
        }
    }
    tg_pair_put_column(block, j, g->depth, stage);
}

/* A phase without taps (stride > filter): every pixel is requantize(bias) per channel */
static void tg_tconv_bias_only(const int32_t *params, int32_t mode, int32_t out_c, int32_t output_offset,
                               int32_t act_min, int32_t act_max, int8_t *out)
{
    int32_t c;
    for (c = 0; c + 2 <= out_c; c += 2, params += 8)
    {
        out[c] = tg_rq_any(params[0], params + 2, mode, output_offset, act_min, act_max);
        out[c + 1] = tg_rq_any(params[1], params + 5, mode, output_offset, act_min, act_max);
    }
    if (c < out_c)
    {
        out[c] = tg_rq_any(params[0], params + 1, mode, output_offset, act_min, act_max);
    }
}

/* The block's first `cols` columns (the others copies of the last) into dst[0..cols-1]: straight when the
   destinations are evenly `step` apart, else through `stash` */
static void tg_tconv_flush(const int16_t *block, int32_t cols, int32_t depth, const int8_t *w, const int32_t *prm,
                           int32_t mode, int32_t out_c, int32_t output_offset, int32_t act_min, int32_t act_max,
                           int8_t *const *dst, int32_t step, int8_t *stash)
{
    int32_t j, even = 1;
    for (j = 1; j < cols; ++j)
    {
        even &= dst[j] == dst[0] + j * step;
    }
    if (even)
    {
        tg_conv_gemm_s8(block, cols, depth, w, prm, mode, out_c, output_offset, act_min, act_max, dst[0], step);
        return;
    }
    tg_conv_gemm_s8(block, cols, depth, w, prm, mode, out_c, output_offset, act_min, act_max, stash, out_c);
    for (j = 0; j < cols; ++j)
    {
        tg_tconv_copy(dst[j], stash + j * out_c, out_c);
    }
}

void tg_transpose_conv_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                          const int8_t *weights, int32_t k_h, int32_t k_w, const int32_t *params, int32_t mode,
                          int8_t *output, int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h,
                          int32_t stride_w, int32_t pad_top, int32_t pad_left, int32_t input_zp,
                          int32_t output_offset, int32_t act_min, int32_t act_max, int16_t *scratch)
{
    const int32_t max_depth = tg_tconv_taps(0, k_h, stride_h) * tg_tconv_taps(0, k_w, stride_w) * in_c;
    int8_t *stage = (int8_t *)(void *)(scratch + TG_CONV_BLOCK_INT16(max_depth));
    int8_t *stash = stage + ((max_depth + 3) & ~3);
    const int32_t step = stride_w * out_c; /* between the outputs of one phase along a row */
    tg_tconv_geom_t g;
    int32_t b, ry, rx;
#if !TG_VARIANT(GEMM_ODD_CH)
    if (out_c & 1)
    {
        TG_UNREACHABLE(); /* an odd last channel needs the GEMM_ODD_CH copy, missing from this library */
    }
#endif
    g.in_h = in_h;
    g.in_w = in_w;
    g.in_c = in_c;
    g.zp = input_zp;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *w = weights;
        const int32_t *prm = params;
        int8_t *out = output + b * out_h * out_w * out_c;
        g.image = input + b * in_h * in_w * in_c;
        for (ry = 0; ry < stride_h; ++ry)
        {
            /* output rows oy with (oy + pad_top) % stride_h == ry, the first one oy0 */
            const int32_t oy0 = ((ry - pad_top) % stride_h + stride_h) % stride_h;
            g.ny = tg_tconv_taps(ry, k_h, stride_h);
            for (rx = 0; rx < stride_w; ++rx)
            {
                const int32_t ox0 = ((rx - pad_left) % stride_w + stride_w) % stride_w;
                int8_t *dst[TG_CONV_COLS];
                int32_t oy, ox, j = 0, last_y = 0, last_x = 0;
                g.nx = tg_tconv_taps(rx, k_w, stride_w);
                g.span = g.nx * in_c;
                g.depth = g.ny * g.span;
                if (g.depth == 0)
                {
                    for (oy = oy0; oy < out_h; oy += stride_h)
                    {
                        for (ox = ox0; ox < out_w; ox += stride_w)
                        {
                            tg_tconv_bias_only(prm, mode, out_c, output_offset, act_min, act_max,
                                               out + (oy * out_w + ox) * out_c);
                        }
                    }
                    prm += 4 * out_c;
                    continue;
                }
                for (oy = oy0; oy < out_h; oy += stride_h)
                {
                    /* the window's top input row: (oy + pad_top - ry) / stride_h - (ny - 1) */
                    const int32_t y0 = (oy + pad_top - ry) / stride_h - g.ny + 1;
                    for (ox = ox0; ox < out_w; ox += stride_w)
                    {
                        last_y = y0;
                        last_x = (ox + pad_left - rx) / stride_w - g.nx + 1;
                        tg_tconv_column(&g, last_y, last_x, scratch, j, stage);
                        dst[j] = out + (oy * out_w + ox) * out_c;
                        if (++j == TG_CONV_COLS)
                        {
                            tg_tconv_flush(scratch, j, g.depth, w, prm, mode, out_c, output_offset, act_min, act_max,
                                           dst, step, stash);
                            j = 0;
                        }
                    }
                }
                if (j > 0) /* a short last block repeats its last column */
                {
                    int32_t k;
                    for (k = j; k < TG_CONV_COLS; ++k)
                    {
                        tg_tconv_column(&g, last_y, last_x, scratch, k, stage);
                    }
                    tg_tconv_flush(scratch, j, g.depth, w, prm, mode, out_c, output_offset, act_min, act_max, dst,
                                   step, stash);
                }
                w += (out_c * g.depth + 15) & ~15;
                prm += 4 * out_c;
            }
        }
    }
}
