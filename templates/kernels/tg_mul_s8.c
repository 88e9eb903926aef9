/* tinygen int8 elementwise multiply: see tg_mul_s8.h. */
#include "tg_mul_s8.h"

void tg_mul_s8(const int8_t *input1, const int8_t *input2, int32_t size, const tg_mul_params_t *params,
               int8_t *output)
{
    const tg_mul_params_t p = *params;
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        output[i] = tg_mul_one(input1[i], input2[i], &p);
    }
}
