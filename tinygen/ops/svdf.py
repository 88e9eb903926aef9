"""SVDF (singular value decomposition filter), int8 input, weights and output with an int8 or int16 state, bit-exact
with TFLite Micro's integer SVDF (kernels/svdf_common.cc: ``EvalIntegerSvdfReference<T>``, ``PrepareSvdf``).

The op (a keyword-spotting layer: TFLite Micro's ``keyword_scrambled`` example) keeps the last ``memory``
feature values of each of its ``filters`` filters between invocations, as TFLite Micro keeps the VARIABLE
activation-state tensor (reset: an int8 state to its zero point, an int16 one to 0). ``units = filters / rank``.

IR form (made by the ``.tflite`` converter below):

* inputs: ``x`` [B, I] int8; the feature weights [F, I] int8; the time weights [F, M] of the state's type (int8 or
  int16); the bias [U] int32 (optional: then absent); the state read [B, F * M] (filter-major: filter f's
  memory at ``f * M .. f * M + M - 1``, oldest first); TFLite's input order;
* outputs: [B, U] int8 and the state after the invocation (the graph's :class:`tinygen.ir.State` reads the
  state input and writes this one);
* attribute ``rank``.

Each invocation: the state shifts one place left (the oldest value of each filter drops out); each filter's
newest value is ``wrap(clamp(requantize(sum_i w_f[f, i] * (x[i] - x_zp), scale_1)) + state_zp)``: clamped to the
state's type, then the zero point added and the sum narrowed to that type (two's complement wrap), which is what
the TFLite Micro of the oracle (tflite-micro 0.dev20261023) computes; later TFLite Micro sources add the zero
point before the clamp (the same values wherever the sum stays in range); then ``out[u] = clamp(requantize(bias[u] + sum_{r < rank} sum_m w_t[f, m] * (state[f, m] - state_zp),
scale_2) + out_zp)`` with ``f = u * rank + r``, to int8. TFLite Micro's integer SVDF applies no fused
activation (the output's quantization range is the activation); the time weights' zero point is not read.
Prepare: ``scale_1 = x_scale * w_f_scale / state_scale`` and ``scale_2 = state_scale * w_t_scale / out_scale``,
each computed in float32 then QuantizeMultiplier; the bias scale must be ``state_scale * w_t_scale`` within 1e-5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import ir, numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import hint, shape_str
from tinygen.lowering.base import QUANT, WEIGHTS, KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import Attr, OpDef, TfliteMapping, positive_int
from tinygen.ops.lstm import unique_tensor_name

KIND = "svdf"

#: IR input positions (the bias is optional: without it the state is input 3)
X, W_FEATURE, W_TIME = 0, 1, 2
#: the state types TFLite Micro's integer SVDF takes (its time weights have the same type)
STATE_TYPES = ("int8", "int16")
#: PrepareSvdf's tolerance on the bias scale
BIAS_SCALE_TOLERANCE = 1e-5

ATTRS = (Attr("rank", positive_int),)


# --------------------------------------------------------------------------- shapes and checks


def has_bias(op: Op) -> bool:
    return len(op.inputs) == 5


def state_input(op: Op) -> str:
    return op.inputs[4 if has_bias(op) else 3]


def dims(graph: Graph, op: Op) -> tuple[int, int, int, int, int]:
    """(batches, input size, filters, memory, units)."""
    b, i = graph.tensor(op.inputs[X]).shape
    filters = graph.tensor(op.inputs[W_FEATURE]).shape[0]
    memory = graph.tensor(op.inputs[W_TIME]).shape[1]
    return b, i, filters, memory, filters // int(op.attrs["rank"])


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    b, _, _, _, units = dims(graph, op)
    return (b, units)


def _check_shapes(graph: Graph, op: Op) -> None:
    w = common.where(op)
    x = graph.tensor(op.inputs[X])
    if len(x.shape) != 2:
        raise UnsupportedError(f"{w}: input {x.name!r} has shape {x.shape}; SVDF needs [batch, input size]")
    b, size = x.shape
    wf, wt = graph.tensor(op.inputs[W_FEATURE]), graph.tensor(op.inputs[W_TIME])
    if len(wf.shape) != 2 or wf.shape[1] != size:
        raise TinygenError(f"{w}: feature weights {wf.name!r} have shape {wf.shape}, expected [filters, {size}]")
    filters, rank = wf.shape[0], int(op.attrs["rank"])
    if filters % rank:
        raise TinygenError(f"{w}: {filters} filters are not a multiple of rank {rank}; corrupt model")
    if len(wt.shape) != 2 or wt.shape[0] != filters:
        raise TinygenError(f"{w}: time weights {wt.name!r} have shape {wt.shape}, expected [{filters}, memory]")
    memory, units = wt.shape[1], filters // rank
    if has_bias(op):
        bias = graph.tensor(op.inputs[3])
        if bias.shape != (units,) or bias.dtype != "int32" or not bias.is_const:
            raise UnsupportedError(f"{w}: bias {bias.name!r} ({bias.dtype}, shape {bias.shape}) must be a constant "
                                   f"int32 [{units}]")
    state = graph.tensor(state_input(op))
    if state.shape != (b, filters * memory) or state.is_const:
        raise TinygenError(f"{w}: state {state.name!r} (shape {state.shape}) must be a variable of shape "
                           f"[{b}, {filters * memory}] (batch, filters x memory)")
    if len(op.outputs) != 2:
        raise TinygenError(f"{w}: has {len(op.outputs)} outputs, expected 2 (output, state after the invocation)")
    after = graph.tensor(op.outputs[1])
    if after.dtype != state.dtype or after.shape != state.shape:
        raise TinygenError(f"{w}: state after the invocation {after.name!r} ({after.dtype}, shape {after.shape}) does "
                           f"not match {state.name!r} ({state.dtype}, shape {state.shape})")


def _check_types(graph: Graph, op: Op) -> None:
    w = common.where(op)
    x, out = graph.tensor(op.inputs[X]), graph.tensor(op.outputs[0])
    for t in (x, out):
        common.require_int8(t, op)
        common.qp(t, op)
    wf, wt, state = graph.tensor(op.inputs[W_FEATURE]), graph.tensor(op.inputs[W_TIME]), graph.tensor(state_input(op))
    if wf.dtype != "int8" or not wf.is_const:
        raise UnsupportedError(f"{w}: feature weights {wf.name!r} ({wf.dtype}) must be constant int8")
    if state.dtype not in STATE_TYPES or wt.dtype != state.dtype or not wt.is_const:
        raise UnsupportedError(f"{w}: state {state.name!r} is {state.dtype} and time weights {wt.name!r} {wt.dtype}; "
                               "TFLite Micro's integer SVDF needs both int8 or both int16 (constant time weights)")
    for t, what in ((wf, "feature weights"), (wt, "time weights"), (state, "state")):
        if t.quant is None or t.quant.scale.size != 1:
            raise UnsupportedError(f"{w}: {what} {t.name!r} must be quantized per tensor (one scale), as TFLite's "
                                   "SVDF requires")
        common.qp(t, op)


def _check_accumulators(graph: Graph, op: Op) -> None:
    """TFLite's accumulators are int32 (overflow undefined there): refuse weights whose sums could leave it, also
    in the kernel's order (the zero points' terms folded into the biases, then the products of raw values)."""
    x, state = graph.tensor(op.inputs[X]), graph.tensor(state_input(op))
    lo = common.INT_RANGES[state.dtype][0]
    x_reach = 128 + abs(common.qp(x, op)[1])
    state_reach = -lo + abs(common.qp(state, op)[1])
    wf = np.abs(np.asarray(graph.tensor(op.inputs[W_FEATURE]).data, np.int64)).sum(axis=1) * x_reach
    rank = int(op.attrs["rank"])
    wt = np.abs(np.asarray(graph.tensor(op.inputs[W_TIME]).data, np.int64)).sum(axis=1) * state_reach
    per_unit = wt.reshape(-1, rank).sum(axis=1)
    if has_bias(op):
        per_unit = per_unit + np.abs(np.asarray(graph.tensor(op.inputs[3]).data, np.int64))
    if max(int(wf.max()), int(per_unit.max())) >= 2**31:
        raise TinygenError(f"{common.where(op)}: the weights and bias can take an int32 accumulator beyond int32, "
                           "where TFLite's arithmetic is undefined: corrupt weights; re-quantize the model")


def _check(graph: Graph, op: Op) -> None:
    _check_shapes(graph, op)
    _check_types(graph, op)
    params(graph, op, "double")
    _check_accumulators(graph, op)


# --------------------------------------------------------------------------- Prepare


@dataclass(frozen=True)
class SvdfParams:
    """TFLite Micro's OpDataSvdf: the feature and output requantizations (multiplier, shift), the zero points and
    the state type's range."""

    feature_mult: tuple[int, int]
    output_mult: tuple[int, int]
    input_zero_point: int
    state_zero_point: int
    output_zero_point: int
    state_min: int
    state_max: int


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> SvdfParams:
    x, out = graph.tensor(op.inputs[X]), graph.tensor(op.outputs[0])
    state = graph.tensor(state_input(op))
    sx, zx = common.qp(x, op)
    so, zo = common.qp(out, op)
    ss, zs = common.qp(state, op)
    swf = common.qp(graph.tensor(op.inputs[W_FEATURE]), op)[0]
    swt = common.qp(graph.tensor(op.inputs[W_TIME]), op)[0]
    f32 = np.float32
    # float32 arithmetic, as PrepareSvdf computes the products of the tensors' float scales
    scale_1 = float(f32(f32(sx) * f32(swf)) / f32(ss))
    time_scale = f32(f32(ss) * f32(swt))
    scale_2 = float(time_scale / f32(so))
    if has_bias(op):
        sb = common.qp(graph.tensor(op.inputs[3]), op)[0]
        if not abs(float(f32(sb)) - float(time_scale)) < BIAS_SCALE_TOLERANCE:
            raise TinygenError(f"{common.where(op)}: bias scale {float(f32(sb)):g} is not state scale x time weights "
                               f"scale ({float(time_scale):g}) within {BIAS_SCALE_TOLERANCE:g}, as TFLite Micro's SVDF "
                               "requires: re-quantize the model")
    lo, hi = common.INT_RANGES[state.dtype]
    return SvdfParams(common.multiplier(scale_1, op, "feature", rounding),
                      common.multiplier(scale_2, op, "output", rounding), zx, zs, zo, lo, hi)


