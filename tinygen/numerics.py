"""The integer arithmetic of TFLite Micro's reference kernels, in numpy (the one Python home of it).

Everything here computes exactly what the C++ computes, bit for bit:

* ``quantize_multiplier`` is TFLite's ``QuantizeMultiplier`` (quantization_util.cc).
* ``multiply_by_quantized_multiplier`` is ``MultiplyByQuantizedMultiplier`` (common.h), both the
  default "double rounding" and the ``TFLITE_SINGLE_ROUNDING`` variant; templates/kernels/tg_common.h
  is its C twin (``tg_requantize``).
* The softmax helpers are gemmlowp's fixed-point ``exp_on_negative_values`` and
  ``one_over_one_plus_x_for_x_in_0_1`` and TFLite's ``GetReciprocal``, as TFLite Micro's int8 softmax
  (reference_ops::Softmax) uses them.

Arrays are int64 internally; int32 wrap-around (``wrap_int32``) and saturation are applied exactly
where the C++ has an int32 result, so intermediate overflow behaves as on the device.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

Rounding = Literal["double", "single"]
ROUNDINGS: tuple[str, ...] = ("double", "single")

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def check_rounding(rounding: str) -> None:
    from tinygen.errors import TinygenError

    if rounding not in ROUNDINGS:
        raise TinygenError(f"unknown rounding {rounding!r}: use 'double' (TFLite's default) or 'single'")


def wrap_int32(x: np.ndarray | int) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32 range (what a C int32 store does)."""
    v = np.asarray(x, dtype=np.int64)
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def round_half_away(x: np.ndarray | float) -> np.ndarray:
    """std::round / roundf on float64 values: ties away from zero, exact for every double."""
    v = np.asarray(x, dtype=np.float64)
    whole = np.trunc(v)
    frac = v - whole  # exact in binary floating point
    return whole + np.where(np.abs(frac) >= 0.5, np.sign(v), 0.0)


def float_to_int32_x86(x: np.ndarray) -> np.ndarray:
    """static_cast<int32_t>(double) as x86-64 does it: truncation; NaN/out of range -> INT32_MIN.

    The conversion is undefined behaviour in C++; TFLite Micro's Python oracle runs on x86, whose
    cvttsd2si returns 0x80000000 for those values. Only reachable with absurd inputs.
    """
    v = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(v) & (v > INT32_MIN - 1.0) & (v < INT32_MAX + 1.0)
    return np.where(ok, np.trunc(np.where(ok, v, 0.0)), INT32_MIN).astype(np.int64)


def affine_quantize(x: np.ndarray, scale: float, zero_point: int, qmin: int = -128, qmax: int = 127) -> np.ndarray:
    """TFLite's AffineQuantize (QUANTIZE float32 -> int): ``clamp(static_cast<int32>(roundf(x / scale)) +
    zero_point)`` with a float32 division, round half away from zero, the x86 conversion of values beyond
    int32 (INT32_MIN) and int32 wrap-around of the zero point's addition. int64 result in ``[qmin, qmax]``."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        quotient = np.asarray(x, dtype=np.float32) / np.float32(scale)
        q = float_to_int32_x86(round_half_away(quotient.astype(np.float64)))
    return np.clip(wrap_int32(q + int(zero_point)), qmin, qmax)


# --------------------------------------------------------------------------- multipliers


def quantize_multiplier(real: float, rounding: Rounding = "double") -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: ``real ~= multiplier * 2^(shift - 31)``, multiplier in [2^30, 2^31).

    Returns (multiplier, shift) with TFLite's sign convention (shift > 0 shifts left). Corner cases
    as in the C++: 0 -> (0, 0); a significand that rounds up to 2^31 is halved and the shift
    incremented; shift < -31 -> (0, 0); with single rounding, shift > 30 saturates to
    (2^31 - 1, 30).
    """
    real = float(real)
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(round_half_away(q * float(1 << 31)))
    if q_fixed > (1 << 31):
        raise ValueError(f"quantize_multiplier({real!r}): significand out of range")
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if q_fixed > INT32_MAX:
        raise ValueError(f"quantize_multiplier({real!r}): significand out of range")
    if shift < -31:
        shift, q_fixed = 0, 0
    if rounding == "single" and shift > 30:
        shift, q_fixed = 30, INT32_MAX
    return q_fixed, shift


