/* tinygen int8 elementwise maximum / minimum with broadcasting (TFLite Micro's int8 MAXIMUM and MINIMUM, bit-exact). */
#ifndef TG_MINMAX_S8_H
#define TG_MINMAX_S8_H

#include <stdint.h>

/**
 * @brief output = max(input1, input2) (is_max != 0) or min(input1, input2) (is_max == 0) of the raw int8
 * values, with numpy broadcasting, over an output of at most 4 dimensions.
 *
 * TFLite Micro's MAXIMUM/MINIMUM compare the raw int8 values (`el1 > el2 ? el1 : el2`, `el1 < el2 ? el1 :
 * el2`); the code generator only emits this call when both inputs and the output share one quantization,
 * where that is the maximum/minimum of the real values. Same-size operands come as one row:
 * out_dims {1, 1, 1, size}, both strides {0, 0, 0, 1}. Rows whose strides are 1 or 0 (every row the code
 * generator emits) run four elements per step with SSUB8/SEL on cores with the DSP extension. Each op is
 * a specialisation (TG_VARIANT MINMAX_MAX, MINMAX_MIN): a library compiles only those its calls run.
 *
 * @param[in]  input1          int8 first operand
 * @param[in]  input2          int8 second operand
 * @param[in]  out_dims        output shape [4] (leading dimensions padded with 1), each >= 0
 * @param[in]  input1_strides  element strides of input1 along each output dimension [4]; 0 where input1 is
 *                             broadcast along it
 * @param[in]  input2_strides  the same for input2
 * @param[in]  is_max          nonzero: maximum; zero: minimum
 * @param[out] output          int8 result, row-major in out_dims; may alias an input of the output's shape
 *                             exactly (each element is read before it is written)
 */
void tg_minmax_s8(const int8_t *input1, const int8_t *input2, const int32_t *out_dims,
                  const int32_t *input1_strides, const int32_t *input2_strides, int32_t is_max, int8_t *output);

#endif /* TG_MINMAX_S8_H */
