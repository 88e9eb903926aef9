/* tinygen int8 -> uint8 requantization at a graph edge (TFLite Micro's QUANTIZE int8 -> uint8, bit-exact). */
#ifndef TG_QUANTIZE_S8_U8_H
#define TG_QUANTIZE_S8_U8_H

#include <stdint.h>

/**
 * @brief out = clamp(output_zp + requantize(x - input_zp, multiplier, shift)) to the uint8 range (TFLite's
 *        Requantize; with equal scales and zero points 128 apart that is x ^ 0x80, its fast path).
 *
 * @param[in]  input       int8 input, `size` elements
 * @param[in]  size        element count
 * @param[in]  input_zp    input zero point
 * @param[in]  multiplier  Q0.31 multiplier of input_scale / output_scale
 * @param[in]  shift       its shift (> 0 left)
 * @param[in]  output_zp   output zero point
 * @param[out] output      uint8 output; may alias input exactly
 */
void tg_quantize_s8_u8(const int8_t *input, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift, int32_t output_zp,
        uint8_t *output);

#endif /* TG_QUANTIZE_S8_U8_H */
