"""ADD (Keras Add): the elementwise sum of two int8 tensors, broadcast numpy-style. TFLite Micro's int8 ADD
brings both operands to a common scale with 20 bits of headroom and requantizes the sum::

    a = requantize((x1 - zp1) << 20, input1_multiplier, input1_shift)   # shifts <= 0
    b = requantize((x2 - zp2) << 20, input2_multiplier, input2_shift)
    out = clamp(requantize(a + b, output_multiplier, output_shift) + output_zero_point)

with the multipliers of CalculateOpDataAdd (the larger input scale, doubled, is the common one). int16 ADD (16x8
models) is the same with 15 bits (``LEFT_SHIFT_16``), zero points 0 and the int16 clamp, broadcast as int8 ADD is
(``tg_add_s16``, ``tg_add_broadcast_s16``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import const_ptr, hint, shape_str
from tinygen.lowering.base import TABLE, KernelCall, LoweringContext
from tinygen.ops import binary_common, common
from tinygen.ops.base import ACTIVATION, OpDef, QatHooks, TfliteMapping

KIND = "add"

#: TFLite's left shift of both operands before rescaling (int8 ADD)
LEFT_SHIFT = 20
#: the same for int16 ADD (16x8 models: TFLite Micro's general-scale int16 path, AddElementwise)
LEFT_SHIFT_16 = 15

#: smallest same-shape add that gets rescaling tables (2 KiB of flash save ~30 instructions per element)
ADD_LUT_MIN_ELEMENTS = 512

#: the shifts tg_add_table_s8 has a specialised loop for, finest first
ADD_TABLE_SHIFTS = (24, 20, 16)

#: the int8 value of each table index 0..255 (the kernels index with (uint8_t)x)
_INT8_BY_INDEX = np.arange(256, dtype=np.int64) - ((np.arange(256) >= 128) * 256)


@dataclass(frozen=True)
class AddParams:
    """TFLite's ArithmeticParams for int8 ADD. Per element::

        a = (x1 + input1_offset) << left_shift;  b = (x2 + input2_offset) << left_shift
        a = requantize(a, input1_multiplier, input1_shift)   # shifts are <= 0
        b = requantize(b, input2_multiplier, input2_shift)
        out = clamp(requantize(a + b, output_multiplier, output_shift) + output_offset)
    """

    input1_offset: int
    input2_offset: int
    output_offset: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> AddParams:
    a, b, out = binary_common.operands(graph, op, int16=True)
    (s1, z1), (s2, z2), (so, zo) = common.qp(a, op), common.qp(b, op), common.qp(out, op)
    int16 = out.dtype == "int16"
    left_shift = LEFT_SHIFT_16 if int16 else LEFT_SHIFT
    if int16 and (z1, z2) != (0, 0):
        # (x - zp) << 15 would overflow int32 (undefined in TFLite Micro's kernel too)
        raise UnsupportedError(
            f"{common.where(op)}: int16 inputs {a.name!r}, {b.name!r} have zero points {z1}, {z2}; tinygen's int16 ADD "
            "needs zero points 0 (what TFLite's 16x8 converter makes): re-convert the model"
        )
    # max of the float32 scales, then doubled in double precision (CalculateOpDataAdd)
    twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
    try:
        m1, sh1 = numerics.quantize_multiplier_smaller_than_one(float(np.float32(s1)) / twice_max, rounding)
        m2, sh2 = numerics.quantize_multiplier_smaller_than_one(float(np.float32(s2)) / twice_max, rounding)
        mo, sho = numerics.quantize_multiplier_smaller_than_one(
            twice_max / (float(1 << left_shift) * float(np.float32(so))), rounding)
    except ValueError as exc:
        # TFLite Micro's Prepare fails the same way (QuantizeMultiplierSmallerThanOneExp checks multiplier < 1)
        raise TinygenError(
            f"{common.where(op)}: scales {s1:g}, {s2:g} -> {so:g} cannot be requantized by TFLite's int8 ADD ({exc}): "
            "the output scale is far too small for the inputs; re-quantize the model"
        ) from None
    act_min, act_max = binary_common.act_range(op, out)
    return AddParams(
        input1_offset=-z1, input2_offset=-z2, output_offset=zo, left_shift=left_shift,
        input1_multiplier=m1, input1_shift=sh1, input2_multiplier=m2, input2_shift=sh2,
        output_multiplier=mo, output_shift=sho, act_min=act_min, act_max=act_max,
    )


def reference(graph: Graph, op: Op, p: AddParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    a, b = common.broadcast_pair(graph, op, args[0], args[1])
    rnd: numerics.Rounding = rounding  # type: ignore[assignment]
    mqm, wrap = numerics.multiply_by_quantized_multiplier, numerics.wrap_int32
    sa = mqm(wrap((a + p.input1_offset) << p.left_shift), p.input1_multiplier, p.input1_shift, rnd)
    sb = mqm(wrap((b + p.input2_offset) << p.left_shift), p.input2_multiplier, p.input2_shift, rnd)
    raw = mqm(wrap(sa + sb), p.output_multiplier, p.output_shift, rnd) + p.output_offset
    return binary_common.clamp(raw, p.act_min, p.act_max, graph.tensor(op.outputs[0]))


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return inputs[0] + inputs[1]


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    return binary_common.from_tflite(imp, raw, KIND)


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """Keras Add of two or more same-shape inputs: a chain of two-input adds (the last one takes the layer's
    name)."""
    from tinygen.quantize.layers import layer_error

    if len(inputs) < 2:
        raise layer_error(layer, f"needs at least two inputs, got {len(inputs)}")
    shapes = {b.shape(x) for x in inputs}
    if len(shapes) != 1:
        raise layer_error(layer, f"inputs have different shapes {sorted(shapes)}; broadcasting Add is not supported")
    out = inputs[0]
    for i, x in enumerate(inputs[1:]):
        last = i == len(inputs) - 2
        out = b.op(KIND, layer.name if last else f"{layer.name}/{i}", [out, x], b.shape(x), activation="none")
    return out


# --------------------------------------------------------------------------- lowering


def _rescaled_inputs(p: AddParams, rounding: str) -> list[np.ndarray]:
    """TFLite's rescaled value of each input for the 256 int8 values (table index order), int64."""
    tables = []
    inputs = (
        (p.input1_offset, p.input1_multiplier, p.input1_shift),
        (p.input2_offset, p.input2_multiplier, p.input2_shift),
    )
    rnd: numerics.Rounding = rounding  # type: ignore[assignment]
    for offset, mult, shift in inputs:
        shifted = numerics.wrap_int32((_INT8_BY_INDEX + offset) << p.left_shift)
        tables.append(np.asarray(numerics.multiply_by_quantized_multiplier(shifted, mult, shift, rnd), dtype=np.int64))
    return tables


