"""What ARG_MAX and ARG_MIN share (their kinds live in ``arg_max.py`` and ``arg_min.py``): the index of the
largest (smallest) int8 value along one axis, as int32, the axis removed from the shape; bit-exact with TFLite
Micro.

TFLite Micro (kernels/arg_min_max.cc, ``reference_ops::ArgMinMax``) has no Prepare. Eval requires the axis
operand to be int32 and the output int32 (an int64 axis or output, TensorFlow's default ``output_type``, fails:
"Only int32_t are supported currently"; tinygen has no int64 tensors either), and the input float32 or int8. It
reads only the axis operand's first value, adds the rank to a negative one, and checks nothing else (an axis
outside ``[-rank, rank)`` reads outside the shape; the output shape is a debug-only check). For each
``(outer, inner)`` position it keeps the first value along the axis and moves on only on a strict
``std::greater`` (``std::less``) comparison of the raw int8 values, so ties resolve to the first (lowest) index;
the quantization plays no part (a positive scale keeps the order of the real values).

tinygen requires what TFLite Micro assumes: a constant int32 axis of exactly one element (TFLite's own Prepare
requires one element) inside ``[-rank, rank)``, an int8 per-tensor quantized input of rank 1 or more, an int32
output of the input's shape without the axis. The IR keeps the axis as the attribute ``axis`` (as the model gives
it: negative allowed; the constant operand is dropped on import). The ``.tflite`` options' ``output_type`` must
agree with the output tensor (an absent table reads as 0 and is ignored: TFLite Micro never reads it).

The kernel ``tg_arg_min_max_s8`` walks the input as ``[outer, axis_size, inner]``; ``inner == 1`` (the axis is
the last non-trivial dimension: the classifier's ``[1, N] -> [1]``) takes the fast path, one contiguous row per
output: the extreme value first (four lanes per step with SSUB8/SEL on cores with the DSP extension), then the
first index holding it. Other layouts walk each output's strided column. Its int32 output is four times wider
than the input elements it replaces, so it never runs in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import const_ptr, in_out, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import Attr, OpDef, TfliteMapping, integer

#: the C kernel of both ops
KERNEL = "tg_arg_min_max_s8"

#: the output type TFLite Micro's ARG_MAX/ARG_MIN give (and the only index type tinygen has)
OUTPUT_DTYPE = "int32"

_TYPE_NAMES = {v: k.lower() for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}


@dataclass(frozen=True)
class ArgMinMaxParams:
    """arg_max/arg_min over ``axis`` (resolved: ``0 <= axis < rank``); ``is_max``: the index of the largest value,
    else of the smallest. The input's ``[outer, axis_size, inner]`` layout."""

    axis: int
    is_max: bool
    outer: int
    axis_size: int
    inner: int


def resolve_axis(graph: Graph, op: Op) -> int:
    """The axis, non-negative; refused outside ``[-rank, rank)`` and for a rank-0 input."""
    x = graph.tensor(op.inputs[0])
    rank = len(x.shape)
    axis = int(op.attrs["axis"])
    if rank == 0:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} is a scalar (shape ()); {op.kind.upper()} needs an input of rank "
            "1 or more (TFLite Micro assumes it): fix or re-export the model"
        )
    if not -rank <= axis < rank:
        raise TinygenError(
            f"{common.where(op)}: axis {axis} is out of range for input {x.name!r} of shape {x.shape}: it must be in "
            f"[{-rank}, {rank - 1}] (TFLite Micro would read outside the shape); fix or re-export the model"
        )
    return axis + rank if axis < 0 else axis


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    """The input's shape without the axis."""
    x = graph.tensor(op.inputs[0])
    axis = resolve_axis(graph, op)
    return tuple(d for i, d in enumerate(x.shape) if i != axis)


def _check(graph: Graph, op: Op) -> None:
    """int8 per-tensor quantized input, int32 output, the axis in range."""
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    common.require_int8(x, op)
    common.qp(x, op)
    if out.dtype != OUTPUT_DTYPE:
        raise UnsupportedError(
            f"{common.where(op)}: output {out.name!r} is {out.dtype}; TFLite Micro's {op.kind.upper()} gives int32 "
            "indices only: convert with output_type=tf.int32"
        )
    resolve_axis(graph, op)


def layout(shape: tuple[int, ...], axis: int) -> tuple[int, int, int]:
    """``(outer, axis_size, inner)``: the elements before, along and after the axis (row-major)."""
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return outer, int(shape[axis]), inner


def make_params(is_max: bool) -> Callable[[Graph, Op, numerics.Rounding], ArgMinMaxParams]:
    def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> ArgMinMaxParams:
        """No Prepare, no arithmetic: ``rounding`` plays no part."""
        _check(graph, op)
        axis = resolve_axis(graph, op)
        outer, size, inner = layout(graph.tensor(op.inputs[0]).shape, axis)
        return ArgMinMaxParams(axis=axis, is_max=is_max, outer=outer, axis_size=size, inner=inner)

    return params


def arg_min_max(x: np.ndarray, axis: int, is_max: bool) -> np.ndarray:
    """reference_ops::ArgMinMax with std::greater (std::less): along ``axis``, the index of the first value no later
    value beats strictly, i.e. the first index of the largest (smallest) value, as int32."""
    x = np.asarray(x)
    outer, size, inner = layout(x.shape, axis)
    rows = x.reshape(outer, size, inner)
    best = rows[:, 0, :].copy()
    index = np.zeros((outer, inner), dtype=np.int32)
    for i in range(1, size):
        beats = rows[:, i, :] > best if is_max else rows[:, i, :] < best
        best = np.where(beats, rows[:, i, :], best)
        index = np.where(beats, np.int32(i), index)
    return index.reshape(tuple(d for k, d in enumerate(x.shape) if k != axis))


