"""SUM: the sum of an int8 tensor over ``axes``, kept as size-1 dimensions with ``keep_dims``, else removed,
requantized to the output's quantization; bit-exact with TFLite Micro's int8 SUM.

TFLite Micro (kernels/reduce.cc, reduce_common.cc: ``PrepareMeanOrSumHelper``, ``EvalSumHelper``, then
``reference_ops::QuantizedMeanOrSum<int8_t, int32_t>`` with ``compute_sum=true``): Prepare requires two inputs
(the tensor and its int32 axes) and computes ``QuantizeMultiplier(double(input_scale) / double(output_scale))``;
Eval requires the output type to be the input's, resolves the axes (negative ones count from the end, repeats
count once, a rank-0 input ignores them), accumulates the raw int8 values of each output in an int32
(``AddTensorValuesWithExpectedOverflow``: wrapping), then per output ``shifted = int32(sum - input_zero_point * n)``
(n, the reduced element count, an int64), ``MultiplyByQuantizedMultiplier(shifted, multiplier, shift) +
output_zero_point`` clamped to int8. Unlike MEAN nothing is folded into the multiplier, and it requantizes even
when the two quantizations are equal. No axes requantize each element; an empty input gives 0 everywhere (not the
zero point; tinygen's importer refuses zero-sized tensors, the lowering refuses them). tinygen refuses more than
:data:`~tinygen.ops.reduce_common.MAX_SUM_ELEMENTS` elements per output, where int32 sums could wrap.

The kernel ``tg_reduce_sum_s8`` walks the input as ``[K0, R0, K1, ..., Kg]`` like
``tg_reduce_max_s8``: ``[K0, R, K1]`` (the NHWC spatial sum is ``[N, H*W, C]``) takes the fast path (rows of
channels accumulated four channels at a time in registers, starting from ``-input_zero_point * n``; contiguous
runs summed four per step), more runs the general path. It runs in place like REDUCE_MAX."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import const_ptr, i32, in_out, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common, reduce_common
from tinygen.ops.base import OpDef, TfliteMapping

KIND = "sum"
KERNEL = "tg_reduce_sum_s8"


@dataclass(frozen=True)
class SumParams:
    """sum over ``axes`` (resolved: non-negative, first-seen order, no repeats) of ``num_elements`` values each:
    ``out = clamp(requantize(sum(x) - input_zero_point * num_elements, multiplier, shift) + output_zero_point)``,
    ``multiplier``/``shift`` TFLite's QuantizeMultiplier of input scale / output scale."""

    axes: tuple[int, ...]
    keep_dims: bool
    num_elements: int
    input_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int


def _check(graph: Graph, op: Op) -> None:
    x, out = common.unary_int8(graph, op)
    common.qp(x, op)
    common.qp(out, op)
    axes = reduce_common.resolve_axes(graph, op)
    n = reduce_common.num_elements(x.shape, axes)
    if n > reduce_common.MAX_SUM_ELEMENTS:
        raise UnsupportedError(
            f"{common.where(op)}: axes {list(axes)} of input {x.name!r} of shape {x.shape} sum {n} elements per "
            f"output; tinygen's int32 sum supports at most {reduce_common.MAX_SUM_ELEMENTS} (beyond, TFLite's int32 "
            "accumulator may wrap): reduce in several SUM ops"
        )


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> SumParams:
    """PrepareMeanOrSumHelper (int8)."""
    _check(graph, op)
    x, out = common.unary_int8(graph, op)
    (si, zi), (so, zo) = common.qp(x, op), common.qp(out, op)
    axes = reduce_common.resolve_axes(graph, op)
    real = float(np.float32(si)) / float(np.float32(so))
    mult, shift = common.multiplier(real, op, f"input {x.name!r} / output {out.name!r}", rounding)
    return SumParams(axes=axes, keep_dims=bool(op.attrs["keep_dims"]),
                     num_elements=reduce_common.num_elements(x.shape, axes), input_zero_point=zi,
                     output_zero_point=zo, multiplier=int(mult), shift=int(shift))


def from_accumulator(p: SumParams, acc: np.ndarray, rounding: str) -> np.ndarray:
    """int8 sums from the int32 ``acc`` = sum(x) - n * input_zero_point."""
    rnd: numerics.Rounding = rounding  # type: ignore[assignment]
    raw = numerics.multiply_by_quantized_multiplier(acc, p.multiplier, p.shift, rnd) + p.output_zero_point
    return common.clamp_int8(raw, -128, 127)


def reference(graph: Graph, op: Op, p: SumParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    out_shape = graph.tensor(op.outputs[0]).shape
    x = np.asarray(args[0]).astype(np.int64)
    if x.size == 0:  # QuantizedMeanOrSum returns before requantizing: every output is T() = 0
        return np.zeros(out_shape, dtype=np.int8)
    total = numerics.wrap_int32(x.sum(axis=p.axes)) if p.axes else x
    shifted = numerics.wrap_int32(total - p.input_zero_point * p.num_elements)
    return from_accumulator(p, shifted, rounding).reshape(out_shape)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    x = np.asarray(inputs[0])
    return x.sum(axis=reduce_common.float_axes(op, x), keepdims=bool(op.attrs["keep_dims"]))


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    if x.size == 0:
        raise UnsupportedError(
            f"{common.where(op)}: input {x.name!r} of shape {x.shape} is empty: remove the SUM of an empty tensor "
            "from the model"
        )
    dims = reduce_common.reduce_dims(op, x.shape, p.axes)
    if int(np.prod(dims[1::2], dtype=np.int64)) != p.num_elements:
        raise TinygenError(f"{common.where(op)}: layout {dims} does not reduce {p.num_elements} elements")
    args = (
        const_ptr(ctx, x.name), str(len(dims)), i32(ctx, op, "dims", dims), str(p.num_elements),
        str(p.input_zero_point), str(p.output_zero_point), str(p.multiplier), str(p.shift), ctx.tensor_ptr(out.name),
    )
    path = "rows" if len(dims) == 3 else "general"
    comment = (f"sum {shape_str(x)} over axes {list(p.axes)} -> {shape_str(out)}, as {dims} ({path}), "
               f"requantize({p.multiplier}, {p.shift})")
    return KernelCall(KERNEL, args, comment=comment)


def _in_place(graph: Graph, op: Op) -> bool:
    """As REDUCE_MAX: each output is written after all its reads, never over an input a later output reads."""
    return graph.tensor(op.inputs[0]).itemsize == graph.tensor(op.outputs[0]).itemsize


OP = OpDef(
    kind=KIND,
    attrs=reduce_common.ATTRS,
    infer_shape=reduce_common.infer_shape,
    check=_check,
    params=params,
    reference=reference,
    data_inputs=1,
    from_accumulator=from_accumulator,
    float_reference=float_reference,
    tflite=(TfliteMapping("SUM", reduce_common.from_tflite(KIND, "SUM"), *reduce_common.TFLITE_OPTIONS),),
    lowerings=(lower,),
    in_place=_in_place,
)
