/* tinygen int8 clamp: see tg_relu_clamp_s8.h. */
#include "tg_relu_clamp_s8.h"

#include <string.h>

#include "tg_common.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#endif

void tg_relu_clamp_s8(const int8_t *input, int32_t size, int32_t lo, int32_t hi, int8_t *output)
{
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    const uint32_t lo4 = (uint32_t)(uint8_t)lo * UINT32_C(0x01010101);
    const uint32_t hi4 = (uint32_t)(uint8_t)hi * UINT32_C(0x01010101);
    for (; i + 4 <= size; i += 4)
    {
        uint32_t v;
        memcpy(&v, input + i, sizeof v);
        (void)__ssub8((int8x4_t)v, (int8x4_t)lo4); /* GE where v >= lo */
        v = (uint32_t)__sel((uint8x4_t)v, (uint8x4_t)lo4);
        (void)__ssub8((int8x4_t)v, (int8x4_t)hi4); /* GE where v >= hi */
        v = (uint32_t)__sel((uint8x4_t)hi4, (uint8x4_t)v);
        memcpy(output + i, &v, sizeof v);
    }
#endif
    for (; i < size; ++i)
    {
        output[i] = (int8_t)TG_CLAMP((int32_t)input[i], lo, hi);
    }
}
