/*
 * tg_mve_s8.h: header-only Helium (M-profile Vector Extension, Cortex-M55) helpers of the MVE kernels
 * (tg_conv_mve_s8, tg_fully_connected_mve_s8, tg_depthwise_mve_s8).
 *
 * A library generated for an MVE target (tinygen's `mve=True`, from a board manifest with
 * "has_mve": true) only compiles where __ARM_FEATURE_MVE has its integer bit, or on a host with
 * TG_MVE_EMULATE defined: then the C stand-ins below execute the same kernel code, so host tests check
 * it bit for bit (with sanitizers). Only the intrinsics the kernels use are emulated.
 *
 * GEMM layout (conv and fully connected). A "column" is the int8 input of one output pixel (or one
 * batch row), `depth` values, read in steps of 16: the kernels pass a column whose length is padded to
 * d16 = depth rounded up to 16, every byte readable. Weights ("quad layout", built offline by
 * tinygen/lowering/mve_ops.py): output channels in quads (zero rows pad the last quad), depth padded
 * with zeros to d16; per quad, per step of 16, the 16 bytes of each of the quad's four channels in turn
 * ([quad][d16 / 16][4][16]): one pointer walks them. Zero weights make the padded depth contribute 0
 * whatever the column holds there. The input offset is folded into the bias offline, so each
 * VMLADAVA.S8 adds 16 raw int8 x int8 products to an int32 accumulator.
 *
 * Per quad the 16 int32 "params" are {bias[4], multiplier[4], left shift[4], -right shift[4]}.
 * Requantization (TFLite Micro's double rounding, bit-exact, four lanes at once):
 *   x = acc << left (wrapping; layers whose shifts are all <= 0 skip it: has_left == 0);
 *   h = VQRDMULH(x, multiplier) = floor((x * m + 2^30) / 2^31), which equals gemmlowp's
 *       SaturatingRoundingDoublingHighMul (its nudge 1 - 2^30 for negative products, then truncation,
 *       is the same floor) and saturates only for x == m == INT32_MIN (m >= 0 here, never);
 *   RoundingDivideByPOT(h, e) (half away from zero) = VRSHL(h + fix, -e) where VRSHL rounds half up and
 *       fix = -1 for h < 0 and e > 0, else 0: (h & -e) has the sign bit of h exactly when e > 0. The
 *       saturating add only matters for h == INT32_MIN, where it gives the same (exact) quotient.
 * With TG_SINGLE_ROUNDING the lanes use tg_requantize (one rounding), one at a time.
 */
#ifndef TG_MVE_S8_H
#define TG_MVE_S8_H

#include <stdint.h>

#include "tg_common.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define TG_MVE 1
#elif defined(TG_MVE_EMULATE)
#define TG_MVE 1
/* C stand-ins for the MVE intrinsics the kernels use (host tests only). */
typedef struct
{
    int8_t v[16];
} int8x16_t;
typedef struct
{
    int32_t v[4];
} int32x4_t;
typedef struct
{
    uint8_t v[16];
} uint8x16_t;
typedef struct
{
    uint32_t v[4];
} uint32x4_t;
typedef struct
{
    int16_t v[8];
} int16x8_t;
typedef struct
{
    uint16_t v[8];
} uint16x8_t;
typedef uint16_t mve_pred16_t;

TG_INLINE uint8x16_t vldrbq_u8(const uint8_t *p)
{
    uint8x16_t r;
    int i;
    for (i = 0; i < 16; ++i)
    {
        r.v[i] = p[i];
    }
    return r;
}
TG_INLINE uint32x4_t vldrwq_u32(const uint32_t *p)
{
    uint32x4_t r;
    int i;
    for (i = 0; i < 4; ++i)
    {
        r.v[i] = p[i];
    }
    return r;
}
/* VLDRB.S8 gather: base[offset[i]] */
TG_INLINE int8x16_t vldrbq_gather_offset_s8(const int8_t *base, uint8x16_t offset)
{
    int8x16_t r;
    int i;
    for (i = 0; i < 16; ++i)
    {
        r.v[i] = base[offset.v[i]];
    }
    return r;
}

