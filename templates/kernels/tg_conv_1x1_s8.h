/*
 * tg_conv_1x1_s8: int8 pointwise (1x1) convolution, the fast path of tg_conv_s8.
 */
#ifndef TG_CONV_1X1_S8_H
#define TG_CONV_1X1_S8_H

#include <stdint.h>

/**
 * @brief 1x1 convolution without padding or dilation: output pixel (oy, ox) is the GEMM of input
 * pixel (oy * stride_h, ox * stride_w), which is already a contiguous column (no im2col gathering).
 *
 * Layouts: input NHWC [batches, in_h, in_w, in_c], output NHWC [batches, out_h, out_w, out_c];
 * filter [out_c, in_c] in tg_conv_gemm_s8's layout; params: biases (input offset folded in) and
 * requantization values per channel pair (tg_conv_gemm_s8.h), `mode` TG_RQ_*; act_min..act_max within
 * -128..127.
 *
 * Order: output pixels in raster order, in blocks of TG_CONV_1X1_BLOCK_PIXELS consecutive pixels (the
 * last block may hold one); a block's input pixels are copied into the scratch before any of its
 * outputs is written.
 *
 * Specialisations (TG_VARIANT, selected per library: conv_1x1_variants() in tinygen/lowering/mac_ops.py
 * mirrors tg_conv_1x1_s8.c): CONV1X1_GROUPED (in_c % 4 == 0) or CONV1X1_TAIL, plus tg_conv_gemm_s8's
 * GEMM_*, and CONV1X1_MIXED (below). Eight input channels take tg_conv_1x1_c8_s8 instead.
 *
 * Mixed layers (mode TG_RQ_MIXED, specialisation CONV1X1_MIXED) with in_c % 4 == 0 and an even out_c are split: the
 * GEMM runs every channel pair in the fast form (TG_RQ_FAST_FULL when act_min..act_max is -128..127, else
 * TG_RQ_FAST; the general channels hold stand-in values {0, 0, 1} there), then each block's few general channels
 * are computed again and overwritten, from params[4 * out_c..]: their count n, then per channel its index, multiplier
 * and shift (built by conv_1x1_mixed_split() in tinygen/lowering/mac_ops.py). Other mixed layers run the GEMM's
 * per-channel copy (GEMM_ANY).
 *
 * In place: with stride 1 and out_c <= in_c, `output` may equal `input`: each block of pixels is
 * copied into the scratch before its outputs are written, and those outputs end before the next block's
 * input.
 *
 * @param scratch TG_CONV_BLOCK_INT16(in_c) int16 (one column block, tg_conv_gemm_s8.h; 4-byte aligned), not
 *                overlapping input or output
 */
#define TG_CONV_1X1_BLOCK_PIXELS 3 /* TG_CONV_COLS of tg_conv_gemm_s8.h */
void tg_conv_1x1_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                    const int8_t *filter, const int32_t *params, int32_t mode, int8_t *output,
                    int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w,
                    int32_t output_offset, int32_t act_min, int32_t act_max, int16_t *scratch);

#endif /* TG_CONV_1X1_S8_H */
