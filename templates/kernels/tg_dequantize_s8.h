/* tinygen int8 -> float32 dequantization (TFLite Micro's DEQUANTIZE, bit-exact). */
#ifndef TG_DEQUANTIZE_S8_H
#define TG_DEQUANTIZE_S8_H

#include <stdint.h>

/**
 * @brief out = (float)((double)scale * (x - zero_point)), as TFLite Micro's Dequantize.
 *
 * Computed in float32: (x - zero_point) has at most 9 significant bits and scale 24, so the
 * double product is exact and its one rounding to float equals the float32 product's rounding.
 * No double arithmetic is needed (Cortex-M4/M7-SP have single-precision FPUs only).
 *
 * @param[in]  input       int8 input, `size` elements
 * @param[in]  size        element count
 * @param[in]  scale       input scale (the float32 stored in the model)
 * @param[in]  zero_point  input zero point
 * @param[out] output      float32 output
 */
void tg_dequantize_s8(const int8_t *input, int32_t size, float scale, int32_t zero_point, float *output);

#endif /* TG_DEQUANTIZE_S8_H */
