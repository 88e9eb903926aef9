/* tinygen int16 MUL: see tg_mul_s16.h. */
#include "tg_mul_s16.h"

#include "tg_common.h"

void tg_mul_s16(const int16_t *a, const int16_t *b, int32_t size, int32_t multiplier, int32_t shift, int32_t act_min,
                int32_t act_max, int16_t *out)
{
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        const int32_t v = tg_requantize((int32_t)a[i] * b[i], multiplier, shift);
        out[i] = (int16_t)TG_CLAMP(v, act_min, act_max);
    }
}
