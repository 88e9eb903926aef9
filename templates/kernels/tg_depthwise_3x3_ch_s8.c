/*
 * tg_depthwise_3x3_ch_s8: 3x3 depthwise convolution of small images over a padded plane (see the header).
 */
#include "tg_depthwise_3x3_ch_s8.h"

#include <string.h>

#include "tg_conv_dsp_s8.h"

/* the channel functions a library compiles (TG_VARIANT DW3C_<MODE>, see the table below; the portable path has one
   of its own, always compiled) */
#define TG_DW3C_ANY_MODE                                                                                       \
    (TG_VARIANT(DW3C_ANY) || TG_VARIANT(DW3C_SIGNED) || TG_VARIANT(DW3C_SIGNED_SAT) || TG_VARIANT(DW3C_RELU) ||  \
     TG_VARIANT(DW3C_RELU_SAT))

/* per-channel constants of a call */
typedef struct
{
    int32_t w[6];     /* DSP: A_r = (w[r][0], w[r][1]) and B_r = (w[r][1], w[r][2]), int16 pairs, r = 0..2 */
    int32_t bias;     /* start of the sum: the folded bias (twice that in the fast modes, weights doubled too) */
    int32_t mult;     /* the multiplier */
    int32_t rnd;      /* fast modes: 2^(r-1) + output_offset * 2^r */
    int32_t shift;    /* fast modes: the right shift r; else TFLite's shift */
} tg_dw3c_chan;

/* the geometry and output clamp of a call */
typedef struct
{
    int32_t out_h, out_w, stride_h, stride_w;
    int32_t pitch;   /* plane row: words (DSP) or values (portable) */
    int32_t ostride; /* output pixel: bytes (the channel count) */
    int32_t output_offset, act_min, act_max;
} tg_dw3c_geom;

#if TG_DSP && TG_DW3C_ANY_MODE

/* tap t = 3 * kernel row + kernel column of channel c in tg_depthwise_3x3_ch_s8's filter order */
TG_INLINE int32_t tg_dw3c_tap(const int8_t *packed, int32_t channels, int32_t c, int32_t t)
{
    const int32_t full = channels & ~3;
    return c < full ? packed[(c >> 2) * 36 + 4 * t + (c & 3)] : packed[36 * (channels >> 2) + 9 * (c - full) + t];
}

/* the int16 zp everywhere in the plane (its padding; the input parts are overwritten group by group) */
static void tg_dw3c_clear(void *plane, int32_t bytes, int32_t zp)
{
    const uint32_t word = ((uint32_t)zp & 0xffffu) * UINT32_C(0x10001);
    uint32_t *p = (uint32_t *)plane;
    int32_t i;
    for (i = 0; i < bytes / 4; ++i)
    {
        p[i] = word;
    }
}

/* requantization modes (compile-time arguments of the inlined channel function) */
#define TG_DW3C_ANY 0        /* generic: tg_requantize_mac of the plain sum (a layer without the fast form) */
#define TG_DW3C_RELU 1       /* fast form without the sign correction (act_min >= output_offset), clamp */
#define TG_DW3C_RELU_SAT 2   /* as RELU, clamp range -128..127: one SSAT */
#define TG_DW3C_SIGNED 3     /* fast form with the sign correction (act_min < output_offset), clamp */
#define TG_DW3C_SIGNED_SAT 4 /* as SIGNED, clamp range -128..127 */

/* the four channels' pair words (x0, x1) of two adjacent pixels' words x0, x1 of four channels, to d[0..3] */
TG_INLINE void tg_dw3c_split(int32_t *d, uint32_t x0, uint32_t x1)
{
    const uint32_t lo = tg_pkhbt(x0, x1), hi = tg_pkhtb(x1, x0);
    d[0] = tg_sxtb16(lo);
    d[1] = tg_sxtb16_ror8(lo);
    d[2] = tg_sxtb16(hi);
    d[3] = tg_sxtb16_ror8(hi);
}

