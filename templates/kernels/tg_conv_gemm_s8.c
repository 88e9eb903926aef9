/*
 * tg_conv_gemm_s8: a column pair times pair-interleaved int8 weights, requantized (see the header).
 */
#include "tg_conv_gemm_s8.h"

#if TG_DSP
/* one group of four depth values at byte offset OFF (a literal) of the pair / 2 x OFF of the weights:
   2 columns x 2 channels; WLOAD is TG_LDRD when the weights are 4-byte aligned */
#define TG_GEMM_GROUP(OFF, WOFF, WLOAD)                                                                        \
    do                                                                                                         \
    {                                                                                                          \
        /* ordered to keep 13 registers live: 4 weight halves, 2 column words, 4 sums, 3 pointers */          \
        uint32_t wa, wb, u, v;                                                                                 \
        int32_t wa02, wb02;                                                                                    \
        WLOAD(wa, wb, w, WOFF);                                                                                \
        wa02 = tg_sxtb16(wa);                                                                                  \
        wb02 = tg_sxtb16(wb);                                                                                  \
        wa = (uint32_t)tg_sxtb16_ror8(wa);                                                                     \
        wb = (uint32_t)tg_sxtb16_ror8(wb);                                                                     \
        TG_LDRD(u, v, x, OFF);                                                                                 \
        a00 = tg_smlad((int32_t)u, wa02, a00);                                                                 \
        a01 = tg_smlad((int32_t)u, wb02, a01);                                                                 \
        a00 = tg_smlad((int32_t)v, (int32_t)wa, a00);                                                          \
        a01 = tg_smlad((int32_t)v, (int32_t)wb, a01);                                                          \
        TG_LDRD(u, v, x, OFF + 8);                                                                             \
        a10 = tg_smlad((int32_t)u, wa02, a10);                                                                 \
        a11 = tg_smlad((int32_t)u, wb02, a11);                                                                 \
        a10 = tg_smlad((int32_t)v, (int32_t)wa, a10);                                                          \
        a11 = tg_smlad((int32_t)v, (int32_t)wb, a11);                                                          \
    } while (0)
#endif

/* lo, hi = words i, i + 1 of an int32 array (one LDRD on the DSP path: int32 arrays are 4-byte aligned) */
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
#define TG_WORDS2(lo, hi, p, i) TG_LDRD(lo, hi, p, i * 4)
#else
#define TG_WORDS2(lo, hi, p, i)                                                                                \
    do                                                                                                         \
    {                                                                                                          \
        (lo) = (p)[i];                                                                                         \
        (hi) = (p)[(i) + 1];                                                                                   \
    } while (0)
#endif

/*
 * The whole GEMM. `full` (TG_RQ_FAST_FULL) and `wal` (weights 4-byte aligned: LDRD) are literals at
 * each call below, so the compiler emits one lean copy per combination. A single column was copied
 * into both columns of the pair, so the second column's results equal the first's: with
 * store_second 0 they are written to the same bytes (o1 == out) instead of being branched around.
 */
