/* tinygen int16 ReLU with requantization: see tg_relu_s16.h. */
#include "tg_relu_s16.h"

#include "tg_common.h"
#include "tg_fixedpoint.h"

void tg_relu_s16(const int16_t *input, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift,
                 int32_t output_zp, int32_t act_min, int32_t act_max, int16_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        const int32_t v = output_zp + tg_requantize_nonneg((int32_t)input[i] - input_zp, multiplier, shift);
        output[i] = (int16_t)TG_CLAMP(v, act_min, act_max);
    }
}
