"""FULLY_CONNECTED (Keras Dense): int8 x int8 -> int8, TFLite Micro's reference_integer_ops::FullyConnected.

The input is read as ``rows = input size / depth`` rows of ``depth`` values (``depth``: the weights' second
dimension, weights ``[out, depth]``). Per row ``r`` and output unit ``o``::

    acc = sum_k (w[o, k] + weights_offset) * (x[r, k] + input_offset) + bias[o]     (int32)
    out[r, o] = clamp(MultiplyByQuantizedMultiplier(acc, multiplier[o or 0], shift[o or 0]) + output_offset)

with the multiplier of ``input_scale * weight_scale / output_scale`` (one per output unit for per-channel
weights) and the clamp of the fused activation. The output shape is ``[rows, out]``, or with
``keep_num_dims`` the input's shape with its last dimension (which must be ``depth``) replaced by ``out``:
what TFLite's Prepare gives and the converter writes. TFLite Micro does not check it (it takes the rows
from the output shape: more rows than the input holds read and write past the tensors); tinygen refuses any
other output shape, also a layout-equivalent one such as ``[1, 1, 1, out]``.

16x8 layers (TFLite's int16 activations, int8 weights): the same sum on int16 inputs into an int16 output
clamped to the int16 range. TFLite Micro's accumulator is int64 with an int64 bias (or none), requantized by
the int64 MultiplyByQuantizedMultiplier (the multiplier rounded to 16 bits: :func:`tinygen.numerics.requantize_int64`), and
int32 with an int32 bias (wrapping, the usual requantization). tinygen's kernel (tg_fully_connected_s16) needs
int16 zero points 0 on the input (what TFLite's converter makes) and symmetric weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op, Tensor
from tinygen.lowering import fc_ops
from tinygen.lowering.base import QUANT, WEIGHTS, KernelCall, LoweringContext
from tinygen.lowering.mac_common import _blocked_layout, _folded_bias, _rq_array, _weights
from tinygen.lowering.mve_ops import (STEP, STEP_S16, _quad_params_kinds, _round_up, _vector_requant_ok, quad_layout,
                                      quad_params)
from tinygen.ops import common
from tinygen.ops.base import ACTIVATION, Attr, OpDef, QatHooks, TfliteMapping, boolean

KIND = "fully_connected"
#: name stem of this op's const arrays (the code generator prefixes the model name and layer index)
CONST_STEM = "fc"

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


@dataclass(frozen=True)
class FullyConnectedParams:
    """``acc = sum((w + weights_offset) * (x + input_offset)) + bias[o]``, then
    ``requantize(acc, multiplier[o or 0], shift[o or 0]) + output_offset`` clamped to ``[act_min, act_max]``.

    ``per_channel`` False: ``multiplier``/``shift`` have one element (per-tensor weights,
    GetQuantizedConvolutionMultipler); True: one per output unit. The input is read as rows of
    ``in_features = weights.shape[1]`` values."""

    input_offset: int
    weights_offset: int
    output_offset: int
    #: int32 [1] or [out_features]
    multiplier: np.ndarray
    #: int32 [1] or [out_features]
    shift: np.ndarray
    per_channel: bool
    act_min: int
    act_max: int
    has_bias: bool
    in_features: int
    out_features: int
    #: 16x8: TFLite's int64 accumulator and int64 requantization (an int64 bias, or none); False: int32
    wide: bool = False


# --------------------------------------------------------------------------- shapes and checks


def _dims(graph: Graph, op: Op) -> tuple[int, int]:
    """(out, depth) of the weights, which must be a [out, depth] matrix."""
    w = graph.tensor(op.inputs[1])
    if len(w.shape) != 2 or min(w.shape) < 1:
        raise TinygenError(
            f"{common.where(op)}: weights {w.name!r} have shape {w.shape}; FULLY_CONNECTED needs rank-2 weights "
            "[out, in] with non-empty dimensions: fix or re-export the model"
        )
    return int(w.shape[0]), int(w.shape[1])


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    """[rows, out] (rows = input size / depth), or with keep_num_dims the input shape with its last dimension
    (= depth) replaced by out: TFLite's FULLY_CONNECTED output shape."""
    out_f, depth = _dims(graph, op)
    x = graph.tensor(op.inputs[0])
    if op.attrs["keep_num_dims"]:
        if not x.shape or x.shape[-1] != depth:
            raise TinygenError(
                f"{common.where(op)}: keep_num_dims needs the input's last dimension to be the weights' depth "
                f"{depth}, but input {x.name!r} has shape {x.shape}: fix or re-export the model"
            )
        return (*x.shape[:-1], out_f)
    if x.size % depth:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} of shape {x.shape} ({x.size} values) cannot be flattened to rows "
            f"of {depth} features (the weights' depth): fix or re-export the model"
        )
    return (x.size // depth, out_f)


def _bias(graph: Graph, op: Op) -> Tensor | None:
    """The bias tensor, if any: an int32 vector of one value per output unit."""
    if len(op.inputs) < 3:
        return None
    b = graph.tensor(op.inputs[2])
    out_f, _ = _dims(graph, op)
    if b.size != out_f:
        raise TinygenError(
            f"{common.where(op)}: bias {b.name!r} has shape {b.shape} ({b.size} values) for {out_f} output units: "
            "give one bias value per output unit"
        )
    if b.dtype != "int32" and not (b.dtype == "int64" and _is_16x8(graph, op)):
        raise UnsupportedError(
            f"{common.where(op)}: bias {b.name!r} is {b.dtype}; int8 fully connected layers need int32 biases "
            "(16x8 layers int64 or int32): convert the model with int8 (or 16x8) quantization"
        )
    return b


def _is_16x8(graph: Graph, op: Op) -> bool:
    """An int16x8 layer: int16 input (the output's type is checked to match)."""
    return graph.tensor(op.inputs[0]).dtype == "int16"


def _check_16x8(graph: Graph, op: Op, x: Tensor, w: Tensor, out: Tensor) -> None:
    """int16 input and output with zero point 0 on the input (tg_fully_connected_s16), int8 weights."""
    if out.dtype != "int16" or w.dtype != "int8":
        raise UnsupportedError(
            f"{common.where(op)}: input {x.name!r} is int16, output {out.name!r} {out.dtype} and weights {w.name!r} "
            f"{w.dtype}; a 16x8 fully connected layer has int16 input and output and int8 weights: re-convert "
            "the model with TFLite's 16x8 mode"
        )
    if x.quant is not None and np.any(x.quant.zero_point != 0):
        raise UnsupportedError(
            f"{common.where(op)}: int16 input {x.name!r} has zero point {int(x.quant.zero_point[0])}; tinygen's 16x8 "
            "kernels need int16 zero points 0 (what TFLite's 16x8 converter makes): re-convert the model"
        )


def _check_layout(graph: Graph, op: Op) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Input, weights, output and bias of an int8 layer, checked as far as the scale values are not concerned:
    types, constant quantized weights [out, in] and bias, per-channel scale count, axis and zero points."""
    x, w, out = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    if _is_16x8(graph, op):
        _check_16x8(graph, op, x, w, out)
    else:
        for t in (x, w, out):
            common.require_int8(t, op)
    common.require_const(graph, op, 1)
    out_f, in_f = _dims(graph, op)
    bias = _bias(graph, op)
    if w.quant is None:
        raise UnsupportedError(f"{common.where(op)}: weights {w.name!r} are not quantized: quantize the model to int8")
    common.check_zero_points(w, op)
    scales = w.quant.scale.size
    if scales > 1:
        if scales != out_f:
            raise TinygenError(
                f"{common.where(op)}: weights {w.name!r} shape {w.shape} have {scales} scales for {out_f} outputs: "
                "use one scale per output unit or one per tensor"
            )
        if w.quant.axis not in (0, None):
            raise TinygenError(
                f"{common.where(op)}: weights {w.name!r} shape {w.shape} are quantized per channel along axis "
                f"{w.quant.axis}; fully connected weights [out, in] need one scale per output unit (axis 0): "
                "re-quantize the model"
            )
        if np.any(w.quant.zero_point != 0):
            # TFLite Micro's per-channel kernel ignores weight zero points: they must be 0 (symmetric weights)
            raise TinygenError(
                f"{common.where(op)}: per-channel weights {w.name!r} have zero points "
                f"{w.quant.zero_point.tolist()[:4]}; TFLite's per-channel int8 weights are symmetric (zero point 0): "
                "re-quantize the model"
            )
    return x, w, out, bias


def check(graph: Graph, op: Op) -> None:
    """The int8 graph's checks that do not depend on the scale values (those, and what follows from them,
    are TFLite Micro's Prepare: :func:`params`)."""
    _check_layout(graph, op)


# --------------------------------------------------------------------------- parameters and reference


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> FullyConnectedParams:
    """TFLite Micro's Prepare (CalculateOpDataFullyConnected)."""
    x, w, out, bias = _check_layout(graph, op)
    assert w.quant is not None
    common.check_scales(w, op)
    (in_scale, in_zp), (out_scale, out_zp) = common.qp(x, op), common.qp(out, op)
    out_f, in_f = _dims(graph, op)
    if x.size % in_f != 0:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} shape {x.shape} cannot be flattened to rows of {in_f} features"
        )
    scales = w.quant.scale
    per_channel = scales.size > 1
    if per_channel:
        reals = np.array([float(np.float32(in_scale)) * float(s) / float(np.float32(out_scale)) for s in scales])
    else:
        # GetQuantizedConvolutionMultipler: double(input) * double(filter) / double(output)
        product = float(np.float32(in_scale)) * float(scales[0])
        reals = np.array([product / float(np.float32(out_scale))])
        if bias is not None and bias.quant is not None:
            common.check_scales(bias, op)
            # TFLite Micro refuses (at allocation) a bias scale far from input * filter scale.
            bias_scale = float(bias.quant.scale[0])
            if abs(product - bias_scale) / float(np.float32(out_scale)) > 0.02:
                raise TinygenError(
                    f"{common.where(op)}: bias {bias.name!r} has scale {bias_scale:g} but input x weight scale is "
                    f"{product:g} (output scale {out_scale:g}); TFLite requires bias scale = input scale x weight "
                    "scale: re-quantize the model"
                )
    _check_requantization(op, reals, out_scale)
    mult, shift = numerics.quantize_multiplier_array(reals, rounding)
    if out.dtype == "int16":
        qmin, qmax = common.INT_RANGES["int16"]
        act_min, act_max = numerics.activation_range(op.activation, out_scale, out_zp, qmin, qmax)
    else:
        act_min, act_max = common.act_range(op, out)
    return FullyConnectedParams(
        input_offset=-in_zp, weights_offset=-int(w.quant.zero_point[0]), output_offset=out_zp,
        multiplier=common.ro(mult), shift=common.ro(shift), per_channel=per_channel, act_min=act_min,
        act_max=act_max, has_bias=bias is not None, in_features=in_f, out_features=out_f,
        wide=_is_16x8(graph, op) and (bias is None or bias.dtype == "int64"),
    )


