"""SUB (Keras Subtract): the elementwise difference ``input1 - input2`` of two int8 tensors, broadcast numpy-style,
bit-exact with TFLite Micro's int8 SUB.

TFLite Micro (``CalculateOpDataSub`` in sub_common.cc, then ``reference_ops::SubElementwise`` or
``BroadcastQuantSubSlow``) brings both operands to a common scale with 20 bits of headroom and requantizes their
difference::

    s1 = requantize((x1 - zp1) << 20, input1_multiplier, input1_shift)   # shifts <= 0
    s2 = requantize((x2 - zp2) << 20, input2_multiplier, input2_shift)
    out = clamp(requantize(s1 - s2, output_multiplier, output_shift) + output_zero_point)

ADD's arithmetic with a difference in place of the sum, and ADD's Prepare: the real multipliers are
``s1 / (2 max)``, ``s2 / (2 max)`` and ``2 max / (2^20 so)`` in double precision (``max`` the larger float32 input
scale), each of which must be in (0, 1) (QuantizeMultiplierSmallerThanOneExp aborts otherwise). The precision is
what the oracle runs: TFLite Micro's sub_common.cc has switched between float32 and double division (a 2022 fix,
reverted in 2023; the source of August 2026 divides float32 values), and the tflite-micro 0.dev20261023
interpreter tinygen is checked against (``tinygen.oracle``; its machine code divides doubles) matches double
division on the scales where the two differ (tests/test_op_sub.py pins such a case).

Negating input2's multiplier in ADD's kernel is not the same arithmetic: TFLite's requantization rounds ties
upward (SaturatingRoundingDoublingHighMul; single rounding's add-half-and-shift), so ``requantize(x, -m)`` differs
from ``-requantize(x, m)`` on ties, and about one random quantization in five has such a tie among its 256 input
values. The lowerings therefore tabulate SUB's own rescaled operands (the table and rescaling-table kernels of ADD
take any tables: ``tg_add_table_s8`` where its one-shift form is exact for all 65,536 pairs, else
``tg_add_lut_s8`` with ``-s2`` as input2's table, exact by construction), and run ``tg_sub_s8`` (the arithmetic
above, with broadcasting) elsewhere.

int16 SUB (16x8 models) is the same with 15 bits (ADD's ``LEFT_SHIFT_16``), zero points 0 and the int16 clamp,
broadcast as int8 SUB is, in ADD's int16 kernels (``tg_add_s16``, ``tg_add_broadcast_s16``, subtracting).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import const_ptr, hint, i32, shape_str
from tinygen.lowering.base import TABLE, KernelCall, LoweringContext
from tinygen.ops import add, binary_common, common
from tinygen.ops.base import ACTIVATION, OpDef, QatHooks, TfliteMapping

KIND = "sub"

#: TFLite's left shift of both operands before rescaling (int8 SUB, as ADD)
LEFT_SHIFT = 20

#: smallest same-shape subtraction that gets tables (2 KiB of flash), as for ADD
SUB_LUT_MIN_ELEMENTS = add.ADD_LUT_MIN_ELEMENTS

#: the shifts tg_add_table_s8 has a specialised loop for, finest first
SUB_TABLE_SHIFTS = add.ADD_TABLE_SHIFTS

#: the int8 value of each table index 0..255 (the kernels index with (uint8_t)x)
_INT8_BY_INDEX = np.arange(256, dtype=np.uint8).view(np.int8).astype(np.int64)


@dataclass(frozen=True)
class SubParams:
    """TFLite's ArithmeticParams for int8 SUB (the fields of tg_sub_params_t). Per element::

        a = (x1 + input1_offset) << left_shift;  b = (x2 + input2_offset) << left_shift
        a = requantize(a, input1_multiplier, input1_shift)   # multipliers >= 0, shifts <= 0
        b = requantize(b, input2_multiplier, input2_shift)
        out = clamp(requantize(a - b, output_multiplier, output_shift) + output_offset)
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