/* the word of four channels at p, zero points past the first nch (a partial group: no read past it) */
TG_INLINE uint32_t tg_dw3c_word(const int8_t *p, int32_t nch, uint32_t zw)
{
    uint32_t w = zw;
    if (nch == 4)
    {
        return tg_load32(p);
    }
    memcpy(&w, p, (size_t)nch); /* little-endian: channel j is byte j */
    return w;
}

/*
 * Copy one group's input into the plane: pair k of plane row pr holds columns 2k, 2k + 1 (input columns
 * 2k - pad_left, + 1) of input row pr - pad_top, channel j's pair word at word 4 * (pr * pairs + k) + j.
 */
static void tg_dw3c_fill(int32_t *plane, const int8_t *src, int32_t in_h, int32_t in_w, int32_t channels,
                         int32_t nch, int32_t rows, int32_t pairs, int32_t pad_top, int32_t pad_left, int32_t zp)
{
    const uint32_t zw = (uint32_t)(uint8_t)zp * UINT32_C(0x01010101);
    const int32_t y_end = TG_MIN(in_h, rows - pad_top);
    const int32_t k0 = pad_left / 2, k1 = (TG_MIN(pad_left + in_w, 2 * pairs) + 1) / 2; /* pairs with input */
    const int32_t lead = k0 < k1 && 2 * k0 < pad_left; /* the first pair's first column is padding */
    const int32_t full = TG_MIN(k1, (pad_left + in_w) / 2); /* pairs from k0 + lead on: both columns input */
    int32_t y, k;
    for (y = 0; y < y_end; ++y)
    {
        const int8_t *row = src + y * in_w * channels;
        int32_t *d = plane + 4 * ((y + pad_top) * pairs + k0);
        const int8_t *p;
        k = k0 + lead;
        p = row + (2 * k - pad_left) * channels;
        if (nch == 4)
        {
            /* a complete group: at most one partial pair at either end */
            if (lead)
            {
                tg_dw3c_split(d, zw, tg_load32(row));
                d += 4;
            }
            if (k < full)
            {
                /* one pointer walks both columns (the second `channels` on), the destination ends the loop */
                const int32_t *const d_end = d + 4 * (full - k);
                for (; d != d_end; d += 4, p += 2 * channels)
                {
                    tg_dw3c_split(d, tg_load32(p), tg_load32(p + channels));
                }
                k = full;
            }
            if (k < k1)
            {
                tg_dw3c_split(d, tg_load32(p), zw); /* the second column past the input */
            }
            continue;
        }
        if (lead)
        {
            tg_dw3c_split(d, zw, tg_dw3c_word(row, nch, zw));
            d += 4;
        }
        for (; k < k1; ++k, d += 4, p += 2 * channels)
        {
            tg_dw3c_split(d, tg_dw3c_word(p, nch, zw),
                          2 * k + 1 - pad_left < in_w ? tg_dw3c_word(p + channels, nch, zw) : zw);
        }
    }
}

/* output value of sum s (fast modes: twice the sum, with the doubled bias) with the channel's requantization values */
TG_INLINE int8_t tg_dw3c_out(int32_t s, int mode, int32_t mult, int32_t rnd, int32_t shift, int32_t output_offset,
                             int32_t act_min, int32_t act_max)
{
    int32_t v;
    if (mode == TG_DW3C_ANY)
    {
        v = tg_requantize_mac(s, mult, shift) + output_offset;
    }
    else
    {
        v = tg_dw_rq_fast(s, mult, rnd, mode == TG_DW3C_SIGNED || mode == TG_DW3C_SIGNED_SAT) >> shift;
    }
    if (mode == TG_DW3C_RELU_SAT || mode == TG_DW3C_SIGNED_SAT)
    {
        return (int8_t)tg_rq_sat8(v);
    }
    return (int8_t)TG_MIN(TG_MAX(v, act_min), act_max);
}

