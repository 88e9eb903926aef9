/* tinygen int8 elementwise add with precomputed input rescaling (TFLite Micro's int8 ADD, bit-exact). */
#ifndef TG_ADD_LUT_S8_H
#define TG_ADD_LUT_S8_H

#include <stdint.h>

/**
 * @brief int8 add of two same-shape tensors whose per-input rescaling is looked up, not computed.
 *
 * In TFLite's int8 ADD the rescaled input requantize((x + input_offset) << left_shift, multiplier,
 * shift) depends on the int8 value x only, so the code generator tabulates it offline for all 256
 * values (exactly, with the library's rounding mode). Per element only the output requantization
 * remains: out = clamp(requantize(lut1[x1] + lut2[x2], output_multiplier, output_shift) + output_offset).
 *
 * @param[in]  input1             int8 first operand, `size` elements
 * @param[in]  input2             int8 second operand, `size` elements
 * @param[in]  size               element count
 * @param[in]  lut1               rescaled input1 values [256], indexed by (uint8_t)x1
 * @param[in]  lut2               rescaled input2 values [256], indexed by (uint8_t)x2
 * @param[in]  output_offset      output zero point
 * @param[in]  output_multiplier  Q0.31 output multiplier
 * @param[in]  output_shift       output shift (> 0 left)
 * @param[in]  act_min            fused activation minimum
 * @param[in]  act_max            fused activation maximum
 * @param[out] output             int8 result; may alias input1 or input2 exactly
 */
void tg_add_lut_s8(const int8_t *input1, const int8_t *input2, int32_t size, const int32_t *lut1,
                   const int32_t *lut2, int32_t output_offset, int32_t output_multiplier, int32_t output_shift,
                   int32_t act_min, int32_t act_max, int8_t *output);

#endif /* TG_ADD_LUT_S8_H */
