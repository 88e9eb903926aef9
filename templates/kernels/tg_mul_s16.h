/* tinygen int16 MUL (TFLite Micro's reference_integer_ops::Mul on int16, 16x8 models, bit-exact). */
#ifndef TG_MUL_S16_H
#define TG_MUL_S16_H

#include <stdint.h>

/**
 * @brief out = clamp(requant(a * b, multiplier, shift)), zero points 0 (|a * b| <= 2^30), requant TFLite's
 *        MultiplyByQuantizedMultiplier.
 *
 * @param[in]  a, b               int16 inputs, `size` elements each
 * @param[in]  size               element count
 * @param[in]  multiplier, shift  QuantizeMultiplier(scale_a * scale_b / scale_out)
 * @param[in]  act_min, act_max   clamp (within -32768..32767)
 * @param[out] out                int16 output; may be `a` or `b` (element i is read before it is written)
 */
void tg_mul_s16(const int16_t *a, const int16_t *b, int32_t size, int32_t multiplier, int32_t shift, int32_t act_min,
                int32_t act_max, int16_t *out);

#endif /* TG_MUL_S16_H */
