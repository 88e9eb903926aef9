/* tinygen int16 mean: see tg_mean_s16.h. */
#include "tg_mean_s16.h"

#include "tg_broadcast_s16.h"
#include "tg_common.h"
#include "tg_fixedpoint.h"

/* Sum of the reduced elements around `base` (red_dims[0..2] walked by incremented pointers, no divisions). */
static int32_t tg_mean_s16_sum(const int16_t *base, const int32_t *red_dims, const int32_t *strides)
{
    const int32_t n = red_dims[3], step = strides[3];
    int32_t sum = 0;
    int32_t r0, r1, r2, i;
    for (r0 = 0; r0 < red_dims[0]; ++r0)
    {
        const int16_t *p1 = base + r0 * strides[0];
        for (r1 = 0; r1 < red_dims[1]; ++r1, p1 += strides[1])
        {
            const int16_t *p2 = p1;
            for (r2 = 0; r2 < red_dims[2]; ++r2, p2 += strides[2])
            {
                for (i = 0; i < n; ++i)
                {
                    sum += p2[i * step];
                }
            }
        }
    }
    return sum;
}

void tg_mean_s16(const int16_t *input, const int32_t *out_dims, const int32_t *out_strides, const int32_t *red_dims,
                 const int32_t *red_strides, int32_t count, int32_t input_zp, int32_t output_zp, int32_t multiplier,
                 int32_t shift, int16_t *output)
{
    const int32_t zp_sum = input_zp * count;
    const int32_t rows = tg_rows(out_dims), n = out_dims[3], step = out_strides[3];
    int32_t row, i;
    for (row = 0; row < rows; ++row)
    {
        const int16_t *p = input + tg_row_offset(row, out_dims, out_strides);
        for (i = 0; i < n; ++i)
        {
            /* the multiplier (1/count folded in) is >= 0: tg_requantize_nonneg */
            const int32_t sum = tg_mean_s16_sum(p + i * step, red_dims, red_strides);
            const int32_t v = tg_requantize_nonneg(sum - zp_sum, multiplier, shift) + output_zp;
            *output++ = (int16_t)TG_CLAMP(v, -32768, 32767);
        }
    }
}