# --------------------------------------------------------------------------- reference


def _narrow(v: np.ndarray, p: SvdfParams) -> np.ndarray:
    """``v`` narrowed to the state's type as a C conversion does (two's complement wrap)."""
    span = p.state_max - p.state_min + 1
    return (v - p.state_min) % span + p.state_min


def reference(graph: Graph, op: Op, p: SvdfParams, args: list[np.ndarray], rounding: str
              ) -> tuple[np.ndarray, np.ndarray]:
    b, _, filters, memory, units = dims(graph, op)
    rank = int(op.attrs["rank"])
    x = np.asarray(args[X], np.int64)
    wf = np.asarray(args[W_FEATURE], np.int64)
    wt = np.asarray(args[W_TIME], np.int64)
    bias = np.asarray(args[3], np.int64) if has_bias(op) else np.zeros(units, np.int64)
    state = np.asarray(args[-1], np.int64).reshape(b, filters, memory)
    # the whole buffer shifts one place left; each filter's last place then takes its new feature value
    after = np.concatenate([state.reshape(b, -1)[:, 1:], np.zeros((b, 1), np.int64)], axis=1).reshape(b, filters, memory)
    feature = numerics.multiply_by_quantized_multiplier((x - p.input_zero_point) @ wf.T, *p.feature_mult,
                                                        rounding)  # type: ignore[arg-type]
    # clamped to the state's type, then the zero point added and the sum narrowed (wrapping) to it
    after[:, :, memory - 1] = _narrow(np.clip(feature, p.state_min, p.state_max) + p.state_zero_point, p)
    per_filter = ((after - p.state_zero_point) * wt[None]).sum(axis=2)  # [B, F]
    acc = numerics.wrap_int32(bias[None] + per_filter.reshape(b, units, rank).sum(axis=2))
    out = numerics.multiply_by_quantized_multiplier(acc, *p.output_mult, rounding)  # type: ignore[arg-type]
    out = np.clip(out + p.output_zero_point, -128, 127)
    dtype = common.NP_DTYPES[graph.tensor(op.outputs[1]).dtype]
    return out.astype(np.int8), after.reshape(b, filters * memory).astype(dtype)


