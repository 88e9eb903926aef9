/* tinygen int16x8 fully connected: see tg_fully_connected_s16.h. */
#include "tg_fully_connected_s16.h"

#include "tg_common.h"
#include "tg_conv_dsp_s8.h"
#include "tg_requantize_s16.h"

/* inputs per int32 partial sum: 256 * 2^22 = 2^30 stays inside int32 */
#define TG_FC_S16_BLOCK 256

/* sum_i x[i] * w[i] over n inputs (n % 4 == 0) of the reordered weights (w0 w2 w1 w3 per group). */
static int32_t tg_fc_s16_block(const int16_t *x, const int8_t *w, int32_t n)
{
    int32_t acc = 0;
    int32_t k;
#if TG_DSP
    for (k = 0; k < n; k += 4)
    {
        const uint32_t wq = tg_load32(w + k);
        uint32_t x01, x23;
        memcpy(&x01, x + k, 4);
        memcpy(&x23, x + k + 2, 4);
        acc = tg_smlad((int32_t)x01, tg_sxtb16(wq), acc);
        acc = tg_smlad((int32_t)x23, tg_sxtb16_ror8(wq), acc);
    }
#else
    for (k = 0; k < n; k += 4)
    {
        acc += (int32_t)x[k] * w[k] + (int32_t)x[k + 1] * w[k + 2] + (int32_t)x[k + 2] * w[k + 1] +
               (int32_t)x[k + 3] * w[k + 3];
    }
#endif
    return acc;
}

void tg_fully_connected_s16(const int16_t *input, int32_t batches, int32_t in_features, const int8_t *weights,
                            const int64_t *bias, const int32_t *multipliers, const int32_t *shifts, int32_t rq_step,
                            int32_t wide, int16_t *output, int32_t out_features, int32_t output_offset,
                            int32_t act_min, int32_t act_max)
{
    const int32_t full = in_features & ~3;
    int32_t b, o;
    for (b = 0; b < batches; ++b)
    {
        const int16_t *x = input + b * in_features;
        for (o = 0; o < out_features; ++o)
        {
            const int8_t *w = weights + o * in_features;
            int64_t acc = bias != NULL ? bias[o] : 0;
            int32_t k;
            for (k = 0; k < full; k += TG_FC_S16_BLOCK)
            {
                acc += tg_fc_s16_block(x + k, w + k, TG_MIN(TG_FC_S16_BLOCK, full - k));
            }
            for (k = full; k < in_features; ++k)
            {
                acc += (int32_t)x[k] * w[k];
            }
            output[b * out_features + o] = tg_requantize_acc_s16(acc, wide, multipliers[o * rq_step],
                                                                 shifts[o * rq_step], output_offset, act_min, act_max);
        }
    }
}
