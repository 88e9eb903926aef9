/* tinygen int8 sum over axes: see tg_reduce_sum_s8.h. */
#include "tg_reduce_sum_s8.h"

#include <string.h>

#include "tg_common.h"
#include "tg_fixedpoint.h"

/* channels accumulated at once by the general path (int32 accumulators on the stack) */
#define TG_REDUCE_SUM_BLOCK 32

/* Rows summed in 16-bit lanes before they are flushed: 256 * -128 and 256 * 127 fit int16. */
#define TG_REDUCE_SUM_CHUNK 256

/* The requantized int8 output of an accumulator holding sum - input_zp * count. */
TG_INLINE int8_t tg_reduce_sum_out(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_zp)
{
    return tg_sat_s8(tg_requantize_nonneg(acc, multiplier, shift) + output_zp);
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define TG_REDUCE_SUM_DSP 1
/* SXTAB16: the 16-bit lanes of a plus bytes 0 and 2 of x, sign-extended (each lane wraps mod 2^16) */
TG_INLINE uint32_t tg_reduce_sum_sxtab16(uint32_t a, uint32_t x)
{
    return (uint32_t)__sxtab16((int16x2_t)a, (int8x4_t)x);
}
/* the same for bytes 1 and 3 (SXTAB16 with its free rotation; ACLE has no intrinsic for it) */
TG_INLINE uint32_t tg_reduce_sum_sxtab16_ror8(uint32_t a, uint32_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
#else
    return (uint32_t)__sxtab16((int16x2_t)a, (int8x4_t)__ror(x, 8));
#endif
}
/* SMLAD with (1, 1): acc plus both signed 16-bit lanes of a */
TG_INLINE int32_t tg_reduce_sum_lanes(uint32_t a, int32_t acc)
{
    return __smlad((int16x2_t)a, (int16x2_t)0x00010001, acc);
}
#elif defined(TG_DSP_EMULATE)
/* C stand-ins of SXTAB16 and SMLAD, to test the DSP path bit for bit on a host. */
#define TG_REDUCE_SUM_DSP 1
TG_INLINE uint32_t tg_reduce_sum_sxtab16(uint32_t a, uint32_t x)
{
    const uint32_t b0 = (x & 0xffu) | ((x & 0x80u) ? 0xff00u : 0u);
    const uint32_t b2 = ((x >> 16) & 0xffu) | ((x & 0x800000u) ? 0xff00u : 0u);
    return ((a + b0) & 0xffffu) | ((((a >> 16) + b2) & 0xffffu) << 16);
}
TG_INLINE uint32_t tg_reduce_sum_sxtab16_ror8(uint32_t a, uint32_t x)
{
    return tg_reduce_sum_sxtab16(a, (x >> 8) | (x << 24));
}
TG_INLINE int32_t tg_reduce_sum_lanes(uint32_t a, int32_t acc)
{
    const int32_t lo = (int32_t)(a & 0xffffu) - (int32_t)((a & 0x8000u) << 1);
    const int32_t hi = (int32_t)(a >> 16) - (int32_t)((a >> 15) & 0x10000u);
    return acc + lo + hi;
}
#else
#define TG_REDUCE_SUM_DSP 0
#endif

#if TG_REDUCE_SUM_DSP
TG_INLINE uint32_t tg_reduce_sum_load32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* one (unaligned) LDR */
    return v;
}
/* The signed 16-bit lanes of a word (lo: bits 0..15). */
TG_INLINE int32_t tg_reduce_sum_lo16(uint32_t v)
{
    return (int32_t)(v & 0xffffu) - (int32_t)((v & 0x8000u) << 1);
}
TG_INLINE int32_t tg_reduce_sum_hi16(uint32_t v)
{
    return tg_reduce_sum_lo16(v >> 16);
}
#endif

/* acc[c] += sum over r < rows of in[r * cols + c], for c < n (n <= cols). */
static void tg_reduce_sum_rows(const int8_t *in, int32_t rows, int32_t cols, int32_t n, int32_t *acc)
{
    int32_t c = 0;
#if TG_REDUCE_SUM_DSP
    for (; c + 4 <= n; c += 4)
    {
        int32_t a0 = acc[c], a1 = acc[c + 1], a2 = acc[c + 2], a3 = acc[c + 3];
        int32_t r = 0, off = c;
        while (r < rows)
        {
            const int32_t end = TG_MIN(rows, r + TG_REDUCE_SUM_CHUNK);
            uint32_t even = 0, odd = 0; /* channels (0, 2) and (1, 3) in 16-bit lanes */
            for (; r < end; ++r, off += cols)
            {
                const uint32_t v = tg_reduce_sum_load32(in + off);
                even = tg_reduce_sum_sxtab16(even, v);
                odd = tg_reduce_sum_sxtab16_ror8(odd, v);
            }
            a0 += tg_reduce_sum_lo16(even);
            a1 += tg_reduce_sum_lo16(odd);
            a2 += tg_reduce_sum_hi16(even);
            a3 += tg_reduce_sum_hi16(odd);
        }
        acc[c] = a0;
        acc[c + 1] = a1;
        acc[c + 2] = a2;
        acc[c + 3] = a3;
    }
#else
    for (; c + 4 <= n; c += 4)
    {
        int32_t a0 = acc[c], a1 = acc[c + 1], a2 = acc[c + 2], a3 = acc[c + 3];
        int32_t r, off = c;
        for (r = 0; r < rows; ++r, off += cols)
        {
            a0 += in[off];
            a1 += in[off + 1];
            a2 += in[off + 2];
            a3 += in[off + 3];
        }
        acc[c] = a0;
        acc[c + 1] = a1;
        acc[c + 2] = a2;
        acc[c + 3] = a3;
    }
#endif
    for (; c < n; ++c)
    {
        int32_t a = acc[c];
        int32_t r, off = c;
        for (r = 0; r < rows; ++r, off += cols)
        {
            a += in[off];
        }
        acc[c] = a;
    }
}

