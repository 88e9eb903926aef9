/* tinygen int16 pooling: see tg_pool_s16.h. */
#include "tg_pool_s16.h"

#include "tg_common.h"

/* The window of output position o along one axis, clipped to the input: its first input index (`*first`) and the
   filter taps [0, *taps) that fall inside (the window starts at o * stride - pad). */
TG_INLINE void tg_pool_s16_window(int32_t o, int32_t stride, int32_t pad, int32_t filter, int32_t size,
                                  int32_t *first, int32_t *taps)
{
    const int32_t origin = o * stride - pad;
    const int32_t skip = TG_MAX(0, -origin);
    *first = origin + skip;
    *taps = TG_MIN(filter, size - origin) - skip;
}

/* max (from -32768) or TFLite's rounded average of one channel over a clipped window of rows x cols pixels */
TG_INLINE int32_t tg_pool_s16_one(const int16_t *corner, int32_t rows, int32_t cols, int32_t row_stride,
                                  int32_t channels, int32_t average)
{
    const int32_t count = rows * cols;
    int32_t acc = average ? 0 : -32768;
    int32_t r, k;
    for (r = 0; r < rows; ++r)
    {
        for (k = 0; k < cols; ++k)
        {
            const int32_t v = corner[r * row_stride + k * channels];
            acc = average ? acc + v : TG_MAX(acc, v);
        }
    }
    if (average)
    {
        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count; /* C's truncating division */
    }
    return acc;
}

void tg_pool_s16(const int16_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                 int32_t filter_h, int32_t filter_w, int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w,
                 int32_t out_h, int32_t out_w, int32_t act_min, int32_t act_max, int32_t average, int16_t *output)
{
    const int32_t row_stride = in_w * channels;
    int32_t b, oy, ox, c;
    for (b = 0; b < batches; ++b)
    {
        for (oy = 0; oy < out_h; ++oy)
        {
            int32_t y, rows;
            tg_pool_s16_window(oy, stride_h, pad_h, filter_h, in_h, &y, &rows);
            for (ox = 0; ox < out_w; ++ox)
            {
                int32_t x, cols;
                const int16_t *corner;
                tg_pool_s16_window(ox, stride_w, pad_w, filter_w, in_w, &x, &cols);
                /* the first valid pixel: no pointer ever points outside the input */
                corner = input + ((b * in_h + y) * in_w + x) * channels;
                for (c = 0; c < channels; ++c)
                {
                    const int32_t v = tg_pool_s16_one(corner + c, rows, cols, row_stride, channels, average);
                    *output++ = (int16_t)TG_CLAMP(v, act_min, act_max);
                }
            }
        }
    }
}
