/* tinygen int16 LOGISTIC and TANH (TFLite Micro's reference_integer_ops::Logistic/Tanh on int16, bit-exact). */
#ifndef TG_SIGMOID_TANH_S16_H
#define TG_SIGMOID_TANH_S16_H

#include <stdint.h>

/**
 * @brief out = sigmoid (tanh != 0: tanh) of each int16 input, Q0.15, by linear interpolation in TFLite's
 *        256-entry sigmoid table.
 *
 * The input is rescaled to v = (x * multiplier + round) >> shift (round = 2^(shift-1), or 0 for shift 0; a
 * power-of-two input scale comes with TFLite's multiplier 3 << s and shift 0), then for |v|: table index
 * |v| >> 9 (tanh: >> 8, as tanh(x) = 2 sigmoid(2x) - 1), the remaining bits interpolating between two
 * entries, saturating from index 255; mirrored for v < 0, with TFLite's roundings
 * (tinygen/ops/logistic.py interpolate_int16).
 *
 * @param[in]  input       int16 input (zero point 0), `size` elements
 * @param[in]  size        element count
 * @param[in]  multiplier  input multiplier, 0..32767
 * @param[in]  shift       input right shift, 0..31
 * @param[in]  table       TFLite's sigmoid_table_uint16 (256 entries)
 * @param[in]  tanh        0: LOGISTIC, 1: TANH
 * @param[out] output      int16 output (scale 2^-15, zero point 0); may be the input
 */
void tg_sigmoid_tanh_s16(const int16_t *input, int32_t size, int32_t multiplier, int32_t shift, const uint16_t *table,
                         int32_t tanh, int16_t *output);

#endif /* TG_SIGMOID_TANH_S16_H */
