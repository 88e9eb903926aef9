/*
 * tg_conv_1x1_c8_s8: int8 pointwise (1x1) convolution of eight input channels.
 */
#ifndef TG_CONV_1X1_C8_S8_H
#define TG_CONV_1X1_C8_S8_H

#include <stdint.h>

/**
 * @brief tg_conv_1x1_s8 for in_c == 8 (the same weight and params layouts, the same in-place rule), faster there:
 * with eight input channels the GEMM's column blocks do not pay (every channel pair's six requantizations and
 * its setup for 48 MACs). Here blocks of TG_CONV_1X1_C8_PIXELS output pixels are widened into the scratch (eight
 * int16 per pixel, each group of four in tg_conv_gemm_s8.h's slot order a0 a2 a1 a3 on the DSP path), then channel
 * by channel its eight weights (two words, four SXTB16 halves on the DSP path) and its requantization values stay in
 * registers while every pixel of the block takes four SMLADs and one requantization. The form is the channel's
 * own (the fast one, a single SSAT when act_min..act_max is -128..127, or the general one: tg_rq_chan), so every
 * mode, mixed layers included, runs the same loop. On the DSP path a fast channel's requantization is one SMMLAR
 * (double rounding, on doubled sums) or SMMLA (single rounding) and a shift, and the full-range loop is an asm loop
 * of two pixels per step scheduled for the Cortex-M7's dual issue (tg_conv_1x1_c8_s8.c).
 *
 * Layouts: input NHWC [batches, in_h, in_w, 8], output NHWC [batches, out_h, out_w, out_c]; filter and params as
 * tg_conv_1x1_s8's (tg_conv_gemm_s8.h: per channel pair its two groups, c's four bytes then c + 1's; an odd last
 * channel's natural row; params per pair bias c, bias c + 1, c's three requantization values, c + 1's; an odd last
 * channel's bias and values); output pixel (oy, ox) reads input pixel (oy * stride_h, ox * stride_w).
 *
 * In place: with stride 1 and out_c <= 8, `output` may equal `input`: a block's pixels are all in the scratch before
 * any of its outputs is written, and those end before the next block's input.
 *
 * @param scratch 8 * TG_CONV_1X1_C8_PIXELS int16 (4-byte aligned), not overlapping input or output
 */
#define TG_CONV_1X1_C8_PIXELS 16
void tg_conv_1x1_c8_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, const int8_t *filter,
                       const int32_t *params, int8_t *output, int32_t out_h, int32_t out_w, int32_t out_c,
                       int32_t stride_h, int32_t stride_w, int32_t output_offset, int32_t act_min, int32_t act_max,
                       int16_t *scratch);

#endif /* TG_CONV_1X1_C8_S8_H */
