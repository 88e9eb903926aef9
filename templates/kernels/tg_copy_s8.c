/* tinygen byte copy: see tg_copy_s8.h. */
#include "tg_copy_s8.h"

#include <string.h>

void tg_copy_s8(const int8_t *input, int32_t size, int8_t *output)
{
    if (input != output)
    {
        memmove(output, input, (size_t)size);
    }
}
