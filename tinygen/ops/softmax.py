"""SOFTMAX: int8 -> int8 over the last axis, TFLite Micro's fixed-point exp (gemmlowp), output scale 1/256
and zero point -128; or int8 -> int16 (output scale 1/65536, zero point -32768), as a model with 16-bit
outputs has it (TFLite Micro's keyword_scrambled example); or int16 -> int16 (16x8 models: zero points 0, output
scale 1/32768), TFLite Micro's SoftmaxInt16: ``x - max`` rescaled so [-65535, 0] spans [-10, 0], its exp and the
reciprocal of the row's sum read from two 513-entry interpolated tables (:func:`int16_tables`, TFLite's
LUTPopulate in float32, the same for every model), the result ``exp * reciprocal`` shifted by the sum's headroom.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import const_ptr, hint, in_out
from tinygen.lowering.base import TABLE, KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import Attr, OpDef, QatHooks, TfliteMapping, positive_float

KIND = "softmax"

#: the output quantization TFLite's int8 softmax requires
OUTPUT_QUANT = (float(np.float32(1.0 / 256.0)), -128)
#: the int16 output's (SoftmaxPrepare takes a scale within 0.8% of it: the arithmetic assumes it exactly)
OUTPUT_QUANT_16 = (1.0 / 65536.0, -32768)

#: smallest softmax that gets a 1 KiB exp table (each element's exp costs ~200 instructions twice otherwise)
SOFTMAX_LUT_MIN_ELEMENTS = 8


@dataclass(frozen=True)
class SoftmaxParams:
    """``input_multiplier``/``input_left_shift`` rescale ``x - max`` into Q5.26
    (MultiplyByQuantizedMultiplierGreaterThanOne); differences below ``diff_min`` give -128."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int
    #: 8 (int8 output) or 16 (int16 output)
    output_bits: int = 8


@dataclass(frozen=True)
class Softmax16Params:
    """int16 softmax: ``x - max`` rescaled by ``input_multiplier``/``input_left_shift``
    (MultiplyByQuantizedMultiplier of ``input_scale * beta / (10 / 65535)``)."""

    input_multiplier: int
    input_left_shift: int


#: entries of TFLite's int16 lookup tables (512 steps and the end point)
INT16_LUT_SIZE = 513


def _round(v: np.float32) -> np.float32:
    """TfLiteRound (std::round) of a float32: half away from zero."""
    return np.float32(np.sign(v) * np.floor(np.abs(np.float64(v)) + 0.5))


def _lut_populate(input_scale: np.float32, input_zp: int, output_scale: np.float32,
                  transform: Callable[[np.float32], np.float32]) -> np.ndarray:
    """TFLite's LUTPopulateInt16<float> (output zero point 0), every step in float32 as the C++ computes it."""
    f32 = np.float32
    input_min, input_max = input_scale * f32(-32768 - input_zp), input_scale * f32(32767 - input_zp)
    output_min, output_max = output_scale * f32(-32768), output_scale * f32(32767)
    step = (input_max - input_min) / f32(512)
    half_step = step / f32(2)
    inv = f32(65536) / (output_max - output_min)
    lut = np.zeros(INT16_LUT_SIZE, np.int16)
    for i in range(512):
        val = transform(input_min + f32(i) * step)
        midpoint = transform(input_min + f32(i) * step + half_step)
        following = transform(input_min + f32(i + 1) * step)
        sample = _round(val * inv)
        interpolated = _round((following * inv + _round(val * inv)) / f32(2))
        bias = _round((interpolated - _round(midpoint * inv)) / f32(2))
        lut[i] = int(min(max(sample - bias, f32(-32768)), f32(32767)))
    lut[512] = int(min(max(_round(transform(input_max) * inv), f32(-32768)), f32(32767)))
    return lut


@functools.lru_cache(maxsize=1)
def int16_tables() -> tuple[np.ndarray, np.ndarray]:
    """TFLite Micro's int16 softmax tables (InitializeLutForInt16): exp on [-10, 0] and 1 / (1 + x) on [0, 1], each
    over int16 inputs, int16 outputs of scale 2/65535."""
    f32, span = np.float32, 65535
    exp_lut = _lut_populate(f32(10.0) / f32(span), 32767, f32(2.0) / f32(span), lambda v: f32(np.exp(f32(v))))
    reciprocal_lut = _lut_populate(f32(1.0) / f32(span), -32768, f32(2.0) / f32(span),
                                   lambda v: f32(1.0) / (f32(1.0) + v))
    for lut in (exp_lut, reciprocal_lut):
        lut.setflags(write=False)
    return exp_lut, reciprocal_lut


