/* tinygen int8 average pooling: see tg_avg_pool_s8.h. */
#include "tg_avg_pool_s8.h"

#include <string.h>

#include "tg_common.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#endif

/* TFLite's average: round half away from zero with truncating division, then clamp. */
TG_INLINE int8_t tg_avg_round(int32_t sum, int32_t count, int32_t act_min, int32_t act_max)
{
    const int32_t avg = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    return (int8_t)TG_CLAMP(avg, act_min, act_max);
}

void tg_avg_pool_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                    int32_t filter_h, int32_t filter_w, int32_t stride_h, int32_t stride_w, int32_t pad_h,
                    int32_t pad_w, int32_t out_h, int32_t out_w, int32_t act_min, int32_t act_max,
                    int8_t *output)
{
    int32_t b, oy, ox;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *in_b = input + b * in_h * in_w * channels;
        for (oy = 0; oy < out_h; ++oy)
        {
            const int32_t y0 = oy * stride_h - pad_h;
            const int32_t fy_start = TG_MAX(0, -y0);
            const int32_t fy_end = TG_MIN(filter_h, in_h - y0);
            for (ox = 0; ox < out_w; ++ox)
            {
                const int32_t x0 = ox * stride_w - pad_w;
                const int32_t fx_start = TG_MAX(0, -x0);
                const int32_t fx_end = TG_MIN(filter_w, in_w - x0);
                const int32_t count = (fy_end - fy_start) * (fx_end - fx_start);
                int32_t c = 0;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
                if (count <= 256)
                {
                    for (; c + 4 <= channels; c += 4)
                    {
                        /* Lanes: even = channels c, c+2; odd = channels c+1, c+3 (16-bit halves). */
                        uint32_t even = 0, odd = 0;
                        int32_t fy, fx;
                        for (fy = fy_start; fy < fy_end; ++fy)
                        {
                            /* Start at the first valid column: no pointer ever points outside the input. */
                        const int8_t *row = in_b + ((y0 + fy) * in_w + x0 + fx_start) * channels + c;
                            for (fx = 0; fx < fx_end - fx_start; ++fx)
                            {
                                uint32_t v;
                                memcpy(&v, row + fx * channels, sizeof v);
                                even = (uint32_t)__sxtab16((int16x2_t)even, (int8x4_t)v);
                                odd = (uint32_t)__sxtab16((int16x2_t)odd, (int8x4_t)((v >> 8) | (v << 24)));
                            }
                        }
                        output[0] = tg_avg_round((int16_t)(even & 0xFFFFu), count, act_min, act_max);
                        output[1] = tg_avg_round((int16_t)(odd & 0xFFFFu), count, act_min, act_max);
                        output[2] = tg_avg_round((int16_t)(even >> 16), count, act_min, act_max);
                        output[3] = tg_avg_round((int16_t)(odd >> 16), count, act_min, act_max);
                        output += 4;
                    }
                }
#endif
                for (; c < channels; ++c)
                {
                    int32_t sum = 0;
                    int32_t fy, fx;
                    for (fy = fy_start; fy < fy_end; ++fy)
                    {
                        /* Start at the first valid column: no pointer ever points outside the input. */
                        const int8_t *row = in_b + ((y0 + fy) * in_w + x0 + fx_start) * channels + c;
                        for (fx = 0; fx < fx_end - fx_start; ++fx)
                        {
                            sum += row[fx * channels];
                        }
                    }
                    *output++ = tg_avg_round(sum, count, act_min, act_max);
                }
            }
        }
    }
}
