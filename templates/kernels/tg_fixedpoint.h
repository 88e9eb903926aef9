/*
 * tinygen fixed-point helpers of the non-MAC kernels (header-only, C99): a faster, exactly equal
 * form of tg_requantize for the non-negative multipliers TFLite always uses, and the gemmlowp
 * fixed-point pieces of the int8 softmax.
 *
 * These reproduce, bit for bit, the gemmlowp FixedPoint<int32_t, N> operations that TFLite Micro's
 * reference int8 softmax evaluates: exp_on_negative_values for a Q5.26 input, the Newton-Raphson
 * reciprocal one_over_one_plus_x_for_x_in_0_1, and TFLite's GetReciprocal. A value with N integer
 * bits is a raw int32 r meaning r / 2^(31-N). A product of Qa and Qb values is the saturating
 * rounding doubling high multiply of the raws and has a+b integer bits; Rescale between formats is
 * a saturating left shift or a rounding right shift (round half away from zero).
 */
#ifndef TG_FIXEDPOINT_H
#define TG_FIXEDPOINT_H

#include <stdint.h>

#include "tg_common.h"

/*
 * tg_requantize(x, multiplier, shift) for multiplier >= 0 (every TFLite requantization multiplier is
 * a Q0.31 value in [0, 2^31)), in fewer instructions. Exactly equal, because with one operand >= 0
 * SaturatingRoundingDoublingHighMul never saturates, and its division of ab + nudge by 2^31 rounding
 * toward zero equals an arithmetic shift of ab + 2^30: for ab = -n < 0,
 *   trunc((-n + 1 - 2^30) / 2^31) = -floor((n + 2^30 - 1) / 2^31) = floor((-n + 2^30) / 2^31).
 * (tests/test_kernels_other.py checks the equality on millions of operands.)
 */
TG_INLINE int32_t tg_requantize_nonneg(int32_t x, int32_t multiplier, int32_t shift)
{
#if TG_SINGLE_ROUNDING
    return tg_requantize(x, multiplier, shift);
#else
    const int left_shift = shift > 0 ? shift : 0;
    const int right_shift = shift > 0 ? 0 : -shift;
    const int64_t ab = (int64_t)tg_shl(x, left_shift) * (int64_t)multiplier;
    return tg_divide_by_pot((int32_t)((ab + (INT64_C(1) << 30)) >> 31), right_shift);
#endif
}

/* gemmlowp SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0: x * 2^exponent, saturated. */
TG_INLINE int32_t tg_fp_sat_shl(int32_t x, int exponent)
{
    const int32_t threshold = (int32_t)((UINT32_C(1) << (31 - exponent)) - 1u);
    if (x > threshold)
    {
        return INT32_MAX;
    }
    if (x < -threshold)
    {
        return INT32_MIN;
    }
    return tg_shl(x, exponent);
}

/* gemmlowp RoundingHalfSum: (a + b) / 2 rounded half away from zero, without overflow. */
TG_INLINE int32_t tg_fp_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/* exp(a) for a Q0.31 value a in [-1/4, 0): gemmlowp's Taylor expansion around -1/8. */
TG_INLINE int32_t tg_fp_exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668;    /* exp(-1/8) in Q0.31 */
    const int32_t constant_1_over_3 = 715827883; /* 1/3 in Q0.31 */
    const int32_t x = a + (INT32_C(1) << 28);    /* a + 1/8 */
    const int32_t x2 = tg_doubling_high_mult(x, x);
    const int32_t x3 = tg_doubling_high_mult(x2, x);
    const int32_t x4 = tg_doubling_high_mult(x2, x2);
    const int32_t x4_over_4 = tg_divide_by_pot(x4, 2);
    const int32_t poly = tg_divide_by_pot(tg_doubling_high_mult(x4_over_4 + x3, constant_1_over_3) + x2, 1);
    /* exp(-1/8 + x) = exp(-1/8) * (1 + x + x^2/2 + x^3/6 + x^4/24) */
    return constant_term + tg_doubling_high_mult(constant_term, x + poly);
}

/* exp(a) in Q0.31 for a Q5.26 value a <= 0 (gemmlowp exp_on_negative_values<int32_t, 5>). */
TG_INLINE int32_t tg_fp_exp_on_negative_values_q5(int32_t a)
{
    const int32_t one_quarter = INT32_C(1) << 24; /* 1/4 in Q5.26 */
    const int32_t a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter;
    /* Rescale Q5.26 -> Q0.31: saturating shift left by 5. */
    int32_t result = tg_fp_exp_quarter(tg_fp_sat_shl(a_mod_quarter_minus_one_quarter, 5));
    const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
    /* Barrel shifter: multiply by exp(-2^k) for every bit k = -2..4 set in the remainder. */
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308,
                                           39332535,   720401,     242};
    int k;
    for (k = 0; k < 7; ++k)
    {
        if (remainder & (INT32_C(1) << (24 + k)))
        {
            result = tg_doubling_high_mult(result, multipliers[k]);
        }
    }
    return a == 0 ? INT32_MAX : result; /* exp(0) = One() of Q0.31, i.e. the raw maximum */
}

/* 1 / (1 + x) for a Q0.31 x in [0, 1), as Q0.31 (gemmlowp one_over_one_plus_x_for_x_in_0_1). */
TG_INLINE int32_t tg_fp_one_over_one_plus_x(int32_t a)
{
    const int32_t half_denominator = tg_fp_rounding_half_sum(a, INT32_MAX); /* Q0.31 */
    const int32_t constant_48_over_17 = 1515870810;                        /* Q2.29 */
    const int32_t constant_neg_32_over_17 = -1010580540;                   /* Q2.29 */
    int32_t x = constant_48_over_17 + tg_doubling_high_mult(half_denominator, constant_neg_32_over_17);
    int i;
    for (i = 0; i < 3; ++i)
    {
        const int32_t half_denominator_times_x = tg_doubling_high_mult(half_denominator, x); /* Q2.29 */
        const int32_t one_minus = (INT32_C(1) << 29) - half_denominator_times_x;          /* Q2.29 */
        /* Q2.29 * Q2.29 = Q4.27, rescaled to Q2.29 by a saturating shift left by 2. */
        x = x + tg_fp_sat_shl(tg_doubling_high_mult(x, one_minus), 2);
    }
    /* x / 2 as Q1.30 holds the same raw; rescale Q1.30 -> Q0.31. */
    return tg_fp_sat_shl(x, 1);
}

/* Count of leading zero bits of a 32-bit value (32 for 0). */
TG_INLINE int tg_fp_clz(uint32_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return x == 0u ? 32 : __builtin_clz(x);
#else
    int n = 0;
    if (x == 0u)
    {
        return 32;
    }
    while ((x & UINT32_C(0x80000000)) == 0u)
    {
        x <<= 1;
        ++n;
    }
    return n;
#endif
}

/*
 * TFLite's GetReciprocal: for x > 0 holding a value with `integer_bits` integer bits, returns a
 * Q0.31 scale and sets *num_bits_over_unit such that 1/x = scale * 2^-num_bits_over_unit.
 */
TG_INLINE int32_t tg_fp_reciprocal(int32_t x, int integer_bits, int *num_bits_over_unit)
{
    const int headroom_plus_one = tg_fp_clz((uint32_t)x);
    const int32_t shifted_sum_minus_one =
        (int32_t)(((uint32_t)x << headroom_plus_one) - (UINT32_C(1) << 31));
    *num_bits_over_unit = integer_bits - headroom_plus_one;
    return tg_fp_one_over_one_plus_x(shifted_sum_minus_one);
}

#endif /* TG_FIXEDPOINT_H */