def reference(graph: Graph, op: Op, p: ArgMinMaxParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return arg_min_max(np.asarray(args[0], dtype=np.int8), p.axis, p.is_max)


def make_float_reference(is_max: bool) -> Callable[[Op, list[np.ndarray]], np.ndarray]:
    def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
        """On a batch of the op's input rank: numpy's first index of the extreme value (TensorFlow's argmax)."""
        x = np.asarray(inputs[0])
        axis = int(op.attrs["axis"]) % x.ndim
        return (np.argmax if is_max else np.argmin)(x, axis=axis).astype(np.int32)

    return float_reference


# --------------------------------------------------------------------------- import


def from_tflite(kind: str, builtin: str) -> Callable[[Any, Any], list[Op]]:
    """The converter of ``builtin``: its int8 input, its constant int32 axis of one element (kept as ``axis``) and
    its int32 output. It returns the op in a list with its output set, since the importer's own output check
    takes int8 activations only."""

    def convert(imp: Any, raw: Any) -> list[Op]:
        if len(raw.inputs) != 2:
            raise TinygenError(
                f"{imp.where(raw)}: has {len(raw.inputs)} inputs; TFLite Micro's {builtin} takes exactly 2 (the tensor "
                "and its axis); corrupt model"
            )
        x, axis_index = imp.inputs(raw, 2)[:2]
        if axis_index < 0:
            raise TinygenError(f"{imp.where(raw)}: its axis operand is missing; corrupt model")
        out_index = raw.outputs[0]
        out_type = imp.raw.tensors[out_index].type
        option = int(raw.options["OutputType"])
        if out_type == tflite.TensorType.INT64:
            raise UnsupportedError(
                f"{imp.where(raw)}: its output {imp.describe(out_index)} holds int64 indices (TensorFlow's default "
                f"output_type); TFLite Micro's {builtin} gives int32 indices only and tinygen has no int64 tensors: convert with output_type=tf.int32 "
                f"(tf.math.{builtin.lower().replace('_', '')}(..., output_type=tf.int32))"
            )
        if out_type != tflite.TensorType.INT32:
            raise UnsupportedError(
                f"{imp.where(raw)}: its output {imp.describe(out_index)} must be int32: TFLite Micro's {builtin} gives "
                "int32 indices only; re-export the model"
            )
        if option not in (0, tflite.TensorType.INT32):  # 0: float32, what an absent options table reads as
            raise TinygenError(
                f"{imp.where(raw)}: its options say output_type {_TYPE_NAMES.get(option, option)} but its output is "
                f"{imp.describe(out_index)}; corrupt model"
            )
        t = imp.raw.tensors[axis_index]
        if t.type != tflite.TensorType.INT32:  # Eval: "Only int32_t are supported currently"
            raise UnsupportedError(
                f"{imp.where(raw)}: its axis ({imp.describe(axis_index)}) must be int32: TFLite Micro's {builtin} "
                "refuses other axis types; re-export the model"
            )
        count = int(np.prod(t.shape, dtype=np.int64))
        if count != 1:  # TFLite's own Prepare requires one element; TFLite Micro reads the first one
            raise TinygenError(
                f"{imp.where(raw)}: its axis ({imp.describe(axis_index)}) holds {count} values; {builtin} takes "
                "exactly one axis; corrupt model"
            )
        values = imp.const(raw, axis_index, "axis")
        rank = len(imp.shape(x))
        axis = int(values[0])
        if not -rank <= axis < rank:
            raise TinygenError(
                f"{imp.where(raw)}: axis {axis} of {imp.describe(x)} is outside [{-rank}, {rank - 1}] (TFLite Micro "
                "would read outside the shape); corrupt model"
            )
        op = Op(kind, "", [imp.activation_tensor(raw, x)], [imp.tensor(out_index)], {"axis": axis})
        return [op]

    return convert


# --------------------------------------------------------------------------- lowering


def make_lower(is_max: bool) -> Callable[[LoweringContext, Op], KernelCall]:
    params = make_params(is_max)

    def lower(ctx: LoweringContext, op: Op) -> KernelCall:
        p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
        x, out = in_out(ctx, op)
        path = "rows" if p.inner == 1 else "columns"
        args = (const_ptr(ctx, x.name), str(p.outer), str(p.axis_size), str(p.inner), "1" if is_max else "0",
                ctx.tensor_ptr(out.name))
        comment = (f"{op.kind} {shape_str(x)} over axis {p.axis} -> int32 {shape_str(out)}, as [{p.outer}, "
                   f"{p.axis_size}, {p.inner}] ({path})")
        return KernelCall(KERNEL, args, comment=comment)

    return lower


def op_def(kind: str, builtin: str, is_max: bool) -> OpDef:
    """The definition of ARG_MAX (``is_max``) or ARG_MIN as op ``kind``."""
    options = tflite.ArgMaxOptions if is_max else tflite.ArgMinOptions
    return OpDef(
        kind=kind,
        attrs=(Attr("axis", integer),),
        infer_shape=infer_shape,
        num_inputs=(1, 1),
        check=_check,
        params=make_params(is_max),
        reference=reference,
        data_inputs=1,
        float_reference=make_float_reference(is_max),
        tflite=(TfliteMapping(builtin, from_tflite(kind, builtin), options, {"OutputType": 0}),),
        lowerings=(make_lower(is_max),),
    )
