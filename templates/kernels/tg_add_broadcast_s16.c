/* tinygen int16 broadcasting ADD and SUB: see tg_add_broadcast_s16.h. */
#include "tg_add_broadcast_s16.h"

#include "tg_broadcast_s16.h"

/* One output row (tg_broadcast_row_s16_t) */
static void tg_add_row_s16(const int16_t *a, int32_t st1, const int16_t *b, int32_t st2, int32_t n, const void *params,
                           int16_t *out)
{
    const tg_add_s16_params_t p = *(const tg_add_s16_params_t *)params;
    int32_t i;
    if (st2 == 0)
    {
        /* b is one value along the row (a scalar or per-row constant): rescaled once */
        const int32_t y = tg_add_s16_rescale(b[0], p.m2, p.s2);
        for (i = 0; i < n; ++i)
        {
            out[i] = tg_add_s16_out(tg_add_s16_rescale(a[i * st1], p.m1, p.s1), y, &p);
        }
    }
    else if (st1 == 0)
    {
        const int32_t x = tg_add_s16_rescale(a[0], p.m1, p.s1);
        for (i = 0; i < n; ++i)
        {
            out[i] = tg_add_s16_out(x, tg_add_s16_rescale(b[i * st2], p.m2, p.s2), &p);
        }
    }
    else
    {
        for (i = 0; i < n; ++i)
        {
            const int32_t x = tg_add_s16_rescale(a[i * st1], p.m1, p.s1);
            out[i] = tg_add_s16_out(x, tg_add_s16_rescale(b[i * st2], p.m2, p.s2), &p);
        }
    }
}

void tg_add_broadcast_s16(const int16_t *a, const int16_t *b, const int32_t *out_dims, const int32_t *strides1,
                          const int32_t *strides2, const tg_add_s16_params_t *params, int16_t *out)
{
    tg_broadcast_s16(a, b, out_dims, strides1, strides2, tg_add_row_s16, params, out);
}
