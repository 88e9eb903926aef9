/* tinygen int8 table lookup: see tg_lut_s8.h. */
#include "tg_lut_s8.h"

void tg_lut_s8(const int8_t *input, int32_t size, const int8_t *table, int8_t *output)
{
    /* the input's bits as the table index: (uint8_t)x, read through a character type */
    const uint8_t *in = (const uint8_t *)input;
    int32_t i = 0;
    /* four elements per step, all four read before any is written (so output may alias input) */
    for (; i + 4 <= size; i += 4)
    {
        const int8_t y0 = table[in[i]];
        const int8_t y1 = table[in[i + 1]];
        const int8_t y2 = table[in[i + 2]];
        const int8_t y3 = table[in[i + 3]];
        output[i] = y0;
        output[i + 1] = y1;
        output[i + 2] = y2;
        output[i + 3] = y3;
    }
    for (; i < size; ++i)
    {
        output[i] = table[in[i]];
    }
}
