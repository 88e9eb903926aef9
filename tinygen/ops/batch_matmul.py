"""BATCH_MATMUL: ``output[..., i, j] = sum_k lhs[..., i, k] * rhs[..., k, j]`` over int8 operands (either one
an activation or a constant: attention's ``Q @ K^T`` and ``scores @ V``, or a projection by a constant
matrix), the leading (batch) dimensions broadcast numpy-style; ``adj_x``/``adj_y`` transpose the last two
dimensions of the lhs/rhs first. int8 x int8 -> int8, bit-exact with TFLite Micro's int8 BATCH_MATMUL.

TFLite Micro (``BatchMatMulPrepare``/``BatchMatMulEval``/``EvalInt8`` in kernels/batch_matmul.cc,
``reference_ops::BatchMatMul<int8_t, int32_t>`` in reference/batch_matmul.h):

* Prepare: two inputs, one output; lhs, rhs and output of one type; ranks 2 to 5 for each input; the batch
  dimensions (all but the last two, the shorter shape padded with leading 1s) equal or 1 in one of them;
  the accumulation dimensions equal (``lhs[-1]`` or ``lhs[-2]`` with ``adj_x``, ``rhs[-2]`` or ``rhs[-1]``
  with ``adj_y``); the output's element count that of the broadcast shape ``batch + (rows, cols)``
  (tinygen requires that exact shape). ``GetQuantizedConvolutionMultipler``: the real multiplier is
  ``double(lhs_scale) * double(rhs_scale) / double(out_scale)`` (the product in double: the installed TFLite
  Micro rounds that way, not by a float32 product as one version of kernel_util.cc reads), then
  ``QuantizeMultiplier``. No fused activation: the clamp is -128..127. Neither zero point has to be 0 for
  int8 (Prepare checks zero points only for int16); ``asymmetric_quantize_inputs`` only concerns hybrid
  float models and is ignored.
* Eval transposes the rhs (unless ``adj_y``) and the lhs (if ``adj_x``) into persistent buffers (a constant
  rhs only once), flattens the lhs batch into its rows when the rhs batch is 1, and per element::

      acc = sum_k (lhs[i, k] - lhs_zero_point) * (rhs[k, j] - rhs_zero_point)      (int32)
      out = clamp(MultiplyByQuantizedMultiplier(acc, multiplier, shift) + out_zero_point, -128, 127)

  The accumulator is int32 with no overflow check: |(x - zp)| <= 255, so a depth above
  ``MAX_DEPTH`` = 33025 could overflow (undefined behaviour in the C++); tinygen refuses it.

The kernel ``tg_batch_matmul_s8`` takes the lhs as rows ``[rows][depth]`` and the rhs as columns
``[cols][depth]`` (both contiguous along the accumulation, for SMLAD). The lowering puts constants in that
layout offline (the rhs transposed unless ``adj_y``, the lhs if ``adj_x``); an activation in the other layout
is transposed by the kernel into scratch, one matrix at a time (a broadcast one only once). The batch
dimensions are canonicalised offline: size-1 output dimensions dropped, dimensions both operands step through
contiguously merged (at most 3 remain), and an lhs batch over a broadcast rhs folded into the rows (as TFLite
Micro's ReshapeToFlattenBatchDimsIfPossible).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op, Tensor
from tinygen.lowering.args import hint, i32, shape_str
from tinygen.lowering.base import WEIGHTS, KernelCall, LoweringContext
from tinygen.lowering.mve_ops import _round_up, _vector_requant_ok
from tinygen.ops import common
from tinygen.ops.base import Attr, OpDef, TfliteMapping, boolean

KIND = "batch_matmul"

#: input ranks TFLite Micro's BATCH_MATMUL prepares ("Support dimensions between 2 and 5")
MIN_RANK, MAX_RANK = 2, 5
#: the longest accumulation whose int32 sum of products of values in [-255, 255] cannot overflow
MAX_DEPTH = (2**31 - 1) // (255 * 255)
#: batch dimensions the kernel walks (a rank-5 output has 3)
KERNEL_BATCH_DIMS = 3


@dataclass(frozen=True)
class BatchMatmulParams:
    """TFLite Micro's OpDataBatchMatmul (int8): the offsets added to each operand (minus its zero point), the
    output zero point and the requantization of the int32 sums (TFLite's sign convention: shift > 0 is left)."""

    lhs_offset: int
    rhs_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int


@dataclass(frozen=True)
class Geometry:
    """The matrix product of the op: ``batch`` (the broadcast batch dimensions), ``rows`` x ``depth`` times
    ``depth`` x ``cols``, and each operand's shape padded with leading 1s to the output's rank."""

    batch: tuple[int, ...]
    rows: int
    cols: int
    depth: int
    lhs: tuple[int, ...]
    rhs: tuple[int, ...]


def geometry(graph: Graph, op: Op) -> Geometry:
    """The shapes checked as TFLite Micro's Prepare checks them (ranks, batch broadcast, accumulation depth)."""
    lhs, rhs = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    for t, what in ((lhs, "lhs"), (rhs, "rhs")):
        if not MIN_RANK <= len(t.shape) <= MAX_RANK:
            raise UnsupportedError(
                f"{common.where(op)}: {what} {t.name!r} has shape {t.shape} (rank {len(t.shape)}); TFLite Micro's "
                f"BATCH_MATMUL supports ranks {MIN_RANK} to {MAX_RANK}: reshape the operand"
            )
    rank = max(len(lhs.shape), len(rhs.shape))
    ls = (1,) * (rank - len(lhs.shape)) + tuple(lhs.shape)
    rs = (1,) * (rank - len(rhs.shape)) + tuple(rhs.shape)
    batch = []
    for k in range(rank - 2):
        if ls[k] != rs[k] and 1 not in (ls[k], rs[k]):
            raise TinygenError(
                f"{common.where(op)}: the batch dimensions of lhs {lhs.name!r} {lhs.shape} and rhs {rhs.name!r} "
                f"{rhs.shape} do not broadcast (dimension {k}: {ls[k]} vs {rs[k]}); each must be equal or 1"
            )
        batch.append(max(ls[k], rs[k]))
    adj_x, adj_y = op.attrs.get("adj_x", False), op.attrs.get("adj_y", False)
    rows, depth = (ls[-1], ls[-2]) if adj_x else (ls[-2], ls[-1])
    rhs_depth, cols = (rs[-1], rs[-2]) if adj_y else (rs[-2], rs[-1])
    if depth != rhs_depth:
        raise TinygenError(
            f"{common.where(op)}: lhs {lhs.name!r} {lhs.shape} (adj_x={adj_x}) accumulates over {depth} values but "
            f"rhs {rhs.name!r} {rhs.shape} (adj_y={adj_y}) over {rhs_depth}; they must be equal"
        )
    return Geometry(tuple(batch), rows, cols, depth, ls, rs)


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    g = geometry(graph, op)
    return (*g.batch, g.rows, g.cols)


def _operands(graph: Graph, op: Op) -> tuple[Tensor, Tensor, Tensor]:
    lhs, rhs, out = (graph.tensor(n) for n in (*op.inputs, op.outputs[0]))
    for t in (lhs, rhs, out):
        common.require_int8(t, op)
    return lhs, rhs, out


def check(graph: Graph, op: Op) -> None:
    _operands(graph, op)
    g = geometry(graph, op)
    if g.depth > MAX_DEPTH:
        raise UnsupportedError(
            f"{common.where(op)}: accumulates over {g.depth} values; beyond {MAX_DEPTH} TFLite Micro's int32 sum "
            "of int8 products can overflow (undefined behaviour there): split the product"
        )


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> BatchMatmulParams:
    """BatchMatMulPrepare (int8)."""
    lhs, rhs, out = _operands(graph, op)
    (sl, zl), (sr, zr), (so, zo) = common.qp(lhs, op), common.qp(rhs, op), common.qp(out, op)
    # GetQuantizedConvolutionMultipler: double(lhs_scale) * double(rhs_scale) / double(out_scale) (not the
    # float32 product: tests/test_op_batch_matmul.py shows TFLite Micro rounds the double way)
    real = float(np.float32(sl)) * float(np.float32(sr)) / float(np.float32(so))
    mult, shift = common.multiplier(real, op, "lhs x rhs / output", rounding)
    return BatchMatmulParams(lhs_offset=-zl, rhs_offset=-zr, output_offset=zo, output_multiplier=mult,
                             output_shift=shift)


def _matrices(op: Op, lhs: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The operands as ``[..., rows, depth]`` and ``[..., depth, cols]`` (adj_x/adj_y applied)."""
    if op.attrs.get("adj_x", False):
        lhs = np.swapaxes(lhs, -1, -2)
    if op.attrs.get("adj_y", False):
        rhs = np.swapaxes(rhs, -1, -2)
    return lhs, rhs


def from_accumulator(p: BatchMatmulParams, acc: np.ndarray, rounding: str) -> np.ndarray:
    return common.requant_out(acc, np.int64(p.output_multiplier), np.int64(p.output_shift), p.output_offset,
                              -128, 127, rounding)


def reference(graph: Graph, op: Op, p: BatchMatmulParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    lhs, rhs = _matrices(op, args[0].astype(np.int64) + p.lhs_offset, args[1].astype(np.int64) + p.rhs_offset)
    return from_accumulator(p, np.matmul(lhs, rhs), rounding)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    lhs, rhs = _matrices(op, np.asarray(inputs[0]), np.asarray(inputs[1]))
    return np.matmul(lhs, rhs)


def macs(graph: Graph, op: Op) -> int:
    g = geometry(graph, op)
    return int(np.prod(g.batch, dtype=np.int64)) * g.rows * g.cols * g.depth


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    """BATCH_MATMUL(lhs, rhs): two int8 operands, per-tensor quantized, either may be a constant."""
    a, b = imp.inputs(raw, 2)[:2]
    attrs = {"adj_x": bool(raw.options["AdjX"]), "adj_y": bool(raw.options["AdjY"])}
    return Op(KIND, "", [imp.activation_tensor(raw, a), imp.activation_tensor(raw, b)], [], attrs)


# --------------------------------------------------------------------------- lowering


@dataclass(frozen=True)
class Layout:
    """The kernel's view: ``dims``/``lhs_strides``/``rhs_strides`` (3 batch dimensions, element strides of
    the operands' matrices, 0 where broadcast; the output is contiguous), the matrix sizes, and whether an
    operand is stored the other way round (lhs ``[depth][rows]``, rhs ``[depth][cols]``): the kernel
    transposes it into scratch."""

    dims: tuple[int, ...]
    lhs_strides: tuple[int, ...]
    rhs_strides: tuple[int, ...]
    rows: int
    cols: int
    depth: int
    lhs_transpose: bool
    rhs_transpose: bool


def layout(g: Geometry, adj_x: bool, adj_y: bool, lhs_const: bool, rhs_const: bool) -> Layout:
    """The kernel's view of the op. Constants are stored as lhs rows / rhs columns offline; an activation stored
    the other way is transposed in scratch unless it has one row or column (then it is its own transpose in
    memory). Canonical batch dimensions: size-1 ones dropped, adjacent ones both operands step through
    contiguously merged, and (lhs in row layout) an lhs batch over a broadcast rhs folded into the rows."""
    lhs_transpose = adj_x and not lhs_const and min(g.rows, g.depth) > 1
    rhs_transpose = not adj_y and not rhs_const and min(g.cols, g.depth) > 1
    lmat, rmat = g.rows * g.depth, g.cols * g.depth

    def strides(shape: tuple[int, ...], matrix: int) -> list[int]:
        return [0 if shape[k] == 1 else matrix * int(np.prod(shape[k + 1:-2], dtype=np.int64))
                for k in range(len(g.batch))]

    ls, rs = strides(g.lhs, lmat), strides(g.rhs, rmat)
    keep = [k for k, d in enumerate(g.batch) if d > 1]
    dims, ls, rs = [g.batch[k] for k in keep], [ls[k] for k in keep], [rs[k] for k in keep]
    k = len(dims) - 2
    while k >= 0:
        if ls[k] == ls[k + 1] * dims[k + 1] and rs[k] == rs[k + 1] * dims[k + 1]:
            dims[k] *= dims[k + 1]
            ls[k], rs[k] = ls[k + 1], rs[k + 1]
            del dims[k + 1], ls[k + 1], rs[k + 1]
        k -= 1
    rows = g.rows
    if dims and not lhs_transpose and rs[-1] == 0 and ls[-1] == lmat:
        rows *= dims.pop()
        ls.pop()
        rs.pop()
    if len(dims) > KERNEL_BATCH_DIMS:  # cannot happen for ranks <= 5; kept as the kernel's contract
        raise UnsupportedError(f"batch dimensions {g.batch} need {len(dims)} loops; the kernel walks 3")
    pad = KERNEL_BATCH_DIMS - len(dims)
    return Layout(tuple([1] * pad + dims), tuple([0] * pad + ls), tuple([0] * pad + rs), rows, g.cols, g.depth,
                  lhs_transpose, rhs_transpose)


def _swap_last(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.swapaxes(a, -1, -2))


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    g = geometry(ctx.graph, op)
    lhs, rhs, out = _operands(ctx.graph, op)
    adj_x, adj_y = bool(op.attrs["adj_x"]), bool(op.attrs["adj_y"])
    # the kernel reads lhs rows [rows][depth] and rhs columns [cols][depth]: constants are put that way here
    # (a copy of the same size), activations stored the other way are transposed by the kernel into scratch
    if lhs.is_const and adj_x:
        lhs_ptr = ctx.const_array(hint(op, "lhs_rows"), _swap_last(np.asarray(lhs.data, np.int8)), "int8_t", WEIGHTS)
    else:
        lhs_ptr = f"(const int8_t *)({ctx.tensor_ptr(lhs.name)})"
    if rhs.is_const and not adj_y:
        rhs_ptr = ctx.const_array(hint(op, "rhs_cols"), _swap_last(np.asarray(rhs.data, np.int8)), "int8_t", WEIGHTS)
    else:
        rhs_ptr = f"(const int8_t *)({ctx.tensor_ptr(rhs.name)})"
    lay = layout(g, adj_x, adj_y, lhs.is_const, rhs.is_const)
    scratch = lay.lhs_transpose * g.rows * g.depth + lay.rhs_transpose * g.cols * g.depth
    args = (lhs_ptr, rhs_ptr, i32(ctx, op, "batch", [*lay.dims, *lay.lhs_strides, *lay.rhs_strides]),
            str(lay.rows), str(lay.cols), str(lay.depth), str(int(lay.lhs_transpose)), str(int(lay.rhs_transpose)),
            str(p.lhs_offset), str(p.rhs_offset), str(p.output_offset), str(p.output_multiplier), str(p.output_shift),
            ctx.scratch_ptr() if scratch else "(int8_t *)0", ctx.tensor_ptr(out.name))
    comment = (f"batch_matmul {shape_str(lhs)}{'^T' if adj_x else ''} x {shape_str(rhs)}{'^T' if adj_y else ''} -> "
               f"{shape_str(out)}: {int(np.prod(lay.dims))} x ({lay.rows}x{lay.depth} . {lay.depth}x{lay.cols})"
               + (", lhs transposed in scratch" if lay.lhs_transpose else "")
               + (", rhs transposed in scratch" if lay.rhs_transpose else ""))
    return KernelCall("tg_batch_matmul_s8", args, scratch_bytes=scratch, comment=comment)


def lower_mve(ctx: LoweringContext, op: Op) -> KernelCall | None:
    """tg_batch_matmul_mve_s8 (Helium): the operands as for tg_batch_matmul_s8, the offsets' terms taken out of
    the VMLADAVA loop, the vector requantization (None for a shift VSHL/VRSHL cannot take)."""
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    if not _vector_requant_ok(np.array([p.output_multiplier]), np.array([p.output_shift])):
        return None
    call = lower(ctx, op)
    g = geometry(ctx.graph, op)
    terms = 4 * _round_up(g.cols, 4)
    scratch = terms + call.scratch_bytes
    args = (*call.args[:13], str(int(p.output_shift > 0)), ctx.scratch_ptr(), call.args[-1])
    return KernelCall("tg_batch_matmul_mve_s8", args, scratch_bytes=scratch, comment=call.comment + " (MVE)")


OP = OpDef(
    kind=KIND,
    attrs=(Attr("adj_x", boolean, False), Attr("adj_y", boolean, False)),
    num_inputs=(2, 2),
    infer_shape=infer_shape,
    check=check,
    params=params,
    reference=reference,
    from_accumulator=from_accumulator,
    float_reference=float_reference,
    tflite=(TfliteMapping("BATCH_MATMUL", from_tflite, tflite.BatchMatMulOptions,
                          {"AdjX": False, "AdjY": False, "AsymmetricQuantizeInputs": False}),),
    lowerings=(lower,),
    mve_lowerings=(lower_mve,),
    macs=macs,
)
