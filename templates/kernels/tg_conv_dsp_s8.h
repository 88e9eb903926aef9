/*
 * tg_conv_dsp_s8.h: header-only DSP helpers of the MAC kernels (conv, depthwise, fully connected).
 *
 * TG_DSP is 1 when the target has the DSP extension (__ARM_FEATURE_DSP: SXTB16, SMLAD), or on a
 * host when TG_DSP_EMULATE is defined: then C stand-ins execute the same DSP code paths, so host
 * tests check them bit for bit. Otherwise TG_DSP is 0 and the kernels use their portable C99 path.
 *
 * Columns (int16 copies of int8 activations used by tg_conv_gemm_s8): on the DSP path every
 * complete group of four values a0 a1 a2 a3 is stored as a0 a2 a1 a3, so that SXTB16 of four weight
 * bytes w0 w1 w2 w3 gives (w0, w2), SXTB16 of the bytes rotated by 8 gives (w1, w3), and two SMLADs
 * add a0*w0 + a2*w2 + a1*w1 + a3*w3. Weights keep TFLite's layout on both paths.
 */
#ifndef TG_CONV_DSP_S8_H
#define TG_CONV_DSP_S8_H

#include <stdint.h>
#include <string.h>

#include "tg_common.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#define TG_DSP 1
TG_INLINE int32_t tg_sxtb16(uint32_t x)
{
    return __sxtb16((int32_t)x);
}
/* SXTB16 with its free rotation (ACLE has no intrinsic for the rotated form) */
TG_INLINE int32_t tg_sxtb16_ror8(uint32_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
#else
    return __sxtb16((int32_t)((x >> 8) | (x << 24)));
#endif
}
TG_INLINE int32_t tg_smlad(int32_t a, int32_t b, int32_t acc)
{
    return __smlad(a, b, acc);
}
TG_INLINE int32_t tg_smlabb(int32_t a, int32_t b, int32_t acc)
{
    return __smlabb(a, b, acc);
}
TG_INLINE int32_t tg_smlatt(int32_t a, int32_t b, int32_t acc)
{
    return __smlatt(a, b, acc);
}
TG_INLINE int32_t tg_smlabt(int32_t a, int32_t b, int32_t acc)
{
    return __smlabt(a, b, acc);
}
TG_INLINE int32_t tg_smlatb(int32_t a, int32_t b, int32_t acc)
{
    return __smlatb(a, b, acc);
}
#elif defined(TG_DSP_EMULATE)
/* C stand-ins for SXTB16, SMLAD, SMLABB and SMLATT, to test the DSP paths bit for bit on a host. */
#define TG_DSP 1
TG_INLINE int32_t tg_sxtb16(uint32_t x)
{
    const uint32_t lo = (uint32_t)(uint16_t)(int16_t)(int8_t)(x & 0xffu);
    const uint32_t hi = (uint32_t)(uint16_t)(int16_t)(int8_t)((x >> 16) & 0xffu);
    return (int32_t)(lo | (hi << 16));
}
TG_INLINE int32_t tg_smlad(int32_t a, int32_t b, int32_t acc)
{
    const int32_t lo = (int32_t)(int16_t)((uint32_t)a & 0xffffu) * (int32_t)(int16_t)((uint32_t)b & 0xffffu);
    const int32_t hi = (int32_t)(int16_t)((uint32_t)a >> 16) * (int32_t)(int16_t)((uint32_t)b >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)lo + (uint32_t)hi);
}
TG_INLINE int32_t tg_smlabb(int32_t a, int32_t b, int32_t acc)
{
    const int32_t p = (int32_t)(int16_t)((uint32_t)a & 0xffffu) * (int32_t)(int16_t)((uint32_t)b & 0xffffu);
    return (int32_t)((uint32_t)acc + (uint32_t)p);
}
TG_INLINE int32_t tg_smlatt(int32_t a, int32_t b, int32_t acc)
{
    const int32_t p = (int32_t)(int16_t)((uint32_t)a >> 16) * (int32_t)(int16_t)((uint32_t)b >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)p);
}
TG_INLINE int32_t tg_smlabt(int32_t a, int32_t b, int32_t acc)
{
    const int32_t p = (int32_t)(int16_t)((uint32_t)a & 0xffffu) * (int32_t)(int16_t)((uint32_t)b >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)p);
}
TG_INLINE int32_t tg_smlatb(int32_t a, int32_t b, int32_t acc)
{
    return tg_smlabt(b, a, acc);
}
#else
#define TG_DSP 0
#endif