TG_INLINE int8x16_t vldrbq_s8(const int8_t *p)
{
    int8x16_t r;
    int i;
    for (i = 0; i < 16; ++i)
    {
        r.v[i] = p[i];
    }
    return r;
}
TG_INLINE void vstrbq_s8(int8_t *p, int8x16_t a)
{
    int i;
    for (i = 0; i < 16; ++i)
    {
        p[i] = a.v[i];
    }
}
TG_INLINE mve_pred16_t vctp8q(uint32_t n)
{
    return (mve_pred16_t)(n >= 16u ? 0xffffu : ((1u << n) - 1u));
}
TG_INLINE mve_pred16_t vctp32q(uint32_t n)
{
    return (mve_pred16_t)(n >= 4u ? 0xffffu : ((1u << (4u * n)) - 1u));
}
TG_INLINE int8x16_t vldrbq_z_s8(const int8_t *p, mve_pred16_t pred)
{
    int8x16_t r;
    int i;
    for (i = 0; i < 16; ++i)
    {
        r.v[i] = (pred >> i) & 1u ? p[i] : 0;
    }
    return r;
}
TG_INLINE void vstrbq_p_s8(int8_t *p, int8x16_t a, mve_pred16_t pred)
{
    int i;
    for (i = 0; i < 16; ++i)
    {
        if ((pred >> i) & 1u)
        {
            p[i] = a.v[i];
        }
    }
}
TG_INLINE int8x16_t vdupq_n_s8(int8_t x)
{
    int8x16_t r;
    int i;
    for (i = 0; i < 16; ++i)
    {
        r.v[i] = x;
    }
    return r;
}
TG_INLINE int32_t vmladavaq_s8(int32_t acc, int8x16_t a, int8x16_t b)
{
    uint32_t s = (uint32_t)acc;
    int i;
    for (i = 0; i < 16; ++i)
    {
        s += (uint32_t)((int32_t)a.v[i] * (int32_t)b.v[i]);
    }
    return (int32_t)s;
}
TG_INLINE int32_t vmladavq_s8(int8x16_t a, int8x16_t b)
{
    return vmladavaq_s8(0, a, b);
}
TG_INLINE int32x4_t vldrbq_s32(const int8_t *p)
{
    int32x4_t r;
    int i;
    for (i = 0; i < 4; ++i)
    {
        r.v[i] = p[i];
    }
    return r;
}
TG_INLINE int32x4_t vldrbq_z_s32(const int8_t *p, mve_pred16_t pred)
{
    int32x4_t r;
    int i;
    for (i = 0; i < 4; ++i)
    {
        r.v[i] = (pred >> (4 * i)) & 1u ? p[i] : 0;
    }
    return r;
}
TG_INLINE int32x4_t vaddq_n_s32(int32x4_t a, int32_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        a.v[i] = (int32_t)((uint32_t)a.v[i] + (uint32_t)b);
    }
    return a;
}
TG_INLINE int32x4_t vmulq_n_s32(int32x4_t a, int32_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        a.v[i] = (int32_t)((uint32_t)a.v[i] * (uint32_t)b);
    }
    return a;
}
TG_INLINE int32x4_t tg_mve_emul_shl(int32x4_t a, int n)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        a.v[i] = tg_shl(a.v[i], n);
    }
    return a;
}
#define vshlq_n_s32(a, imm) tg_mve_emul_shl((a), (imm))
/* VMLAS (vector by vector plus scalar): a * b + c, wrapping */
TG_INLINE int32x4_t vmlasq_n_s32(int32x4_t a, int32x4_t b, int32_t c)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        a.v[i] = (int32_t)((uint32_t)a.v[i] * (uint32_t)b.v[i] + (uint32_t)c);
    }
    return a;
}
/* VMLA (vector by scalar): add + a * b, wrapping */
TG_INLINE int32x4_t vmlaq_n_s32(int32x4_t add, int32x4_t a, int32_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        add.v[i] = (int32_t)((uint32_t)add.v[i] + (uint32_t)a.v[i] * (uint32_t)b);
    }
    return add;
}
TG_INLINE int32x4_t vqrdmulhq_n_s32(int32x4_t a, int32_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        const int64_t p = 2 * (int64_t)a.v[i] * (int64_t)b + (INT64_C(1) << 31);
        a.v[i] = (a.v[i] == INT32_MIN && b == INT32_MIN) ? INT32_MAX : (int32_t)(p >> 32);
    }
    return a;
}
TG_INLINE int32x4_t vmulq_s32(int32x4_t a, int32x4_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        a.v[i] = (int32_t)((uint32_t)a.v[i] * (uint32_t)b.v[i]);
    }
    return a;
}
TG_INLINE int32x4_t vldrwq_s32(const int32_t *p)
{
    int32x4_t r;
    int i;
    for (i = 0; i < 4; ++i)
    {
        r.v[i] = p[i];
    }
    return r;
}
TG_INLINE int32x4_t vdupq_n_s32(int32_t x)
{
    int32x4_t r;
    int i;
    for (i = 0; i < 4; ++i)
    {
        r.v[i] = x;
    }
    return r;
}
TG_INLINE int32x4_t vsetq_lane_s32(int32_t x, int32x4_t a, int lane)
{
    a.v[lane] = x;
    return a;
}
TG_INLINE int32_t vgetq_lane_s32(int32x4_t a, int lane)
{
    return a.v[lane];
}
/* VSHL (vector): shift left by the signed bottom byte of b, wrapping (only left shifts are used) */
TG_INLINE int32x4_t vshlq_s32(int32x4_t a, int32x4_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        const int n = (int8_t)b.v[i];
        a.v[i] = n >= 0 ? tg_shl(a.v[i], n) : (int32_t)((int64_t)a.v[i] >> -n);
    }
    return a;
}
/* VRSHL (vector): rounding shift (half up) right by -b, or left by b */
TG_INLINE int32x4_t vrshlq_s32(int32x4_t a, int32x4_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        const int n = (int8_t)b.v[i];
        if (n >= 0)
        {
            a.v[i] = tg_shl(a.v[i], n);
        }
        else
        {
            const int64_t x = (int64_t)a.v[i] + (INT64_C(1) << (-n - 1));
            a.v[i] = (int32_t)(x >> -n);
        }
    }
    return a;
}
/* VRSHL (scalar register): every lane by b */
TG_INLINE int32x4_t vrshlq_n_s32(int32x4_t a, int32_t b)
{
    return vrshlq_s32(a, vdupq_n_s32(b));
}
TG_INLINE int32x4_t vqrdmulhq_s32(int32x4_t a, int32x4_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        const int64_t p = 2 * (int64_t)a.v[i] * (int64_t)b.v[i] + (INT64_C(1) << 31);
        a.v[i] = (a.v[i] == INT32_MIN && b.v[i] == INT32_MIN) ? INT32_MAX : (int32_t)(p >> 32);
    }
    return a;
}
TG_INLINE int32x4_t vqaddq_s32(int32x4_t a, int32x4_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        const int64_t s = (int64_t)a.v[i] + (int64_t)b.v[i];
        a.v[i] = (int32_t)TG_CLAMP(s, (int64_t)INT32_MIN, (int64_t)INT32_MAX);
    }
    return a;
}
TG_INLINE int32x4_t vaddq_s32(int32x4_t a, int32x4_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        a.v[i] = (int32_t)((uint32_t)a.v[i] + (uint32_t)b.v[i]);
    }
    return a;
}
TG_INLINE int32x4_t vandq_s32(int32x4_t a, int32x4_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        a.v[i] &= b.v[i];
    }
    return a;
}
/* VSHR #31 is the only immediate right shift used: the sign mask of each lane */
TG_INLINE int32x4_t tg_mve_emul_sign(int32x4_t a)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        a.v[i] = a.v[i] < 0 ? -1 : 0;
    }
    return a;
}
#define vshrq_n_s32(a, imm) tg_mve_emul_sign(a)
TG_INLINE int32x4_t vmaxq_s32(int32x4_t a, int32x4_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        a.v[i] = TG_MAX(a.v[i], b.v[i]);
    }
    return a;
}
TG_INLINE int32x4_t vminq_s32(int32x4_t a, int32x4_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        a.v[i] = TG_MIN(a.v[i], b.v[i]);
    }
    return a;
}
/* VSTRB.32 (truncating: the low byte of each lane), optionally predicated */
TG_INLINE void vstrbq_p_s32(int8_t *p, int32x4_t a, mve_pred16_t pred)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        if ((pred >> (4 * i)) & 1u)
        {
            p[i] = (int8_t)(uint8_t)((uint32_t)a.v[i] & 0xffu);
        }
    }
}
TG_INLINE int16_t tg_mve_emul_sat16(int64_t x)
{
    return (int16_t)TG_CLAMP(x, (int64_t)INT16_MIN, (int64_t)INT16_MAX);
}
/* VQMOVNB.S32 / VQMOVNT.S32: b saturated to int16 into the even (bottom) / odd (top) lanes of a */
TG_INLINE int16x8_t vqmovnbq_s32(int16x8_t a, int32x4_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        a.v[2 * i] = tg_mve_emul_sat16(b.v[i]);
    }
    return a;
}
TG_INLINE int16x8_t vqmovntq_s32(int16x8_t a, int32x4_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        a.v[2 * i + 1] = tg_mve_emul_sat16(b.v[i]);
    }
    return a;
}
TG_INLINE int16x8_t vqaddq_n_s16(int16x8_t a, int16_t b)
{
    int i;
    for (i = 0; i < 8; ++i)
    {
        a.v[i] = tg_mve_emul_sat16((int64_t)a.v[i] + b);
    }
    return a;
}
TG_INLINE int16x8_t vdupq_n_s16(int16_t x)
{
    int16x8_t r;
    int i;
    for (i = 0; i < 8; ++i)
    {
        r.v[i] = x;
    }
    return r;
}
/* VLDRB.S16: eight int8 values widened to int16 lanes, optionally zeroing the lanes pred disables */
TG_INLINE int16x8_t vldrbq_z_s16(const int8_t *p, mve_pred16_t pred)
{
    int16x8_t r;
    int i;
    for (i = 0; i < 8; ++i)
    {
        r.v[i] = (pred >> (2 * i)) & 1u ? p[i] : 0;
    }
    return r;
}
TG_INLINE int16x8_t vldrbq_s16(const int8_t *p)
{
    return vldrbq_z_s16(p, 0xffffu);
}
TG_INLINE int16x8_t vmaxq_s16(int16x8_t a, int16x8_t b)
{
    int i;
    for (i = 0; i < 8; ++i)
    {
        a.v[i] = TG_MAX(a.v[i], b.v[i]);
    }
    return a;
}
TG_INLINE int16x8_t vminq_s16(int16x8_t a, int16x8_t b)
{
    int i;
    for (i = 0; i < 8; ++i)
    {
        a.v[i] = TG_MIN(a.v[i], b.v[i]);
    }
    return a;
}
TG_INLINE uint16x8_t vldrhq_u16(const uint16_t *p)
{
    uint16x8_t r;
    int i;
    for (i = 0; i < 8; ++i)
    {
        r.v[i] = p[i];
    }
    return r;
}
TG_INLINE mve_pred16_t vctp16q(uint32_t n)
{
    return (mve_pred16_t)(n >= 8u ? 0xffffu : ((1u << (2u * n)) - 1u));
}
/* VSTRB.16 scatter: base[offset[i]] = low byte of lane i (the lanes pred enables) */
TG_INLINE void vstrbq_scatter_offset_p_s16(int8_t *base, uint16x8_t offset, int16x8_t a, mve_pred16_t pred)
{
    int i;
    for (i = 0; i < 8; ++i)
    {
        if ((pred >> (2 * i)) & 1u)
        {
            base[offset.v[i]] = (int8_t)(uint8_t)((uint16_t)a.v[i] & 0xffu);
        }
    }
}
TG_INLINE void vstrbq_scatter_offset_s16(int8_t *base, uint16x8_t offset, int16x8_t a)
{
    vstrbq_scatter_offset_p_s16(base, offset, a, 0xffffu);
}
/* VSTRB.32 scatter: base[offset[i]] = low byte of lane i */
TG_INLINE void vstrbq_scatter_offset_s32(int8_t *base, uint32x4_t offset, int32x4_t a)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        base[offset.v[i]] = (int8_t)(uint8_t)((uint32_t)a.v[i] & 0xffu);
    }
}
/* VSTRB.32 scatter, predicated: base[offset[i]] = low byte of lane i (the lanes pred enables) */
TG_INLINE void vstrbq_scatter_offset_p_s32(int8_t *base, uint32x4_t offset, int32x4_t a, mve_pred16_t pred)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        if ((pred >> (4 * i)) & 1u)
        {
            base[offset.v[i]] = (int8_t)(uint8_t)((uint32_t)a.v[i] & 0xffu);
        }
    }
}
/* VSHL (scalar register): every lane shifted left by b >= 0, wrapping (only left shifts are used) */
TG_INLINE int32x4_t vshlq_r_s32(int32x4_t a, int32_t b)
{
    return vshlq_s32(a, vdupq_n_s32(b));
}
TG_INLINE void vstrbq_s32(int8_t *p, int32x4_t a)
{
    vstrbq_p_s32(p, a, 0xffffu);
}
#else
#error "this tinygen library was generated for a Cortex-M core with Helium (MVE, e.g. Cortex-M55), but the compiler does not target MVE: build with the board's -mcpu (e.g. -mcpu=cortex-m55), or regenerate the library for this core (tinygen convert, or a board without \"has_mve\")"
#endif

