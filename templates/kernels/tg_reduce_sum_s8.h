/* tinygen int8 sum over axes (TFLite Micro's reference int8 SUM, bit-exact). */
#ifndef TG_REDUCE_SUM_S8_H
#define TG_REDUCE_SUM_S8_H

#include <stdint.h>

/** Most dimensions of the canonical layout (4 reduced runs between 5 kept ones). */
#define TG_REDUCE_SUM_DIMS 9

/**
 * @brief int8 sum over some axes, requantized: TFLite Micro's QuantizedMeanOrSum with compute_sum.
 *
 * Each output is `sat8(requantize(sum(x) - input_zp * count, multiplier, shift) + output_zp)` over the `count`
 * input values reduced into it (MultiplyByQuantizedMultiplier, the rounding of TG_SINGLE_ROUNDING).
 * The input is described as `ndims` extents [K0, R0, K1, R1, ..., Kg] (row-major): kept (K, even positions) and
 * reduced (R, odd positions) runs alternating, so ndims is odd; the output is row-major over the kept extents.
 * [K0, R, K1] (one reduced run: the NHWC spatial sum [N, H*W, C], or [K0, R, 1], contiguous runs) takes the fast
 * path, rows of K1 channels accumulated four channels at a time (in 16-bit lanes flushed every 256 rows where the
 * DSP extension is present); more runs take the general path.
 *
 * @param[in]  input       int8 input, the product of `dims` elements (>= 1)
 * @param[in]  ndims       number of extents: odd, 3..TG_REDUCE_SUM_DIMS
 * @param[in]  dims        [ndims] extents, each >= 1
 * @param[in]  count       reduced values per output: the product of the R extents, at most (2^31 - 1) / 256 so
 *                         no int32 sum overflows
 * @param[in]  input_zp    input zero point
 * @param[in]  output_zp   output zero point
 * @param[in]  multiplier  Q0.31 multiplier of input_scale / output_scale (TFLite's QuantizeMultiplier)
 * @param[in]  shift       its shift (> 0: left), at most 30
 * @param[out] output      int8 output, the product of the kept extents; may start at `input` (the kernel writes each
 *                         output after reading its inputs and never over an input a later output reads)
 */
void tg_reduce_sum_s8(const int8_t *input, int32_t ndims, const int32_t *dims, int32_t count, int32_t input_zp,
                      int32_t output_zp, int32_t multiplier, int32_t shift, int8_t *output);

#endif /* TG_REDUCE_SUM_S8_H */
