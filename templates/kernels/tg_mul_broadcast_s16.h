/* tinygen int16 MUL with broadcasting (TFLite Micro's BroadcastMul4DSlow on int16 of 16x8 models, bit-exact). */
#ifndef TG_MUL_BROADCAST_S16_H
#define TG_MUL_BROADCAST_S16_H

#include <stdint.h>

#include "tg_mul_s16.h"

/**
 * @brief tg_mul_s16's arithmetic with numpy broadcasting, over an output of at most 4 dimensions.
 *
 * @param[in]  a, b       int16 inputs
 * @param[in]  out_dims   output shape [4] (leading dimensions padded with 1)
 * @param[in]  strides1   element strides of `a` along each output dimension [4]; 0 where `a` is broadcast
 * @param[in]  strides2   the same for `b`
 * @param[in]  params     see tg_mul_s16_params_t
 * @param[out] out        int16 output, row-major in out_dims; may be an input of the output's shape (each
 *                        element is read before it is written)
 */
void tg_mul_broadcast_s16(const int16_t *a, const int16_t *b, const int32_t *out_dims, const int32_t *strides1,
                          const int32_t *strides2, const tg_mul_s16_params_t *params, int16_t *out);

#endif /* TG_MUL_BROADCAST_S16_H */
