"""LOGISTIC (Keras ``activation="sigmoid"``): ``1 / (1 + exp(-x))``, int8 -> int8, output scale 1/256 and
zero point -128, bit-exact with TFLite Micro's int8 LOGISTIC.

TFLite Micro (``CalculateArithmeticOpDataLogistic`` in logistic_common.cc, then
``reference_integer_ops::Logistic``):

* Prepare rescales the input to Q4.27 (4 integer bits): ``frexp(input_scale * 2^27)`` gives
  ``input_multiplier = round(q * 2^31)`` and ``input_left_shift`` (the exponent, used as
  MultiplyByQuantizedMultiplier's shift). It calls neither QuantizeMultiplier nor anything that
  TFLITE_SINGLE_ROUNDING changes. ``input_range_radius = CalculateInputRadius(4, input_left_shift, 31)
  = floor(15 * 2^27 / 2^input_left_shift)``: the largest |x - zero point| whose rescaled value stays
  below 15.0 in Q4.27.
* Per element: ``d = x - input_zero_point``; ``d <= -radius`` gives -128, ``d >= radius`` gives 127;
  otherwise ``MultiplyByQuantizedMultiplier(d, input_multiplier, input_left_shift)`` (the one step the
  rounding mode changes) is a Q4.27 value, gemmlowp's fixed-point ``logistic`` (``exp_on_negative_values``
  of -|a|, ``one_over_one_plus_x_for_x_in_0_1``, ``1 - result`` for negative ``a``, exactly 1/2 at 0)
  gives Q0.31, and ``RoundingDivideByPOT(., 23) - 128`` clamped to int8 is the output.

An int8 input takes only 256 values, so the lowering tabulates the output of each one offline with that
arithmetic (:func:`logistic_int8`) and the kernel (``tg_lut_s8``) looks them up; :func:`reference` runs
the arithmetic itself, not the table, so the generated C is checked against it.

int16 (16x8 models; TFLite Micro's int16 Prepare and ``reference_integer_ops::Logistic(int16)``, whose
arithmetic TANH shares: :func:`int16_params`, :func:`interpolate_int16`): zero points 0, output scale 2^-15.
The input is rescaled to 1/(3 * 4096) steps, ``(x * multiplier + round) >> shift``: a power-of-two input
scale giving shift 0 (tanh: 0 or 1) takes multiplier ``3 << shift``, shift 0; any other scale the
multiplier ``int(scale * 3 * 4096 * 2^shift)`` with the smallest shift that lifts it above 16383.5. Then a
linear interpolation in TFLite's 256-entry ``sigmoid_table_uint16`` at |x| (logistic: 9 fraction bits;
tanh = 2 sigmoid(2x) - 1: 8), mirrored for x < 0. ``tg_sigmoid_tanh_s16`` computes the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygen import numerics
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import hint, lut_call, shape_str
from tinygen.lowering.base import TABLE, KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import OpDef, QatHooks, TfliteMapping

#: TFLite's sigmoid_table_uint16 (kernels/internal/common.h): 65536 * sigmoid(k / 32) for k = 0..255 (rounded)
SIGMOID_TABLE = np.array([
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
], dtype=np.int64)

KIND = "logistic"

#: the Keras activation name of this op
KERAS_ACTIVATION = "sigmoid"

#: the output quantization TFLite's int8 LOGISTIC requires (TFLite Micro's Prepare checks the zero point)
OUTPUT_QUANT = (float(np.float32(1.0 / 256.0)), -128)

#: integer bits of the rescaled input (TFLite's kInputIntegerBits for int8 LOGISTIC): Q4.27
INPUT_INTEGER_BITS = 4
#: integer bits of the output before the downcast (TFLite's kOutputIntegerBits): Q0.31 / 2^(31-8)
OUTPUT_INTEGER_BITS = 8

#: input_left_shift range where TFLite Micro's Prepare is defined: a negative shift (input scale below
#: 2^-28) or one of 63 or more (scale of 2^35 or more) shifts ``1ll`` out of range in CalculateInputRadius
MIN_LEFT_SHIFT, MAX_LEFT_SHIFT = 0, 62


@dataclass(frozen=True)
class LogisticParams:
    """TFLite Micro's OpDataLogistic for int8: ``x - input_zero_point`` at or beyond ``±input_range_radius``
    saturates; inside it is rescaled to Q4.27 by ``input_multiplier``/``input_left_shift``
    (MultiplyByQuantizedMultiplier)."""

    input_zero_point: int
    input_multiplier: int
    input_left_shift: int
    input_range_radius: int


@dataclass(frozen=True)
class Int16Params:
    """The int16 LOGISTIC/TANH input rescaling ``(x * multiplier + round) >> shift`` after TFLite's power-of-two
    rewrite (``multiplier`` <= 32767, ``shift`` in 0..31)."""

    multiplier: int
    shift: int


def _checked_log2(x: float) -> tuple[bool, int]:
    """TFLite's CheckedLog2 in float32: (|log2 x - round(log2 x)| < 1e-3, round(log2 x))."""
    x_log2 = np.float32(np.log(np.float32(x))) * (np.float32(1.0) / np.float32(np.log(np.float32(2.0))))
    rounded = np.float32(numerics.round_half_away(float(x_log2)))
    return bool(abs(np.float32(x_log2 - rounded)) < np.float32(1e-3)), int(rounded)


