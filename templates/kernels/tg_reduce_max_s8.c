/* tinygen int8 max over axes: see tg_reduce_max_s8.h. */
#include "tg_reduce_max_s8.h"

#include <string.h>

#include "tg_common.h"
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define TG_REDUCE_MAX_DSP 1
/* Four int8 lanes of a 32-bit word: lane-wise max(a, b). SSUB8 sets GE[i] where a[i] >= b[i], SEL picks. */
TG_INLINE uint32_t tg_reduce_max4(uint32_t a, uint32_t b)
{
    (void)__ssub8((int8x4_t)a, (int8x4_t)b);
    return (uint32_t)__sel((uint8x4_t)a, (uint8x4_t)b);
}
#elif defined(TG_DSP_EMULATE)
/* A C stand-in of SSUB8/SEL, to test the DSP path bit for bit on a host. */
#define TG_REDUCE_MAX_DSP 1
TG_INLINE uint32_t tg_reduce_max4(uint32_t a, uint32_t b)
{
    uint32_t r = 0;
    int k;
    for (k = 0; k < 32; k += 8)
    {
        const int32_t x = (int32_t)((a >> k) & 0xffu) - (int32_t)(((a >> k) & 0x80u) << 1);
        const int32_t y = (int32_t)((b >> k) & 0xffu) - (int32_t)(((b >> k) & 0x80u) << 1);
        r |= (((x >= y ? a : b) >> k) & 0xffu) << k;
    }
    return r;
}
#else
#define TG_REDUCE_MAX_DSP 0
#endif

#if TG_REDUCE_MAX_DSP
TG_INLINE uint32_t tg_reduce_max_load32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* one (unaligned) LDR */
    return v;
}

/* The int8 value of the low byte of a word. */
TG_INLINE int32_t tg_reduce_max_lane0(uint32_t v)
{
    return (int32_t)(v & 0xffu) - (int32_t)((v & 0x80u) << 1);
}
#endif

/* out[c] = max over r < rows of in[r * cols + c], for c < cols (rows >= 1); with `raise_out`, the max of that and
   out[c] (the output row already holds the max of other inputs). */
static void tg_reduce_max_rows(const int8_t *in, int32_t rows, int32_t cols, int8_t *out, int raise_out)
{
    const int32_t r0 = raise_out ? 0 : 1;
    const int8_t *init = raise_out ? out : in;
    int32_t c = 0;
#if TG_REDUCE_MAX_DSP
    for (; c + 4 <= cols; c += 4)
    {
        uint32_t acc = tg_reduce_max_load32(init + c);
        int32_t r, off = c + r0 * cols;
        for (r = r0; r < rows; ++r, off += cols)
        {
            acc = tg_reduce_max4(tg_reduce_max_load32(in + off), acc);
        }
        memcpy(out + c, &acc, sizeof acc);
    }
#else
    for (; c + 4 <= cols; c += 4)
    {
        int32_t m0 = init[c], m1 = init[c + 1], m2 = init[c + 2], m3 = init[c + 3];
        int32_t r, off = c + r0 * cols;
        for (r = r0; r < rows; ++r, off += cols)
        {
            m0 = TG_MAX(m0, (int32_t)in[off]);
            m1 = TG_MAX(m1, (int32_t)in[off + 1]);
            m2 = TG_MAX(m2, (int32_t)in[off + 2]);
            m3 = TG_MAX(m3, (int32_t)in[off + 3]);
        }
        out[c] = (int8_t)m0;
        out[c + 1] = (int8_t)m1;
        out[c + 2] = (int8_t)m2;
        out[c + 3] = (int8_t)m3;
    }
#endif
    for (; c < cols; ++c)
    {
        int32_t m = init[c];
        int32_t r, off = c + r0 * cols;
        for (r = r0; r < rows; ++r, off += cols)
        {
            m = TG_MAX(m, (int32_t)in[off]);
        }
        out[c] = (int8_t)m;
    }
}

