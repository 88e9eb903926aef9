"""RELU6 (Keras ``activation="relu6"``, ReLU(max_value=6)): ``min(max(x, q(0)), q(6))`` in the input's
quantization. TFLite Micro's Relu6Quantized does not requantize: the output shares the input's scale and
zero point (the converter gives them one), and the bounds are the input's quantized 0 and 6. int16 (16x8
models): ``Relu6Quantized<int16_t>``, the same clamp on int16."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygen import numerics
from tinygen.activations import RELU6, apply_float, apply_tf
from tinygen.ir import Graph, Op
from tinygen.lowering.args import elementwise_input_ptr, in_out, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import OpDef, QatHooks, TfliteMapping

KIND = "relu6"


@dataclass(frozen=True)
class Relu6Params:
    """relu6 op (TFLite Micro's Relu6Quantized: no requantization):
    ``out = min(max(x, zero), six)`` in the input's quantization."""

    zero: int
    six: int


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> Relu6Params:
    x, _ = common.unary_int8_or_int16(graph, op)
    si, zi = common.qp(x, op)
    # FloatToQuantizedType<T>(6.0f, scale, zero_point): float32 division, round, clamp to T.
    q = float(np.float32(6.0) / np.float32(si))
    six = int(np.clip(int(numerics.round_half_away(q)) + zi, *common.INT_RANGES[x.dtype]))
    return Relu6Params(zero=zi, six=six)


def reference(graph: Graph, op: Op, p: Relu6Params, args: list[np.ndarray], rounding: str) -> np.ndarray:
    x = args[0]
    return np.where(x > p.six, p.six, np.where(x < p.zero, p.zero, x)).astype(x.dtype)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return apply_float(inputs[0], RELU6)


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    x = imp.inputs(raw, 1)[0]
    return Op(KIND, "", [imp.activation_tensor(raw, x)], [], {})


def emit(b: Any, name: str, x: str) -> str:
    """The op of Keras activation "relu6" (and of ReLU(max_value=6))."""
    return b.op(KIND, name, [x], b.shape(x))


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    args = (elementwise_input_ptr(ctx, x), str(x.size), str(p.zero), str(p.six), ctx.tensor_ptr(out.name))
    return KernelCall("tg_relu_clamp_s16" if x.dtype == "int16" else "tg_relu_clamp_s8", args, comment=f"relu6 {shape_str(x)}: clamp [{p.zero}, {p.six}]")


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return apply_tf(tf, xs[0], RELU6)


OP = OpDef(
    kind=KIND,
    infer_shape=common.same_shape,
    params=params,
    reference=reference,
    float_reference=float_reference,
    is_activation=RELU6,
    tflite=(TfliteMapping("RELU6", from_tflite, int16=True),),
    keras_activations={RELU6: emit},
    lowerings=(lower,),
    in_place=common.same_layout,
    qat=QatHooks(forward=_qat_forward),
)
