/*
 * tg_softmax_lut_row.h: header-only helpers of the softmax kernels with tabulated exponentials (tg_softmax_lut_s8,
 * int8 output; tg_softmax_lut_s8_s16, int16 output): TFLite Micro's reference softmax, bit-exact.
 */
#ifndef TG_SOFTMAX_LUT_ROW_H
#define TG_SOFTMAX_LUT_ROW_H

#include <stdint.h>

#include "tg_common.h"
#include "tg_fixedpoint.h"

/* integer bits of the Q12.19 sum of exps (TFLite's kAccumulationIntegerBits) */
#define TG_SOFTMAX_LUT_ACCUM_INTEGER_BITS 12

/**
 * One row's maximum (returned), and the Q0.31 reciprocal `scale` of its sum of exps with the reciprocal's excess
 * `num_bits_over_unit` (gemmlowp's GetReciprocal). exp_table[k]: the Q0.31 exp of the difference -k to the row
 * maximum (0 below diff_min).
 */
TG_INLINE int32_t tg_softmax_lut_row(const int8_t *in, int32_t depth, const int32_t *exp_table, int32_t *scale,
                                     int *num_bits_over_unit)
{
    int32_t max_in_row = -128;
    uint32_t sum_of_exps = 0; /* Q12.19, wrapping like gemmlowp's add */
    int32_t c;
    for (c = 0; c < depth; ++c)
    {
        max_in_row = TG_MAX(max_in_row, (int32_t)in[c]);
    }
    for (c = 0; c < depth; ++c)
    {
        sum_of_exps += (uint32_t)tg_divide_by_pot(exp_table[max_in_row - in[c]], TG_SOFTMAX_LUT_ACCUM_INTEGER_BITS);
    }
    *scale = tg_fp_reciprocal((int32_t)sum_of_exps, TG_SOFTMAX_LUT_ACCUM_INTEGER_BITS, num_bits_over_unit);
    return max_in_row;
}

/* the probability scale * exp (Q0.31) divided by 2^exponent (exponent = num_bits_over_unit + 31 - output bits) */
TG_INLINE int32_t tg_softmax_lut_scaled(int32_t scale, int32_t e, int exponent)
{
    const int32_t p = tg_doubling_high_mult(scale, e);
    /* p < 2^31, so any shift of 32 or more rounds it to 0 */
    return exponent > 31 ? 0 : tg_divide_by_pot(p, exponent);
}

#endif /* TG_SOFTMAX_LUT_ROW_H */
