/*
 * tg_conv_gemm_s8: the int8 matrix kernel of convolution (im2col) and pointwise convolution.
 *
 * It multiplies a *column block* (TG_CONV_COLS = 3 output pixels' int16 input columns of `depth`
 * values) by the weights, two output channels at a time: six accumulators share every weight load and
 * sign extension (24 MACs in 20 instructions per group of four depth values).
 *
 * Column block layout (TG_CONV_BLOCK_INT16(depth) int16, written by the tg_pair_* helpers below): for
 * each complete group g of four values, column 0's four int16, then column 1's, then column 2's. When
 * depth % 4 = t is not 0, each column then gets two more groups, T0 and T1 (column 0's, column 1's,
 * column 2's). T0 holds the column's t tail values where the bytes of the weight word read for
 * channel c sit, T1 where those of the word read for channel c + 1 sit (tg_tail_word, tg_tail_pos),
 * zeros elsewhere: so the tails take the same SMLADs as a group, the extra weight bytes read being
 * multiplied by zero. On the DSP path (__ARM_FEATURE_DSP, or TG_DSP_EMULATE on a host, which runs the
 * same code with C stand-ins for the instructions) a group a0 a1 a2 a3 is stored as a0 a2 a1 a3, so
 * that SXTB16 of four weight bytes w0 w1 w2 w3 gives (w0, w2), SXTB16 of the bytes rotated by 8 gives
 * (w1, w3), and two SMLADs add a0*w0 + a2*w2 + a1*w1 + a3*w3.
 *
 * Weight layout (reordered offline by tinygen/lowering/mac_ops.py, same int8 size as TFLite's): for
 * each channel pair (c, c+1) in turn: per complete group, channel c's four bytes then channel c+1's
 * four (8 * (depth / 4) bytes per pair, so every pair starts 8-byte aligned: LDRD); then for each pair
 * in turn channel c's depth % 4 tail bytes, then channel c+1's; then an odd last channel's natural row.
 *
 * Requantization is TFLite Micro's (see tg_requant_fast.h): acc = bias[c] + sum(col * w) (the input
 * offset is folded into the bias offline, pads hold the input zero point). Each channel pair's six
 * results are requantized as soon as its sums are complete; the caller has already copied the block's
 * input pixels into the column block, so the output may overlap the input (in-place convolution).
 * Mode TG_RQ_MIXED gives each channel its own form (fast or general); outside TG_RQ_FAST_FULL, a pair whose
 * two channels are fast takes the fast form too, and on the DSP path only saturates to int8: the block's
 * outputs are then clamped to the activation four at a time (tg_clamp_s8x4) after its last channel.
 *
 * Specialisations (TG_VARIANT, selected per library; the dispatch is at the end of tg_conv_gemm_s8.c and
 * mirrored by gemm_variants() in tinygen/lowering/mac_ops.py): GEMM_FULL_EVEN, GEMM_FULL, GEMM_ANY (the
 * channel pairs, by requantization mode and depth) and GEMM_ODD_CH (an odd last channel).
 */
#ifndef TG_CONV_GEMM_S8_H
#define TG_CONV_GEMM_S8_H

#include <stdint.h>
#include <string.h>

#include "tg_conv_dsp_s8.h"
#include "tg_requant_fast.h"

#if TG_DSP
/* lo, hi = the two 32-bit words at p (4-byte aligned), then p advances 8 bytes: one post-indexed LDRD,
   which saves the pointer additions of the inner loop (GCC does not emit LDRD on Thumb-2 by itself) */
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
#define TG_LDRD_NEXT(lo, hi, p)                                                                                \
    __asm__("ldrd %0, %1, [%2], #8"                                                                           \
            : "=&r"(lo), "=&r"(hi), "+r"(p)                                                                   \
            : "m"(*(const char(*)[8])(const void *)(p)))
#else
#define TG_LDRD_NEXT(lo, hi, p)                                                                                \
    do                                                                                                         \
    {                                                                                                          \
        (lo) = tg_load32(p);                                                                                   \
        (hi) = tg_load32((const char *)(p) + 4);                                                               \
        (p) = (const void *)((const char *)(p) + 8);                                                           \
    } while (0)
#endif
#endif

/* columns (output pixels) per block */
#define TG_CONV_COLS 3
/* int16 of a column block of `depth` values: the groups, then T0 and T1 of every column if depth % 4 != 0 */
#define TG_CONV_BLOCK_INT16(depth) (TG_CONV_COLS * (4 * ((depth) >> 2) + (((depth) & 3) != 0 ? 8 : 0)))

/* slot of position r (0..3) of a group: on the DSP path a0 a1 a2 a3 is stored as a0 a2 a1 a3 */
TG_INLINE int32_t tg_group_slot(int32_t r)
{
#if TG_DSP
    return (r == 1 || r == 2) ? (r ^ 3) : r;
#else
    return r;
#endif
}

/*
 * Byte offset, from a channel pair's 2t tail bytes (c's t, then c+1's t), of the weight word read for
 * channel c (d = 0) or c + 1 (d = 1). It stays inside the pair's tail bytes for t = 2, 3; for t = 1 it
 * starts 2 bytes before them, inside the weights whenever depth > 1 (groups or an earlier pair's tails
 * precede them).
 */
TG_INLINE int32_t tg_tail_word(int32_t t, int32_t d)
{
    return t == 3 ? 2 * d : (t == 2 ? 0 : -2);
}

/* position, in that word (and so in T0 / T1), of tail value r of channel c + d */
TG_INLINE int32_t tg_tail_pos(int32_t t, int32_t d, int32_t r)
{
    return d * t + r - tg_tail_word(t, d);
}

