/* tinygen int16 softmax: see tg_softmax_s16.h. */
#include "tg_softmax_s16.h"

#include "tg_common.h"
#include "tg_fixedpoint.h"

/* TFLite's LUTLookup(int16_t): entries 256 + (v >> 7) and the next, interpolated by the low 7 bits */
TG_INLINE int32_t tg_lut16(int32_t v, const int16_t *lut)
{
    const int32_t index = 256 + (v >> 7); /* arithmetic shift, as TFLite's */
    const int32_t base = lut[index];
    const int32_t slope = lut[index + 1] - base;
    return base + ((slope * (v & 0x7F) + 64) >> 7);
}

void tg_softmax_s16(const int16_t *input, int32_t rows, int32_t depth, int32_t multiplier, int32_t shift,
                    const int16_t *exp_lut, const int16_t *reciprocal_lut, int16_t *output)
{
    int32_t r, c;
    for (r = 0; r < rows; ++r)
    {
        const int16_t *x = input + r * depth;
        int16_t *out = output + r * depth;
        int32_t max = -32768, sum = 0, headroom, reciprocal, right;
        for (c = 0; c < depth; ++c)
        {
            max = TG_MAX(max, x[c]);
        }
        for (c = 0; c < depth; ++c)
        {
            const int32_t d = tg_requantize(x[c] - max, multiplier, shift) + 32767;
            const int32_t e = tg_lut16(TG_CLAMP(d, -32768, 32767), exp_lut);
            out[c] = (int16_t)e;
            sum += e;
        }
        headroom = tg_fp_clz((uint32_t)sum);
        reciprocal = (int32_t)((((int64_t)sum << (headroom - 1)) + (1 << 13)) >> 14) - ((1 << 15) + (1 << 16));
        reciprocal = tg_lut16(TG_CLAMP(reciprocal, -32768, 32767), reciprocal_lut);
        right = 31 - headroom;
        for (c = 0; c < depth; ++c)
        {
            const int64_t v = ((int64_t)out[c] * reciprocal + (INT64_C(1) << (right - 1))) >> right;
            out[c] = (int16_t)TG_CLAMP(v, 0, 32767);
        }
    }
}
