"""QUANTIZE: float32 -> int8 at the graph input (TFLite Micro's AffineQuantize: ``clamp(roundf(x /
scale) + zero_point)`` with a float32 division, round half away from zero), or int8 -> int8
requantization (reference_ops::Requantize: ``clamp(requantize(x - input_zero_point, multiplier, shift)
+ output_zero_point)``). The only op whose input may be a float32 graph input. An int16 graph input comes in
through one too (int16 -> int8), and an int16 tensor goes out as an int32 graph output (int16 -> int32, TFLite
Micro's keyword_scrambled example). In 16x8 models it quantizes float32 to int16 and requantizes int8 <-> int16
(the boundary of a mixed model) and int16 -> int16 (the converter's rescaling before a concatenation)."""

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

KIND = "quantize"

#: the integer (input, output) type pairs TFLite Micro's QUANTIZE requantizes, with each one's kernel
_REQUANTIZE_KERNELS = {("int8", "int8"): "tg_quantize_s8", ("uint8", "int8"): "tg_quantize_u8_s8",
                       ("int8", "uint8"): "tg_quantize_s8_u8", ("int16", "int8"): "tg_quantize_s16_s8",
                       ("int16", "int32"): "tg_quantize_s16_s32", ("int8", "int16"): "tg_quantize_s8_s16",
                       ("int16", "int16"): "tg_quantize_s16_s16"}
#: the float32 -> integer kernel of each output type
_AFFINE_KERNELS = {"int8": "tg_quantize_f32_s8", "int16": "tg_quantize_f32_s16"}
_OUTPUT_RANGES = common.INT_RANGES | {"int32": (-(2**31), 2**31 - 1)}


@dataclass(frozen=True)
class QuantizeParams:
    """quantize. ``mode`` "affine" (float32 -> int): ``out = clamp(roundf(x / scale) + zero_point)``
    with a float32 division and round half away from zero (AffineQuantize). ``mode`` "requantize"
    (int -> int, reference_ops::Requantize): ``out = clamp(requantize(x - input_zero_point,
    multiplier, shift) + output_zero_point)``. Clamp range ``[qmin, qmax]`` of the output type."""

    mode: str
    scale: float
    input_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int
    qmin: int
    qmax: int


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> QuantizeParams:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if out.dtype not in ("int8", "uint8", "int16", "int32"):
        raise UnsupportedError(
            f"{common.where(op)}: output {out.name!r} is {out.dtype}; tinygen quantizes to int8, uint8 or int16 (and "
            "int16 to int32) only"
        )
    so, zo = common.qp(out, op)
    qmin, qmax = _OUTPUT_RANGES[out.dtype]
    if x.dtype == "float32":
        return QuantizeParams(mode="affine", scale=float(np.float32(so)), input_zero_point=0, output_zero_point=zo,
                              multiplier=0, shift=0, qmin=qmin, qmax=qmax)
    if (x.dtype, out.dtype) in _REQUANTIZE_KERNELS:
        si, zi = common.qp(x, op)
        m, sh = common.multiplier(float(np.float32(si)) / float(np.float32(so)), op, "input/output", rounding)
        return QuantizeParams(mode="requantize", scale=float(np.float32(so)), input_zero_point=zi, output_zero_point=zo,
                              multiplier=m, shift=sh, qmin=qmin, qmax=qmax)
    raise UnsupportedError(
        f"{common.where(op)}: quantize from {x.dtype} to {out.dtype} is not supported (float32/int8/uint8/int16 -> "
        "int8, float32/int8/int16 -> int16, int8 -> uint8, int16 -> int32)"
    )


def _check(graph: Graph, op: Op) -> None:
    """The type combination and every scale/zero point, before anything is generated (cheap)."""
    params(graph, op, "double")


