/* tinygen int16 softmax (TFLite Micro's reference_ops::SoftmaxInt16 of 16x8 models, bit-exact). */
#ifndef TG_SOFTMAX_S16_H
#define TG_SOFTMAX_S16_H

#include <stdint.h>

/**
 * @brief Softmax of each of `rows` rows of `depth` int16 values (zero point 0) into int16 (scale 1/32768).
 *
 * Per row: d = requant(x - max, multiplier, shift) + 32767 (saturated to int16) indexes TFLite's exp table
 * (interpolated as TFLite's LUTLookup); the sum of the exps, normalised by its leading zeros h, indexes the
 * 1/(1 + x) table; each output is (exp * reciprocal + 2^(30-h)) >> (31 - h), clamped to 0..32767. The exps are
 * kept in the output row meanwhile, so `output` may be `input` (each input is read before its output is written).
 *
 * @param[in]  input        int16 input [rows][depth]
 * @param[in]  rows, depth  shape
 * @param[in]  multiplier, shift  TFLite's QuantizeMultiplier(input_scale * beta / (10 / 65535))
 * @param[in]  exp_lut      TFLite's 513-entry exp table
 * @param[in]  reciprocal_lut  TFLite's 513-entry 1/(1 + x) table
 * @param[out] output       int16 output [rows][depth]
 */
void tg_softmax_s16(const int16_t *input, int32_t rows, int32_t depth, int32_t multiplier, int32_t shift,
                    const int16_t *exp_lut, const int16_t *reciprocal_lut, int16_t *output);

#endif /* TG_SOFTMAX_S16_H */
