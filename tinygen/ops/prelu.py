"""PRELU (Keras ``PReLU``, ``shared_axes`` too): ``x`` for ``x >= 0``, ``alpha * x`` otherwise, with a constant
``alpha`` broadcast against the input, int8 -> int8 with its own output quantization, bit-exact with TFLite
Micro's int8 PRELU.

TFLite Micro (``CalculatePreluParams``/``PreluPrepare`` in prelu_common.cc, then
``reference_ops::BroadcastPrelu4DSlow``):

* Prepare computes, in double from the float32 scales, ``input_scale / output_scale`` and
  ``input_scale * alpha_scale / output_scale`` (alpha per tensor: TFLite Micro reads ``params.scale``, one
  scale) and QuantizeMultiplier gives ``output_multiplier_1``/``output_shift_1`` (identity) and
  ``output_multiplier_2``/``output_shift_2`` (alpha); the offsets are ``-input_zero_point``,
  ``-alpha_zero_point`` and ``output_zero_point``. It checks no shape: the kernel loops over the output shape
  extended to 4-D and indexes input and alpha through ``NdArrayDescsForElementwiseBroadcast`` (numpy's
  broadcasting, right-aligned, rank <= 4; a rank above 4 aborts in ``RuntimeShape::ExtendedShape``, an output
  other than the broadcast shape reads and writes out of bounds). tinygen refuses all of those.
* Per element: ``d = x - input_zero_point``; ``d >= 0`` gives ``MultiplyByQuantizedMultiplier(d, m1, s1)``,
  otherwise ``MultiplyByQuantizedMultiplier(d * (alpha - alpha_zero_point), m2, s2)``; plus the output zero
  point, clamped to int8.

Two forms of the op: from a ``.tflite`` its alpha is a second, constant int8 input; from Keras the float
alpha is the attribute ``alpha`` (one input) and this module quantizes it the way TensorFlow's converter
quantizes a Keras PReLU's alpha (:func:`quantize_alpha`: a constant int8 tensor of the alpha's own shape,
per-tensor symmetric, narrow range, zero point 0; tinygen's quantizer has no rule for constant operands of
ops without weights, so the alpha travels as an attribute and is quantized here).

Lowering: an alpha with one value over an input of the output's shape makes the op a function of the input
element alone, tabulated offline into ``tg_lut_s8``; every other configuration runs ``tg_prelu_s8`` (the
identity branch tabulated, the alpha branch requantized per element), fast along a contiguous per-channel
alpha (alpha varying along the last axis only, or of the input's shape), a general 4-D broadcast otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op, Tensor
from tinygen.lowering.args import const_ptr, hint, i32, lut_call, shape_str
from tinygen.lowering.base import TABLE, WEIGHTS, KernelCall, LoweringContext
from tinygen.ops import binary_common, common
from tinygen.ops.base import Attr, AttrError, OpDef, QatHooks, TfliteMapping

KIND = "prelu"

#: the Keras layer class of this op
KERAS_LAYER = "PReLU"

#: TFLite Micro's BroadcastPrelu4DSlow extends every shape to 4-D (RuntimeShape::ExtendedShape aborts above)
MAX_RANK = 4

#: the alpha range TensorFlow's converter gives an all-zero alpha: [-5e-7, 5e-7] (scale 5e-7 / 127)
ZERO_ALPHA_RANGE = 5e-7

INT32_LIMIT = 1 << 31


@dataclass(frozen=True)
class PreluParams:
    """TFLite's PreluParams for int8 (``output_*_1``: identity, ``output_*_2``: alpha)."""

    input_offset: int
    alpha_offset: int
    output_offset: int
    output_multiplier_1: int
    output_shift_1: int
    output_multiplier_2: int
    output_shift_2: int


# --------------------------------------------------------------------------- the alpha


def float_alpha(value: Any) -> np.ndarray | None:
    """The Keras form's float alpha: None (the .tflite form) or a float32 array of finite values, rank <= 4,
    not empty."""
    if value is None:
        return None
    try:
        a = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AttrError(f"{type(value).__name__} is not an array of numbers") from None
    if a.ndim > MAX_RANK or a.size == 0:
        raise AttrError(f"shape {a.shape}: needs 1 to {MAX_RANK} dimensions and at least one value")
    if not (np.all(np.isfinite(a)) and np.all(np.abs(a) <= float(np.finfo(np.float32).max))):
        raise AttrError("holds values that are not finite float32 numbers")
    out = a.astype(np.float32)
    out.setflags(write=False)
    return out


