/*
 * tg_conv_s8: general int8 2-D convolution (any kernel size, stride, dilation and padding).
 */
#ifndef TG_CONV_S8_H
#define TG_CONV_S8_H

#include <stdint.h>

/**
 * @brief Convolution as im2col + GEMM (tg_conv_gemm_s8), in blocks of two output pixels.
 *
 * Layouts: input NHWC [batches, in_h, in_w, in_c], output NHWC [batches, out_h, out_w, out_c];
 * filter OHWI [out_c, k_h * k_w * in_c] in tg_conv_gemm_s8's layout. Input pixel (y, x) of output
 * (oy, ox) and tap (ky, kx) is y = oy * stride_h - pad_top + ky * dil_h,
 * x = ox * stride_w - pad_left + kx * dil_w; taps outside the image read `input_zp` (real 0.0),
 * which is what TFLite Micro's skipped taps add once the input offset is folded into the bias.
 *
 * Order (in-place convolution relies on it): output pixels are computed in raster order (batch, row,
 * column) in blocks of TG_CONV_BLOCK_PIXELS consecutive pixels (the last block of an image may hold
 * one); all the input a block needs is copied into the scratch before any of its outputs is written.
 *
 * im2col: with in_c % 4 == 0 every tap is whole groups of four and goes straight into the int16
 * column block; otherwise each column is first gathered as int8 (kernel rows word by word) into the
 * staging area, then widened. Specialisations (TG_VARIANT, selected per library: conv_variants() in
 * tinygen/lowering/mac_ops.py mirrors tg_conv_s8.c): CONV_GROUPED, CONV_STAGED (those two im2col paths),
 * CONV_DILATED (border windows with dil_w != 1), plus tg_conv_gemm_s8's GEMM_* ones.
 *
 * @param params      bias and requantization values per channel pair (tg_conv_gemm_s8.h), `mode`
 * @param input_zp    input zero point, -128..127
 * @param output_offset output zero point, -128..127
 * @param act_min     lower clamp, -128..act_max (fused activation)
 * @param act_max     upper clamp, act_min..127
 * @param scratch     TG_CONV_BLOCK_INT16(k_h * k_w * in_c) int16 (one column block, tg_conv_gemm_s8.h;
 *                    4-byte aligned), then k_h * k_w * in_c bytes (the int8 staging column, used when
 *                    in_c % 4 != 0)
 */
#define TG_CONV_BLOCK_PIXELS 3 /* TG_CONV_COLS of tg_conv_gemm_s8.h */
void tg_conv_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c, const int8_t *filter,
                int32_t k_h, int32_t k_w, const int32_t *params, int32_t mode, int8_t *output,
                int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t input_zp, int32_t output_offset,
                int32_t act_min, int32_t act_max, int16_t *scratch);

#endif /* TG_CONV_S8_H */
