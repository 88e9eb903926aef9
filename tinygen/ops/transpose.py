"""TRANSPOSE (Keras ``Permute``): the input's dimensions reordered, ``output.shape[i] = input.shape[perm[i]]``.
The bytes move, none changes: int8 -> int8 with one quantization for input and output.

TFLite Micro (``TransposePrepare`` in transpose_common.cc, ``reference_ops::Transpose`` in
reference/transpose.h, the int8 case of ``TransposeEval``):

* Prepare: two inputs (the data and ``perm``), one output; the input has at most 5 dimensions ("Transpose
  op only supports 1D-5D input arrays"; a 6-D input fails to prepare); input and output have one type;
  ``perm`` is 1-D with one entry per input dimension, each in ``[0, rank)``. It does not check that
  ``perm`` is a permutation (a repeated entry makes Eval read elements along a diagonal: nonsense, refused
  here) nor the output shape (a debug-only check in Eval; checked here), nor the quantizations.
* Eval reads ``perm`` as int32 and copies element by element: output index -> the input index whose
  subscripts are the output's permuted back. No arithmetic, so the output means what the input means only
  if both have one scale and zero point: tinygen requires them equal (the TFLite converter gives them one).

The IR holds ``perm`` as the attribute ``perm`` (the constant int32 operand is dropped on import). The
lowering canonicalises the permutation offline (:func:`canonical`): size-1 dimensions are dropped and
input dimensions that stay adjacent (and in order) in the output are merged, so ``[1, 3, 3, 160]`` by
``(0, 3, 1, 2)`` becomes a 2-D transpose of ``[9, 160]``. The kernel ``tg_transpose_s8`` then walks at most 4
dimensions and its inner loop is the longest run the permutation allows (a ``memcpy`` when the last
dimension stays last). A permutation that canonicalises to the identity moves no byte relative to the
other: the data is a view, but ``OpDef.alias`` is one flag for every transpose, so it is a byte copy
(``tg_copy_s8``). The kernel never writes over its input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import const_ptr, i32, in_out, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import (
    SAME_AS_INPUT,
    Attr,
    OpDef,
    QatHooks,
    TfliteMapping,
    int_tuple,
)

KIND = "transpose"

#: the largest input rank TFLite Micro's TRANSPOSE prepares (reference_ops::Transpose's N = 5)
MAX_RANK = 5
#: the dimensions tg_transpose_s8 walks (after canonicalisation)
KERNEL_DIMS = 4


@dataclass(frozen=True)
class TransposeParams:
    """transpose: ``perm`` (output dimension i is input dimension ``perm[i]``); a byte copy, input and
    output quantizations are equal."""

    perm: tuple[int, ...]


def _perm(graph: Graph, op: Op) -> tuple[int, ...]:
    """The permutation, checked against the input's rank: one entry per dimension, each dimension once."""
    x = graph.tensor(op.inputs[0])
    rank = len(x.shape)
    perm = tuple(int(p) for p in op.attrs["perm"])
    if rank > MAX_RANK:
        raise UnsupportedError(
            f"{common.where(op)}: input {x.name!r} has shape {x.shape} (rank {rank}); TFLite Micro's TRANSPOSE "
            f"supports ranks 1 to {MAX_RANK}: reshape to at most {MAX_RANK} dimensions"
        )
    if len(perm) != rank:
        raise TinygenError(
            f"{common.where(op)}: perm {perm} has {len(perm)} entries for input {x.name!r} of shape {x.shape} "
            f"(rank {rank}): give one entry per dimension; fix or re-export the model"
        )
    if sorted(perm) != list(range(rank)):
        raise TinygenError(
            f"{common.where(op)}: perm {perm} is not a permutation of 0..{rank - 1} (input {x.name!r} of shape "
            f"{x.shape}): every dimension must appear exactly once; fix or re-export the model"
        )
    return perm


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    x = graph.tensor(op.inputs[0])
    return tuple(x.shape[p] for p in _perm(graph, op))


def _check(graph: Graph, op: Op) -> None:
    """int8 in and out, one per-tensor quantization for both (the kernel copies bytes)."""
    x, out = common.unary_int8(graph, op)
    si, zi = common.qp(x, op)
    so, zo = common.qp(out, op)
    if np.float32(si) != np.float32(so) or zi != zo:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} has scale {si!r}, zero point {zi} but output {out.name!r} has "
            f"scale {so!r}, zero point {zo}; TFLite Micro's TRANSPOSE copies bytes, so they must be equal: "
            "re-quantize the model with one quantization for both (the TFLite converter does this)"
        )


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> TransposeParams:
    _check(graph, op)
    return TransposeParams(perm=_perm(graph, op))


