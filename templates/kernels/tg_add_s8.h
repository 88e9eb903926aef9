/* tinygen int8 elementwise add (TFLite Micro's reference int8 ADD, bit-exact). */
#ifndef TG_ADD_S8_H
#define TG_ADD_S8_H

#include <stdint.h>

#include "tg_common.h"
#include "tg_fixedpoint.h"

/**
 * Quantized parameters of one add, as TFLite Micro's PrepareAdd derives them: each input is
 * offset by its negated zero point, scaled up by 2^left_shift (20 for int8), rescaled by its
 * multiplier (shift <= 0) to the common scale 2 * max(input scales); the sum is rescaled by the
 * output multiplier, offset by the output zero point and clamped to [act_min, act_max].
 */
typedef struct
{
    int32_t input1_offset, input1_multiplier, input1_shift;
    int32_t input2_offset, input2_multiplier, input2_shift;
    int32_t left_shift;
    int32_t output_offset, output_multiplier, output_shift;
    int32_t act_min, act_max;
} tg_add_params_t;

/* One output element of an int8 add (shared by tg_add_s8 and tg_add_broadcast_s8). */
TG_INLINE int8_t tg_add_one(int32_t x1, int32_t x2, const tg_add_params_t *p)
{
    const int32_t s1 = tg_requantize_nonneg(tg_shl(x1 + p->input1_offset, p->left_shift), p->input1_multiplier,
                                     p->input1_shift);
    const int32_t s2 = tg_requantize_nonneg(tg_shl(x2 + p->input2_offset, p->left_shift), p->input2_multiplier,
                                     p->input2_shift);
    const int32_t out = tg_requantize_nonneg(s1 + s2, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)TG_CLAMP(out, p->act_min, p->act_max);
}

/**
 * @brief int8 add of two tensors of the same shape (any layout: elementwise over `size`).
 *
 * @param[in]  input1  int8 first operand, `size` elements
 * @param[in]  input2  int8 second operand, `size` elements
 * @param[in]  size    element count
 * @param[in]  params  quantized parameters (see tg_add_params_t)
 * @param[out] output  int8 result, `size` elements; may alias input1 or input2 exactly
 */
void tg_add_s8(const int8_t *input1, const int8_t *input2, int32_t size, const tg_add_params_t *params,
               int8_t *output);

#endif /* TG_ADD_S8_H */
