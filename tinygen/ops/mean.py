"""MEAN (Keras GlobalAveragePooling2D): the average of an int8 tensor over ``axes``, kept as size-1 dimensions
with ``keep_dims``, else removed. TFLite Micro's int8 MEAN (QuantizedMeanOrSum) sums the n reduced values in
int32, subtracts ``n * input_zero_point`` and requantizes with the multiplier of input/output scale into which
1/n is folded (shift by floor(log2 n), then integer division of the multiplier by n); it requantizes even when
input and output quantization are equal. int16 MEAN (16x8 models: TFLite Micro's QuantizedMeanOrSum<int16_t>, the
same arithmetic clamped to the int16 range) runs in ``tg_mean_s16``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op, Tensor
from tinygen.lowering.args import const_ptr, i32, in_out, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common, reduce_common
from tinygen.ops.base import Attr, OpDef, QatHooks, TfliteMapping, boolean, int_tuple

KIND = "mean"

#: most reduced elements per output: the kernel's int32 ``sum - n * zero_point`` stays below 2^31 in magnitude
MAX_ELEMENTS = (2**31 - 1) // 256

#: the same for int16 inputs (|x - zero_point| <= 65535)
MAX_ELEMENTS_16 = (2**31 - 1) // 65536

#: largest left shift of the requantization (beyond it the int32 shift overflows for every input)
MAX_LEFT_SHIFT = 30


@dataclass(frozen=True)
class MeanParams:
    """mean over ``axes`` (non-negative, in order, without repeats):
    ``s = sum(x) - input_zero_point * n`` (int32), ``out = clamp(requantize(s, multiplier, shift) +
    output_zero_point)``, where ``multiplier``/``shift`` already include the 1/n factor exactly as
    TFLite Micro folds it in (shift by floor(log2 n), then integer-divide the multiplier by n).

    ``same_quantization`` is always False: the TFLite Micro we match requantizes even when input and
    output quantization are equal (an older truncating ``sum / n`` shortcut gives different results,
    measured against the interpreter). The field is kept so existing consumers keep compiling.
    """

    axes: tuple[int, ...]
    keep_dims: bool
    num_elements: int
    same_quantization: bool
    input_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int
    #: a 16x8 MEAN: int16 input and output (clamped to the int16 range)
    int16: bool = False


# --------------------------------------------------------------------------- shapes and checks


def _axes(graph: Graph, op: Op) -> tuple[int, ...]:
    """The reduced axes, non-negative, in the given order without repeats (TFLite's rules, shared with SUM and
    REDUCE_MAX)."""
    return reduce_common.resolve_axes(graph, op)


infer_shape = reduce_common.infer_shape


def _num_elements(graph: Graph, op: Op, axes: tuple[int, ...]) -> int:
    x = graph.tensor(op.inputs[0])
    return int(np.prod([x.shape[a] for a in axes], dtype=np.int64)) if axes else 1


def _check(graph: Graph, op: Op) -> None:
    axes = _axes(graph, op)
    n = _num_elements(graph, op, axes)
    x = graph.tensor(op.inputs[0])
    limit = MAX_ELEMENTS_16 if x.dtype == "int16" else MAX_ELEMENTS
    if n > limit:
        raise TinygenError(
            f"{common.where(op)}: axes {list(axes)} of {x.dtype} input {x.name!r} of shape {x.shape} average {n} "
            f"elements; the int32 sum supports at most {limit}: reduce in several MEAN ops"
        )


def _operands(graph: Graph, op: Op) -> tuple[Tensor, Tensor]:
    """Input and output: both int8, or both int16 (a 16x8 MEAN)."""
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if x.dtype == out.dtype == "int16":
        return x, out
    return common.unary_int8(graph, op)


# --------------------------------------------------------------------------- parameters and references


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> MeanParams:
    x, out = _operands(graph, op)
    (si, zi), (so, zo) = common.qp(x, op), common.qp(out, op)
    axes = _axes(graph, op)
    n = _num_elements(graph, op, axes)
    mult, shift = numerics.quantize_multiplier(float(np.float32(si)) / float(np.float32(so)), rounding)
    if n > 0:
        # QuantizedMeanOrSum folds 1/n into the multiplier: shift = floor(log2 n), clamped.
        extra = min(n.bit_length() - 1, 32, 31 + shift)
        mult = (mult << extra) // n
        shift = shift - extra
    if shift > MAX_LEFT_SHIFT:
        raise TinygenError(
            f"{common.where(op)}: input scale {si:g} / output scale {so:g} (with 1/{n} folded in) needs a left shift "
            f"of {shift} bits; TFLite's {x.dtype} MEAN shifts its int32 sum by at most {MAX_LEFT_SHIFT}: the output "
            "scale is far too small for the input; re-quantize the model"
        )
    return MeanParams(axes=axes, keep_dims=bool(op.attrs["keep_dims"]), num_elements=n, same_quantization=False,
                      input_zero_point=zi, output_zero_point=zo, multiplier=int(mult), shift=int(shift),
                      int16=x.dtype == "int16")


def from_accumulator(p: MeanParams, acc: np.ndarray, rounding: str) -> np.ndarray:
    """int8 (int16 for a 16x8 MEAN) means from the int32 sums ``acc`` = sum(x) - n * input_zero_point."""
    rnd: numerics.Rounding = rounding  # type: ignore[assignment]
    raw = numerics.multiply_by_quantized_multiplier(acc, p.multiplier, p.shift, rnd) + p.output_zero_point
    if p.int16:
        return np.clip(raw, *common.INT_RANGES["int16"]).astype(np.int16)
    return common.clamp_int8(raw, -128, 127)


def reference(graph: Graph, op: Op, p: MeanParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    out_shape = graph.tensor(op.outputs[0]).shape
    if p.num_elements == 0:
        return np.zeros(out_shape, dtype=np.int16 if p.int16 else np.int8)
    x = args[0].astype(np.int64)
    total = numerics.wrap_int32(x.sum(axis=p.axes)) if p.axes else x
    shifted = numerics.wrap_int32(total - p.input_zero_point * p.num_elements)
    return from_accumulator(p, shifted, rounding).reshape(out_shape)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return inputs[0].mean(axis=tuple(op.attrs["axes"]), keepdims=bool(op.attrs["keep_dims"]))


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    """MEAN's axes operand becomes the ``axes`` attribute (any axes of any rank: the lowering merges adjacent
    kept and reduced dimensions and refuses what needs more than 4 groups)."""
    x, axes_index = imp.inputs(raw, 2)[:2]
    rank = len(imp.shape(x))
    values = [int(a) for a in imp.const(raw, axes_index, "axes")]
    outside = [a for a in values if not -rank <= a < rank]
    if outside:
        raise TinygenError(
            f"{imp.where(raw)}: axes {values} of {imp.describe(x)}: axis {outside[0]} is outside [{-rank}, {rank - 1}] "
            "(TFLite Micro rejects it too); corrupt model"
        )
    axes = tuple(sorted({a % rank for a in values}))
    attrs = {"axes": axes, "keep_dims": bool(raw.options["KeepDims"])}
    return Op(KIND, "", [imp.activation_tensor(raw, x)], [], attrs)


def from_keras_1d(b: Any, layer: Any, inputs: list[str]) -> str:
    """GlobalAveragePooling1D: the mean over the steps of [1, L, C]."""
    from tinygen.quantize.layers import _channels_last, _require_rank, single_input

    x = single_input(layer, inputs)
    _channels_last(layer)
    _require_rank(layer, b, x, 3)
    keep = bool(layer.get_config().get("keepdims", False))
    n, _, c = b.shape(x)
    return b.op(KIND, layer.name, [x], (n, 1, c) if keep else (n, c), axes=(1,), keep_dims=keep)


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """GlobalAveragePooling2D: the mean over height and width."""
    from tinygen.quantize.layers import _channels_last, _require_rank, single_input

    x = single_input(layer, inputs)
    _channels_last(layer)
    _require_rank(layer, b, x, 4)
    keep = bool(layer.get_config().get("keepdims", False))
    n, _, _, c = b.shape(x)
    return b.op(KIND, layer.name, [x], (n, 1, 1, c) if keep else (n, c), axes=(1, 2), keep_dims=keep)


# --------------------------------------------------------------------------- lowering


def _mean_dims(op: Op, shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[list[int], list[bool]]:
    """Merge runs of adjacent kept/reduced dimensions; at most 4 groups, front-padded with kept 1s."""
    dims: list[int] = []
    reduced: list[bool] = []
    for i, d in enumerate(shape):
        r = i in axes
        if d == 1:
            continue  # a unit dimension changes neither the order nor the count
        if reduced and reduced[-1] == r:
            dims[-1] *= d
        else:
            dims.append(d)
            reduced.append(r)
    if len(dims) > 4:
        raise UnsupportedError(
            f"{common.where(op)}: axes {axes} of shape {shape} interleave kept and reduced dimensions more than "
            "4 times: reduce over adjacent axes (e.g. two MEAN ops)"
        )
    while len(dims) < 4:
        dims.insert(0, 1)
        reduced.insert(0, False)
    return dims, reduced


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    if p.num_elements < 1:
        raise UnsupportedError(
            f"{common.where(op)}: input {x.name!r} of shape {x.shape} is empty along axes {p.axes}: "
            "remove the MEAN of an empty tensor from the model"
        )
    dims, reduced = _mean_dims(op, x.shape, p.axes)
    if int(np.prod([d for d, r in zip(dims, reduced) if r], dtype=np.int64)) != p.num_elements:
        raise TinygenError(
            f"{common.where(op)}: axes {p.axes} of shape {x.shape} do not reduce {p.num_elements} elements: "
            "fix the axes"
        )
    strides = [int(np.prod(dims[k + 1:], dtype=np.int64)) for k in range(4)]
    if p.int16:
        return _lower_s16(ctx, op, p, dims, reduced, strides)
    out_dims = [1 if r else d for d, r in zip(dims, reduced)]
    red_dims = [d if r else 1 for d, r in zip(dims, reduced)]
    args = (
        const_ptr(ctx, x.name), i32(ctx, op, "out_dims", out_dims), i32(ctx, op, "red_dims", red_dims),
        i32(ctx, op, "strides", strides), str(p.num_elements), "1" if p.same_quantization else "0",
        str(p.input_zero_point), str(p.output_zero_point), str(p.multiplier), str(p.shift), ctx.tensor_ptr(out.name),
    )
    how = "sum / n" if p.same_quantization else f"requantize({p.multiplier}, {p.shift})"
    comment = f"mean {shape_str(x)} over axes {list(p.axes)} -> {shape_str(out)}, {how}"
    return KernelCall("tg_mean_s8", args, comment=comment)


def _lower_s16(ctx: LoweringContext, op: Op, p: MeanParams, dims: list[int], reduced: list[bool],
               strides: list[int]) -> KernelCall:
    """tg_mean_s16: the kept and the reduced dimensions of tg_mean_s8's 4-D layout as two walks of their own, the
    longest reduced run innermost (no same-quantization shortcut: TFLite always requantizes)."""
    x, out = in_out(ctx, op)
    kept = [(d, s) for d, r, s in zip(dims, reduced, strides) if not r]  # in order: the output is row-major
    red = sorted(((d, s) for d, r, s in zip(dims, reduced, strides) if r), key=lambda pair: pair[0])
    walks = []
    for name, pairs in (("out", kept), ("red", red)):
        pairs = [(1, 0)] * (4 - len(pairs)) + pairs  # front-padded to 4
        walks += [i32(ctx, op, f"{name}_dims", [d for d, _ in pairs]), i32(ctx, op, f"{name}_strides",
                                                                             [s for _, s in pairs])]
    args = (ctx.tensor_ptr(x.name), *walks, str(p.num_elements), str(p.input_zero_point), str(p.output_zero_point),
            str(p.multiplier), str(p.shift), ctx.tensor_ptr(out.name))
    comment = (f"mean int16 {shape_str(x)} over axes {list(p.axes)} -> {shape_str(out)}, "
               f"requantize({p.multiplier}, {p.shift})")
    return KernelCall("tg_mean_s16", args, comment=comment)


# --------------------------------------------------------------------------- QAT


def _qat_accumulate(tf: Any, x: Any, x_int: Any, in_zp: Any, attrs: dict[str, Any]) -> tuple[Any, Any]:
    """(float mean, exact int32 sum of x - zero point) over the axes."""
    axes, keep = list(attrs["axes"]), bool(attrs["keep_dims"])
    return tf.reduce_mean(x, axis=axes, keepdims=keep), tf.reduce_sum(x_int, axis=axes, keepdims=keep)


OP = OpDef(
    kind=KIND,
    attrs=(Attr("axes", int_tuple), Attr("keep_dims", boolean, False)),
    infer_shape=infer_shape,
    check=_check,
    params=params,
    reference=reference,
    data_inputs=1,
    from_accumulator=from_accumulator,
    float_reference=float_reference,
    tflite=(TfliteMapping("MEAN", from_tflite, tflite.ReducerOptions, {"KeepDims": False}, int16=True),),
    keras_layers={"GlobalAveragePooling2D": from_keras, "GlobalAveragePooling1D": from_keras_1d},
    lowerings=(lower,),
    qat=QatHooks(accumulate=_qat_accumulate),
)
