/* tinygen int8 log-softmax: see tg_log_softmax_s8.h. */
#include "tg_log_softmax_s8.h"

#include "tg_common.h"
#include "tg_fixedpoint.h"

/* Integer bits: the rescaled differences and the log are Q5.26, the sum of exps Q12.19, the output keeps 4. */
#define TG_LOG_SOFTMAX_INPUT_INTEGER_BITS 5
#define TG_LOG_SOFTMAX_ACCUM_INTEGER_BITS 12
#define TG_LOG_SOFTMAX_OUTPUT_INTEGER_BITS 4

/* int32 a + b and a - b with two's-complement wrap-around (gemmlowp's raw FixedPoint add and subtract). */
TG_INLINE int32_t tg_log_softmax_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

TG_INLINE int32_t tg_log_softmax_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* TFLite's SaturatingAddNonGemmlowp of int32 values (a saturating subtraction is the addition of -b here). */
TG_INLINE int32_t tg_log_softmax_sat_add(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)TG_CLAMP(sum, (int64_t)INT32_MIN, (int64_t)INT32_MAX);
}

/*
 * TFLite's log_x_for_x_greater_than_or_equal_to_1_impl<5, 12> (common.h): ln(x) in Q5.26 of a Q12.19 sum
 * x >= 1 (raw >= 2^19, so every shift below is a left shift of 0..25). The input is normalised into
 * [1/sqrt(2), sqrt(2)) two ways (with and without a premultiplication by sqrt(1/2)); the one closer to 1
 * gives ln(r) = num / (1 + denom_minus_one) by a rational approximation around 2^-1/4, added to the
 * power of two times ln(2), accumulated in Q6.25.
 */
static int32_t tg_log_softmax_log(int32_t x)
{
    const int accum_bits = TG_LOG_SOFTMAX_INPUT_INTEGER_BITS + 1;
    const int32_t log_2 = 1488522236;          /* ln(2), Q0.31 */
    const int32_t sqrt_sqrt_half = 1805811301; /* 2^-1/4 */
    const int32_t sqrt_half = 1518500250;      /* 2^-1/2 */
    const int32_t alpha_n = 117049297;         /* 11/240 * 2^1/4 */
    const int32_t alpha_d = 127690142;         /* 1/20 * 2^1/4 */
    const int32_t alpha_i = 1057819769;        /* 2 / 2^1/4 - 2^1/4 */
    const int32_t alpha_f = 638450708;         /* 1/4 * 2^1/4 */
    const int32_t shifted_quarter = INT32_C(1) << (29 - accum_bits); /* 1/4 rescaled to Q6.25 */
    const int z_a_headroom_plus_1 = tg_fp_clz((uint32_t)x);
    const int32_t r_a_raw =
        tg_fp_sat_shl(tg_doubling_high_mult(tg_fp_sat_shl(x, z_a_headroom_plus_1 - 1), sqrt_half), 1);
    const int32_t z_a_pow_2_adj = tg_log_softmax_sat_add(
        tg_fp_sat_shl(TG_LOG_SOFTMAX_ACCUM_INTEGER_BITS - z_a_headroom_plus_1, 31 - accum_bits), shifted_quarter);
    const int32_t z_b = tg_doubling_high_mult(x, sqrt_half);
    const int z_b_headroom = tg_fp_clz((uint32_t)z_b) - 1;
    const int32_t r_b_raw = tg_fp_sat_shl(x, z_b_headroom);
    const int32_t z_b_pow_2_adj = tg_log_softmax_sat_add(
        tg_fp_sat_shl(TG_LOG_SOFTMAX_ACCUM_INTEGER_BITS - z_b_headroom, 31 - accum_bits), -shifted_quarter);
    const int32_t r = TG_MIN(r_a_raw, r_b_raw);
    const int32_t z_pow_2_adj = TG_MAX(z_a_pow_2_adj, z_b_pow_2_adj);
    const int32_t p = tg_fp_rounding_half_sum(r, sqrt_sqrt_half);
    const int32_t q_half = tg_log_softmax_sub(r, sqrt_sqrt_half);
    const int32_t q = tg_log_softmax_add(q_half, q_half);
    const int32_t common_sq = tg_doubling_high_mult(q, q);
    const int32_t num = tg_log_softmax_add(tg_doubling_high_mult(q, r),
                                           tg_doubling_high_mult(tg_doubling_high_mult(q, common_sq), alpha_n));
    const int32_t denom_inner =
        tg_log_softmax_add(tg_log_softmax_add(alpha_i, q), tg_doubling_high_mult(alpha_d, common_sq));
    const int32_t denom_minus_one =
        tg_log_softmax_add(tg_doubling_high_mult(p, denom_inner), tg_doubling_high_mult(alpha_f, q));
    const int32_t recip_denom = tg_fp_one_over_one_plus_x(denom_minus_one);
    const int32_t num_scaled = tg_divide_by_pot(num, accum_bits); /* Q0.31 -> Q6.25 */
    const int32_t sum = tg_log_softmax_add(tg_doubling_high_mult(z_pow_2_adj, log_2),
                                           tg_doubling_high_mult(num_scaled, recip_denom));
    /* Q6.25 -> Q5.26: saturating shift left by 1 */
    return tg_fp_sat_shl(sum, accum_bits - TG_LOG_SOFTMAX_INPUT_INTEGER_BITS);
}

