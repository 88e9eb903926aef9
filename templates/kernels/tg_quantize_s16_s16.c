/* tinygen int16 -> int16 requantization: see tg_quantize_s16_s16.h. */
#include "tg_quantize_s16_s16.h"

#include "tg_requantize_s16.h"

void tg_quantize_s16_s16(const int16_t *input, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift,
                         int32_t output_zp, int16_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        output[i] = tg_requantize_s16(input[i], input_zp, multiplier, shift, output_zp);
    }
}
