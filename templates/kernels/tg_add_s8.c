/* tinygen int8 elementwise add: see tg_add_s8.h. */
#include "tg_add_s8.h"

void tg_add_s8(const int8_t *input1, const int8_t *input2, int32_t size, const tg_add_params_t *params,
               int8_t *output)
{
    const tg_add_params_t p = *params; /* a local copy lets the compiler keep the fields in registers */
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        output[i] = tg_add_one(input1[i], input2[i], &p);
    }
}
