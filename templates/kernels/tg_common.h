/*
 * tinygen common fixed-point helpers (header-only, C99).
 *
 * The integer arithmetic of TFLite Micro's reference kernels, exactly:
 *   tg_requantize(x, multiplier, shift) = MultiplyByQuantizedMultiplier(x, multiplier, shift)
 * with TFLite Micro's default "double rounding" (saturating rounding doubling high multiply,
 * then rounding divide by a power of two), or, when TG_SINGLE_ROUNDING is defined to 1, the
 * TFLITE_SINGLE_ROUNDING variant (one 64-bit multiply, one rounding shift).
 *
 * Conventions: `multiplier` is a Q0.31 value in [2^30, 2^31) (or 0); `shift` > 0 shifts left,
 * < 0 shifts right (TFLite's convention). Left shifts of negative values are done on unsigned
 * values so the C code has no undefined behaviour while computing what TFLite computes.
 */
#ifndef TG_COMMON_H
#define TG_COMMON_H

#include <stdint.h>

#ifndef TG_SINGLE_ROUNDING
#define TG_SINGLE_ROUNDING 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TG_INLINE static inline __attribute__((always_inline))
#else
#define TG_INLINE static inline
#endif

/*
 * TG_VARIANT(NAME): whether the kernel specialisation NAME is compiled (`#if TG_VARIANT(NAME)`). A library's
 * config header selects the specialisations its calls run (TG_SELECTED_VARIANTS, TG_VARIANT_<NAME>: see
 * KernelCall.variants in tinygen/lowering/base.py); without it every specialisation is compiled.
 */
#ifndef TG_SELECTED_VARIANTS
#define TG_SELECTED_VARIANTS 0
#endif
#define TG_VARIANT(name) (!TG_SELECTED_VARIANTS || TG_VARIANT_##name)

/* TG_TRACE_VARIANT(NAME): a test hook run where a kernel takes specialisation NAME (tests/test_variants_*.py
   define it to record the names, proving each lowering's mirror of its kernel's dispatch; nothing otherwise) */
#ifndef TG_TRACE_VARIANT
#define TG_TRACE_VARIANT(name) ((void)0)
#endif

/*
 * TG_UNREACHABLE(): stop here, loudly and for good. A kernel's dispatch over its specialisations (TG_VARIANT)
 * ends in a path that always computes (a general copy, compiled in every library) or in TG_UNREACHABLE(): the
 * path a call takes only when its library lacks the specialisation it needs, i.e. when a lowering's Python
 * mirror of the dispatch and the C dispatch disagree (a tinygen bug), where the kernel must not return with its
 * output unwritten. GCC and clang emit a trap instruction (UDF on Arm: a HardFault on Cortex-M; SIGILL or
 * SIGTRAP in a host process), other compilers an endless loop (where a debugger finds it). It belongs only on
 * such paths, never on one a call runs; where the dispatch already makes its path dead (the last compiled
 * copy's test is the constant 1), the compiler drops it and the library's code does not change.
 */
#if defined(__GNUC__) || defined(__clang__)
#define TG_UNREACHABLE() __builtin_trap()
#else
#define TG_UNREACHABLE()                                                                                       \
    do                                                                                                         \
    {                                                                                                          \
        for (;;)                                                                                               \
        {                                                                                                      \
        }                                                                                                      \
    } while (0)
#endif

#define TG_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TG_CLAMP(x, lo, hi) TG_MAX((lo), TG_MIN((x), (hi)))

/* x * 2^n with two's-complement wrap-around (what TFLite's int32 `x * (1 << n)` computes). */
TG_INLINE int32_t tg_shl(int32_t x, int n)
{
    return (int32_t)((uint32_t)x << n);
}

/* gemmlowp's SaturatingRoundingDoublingHighMul. */
TG_INLINE int32_t tg_doubling_high_mult(int32_t a, int32_t b)
{
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : (1 - (INT64_C(1) << 30));
    if (a == INT32_MIN && b == INT32_MIN)
    {
        return INT32_MAX;
    }
    /* Division (not a shift): rounds toward zero, as gemmlowp does. */
    return (int32_t)((ab + nudge) / (INT64_C(1) << 31));
}

/* gemmlowp's RoundingDivideByPOT: x / 2^exponent, rounding half away from zero. */
TG_INLINE int32_t tg_divide_by_pot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)((UINT32_C(1) << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite's MultiplyByQuantizedMultiplier. */
TG_INLINE int32_t tg_requantize(int32_t x, int32_t multiplier, int32_t shift)
{
#if TG_SINGLE_ROUNDING
    const int total_shift = 31 - shift;
    const int64_t rounded = (int64_t)x * (int64_t)multiplier + (INT64_C(1) << (total_shift - 1));
    return (int32_t)(rounded >> total_shift);
#else
    const int left_shift = shift > 0 ? shift : 0;
    const int right_shift = shift > 0 ? 0 : -shift;
    return tg_divide_by_pot(tg_doubling_high_mult(tg_shl(x, left_shift), multiplier), right_shift);
#endif
}

TG_INLINE int8_t tg_sat_s8(int32_t x)
{
    return (int8_t)TG_CLAMP(x, -128, 127);
}

TG_INLINE uint8_t tg_sat_u8(int32_t x)
{
    return (uint8_t)TG_CLAMP(x, 0, 255);
}

#endif /* TG_COMMON_H */
