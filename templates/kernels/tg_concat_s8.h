/* tinygen int8 concatenation (TFLite Micro's CONCATENATION: a pure copy for int8). */
#ifndef TG_CONCAT_S8_H
#define TG_CONCAT_S8_H

#include <stdint.h>

/**
 * @brief Concatenates int8 tensors along one axis.
 *
 * With `outer` the product of the dimensions before the axis, input i is `outer` blocks of
 * `block_sizes[i]` bytes (its extent along the axis times the product of the later dimensions);
 * the output interleaves them: for each outer index, block of input 0, block of input 1, ...
 * TFLite requires all inputs and the output to share one scale and zero point, so no rescaling.
 *
 * @param[in]  inputs       array of `num_inputs` input pointers
 * @param[in]  block_sizes  bytes per outer index of each input [num_inputs]
 * @param[in]  num_inputs   number of inputs, >= 1
 * @param[in]  outer        product of the dimensions before the axis
 * @param[out] output       int8 output; must not overlap any input
 */
void tg_concat_s8(const int8_t *const *inputs, const int32_t *block_sizes, int32_t num_inputs, int32_t outer,
                  int8_t *output);

#endif /* TG_CONCAT_S8_H */
