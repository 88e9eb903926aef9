/* tinygen int8 clamp: ReLU/ReLU6 between tensors of one quantization (TFLite Micro's RELU6). */
#ifndef TG_RELU_CLAMP_S8_H
#define TG_RELU_CLAMP_S8_H

#include <stdint.h>

/**
 * @brief out = clamp(x, lo, hi), elementwise over `size` values.
 *
 * TFLite Micro's Relu6Quantized (lo = quantized 0, hi = quantized 6 in the input's quantization);
 * also a ReLU whose input and output quantizations are equal, where the requantization is exactly
 * the identity. The DSP path clamps four values per step (SSUB8 + SEL).
 *
 * @param[in]  input   int8 input, `size` elements
 * @param[in]  size    element count
 * @param[in]  lo      lower bound, -128..127
 * @param[in]  hi      upper bound, lo..127
 * @param[out] output  int8 output; may alias input exactly
 */
void tg_relu_clamp_s8(const int8_t *input, int32_t size, int32_t lo, int32_t hi, int8_t *output);

#endif /* TG_RELU_CLAMP_S8_H */
