"""DEPTH_TO_SPACE (``tf.nn.depth_to_space``): each NHWC pixel's channels spread over a ``block_size`` x
``block_size`` square of output pixels, ``[N, H, W, C] -> [N, H*b, W*b, C/(b*b)]``. The bytes move, none
changes: int8 -> int8 with one quantization for input and output.

TFLite Micro (``CalculateOpData`` in depth_to_space_common.cc, ``reference_ops::DepthToSpace`` in
reference/depth_to_space.h):

* Prepare: 1 input and 1 output; the input has 4 dimensions; input and output have one type (float32 or
  int8); ``block_size > 0``; the input channels are a multiple of ``block_size^2``. It sets the output
  shape to ``[N, H*b, W*b, C/(b*b)]`` (tinygen requires the model to declare exactly that) and does not
  look at the quantizations.
* Eval copies element by element in TensorFlow's "DCR" order (depth-column-row): output
  ``(n, h, w, d)`` is input ``(n, h / b, w / b, d + ((h % b) * b + w % b) * C_out)``. No arithmetic, so the
  output means what the input means only if both have one scale and zero point: tinygen requires them
  equal (TensorFlow's converter gives them one).

Viewing the input as ``[N*H][W][b][C/b]`` and the output as ``[N*H][b][W][C/b]``, the op swaps the two
middle dimensions and moves runs of ``C/b`` contiguous bytes (one output row segment of ``b`` pixels).
SPACE_TO_DEPTH (:mod:`tinygen.ops.space_to_depth`) is the same swap the other way round, so both lower to
one kernel, ``tg_space_depth_s8`` (:func:`swap_call`); a swap with a dimension of 1 (block size 1, or
an input one pixel wide) keeps the byte order and is a byte copy (``tg_copy_s8``). The kernel never writes
over its input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import const_ptr, in_out, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import SAME_AS_INPUT, Attr, OpDef, TfliteMapping, positive_int

KIND = "depth_to_space"
BUILTIN = "DEPTH_TO_SPACE"

#: the kernel's offsets are int32
MAX_BYTES = (1 << 31) - 1


@dataclass(frozen=True)
class BlockParams:
    """depth_to_space / space_to_depth: the block size; a byte move, input and output quantizations are equal."""

    block_size: int


# --------------------------------------------------------------------------- shared with SPACE_TO_DEPTH


def nhwc(graph: Graph, op: Op, builtin: str) -> tuple[int, int, int, int]:
    """The rank-4 NHWC input shape (TFLite Micro's Prepare requires 4 dimensions)."""
    x = graph.tensor(op.inputs[0])
    if len(x.shape) != 4:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} has shape {x.shape} (rank {len(x.shape)}); TFLite Micro's {builtin} "
            "needs a rank-4 NHWC input: reshape it to [N, H, W, C]"
        )
    n, h, w, c = (int(d) for d in x.shape)
    return n, h, w, c


def check_same_quant(graph: Graph, op: Op, builtin: str) -> None:
    """int8 in and out, one per-tensor quantization for both (the kernel copies bytes)."""
    x, out = common.unary_int8(graph, op)
    si, zi = common.qp(x, op)
    so, zo = common.qp(out, op)
    if np.float32(si) != np.float32(so) or zi != zo:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} has scale {np.float32(si)!s}, zero point {zi} but output "
            f"{out.name!r} has scale {np.float32(so)!s}, zero point {zo}; TFLite Micro's {builtin} copies bytes, so "
            "they must be equal: re-quantize the model with one quantization for both (the TFLite converter does this)"
        )


def from_tflite_for(kind: str, builtin: str) -> Any:
    """The ``.tflite`` converter of DEPTH_TO_SPACE / SPACE_TO_DEPTH: one rank-4 int8 operand, ``BlockSize``
    from the options (0 where the table is missing, as TFLite Micro reads it; the attribute check refuses it)."""

    def convert(imp: Any, raw: Any) -> Op:
        if len(raw.inputs) != 1:
            raise TinygenError(f"{imp.where(raw)}: has {len(raw.inputs)} inputs; {builtin} takes 1; corrupt model")
        x = imp.inputs(raw, 1)[0]
        imp.ranked(raw, x, 4, "input")
        return Op(kind, "", [imp.activation_tensor(raw, x)], [], {"block_size": int(raw.options["BlockSize"])})

    return convert


