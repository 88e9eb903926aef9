/* tinygen int8 nearest-neighbour resize: see tg_resize_nearest_s8.h. */
#include "tg_resize_nearest_s8.h"

#include <string.h>

#include "tg_common.h"

/* The row gathers below stay separate functions: each gets all the registers for its inner loop (inlined into
   the row loop, the word copies spill to the stack). */
#if defined(__GNUC__) || defined(__clang__)
#define TG_RESIZE_ROW static __attribute__((noinline)) void
#else
#define TG_RESIZE_ROW static void
#endif

/* n bytes from src to dst (no overlap): pairs of words, a word, a halfword, a byte. Each fixed-size memcpy is
   one load or store where the core allows unaligned access (Cortex-M3 and up) and bytes where it does not
   (M0); with a constant n the compiler keeps only the copies n needs. */
TG_INLINE void tg_resize_copy_run(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
    {
        uint32_t w0, w1;
        memcpy(&w0, src + i, 4);
        memcpy(&w1, src + i + 4, 4);
        memcpy(dst + i, &w0, 4);
        memcpy(dst + i + 4, &w1, 4);
    }
    if (i + 4 <= n)
    {
        uint32_t w;
        memcpy(&w, src + i, 4);
        memcpy(dst + i, &w, 4);
        i += 4;
    }
    if (i + 2 <= n)
    {
        uint16_t h;
        memcpy(&h, src + i, 2);
        memcpy(dst + i, &h, 2);
        i += 2;
    }
    if (i < n)
    {
        dst[i] = src[i];
    }
}

/* One output row: the `depth` channels of source column cols[x] of src_row for each output column x. */
TG_INLINE void tg_resize_gather_row(int8_t *dst, const int8_t *src_row, const int16_t *cols, int32_t out_w,
                                    int32_t depth)
{
    int32_t x;
    for (x = 0; x < out_w; ++x)
    {
        tg_resize_copy_run(dst, src_row + (int32_t)cols[x] * depth, depth);
        dst += depth;
    }
}

TG_RESIZE_ROW tg_resize_row_1(int8_t *dst, const int8_t *src_row, const int16_t *cols, int32_t out_w)
{
    int32_t x;
    for (x = 0; x < out_w; ++x)
    {
        dst[x] = src_row[cols[x]];
    }
}

TG_RESIZE_ROW tg_resize_row_2(int8_t *dst, const int8_t *src_row, const int16_t *cols, int32_t out_w)
{
    tg_resize_gather_row(dst, src_row, cols, out_w, 2);
}

TG_RESIZE_ROW tg_resize_row_3(int8_t *dst, const int8_t *src_row, const int16_t *cols, int32_t out_w)
{
    tg_resize_gather_row(dst, src_row, cols, out_w, 3);
}

TG_RESIZE_ROW tg_resize_row_4(int8_t *dst, const int8_t *src_row, const int16_t *cols, int32_t out_w)
{
    tg_resize_gather_row(dst, src_row, cols, out_w, 4);
}

/* depth a multiple of 8: pairs of words only */
TG_RESIZE_ROW tg_resize_row_8n(int8_t *dst, const int8_t *src_row, const int16_t *cols, int32_t out_w,
                               int32_t depth)
{
    int32_t x, i;
    for (x = 0; x < out_w; ++x)
    {
        const int8_t *src = src_row + (int32_t)cols[x] * depth;
        for (i = 0; i < depth; i += 8)
        {
            uint32_t w0, w1;
            memcpy(&w0, src + i, 4);
            memcpy(&w1, src + i + 4, 4);
            memcpy(dst + i, &w0, 4);
            memcpy(dst + i + 4, &w1, 4);
        }
        dst += depth;
    }
}

/* any depth */
TG_RESIZE_ROW tg_resize_row_any(int8_t *dst, const int8_t *src_row, const int16_t *cols, int32_t out_w,
                                int32_t depth)
{
    tg_resize_gather_row(dst, src_row, cols, out_w, depth);
}

void tg_resize_nearest_s8(const int8_t *input, int32_t batches, int32_t in_image_size, int32_t depth, int32_t out_h,
                          int32_t out_w, const int32_t *row_offsets, const int16_t *cols, int8_t *output)
{
    const size_t out_row = (size_t)out_w * (size_t)depth;
    int32_t b, y;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + (size_t)b * (size_t)in_image_size;
        for (y = 0; y < out_h; ++y)
        {
            const int8_t *src_row = image + row_offsets[y];
            if (y > 0 && row_offsets[y] == row_offsets[y - 1])
            {
                /* the same source row as the previous output row: copy that output row whole */
                memcpy(output, output - out_row, out_row);
            }
            /* small depths with their copy unrolled at compile time, multiples of 8 in word pairs, then any */
            else if (depth == 1)
            {
                tg_resize_row_1(output, src_row, cols, out_w);
            }
            else if (depth == 2)
            {
                tg_resize_row_2(output, src_row, cols, out_w);
            }
            else if (depth == 3)
            {
                tg_resize_row_3(output, src_row, cols, out_w);
            }
            else if (depth == 4)
            {
                tg_resize_row_4(output, src_row, cols, out_w);
            }
            else if (depth % 8 == 0)
            {
                tg_resize_row_8n(output, src_row, cols, out_w, depth);
            }
            else
            {
                tg_resize_row_any(output, src_row, cols, out_w, depth);
            }
            output += out_row;
        }
    }
}
