/* tinygen int16 ADD: see tg_add_s16.h. */
#include "tg_add_s16.h"

void tg_add_s16(const int16_t *a, const int16_t *b, int32_t size, const tg_add_s16_params_t *params, int16_t *out)
{
    const tg_add_s16_params_t p = *params; /* a local copy lets the compiler keep the fields in registers */
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        out[i] = tg_add_s16_out(tg_add_s16_rescale(a[i], p.m1, p.s1), tg_add_s16_rescale(b[i], p.m2, p.s2), &p);
    }
}