def reference(graph: Graph, op: Op, p: QuantizeParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    out_dtype = common.NP_DTYPES[graph.tensor(op.outputs[0]).dtype]
    x = args[0]
    if p.mode == "affine":
        return numerics.affine_quantize(x, p.scale, p.output_zero_point, p.qmin, p.qmax).astype(out_dtype)
    else:
        raw = numerics.multiply_by_quantized_multiplier(x.astype(np.int64) - p.input_zero_point, p.multiplier, p.shift,
                                                        rounding)  # type: ignore[arg-type]
        raw = raw + p.output_zero_point
    return np.clip(raw, p.qmin, p.qmax).astype(out_dtype)


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op | list[Op]:
    x = imp.inputs(raw, 1)[0]
    t = imp.raw.tensors[x]
    if t.type == tflite.TensorType.FLOAT32:
        if x not in imp.raw.inputs:
            raise UnsupportedError(
                f"{imp.where(raw)}: quantizes {imp.describe(x)}, which is not a graph input: a float model"
            )
        return Op(KIND, "", [imp.tensor(x)], [], {})
    if t.type == tflite.TensorType.UINT8 or imp.is_edge(x):
        return Op(KIND, "", [imp.edge_tensor(x)], [], {})
    if t.type == tflite.TensorType.INT16:  # an int16 activation (a softmax's) made before: its output's type
        op = Op(KIND, "", [imp.tensor(x)], [], {})
        if imp.raw.tensors[raw.outputs[0]].type == tflite.TensorType.INT32:  # the importer's check takes int8 only
            op.outputs = [imp.tensor(raw.outputs[0])]
            return [op]
        return op
    return Op(KIND, "", [imp.activation_tensor(raw, x)], [], {})


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    if p.mode == "affine":
        if out.dtype not in _AFFINE_KERNELS:
            raise UnsupportedError(
                f"{common.where(op)}: float32 {x.name!r} -> {out.dtype} {out.name!r} is not supported; tinygen "
                "quantizes float32 to int8 or int16: convert the model with int8, int16 or float32 inputs"
            )
        # float32 tensors are passed as float * casts of the context's pointers (the arena is 16-byte aligned)
        args = (f"(const float *)(const void *)({ctx.tensor_ptr(x.name)})", str(x.size), c_float(p.scale),
                str(p.output_zero_point), ctx.tensor_ptr(out.name))
        return KernelCall(_AFFINE_KERNELS[out.dtype], args, comment=f"quantize float32 {shape_str(x)} -> {out.dtype}: "
                          f"scale {p.scale:g}, zero point {p.output_zero_point}")
    kernel = _REQUANTIZE_KERNELS.get((x.dtype, out.dtype))
    if kernel is None:
        raise UnsupportedError(
            f"{common.where(op)}: {x.dtype} {x.name!r} -> {out.dtype} {out.name!r} is not supported; tinygen "
            "requantizes int8/uint8/int16 -> int8, int8/int16 -> int16, int8 -> uint8 and int16 -> int32"
        )
    source = const_ptr(ctx, x.name) if x.dtype == "int8" else ctx.tensor_ptr(x.name)
    args = (source, str(x.size), str(p.input_zero_point), str(p.multiplier), str(p.shift),
            str(p.output_zero_point), ctx.tensor_ptr(out.name))
    return KernelCall(kernel, args, comment=f"requantize {x.dtype} -> {out.dtype} {shape_str(x)}")


def in_place(graph: Graph, op: Op) -> bool:
    # int8 -> int8 (int16 -> int16) element for element; float32 -> int8 writes byte i over float element i // 4
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    return x.size == out.size and (
        (out.dtype in ("int8", "uint8") and x.dtype in ("int8", "uint8", "float32")) or x.dtype == out.dtype == "int16"
    )


OP = OpDef(
    kind=KIND,
    infer_shape=common.same_shape,
    check=_check,
    params=params,
    reference=reference,
    float_edge="input",
    tflite=(TfliteMapping("QUANTIZE", from_tflite, int16=True),),
    lowerings=(lower,),
    in_place=in_place,
)
