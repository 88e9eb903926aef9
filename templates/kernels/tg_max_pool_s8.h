/* tinygen int8 max pooling (TFLite Micro's reference int8 MAX_POOL_2D, bit-exact). */
#ifndef TG_MAX_POOL_S8_H
#define TG_MAX_POOL_S8_H

#include <stdint.h>

/**
 * @brief int8 2-D max pooling, NHWC.
 *
 * @param[in]  input     int8 input [batches, in_h, in_w, channels]
 * @param[in]  batches   batch count (>= 1)
 * @param[in]  in_h      input height
 * @param[in]  in_w      input width
 * @param[in]  channels  channels (unchanged by pooling)
 * @param[in]  filter_h  window height
 * @param[in]  filter_w  window width
 * @param[in]  stride_h  vertical stride
 * @param[in]  stride_w  horizontal stride
 * @param[in]  pad_h     rows of padding above (TFLite SAME padding; padded cells are skipped)
 * @param[in]  pad_w     columns of padding on the left
 * @param[in]  out_h     output height
 * @param[in]  out_w     output width
 * @param[in]  act_min   fused activation minimum, -128..127
 * @param[in]  act_max   fused activation maximum, act_min..127
 * @param[out] output    int8 output [batches, out_h, out_w, channels]; must not overlap input
 *
 * Every window must hold at least one input cell (true for TFLite's SAME and VALID padding).
 * The DSP path compares four channels at once (SSUB8 + SEL).
 */
void tg_max_pool_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                    int32_t filter_h, int32_t filter_w, int32_t stride_h, int32_t stride_w, int32_t pad_h,
                    int32_t pad_w, int32_t out_h, int32_t out_w, int32_t act_min, int32_t act_max,
                    int8_t *output);

#endif /* TG_MAX_POOL_S8_H */
