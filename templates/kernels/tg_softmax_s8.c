/* tinygen int8 softmax: see tg_softmax_s8.h. */
#include "tg_softmax_s8.h"

#include "tg_common.h"
#include "tg_fixedpoint.h"

/* Fractional bits: 5 integer bits for the rescaled difference, 12 for the sum of exps. */
#define TG_SOFTMAX_DIFF_INTEGER_BITS 5
#define TG_SOFTMAX_ACCUM_INTEGER_BITS 12

#if defined(__GNUC__) || defined(__clang__)
#define TG_SOFTMAX_NOINLINE __attribute__((noinline))
#else
#define TG_SOFTMAX_NOINLINE
#endif

/* exp(beta * scale * diff) in Q0.31 for a difference diff >= diff_min. Out of line: the two passes would
 * otherwise each inline gemmlowp's exp (~0.7 kB of flash apiece) to save a call per element. */
static TG_SOFTMAX_NOINLINE int32_t tg_softmax_exp(int32_t diff, int32_t multiplier, int32_t left_shift)
{
    return tg_fp_exp_on_negative_values_q5(tg_requantize_nonneg(diff, multiplier, left_shift));
}

void tg_softmax_s8(const int8_t *input, int32_t rows, int32_t depth, int32_t input_multiplier,
                   int32_t input_left_shift, int32_t diff_min, int8_t *output)
{
    int32_t row;
    for (row = 0; row < rows; ++row)
    {
        const int8_t *in = input + row * depth;
        int8_t *out = output + row * depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0; /* Q12.19 */
        int32_t scale;           /* Q0.31 */
        int num_bits_over_unit;
        int exponent;
        int32_t c;
        for (c = 0; c < depth; ++c)
        {
            max_in_row = TG_MAX(max_in_row, (int32_t)in[c]);
        }
        for (c = 0; c < depth; ++c)
        {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            if (diff >= diff_min)
            {
                /* Rescale Q0.31 -> Q12.19: rounding shift right by 12 (wraps like gemmlowp's add). */
                const int32_t e = tg_divide_by_pot(tg_softmax_exp(diff, input_multiplier, input_left_shift),
                                                   TG_SOFTMAX_ACCUM_INTEGER_BITS);
                sum_of_exps = (int32_t)((uint32_t)sum_of_exps + (uint32_t)e);
            }
        }
        scale = tg_fp_reciprocal(sum_of_exps, TG_SOFTMAX_ACCUM_INTEGER_BITS, &num_bits_over_unit);
        /* 8 output bits: divide the Q0.31 probability by 2^(31 - 8), and by the reciprocal's excess. */
        exponent = num_bits_over_unit + 31 - 8;
        for (c = 0; c < depth; ++c)
        {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            int32_t value = -128;
            if (diff >= diff_min)
            {
                const int32_t p = tg_doubling_high_mult(scale, tg_softmax_exp(diff, input_multiplier, input_left_shift));
                /* p < 2^31, so any shift of 32 or more rounds it to 0. */
                const int32_t unsat = exponent > 31 ? 0 : tg_divide_by_pot(p, exponent);
                value = unsat - 128;
            }
            out[c] = tg_sat_s8(value);
        }
    }
}