#if TG_DSP
TG_INLINE uint32_t tg_ror8(uint32_t x)
{
    return (x >> 8) | (x << 24);
}
#if !defined(__ARM_FEATURE_DSP)
TG_INLINE int32_t tg_sxtb16_ror8(uint32_t x)
{
    return tg_sxtb16(tg_ror8(x));
}
#endif
/* int16 pairs: PKHBT a, b, LSL #16 = a's low half below b's low half (bytes a0 a1 b0 b1); PKHTB b, a, ASR #16 =
   a's high half below b's high half (bytes a2 a3 b2 b3). One instruction each (no ACLE intrinsics; GCC makes two
   of the C forms). */
TG_INLINE uint32_t tg_pkhbt(uint32_t a, uint32_t b)
{
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (a & 0xffffu) | (b << 16);
#endif
}
TG_INLINE uint32_t tg_pkhtb(uint32_t b, uint32_t a)
{
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
    return r;
#else
    return (b & 0xffff0000u) | (a >> 16);
#endif
}
/* both of a and b at once: *lo = PKHBT a, b; *hi = PKHTB b, a (one asm statement: the registers GCC gives it differ
   from those of the two above, which matters in tight loops) */
TG_INLINE void tg_pkh_both(uint32_t a, uint32_t b, uint32_t *lo, uint32_t *hi)
{
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
    __asm__("pkhbt %0, %2, %3, lsl #16\n\tpkhtb %1, %3, %2, asr #16" : "=&r"(*lo), "=r"(*hi) : "r"(a), "r"(b));
#else
    *lo = (a & 0xffffu) | (b << 16);
    *hi = (b & 0xffff0000u) | (a >> 16);
#endif
}
/* SXTAB16: bytes 0 and 2 of x sign-extended, plus the int16 lanes of a (e.g. a packed input offset, for free) */
TG_INLINE int32_t tg_sxtab16(uint32_t a, uint32_t x)
{
#if defined(__ARM_FEATURE_DSP)
    return __sxtab16((int32_t)a, (int32_t)x);
#else
    const uint32_t s = (uint32_t)tg_sxtb16(x);
    return (int32_t)(((a + s) & 0xffffu) | (((a >> 16) + (s >> 16)) << 16));
#endif
}
/* the same for bytes 1 and 3 (SXTAB16 with its free rotation) */
TG_INLINE int32_t tg_sxtab16_ror8(uint32_t a, uint32_t x)
{
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
#else
    return tg_sxtab16(a, tg_ror8(x));
#endif
}
/* SMMLAR: acc + ((a * b + 2^31) >> 32), no ACLE intrinsic */
TG_INLINE int32_t tg_smmlar(int32_t a, int32_t b, int32_t acc)
{
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
#else
    return acc + (int32_t)(((int64_t)a * b + (INT64_C(1) << 31)) >> 32);
#endif
}
/* SMMLA: acc + ((a * b) >> 32) (the floor of the high word), no ACLE intrinsic */
TG_INLINE int32_t tg_smmla(int32_t a, int32_t b, int32_t acc)
{
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
#else
    return acc + (int32_t)(((int64_t)a * b) >> 32);
#endif
}

