"""REDUCE_MAX (Keras GlobalMaxPooling1D/2D): the largest int8 value over ``axes``, kept as size-1 dimensions with
``keep_dims``, else removed; bit-exact with TFLite Micro's int8 REDUCE_MAX.

TFLite Micro (kernels/reduce.cc, reduce_common.cc: ``PrepareMinMaxHelper``, ``EvalMinMaxHelper``): Prepare requires
two inputs (the tensor and its int32 axes); Eval requires the input and output scales to be equal (compared as
doubles of the float32 scales) and their zero points equal, then runs ``reference_ops::ReduceGeneric<int8_t>``:
every output starts at -128 (``numeric_limits::lowest``), the axes are resolved (negative ones count from the end,
repeats count once, a rank-0 input ignores them) and each input element raises its output to ``max(out, x)``. No
axes (or only size-1 ones) copy the input; an empty input leaves -128 everywhere (tinygen's importer refuses
zero-sized tensors; the lowering refuses them).

The kernel ``tg_reduce_max_s8`` walks the input as ``[K0, R0, K1, ..., Kg]`` (kept and reduced extents alternating,
size-1 dimensions dropped, adjacent ones merged: :func:`tinygen.ops.reduce_common.canonical_dims`): ``[K0, R, K1]``
(one reduced run; the global pooling of NHWC is ``[N, H*W, C]``) takes the fast path, rows of channels maxed into
the output four channels per step (SSUB8/SEL on cores with the DSP extension), contiguous runs maxed four bytes per
load; more runs take the general path. It writes each output after reading all its inputs, never over an input a
later output reads, so it runs in place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import const_ptr, i32, in_out, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common, reduce_common
from tinygen.ops.base import SAME_AS_INPUT, OpDef, QatHooks, TfliteMapping

KIND = "reduce_max"
KERNEL = "tg_reduce_max_s8"


@dataclass(frozen=True)
class ReduceMaxParams:
    """max over ``axes`` (resolved: non-negative, first-seen order, no repeats) of the raw int8 values; the output
    shares the input's quantization, so there is nothing to requantize."""

    axes: tuple[int, ...]
    keep_dims: bool


def _check(graph: Graph, op: Op) -> None:
    """int8 in and out, one per-tensor quantization (TFLite Micro's Eval checks scale and zero point)."""
    x, out = common.unary_int8(graph, op)
    (si, zi), (so, zo) = common.qp(x, op), common.qp(out, op)
    if np.float32(si) != np.float32(so) or zi != zo:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} has scale {np.float32(si)!s}, zero point {zi} but output "
            f"{out.name!r} has scale {np.float32(so)!s}, zero point {zo}; TFLite Micro's int8 REDUCE_MAX requires "
            "them equal (it picks raw int8 values): re-quantize the model (the TFLite converter does this)"
        )
    reduce_common.resolve_axes(graph, op)


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> ReduceMaxParams:
    """PrepareMinMaxHelper's QuantizeMultiplier is unused by the int8 path; ``rounding`` plays no part."""
    _check(graph, op)
    return ReduceMaxParams(axes=reduce_common.resolve_axes(graph, op), keep_dims=bool(op.attrs["keep_dims"]))


def reference(graph: Graph, op: Op, p: ReduceMaxParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    out_shape = graph.tensor(op.outputs[0]).shape
    x = np.asarray(args[0], dtype=np.int8)
    if x.size == 0:  # ReduceGeneric: the outputs keep their initial value, the lowest int8
        return np.full(out_shape, -128, dtype=np.int8)
    return (x.max(axis=p.axes) if p.axes else x).reshape(out_shape).astype(np.int8)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    x = np.asarray(inputs[0])
    return x.max(axis=reduce_common.float_axes(op, x), keepdims=bool(op.attrs["keep_dims"]))


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    if x.size == 0:
        raise UnsupportedError(
            f"{common.where(op)}: input {x.name!r} of shape {x.shape} is empty: remove the REDUCE_MAX of an empty "
            "tensor from the model"
        )
    dims = reduce_common.reduce_dims(op, x.shape, p.axes)
    args = (const_ptr(ctx, x.name), str(len(dims)), i32(ctx, op, "dims", dims), ctx.tensor_ptr(out.name))
    path = "rows" if len(dims) == 3 else "general"
    comment = f"reduce_max {shape_str(x)} over axes {list(p.axes)} -> {shape_str(out)}, as {dims} ({path})"
    return KernelCall(KERNEL, args, comment=comment)


def _in_place(graph: Graph, op: Op) -> bool:
    """The kernel writes output k after reading all of its inputs, and every input a later output reads lies at
    or after that output's offset (input strides are at least the output's)."""
    return graph.tensor(op.inputs[0]).itemsize == graph.tensor(op.outputs[0]).itemsize


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return tf.reduce_max(xs[0], axis=list(attrs["axes"]), keepdims=bool(attrs["keep_dims"]))


OP = OpDef(
    kind=KIND,
    attrs=reduce_common.ATTRS,
    infer_shape=reduce_common.infer_shape,
    check=_check,
    params=params,
    reference=reference,
    data_inputs=1,
    float_reference=float_reference,
    quant_rule=SAME_AS_INPUT,
    tflite=(TfliteMapping("REDUCE_MAX", reduce_common.from_tflite(KIND, "REDUCE_MAX"), *reduce_common.TFLITE_OPTIONS),),
    keras_layers={"GlobalMaxPooling2D": reduce_common.global_pool_from_keras(KIND, 4),
                  "GlobalMaxPooling1D": reduce_common.global_pool_from_keras(KIND, 3)},
    lowerings=(lower,),
    in_place=_in_place,
    qat=QatHooks(forward=_qat_forward),
)
