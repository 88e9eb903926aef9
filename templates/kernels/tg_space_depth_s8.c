/* tinygen int8 depth <-> space: see tg_space_depth_s8.h. */
#include "tg_space_depth_s8.h"

#include <string.h>

/* runs of at least this many bytes are copied with memcpy, shorter ones byte by byte */
#define TG_SPACE_DEPTH_MEMCPY_MIN 16

void tg_space_depth_s8(const int8_t *input, int32_t outer, int32_t rows, int32_t cols, int32_t run,
                       int8_t *output)
{
    /* every offset below is that of a byte of the current block of the input (fewer than 2^31 bytes in all), so
       int32 holds it and no pointer leaves the tensor */
    const int32_t row_bytes = cols * run;
    const int32_t block_bytes = rows * row_bytes;
    int32_t o, c, r, k;
    for (o = 0; o < outer; ++o)
    {
        for (c = 0; c < cols; ++c)
        {
            const int8_t *src = input + c * run;
            if (run >= TG_SPACE_DEPTH_MEMCPY_MIN)
            {
                for (r = 0; r < rows; ++r)
                {
                    memcpy(output, src + r * row_bytes, (size_t)run);
                    output += run;
                }
            }
            else
            {
                for (r = 0; r < rows; ++r)
                {
                    const int8_t *from = src + r * row_bytes;
                    for (k = 0; k < run; ++k)
                    {
                        output[k] = from[k];
                    }
                    output += run;
                }
            }
        }
        input += block_bytes;
    }
}
