"""What the reductions over axes share (REDUCE_MAX, SUM; MEAN could too): the ``axes``/``keep_dims`` attributes,
TFLite's axis resolution and output shape, the ``.tflite`` import of the axes operand, the Keras global pooling
mappings, and the canonical layout the kernels walk.

TFLite (``reference_ops::ResolveAxis``): a negative axis counts from the end, a repeated axis counts once, an axis
outside ``[-rank, rank)`` fails; a rank-0 input ignores its axes. No op kind is spelled here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tflite

from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.ops import common
from tinygen.ops.base import Attr, boolean, int_tuple

#: the IR attributes of a reduction: the axes (any order, negative and repeated as TFLite allows) and keep_dims
ATTRS = (Attr("axes", int_tuple), Attr("keep_dims", boolean, False))

#: most reduced elements per output of an int8 sum: ``sum(x) - n * zero_point`` stays below 2^31 in magnitude, so
#: TFLite's wrapping int32 accumulator never wraps and the kernel's int32 arithmetic never overflows
MAX_SUM_ELEMENTS = (2**31 - 1) // 256

#: most dimensions of the kernels' canonical layout ``[K0, R0, K1, ..., Kg]`` (TG_REDUCE_MAX_DIMS in the kernels)
MAX_CANONICAL_DIMS = 9


def resolve_axes(graph: Graph, op: Op) -> tuple[int, ...]:
    """ResolveAxis: the reduced axes, non-negative, in first-seen order without repeats (a rank-0 input: none)."""
    x = graph.tensor(op.inputs[0])
    rank = len(x.shape)
    axes: list[int] = []
    for a in op.attrs["axes"]:
        a = int(a)
        if rank == 0:
            continue
        if not -rank <= a < rank:
            raise TinygenError(
                f"{common.where(op)}: axis {a} is out of range for input {x.name!r} of shape {x.shape}: axes must be "
                f"in [{-rank}, {rank - 1}] (TFLite Micro rejects it too); fix or re-export the model"
            )
        a = a + rank if a < 0 else a
        if a not in axes:
            axes.append(a)
    return tuple(axes)


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    """Reduced dimensions become 1 with ``keep_dims``, else disappear."""
    x = graph.tensor(op.inputs[0])
    axes = resolve_axes(graph, op)
    if op.attrs["keep_dims"]:
        return tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i not in axes)


def num_elements(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    """Elements reduced into each output (1 without axes)."""
    return int(np.prod([shape[a] for a in axes], dtype=np.int64)) if axes else 1


def canonical_dims(shape: tuple[int, ...], axes: tuple[int, ...]) -> list[int]:
    """The input as ``[K0, R0, K1, R1, ..., Kg]``: kept (K) and reduced (R) extents alternating, row-major, size-1
    dimensions dropped, adjacent dimensions of one kind merged, a kept 1 added at either end where needed; so the
    length is odd and at least 3 (no reduction: ``[1, 1, size]``). The output is row-major over the K extents."""
    dims: list[int] = []
    reduced: list[bool] = []
    for i, d in enumerate(shape):
        if d == 1:
            continue
        r = i in axes
        if reduced and reduced[-1] == r:
            dims[-1] *= d
        else:
            dims.append(d)
            reduced.append(r)
    if not reduced or reduced[0]:
        dims.insert(0, 1)
        reduced.insert(0, False)
    if reduced[-1]:
        dims.append(1)
        reduced.append(False)
    if len(dims) == 1:
        dims = [1, 1, dims[0]]
    return dims


def reduce_dims(op: Op, shape: tuple[int, ...], axes: tuple[int, ...]) -> list[int]:
    """:func:`canonical_dims`, refused beyond :data:`MAX_CANONICAL_DIMS` (only ranks above 8 get there)."""
    dims = canonical_dims(shape, axes)
    if len(dims) > MAX_CANONICAL_DIMS:
        raise UnsupportedError(
            f"{common.where(op)}: axes {list(axes)} of shape {shape} alternate kept and reduced dimensions "
            f"{len(dims) // 2} times; tinygen's reduction kernels handle at most {MAX_CANONICAL_DIMS // 2}: split "
            "the reduction into several ops"
        )
    return dims


def float_axes(op: Op, x: np.ndarray) -> tuple[int, ...]:
    """The op's axes for a float batch ``x`` (same rank as the op's input), resolved as TFLite does."""
    rank = x.ndim
    return tuple(sorted({int(a) % rank for a in op.attrs["axes"]})) if rank else ()


# --------------------------------------------------------------------------- import


def from_tflite(kind: str, builtin: str) -> Callable[[Any, Any], Op]:
    """The ``.tflite`` converter of a reduction ``builtin``: its int8 input and its constant int32 axes operand
    (TFLite Micro's Prepare requires exactly these two inputs and int32 axes) become the ``axes`` attribute,
    resolved and sorted, and ``KeepDims`` becomes ``keep_dims``."""

    def convert(imp: Any, raw: Any) -> Op:
        if len(raw.inputs) != 2:
            raise TinygenError(
                f"{imp.where(raw)}: has {len(raw.inputs)} inputs; TFLite Micro's {builtin} takes exactly 2 (the "
                "tensor and its axes); corrupt model"
            )
        x, axes_index = imp.inputs(raw, 2)[:2]
        rank = len(imp.shape(x))
        if imp.raw.tensors[axes_index].type != tflite.TensorType.INT32:  # TF_LITE_ENSURE_TYPES_EQ in Prepare
            raise UnsupportedError(
                f"{imp.where(raw)}: its axes ({imp.describe(axes_index)}) must be int32: TFLite Micro's {builtin} "
                "refuses other types; re-export the model"
            )
        t = imp.raw.tensors[axes_index]
        # an empty axes operand (shape [0], no data): nothing reduced, the tensor copied (SUM: requantized)
        empty = t.data is None and len(t.shape) == 1 and t.shape[0] == 0
        values = [] if empty else [int(a) for a in imp.const(raw, axes_index, "axes")]
        outside = [a for a in values if not -rank <= a < rank]
        if rank and outside:
            raise TinygenError(
                f"{imp.where(raw)}: axes {values} of {imp.describe(x)}: axis {outside[0]} is outside "
                f"[{-rank}, {rank - 1}] (TFLite Micro rejects it too); corrupt model"
            )
        axes = tuple(sorted({a % rank for a in values})) if rank else ()
        attrs = {"axes": axes, "keep_dims": bool(raw.options["KeepDims"])}
        return Op(kind, "", [imp.activation_tensor(raw, x)], [], attrs)

    return convert


#: the options table of every reduction and its schema default
TFLITE_OPTIONS = (tflite.ReducerOptions, {"KeepDims": False})


def global_pool_from_keras(kind: str, rank: int) -> Callable[[Any, Any, list[str]], str]:
    """The converter of a Keras global pooling layer over the steps (``rank`` 3: [N, L, C]) or the height and width
    (``rank`` 4: NHWC) into a reduction ``kind`` over those axes, keeping them as 1s with ``keepdims``."""

    def convert(b: Any, layer: Any, inputs: list[str]) -> str:
        from tinygen.quantize.layers import _channels_last, _require_rank, single_input

        x = single_input(layer, inputs)
        _channels_last(layer)
        _require_rank(layer, b, x, rank)
        keep = bool(layer.get_config().get("keepdims", False))
        shape = b.shape(x)
        axes = tuple(range(1, rank - 1))
        out = tuple(1 if i in axes else d for i, d in enumerate(shape)) if keep else (shape[0], shape[-1])
        return b.op(kind, layer.name, [x], out, axes=axes, keep_dims=keep)

    return convert
