"""LOG_SOFTMAX (Keras ``activation="log_softmax"``): ``x - max - log(sum(exp(x - max)))`` over the last axis,
int8 -> int8, output scale 16/256 and zero point 127, bit-exact with TFLite Micro's int8 LOG_SOFTMAX.

TFLite Micro (``CalculateOpData`` in log_softmax.cc, then ``reference_ops::LogSoftmaxQuantized``):

* Prepare requires output scale 16/256 and zero point 127 and calls ``PreprocessLogSoftmaxScalingExp(beta=1,
  input_scale, 5)``: PreprocessSoftmaxScaling's ``input_multiplier``/``input_left_shift`` (QuantizeMultiplier-
  GreaterThanOne of ``min(scale * 2^26, max)``, the rescaling of ``x - max`` into Q5.26; it aborts unless that
  real exceeds 1, i.e. for input scales of 2^-26 and below), then the reverse scaling: QuantizeMultiplier-
  SmallerThanOneExp of ``2^(31 - input_left_shift) / input_multiplier`` (``reverse_scaling_divisor``, its shift
  stored negated as ``reverse_scaling_right_shift``). ``diff_min = -CalculateInputRadius(5, input_left_shift)``.
  The input zero point plays no part (only differences to the row maximum are used).
* Per row: ``diff = x - max``; the exps of the rescaled diffs at or above ``diff_min`` (gemmlowp's
  ``exp_on_negative_values``, Q5.26 -> Q0.31) are summed in Q12.19 (Rescale<12>); ``log_sum`` is TFLite's
  fixed-point ``log_x_for_x_greater_than_or_equal_to_1<5>`` of the sum (Q5.26); elements with
  ``diff > max(diff_min - 1, MultiplyByQuantizedMultiplier(log_sum + INT32_MIN, reverse divisor, -right shift))``
  give ``RoundingDivideByPOT(rescaled diff - log_sum, 22) + 127`` clamped to int8, the others -128.

The sum holds at most 2^19 per element: a row of 4096 or more overflows int32 (undefined in TFLite Micro's
gemmlowp arithmetic), so tinygen refuses rows longer than 4095. The kernel is ``tg_log_softmax_s8``; from
``LUT_MIN_ELEMENTS`` elements on it reads the sum's terms of the 256 possible differences from a table
computed offline with the same arithmetic (:func:`exp_table`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygen import numerics
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import const_ptr, hint, in_out, shape_str
from tinygen.lowering.base import TABLE, KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import OpDef, QatHooks, TfliteMapping

KIND = "log_softmax"

#: the Keras activation name of this op
KERAS_ACTIVATION = "log_softmax"

#: the output quantization TFLite's int8 LOG_SOFTMAX requires (TFLite Micro's Prepare checks both)
OUTPUT_QUANT = (float(np.float32(16.0 / 256.0)), 127)

#: integer bits of the rescaled differences and the log (Q5.26), of the sum of exps (Q12.19), of the output
INPUT_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12
OUTPUT_INTEGER_BITS = 4

#: longest row: the Q12.19 sum of up to 2^19 per element stays below 2^31
MAX_DEPTH = 4095

#: smallest log-softmax that gets a 1 KiB table of the exp terms (each exp costs ~200 instructions otherwise)
LUT_MIN_ELEMENTS = 8


@dataclass(frozen=True)
class LogSoftmaxParams:
    """TFLite Micro's LogSoftmaxOpData: ``input_multiplier``/``input_left_shift`` rescale ``x - max`` into Q5.26
    (MultiplyByQuantizedMultiplier); ``reverse_scaling_divisor`` with shift ``-reverse_scaling_right_shift``
    maps a Q5.26 value back to input steps; differences below ``diff_min`` are left out of the sum."""

    input_multiplier: int
    input_left_shift: int
    reverse_scaling_divisor: int
    reverse_scaling_right_shift: int
    diff_min: int


def _check(graph: Graph, op: Op) -> None:
    x, _ = common.unary_int8(graph, op)
    if not x.shape or x.shape[-1] < 1:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} of shape {x.shape} has no last dimension to normalise: "
            "give the log-softmax input at least one non-empty dimension"
        )
    if x.shape[-1] > MAX_DEPTH:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} of shape {x.shape} has rows of {x.shape[-1]} values; TFLite's int8 "
            f"LOG_SOFTMAX sums the exps of a row in Q12.19, which overflows int32 for rows of 4096 or more: use rows "
            f"of 1..{MAX_DEPTH}"
        )


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> LogSoftmaxParams:
    """CalculateOpData (int8): PreprocessLogSoftmaxScalingExp and CalculateInputRadius."""
    x, out = common.unary_int8(graph, op)
    si, _ = common.qp(x, op)
    so, zo = common.qp(out, op)
    if zo != OUTPUT_QUANT[1] or np.float32(so) != np.float32(OUTPUT_QUANT[0]):
        raise TinygenError(
            f"{common.where(op)}: output {out.name!r} has scale {so!r}, zero point {zo}; TFLite's int8 LOG_SOFTMAX "
            "needs scale 16/256 and zero point 127: re-quantize the model (the TFLite converter does this)"
        )
    try:  # PreprocessSoftmaxScaling (beta 1) and -CalculateInputRadius(5, left_shift): softmax's own
        m, left_shift, diff_min = numerics.softmax_input_params(1.0, si, rounding)
    except ValueError:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} has scale {si:g}; TFLite's int8 LOG_SOFTMAX needs an input scale "
            "above 2^-26 (its Prepare aborts otherwise): re-quantize the model"
        ) from None
    # (1 << (31 - left_shift)) / (double)multiplier: in (2^-left_shift, 2^(1-left_shift)), so in (0, 1)
    reverse = float(1 << (31 - left_shift)) / float(m)
    divisor, reverse_shift = numerics.quantize_multiplier_smaller_than_one(reverse, rounding)
    return LogSoftmaxParams(input_multiplier=m, input_left_shift=left_shift, reverse_scaling_divisor=divisor,
                            reverse_scaling_right_shift=-reverse_shift, diff_min=diff_min)


# --------------------------------------------------------------------------- integer arithmetic


def _sat_shl(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """TFLite's SaturatingRoundingMultiplyByPOTParam for exponents >= 0: x * 2^exponent, saturated to int32."""
    return np.clip(np.asarray(x, np.int64) << np.asarray(exponent, np.int64), numerics.INT32_MIN, numerics.INT32_MAX)


