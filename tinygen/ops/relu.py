"""RELU (Keras ReLU layer, ``activation="relu"``): TFLite Micro's ReluQuantized, which requantizes:
``out = clamp(output_zero_point + requantize(x - input_zero_point, multiplier, shift), q(0), 127)`` with
the multiplier of ``input_scale / output_scale``. With equal scales and zero points the requantization is
the identity (QuantizeMultiplier(1.0) = (2^30, 1), and MultiplyByQuantizedMultiplier(x, 2^30, 1) == x for
every int8 difference, in both rounding modes), so the kernel becomes a plain clamp.

int16 (16x8 models): ``ReluQuantized<int16_t>``, the same arithmetic on int16 with zero points 0 (TFLite Micro's
Prepare requires them) and the bounds ``[0, 32767]``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygen import numerics
from tinygen.activations import RELU, apply_float, apply_tf
from tinygen.ir import Graph, Op
from tinygen.lowering.args import elementwise_input_ptr, in_out, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common, relu6
from tinygen.ops.base import OpDef, QatHooks, TfliteMapping

KIND = "relu"

#: QuantizeMultiplier(1.0): the (multiplier, shift) whose requantization is the identity
_IDENTITY = (1 << 30, 1)


@dataclass(frozen=True)
class ReluParams:
    """relu op (TFLite Micro's ReluQuantized, it requantizes):
    ``out = clamp(output_offset + requantize(x - input_zero_point, multiplier, shift))``."""

    input_zero_point: int
    output_offset: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> ReluParams:
    x, out = common.unary_int8_or_int16(graph, op, zero_points_zero=True)
    (si, zi), (so, zo) = common.qp(x, op), common.qp(out, op)
    m, sh = common.multiplier(float(np.float32(si)) / float(np.float32(so)), op, "input/output", rounding)
    if out.dtype == "int16":  # CalculateReluOpData<int16_t>: max(-32768, 0 + round(0 / scale)), 32767
        act_min, act_max = 0, 32767
    else:
        act_min, act_max = numerics.activation_range(RELU, so, zo)
    return ReluParams(input_zero_point=zi, output_offset=zo, multiplier=m, shift=sh, act_min=act_min, act_max=act_max)


def reference(graph: Graph, op: Op, p: ReluParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    x = args[0].astype(np.int64) - p.input_zero_point
    scaled = numerics.multiply_by_quantized_multiplier(x, p.multiplier, p.shift, rounding)  # type: ignore[arg-type]
    raw = p.output_offset + scaled
    return np.clip(raw, p.act_min, p.act_max).astype(args[0].dtype)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return apply_float(inputs[0], RELU)


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    x = imp.inputs(raw, 1)[0]
    return Op(KIND, "", [imp.activation_tensor(raw, x)], [], {})


def emit(b: Any, name: str, x: str) -> str:
    """The op of Keras activation "relu"."""
    return b.op(KIND, name, [x], b.shape(x))


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """keras.layers.ReLU: max_value None is a relu op, 6 a relu6 op; leaky or thresholded ones are not
    supported."""
    from tinygen.quantize.layers import layer_error, single_input

    x = single_input(layer, inputs)
    cfg = layer.get_config()
    if float(cfg.get("negative_slope") or 0.0) != 0.0 or float(cfg.get("threshold") or 0.0) != 0.0:
        raise layer_error(layer, "negative_slope/threshold other than 0 (leaky ReLU) is not supported")
    max_value = cfg.get("max_value")
    if max_value is None:
        return b.op(KIND, layer.name, [x], b.shape(x))
    if float(max_value) == 6.0:
        return b.op(relu6.KIND, layer.name, [x], b.shape(x))
    raise layer_error(layer, f"max_value={max_value} is not supported; only None (ReLU) and 6 (ReLU6) are")


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    suffix = "s16" if x.dtype == "int16" else "s8"
    if (p.multiplier, p.shift) == _IDENTITY and p.input_zero_point == p.output_offset:
        args = (elementwise_input_ptr(ctx, x), str(x.size), str(p.act_min), str(p.act_max), ctx.tensor_ptr(out.name))
        return KernelCall(f"tg_relu_clamp_{suffix}", args, comment=f"relu {shape_str(x)}: clamp [{p.act_min}, {p.act_max}]")
    args = (elementwise_input_ptr(ctx, x), str(x.size), str(p.input_zero_point), str(p.multiplier), str(p.shift),
            str(p.output_offset), str(p.act_min), str(p.act_max), ctx.tensor_ptr(out.name))
    return KernelCall(f"tg_relu_{suffix}", args, comment=f"relu {shape_str(x)} with requantization")


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return apply_tf(tf, xs[0], RELU)


OP = OpDef(
    kind=KIND,
    infer_shape=common.same_shape,
    params=params,
    reference=reference,
    float_reference=float_reference,
    is_activation=RELU,
    tflite=(TfliteMapping("RELU", from_tflite, int16=True),),
    keras_layers={"ReLU": from_keras},
    keras_activations={RELU: emit},
    lowerings=(lower,),
    # the kernels (requantizing or clamp) read element i right before writing element i
    in_place=common.same_layout,
    qat=QatHooks(forward=_qat_forward),
)
