"""LEAKY_RELU (Keras ``LeakyReLU`` layer, ``activation="leaky_relu"``): ``x`` for ``x >= 0``, ``alpha * x``
otherwise, int8 -> int8 with its own output quantization, bit-exact with TFLite Micro's int8 LEAKY_RELU.

TFLite Micro (``CalculateOpDataLeakyRelu`` in leaky_relu_common.cc, then ``reference_ops::QuantizeLeakyRelu``):

* Prepare computes two ratios in double from the float32 scales and alpha (``input_scale * alpha /
  output_scale``, the product exact, and ``input_scale / output_scale``: one rounding each; the oracle's
  results rule out float32 arithmetic) and QuantizeMultiplier gives
  ``output_multiplier_alpha``/``output_shift_alpha`` and ``output_multiplier_identity``/
  ``output_shift_identity`` (the rounding mode changes both). A negative alpha gives a negative multiplier
  (QuantizeMultiplier keeps the sign); alpha 0 gives (0, 0). Prepare checks nothing else.
* Per element: ``d = x - input_zero_point``; ``d >= 0`` gives ``output_zero_point +
  MultiplyByQuantizedMultiplier(d, multiplier_identity, shift_identity)``; ``d < 0`` gives
  ``output_zero_point + MultiplyByQuantizedMultiplier(d, |multiplier_alpha|, shift_alpha)``, that product
  negated when the alpha multiplier is negative (TFLite Micro's reference keeps MultiplyByQuantizedMultiplier's
  multiplier non-negative: a negative alpha's ties round differently from a signed multiplier's); the sum is
  clamped to int8.

An int8 input takes only 256 values, so the lowering tabulates the output of each one offline with that
arithmetic (:func:`leaky_relu_int8`) and the kernel (``tg_lut_s8``) looks them up; :func:`reference` runs
the arithmetic itself, not the table, so the generated C is checked against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.ir import Graph, Op
from tinygen.lowering.args import lut_call, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import Attr, AttrError, OpDef, QatHooks, TfliteMapping

KIND = "leaky_relu"

#: the Keras activation name of this op (keras.activations.leaky_relu, negative_slope 0.2)
KERAS_ACTIVATION = "leaky_relu"
#: the negative slope of Keras activation "leaky_relu"
KERAS_ACTIVATION_ALPHA = 0.2
#: the Keras layer class of this op
KERAS_LAYER = "LeakyReLU"


def finite_float(value: Any) -> float:
    """alpha: any finite number, kept as the float32 the .tflite stores (LeakyReluOptions.alpha is a float)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise AttrError(f"{value!r} is not a number")
    v = float(value)
    if not (math.isfinite(v) and abs(v) <= float(np.finfo(np.float32).max)):
        raise AttrError(f"{v!r} is not a finite float32 number")
    return float(np.float32(v))


@dataclass(frozen=True)
class LeakyReluParams:
    """TFLite Micro's LeakyReluOpData for int8."""

    input_zero_point: int
    output_zero_point: int
    output_multiplier_alpha: int
    output_shift_alpha: int
    output_multiplier_identity: int
    output_shift_identity: int


def _check(graph: Graph, op: Op) -> None:
    common.unary_int8(graph, op)


def _quantize(op: Op, what: str, real: float, rounding: numerics.Rounding) -> tuple[int, int]:
    """QuantizeMultiplier of a ratio, refused where TFLite's requantization is undefined (finite always: the
    operands are finite float32 values, their double product and quotient cannot overflow)."""
    m, shift = numerics.quantize_multiplier(real, rounding)
    common.check_left_shift(op, what, float(real), shift)
    return m, shift


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> LeakyReluParams:
    """CalculateOpDataLeakyRelu (int8): the ratios in double of the float32 scales and alpha."""
    x, out = common.unary_int8(graph, op)
    si, zi = common.qp(x, op)
    so, zo = common.qp(out, op)
    si64, so64, alpha = float(np.float32(si)), float(np.float32(so)), float(np.float32(op.attrs["alpha"]))
    alpha_ratio = si64 * alpha / so64  # the product of two float32 values is exact in double
    identity_ratio = si64 / so64
    ma, sa = _quantize(op, "input*alpha/output", alpha_ratio, rounding)
    mi, sid = _quantize(op, "input/output", identity_ratio, rounding)
    return LeakyReluParams(input_zero_point=zi, output_zero_point=zo, output_multiplier_alpha=ma,
                           output_shift_alpha=sa, output_multiplier_identity=mi, output_shift_identity=sid)


