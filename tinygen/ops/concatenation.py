"""CONCATENATION (Keras Concatenate): the inputs joined along ``axis``. TFLite Micro's int8 kernel copies
bytes, so every input and the output must share one quantization (the converter gives them one scale);
no fused activation. int16 (16x8 models) the same: TFLite Micro copies int16 values needing only zero points 0;
tinygen also requires the one shared scale (a copy between scales would change the values' meaning).

PACK (tf.stack) is rewritten on import into a reshape of each input (the new axis of size 1: a view, no copy)
then one concatenation along that axis (see :func:`from_tflite_pack`): the bytes TFLite Micro's pack.cc writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import const_ptr, i32, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import ACTIVATION, SHARED_BY_ALL, Attr, OpDef, QatHooks, TfliteMapping, integer

KIND = "concatenation"


@dataclass(frozen=True)
class ConcatParams:
    """concatenation: a byte copy along ``axis`` (non-negative); all quantizations are equal."""

    axis: int


def _axis(graph: Graph, op: Op) -> int:
    """The concatenation axis, non-negative, checked against the first input's rank."""
    x = graph.tensor(op.inputs[0])
    rank = len(x.shape)
    axis = int(op.attrs["axis"])
    if not -rank <= axis < rank:
        raise TinygenError(
            f"{common.where(op)}: axis {axis} is out of range for input {x.name!r} of shape {x.shape}: "
            f"give an axis in [{-rank}, {rank - 1}]"
        )
    return axis + rank if axis < 0 else axis


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    """The inputs joined along the axis; they must have equal ranks and equal sizes outside it."""
    axis = _axis(graph, op)
    first = graph.tensor(op.inputs[0])
    for name in op.inputs[1:]:
        t = graph.tensor(name)
        outside = t.shape[:axis] + t.shape[axis + 1:] == first.shape[:axis] + first.shape[axis + 1:]
        if len(t.shape) != len(first.shape) or not outside:
            raise TinygenError(
                f"{common.where(op)}: input {name!r} of shape {t.shape} does not match input {first.name!r} of shape "
                f"{first.shape} outside axis {axis}: concatenated inputs must have equal shapes except along the axis"
            )
    shape = list(first.shape)
    shape[axis] = sum(graph.tensor(n).shape[axis] for n in op.inputs)
    return tuple(shape)


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> ConcatParams:
    out = graph.tensor(op.outputs[0])
    int16 = out.dtype == "int16"  # a 16x8 model's: the same copy of int16 values
    if not int16:
        common.require_int8(out, op)
    if op.activation != "none":
        raise UnsupportedError(
            f"{common.where(op)}: fused activation {op.activation!r} on CONCATENATION is not supported by TFLite Micro"
        )
    so, zo = common.qp(out, op)
    for name in op.inputs:
        t = graph.tensor(name)
        if not (int16 and t.dtype == "int16"):
            common.require_int8(t, op)
        si, zi = common.qp(t, op)
        if np.float32(si) != np.float32(so) or zi != zo:
            raise TinygenError(
                f"{common.where(op)}: input {name!r} has scale {si!r}, zero point {zi} but output {out.name!r} has "
                f"scale {so!r}, zero point {zo}; TFLite Micro's int8 concatenation copies bytes and needs equal "
                "quantization: re-quantize with one shared scale (the TFLite converter does this)"
            )
    rank = len(out.shape)
    axis = int(op.attrs["axis"])
    if not -rank <= axis < rank:
        raise TinygenError(f"{common.where(op)}: axis {axis} is out of range for output shape {out.shape}")
    return ConcatParams(axis=axis + rank if axis < 0 else axis)