def _is_int16(graph: Graph, op: Op) -> bool:
    return graph.tensor(op.inputs[0]).dtype == "int16"


def int16_params(graph: Graph, op: Op, pot_shifts: tuple[int, ...]) -> Int16Params:
    """TFLite Micro's int16 Prepare of LOGISTIC (``pot_shifts`` (0,)) and TANH ((0, 1)), then the kernels' rewrite
    of a power-of-two scale: int16 input and output, zero points 0, output scale 2^-15 (checked)."""
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if out.dtype != "int16":
        common.unary_int8(graph, op)  # refuses the int16 input of an int8 op
    si, zi = common.qp(x, op)
    so, zo = common.qp(out, op)
    pot_out, log2_out = _checked_log2(so)
    if zi != 0 or zo != 0 or not pot_out or log2_out != -15:
        raise TinygenError(
            f"{common.where(op)}: int16 input {x.name!r} (scale {si:g}, zero point {zi}) and output {out.name!r} (scale "
            f"{so:g}, zero point {zo}); TFLite's int16 {op.kind.upper()} needs zero points 0 and output scale 2^-15: "
            "re-quantize the model (TFLite's 16x8 converter does this)"
        )
    pot, log2_in = _checked_log2(si)
    shift = 12 + log2_in  # (15 - kInputIntegerBits) + log2(input scale)
    if pot and shift in pot_shifts:
        return Int16Params(3 << shift, 0)
    multiplier, shift = float(np.float32(si)) * 4096.0 * 3.0, 0
    while multiplier <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        multiplier *= 2.0
    if int(multiplier) > 32767:
        raise TinygenError(
            f"{common.where(op)}: int16 input {x.name!r} has scale {si:g}; TFLite's int16 {op.kind.upper()} needs a scale "
            "below 32767 / (3 * 4096) (its input multiplier is 16-bit): re-quantize the model"
        )
    return Int16Params(int(multiplier), shift)


def interpolate_int16(x: np.ndarray, p: Int16Params, tanh: bool) -> np.ndarray:
    """reference_integer_ops::Logistic(int16) (``tanh`` False) or Tanh(int16) of the int16 values ``x``."""

    rounding = (1 << (p.shift - 1)) if p.shift > 0 else 0
    v = (np.asarray(x, np.int64) * p.multiplier + rounding) >> p.shift
    a = np.abs(v)
    bits = 8 if tanh else 9
    uh = a >> bits
    idx = np.minimum(uh, 254)
    ua, ub = SIGMOID_TABLE[idx].astype(np.int64), SIGMOID_TABLE[idx + 1].astype(np.int64)
    r = np.where(uh >= 255, (0xFFFF << 8) if tanh else (0x7FFF << 10), (ua << bits) + (a & ((1 << bits) - 1)) * (ub - ua))
    if tanh:
        r = np.where(v >= 0, r - (1 << 23) + (1 << 7), -r + (1 << 23) + (1 << 7) - 1) >> 8
    else:
        r = np.where(v >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1) >> 10
    return r.astype(np.int16)


