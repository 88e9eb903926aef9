/*
 * tg_conv_1x1_s8: pointwise convolution as a GEMM over blocks of input pixels (see tg_conv_1x1_s8.h).
 */
#include "tg_conv_1x1_s8.h"

#include "tg_conv_gemm_s8.h"

/*
 * The specialisations a library compiles (TG_VARIANT, tg_common.h), chosen per call by conv_1x1_variants()
 * in tinygen/lowering/mac_ops.py, which mirrors these conditions exactly:
 *   CONV1X1_GROUPED  in_c % 4 == 0: pixels go into the column block group by group
 *   CONV1X1_TAIL     in_c % 4 != 0: whole columns with their tails (this path takes any in_c, so it is the
 *                    one taken when both are compiled and in_c % 4 != 0, and the only one when alone)
 */
#if !(TG_VARIANT(CONV1X1_GROUPED) || TG_VARIANT(CONV1X1_TAIL))
#error "tg_conv_1x1_s8: no specialisation selected (TG_VARIANT_CONV1X1_*): see conv_1x1_variants() in mac_ops.py"
#endif

/* input pixel q of the output raster (any stride) */
static const int8_t *tg_conv_1x1_pixel(const int8_t *image, int32_t q, int32_t in_w, int32_t in_c, int32_t out_w,
                                       int32_t stride_h, int32_t stride_w)
{
    const int32_t oy = q / out_w;
    const int32_t ox = q - oy * out_w;
    return image + (oy * stride_h * in_w + ox * stride_w) * in_c;
}

/* the block of output pixels p .. p + cols - 1 (a short last block repeats its last pixel) into the scratch, column by
   column */
static void tg_conv_1x1_gather(int16_t *scratch, const int8_t *image, int32_t p, int32_t cols, int32_t in_w,
                               int32_t in_c, int32_t out_w, int32_t stride_h, int32_t stride_w, const int dense,
                               const int grouped)
{
    int32_t j;
    for (j = 0; j < TG_CONV_COLS; ++j)
    {
        const int32_t q = p + TG_MIN(j, cols - 1);
        const int8_t *x = dense ? image + q * in_c : tg_conv_1x1_pixel(image, q, in_w, in_c, out_w, stride_h, stride_w);
        if (grouped)
        {
            TG_TRACE_VARIANT(CONV1X1_GROUPED);
            tg_pair_put_groups(scratch, j, 0, x, in_c);
        }
        else
        {
            TG_TRACE_VARIANT(CONV1X1_TAIL);
            tg_pair_put_column(scratch, j, in_c, x);
        }
    }
}

void tg_conv_1x1_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                    const int8_t *filter, const int32_t *params, int32_t mode, int8_t *output,
                    int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w,
                    int32_t output_offset, int32_t act_min, int32_t act_max, int16_t *scratch)
{
    const int32_t pixels = out_h * out_w;
    /* stride 1: the input pixels are consecutive columns */
#if !TG_VARIANT(GEMM_ODD_CH)
    if (out_c & 1)
    {
        TG_UNREACHABLE(); /* an odd last channel needs the GEMM_ODD_CH copy, missing from this library */
    }
#endif
    const int dense = stride_h == 1 && stride_w == 1;
#if !TG_VARIANT(CONV1X1_TAIL)
    const int grouped = 1; /* in_c % 4 == 0 in every call (conv_1x1_variants) */
#elif !TG_VARIANT(CONV1X1_GROUPED)
    const int grouped = 0; /* the column path takes any in_c */
#else
    const int grouped = (in_c & 3) == 0;
#endif
    int32_t b;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w * in_c;
        int8_t *out = output + b * pixels * out_c;
        int32_t p = 0;
        /* the block's pixels are all read into the scratch before any output is written (in-place safe) */
#if TG_DSP
        if (dense && grouped)
        {
            /* whole blocks of three consecutive pixels: one pass over their groups */
            for (; p + TG_CONV_COLS <= pixels; p += TG_CONV_COLS)
            {
                TG_TRACE_VARIANT(CONV1X1_GROUPED);
                tg_pair_put_consecutive(scratch, image + p * in_c, in_c);
                tg_conv_gemm_s8(scratch, TG_CONV_COLS, in_c, filter, params, mode, out_c, output_offset, act_min,
                                act_max, out + p * out_c, out_c);
            }
        }
#endif
        for (; p < pixels; p += TG_CONV_COLS)
        {
            const int32_t cols = TG_MIN(pixels - p, TG_CONV_COLS);
            tg_conv_1x1_gather(scratch, image, p, cols, in_w, in_c, out_w, stride_h, stride_w, dense, grouped);
            tg_conv_gemm_s8(scratch, cols, in_c, filter, params, mode, out_c, output_offset, act_min, act_max,
                            out + p * out_c, out_c);
        }
    }
}