/*
 * The depthwise kernels' fast requantization before its right shift r (>= 1): of a2 = 2 * acc (exact within
 * the bounds tinygen.lowering.depthwise_ops.fast_requantization checks), multiplier m >= 0 and
 * rnd = 2^(r-1) + output_offset * 2^r, out = tg_dw_rq_fast(a2, m, rnd) >> r.
 * Double rounding: SMMULR(a2, m) = (acc * m + 2^30) >> 31, then RoundingDivideByPOT (half away from zero)
 * needs -1 for a negative value; the sign of a2 stands for it (they differ only when the value is 0, and
 * then (rnd - 1) >> r = rnd >> r). `sign` 0 leaves the correction out (exact wherever the negative values
 * are clamped away: act_min >= output_offset).
 * Single rounding: SMMUL(a2, m) = floor(acc * m / 2^31), and floor((floor(acc * m / 2^31) + 2^(r-1)) / 2^r)
 * = floor((acc * m + 2^(30+r)) / 2^(31+r)), TFLite's single rounding, with no correction: one SMMLA.
 */
TG_INLINE int32_t tg_dw_rq_fast(int32_t a2, int32_t m, int32_t rnd, int sign)
{
#if TG_SINGLE_ROUNDING
    (void)sign;
    return tg_smmla(a2, m, rnd);
#else
    return tg_smmlar(a2, m, sign ? rnd + (a2 >> 31) : rnd);
#endif
}
TG_INLINE uint32_t tg_load32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* one (unaligned) LDR on Cortex-M4/M7 */
    return v;
}
/* lo, hi = the 32-bit words at byte offset `off` (a literal) and off + 4 of p, p + off 4-byte aligned:
   one LDRD (GCC does not pair the two loads on Thumb-2 by itself) */
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
#define TG_LDRD(lo, hi, p, off)                                                                                \
    __asm__("ldrd %0, %1, [%2, #" #off "]"                                                                     \
            : "=&r"(lo), "=&r"(hi)                                                                              \
            : "r"(p), "m"(*(const char(*)[(off) + 8])(const void *)(p)))
#else
#define TG_LDRD(lo, hi, p, off)                                                                                \
    do                                                                                                         \
    {                                                                                                          \
        (lo) = tg_load32((const char *)(p) + (off));                                                           \
        (hi) = tg_load32((const char *)(p) + (off) + 4);                                                       \
    } while (0)
#endif
/* lo, hi = the 32-bit words at byte offset `off` and off + 4 of the int8 pointer p, any alignment */
#define TG_LDR2(lo, hi, p, off)                                                                                \
    do                                                                                                         \
    {                                                                                                          \
        (lo) = tg_load32((p) + (off));                                                                         \
        (hi) = tg_load32((p) + (off) + 4);                                                                     \
    } while (0)
TG_INLINE void tg_store32(void *p, int32_t v)
{
    memcpy(p, &v, sizeof v);
}
/* the four int8 lanes of v clamped to lo4's lanes .. hi4's lanes (lo <= hi lane by lane): SSUB8 sets the GE
   flags of v - lo, SEL keeps v or takes lo (max), then the same against hi (min) */
TG_INLINE uint32_t tg_clamp_s8x4(uint32_t v, uint32_t lo4, uint32_t hi4)
{
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
    uint32_t t;
    __asm__("ssub8 %1, %0, %2\n\tsel %0, %0, %2\n\tssub8 %1, %0, %3\n\tsel %0, %3, %0"
            : "+r"(v), "=&r"(t)
            : "r"(lo4), "r"(hi4)
            : "cc");
    return v;
#else
    uint32_t r = 0u;
    int32_t i;
    for (i = 0; i < 32; i += 8)
    {
        const int32_t x = (int8_t)(v >> i), lo = (int8_t)(lo4 >> i), hi = (int8_t)(hi4 >> i);
        r |= (uint32_t)(uint8_t)(int8_t)TG_CLAMP(x, lo, hi) << i;
    }
    return r;
#endif
}
#endif

