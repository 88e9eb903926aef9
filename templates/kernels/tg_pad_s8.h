/* tinygen int8 constant padding (TFLite Micro's PAD / PADV2 for int8). */
#ifndef TG_PAD_S8_H
#define TG_PAD_S8_H

#include <stdint.h>

/**
 * @brief Pads a tensor of at most 4 dimensions with a constant.
 *
 * @param[in]  input      int8 input, row-major in in_dims
 * @param[in]  in_dims    input shape [4] (leading dimensions padded with 1)
 * @param[in]  pad_before elements added before the input along each dimension [4]
 * @param[in]  out_dims   output shape [4]: in_dims + pad_before + pad_after
 * @param[in]  pad_value  the fill value (the output zero point for PAD, i.e. real 0.0)
 * @param[out] output     int8 output, row-major in out_dims; must not overlap input
 */
void tg_pad_s8(const int8_t *input, const int32_t *in_dims, const int32_t *pad_before, const int32_t *out_dims,
               int32_t pad_value, int8_t *output);

#endif /* TG_PAD_S8_H */