# --------------------------------------------------------------------------- import

_OPTION_FIELDS = {"Rank": 0, "FusedActivationFunction": 0, "AsymmetricQuantizeInputs": False}


def _state(imp: Any, raw: Any, index: int) -> tuple[str, str, ir.State]:
    """The VARIABLE activation state: (its read tensor, its write tensor, the graph's State)."""
    where = imp.where(raw)
    t = imp.raw.tensors[index]
    if not t.is_variable:
        raise UnsupportedError(f"{where}: its state {imp.describe(index)} is not a variable tensor (TFLite Micro "
                               "requires it to be)")
    others = [o for o in imp.consumers.get(index, []) if o is not raw]
    if others or index in imp.raw.outputs or index in imp.raw.inputs or index in imp.producer:
        raise UnsupportedError(f"{where}: its state {imp.describe(index)} is used elsewhere in the model; tinygen "
                               "supports an SVDF state used by the SVDF alone")
    dtype = {tflite.TensorType.INT8: "int8", tflite.TensorType.INT16: "int16"}.get(t.type)
    if dtype is None or t.scale is None or t.scale.size != 1:
        raise UnsupportedError(f"{where}: state {imp.describe(index)} must be int8 or int16 quantized per tensor "
                               "(TFLite Micro's integer SVDF)")
    lo, hi = common.INT_RANGES[dtype]
    if not lo <= int(t.zero_point[0]) <= hi:
        raise TinygenError(f"{where}: state {imp.describe(index)} has zero point {int(t.zero_point[0])} outside "
                           f"[{lo}, {hi}]: re-quantize the model")
    shape = tuple(imp.shape(index))
    q = ir.Quantization(t.scale, t.zero_point)
    g, name = imp.graph, imp.names[index]
    read = g.add_tensor(ir.Tensor(unique_tensor_name(imp, f"{name}/before"), shape, dtype, q)).name
    # the state after the invocation keeps the variable's own name (TFLite Micro's tensor after the invocation)
    write = g.add_tensor(ir.Tensor(name if name not in g.tensors else unique_tensor_name(imp, name), shape, dtype,
                                   q)).name
    # ResetVariableTensors: an int8 variable starts at its zero point, any other at 0
    initial = np.full(int(np.prod(shape)), int(t.zero_point[0]) if dtype == "int8" else 0, common.NP_DTYPES[dtype])
    return read, write, ir.State(name, read, write, initial)


