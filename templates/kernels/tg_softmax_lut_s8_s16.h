/* tinygen int8 -> int16 softmax with tabulated exponentials (TFLite Micro's reference softmax with an int16
 * output, bit-exact). */
#ifndef TG_SOFTMAX_LUT_S8_S16_H
#define TG_SOFTMAX_LUT_S8_S16_H

#include <stdint.h>

/**
 * @brief int8 -> int16 softmax over the last dimension: tg_softmax_lut_s8's arithmetic with 16 output bits.
 *
 * @param[in]  input      int8 input, [rows, depth] row-major
 * @param[in]  rows       number of rows, >= 1
 * @param[in]  depth      elements per row, 1..65535
 * @param[in]  exp_table  [256] Q0.31 exp of the difference -k at index k (0 below diff_min)
 * @param[out] output     int16 output, [rows, depth]; scale 1/65536, zero point -32768
 */
void tg_softmax_lut_s8_s16(const int8_t *input, int32_t rows, int32_t depth, const int32_t *exp_table,
                           int16_t *output);

#endif /* TG_SOFTMAX_LUT_S8_S16_H */
