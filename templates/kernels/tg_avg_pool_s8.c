/* tinygen int8 average pooling: see tg_avg_pool_s8.h. */
#include "tg_avg_pool_s8.h"

#include <string.h>

#include "tg_common.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#endif

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* acc + the sign-extended bytes 1 and 3 of v, as two 16-bit lanes (SXTAB16 with its free rotation) */
TG_INLINE uint32_t tg_avg_sxtab16_ror8(uint32_t acc, uint32_t v)
{
#if defined(__GNUC__) || defined(__clang__)
    __asm__("sxtab16 %0, %0, %1, ror #8" : "+r"(acc) : "r"(v));
    return acc;
#else
    return (uint32_t)__sxtab16((int16x2_t)acc, (int8x4_t)((v >> 8) | (v << 24)));
#endif
}

/* add the 4 bytes at p to two 16-bit-lane sums: even = channels 0, 2; odd = channels 1, 3 */
#define TG_AVG_ACC4(even, odd, p)                                                                              \
    do                                                                                                         \
    {                                                                                                          \
        uint32_t v_;                                                                                           \
        memcpy(&v_, (p), sizeof v_);                                                                           \
        (even) = (uint32_t)__sxtab16((int16x2_t)(even), (int8x4_t)v_);                                         \
        (odd) = tg_avg_sxtab16_ror8((odd), v_);                                                                \
    } while (0)
#endif

/* TFLite's average: round half away from zero with truncating division, then clamp. */
TG_INLINE int8_t tg_avg_round(int32_t sum, int32_t count, int32_t act_min, int32_t act_max)
{
    const int32_t avg = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    return (int8_t)TG_CLAMP(avg, act_min, act_max);
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#if defined(__GNUC__) || defined(__clang__)
#define TG_AVG_NOINLINE __attribute__((noinline))
#else
#define TG_AVG_NOINLINE
#endif

/*
 * The averages of n channels (a multiple of 4) from their 16-bit lane sums: lanes[2j] holds channels 4j and
 * 4j+2 (low, high half), lanes[2j+1] channels 4j+1 and 4j+3. One out-of-line loop serves both passes: 20
 * inlined roundings cost ~1.3 kB of flash to save a few instructions per output (outputs are few: a pool
 * reads many cells per output).
 */
static TG_AVG_NOINLINE void tg_avg_store_lanes(const uint32_t *lanes, int32_t n, int32_t count, int32_t act_min,
                                               int32_t act_max, int8_t *output)
{
    int32_t k;
    for (k = 0; k < n; k += 4, lanes += 2, output += 4)
    {
        uint32_t even = lanes[0], odd = lanes[1];
        int32_t h;
        for (h = 0; h < 4; h += 2, even >>= 16, odd >>= 16) /* low halves: channels 0, 1; high: 2, 3 */
        {
            /* sign-extend the 16-bit lane sums without implementation-defined conversions */
            output[h] = tg_avg_round((int32_t)((even & 0xFFFFu) ^ 0x8000u) - 0x8000, count, act_min, act_max);
            output[h + 1] = tg_avg_round((int32_t)((odd & 0xFFFFu) ^ 0x8000u) - 0x8000, count, act_min, act_max);
        }
    }
}
#endif

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
                    /* 16 channels per pass: eight lane sums stay in registers across the window */
                    for (; c + 16 <= channels; c += 16)
                    {
                        uint32_t e0 = 0, o0 = 0, e1 = 0, o1 = 0, e2 = 0, o2 = 0, e3 = 0, o3 = 0;
                        int32_t fy, fx;
                        for (fy = fy_start; fy < fy_end; ++fy)
                        {
                            /* indexed from the first valid column: no pointer ever points outside the input */
                            const int8_t *row = in_b + ((y0 + fy) * in_w + x0 + fx_start) * channels + c;
                            const int8_t *p = row;
                            for (fx = fx_end - fx_start;;)
                            {
                                TG_AVG_ACC4(e0, o0, p);
                                TG_AVG_ACC4(e1, o1, p + 4);
                                TG_AVG_ACC4(e2, o2, p + 8);
                                TG_AVG_ACC4(e3, o3, p + 12);
                                if (--fx == 0)
                                {
                                    break; /* before stepping past the last cell */
                                }
                                p += channels;
                            }
                        }
                        {
                            const uint32_t lanes[8] = {e0, o0, e1, o1, e2, o2, e3, o3};
                            tg_avg_store_lanes(lanes, 16, count, act_min, act_max, output);
                        }
                        output += 16;
                    }
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
                                TG_AVG_ACC4(even, odd, row + fx * channels);
                            }
                        }
                        {
                            const uint32_t lanes[2] = {even, odd};
                            tg_avg_store_lanes(lanes, 4, count, act_min, act_max, output);
                        }
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
