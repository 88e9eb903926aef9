/* tinygen int8 bilinear resize: see tg_resize_bilinear_s8.h. */
#include "tg_resize_bilinear_s8.h"

#include <string.h>

#include "tg_common.h"

/* The row loops stay separate functions: each gets all the registers for its inner loop. */
#if defined(__GNUC__) || defined(__clang__)
#define TG_BILINEAR_ROW static __attribute__((noinline)) void
#else
#define TG_BILINEAR_ROW static void
#endif

/* v / 2^bits rounded as TFLite rounds output_20 / 2^20: half away from zero, or half up (TFLITE_SINGLE_ROUNDING).
   |v| < 2^28, so nothing overflows and only non-negative values are shifted. A sum whose weights total 1024 (one
   axis) rounds with 10 bits the same as the sum times 1024 with 20 bits. */
TG_INLINE int8_t tg_bilinear_round(int32_t v, int32_t bits)
{
#if TG_SINGLE_ROUNDING
    const int32_t bias = (int32_t)1 << 28; /* floor((v + half) / 2^bits) on a non-negative value */
    return (int8_t)(((v + bias + ((int32_t)1 << (bits - 1))) >> bits) - (bias >> bits));
#else
    const int32_t mag = ((v >= 0 ? v : -v) + ((int32_t)1 << (bits - 1))) >> bits;
    return (int8_t)(v >= 0 ? mag : -mag);
#endif
}

/* One output row from one source row (its fraction is 0): per pixel a copy where the column fraction is 0, else
   a*1024 + (b - a)*fx = a*(1024 - fx) + b*fx rounded with 10 bits. */
TG_BILINEAR_ROW tg_bilinear_row1(int8_t *dst, const int8_t *src, const int32_t *cols, const int16_t *col_frac,
                                 int32_t out_w, int32_t depth)
{
    int32_t x, c;
    for (x = 0; x < out_w; ++x)
    {
        const int8_t *a = src + cols[2 * x];
        const int32_t fx = col_frac[x];
        if (fx == 0)
        {
            memcpy(dst, a, (size_t)depth);
        }
        else
        {
            const int8_t *b = src + cols[2 * x + 1];
            for (c = 0; c < depth; ++c)
            {
                dst[c] = tg_bilinear_round(a[c] * 1024 + (b[c] - a[c]) * fx, 10);
            }
        }
        dst += depth;
    }
}

/* One output row from two source rows: each column mixed horizontally (top, bottom: weights total 1024), then
   top*1024 + (bottom - top)*fy rounded with 20 bits; a column with fraction 0 mixes vertically only. */
TG_BILINEAR_ROW tg_bilinear_row2(int8_t *dst, const int8_t *src0, const int8_t *src1, int32_t fy, const int32_t *cols,
                                 const int16_t *col_frac, int32_t out_w, int32_t depth)
{
    int32_t x, c;
    for (x = 0; x < out_w; ++x)
    {
        const int32_t c0 = cols[2 * x];
        const int32_t fx = col_frac[x];
        const int8_t *p00 = src0 + c0;
        const int8_t *p10 = src1 + c0;
        if (fx == 0)
        {
            for (c = 0; c < depth; ++c)
            {
                dst[c] = tg_bilinear_round(p00[c] * 1024 + (p10[c] - p00[c]) * fy, 10);
            }
        }
        else
        {
            const int32_t c1 = cols[2 * x + 1];
            const int8_t *p01 = src0 + c1;
            const int8_t *p11 = src1 + c1;
            for (c = 0; c < depth; ++c)
            {
                const int32_t top = p00[c] * 1024 + (p01[c] - p00[c]) * fx;
                const int32_t bottom = p10[c] * 1024 + (p11[c] - p10[c]) * fx;
                dst[c] = tg_bilinear_round(top * 1024 + (bottom - top) * fy, 20);
            }
        }
        dst += depth;
    }
}

void tg_resize_bilinear_s8(const int8_t *input, int32_t batches, int32_t in_image_size, int32_t depth, int32_t out_h,
                           int32_t out_w, const int32_t *rows, const int16_t *row_frac, const int32_t *cols,
                           const int16_t *col_frac, int8_t *output)
{
    const size_t out_row = (size_t)out_w * (size_t)depth;
    int32_t b, y;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + (size_t)b * (size_t)in_image_size;
        for (y = 0; y < out_h; ++y)
        {
            const int32_t fy = row_frac[y];
            if (y > 0 && rows[2 * y] == rows[2 * y - 2] && rows[2 * y + 1] == rows[2 * y - 1] && fy == row_frac[y - 1])
            {
                /* the same sources and weights as the previous output row: copy that row */
                memcpy(output, output - out_row, out_row);
            }
            else if (fy == 0)
            {
                tg_bilinear_row1(output, image + rows[2 * y], cols, col_frac, out_w, depth);
            }
            else
            {
                tg_bilinear_row2(output, image + rows[2 * y], image + rows[2 * y + 1], fy, cols, col_frac, out_w,
                                 depth);
            }
            output += out_row;
        }
    }
}
