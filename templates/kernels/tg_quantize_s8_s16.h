/* tinygen int8 -> int16 requantization (TFLite Micro's QUANTIZE int8 -> int16, bit-exact): the boundary from
   an int8 part of a mixed model into an int16 part. */
#ifndef TG_QUANTIZE_S8_S16_H
#define TG_QUANTIZE_S8_S16_H

#include <stdint.h>

/**
 * @brief out = clamp(output_zp + requantize(x - input_zp, multiplier, shift)) to the int16 range (TFLite's
 *        Requantize).
 *
 * @param[in]  input       int8 input, `size` elements
 * @param[in]  size        element count
 * @param[in]  input_zp    input zero point
 * @param[in]  multiplier  Q0.31 multiplier of input_scale / output_scale
 * @param[in]  shift       its shift (> 0 left)
 * @param[in]  output_zp   output zero point
 * @param[out] output      int16 output (must not overlap the input)
 */
void tg_quantize_s8_s16(const int8_t *input, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift,
                        int32_t output_zp, int16_t *output);

#endif /* TG_QUANTIZE_S8_S16_H */
