/* tinygen float32 -> integer quantization, the arithmetic shared by the int8 and int16 kernels. */
#ifndef TG_QUANTIZE_F32_H
#define TG_QUANTIZE_F32_H

#include <stdint.h>

#include "tg_common.h"

/* roundf(q) for |q| <= 2^30 without libm: truncate, then step away from zero on a fraction of at least one
   half (q - trunc(q) is exact in float32, so the comparison is too). */
TG_INLINE int32_t tg_round_half_away(float q)
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

/* roundf(x / scale) + zero_point in int32, before the output type's clamp (TFLite's AffineQuantize). */
TG_INLINE int32_t tg_quantize_f32_value(float x, float scale, int32_t zero_point)
{
    const float q = x / scale;
    int64_t t;
    if (q >= -1073741824.0f && q <= 1073741824.0f)
    {
        return tg_round_half_away(q) + zero_point;
    }
    /* what TFLite Micro computes on x86 (tinygen's reference): the float-to-int conversion gives INT32_MIN
       outside the int32 range and for NaN, and adding the zero point wraps */
    t = (q > -2147483648.0f && q < 2147483648.0f) ? (int64_t)q : (int64_t)INT32_MIN;
    t += zero_point;
    if (t > INT32_MAX)
    {
        t -= INT64_C(4294967296);
    }
    else if (t < INT32_MIN)
    {
        t += INT64_C(4294967296);
    }
    return (int32_t)t;
}

#endif /* TG_QUANTIZE_F32_H */