def quantize_alpha(alpha: np.ndarray) -> tuple[np.ndarray, float, int]:
    """(int8 values, float32 scale, zero point) of a float alpha as TensorFlow's converter quantizes a Keras
    PReLU's alpha: per tensor, symmetric, narrow range: scale ``max|alpha| / 127`` (``5e-7 / 127`` when
    every alpha is 0), zero point 0, values ``round(alpha / scale)`` (half away from zero) in [-127, 127]."""
    a = np.asarray(alpha, dtype=np.float64)
    amax = float(np.abs(a).max())
    scale = float(np.float32((amax if amax > 0 else ZERO_ALPHA_RANGE) / 127.0))
    q = np.clip(numerics.round_half_away(a / scale), -127, 127).astype(np.int8)
    return q, scale, 0


def _alpha_tensor(graph: Graph, op: Op) -> Tensor | None:
    return graph.tensor(op.inputs[1]) if len(op.inputs) == 2 else None


def alpha_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    t = _alpha_tensor(graph, op)
    if t is not None:
        return tuple(t.shape)
    a = op.attrs.get("alpha")
    if a is None:
        raise TinygenError(f"{common.where(op)}: has no alpha: give a second (constant) input or the 'alpha' "
                           "attribute")
    return tuple(np.shape(a))


def alpha_values(graph: Graph, op: Op) -> tuple[np.ndarray, float, int]:
    """(int8 values in the alpha's shape, scale, zero point) of either form, checked."""
    t = _alpha_tensor(graph, op)
    if t is None:
        return quantize_alpha(op.attrs["alpha"])
    common.require_int8(t, op)
    if not t.is_const:
        raise UnsupportedError(
            f"{common.where(op)}: alpha {t.name!r} (shape {t.shape}) is computed at run time; tinygen needs a "
            "constant alpha: freeze it into the model"
        )
    if t.quant is None or t.quant.scale.size != 1:
        n = 0 if t.quant is None else t.quant.scale.size
        raise UnsupportedError(
            f"{common.where(op)}: alpha {t.name!r} has {n} quantization scales; TFLite Micro's int8 PRELU reads one "
            "(per-tensor) scale and zero point: quantize the alpha per tensor"
        )
    scale, zp = common.qp(t, op)
    return np.asarray(t.data).astype(np.int8).reshape(t.shape), scale, zp


# --------------------------------------------------------------------------- shapes and checks


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    """numpy's broadcast of the input and alpha shapes, each of rank <= 4 (TFLite Micro's 4-D loop)."""
    x_shape, a_shape = graph.tensor(op.inputs[0]).shape, alpha_shape(graph, op)
    for what, shape in (("input", x_shape), ("alpha", a_shape)):
        if len(shape) > MAX_RANK:
            raise UnsupportedError(
                f"{common.where(op)}: {what} has shape {tuple(shape)}, rank {len(shape)}; TFLite Micro's PRELU "
                f"supports rank <= {MAX_RANK}"
            )
    try:
        return tuple(int(d) for d in np.broadcast_shapes(tuple(x_shape), tuple(a_shape)))
    except ValueError:
        raise TinygenError(
            f"{common.where(op)}: input shape {tuple(x_shape)} and alpha shape {tuple(a_shape)} do not broadcast "
            "(numpy rules: trailing dimensions equal or 1): fix the alpha's shape"
        ) from None


def _check(graph: Graph, op: Op) -> None:
    x, out = common.unary_int8(graph, op)
    if len(op.inputs) == 2 and op.attrs.get("alpha") is not None:
        raise TinygenError(f"{common.where(op)}: has both an alpha input and an 'alpha' attribute; give one")
    a, _, _ = alpha_values(graph, op)
    for t in (x, out):
        if t.size == 0:
            raise TinygenError(f"{common.where(op)}: tensor {t.name!r} has shape {t.shape}, no elements")
    if a.size == 0:
        raise TinygenError(f"{common.where(op)}: alpha has shape {a.shape}, no elements")


