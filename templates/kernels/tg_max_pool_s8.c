/* tinygen int8 max pooling: see tg_max_pool_s8.h. */
#include "tg_max_pool_s8.h"

#include <string.h>

#include "tg_common.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>

/* Four int8 lanes of a 32-bit word: lane-wise max(a, b). SSUB8 sets GE[i] where a[i] >= b[i]. */
TG_INLINE uint32_t tg_max4(uint32_t a, uint32_t b)
{
    (void)__ssub8((int8x4_t)a, (int8x4_t)b);
    return (uint32_t)__sel((uint8x4_t)a, (uint8x4_t)b);
}

/* Lane-wise min(a, b): where a[i] >= b[i] take b[i]. */
TG_INLINE uint32_t tg_min4(uint32_t a, uint32_t b)
{
    (void)__ssub8((int8x4_t)a, (int8x4_t)b);
    return (uint32_t)__sel((uint8x4_t)b, (uint8x4_t)a);
}

TG_INLINE uint32_t tg_splat4(int32_t v)
{
    return (uint32_t)(uint8_t)v * UINT32_C(0x01010101);
}
#endif

void tg_max_pool_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
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
                int32_t c = 0;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
                const uint32_t lo4 = tg_splat4(act_min);
                const uint32_t hi4 = tg_splat4(act_max);
                for (; c + 4 <= channels; c += 4)
                {
                    uint32_t acc = UINT32_C(0x80808080); /* -128 in every lane */
                    int32_t fy, fx;
                    for (fy = fy_start; fy < fy_end; ++fy)
                    {
                        /* Start at the first valid column: no pointer ever points outside the input. */
                        const int8_t *row = in_b + ((y0 + fy) * in_w + x0 + fx_start) * channels + c;
                        for (fx = 0; fx < fx_end - fx_start; ++fx)
                        {
                            uint32_t v;
                            memcpy(&v, row + fx * channels, sizeof v);
                            acc = tg_max4(v, acc);
                        }
                    }
                    acc = tg_max4(acc, lo4);
                    acc = tg_min4(acc, hi4);
                    memcpy(output, &acc, sizeof acc);
                    output += 4;
                }
#endif
                for (; c < channels; ++c)
                {
                    int32_t acc = -128;
                    int32_t fy, fx;
                    for (fy = fy_start; fy < fy_end; ++fy)
                    {
                        /* Start at the first valid column: no pointer ever points outside the input. */
                        const int8_t *row = in_b + ((y0 + fy) * in_w + x0 + fx_start) * channels + c;
                        for (fx = 0; fx < fx_end - fx_start; ++fx)
                        {
                            acc = TG_MAX(acc, (int32_t)row[fx * channels]);
                        }
                    }
                    *output++ = (int8_t)TG_CLAMP(acc, act_min, act_max);
                }
            }
        }
    }
}
