/* tinygen int8 batched matrix product: see tg_batch_matmul_s8.h. */
#include "tg_batch_matmul_s8.h"

#include "tg_conv_dsp_s8.h"
#include "tg_requant_fast.h"

/* dst[i][k] = src[k][i]: a [n][m] matrix into [m][n] */
static void tg_bmm_transpose(const int8_t *src, int32_t n, int32_t m, int8_t *dst)
{
    int32_t i, k;
    for (i = 0; i < m; ++i)
    {
        const int8_t *s = src + i;
        for (k = 0; k < n; ++k)
        {
            *dst++ = *s;
            s += m;
        }
    }
}

#if TG_DSP
/* an offset in both int16 lanes (SXTAB16 adds it while sign-extending) */
TG_INLINE uint32_t tg_bmm_pair(int32_t offset)
{
    return (uint32_t)(uint16_t)offset * UINT32_C(0x00010001);
}
#endif

/* one row against one column */
static int32_t tg_bmm_dot(const int8_t *a, const int8_t *b, int32_t n, int32_t a_off, int32_t b_off)
{
    int32_t acc = 0, k = 0;
#if TG_DSP
    const uint32_t a2 = tg_bmm_pair(a_off), b2 = tg_bmm_pair(b_off);
    for (; k + 4 <= n; k += 4)
    {
        const uint32_t av = tg_load32(a + k), bv = tg_load32(b + k);
        acc = tg_smlad(tg_sxtab16(a2, av), tg_sxtab16(b2, bv), acc);
        acc = tg_smlad(tg_sxtab16_ror8(a2, av), tg_sxtab16_ror8(b2, bv), acc);
    }
#endif
    for (; k < n; ++k)
    {
        acc += (a[k] + a_off) * (b[k] + b_off);
    }
    return acc;
}

/* two rows (a0, a1) against two columns (b0, b1): acc = {a0.b0, a0.b1, a1.b0, a1.b1} */
static void tg_bmm_dot2x2(const int8_t *a0, const int8_t *a1, const int8_t *b0, const int8_t *b1, int32_t n,
                          int32_t a_off, int32_t b_off, int32_t acc[4])
{
    int32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0, k = 0;
#if TG_DSP
    const uint32_t a2 = tg_bmm_pair(a_off), b2 = tg_bmm_pair(b_off);
    for (; k + 4 <= n; k += 4)
    {
        const uint32_t x0 = tg_load32(a0 + k), x1 = tg_load32(a1 + k);
        const uint32_t y0 = tg_load32(b0 + k), y1 = tg_load32(b1 + k);
        const int32_t x0e = tg_sxtab16(a2, x0), x0o = tg_sxtab16_ror8(a2, x0);
        const int32_t x1e = tg_sxtab16(a2, x1), x1o = tg_sxtab16_ror8(a2, x1);
        const int32_t y0e = tg_sxtab16(b2, y0), y0o = tg_sxtab16_ror8(b2, y0);
        const int32_t y1e = tg_sxtab16(b2, y1), y1o = tg_sxtab16_ror8(b2, y1);
        s00 = tg_smlad(x0o, y0o, tg_smlad(x0e, y0e, s00));
        s01 = tg_smlad(x0o, y1o, tg_smlad(x0e, y1e, s01));
        s10 = tg_smlad(x1o, y0o, tg_smlad(x1e, y0e, s10));
        s11 = tg_smlad(x1o, y1o, tg_smlad(x1e, y1e, s11));
    }
#endif
    for (; k < n; ++k)
    {
        const int32_t x0 = a0[k] + a_off, x1 = a1[k] + a_off;
        const int32_t y0 = b0[k] + b_off, y1 = b1[k] + b_off;
        s00 += x0 * y0;
        s01 += x0 * y1;
        s10 += x1 * y0;
        s11 += x1 * y1;
    }
    acc[0] = s00;
    acc[1] = s01;
    acc[2] = s10;
    acc[3] = s11;
}

/* the requantization: tg_rq_fast (tg_requant_fast.h: the offset folded into hk) when the shift is a right
   shift of 2..22 (fast != 0), else tg_requantize_mac + offset (multiplier >= 0: the scales are positive) */
typedef struct
{
    int32_t multiplier, shift, offset, hk, e1, fast;
} tg_bmm_rq_t;

