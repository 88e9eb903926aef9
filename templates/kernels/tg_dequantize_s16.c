/* tinygen int16 -> float32 dequantization: see tg_dequantize_s16.h. */
#include "tg_dequantize_s16.h"

void tg_dequantize_s16(const int16_t *input, int32_t size, float scale, int32_t zero_point, float *output)
{
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        output[i] = scale * (float)((int32_t)input[i] - zero_point);
    }
}