/* kernel row r of the output at plane column 2k (even) into s: x[2k] w0 + x[2k+1] w1 (SMLAD of pair k with A_r)
   + x[2k+2] w2 (low half of pair k + 1 by B_r's high half) */
#define TG_DW3C_EVEN(s, row, a, b) (s) = tg_smlabt((row)[4], (b), tg_smlad((row)[0], (a), (s)))
/* the output at plane column 2k + 1 (odd): x[2k+1] w0 (pair k's high half by A_r's low half) + SMLAD of pair k + 1
   with B_r */
#define TG_DW3C_ODD(s, row, a, b) (s) = tg_smlad((row)[4], (b), tg_smlatb((row)[0], (a), (s)))
/* store the output of sum s at o[i] */
#define TG_DW3C_PUT(o, i, s) (o)[i] = tg_dw3c_out((s), mode, mult, rnd, rsh, output_offset, act_min, act_max)

/* One channel (a partial group's, or any channel at an odd stride > 1), output by output: every output from its
   plane words (plane: the channel's word of row 0, pair 0) at a column of either parity. The constants are copied
   to locals first: the int8 stores could alias them. */
TG_INLINE void tg_dw3c_channel(const int32_t *plane, const tg_dw3c_chan *q, int8_t *out, const tg_dw3c_geom *g,
                               int mode)
{
    const int32_t a0 = q->w[0], b0 = q->w[1], a1 = q->w[2], b1 = q->w[3], a2 = q->w[4], b2 = q->w[5];
    const int32_t bias = q->bias, mult = q->mult, rnd = q->rnd, rsh = q->shift;
    const int32_t out_h = g->out_h, out_w = g->out_w, pitch = g->pitch, os = g->ostride, sw = g->stride_w;
    const int32_t output_offset = g->output_offset, act_min = g->act_min, act_max = g->act_max;
    int32_t oy, ox;
    for (oy = 0; oy < out_h; ++oy)
    {
        const int32_t *r0 = plane + oy * g->stride_h * pitch, *r1 = r0 + pitch, *r2 = r1 + pitch;
        int8_t *o = out + oy * out_w * os;
        for (ox = 0; ox < out_w; ++ox, o += os)
        {
            const int32_t col = ox * sw, at = 4 * (col >> 1);
            int32_t s = bias;
            if ((col & 1) == 0)
            {
                TG_DW3C_EVEN(s, r0 + at, a0, b0);
                TG_DW3C_EVEN(s, r1 + at, a1, b1);
                TG_DW3C_EVEN(s, r2 + at, a2, b2);
            }
            else
            {
                TG_DW3C_ODD(s, r0 + at, a0, b0);
                TG_DW3C_ODD(s, r1 + at, a1, b1);
                TG_DW3C_ODD(s, r2 + at, a2, b2);
            }
            TG_DW3C_PUT(o, 0, s);
        }
    }
}

/* channel j (0..3) of a complete group at the output pair of plane pair r0/r1/r2 (stride 1): its outputs at o[j]
   and o[os + j]; its constants are loaded here (registers hold the pointers only) */
#define TG_DW3C_PAIR_CH(j)                                                                                     \
    do                                                                                                         \
    {                                                                                                          \
        const tg_dw3c_chan *c_ = q + (j);                                                                      \
        int32_t s0 = c_->bias, s1 = s0;                                                                        \
        TG_DW3C_EVEN(s0, r0 + (j), c_->w[0], c_->w[1]);                                                        \
        TG_DW3C_ODD(s1, r0 + (j), c_->w[0], c_->w[1]);                                                         \
        TG_DW3C_EVEN(s0, r1 + (j), c_->w[2], c_->w[3]);                                                        \
        TG_DW3C_ODD(s1, r1 + (j), c_->w[2], c_->w[3]);                                                         \
        TG_DW3C_EVEN(s0, r2 + (j), c_->w[4], c_->w[5]);                                                        \
        TG_DW3C_ODD(s1, r2 + (j), c_->w[4], c_->w[5]);                                                         \
        o[j] = tg_dw3c_out(s0, mode, c_->mult, c_->rnd, c_->shift, output_offset, act_min, act_max);           \
        o[os + (j)] = tg_dw3c_out(s1, mode, c_->mult, c_->rnd, c_->shift, output_offset, act_min, act_max);    \
    } while (0)
