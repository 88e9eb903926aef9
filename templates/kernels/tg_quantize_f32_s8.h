/* tinygen float32 -> int8 quantization (TFLite Micro's QUANTIZE float32 -> int8, bit-exact). */
#ifndef TG_QUANTIZE_F32_S8_H
#define TG_QUANTIZE_F32_S8_H

#include <stdint.h>

/**
 * @brief out = sat8(roundf(x / scale) + zero_point), all in float32 as TFLite's AffineQuantize.
 *
 * The division is a float32 division (not a multiply by 1/scale, which rounds differently);
 * rounding is half away from zero (roundf, computed without libm). A quotient beyond the int32 range,
 * or NaN, converts to INT32_MIN and the zero point is added with wrap-around: TFLite's conversion is
 * undefined behaviour there, and this is what it computes on x86, where the reference and TFLite
 * Micro's interpreter run.
 *
 * @param[in]  input       float32 input, `size` elements
 * @param[in]  size        element count
 * @param[in]  scale       output scale (the float32 stored in the model)
 * @param[in]  zero_point  output zero point
 * @param[out] output      int8 output
 */
void tg_quantize_f32_s8(const float *input, int32_t size, float scale, int32_t zero_point, int8_t *output);

#endif /* TG_QUANTIZE_F32_S8_H */
