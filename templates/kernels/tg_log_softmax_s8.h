/* tinygen int8 log-softmax (TFLite Micro's reference int8 LOG_SOFTMAX, bit-exact). */
#ifndef TG_LOG_SOFTMAX_S8_H
#define TG_LOG_SOFTMAX_S8_H

#include <stdint.h>

/**
 * @brief int8 log-softmax over the last dimension: `rows` independent rows of `depth` values.
 *
 * Per row: the differences to the row maximum at or above `diff_min`, rescaled into Q5.26 by
 * `input_multiplier`/`input_left_shift` (MultiplyByQuantizedMultiplier), go through gemmlowp's fixed-point
 * exp (Q0.31) and are summed in Q12.19; TFLite's fixed-point log of the sum (Q5.26) is subtracted from
 * each rescaled difference and the result scaled to the output (scale 16/256, zero point 127). Differences
 * at or below the threshold the reverse scaling gives (where the result would leave Q5.26) give -128.
 * With `exp_table` the sum reads each difference's term from it instead of computing the exp (~200
 * instructions an element).
 *
 * @param[in]  input                        int8 input, [rows, depth] row-major (leading shape flattened)
 * @param[in]  rows                         number of rows (product of all dimensions but the last), >= 0
 * @param[in]  depth                        elements per row, 1..4095 (the Q12.19 sum cannot overflow)
 * @param[in]  input_multiplier             Q0.31 multiplier of input_scale * 2^26 (PreprocessSoftmaxScaling)
 * @param[in]  input_left_shift             its left shift, 0..31
 * @param[in]  reverse_scaling_divisor      Q0.31 multiplier of 2^(31 - input_left_shift) / input_multiplier
 * @param[in]  reverse_scaling_right_shift  its right shift, >= 0
 * @param[in]  diff_min                     differences below it are left out of the sum (<= 0)
 * @param[in]  exp_table                    NULL (each exp computed), or [256] the Q12.19 term of each difference
 *                                          0, -1, ..., -255 to the row maximum (0 below diff_min): entry -diff
 * @param[out] output                       int8 output, [rows, depth]; may alias input exactly (each element
 *                                          is read before it is written)
 */
void tg_log_softmax_s8(const int8_t *input, int32_t rows, int32_t depth, int32_t input_multiplier,
                       int32_t input_left_shift, int32_t reverse_scaling_divisor,
                       int32_t reverse_scaling_right_shift, int32_t diff_min, const int32_t *exp_table,
                       int8_t *output);

#endif /* TG_LOG_SOFTMAX_S8_H */
