/* tinygen int8 mean: see tg_mean_s8.h. */
#include "tg_mean_s8.h"

#include "tg_common.h"
#include "tg_fixedpoint.h"

/* Sum of the reduced elements around `base`. */
static int32_t tg_mean_sum(const int8_t *base, const int32_t *red_dims, const int32_t *strides)
{
    int32_t sum = 0;
    int32_t r0, r1, r2, r3;
    for (r0 = 0; r0 < red_dims[0]; ++r0)
    {
        for (r1 = 0; r1 < red_dims[1]; ++r1)
        {
            for (r2 = 0; r2 < red_dims[2]; ++r2)
            {
                const int8_t *p = base + r0 * strides[0] + r1 * strides[1] + r2 * strides[2];
                for (r3 = 0; r3 < red_dims[3]; ++r3)
                {
                    sum += p[r3 * strides[3]];
                }
            }
        }
    }
    return sum;
}

void tg_mean_s8(const int8_t *input, const int32_t *out_dims, const int32_t *red_dims, const int32_t *strides,
                int32_t count, int32_t same_quant, int32_t input_zp, int32_t output_zp, int32_t multiplier,
                int32_t shift, int8_t *output)
{
    const int32_t zp_sum = input_zp * count;
    int32_t o0, o1, o2, o3;
    for (o0 = 0; o0 < out_dims[0]; ++o0)
    {
        for (o1 = 0; o1 < out_dims[1]; ++o1)
        {
            for (o2 = 0; o2 < out_dims[2]; ++o2)
            {
                for (o3 = 0; o3 < out_dims[3]; ++o3)
                {
                    const int8_t *base = input + o0 * strides[0] + o1 * strides[1] + o2 * strides[2] + o3 * strides[3];
                    const int32_t sum = tg_mean_sum(base, red_dims, strides);
                    int32_t value;
                    if (same_quant)
                    {
                        value = sum / count; /* C99 division truncates toward zero, as TFLite's does */
                    }
                    else
                    {
                        value = tg_requantize_nonneg(sum - zp_sum, multiplier, shift) + output_zp;
                    }
                    *output++ = tg_sat_s8(value);
                }
            }
        }
    }
}
