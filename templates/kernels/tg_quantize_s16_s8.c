/* tinygen int16 -> int8 requantization: see tg_quantize_s16_s8.h. */
#include "tg_quantize_s16_s8.h"

#include "tg_common.h"
#include "tg_fixedpoint.h"

void tg_quantize_s16_s8(const int16_t *input, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift,
                        int32_t output_zp, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        output[i] = tg_sat_s8(output_zp + tg_requantize_nonneg((int32_t)input[i] - input_zp, multiplier, shift));
    }
}
