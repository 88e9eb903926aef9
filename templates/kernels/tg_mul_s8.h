/* tinygen int8 elementwise multiply (TFLite Micro's reference int8 MUL, bit-exact). */
#ifndef TG_MUL_S8_H
#define TG_MUL_S8_H

#include <stdint.h>

#include "tg_common.h"
#include "tg_fixedpoint.h"

/**
 * Quantized parameters of one multiply (TFLite Micro's mul_common): the product of the two
 * zero-point-corrected inputs is rescaled by output_multiplier/output_shift (the real multiplier
 * input1_scale * input2_scale / output_scale), offset by the output zero point and clamped.
 */
typedef struct
{
    int32_t input1_offset, input2_offset;
    int32_t output_offset, output_multiplier, output_shift;
    int32_t act_min, act_max;
} tg_mul_params_t;

/* One output element of an int8 multiply (shared by tg_mul_s8 and tg_mul_broadcast_s8). */
TG_INLINE int8_t tg_mul_one(int32_t x1, int32_t x2, const tg_mul_params_t *p)
{
    const int32_t prod = (x1 + p->input1_offset) * (x2 + p->input2_offset); /* |prod| <= 2^16 */
    const int32_t out = tg_requantize_nonneg(prod, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)TG_CLAMP(out, p->act_min, p->act_max);
}

/**
 * @brief int8 multiply of two tensors of the same shape (elementwise over `size`).
 *
 * @param[in]  input1  int8 first operand, `size` elements
 * @param[in]  input2  int8 second operand, `size` elements
 * @param[in]  size    element count
 * @param[in]  params  quantized parameters (see tg_mul_params_t)
 * @param[out] output  int8 result, `size` elements; may alias input1 or input2 exactly
 */
void tg_mul_s8(const int8_t *input1, const int8_t *input2, int32_t size, const tg_mul_params_t *params,
               int8_t *output);

#endif /* TG_MUL_S8_H */
