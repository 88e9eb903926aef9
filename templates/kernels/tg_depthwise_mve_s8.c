/* tg_depthwise_mve_s8: see tg_depthwise_mve_s8.h */
#include "tg_depthwise_mve_s8.h"

#include "tg_mve_s8.h"

/* GCC's first scheduling pass hoists the 18 loads of a 3x3 quad and spills vectors: keep program order */
#if defined(__GNUC__) && !defined(__clang__)
#define TG_DW_MVE_ORDERED __attribute__((noinline, optimize("no-schedule-insns")))
#elif defined(__clang__)
#define TG_DW_MVE_ORDERED __attribute__((noinline))
#else
#define TG_DW_MVE_ORDERED
#endif

/* Requantize a quad accumulator, return the four int8 results in the lanes' low bytes. */
TG_INLINE int32x4_t tg_dw_mve_requant(int32x4_t acc, const int32_t *params, int32_t has_left, int32x4_t offset,
                                      int32x4_t lo, int32x4_t hi)
{
    return tg_mve_requant_vec(acc, params, has_left, offset, lo, hi);
}

#define TG_DW_MVE_TAP(acc, p, w) (acc) = vqaddq_s32((acc), vmulq_s32(vldrbq_s32(p), vldrbq_s32(w)))

/* `count` output pixels of one row, 3x3 window: r0..r2 point at the first window's left tap in three
   padded rows; consecutive windows are `advance` bytes apart. */
static TG_DW_MVE_ORDERED void tg_dw_mve_3x3_row(const int8_t *r0, const int8_t *r1, const int8_t *r2,
                                                int32_t advance, int32_t count, int32_t channels,
                                                const int8_t *weights, const int32_t *params_in,
                                                int32_t has_left, int32_t out_offset, int32_t act_min,
                                                int32_t act_max, int8_t *out)
{
    const int32x4_t offset = vdupq_n_s32(out_offset);
    const int32x4_t lo = vdupq_n_s32(act_min);
    const int32x4_t hi = vdupq_n_s32(act_max);
    const int32_t step = channels;
    for (; count > 0; --count)
    {
        const int8_t *w = weights;
        const int32_t *params = params_in;
        int32_t c;
        for (c = 0; c < channels; c += 4)
        {
            int32x4_t acc = vldrwq_s32(params);
            TG_DW_MVE_TAP(acc, r0 + c, w);
            TG_DW_MVE_TAP(acc, r0 + c + step, w + 4);
            TG_DW_MVE_TAP(acc, r0 + c + 2 * step, w + 8);
            TG_DW_MVE_TAP(acc, r1 + c, w + 12);
            TG_DW_MVE_TAP(acc, r1 + c + step, w + 16);
            TG_DW_MVE_TAP(acc, r1 + c + 2 * step, w + 20);
            TG_DW_MVE_TAP(acc, r2 + c, w + 24);
            TG_DW_MVE_TAP(acc, r2 + c + step, w + 28);
            TG_DW_MVE_TAP(acc, r2 + c + 2 * step, w + 32);
            vstrbq_s32(out + c, tg_dw_mve_requant(acc, params, has_left, offset, lo, hi));
            w += 36;
            params += TG_MVE_QUAD_PARAMS;
        }
        r0 += advance;
        r1 += advance;
        r2 += advance;
        out += channels;
    }
}

/* Any kernel, one output pixel: rows[ky] is the input row of kernel row ky (NULL: padding); x0 the
   window's left column (may be outside the image). */