def quantize_multiplier_array(reals: np.ndarray, rounding: Rounding = "double") -> tuple[np.ndarray, np.ndarray]:
    """quantize_multiplier over an array of float64 reals: (int32 multipliers, int32 shifts)."""
    pairs = [quantize_multiplier(float(r), rounding) for r in np.asarray(reals, dtype=np.float64).ravel()]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    return mult, shift


def quantize_multiplier_smaller_than_one(real: float, rounding: Rounding = "double") -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: requires 0 < real < 1, returns shift <= 0."""
    if not 0.0 < real < 1.0:
        raise ValueError(f"multiplier {real!r} is not in (0, 1)")
    mult, shift = quantize_multiplier(real, rounding)
    if shift > 0:
        raise ValueError(f"multiplier {real!r} gave a positive shift")
    return mult, shift


def quantize_multiplier_greater_than_one(real: float, rounding: Rounding = "double") -> tuple[int, int]:
    """QuantizeMultiplierGreaterThanOne: requires real > 1, returns shift >= 0."""
    if not real > 1.0:
        raise ValueError(f"multiplier {real!r} is not greater than one")
    mult, shift = quantize_multiplier(real, rounding)
    if shift < 0:
        raise ValueError(f"multiplier {real!r} gave a negative shift")
    return mult, shift


# --------------------------------------------------------------------------- fixed point core


def saturating_rounding_doubling_high_mul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int32 values (as int64 arrays)."""
    a64 = np.asarray(a, dtype=np.int64)
    b64 = np.asarray(b, dtype=np.int64)
    ab = a64 * b64  # |ab| <= 2^62: no int64 overflow
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    total = ab + nudge
    # C++ divides (truncates toward zero), it does not shift.
    high = np.where(total >= 0, total >> 31, -((-total) >> 31))
    overflow = (a64 == INT32_MIN) & (b64 == INT32_MIN)
    return np.where(overflow, INT32_MAX, high).astype(np.int64)


def rounding_divide_by_pot(x: np.ndarray | int, exponent: np.ndarray | int) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded half away from zero (0 <= exponent <= 31)."""
    x64 = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x64 & mask
    threshold = (mask >> 1) + (x64 < 0)
    return (x64 >> e) + (remainder > threshold)


def saturating_rounding_multiply_by_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingMultiplyByPOT<exponent> on int32 values."""
    x64 = np.asarray(x, dtype=np.int64)
    if exponent > 0:
        return np.clip(x64 << exponent, INT32_MIN, INT32_MAX)
    if exponent < 0:
        return rounding_divide_by_pot(x64, -exponent)
    return x64