def add_tables(p: AddParams, rounding: str) -> tuple[int, np.ndarray, np.ndarray] | None:
    """(k, T1, T2) with clamp((T1[x1] + T2[x2]) >> k) == TFLite's add for every int8 pair, or None.

    TFLite computes out = requantize(s1 + s2, M, shift) + offset with exactly rescaled inputs s1(x1), s2(x2):
    :func:`tinygen.ops.binary_common.exact_table_pair` searches the table form and checks it on every pair.
    """
    s1, s2 = _rescaled_inputs(p, rounding)
    sums = s1[:, None] + s2[None, :]
    rnd: numerics.Rounding = rounding  # type: ignore[assignment]
    ref = numerics.multiply_by_quantized_multiplier(sums, p.output_multiplier, p.output_shift, rnd)
    want = np.clip(np.asarray(ref, dtype=np.int64) + p.output_offset, p.act_min, p.act_max)
    return binary_common.exact_table_pair(s1, s2, want, p.output_multiplier, p.output_shift, p.output_offset,
                                          p.act_min, p.act_max, ADD_TABLE_SHIFTS)


def _add_table(ctx: LoweringContext, op: Op, p: AddParams) -> KernelCall | None:
    """Same-shape add as one table sum and one shift per element (tg_add_table_s8), where exact."""
    found = add_tables(p, ctx.rounding)
    if found is None:
        return None
    k, t1, t2 = found
    a, b, out = (ctx.graph.tensor(n) for n in (*op.inputs[:2], op.outputs[0]))
    tables = [ctx.const_array(hint(op, f"sum{i}"), t.astype(np.int32), "int32_t", TABLE) for i, t in ((1, t1), (2, t2))]
    args = (const_ptr(ctx, a.name), const_ptr(ctx, b.name), str(out.size), tables[0], tables[1], str(k),
            str(p.act_min), str(p.act_max), ctx.tensor_ptr(out.name))
    return KernelCall("tg_add_table_s8", args, comment=f"add {shape_str(out)} elementwise: (T1[x1] + T2[x2]) >> {k}, "
                      "exact for every input pair")