def _sat_add(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """TFLite's SaturatingAddNonGemmlowp (int32); SaturatingSub is ``_sat_add(a, -b)``."""
    return np.clip(np.asarray(a, np.int64) + b, numerics.INT32_MIN, numerics.INT32_MAX)


def log_x_for_x_greater_than_or_equal_to_1(x: np.ndarray, input_integer_bits: int = ACCUMULATION_INTEGER_BITS,
                                           output_integer_bits: int = INPUT_INTEGER_BITS) -> np.ndarray:
    """TFLite's ``log_x_for_x_greater_than_or_equal_to_1_impl<output, input>`` (common.h) of raw positive
    Q(input).(31-input) values ``x``: raw Q(output).(31-output) results."""
    mul, wrap = numerics.saturating_rounding_doubling_high_mul, numerics.wrap_int32
    accum_bits = output_integer_bits + 1
    log_2, sqrt_sqrt_half, sqrt_half = 1488522236, 1805811301, 1518500250
    alpha_n, alpha_d, alpha_i, alpha_f = 117049297, 127690142, 1057819769, 638450708
    shifted_quarter = int(numerics.rounding_divide_by_pot(536870912, accum_bits))  # Rescale<accum>(1/4)
    z_a = np.asarray(x, np.int64)
    z_a_headroom_plus_1 = numerics.count_leading_zeros32(z_a)
    r_a_raw = _sat_shl(mul(_sat_shl(z_a, z_a_headroom_plus_1 - 1), sqrt_half), 1)
    z_a_pow_2_adj = _sat_add(_sat_shl(input_integer_bits - z_a_headroom_plus_1, 31 - accum_bits), shifted_quarter)
    z_b = mul(z_a, sqrt_half)
    z_b_headroom = numerics.count_leading_zeros32(z_b) - 1
    r_b_raw = _sat_shl(z_a, z_b_headroom)
    z_b_pow_2_adj = _sat_add(_sat_shl(input_integer_bits - z_b_headroom, 31 - accum_bits), -shifted_quarter)
    r = np.minimum(r_a_raw, r_b_raw)
    z_pow_2_adj = np.maximum(z_a_pow_2_adj, z_b_pow_2_adj)
    p = numerics._rounding_half_sum(r, sqrt_sqrt_half)
    q = wrap(r - sqrt_sqrt_half)
    q = wrap(q + q)
    common_sq = mul(q, q)
    num = wrap(mul(q, r) + mul(mul(q, common_sq), alpha_n))
    denom_minus_one_0 = wrap(mul(p, wrap(wrap(alpha_i + q) + mul(alpha_d, common_sq))) + mul(alpha_f, q))
    recip_denom = numerics.one_over_one_plus_x_for_x_in_0_1(denom_minus_one_0)
    num_scaled = numerics.rounding_divide_by_pot(num, accum_bits)  # Rescale<accum> of a Q0
    return _sat_shl(wrap(mul(z_pow_2_adj, log_2) + mul(num_scaled, recip_denom)), accum_bits - output_integer_bits)


def _rescaled_and_terms(diff: np.ndarray, p: LogSoftmaxParams, rounding: numerics.Rounding
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The differences to the row maximum rescaled into Q5.26 (MultiplyByQuantizedMultiplier; those below
    diff_min, never used, as 0) and their terms of the Q12.19 sum (Rescale<12> of the exp; 0 below diff_min)."""
    valid = diff >= p.diff_min
    in_q5 = numerics.multiply_by_quantized_multiplier(np.where(valid, diff, 0), p.input_multiplier,
                                                      p.input_left_shift, rounding)
    exps = numerics.exp_on_negative_values(in_q5, INPUT_INTEGER_BITS)
    return in_q5, np.where(valid, numerics.rounding_divide_by_pot(exps, ACCUMULATION_INTEGER_BITS), 0)


def exp_table(p: LogSoftmaxParams, rounding: numerics.Rounding) -> np.ndarray:
    """tg_log_softmax_s8's table: entry k the Q12.19 term of the difference -k (k = 0..255)."""
    return _rescaled_and_terms(-np.arange(256, dtype=np.int64), p, rounding)[1].astype(np.int32)


def log_softmax_int8(x: np.ndarray, p: LogSoftmaxParams, rounding: numerics.Rounding = "double") -> np.ndarray:
    """reference_ops::LogSoftmax (int8) over the last axis of the int8 values ``x``."""
    x = np.asarray(x, dtype=np.int64)
    diff = x - x.max(axis=-1, keepdims=True)
    in_q5, terms = _rescaled_and_terms(diff, p, rounding)
    sum_in_q12 = terms.sum(axis=-1, keepdims=True)  # < 2^31: rows of at most MAX_DEPTH
    log_sum_in_q5 = log_x_for_x_greater_than_or_equal_to_1(sum_in_q12)
    shifted = numerics.wrap_int32(log_sum_in_q5 + numerics.INT32_MIN)
    adjusted_diff_min = np.maximum(p.diff_min - 1, numerics.multiply_by_quantized_multiplier(
        shifted, p.reverse_scaling_divisor, -p.reverse_scaling_right_shift, rounding))
    out = numerics.rounding_divide_by_pot(numerics.wrap_int32(in_q5 - log_sum_in_q5),
                                          31 - INPUT_INTEGER_BITS - OUTPUT_INTEGER_BITS) + OUTPUT_QUANT[1]
    return np.where(diff > adjusted_diff_min, np.clip(out, -128, 127), -128).astype(np.int8)


def reference(graph: Graph, op: Op, p: LogSoftmaxParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return log_softmax_int8(args[0], p, rounding)  # type: ignore[arg-type]


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    z = np.asarray(inputs[0], dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# --------------------------------------------------------------------------- import


def emit(b: Any, name: str, x: str) -> str:
    """The op of Keras activation "log_softmax" (``Dense(..., activation="log_softmax")``,
    ``Activation("log_softmax")``): over the last axis, as Keras' default."""
    return b.op(KIND, name, [x], b.shape(x))


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    depth = x.shape[-1]
    rows = x.size // depth
    tabulated = x.size >= LUT_MIN_ELEMENTS
    table = (ctx.const_array(hint(op, "exp"), exp_table(p, ctx.rounding), "int32_t", TABLE)  # type: ignore[arg-type]
             if tabulated else "0")
    args = (const_ptr(ctx, x.name), str(rows), str(depth), str(p.input_multiplier), str(p.input_left_shift),
            str(p.reverse_scaling_divisor), str(p.reverse_scaling_right_shift), str(p.diff_min), table,
            ctx.tensor_ptr(out.name))
    return KernelCall("tg_log_softmax_s8", args, comment=f"log_softmax {shape_str(x)}: {rows} rows of {depth}, "
                      f"multiplier {p.input_multiplier} << {p.input_left_shift}, reverse {p.reverse_scaling_divisor} "
                      f">> {p.reverse_scaling_right_shift}, diff_min {p.diff_min}" + (", tabulated exp" * tabulated))


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    # the output quantizer puts it on the fixed 16/256 grid (fixed_output_quant)
    return tf.nn.log_softmax(xs[0], axis=-1)


OP = OpDef(
    kind=KIND,
    infer_shape=common.same_shape,
    num_inputs=(1, 1),
    check=_check,
    params=params,
    reference=reference,
    float_reference=float_reference,
    fixed_output_quant=OUTPUT_QUANT,
    tflite=(TfliteMapping("LOG_SOFTMAX", common.unary_from_tflite(KIND)),),
    keras_activations={KERAS_ACTIVATION: emit},
    lowerings=(lower,),
    in_place=common.same_layout,
    qat=QatHooks(forward=_qat_forward),
)