def lower_int16(ctx: LoweringContext, op: Op, p: Int16Params, tanh: bool) -> KernelCall:
    """tg_sigmoid_tanh_s16 with TFLite's table as a const array (shared by every such layer)."""

    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    table = ctx.const_array(hint(op, "sigmoid16"), SIGMOID_TABLE, "uint16_t", TABLE)
    args = (ctx.tensor_ptr(x.name), str(x.size), str(p.multiplier), str(p.shift), table, "1" if tanh else "0",
            ctx.tensor_ptr(out.name))
    return KernelCall("tg_sigmoid_tanh_s16", args, comment=f"{op.kind} int16 {shape_str(x)}: input x {p.multiplier} >> "
                      f"{p.shift}, interpolated in TFLite's sigmoid table")


def _check(graph: Graph, op: Op) -> None:
    if _is_int16(graph, op):
        int16_params(graph, op, INT16_POT_SHIFTS)
    else:
        common.unary_int8(graph, op)


#: the input shifts TFLite's int16 LOGISTIC takes as a power-of-two scale
INT16_POT_SHIFTS = (0,)


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> LogisticParams | Int16Params:
    """CalculateArithmeticOpDataLogistic (int8; int16: :func:`int16_params`). ``rounding`` plays no part: Prepare
    rounds with frexp and std::round, not QuantizeMultiplier."""
    if _is_int16(graph, op):
        return int16_params(graph, op, INT16_POT_SHIFTS)
    x, out = common.unary_int8(graph, op)
    si, zi = common.qp(x, op)
    so, zo = common.qp(out, op)
    if zo != OUTPUT_QUANT[1] or np.float32(so) != np.float32(OUTPUT_QUANT[0]):
        raise TinygenError(
            f"{common.where(op)}: output {out.name!r} has scale {so!r}, zero point {zo}; TFLite's int8 LOGISTIC needs "
            "scale 1/256 and zero point -128: re-quantize the model (the TFLite converter does this)"
        )
    # static_cast<double>(float scale) * (1 << (31 - kInputIntegerBits)): exact in double
    real = float(np.float32(si)) * float(1 << (31 - INPUT_INTEGER_BITS))
    q, left_shift = math.frexp(real)
    if not MIN_LEFT_SHIFT <= left_shift <= MAX_LEFT_SHIFT:
        lo, hi = MIN_LEFT_SHIFT - (31 - INPUT_INTEGER_BITS) - 1, MAX_LEFT_SHIFT - (31 - INPUT_INTEGER_BITS)
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} has scale {si:g}, outside [2^{lo}, 2^{hi}) where TFLite's int8 "
            "LOGISTIC is defined: re-quantize the model"
        )
    # TfLiteRound(q * (1ll << 31)): q holds the float32 scale's 24-bit significand, so this is exact and < 2^31
    multiplier = int(numerics.round_half_away(q * float(1 << 31)))
    # CalculateInputRadius(4, left_shift, 31): every factor a power of two or 15, so the double is exact
    radius = math.floor(1.0 * ((1 << INPUT_INTEGER_BITS) - 1) * float(1 << (31 - INPUT_INTEGER_BITS))
                        / float(1 << left_shift))
    return LogisticParams(input_zero_point=zi, input_multiplier=multiplier, input_left_shift=left_shift,
                          input_range_radius=radius)


# --------------------------------------------------------------------------- integer arithmetic