def _add_lut(ctx: LoweringContext, op: Op, p: AddParams) -> KernelCall:
    """Same-shape add with tabulated input rescaling (exact: the same arithmetic, done offline)."""
    a, b, out = (ctx.graph.tensor(n) for n in (*op.inputs[:2], op.outputs[0]))
    luts = []
    for which, table in enumerate(_rescaled_inputs(p, ctx.rounding), 1):
        luts.append(ctx.const_array(hint(op, f"lut{which}"), np.asarray(table, dtype=np.int32), "int32_t", TABLE))
    args = (const_ptr(ctx, a.name), const_ptr(ctx, b.name), str(out.size), luts[0], luts[1], str(p.output_offset),
            str(p.output_multiplier), str(p.output_shift), str(p.act_min), str(p.act_max), ctx.tensor_ptr(out.name))
    return KernelCall("tg_add_lut_s8", args, comment=f"add {shape_str(out)} elementwise, tabulated input rescaling")


def add_s16(ctx: LoweringContext, op: Op, p: Any, subtract: bool = False) -> KernelCall:
    """tg_add_s16 (same shapes) or tg_add_broadcast_s16: an int16 ADD (TFLite Micro's AddElementwise or
    BroadcastAdd4DSlow with left shift 15, one arithmetic), or SUB (``subtract``: ``p`` SUB's parameters, the same
    fields)."""
    # Field order of tg_add_s16_params_t.
    fields = ", ".join(str(v) for v in (
        p.input1_multiplier, p.input1_shift, p.input2_multiplier, p.input2_shift, p.output_multiplier, p.output_shift,
        p.output_offset, p.act_min, p.act_max, int(subtract)))
    return binary_common.lower_binary(ctx, op, "tg_add", "tg_add_s16_params_t", fields)


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    """A same-shape add of at least ADD_LUT_MIN_ELEMENTS: two sum tables where exact (else two rescaling
    tables); otherwise tg_add_s8 / tg_add_broadcast_s8 with the parameters as a tg_add_params_t literal."""
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    out = ctx.graph.tensor(op.outputs[0])
    if out.dtype == "int16":
        return add_s16(ctx, op, p)
    if out.size >= ADD_LUT_MIN_ELEMENTS and all(ctx.graph.tensor(n).size == out.size for n in op.inputs[:2]):
        return _add_table(ctx, op, p) or _add_lut(ctx, op, p)
    # Field order of tg_add_params_t.
    fields = ", ".join(str(v) for v in (
        p.input1_offset, p.input1_multiplier, p.input1_shift, p.input2_offset, p.input2_multiplier, p.input2_shift,
        p.left_shift, p.output_offset, p.output_multiplier, p.output_shift, p.act_min, p.act_max,
    ))
    return binary_common.lower_binary(ctx, op, "tg_add", "tg_add_params_t", fields)


def lower_mve(ctx: LoweringContext, op: Op) -> KernelCall | None:
    """Same-shape int8 ADD on Helium, double rounding (TFLite's default); broadcasts and single rounding fall
    back."""
    if ctx.rounding != "double":
        return None
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    a, b, out = (ctx.graph.tensor(name) for name in (op.inputs[0], op.inputs[1], op.outputs[0]))
    shifts = (p.input1_shift, p.input2_shift, p.output_shift)
    mults = (p.input1_multiplier, p.input2_multiplier, p.output_multiplier)
    # the kernel shifts the operands left by TFLite's 20 bits and right by at most 31
    if not (a.size == b.size == out.size) or p.left_shift != 20 or max(shifts) > 0 or min(shifts) < -31 \
            or min(mults) < 0:
        return None
    args = (
        ctx.tensor_ptr(a.name), ctx.tensor_ptr(b.name), ctx.tensor_ptr(out.name), str(out.size),
        str(p.input1_offset), str(p.input2_offset), str(p.input1_multiplier), str(-p.input1_shift),
        str(p.input2_multiplier), str(-p.input2_shift), str(p.output_multiplier), str(-p.output_shift),
        str(p.output_offset), str(p.act_min), str(p.act_max),
    )
    return KernelCall("tg_add_mve_s8", args, (), 0, f"add {out.shape} {op.activation} (MVE)")


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return xs[0] + xs[1]


OP = OpDef(
    kind=KIND,
    attrs=(ACTIVATION,),
    num_inputs=(2, 2),
    infer_shape=binary_common.infer_shape,
    params=params,
    reference=reference,
    float_reference=float_reference,
    fuses_activation=True,
    tflite=(TfliteMapping("ADD", from_tflite, tflite.AddOptions,
                          {"FusedActivationFunction": tflite.ActivationFunctionType.NONE}, int16=True),),
    keras_layers={"Add": from_keras},
    lowerings=(lower,),
    mve_lowerings=(lower_mve,),
    in_place=binary_common.in_place,
    qat=QatHooks(forward=_qat_forward),
)