def _check_int32(op: Op, what: str, largest: int, multiplier: int, shift: int) -> None:
    """TFLite Micro computes ``x * (1 << shift)`` and ``requantized + output_offset`` in int32: refuse scales where
    an operand of magnitude up to ``largest`` could take either beyond int32 (undefined behaviour there, and in
    the C). The requantized magnitude is at most the shifted one (multiplier < 2^31), so one bound covers both,
    with 256 to spare for the offset."""
    if largest << max(shift, 0) >= INT32_LIMIT - 256:
        raise TinygenError(
            f"{common.where(op)}: the {what} requantization (multiplier {multiplier}, shift {shift}) of values up to "
            f"{largest} leaves int32 (TFLite Micro's arithmetic is undefined there): the output scale is far too "
            "small for the input and alpha scales; re-quantize the model"
        )


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> PreluParams:
    """CalculatePreluParams (int8): the ratios in double of the float32 scales."""
    _check(graph, op)
    x, out = common.unary_int8(graph, op)
    (si, zi), (so, zo) = common.qp(x, op), common.qp(out, op)
    a, sa, za = alpha_values(graph, op)
    si64, so64, sa64 = float(np.float32(si)), float(np.float32(so)), float(np.float32(sa))
    m1, s1 = common.multiplier(si64 / so64, op, "input/output", rounding)
    m2, s2 = common.multiplier(si64 * sa64 / so64, op, "input*alpha/output", rounding)
    # the operands that reach each requantization: d = x - zi >= 0, and d * (alpha - za) for d < 0
    largest_identity = max(127 - zi, 0)
    largest_d = max(zi + 128, 0)
    largest_alpha = int(np.abs(a.astype(np.int64) - za).max())
    _check_int32(op, "identity", largest_identity, m1, s1)
    _check_int32(op, "alpha", largest_d * largest_alpha, m2, s2)
    return PreluParams(input_offset=-zi, alpha_offset=-za, output_offset=zo, output_multiplier_1=m1,
                       output_shift_1=s1, output_multiplier_2=m2, output_shift_2=s2)


# --------------------------------------------------------------------------- integer arithmetic


def prelu_int8(x: np.ndarray, alpha: np.ndarray, p: PreluParams, rounding: str) -> np.ndarray:
    """reference_ops::BroadcastPrelu4DSlow (int8) of int8 ``x`` and int8 ``alpha``, broadcast numpy-style."""
    shape = np.broadcast_shapes(np.shape(x), np.shape(alpha))
    d = np.broadcast_to(np.asarray(x, dtype=np.int64), shape) + p.input_offset
    av = np.broadcast_to(np.asarray(alpha, dtype=np.int64), shape) + p.alpha_offset
    rnd: numerics.Rounding = rounding  # type: ignore[assignment]
    mqm = numerics.multiply_by_quantized_multiplier
    identity = mqm(d, p.output_multiplier_1, p.output_shift_1, rnd)
    scaled = mqm(np.where(d >= 0, 0, d * av), p.output_multiplier_2, p.output_shift_2, rnd)
    return common.clamp_int8(np.where(d >= 0, identity, scaled) + p.output_offset, -128, 127)


#: the int8 value of each table index 0..255 (tables are indexed by (uint8_t)x)
_BY_INDEX = np.arange(256, dtype=np.uint8).view(np.int8)


def identity_table(p: PreluParams, rounding: str) -> np.ndarray:
    """The output of every int8 input through the identity branch, in ``(uint8_t)x`` index order (entries of
    inputs below the zero point, which take the alpha branch, are never read: 0)."""
    d = _BY_INDEX.astype(np.int64) + p.input_offset
    rnd: numerics.Rounding = rounding  # type: ignore[assignment]
    y = numerics.multiply_by_quantized_multiplier(np.maximum(d, 0), p.output_multiplier_1, p.output_shift_1, rnd)
    return np.where(d >= 0, np.clip(y + p.output_offset, -128, 127), 0).astype(np.int8)


def single_alpha_table(p: PreluParams, alpha: int, rounding: str) -> np.ndarray:
    """tg_lut_s8's table of a PReLU whose alpha has one value: the output of every int8 input."""
    return prelu_int8(_BY_INDEX, np.int8(alpha), p, rounding)


