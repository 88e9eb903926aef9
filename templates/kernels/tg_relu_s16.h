/* tinygen int16 ReLU with requantization (TFLite Micro's reference int16 RELU, bit-exact). */
#ifndef TG_RELU_S16_H
#define TG_RELU_S16_H

#include <stdint.h>

/**
 * @brief out = clamp(output_zp + requantize(x - input_zp, multiplier, shift), act_min, act_max).
 *
 * TFLite Micro's ReluQuantized<int16_t> (16x8 models): the multiplier is input_scale / output_scale, the zero
 * points are 0 and the clamp is [0, 32767]. Elementwise over `size` values of any layout.
 *
 * @param[in]  input       int16 input, `size` elements
 * @param[in]  size        element count
 * @param[in]  input_zp    input zero point
 * @param[in]  multiplier  Q0.31 multiplier
 * @param[in]  shift       its shift (> 0 left)
 * @param[in]  output_zp   output zero point
 * @param[in]  act_min     lower clamp, -32768..32767
 * @param[in]  act_max     upper clamp, act_min..32767
 * @param[out] output      int16 output, `size` elements; may alias input exactly
 */
void tg_relu_s16(const int16_t *input, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift,
                 int32_t output_zp, int32_t act_min, int32_t act_max, int16_t *output);

#endif /* TG_RELU_S16_H */