TG_INLINE int8_t tg_bmm_out(int32_t acc, const tg_bmm_rq_t *rq)
{
    const int32_t v = rq->fast ? tg_rq_fast(acc, rq->multiplier, rq->hk, rq->e1)
                               : tg_requantize_mac(acc, rq->multiplier, rq->shift) + rq->offset;
    return tg_sat_s8(v);
}

/* one product: l [rows][depth] times r [cols][depth] into out [rows][cols] */
static void tg_bmm_matrix(const int8_t *l, const int8_t *r, int32_t rows, int32_t cols, int32_t depth,
                          int32_t l_off, int32_t r_off, const tg_bmm_rq_t *rq, int8_t *out)
{
    int32_t i = 0, j;
    for (; i + 2 <= rows; i += 2)
    {
        const int8_t *a0 = l + i * depth, *a1 = a0 + depth;
        int8_t *o0 = out + i * cols, *o1 = o0 + cols;
        for (j = 0; j + 2 <= cols; j += 2)
        {
            int32_t acc[4];
            tg_bmm_dot2x2(a0, a1, r + j * depth, r + (j + 1) * depth, depth, l_off, r_off, acc);
            o0[j] = tg_bmm_out(acc[0], rq);
            o0[j + 1] = tg_bmm_out(acc[1], rq);
            o1[j] = tg_bmm_out(acc[2], rq);
            o1[j + 1] = tg_bmm_out(acc[3], rq);
        }
        if (j < cols)
        {
            o0[j] = tg_bmm_out(tg_bmm_dot(a0, r + j * depth, depth, l_off, r_off), rq);
            o1[j] = tg_bmm_out(tg_bmm_dot(a1, r + j * depth, depth, l_off, r_off), rq);
        }
    }
    if (i < rows)
    {
        const int8_t *a0 = l + i * depth;
        int8_t *o0 = out + i * cols;
        for (j = 0; j < cols; ++j)
        {
            o0[j] = tg_bmm_out(tg_bmm_dot(a0, r + j * depth, depth, l_off, r_off), rq);
        }
    }
}

void tg_batch_matmul_s8(const int8_t *lhs, const int8_t *rhs, const int32_t *batch, int32_t rows, int32_t cols,
                        int32_t depth, int32_t lhs_transpose, int32_t rhs_transpose, int32_t lhs_offset,
                        int32_t rhs_offset, int32_t output_offset, int32_t output_multiplier, int32_t output_shift,
                        int8_t *scratch, int8_t *output)
{
    const int32_t out_size = rows * cols;
    int8_t *lhs_rows = lhs_transpose ? scratch : (int8_t *)0;
    int8_t *rhs_cols = rhs_transpose ? scratch + (lhs_transpose ? rows * depth : 0) : (int8_t *)0;
    /* the matrices now in scratch (NULL: none yet): a broadcast operand is transposed once */
    const int8_t *lhs_done = (const int8_t *)0, *rhs_done = (const int8_t *)0;
    tg_bmm_rq_t rq;
    int32_t b0, b1, b2;
    rq.multiplier = output_multiplier;
    rq.shift = output_shift;
    rq.offset = output_offset;
    rq.fast = output_shift <= -2 && output_shift >= -22;
    rq.e1 = rq.fast ? -output_shift - 1 : 0;
    /* 2^(e-2) + offset * 2^(e-1): |offset| <= 128 and e <= 22, far inside int32 */
    rq.hk = rq.fast ? (INT32_C(1) << (-output_shift - 2)) + output_offset * (INT32_C(1) << (-output_shift - 1)) : 0;
    for (b0 = 0; b0 < batch[0]; ++b0)
    {
        for (b1 = 0; b1 < batch[1]; ++b1)
        {
            for (b2 = 0; b2 < batch[2]; ++b2)
            {
                const int8_t *l = lhs + b0 * batch[3] + b1 * batch[4] + b2 * batch[5];
                const int8_t *r = rhs + b0 * batch[6] + b1 * batch[7] + b2 * batch[8];
                if (lhs_rows != (int8_t *)0)
                {
                    if (l != lhs_done)
                    {
                        tg_bmm_transpose(l, depth, rows, lhs_rows);
                        lhs_done = l;
                    }
                    l = lhs_rows;
                }
                if (rhs_cols != (int8_t *)0)
                {
                    if (r != rhs_done)
                    {
                        tg_bmm_transpose(r, depth, cols, rhs_cols);
                        rhs_done = r;
                    }
                    r = rhs_cols;
                }
                tg_bmm_matrix(l, r, rows, cols, depth, lhs_offset, rhs_offset, &rq, output);
                output += out_size;
            }
        }
    }
}
