/* tinygen int8 subtraction with broadcasting: see tg_sub_s8.h. */
#include "tg_sub_s8.h"

#include "tg_common.h"
#include "tg_fixedpoint.h"

/* One operand brought to the common scale: requantize((x + offset) << left_shift, multiplier, shift).
   |x + offset| <= 255, so the shifted value stays below 2^28 in magnitude. */
TG_INLINE int32_t tg_sub_rescale(int32_t x, int32_t offset, int32_t left_shift, int32_t multiplier, int32_t shift)
{
    return tg_requantize_nonneg(tg_shl(x + offset, left_shift), multiplier, shift);
}

/* The output of one difference of rescaled operands (|s1 - s2| < 2^29: no overflow). */
TG_INLINE int8_t tg_sub_finish(int32_t diff, const tg_sub_params_t *p)
{
    const int32_t out = tg_requantize_nonneg(diff, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)TG_CLAMP(out, p->act_min, p->act_max);
}

#define TG_SUB_S1(v) tg_sub_rescale((v), p.input1_offset, p.left_shift, p.input1_multiplier, p.input1_shift)
#define TG_SUB_S2(v) tg_sub_rescale((v), p.input2_offset, p.left_shift, p.input2_multiplier, p.input2_shift)

void tg_sub_s8(const int8_t *input1, const int8_t *input2, const int32_t *out_dims, const int32_t *input1_strides,
               const int32_t *input2_strides, const tg_sub_params_t *params, int8_t *output)
{
    const tg_sub_params_t p = *params; /* a local copy lets the compiler keep the fields in registers */
    const int32_t n = out_dims[3], st1 = input1_strides[3], st2 = input2_strides[3];
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < out_dims[0]; ++i0)
    {
        for (i1 = 0; i1 < out_dims[1]; ++i1)
        {
            for (i2 = 0; i2 < out_dims[2]; ++i2)
            {
                const int8_t *a = input1 + i0 * input1_strides[0] + i1 * input1_strides[1] + i2 * input1_strides[2];
                const int8_t *b = input2 + i0 * input2_strides[0] + i1 * input2_strides[1] + i2 * input2_strides[2];
                if (st2 == 0)
                {
                    /* input2 is one value along the row (a scalar or per-row constant): rescaled once */
                    const int32_t s2 = TG_SUB_S2(b[0]);
                    for (i3 = 0; i3 < n; ++i3)
                    {
                        output[i3] = tg_sub_finish(TG_SUB_S1(a[i3 * st1]) - s2, &p);
                    }
                }
                else if (st1 == 0)
                {
                    const int32_t s1 = TG_SUB_S1(a[0]);
                    for (i3 = 0; i3 < n; ++i3)
                    {
                        output[i3] = tg_sub_finish(s1 - TG_SUB_S2(b[i3 * st2]), &p);
                    }
                }
                else
                {
                    for (i3 = 0; i3 < n; ++i3)
                    {
                        output[i3] = tg_sub_finish(TG_SUB_S1(a[i3 * st1]) - TG_SUB_S2(b[i3 * st2]), &p);
                    }
                }
                output += n;
            }
        }
    }
}
