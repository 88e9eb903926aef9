/*
 * tg_conv_s8: general int8 convolution, im2col into a column block + tg_conv_gemm_s8 (see tg_conv_s8.h).
 */
#include "tg_conv_s8.h"

#include <string.h>

#include "tg_conv_gemm_s8.h"

/*
 * The specialisations a library compiles (TG_VARIANT, tg_common.h), chosen per call by conv_variants() in
 * tinygen/lowering/mac_ops.py, which mirrors these conditions exactly:
 *   CONV_GROUPED  in_c % 4 == 0: taps go straight into the column block
 *   CONV_STAGED   in_c % 4 != 0: columns are gathered as int8 first (this path takes any in_c, so it is
 *                 the one taken when both are compiled and in_c % 4 != 0, and the only one when alone)
 *   CONV_DILATED  dil_w != 1: border windows tap by tap (without it, kernel rows are spans: dil_w == 1)
 */
#if !(TG_VARIANT(CONV_GROUPED) || TG_VARIANT(CONV_STAGED))
#error "tg_conv_s8: no im2col specialisation selected (TG_VARIANT_CONV_*): see conv_variants() in mac_ops.py"
#endif

#if TG_VARIANT(CONV_STAGED)
/* n bytes from src to dst (n small: a kernel row): word by word, the last word ending at byte n (overlapping
   the one before it when n % 4 != 0), so no byte loop; fewer than four bytes one by one */
TG_INLINE void tg_conv_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    uint32_t v;
    if (n >= 4)
    {
        int32_t i;
        for (i = 4; i < n; i += 4)
        {
            memcpy(&v, src, sizeof v); /* one unaligned LDR / STR each on Cortex-M3 and up */
            memcpy(dst, &v, sizeof v);
            src += 4;
            dst += 4;
        }
        memcpy(&v, src + (n - i), sizeof v);
        memcpy(dst + (n - i), &v, sizeof v);
        return;
    }
    if (n >= 2)
    {
        dst[0] = src[0];
        dst[1] = src[1];
    }
    if (n & 1)
    {
        dst[n - 1] = src[n - 1];
    }
}

static void tg_conv_pad(int8_t *dst, int32_t n, int8_t pad)
{
    for (; n > 0; --n)
    {
        *dst++ = pad;
    }
}
#endif

/* taps inside the image of a kernel row starting at input column x0 (dilation 1): left..k_w-right-1 */
typedef struct
{
    int32_t left, inside, right;
} tg_conv_row_split;

static tg_conv_row_split tg_conv_split(int32_t x0, int32_t k_w, int32_t in_w)
{
    tg_conv_row_split s;
    s.left = x0 < 0 ? TG_MIN(-x0, k_w) : 0;
    s.right = TG_MIN(TG_MAX(x0 + k_w - in_w, 0), k_w - s.left);
    s.inside = k_w - s.left - s.right;
    return s;
}

#if TG_VARIANT(CONV_GROUPED)
/*
 * im2col of the output pixel whose window starts at input (y0, x0) into column j of the block, when
 * in_c % 4 == 0: every tap is whole groups, so spans and pads go straight in group by group.
 */
