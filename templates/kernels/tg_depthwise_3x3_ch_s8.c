/*
 * tg_depthwise_3x3_ch_s8: 3x3 depthwise convolution four channels at a time (see the header).
 */
#include "tg_depthwise_3x3_ch_s8.h"

#include "tg_conv_dsp_s8.h"
#include "tg_depthwise_3x3_vp_s8.h"

/* the paths a library compiles (TG_VARIANT; tinygen.lowering.depthwise_ops.dw3c_variants mirrors the dispatch in
   tg_depthwise_3x3_ch_s8): on the DSP path the pair path (DW3C_VP) and the four-channel loop (DW3C_RUN; also
   whenever the pair path is not compiled, so that the kernel always has a general path) */
#define TG_DW3C_HAS_RUN (!TG_DSP || TG_VARIANT(DW3C_RUN) || !TG_VARIANT(DW3C_VP))

#if TG_DW3C_HAS_RUN
#if TG_DSP
/* One tap of four channels: x holds channels 0..3 of the input, pw their weights sign-extended (SXTB16). */
#define TG_DW3C_TAP(px, pw)                                                                                        \
    do                                                                                                             \
    {                                                                                                              \
        const uint32_t x_ = tg_load32(px);                                                                         \
        const int32_t xe_ = tg_sxtb16(x_), xo_ = tg_sxtb16_ror8(x_);                                               \
        const int32_t we_ = (pw)[0], wo_ = (pw)[1];                                                                \
        a0 = tg_smlabb(xe_, we_, a0);                                                                              \
        a2 = tg_smlatt(xe_, we_, a2);                                                                              \
        a1 = tg_smlabb(xo_, wo_, a1);                                                                              \
        a3 = tg_smlatt(xo_, wo_, a3);                                                                              \
    } while (0)
#endif

/* TFLite's requantization and clamp of acc (the plain sum plus the folded bias) with the values q of its channel */
TG_INLINE int8_t tg_dw3c_generic_out(int32_t acc, const int32_t *q, int32_t output_offset, int32_t act_min,
                                     int32_t act_max)
{
    const int32_t v = tg_requantize_mac(acc, q[1], q[3]) + output_offset;
    return (int8_t)TG_MIN(TG_MAX(v, act_min), act_max);
}

#if TG_DSP
/* the DSP path's generic form, out of line: only layers without the fast requantization take it, and five
   inlined copies would cost flash for nothing in most libraries */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static int8_t tg_dw3c_generic(int32_t acc, const int32_t *q, int32_t output_offset, int32_t act_min, int32_t act_max)
{
    return tg_dw3c_generic_out(acc, q, output_offset, act_min, act_max);
}
#endif

/* Output value of accumulator acc (the plain sum plus the folded bias) of the channel of q (see the kernel). */
TG_INLINE int8_t tg_dw3c_out(int32_t acc, int32_t fast, const int32_t *q, int32_t output_offset, int32_t act_min,
                             int32_t act_max)
{
#if TG_DSP
    if (fast)
    {
        /* exact, see tg_depthwise_3x3_s8.c: SMMULR(2 acc, m) (single rounding: SMMUL) then one
           rounding shift, offset folded (tg_dw_rq_fast) */
        const int32_t multiplier = q[1], rnd = q[2], shift = q[3];
        const int32_t a2 = acc + acc;
        int32_t v = tg_dw_rq_fast(a2, multiplier, rnd, 1) >> shift; /* shift holds the right shift */
        v = v < act_min ? act_min : v;
        return (int8_t)(v > act_max ? act_max : v);
    }
    return tg_dw3c_generic(acc, q, output_offset, act_min, act_max);
#else
    (void)fast;
    return tg_dw3c_generic_out(acc, q, output_offset, act_min, act_max);
#endif
}

/* the four-channel path: all layers on cores without DSP (inlined into the kernel there), on the DSP path
   the layers TG_DWVP_USE leaves (a function of its own, compiled as before the pair path existed) */
