/* tinygen int16 -> float32 dequantization (TFLite Micro's DEQUANTIZE int16 -> float32, bit-exact). */
#ifndef TG_DEQUANTIZE_S16_H
#define TG_DEQUANTIZE_S16_H

#include <stdint.h>

/**
 * @brief out = (float)((double)scale * (x - zero_point)), as TFLite Micro's Dequantize.
 *
 * Computed in float32: (x - zero_point) has at most 17 significant bits and scale 24, so the double
 * product (41 bits) is exact and its one rounding to float equals the float32 product's rounding.
 *
 * @param[in]  input       int16 input, `size` elements
 * @param[in]  size        element count
 * @param[in]  scale       input scale (the float32 stored in the model)
 * @param[in]  zero_point  input zero point
 * @param[out] output      float32 output
 */
void tg_dequantize_s16(const int16_t *input, int32_t size, float scale, int32_t zero_point, float *output);

#endif /* TG_DEQUANTIZE_S16_H */
