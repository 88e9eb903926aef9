/* tinygen int8 softmax with tabulated exponentials: see tg_softmax_lut_s8.h. */
#include "tg_softmax_lut_s8.h"

#include "tg_common.h"
#include "tg_fixedpoint.h"

/* integer bits of the Q12.19 sum of exps (TFLite's kAccumulationIntegerBits) */
#define TG_SOFTMAX_LUT_ACCUM_INTEGER_BITS 12

void tg_softmax_lut_s8(const int8_t *input, int32_t rows, int32_t depth, const int32_t *exp_table, int8_t *output)
{
    int32_t row;
    for (row = 0; row < rows; ++row)
    {
        const int8_t *in = input + row * depth;
        int8_t *out = output + row * depth;
        int32_t max_in_row = -128;
        uint32_t sum_of_exps = 0; /* Q12.19, wrapping like gemmlowp's add */
        int32_t scale;            /* Q0.31 */
        int num_bits_over_unit;
        int exponent;
        int32_t c;
        for (c = 0; c < depth; ++c)
        {
            max_in_row = TG_MAX(max_in_row, (int32_t)in[c]);
        }
        for (c = 0; c < depth; ++c)
        {
            sum_of_exps += (uint32_t)tg_divide_by_pot(exp_table[max_in_row - in[c]], TG_SOFTMAX_LUT_ACCUM_INTEGER_BITS);
        }
        scale = tg_fp_reciprocal((int32_t)sum_of_exps, TG_SOFTMAX_LUT_ACCUM_INTEGER_BITS, &num_bits_over_unit);
        /* 8 output bits: divide the Q0.31 probability by 2^(31 - 8), and by the reciprocal's excess */
        exponent = num_bits_over_unit + 31 - 8;
        for (c = 0; c < depth; ++c)
        {
            const int32_t p = tg_doubling_high_mult(scale, exp_table[max_in_row - in[c]]);
            /* p < 2^31, so any shift of 32 or more rounds it to 0 */
            const int32_t unsat = exponent > 31 ? 0 : tg_divide_by_pot(p, exponent);
            out[c] = tg_sat_s8(unsat - 128);
        }
    }
}
