/* tinygen float32 -> int8 quantization: see tg_quantize_f32_s8.h. */
#include "tg_quantize_f32_s8.h"

#include <math.h>

#include "tg_common.h"

void tg_quantize_f32_s8(const float *input, int32_t size, float scale, int32_t zero_point, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        const float q = roundf(input[i] / scale);
        int32_t v;
        if (q >= -1073741824.0f && q <= 1073741824.0f)
        {
            v = (int32_t)q + zero_point;
        }
        else
        {
            v = q > 0.0f ? 127 : -128; /* also NaN -> -128 */
        }
        output[i] = tg_sat_s8(v);
    }
}
