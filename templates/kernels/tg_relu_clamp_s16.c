/* tinygen int16 clamp: see tg_relu_clamp_s16.h. */
#include "tg_relu_clamp_s16.h"

#include <string.h>

#include "tg_common.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#endif

void tg_relu_clamp_s16(const int16_t *input, int32_t size, int32_t lo, int32_t hi, int16_t *output)
{
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    const uint32_t lo2 = (uint32_t)(uint16_t)lo * UINT32_C(0x00010001);
    const uint32_t hi2 = (uint32_t)(uint16_t)hi * UINT32_C(0x00010001);
    for (; i + 2 <= size; i += 2)
    {
        uint32_t v;
        memcpy(&v, input + i, sizeof v);
        (void)__ssub16((int16x2_t)v, (int16x2_t)lo2); /* GE where v >= lo */
        v = (uint32_t)__sel((uint8x4_t)v, (uint8x4_t)lo2);
        (void)__ssub16((int16x2_t)v, (int16x2_t)hi2); /* GE where v >= hi */
        v = (uint32_t)__sel((uint8x4_t)hi2, (uint8x4_t)v);
        memcpy(output + i, &v, sizeof v);
    }
#endif
    for (; i < size; ++i)
    {
        output[i] = (int16_t)TG_CLAMP((int32_t)input[i], lo, hi);
    }
}