/* channel j of a complete group at two outputs of stride 2 (plane columns 2k, 2k + 2): o[j], o[os + j] */
#define TG_DW3C_S2_CH(j)                                                                                       \
    do                                                                                                         \
    {                                                                                                          \
        const tg_dw3c_chan *c_ = q + (j);                                                                      \
        int32_t s0 = c_->bias, s1 = s0;                                                                        \
        TG_DW3C_EVEN(s0, r0 + (j), c_->w[0], c_->w[1]);                                                        \
        TG_DW3C_EVEN(s1, r0 + 4 + (j), c_->w[0], c_->w[1]);                                                    \
        TG_DW3C_EVEN(s0, r1 + (j), c_->w[2], c_->w[3]);                                                        \
        TG_DW3C_EVEN(s1, r1 + 4 + (j), c_->w[2], c_->w[3]);                                                    \
        TG_DW3C_EVEN(s0, r2 + (j), c_->w[4], c_->w[5]);                                                        \
        TG_DW3C_EVEN(s1, r2 + 4 + (j), c_->w[4], c_->w[5]);                                                    \
        o[j] = tg_dw3c_out(s0, mode, c_->mult, c_->rnd, c_->shift, output_offset, act_min, act_max);           \
        o[os + (j)] = tg_dw3c_out(s1, mode, c_->mult, c_->rnd, c_->shift, output_offset, act_min, act_max);    \
    } while (0)
/* channel j of a complete group at the output of even plane column (pairs r0/r1/r2), output at o[j] */
#define TG_DW3C_EVEN_CH(j)                                                                                     \
    do                                                                                                         \
    {                                                                                                          \
        const tg_dw3c_chan *c_ = q + (j);                                                                      \
        int32_t s0 = c_->bias;                                                                                 \
        TG_DW3C_EVEN(s0, r0 + (j), c_->w[0], c_->w[1]);                                                        \
        TG_DW3C_EVEN(s0, r1 + (j), c_->w[2], c_->w[3]);                                                        \
        TG_DW3C_EVEN(s0, r2 + (j), c_->w[4], c_->w[5]);                                                        \
        o[j] = tg_dw3c_out(s0, mode, c_->mult, c_->rnd, c_->shift, output_offset, act_min, act_max);           \
    } while (0)

/*
 * A complete group of four channels, stride_w 1 or even: output position by output position, the four channels
 * one after the other (their plane words are side by side: one set of row pointers serves them all).
 */
