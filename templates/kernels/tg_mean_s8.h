/* tinygen int8 mean over axes (TFLite Micro's reference int8 MEAN, bit-exact). */
#ifndef TG_MEAN_S8_H
#define TG_MEAN_S8_H

#include <stdint.h>

/**
 * @brief int8 mean over some axes of a tensor of at most 4 dimensions.
 *
 * The input is described as 4 dimensions d[k] = out_dims[k] * red_dims[k] where, per k, one factor
 * is 1: out_dims are kept (the output is row-major over them), red_dims are reduced.
 *
 * @param[in]  input        int8 input
 * @param[in]  out_dims     kept extents [4] (1 on reduced axes)
 * @param[in]  red_dims     reduced extents [4] (1 on kept axes)
 * @param[in]  strides      input element strides [4]
 * @param[in]  count        number of reduced elements per output (product of red_dims), >= 1
 * @param[in]  same_quant   nonzero when input and output have the same scale and zero point:
 *                          TFLite Micro then divides the raw sum by count, truncating toward zero
 * @param[in]  input_zp     input zero point (used when same_quant is 0)
 * @param[in]  output_zp    output zero point (used when same_quant is 0)
 * @param[in]  multiplier   Q0.31 multiplier of input_scale / (output_scale * count), TFLite's
 *                          QuantizedMeanOrSum adjustment already applied (used when same_quant is 0)
 * @param[in]  shift        its shift (>= -31)
 * @param[out] output       int8 output, product(out_dims) elements; must not overlap input
 */
void tg_mean_s8(const int8_t *input, const int32_t *out_dims, const int32_t *red_dims, const int32_t *strides,
                int32_t count, int32_t same_quant, int32_t input_zp, int32_t output_zp, int32_t multiplier,
                int32_t shift, int8_t *output);

#endif /* TG_MEAN_S8_H */