#if TG_DSP && (defined(__GNUC__) || defined(__clang__))
#define TG_DW3C_RUN static __attribute__((noinline)) void
#elif TG_DSP
#define TG_DW3C_RUN static void
#else
#define TG_DW3C_RUN TG_INLINE void
#endif
TG_DW3C_RUN tg_dw3c_run(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                        const int8_t *packed, const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                        int8_t *output, int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w,
                        int32_t pad_top, int32_t pad_left, int32_t input_zp, int32_t output_offset, int32_t act_min,
                        int32_t act_max, int32_t fast, int8_t *scratch)
{
    /* scratch: per channel {start of the sum, multiplier, rounding constant, shift}, the weights of
     * the complete groups sign-extended once (DSP path: tap t of group g at ext[18g + 2t], +1), then
     * the zero-point row */
    int32_t *q = (int32_t *)(void *)scratch;
    int32_t *ext = q + 4 * channels;
    const int32_t groups = channels / 4;
    int8_t *zp_row = scratch + 4 * (4 * channels + 18 * groups);
    const int8_t *tail_w = packed + 36 * groups;
    int32_t b, oy, ox, c, t, tap_offset[9];
    for (t = 0; t < 9; ++t)
    {
        tap_offset[t] = ((t / 3) * in_w + t % 3) * channels;
    }
    for (c = 0; c < channels; ++c)
    {
        /* the sums start at the folded bias; fast: 2^(r-1) + offset * 2^r and r for the right shift r */
        q[4 * c] = fast ? bias[c] / 2 : bias[c];
        q[4 * c + 1] = multiplier[c];
        q[4 * c + 2] = fast ? (int32_t)((UINT32_C(1) << (-shift[c] - 1)) +
                                        (uint32_t)output_offset * (UINT32_C(1) << -shift[c]))
                            : 0;
        q[4 * c + 3] = (TG_DSP && fast) ? -shift[c] : shift[c]; /* the portable path requantizes generically */
        zp_row[c] = (int8_t)input_zp;
    }
#if TG_DSP
    for (t = 0; t < 9 * groups; ++t)
    {
        const uint32_t w = tg_load32(packed + 4 * t);
        ext[2 * t] = tg_sxtb16(w);
        ext[2 * t + 1] = tg_sxtb16_ror8(w);
    }
#else
    (void)ext;
#endif
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
                c = 0;
#if TG_DSP
                {
                    const int32_t *w = ext;
                    const int32_t *qc = q;
                    for (; c + 4 <= channels; c += 4, w += 18, qc += 16)
                    {
                        int32_t a0 = qc[0], a1 = qc[4], a2 = qc[8], a3 = qc[12];
                        TG_DW3C_TAP(taps[0] + c, w);
                        TG_DW3C_TAP(taps[1] + c, w + 2);
                        TG_DW3C_TAP(taps[2] + c, w + 4);
                        TG_DW3C_TAP(taps[3] + c, w + 6);
                        TG_DW3C_TAP(taps[4] + c, w + 8);
                        TG_DW3C_TAP(taps[5] + c, w + 10);
                        TG_DW3C_TAP(taps[6] + c, w + 12);
                        TG_DW3C_TAP(taps[7] + c, w + 14);
                        TG_DW3C_TAP(taps[8] + c, w + 16);
                        out[c] = tg_dw3c_out(a0, fast, qc, output_offset, act_min, act_max);
                        out[c + 1] = tg_dw3c_out(a1, fast, qc + 4, output_offset, act_min, act_max);
                        out[c + 2] = tg_dw3c_out(a2, fast, qc + 8, output_offset, act_min, act_max);
                        out[c + 3] = tg_dw3c_out(a3, fast, qc + 12, output_offset, act_min, act_max);
                    }
                }
#endif
                for (; c < channels; ++c)
                {
                    /* weights of channel c: in its group's taps, or past the groups */
                    const int8_t *w = c < 4 * groups ? packed + (c >> 2) * 36 + (c & 3) : tail_w + 9 * (c - 4 * groups);
                    const int32_t ws = c < 4 * groups ? 4 : 1;
                    int32_t acc = q[4 * c];
                    for (t = 0; t < 9; ++t)
                    {
                        acc += taps[t][c] * w[t * ws];
                    }
                    out[c] = tg_dw3c_out(acc, fast, q + 4 * c, output_offset, act_min, act_max);
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
    /* the paths this library has: tinygen.lowering.depthwise_ops.dw3c_variants mirrors this dispatch */
#if TG_DSP && TG_VARIANT(DW3C_VP)
    if (TG_DWVP_USE(out_h, out_w, stride_h, stride_w))
    {
        /* the pair path; its scratch is 8-byte aligned (the arena's 16) */
        TG_TRACE_VARIANT(DW3C_VP);
        tg_depthwise_3x3_vp_s8(input, batches, in_h, in_w, channels, packed, 1, bias, multiplier, shift, output,
                               out_h, out_w, pad_top, pad_left, input_zp, output_offset, act_min, act_max, fast,
                               (int32_t *)(void *)scratch);
        return;
    }
#endif
#if TG_DW3C_HAS_RUN
#if TG_DSP
    TG_TRACE_VARIANT(DW3C_RUN);
#endif
    tg_dw3c_run(input, batches, in_h, in_w, channels, packed, bias, multiplier, shift, output, out_h, out_w, stride_h,
                stride_w, pad_top, pad_left, input_zp, output_offset, act_min, act_max, fast, scratch);
#else
    TG_UNREACHABLE(); /* only the pair path is compiled, and this call is not for it: a lowering bug */
#endif
}
