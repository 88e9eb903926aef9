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
 *   CONV1X1_MIXED    mode TG_RQ_MIXED, in_c % 4 == 0 and out_c even: the split of a mixed layer (tg_conv_1x1_s8.h)
 */
#if !(TG_VARIANT(CONV1X1_GROUPED) || TG_VARIANT(CONV1X1_TAIL))
#error "tg_conv_1x1_s8: no specialisation selected (TG_VARIANT_CONV1X1_*): see conv_1x1_variants() in mac_ops.py"
#endif

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
        const int8_t *x =
            dense ? image + q * in_c : tg_pointwise_pixel(image, q, in_w, in_c, out_w, stride_h, stride_w);
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

#if TG_VARIANT(CONV1X1_MIXED)
/* whether a call takes the split of a mixed layer (tg_conv_1x1_s8.h; conv_1x1_mixed_split() in mac_ops.py) */
#define TG_CONV_1X1_SPLIT(mode, in_c, out_c) ((mode) == TG_RQ_MIXED && ((in_c) & 3) == 0 && ((out_c) & 1) == 0)

/*
 * The general channels of a split mixed layer for the block's first `cols` columns (the GEMM has written stand-ins
 * there): list = {n, then per channel c, multiplier, shift}, after the GEMM's 4 * out_c params. Channel c's groups are
 * the pair's (c & ~1) 8-byte groups, its four bytes first when c is even (tg_conv_gemm_s8.h); its bias is the pair's.
 */
static void tg_conv_1x1_general(const int16_t *block, int32_t cols, int32_t depth, const int8_t *filter,
                                const int32_t *params, const int32_t *list, int32_t output_offset, int32_t act_min,
                                int32_t act_max, int8_t *out, int32_t out_stride)
{
    const int32_t n = list[0];
    int32_t k;
    for (k = 0, list += 1; k < n; ++k, list += 3)
    {
        const int32_t c = list[0];
        const int32_t rq[3] = {list[1], list[2], 0}; /* the general form (tg_rq_chan) */
        const int8_t *w = filter + (c >> 1) * 2 * depth + 4 * (c & 1);
        const int16_t *x = block;
        const int16_t *const x_end = block + TG_CONV_COLS * depth;
        int32_t acc[TG_CONV_COLS];
        int32_t j;
        for (j = 0; j < TG_CONV_COLS; ++j)
        {
            acc[j] = params[(c >> 1) * 8 + (c & 1)];
        }
        for (; x != x_end; x += 4 * TG_CONV_COLS, w += 8)
        {
#if TG_DSP
            const uint32_t wv = tg_load32(w);
            const int32_t w02 = tg_sxtb16(wv), w13 = tg_sxtb16_ror8(wv);
            for (j = 0; j < TG_CONV_COLS; ++j)
            {
                acc[j] = tg_smlad((int32_t)tg_load32(x + 4 * j), w02, acc[j]);
                acc[j] = tg_smlad((int32_t)tg_load32(x + 4 * j + 2), w13, acc[j]);
            }
#else
            int32_t r;
            for (j = 0; j < TG_CONV_COLS; ++j)
            {
                for (r = 0; r < 4; ++r)
                {
                    acc[j] += x[4 * j + r] * w[r];
                }
            }
#endif
        }
        for (j = 0; j < cols; ++j)
        {
            out[j * out_stride + c] = tg_rq_chan(acc[j], rq, output_offset, act_min, act_max);
        }
    }
}
#endif

/* after a block's GEMM: a split mixed layer's general channels */
#if TG_VARIANT(CONV1X1_MIXED)
#define TG_CONV_1X1_GENERAL(cols)                                                                              \
    do                                                                                                         \
    {                                                                                                          \
        if (general != (const int32_t *)0)                                                                     \
        {                                                                                                      \
            tg_conv_1x1_general(scratch, (cols), in_c, filter, params, general, output_offset, act_min,       \
                                act_max, out + p * out_c, out_c);                                              \
        }                                                                                                      \
    } while (0)
#else
#define TG_CONV_1X1_GENERAL(cols) ((void)general)
#endif

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
    int32_t gemm_mode = mode;
    const int32_t *general = (const int32_t *)0;
#if TG_VARIANT(CONV1X1_MIXED)
    if (TG_CONV_1X1_SPLIT(mode, in_c, out_c))
    {
        /* the pairs in the fast form (the general channels' values are stand-ins), then the general channels */
        TG_TRACE_VARIANT(CONV1X1_MIXED);
        gemm_mode = act_min == -128 && act_max == 127 ? TG_RQ_FAST_FULL : TG_RQ_FAST;
        general = params + 4 * out_c;
    }
#endif
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
                tg_conv_gemm_s8(scratch, TG_CONV_COLS, in_c, filter, params, gemm_mode, out_c, output_offset, act_min,
                                act_max, out + p * out_c, out_c);
                TG_CONV_1X1_GENERAL(TG_CONV_COLS);
            }
        }
#endif
        for (; p < pixels; p += TG_CONV_COLS)
        {
            const int32_t cols = TG_MIN(pixels - p, TG_CONV_COLS);
            tg_conv_1x1_gather(scratch, image, p, cols, in_w, in_c, out_w, stride_h, stride_w, dense, grouped);
            tg_conv_gemm_s8(scratch, cols, in_c, filter, params, gemm_mode, out_c, output_offset, act_min, act_max,
                            out + p * out_c, out_c);
            TG_CONV_1X1_GENERAL(cols);
        }
    }
}