def convert(imp: Any, raw: Any) -> list[Op]:
    where = imp.where(raw)
    if len(raw.inputs) != 5 or len(raw.outputs) != 1:
        raise TinygenError(f"{where}: has {len(raw.inputs)} inputs and {len(raw.outputs)} outputs, expected 5 and 1; "
                           "corrupt model")
    x_index = raw.inputs[0]
    if imp.raw.tensors[x_index].type != tflite.TensorType.INT8:
        raise UnsupportedError(f"{where}: input {imp.describe(x_index)} is not int8 (a float or hybrid SVDF); tinygen "
                               "supports the integer SVDF: re-convert with full-integer int8 quantization")
    x = imp.activation_tensor(raw, x_index)
    wf = imp.weights(raw, raw.inputs[1], imp.ranked(raw, raw.inputs[1], 2, "feature weights")[0], 0)
    wt_index = raw.inputs[2]
    if imp.raw.tensors[wt_index].data is None:
        raise UnsupportedError(f"{where}: its time weights {imp.describe(wt_index)} must be a constant")
    wt = imp.tensor(wt_index)
    bias = [] if raw.inputs[3] == -1 else [imp.tensor(raw.inputs[3])]
    read, write, state = _state(imp, raw, raw.inputs[4])
    out = imp.output(raw, KIND)
    imp.graph.states.append(state)
    return [Op(KIND, out, [x, wf, wt, *bias, read], [out, write], {"rank": int(raw.options["Rank"])})]


# --------------------------------------------------------------------------- lowering


