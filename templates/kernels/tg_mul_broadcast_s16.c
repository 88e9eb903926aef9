/* tinygen int16 broadcasting MUL: see tg_mul_broadcast_s16.h. */
#include "tg_mul_broadcast_s16.h"

#include "tg_broadcast_s16.h"

/* One output row (tg_broadcast_row_s16_t) */
static void tg_mul_row_s16(const int16_t *a, int32_t st1, const int16_t *b, int32_t st2, int32_t n, const void *params,
                           int16_t *out)
{
    const tg_mul_s16_params_t p = *(const tg_mul_s16_params_t *)params;
    int32_t i;
    for (i = 0; i < n; ++i)
    {
        out[i] = tg_mul_s16_one(a[i * st1], b[i * st2], &p);
    }
}

void tg_mul_broadcast_s16(const int16_t *a, const int16_t *b, const int32_t *out_dims, const int32_t *strides1,
                          const int32_t *strides2, const tg_mul_s16_params_t *params, int16_t *out)
{
    tg_broadcast_s16(a, b, out_dims, strides1, strides2, tg_mul_row_s16, params, out);
}
