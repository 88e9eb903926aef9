/* tinygen SVDF, int8 input, weights and output with an int8 or int16 state: TFLite Micro's integer SVDF,
 * bit-exact. */
#ifndef TG_SVDF_S8_H
#define TG_SVDF_S8_H

#include <stdint.h>

/* The int32 parameter block `q` (tinygen/ops/svdf.py, quant_words). */
#define TG_SVDF_Q_FEATURE 0  /* feature requantization: multiplier, shift (to the state's scale) */
#define TG_SVDF_Q_OUTPUT 2   /* output requantization: multiplier, shift */
#define TG_SVDF_Q_STATE_ZP 4 /* the state's zero point */
#define TG_SVDF_Q_OUT_ZP 5   /* the output's zero point */
/* each requantization's fast form (tg_requant_fast.h: 2^(e-2) + offset * 2^(e-1), then e - 1; the feature's offset
   is 0, the output's its zero point), or 0, 0 where its right shift e is outside 2..22 (the general form above) */
#define TG_SVDF_Q_FEATURE_FAST 6
#define TG_SVDF_Q_OUTPUT_FAST 8
#define TG_SVDF_Q_WORDS 10

/**
 * @brief One invocation of an SVDF layer: the state moves one place back in time, takes the new feature value
 *        of each filter, and the output is the time-weighted sum of each unit's filters.
 *
 * The state (int8 or int16, `state_bits` 8 or 16, the time weights of the same type) is filter-major: filter
 * f's memory at places f * memory .. f * memory + memory - 1, oldest first. The whole buffer shifts one place
 * left; then, per batch row, filter f's last place becomes wrap(sat(rq(b_feature[f] + w_feature[f] . x)) +
 * state_zp) in the state's type (TFLite Micro's order); then
 * output[u] = sat8(rq(b_unit[u] + sum over the unit's `rank` filters of w_time[f] . state[f]) + out_zp).
 *
 * @param[in]  input       int8 [batches][input_size]
 * @param[in]  state_in    [batches][filters * memory] of the state's type (2-byte aligned when int16): the state
 *                         before the call
 * @param[in]  state_bits  8 or 16
 * @param[in]  w_feature   int8 [filters][input_size]
 * @param[in]  w_time      [filters][memory] of the state's type (2-byte aligned when int16)
 * @param[in]  b_feature   int32 [filters]: -input_zero_point * sum(w_feature row)
 * @param[in]  b_unit      int32 [units]: the bias, -state_zero_point * sum of the unit's w_time rows folded in
 * @param[in]  q           int32 [TG_SVDF_Q_WORDS] parameters (TG_SVDF_Q_*)
 * @param[out] output      int8 [batches][filters / rank]
 * @param[out] state_out   like state_in: the state after the call; state_in itself or not overlapping it
 */
void tg_svdf_s8(const int8_t *input, const void *state_in, int32_t state_bits, int32_t batches, int32_t input_size,
                int32_t filters, int32_t memory, int32_t rank, const int8_t *w_feature, const void *w_time,
                const int32_t *b_feature, const int32_t *b_unit, const int32_t *q, int8_t *output, void *state_out);

#endif /* TG_SVDF_S8_H */
