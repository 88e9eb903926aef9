/* tinygen int8 arg max / arg min along one axis (TFLite Micro's reference ARG_MAX / ARG_MIN, bit-exact). */
#ifndef TG_ARG_MIN_MAX_S8_H
#define TG_ARG_MIN_MAX_S8_H

#include <stdint.h>

/**
 * @brief The int32 index of the largest (`is_max`) or smallest int8 value along one axis; ties give the first
 * (lowest) index, as TFLite Micro's strict std::greater / std::less scan does.
 *
 * The input is row-major [outer, axis_size, inner]; output[o * inner + j] is the index i in [0, axis_size) of the
 * extreme value of input[(o * axis_size + i) * inner + j]. inner == 1 (the axis is the innermost: a classifier's
 * [1, N] -> [1]) takes the fast path: per row, the extreme value (four lanes per step with SSUB8/SEL where the DSP
 * extension is present), then the first index holding it. Other layouts scan each output's strided column. Raw
 * int8 values are compared: no quantization is involved.
 *
 * @param[in]  input      int8 input, outer * axis_size * inner elements
 * @param[in]  outer      product of the dimensions before the axis, >= 1
 * @param[in]  axis_size  the axis' extent, >= 1
 * @param[in]  inner      product of the dimensions after the axis, >= 1
 * @param[in]  is_max     1: arg max, 0: arg min
 * @param[out] output     int32 indices, outer * inner elements; must not overlap the input
 */
void tg_arg_min_max_s8(const int8_t *input, int32_t outer, int32_t axis_size, int32_t inner, int32_t is_max,
                       int32_t *output);

#endif /* TG_ARG_MIN_MAX_S8_H */