def lut_lookup_int16(value: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """TFLite's LUTLookup(int16_t, const int16_t *): linear interpolation between entries 256 + (value >> 7) and the
    next, by the low 7 bits."""
    v = np.asarray(value, np.int64)
    table = lut.astype(np.int64)
    index = 256 + (v >> 7)
    base, slope = table[index], table[index + 1] - table[index]
    return base + ((slope * (v & 0x7F) + 64) >> 7)


def softmax_int16(x: np.ndarray, p: Softmax16Params, rounding: str) -> np.ndarray:
    """reference_ops::SoftmaxInt16 over the last axis."""
    exp_lut, reciprocal_lut = int16_tables()
    v = np.asarray(x, np.int64)
    diff = numerics.multiply_by_quantized_multiplier(v - v.max(axis=-1, keepdims=True), p.input_multiplier,
                                                     p.input_left_shift, rounding)  # type: ignore[arg-type]
    exps = lut_lookup_int16(np.clip(diff + 32767, -32768, 32767), exp_lut)
    sums = exps.sum(axis=-1, keepdims=True)  # >= the maximum's exp, far below 2^31
    headroom = numerics.count_leading_zeros32(sums)
    shifted = ((sums << (headroom - 1)) + (1 << 13)) >> 14
    reciprocal = lut_lookup_int16(np.clip(shifted - ((1 << 15) + (1 << 16)), -32768, 32767), reciprocal_lut)
    right = 31 - headroom
    return np.clip((exps * reciprocal + (np.int64(1) << (right - 1))) >> right, 0, 32767).astype(np.int16)


def _check(graph: Graph, op: Op) -> None:
    x = graph.tensor(op.inputs[0])
    if not x.shape or x.shape[-1] < 1:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} of shape {x.shape} has no last dimension to normalise: "
            "give the softmax input at least one non-empty dimension"
        )


def _check_int16_output(op: Op, out: Any) -> None:
    so, zo = common.qp(out, op)
    if zo != OUTPUT_QUANT_16[1] or not abs(so - OUTPUT_QUANT_16[0]) <= OUTPUT_QUANT_16[0] * 0.001 * 8:
        raise TinygenError(
            f"{common.where(op)}: int16 output {out.name!r} has scale {so!r}, zero point {zo}; TFLite's int8 -> int16 "
            "softmax needs scale 1/65536 and zero point -32768: re-quantize the model (the TFLite converter does this)"
        )


def _params16(op: Op, x: Any, out: Any, rounding: numerics.Rounding) -> Softmax16Params:
    """TFLite Micro's int16 Prepare (CalculateSoftmaxParams): zero points 0, output scale 1/32768 (within 0.1%)."""
    si, zi = common.qp(x, op)
    so, zo = common.qp(out, op) if out.dtype == "int16" else (0.0, 1)
    if out.dtype != "int16" or zi != 0 or zo != 0 or abs(so - 1.0 / 32768) > 0.001 / 32768:
        raise TinygenError(
            f"{common.where(op)}: int16 input {x.name!r} (zero point {zi}) -> {out.dtype} output {out.name!r} (scale "
            f"{so!r}, zero point {zo}); TFLite's int16 softmax needs an int16 output of scale 1/32768, zero points 0: "
            "re-quantize the model (TFLite's 16x8 converter does this)"
        )
    real = float(np.float32(si)) * float(np.float32(op.attrs["beta"])) / (10.0 / 65535.0)
    m, shift = common.multiplier(real, op, "input x beta / (10 / 65535)", rounding)
    return Softmax16Params(input_multiplier=m, input_left_shift=shift)


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> SoftmaxParams | Softmax16Params:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if x.dtype == "int16":
        return _params16(op, x, out, rounding)
    common.require_int8(x, op)
    si, _ = common.qp(x, op)
    bits = 16 if out.dtype == "int16" else 8
    if bits == 16:
        _check_int16_output(op, out)
    else:
        common.require_int8(out, op)
    so, zo = common.qp(out, op)
    if bits == 8 and (zo != OUTPUT_QUANT[1] or np.float32(so) != np.float32(OUTPUT_QUANT[0])):
        raise TinygenError(
            f"{common.where(op)}: output {out.name!r} has scale {so!r}, zero point {zo}; TFLite's int8 softmax needs "
            "scale 1/256 and zero point -128: re-quantize the model (the TFLite converter does this)"
        )
    beta = float(op.attrs["beta"])
    try:
        m, ls, diff_min = numerics.softmax_input_params(beta, si, rounding)
    except ValueError:
        raise TinygenError(
            f"{common.where(op)}: beta {beta:g} x input scale {si:g} is below 2^-26: TFLite's int8 softmax cannot "
            "represent it (every output would be equal); fix beta or re-quantize the model"
        ) from None
    return SoftmaxParams(input_multiplier=m, input_left_shift=ls, diff_min=diff_min, output_bits=bits)