TG_INLINE void tg_gemm_body(const int16_t *pair, int32_t store_second, int32_t depth, const int8_t *weights,
                            const int32_t *bias, const int32_t *rq, int32_t mode, int32_t out_ch,
                            int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *out, int32_t out_stride,
                            const int full, const int wal)
{
    const int32_t groups = depth >> 2;
    const int32_t tail = depth & 3;
    const int16_t *t0 = pair + 8 * groups; /* column tails */
    const int16_t *t1 = t0 + tail;
    int8_t *o1 = out + (store_second ? out_stride : 0);
    const int8_t *w = weights;
    const int32_t *q = rq;
    int32_t n;
    for (n = out_ch >> 1; n > 0; --n)
    {
        const int16_t *x = pair;
        int32_t a00, a01, a10, a11;
        int32_t g, r;
        TG_WORDS2(a00, a01, bias, 0);
        a10 = a00;
        a11 = a01;
#if TG_DSP
        /* two groups per iteration; the column pair is 16-byte aligned */
        for (g = groups >> 1; g > 0; --g)
        {
            if (wal)
            {
                TG_GEMM_GROUP(0, 0, TG_LDRD);
                TG_GEMM_GROUP(16, 8, TG_LDRD);
            }
            else
            {
                TG_GEMM_GROUP(0, 0, TG_LDR2);
                TG_GEMM_GROUP(16, 8, TG_LDR2);
            }
            w += 16;
            x += 16;
        }
        if (groups & 1)
        {
            TG_GEMM_GROUP(0, 0, TG_LDR2);
            w += 8;
            x += 8;
        }
#else
        (void)wal;
        for (g = groups; g > 0; --g)
        {
            for (r = 0; r < 4; ++r)
            {
                a00 += x[r] * w[r];
                a10 += x[4 + r] * w[r];
                a01 += x[r] * w[4 + r];
                a11 += x[4 + r] * w[4 + r];
            }
            w += 8;
            x += 8;
        }
#endif
        for (r = 0; r < tail; ++r)
        {
            a00 += t0[r] * w[r];
            a10 += t1[r] * w[r];
            a01 += t0[r] * w[tail + r];
            a11 += t1[r] * w[tail + r];
        }
        w += 2 * tail;
        if (full)
        {
            int32_t m0, h0, e0, m1, h1, e1;
            TG_WORDS2(m0, h0, q, 0);
            TG_WORDS2(e0, m1, q, 2);
            TG_WORDS2(h1, e1, q, 4);
            o1[0] = (int8_t)tg_rq_sat8(tg_rq_fast(a10, m0, h0, e0));
            o1[1] = (int8_t)tg_rq_sat8(tg_rq_fast(a11, m1, h1, e1));
            out[0] = (int8_t)tg_rq_sat8(tg_rq_fast(a00, m0, h0, e0));
            out[1] = (int8_t)tg_rq_sat8(tg_rq_fast(a01, m1, h1, e1));
        }
        else
        {
            o1[0] = tg_rq_any(a10, q, mode, output_offset, act_min, act_max);
            o1[1] = tg_rq_any(a11, q + 3, mode, output_offset, act_min, act_max);
            out[0] = tg_rq_any(a00, q, mode, output_offset, act_min, act_max);
            out[1] = tg_rq_any(a01, q + 3, mode, output_offset, act_min, act_max);
        }
        bias += 2;
        q += 6;
        out += 2;
        o1 += 2;
    }
    if (out_ch & 1)
    {
        /* odd last channel: natural row */
        const int16_t *x = pair;
        int32_t a0 = bias[0], a1 = bias[0];
        int32_t g, r;
        for (g = groups; g > 0; --g)
        {
            for (r = 0; r < 4; ++r)
            {
                a0 += x[tg_pair_slot(r, 0, 4)] * w[r];
                a1 += x[tg_pair_slot(r, 1, 4)] * w[r];
            }
            w += 4;
            x += 8;
        }
        for (r = 0; r < tail; ++r)
        {
            a0 += t0[r] * w[r];
            a1 += t1[r] * w[r];
        }
        o1[0] = tg_rq_any(a1, q, mode, output_offset, act_min, act_max);
        out[0] = tg_rq_any(a0, q, mode, output_offset, act_min, act_max);
    }
}

void tg_conv_gemm_s8(const int16_t *pair, int32_t store_second, int32_t depth, const int8_t *weights,
                     const int32_t *bias, const int32_t *rq, int32_t mode, int32_t out_ch, int32_t output_offset,
                     int32_t act_min, int32_t act_max, int8_t *out, int32_t out_stride)
{
    /* every channel pair's weights start 4-byte aligned (LDRD) when the array does and depth is even */
    const int wal = ((uintptr_t)weights & 3u) == 0 && (depth & 1) == 0;
    if (mode == TG_RQ_FAST_FULL)
    {
        if (wal)
        {
            tg_gemm_body(pair, store_second, depth, weights, bias, rq, mode, out_ch, output_offset, act_min,
                         act_max, out, out_stride, 1, 1);
        }
        else
        {
            tg_gemm_body(pair, store_second, depth, weights, bias, rq, mode, out_ch, output_offset, act_min,
                         act_max, out, out_stride, 1, 0);
        }
    }
    else
    {
        tg_gemm_body(pair, store_second, depth, weights, bias, rq, mode, out_ch, output_offset, act_min, act_max,
                     out, out_stride, 0, 0);
    }
}
