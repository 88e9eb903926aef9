/* tinygen int8 table lookup: any int8 -> int8 function of one element (TFLite Micro's int8 LOGISTIC, bit-exact). */
#ifndef TG_LUT_S8_H
#define TG_LUT_S8_H

#include <stdint.h>

/**
 * @brief out[i] = table[(uint8_t)input[i]], elementwise over `size` values.
 *
 * An elementwise int8 op whose output depends on its input element alone (LOGISTIC; TANH, HARD_SWISH,
 * ELU alike) has only 256 possible results, so the code generator computes them offline with the
 * op's exact TFLite Micro arithmetic (LOGISTIC: rescaling to Q4.27, gemmlowp's fixed-point logistic,
 * downcast to scale 1/256, zero point -128) and the kernel only looks them up: one load per element,
 * no multiplication.
 *
 * @param[in]  input   int8 input, `size` elements
 * @param[in]  size    element count, >= 0
 * @param[in]  table   [256] int8 outputs, indexed by the input's bits: entry k is the output for the
 *                     int8 value (int8_t)k (0..127 first, then -128..-1)
 * @param[out] output  int8 output, `size` elements; may alias input exactly (each element is read
 *                     before it is written)
 */
void tg_lut_s8(const int8_t *input, int32_t size, const int8_t *table, int8_t *output);

#endif /* TG_LUT_S8_H */
