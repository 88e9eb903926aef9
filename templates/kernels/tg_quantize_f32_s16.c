/* tinygen float32 -> int16 quantization: see tg_quantize_f32_s16.h. */
#include "tg_quantize_f32_s16.h"

#include "tg_common.h"
#include "tg_quantize_f32.h"

void tg_quantize_f32_s16(const float *input, int32_t size, float scale, int32_t zero_point, int16_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        const int32_t v = tg_quantize_f32_value(input[i], scale, zero_point);
        output[i] = (int16_t)TG_CLAMP(v, -32768, 32767);
    }
}
