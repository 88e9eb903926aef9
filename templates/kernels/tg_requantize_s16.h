/* tinygen requantization to int16: the element arithmetic of the QUANTIZE kernels into int16. */
#ifndef TG_REQUANTIZE_S16_H
#define TG_REQUANTIZE_S16_H

#include <stdint.h>

#include "tg_common.h"
#include "tg_conv_dsp_s8.h"
#include "tg_fixedpoint.h"

/* clamp(output_zp + requantize(x - input_zp, multiplier, shift)) to int16 (TFLite's Requantize) */
TG_INLINE int16_t tg_requantize_s16(int32_t x, int32_t input_zp, int32_t multiplier, int32_t shift, int32_t output_zp)
{
    const int32_t v = output_zp + tg_requantize_nonneg(x - input_zp, multiplier, shift);
    return (int16_t)TG_CLAMP(v, -32768, 32767);
}

/* TFLite's MultiplyByQuantizedMultiplier(int64_t x, int32_t multiplier, int shift) (the same in both rounding modes):
   the multiplier rounded to Q0.15, one rounding right shift by 15 - shift. TFLite's preconditions, which the
   lowerings check: |x| < 2^47, shift <= 7. */
TG_INLINE int32_t tg_requantize_s64(int64_t x, int32_t multiplier, int32_t shift)
{
    const int64_t reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
    const int total_shift = 15 - (int)shift;
    const int64_t rounded = x * reduced + (INT64_C(1) << (total_shift - 1));
    return (int32_t)(uint32_t)(uint64_t)(rounded >> total_shift);
}

/* The int16 output of a 16x8 MAC layer (TFLite's 16x8 CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) from its exact
   sum `acc` (bias included): `wide` 1, TFLite's int64 accumulator and requantization (tg_requantize_s64); `wide` 0,
   its int32 accumulator (the sum wrapped to int32) and tg_requantize; then plus output_offset, clamped to
   act_min..act_max (within the int16 range). */
TG_INLINE int16_t tg_requantize_acc_s16(int64_t acc, int32_t wide, int32_t multiplier, int32_t shift,
                                        int32_t output_offset, int32_t act_min, int32_t act_max)
{
    const int64_t v = (wide ? tg_requantize_s64(acc, multiplier, shift)
                            : tg_requantize((int32_t)(uint32_t)(uint64_t)acc, multiplier, shift)) +
                      (int64_t)output_offset;
    return (int16_t)TG_CLAMP(v, (int64_t)act_min, (int64_t)act_max);
}

/* tg_requantize_s64 in one multiply where it applies: for |x| < 2^31 and a total shift t = 15 - shift in 17..32,
   (x * reduced + 2^(t-1)) >> t = (x * (reduced << (32 - t)) + 2^31) >> 32 exactly (numerator and denominator
   scaled by 2^(32-t)): SMMULR of x and the pre-shifted multiplier `fast_multiplier` = reduced << (32 - t) < 2^30
   (tinygen.ops.conv_common.fast_requant_16x8 computes it and checks both conditions). */
TG_INLINE int32_t tg_requantize_s64_fast(int32_t x, int32_t fast_multiplier)
{
#if TG_DSP
    return tg_smmlar(x, fast_multiplier, 0);
#else
    return (int32_t)(((int64_t)x * fast_multiplier + (INT64_C(1) << 31)) >> 32);
#endif
}

/* act_min..act_max in both int16 halves of a word, for tg_requantize_s64_fast_x2 */
TG_INLINE uint32_t tg_s16x2(int32_t v)
{
    return (uint32_t)(uint16_t)v | ((uint32_t)(uint16_t)v << 16);
}

/* Two outputs of the fast form (sums sa, sb with multipliers ma, mb) as the bytes of two adjacent int16 values (sa's
   first), each clamped to act_min..act_max given in both halves of lo2 and hi2 (tg_s16x2): on the DSP path each
   result saturated to int16 (SSAT), packed (PKHBT) and both clamped at once (SSUB16 + SEL, twice). */
TG_INLINE uint32_t tg_requantize_s64_fast_x2(int32_t sa, int32_t ma, int32_t sb, int32_t mb, uint32_t lo2,
                                             uint32_t hi2)
{
#if defined(__ARM_FEATURE_DSP) && (defined(__GNUC__) || defined(__clang__))
    /* the builtin behind ACLE's __ssat macro, whose expansion trips -Wsign-conversion */
    const int32_t a = (int32_t)__builtin_arm_ssat((int)tg_requantize_s64_fast(sa, ma), 16);
    const int32_t b = (int32_t)__builtin_arm_ssat((int)tg_requantize_s64_fast(sb, mb), 16);
    uint32_t v = (uint32_t)(uint16_t)a | ((uint32_t)b << 16), t;
    __asm__("ssub16 %1, %0, %2\n\tsel %0, %0, %2\n\tssub16 %1, %0, %3\n\tsel %0, %3, %0"
            : "+r"(v), "=&r"(t)
            : "r"(lo2), "r"(hi2)
            : "cc");
    return v;
#else
    const int32_t lo = (int16_t)(lo2 & 0xffffu), hi = (int16_t)(hi2 & 0xffffu);
    const int32_t a = TG_CLAMP(tg_requantize_s64_fast(sa, ma), lo, hi);
    const int32_t b = TG_CLAMP(tg_requantize_s64_fast(sb, mb), lo, hi);
    return (uint32_t)(uint16_t)a | ((uint32_t)(uint16_t)b << 16);
#endif
}

#endif /* TG_REQUANTIZE_S16_H */
