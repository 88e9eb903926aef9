/*
 * tg_fully_connected_mve_s16: int16x8 fully connected layer for Helium (MVE, Cortex-M55): TFLite Micro's 16x8
 * FullyConnected (tg_fully_connected_s16's arithmetic), bit-exact, with VMLALDAVA.S16.
 */
#ifndef TG_FULLY_CONNECTED_MVE_S16_H
#define TG_FULLY_CONNECTED_MVE_S16_H

#include <stdint.h>

/**
 * @brief output[b, o] = clamp(requant(bias[o] + sum_i input[b, i] * weights[o, i]) + output_offset)
 *
 * Per step of 8 inputs one VLDRH.16 of the input row and, for each of four outputs, one widening VLDRB.S16 of
 * their weights and one VMLALDAVA.S16 (eight int16 x int16 products added to an exact 64-bit sum); the
 * depth % 8 tail is one predicated input load (lanes past the row are 0 and not read).
 *
 * Offline layouts (tinygen/ops/fully_connected.py, lower_mve_s16):
 * - weights: mve_ops.quad_layout with steps of 8: output rows in quads (zero rows pad the last one), depth padded
 *   with zeros to d8 = in_features rounded up to 8, per quad per step the 8 bytes of each of its four rows in
 *   turn ([quad][d8 / 8][4][8]);
 * - bias: int64 per output, zeros past out_features up to a multiple of 4 (and everywhere without a bias);
 * - rq: two int32 per output. `wide` 1 (TFLite's int64 accumulator: an int64 bias or none): {reduced, t}, TFLite's
 *   multiplier already rounded to Q0.15 and the total right shift t = 15 - shift (8..46), so requant(s) =
 *   (int32)((s * reduced + 2^(t - 1)) >> t), exact in int64 for |s| < 2^47 (the lowering checks it). `wide` 0
 *   (an int32 bias: TFLite's int32 accumulator) {multiplier, shift}: the sum wrapped to int32, then tg_requantize.
 * act_min..act_max within -32768..32767.
 */
void tg_fully_connected_mve_s16(const int16_t *input, int32_t batches, int32_t in_features, const int8_t *weights,
                                const int64_t *bias, const int32_t *rq, int32_t wide, int16_t *output,
                                int32_t out_features, int32_t output_offset, int32_t act_min, int32_t act_max);

#endif /* TG_FULLY_CONNECTED_MVE_S16_H */
