/* tinygen int8 broadcasting add: see tg_add_broadcast_s8.h. */
#include "tg_add_broadcast_s8.h"

void tg_add_broadcast_s8(const int8_t *input1, const int8_t *input2, const int32_t *out_dims,
                         const int32_t *input1_strides, const int32_t *input2_strides,
                         const tg_add_params_t *params, int8_t *output)
{
    const tg_add_params_t p = *params;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < out_dims[0]; ++i0)
    {
        for (i1 = 0; i1 < out_dims[1]; ++i1)
        {
            for (i2 = 0; i2 < out_dims[2]; ++i2)
            {
                const int8_t *a = input1 + i0 * input1_strides[0] + i1 * input1_strides[1] + i2 * input1_strides[2];
                const int8_t *b = input2 + i0 * input2_strides[0] + i1 * input2_strides[1] + i2 * input2_strides[2];
                for (i3 = 0; i3 < out_dims[3]; ++i3)
                {
                    *output++ = tg_add_one(a[i3 * input1_strides[3]], b[i3 * input2_strides[3]], &p);
                }
            }
        }
    }
}
