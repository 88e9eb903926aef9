/*
 * tg_fully_connected_s8: int8 fully connected (dense) layer, per-tensor or per-channel.
 */
#ifndef TG_FULLY_CONNECTED_S8_H
#define TG_FULLY_CONNECTED_S8_H

#include <stdint.h>

/**
 * @brief output[b, o] = clamp(requant(bias[o] + sum_i (input[b, i] + input_offset) * weights[o, i]) + output_offset)
 *
 * Layouts: input [batches, in_features], output [batches, out_features]; all int8. Weights
 * [out_features, in_features] reordered offline (tinygen/lowering/mac_common.py, same size): for each
 * quad of rows o..o+3 (o a multiple of 4), per complete group of four inputs the four bytes of row o,
 * then of o+1, o+2, o+3; then the depth % 4 tail bytes of rows o, o+1, o+2, o+3. Rows after the last
 * complete quad keep their natural layout. The input offset: a layer with a bias has it folded in offline
 * (`bias` = bias - input_zp * sum(weights[o]), `input_offset` 0); a layer without one passes `bias` NULL (no
 * array in flash) and `input_offset` = -input_zp, added to the inputs (SXTAB16 in place of SXTB16 on the DSP
 * path: no extra instruction; int32 sums are exact either way). rq/mode: tg_requant_fast.h, output o uses
 * rq[rq_step * o ..]: rq_step 3 per channel ([out_features][3]), 0 per tensor (one triple). act_min..act_max
 * within -128..127. Needs no scratch: the DSP path sign-extends each group of four inputs once and uses it
 * for four weight rows (SMLAD), whose bytes sit next to each other. The four-row pass is a specialisation
 * (TG_VARIANT FC_QUADS, requested when out_features >= 4: tinygen/lowering/fc_ops.py fc_variants()); without
 * it the single-row loop computes the same bytes.
 */
void tg_fully_connected_s8(const int8_t *input, int32_t batches, int32_t in_features, int32_t input_offset,
                           const int8_t *weights, const int32_t *bias, const int32_t *rq, int32_t rq_step,
                           int32_t mode, int8_t *output, int32_t out_features, int32_t output_offset,
                           int32_t act_min, int32_t act_max);

#endif /* TG_FULLY_CONNECTED_S8_H */
