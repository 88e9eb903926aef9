"""TANH (Keras ``activation="tanh"``): ``tanh(x)``, int8 -> int8, output scale 1/128 and zero point 0,
bit-exact with TFLite Micro's int8 TANH.

TFLite Micro (``CalculateArithmeticOpData`` in tanh.cc, then ``reference_integer_ops::Tanh``):

* Prepare rescales the input to Q4.27 (4 integer bits) exactly as LOGISTIC does: ``frexp(input_scale *
  2^27)`` gives ``input_multiplier = round(q * 2^31)`` and ``input_left_shift`` (the exponent, used as
  MultiplyByQuantizedMultiplier's shift); neither QuantizeMultiplier nor anything TFLITE_SINGLE_ROUNDING
  changes. ``input_range_radius = CalculateInputRadius(4, input_left_shift, 31) = floor(15 * 2^27 /
  2^input_left_shift)``: the largest |x - zero point| whose rescaled value stays below 15.0 in Q4.27.
  Unlike LOGISTIC, TFLite Micro's Prepare does not check the output quantization: its arithmetic assumes
  TFLite's int8 TANH output (scale 1/128, zero point 0, what the converter always writes), so another one
  would be computed as if it were that; tinygen refuses it.
* Per element: ``d = x - input_zero_point``; ``d <= -radius`` gives -128, ``d >= radius`` gives 127;
  otherwise ``MultiplyByQuantizedMultiplier(d, input_multiplier, input_left_shift)`` (the one step the
  rounding mode changes) is a Q4.27 value ``a``, gemmlowp's fixed-point ``tanh`` gives Q0.31 (exactly 0 at
  0; else ``t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-2|a|))`` in Q5.26, i.e.
  ``(1 - e^(-2|a|)) / (1 + e^(-2|a|))``, negated for negative ``a``), and ``RoundingDivideByPOT(., 24)``
  clamped to int8 is the output (zero point 0).

An int8 input takes only 256 values, so the lowering tabulates the output of each one offline with that
arithmetic (:func:`tanh_int8`) and the kernel (``tg_lut_s8``) looks them up; :func:`reference` runs the
arithmetic itself, not the table, so the generated C is checked against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygen import numerics
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import lut_call, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common, logistic
from tinygen.ops.base import OpDef, QatHooks, TfliteMapping

KIND = "tanh"

#: the Keras activation name of this op
KERAS_ACTIVATION = "tanh"

#: the output quantization of TFLite's int8 TANH (its arithmetic assumes it; the converter writes it)
OUTPUT_QUANT = (float(np.float32(1.0 / 128.0)), 0)

#: integer bits of the rescaled input (TFLite's kInputIntegerBits for int8 TANH): Q4.27
INPUT_INTEGER_BITS = 4
#: TFLite's kOutputScale for int8 TANH: the Q0.31 result divided by 2^(31-7)
OUTPUT_SCALE_BITS = 7

#: input_left_shift range where TFLite Micro's Prepare is defined: a negative shift (input scale below
#: 2^-28) or one of 63 or more (scale of 2^35 or more) shifts ``1ll`` out of range in CalculateInputRadius
MIN_LEFT_SHIFT, MAX_LEFT_SHIFT = 0, 62


@dataclass(frozen=True)
class TanhParams:
    """TFLite Micro's OpData of TANH for int8: ``x - input_zero_point`` at or beyond ``±input_range_radius``
    saturates; inside it is rescaled to Q4.27 by ``input_multiplier``/``input_left_shift``
    (MultiplyByQuantizedMultiplier)."""

    input_zero_point: int
    input_multiplier: int
    input_left_shift: int
    input_range_radius: int


#: the input shifts TFLite's int16 TANH takes as a power-of-two scale (its int16 arithmetic is LOGISTIC's:
#: tinygen/ops/logistic.py int16_params, interpolate_int16)
INT16_POT_SHIFTS = (0, 1)


def _check(graph: Graph, op: Op) -> None:
    if graph.tensor(op.inputs[0]).dtype == "int16":
        logistic.int16_params(graph, op, INT16_POT_SHIFTS)
    else:
        common.unary_int8(graph, op)


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> TanhParams | logistic.Int16Params:
    """CalculateArithmeticOpData (int8) of tanh.cc (int16: logistic.int16_params). ``rounding`` plays no part:
    Prepare rounds with frexp and std::round, not QuantizeMultiplier."""
    if graph.tensor(op.inputs[0]).dtype == "int16":
        return logistic.int16_params(graph, op, INT16_POT_SHIFTS)
    x, out = common.unary_int8(graph, op)
    si, zi = common.qp(x, op)
    so, zo = common.qp(out, op)
    if zo != OUTPUT_QUANT[1] or np.float32(so) != np.float32(OUTPUT_QUANT[0]):
        raise TinygenError(
            f"{common.where(op)}: output {out.name!r} has scale {so!r}, zero point {zo}; TFLite's int8 TANH needs "
            "scale 1/128 and zero point 0: re-quantize the model (the TFLite converter does this)"
        )
    # static_cast<double>(float scale) * (1 << (31 - kInputIntegerBits)): exact in double
    real = float(np.float32(si)) * float(1 << (31 - INPUT_INTEGER_BITS))
    q, left_shift = math.frexp(real)
    if not MIN_LEFT_SHIFT <= left_shift <= MAX_LEFT_SHIFT:
        lo, hi = MIN_LEFT_SHIFT - (31 - INPUT_INTEGER_BITS) - 1, MAX_LEFT_SHIFT - (31 - INPUT_INTEGER_BITS)
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} has scale {si:g}, outside [2^{lo}, 2^{hi}) where TFLite's int8 "
            "TANH is defined: re-quantize the model"
        )
    # TfLiteRound(q * (1ll << 31)): q holds the float32 scale's 24-bit significand, so this is exact and < 2^31
    multiplier = int(numerics.round_half_away(q * float(1 << 31)))
    # CalculateInputRadius(4, left_shift, 31): every factor a power of two or 15, so the double is exact
    radius = math.floor(1.0 * ((1 << INPUT_INTEGER_BITS) - 1) * float(1 << (31 - INPUT_INTEGER_BITS))
                        / float(1 << left_shift))
    return TanhParams(input_zero_point=zi, input_multiplier=multiplier, input_left_shift=left_shift,
                      input_range_radius=radius)


# --------------------------------------------------------------------------- integer arithmetic


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """gemmlowp: ``(1 - a) / (1 + a)`` for a raw Q0.31 ``a`` in [0, 1], raw Q0.31 result (Newton-Raphson in
    Q2.29, as ``one_over_one_plus_x_for_x_in_0_1``, but ``Rescale<0>(x - 1)`` at the end)."""
    # RoundingHalfSum(a, F0::One()): (a + INT32_MAX + sign) / 2 in 64 bits, truncating division
    total = np.asarray(a, dtype=np.int64) + numerics.INT32_MAX
    total = total + np.where(total >= 0, 1, -1)
    half_denominator = np.where(total >= 0, total // 2, -((-total) // 2))
    mul = numerics.saturating_rounding_doubling_high_mul  # gemmlowp FixedPoint multiplication on raw values
    x = numerics.wrap_int32(1515870810 + mul(half_denominator, -1010580540))  # 48/17 - 32/17 * d, Q2.29
    one_f2 = 1 << 29
    for _ in range(3):
        one_minus = numerics.wrap_int32(one_f2 - mul(half_denominator, x))
        x = numerics.wrap_int32(x + numerics.saturating_rounding_multiply_by_pot(mul(x, one_minus), 2))  # Rescale<2>
    # Rescale<0>(x - F2::One()): Q2.29 -> Q0.31 shifts left by 2, saturating
    return numerics.saturating_rounding_multiply_by_pot(numerics.wrap_int32(x - one_f2), 2)


def fixed_point_tanh(a: np.ndarray, integer_bits: int = INPUT_INTEGER_BITS) -> np.ndarray:
    """gemmlowp's ``tanh`` of a raw Q(integer_bits).(31-integer_bits) ``a``: raw Q0.31 results."""
    a = np.asarray(a, dtype=np.int64)
    negative = a < 0
    n = np.where(negative, a, numerics.wrap_int32(-a))  # -|a|
    # neg_tanh_on_negative_values(n): ExactMulByPot<1> reads the raw -|a| as Q(integer_bits+1), i.e. -2|a|
    exp_neg = numerics.exp_on_negative_values(n, integer_bits + 1)
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_neg)
    return np.where(a == 0, 0, np.where(negative, numerics.wrap_int32(-t), t)).astype(np.int64)


