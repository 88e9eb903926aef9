/* tinygen int16 ADD and SUB (TFLite Micro's int16 ADD/SUB of 16x8 models, left shift 15, bit-exact). */
#ifndef TG_ADD_S16_H
#define TG_ADD_S16_H

#include <stdint.h>

/**
 * @brief out = clamp(requant(requant(a << 15, m1, s1) +- requant(b << 15, m2, s2), mo, so) + output_offset) (`subtract`
 *        0: +, 1: -), the inputs with zero point 0 (|x| << 15 stays inside int32), requant TFLite's
 *        MultiplyByQuantizedMultiplier.
 *
 * @param[in]  a, b     int16 inputs, `size` elements each
 * @param[in]  size     element count
 * @param[in]  m1, s1   rescaling of input a (multiplier, shift <= 0)
 * @param[in]  m2, s2   rescaling of input b
 * @param[in]  mo, so   rescaling of the sum
 * @param[in]  output_offset, act_min, act_max  output zero point and clamp (within -32768..32767)
 * @param[out] out      int16 output; may be `a` or `b` (element i is read before it is written)
 */
void tg_add_s16(const int16_t *a, const int16_t *b, int32_t size, int32_t m1, int32_t s1, int32_t m2, int32_t s2,
                int32_t mo, int32_t so, int32_t output_offset, int32_t act_min, int32_t act_max, int32_t subtract,
                int16_t *out);

#endif /* TG_ADD_S16_H */
