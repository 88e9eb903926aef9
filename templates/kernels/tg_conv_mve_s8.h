/*
 * tg_conv_mve_s8: int8 conv2d (NHWC input, any kernel size, stride, dilation, padding) for Helium (MVE).
 *
 * Output pixels in raster order (batch, row, column), in blocks of TG_CONV_MVE_PIXELS: the kernel first
 * copies each pixel's whole input window (im2col, kh * kw * in_c values, padded taps = pad_value, the
 * input zero point; a window of at most 64 values within 256 bytes of its first, inside the image, by
 * VLDRB gathers) into its column of `scratch`, then computes the block's outputs from the columns
 * (tg_mve_gemm_columns in tg_mve_s8.h, weights in its quad layout, params per quad; in optimized target
 * builds with out_c a multiple of 4 the column pairs by one assembly routine of tg_conv_mve_s8.c, with single
 * rounding where every channel shifts right). Windows inside the image are copied a run of output pixels at a
 * time. So it reads all
 * the input a block needs before writing the block's outputs: it may run over its own input as
 * tinygen/lowering/window_lag.py allows. scratch: TG_CONV_MVE_PIXELS columns of d16 bytes, d16 =
 * kh * kw * in_c rounded up to 16. The input offset is folded into the bias.
 */
#ifndef TG_CONV_MVE_S8_H
#define TG_CONV_MVE_S8_H

#include <stdint.h>

/* output pixels per block (scratch holds one im2col column per pixel) */
#define TG_CONV_MVE_PIXELS 8

void tg_conv_mve_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                    const int8_t *weights, int32_t kh, int32_t kw, const int32_t *params, int8_t *output,
                    int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w,
                    int32_t dil_h, int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t pad_value,
                    int32_t out_offset, int32_t act_min, int32_t act_max, int32_t has_left, int8_t *scratch);

#endif /* TG_CONV_MVE_S8_H */
