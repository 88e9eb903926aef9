"""MAXIMUM and MINIMUM (Keras Maximum, Minimum): the elementwise larger / smaller of two int8 tensors,
broadcast numpy-style, bit-exact with TFLite Micro.

TFLite Micro (kernels/maximum_minimum.cc, ``reference_ops::MaximumMinimumBroadcastSlow``) has no Prepare
and no parameters: Eval picks the int8 path by the output's type and compares the raw int8 values,
``el1 > el2 ? el1 : el2`` (MAXIMUM) and ``el1 < el2 ? el1 : el2`` (MINIMUM); operands of equal shapes run
flat, others through ``BroadcastBinaryOpSimple`` (numpy's broadcasting; the result of either is the int8
value picked for each output element). It checks no quantization at all. Comparing raw values is the
maximum/minimum of the real values only when both inputs and the output share one scale and zero point
(the TFLite converter gives them one: MAXIMUM/MINIMUM are "same scale" ops), so tinygen refuses any other
quantization instead of silently computing a raw comparison that means nothing (:func:`_check`). Ties
need no rule: equal int8 values are the same value.

The kernel ``tg_minmax_s8`` runs both ops (an ``is_max`` flag) over the 4-D stride layout of the ADD/MUL
broadcast kernels (:func:`tinygen.ops.binary_common.broadcast_layout`; operands of the output's size
merge into one contiguous row), four elements per step with SSUB8/SEL on cores with the DSP extension; each
op is a kernel specialisation (``MINMAX_MAX``, ``MINMAX_MIN``), so a library compiles only the ops it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygen import numerics
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import const_ptr, i32, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import binary_common, common
from tinygen.ops.base import SHARED_BY_ALL, OpDef, QatHooks, TfliteMapping

KIND_MAX = "maximum"
KIND_MIN = "minimum"
#: both kinds of this module, maximum first
KINDS = (KIND_MAX, KIND_MIN)

#: op kind -> (.tflite builtin, Keras layer class)
_NAMES = {KIND_MAX: ("MAXIMUM", "Maximum"), KIND_MIN: ("MINIMUM", "Minimum")}

#: the C kernel of both ops
KERNEL = "tg_minmax_s8"

#: op kind -> its kernel specialisation (TG_VARIANT in tg_minmax_s8.c: a library compiles the ops it runs)
VARIANTS = {KIND_MAX: "MINMAX_MAX", KIND_MIN: "MINMAX_MIN"}


@dataclass(frozen=True)
class MinMaxParams:
    """maximum/minimum (TFLite Micro has no parameters: it compares the raw int8 values): ``is_max`` picks
    the larger value (MAXIMUM), else the smaller one (MINIMUM)."""

    is_max: bool


def _check(graph: Graph, op: Op) -> None:
    """Both inputs and the output int8, per-tensor quantized, with one scale and zero point."""
    a, b, out = binary_common.operands(graph, op)
    so, zo = common.qp(out, op)
    for t in (a, b):
        si, zi = common.qp(t, op)
        if np.float32(si) != np.float32(so) or zi != zo:
            raise TinygenError(
                f"{common.where(op)}: input {t.name!r} has scale {np.float32(si)!s}, zero point {zi} but output "
                f"{out.name!r} has scale {np.float32(so)!s}, zero point {zo}; TFLite Micro's int8 "
                f"{_NAMES[op.kind][0]} compares the raw int8 values, which is the {op.kind} of the real values only "
                "when both inputs and the output share one scale and zero point: re-quantize with one shared "
                "quantization (the TFLite converter does this)"
            )


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> MinMaxParams:
    """TFLite Micro has no Prepare for MAXIMUM/MINIMUM; ``rounding`` plays no part."""
    _check(graph, op)
    return MinMaxParams(is_max=op.kind == KIND_MAX)


def reference(graph: Graph, op: Op, p: MinMaxParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    """MaximumMinimumBroadcastSlow: the raw int8 maximum/minimum, broadcast numpy-style."""
    a, b = common.broadcast_pair(graph, op, args[0], args[1])
    return (np.maximum(a, b) if p.is_max else np.minimum(a, b)).astype(np.int8)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return np.maximum(inputs[0], inputs[1]) if op.kind == KIND_MAX else np.minimum(inputs[0], inputs[1])


# --------------------------------------------------------------------------- import


def _from_tflite(kind: str) -> Any:
    def convert(imp: Any, raw: Any) -> Op:
        """Exactly two int8 operands (TFLite's Prepare requires two; either may be a constant, e.g. the scalar
        of ``clip_by_value``), broadcast to the output (checked by the shape inference); no options."""
        if len(raw.inputs) != 2:
            raise TinygenError(
                f"{imp.where(raw)}: has {len(raw.inputs)} inputs; {_NAMES[kind][0]} takes exactly 2: corrupt model"
            )
        a, b = imp.inputs(raw, 2)
        return Op(kind, "", [imp.activation_tensor(raw, a), imp.activation_tensor(raw, b)], [], {})

    return convert


def _from_keras(kind: str) -> Any:
    def convert(b: Any, layer: Any, inputs: list[str]) -> str:
        """Keras Maximum/Minimum of two or more inputs of one rank (Keras broadcasts dimensions of size 1): a
        chain of two-input ops (the last one takes the layer's name)."""
        from tinygen.quantize.layers import layer_error

        if len(inputs) < 2:
            raise layer_error(layer, f"needs at least two inputs, got {len(inputs)}")
        shapes = [b.shape(x) for x in inputs]
        if len({len(s) for s in shapes}) != 1:
            raise layer_error(layer, f"inputs have different ranks {shapes}; give them one rank")
        out = inputs[0]
        for i, x in enumerate(inputs[1:]):
            try:
                shape = tuple(int(d) for d in np.broadcast_shapes(b.shape(out), b.shape(x)))
            except ValueError:
                raise layer_error(layer, f"input shapes {shapes} do not broadcast") from None
            last = i == len(inputs) - 2
            out = b.op(kind, layer.name if last else f"{layer.name}/{i}", [out, x], shape)
        return out

    return convert


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    """``tg_minmax_s8(a, b, dims, strides1, strides2, is_max, out)`` over the 4-D layout of
    :func:`binary_common.broadcast_layout` (same-size operands: one contiguous row)."""
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    a, b = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.inputs[1])
    out = ctx.graph.tensor(op.outputs[0])
    dims, sa, sb = binary_common.broadcast_layout(op, a, b, out)
    args = (const_ptr(ctx, a.name), const_ptr(ctx, b.name), i32(ctx, op, "dims", dims),
            i32(ctx, op, "strides1", sa), i32(ctx, op, "strides2", sb), "1" if p.is_max else "0",
            ctx.tensor_ptr(out.name))
    how = "elementwise" if a.size == b.size == out.size else f"{shape_str(a)} with {shape_str(b)} (broadcast)"
    return KernelCall(KERNEL, args, comment=f"{op.kind} {shape_str(out)} {how}", variants=(VARIANTS[op.kind],))


# --------------------------------------------------------------------------- QAT


def _qat_forward(kind: str) -> Any:
    def forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
        # one shared quantizer (SHARED_BY_ALL): the max/min of values on one grid stays on it
        return tf.maximum(xs[0], xs[1]) if kind == KIND_MAX else tf.minimum(xs[0], xs[1])

    return forward


def _opdef(kind: str) -> OpDef:
    builtin, keras_layer = _NAMES[kind]
    return OpDef(
        kind=kind,
        num_inputs=(2, 2),
        infer_shape=binary_common.infer_shape,
        check=_check,
        params=params,
        reference=reference,
        float_reference=float_reference,
        quant_rule=SHARED_BY_ALL,
        tflite=(TfliteMapping(builtin, _from_tflite(kind)),),
        keras_layers={keras_layer: _from_keras(kind)},
        lowerings=(lower,),
        in_place=binary_common.in_place,
        qat=QatHooks(forward=_qat_forward(kind)),
    )


MAXIMUM_DEF = _opdef(KIND_MAX)
MINIMUM_DEF = _opdef(KIND_MIN)

OPS = (MAXIMUM_DEF, MINIMUM_DEF)
