/* tinygen int16 -> int32 requantization (TFLite Micro's QUANTIZE int16 -> int32, bit-exact). */
#ifndef TG_QUANTIZE_S16_S32_H
#define TG_QUANTIZE_S16_S32_H

#include <stdint.h>

/**
 * @brief out = output_zp + requantize(x - input_zp, multiplier, shift), clamped to the int32 range (TFLite's
 *        Requantize).
 *
 * @param[in]  input       int16 input, `size` elements
 * @param[in]  size        element count
 * @param[in]  input_zp    input zero point
 * @param[in]  multiplier  Q0.31 multiplier of input_scale / output_scale
 * @param[in]  shift       its shift (> 0 left)
 * @param[in]  output_zp   output zero point
 * @param[out] output      int32 output; must not overlap the input
 */
void tg_quantize_s16_s32(const int16_t *input, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift,
                         int32_t output_zp, int32_t *output);

#endif /* TG_QUANTIZE_S16_S32_H */