TG_INLINE void tg_dw3c_group(const int32_t *plane, const tg_dw3c_chan *q, int8_t *out, const tg_dw3c_geom *g,
                             int mode)
{
    const int32_t out_h = g->out_h, out_w = g->out_w, pitch = g->pitch, os = g->ostride, sw = g->stride_w;
    const int32_t output_offset = g->output_offset, act_min = g->act_min, act_max = g->act_max;
    const int32_t row_step = g->stride_h * pitch, line = out_w * os;
    int32_t oy, ox;
    for (oy = 0; oy < out_h; ++oy, plane += row_step, out += line)
    {
        const int32_t *r0 = plane, *r1 = plane + pitch, *r2 = plane + 2 * pitch;
        int8_t *o = out;
        if (sw == 1)
        {
            for (ox = 0; ox + 2 <= out_w; ox += 2, r0 += 4, r1 += 4, r2 += 4, o += 2 * os)
            {
                TG_DW3C_PAIR_CH(0);
                TG_DW3C_PAIR_CH(1);
                TG_DW3C_PAIR_CH(2);
                TG_DW3C_PAIR_CH(3);
            }
            if (ox < out_w)
            {
                TG_DW3C_EVEN_CH(0);
                TG_DW3C_EVEN_CH(1);
                TG_DW3C_EVEN_CH(2);
                TG_DW3C_EVEN_CH(3);
            }
        }
        else if (sw == 2)
        {
            /* outputs 2i, 2i + 1 at columns 4i, 4i + 2: pairs 2i .. 2i + 2 of each row */
            for (ox = 0; ox + 2 <= out_w; ox += 2, r0 += 8, r1 += 8, r2 += 8, o += 2 * os)
            {
                TG_DW3C_S2_CH(0);
                TG_DW3C_S2_CH(1);
                TG_DW3C_S2_CH(2);
                TG_DW3C_S2_CH(3);
            }
            if (ox < out_w)
            {
                TG_DW3C_EVEN_CH(0);
                TG_DW3C_EVEN_CH(1);
                TG_DW3C_EVEN_CH(2);
                TG_DW3C_EVEN_CH(3);
            }
        }
        else
        {
            const int32_t step = 2 * sw; /* words: sw / 2 pairs of four channels */
            for (ox = 0; ox < out_w; ++ox, r0 += step, r1 += step, r2 += step, o += os)
            {
                TG_DW3C_EVEN_CH(0);
                TG_DW3C_EVEN_CH(1);
                TG_DW3C_EVEN_CH(2);
                TG_DW3C_EVEN_CH(3);
            }
        }
    }
}

/* the channel functions of each mode, not inlined (each a loop with all registers to itself) */
#if defined(__GNUC__) || defined(__clang__)
#define TG_DW3C_NOINLINE __attribute__((noinline))
#else
#define TG_DW3C_NOINLINE
#endif
typedef void (*tg_dw3c_fn)(const int32_t *plane, const tg_dw3c_chan *q, int32_t nch, int8_t *out,
                           const tg_dw3c_geom *g);
#define TG_DW3C_FN(name, mode, variant)                                                                        \
    static TG_DW3C_NOINLINE void tg_dw3c_##name(const int32_t *plane, const tg_dw3c_chan *q, int32_t nch,       \
                                                int8_t *out, const tg_dw3c_geom *g)                             \
    {                                                                                                          \
        int32_t j;                                                                                             \
        TG_TRACE_VARIANT(variant);                                                                             \
        if (nch == 4 && (g->stride_w & 1) == (g->stride_w == 1))                                               \
        {                                                                                                      \
            tg_dw3c_group(plane, q, out, g, (mode));                                                           \
            return;                                                                                            \
        }                                                                                                      \
        for (j = 0; j < nch; ++j)                                                                              \
        {                                                                                                      \
            tg_dw3c_channel(plane + j, q + j, out + j, g, (mode));                                             \
        }                                                                                                      \
    }
#if TG_VARIANT(DW3C_ANY)
TG_DW3C_FN(any, TG_DW3C_ANY, DW3C_ANY)
#define TG_DW3C_ANY_FN tg_dw3c_any
#else
#define TG_DW3C_ANY_FN NULL
#endif
#if TG_VARIANT(DW3C_RELU)
TG_DW3C_FN(relu, TG_DW3C_RELU, DW3C_RELU)
#define TG_DW3C_RELU_FN tg_dw3c_relu
#else
#define TG_DW3C_RELU_FN NULL
#endif
#if TG_VARIANT(DW3C_RELU_SAT)
TG_DW3C_FN(relu_sat, TG_DW3C_RELU_SAT, DW3C_RELU_SAT)
#define TG_DW3C_RELU_SAT_FN tg_dw3c_relu_sat
#else
#define TG_DW3C_RELU_SAT_FN NULL
#endif
#if TG_VARIANT(DW3C_SIGNED)
TG_DW3C_FN(signed, TG_DW3C_SIGNED, DW3C_SIGNED)
#define TG_DW3C_SIGNED_FN tg_dw3c_signed
#else
#define TG_DW3C_SIGNED_FN NULL
#endif
#if TG_VARIANT(DW3C_SIGNED_SAT)
TG_DW3C_FN(signed_sat, TG_DW3C_SIGNED_SAT, DW3C_SIGNED_SAT)
#define TG_DW3C_SIGNED_SAT_FN tg_dw3c_signed_sat
#else
#define TG_DW3C_SIGNED_SAT_FN NULL
#endif

