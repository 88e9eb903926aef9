/* tinygen int16 ADD: see tg_add_s16.h. */
#include "tg_add_s16.h"

#include "tg_common.h"

void tg_add_s16(const int16_t *a, const int16_t *b, int32_t size, int32_t m1, int32_t s1, int32_t m2, int32_t s2,
                int32_t mo, int32_t so, int32_t output_offset, int32_t act_min, int32_t act_max, int32_t subtract,
                int16_t *out)
{
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        const int32_t x = tg_requantize(tg_shl(a[i], 15), m1, s1);
        const int32_t y = tg_requantize(tg_shl(b[i], 15), m2, s2);
        const int32_t v = tg_requantize(subtract ? x - y : x + y, mo, so) + output_offset;
        out[i] = (int16_t)TG_CLAMP(v, act_min, act_max);
    }
}