def tanh_int8(x: np.ndarray, p: TanhParams, rounding: str) -> np.ndarray:
    """reference_integer_ops::Tanh (int8) of the int8 values ``x``, element by element."""
    d = np.asarray(x, dtype=np.int64) - p.input_zero_point
    low, high = d <= -p.input_range_radius, d >= p.input_range_radius
    inside = ~(low | high)
    # only the elements inside the radius are rescaled (0 elsewhere keeps every intermediate in range)
    input_in_q4 = numerics.multiply_by_quantized_multiplier(
        np.where(inside, d, 0), p.input_multiplier, p.input_left_shift if inside.any() else 0, rounding)  # type: ignore[arg-type]
    output_in_q0 = fixed_point_tanh(input_in_q4)
    output = np.clip(numerics.rounding_divide_by_pot(output_in_q0, 31 - OUTPUT_SCALE_BITS), -128, 127)
    return np.where(low, -128, np.where(high, 127, output)).astype(np.int8)


def table(p: TanhParams, rounding: str) -> np.ndarray:
    """tg_lut_s8's table: the 256 outputs, entry k for the int8 input whose bits are k (``(uint8_t)x``):
    0..127, then -128..-1."""
    return tanh_int8(np.arange(256, dtype=np.uint8).view(np.int8), p, rounding)


