/* tinygen int16 ADD and SUB (TFLite Micro's int16 ADD/SUB of 16x8 models, left shift 15, bit-exact). */
#ifndef TG_ADD_S16_H
#define TG_ADD_S16_H

#include <stdint.h>

#include "tg_common.h"
#include "tg_fixedpoint.h"

/**
 * Parameters of an int16 ADD or SUB (TFLite Micro's CalculateOpDataAdd/Sub with left shift 15; the inputs have
 * zero point 0, so |x| << 15 stays inside int32): input i is rescaled by (m<i>, s<i>) (shifts <= 0), their sum
 * (`subtract` 0) or difference (1) by (mo, so), offset by output_offset and clamped to [act_min, act_max]
 * (within -32768..32767).
 */
typedef struct
{
    int32_t m1, s1, m2, s2, mo, so;
    int32_t output_offset, act_min, act_max;
    int32_t subtract;
} tg_add_s16_params_t;

/* Input 1 or 2 at the common scale: requant(x << 15, m, s) (TFLite's MultiplyByQuantizedMultiplier; its
   multipliers are >= 0: tg_requantize_nonneg). */
TG_INLINE int32_t tg_add_s16_rescale(int32_t x, int32_t m, int32_t s)
{
    return tg_requantize_nonneg(tg_shl(x, 15), m, s);
}

/* The output of two rescaled inputs (shared by tg_add_s16 and tg_add_broadcast_s16). */
TG_INLINE int16_t tg_add_s16_out(int32_t x, int32_t y, const tg_add_s16_params_t *p)
{
    const int32_t v = tg_requantize_nonneg(p->subtract ? x - y : x + y, p->mo, p->so) + p->output_offset;
    return (int16_t)TG_CLAMP(v, p->act_min, p->act_max);
}

/**
 * @brief out = clamp(requant(requant(a << 15, m1, s1) +- requant(b << 15, m2, s2), mo, so) + output_offset)
 *        elementwise (see tg_add_s16_params_t).
 *
 * @param[in]  a, b     int16 inputs, `size` elements each
 * @param[in]  size     element count
 * @param[in]  params   the rescalings, output offset, clamp and operation
 * @param[out] out      int16 output; may be `a` or `b` (element i is read before it is written)
 */
void tg_add_s16(const int16_t *a, const int16_t *b, int32_t size, const tg_add_s16_params_t *params, int16_t *out);

#endif /* TG_ADD_S16_H */