/* The sum of n >= 0 contiguous values. */
static int32_t tg_reduce_sum_run(const int8_t *p, int32_t n)
{
    int32_t s0 = 0, s1 = 0, i = 0;
#if TG_REDUCE_SUM_DSP
    for (; i + 4 <= n; i += 4)
    {
        const uint32_t v = tg_reduce_sum_load32(p + i);
        s0 = tg_reduce_sum_lanes(tg_reduce_sum_sxtab16(0u, v), s0);
        s1 = tg_reduce_sum_lanes(tg_reduce_sum_sxtab16_ror8(0u, v), s1);
    }
#else
    for (; i + 4 <= n; i += 4)
    {
        s0 += (int32_t)p[i] + (int32_t)p[i + 2];
        s1 += (int32_t)p[i + 1] + (int32_t)p[i + 3];
    }
#endif
    for (; i < n; ++i)
    {
        s0 += p[i];
    }
    return s0 + s1;
}

/* Advance the odometer idx over the extents dims[first], dims[first + 2], ... (count of them); 0 when it wraps. */
static int tg_reduce_sum_next(int32_t *idx, const int32_t *dims, int32_t first, int32_t count)
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

/* Any odd ndims: for each output row (the outer kept extents) and block of its channels, accumulate the last
   reduced run of rows at every outer reduced position, then requantize the block. */
static void tg_reduce_sum_general(const int8_t *input, int32_t ndims, const int32_t *dims, int32_t init,
                                  int32_t output_zp, int32_t multiplier, int32_t shift, int8_t *output)
{
    int32_t stride[TG_REDUCE_SUM_DIMS];
    int32_t kept[TG_REDUCE_SUM_DIMS / 2];
    int32_t red[TG_REDUCE_SUM_DIMS / 2];
    int32_t acc[TG_REDUCE_SUM_BLOCK];
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
        int32_t base = 0, c0;
        for (k = 0; k < groups; ++k)
        {
            base += kept[k] * stride[2 * k];
        }
        for (c0 = 0; c0 < cols; c0 += TG_REDUCE_SUM_BLOCK)
        {
            const int32_t n = TG_MIN(TG_REDUCE_SUM_BLOCK, cols - c0);
            int32_t c;
            for (c = 0; c < n; ++c)
            {
                acc[c] = init;
            }
            for (k = 0; k < groups - 1; ++k)
            {
                red[k] = 0;
            }
            do
            {
                int32_t off = base + c0;
                for (k = 0; k < groups - 1; ++k)
                {
                    off += red[k] * stride[2 * k + 1];
                }
                tg_reduce_sum_rows(input + off, rows, cols, n, acc);
            } while (tg_reduce_sum_next(red, dims, 1, groups - 1));
            for (c = 0; c < n; ++c)
            {
                output[c0 + c] = tg_reduce_sum_out(acc[c], multiplier, shift, output_zp);
            }
        }
        output += cols;
    } while (tg_reduce_sum_next(kept, dims, 0, groups));
}

void tg_reduce_sum_s8(const int8_t *input, int32_t ndims, const int32_t *dims, int32_t count, int32_t input_zp,
                      int32_t output_zp, int32_t multiplier, int32_t shift, int8_t *output)
{
    /* sum - input_zp * count: |.| <= 256 * count < 2^31, and so is every partial sum from this start */
    const int32_t init = -input_zp * count;
    if (ndims == 3)
    {
        const int32_t outer = dims[0], rows = dims[1], cols = dims[2];
        int32_t k;
        if (cols == 1)
        {
            for (k = 0; k < outer; ++k)
            {
                output[k] = tg_reduce_sum_out(init + tg_reduce_sum_run(input + k * rows, rows), multiplier, shift,
                                              output_zp);
            }
            return;
        }
        for (k = 0; k < outer; ++k)
        {
            const int8_t *in = input + k * rows * cols;
            int8_t *out = output + k * cols;
            int32_t c = 0;
            for (; c + 4 <= cols; c += 4)
            {
                int32_t acc[4];
                int32_t j;
                acc[0] = acc[1] = acc[2] = acc[3] = init;
                tg_reduce_sum_rows(in + c, rows, cols, 4, acc);
                for (j = 0; j < 4; ++j)
                {
                    out[c + j] = tg_reduce_sum_out(acc[j], multiplier, shift, output_zp);
                }
            }
            for (; c < cols; ++c)
            {
                int32_t acc = init;
                tg_reduce_sum_rows(in + c, rows, cols, 1, &acc);
                out[c] = tg_reduce_sum_out(acc, multiplier, shift, output_zp);
            }
        }
        return;
    }
    tg_reduce_sum_general(input, ndims, dims, init, output_zp, multiplier, shift, output);
}