/*
 * The constants of the group of channels c0.. (nch of them): the weights as pairs (doubled in the fast modes: the sum
 * is accumulated twice) and the requantization values.
 */
static void tg_dw3c_constants(tg_dw3c_chan *q, const int8_t *packed, int32_t channels, int32_t c0, int32_t nch,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                              int32_t output_offset, int32_t fast)
{
    int32_t r, j;
    if (nch == 4)
    {
        /* a complete group: the nine taps' words of four channels, SXTB16 (SXTAB16 of itself: doubled) into
           (c0, c2) and (c1, c3), then the pairs of two taps of one channel with PKHBT/PKHTB */
        const int8_t *w = packed + 9 * c0;
        for (r = 0; r < 3; ++r)
        {
            const uint32_t t0 = tg_load32(w + 12 * r), t1 = tg_load32(w + 12 * r + 4), t2 = tg_load32(w + 12 * r + 8);
            int32_t e0 = tg_sxtb16(t0), e1 = tg_sxtb16(t1), e2 = tg_sxtb16(t2);
            int32_t o0 = tg_sxtb16_ror8(t0), o1 = tg_sxtb16_ror8(t1), o2 = tg_sxtb16_ror8(t2);
            if (fast)
            {
                e0 = tg_sxtab16((uint32_t)e0, t0);
                e1 = tg_sxtab16((uint32_t)e1, t1);
                e2 = tg_sxtab16((uint32_t)e2, t2);
                o0 = tg_sxtab16_ror8((uint32_t)o0, t0);
                o1 = tg_sxtab16_ror8((uint32_t)o1, t1);
                o2 = tg_sxtab16_ror8((uint32_t)o2, t2);
            }
            q[0].w[2 * r] = (int32_t)tg_pkhbt((uint32_t)e0, (uint32_t)e1);
            q[0].w[2 * r + 1] = (int32_t)tg_pkhbt((uint32_t)e1, (uint32_t)e2);
            q[1].w[2 * r] = (int32_t)tg_pkhbt((uint32_t)o0, (uint32_t)o1);
            q[1].w[2 * r + 1] = (int32_t)tg_pkhbt((uint32_t)o1, (uint32_t)o2);
            q[2].w[2 * r] = (int32_t)tg_pkhtb((uint32_t)e1, (uint32_t)e0);
            q[2].w[2 * r + 1] = (int32_t)tg_pkhtb((uint32_t)e2, (uint32_t)e1);
            q[3].w[2 * r] = (int32_t)tg_pkhtb((uint32_t)o1, (uint32_t)o0);
            q[3].w[2 * r + 1] = (int32_t)tg_pkhtb((uint32_t)o2, (uint32_t)o1);
        }
    }
    else
    {
        const int32_t m = fast ? 2 : 1;
        for (j = 0; j < nch; ++j)
        {
            for (r = 0; r < 3; ++r)
            {
                const int32_t w0 = m * tg_dw3c_tap(packed, channels, c0 + j, 3 * r);
                const int32_t w1 = m * tg_dw3c_tap(packed, channels, c0 + j, 3 * r + 1);
                const int32_t w2 = m * tg_dw3c_tap(packed, channels, c0 + j, 3 * r + 2);
                q[j].w[2 * r] = (int32_t)tg_pkhbt((uint32_t)w0, (uint32_t)w1);
                q[j].w[2 * r + 1] = (int32_t)tg_pkhbt((uint32_t)w1, (uint32_t)w2);
            }
        }
    }
    for (j = 0; j < nch; ++j)
    {
        const int32_t c = c0 + j;
        q[j].bias = bias[c];
        q[j].mult = multiplier[c];
        /* 2^(r-1) + offset * 2^r for the right shift r = -shift >= 1 (uint32: no overflow UB) */
        q[j].rnd = fast ? (int32_t)((UINT32_C(1) << (-shift[c] - 1)) + (uint32_t)output_offset * (UINT32_C(1) << -shift[c]))
                        : 0;
        q[j].shift = fast ? -shift[c] : shift[c];
    }
}

