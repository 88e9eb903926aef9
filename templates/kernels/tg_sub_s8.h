/* tinygen int8 subtraction with numpy broadcasting (TFLite Micro's reference int8 SUB, bit-exact). */
#ifndef TG_SUB_S8_H
#define TG_SUB_S8_H

#include <stdint.h>

/**
 * Quantized parameters of one subtraction, as TFLite Micro's CalculateOpDataSub derives them: each input
 * is offset by its negated zero point, scaled up by 2^left_shift (20 for int8) and rescaled by its
 * multiplier (Q0.31, >= 0; shift <= 0) to the common scale 2 * max(input scales); the difference of the
 * two is rescaled by the output multiplier, offset by the output zero point and clamped to
 * [act_min, act_max]. Same fields, same order as tg_add_params_t: only the sign of input 2 differs.
 */
typedef struct
{
    int32_t input1_offset, input1_multiplier, input1_shift;
    int32_t input2_offset, input2_multiplier, input2_shift;
    int32_t left_shift;
    int32_t output_offset, output_multiplier, output_shift;
    int32_t act_min, act_max;
} tg_sub_params_t;

/**
 * @brief int8 input1 - input2 with numpy broadcasting, over an output of at most 4 dimensions (a same-shape
 *        subtraction is out_dims {1, 1, 1, size} with strides {0, 0, 0, 1}).
 *
 * Per element, exactly reference_ops::SubElementwise / BroadcastQuantSubSlow (int8):
 *   s1 = requantize((x1 + input1_offset) << left_shift, input1_multiplier, input1_shift)
 *   s2 = requantize((x2 + input2_offset) << left_shift, input2_multiplier, input2_shift)
 *   out = clamp(requantize(s1 - s2, output_multiplier, output_shift) + output_offset, act_min, act_max)
 * (TFLite's double rounding, or single rounding where TG_SINGLE_ROUNDING is set). Subtracting the rescaled
 * value differs from adding the value rescaled by a negated multiplier (the rounding of ties is not
 * symmetric), which is why this is not tg_add_broadcast_s8.
 *
 * @param[in]  input1          int8 first operand (the minuend)
 * @param[in]  input2          int8 second operand (the subtrahend)
 * @param[in]  out_dims        output shape [4] (leading dimensions padded with 1)
 * @param[in]  input1_strides  element strides of input1 along each output dimension [4]; 0 where input1
 *                             is broadcast along it
 * @param[in]  input2_strides  the same for input2
 * @param[in]  params          quantized parameters (see tg_sub_params_t)
 * @param[out] output          int8 result, row-major in out_dims; may alias an input of the output's shape
 *                             exactly (each element is read before it is written)
 */
void tg_sub_s8(const int8_t *input1, const int8_t *input2, const int32_t *out_dims, const int32_t *input1_strides,
               const int32_t *input2_strides, const tg_sub_params_t *params, int8_t *output);

#endif /* TG_SUB_S8_H */
