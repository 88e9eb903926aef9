/* tinygen int8 elementwise maximum / minimum: see tg_minmax_s8.h. */
#include "tg_minmax_s8.h"

#include <string.h>

#include "tg_common.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define TG_MINMAX_DSP 1
/* four int8 lanes at once: SSUB8 sets the GE flag of each lane where a >= b, SEL takes that lane of its first
   operand where GE is set, else of its second */
TG_INLINE uint32_t tg_minmax4(uint32_t a, uint32_t b, int is_max)
{
    (void)__ssub8((int8x4_t)a, (int8x4_t)b);
    return is_max ? (uint32_t)__sel((uint8x4_t)a, (uint8x4_t)b) : (uint32_t)__sel((uint8x4_t)b, (uint8x4_t)a);
}
#elif defined(TG_DSP_EMULATE)
/* a C stand-in for SSUB8 + SEL, to test the four-lane path bit for bit on a host */
#define TG_MINMAX_DSP 1
TG_INLINE uint32_t tg_minmax4(uint32_t a, uint32_t b, int is_max)
{
    uint32_t r = 0;
    int k;
    for (k = 0; k < 32; k += 8)
    {
        const int8_t x = (int8_t)(uint8_t)(a >> k), y = (int8_t)(uint8_t)(b >> k);
        const int8_t z = is_max ? TG_MAX(x, y) : TG_MIN(x, y);
        r |= (uint32_t)(uint8_t)z << k;
    }
    return r;
}
#else
#define TG_MINMAX_DSP 0
#endif

TG_INLINE int8_t tg_minmax1(int8_t a, int8_t b, int is_max)
{
    return is_max ? TG_MAX(a, b) : TG_MIN(a, b);
}

/* One output row of n elements, input i read at a[i * sa], b[i * sb]. Each group of elements is read before
   any of it is written, so out may alias a (or b) exactly. */
TG_INLINE void tg_minmax_row(const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int32_t n, int is_max,
                             int8_t *out)
{
    int32_t i = 0;
    if (sa == 1 && sb == 1)
    {
#if TG_MINMAX_DSP
        for (; i + 4 <= n; i += 4)
        {
            uint32_t x, y;
            memcpy(&x, a + i, sizeof x);
            memcpy(&y, b + i, sizeof y);
            x = tg_minmax4(x, y, is_max);
            memcpy(out + i, &x, sizeof x);
        }
#endif
        for (; i < n; ++i)
        {
            out[i] = tg_minmax1(a[i], b[i], is_max);
        }
    }
    else if (sa == 1 && sb == 0)
    {
        const int8_t y = *b;
#if TG_MINMAX_DSP
        const uint32_t y4 = (uint32_t)(uint8_t)y * UINT32_C(0x01010101);
        for (; i + 4 <= n; i += 4)
        {
            uint32_t x;
            memcpy(&x, a + i, sizeof x);
            x = tg_minmax4(x, y4, is_max);
            memcpy(out + i, &x, sizeof x);
        }
#endif
        for (; i < n; ++i)
        {
            out[i] = tg_minmax1(a[i], y, is_max);
        }
    }
    else if (sa == 0 && sb == 1)
    {
        const int8_t x = *a;
#if TG_MINMAX_DSP
        const uint32_t x4 = (uint32_t)(uint8_t)x * UINT32_C(0x01010101);
        for (; i + 4 <= n; i += 4)
        {
            uint32_t y;
            memcpy(&y, b + i, sizeof y);
            y = tg_minmax4(x4, y, is_max);
            memcpy(out + i, &y, sizeof y);
        }
#endif
        for (; i < n; ++i)
        {
            out[i] = tg_minmax1(x, b[i], is_max);
        }
    }
    else
    {
        /* any other strides (a row of one element, or a layout the code generator does not emit) */
        for (; i < n; ++i)
        {
            out[i] = tg_minmax1(a[i * sa], b[i * sb], is_max);
        }
    }
}

/* The 4-D loop nest; is_max a constant at each call, so each op gets its own straight-line rows. */
TG_INLINE void tg_minmax_4d(const int8_t *input1, const int8_t *input2, const int32_t *dims, const int32_t *s1,
                            const int32_t *s2, int is_max, int8_t *output)
{
    const int32_t n3 = dims[3];
    int32_t i0, i1, i2;
    for (i0 = 0; i0 < dims[0]; ++i0)
    {
        for (i1 = 0; i1 < dims[1]; ++i1)
        {
            for (i2 = 0; i2 < dims[2]; ++i2)
            {
                const int8_t *a = input1 + i0 * s1[0] + i1 * s1[1] + i2 * s1[2];
                const int8_t *b = input2 + i0 * s2[0] + i1 * s2[1] + i2 * s2[2];
                tg_minmax_row(a, s1[3], b, s2[3], n3, is_max, output);
                output += n3;
            }
        }
    }
}

/*
 * Specialisations (TG_VARIANT, tg_common.h): MINMAX_MAX and MINMAX_MIN, the straight-line copies of each op; a
 * library compiles those its calls name (minmax.lower in tinygen/ops/minmax.py: the op's own). A call whose
 * copy its library lacks stops in TG_UNREACHABLE rather than compute the other op.
 */
#if !(TG_VARIANT(MINMAX_MAX) || TG_VARIANT(MINMAX_MIN))
#error "tg_minmax_s8: no specialisation selected (TG_VARIANT_MINMAX_*): see lower() in tinygen/ops/minmax.py"
#endif
void tg_minmax_s8(const int8_t *input1, const int8_t *input2, const int32_t *out_dims,
                  const int32_t *input1_strides, const int32_t *input2_strides, int32_t is_max, int8_t *output)
{
    if (is_max)
    {
#if TG_VARIANT(MINMAX_MAX)
        TG_TRACE_VARIANT(MINMAX_MAX);
        tg_minmax_4d(input1, input2, out_dims, input1_strides, input2_strides, 1, output);
#else
        TG_UNREACHABLE();
#endif
    }
    else
    {
#if TG_VARIANT(MINMAX_MIN)
        TG_TRACE_VARIANT(MINMAX_MIN);
        tg_minmax_4d(input1, input2, out_dims, input1_strides, input2_strides, 0, output);
#else
        TG_UNREACHABLE();
#endif
    }
}