def multiply_by_quantized_multiplier(
    x: np.ndarray | int,
    multiplier: np.ndarray | int,
    shift: np.ndarray | int,
    rounding: Rounding = "double",
) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier(int32 x, int32 multiplier, int shift), vectorised.

    ``multiplier`` and ``shift`` broadcast against ``x`` (e.g. per-channel arrays over the last
    axis). Returns int64 arrays holding int32 values.
    """
    x64 = wrap_int32(x)
    m = np.asarray(multiplier, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    if rounding == "single":
        total_shift = 31 - s
        rounded = x64 * m + (np.int64(1) << (total_shift - 1))
        return wrap_int32(rounded >> total_shift)
    if rounding != "double":
        check_rounding(rounding)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    # TFLite's `x * (1 << left_shift)` wraps on overflow (tg_shl does the same on unsigned values).
    shifted = wrap_int32(x64 << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m), right)


def multiply_by_quantized_multiplier_greater_than_one(
    x: np.ndarray | int, multiplier: int, left_shift: int, rounding: Rounding = "double"
) -> np.ndarray:
    """MultiplyByQuantizedMultiplierGreaterThanOne (softmax's input rescaling)."""
    if rounding == "single":
        return multiply_by_quantized_multiplier(x, multiplier, left_shift, "single")
    shifted = wrap_int32(np.asarray(x, dtype=np.int64) << left_shift)
    return saturating_rounding_doubling_high_mul(shifted, multiplier)


# --------------------------------------------------------------------------- activation range


def activation_range(activation: str, scale: float, zero_point: int, qmin: int = -128, qmax: int = 127) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: the clamp range of a fused activation, in output units.

    The C++ computes ``zero_point + (int32)roundf(f / scale)`` with a float32 division.
    """
    scale32 = np.float32(scale)

    def quantize(value: float) -> int:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            q = np.float32(value) / scale32  # float32 division, as in the C++
        return int(zero_point) + int(float_to_int32_x86(round_half_away(float(q))))

    from tinygen.activations import FLOAT_RANGE

    if activation not in FLOAT_RANGE:
        from tinygen.errors import UnsupportedError

        raise UnsupportedError(f"fused activation {activation!r} is not supported: use one of {', '.join(FLOAT_RANGE)}")
    lo, hi = FLOAT_RANGE[activation]
    return (qmin if lo is None else max(qmin, quantize(lo))), (qmax if hi is None else min(qmax, quantize(hi)))


# --------------------------------------------------------------------------- softmax (gemmlowp)

#: integer bits of the softmax input differences (Q5.26) and of the sum of exponentials (Q12.19)
SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5
SOFTMAX_ACCUMULATION_INTEGER_BITS = 12


def _fx_mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp FixedPoint multiplication (raw values): SaturatingRoundingDoublingHighMul."""
    return saturating_rounding_doubling_high_mul(a, b)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """gemmlowp: exp(a) for a Q0.31 ``a`` in [-1/4, 0), result Q0.31 (Taylor series around -1/8)."""
    constant_term = 1895147668  # exp(-1/8) in Q0.31
    constant_1_over_3 = 715827883
    x = wrap_int32(np.asarray(a, dtype=np.int64) + (1 << 28))  # a + 1/8
    x2 = _fx_mul(x, x)
    x3 = _fx_mul(x2, x)
    x4 = _fx_mul(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    inner = wrap_int32(_fx_mul(wrap_int32(x4_over_4 + x3), constant_1_over_3) + x2)
    x4_over_24_plus_x3_over_6_plus_x2_over_2 = saturating_rounding_multiply_by_pot(inner, -1)
    return wrap_int32(constant_term + _fx_mul(np.int64(constant_term), wrap_int32(x + x4_over_24_plus_x3_over_6_plus_x2_over_2)))


def exp_on_negative_values(a: np.ndarray, integer_bits: int = SOFTMAX_SCALED_DIFF_INTEGER_BITS) -> np.ndarray:
    """gemmlowp's exp_on_negative_values: ``a`` raw Q(integer_bits).(31-integer_bits) <= 0, result Q0.31."""
    a = np.asarray(a, dtype=np.int64)
    fractional_bits = 31 - integer_bits
    one_quarter = np.int64(1) << (fractional_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = wrap_int32((a & mask) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits)  # Rescale<0>
    )
    remainder = wrap_int32(a_mod_quarter_minus_one_quarter - a)
    # Barrel shifter: multiply by exp(-2^k) for each bit k of the remainder.
    for exponent, multiplier in ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                                 (2, 39332535), (3, 720401), (4, 242)):
        if integer_bits > exponent:
            bit = np.int64(1) << (fractional_bits + exponent)
            result = np.where((remainder & bit) != 0, _fx_mul(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(np.int64(1) << (36 - integer_bits))  # -32.0
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, INT32_MAX, result).astype(np.int64)


def _rounding_half_sum(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp RoundingHalfSum for int32: (a + b + sign) / 2 in 64 bits, truncating division."""
    total = np.asarray(a, dtype=np.int64) + b
    total = total + np.where(total >= 0, 1, -1)
    return np.where(total >= 0, total // 2, -((-total) // 2))


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """gemmlowp: 1 / (1 + a) for Q0.31 ``a`` in [0, 1), result Q0.31 (Newton-Raphson)."""
    half_denominator = _rounding_half_sum(a, INT32_MAX)  # F0::One() is INT32_MAX
    constant_48_over_17 = 1515870810  # Q2.29
    constant_neg_32_over_17 = -1010580540  # Q2.29
    x = wrap_int32(constant_48_over_17 + _fx_mul(half_denominator, constant_neg_32_over_17))
    one_f2 = 1 << 29
    for _ in range(3):
        half_denominator_times_x = _fx_mul(half_denominator, x)
        one_minus = wrap_int32(one_f2 - half_denominator_times_x)
        x = wrap_int32(x + saturating_rounding_multiply_by_pot(_fx_mul(x, one_minus), 2))  # Rescale<2>(Q4)
    # ExactMulByPot<-1> keeps the raw value (Q2 -> Q1); Rescale<0> of a Q1 shifts left by 1, saturating.
    return saturating_rounding_multiply_by_pot(x, 1)


def count_leading_zeros32(x: np.ndarray) -> np.ndarray:
    """CountLeadingZeros of uint32 values (32 for 0)."""
    v = np.asarray(x, dtype=np.int64) & 0xFFFFFFFF
    bits = np.zeros(v.shape, dtype=np.int64)
    for shift in range(32):
        bits = np.where((v >> shift) != 0, shift + 1, bits)
    return 32 - bits


def get_reciprocal(x: np.ndarray, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's GetReciprocal: (Q0.31 1/x scaled into [1/2, 1), num_bits_over_unit)."""
    x = np.asarray(x, dtype=np.int64)
    headroom_plus_one = count_leading_zeros32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_sum_minus_one = wrap_int32(((x << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def softmax_input_params(beta: float, input_scale: float, rounding: Rounding = "double") -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling + CalculateInputRadius for int8 softmax.

    Returns (input_multiplier, input_left_shift, diff_min) exactly as TFLite Micro's
    CalculateSoftmaxParams computes them from float32 beta and input scale.
    """
    integer_bits = SOFTMAX_SCALED_DIFF_INTEGER_BITS
    max_real_multiplier = float((1 << 30) - 1) if rounding == "single" else float((1 << 31) - 1)
    real = min(float(np.float32(beta)) * float(np.float32(input_scale)) * float(1 << (31 - integer_bits)), max_real_multiplier)
    multiplier, left_shift = quantize_multiplier_greater_than_one(real, rounding)
    max_input_rescaled = 1.0 * ((1 << integer_bits) - 1) * float(1 << (31 - integer_bits)) / float(1 << left_shift)
    radius = int(math.floor(max_input_rescaled))
    return multiplier, left_shift, -radius


def softmax_int8(
    x: np.ndarray, input_multiplier: int, input_left_shift: int, diff_min: int, rounding: Rounding = "double",
    output_bits: int = 8,
) -> np.ndarray:
    """TFLite's reference int8 -> int8 Softmax over the last axis (output scale 1/256, zero point -128), or with
    ``output_bits`` 16 its int8 -> int16 form (scale 1/65536, zero point -32768)."""
    x = np.asarray(x, dtype=np.int64)
    diff = x - x.max(axis=-1, keepdims=True)
    valid = diff >= diff_min
    rescaled = multiply_by_quantized_multiplier_greater_than_one(diff, input_multiplier, input_left_shift, rounding)
    exps = exp_on_negative_values(rescaled, SOFTMAX_SCALED_DIFF_INTEGER_BITS)
    # Rescale<12> of a Q0.31 value, then a wrapping int32 sum of the valid entries.
    terms = np.where(valid, rounding_divide_by_pot(exps, SOFTMAX_ACCUMULATION_INTEGER_BITS), 0)
    sum_of_exps = wrap_int32(terms.sum(axis=-1, keepdims=True))
    shifted_scale, num_bits_over_unit = get_reciprocal(sum_of_exps, SOFTMAX_ACCUMULATION_INTEGER_BITS)
    unsat = rounding_divide_by_pot(_fx_mul(shifted_scale, exps), num_bits_over_unit + 31 - output_bits)
    lo, hi = -(1 << (output_bits - 1)), (1 << (output_bits - 1)) - 1
    out = np.clip(unsat + lo, lo, hi)
    return np.where(valid, out, lo).astype(np.int8 if output_bits == 8 else np.int16)


def requantize_int64(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier(int64_t x, int32_t multiplier, int shift) (the same in both rounding
    modes): the multiplier rounded to Q0.15, one rounding right shift by 15 - shift, the result truncated to int32.
    Exact in int64 for |x| < 2^47 (TFLite's precondition; the lowering checks it)."""
    reduced = reduced_multiplier(multiplier)
    total = 15 - np.asarray(shift, dtype=np.int64)
    return wrap_int32((np.asarray(acc, dtype=np.int64) * reduced + (np.int64(1) << (total - 1))) >> total)


def reduced_multiplier(multiplier: np.ndarray) -> np.ndarray:
    """TFLite's int64 MultiplyByQuantizedMultiplier's multiplier rounded to Q0.15 (saturating at 0x7FFF), int64."""
    m = np.asarray(multiplier, dtype=np.int64)
    return np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