def fixed_point_logistic(a: np.ndarray, integer_bits: int = INPUT_INTEGER_BITS) -> np.ndarray:
    """gemmlowp's ``logistic`` of a raw Q(integer_bits).(31-integer_bits) ``a``: raw Q0.31 results."""
    a = np.asarray(a, dtype=np.int64)
    positive = a > 0
    abs_a = np.where(positive, a, numerics.wrap_int32(-a))
    # logistic_on_positive_values(|a|) = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-|a|))
    exp_neg = numerics.exp_on_negative_values(numerics.wrap_int32(-abs_a), integer_bits)
    if_positive = numerics.one_over_one_plus_x_for_x_in_0_1(exp_neg)
    if_negative = numerics.wrap_int32(numerics.INT32_MAX - if_positive)  # ResultF::One() - result_if_positive
    return np.where(a == 0, 1 << 30, np.where(positive, if_positive, if_negative)).astype(np.int64)


def logistic_int8(x: np.ndarray, p: LogisticParams, rounding: str) -> np.ndarray:
    """reference_integer_ops::Logistic (int8) of the int8 values ``x``, element by element."""
    d = np.asarray(x, dtype=np.int64) - p.input_zero_point
    low, high = d <= -p.input_range_radius, d >= p.input_range_radius
    inside = ~(low | high)
    # only the elements inside the radius are rescaled (0 elsewhere keeps every intermediate in range)
    input_in_q4 = numerics.multiply_by_quantized_multiplier(
        np.where(inside, d, 0), p.input_multiplier, p.input_left_shift if inside.any() else 0, rounding)  # type: ignore[arg-type]
    output_in_q0 = fixed_point_logistic(input_in_q4)
    output = numerics.rounding_divide_by_pot(output_in_q0, 31 - OUTPUT_INTEGER_BITS) + OUTPUT_QUANT[1]
    output = np.clip(output, -128, 127)
    return np.where(low, -128, np.where(high, 127, output)).astype(np.int8)


def table(p: LogisticParams, rounding: str) -> np.ndarray:
    """tg_lut_s8's table: the 256 outputs, entry k for the int8 input whose bits are k (``(uint8_t)x``):
    0..127, then -128..-1."""
    return logistic_int8(np.arange(256, dtype=np.uint8).view(np.int8), p, rounding)


def reference(graph: Graph, op: Op, p: LogisticParams | Int16Params, args: list[np.ndarray], rounding: str
              ) -> np.ndarray:
    if isinstance(p, Int16Params):
        return interpolate_int16(args[0], p, tanh=False)
    return logistic_int8(args[0], p, rounding)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    x = np.asarray(inputs[0])
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for x below about -88: 1/inf = 0, exactly right
        return 1.0 / (1.0 + np.exp(-x))


# --------------------------------------------------------------------------- import


def emit(b: Any, name: str, x: str) -> str:
    """The op of Keras activation "sigmoid" (``Dense(..., activation="sigmoid")``, ``Activation("sigmoid")``)."""
    return b.op(KIND, name, [x], b.shape(x))


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    if isinstance(p, Int16Params):
        return lower_int16(ctx, op, p, tanh=False)
    x = ctx.graph.tensor(op.inputs[0])
    return lut_call(ctx, op, table(p, ctx.rounding), f"logistic {shape_str(x)}, tabulated (input zero point "
                      f"{p.input_zero_point}, multiplier {p.input_multiplier} << {p.input_left_shift}, radius "
                      f"{p.input_range_radius})")


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    # the output quantizer puts it on the fixed 1/256 grid (fixed_output_quant)
    return tf.sigmoid(xs[0])


OP = OpDef(
    kind=KIND,
    infer_shape=common.same_shape,
    num_inputs=(1, 1),
    check=_check,
    params=params,
    reference=reference,
    float_reference=float_reference,
    fixed_output_quant=OUTPUT_QUANT,
    tflite=(TfliteMapping("LOGISTIC", common.unary_from_tflite(KIND), int16=True),),
    keras_activations={KERAS_ACTIVATION: emit},
    lowerings=(lower,),
    in_place=common.same_layout,
    qat=QatHooks(forward=_qat_forward),
)
