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
 * filter [out_c, in_c] in tg_conv_gemm_s8's pair-interleaved layout. `bias` has the input offset
 * folded in (bias - input_zp * sum(w)); rq/mode: tg_requant_fast.h; act_min..act_max within -128..127.
 *
 * In place: with stride 1 and out_c <= in_c, `output` may equal `input`: each pixel pair is copied
 * into the scratch before its outputs are written, and those outputs end before the next pair's input.
 *
 * @param scratch 2 * in_c int16 (one column pair), not overlapping input or output
 */
void tg_conv_1x1_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                    const int8_t *filter, const int32_t *bias, const int32_t *rq, int32_t mode, int8_t *output,
                    int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w,
                    int32_t output_offset, int32_t act_min, int32_t act_max, int16_t *scratch);

#endif /* TG_CONV_1X1_S8_H */
