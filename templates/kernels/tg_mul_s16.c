/* tinygen int16 MUL: see tg_mul_s16.h. */
#include "tg_mul_s16.h"

void tg_mul_s16(const int16_t *a, const int16_t *b, int32_t size, const tg_mul_s16_params_t *params, int16_t *out)
{
    const tg_mul_s16_params_t p = *params;
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        out[i] = tg_mul_s16_one(a[i], b[i], &p);
    }
}
