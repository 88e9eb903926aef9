/* tinygen int8 bilinear resize (TFLite Micro's RESIZE_BILINEAR for int8, ResizeBilinearInteger, bit-exact). */
#ifndef TG_RESIZE_BILINEAR_S8_H
#define TG_RESIZE_BILINEAR_S8_H

#include <stdint.h>

/**
 * @brief Resizes NHWC images bilinearly with TFLite's 10-bit fixed-point weights.
 *
 * Output row y mixes input rows at byte offsets rows[2y] and rows[2y + 1] with weights 1024 - row_frac[y] and
 * row_frac[y]; output column x mixes input pixels at byte offsets cols[2x] and cols[2x + 1] (within a row) with
 * weights 1024 - col_frac[x] and col_frac[x]. TFLite Micro's ComputeInterpolationValuesInteger depends only on the
 * sizes and flags, so the code generator evaluates it offline into these tables (a fraction of 0 means one source:
 * both offsets equal). Per channel the sum of the four products (2^20 for a weight of one) is divided by 2^20 and
 * rounded half away from zero, or half up when TG_SINGLE_ROUNDING is 1 (TFLITE_SINGLE_ROUNDING), as TFLite does.
 *
 * @param[in]  input          int8 input [batches, in_h, in_w, depth]
 * @param[in]  batches        images, >= 1
 * @param[in]  in_image_size  bytes of one input image: in_h * in_w * depth
 * @param[in]  depth          channels, >= 1
 * @param[in]  out_h          output rows, >= 1
 * @param[in]  out_w          output columns, >= 1
 * @param[in]  rows           [out_h][2] byte offsets of the two source rows in an input image (y * in_w * depth)
 * @param[in]  row_frac       [out_h] weight of the second source row, in [0, 1024)
 * @param[in]  cols           [out_w][2] byte offsets of the two source pixels in a row (x * depth)
 * @param[in]  col_frac       [out_w] weight of the second source pixel, in [0, 1024)
 * @param[out] output         int8 output [batches, out_h, out_w, depth]; must not overlap input
 */
void tg_resize_bilinear_s8(const int8_t *input, int32_t batches, int32_t in_image_size, int32_t depth, int32_t out_h,
                           int32_t out_w, const int32_t *rows, const int16_t *row_frac, const int32_t *cols,
                           const int16_t *col_frac, int8_t *output);

#endif /* TG_RESIZE_BILINEAR_S8_H */
