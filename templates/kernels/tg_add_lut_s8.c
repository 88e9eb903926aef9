/* tinygen int8 elementwise add with tabulated input rescaling: see tg_add_lut_s8.h. */
#include "tg_add_lut_s8.h"

#include "tg_common.h"
#include "tg_fixedpoint.h"

void tg_add_lut_s8(const int8_t *input1, const int8_t *input2, int32_t size, const int32_t *lut1,
                   const int32_t *lut2, int32_t output_offset, int32_t output_multiplier, int32_t output_shift,
                   int32_t act_min, int32_t act_max, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        const int32_t sum = lut1[(uint8_t)input1[i]] + lut2[(uint8_t)input2[i]];
        const int32_t out = tg_requantize_nonneg(sum, output_multiplier, output_shift) + output_offset;
        output[i] = (int8_t)TG_CLAMP(out, act_min, act_max);
    }
}