def swap_call(ctx: LoweringContext, op: Op, outer: int, rows: int, cols: int, run: int, what: str) -> KernelCall:
    """``tg_space_depth_s8``: input ``[outer][rows][cols][run]`` -> output ``[outer][cols][rows][run]``; a byte copy
    (``tg_copy_s8``) when ``rows`` or ``cols`` is 1 (the swap keeps the byte order)."""
    x, out = in_out(ctx, op)
    if x.nbytes > MAX_BYTES:
        raise UnsupportedError(f"{common.where(op)}: input {x.name!r} of shape {x.shape} holds 2^31 bytes or more")
    what = f"{what} {shape_str(x)} -> {shape_str(out)}"
    if rows == 1 or cols == 1:
        return KernelCall("tg_copy_s8", (const_ptr(ctx, x.name), str(x.nbytes), ctx.tensor_ptr(out.name)),
                          comment=f"{what}: the same byte order, copied")
    args = (const_ptr(ctx, x.name), str(outer), str(rows), str(cols), str(run), ctx.tensor_ptr(out.name))
    return KernelCall("tg_space_depth_s8", args, comment=f"{what} (runs of {run} bytes)")


# --------------------------------------------------------------------------- DEPTH_TO_SPACE


def _block(graph: Graph, op: Op) -> tuple[int, int, int, int, int]:
    """(n, h, w, c, block size), the channels checked to be a multiple of block_size^2."""
    n, h, w, c = nhwc(graph, op, BUILTIN)
    b = int(op.attrs["block_size"])
    if c % (b * b):
        raise TinygenError(
            f"{common.where(op)}: input {graph.tensor(op.inputs[0]).name!r} has shape {(n, h, w, c)}: its {c} channels "
            f"are not a multiple of block_size^2 = {b * b} (block_size {b}); TFLite Micro's {BUILTIN} needs that: "
            "fix or re-export the model"
        )
    return n, h, w, c, b


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    n, h, w, c, b = _block(graph, op)
    return (n, h * b, w * b, c // (b * b))


def _check(graph: Graph, op: Op) -> None:
    _block(graph, op)
    check_same_quant(graph, op, BUILTIN)


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> BlockParams:
    _check(graph, op)
    return BlockParams(block_size=int(op.attrs["block_size"]))


def depth_to_space(x: np.ndarray, b: int) -> np.ndarray:
    """DCR order: channel ``(i * b + j) * C_out + d`` of input pixel (h, w) is channel d of output pixel
    (h*b + i, w*b + j)."""
    n, h, w, c = x.shape
    return np.ascontiguousarray(x.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5)).reshape(
        n, h * b, w * b, c // (b * b))


def reference(graph: Graph, op: Op, p: BlockParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return depth_to_space(args[0], p.block_size).astype(np.int8)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return depth_to_space(np.asarray(inputs[0]), int(op.attrs["block_size"]))


def kernel_dims(shape: tuple[int, ...], b: int) -> tuple[int, int, int, int]:
    """tg_space_depth_s8's (outer, rows, cols, run) for input ``shape``: ``[N*H][W][b][C/b]`` -> ``[N*H][b][W][C/b]``."""
    n, h, w, c = shape
    return n * h, w, b, c // b


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    dims = kernel_dims(nhwc(ctx.graph, op, BUILTIN), p.block_size)
    return swap_call(ctx, op, *dims, f"depth to space, block {p.block_size},")


OP = OpDef(
    kind=KIND,
    attrs=(Attr("block_size", positive_int),),
    infer_shape=infer_shape,
    num_inputs=(1, 1),
    check=_check,
    params=params,
    reference=reference,
    data_inputs=1,
    float_reference=float_reference,
    quant_rule=SAME_AS_INPUT,
    tflite=(TfliteMapping(BUILTIN, from_tflite_for(KIND, BUILTIN), tflite.DepthToSpaceOptions, {"BlockSize": 0}),),
    lowerings=(lower,),
)