/*
 * Values start..start+n-1 of column j = the n int8 at src (any alignment), all inside the complete
 * groups with start and n multiples of 4: per group one word load, two sign extensions, one STRD.
 */
TG_INLINE void tg_pair_put_groups(int16_t *pair, int32_t j, int32_t start, const int8_t *src, int32_t n)
{
    int16_t *dst = pair + start * TG_CONV_COLS + (j << 2);
    const int8_t *const end = src + n;
#if TG_DSP
    if (((uintptr_t)src & 3u) == 0)
    {
        /* 4-byte aligned source: two groups per LDRD */
        const int8_t *const end2 = src + (n & ~7);
        while (src != end2)
        {
            uint32_t a, b;
            TG_LDRD_NEXT(a, b, src);
            tg_store32(dst, tg_sxtb16(a));
            tg_store32(dst + 2, tg_sxtb16_ror8(a));
            tg_store32(dst + 4 * TG_CONV_COLS, tg_sxtb16(b));
            tg_store32(dst + 4 * TG_CONV_COLS + 2, tg_sxtb16_ror8(b));
            dst += 8 * TG_CONV_COLS;
        }
    }
#endif
    while (src != end)
    {
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
        dst += 4 * TG_CONV_COLS;
    }
}

#if TG_DSP
/*
 * The whole block = TG_CONV_COLS columns of `depth` values (a multiple of 4) that follow each other at src (column j at
 * src + j * depth, any alignment: a 1x1 convolution's consecutive pixels): group by group, each column's word loaded,
 * sign-extended and stored in place, without the per-column calls of tg_pair_put_groups.
 */
TG_INLINE void tg_pair_put_consecutive(int16_t *pair, const int8_t *src, int32_t depth)
{
    const int8_t *s1 = src + depth, *s2 = s1 + depth;
    const int8_t *const end = s1;
    for (; src != end; src += 4, s1 += 4, s2 += 4, pair += 4 * TG_CONV_COLS)
    {
        const uint32_t a = tg_load32(src), b = tg_load32(s1), c = tg_load32(s2);
        tg_store32(pair, tg_sxtb16(a));
        tg_store32(pair + 2, tg_sxtb16_ror8(a));
        tg_store32(pair + 4, tg_sxtb16(b));
        tg_store32(pair + 6, tg_sxtb16_ror8(b));
        tg_store32(pair + 8, tg_sxtb16(c));
        tg_store32(pair + 10, tg_sxtb16_ror8(c));
    }
}
#endif

/* values start..start+n-1 of column j = value, start and n multiples of 4 inside the complete groups */
TG_INLINE void tg_pair_fill_groups(int16_t *pair, int32_t j, int32_t start, int32_t n, int32_t value)
{
    int16_t *dst = pair + start * TG_CONV_COLS + (j << 2);
    int32_t g;
    for (g = n >> 2; g > 0; --g)
    {
        dst[0] = (int16_t)value;
        dst[1] = (int16_t)value;
        dst[2] = (int16_t)value;
        dst[3] = (int16_t)value;
        dst += 4 * TG_CONV_COLS;
    }
}

/* T0 and T1 of column j (tg_conv_gemm_s8.h) from its `tail` (a literal: 1..3) tail values v */
TG_INLINE void tg_pair_put_tail(int16_t *t0, const int8_t *v, const int32_t tail)
{
    int16_t t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int32_t r;
    for (r = 0; r < tail; ++r)
    {
        t[tg_group_slot(tg_tail_pos(tail, 0, r))] = v[r];
        t[4 + tg_group_slot(tg_tail_pos(tail, 1, r))] = v[r];
    }
    memcpy(t0, t, sizeof t);
}

/* the whole column j (depth values) of a block = the int8 column at src: complete groups, then T0 and T1 */
TG_INLINE void tg_pair_put_column(int16_t *pair, int32_t j, int32_t depth, const int8_t *src)
{
    const int32_t full = depth & ~3;
    int16_t *t0 = pair + full * TG_CONV_COLS + (j << 3);
    tg_pair_put_groups(pair, j, 0, src, full);
    switch (depth & 3)
    {
    case 1:
        tg_pair_put_tail(t0, src + full, 1);
        break;
    case 2:
        tg_pair_put_tail(t0, src + full, 2);
        break;
    case 3:
        tg_pair_put_tail(t0, src + full, 3);
        break;
    default:
        break;
    }
}

/**
 * @brief out[j * out_stride + c] = requant(bias[c] + sum_k col_j[k] * w_c[k]) for the first `cols`
 * (1..TG_CONV_COLS) columns j of `block` and every channel c < out_ch. Columns past `cols` must be
 * copies of column cols - 1 (their results go to the same bytes).
 *
 * @param weights  [out_ch, depth] int8 in the layout above, 4-byte aligned (16 in the emitted library)
 * @param params   int32, per channel pair (c, c+1): bias[c], bias[c+1] (input offset folded in), then
 *                 the three requantization values of c, then those of c+1 (`mode` TG_RQ_*, see
 *                 tg_requant_fast.h); an odd last channel: its bias and its three values. One pointer
 *                 walks them all (4 * out_ch words, built by tinygen/lowering/mac_ops.py).
 */
void tg_conv_gemm_s8(const int16_t *block, int32_t cols, int32_t depth, const int8_t *weights,
                     const int32_t *params, int32_t mode, int32_t out_ch, int32_t output_offset, int32_t act_min,
                     int32_t act_max, int8_t *out, int32_t out_stride);

#endif /* TG_CONV_GEMM_S8_H */
