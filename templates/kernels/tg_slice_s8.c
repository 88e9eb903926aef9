/* tinygen int8 slice: see tg_slice_s8.h. */
#include "tg_slice_s8.h"

#include <string.h>

/* Contiguous runs up to this many bytes are copied inline (cheaper than a library call for a few bytes). */
#define TG_SLICE_SHORT_RUN 32

/* A short contiguous run: 4 bytes at a time (memcpy of 4 bytes is one unaligned-capable load or store where
   the core has them), each group read before it is written (so the output may trail the input in place). */
static void tg_slice_copy_short(const int8_t *src, int32_t count, int8_t *output)
{
    int32_t k = 0;
    for (; k + 4 <= count; k += 4)
    {
        uint32_t word;
        memcpy(&word, src + k, 4);
        memcpy(output + k, &word, 4);
    }
    for (; k < count; ++k)
    {
        output[k] = src[k];
    }
}

/* output[k] = src[k * stride] for k < count; src + k * stride stays inside the input for every k < count
   (the index is an integer, so no pointer outside the input is ever formed). Four elements are read before
   any of them is written (so the output may trail the input in place). */
static void tg_slice_gather(const int8_t *src, int32_t stride, int32_t count, int8_t *output)
{
    int32_t k = 0;
    int32_t index = 0;
    for (; k + 4 <= count; k += 4)
    {
        const int8_t v0 = src[index];
        const int8_t v1 = src[index + stride];
        const int8_t v2 = src[index + 2 * stride];
        const int8_t v3 = src[index + 3 * stride];
        output[k] = v0;
        output[k + 1] = v1;
        output[k + 2] = v2;
        output[k + 3] = v3;
        index += 4 * stride;
    }
    for (; k < count; ++k)
    {
        output[k] = src[index];
        index += stride;
    }
}

void tg_slice_s8(const int8_t *input, int32_t offset, const int32_t *dims, const int32_t *strides, int8_t *output)
{
    const int32_t run = dims[3];
    const int32_t step = strides[3];
    int32_t i0, i1, i2;
    for (i0 = 0; i0 < dims[0]; ++i0)
    {
        const int32_t base0 = offset + i0 * strides[0];
        for (i1 = 0; i1 < dims[1]; ++i1)
        {
            const int32_t base1 = base0 + i1 * strides[1];
            for (i2 = 0; i2 < dims[2]; ++i2)
            {
                /* the input element of output (i0, i1, i2, 0): inside the input */
                const int8_t *src = input + (base1 + i2 * strides[2]);
                if (step == 1)
                {
                    /* a contiguous run; memmove, as in place the output may overlap it (from below) */
                    if (run <= TG_SLICE_SHORT_RUN)
                    {
                        tg_slice_copy_short(src, run, output);
                    }
                    else
                    {
                        memmove(output, src, (size_t)run);
                    }
                }
                else
                {
                    tg_slice_gather(src, step, run, output);
                }
                output += run;
            }
        }
    }
}
