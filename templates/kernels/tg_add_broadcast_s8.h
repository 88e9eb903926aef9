/* tinygen int8 broadcasting add (TFLite Micro's reference int8 ADD with broadcast, bit-exact). */
#ifndef TG_ADD_BROADCAST_S8_H
#define TG_ADD_BROADCAST_S8_H

#include <stdint.h>

#include "tg_add_s8.h"

/**
 * @brief int8 add with numpy broadcasting, over an output of at most 4 dimensions.
 *
 * @param[in]  input1        int8 first operand
 * @param[in]  input2        int8 second operand
 * @param[in]  out_dims      output shape [4] (leading dimensions padded with 1)
 * @param[in]  input1_strides element strides of input1 along each output dimension [4]; 0 where
 *                           input1 is broadcast along it
 * @param[in]  input2_strides the same for input2
 * @param[in]  params        quantized parameters (see tg_add_params_t)
 * @param[out] output        int8 result, row-major in out_dims; may alias an input of the output's
 *                           shape exactly (each element is read before it is written)
 */
void tg_add_broadcast_s8(const int8_t *input1, const int8_t *input2, const int32_t *out_dims,
                         const int32_t *input1_strides, const int32_t *input2_strides,
                         const tg_add_params_t *params, int8_t *output);

#endif /* TG_ADD_BROADCAST_S8_H */