# --------------------------------------------------------------------------- integer arithmetic


def leaky_relu_int8(x: np.ndarray, p: LeakyReluParams, rounding: str) -> np.ndarray:
    """reference_ops::QuantizeLeakyRelu (int8) of the int8 values ``x``, element by element."""
    d = np.asarray(x, dtype=np.int64) - p.input_zero_point
    positive = d >= 0
    identity = numerics.multiply_by_quantized_multiplier(
        d, p.output_multiplier_identity, p.output_shift_identity, rounding)  # type: ignore[arg-type]
    # a negative alpha: MultiplyByQuantizedMultiplier by |multiplier|, then negated (a float32 ratio's
    # significand never rounds to -2^31, so |multiplier| fits in int32)
    negative_alpha = p.output_multiplier_alpha < 0
    scaled = numerics.multiply_by_quantized_multiplier(
        d, abs(p.output_multiplier_alpha), p.output_shift_alpha, rounding)  # type: ignore[arg-type]
    alpha = -scaled if negative_alpha else scaled
    return common.clamp_int8(p.output_zero_point + np.where(positive, identity, alpha), -128, 127)


def table(p: LeakyReluParams, rounding: str) -> np.ndarray:
    """tg_lut_s8's table: the 256 outputs, entry k for the int8 input whose bits are k (``(uint8_t)x``):
    0..127, then -128..-1."""
    return leaky_relu_int8(np.arange(256, dtype=np.uint8).view(np.int8), p, rounding)


def reference(graph: Graph, op: Op, p: LeakyReluParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return leaky_relu_int8(args[0], p, rounding)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    x = np.asarray(inputs[0])
    return np.where(x >= 0, x, x * np.asarray(op.attrs["alpha"], dtype=x.dtype))


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    x = imp.inputs(raw, 1)[0]
    return Op(KIND, "", [imp.activation_tensor(raw, x)], [], {"alpha": float(np.float32(raw.options["Alpha"]))})


def emit(b: Any, name: str, x: str) -> str:
    """The op of Keras activation "leaky_relu" (negative slope 0.2)."""
    return b.op(KIND, name, [x], b.shape(x), alpha=KERAS_ACTIVATION_ALPHA)


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """keras.layers.LeakyReLU: ``negative_slope`` (Keras 3) or ``alpha`` (Keras 2)."""
    from tinygen.quantize.layers import layer_error, single_input

    x = single_input(layer, inputs)
    cfg = layer.get_config()
    slope = cfg.get("negative_slope", cfg.get("alpha", 0.3))
    try:
        alpha = finite_float(slope)
    except AttrError as exc:
        raise layer_error(layer, f"negative_slope {exc}") from None
    return b.op(KIND, layer.name, [x], b.shape(x), alpha=alpha)


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x = ctx.graph.tensor(op.inputs[0])
    return lut_call(ctx, op, table(p, ctx.rounding), f"leaky_relu {shape_str(x)} alpha {op.attrs['alpha']:g}, tabulated "
                      f"(zero points {p.input_zero_point} -> {p.output_zero_point}, identity "
                      f"{p.output_multiplier_identity} << {p.output_shift_identity}, alpha "
                      f"{p.output_multiplier_alpha} << {p.output_shift_alpha})")


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return tf.nn.leaky_relu(xs[0], alpha=float(attrs["alpha"]))


OP = OpDef(
    kind=KIND,
    attrs=(Attr("alpha", finite_float),),
    infer_shape=common.same_shape,
    num_inputs=(1, 1),
    check=_check,
    params=params,
    reference=reference,
    float_reference=float_reference,
    tflite=(TfliteMapping("LEAKY_RELU", from_tflite, tflite.LeakyReluOptions, {"Alpha": 0.0}),),
    keras_layers={KERAS_LAYER: from_keras},
    keras_activations={KERAS_ACTIVATION: emit},
    lowerings=(lower,),
    in_place=common.same_layout,
    qat=QatHooks(forward=_qat_forward),
)
