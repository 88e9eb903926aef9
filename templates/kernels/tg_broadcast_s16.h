/* tinygen: the row walk of the int16 elementwise and reduction kernels over 4-D layouts (header-only). */
#ifndef TG_BROADCAST_S16_H
#define TG_BROADCAST_S16_H

#include <stdint.h>

#include "tg_common.h"

/*
 * A 4-D extent `dims` (row-major) is walked as dims[0] * dims[1] * dims[2] rows of dims[3] elements; a tensor
 * steps by strides[k] elements along dimension k (0 where it is broadcast). tg_row_offset gives the tensor's
 * element offset at the start of row `row`: one division pair per row, none per element.
 */
TG_INLINE int32_t tg_row_offset(int32_t row, const int32_t *dims, const int32_t *strides)
{
    const int32_t i2 = row % dims[2];
    const int32_t i1 = (row / dims[2]) % dims[1];
    const int32_t i0 = row / (dims[2] * dims[1]);
    return i0 * strides[0] + i1 * strides[1] + i2 * strides[2];
}

/* Rows of the walk over `dims`. */
TG_INLINE int32_t tg_rows(const int32_t *dims)
{
    return dims[0] * dims[1] * dims[2];
}

/* One output row of a broadcasting elementwise kernel: n outputs from a (element step st1) and b (step st2). */
typedef void (*tg_broadcast_row_s16_t)(const int16_t *a, int32_t st1, const int16_t *b, int32_t st2, int32_t n,
                                       const void *params, int16_t *out);

/* The walk of a broadcasting elementwise kernel over its 4-D output: `row` for each output row, in order (so an
   output over an input of the output's shape reads each element before writing it). */
TG_INLINE void tg_broadcast_s16(const int16_t *a, const int16_t *b, const int32_t *dims, const int32_t *strides1,
                                const int32_t *strides2, tg_broadcast_row_s16_t row, const void *params, int16_t *out)
{
    const int32_t rows = tg_rows(dims), n = dims[3];
    int32_t r;
    for (r = 0; r < rows; ++r, out += n)
    {
        row(a + tg_row_offset(r, dims, strides1), strides1[3], b + tg_row_offset(r, dims, strides2), strides2[3], n,
            params, out);
    }
}

#endif /* TG_BROADCAST_S16_H */