def reference(graph: Graph, op: Op, p: PreluParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    alpha = args[1] if len(args) > 1 else alpha_values(graph, op)[0]
    return prelu_int8(args[0], alpha, p, rounding)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    """On a batch: alpha broadcast against each sample (the Keras form's alpha has no batch dimension)."""
    x = np.asarray(inputs[0])
    alpha = np.asarray(inputs[1] if len(inputs) > 1 else op.attrs["alpha"], dtype=x.dtype)
    return np.where(x >= 0, x, x * alpha)


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    """PRELU(input, alpha): both int8 per-tensor operands (the checks require a constant alpha)."""
    x, alpha = imp.inputs(raw, 2)[:2]
    return Op(KIND, "", [imp.activation_tensor(raw, x), imp.activation_tensor(raw, alpha)], [], {})


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """keras.layers.PReLU: alpha of the input's shape without the batch, 1 along ``shared_axes``."""
    from tinygen.quantize.layers import layer_error, single_input

    x = single_input(layer, inputs)
    alpha = np.asarray(layer.alpha.numpy() if hasattr(layer.alpha, "numpy") else layer.alpha, dtype=np.float32)
    shape = b.shape(x)
    if len(shape) > MAX_RANK:
        raise layer_error(layer, f"input shape {shape} has rank {len(shape)}; TFLite's PRELU supports rank <= "
                                 f"{MAX_RANK}")
    try:
        value = float_alpha(alpha)
    except AttrError as exc:
        raise layer_error(layer, f"alpha {exc}") from None
    return b.op(KIND, layer.name, [x], shape, alpha=value)


# --------------------------------------------------------------------------- lowering


def _layout(ctx: LoweringContext, op: Op, alpha_shape_: tuple[int, ...]) -> tuple[list[int], list[int], list[int]]:
    """4-D output dims and element strides of the input and the alpha (0 where broadcast), merged."""
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    a = Tensor("alpha", alpha_shape_, "int8")
    return binary_common.broadcast_layout(op, x, a, out)


def per_channel(dims: list[int], x_strides: list[int], a_strides: list[int]) -> bool:
    """Whether tg_prelu_s8 takes its per-channel loop (its C test, mirrored): the input contiguous over rows
    of ``dims[3]`` elements, the alpha stepping along the last dimension only."""
    return (dims[0] == 1 and dims[1] == 1 and x_strides[3] == 1 and (dims[2] == 1 or x_strides[2] == dims[3])
            and a_strides[:3] == [0, 0, 0] and a_strides[3] == 1)


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    alpha = alpha_values(ctx.graph, op)[0]
    quant = (f"zero points {-p.input_offset}/{-p.alpha_offset} -> {p.output_offset}, identity "
             f"{p.output_multiplier_1} << {p.output_shift_1}, alpha {p.output_multiplier_2} << {p.output_shift_2}")
    if x.shape == out.shape and np.all(alpha == alpha.flat[0]):
        return lut_call(ctx, op, single_alpha_table(p, int(alpha.flat[0]), ctx.rounding),
                        f"prelu {shape_str(x)} alpha {int(alpha.flat[0])} (one value), tabulated ({quant})")
    dims, xs, as_ = _layout(ctx, op, alpha.shape)
    if len(op.inputs) == 2:
        alpha_ptr = const_ptr(ctx, op.inputs[1])
    else:
        alpha_ptr = ctx.const_array(hint(op, "alpha"), alpha.reshape(-1), "int8_t", WEIGHTS)
    table = ctx.const_array(hint(op, "identity"), identity_table(p, ctx.rounding), "int8_t", TABLE)
    fields = ", ".join(str(v) for v in (p.input_offset, p.alpha_offset, p.output_offset, p.output_multiplier_2,
                                        p.output_shift_2))
    args = (const_ptr(ctx, x.name), alpha_ptr, i32(ctx, op, "dims", dims), i32(ctx, op, "in_strides", xs),
            i32(ctx, op, "alpha_strides", as_), table, f"&(const tg_prelu_params_t){{{fields}}}",
            ctx.tensor_ptr(out.name))
    path = "per channel" if per_channel(dims, xs, as_) else "broadcast"
    return KernelCall("tg_prelu_s8", args, comment=f"prelu {shape_str(x)} alpha {'x'.join(map(str, alpha.shape))} "
                      f"-> {shape_str(out)} ({path}; {quant})")


def in_place(graph: Graph, op: Op) -> bool:
    """Element i of an input of the output's shape is read right before output element i is written (the lookup
    table and both kernel loops walk the output in order)."""
    return common.same_layout(graph, op)


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    """The float PReLU with the alpha the int8 graph holds (quantized, dequantized; a constant: QAT does not train
    it)."""
    if len(xs) > 1:
        alpha = xs[1]
    else:
        q, scale, zp = quantize_alpha(np.asarray(attrs["alpha"], np.float32))
        alpha = tf.constant(((q.astype(np.float64) - zp) * scale).astype(np.float32))
    return tf.where(xs[0] >= 0, xs[0], xs[0] * alpha)


OP = OpDef(
    kind=KIND,
    attrs=(Attr("alpha", float_alpha, None),),
    num_inputs=(1, 2),
    infer_shape=infer_shape,
    check=_check,
    params=params,
    reference=reference,
    float_reference=float_reference,
    tflite=(TfliteMapping("PRELU", from_tflite),),
    keras_layers={KERAS_LAYER: from_keras},
    lowerings=(lower,),
    in_place=in_place,
    qat=QatHooks(forward=_qat_forward),
)
