/* tinygen int8 softmax with tabulated exponentials (TFLite Micro's reference int8 softmax, bit-exact). */
#ifndef TG_SOFTMAX_LUT_S8_H
#define TG_SOFTMAX_LUT_S8_H

#include <stdint.h>

/**
 * @brief int8 softmax over the last dimension, like tg_softmax_s8, with gemmlowp's fixed-point exp looked up.
 *
 * The difference of an int8 input to its row maximum takes only the 256 values 0, -1, ..., -255, so the code
 * generator tabulates TFLite's exp of each (input rescaling, exp_on_negative_values: Q0.31) offline, exactly,
 * with 0 where the difference is below diff_min (such an input adds nothing to the sum and outputs -128, as
 * in TFLite). Per row only the sum, one reciprocal and the per-element scaling remain.
 *
 * @param[in]  input      int8 input, [rows, depth] row-major
 * @param[in]  rows       number of rows, >= 1
 * @param[in]  depth      elements per row, 1..65535
 * @param[in]  exp_table  [256] Q0.31 exp of the difference -k at index k
 * @param[out] output     int8 output, [rows, depth]; scale 1/256, zero point -128
 */
void tg_softmax_lut_s8(const int8_t *input, int32_t rows, int32_t depth, const int32_t *exp_table, int8_t *output);

#endif /* TG_SOFTMAX_LUT_S8_H */