/* TG_MVE_ASSUME(c): the compiler may assume c (a fact the caller guarantees) */
#if defined(__GNUC__) || defined(__clang__)
#define TG_MVE_ASSUME(c)                                                                                       \
    do                                                                                                         \
    {                                                                                                          \
        if (!(c))                                                                                              \
        {                                                                                                      \
            __builtin_unreachable();                                                                           \
        }                                                                                                      \
    } while (0)
#else
#define TG_MVE_ASSUME(c) ((void)0)
#endif

/* Values per GEMM step, and int32 params per output-channel quad */
#define TG_MVE_STEP 16
#define TG_MVE_QUAD_PARAMS 16

/*
 * Copy and fill, n >= 0 bytes. On the target: a tail-predicated low-overhead loop (WLSTP/LETP: 16 bytes
 * per step, the last step predicated by the hardware, no tail code), which GCC 12 cannot emit from C:
 * hence the inline assembly. Elsewhere (the host stand-ins): 16 bytes per step, then a predicated step.
 */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && (defined(__GNUC__) || defined(__clang__))
TG_INLINE void tg_mve_copy_s8(int8_t *dst, const int8_t *src, int32_t n)
{
    __asm__ volatile("wlstp.8 lr, %[n], 2f\n"
                     "1: vldrb.8 q0, [%[src]], #16\n"
                     "vstrb.8 q0, [%[dst]], #16\n"
                     "letp lr, 1b\n"
                     "2:"
                     : [dst] "+r"(dst), [src] "+r"(src)
                     : [n] "r"(n)
                     : "lr", "q0", "memory");
}
TG_INLINE void tg_mve_fill_s8(int8_t *dst, int8_t value, int32_t n)
{
    __asm__ volatile("vdup.8 q0, %[v]\n"
                     "wlstp.8 lr, %[n], 2f\n"
                     "1: vstrb.8 q0, [%[dst]], #16\n"
                     "letp lr, 1b\n"
                     "2:"
                     : [dst] "+r"(dst)
                     : [n] "r"(n), [v] "r"((int32_t)value)
                     : "lr", "q0", "memory");
}
#else
TG_INLINE void tg_mve_copy_s8(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 16; n -= 16)
    {
        vstrbq_s8(dst, vldrbq_s8(src));
        dst += 16;
        src += 16;
    }
    if (n > 0)
    {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, p), p);
    }
}
TG_INLINE void tg_mve_fill_s8(int8_t *dst, int8_t value, int32_t n)
{
    const int8x16_t v = vdupq_n_s8(value);
    for (; n >= 16; n -= 16)
    {
        vstrbq_s8(dst, v);
        dst += 16;
    }
    if (n > 0)
    {
        vstrbq_p_s8(dst, v, vctp8q((uint32_t)n));
    }
}
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TG_MVE_NOINLINE __attribute__((noinline, unused))
#else
#define TG_MVE_NOINLINE
#endif