def reference(graph: Graph, op: Op, p: TransposeParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(args[0], p.perm)).astype(np.int8)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    """On a batch: a permutation that keeps the batch dimension first (every Keras ``Permute``) transposes the
    batch at once; any other transposes each sample (shape ``(1, ...)``) on its own."""
    x = np.asarray(inputs[0])
    perm = tuple(int(p) for p in op.attrs["perm"])
    if perm[:1] == (0,) or x.shape[0] == 1:
        return np.transpose(x, perm)
    return np.stack([np.transpose(x[i:i + 1], perm) for i in range(x.shape[0])])


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    operands = imp.inputs(raw, 2)
    if len(operands) != 2 or operands[1] < 0:
        raise TinygenError(f"{imp.where(raw)}: has operands {list(operands)}, expected the input and perm; corrupt model")
    x, perm_index = operands
    rank = len(imp.shape(x))
    values = imp.const(raw, perm_index, "perm")
    t = imp.raw.tensors[perm_index]
    if t.type != tflite.TensorType.INT32:
        raise UnsupportedError(
            f"{imp.where(raw)}: its perm ({imp.describe(perm_index)}) must be int32: TFLite Micro reads it as int32"
        )
    if len(imp.shape(perm_index)) != 1 or values.size != rank:
        raise TinygenError(
            f"{imp.where(raw)}: its perm ({imp.describe(perm_index)}) must be 1-D with one entry per dimension of "
            f"input {imp.describe(x)} ({rank}); corrupt model"
        )
    perm = tuple(int(v) for v in values)
    return Op(KIND, "", [imp.activation_tensor(raw, x)], [], {"perm": perm})


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """``Permute(dims)``: ``dims`` are 1-based and leave the batch dimension out."""
    from tinygen.quantize.layers import layer_error, single_input

    x = single_input(layer, inputs)
    shape = b.shape(x)
    dims = tuple(int(d) for d in layer.get_config()["dims"])
    if sorted(dims) != list(range(1, len(shape))):
        raise layer_error(layer, f"dims {dims} are not a permutation of 1..{len(shape) - 1} (input shape {shape})")
    perm = (0, *dims)
    return b.op(KIND, layer.name, [x], tuple(shape[p] for p in perm), perm=perm)


# --------------------------------------------------------------------------- lowering


def canonical(shape: tuple[int, ...], perm: tuple[int, ...]) -> tuple[list[int], list[int]]:
    """The smallest transpose doing the same byte moves: (input dims, perm). Size-1 dimensions are dropped
    (they move no byte); input dimensions ``d, d+1`` that follow each other in ``perm`` are merged into one
    (their elements stay together, in order). An identity comes out as one dimension (or none)."""
    keep = [d for d in range(len(shape)) if shape[d] != 1]
    renumber = {d: k for k, d in enumerate(keep)}
    dims = [shape[d] for d in keep]
    order = [renumber[p] for p in perm if shape[p] != 1]
    # runs of consecutive input dimensions in output order
    runs: list[list[int]] = []
    for d in order:
        if runs and runs[-1][-1] + 1 == d:
            runs[-1].append(d)
        else:
            runs.append([d])
    by_input = sorted(range(len(runs)), key=lambda r: runs[r][0])
    merged_dims = [int(np.prod([dims[d] for d in runs[r]], dtype=np.int64)) for r in by_input]
    position = {r: k for k, r in enumerate(by_input)}
    return merged_dims, [position[r] for r in range(len(runs))]


def kernel_args(dims: list[int], perm: list[int]) -> tuple[list[int], list[int]]:
    """tg_transpose_s8's (output dims [4], input stride of each output dimension [4]) of the transpose of
    ``dims`` by ``perm`` (a canonical one, at most 4-D): leading dimensions padded with extent 1, stride 0."""
    strides = [int(np.prod(dims[d + 1:], dtype=np.int64)) for d in range(len(dims))]
    pad = KERNEL_DIMS - len(dims)
    return [1] * pad + [dims[p] for p in perm], [0] * pad + [strides[p] for p in perm]


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    dims, cperm = canonical(x.shape, p.perm)
    what = f"transpose {shape_str(x)} by {list(p.perm)} -> {shape_str(out)}"
    if len(dims) <= 1:
        args = (const_ptr(ctx, x.name), str(x.nbytes), ctx.tensor_ptr(out.name))
        return KernelCall("tg_copy_s8", args, comment=f"{what}: the same byte order, copied")
    if len(dims) > KERNEL_DIMS:
        raise UnsupportedError(
            f"{common.where(op)}: perm {p.perm} of input {x.name!r} of shape {x.shape} is a {len(dims)}-D transpose "
            f"of {tuple(dims)} by {tuple(cperm)} after dropping size-1 dimensions and merging those that stay "
            f"adjacent; tinygen's transpose kernel handles at most {KERNEL_DIMS}: split it into two TRANSPOSE ops"
        )
    out_dims, strides = kernel_args(dims, cperm)
    args = (const_ptr(ctx, x.name), i32(ctx, op, "dims", out_dims), i32(ctx, op, "strides", strides),
            ctx.tensor_ptr(out.name))
    return KernelCall("tg_transpose_s8", args, comment=f"{what} (as {tuple(dims)} by {tuple(cperm)})")


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return tf.transpose(xs[0], perm=list(attrs["perm"]))


OP = OpDef(
    kind=KIND,
    attrs=(Attr("perm", int_tuple),),
    infer_shape=infer_shape,
    num_inputs=(1, 1),
    check=_check,
    params=params,
    reference=reference,
    data_inputs=1,
    float_reference=float_reference,
    quant_rule=SAME_AS_INPUT,
    tflite=(TfliteMapping("TRANSPOSE", from_tflite),),
    keras_layers={"Permute": from_keras},
    lowerings=(lower,),
    qat=QatHooks(forward=_qat_forward),
)