static void tg_dw3c_dsp(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                        const int8_t *packed, const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                        int8_t *output, const tg_dw3c_geom *g, int32_t pad_top, int32_t pad_left, int32_t input_zp,
                        int32_t fast, int32_t *plane)
{
    const int sat = g->act_min == -128 && g->act_max == 127;
    const int mode = !fast                          ? TG_DW3C_ANY
                     : g->act_min < g->output_offset ? (sat ? TG_DW3C_SIGNED_SAT : TG_DW3C_SIGNED)
                                                      : (sat ? TG_DW3C_RELU_SAT : TG_DW3C_RELU);
    /* mode as depthwise_ops.dw3c_variants, which names the entry this call needs */
    static const tg_dw3c_fn table[5] = {TG_DW3C_ANY_FN, TG_DW3C_RELU_FN, TG_DW3C_RELU_SAT_FN, TG_DW3C_SIGNED_FN,
                                        TG_DW3C_SIGNED_SAT_FN};
    const tg_dw3c_fn fn = table[mode];
    const int32_t rows = (g->out_h - 1) * g->stride_h + 3, pairs = g->pitch / 4;
    int32_t b, c0;
    if (fn == NULL)
    {
        TG_UNREACHABLE(); /* the channel function this call runs is not in the library: the lowering's bug */
    }
    tg_dw3c_clear(plane, 16 * rows * pairs, input_zp);
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w * channels;
        int8_t *out = output + b * g->out_h * g->out_w * channels;
        for (c0 = 0; c0 < channels; c0 += 4)
        {
            const int32_t nch = TG_MIN(4, channels - c0);
            tg_dw3c_chan q[4];
            tg_dw3c_fill(plane, image + c0, in_h, in_w, channels, nch, rows, pairs, pad_top, pad_left, input_zp);
            tg_dw3c_constants(q, packed, channels, c0, nch, bias, multiplier, shift, g->output_offset, fast);
            fn(plane, q, nch, out + c0, g);
        }
    }
}

#else

/*
 * The portable path (cores without DSP): pixel by pixel, each channel's nine taps (the pixel's, or a zero-point
 * row's where the window leaves the image) from the folded bias, TFLite's requantization. Scratch: per channel
 * {start of the sum, multiplier, shift, unused} (16 bytes: indexing by shifts), then the zero-point row.
 */
