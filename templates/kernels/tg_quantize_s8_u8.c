/* tinygen int8 -> uint8 requantization: see tg_quantize_s8_u8.h. */
#include "tg_quantize_s8_u8.h"

#include "tg_common.h"
#include "tg_fixedpoint.h"

void tg_quantize_s8_u8(const int8_t *input, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift, int32_t output_zp,
        uint8_t *output)
{
    int32_t i;
    if (multiplier == (INT32_C(1) << 30) && shift == 1 && input_zp - output_zp == -128)
    {
        /* equal scales, zero points 128 apart: flip the sign bit (TFLite's fast path, the same result) */
        for (i = 0; i < size; ++i)
        {
            output[i] = (uint8_t)(input[i] ^ 0x80);
        }
        return;
    }
    for (i = 0; i < size; ++i)
    {
        output[i] = (uint8_t)tg_sat_u8(output_zp + tg_requantize_nonneg((int32_t)input[i] - input_zp, multiplier, shift));
    }
}
