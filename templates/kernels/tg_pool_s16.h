/* tinygen int16 max and average pooling (TFLite Micro's int16 MaxPool/AveragePool of 16x8 models, bit-exact). */
#ifndef TG_POOL_S16_H
#define TG_POOL_S16_H

#include <stdint.h>

/**
 * @brief NHWC int16 pooling over windows clipped to the image (padding never counts): `average` 0 the largest
 *        value (from -32768), 1 (sum + n/2) / n for a positive sum, (sum - n/2) / n otherwise (C's truncating
 *        division, n the valid pixels, the caller keeps n <= 65534 so the int32 sum cannot overflow); then
 *        clamped to [act_min, act_max]. Every window holds at least one pixel (the caller checks).
 */
void tg_pool_s16(const int16_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                 int32_t filter_h, int32_t filter_w, int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w,
                 int32_t out_h, int32_t out_w, int32_t act_min, int32_t act_max, int32_t average, int16_t *output);

#endif /* TG_POOL_S16_H */