/* {a0, a1, a2, a3}: on the target two two-lane VMOVs (GCC 12 builds a vector from four scalars with a
   VDUP and three one-lane VMOVs, and has no intrinsic for the two-lane form: hence the assembly) */
TG_INLINE int32x4_t tg_mve_lanes(int32_t a0, int32_t a1, int32_t a2, int32_t a3)
{
    int32x4_t v;
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && (defined(__GNUC__) || defined(__clang__))
    __asm__("vmov %q0[2], %q0[0], %1, %2\n\tvmov %q0[3], %q0[1], %3, %4"
            : "=&w"(v)
            : "r"(a0), "r"(a2), "r"(a1), "r"(a3));
#else
    v = vdupq_n_s32(a0);
    v = vsetq_lane_s32(a1, v, 1);
    v = vsetq_lane_s32(a2, v, 2);
    v = vsetq_lane_s32(a3, v, 3);
#endif
    return v;
}

/**
 * Requantize the four accumulators of one quad (params: that quad's 16 values, see above), add the
 * output offset and clamp to [lo, hi]: the four int8 results in the low bytes of the lanes.
 * has_left is a constant at each use, so each caller gets the code of its case only.
 */
TG_INLINE int32x4_t tg_mve_requant_vec(int32x4_t acc, const int32_t *params, int32_t has_left, int32x4_t offset,
                                       int32x4_t lo, int32x4_t hi)
{
#if TG_SINGLE_ROUNDING
    (void)has_left;
    acc = tg_mve_lanes(tg_requantize(vgetq_lane_s32(acc, 0), params[4], params[8] + params[12]),
                       tg_requantize(vgetq_lane_s32(acc, 1), params[5], params[9] + params[13]),
                       tg_requantize(vgetq_lane_s32(acc, 2), params[6], params[10] + params[14]),
                       tg_requantize(vgetq_lane_s32(acc, 3), params[7], params[11] + params[15]));
#else
    const int32x4_t right = vldrwq_s32(params + 12);
    if (has_left)
    {
        acc = vshlq_s32(acc, vldrwq_s32(params + 8));
    }
    acc = vqrdmulhq_s32(acc, vldrwq_s32(params + 4));
    acc = vrshlq_s32(vqaddq_s32(acc, vshrq_n_s32(vandq_s32(acc, right), 31)), right);
#endif
    return vminq_s32(vmaxq_s32(vaddq_s32(acc, offset), lo), hi);
}

