/* tinygen int16 MUL (TFLite Micro's reference_integer_ops::Mul on int16, 16x8 models, bit-exact). */
#ifndef TG_MUL_S16_H
#define TG_MUL_S16_H

#include <stdint.h>

#include "tg_common.h"
#include "tg_fixedpoint.h"

/** Parameters of an int16 MUL: QuantizeMultiplier(scale_a * scale_b / scale_out) and the clamp (zero points 0). */
typedef struct
{
    int32_t multiplier, shift;
    int32_t act_min, act_max;
} tg_mul_s16_params_t;

/* One output (shared by tg_mul_s16 and tg_mul_broadcast_s16): |a * b| <= 2^30, no overflow; the multiplier is
   >= 0 (tg_requantize_nonneg). */
TG_INLINE int16_t tg_mul_s16_one(int32_t a, int32_t b, const tg_mul_s16_params_t *p)
{
    const int32_t v = tg_requantize_nonneg(a * b, p->multiplier, p->shift);
    return (int16_t)TG_CLAMP(v, p->act_min, p->act_max);
}

/**
 * @brief out = clamp(requant(a * b, multiplier, shift)) elementwise, zero points 0, requant TFLite's
 *        MultiplyByQuantizedMultiplier.
 *
 * @param[in]  a, b     int16 inputs, `size` elements each
 * @param[in]  size     element count
 * @param[in]  params   multiplier, shift and clamp (within -32768..32767)
 * @param[out] out      int16 output; may be `a` or `b` (element i is read before it is written)
 */
void tg_mul_s16(const int16_t *a, const int16_t *b, int32_t size, const tg_mul_s16_params_t *params, int16_t *out);

#endif /* TG_MUL_S16_H */
