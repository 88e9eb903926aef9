/*
 * tg_fully_connected_dual_s8: int8 fully connected layer whose SMLADs each serve two weight rows.
 */
#ifndef TG_FULLY_CONNECTED_DUAL_S8_H
#define TG_FULLY_CONNECTED_DUAL_S8_H

#include <stdint.h>

/**
 * @brief output[b, o] = clamp(requant(bias[o] + sum_i (input[b, i] + input_offset) * weights[o, i]) + output_offset)
 *
 * The trick: rows come in pairs (A, B). A weight word holds, for two inputs i and j, the bytes
 * [a_i + 128, b_i, a_j + 128, b_j] (a_i + 128 stored as an unsigned byte, b_i as the signed int8).
 * Read as two int16 halfwords, they are 256 * b_i + (a_i + 128) and 256 * b_j + (a_j + 128), so with
 * the input pair (x_i, x_j) as int16:
 *   SMLAD(x, word)         adds 256 * B + A + 128 * X   (B, A: the two rows' dot products, X = x_i + x_j)
 *   SMLAD(x, UXTB16(word)) adds A + 128 * X.
 * After the loop, A = U - 128 * sum(x) and B = (R - U) / 2^8, exact when |B| < 2^23, which the lowering
 * checks offline for every B row (M * sum|b| < 2^23 with M the largest |x| below). Three instructions (SMLAD,
 * UXTB16, SMLAD) do four MACs, against four (two SXTB16, two SMLAD) with sign-extended weights. Weights stay
 * int8, same size.
 *
 * The input offset: a layer with a bias has it folded in offline (`bias` = bias - input_zp * sum(weights[o]),
 * `input_offset` 0: free, the bias exists anyway); a layer without one passes `bias` NULL (no array in flash)
 * and `input_offset` = -input_zp, which the expansion into scratch adds to every input (SXTAB16 where the
 * folded form uses SXTB16: no extra instruction); the tails and remaining rows add it too. The expanded
 * inputs are then |x + input_offset| <= 255 instead of 128, so M is 255 (exactly max|x + input_offset|)
 * for bias-less layers, 128 otherwise.
 *
 * Layouts, with G = in_features / 4 groups, T = in_features % 4, Q = out_features / 4 quads:
 *  - input [batches, in_features], output [batches, out_features], int8;
 *  - weights: first, per quad (rows o..o+3: pairs (o, o+1) and (o+2, o+3)) per group (inputs k..k+3)
 *    four words: pair 0 inputs (k, k+2), pair 0 inputs (k + 1, k + 3), pair 1 (k, k+2), pair 1 (k+1, k+3),
 *    each word as above (A row: first of the pair); then per quad the T tail bytes of rows o..o+3 in turn
 *    (plain int8); then the out_features % 4 remaining rows, plain int8, row after row.
 *    The quad part is a multiple of 16 bytes, so with a 4-byte aligned `weights` every word is aligned.
 *  - scratch: 4 * G int16 (4-byte aligned): per group the inputs k, k+2, k+1, k+3 plus input_offset.
 * `rq` holds one triple per output ([out_features][3], per-tensor layers repeat theirs): in mode
 * TG_FCD_RQ_GENERAL TFLite's {multiplier, shift, 0} (tg_requant_fast.h's general form); in the other modes
 * {multiplier m, 2^(e-1) + output_offset * 2^e, e} with e = -shift in 1..22 and every accumulator below 2^29
 * in magnitude (the lowering checks both), for SMMLAR's three-instruction requantization
 * (tg_fully_connected_dual_s8.c). FULL: act_min..act_max is -128..127; RELU: act_min >= output_offset and
 * act_max 127 (the sign term of the rounding drops out, SSAT is the upper bound); FAST: any other range within
 * -128..127. The packed epilogues of FULL, RELU and FAST are specialisations (TG_VARIANT FC_DUAL_RQ_FULL,
 * _RELU, _FAST; FC_DUAL_G8: the eight-group inner loop); without them the general epilogue computes the same
 * bytes (tinygen/lowering/fc_ops.py dual_variants() names the ones a call runs).
 */
#define TG_FCD_RQ_GENERAL 0
#define TG_FCD_RQ_FAST 1
#define TG_FCD_RQ_FULL 2
#define TG_FCD_RQ_RELU 3

void tg_fully_connected_dual_s8(const int8_t *input, int32_t batches, int32_t in_features, int32_t input_offset,
                                const int8_t *weights, const int32_t *bias, const int32_t *rq, int32_t mode,
                                int8_t *output, int32_t out_features, int32_t output_offset, int32_t act_min,
                                int32_t act_max, int16_t *scratch);

#endif /* TG_FULLY_CONNECTED_DUAL_S8_H */