def reference(graph: Graph, op: Op, p: ConcatParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return np.concatenate(args, axis=p.axis).astype(common.NP_DTYPES[graph.tensor(op.outputs[0]).dtype])


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(inputs, axis=int(op.attrs["axis"]))


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    xs = imp.inputs(raw, 1)
    rank = max(len(imp.shape(xs[0])), 1)
    axis = int(raw.options["Axis"]) % rank
    ins = [imp.activation_tensor(raw, x) for x in xs]
    return Op(KIND, "", ins, [], {"axis": axis, "activation": imp.activation(raw)})


def _same_quantization(imp: Any, raw: Any, src: int, dst: int) -> None:
    """PACK: TFLite Micro copies bytes and checks nothing; TFLite's Prepare requires every input's scale and zero
    point to equal the output's ("we do not support packing quantized tensors")."""
    a, b = imp.raw.tensors[src], imp.raw.tensors[dst]
    if a.scale is None or b.scale is None or a.scale.size != 1 or b.scale.size != 1:
        return  # imp.output / imp.activation_tensor refuse it with their own message
    sa, za, sb, zb = float(a.scale[0]), int(a.zero_point[0]), float(b.scale[0]), int(b.zero_point[0])
    if np.float32(sa) != np.float32(sb) or za != zb:
        raise TinygenError(
            f"{imp.where(raw)}: input {imp.describe(src)} has scale {np.float32(sa)!s}, zero point {za} but output "
            f"{imp.describe(dst)} has scale {np.float32(sb)!s}, zero point {zb}; TFLite Micro's PACK copies bytes "
            "without requantizing, so they must be equal (TFLite refuses them otherwise): re-quantize the model (the "
            "TFLite converter gives them one quantization)"
        )


def from_tflite_pack(imp: Any, raw: Any) -> list[Op]:
    """PACK (``values_count`` inputs of one shape stacked along a new ``axis``): each input reshaped to have the new
    axis (size 1; a view, no copy), then one concatenation along it (one reshape alone for one input). TFLite
    Micro's Eval copies ``values_count`` inputs by the output's shape (checking nothing); TFLite's Prepare requires
    ``values_count`` inputs of one shape and type, the axis in ``[-(rank + 1), rank]`` and every input quantized as
    the output."""
    from tinygen.ops import reshape

    xs = imp.inputs(raw, 1)
    count = int(raw.options["ValuesCount"])
    if count != len(xs) or any(i < 0 for i in xs):
        raise TinygenError(
            f"{imp.where(raw)}: values_count is {count} but the op has operands {list(xs)}; PACK needs one input per "
            "value (TFLite Micro reads values_count inputs): fix or re-export the model"
        )
    first = imp.shape(xs[0])
    for x in xs[1:]:
        if imp.shape(x) != first:
            raise TinygenError(
                f"{imp.where(raw)}: input {imp.describe(x)} does not have the shape of input {imp.describe(xs[0])}; "
                "PACK stacks inputs of one shape (TFLite refuses others): fix or re-export the model"
            )
    rank = len(first) + 1
    axis = int(raw.options["Axis"])
    if not -rank <= axis < rank:
        raise TinygenError(
            f"{imp.where(raw)}: axis {axis} is out of range for packing inputs of rank {rank - 1}: give an axis in "
            f"[{-rank}, {rank - 1}]; fix or re-export the model"
        )
    axis = axis + rank if axis < 0 else axis
    out_index = raw.outputs[0]
    expected = (*first[:axis], count, *first[axis:])
    declared = tuple(imp.raw.tensors[out_index].shape)
    if declared != expected:
        raise TinygenError(
            f"{imp.where(raw)}: output {imp.describe(out_index)} has shape {list(declared)}, expected "
            f"{list(expected)} ({count} inputs of shape {list(first)} stacked on axis {axis}): fix or re-export the "
            "model"
        )
    for x in xs:
        _same_quantization(imp, raw, x, out_index)
    names = [imp.activation_tensor(raw, x) for x in xs]
    expanded = (*first[:axis], 1, *first[axis:])
    if count == 1 and not imp.graph.tensor(names[0]).is_const:
        return [Op(reshape.KIND, "", [names[0]], [imp.output(raw, reshape.KIND)], {})]
    parts: list[Op] = []
    stacked: list[str] = []
    for name in names:  # a constant's reshape is an alias of the constant too (the code generator resolves it)
        view = imp.derived(name, expanded, "packed")
        parts.append(Op(reshape.KIND, "", [name], [view], {}))
        stacked.append(view)
    out = imp.output(raw, KIND)
    parts.append(Op(KIND, "", stacked, [out], {"axis": axis, "activation": "none"}))
    return parts


def from_keras(b: Any, layer: Any, xs: list[str]) -> str:
    from tinygen.quantize.layers import layer_error

    if len(xs) < 2:
        raise layer_error(layer, f"needs at least two inputs, got {len(xs)}")
    rank = len(b.shape(xs[0]))
    axis = int(layer.get_config().get("axis", -1)) % rank
    if axis == 0:
        raise layer_error(layer, "concatenating along the batch axis is not supported")
    shape = list(b.shape(xs[0]))
    shape[axis] = sum(b.shape(x)[axis] for x in xs)
    return b.op(KIND, layer.name, list(xs), tuple(shape), axis=axis, activation="none")


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    out = ctx.graph.tensor(op.outputs[0])
    outer = int(np.prod(out.shape[: p.axis], dtype=np.int64))
    blocks = []
    for name in op.inputs:
        t = ctx.graph.tensor(name)
        outside = (t.shape[: p.axis], t.shape[p.axis + 1:]) == (out.shape[: p.axis], out.shape[p.axis + 1:])
        if len(t.shape) != len(out.shape) or not outside:
            raise TinygenError(
                f"{common.where(op)}: input {name!r} of shape {t.shape} does not match output {out.shape} "
                f"outside axis {p.axis}: fix the input shapes"
            )
        blocks.append(t.size // outer * t.itemsize if outer else 0)  # bytes
    if sum(blocks) * outer != out.nbytes:
        raise TinygenError(
            f"{common.where(op)}: inputs do not add up to output {out.shape} along axis {p.axis}: fix the output shape"
        )
    ptrs = ", ".join(const_ptr(ctx, n) for n in op.inputs)
    args = (f"(const int8_t *const[]){{{ptrs}}}", i32(ctx, op, "blocks", blocks), str(len(op.inputs)), str(outer),
            f"(int8_t *)(void *)({ctx.tensor_ptr(out.name)})" if out.dtype != "int8" else ctx.tensor_ptr(out.name))
    comment = f"concatenate {len(op.inputs)} tensors on axis {p.axis} -> {shape_str(out)}"
    return KernelCall("tg_concat_s8", args, comment=comment)


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return tf.concat(xs, axis=int(attrs["axis"]))


OP = OpDef(
    kind=KIND,
    attrs=(Attr("axis", integer, 0), ACTIVATION),
    num_inputs=(1, None),
    infer_shape=infer_shape,
    params=params,
    reference=reference,
    float_reference=float_reference,
    quant_rule=SHARED_BY_ALL,
    tflite=(TfliteMapping("CONCATENATION", from_tflite, tflite.ConcatenationOptions,
                          {"Axis": 0, "FusedActivationFunction": tflite.ActivationFunctionType.NONE}, int16=True),
            TfliteMapping("PACK", from_tflite_pack, tflite.PackOptions, {"ValuesCount": 0, "Axis": 0})),
    keras_layers={"Concatenate": from_keras},
    lowerings=(lower,),
    qat=QatHooks(forward=_qat_forward),
)
