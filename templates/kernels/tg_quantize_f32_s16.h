/* tinygen float32 -> int16 quantization (TFLite Micro's QUANTIZE float32 -> int16, bit-exact). */
#ifndef TG_QUANTIZE_F32_S16_H
#define TG_QUANTIZE_F32_S16_H

#include <stdint.h>

/**
 * @brief out = sat16(roundf(x / scale) + zero_point), all in float32 as TFLite's AffineQuantize (the
 *        arithmetic of tg_quantize_f32_s8, clamped to the int16 range).
 *
 * @param[in]  input       float32 input, `size` elements
 * @param[in]  size        element count
 * @param[in]  scale       output scale (the float32 stored in the model)
 * @param[in]  zero_point  output zero point
 * @param[out] output      int16 output
 */
void tg_quantize_f32_s16(const float *input, int32_t size, float scale, int32_t zero_point, int16_t *output);

#endif /* TG_QUANTIZE_F32_S16_H */