def folded_biases(graph: Graph, op: Op, p: SvdfParams) -> tuple[np.ndarray, np.ndarray]:
    """The feature sums' ``-input_zero_point * sum(w_f)`` [F] and, per unit, the bias with its filters'
    ``-state_zero_point * sum(w_t)`` folded in [U] (int32: _check_accumulators bounds them)."""
    rank = int(op.attrs["rank"])
    wf = np.asarray(graph.tensor(op.inputs[W_FEATURE]).data, np.int64)
    wt = np.asarray(graph.tensor(op.inputs[W_TIME]).data, np.int64)
    bias = np.asarray(graph.tensor(op.inputs[3]).data, np.int64) if has_bias(op) else 0
    feature = -p.input_zero_point * wf.sum(axis=1)
    unit = bias - p.state_zero_point * wt.sum(axis=1).reshape(-1, rank).sum(axis=1)
    return feature.astype(np.int32), unit.astype(np.int32)


def quant_words(p: SvdfParams) -> np.ndarray:
    """The kernel's int32 parameter block (tg_svdf_s8.h, TG_SVDF_Q_*): TFLite's multipliers and shifts, the zero
    points, then each requantization's fast form (the feature's without offset, the output's with its zero point)."""
    return np.asarray([*p.feature_mult, *p.output_mult, p.state_zero_point, p.output_zero_point,
                       *_fast_words(*p.feature_mult, 0), *_fast_words(*p.output_mult, p.output_zero_point)], np.int32)


def _fast_words(multiplier: int, shift: int, offset: int) -> tuple[int, int]:
    """tg_requant_fast.h's rounding term and e - 1 of a right shift e = -shift in 2..22 with a multiplier >= 0, where
    tg_rq_fast equals TFLite's requantization plus ``offset``; else 0, 0 (the kernel's general form)."""
    e = -int(shift)
    if 2 <= e <= 22 and multiplier >= 0:
        return (1 << (e - 2)) + int(offset) * (1 << (e - 1)), e - 1
    return 0, 0


def svdf_variants(state_dtype: str) -> tuple[str, ...]:
    """The kernel's specialisation for a state of ``state_dtype`` (mirrors tg_svdf_s8's dispatch)."""
    return ("SVDF_STATE8",) if state_dtype == "int8" else ("SVDF_STATE16",)


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    g = ctx.graph
    p = params(g, op, ctx.rounding)  # type: ignore[arg-type]
    b, size, filters, memory, units = dims(g, op)
    state = g.tensor(state_input(op))
    ctype = "int8_t" if state.dtype == "int8" else "int16_t"
    feature_bias, unit_bias = folded_biases(g, op, p)
    args = (
        f"(const int8_t *)({ctx.tensor_ptr(op.inputs[X])})",
        f"(const void *)({ctx.tensor_ptr(state_input(op))})", str(8 * state.itemsize),
        str(b), str(size), str(filters), str(memory), str(int(op.attrs["rank"])),
        ctx.const_array(hint(op, "w_feature"), np.asarray(g.tensor(op.inputs[W_FEATURE]).data), "int8_t", WEIGHTS),
        ctx.const_array(hint(op, "w_time"), np.asarray(g.tensor(op.inputs[W_TIME]).data), ctype, WEIGHTS),
        ctx.const_array(hint(op, "b_feature"), feature_bias, "int32_t", WEIGHTS),
        ctx.const_array(hint(op, "b_unit"), unit_bias, "int32_t", WEIGHTS),
        ctx.const_array(hint(op, "q"), quant_words(p), "int32_t", QUANT),
        ctx.tensor_ptr(op.outputs[0]), f"(void *)({ctx.tensor_ptr(op.outputs[1])})",
    )
    x = g.tensor(op.inputs[X])
    comment = f"svdf {shape_str(x)} -> {units} units, {filters} filters x memory {memory}, {state.dtype} state"
    return KernelCall("tg_svdf_s8", args, comment=comment, variants=svdf_variants(state.dtype))


def macs(graph: Graph, op: Op) -> int:
    b, size, filters, memory, _ = dims(graph, op)
    return b * filters * (size + memory)


OP = OpDef(
    kind=KIND,
    infer_shape=infer_shape,
    attrs=ATTRS,
    num_inputs=(4, 5),
    check=_check,
    params=params,
    reference=reference,
    tflite=(TfliteMapping("SVDF", convert, tflite.SVDFOptions, _OPTION_FIELDS),),
    lowerings=(lower,),
    macs=macs,
)
