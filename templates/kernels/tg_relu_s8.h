/* tinygen int8 ReLU with requantization (TFLite Micro's reference int8 RELU, bit-exact). */
#ifndef TG_RELU_S8_H
#define TG_RELU_S8_H

#include <stdint.h>

/**
 * @brief out = clamp(output_zp + requantize(x - input_zp, multiplier, shift), act_min, act_max).
 *
 * TFLite Micro's ReluQuantized: the multiplier is input_scale / output_scale and act_min is the
 * output's quantized 0.0 (act_max 127). Elementwise over `size` values of any layout.
 *
 * @param[in]  input       int8 input, `size` elements
 * @param[in]  size        element count
 * @param[in]  input_zp    input zero point
 * @param[in]  multiplier  Q0.31 multiplier
 * @param[in]  shift       its shift (> 0 left)
 * @param[in]  output_zp   output zero point
 * @param[in]  act_min     lower clamp, -128..127
 * @param[in]  act_max     upper clamp, act_min..127
 * @param[out] output      int8 output, `size` elements; may alias input exactly
 */
void tg_relu_s8(const int8_t *input, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift,
                int32_t output_zp, int32_t act_min, int32_t act_max, int8_t *output);

#endif /* TG_RELU_S8_H */
