/* tinygen int8 concatenation: see tg_concat_s8.h. */
#include "tg_concat_s8.h"

#include <string.h>

void tg_concat_s8(const int8_t *const *inputs, const int32_t *block_sizes, int32_t num_inputs, int32_t outer,
                  int8_t *output)
{
    int32_t o, i;
    for (o = 0; o < outer; ++o)
    {
        for (i = 0; i < num_inputs; ++i)
        {
            const size_t n = (size_t)block_sizes[i];
            memcpy(output, inputs[i] + (size_t)o * n, n);
            output += n;
        }
    }
}
