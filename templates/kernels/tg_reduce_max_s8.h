/* tinygen int8 max over axes (TFLite Micro's reference int8 REDUCE_MAX, bit-exact). */
#ifndef TG_REDUCE_MAX_S8_H
#define TG_REDUCE_MAX_S8_H

#include <stdint.h>

/** Most dimensions of the canonical layout (4 reduced runs between 5 kept ones). */
#define TG_REDUCE_MAX_DIMS 9

/**
 * @brief int8 max over some axes: each output is the largest of the input values reduced into it.
 *
 * The input is described as `ndims` extents [K0, R0, K1, R1, ..., Kg] (row-major): kept (K, even positions) and
 * reduced (R, odd positions) runs alternating, so ndims is odd; the output is row-major over the kept extents.
 * [K0, R, K1] (one reduced run: the NHWC spatial max [N, H*W, C], or [K0, R, 1], contiguous runs) takes the fast
 * path, rows of K1 channels maxed four channels per step (SSUB8/SEL where the DSP extension is present); more runs
 * take the general path. Input and output share one quantization: no arithmetic, only comparisons.
 *
 * @param[in]  input   int8 input, the product of `dims` elements (>= 1)
 * @param[in]  ndims   number of extents: odd, 3..TG_REDUCE_MAX_DIMS
 * @param[in]  dims    [ndims] extents, each >= 1
 * @param[out] output  int8 output, the product of the kept extents; may start at `input` (the kernel writes each
 *                     output after reading its inputs and never over an input a later output reads)
 */
void tg_reduce_max_s8(const int8_t *input, int32_t ndims, const int32_t *dims, int8_t *output);

#endif /* TG_REDUCE_MAX_S8_H */