def real_multipliers(s1: float, s2: float, so: float, left_shift: int = LEFT_SHIFT) -> tuple[float, float, float]:
    """CalculateOpDataSub's real multipliers: ``twice_max = 2 * max(s1, s2)`` (the max of the float32 scales,
    doubled in double precision), ``s1 / twice_max``, ``s2 / twice_max`` and ``twice_max / ((1 << 20) * so)``,
    all in double (as ADD's Prepare)."""
    f1, f2, fo = float(np.float32(s1)), float(np.float32(s2)), float(np.float32(so))
    twice_max = 2.0 * max(f1, f2)
    return f1 / twice_max, f2 / twice_max, twice_max / (float(1 << left_shift) * fo)


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> SubParams:
    a, b, out = binary_common.operands(graph, op, int16=True)
    (s1, z1), (s2, z2), (so, zo) = common.qp(a, op), common.qp(b, op), common.qp(out, op)
    left_shift = add.LEFT_SHIFT_16 if out.dtype == "int16" else LEFT_SHIFT
    if out.dtype == "int16" and (z1, z2) != (0, 0):
        raise UnsupportedError(
            f"{common.where(op)}: int16 inputs {a.name!r}, {b.name!r} have zero points {z1}, {z2}; tinygen's int16 SUB "
            "needs zero points 0 (what TFLite's 16x8 converter makes): re-convert the model"
        )
    real1, real2, real_out = real_multipliers(s1, s2, so, left_shift)
    try:
        # real1, real2 are in (0, 1/2] for any finite positive float32 scales; real_out is not
        m1, sh1 = numerics.quantize_multiplier_smaller_than_one(real1, rounding)
        m2, sh2 = numerics.quantize_multiplier_smaller_than_one(real2, rounding)
        mo, sho = numerics.quantize_multiplier_smaller_than_one(real_out, rounding)
    except ValueError:
        # TFLite Micro's Prepare aborts here (QuantizeMultiplierSmallerThanOneExp: TFLITE_CHECK_LT(real, 1.))
        raise TinygenError(
            f"{common.where(op)}: scales {s1:g} - {s2:g} -> {so:g} give the output multiplier "
            f"2 * {max(s1, s2):g} / (2^{left_shift} * {so:g}) = {real_out:g}; TFLite's {out.dtype} SUB needs it below 1 "
            f"(an output scale above {2.0 * max(s1, s2) / float(1 << left_shift):g}): the output scale is far too "
            "small for the inputs; re-quantize the model"
        ) from None
    act_min, act_max = binary_common.act_range(op, out)
    return SubParams(
        input1_offset=-z1, input2_offset=-z2, output_offset=zo, left_shift=left_shift,
        input1_multiplier=m1, input1_shift=sh1, input2_multiplier=m2, input2_shift=sh2,
        output_multiplier=mo, output_shift=sho, act_min=act_min, act_max=act_max,
    )


def _check(graph: Graph, op: Op) -> None:
    """int8 operands and output, per-tensor quantization, and TFLite Micro's Prepare (multipliers in (0, 1), the
    fused activation's range): everything :func:`params` refuses, refused at validation."""
    params(graph, op, "double")


def rescaled(x: np.ndarray, offset: int, multiplier: int, shift: int, rounding: str, left_shift: int = LEFT_SHIFT
             ) -> np.ndarray:
    """One operand at the common scale: ``requantize((x + offset) << 20 (int16: 15), multiplier, shift)`` (int64)."""
    rnd: numerics.Rounding = rounding  # type: ignore[assignment]
    shifted = numerics.wrap_int32((np.asarray(x, dtype=np.int64) + offset) << left_shift)
    return np.asarray(numerics.multiply_by_quantized_multiplier(shifted, multiplier, shift, rnd), dtype=np.int64)


def finish(p: SubParams, diff: np.ndarray, rounding: str, dtype: str = "int8") -> np.ndarray:
    """The int8 (``dtype`` int16: int16) output of differences of rescaled operands."""
    rnd: numerics.Rounding = rounding  # type: ignore[assignment]
    raw = numerics.multiply_by_quantized_multiplier(numerics.wrap_int32(diff), p.output_multiplier, p.output_shift,
                                                    rnd) + p.output_offset
    return np.clip(raw, p.act_min, p.act_max).astype(common.NP_DTYPES[dtype])


