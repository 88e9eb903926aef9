/* tinygen int8 PReLU (TFLite Micro's int8 PRELU, reference_ops::BroadcastPrelu4DSlow, bit-exact). */
#ifndef TG_PRELU_S8_H
#define TG_PRELU_S8_H

#include <stdint.h>

/** The alpha branch's quantized parameters (TFLite's PreluParams; the identity branch is tabulated). */
typedef struct
{
    int32_t input_offset;     /**< -input zero point */
    int32_t alpha_offset;     /**< -alpha zero point */
    int32_t output_offset;    /**< output zero point */
    int32_t alpha_multiplier; /**< output_multiplier_2: QuantizeMultiplier(input * alpha / output scale) */
    int32_t alpha_shift;      /**< output_shift_2 (> 0: left) */
} tg_prelu_params_t;

/**
 * @brief int8 PReLU with numpy broadcasting of input and alpha, over an output of at most 4 dimensions:
 *
 *     d = x + input_offset
 *     out = d >= 0 ? identity[(uint8_t)x]
 *                  : sat8(MultiplyByQuantizedMultiplier(d * (alpha + alpha_offset), alpha_multiplier,
 *                                                       alpha_shift) + output_offset)
 *
 * where identity[] holds TFLite's identity branch, clamp(MultiplyByQuantizedMultiplier(d, output_multiplier_1,
 * output_shift_1) + output_offset), computed offline for the int8 inputs at or above the input zero point.
 * An input contiguous in rows of out_dims[3] elements with an alpha stepping along the last dimension only
 * (per channel, or an alpha of the input's shape after merging) runs a loop of its own; every other layout
 * the general 4-D loop.
 *
 * @param[in]  input          int8 input
 * @param[in]  alpha          int8 alpha (constant)
 * @param[in]  out_dims       output shape [4] (leading dimensions padded with 1)
 * @param[in]  input_strides  element strides of the input along each output dimension [4]; 0 where broadcast
 * @param[in]  alpha_strides  the same for the alpha
 * @param[in]  identity       [256] outputs of the identity branch, indexed by the input's bits (uint8_t)x
 * @param[in]  params         the alpha branch's parameters
 * @param[out] output         int8 result, row-major in out_dims; may alias an input of the output's shape
 *                            exactly (each element is read before it is written)
 */
void tg_prelu_s8(const int8_t *input, const int8_t *alpha, const int32_t *out_dims, const int32_t *input_strides,
                 const int32_t *alpha_strides, const int8_t *identity, const tg_prelu_params_t *params,
                 int8_t *output);

#endif /* TG_PRELU_S8_H */
