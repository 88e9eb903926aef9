/*
 * tg_fully_connected_s8: int8 fully connected (dense) layer, per-tensor or per-channel.
 */
#ifndef TG_FULLY_CONNECTED_S8_H
#define TG_FULLY_CONNECTED_S8_H

#include <stdint.h>

/**
 * @brief output[b, o] = clamp(requant(bias[o] + sum_i input[b, i] * weights[o, i]) + output_offset)
 *
 * Layouts: input [batches, in_features], weights [out_features, in_features] (TFLite's),
 * output [batches, out_features]; all int8. `bias` is int32 with the input offset folded in
 * (bias - input_zp * sum(weights[o])). `multiplier`/`shift` have out_features entries when
 * `per_channel` is 1, one entry otherwise. act_min..act_max within -128..127.
 * Needs no scratch: the DSP path sign-extends each group of four inputs once (SXTB16) and uses it
 * for four weight rows (SMLAD).
 */
void tg_fully_connected_s8(const int8_t *input, int32_t batches, int32_t in_features, const int8_t *weights,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int32_t per_channel,
                           int8_t *output, int32_t out_features, int32_t output_offset, int32_t act_min,
                           int32_t act_max);

#endif /* TG_FULLY_CONNECTED_S8_H */