def reference(graph: Graph, op: Op, p: SubParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    a, b = common.broadcast_pair(graph, op, args[0], args[1])
    s1 = rescaled(a, p.input1_offset, p.input1_multiplier, p.input1_shift, rounding, p.left_shift)
    s2 = rescaled(b, p.input2_offset, p.input2_multiplier, p.input2_shift, rounding, p.left_shift)
    return finish(p, s1 - s2, rounding, graph.tensor(op.outputs[0]).dtype)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return inputs[0] - inputs[1]


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    return binary_common.from_tflite(imp, raw, KIND)


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """Keras Subtract: ``inputs[0] - inputs[1]``, two inputs of one shape."""
    from tinygen.quantize.layers import layer_error

    if len(inputs) != 2:
        raise layer_error(layer, f"needs exactly two inputs, got {len(inputs)}")
    shapes = [b.shape(x) for x in inputs]
    if shapes[0] != shapes[1]:
        raise layer_error(layer, f"inputs have different shapes {shapes}; broadcasting Subtract is not supported")
    return b.op(KIND, layer.name, list(inputs), shapes[0], activation="none")


# --------------------------------------------------------------------------- lowering


def rescaled_tables(p: SubParams, rounding: str) -> tuple[np.ndarray, np.ndarray]:
    """(s1, s2): each operand's rescaled value for the 256 int8 values, in table index order (int64)."""
    return (rescaled(_INT8_BY_INDEX, p.input1_offset, p.input1_multiplier, p.input1_shift, rounding),
            rescaled(_INT8_BY_INDEX, p.input2_offset, p.input2_multiplier, p.input2_shift, rounding))


def sub_tables(p: SubParams, rounding: str) -> tuple[int, np.ndarray, np.ndarray] | None:
    """(k, T1, T2) with clamp((T1[x1] + T2[x2]) >> k) == TFLite's SUB for every int8 pair, or None.

    :func:`tinygen.ops.binary_common.exact_table_pair` on the terms s1 and -s2 of SUB's difference (every
    candidate checked against TFLite's arithmetic on all 65,536 pairs)."""
    s1, s2 = rescaled_tables(p, rounding)
    terms = (s1, -s2)
    want = finish(p, terms[0][:, None] + terms[1][None, :], rounding).astype(np.int64)
    return binary_common.exact_table_pair(terms[0], terms[1], want, p.output_multiplier, p.output_shift,
                                          p.output_offset, p.act_min, p.act_max, SUB_TABLE_SHIFTS)


def _tables_call(ctx: LoweringContext, op: Op, p: SubParams) -> KernelCall:
    """A same-shape subtraction: one table sum and one shift per element (tg_add_table_s8) where exact for every
    pair, else tabulated rescaling (tg_add_lut_s8 with s1 and -s2: exactly SUB's difference, then its output
    requantization)."""
    a, b, out = (ctx.graph.tensor(n) for n in (*op.inputs[:2], op.outputs[0]))
    pa, pb, po = const_ptr(ctx, a.name), const_ptr(ctx, b.name), ctx.tensor_ptr(out.name)
    found = sub_tables(p, ctx.rounding)
    if found is not None:
        k, t1, t2 = found
        tables = [ctx.const_array(hint(op, f"sum{i}"), t.astype(np.int32), "int32_t", TABLE)
                  for i, t in ((1, t1), (2, t2))]
        args = (pa, pb, str(out.size), tables[0], tables[1], str(k), str(p.act_min), str(p.act_max), po)
        return KernelCall("tg_add_table_s8", args, comment=f"sub {shape_str(out)} elementwise: (T1[x1] + T2[x2]) "
                          f">> {k}, exact for every input pair")
    s1, s2 = rescaled_tables(p, ctx.rounding)
    luts = [ctx.const_array(hint(op, f"lut{i}"), t.astype(np.int32), "int32_t", TABLE)
            for i, t in ((1, s1), (2, -s2))]
    args = (pa, pb, str(out.size), luts[0], luts[1], str(p.output_offset), str(p.output_multiplier),
            str(p.output_shift), str(p.act_min), str(p.act_max), po)
    return KernelCall("tg_add_lut_s8", args, comment=f"sub {shape_str(out)} elementwise, tabulated input rescaling "
                      "(input2 negated)")


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    """A same-shape subtraction of at least SUB_LUT_MIN_ELEMENTS: tables (:func:`_tables_call`); otherwise
    tg_sub_s8 over the merged broadcast layout, the parameters as a tg_sub_params_t literal."""
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    a, b, out = (ctx.graph.tensor(n) for n in (*op.inputs[:2], op.outputs[0]))
    if out.dtype == "int16":
        return add.add_s16(ctx, op, p, subtract=True)
    if out.size >= SUB_LUT_MIN_ELEMENTS and a.size == out.size and b.size == out.size:
        return _tables_call(ctx, op, p)
    dims, st1, st2 = binary_common.broadcast_layout(op, a, b, out)
    # Field order of tg_sub_params_t.
    fields = ", ".join(str(v) for v in (
        p.input1_offset, p.input1_multiplier, p.input1_shift, p.input2_offset, p.input2_multiplier, p.input2_shift,
        p.left_shift, p.output_offset, p.output_multiplier, p.output_shift, p.act_min, p.act_max,
    ))
    args = (const_ptr(ctx, a.name), const_ptr(ctx, b.name), i32(ctx, op, "dims", dims), i32(ctx, op, "strides1", st1),
            i32(ctx, op, "strides2", st2), f"&(const tg_sub_params_t){{{fields}}}", ctx.tensor_ptr(out.name))
    if a.size == out.size and b.size == out.size:
        comment = f"sub {shape_str(out)} elementwise"
    else:
        comment = f"sub {shape_str(a)} - {shape_str(b)} -> {shape_str(out)} (broadcast)"
    return KernelCall("tg_sub_s8", args, comment=comment)


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return xs[0] - xs[1]


OP = OpDef(
    kind=KIND,
    attrs=(ACTIVATION,),
    num_inputs=(2, 2),
    infer_shape=binary_common.infer_shape,
    check=_check,
    params=params,
    reference=reference,
    float_reference=float_reference,
    fuses_activation=True,
    tflite=(TfliteMapping("SUB", from_tflite, tflite.SubOptions,
                          {"FusedActivationFunction": tflite.ActivationFunctionType.NONE}, int16=True),),
    keras_layers={"Subtract": from_keras},
    lowerings=(lower,),
    in_place=binary_common.in_place,
    qat=QatHooks(forward=_qat_forward),
)