/*
 * tg_mve_requant_vec of two quads of accumulators sharing one quad's params (acc0: column 0, acc1: column
 * 1), stored with one scatter: the requantized lanes saturate to int16, interleaved (column 0 in the even
 * lanes, column 1 in the odd), and the output offset (saturating) and the clamp to [lo, hi] apply there,
 * eight lanes at once: exact, since a value that saturates is past the int8 bounds on the same side, and
 * stays so after adding an output offset in [-128, 127]. `interleave` = {0, out_c, 1, out_c + 1, ...}: the
 * bytes out[0..3] and out[out_c + 0..3]; pred: the lanes stored.
 */
TG_INLINE void tg_mve_requant_store_pair(int32x4_t acc0, int32x4_t acc1, const int32_t *params, int32_t has_left,
                                         int16_t out_offset, int16x8_t lo, int16x8_t hi, uint16x8_t interleave,
                                         int8_t *out, mve_pred16_t pred)
{
    int16x8_t n;
#if TG_SINGLE_ROUNDING
    (void)has_left;
    acc0 = tg_mve_lanes(tg_requantize(vgetq_lane_s32(acc0, 0), params[4], params[8] + params[12]),
                        tg_requantize(vgetq_lane_s32(acc0, 1), params[5], params[9] + params[13]),
                        tg_requantize(vgetq_lane_s32(acc0, 2), params[6], params[10] + params[14]),
                        tg_requantize(vgetq_lane_s32(acc0, 3), params[7], params[11] + params[15]));
    acc1 = tg_mve_lanes(tg_requantize(vgetq_lane_s32(acc1, 0), params[4], params[8] + params[12]),
                        tg_requantize(vgetq_lane_s32(acc1, 1), params[5], params[9] + params[13]),
                        tg_requantize(vgetq_lane_s32(acc1, 2), params[6], params[10] + params[14]),
                        tg_requantize(vgetq_lane_s32(acc1, 3), params[7], params[11] + params[15]));
#else
    const int32x4_t mult = vldrwq_s32(params + 4);
    const int32x4_t right = vldrwq_s32(params + 12);
    if (has_left)
    {
        const int32x4_t left = vldrwq_s32(params + 8);
        acc0 = vshlq_s32(acc0, left);
        acc1 = vshlq_s32(acc1, left);
    }
    acc0 = vqrdmulhq_s32(acc0, mult);
    acc1 = vqrdmulhq_s32(acc1, mult);
    acc0 = vrshlq_s32(vqaddq_s32(acc0, vshrq_n_s32(vandq_s32(acc0, right), 31)), right);
    acc1 = vrshlq_s32(vqaddq_s32(acc1, vshrq_n_s32(vandq_s32(acc1, right), 31)), right);
#endif
    n = vqmovntq_s32(vqmovnbq_s32(lo, acc0), acc1); /* (every lane of lo is replaced) */
    n = vminq_s16(vmaxq_s16(vqaddq_n_s16(n, out_offset), lo), hi);
    if (pred == 0xffffu)
    {
        vstrbq_scatter_offset_s16(out, interleave, n);
    }
    else
    {
        vstrbq_scatter_offset_p_s16(out, interleave, n, pred);
    }
}

