/* tinygen int8 softmax with tabulated exponentials: see tg_softmax_lut_s8.h. */
#include "tg_softmax_lut_s8.h"

#include "tg_softmax_lut_row.h"

void tg_softmax_lut_s8(const int8_t *input, int32_t rows, int32_t depth, const int32_t *exp_table, int8_t *output)
{
    int32_t row, c;
    for (row = 0; row < rows; ++row)
    {
        const int8_t *in = input + row * depth;
        int8_t *out = output + row * depth;
        int32_t scale; /* Q0.31 */
        int num_bits_over_unit;
        const int32_t max_in_row = tg_softmax_lut_row(in, depth, exp_table, &scale, &num_bits_over_unit);
        /* 8 output bits: divide the Q0.31 probability by 2^(31 - 8), and by the reciprocal's excess */
        const int exponent = num_bits_over_unit + 31 - 8;
        for (c = 0; c < depth; ++c)
        {
            out[c] = tg_sat_s8(tg_softmax_lut_scaled(scale, exp_table[max_in_row - in[c]], exponent) - 128);
        }
    }
}
