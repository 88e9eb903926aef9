/* tinygen float32 -> int8 quantization: see tg_quantize_f32_s8.h. */
#include "tg_quantize_f32_s8.h"

#include "tg_common.h"
#include "tg_quantize_f32.h"

void tg_quantize_f32_s8(const float *input, int32_t size, float scale, int32_t zero_point, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        output[i] = tg_sat_s8(tg_quantize_f32_value(input[i], scale, zero_point));
    }
}