/* tg_mve_requant_vec of the four scalar accumulators a0..a3 */
TG_INLINE int32x4_t tg_mve_requant_quad(int32_t a0, int32_t a1, int32_t a2, int32_t a3, const int32_t *params,
                                        int32_t has_left, int32x4_t offset, int32x4_t lo, int32x4_t hi)
{
    return tg_mve_requant_vec(tg_mve_lanes(a0, a1, a2, a3), params, has_left, offset, lo, hi);
}

/* The four accumulators of one quad: bias + the column (d16 / 16 steps) times the quad's weights. */
#define TG_MVE_QUAD_MACS(a0, a1, a2, a3, col, steps, w, params)                                              \
    do                                                                                                         \
    {                                                                                                          \
        const int8_t *x_ = (col);                                                                              \
        int32_t k_;                                                                                            \
        (a0) = (params)[0];                                                                                    \
        (a1) = (params)[1];                                                                                    \
        (a2) = (params)[2];                                                                                    \
        (a3) = (params)[3];                                                                                    \
        k_ = (steps);                                                                                          \
        TG_MVE_ASSUME(k_ >= 1); /* spares the loop set-up a clamp to one iteration */                         \
        do                                                                                                     \
        {                                                                                                      \
            const int8x16_t v_ = vldrbq_s8(x_);                                                                \
            const int8x16_t w1_ = vldrbq_s8((w) + 16);                                                         \
            const int8x16_t w2_ = vldrbq_s8((w) + 32);                                                         \
            const int8x16_t w3_ = vldrbq_s8((w) + 48);                                                         \
            const int8x16_t w0_ = vldrbq_s8(w); /* last: a post-incremented load */                           \
            (w) += 64;                                                                                         \
            x_ += 16;                                                                                          \
            (a0) = vmladavaq_s8((a0), v_, w0_);                                                                \
            (a1) = vmladavaq_s8((a1), v_, w1_);                                                                \
            (a2) = vmladavaq_s8((a2), v_, w2_);                                                                \
            (a3) = vmladavaq_s8((a3), v_, w3_);                                                                \
        } while (--k_ > 0);                                                                                    \
    } while (0)

/* tg_mve_gemm_column's loop over the quads, for one has_left case */
TG_INLINE void tg_mve_gemm_quads(const int8_t *col, int32_t steps, const int8_t *w, const int32_t *params,
                                 int32_t out_c, int32_t has_left, int32x4_t offset, int32x4_t lo, int32x4_t hi,
                                 int8_t *out)
{
    int32_t a0, a1, a2, a3;
    int32_t q;
    for (q = out_c >> 2; q > 0; --q)
    {
        TG_MVE_QUAD_MACS(a0, a1, a2, a3, col, steps, w, params);
        vstrbq_s32(out, tg_mve_requant_quad(a0, a1, a2, a3, params, has_left, offset, lo, hi));
        params += TG_MVE_QUAD_PARAMS;
        out += 4;
    }
    if ((out_c & 3) != 0) /* the last, partial quad */
    {
        TG_MVE_QUAD_MACS(a0, a1, a2, a3, col, steps, w, params);
        vstrbq_p_s32(out, tg_mve_requant_quad(a0, a1, a2, a3, params, has_left, offset, lo, hi),
                     vctp32q((uint32_t)(out_c & 3)));
    }
}