static void tg_conv_im2col_groups(const int8_t *image, int32_t in_h, int32_t in_w, int32_t in_c, int32_t k_h,
                                  int32_t k_w, int32_t y0, int32_t x0, int32_t dil_h, int32_t dil_w,
                                  int32_t input_zp, int16_t *pair, int32_t j)
{
    const int32_t span = k_w * in_c;
    const tg_conv_row_split s = tg_conv_split(x0, k_w, in_w);
    int32_t ky, k = 0;
    (void)dil_w; /* used by CONV_DILATED */
    TG_TRACE_VARIANT(CONV_GROUPED);
    for (ky = 0; ky < k_h; ++ky, k += span)
    {
        const int32_t y = y0 + ky * dil_h;
        /* the row's address only once it is known to be inside the image */
        const int8_t *row = image + (y < 0 || y >= in_h ? 0 : y * in_w * in_c);
        if (y < 0 || y >= in_h)
        {
            tg_pair_fill_groups(pair, j, k, span, input_zp);
        }
#if TG_VARIANT(CONV_DILATED)
        else if (dil_w != 1)
        {
            int32_t kx;
            TG_TRACE_VARIANT(CONV_DILATED);
            for (kx = 0; kx < k_w; ++kx)
            {
                const int32_t x = x0 + kx * dil_w;
                if (x >= 0 && x < in_w)
                {
                    tg_pair_put_groups(pair, j, k + kx * in_c, row + x * in_c, in_c);
                }
                else
                {
                    tg_pair_fill_groups(pair, j, k + kx * in_c, in_c, input_zp);
                }
            }
        }
#endif
        else
        {
            tg_pair_fill_groups(pair, j, k, s.left * in_c, input_zp);
            tg_pair_put_groups(pair, j, k + s.left * in_c, row + (x0 + s.left) * in_c, s.inside * in_c);
            tg_pair_fill_groups(pair, j, k + (k_w - s.right) * in_c, s.right * in_c, input_zp);
        }
    }
}
#endif

#if TG_VARIANT(CONV_STAGED)
/*
 * im2col of the output pixel whose window starts at input (y0, x0) as k_h * k_w * in_c int8 values
 * into stage (natural order), for any in_c: kernel rows are copied word by word, pads byte by byte.
 */
static void tg_conv_im2col_staged(const int8_t *image, int32_t in_h, int32_t in_w, int32_t in_c, int32_t k_h,
                                  int32_t k_w, int32_t y0, int32_t x0, int32_t dil_h, int32_t dil_w,
                                  int32_t input_zp, int8_t *stage)
{
    const int8_t pad = (int8_t)input_zp;
    const int32_t span = k_w * in_c;
    const tg_conv_row_split s = tg_conv_split(x0, k_w, in_w);
    int8_t *dst = stage;
    int32_t ky;
    (void)dil_w; /* used by CONV_DILATED */
    TG_TRACE_VARIANT(CONV_STAGED);
    for (ky = 0; ky < k_h; ++ky, dst += span)
    {
        const int32_t y = y0 + ky * dil_h;
        /* the row's address only once it is known to be inside the image */
        const int8_t *row = image + (y < 0 || y >= in_h ? 0 : y * in_w * in_c);
        if (y < 0 || y >= in_h)
        {
            tg_conv_pad(dst, span, pad);
        }
#if TG_VARIANT(CONV_DILATED)
        else if (dil_w != 1)
        {
            int32_t kx;
            TG_TRACE_VARIANT(CONV_DILATED);
            for (kx = 0; kx < k_w; ++kx)
            {
                const int32_t x = x0 + kx * dil_w;
                if (x >= 0 && x < in_w)
                {
                    tg_conv_copy(dst + kx * in_c, row + x * in_c, in_c);
                }
                else
                {
                    tg_conv_pad(dst + kx * in_c, in_c, pad);
                }
            }
        }
#endif
        else
        {
            tg_conv_pad(dst, s.left * in_c, pad);
            tg_conv_copy(dst + s.left * in_c, row + (x0 + s.left) * in_c, s.inside * in_c);
            tg_conv_pad(dst + (k_w - s.right) * in_c, s.right * in_c, pad);
        }
    }
}
#endif

/*
 * im2col of an output pixel whose window lies inside the image (dilation 1 across): its k_h kernel
 * rows are spans of `span` values, `row_step` bytes apart from `src` on. With in_c % 4 == 0 (grouped)
 * they go straight into column j of the block, otherwise they are gathered as int8 into stage.
 */
