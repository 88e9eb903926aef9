/* tg_fully_connected_mve_s8: see tg_fully_connected_mve_s8.h */
#include "tg_fully_connected_mve_s8.h"

#include "tg_mve_s8.h"

void tg_fully_connected_mve_s8(const int8_t *input, int32_t batches, int32_t in_features, const int8_t *weights,
                               const int32_t *params, int8_t *output, int32_t out_features, int32_t out_offset,
                               int32_t act_min, int32_t act_max, int32_t has_left, int8_t *scratch)
{
    const int32_t d16 = (in_features + 15) & ~15;
    if (d16 == in_features)
    {
        tg_mve_gemm_columns(input, in_features, batches, d16, weights, params, out_features, has_left, out_offset,
                            act_min, act_max, output);
        return;
    }
    tg_mve_fill_s8(scratch + in_features, 0, d16 - in_features);
    for (; batches > 0; --batches)
    {
        tg_mve_copy_s8(scratch, input, in_features);
        tg_mve_gemm_columns(scratch, d16, 1, d16, weights, params, out_features, has_left, out_offset, act_min,
                            act_max, output);
        input += in_features;
        output += out_features;
    }
}