/*
 * One quad over two columns x0, x1 (steps >= 1 steps of 16): the eight sums bias + MACs, a0..a3 of x0 and
 * b0..b3 of x1; w advances past the quad's weights. Each step loads the four weight vectors once for both
 * columns: 16 instructions per 128 MACs (one column at a time, TG_MVE_QUAD_MACS: 10 per 64). On the target
 * (optimized builds) the loop is assembly: VMLADAVA accumulates in even registers only, and eight
 * accumulators take every even register, LR included, which GCC's allocator does not find from C; so the
 * loop counts with SUBS/BNE instead of LE, two steps per iteration after an odd one. Builds without
 * optimization or for size take the C loop (they may keep r7 for a frame pointer and leave the assembly
 * too few registers), as do builds defining TG_MVE_NO_ASM (for flags that do the same, e.g. GCC's
 * -O1 -fno-omit-frame-pointer: "'asm' operand has impossible constraints").
 */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && (defined(__GNUC__) || defined(__clang__)) &&         \
    defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__) && !defined(TG_MVE_NO_ASM)
/* one step of 16 for both columns (the loads interleaved with the products that wait on them) */
#define TG_MVE_PAIR_STEP                                                                                       \
    "vldrb.8 q0, [%[p0]], #16\n"                                                                              \
    "vldrb.8 q2, [%[w]], #16\n"                                                                               \
    "vldrb.8 q1, [%[p1]], #16\n"                                                                              \
    "vmladava.s8 %[a0], q0, q2\n"                                                                             \
    "vldrb.8 q3, [%[w]], #16\n"                                                                               \
    "vmladava.s8 %[b0], q1, q2\n"                                                                             \
    "vmladava.s8 %[a1], q0, q3\n"                                                                             \
    "vldrb.8 q2, [%[w]], #16\n"                                                                               \
    "vmladava.s8 %[b1], q1, q3\n"                                                                             \
    "vmladava.s8 %[a2], q0, q2\n"                                                                             \
    "vldrb.8 q3, [%[w]], #16\n"                                                                               \
    "vmladava.s8 %[b2], q1, q2\n"                                                                             \
    "vmladava.s8 %[a3], q0, q3\n"                                                                             \
    "vmladava.s8 %[b3], q1, q3\n"
#define TG_MVE_PAIR_MACS(a0, a1, a2, a3, b0, b1, b2, b3, x0, x1, steps, w, params)                                \
    do                                                                                                         \
    {                                                                                                          \
        register int32_t r0_ __asm__("r0") = (params)[0];                                                      \
        register int32_t r2_ __asm__("r2") = (params)[1];                                                      \
        register int32_t r4_ __asm__("r4") = (params)[2];                                                      \
        register int32_t r6_ __asm__("r6") = (params)[3];                                                      \
        register int32_t r8_ __asm__("r8") = r0_;                                                              \
        register int32_t r10_ __asm__("r10") = r2_;                                                            \
        register int32_t r12_ __asm__("r12") = r4_;                                                            \
        register int32_t r14_ __asm__("lr") = r6_;                                                             \
        const int8_t *p0_ = (x0);                                                                              \
        const int8_t *p1_ = (x1);                                                                              \
        int32_t k_ = (steps);                                                                                  \
        __asm__("lsrs %[k], %[k], #1\n" /* C: an odd step first; Z: no pair of steps */                    \
                "bcc 2f\n"                                                                                     \
                TG_MVE_PAIR_STEP "2: beq 3f\n"                                                                 \
                "1: " TG_MVE_PAIR_STEP TG_MVE_PAIR_STEP "subs %[k], %[k], #1\n"                                 \
                "bne 1b\n"                                                                                     \
                "3:"                                                                                           \
                : [a0] "+r"(r0_), [a1] "+r"(r2_), [a2] "+r"(r4_), [a3] "+r"(r6_), [b0] "+r"(r8_),                \
                  [b1] "+r"(r10_), [b2] "+r"(r12_), [b3] "+r"(r14_), [p0] "+r"(p0_), [p1] "+r"(p1_),            \
                  [w] "+r"(w), [k] "+r"(k_)                                                                    \
                :                                                                                              \
                : "q0", "q1", "q2", "q3", "cc", "memory");                                                     \
        (a0) = r0_;                                                                                            \
        (a1) = r2_;                                                                                            \
        (a2) = r4_;                                                                                            \
        (a3) = r6_;                                                                                            \
        (b0) = r8_;                                                                                            \
        (b1) = r10_;                                                                                           \
        (b2) = r12_;                                                                                           \
        (b3) = r14_;                                                                                           \
    } while (0)
