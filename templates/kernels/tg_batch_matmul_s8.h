/* tinygen int8 batched matrix product (TFLite Micro's int8 BATCH_MATMUL, bit-exact). */
#ifndef TG_BATCH_MATMUL_S8_H
#define TG_BATCH_MATMUL_S8_H

#include <stdint.h>

/**
 * @brief out[b][i][j] = sat8(requant(sum_k (lhs[b][i][k] + lhs_offset) * (rhs[b][j][k] + rhs_offset)) + output_offset)
 *
 * For every batch index (b0, b1, b2) < (batch[0], batch[1], batch[2]) one matrix product: the lhs matrix
 * starts at element b0 * batch[3] + b1 * batch[4] + b2 * batch[5] of `lhs`, the rhs matrix at b0 * batch[6] +
 * b1 * batch[7] + b2 * batch[8] of `rhs` (stride 0: broadcast), the output matrices follow each other.
 *
 * Layouts: lhs rows [rows][depth] and rhs columns [cols][depth] (both contiguous along the accumulation); an
 * operand stored the other way round (lhs [depth][rows] with lhs_transpose = 1, rhs [depth][cols] with
 * rhs_transpose = 1) is first transposed into `scratch` (lhs at scratch, rows * depth bytes; rhs after it,
 * cols * depth bytes), again only when the matrix differs from the previous product's (a broadcast one is copied
 * once per run of products that share it). Output [rows][cols]. The int32 sums are exact for depth <=
 * 33025 (|x + offset| <= 255); requantization is TFLite's MultiplyByQuantizedMultiplier with TFLite's shift
 * convention (> 0: left): tg_rq_fast of tg_requant_fast.h (the output offset folded into its constant) for a
 * right shift of 2..22, as nearly every layer has, else tg_requantize_mac (the multiplier is >= 0). On the DSP path two rows times two columns per pass, four values at a
 * time: SXTAB16 adds the offsets while sign-extending, SMLAD multiplies and accumulates pairs.
 *
 * @param[in]  lhs, rhs  int8 operands (may be the same buffer)
 * @param[in]  batch     [9] int32: batch dims, lhs matrix strides, rhs matrix strides (elements)
 * @param[in]  scratch   (lhs_transpose * rows + rhs_transpose * cols) * depth bytes, or NULL when neither
 * @param[out] output    int8, batch[0] * batch[1] * batch[2] * rows * cols values; must not overlap the inputs
 */
void tg_batch_matmul_s8(const int8_t *lhs, const int8_t *rhs, const int32_t *batch, int32_t rows, int32_t cols,
                        int32_t depth, int32_t lhs_transpose, int32_t rhs_transpose, int32_t lhs_offset,
                        int32_t rhs_offset, int32_t output_offset, int32_t output_multiplier, int32_t output_shift,
                        int8_t *scratch, int8_t *output);

#endif /* TG_BATCH_MATMUL_S8_H */
