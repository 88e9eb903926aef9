/*
 * tg_fully_connected_mve_s8: int8 fully connected layer for Helium (MVE).
 *
 * out[b][o] for `batches` rows of in_features values (tg_mve_gemm_column in tg_mve_s8.h: weights in its
 * quad layout, params per quad; a per-tensor layer repeats its multiplier and shift in every quad).
 * When in_features is not a multiple of 16 each row is first copied into `scratch` (in_features
 * rounded up to 16 bytes), whose padding the zero weights ignore; otherwise scratch is unused.
 */
#ifndef TG_FULLY_CONNECTED_MVE_S8_H
#define TG_FULLY_CONNECTED_MVE_S8_H

#include <stdint.h>

void tg_fully_connected_mve_s8(const int8_t *input, int32_t batches, int32_t in_features, const int8_t *weights,
                               const int32_t *params, int8_t *output, int32_t out_features, int32_t out_offset,
                               int32_t act_min, int32_t act_max, int32_t has_left, int8_t *scratch);

#endif /* TG_FULLY_CONNECTED_MVE_S8_H */
