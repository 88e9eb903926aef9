/* tinygen int16 -> int32 requantization: see tg_quantize_s16_s32.h. */
#include "tg_quantize_s16_s32.h"

#include "tg_common.h"
#include "tg_fixedpoint.h"

void tg_quantize_s16_s32(const int16_t *input, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift,
                         int32_t output_zp, int32_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        /* in 64 bits: the sum cannot wrap (TFLite's int32 sum is undefined where it would) */
        const int64_t v = (int64_t)output_zp + tg_requantize_nonneg((int32_t)input[i] - input_zp, multiplier, shift);
        output[i] = (int32_t)TG_CLAMP(v, (int64_t)INT32_MIN, (int64_t)INT32_MAX);
    }
}