void tg_log_softmax_s8(const int8_t *input, int32_t rows, int32_t depth, int32_t input_multiplier,
                       int32_t input_left_shift, int32_t reverse_scaling_divisor,
                       int32_t reverse_scaling_right_shift, int32_t diff_min, const int32_t *exp_table,
                       int8_t *output)
{
    const int out_shift = 31 - TG_LOG_SOFTMAX_INPUT_INTEGER_BITS - TG_LOG_SOFTMAX_OUTPUT_INTEGER_BITS;
    int32_t row;
    for (row = 0; row < rows; ++row)
    {
        const int8_t *in = input + row * depth;
        int8_t *out = output + row * depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0; /* Q12.19; depth <= 4095 keeps it below 2^31 */
        int32_t log_sum;         /* Q5.26 */
        int32_t adjusted_diff_min;
        int32_t c;
        for (c = 0; c < depth; ++c)
        {
            max_in_row = TG_MAX(max_in_row, (int32_t)in[c]);
        }
        if (exp_table != 0)
        {
            /* the term of each difference 0, -1, ..., -255, precomputed (0 below diff_min) */
            for (c = 0; c < depth; ++c)
            {
                sum_of_exps += exp_table[max_in_row - (int32_t)in[c]];
            }
        }
        else
        {
            for (c = 0; c < depth; ++c)
            {
                const int32_t diff = (int32_t)in[c] - max_in_row;
                if (diff >= diff_min)
                {
                    const int32_t e = tg_fp_exp_on_negative_values_q5(
                        tg_requantize_nonneg(diff, input_multiplier, input_left_shift));
                    /* Rescale Q0.31 -> Q12.19: rounding shift right by 12 */
                    sum_of_exps += tg_divide_by_pot(e, TG_LOG_SOFTMAX_ACCUM_INTEGER_BITS);
                }
            }
        }
        log_sum = tg_log_softmax_log(sum_of_exps);
        /* differences whose rescaled value minus log_sum would leave Q5.26 give -128 (note > below) */
        adjusted_diff_min =
            TG_MAX(diff_min - 1, tg_requantize_nonneg(tg_log_softmax_add(log_sum, INT32_MIN), reverse_scaling_divisor,
                                                      -reverse_scaling_right_shift));
        for (c = 0; c < depth; ++c)
        {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            int32_t value = -128;
            if (diff > adjusted_diff_min)
            {
                const int32_t in_q5 = tg_requantize_nonneg(diff, input_multiplier, input_left_shift);
                value = tg_divide_by_pot(tg_log_softmax_sub(in_q5, log_sum), out_shift) + 127;
            }
            out[c] = tg_sat_s8(value);
        }
    }
}