static void tg_conv_im2col_inside(const int8_t *src, int32_t row_step, int32_t k_h, int32_t span, int grouped,
                                  int16_t *pair, int32_t j, int8_t *stage)
{
    int32_t ky;
#if TG_VARIANT(CONV_GROUPED)
    if (grouped)
    {
        TG_TRACE_VARIANT(CONV_GROUPED);
        for (ky = 0; ky < k_h; ++ky, src += row_step)
        {
            tg_pair_put_groups(pair, j, ky * span, src, span);
        }
        return;
    }
#endif
#if TG_VARIANT(CONV_STAGED)
    TG_TRACE_VARIANT(CONV_STAGED);
    for (ky = 0; ky < k_h; ++ky, src += row_step)
    {
        tg_conv_copy(stage + ky * span, src, span);
    }
#else
    TG_UNREACHABLE(); /* dead: without CONV_STAGED, grouped is 1 (tg_conv_s8) */
#endif
    (void)grouped;
    (void)pair;
    (void)j;
    (void)stage;
}

void tg_conv_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c, const int8_t *filter,
                int32_t k_h, int32_t k_w, const int32_t *params, int32_t mode, int8_t *output,
                int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t input_zp, int32_t output_offset,
                int32_t act_min, int32_t act_max, int16_t *scratch)
{
    const int32_t depth = k_h * k_w * in_c;
    const int32_t pixels = out_h * out_w;
#if !TG_VARIANT(GEMM_ODD_CH)
    if (out_c & 1)
    {
        TG_UNREACHABLE(); /* an odd last channel needs the GEMM_ODD_CH copy, missing from this library */
    }
#endif
#if !TG_VARIANT(CONV_STAGED)
    const int grouped = 1; /* in_c % 4 == 0 in every call (conv_variants) */
#elif !TG_VARIANT(CONV_GROUPED)
    const int grouped = 0; /* the staged path takes any in_c */
#else
    const int grouped = (in_c & 3) == 0;
#endif
    const int32_t y_extent = (k_h - 1) * dil_h + 1; /* input rows and columns a window spans */
    const int32_t x_extent = (k_w - 1) * dil_w + 1;
    /* the int8 staging column follows the column block (a multiple of 8 bytes) */
    int8_t *stage = (int8_t *)(void *)(scratch + TG_CONV_BLOCK_INT16(depth));
    int32_t b;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w * in_c;
        int8_t *out = output + b * pixels * out_c;
        int32_t p;
        /* TG_CONV_COLS output pixels per block, in raster order; all columns are built before any output
           of the block is written (a short last block repeats its last pixel) */
        for (p = 0; p < pixels; p += TG_CONV_COLS)
        {
            const int32_t cols = TG_MIN(pixels - p, TG_CONV_COLS);
            int32_t j;
            for (j = 0; j < TG_CONV_COLS; ++j)
            {
                const int32_t q = p + TG_MIN(j, cols - 1);
                const int32_t oy = q / out_w;
                const int32_t y0 = oy * stride_h - pad_top;
                const int32_t x0 = (q - oy * out_w) * stride_w - pad_left;
                if (dil_w == 1 && y0 >= 0 && y0 + y_extent <= in_h && x0 >= 0 && x0 + x_extent <= in_w)
                {
                    tg_conv_im2col_inside(image + (y0 * in_w + x0) * in_c, dil_h * in_w * in_c, k_h, k_w * in_c,
                                          grouped, scratch, j, stage);
                }
#if TG_VARIANT(CONV_GROUPED)
                else if (grouped)
                {
                    tg_conv_im2col_groups(image, in_h, in_w, in_c, k_h, k_w, y0, x0, dil_h, dil_w, input_zp, scratch,
                                          j);
                }
#endif
#if TG_VARIANT(CONV_STAGED)
                else
                {
                    tg_conv_im2col_staged(image, in_h, in_w, in_c, k_h, k_w, y0, x0, dil_h, dil_w, input_zp, stage);
                }
                if (!grouped)
                {
                    tg_pair_put_column(scratch, j, depth, stage);
                }
#else
                else
                {
                    TG_UNREACHABLE(); /* dead: without CONV_STAGED, grouped is 1 */
                }
#endif
            }
            tg_conv_gemm_s8(scratch, cols, depth, filter, params, mode, out_c, output_offset, act_min, act_max,
                            out + p * out_c, out_c);
        }
    }
}