static void tg_dw_mve_any(const int8_t *const *rows, int32_t kh, int32_t kw, int32_t x0, int32_t dil_w, int32_t in_w,
                          int32_t channels, const int8_t *w, const int32_t *params, int32_t has_left,
                          int32x4_t pad, int32x4_t offset, int32x4_t lo, int32x4_t hi, int8_t *out)
{
    int32_t c, ky, kx;
    for (c = 0; c < channels; c += 4)
    {
        int32x4_t acc = vldrwq_s32(params);
        for (ky = 0; ky < kh; ++ky)
        {
            for (kx = 0; kx < kw; ++kx)
            {
                const int32_t x = x0 + kx * dil_w;
                const int32x4_t wv = vldrbq_s32(w);
                const int32x4_t xv = (rows[ky] != 0 && x >= 0 && x < in_w) ? vldrbq_s32(rows[ky] + x * channels + c) : pad;
                acc = vqaddq_s32(acc, vmulq_s32(xv, wv));
                w += 4;
            }
        }
        vstrbq_s32(out + c, tg_dw_mve_requant(acc, params, has_left, offset, lo, hi));
        params += TG_MVE_QUAD_PARAMS;
    }
}

#define TG_DW_MVE_MAX_KH 16

static void tg_dw_mve_general(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                              const int8_t *weights, int32_t kh, int32_t kw, const int32_t *params, int8_t *output,
                              int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                              int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t pad_value, int32_t out_offset,
                              int32_t act_min, int32_t act_max, int32_t has_left)
{
    const int32x4_t pad = vdupq_n_s32(pad_value);
    const int32x4_t offset = vdupq_n_s32(out_offset);
    const int32x4_t lo = vdupq_n_s32(act_min);
    const int32x4_t hi = vdupq_n_s32(act_max);
    const int32_t row_bytes = in_w * channels;
    const int8_t *rows[TG_DW_MVE_MAX_KH];
    int32_t b, oy, ox, ky;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * row_bytes;
        for (oy = 0; oy < out_h; ++oy)
        {
            for (ky = 0; ky < kh; ++ky)
            {
                const int32_t y = oy * stride_h - pad_top + ky * dil_h;
                rows[ky] = (y < 0 || y >= in_h) ? 0 : image + y * row_bytes;
            }
            for (ox = 0; ox < out_w; ++ox)
            {
                tg_dw_mve_any(rows, kh, kw, ox * stride_w - pad_left, dil_w, in_w, channels, weights, params, has_left,
                              pad, offset, lo, hi, output);
                output += channels;
            }
        }
    }
}

/*
 * The gather path (mode TG_DW_MVE_GATHER, 3x3, dilation 1): the ring holds, per channel, four planar
 * padded rows ([channel][slot 0..3][wp], slot 3 all padding), so the nine taps of one output of one
 * channel are bytes at offsets slot * wp + kx (< 256) from one base: one VLDRB.8 gather loads them, and
 * one VMLADAV.S8 with the channel's 16 weights (nine taps, seven zeros) adds the nine products.
 * Channel quads are the outer loop: a quad's four weight vectors stay in registers while its row of
 * outputs is computed, one pixel (four channels, one vector) at a time.
 */

/* The nine-tap sum of the output whose window starts at `p` (see above) */
#define TG_DW_MVE_GATHER_SUM(p, offs, wv) vmladavq_s8(vldrbq_gather_offset_s8((p), (offs)), (wv))

/* One quad's row in C: `count` pixels, the window of pixel i starting at ring + i * stride (channel k of
   the quad plane4 bytes further per k); outputs `channels` bytes apart. has_left is a constant at each
   use. */
TG_INLINE void tg_dw_mve_gather_quad(const int8_t *ring, int32_t plane4, uint8x16_t offs, int32_t count,
                                     int32_t stride, int32_t channels, const int8_t *w, const int32_t *params,
                                     int32_t has_left, int32_t out_offset, int32_t act_min, int32_t act_max,
                                     int8_t *out)
{
    const int8x16_t w0 = vldrbq_s8(w);
    const int8x16_t w1 = vldrbq_s8(w + 16);
    const int8x16_t w2 = vldrbq_s8(w + 32);
    const int8x16_t w3 = vldrbq_s8(w + 48);
    const int32x4_t offset = vdupq_n_s32(out_offset);
    const int32x4_t lo = vdupq_n_s32(act_min);
    const int32x4_t hi = vdupq_n_s32(act_max);
    for (; count > 0; --count)
    {
        const int32_t a0 = TG_DW_MVE_GATHER_SUM(ring, offs, w0);
        const int32_t a1 = TG_DW_MVE_GATHER_SUM(ring + plane4, offs, w1);
        const int32_t a2 = TG_DW_MVE_GATHER_SUM(ring + 2 * plane4, offs, w2);
        const int32_t a3 = TG_DW_MVE_GATHER_SUM(ring + 3 * plane4, offs, w3);
        ring += stride;
        vstrbq_s32(out, tg_mve_requant_vec(vaddq_s32(tg_mve_lanes(a0, a1, a2, a3), vldrwq_s32(params)), params,
                                           has_left, offset, lo, hi));
        out += channels;
    }
}