TG_INLINE void tg_dw3c_portable(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                             const int8_t *packed, const int32_t *bias, const int32_t *multiplier,
                             const int32_t *shift, int8_t *output, const tg_dw3c_geom *g, int32_t pad_top,
                             int32_t pad_left, int32_t input_zp, int32_t fast, int8_t *scratch)
{
    int32_t *q = (int32_t *)(void *)scratch;
    int8_t *zp_row = scratch + 16 * channels;
    const int32_t full = channels & ~3; /* channels in complete groups */
    /* locals: the int8 stores could alias the geometry */
    const int32_t out_h = g->out_h, out_w = g->out_w, stride_h = g->stride_h, stride_w = g->stride_w;
    const int32_t output_offset = g->output_offset, act_min = g->act_min, act_max = g->act_max;
    int32_t b, oy, ox, c, t, tap_offset[9];
    for (t = 0; t < 9; ++t)
    {
        tap_offset[t] = ((t / 3) * in_w + t % 3) * channels;
    }
    for (c = 0; c < channels; ++c)
    {
        q[4 * c] = fast ? bias[c] / 2 : bias[c]; /* the fast flag only doubles the bias here */
        q[4 * c + 1] = multiplier[c];
        q[4 * c + 2] = shift[c];
        zp_row[c] = (int8_t)input_zp;
    }
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w * channels;
        for (oy = 0; oy < out_h; ++oy)
        {
            const int32_t y0 = oy * stride_h - pad_top;
            for (ox = 0; ox < out_w; ++ox)
            {
                const int32_t x0 = ox * stride_w - pad_left;
                int8_t *out = output + ((b * out_h + oy) * out_w + ox) * channels;
                const int8_t *taps[9]; /* tap t reads channel c at taps[t][c]: the pixel, or the zero-point row */
                if (y0 >= 0 && y0 + 3 <= in_h && x0 >= 0 && x0 + 3 <= in_w)
                {
                    const int8_t *origin = image + (y0 * in_w + x0) * channels;
                    for (t = 0; t < 9; ++t)
                    {
                        taps[t] = origin + tap_offset[t];
                    }
                }
                else
                {
                    for (t = 0; t < 9; ++t)
                    {
                        const int32_t y = y0 + t / 3, x = x0 + t % 3;
                        taps[t] = (y >= 0 && y < in_h && x >= 0 && x < in_w) ? image + (y * in_w + x) * channels
                                                                            : zp_row;
                    }
                }
                for (c = 0; c < channels; ++c)
                {
                    /* weights of channel c: in its group's taps, or past the groups */
                    const int8_t *w = c < full ? packed + (c >> 2) * 36 + (c & 3) : packed + 9 * c;
                    const int32_t ws = c < full ? 4 : 1;
                    int32_t acc = q[4 * c], v;
                    for (t = 0; t < 9; ++t)
                    {
                        acc += taps[t][c] * w[t * ws];
                    }
                    v = tg_requantize_mac(acc, q[4 * c + 1], q[4 * c + 2]) + output_offset;
                    out[c] = (int8_t)TG_MIN(TG_MAX(v, act_min), act_max);
                }
            }
        }
    }
}

#endif

void tg_depthwise_3x3_ch_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                            const int8_t *packed, const int32_t *bias, const int32_t *multiplier,
                            const int32_t *shift, int8_t *output, int32_t out_h, int32_t out_w, int32_t stride_h,
                            int32_t stride_w, int32_t pad_top, int32_t pad_left, int32_t input_zp,
                            int32_t output_offset, int32_t act_min, int32_t act_max, int32_t fast, int8_t *scratch)
{
    /* the plane's row: DSP, pairs of columns (words of four channels' pairs); portable, values */
    const int32_t pairs = TG_DW3C_PAIRS(out_w, stride_w);
    tg_dw3c_geom g;
    g.out_h = out_h;
    g.out_w = out_w;
    g.stride_h = stride_h;
    g.stride_w = stride_w;
    g.ostride = channels;
    g.output_offset = output_offset;
    g.act_min = act_min;
    g.act_max = act_max;
#if TG_DSP && TG_DW3C_ANY_MODE
    g.pitch = 4 * pairs;
    tg_dw3c_dsp(input, batches, in_h, in_w, channels, packed, bias, multiplier, shift, output, &g, pad_top, pad_left,
                input_zp, fast, (int32_t *)(void *)scratch);
#elif TG_DSP
    (void)input, (void)batches, (void)in_h, (void)in_w, (void)packed, (void)bias, (void)multiplier, (void)shift;
    (void)output, (void)pad_top, (void)pad_left, (void)input_zp, (void)fast, (void)scratch, (void)g, (void)pairs;
    TG_UNREACHABLE(); /* no channel function is compiled, and this call needs one: the lowering's bug */
#else
    (void)pairs;
    g.pitch = 0;
    tg_dw3c_portable(input, batches, in_h, in_w, channels, packed, bias, multiplier, shift, output, &g, pad_top,
                     pad_left, input_zp, fast, scratch);
#endif
}