#else
#define TG_MVE_PAIR_MACS(a0, a1, a2, a3, b0, b1, b2, b3, x0, x1, steps, w, params)                                \
    do                                                                                                         \
    {                                                                                                          \
        const int8_t *p0_ = (x0);                                                                              \
        const int8_t *p1_ = (x1);                                                                              \
        int32_t k_;                                                                                            \
        (a0) = (b0) = (params)[0];                                                                             \
        (a1) = (b1) = (params)[1];                                                                             \
        (a2) = (b2) = (params)[2];                                                                             \
        (a3) = (b3) = (params)[3];                                                                             \
        for (k_ = (steps); k_ > 0; --k_)                                                                       \
        {                                                                                                      \
            const int8x16_t u_ = vldrbq_s8(p0_);                                                               \
            const int8x16_t v_ = vldrbq_s8(p1_);                                                               \
            int8x16_t wv_ = vldrbq_s8(w);                                                                      \
            (a0) = vmladavaq_s8((a0), u_, wv_);                                                                \
            (b0) = vmladavaq_s8((b0), v_, wv_);                                                                \
            wv_ = vldrbq_s8((w) + 16);                                                                         \
            (a1) = vmladavaq_s8((a1), u_, wv_);                                                                \
            (b1) = vmladavaq_s8((b1), v_, wv_);                                                                \
            wv_ = vldrbq_s8((w) + 32);                                                                         \
            (a2) = vmladavaq_s8((a2), u_, wv_);                                                                \
            (b2) = vmladavaq_s8((b2), v_, wv_);                                                                \
            wv_ = vldrbq_s8((w) + 48);                                                                         \
            (a3) = vmladavaq_s8((a3), u_, wv_);                                                                \
            (b3) = vmladavaq_s8((b3), v_, wv_);                                                                \
            (w) += 64;                                                                                         \
            p0_ += 16;                                                                                         \
            p1_ += 16;                                                                                         \
        }                                                                                                      \
    } while (0)
#endif

/* tg_mve_gemm_quads for two columns x0, x1: outputs out[0..out_c) and out[out_c..2 * out_c) (the
   interleave of tg_mve_requant_store_pair) */
TG_INLINE void tg_mve_gemm_quads_pair(const int8_t *x0, const int8_t *x1, int32_t steps, const int8_t *w,
                                      const int32_t *params, int32_t out_c, int32_t has_left, int16_t out_offset,
                                      int16x8_t lo, int16x8_t hi, uint16x8_t interleave, int8_t *out)
{
    int32_t a0, a1, a2, a3, b0, b1, b2, b3;
    int32_t q;
    for (q = out_c >> 2; q > 0; --q)
    {
        TG_MVE_PAIR_MACS(a0, a1, a2, a3, b0, b1, b2, b3, x0, x1, steps, w, params);
        tg_mve_requant_store_pair(tg_mve_lanes(a0, a1, a2, a3), tg_mve_lanes(b0, b1, b2, b3), params, has_left,
                                  out_offset, lo, hi, interleave, out, 0xffffu);
        params += TG_MVE_QUAD_PARAMS;
        out += 4;
    }
    if ((out_c & 3) != 0) /* the last, partial quad */
    {
        TG_MVE_PAIR_MACS(a0, a1, a2, a3, b0, b1, b2, b3, x0, x1, steps, w, params);
        tg_mve_requant_store_pair(tg_mve_lanes(a0, a1, a2, a3), tg_mve_lanes(b0, b1, b2, b3), params, has_left,
                                  out_offset, lo, hi, interleave, out, vctp16q(2u * (uint32_t)(out_c & 3)));
    }
}

/**
 * The GEMM of `count` columns (output pixels or batch rows) `stride` bytes apart, each of d16 readable
 * values: out[j * out_c + 0..out_c) for column j, from the quad-layout weights and quad params (see
 * the top of this file). Columns in pairs (each weight vector serves two columns), an odd last one
 * alone. Not inlined: its registers then serve the quad loop alone.
 */
static TG_MVE_NOINLINE void tg_mve_gemm_columns(const int8_t *cols, int32_t stride, int32_t count, int32_t d16,
                                                const int8_t *weights, const int32_t *params, int32_t out_c,
                                                int32_t has_left, int32_t out_offset, int32_t act_min,
                                                int32_t act_max, int8_t *out)
{
    const int32x4_t offset = vdupq_n_s32(out_offset);
    const int32x4_t lo = vdupq_n_s32(act_min);
    const int32x4_t hi = vdupq_n_s32(act_max);
    const int32_t steps = d16 >> 4;
    const int16x8_t lo16 = vdupq_n_s16((int16_t)act_min);
    const int16x8_t hi16 = vdupq_n_s16((int16_t)act_max);
    const uint16_t lanes[8] = {0u, (uint16_t)out_c, 1u, (uint16_t)(out_c + 1), 2u, (uint16_t)(out_c + 2), 3u,
                               (uint16_t)(out_c + 3)};
    const uint16x8_t interleave = vldrhq_u16(lanes);
    for (; count > 1; count -= 2)
    {
        if (has_left)
        {
            tg_mve_gemm_quads_pair(cols, cols + stride, steps, weights, params, out_c, 1, (int16_t)out_offset, lo16,
                                   hi16, interleave, out);
        }
        else
        {
            tg_mve_gemm_quads_pair(cols, cols + stride, steps, weights, params, out_c, 0, (int16_t)out_offset, lo16,
                                   hi16, interleave, out);
        }
        cols += 2 * stride;
        out += 2 * out_c;
    }
    if (count > 0) /* an odd last column */
    {
        if (has_left)
        {
            tg_mve_gemm_quads(cols, steps, weights, params, out_c, 1, offset, lo, hi, out);
        }
        else
        {
            tg_mve_gemm_quads(cols, steps, weights, params, out_c, 0, offset, lo, hi, out);
        }
    }
}

#endif /* TG_MVE_S8_H */