/*
 * The same on the target, in assembly, for layers whose shifts are all right shifts or none (has_left 0)
 * and whose activation range is all of int8 (the clamp is two saturating narrows, int32 to int16 to
 * int8, each into the bottom half of its lane: no range vectors): the quad's four weight vectors, the tap
 * offsets and every temporary fit the eight Q registers, which GCC's allocator does not manage from C
 * (it spills a weight vector and reloads loop constants). 29 instructions per pixel of four channels
 * (28 when every shift of the layer is right: TG_DW_MVE_FIX_RIGHT drops the VAND).
 */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && (defined(__GNUC__) || defined(__clang__)) &&         \
    defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__) && !defined(TG_MVE_NO_ASM) && !TG_SINGLE_ROUNDING
#define TG_DW_MVE_ASM 1
/* q0 = h - 1 where h < 0 and the lane shifts right (q1: -right shifts): RoundingDivideByPOT's half away
   from zero before VRSHL's half up (see tg_mve_s8.h) */
#define TG_DW_MVE_FIX_ANY                                                                                      \
    "vand q3, q0, q1\n"                                                                                       \
    "vshr.s32 q3, q3, #31\n"                                                                                  \
    "vqadd.s32 q0, q0, q3\n"
/* every lane shifts right: h - 1 where h < 0 (h > INT32_MIN, as the multiplier is >= 0: no wrap) */
#define TG_DW_MVE_FIX_RIGHT                                                                                    \
    "vshr.s32 q3, q0, #31\n"                                                                                  \
    "vadd.i32 q0, q0, q3\n"
