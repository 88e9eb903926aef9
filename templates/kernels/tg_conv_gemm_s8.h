/*
 * tg_conv_gemm_s8: the int8 matrix kernel of convolution (im2col) and pointwise convolution.
 *
 * It multiplies a *column pair* (two output pixels' int16 input columns of `depth` values) by the
 * weights, two output channels at a time: four accumulators share every load and sign extension.
 *
 * Column pair layout (written by tg_pair_put / tg_pair_fill below): for each complete group g of four
 * values, column 0's four int16 then column 1's four; then column 0's depth % 4 tail values, then
 * column 1's. On the DSP path (__ARM_FEATURE_DSP, or TG_DSP_EMULATE on a host, which runs the same
 * code with C stand-ins for the instructions) a group a0 a1 a2 a3 is stored as a0 a2 a1 a3, so that
 * SXTB16 of four weight bytes w0 w1 w2 w3 gives (w0, w2), SXTB16 of the bytes rotated by 8 gives
 * (w1, w3), and two SMLADs add a0*w0 + a2*w2 + a1*w1 + a3*w3.
 *
 * Weight layout (reordered offline by tinygen/lowering/mac_ops.py, same int8 size as TFLite's): for
 * each channel pair (c, c+1): per complete group, channel c's four bytes then channel c+1's four;
 * then channel c's tail bytes, then channel c+1's. An odd last channel keeps its natural row.
 *
 * Requantization is TFLite Micro's (see tg_requant_fast.h): acc = bias[c] + sum(col * w) (the input
 * offset is folded into the bias offline, pads hold the input zero point).
 */
#ifndef TG_CONV_GEMM_S8_H
#define TG_CONV_GEMM_S8_H

#include <stdint.h>

#include "tg_conv_dsp_s8.h"
#include "tg_requant_fast.h"

/* position of value k of column j (0 or 1) in a column pair of `depth` values */
TG_INLINE int32_t tg_pair_slot(int32_t k, int32_t j, int32_t depth)
{
    const int32_t full = depth & ~3;
    if (k < full)
    {
        int32_t r = k & 3;
#if TG_DSP
        r = (r == 1 || r == 2) ? (r ^ 3) : r;
#endif
        return ((k & ~3) << 1) + (j << 2) + r;
    }
    return (full << 1) + j * (depth - full) + (k - full);
}

/* values start..start+n-1 of column j = the n int8 at src */
TG_INLINE void tg_pair_put(int16_t *pair, int32_t j, int32_t depth, int32_t start, const int8_t *src, int32_t n)
{
    const int32_t full = depth & ~3;
    const int32_t end = start + n;
    const int32_t fast_end = TG_MIN(end, full);
    int32_t k = start;
    for (; k < end && (k & 3) != 0; ++k)
    {
        pair[tg_pair_slot(k, j, depth)] = *src++;
    }
    for (; k + 4 <= fast_end; k += 4)
    {
        int16_t *dst = pair + (k << 1) + (j << 2);
#if TG_DSP
        const uint32_t x = tg_load32(src);
        tg_store32(dst, tg_sxtb16(x));
        tg_store32(dst + 2, tg_sxtb16_ror8(x));
#else
        dst[0] = src[0];
        dst[1] = src[1];
        dst[2] = src[2];
        dst[3] = src[3];
#endif
        src += 4;
    }
    for (; k < end; ++k)
    {
        pair[tg_pair_slot(k, j, depth)] = *src++;
    }
}

/* values start..start+n-1 of column j = value (a pad: the input zero point) */
TG_INLINE void tg_pair_fill(int16_t *pair, int32_t j, int32_t depth, int32_t start, int32_t n, int32_t value)
{
    int32_t k;
    for (k = start; k < start + n; ++k)
    {
        pair[tg_pair_slot(k, j, depth)] = (int16_t)value;
    }
}

/**
 * @brief out[j * out_stride + c] = requant(bias[c] + sum_k col_j[k] * w_c[k]) for both columns j
 * of `pair` (only column 0 when store_second is 0) and every channel c < out_ch.
 *
 * @param weights  [out_ch, depth] int8 in the pair-interleaved layout above
 * @param bias     [out_ch] int32, input offset folded in
 * @param rq       [out_ch][3] requantization values, `mode` TG_RQ_* (tg_requant_fast.h)
 */
void tg_conv_gemm_s8(const int16_t *pair, int32_t store_second, int32_t depth, const int8_t *weights,
                     const int32_t *bias, const int32_t *rq, int32_t mode, int32_t out_ch, int32_t output_offset,
                     int32_t act_min, int32_t act_max, int8_t *out, int32_t out_stride);

#endif /* TG_CONV_GEMM_S8_H */
