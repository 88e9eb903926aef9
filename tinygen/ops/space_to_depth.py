"""SPACE_TO_DEPTH (``tf.nn.space_to_depth``): each ``block_size`` x ``block_size`` square of NHWC pixels
becomes one pixel with their channels side by side, ``[N, H, W, C] -> [N, H/b, W/b, C*b*b]``. The bytes
move, none changes: int8 -> int8 with one quantization for input and output.

TFLite Micro (``Prepare`` in space_to_depth.cc, ``reference_ops::SpaceToDepth`` in
reference/space_to_depth.h):

* Prepare: 1 input and 1 output; the input has 4 dimensions; input and output have one type (float32 or
  int8); the height and width are multiples of ``block_size`` (``H == (H / b) * b``). It does not check
  ``block_size > 0`` (0 divides by zero there, a negative size gives negative dimensions): tinygen requires
  ``block_size >= 1``. It sets the output shape to ``[N, H/b, W/b, C*b*b]`` (tinygen requires the model to
  declare exactly that) and does not look at the quantizations.
* Eval copies element by element in the DCR order of DEPTH_TO_SPACE, inverted: input ``(n, h, w, d)`` goes
  to output ``(n, h / b, w / b, d + ((h % b) * b + w % b) * C_in)``. Input and output must share one scale
  and zero point here (the kernel copies bytes; TensorFlow's converter gives them one).

Viewing the input as ``[N*H/b][b][W/b][b*C]`` and the output as ``[N*H/b][W/b][b][b*C]``, the op swaps the
two middle dimensions, moving runs of ``b*C`` contiguous bytes: the kernel and lowering of
:mod:`tinygen.ops.depth_to_space` (``tg_space_depth_s8``; ``tg_copy_s8`` when the output is one pixel wide
or the block size is 1).
"""

from __future__ import annotations

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import SAME_AS_INPUT, Attr, OpDef, TfliteMapping, positive_int
from tinygen.ops.depth_to_space import (
    BlockParams,
    check_same_quant,
    from_tflite_for,
    nhwc,
    swap_call,
)

KIND = "space_to_depth"
BUILTIN = "SPACE_TO_DEPTH"


def _block(graph: Graph, op: Op) -> tuple[int, int, int, int, int]:
    """(n, h, w, c, block size), the height and width checked to be multiples of the block size."""
    n, h, w, c = nhwc(graph, op, BUILTIN)
    b = int(op.attrs["block_size"])
    if h % b or w % b:
        raise TinygenError(
            f"{common.where(op)}: input {graph.tensor(op.inputs[0]).name!r} has shape {(n, h, w, c)}: its height {h} "
            f"and width {w} must be multiples of block_size {b} (TFLite Micro's {BUILTIN} needs that): fix or "
            "re-export the model"
        )
    return n, h, w, c, b


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    n, h, w, c, b = _block(graph, op)
    return (n, h // b, w // b, c * b * b)


def _check(graph: Graph, op: Op) -> None:
    _block(graph, op)
    check_same_quant(graph, op, BUILTIN)


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> BlockParams:
    _check(graph, op)
    return BlockParams(block_size=int(op.attrs["block_size"]))


def space_to_depth(x: np.ndarray, b: int) -> np.ndarray:
    """Input pixel (h*b + i, w*b + j), channel d, is channel ``(i * b + j) * C_in + d`` of output pixel (h, w)."""
    n, h, w, c = x.shape
    return np.ascontiguousarray(x.reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5)).reshape(
        n, h // b, w // b, c * b * b)


def reference(graph: Graph, op: Op, p: BlockParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return space_to_depth(args[0], p.block_size).astype(np.int8)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return space_to_depth(np.asarray(inputs[0]), int(op.attrs["block_size"]))


def kernel_dims(shape: tuple[int, ...], b: int) -> tuple[int, int, int, int]:
    """tg_space_depth_s8's (outer, rows, cols, run) for input ``shape``: ``[N*H/b][b][W/b][b*C]`` ->
    ``[N*H/b][W/b][b][b*C]``."""
    n, h, w, c = shape
    return n * (h // b), b, w // b, b * c


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    dims = kernel_dims(nhwc(ctx.graph, op, BUILTIN), p.block_size)
    return swap_call(ctx, op, *dims, f"space to depth, block {p.block_size},")


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
    tflite=(TfliteMapping(BUILTIN, from_tflite_for(KIND, BUILTIN), tflite.SpaceToDepthOptions, {"BlockSize": 0}),),
    lowerings=(lower,),
)