#define TG_DW_MVE_QUADS_ASM(FIX)                                                                               \
    __asm__ volatile("vldrb.8 q4, [%[t]]\n"                                                                    \
                     "sub sp, sp, #24\n" /* the quad loop's state: ring, out, quads left, count, weights */    \
                     "strd %[b], %[out], [sp]\n"                                                               \
                     "str %[a1], [sp, #8]\n"                                                                   \
                     "str lr, [sp, #12]\n"                                                                     \
                     "str %[a0], [sp, #16]\n"                                                                  \
                     "3: ldr %[t], [sp, #16]\n"                                                                \
                     "vldrb.8 q5, [%[t]]\n"                                                                    \
                     "vldrb.8 q6, [%[t], #16]\n"                                                               \
                     "vldrb.8 q7, [%[t], #32]\n"                                                               \
                     "vldrb.8 q2, [%[t], #48]\n"                                                               \
                     "add %[t], %[t], #64\n"                                                                   \
                     "str %[t], [sp, #16]\n"                                                                   \
                     "ldr lr, [sp, #12]\n"                                                                     \
                     "wls lr, lr, 2f\n"                                                                        \
                     "1: vldrb.u8 q3, [%[b], q4]\n"                                                            \
                     "add %[t], %[b], %[plane]\n"                                                              \
                     "vmlav.s8 %[a0], q3, q5\n"                                                                \
                     "vldrb.u8 q3, [%[t], q4]\n"                                                               \
                     "add %[t], %[t], %[plane]\n"                                                              \
                     "vmlav.s8 %[a1], q3, q6\n"                                                                \
                     "vldrb.u8 q3, [%[t], q4]\n"                                                               \
                     "add %[t], %[t], %[plane]\n"                                                              \
                     "vmlav.s8 %[a2], q3, q7\n"                                                                \
                     "vldrb.u8 q3, [%[t], q4]\n"                                                               \
                     "add %[b], %[b], %[stride]\n"                                                             \
                     "vmlav.s8 %[a3], q3, q2\n"                                                                \
                     "vmov q0[2], q0[0], %[a0], %[a2]\n"                                                       \
                     "vmov q0[3], q0[1], %[a1], %[a3]\n"                                                       \
                     "vldrw.u32 q1, [%[p]]\n"                                                                  \
                     "vadd.i32 q0, q0, q1\n"                                                                   \
                     "vldrw.u32 q1, [%[p], #16]\n"                                                             \
                     "vqrdmulh.s32 q0, q0, q1\n"                                                               \
                     "vldrw.u32 q1, [%[p], #48]\n" FIX "vrshl.s32 q0, q0, q1\n"                                \
                     "vadd.i32 q0, q0, %[off]\n"                                                               \
                     "vqmovnb.s32 q0, q0\n"                                                                    \
                     "vqmovnb.s16 q0, q0\n"                                                                    \
                     "vstrb.32 q0, [%[out]]\n"                                                                 \
                     "add %[out], %[out], %[c]\n"                                                              \
                     "le lr, 1b\n"                                                                             \
                     "2: ldrd %[b], %[out], [sp]\n"                                                            \
                     "add %[b], %[b], %[plane], lsl #2\n"                                                      \
                     "adds %[out], %[out], #4\n"                                                               \
                     "strd %[b], %[out], [sp]\n"                                                               \
                     "adds %[p], %[p], #64\n"                                                                  \
                     "ldr %[t], [sp, #8]\n"                                                                    \
                     "subs %[t], %[t], #1\n"                                                                   \
                     "str %[t], [sp, #8]\n"                                                                    \
                     "bne 3b\n"                                                                                \
                     "add sp, sp, #24"                                                                         \
                     : [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [b] "+&r"(ring),          \
                       [out] "+&l"(out), [t] "+&r"(t), [n] "+&r"(n), [p] "+&r"(params)                          \
                     : [plane] "r"(plane4), [stride] "r"(stride), [off] "r"(out_offset), [c] "r"(channels)     \
                     : "q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "cc", "memory")

/* Every quad of one row (channels >= 4). Register variables: VMLAV writes even registers only, LR counts;
   the weights, the quad count and the tap offsets arrive in registers the loop reuses. */
static TG_MVE_NOINLINE void tg_dw_mve_gather_quads_asm(const int8_t *ring, int32_t plane4, const uint8_t *taps,
                                                       int32_t count, int32_t stride, int32_t channels,
                                                       const int8_t *w, const int32_t *params, int32_t out_offset,
                                                       int32_t fix_right, int8_t *out)
{
    register int32_t a0 __asm__("r0") = (int32_t)(intptr_t)w; /* the weights, then a sum */
    register int32_t a1 __asm__("r2") = channels >> 2;        /* the quads, then a sum */
    register int32_t a2 __asm__("r4");
    register int32_t a3 __asm__("r6");
    register int32_t n __asm__("lr") = count;
    const int8_t *t = (const int8_t *)taps; /* the tap offsets, then an address temporary */
    if (fix_right)
    {
        TG_DW_MVE_QUADS_ASM(TG_DW_MVE_FIX_RIGHT);
    }
    else
    {
        TG_DW_MVE_QUADS_ASM(TG_DW_MVE_FIX_ANY);
    }
    (void)a0;
    (void)a1;
    (void)a2;
    (void)a3;
    (void)t;
    (void)n;
}
#else
#define TG_DW_MVE_ASM 0
#endif

/* Whether every shift of the layer's quad params is a right shift (see tg_dw_mve_gather_quads_asm) */
static int32_t tg_dw_mve_all_right(const int32_t *params, int32_t channels)
{
    int32_t c;
    for (c = 0; c < channels; ++c)
    {
        if (params[(c >> 2) * TG_MVE_QUAD_PARAMS + 12 + (c & 3)] >= 0)
        {
            return 0;
        }
    }
    return 1;
}

/* One output row: `count` pixels of every channel, the window of pixel i starting at padded column
   i * stride; tap_offsets: the nine tap offsets (lanes 9..15: 0, their weights are 0); fix_right: see
   tg_dw_mve_all_right. */
static TG_DW_MVE_ORDERED void tg_dw_mve_gather_row(const int8_t *ring, int32_t plane4, const uint8_t *tap_offsets,
                                                 int32_t count, int32_t stride, int32_t channels,
                                                 const int8_t *weights, const int32_t *params, int32_t has_left,
                                                 int32_t fix_right, int32_t out_offset, int32_t act_min,
                                                 int32_t act_max, int8_t *out)
{
    const uint8x16_t offs = vldrbq_u8(tap_offsets);
    int32_t q;
    (void)fix_right;
#if TG_DW_MVE_ASM
    if (!has_left && act_min == -128 && act_max == 127)
    {
        tg_dw_mve_gather_quads_asm(ring, plane4, tap_offsets, count, stride, channels, weights, params, out_offset,
                                   fix_right, out);
        return;
    }
#endif
    for (q = 0; q < channels; q += 4)
    {
        const int8_t *base = ring + q * plane4;
        if (has_left)
        {
            tg_dw_mve_gather_quad(base, plane4, offs, count, stride, channels, weights, params, 1, out_offset,
                                  act_min, act_max, out);
        }
        else
        {
            tg_dw_mve_gather_quad(base, plane4, offs, count, stride, channels, weights, params, 0, out_offset,
                                  act_min, act_max, out);
        }
        weights += 4 * TG_MVE_STEP;
        params += TG_MVE_QUAD_PARAMS;
        out += 4;
    }
}

/* Input row `row` (in_w pixels of `channels`, a multiple of 4) into ring slot `slot`, planar: channel c
   at ring[(c * 4 + slot) * wp + pad_left + x]; eight channels per step (one VSTRB.16 scatter). */
static void tg_dw_mve_gather_fill(int8_t *ring, const int8_t *row, int32_t in_w, int32_t channels, int32_t wp,
                                  int32_t slot, int32_t pad_left)
{
    const uint16_t planes[8] = {0u,
                                (uint16_t)(4 * wp),
                                (uint16_t)(8 * wp),
                                (uint16_t)(12 * wp),
                                (uint16_t)(16 * wp),
                                (uint16_t)(20 * wp),
                                (uint16_t)(24 * wp),
                                (uint16_t)(28 * wp)}; /* 28 * wp < 65536: the gather mode has wp < 85 */
    const uint16x8_t scatter = vldrhq_u16(planes);
    const mve_pred16_t half = vctp16q(4u);
    int32_t x, c;
    for (x = 0; x < in_w; ++x)
    {
        int8_t *dst = ring + slot * wp + pad_left + x;
        for (c = channels; c >= 8; c -= 8)
        {
            vstrbq_scatter_offset_s16(dst, scatter, vldrbq_s16(row));
            row += 8;
            dst += 32 * wp;
        }
        if (c != 0) /* four channels left */
        {
            vstrbq_scatter_offset_p_s16(dst, scatter, vldrbq_z_s16(row, half), half);
            row += 4;
        }
    }
}

static void tg_dw_mve_gather(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                             const int8_t *weights, const int32_t *params, int8_t *output, int32_t out_h,
                             int32_t out_w, int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                             int32_t pad_right, int32_t pad_value, int32_t out_offset, int32_t act_min,
                             int32_t act_max, int32_t has_left, int8_t *ring)
{
    const int32_t wp = pad_left + in_w + pad_right;
    const int32_t row_bytes = in_w * channels;
    const int32_t fix_right = tg_dw_mve_all_right(params, channels);
    int32_t held[3]; /* the input row each ring slot holds (-1: none) */
    uint8_t taps[16];
    int32_t b, oy, ky, kx;
    tg_mve_fill_s8(ring, (int8_t)pad_value, 4 * wp * channels); /* pad columns and slot 3 stay padding */
    for (kx = 9; kx < 16; ++kx)
    {
        taps[kx] = 0;
    }
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * row_bytes;
        held[0] = held[1] = held[2] = -1;
        for (oy = 0; oy < out_h; ++oy)
        {
            for (ky = 0; ky < 3; ++ky)
            {
                const int32_t y = oy * stride_h - pad_top + ky;
                int32_t slot = 3;
                if (y >= 0 && y < in_h)
                {
                    slot = y % 3;
                    if (held[slot] != y) /* first use of input row y: copy it into the ring */
                    {
                        tg_dw_mve_gather_fill(ring, image + y * row_bytes, in_w, channels, wp, slot, pad_left);
                        held[slot] = y;
                    }
                }
                for (kx = 0; kx < 3; ++kx)
                {
                    taps[3 * ky + kx] = (uint8_t)(slot * wp + kx);
                }
            }
            tg_dw_mve_gather_row(ring, 4 * wp, taps, out_w, stride_w, channels, weights, params, has_left, fix_right,
                                 out_offset, act_min, act_max, output);
            output += out_w * channels;
        }
    }
}

void tg_depthwise_mve_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                         const int8_t *weights, int32_t kh, int32_t kw, const int32_t *params, int8_t *output,
                         int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                         int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t pad_right, int32_t pad_value,
                         int32_t out_offset, int32_t act_min, int32_t act_max, int32_t has_left, int32_t mode,
                         int8_t *scratch)
{
    const int32_t row_bytes = in_w * channels;
    const int32_t slot_bytes = (pad_left + in_w + pad_right) * channels;
    int8_t *const pad_row = scratch + 3 * slot_bytes;
    int32_t held[3]; /* the input row each ring slot holds (-1: none) */
    int32_t b, oy, ky;
    if (mode == TG_DW_MVE_GATHER)
    {
        tg_dw_mve_gather(input, batches, in_h, in_w, channels, weights, params, output, out_h, out_w, stride_h, stride_w,
                         pad_top, pad_left, pad_right, pad_value, out_offset, act_min, act_max, has_left, scratch);
        return;
    }
    if (mode == TG_DW_MVE_GENERAL)
    {
        tg_dw_mve_general(input, batches, in_h, in_w, channels, weights, kh, kw, params, output, out_h, out_w,
                          stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, pad_value, out_offset, act_min,
                          act_max, has_left);
        return;
    }
    tg_mve_fill_s8(pad_row, (int8_t)pad_value, slot_bytes);
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * row_bytes;
        held[0] = held[1] = held[2] = -1;
        for (oy = 0; oy < out_h; ++oy)
        {
            const int8_t *r[3];
            for (ky = 0; ky < 3; ++ky)
            {
                const int32_t y = oy * stride_h - pad_top + ky;
                if (y < 0 || y >= in_h)
                {
                    r[ky] = pad_row;
                }
                else
                {
                    int8_t *slot = scratch + (y % 3) * slot_bytes;
                    if (held[y % 3] != y) /* first use of input row y: copy it, padded, into the ring */
                    {
                        tg_mve_fill_s8(slot, (int8_t)pad_value, pad_left * channels);
                        tg_mve_copy_s8(slot + pad_left * channels, image + y * row_bytes, row_bytes);
                        tg_mve_fill_s8(slot + (pad_left + in_w) * channels, (int8_t)pad_value, pad_right * channels);
                        held[y % 3] = y;
                    }
                    r[ky] = slot;
                }
            }
            tg_dw_mve_3x3_row(r[0], r[1], r[2], stride_w * channels, out_w, channels, weights, params, has_left,
                              out_offset, act_min, act_max, output);
            output += out_w * channels;
        }
    }
}
