/* tinygen int8 PReLU: see tg_prelu_s8.h. */
#include "tg_prelu_s8.h"

#include "tg_common.h"

/* One element: x the input, a the alpha (both int8 values). */
TG_INLINE int8_t tg_prelu_one(int32_t x, int32_t a, const int8_t *identity, const tg_prelu_params_t *p)
{
    const int32_t d = x + p->input_offset;
    if (d >= 0)
    {
        return identity[(uint8_t)x];
    }
    /* |d| <= 255, |a + alpha_offset| <= 255: the product fits easily */
    return tg_sat_s8(tg_requantize(d * (a + p->alpha_offset), p->alpha_multiplier, p->alpha_shift) +
                     p->output_offset);
}

void tg_prelu_s8(const int8_t *input, const int8_t *alpha, const int32_t *out_dims, const int32_t *input_strides,
                 const int32_t *alpha_strides, const int8_t *identity, const tg_prelu_params_t *params,
                 int8_t *output)
{
    const tg_prelu_params_t p = *params;
    int32_t i0, i1, i2, i3;
    if (out_dims[0] == 1 && out_dims[1] == 1 && input_strides[3] == 1 &&
        (out_dims[2] == 1 || input_strides[2] == out_dims[3]) && alpha_strides[0] == 0 && alpha_strides[1] == 0 &&
        alpha_strides[2] == 0 && alpha_strides[3] == 1)
    {
        /* per channel: rows of out_dims[3] contiguous elements, alpha[c] for element c of every row */
        const int32_t rows = out_dims[2];
        const int32_t channels = out_dims[3];
        for (i2 = 0; i2 < rows; ++i2)
        {
            for (i3 = 0; i3 < channels; ++i3)
            {
                output[i3] = tg_prelu_one(input[i3], alpha[i3], identity, &p);
            }
            input += channels;
            output += channels;
        }
        return;
    }
    for (i0 = 0; i0 < out_dims[0]; ++i0)
    {
        for (i1 = 0; i1 < out_dims[1]; ++i1)
        {
            for (i2 = 0; i2 < out_dims[2]; ++i2)
            {
                const int8_t *x = input + i0 * input_strides[0] + i1 * input_strides[1] + i2 * input_strides[2];
                const int8_t *a = alpha + i0 * alpha_strides[0] + i1 * alpha_strides[1] + i2 * alpha_strides[2];
                for (i3 = 0; i3 < out_dims[3]; ++i3)
                {
                    *output++ = tg_prelu_one(x[i3 * input_strides[3]], a[i3 * alpha_strides[3]], identity, &p);
                }
            }
        }
    }
}
