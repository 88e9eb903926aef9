/* tinygen uint8 -> int8 requantization at a graph edge (TFLite Micro's QUANTIZE uint8 -> int8, bit-exact). */
#ifndef TG_QUANTIZE_U8_S8_H
#define TG_QUANTIZE_U8_S8_H

#include <stdint.h>

/**
 * @brief out = clamp(output_zp + requantize(x - input_zp, multiplier, shift)) to the int8 range (TFLite's
 *        Requantize; with equal scales and zero points 128 apart that is x ^ 0x80, its fast path).
 *
 * @param[in]  input       uint8 input, `size` elements
 * @param[in]  size        element count
 * @param[in]  input_zp    input zero point
 * @param[in]  multiplier  Q0.31 multiplier of input_scale / output_scale
 * @param[in]  shift       its shift (> 0 left)
 * @param[in]  output_zp   output zero point
 * @param[out] output      int8 output; may alias input exactly
 */
void tg_quantize_u8_s8(const uint8_t *input, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift, int32_t output_zp,
        int8_t *output);

#endif /* TG_QUANTIZE_U8_S8_H */
