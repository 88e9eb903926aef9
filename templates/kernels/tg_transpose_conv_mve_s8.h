/*
 * tg_transpose_conv_mve_s8: int8 2-D transposed convolution for Helium (MVE, Cortex-M55), bit-exact with
 * TFLite Micro's TRANSPOSE_CONV.
 *
 * The same decomposition as tg_transpose_conv_s8 (see its header): the outputs of phase (ry, rx) are an
 * ordinary stride-1 convolution of the input with the phase's flipped ny x nx sub-kernel. Per output pixel
 * the window (ny * nx * in_c int8, rows and columns outside the image = the input zero point, then zeros up
 * to a multiple of 16) is copied into `scratch` and multiplied by the phase's weights in tg_mve_s8.h's quad
 * layout (VMLADAVA.S8, 16 products per instruction), each quad requantized by tg_mve_requant_vec.
 *
 * @param weights  per phase with taps (ry outer, rx inner): the sub-kernel [out_c][ny][nx][in_c] in the
 *                 quad layout (depth padded to d16 = ny * nx * in_c rounded up to 16)
 * @param params   per phase (all of them): quad params {bias[4], multiplier[4], left[4], -right[4]}, the
 *                 bias folded as bias + input_offset * sum(sub-kernel of the channel) (tg_mve_s8.h)
 * @param input_zp the input zero point (pads), -128..127
 * @param has_left whether any shift is to the left (tg_mve_requant_vec)
 * @param scratch  the largest phase's d16 bytes
 * The output must not overlap the input.
 */
#ifndef TG_TRANSPOSE_CONV_MVE_S8_H
#define TG_TRANSPOSE_CONV_MVE_S8_H

#include <stdint.h>

void tg_transpose_conv_mve_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                              const int8_t *weights, int32_t k_h, int32_t k_w, const int32_t *params,
                              int8_t *output, int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h,
                              int32_t stride_w, int32_t pad_top, int32_t pad_left, int32_t input_zp,
                              int32_t out_offset, int32_t act_min, int32_t act_max, int32_t has_left,
                              int8_t *scratch);

#endif /* TG_TRANSPOSE_CONV_MVE_S8_H */
