/* tinygen int8 nearest-neighbour resize (TFLite Micro's RESIZE_NEAREST_NEIGHBOR for int8, bit-exact). */
#ifndef TG_RESIZE_NEAREST_S8_H
#define TG_RESIZE_NEAREST_S8_H

#include <stdint.h>

/**
 * @brief Resizes NHWC images by copying, for each output pixel, the `depth` channels of one input pixel.
 *
 * The source of output pixel (y, x) is input pixel (src_y(y), src_x(x)): TFLite Micro's GetNearestNeighbor
 * (float32 scale, floor or round, align_corners / half_pixel_centers) depends only on the sizes and flags, so
 * the code generator evaluates it offline and passes the results as two tables. The kernel only gathers:
 * one run of `depth` bytes per output pixel, and one copy of the previous output row for each output row
 * whose source row repeats the previous one's (upsampling).
 *
 * @param[in]  input          int8 input [batches, in_h, in_w, depth]
 * @param[in]  batches        images, >= 1
 * @param[in]  in_image_size  bytes of one input image: in_h * in_w * depth
 * @param[in]  depth          channels, >= 1
 * @param[in]  out_h          output rows, >= 1
 * @param[in]  out_w          output columns, >= 1
 * @param[in]  row_offsets    [out_h] byte offset of each output row's source row in an input image:
 *                            src_y(y) * in_w * depth
 * @param[in]  cols           [out_w] source column of each output column: src_x(x), in [0, in_w)
 * @param[out] output         int8 output [batches, out_h, out_w, depth]; must not overlap input
 */
void tg_resize_nearest_s8(const int8_t *input, int32_t batches, int32_t in_image_size, int32_t depth, int32_t out_h,
                          int32_t out_w, const int32_t *row_offsets, const int16_t *cols, int8_t *output);

#endif /* TG_RESIZE_NEAREST_S8_H */
