/* tinygen int8 elementwise add by table sums: see tg_add_table_s8.h. */
#include "tg_add_table_s8.h"

#include "tg_common.h"

#if defined(__ARM_FEATURE_SAT)
#include <arm_acle.h>
/* one SSAT, the constant shift folded in (the builtin behind ACLE's __ssat, whose macro trips -Wsign-conversion) */
#define TG_ADDT_SAT8(v) ((int32_t)__builtin_arm_ssat((int)(v), 8))
#else
#define TG_ADDT_SAT8(v) TG_CLAMP((v), -128, 127)
#endif

/* one output before the activation clamp: the sum's int8 saturation after an arithmetic shift by the
   constant SHIFT */
#define TG_ADDT_ONE(i, SHIFT) TG_ADDT_SAT8((table1[(uint8_t)input1[(i)]] + table2[(uint8_t)input2[(i)]]) >> (SHIFT))

/* the loop for a constant shift; always inlined so each call below is a specialised copy */
TG_INLINE void tg_addt_run(const int8_t *input1, const int8_t *input2, int32_t size, const int32_t *table1,
                           const int32_t *table2, const int shift, int32_t act_min, int32_t act_max, int8_t *output)
{
    int32_t i = 0;
    if (act_min == -128 && act_max == 127)
    {
        for (; i + 4 <= size; i += 4)
        {
            /* all four read before any is written: the output may alias an input */
            const int32_t v0 = TG_ADDT_ONE(i, shift), v1 = TG_ADDT_ONE(i + 1, shift);
            const int32_t v2 = TG_ADDT_ONE(i + 2, shift), v3 = TG_ADDT_ONE(i + 3, shift);
            output[i] = (int8_t)v0;
            output[i + 1] = (int8_t)v1;
            output[i + 2] = (int8_t)v2;
            output[i + 3] = (int8_t)v3;
        }
    }
    for (; i < size; ++i)
    {
        const int32_t v = TG_ADDT_ONE(i, shift);
        output[i] = (int8_t)TG_CLAMP(v, act_min, act_max);
    }
}

void tg_add_table_s8(const int8_t *input1, const int8_t *input2, int32_t size, const int32_t *table1,
                     const int32_t *table2, int32_t shift, int32_t act_min, int32_t act_max, int8_t *output)
{
    switch (shift)
    {
    case 16:
        tg_addt_run(input1, input2, size, table1, table2, 16, act_min, act_max, output);
        break;
    case 20:
        tg_addt_run(input1, input2, size, table1, table2, 20, act_min, act_max, output);
        break;
    default:
        tg_addt_run(input1, input2, size, table1, table2, 24, act_min, act_max, output);
        break;
    }
}
