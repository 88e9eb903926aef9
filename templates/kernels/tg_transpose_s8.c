/* tinygen int8 transpose: see tg_transpose_s8.h. */
#include "tg_transpose_s8.h"

#include <string.h>

/* One output row of n elements, input elements `step` apart, four per step. */
static void tg_transpose_row(const int8_t *src, int32_t step, int32_t n, int8_t *dst)
{
    int32_t i = 0;
    int32_t k = 0;
    for (; i + 4 <= n; i += 4)
    {
        dst[i] = src[k];
        dst[i + 1] = src[k + step];
        dst[i + 2] = src[k + 2 * step];
        dst[i + 3] = src[k + 3 * step];
        k += 4 * step;
    }
    for (; i < n; ++i)
    {
        dst[i] = src[k];
        k += step;
    }
}

void tg_transpose_s8(const int8_t *input, const int32_t *dims, const int32_t *strides, int8_t *output)
{
    const int32_t n3 = dims[3];
    const int32_t s3 = strides[3];
    int32_t i0, i1, i2;
    /* every offset below is at most the element count - 1, so int32 holds it */
    for (i0 = 0; i0 < dims[0]; ++i0)
    {
        const int32_t off0 = i0 * strides[0];
        for (i1 = 0; i1 < dims[1]; ++i1)
        {
            const int32_t off1 = off0 + i1 * strides[1];
            for (i2 = 0; i2 < dims[2]; ++i2)
            {
                const int8_t *src = input + (off1 + i2 * strides[2]);
                if (s3 == 1)
                {
                    memcpy(output, src, (size_t)n3);
                }
                else
                {
                    tg_transpose_row(src, s3, n3, output);
                }
                output += n3;
            }
        }
    }
}
