/* tinygen int16 clamp: ReLU/ReLU6 between tensors of one quantization (TFLite Micro's int16 RELU6). */
#ifndef TG_RELU_CLAMP_S16_H
#define TG_RELU_CLAMP_S16_H

#include <stdint.h>

/**
 * @brief out = clamp(x, lo, hi), elementwise over `size` values.
 *
 * TFLite Micro's Relu6Quantized<int16_t> (lo = quantized 0, hi = quantized 6 in the input's quantization);
 * also an int16 ReLU whose input and output quantizations are equal (the requantization is the identity).
 * The DSP path clamps two values per step (SSUB16 + SEL).
 *
 * @param[in]  input   int16 input, `size` elements
 * @param[in]  size    element count
 * @param[in]  lo      lower bound, -32768..32767
 * @param[in]  hi      upper bound, lo..32767
 * @param[out] output  int16 output; may alias input exactly
 */
void tg_relu_clamp_s16(const int16_t *input, int32_t size, int32_t lo, int32_t hi, int16_t *output);

#endif /* TG_RELU_CLAMP_S16_H */