def from_accumulator(p: SoftmaxParams, acc: np.ndarray, rounding: str) -> np.ndarray:
    """The int8 (int16) softmax of the int8 input values ``acc``."""
    return numerics.softmax_int8(acc, p.input_multiplier, p.input_left_shift, p.diff_min, rounding,  # type: ignore[arg-type]
                                 p.output_bits)


def reference(graph: Graph, op: Op, p: SoftmaxParams | Softmax16Params, args: list[np.ndarray], rounding: str
              ) -> np.ndarray:
    if isinstance(p, Softmax16Params):
        return softmax_int16(args[0], p, rounding)
    return from_accumulator(p, args[0], rounding)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    z = inputs[0] * float(op.attrs["beta"])
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op | list[Op]:
    x = imp.inputs(raw, 1)[0]
    op = Op(KIND, "", [imp.activation_tensor(raw, x)], [], {"beta": float(np.float32(raw.options["Beta"]))})
    out = raw.outputs[0]
    if imp.raw.tensors[out].type == tflite.TensorType.INT16:  # the importer's output check takes int8 only
        op.outputs = [imp.tensor(out)]
        return [op]
    return op


def _emit(b: Any, name: str, x: str) -> str:
    return b.op(KIND, name, [x], b.shape(x), beta=1.0)


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    from tinygen.quantize.layers import layer_error, single_input

    x = single_input(layer, inputs)
    axis = layer.get_config().get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if not isinstance(axis, int) or axis % len(b.shape(x)) != len(b.shape(x)) - 1:
        raise layer_error(layer, f"axis={axis!r} is not supported; only the last axis is")
    return _emit(b, layer.name, x)


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    depth = x.shape[-1]
    rows = x.size // depth
    if isinstance(p, Softmax16Params):
        exp_lut, reciprocal_lut = int16_tables()
        args = (ctx.tensor_ptr(x.name), str(rows), str(depth), str(p.input_multiplier), str(p.input_left_shift),
                ctx.const_array("softmax16_exp", exp_lut, "int16_t", TABLE),
                ctx.const_array("softmax16_reciprocal", reciprocal_lut, "int16_t", TABLE), ctx.tensor_ptr(out.name))
        return KernelCall("tg_softmax_s16", args, comment=f"softmax int16 {rows} rows of {depth} (multiplier "
                          f"{p.input_multiplier}, shift {p.input_left_shift}), TFLite's exp and 1/(1+x) tables")
    if p.output_bits == 16 or x.size >= SOFTMAX_LUT_MIN_ELEMENTS:
        # TFLite's exp of each possible difference to the row maximum (0, -1, ..., -255), 0 below diff_min
        diff = -np.arange(256, dtype=np.int64)
        rescaled = numerics.multiply_by_quantized_multiplier_greater_than_one(
            diff, p.input_multiplier, p.input_left_shift, ctx.rounding)  # type: ignore[arg-type]
        exps = numerics.exp_on_negative_values(rescaled)
        table = np.where(diff >= p.diff_min, exps, 0).astype(np.int32)
        args = (const_ptr(ctx, x.name), str(rows), str(depth), ctx.const_array(hint(op, "exp"), table, "int32_t", TABLE),
                ctx.tensor_ptr(out.name))
        kernel = "tg_softmax_lut_s8_s16" if p.output_bits == 16 else "tg_softmax_lut_s8"
        return KernelCall(kernel, args, comment=f"softmax {rows} rows of {depth}, tabulated exp "
                          f"(beta*scale multiplier {p.input_multiplier} << {p.input_left_shift}, diff_min {p.diff_min})")
    args = (const_ptr(ctx, x.name), str(rows), str(depth), str(p.input_multiplier), str(p.input_left_shift),
            str(p.diff_min), ctx.tensor_ptr(out.name))
    return KernelCall("tg_softmax_s8", args, comment=f"softmax {rows} rows of {depth}, beta*scale multiplier "
                      f"{p.input_multiplier} << {p.input_left_shift}, diff_min {p.diff_min}")


# --------------------------------------------------------------------------- QAT


def _qat_accumulate(tf: Any, x: Any, x_int: Any, in_zp: Any, attrs: dict[str, Any]) -> tuple[Any, Any]:
    y = tf.nn.softmax(x * float(attrs["beta"]), axis=-1)
    return y, x_int + tf.cast(in_zp, tf.float64)


OP = OpDef(
    kind=KIND,
    attrs=(Attr("beta", positive_float),),
    infer_shape=common.same_shape,
    check=_check,
    params=params,
    reference=reference,
    from_accumulator=from_accumulator,
    float_reference=float_reference,
    fixed_output_quant=OUTPUT_QUANT,
    tflite=(TfliteMapping("SOFTMAX", from_tflite, tflite.SoftmaxOptions, {"Beta": 1.0}, int16=True),),
    keras_layers={"Softmax": from_keras},
    keras_activations={KIND: _emit},
    lowerings=(lower,),
    qat=QatHooks(accumulate=_qat_accumulate),
)
