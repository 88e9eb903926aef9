/* tinygen int8 transpose: TFLite Micro's TRANSPOSE for int8 (a byte permutation, bit-exact). */
#ifndef TG_TRANSPOSE_S8_H
#define TG_TRANSPOSE_S8_H

#include <stdint.h>

/**
 * @brief Gathers a transposed tensor of at most 4 dimensions: output element (i0, i1, i2, i3), row-major in
 *        `dims`, is input[i0 * strides[0] + i1 * strides[1] + i2 * strides[2] + i3 * strides[3]].
 *
 * The code generator canonicalises the permutation offline (size-1 dimensions dropped, input dimensions
 * that stay adjacent in the output merged), so the last dimension is the longest run the permutation
 * allows: one memcpy per row when it is contiguous in the input too (strides[3] == 1), a strided gather
 * otherwise. The output is written in order, once.
 *
 * @param[in]  input    int8 input
 * @param[in]  dims     output shape [4] (leading dimensions padded with 1), each >= 1
 * @param[in]  strides  [4] input stride, in elements, of each output dimension (0 for padded ones): the
 *                      product of the input dimensions after the one that becomes that output dimension
 * @param[out] output   int8 output, dims[0] * dims[1] * dims[2] * dims[3] elements; must not overlap input
 */
void tg_transpose_s8(const int8_t *input, const int32_t *dims, const int32_t *strides, int8_t *output);

#endif /* TG_TRANSPOSE_S8_H */