def reference(graph: Graph, op: Op, p: TanhParams | logistic.Int16Params, args: list[np.ndarray], rounding: str
              ) -> np.ndarray:
    if isinstance(p, logistic.Int16Params):
        return logistic.interpolate_int16(args[0], p, tanh=True)
    return tanh_int8(args[0], p, rounding)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return np.tanh(np.asarray(inputs[0]))


# --------------------------------------------------------------------------- import


def emit(b: Any, name: str, x: str) -> str:
    """The op of Keras activation "tanh" (``Dense(..., activation="tanh")``, ``Activation("tanh")``)."""
    return b.op(KIND, name, [x], b.shape(x))


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    if isinstance(p, logistic.Int16Params):
        return logistic.lower_int16(ctx, op, p, tanh=True)
    x = ctx.graph.tensor(op.inputs[0])
    return lut_call(ctx, op, table(p, ctx.rounding), f"tanh {shape_str(x)}, tabulated (input zero point "
                      f"{p.input_zero_point}, multiplier {p.input_multiplier} << {p.input_left_shift}, radius "
                      f"{p.input_range_radius})")


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    # the output quantizer puts it on the fixed 1/128 grid (fixed_output_quant)
    return tf.tanh(xs[0])


OP = OpDef(
    kind=KIND,
    infer_shape=common.same_shape,
    num_inputs=(1, 1),
    check=_check,
    params=params,
    reference=reference,
    float_reference=float_reference,
    fixed_output_quant=OUTPUT_QUANT,
    tflite=(TfliteMapping("TANH", common.unary_from_tflite(KIND), int16=True),),
    keras_activations={KERAS_ACTIVATION: emit},
    lowerings=(lower,),
    in_place=common.same_layout,
    qat=QatHooks(forward=_qat_forward),
)
