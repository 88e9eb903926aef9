/* tinygen int8 softmax (TFLite Micro's reference int8 softmax, bit-exact). */
#ifndef TG_SOFTMAX_S8_H
#define TG_SOFTMAX_S8_H

#include <stdint.h>

/**
 * @brief int8 softmax over the last dimension: `rows` independent rows of `depth` values.
 *
 * @param[in]  input             int8 input, [rows, depth] row-major (any leading shape flattened)
 * @param[in]  rows              number of rows (product of all dimensions but the last), >= 1
 * @param[in]  depth             elements per row, 1..65535
 * @param[in]  input_multiplier  Q0.31 multiplier of beta * input_scale (TFLite PreprocessSoftmaxScaling)
 * @param[in]  input_left_shift  left shift paired with input_multiplier, >= 0
 * @param[in]  diff_min          inputs more than -diff_min below the row maximum give exp = 0 (diff_min <= 0)
 * @param[out] output            int8 output, [rows, depth]; scale 1/256, zero point -128
 *
 * Computes gemmlowp's fixed-point exp of the rescaled differences to the row maximum (Q5.26 in,
 * Q0.31 out), sums them in Q12.19, takes the Newton-Raphson reciprocal and scales to 8 bits.
 */
void tg_softmax_s8(const int8_t *input, int32_t rows, int32_t depth, int32_t input_multiplier,
                   int32_t input_left_shift, int32_t diff_min, int8_t *output);

#endif /* TG_SOFTMAX_S8_H */