/**
 * TFLite's MultiplyByQuantizedMultiplier (tg_requantize) for the multipliers of the MAC kernels,
 * which are never negative, in fewer instructions. With double rounding: the doubling high
 * multiply cannot saturate (multiplier != INT32_MIN), and its "nudge by +-2^30, then divide by 2^31
 * truncating" equals "add 2^30, then shift right by 31 (floor)" for either sign of the product
 * (the identity CMSIS-NN uses), so one 64-bit multiply-accumulate and a shift replace the branches.
 * Bit-exact with tg_requantize for multiplier >= 0 (checked by tests/test_kernels_mac.py).
 */
TG_INLINE int32_t tg_requantize_mac(int32_t x, int32_t multiplier, int32_t shift)
{
#if TG_SINGLE_ROUNDING
    return tg_requantize(x, multiplier, shift);
#else
    const int left = shift > 0 ? (int)shift : 0;
    const int right = shift > 0 ? 0 : (int)-shift;
    const int64_t ab = (int64_t)tg_shl(x, left) * (int64_t)multiplier + (INT64_C(1) << 30);
    return tg_divide_by_pot((int32_t)(ab >> 31), right);
#endif
}

/**
 * Copy n int8 values that start at position `start` of a column of `depth` values into the int16
 * column `col`, in the DSP layout described above (natural order on the portable path).
 */
TG_INLINE void tg_conv_expand_s8(const int8_t *src, int16_t *col, int32_t start, int32_t n, int32_t depth)
{
    int32_t k = start;
    const int32_t end = start + n;
#if TG_DSP
    const int32_t groups_end = depth & ~3;
    const int32_t fast_end = TG_MIN(end, groups_end);
    /* slot of value k: within a complete group, 1 and 2 swap places */
    for (; k < end && (k & 3) != 0; ++k)
    {
        col[(k < groups_end && ((k & 3) == 1 || (k & 3) == 2)) ? (k ^ 3) : k] = *src++;
    }
    for (; k + 4 <= fast_end; k += 4)
    {
        const uint32_t x = tg_load32(src);
        tg_store32(&col[k], tg_sxtb16(x));
        tg_store32(&col[k + 2], tg_sxtb16_ror8(x));
        src += 4;
    }
    for (; k < end; ++k)
    {
        col[(k < groups_end && ((k & 3) == 1 || (k & 3) == 2)) ? (k ^ 3) : k] = *src++;
    }
#else
    (void)depth;
    for (; k < end; ++k)
    {
        col[k] = *src++;
    }
#endif
}

/** Fill the values start..start+n-1 of an int16 column of `depth` values with `value` (a pad). */
TG_INLINE void tg_conv_fill_s8(int16_t *col, int32_t start, int32_t n, int32_t value, int32_t depth)
{
    int32_t k;
#if TG_DSP
    const int32_t groups_end = depth & ~3;
    for (k = start; k < start + n; ++k)
    {
        const int32_t slot = (k < groups_end && ((k & 3) == 1 || (k & 3) == 2)) ? (k ^ 3) : k;
        col[slot] = (int16_t)value;
    }
#else
    (void)depth;
    for (k = start; k < start + n; ++k)
    {
        col[k] = (int16_t)value;
    }
#endif
}

/* int8 saturation to -128..127 (one SSAT on the DSP path) */
TG_INLINE int32_t tg_rq_sat8(int32_t v)
{
#if defined(__ARM_FEATURE_DSP)
    /* the builtin behind ACLE's __ssat macro, whose expansion trips -Wsign-conversion */
    return (int32_t)__builtin_arm_ssat((int)v, 8);
#else
    return TG_CLAMP(v, -128, 127);
#endif
}

/* the input pixel of output pixel q (raster order) of a pointwise (1x1, unpadded) convolution with these strides */
TG_INLINE const int8_t *tg_pointwise_pixel(const int8_t *image, int32_t q, int32_t in_w, int32_t in_c, int32_t out_w,
                                           int32_t stride_h, int32_t stride_w)
{
    const int32_t oy = q / out_w;
    const int32_t ox = q - oy * out_w;
    return image + (oy * stride_h * in_w + ox * stride_w) * in_c;
}

#endif /* TG_CONV_DSP_S8_H */
