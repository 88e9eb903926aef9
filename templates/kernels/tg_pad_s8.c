/* tinygen int8 constant padding: see tg_pad_s8.h. */
#include "tg_pad_s8.h"

#include <string.h>

/* Whether output index o along a dimension falls inside the copied input. */
#define TG_PAD_INSIDE(o, k) ((o) >= pad_before[k] && (o) < pad_before[k] + in_dims[k])

void tg_pad_s8(const int8_t *input, const int32_t *in_dims, const int32_t *pad_before, const int32_t *out_dims,
               int32_t pad_value, int8_t *output)
{
    const int value = (int)(int8_t)pad_value;
    const size_t row = (size_t)out_dims[3];
    const size_t left = (size_t)pad_before[3];
    const size_t width = (size_t)in_dims[3];
    int32_t o0, o1, o2;
    for (o0 = 0; o0 < out_dims[0]; ++o0)
    {
        for (o1 = 0; o1 < out_dims[1]; ++o1)
        {
            for (o2 = 0; o2 < out_dims[2]; ++o2)
            {
                if (TG_PAD_INSIDE(o0, 0) && TG_PAD_INSIDE(o1, 1) && TG_PAD_INSIDE(o2, 2))
                {
                    const int32_t i0 = o0 - pad_before[0];
                    const int32_t i1 = o1 - pad_before[1];
                    const int32_t i2 = o2 - pad_before[2];
                    const int8_t *src = input + (((size_t)i0 * (size_t)in_dims[1] + (size_t)i1) * (size_t)in_dims[2]
                                                 + (size_t)i2) * width;
                    memset(output, value, left);
                    memcpy(output + left, src, width);
                    memset(output + left + width, value, row - left - width);
                }
                else
                {
                    memset(output, value, row);
                }
                output += row;
            }
        }
    }
}
