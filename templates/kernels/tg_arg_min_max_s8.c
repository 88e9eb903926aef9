/* tinygen int8 arg max / arg min: see tg_arg_min_max_s8.h. */
#include "tg_arg_min_max_s8.h"

#include <string.h>

#include "tg_common.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define TG_ARG_DSP 1
/* four int8 lanes at once: SSUB8 sets the GE flag of each lane where a >= b, SEL takes that lane of its first
   operand where GE is set, else of its second: the lane-wise max (is_max) or min of a and b */
TG_INLINE uint32_t tg_arg_extreme4(uint32_t a, uint32_t b, int is_max)
{
    (void)__ssub8((int8x4_t)a, (int8x4_t)b);
    return is_max ? (uint32_t)__sel((uint8x4_t)a, (uint8x4_t)b) : (uint32_t)__sel((uint8x4_t)b, (uint8x4_t)a);
}
#elif defined(TG_DSP_EMULATE)
/* a C stand-in for SSUB8 + SEL, to test the four-lane path bit for bit on a host */
#define TG_ARG_DSP 1
TG_INLINE uint32_t tg_arg_extreme4(uint32_t a, uint32_t b, int is_max)
{
    int8_t x[4], y[4];
    uint32_t r;
    int k;
    memcpy(x, &a, sizeof x);
    memcpy(y, &b, sizeof y);
    for (k = 0; k < 4; ++k)
    {
        x[k] = is_max ? TG_MAX(x[k], y[k]) : TG_MIN(x[k], y[k]);
    }
    memcpy(&r, x, sizeof r);
    return r;
}
#else
#define TG_ARG_DSP 0
#endif

/* The largest (is_max) or smallest of row[0], ..., row[n - 1], n >= 1. */
TG_INLINE int8_t tg_arg_extreme(const int8_t *row, int32_t n, int is_max)
{
    int8_t best = row[0];
    int32_t i = 1;
#if TG_ARG_DSP
    if (n >= 8)
    {
        uint32_t acc, w;
        int8_t lanes[4];
        int k;
        memcpy(&acc, row, sizeof acc);
        for (i = 4; i + 4 <= n; i += 4)
        {
            memcpy(&w, row + i, sizeof w);
            acc = tg_arg_extreme4(w, acc, is_max);
        }
        memcpy(lanes, &acc, sizeof lanes);
        for (k = 0; k < 4; ++k)
        {
            best = is_max ? TG_MAX(best, lanes[k]) : TG_MIN(best, lanes[k]);
        }
    }
#endif
    for (; i < n; ++i)
    {
        best = is_max ? TG_MAX(best, row[i]) : TG_MIN(best, row[i]);
    }
    return best;
}

/* One output per contiguous row of n values: the first index of the row's extreme value, which is the index
   TFLite Micro's strict comparison keeps (a later equal value never replaces it). */
TG_INLINE void tg_arg_rows(const int8_t *input, int32_t rows, int32_t n, int is_max, int32_t *output)
{
    int32_t r;
    for (r = 0; r < rows; ++r)
    {
        const int8_t best = tg_arg_extreme(input, n, is_max);
        int32_t i = 0;
        while (input[i] != best) /* stops at the latest at the value just found */
        {
            ++i;
        }
        output[r] = i;
        input += n;
    }
}

/* [outer, axis_size, inner] with inner > 1: each output scans its column, axis_size values `inner` apart, keeping
   the first value only a strictly larger (smaller) one replaces. */
TG_INLINE void tg_arg_columns(const int8_t *input, int32_t outer, int32_t axis_size, int32_t inner, int is_max,
                              int32_t *output)
{
    int32_t o, j, i;
    for (o = 0; o < outer; ++o)
    {
        for (j = 0; j < inner; ++j)
        {
            const int8_t *p = input + j;
            int8_t best = *p;
            int32_t index = 0;
            for (i = 1; i < axis_size; ++i)
            {
                p += inner;
                if (is_max ? *p > best : *p < best)
                {
                    best = *p;
                    index = i;
                }
            }
            output[j] = index;
        }
        input += axis_size * inner;
        output += inner;
    }
}

void tg_arg_min_max_s8(const int8_t *input, int32_t outer, int32_t axis_size, int32_t inner, int32_t is_max,
                       int32_t *output)
{
    /* each path called with a constant is_max, so each op gets its own straight-line loops */
    if (inner == 1)
    {
        if (is_max)
        {
            tg_arg_rows(input, outer, axis_size, 1, output);
        }
        else
        {
            tg_arg_rows(input, outer, axis_size, 0, output);
        }
    }
    else if (is_max)
    {
        tg_arg_columns(input, outer, axis_size, inner, 1, output);
    }
    else
    {
        tg_arg_columns(input, outer, axis_size, inner, 0, output);
    }
}
