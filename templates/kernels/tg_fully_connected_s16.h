/*
 * tg_fully_connected_s16: int16x8 fully connected (dense) layer: int16 activations, int8 weights, per-tensor
 * or per-channel (TFLite Micro's reference_integer_ops::FullyConnected/FullyConnectedPerChannel on int16).
 */
#ifndef TG_FULLY_CONNECTED_S16_H
#define TG_FULLY_CONNECTED_S16_H

#include <stdint.h>

/**
 * @brief output[b, o] = clamp(requant(bias[o] + sum_i input[b, i] * weights[o, i]) + output_offset)
 *
 * Layouts: input [batches, in_features] int16 (zero point 0), output [batches, out_features] int16.
 * Weights [out_features, in_features] int8, each row's complete groups of four w0 w1 w2 w3 stored as
 * w0 w2 w1 w3 (tinygen/lowering/fc_ops.py, same size), so that on the DSP path SXTB16 of a group gives
 * (w0, w1) and SXTB16 of it rotated by 8 gives (w2, w3), each pairing with a word of two int16 inputs in one
 * SMLAD; the depth % 4 tail keeps its order. The dot product is exact: int32 partial sums over blocks of
 * at most 256 inputs (|x * w| <= 2^22, so a block stays below 2^30) added into an int64.
 *
 * `wide` 1 (an int64 bias, or none: TFLite's int64 accumulator): requant is TFLite's int64
 * MultiplyByQuantizedMultiplier (the multiplier rounded to 16 bits; the same in both rounding modes), and
 * the caller guarantees |bias| + in_features * 2^22 < 2^47 and shifts <= 7. `wide` 0 (an int32 bias): the
 * sum wraps to int32 as TFLite's int32 accumulator does, then tg_requantize. `bias` may be NULL (no bias).
 * Output o uses multipliers[o * rq_step] and shifts[o * rq_step]: rq_step 1 per channel, 0 per tensor.
 * act_min..act_max within -32768..32767.
 */
void tg_fully_connected_s16(const int16_t *input, int32_t batches, int32_t in_features, const int8_t *weights,
                            const int64_t *bias, const int32_t *multipliers, const int32_t *shifts, int32_t rq_step,
                            int32_t wide, int16_t *output, int32_t out_features, int32_t output_offset,
                            int32_t act_min, int32_t act_max);

#endif /* TG_FULLY_CONNECTED_S16_H */
