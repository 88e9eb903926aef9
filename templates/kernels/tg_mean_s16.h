/* tinygen int16 mean over axes (TFLite Micro's QuantizedMeanOrSum<int16_t>, 16x8 MEAN, bit-exact). */
#ifndef TG_MEAN_S16_H
#define TG_MEAN_S16_H

#include <stdint.h>

/**
 * @brief int16 mean over some axes of a tensor of at most 4 dimensions (tg_mean_s8's arithmetic on int16 values):
 *        out = clamp16(requantize(sum(x) - input_zp * count, multiplier, shift) + output_zp).
 *
 * The kept axes are walked as 4 dimensions out_dims (the output is row-major over them) with input element
 * strides out_strides; around each output the reduced axes as 4 dimensions red_dims with strides red_strides
 * (the lowering puts the longest reduced run last: the innermost loop).
 *
 * @param[in]  input        int16 input
 * @param[in]  out_dims     kept extents [4] (leading 1s)
 * @param[in]  out_strides  input element strides of the kept extents [4]
 * @param[in]  red_dims     reduced extents [4] (leading 1s)
 * @param[in]  red_strides  input element strides of the reduced extents [4]
 * @param[in]  count        reduced elements per output (product of red_dims), 1..(2^31 - 1) / 65536 so that the
 *                          int32 sum minus input_zp * count cannot overflow
 * @param[in]  input_zp     input zero point
 * @param[in]  output_zp    output zero point
 * @param[in]  multiplier   multiplier of input_scale / (output_scale * count) (>= 0), TFLite's QuantizedMeanOrSum
 *                          adjustment already applied
 * @param[in]  shift        its shift (-31..30)
 * @param[out] output       int16 output, product(out_dims) elements; must not overlap input
 */
void tg_mean_s16(const int16_t *input, const int32_t *out_dims, const int32_t *out_strides, const int32_t *red_dims,
                 const int32_t *red_strides, int32_t count, int32_t input_zp, int32_t output_zp, int32_t multiplier,
                 int32_t shift, int16_t *output);

#endif /* TG_MEAN_S16_H */