/* The max of n >= 1 contiguous values, not below `m`. */
static int32_t tg_reduce_max_run(const int8_t *p, int32_t n, int32_t m)
{
    int32_t i = 0;
#if TG_REDUCE_MAX_DSP
    if (n >= 8)
    {
        uint32_t acc = tg_reduce_max_load32(p);
        for (i = 4; i + 4 <= n; i += 4)
        {
            acc = tg_reduce_max4(tg_reduce_max_load32(p + i), acc);
        }
        acc = tg_reduce_max4(acc, acc >> 16); /* lanes 0, 1: max of lanes (0, 2), (1, 3) */
        acc = tg_reduce_max4(acc, acc >> 8);  /* lane 0: max of all four */
        m = TG_MAX(m, tg_reduce_max_lane0(acc));
    }
#else
    for (; i + 4 <= n; i += 4)
    {
        const int32_t a = TG_MAX((int32_t)p[i], (int32_t)p[i + 1]);
        const int32_t b = TG_MAX((int32_t)p[i + 2], (int32_t)p[i + 3]);
        m = TG_MAX(m, TG_MAX(a, b));
    }
#endif
    for (; i < n; ++i)
    {
        m = TG_MAX(m, (int32_t)p[i]);
    }
    return m;
}

/* Advance the odometer idx over the extents dims[first], dims[first + 2], ... (count of them); 0 when it wraps. */
static int tg_reduce_max_next(int32_t *idx, const int32_t *dims, int32_t first, int32_t count)
{
    int32_t k;
    for (k = count - 1; k >= 0; --k)
    {
        if (++idx[k] < dims[first + 2 * k])
        {
            return 1;
        }
        idx[k] = 0;
    }
    return 0;
}

/* Any odd ndims: for each output row (the outer kept extents), for each outer reduced position, max the last
   reduced run of rows into the row; each row is complete before the next. */
static void tg_reduce_max_general(const int8_t *input, int32_t ndims, const int32_t *dims, int8_t *output)
{
    int32_t stride[TG_REDUCE_MAX_DIMS];
    int32_t kept[TG_REDUCE_MAX_DIMS / 2];
    int32_t red[TG_REDUCE_MAX_DIMS / 2];
    const int32_t groups = (ndims - 1) / 2; /* outer kept extents = reduced runs */
    const int32_t cols = dims[ndims - 1];
    const int32_t rows = dims[ndims - 2];
    int32_t k;
    stride[ndims - 1] = 1;
    for (k = ndims - 2; k >= 0; --k)
    {
        stride[k] = stride[k + 1] * dims[k + 1];
    }
    for (k = 0; k < groups; ++k)
    {
        kept[k] = 0;
    }
    do
    {
        int32_t base = 0;
        for (k = 0; k < groups; ++k)
        {
            base += kept[k] * stride[2 * k];
        }
        for (k = 0; k < groups - 1; ++k)
        {
            red[k] = 0;
        }
        /* the first block initialises the row, the others raise it */
        tg_reduce_max_rows(input + base, rows, cols, output, 0);
        while (tg_reduce_max_next(red, dims, 1, groups - 1))
        {
            int32_t off = base;
            for (k = 0; k < groups - 1; ++k)
            {
                off += red[k] * stride[2 * k + 1];
            }
            tg_reduce_max_rows(input + off, rows, cols, output, 1);
        }
        output += cols;
    } while (tg_reduce_max_next(kept, dims, 0, groups));
}

void tg_reduce_max_s8(const int8_t *input, int32_t ndims, const int32_t *dims, int8_t *output)
{
    if (ndims == 3)
    {
        const int32_t outer = dims[0], rows = dims[1], cols = dims[2];
        int32_t k;
        if (cols == 1)
        {
            for (k = 0; k < outer; ++k)
            {
                output[k] = (int8_t)tg_reduce_max_run(input + k * rows, rows, -128);
            }
        }
        else
        {
            for (k = 0; k < outer; ++k)
            {
                tg_reduce_max_rows(input + k * rows * cols, rows, cols, output + k * cols, 0);
            }
        }
        return;
    }
    tg_reduce_max_general(input, ndims, dims, output);
}
