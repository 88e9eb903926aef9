/* tinygen int8 batched matrix product for Helium (MVE, Cortex-M55): TFLite Micro's int8 BATCH_MATMUL, bit-exact. */
#ifndef TG_BATCH_MATMUL_MVE_S8_H
#define TG_BATCH_MATMUL_MVE_S8_H

#include <stdint.h>

/**
 * @brief tg_batch_matmul_s8 (same operands, batch walk, layouts and transposes: see tg_batch_matmul_s8.h) on
 * Helium. The offsets are taken out of the inner loop:
 *   sum_k (a_k + ao)(b_k + bo) = sum_k a_k b_k + bo * sum_k a_k + (ao * sum_k b_k + depth * ao * bo)
 * the first by VMLADAVA.S8 (16 int8 products per instruction; one row against four columns per pass, the
 * depth tail by predicated loads that read zeros), the row sums once per row and the column terms once per
 * rhs matrix (into `scratch`), all in wrapping int32 arithmetic: exact, because the true sum is an int32
 * (depth <= 33025). Requantization is tg_mve_requant_vec (TFLite Micro's double rounding, four columns at
 * once; tg_requantize with TG_SINGLE_ROUNDING).
 *
 * @param[in]  has_left  output_shift > 0
 * @param[in]  scratch   4 * cols bytes (4-byte aligned) for the column terms, then the transposes of
 *                       tg_batch_matmul_s8 (lhs_transpose * rows * depth, then rhs_transpose * cols * depth)
 * The output must not overlap the inputs.
 */
void tg_batch_matmul_mve_s8(const int8_t *lhs, const int8_t *rhs, const int32_t *batch, int32_t rows, int32_t cols,
                            int32_t depth, int32_t lhs_transpose, int32_t rhs_transpose, int32_t lhs_offset,
                            int32_t rhs_offset, int32_t output_offset, int32_t output_multiplier,
                            int32_t output_shift, int32_t has_left, int8_t *scratch, int8_t *output);

#endif /* TG_BATCH_MATMUL_MVE_S8_H */
