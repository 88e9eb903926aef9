/* tinygen int8 slice: TFLite Micro's STRIDED_SLICE and SLICE for int8 (a byte gather, bit-exact). */
#ifndef TG_SLICE_S8_H
#define TG_SLICE_S8_H

#include <stdint.h>

/**
 * @brief Gathers a (strided) slice of at most 4 dimensions: output element (i0, i1, i2, i3), row-major in
 *        `dims`, is input[offset + i0 * strides[0] + i1 * strides[1] + i2 * strides[2] + i3 * strides[3]].
 *
 * The code generator resolves the slice offline (begin/end/strides with their masks, or begin/size) and
 * canonicalises it: single-element dimensions are folded into `offset`, and a dimension is merged with the
 * one inside it when together they form one evenly strided run, so the last dimension is the longest run the
 * slice allows. A run of stride 1 is copied 4 bytes at a time when short (up to 32 bytes: cheaper than a
 * library call) and with one memmove otherwise; any other stride is a gather, 4 elements per step (a negative
 * stride walks backwards). The output is written in order, once.
 *
 * @param[in]  input    int8 input
 * @param[in]  offset   input element of output element (0, 0, 0, 0), >= 0
 * @param[in]  dims     output element counts [4] (leading dimensions padded with 1), each >= 1
 * @param[in]  strides  [4] signed input stride, in elements, between consecutive output elements along each
 *                      dimension (0 for padded ones); every element addressed lies inside the input
 * @param[out] output   int8 output, dims[0] * dims[1] * dims[2] * dims[3] elements. It may start at the
 *                      input's first byte (in place) when every stride of a dimension with more than one
 *                      element is positive: each output element is then read from an input element at the
 *                      same or a later position, and read before any write reaches it. Otherwise it must
 *                      not overlap the input.
 */
void tg_slice_s8(const int8_t *input, int32_t offset, const int32_t *dims, const int32_t *strides, int8_t *output);

#endif /* TG_SLICE_S8_H */
