"""MUL (Keras Multiply): the elementwise product of two int8 tensors, broadcast numpy-style (a .tflite BatchNorm
with nothing to fold into becomes MUL/ADD with per-channel constants). TFLite Micro's int8 MUL::

    out = clamp(requantize((x1 - zp1) * (x2 - zp2), output_multiplier, output_shift) + output_zero_point)

with QuantizeMultiplier(input1_scale * input2_scale / output_scale) in double precision. int16 MUL (16x8 models,
TFLite Micro's reference_integer_ops::Mul on int16) is the same with zero points 0 and the int16 clamp, broadcast
as the int8 MUL is (``tg_mul_s16``, ``tg_mul_broadcast_s16``: BroadcastMul4DSlow's arithmetic is MulElementwise's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import binary_common, common
from tinygen.ops.base import ACTIVATION, OpDef, QatHooks, TfliteMapping

KIND = "mul"

#: largest left shift of the requantization: beyond it x << shift overflows int32 for every x (TFLite's
#: ``x * (1 << shift)`` is undefined there, and tinygen's kernels would shift by 32 or more)
MAX_LEFT_SHIFT = 30


@dataclass(frozen=True)
class MulParams:
    """``out = clamp(requantize((x1 + input1_offset) * (x2 + input2_offset), output_multiplier,
    output_shift) + output_offset)``."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> MulParams:
    a, b, out = binary_common.operands(graph, op, int16=True)
    (s1, z1), (s2, z2), (so, zo) = common.qp(a, op), common.qp(b, op), common.qp(out, op)
    if out.dtype == "int16" and (z1, z2, zo) != (0, 0, 0):
        raise TinygenError(  # TFLite Micro's Prepare refuses it too
            f"{common.where(op)}: int16 tensors {a.name!r}, {b.name!r} -> {out.name!r} have zero points {z1}, {z2}, "
            f"{zo}; TFLite's int16 MUL needs zero points 0: re-quantize the model"
        )
    real = float(np.float32(s1)) * float(np.float32(s2)) / float(np.float32(so))
    m, sh = common.multiplier(real, op, "input1*input2/output", rounding)
    if sh > MAX_LEFT_SHIFT:
        raise TinygenError(
            f"{common.where(op)}: scales {s1:g} x {s2:g} -> {so:g} give the requantization multiplier {real:g}, a "
            f"left shift of {sh} bits; TFLite's int8 MUL shifts its int32 product by at most {MAX_LEFT_SHIFT}: the "
            "output scale is far too small for the inputs; re-quantize the model"
        )
    act_min, act_max = binary_common.act_range(op, out)
    return MulParams(input1_offset=-z1, input2_offset=-z2, output_offset=zo, output_multiplier=m, output_shift=sh,
                     act_min=act_min, act_max=act_max)


def reference(graph: Graph, op: Op, p: MulParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    a, b = common.broadcast_pair(graph, op, args[0], args[1])
    prod = (a + p.input1_offset) * (b + p.input2_offset)
    rnd: numerics.Rounding = rounding  # type: ignore[assignment]
    raw = numerics.multiply_by_quantized_multiplier(prod, p.output_multiplier, p.output_shift, rnd) + p.output_offset
    return binary_common.clamp(raw, p.act_min, p.act_max, graph.tensor(op.outputs[0]))


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return inputs[0] * inputs[1]


def from_tflite(imp: Any, raw: Any) -> Op:
    return binary_common.from_tflite(imp, raw, KIND)


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """Keras Multiply of two or more inputs: a chain of two-input muls (the last one takes the layer's name).
    Inputs of lower rank are first expanded at axis 1 until the ranks match, as Keras's Merge layers do (a
    reshape, no copy); the shapes then broadcast numpy-style (each dimension equal or 1)."""
    from tinygen.ops import reshape
    from tinygen.quantize.layers import layer_error

    if len(inputs) < 2:
        raise layer_error(layer, f"needs at least two inputs, got {len(inputs)}")
    rank = max(len(b.shape(x)) for x in inputs)
    expanded = []
    for i, x in enumerate(inputs):
        shape = b.shape(x)
        if len(shape) < rank:
            x = b.op(reshape.KIND, f"{layer.name}/expand{i}", [x], (shape[0], *[1] * (rank - len(shape)), *shape[1:]))
        expanded.append(x)
    shapes = [b.shape(x) for x in expanded]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise layer_error(layer, f"input shapes {[b.shape(x) for x in inputs]} do not broadcast: each dimension must "
                                 "be equal or 1") from None
    out = expanded[0]
    for i, x in enumerate(expanded[1:]):
        last = i == len(expanded) - 2
        shape = tuple(int(d) for d in np.broadcast_shapes(b.shape(out), b.shape(x)))
        out = b.op(KIND, layer.name if last else f"{layer.name}/{i}", [out, x], shape, activation="none")
    return out


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    if ctx.graph.tensor(op.outputs[0]).dtype == "int16":
        # Field order of tg_mul_s16_params_t (zero points 0: no offsets).
        fields16 = f"{p.output_multiplier}, {p.output_shift}, {p.act_min}, {p.act_max}"
        return binary_common.lower_binary(ctx, op, "tg_mul", "tg_mul_s16_params_t", fields16)
    # Field order of tg_mul_params_t.
    fields = ", ".join(str(v) for v in (
        p.input1_offset, p.input2_offset, p.output_offset, p.output_multiplier, p.output_shift, p.act_min, p.act_max,
    ))
    return binary_common.lower_binary(ctx, op, "tg_mul", "tg_mul_params_t", fields)


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return xs[0] * xs[1]


OP = OpDef(
    kind=KIND,
    attrs=(ACTIVATION,),
    num_inputs=(2, 2),
    infer_shape=binary_common.infer_shape,
    params=params,
    reference=reference,
    float_reference=float_reference,
    tflite=(TfliteMapping("MUL", from_tflite, tflite.MulOptions,
                          {"FusedActivationFunction": tflite.ActivationFunctionType.NONE}, int16=True),),
    keras_layers={"Multiply": from_keras},
    lowerings=(lower,),
    in_place=binary_common.in_place,
    qat=QatHooks(forward=_qat_forward),
)
