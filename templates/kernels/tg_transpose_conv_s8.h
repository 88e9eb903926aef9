/*
 * tg_transpose_conv_s8: int8 2-D transposed convolution (TFLite's TRANSPOSE_CONV, bit-exact with TFLite Micro).
 */
#ifndef TG_TRANSPOSE_CONV_S8_H
#define TG_TRANSPOSE_CONV_S8_H

#include <stdint.h>

/**
 * @brief Transposed convolution as stride_h * stride_w ordinary convolutions (one per output phase).
 *
 * TFLite Micro scatters: input pixel (iy, ix) and tap (ky, kx) add (x + input_offset) * w to output pixel
 * (iy * stride_h - pad_top + ky, ix * stride_w - pad_left + kx) when it lies inside the output. Output row oy
 * receives exactly the taps ky = ry, ry + stride_h, ... (ry = (oy + pad_top) % stride_h), from the input rows
 * iy = q, q - 1, ... (q = (oy + pad_top) / stride_h); columns alike. So the outputs of one phase (ry, rx) are
 * an ordinary stride-1 convolution of the input with the phase's sub-kernel: ny = ceil((k_h - ry) / stride_h)
 * by nx = ceil((k_w - rx) / stride_w) taps, flipped (window row m = input row q - ny + 1 + m takes tap
 * ky = ry + (ny - 1 - m) * stride_h), input rows outside the image holding the input zero point. Per phase
 * this kernel builds tg_conv_gemm_s8's int16 column block (TG_CONV_COLS output pixels of the phase, raster
 * order) and runs that GEMM (SMLAD over channel pairs on the DSP path), writing the phase's interleaved
 * outputs (stride_w * out_c bytes apart; a block spanning two rows goes through a small stash).
 *   acc[c] = bias_p[c] + sum over the window of x * w_p[c]   with bias_p[c] = bias[c] + input_offset * sum(w_p[c])
 * equals TFLite Micro's int32 sum (pads: (zp + input_offset) * w = 0; the lowering checked |bias| + 255 *
 * sum|w[c]| <= INT32_MAX). Then out = clamp(requant(acc) + output_offset) per channel (tg_requant_fast.h).
 * A phase without taps (stride > filter) is requant(bias) everywhere.
 *
 * Layouts: input NHWC [batches, in_h, in_w, in_c], output NHWC [batches, out_h, out_w, out_c].
 *
 * @param weights   per phase (ry outer, rx inner) with depth_p = ny * nx * in_c > 0: the sub-kernel
 *                  [out_c][ny][nx][in_c] in tg_conv_gemm_s8's channel-pair layout, then zeros to a
 *                  multiple of 16 bytes (16-byte aligned array: every phase starts 16-byte aligned)
 * @param params    per phase (all of them): tg_conv_gemm_s8's params (4 * out_c int32: per channel pair
 *                  the two folded biases, then the two channels' three requantization values)
 * @param mode      TG_RQ_GENERAL, TG_RQ_FAST or TG_RQ_FAST_FULL (tg_requant_fast.h)
 * @param pad_top   TFLite Micro's padding_values.height (from the output size), >= 0
 * @param pad_left  TFLite Micro's padding_values.width, >= 0
 * @param input_zp  the input zero point (minus TFLite's input_offset), -128..127
 * @param output_offset output zero point, -128..127
 * @param act_min   lower clamp, -128..act_max (fused activation)
 * @param act_max   upper clamp, act_min..127
 * @param scratch   TG_CONV_BLOCK_INT16(D) int16, then D rounded up to 4 bytes, then TG_CONV_COLS * out_c bytes,
 *                  D = ceil(k_h / stride_h) * ceil(k_w / stride_w) * in_c (4-byte aligned)
 * The output must not overlap the input.
 */
void tg_transpose_conv_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                          const int8_t *weights, int32_t k_h, int32_t k_w, const int32_t *params, int32_t mode,
                          int8_t *output, int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h,
                          int32_t stride_w, int32_t pad_top, int32_t pad_left, int32_t input_zp,
                          int32_t output_offset, int32_t act_min, int32_t act_max, int16_t *scratch);

#endif /* TG_TRANSPOSE_CONV_S8_H */
