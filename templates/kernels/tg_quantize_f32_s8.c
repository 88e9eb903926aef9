/* tinygen float32 -> int8 quantization: see tg_quantize_f32_s8.h. */
#include "tg_quantize_f32_s8.h"

#include "tg_common.h"

/* roundf(q) for |q| <= 2^30 without libm: truncate, then step away from zero on a fraction of at least one
   half (q - trunc(q) is exact in float32, so the comparison is too). */
static int32_t tg_round_half_away(float q)
{
    const int32_t t = (int32_t)q;
    const float fraction = q - (float)t;
    if (fraction >= 0.5f)
    {
        return t + 1;
    }
    if (fraction <= -0.5f)
    {
        return t - 1;
    }
    return t;
}

void tg_quantize_f32_s8(const float *input, int32_t size, float scale, int32_t zero_point, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        const float q = input[i] / scale;
        int32_t v;
        if (q >= -1073741824.0f && q <= 1073741824.0f)
        {
            v = tg_round_half_away(q) + zero_point;
        }
        else
        {
            /* what TFLite Micro computes on x86 (tinygen's reference): the float-to-int conversion gives
               INT32_MIN outside the int32 range and for NaN, and adding the zero point wraps */
            int64_t t = (q > -2147483648.0f && q < 2147483648.0f) ? (int64_t)q : (int64_t)INT32_MIN;
            t += zero_point;
            if (t > INT32_MAX)
            {
                t -= INT64_C(4294967296);
            }
            else if (t < INT32_MIN)
            {
                t += INT64_C(4294967296);
            }
            v = (int32_t)t;
        }
        output[i] = tg_sat_s8(v);
    }
}