def _check_requantization(op: Op, reals: np.ndarray, out_scale: float) -> None:
    """Multipliers TFLite's int32 arithmetic can apply (QuantizeMultiplier with double rounding gives left shifts
    above 30 for absurd scale ratios: the C shift would be undefined; single rounding saturates them), and fused
    activation bounds inside int32 output steps (CalculateActivationRangeQuantized converts them to int32)."""
    _, shift = numerics.quantize_multiplier_array(reals, "double")
    if np.any(shift > 30):
        o = int(np.flatnonzero(shift > 30)[0])
        raise TinygenError(
            f"{common.where(op)}: output unit {o}: input scale x weight scale / output scale = {reals[o]:g} needs a "
            f"left shift of {int(shift[o])} bits; TFLite's requantization shifts int32 values by at most 30 (beyond, "
            "its arithmetic is undefined): the weight or output scale is corrupt; re-quantize the model"
        )
    common.check_activation_range(op, out_scale)


def from_accumulator(p: FullyConnectedParams, acc: np.ndarray, rounding: str) -> np.ndarray:
    """int32 accumulators [..., out] (wrapped like the C's) -> int8: requantize per output unit, add the
    output offset, clamp."""
    return common.requant_out(acc, p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max, rounding)


def reference(graph: Graph, op: Op, p: FullyConnectedParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    # float64 products of integers below 2^17 x 2^9 and their sums stay exact (far below 2^53)
    x = args[0].astype(np.float64).reshape(-1, p.in_features) + p.input_offset
    w = np.asarray(graph.tensor(op.inputs[1]).data, dtype=np.float64) + p.weights_offset
    acc = (x @ w.T).astype(np.int64)
    if p.has_bias:
        acc = acc + np.asarray(graph.tensor(op.inputs[2]).data, dtype=np.int64).reshape(-1)
    shape = graph.tensor(op.outputs[0]).shape
    if not _is_16x8(graph, op):
        return from_accumulator(p, acc, rounding).reshape(shape)
    if p.wide:
        scaled = numerics.requantize_int64(acc, p.multiplier, p.shift)
    else:  # TFLite's int32 accumulator wraps
        scaled = numerics.multiply_by_quantized_multiplier(numerics.wrap_int32(acc), p.multiplier.astype(np.int64),
                                                           p.shift.astype(np.int64), rounding)  # type: ignore[arg-type]
    return np.clip(scaled + p.output_offset, p.act_min, p.act_max).astype(np.int16).reshape(shape)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    y = inputs[0].reshape(-1, inputs[1].shape[1]) @ inputs[1].T
    return y + inputs[2] if len(inputs) > 2 else y


def macs(graph: Graph, op: Op) -> int:
    return graph.tensor(op.outputs[0]).size * graph.tensor(op.inputs[1]).shape[1]


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    x, w, *rest = imp.inputs(raw, 2)
    if x < 0 or w < 0:
        raise TinygenError(f"{imp.where(raw)}: its input or weights operand is missing (index -1); corrupt model")
    if raw.options["WeightsFormat"] != 0:
        raise UnsupportedError(f"{imp.where(raw)}: shuffled weights format is not supported; use the default format")
    out_f, in_f = imp.ranked(raw, w, 2, "weights")
    x_size = int(np.prod(imp.shape(x)))
    if x_size % in_f:
        raise TinygenError(f"{imp.where(raw)}: input {imp.describe(x)} does not flatten to rows of {in_f} features")
    wt = imp.raw.tensors[w]
    if wt.scale is not None and wt.scale.size > 1 and not (
        0 <= wt.quantized_dimension < 2 and (out_f, in_f)[wt.quantized_dimension] == wt.scale.size == out_f
    ):
        # TFLite Micro requires as many scales as the quantized dimension has entries, and uses scale o for
        # output unit o
        raise TinygenError(
            f"{imp.where(raw)}: weights {imp.describe(w)} have {wt.scale.size} scales along quantized dimension "
            f"{wt.quantized_dimension}; per-channel fully connected weights need one scale per output unit "
            "(dimension 0); corrupt quantization parameters"
        )
    int16 = imp.raw.tensors[x].type == tflite.TensorType.INT16  # 16x8: an int64 (or int32) bias
    ins = [imp.activation_tensor(raw, x), imp.weights(raw, w, out_f, 0),
           *imp.bias(raw, rest[0] if rest else -1, out_f, int64=int16)]
    attrs = {"activation": imp.activation(raw), "keep_num_dims": bool(raw.options["KeepNumDims"])}
    return Op(KIND, "", ins, [], attrs)


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """keras.layers.Dense: weights [out, in] (the kernel transposed), a zero bias without use_bias,
    keep_num_dims on inputs of rank > 2."""
    from tinygen.quantize.layers import _activation_name, emit_activation, layer_error, single_input

    x = single_input(layer, inputs)
    kernel = np.asarray(layer.kernel.numpy() if hasattr(layer.kernel, "numpy") else layer.kernel, np.float32)
    weights = kernel.T  # (in, out) -> (out, in)
    if layer.get_config()["use_bias"]:
        bias = np.asarray(layer.bias.numpy() if hasattr(layer.bias, "numpy") else layer.bias, np.float32)
    else:
        bias = np.zeros(weights.shape[0], np.float32)
    shape = b.shape(x)
    if len(shape) < 2:
        raise layer_error(layer, f"input shape {shape} has no feature dimension")
    out = b.op(KIND, layer.name, [x, b.const(f"{layer.name}/weights", weights), b.const(f"{layer.name}/bias", bias)],
               (*shape[:-1], weights.shape[0]), activation="none", keep_num_dims=len(shape) > 2)
    act = _activation_name(layer)
    return emit_activation(b, f"{layer.name}/{act}", out, act)


# --------------------------------------------------------------------------- lowering


def _graph_dual_macs(graph: Graph, rounding: str) -> int:
    """The MACs per inference of the graph's fully connected layers the dual kernel can run."""
    total = 0
    for op in graph.ops:
        if op.kind != KIND or _is_16x8(graph, op):
            continue
        w = graph.tensor(op.inputs[1])
        p = params(graph, op, rounding)  # type: ignore[arg-type]
        if w.data is None or p.weights_offset != 0:
            continue
        folded = fc_ops._stores_bias(graph, op)
        if fc_ops._dual_fits(w.data.astype(np.int8).reshape(p.out_features, -1), fc_ops._input_bound(p, folded)):
            total += graph.tensor(op.inputs[0]).size * p.out_features
    return total


def _check_int32(ctx: LoweringContext, op: Op, p: FullyConnectedParams, w2d: np.ndarray, folded: bool) -> None:
    """Refuse a layer whose int32 arithmetic in tg_fully_connected_s8 / tg_fully_connected_dual_s8 can overflow
    (undefined behaviour in C) for some int8 input.

    The kernels start each accumulator at the folded bias (bias + input_offset * sum(w), wrapped; inputs x
    in -128..127) or, without a bias, at 0 (inputs x + input_offset), and add the products in some order.
    Every product's range contains 0, so every partial sum lies between the start plus all the products at
    their minimum and the start plus all of them at their maximum: those bounds must fit int32. The general
    requantization of a channel whose shift is >= 0 (a multiplier >= 0.5) can bring a value to the edge of
    int32, where adding the output offset would overflow: such layers are refused too (right shifts halve the
    value at least: no overflow)."""
    w = w2d.astype(np.int64)
    if folded:
        start = _folded_bias(ctx, op, w.sum(axis=1), p.input_offset).astype(np.int64)
        x_lo, x_hi = -128, 127
    else:
        start = np.zeros(p.out_features, np.int64)
        x_lo, x_hi = -128 + p.input_offset, 127 + p.input_offset
    lo_terms, hi_terms = w * x_lo, w * x_hi
    hi = start + np.maximum(lo_terms, hi_terms).sum(axis=1)
    lo = start + np.minimum(lo_terms, hi_terms).sum(axis=1)
    bad = np.flatnonzero((hi > INT32_MAX) | (lo < INT32_MIN))
    if bad.size:
        o = int(bad[0])
        bias = ctx.graph.tensor(op.inputs[2]) if p.has_bias else None
        what = f"bias {int(np.asarray(bias.data).reshape(-1)[o])} and weights" if bias is not None else "weights"
        fix = "a bias this large is corrupt or needs a larger scale" if bias is not None else "the layer is too deep"
        raise TinygenError(
            f"{common.where(op)}: output unit {o}: its {what} (sum |w| = {int(np.abs(w[o]).sum())}, input zero point "
            f"{-p.input_offset}) let the int32 accumulator reach [{int(lo[o])}, {int(hi[o])}] for some int8 input, "
            f"outside int32 [{INT32_MIN}, {INT32_MAX}]: the kernel's int32 arithmetic would overflow (undefined "
            f"behaviour in C); re-quantize the model ({fix})"
        )
    mult, shift = np.broadcast_to(p.multiplier, (p.out_features,)), np.broadcast_to(p.shift, (p.out_features,))
    for o in np.flatnonzero(shift >= 0):
        r = _requantized_range(int(lo[o]), int(hi[o]), int(mult[o]), int(shift[o]), ctx.rounding)
        if r is None and p.output_offset == 0:
            continue
        if r is None or r[1] + p.output_offset > INT32_MAX or r[0] + p.output_offset < INT32_MIN:
            raise TinygenError(
                f"{common.where(op)}: output unit {o}: requantization multiplier {int(mult[o])} with left shift "
                f"{int(shift[o])} (an output scale far below input x weight scale) takes accumulators in "
                f"[{int(lo[o])}, {int(hi[o])}] to the edge of int32, where adding the output offset {p.output_offset} "
                "would overflow (undefined behaviour in C, and in TFLite Micro's kernel): re-quantize the model with "
                "a larger output scale"
            )


def _requantized_range(lo: int, hi: int, m: int, shift: int, rounding: str) -> tuple[int, int] | None:
    """The range of MultiplyByQuantizedMultiplier (as tg_requantize_mac computes it: left shifts wrap, the
    single-rounding result is truncated to int32) over accumulators in [lo, hi], for a left ``shift`` >= 0;
    None when it may be any int32 value."""
    if rounding == "single":
        total = 31 - shift
        r_lo, r_hi = (lo * m + (1 << (total - 1))) >> total, (hi * m + (1 << (total - 1))) >> total
        return (r_lo, r_hi) if INT32_MIN <= r_lo and r_hi <= INT32_MAX else None
    x_lo, x_hi = lo << shift, hi << shift
    if x_lo < INT32_MIN or x_hi > INT32_MAX:  # the shift wraps (tg_shl, like TFLite's x * (1 << shift))
        x_lo, x_hi = INT32_MIN, INT32_MAX
    return (x_lo * m + (1 << 30)) >> 31, (x_hi * m + (1 << 30)) >> 31


def _layer_s16(ctx: LoweringContext, op: Op) -> tuple[FullyConnectedParams, np.ndarray, np.ndarray | None] | None:
    """A 16x8 layer's parameters, [out, depth] weights and int64 bias (or None), checked (tinygen/lowering/fc_ops.py);
    None for an int8 layer."""
    if not _is_16x8(ctx.graph, op):
        return None
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    w2d = np.asarray(ctx.graph.tensor(op.inputs[1]).data).astype(np.int8).reshape(p.out_features, -1)
    bias = np.asarray(ctx.graph.tensor(op.inputs[2]).data, np.int64).reshape(-1) if p.has_bias else None
    fc_ops.check_s16(op, p, w2d, bias)
    return p, w2d, bias


def _comment_s16(ctx: LoweringContext, op: Op, p: FullyConnectedParams, how: str = "") -> str:
    rows = ctx.graph.tensor(op.inputs[0]).size // p.in_features
    return (f"fully connected 16x8 {p.in_features} -> {p.out_features} x{rows} "
            f"{'per-channel' if p.per_channel else 'per-tensor'} {op.activation}, "
            f"{'int64' if p.wide else 'int32'} accumulator{how}")


def lower_s16(ctx: LoweringContext, op: Op) -> KernelCall | None:
    """tg_fully_connected_s16 for a 16x8 layer (fc_ops.s16_layout weights); None for an int8 layer."""
    layer = _layer_s16(ctx, op)
    if layer is None:
        return None
    p, w2d, bias = layer
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    hint, rows = CONST_STEM, p.out_features if p.per_channel else 1
    bias_ptr = ctx.const_array(f"{hint}_bias64", bias, "int64_t", WEIGHTS) if bias is not None else "(const int64_t *)0"
    args = (ctx.tensor_ptr(x.name), str(x.size // p.in_features), str(p.in_features),
            ctx.const_array(f"{hint}_w16x8", fc_ops.s16_layout(w2d), "int8_t", WEIGHTS), bias_ptr,
            ctx.const_array(f"{hint}_mult", p.multiplier[:rows], "int32_t", QUANT),
            ctx.const_array(f"{hint}_shift", p.shift[:rows], "int32_t", QUANT), "1" if p.per_channel else "0",
            "1" if p.wide else "0", ctx.tensor_ptr(out.name), str(p.out_features), str(p.output_offset),
            str(p.act_min), str(p.act_max))
    return KernelCall("tg_fully_connected_s16", args, (), 0, _comment_s16(ctx, op, p))


def mve_s16_requant(p: FullyConnectedParams) -> np.ndarray:
    """tg_fully_connected_mve_s16's rq pairs per output: {TFLite's multiplier rounded to Q0.15, 15 - shift} for the
    int64 accumulator (``wide``), else {multiplier, shift}; int32 [out_features, 2]."""
    mult = np.broadcast_to(p.multiplier.astype(np.int64), (p.out_features,))
    shift = np.broadcast_to(p.shift.astype(np.int64), (p.out_features,))
    pairs = (numerics.reduced_multiplier(mult), 15 - shift) if p.wide else (mult, shift)
    return np.stack(pairs, axis=1).astype(np.int32)


def lower_mve_s16(ctx: LoweringContext, op: Op) -> KernelCall | None:
    """tg_fully_connected_mve_s16 (Helium: VMLALDAVA.S16, exact 64-bit sums) for a 16x8 layer: weights in
    mve_ops.quad_layout with steps of 8, the bias as int64 padded to whole quads (zeros without one), the
    requantization pairs of :func:`mve_s16_requant`; None for an int8 layer."""
    layer = _layer_s16(ctx, op)
    if layer is None:
        return None
    p, w2d, bias = layer
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    padded = np.zeros(_round_up(p.out_features, 4), dtype=np.int64)
    padded[: p.out_features] = 0 if bias is None else bias
    hint = CONST_STEM
    args = (ctx.tensor_ptr(x.name), str(x.size // p.in_features), str(p.in_features),
            ctx.const_array(f"{hint}_mve_w16x8", quad_layout(w2d, STEP_S16), "int8_t", WEIGHTS),
            ctx.const_array(f"{hint}_mve_bias64", padded, "int64_t", WEIGHTS),
            ctx.const_array(f"{hint}_mve_rq", mve_s16_requant(p), "int32_t", QUANT), "1" if p.wide else "0",
            ctx.tensor_ptr(out.name), str(p.out_features), str(p.output_offset), str(p.act_min), str(p.act_max))
    return KernelCall("tg_fully_connected_mve_s16", args, (), 0, _comment_s16(ctx, op, p, " (MVE)"))


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    """tg_fully_connected_dual_s8 when the graph's fully connected MACs pay for it and it is exact for these
    weights, else tg_fully_connected_s8 (tinygen/lowering/fc_ops.py documents both)."""
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    w = _weights(ctx, op)
    if p.weights_offset != 0:
        raise UnsupportedError(
            f"{common.where(op)}: weights {w.name!r} have zero point {-p.weights_offset}; tinygen needs "
            "symmetric int8 weights (zero point 0): re-quantize the model"
        )
    batches = x.size // p.in_features
    hint = CONST_STEM
    w2d = w.data.astype(np.int8).reshape(p.out_features, -1)
    folded = fc_ops._stores_bias(ctx.graph, op)
    _check_int32(ctx, op, p, w2d, folded)
    if folded:  # the input offset rides in the bias; the kernels add none
        bias = ctx.const_array(f"{hint}_bias", _folded_bias(ctx, op, w2d.astype(np.int64).sum(axis=1), p.input_offset),
                               "int32_t", WEIGHTS)
        in_offset = 0
    else:  # no bias array: the kernels add the input offset to the inputs
        bias, in_offset = "(const int32_t *)0", p.input_offset
    comment = (
        f"fully connected {p.in_features} -> {p.out_features} x{batches} "
        f"{'per-channel' if p.per_channel else 'per-tensor'} {op.activation}{'' if folded else ', no bias'}"
    )
    x_ptr, out_ptr = ctx.tensor_ptr(x.name), ctx.tensor_ptr(out.name)
    tail_args = (str(p.output_offset), str(p.act_min), str(p.act_max))
    # fc_ops.DUAL_MIN_MACS is read at call time (tests lower it)
    if _graph_dual_macs(ctx.graph, ctx.rounding) >= fc_ops.DUAL_MIN_MACS and fc_ops._dual_fits(
        w2d, fc_ops._input_bound(p, folded)
    ):
        wsym = ctx.const_array(f"{hint}_w", fc_ops._dual_layout(w2d), "int8_t", WEIGHTS)
        rq, mode = fc_ops._dual_rq(ctx, op, p, hint, fc_ops._acc_bound(ctx, op, w2d, p, folded))
        args = (x_ptr, str(batches), str(p.in_features), str(in_offset), wsym, bias, rq, str(mode), out_ptr,
                str(p.out_features), *tail_args, f"(int16_t *)(void *)({ctx.scratch_ptr()})")
        scratch_bytes = 2 * (p.in_features & ~3)  # the expanded int16 inputs of the group part
        return KernelCall("tg_fully_connected_dual_s8", args, (), scratch_bytes, comment + ", two rows per SMLAD",
                          fc_ops.dual_variants(p.in_features, mode))
    wsym = ctx.const_array(f"{hint}_w", _blocked_layout(w2d, 4), "int8_t", WEIGHTS)
    # per-tensor layers keep one requantization triple (rq_step 0)
    rq, rq_mode = _rq_array(ctx, op, p, hint, p.out_features if p.per_channel else 1)
    args = (x_ptr, str(batches), str(p.in_features), str(in_offset), wsym, bias, rq, "3" if p.per_channel else "0",
            rq_mode, out_ptr, str(p.out_features), *tail_args)
    return KernelCall("tg_fully_connected_s8", args, (), 0, comment, fc_ops.fc_variants(p.out_features))


def lower_mve(ctx: LoweringContext, op: Op) -> KernelCall | None:
    """tg_fully_connected_mve_s8 (Helium): bias with the input offset folded in and requantization per quad
    of outputs (tinygen/lowering/mve_ops.py); None for asymmetric weights or shifts VSHL/VRSHL cannot take."""
    if _is_16x8(ctx.graph, op):
        return None  # lower_mve_s16
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    if p.weights_offset != 0 or not _vector_requant_ok(p.multiplier, p.shift):
        return None  # the normal lowering reports asymmetric weights
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    weights = _weights(ctx, op).data.astype(np.int8).reshape(p.out_features, -1)
    batches = x.size // p.in_features
    hint = CONST_STEM
    sums = weights.astype(np.int64).sum(axis=1)
    # a per-tensor layer repeats its one multiplier and shift in every quad
    quads, has_left = quad_params(_folded_bias(ctx, op, sums, p.input_offset), p.multiplier, p.shift)
    scratch = 0 if p.in_features % STEP == 0 else _round_up(p.in_features, STEP)
    args = (
        ctx.tensor_ptr(x.name), str(batches), str(p.in_features),
        ctx.const_array(f"{hint}_mve_w", quad_layout(weights), "int8_t", WEIGHTS),
        ctx.const_array(f"{hint}_mve_p", quads, "int32_t", _quad_params_kinds(quads)),
        ctx.tensor_ptr(out.name), str(p.out_features), str(p.output_offset), str(p.act_min), str(p.act_max),
        str(int(has_left)), ctx.scratch_ptr() if scratch else "(int8_t *)0",
    )
    comment = (
        f"fully connected {p.in_features} -> {p.out_features} x{batches} "
        f"{'per-channel' if p.per_channel else 'per-tensor'} {op.activation} (MVE)"
    )
    return KernelCall("tg_fully_connected_mve_s8", args, (), scratch, comment)


# --------------------------------------------------------------------------- QAT


def _qat_linear(tf: Any, x: Any, w: Any, attrs: dict[str, Any], weight_shape: list[int] | None) -> Any:
    return tf.matmul(x, w, transpose_b=True)


OP = OpDef(
    kind=KIND,
    attrs=(ACTIVATION, Attr("keep_num_dims", boolean, False)),
    num_inputs=(2, 3),
    infer_shape=infer_shape,
    check=check,
    params=params,
    reference=reference,
    data_inputs=1,
    from_accumulator=from_accumulator,
    float_reference=float_reference,
    weight_axis=0,
    fuses_activation=True,
    folds_batchnorm=True,
    tflite=(TfliteMapping("FULLY_CONNECTED", from_tflite, tflite.FullyConnectedOptions,
                          {"FusedActivationFunction": tflite.ActivationFunctionType.NONE, "WeightsFormat": 0,
                           "KeepNumDims": False}, int16=True),),
    keras_layers={"Dense": from_keras},
    lowerings=(lower_s16, lower),
    mve_lowerings=(lower_mve_s16, lower_mve),
    macs=macs,
    qat=QatHooks(linear=_qat_linear),
)
