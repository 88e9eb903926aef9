"""DEQUANTIZE: int8 (int16 in a 16x8 model) -> float32 at the graph output, ``out = float32(scale * (x -
zero_point))`` (TFLite Micro's Dequantize, the scale widened to double). The only op whose output may be a float32
graph output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import c_float, const_ptr, in_out, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import OpDef, TfliteMapping

KIND = "dequantize"
#: the kernel of each input type
_KERNELS = {"int8": "tg_dequantize_s8", "int16": "tg_dequantize_s16"}


@dataclass(frozen=True)
class DequantizeParams:
    """dequantize: ``out = float32(scale * (x - zero_point))`` with ``scale`` as float64."""

    scale: float
    zero_point: int


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> DequantizeParams:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if x.dtype not in ("int8", "uint8", "int16") or out.dtype != "float32":
        raise UnsupportedError(
            f"{common.where(op)}: dequantize from {x.dtype} to {out.dtype} is not supported (int8/int16 -> float32)"
        )
    si, zi = common.qp(x, op)
    return DequantizeParams(scale=float(np.float32(si)), zero_point=zi)


def _check(graph: Graph, op: Op) -> None:
    """The type combination and the input's scale/zero point, before anything is generated (cheap)."""
    params(graph, op, "double")


def reference(graph: Graph, op: Op, p: DequantizeParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return (p.scale * (args[0].astype(np.float64) - p.zero_point)).astype(np.float32)


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    x = imp.inputs(raw, 1)[0]
    out = raw.outputs[0]
    if imp.raw.tensors[out].type != tflite.TensorType.FLOAT32 or out not in imp.raw.outputs:
        raise UnsupportedError(
            f"{imp.where(raw)}: dequantizes into {imp.describe(out)}, which is not a float32 graph output: a float model"
        )
    # the float32 output is made here: the importer's own output check accepts int8 outputs only
    return Op(KIND, "", [imp.activation_tensor(raw, x)], [imp.tensor(out)], {})


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    if x.dtype not in _KERNELS:
        raise UnsupportedError(
            f"{common.where(op)}: input {x.name!r} is {x.dtype}; tinygen dequantizes int8 and int16 only: "
            "convert the model with int8 (not uint8) tensors"
        )
    # the float32 output is passed as a float * cast of the context's pointer (the arena is 16-byte aligned)
    source = const_ptr(ctx, x.name) if x.dtype == "int8" else ctx.tensor_ptr(x.name)
    args = (source, str(x.size), c_float(p.scale), str(p.zero_point), f"(float *)(void *)({ctx.tensor_ptr(out.name)})")
    comment = f"dequantize {x.dtype} {shape_str(x)}: scale {p.scale:g}, zero point {p.zero_point}"
    return KernelCall(_KERNELS[x.dtype], args, comment=comment)


OP = OpDef(
    kind=KIND,
    infer_shape=common.same_shape,
    check=_check,
    params=params,
    reference=reference,
    float_edge="output",
    tflite=(TfliteMapping("DEQUANTIZE", from_tflite, int16=True),),
    lowerings=(lower,),
)
