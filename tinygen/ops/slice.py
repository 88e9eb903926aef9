"""STRIDED_SLICE and SLICE: a (strided) box of the input, every element copied unchanged. int8 -> int8 with one
quantization for input and output (TFLite Micro copies bytes).

The IR holds the slice resolved, per input dimension: ``slices`` = ``((start, stop, step), ...)`` with TFLite
Micro's meaning (the elements ``start, start + step, ...`` while ``< stop`` for a positive step, ``> stop`` for a
negative one: ``numpy.arange(start, stop, step)``), and ``shrink``, the input dimensions left out of the output
(each holds one element). The constant operands (begin, end, strides, size) are dropped on import. The sliced
tensor may be a constant int8 tensor (the kernel copies from flash); an int32 one is shape arithmetic (SHAPE ->
STRIDED_SLICE -> PACK of a dynamic batch size: constant folding, not a kernel) and is refused.

STRIDED_SLICE, TFLite Micro (``StridedSlicePrepare`` in strided_slice_common.cc, ``reference_ops::StridedSlice``
in reference/strided_slice.h with ``StridedSliceStartForAxis``/``StridedSliceEndForAxis`` of
strided_slice_logic.h):

* Prepare: four inputs, one output; the input has at most 4 dimensions ("input dim should not exceed 4");
  begin, end and strides are constant tensors ("Non-constant >begin< tensor is not supported"), read as int32
  (one entry per input dimension; an int64 operand would be misread, so it is refused here); every stride is
  non-zero ("stride value has to be non-zero"); the output shape is, per dimension not shrunk,
  ``max(0, ceil((end - begin) / (float)stride))`` (float32 arithmetic, exact for every realistic size; refused
  here where it is not).
* Only begin_mask, end_mask and shrink_axis_mask are used: Prepare sets ``ellipsis_mask`` and
  ``new_axis_mask`` to 0 and never sets ``offset``, so a model that uses them means something TFLite Micro
  does not compute: refused. Mask bits at or above the input's rank are ignored, as in TFLite Micro.
* Per dimension of size ``n`` (Eval): ``start = begin`` (``+ n`` if negative), clamped to ``[0, n]`` for a
  positive stride, ``[-1, n - 1]`` for a negative one; the begin_mask bit gives ``0`` or ``n - 1``. ``stop``
  likewise from end (the end_mask bit gives ``n`` or ``-1``). A shrunk dimension takes ``stop = start + 1``
  (``start`` if ``start >= n``), whatever end and end_mask say.
* TFLite Micro writes nothing for a shrunk dimension whose start is ``n`` (begin at or past the end) or whose
  stride is negative (the loop ``start > start + 1`` never runs), leaving the output unwritten: refused, as is
  a shrink index outside ``[-n, n)`` (TensorFlow's error; TFLite Micro clamps it silently) and a begin_mask bit
  on a shrunk dimension that changes its element (TensorFlow ignores the mask there, TFLite Micro does not).
  A stride so large that TFLite Micro's int index ``start + k * stride`` leaves int32 before its loop ends is
  refused (the index wraps there, a C++ overflow, and it reads outside the input). An empty output (a
  dimension with no element) is refused: tinygen holds no zero-sized tensor.

SLICE, TFLite Micro (``SlicePrepare``/``SliceEval`` in slice.cc, ``reference_ops::Slice`` in reference/slice.h):
begin and size are int32 or int64 (one type for both), one entry per input dimension, input rank at most 5;
``size[i] == -1`` means "to the end". Prepare checks nothing else (debug checks only) and Eval does not bound
the indices: tinygen requires ``0 <= begin[i] < n`` and ``1 <= size[i] <= n - begin[i]`` (or -1) and the output
shape equal to the sizes.

SPLIT, SPLIT_V and UNPACK are rewritten on import into one slice per output (the converters return lists of ops,
each output its own ``strided_slice``), UNPACK's shrinking the unpacked axis (the same bytes as a slice then a
reshape, in one op). TFLite Micro (split.cc, split_v.cc, unpack.cc) copies consecutive runs of the axis by the
declared output shapes and output count, checking almost nothing (debug checks only); SPLIT's and SPLIT_V's axis
is a constant int32 tensor ("Non-constant >axis< tensor is not supported"), negative axes count from the end, and
an axis out of range fails at run time. tinygen also checks what TFLite's Prepare does and TFLite Micro silently
relies on: SPLIT's ``num_splits`` equals the output count and divides the axis; SPLIT_V's ``size_splits`` has one
entry per output, at most one -1 (the rest), and sums to the axis (TFLite Micro ignores it; tinygen requires the
declared outputs to match it); UNPACK's ``num`` equals the output count and the axis' size (TFLite Micro writes
``num`` outputs with input stride ``num``); every output's declared shape is the one implied, and its
quantization equals the input's (the kernels copy bytes; TFLite refuses other quantizations for UNPACK). A
1-D UNPACK gives 0-D outputs. Keras Cropping1D and Cropping2D are slices too (TensorFlow's converter makes them a
STRIDED_SLICE with begin/end, which imports as the same op).

Kernel: the lowering canonicalises the slice offline (:func:`canonical`): the input offset of the first element,
then per output dimension the element count and the signed input stride between consecutive elements; size-1
dimensions are dropped and a dimension merged into the one outside it when the outer stride is the inner count
times the inner stride (a whole contiguous run, also when reversed). ``tg_slice_s8`` walks at most 4 such
dimensions (a slice that needs 5 is refused by the lowering), copying each innermost run of stride 1 four bytes
at a time when short (up to 32 bytes) and with one memmove otherwise, any other run element by element. A
slice that is a contiguous block is still a copy: ``OpDef.alias`` is one flag for every op of a kind.
With every step positive each output element is read from an input element at the same or a later offset, so
the output may be written over its dying input (``in_place``).
"""

from __future__ import annotations

import math
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
from tinygen.ops.base import SAME_AS_INPUT, Attr, AttrError, OpDef, QatHooks, TfliteMapping

KIND = "strided_slice"

#: the largest input rank TFLite Micro's STRIDED_SLICE prepares (its kMaxDim)
MAX_RANK_STRIDED = 4
#: the largest input rank TFLite Micro's SLICE runs (its kMaxDim)
MAX_RANK_SLICE = 5
#: the largest rank of the IR op (SLICE's)
MAX_RANK = MAX_RANK_SLICE
#: the dimensions tg_slice_s8 walks (after canonicalisation)
KERNEL_DIMS = 4
#: indices and steps are int32 in TFLite Micro
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


@dataclass(frozen=True)
class SliceParams:
    """strided_slice: per input dimension ``(start, stop, step)`` (elements ``numpy.arange(start, stop, step)``),
    the input dimensions ``shrink`` left out of the output; a byte copy, input and output quantizations equal."""

    slices: tuple[tuple[int, int, int], ...]
    shrink: tuple[int, ...]


# --------------------------------------------------------------------------- attributes


def _int32(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise AttrError(f"{value!r} is not an integer")
    v = int(value)
    if not INT32_MIN <= v <= INT32_MAX:
        raise AttrError(f"{v} is outside the int32 range")
    return v


def slice_triples(value: Any) -> tuple[tuple[int, int, int], ...]:
    """((start, stop, step), ...): int32 values, steps non-zero."""
    if not isinstance(value, (tuple, list)):
        raise AttrError(f"{value!r} is not a tuple of (start, stop, step) triples")
    triples = []
    for t in value:
        if not isinstance(t, (tuple, list)) or len(t) != 3:
            raise AttrError(f"{value!r} is not a tuple of (start, stop, step) triples")
        start, stop, step = (_int32(v) for v in t)
        if step == 0:
            raise AttrError(f"triple {(start, stop, step)} has step 0; a step is a non-zero integer")
        triples.append((start, stop, step))
    return tuple(triples)


def axis_set(value: Any) -> tuple[int, ...]:
    """Distinct non-negative axes, sorted."""
    if not isinstance(value, (tuple, list)):
        raise AttrError(f"{value!r} is not a tuple of axes")
    axes = tuple(_int32(v) for v in value)
    if any(a < 0 for a in axes) or len(set(axes)) != len(axes):
        raise AttrError(f"{axes} are not distinct non-negative axes")
    return tuple(sorted(axes))


def count(start: int, stop: int, step: int) -> int:
    """How many elements ``numpy.arange(start, stop, step)`` (TFLite Micro's loop) visits."""
    return len(range(start, stop, step))


def _resolved(graph: Graph, op: Op) -> SliceParams:
    """The slices and shrunk axes, checked against the input's shape: one normalised non-empty slice per
    dimension (start a valid index, stop clamped like TFLite Micro's), shrunk axes holding one element."""
    x = graph.tensor(op.inputs[0])
    rank = len(x.shape)
    slices = tuple(tuple(int(v) for v in s) for s in op.attrs["slices"])
    shrink = tuple(int(a) for a in op.attrs.get("shrink", ()))
    if not 1 <= rank <= MAX_RANK:
        raise UnsupportedError(
            f"{common.where(op)}: input {x.name!r} has shape {x.shape} (rank {rank}); tinygen slices inputs of rank "
            f"1 to {MAX_RANK} (TFLite Micro: STRIDED_SLICE up to {MAX_RANK_STRIDED}, SLICE up to {MAX_RANK_SLICE})"
        )
    if len(slices) != rank:
        raise TinygenError(
            f"{common.where(op)}: slices {slices} have {len(slices)} entries for input {x.name!r} of shape {x.shape} "
            f"(rank {rank}): give one (start, stop, step) per dimension; fix or re-export the model"
        )
    for axis, ((start, stop, step), n) in enumerate(zip(slices, x.shape)):
        lo, hi = (0, n) if step > 0 else (-1, n - 1)
        if not (0 <= start < n and lo <= stop <= hi) or count(start, stop, step) < 1:
            legal = (f"0 <= start < stop <= {n}" if step > 0 else f"-1 <= stop < start <= {n - 1}")
            raise TinygenError(
                f"{common.where(op)}: slice {(start, stop, step)} of axis {axis} (size {n}) of input {x.name!r} is "
                f"empty or out of range: with step {step} it needs {legal}; fix or re-export the model"
            )
    for axis in shrink:
        if axis >= rank or count(*slices[axis]) != 1:
            what = "is not an axis of" if axis >= rank else f"holds {count(*slices[axis])} elements of"
            raise TinygenError(
                f"{common.where(op)}: shrunk axis {axis} {what} input {x.name!r} of shape {x.shape}; a shrunk axis "
                "holds exactly one element; fix or re-export the model"
            )
    return SliceParams(slices=slices, shrink=shrink)  # type: ignore[arg-type]


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    p = _resolved(graph, op)
    return tuple(count(*s) for axis, s in enumerate(p.slices) if axis not in p.shrink)


def _check(graph: Graph, op: Op) -> None:
    """int8 in and out, one per-tensor quantization for both (the kernel copies bytes)."""
    x, out = common.unary_int8(graph, op)
    si, zi = common.qp(x, op)
    so, zo = common.qp(out, op)
    if np.float32(si) != np.float32(so) or zi != zo:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} has scale {si!r}, zero point {zi} but output {out.name!r} has "
            f"scale {so!r}, zero point {zo}; TFLite Micro's STRIDED_SLICE and SLICE copy bytes, so they must be "
            "equal: re-quantize the model with one quantization for both (the TFLite converter does this)"
        )


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> SliceParams:
    _check(graph, op)
    return _resolved(graph, op)


def reference(graph: Graph, op: Op, p: SliceParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    """TFLite Micro's loops: along each dimension ``for (i = start; step > 0 ? i < stop : i > stop; i += step)``,
    the output written in that order."""
    x = args[0]
    index = np.ix_(*(np.arange(start, stop, step) for start, stop, step in p.slices))
    out_shape = tuple(count(*s) for axis, s in enumerate(p.slices) if axis not in p.shrink)
    return np.ascontiguousarray(x[index]).reshape(out_shape).astype(np.int8)


def _basic_index(p_slices: Any, shrink: Any) -> tuple[Any, ...]:
    """The slice as a numpy/TensorFlow basic index (a shrunk axis an integer) on a batch: dimension 0 is the batch
    (the Keras flow's float graph, batch 1 in the IR), kept whole for every sample."""
    index: list[Any] = []
    for axis, (start, stop, step) in enumerate(p_slices):
        if axis == 0:
            if (start, stop, step) != (0, 1, 1) or 0 in shrink:
                raise ValueError(f"slice {(start, stop, step)} of the batch dimension: the float graph keeps it whole")
            index.append(slice(None))
        elif axis in shrink:
            index.append(start)
        else:
            index.append(slice(start, None if stop < 0 else stop, step))
    return tuple(index)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    """The same box of every sample of the batch (dimension 0)."""
    return inputs[0][_basic_index(op.attrs["slices"], op.attrs.get("shrink", ()))]


# --------------------------------------------------------------------------- import


def _clamp(v: int, lo: int, hi: int) -> int:
    """strided_slice::Clamp (lo <= hi)."""
    return min(max(v, lo), hi)


def strided_start(n: int, begin: int, stride: int, begin_masked: bool) -> int:
    """StridedSliceStartForAxis (TFLite Micro's Eval)."""
    start = begin + n if begin < 0 else begin
    start = _clamp(start, 0, n) if stride > 0 else _clamp(start, -1, n - 1)
    if begin_masked:
        start = 0 if stride > 0 else n - 1
    return start


def strided_stop(n: int, start: int, end: int, stride: int, end_masked: bool, shrink: bool) -> int:
    """StridedSliceEndForAxis (TFLite Micro's Eval; ``offset`` is never set there)."""
    if shrink:
        return start if start >= n else start + 1
    stop = end + n if end < 0 else end
    stop = _clamp(stop, 0, n) if stride > 0 else _clamp(stop, -1, n - 1)
    if end_masked:
        stop = n if stride > 0 else -1
    return stop


def prepare_size(start: int, stop: int, stride: int) -> int:
    """The size CheckOutputSize (TFLite Micro's Prepare) computes: ``ceil((end - begin) / (float)stride)`` in
    float32, at least 0."""
    size = math.ceil(float(np.float32(stop - start) / np.float32(stride)))
    return max(size, 0)


def _index_vector(imp: Any, raw: Any, index: int, what: str, rank: int, types: tuple[int, ...]) -> np.ndarray:
    """A constant 1-D index operand with one entry per input dimension, of one of ``types``."""
    values = imp.const(raw, index, what)  # refuses a tensor computed at run time
    t = imp.raw.tensors[index]
    if t.type not in types:
        legal = " or ".join("int32" if ty == tflite.TensorType.INT32 else "int64" for ty in types)
        raise UnsupportedError(
            f"{imp.where(raw)}: its {what} ({imp.describe(index)}) must be {legal}: TFLite Micro reads it as {legal}"
        )
    if len(imp.shape(index)) != 1 or values.size != rank:
        raise TinygenError(
            f"{imp.where(raw)}: its {what} ({imp.describe(index)}) must be 1-D with one entry per dimension of the "
            f"input ({rank}); fix or re-export the model"
        )
    return values.astype(np.int64)


def _data_input(imp: Any, raw: Any, index: int) -> str:
    """The sliced tensor: int8 (an activation or a constant)."""
    t = imp.raw.tensors[index]
    if t.type != tflite.TensorType.INT8:
        raise UnsupportedError(
            f"{imp.where(raw)}: slices {imp.describe(index)}; tinygen slices int8 tensors only. A slice of an int32 "
            "tensor is shape arithmetic (SHAPE -> STRIDED_SLICE -> PACK of a dynamic batch size), which tinygen does "
            "not run: export the model with a fixed batch size (keras.Input(shape, batch_size=1))"
        )
    return imp.activation_tensor(raw, index)


def _operands(imp: Any, raw: Any, names: tuple[str, ...]) -> tuple[int, ...]:
    operands = imp.inputs(raw, len(names))
    if len(operands) != len(names) or any(i < 0 for i in operands):
        raise TinygenError(
            f"{imp.where(raw)}: has operands {list(operands)}, expected {len(names)} ({', '.join(names)}); "
            "corrupt model"
        )
    return operands


def _empty(imp: Any, raw: Any, x: int, axis: int, what: str) -> TinygenError:
    return TinygenError(
        f"{imp.where(raw)}: the slice of input {imp.describe(x)} along axis {axis} is empty ({what}); tinygen holds "
        "no zero-sized tensor: remove the op or fix the model"
    )


def _check_overflow(imp: Any, raw: Any, axis: int, start: int, stride: int, elements: int) -> None:
    """TFLite Micro steps an int index ``start, start + stride, ...`` until it passes the stop: the step after the
    last element must stay inside int32 (beyond it the index wraps, a C++ overflow, and the loop reads outside the
    input)."""
    after = start + elements * stride
    if not INT32_MIN <= after <= INT32_MAX:
        raise UnsupportedError(
            f"{imp.where(raw)}: strides[{axis}] = {stride} from index {start} steps to {after}, outside int32: TFLite "
            "Micro's index overflows there and it reads outside the input; use a stride no larger than the axis"
        )


def from_tflite_strided(imp: Any, raw: Any) -> Op:
    x, begin_i, end_i, strides_i = _operands(imp, raw, ("input", "begin", "end", "strides"))
    name = _data_input(imp, raw, x)
    shape = imp.shape(x)
    rank = len(shape)
    if not 1 <= rank <= MAX_RANK_STRIDED:
        raise UnsupportedError(
            f"{imp.where(raw)}: input {imp.describe(x)} has rank {rank}; TFLite Micro's STRIDED_SLICE supports ranks "
            f"1 to {MAX_RANK_STRIDED} (\"input dim should not exceed 4\"): reshape to at most 4 dimensions"
        )
    int32 = (tflite.TensorType.INT32,)
    begin = _index_vector(imp, raw, begin_i, "begin", rank, int32)
    end = _index_vector(imp, raw, end_i, "end", rank, int32)
    strides = _index_vector(imp, raw, strides_i, "strides", rank, int32)
    o = raw.options
    bits = (1 << rank) - 1
    for field_name, label in (("EllipsisMask", "ellipsis_mask"), ("NewAxisMask", "new_axis_mask")):
        if int(o[field_name]) & bits:
            raise UnsupportedError(
                f"{imp.where(raw)}: {label} {int(o[field_name])} is not supported: TFLite Micro's STRIDED_SLICE "
                f"ignores it (its Prepare sets {label} to 0), so it would not compute what the model means; express "
                "the slice with begin/end/strides per input dimension (and a RESHAPE for a new axis)"
            )
    if bool(o["Offset"]):
        raise UnsupportedError(
            f"{imp.where(raw)}: offset=true (end relative to begin) is not supported: TFLite Micro's STRIDED_SLICE "
            "ignores it and reads end as an absolute index; re-export the slice with absolute end indices"
        )
    begin_mask, end_mask, shrink_mask = (int(o[f]) & bits for f in ("BeginMask", "EndMask", "ShrinkAxisMask"))
    slices, shrink = [], []
    for axis, n in enumerate(shape):
        b, e, s = int(begin[axis]), int(end[axis]), int(strides[axis])
        if s == 0:
            raise TinygenError(
                f"{imp.where(raw)}: strides[{axis}] is 0; TFLite Micro refuses it (\"stride value has to be "
                "non-zero\"): every stride is a non-zero integer"
            )
        masked_begin, masked_end, shrunk = (bool(m >> axis & 1) for m in (begin_mask, end_mask, shrink_mask))
        start = strided_start(n, b, s, masked_begin)
        stop = strided_stop(n, start, e, s, masked_end, shrunk)
        if shrunk:
            index = b + n if b < 0 else b
            if s < 0:
                raise UnsupportedError(
                    f"{imp.where(raw)}: axis {axis} is shrunk (shrink_axis_mask) with stride {s}; TFLite Micro writes "
                    "no element for a shrunk axis with a negative stride: use stride 1 on shrunk axes"
                )
            if not 0 <= index < n:
                raise TinygenError(
                    f"{imp.where(raw)}: begin[{axis}] = {b} selects no element of axis {axis} (size {n}) of input "
                    f"{imp.describe(x)}: a shrunk axis (shrink_axis_mask) needs begin in [{-n}, {n - 1}]"
                )
            if start != index:
                raise UnsupportedError(
                    f"{imp.where(raw)}: axis {axis} is both shrunk and in begin_mask with begin[{axis}] = {b}: TFLite "
                    f"Micro takes element {start}, TensorFlow element {index}; clear the begin_mask bit of a shrunk "
                    "axis"
                )
            _check_overflow(imp, raw, axis, start, s, 1)
            slices.append((start, start + 1, 1))
            shrink.append(axis)
            continue
        elements = count(start, stop, s)
        if elements < 1:
            raise _empty(imp, raw, x, axis, f"begin {b}, end {e}, stride {s} resolve to start {start}, stop {stop}")
        _check_overflow(imp, raw, axis, start, s, elements)
        if prepare_size(start, stop, s) != elements:
            raise UnsupportedError(
                f"{imp.where(raw)}: axis {axis} (size {n}): TFLite Micro's Prepare computes the slice's size in "
                f"float32 ({prepare_size(start, stop, s)}), not the {elements} elements it copies; slice dimensions "
                "below 2^24"
            )
        slices.append((start, stop, s))
    return Op(KIND, "", [name], [], {"slices": tuple(slices), "shrink": tuple(shrink)})


def from_tflite_slice(imp: Any, raw: Any) -> Op:
    x, begin_i, size_i = _operands(imp, raw, ("input", "begin", "size"))
    name = _data_input(imp, raw, x)
    shape = imp.shape(x)
    rank = len(shape)
    if not 1 <= rank <= MAX_RANK_SLICE:
        raise UnsupportedError(
            f"{imp.where(raw)}: input {imp.describe(x)} has rank {rank}; TFLite Micro's SLICE supports ranks 1 to "
            f"{MAX_RANK_SLICE}: reshape to at most {MAX_RANK_SLICE} dimensions"
        )
    types = (tflite.TensorType.INT32, tflite.TensorType.INT64)
    begin = _index_vector(imp, raw, begin_i, "begin", rank, types)
    size = _index_vector(imp, raw, size_i, "size", rank, types)
    if imp.raw.tensors[begin_i].type != imp.raw.tensors[size_i].type:
        raise TinygenError(
            f"{imp.where(raw)}: its begin ({imp.describe(begin_i)}) and size ({imp.describe(size_i)}) have different "
            "types; TFLite Micro's SLICE needs one type (int32 or int64) for both; fix or re-export the model"
        )
    slices = []
    for axis, n in enumerate(shape):
        b, sz = int(begin[axis]), int(size[axis])
        if not 0 <= b < n:
            raise TinygenError(
                f"{imp.where(raw)}: begin[{axis}] = {b} is outside axis {axis} (size {n}) of input {imp.describe(x)}: "
                f"SLICE needs begin in [0, {n - 1}] (TFLite Micro does not check it and reads out of bounds)"
            )
        stop = n if sz == -1 else b + sz
        if sz < -1 or stop > n:
            raise TinygenError(
                f"{imp.where(raw)}: size[{axis}] = {sz} with begin {b} does not fit axis {axis} (size {n}) of input "
                f"{imp.describe(x)}: SLICE needs size in [1, {n - b}] or -1 (to the end) (TFLite Micro does not check "
                "it and reads out of bounds)"
            )
        if stop <= b:
            raise _empty(imp, raw, x, axis, f"begin {b}, size {sz}")
        slices.append((b, stop, 1))
    return Op(KIND, "", [name], [], {"slices": tuple(slices), "shrink": ()})


# --------------------------------------------------------------------------- SPLIT, SPLIT_V, UNPACK: rewritten


def _multi_operands(imp: Any, raw: Any, names: tuple[str, ...]) -> tuple[int, ...]:
    """The operands of an op with several outputs (``imp.inputs`` wants one output)."""
    operands = tuple(raw.inputs)
    if len(operands) != len(names) or any(i < 0 for i in operands) or not raw.outputs:
        raise TinygenError(
            f"{imp.where(raw)}: has operands {list(operands)} and {len(raw.outputs)} outputs, expected {len(names)} "
            f"operands ({', '.join(names)}) and at least one output; corrupt model"
        )
    return operands


def _axis_operand(imp: Any, raw: Any, index: int, rank: int) -> int:
    """SPLIT's and SPLIT_V's axis: a constant int32 tensor of one element (TFLite Micro's Prepare: "Non-constant
    >axis< tensor is not supported"; its Eval reads element 0 as int32), in ``[-rank, rank)`` (Eval's
    ``TF_LITE_ENSURE``), returned non-negative."""
    values = imp.const(raw, index, "axis")
    if imp.raw.tensors[index].type != tflite.TensorType.INT32 or values.size != 1:
        raise UnsupportedError(
            f"{imp.where(raw)}: its axis ({imp.describe(index)}) must be one int32 value: TFLite Micro reads element "
            "0 as int32"
        )
    axis = int(values[0])
    if not -rank <= axis < rank:
        raise TinygenError(
            f"{imp.where(raw)}: axis {axis} is out of range for an input of rank {rank}: give an axis in "
            f"[{-rank}, {rank - 1}] (TFLite Micro fails at run time)"
        )
    return axis + rank if axis < 0 else axis


def _split_input(imp: Any, raw: Any, x: int, what: str) -> tuple[str, tuple[int, ...]]:
    name = _data_input(imp, raw, x)
    shape = imp.shape(x)
    if not 1 <= len(shape) <= MAX_RANK:
        raise UnsupportedError(
            f"{imp.where(raw)}: input {imp.describe(x)} has rank {len(shape)}; tinygen {what}s inputs of rank 1 to "
            f"{MAX_RANK} (it rewrites {raw.name} into slices): reshape to at most {MAX_RANK} dimensions"
        )
    return name, shape


def _same_quantization(imp: Any, raw: Any, src: int, dst: int) -> None:
    """TFLite Micro's SPLIT, SPLIT_V, UNPACK and PACK copy bytes and check no quantization (TFLite's UNPACK and
    PACK require equal ones): an output quantized otherwise would not hold the input's real values."""
    a, b = imp.raw.tensors[src], imp.raw.tensors[dst]
    if a.scale is None or b.scale is None or a.scale.size != 1 or b.scale.size != 1:
        return  # imp.output / imp.activation_tensor refuse it with their own message
    sa, za, sb, zb = float(a.scale[0]), int(a.zero_point[0]), float(b.scale[0]), int(b.zero_point[0])
    if np.float32(sa) != np.float32(sb) or za != zb:
        raise TinygenError(
            f"{imp.where(raw)}: {imp.describe(src)} has scale {np.float32(sa)!s}, zero point {za} but "
            f"{imp.describe(dst)} has scale {np.float32(sb)!s}, zero point {zb}; TFLite Micro's {raw.name} copies "
            "bytes without requantizing, so they must be equal (TFLite refuses them otherwise): re-quantize the "
            "model (the TFLite converter gives them one quantization)"
        )


def _split_outputs(imp: Any, raw: Any, x: int, name: str, axis: int, sizes: list[int], shrink: bool) -> list[Op]:
    """One slice per output: the consecutive runs ``sizes`` of ``axis`` (each output's declared shape checked:
    TFLite Micro copies by the declared shapes and checks them only in debug builds), the axis left out of the
    output when ``shrink`` (UNPACK). An output that no op reads and that is no graph output gets no slice."""
    shape = imp.shape(x)
    parts, start = [], 0
    for position, size in enumerate(sizes):
        out_index = raw.outputs[position]
        expected = list(shape)
        expected[axis] = size
        if shrink:
            del expected[axis]
        declared = imp.raw.tensors[out_index].shape
        if tuple(declared) != tuple(expected):
            raise TinygenError(
                f"{imp.where(raw)}: output {position} ({imp.describe(out_index)}) has shape {list(declared)}, expected "
                f"{expected} from input {imp.describe(x)} along axis {axis}: fix or re-export the model"
            )
        _same_quantization(imp, raw, x, out_index)
        slices = tuple((start, start + size, 1) if k == axis else (0, n, 1) for k, n in enumerate(shape))
        start += size
        if not imp.consumers.get(out_index) and out_index not in imp.raw.outputs:
            continue  # a part nothing reads (x, _ = tf.split(...)): no copy
        out = imp.output(raw, KIND, position)
        parts.append(Op(KIND, "", [name], [out], {"slices": slices, "shrink": (axis,) if shrink else ()}))
    return parts


def from_tflite_split(imp: Any, raw: Any) -> list[Op]:
    """SPLIT (operands axis, input; ``num_splits`` equal parts): one slice per output. TFLite Micro copies by the
    output count and shapes; TFLite's Prepare also requires ``num_splits`` outputs and an even split."""
    axis_i, x = _multi_operands(imp, raw, ("axis", "input"))
    name, shape = _split_input(imp, raw, x, "split")
    axis = _axis_operand(imp, raw, axis_i, len(shape))
    num = int(raw.options["NumSplits"])
    if num != len(raw.outputs):
        raise TinygenError(
            f"{imp.where(raw)}: num_splits is {num} but the op has {len(raw.outputs)} outputs; TFLite requires one "
            "output per split: fix or re-export the model"
        )
    if shape[axis] % num:
        raise TinygenError(
            f"{imp.where(raw)}: axis {axis} of input {imp.describe(x)} (size {shape[axis]}) does not split into "
            f"{num} equal parts (TFLite: \"Not an even split\"); use SPLIT_V (tf.split with sizes) for unequal parts"
        )
    return _split_outputs(imp, raw, x, name, axis, [shape[axis] // num] * num, shrink=False)


def from_tflite_split_v(imp: Any, raw: Any) -> list[Op]:
    """SPLIT_V (operands input, size_splits, axis): one slice per output. TFLite Micro ignores size_splits (it
    copies by the declared output shapes); TFLite's Prepare resolves them (int32 or int64, at most one -1, summing
    to the axis' size) and shapes the outputs by them, so both are checked."""
    x, sizes_i, axis_i = _multi_operands(imp, raw, ("input", "size_splits", "axis"))
    name, shape = _split_input(imp, raw, x, "split")
    axis = _axis_operand(imp, raw, axis_i, len(shape))
    count_ = len(raw.outputs)
    if int(raw.options["NumSplits"]) != count_:
        raise TinygenError(
            f"{imp.where(raw)}: num_splits is {int(raw.options['NumSplits'])} but the op has {count_} outputs; TFLite "
            "requires one output per split: fix or re-export the model"
        )
    sizes = [int(v) for v in imp.const(raw, sizes_i, "size_splits")]
    if len(imp.shape(sizes_i)) != 1 or len(sizes) != count_:
        raise TinygenError(
            f"{imp.where(raw)}: its size_splits ({imp.describe(sizes_i)}) must be 1-D with one size per output "
            f"({count_}); fix or re-export the model"
        )
    n = shape[axis]
    if sizes.count(-1) > 1 or any(s < -1 for s in sizes):
        raise TinygenError(
            f"{imp.where(raw)}: size_splits {sizes} must be sizes >= 1 with at most one -1 (the rest of the axis) "
            "(TFLite: \"The size_splits contains more than one -1.\"); fix or re-export the model"
        )
    known = sum(s for s in sizes if s != -1)
    if -1 in sizes and known < n:
        sizes[sizes.index(-1)] = n - known
    if sum(sizes) != n or 0 in sizes:
        raise TinygenError(
            f"{imp.where(raw)}: size_splits {[int(v) for v in imp.const(raw, sizes_i, 'size_splits')]} do not split "
            f"axis {axis} (size {n}) of input {imp.describe(x)} into non-empty parts: they must sum to {n} (a -1 "
            "takes the rest, which must be at least 1); tinygen holds no zero-sized tensor"
        )
    return _split_outputs(imp, raw, x, name, axis, sizes, shrink=False)


def from_tflite_unpack(imp: Any, raw: Any) -> list[Op]:
    """UNPACK (``num`` outputs along ``axis``): per output one slice of one element along the axis, the axis left
    out (the slice's ``shrink``; the bytes are the same as a slice then a reshape). TFLite Micro writes ``num``
    outputs (more than the op has is out of bounds) with the input's stride ``num`` along the axis."""
    (x,) = _multi_operands(imp, raw, ("input",))
    name, shape = _split_input(imp, raw, x, "unpack")
    rank, num, axis = len(shape), int(raw.options["Num"]), int(raw.options["Axis"])
    if not -rank <= axis < rank:
        raise TinygenError(
            f"{imp.where(raw)}: axis {axis} is out of range for input {imp.describe(x)}: give an axis in [{-rank}, "
            f"{rank - 1}]; fix or re-export the model"
        )
    axis = axis + rank if axis < 0 else axis
    if num != len(raw.outputs) or num != shape[axis]:
        raise TinygenError(
            f"{imp.where(raw)}: num is {num} but the op has {len(raw.outputs)} outputs and axis {axis} of input "
            f"{imp.describe(x)} has size {shape[axis]}: UNPACK needs num = outputs = the axis' size (TFLite Micro "
            "writes num outputs); fix or re-export the model"
        )
    return _split_outputs(imp, raw, x, name, axis, [1] * num, shrink=True)


# --------------------------------------------------------------------------- Keras


def _cropped(layer: Any, size: int, before: int, after: int, axis: int) -> tuple[int, int, int]:
    from tinygen.quantize.layers import layer_error

    if before < 0 or after < 0 or before + after >= size:
        raise layer_error(layer, f"cropping ({before}, {after}) of axis {axis} (size {size}) leaves no element; "
                                 f"crop at most {size - 1} in all")
    return (before, size - after, 1)


def _crop(b: Any, layer: Any, inputs: list[str], rank: int, cropping: list[tuple[int, int]]) -> str:
    from tinygen.quantize.layers import _require_rank, single_input

    x = single_input(layer, inputs)
    _require_rank(layer, b, x, rank)
    shape = b.shape(x)
    slices = [(0, n, 1) for n in shape]
    for axis, (before, after) in enumerate(cropping, start=1):
        slices[axis] = _cropped(layer, shape[axis], int(before), int(after), axis)
    out = tuple(count(*s) for s in slices)
    return b.op(KIND, layer.name, [x], out, slices=tuple(slices), shrink=())


def from_keras_cropping1d(b: Any, layer: Any, inputs: list[str]) -> str:
    """Cropping1D((before, after)) of [N, L, C]."""
    before, after = (int(v) for v in layer.get_config()["cropping"])
    return _crop(b, layer, inputs, 3, [(before, after)])


def from_keras_cropping2d(b: Any, layer: Any, inputs: list[str]) -> str:
    """Cropping2D(((top, bottom), (left, right))) of [N, H, W, C] (channels_last)."""
    from tinygen.quantize.layers import _channels_last

    _channels_last(layer)
    (top, bottom), (left, right) = (tuple(int(v) for v in pair) for pair in layer.get_config()["cropping"])
    return _crop(b, layer, inputs, 4, [(top, bottom), (left, right)])


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return xs[0][_basic_index(attrs["slices"], attrs.get("shrink", ()))]


# --------------------------------------------------------------------------- lowering


def canonical(shape: tuple[int, ...], slices: tuple[tuple[int, int, int], ...]) -> tuple[int, list[int], list[int]]:
    """The same copy in the fewest dimensions: (input offset of the first element, element count and signed input
    stride of each output dimension, outermost first). Dimensions of one element are dropped (their start is in
    the offset); an outer dimension whose stride is the inner one's count times its stride is merged with it (one
    longer run: contiguous, evenly strided or reversed)."""
    rank = len(shape)
    elem_strides = [int(np.prod(shape[k + 1:], dtype=np.int64)) for k in range(rank)]
    offset = sum(start * st for (start, _, _), st in zip(slices, elem_strides))
    merged: list[tuple[int, int]] = []
    for (start, stop, step), st in zip(slices, elem_strides):
        n = count(start, stop, step)
        if n == 1:
            continue
        stride = step * st
        if merged and merged[-1][1] == n * stride:
            merged[-1] = (merged[-1][0] * n, stride)
        else:
            merged.append((n, stride))
    return offset, [n for n, _ in merged], [s for _, s in merged]


def kernel_args(dims: list[int], strides: list[int]) -> tuple[list[int], list[int]]:
    """tg_slice_s8's (counts [4], strides [4]) of a canonical slice of at most 4 dimensions: leading dimensions
    padded with count 1, stride 0; none at all (one element) is one run of 1."""
    if not dims:
        dims, strides = [1], [1]
    pad = KERNEL_DIMS - len(dims)
    return [1] * pad + list(dims), [0] * pad + list(strides)


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    offset, dims, strides = canonical(x.shape, p.slices)
    what = f"slice {shape_str(x)} by {[list(s) for s in p.slices]}"
    what += f" shrinking {list(p.shrink)}" if p.shrink else ""
    if len(dims) > KERNEL_DIMS:
        raise UnsupportedError(
            f"{common.where(op)}: slices {p.slices} of input {x.name!r} of shape {x.shape} need {len(dims)} dimensions "
            f"after dropping single elements and merging contiguous runs; tinygen's slice kernel walks at most "
            f"{KERNEL_DIMS}: slice in two steps (two SLICE ops) or reshape first"
        )
    kdims, kstrides = kernel_args(dims, strides)
    if int(np.prod(kdims)) != out.size:
        raise TinygenError(f"{common.where(op)}: the slice copies {int(np.prod(kdims))} elements but output "
                           f"{out.name!r} of shape {out.shape} holds {out.size}: fix the output shape")
    args = (const_ptr(ctx, x.name), str(offset), i32(ctx, op, "dims", kdims), i32(ctx, op, "strides", kstrides),
            ctx.tensor_ptr(out.name))
    return KernelCall("tg_slice_s8", args, comment=f"{what} -> {shape_str(out)} (from element {offset}, counts "
                      f"{kdims}, strides {kstrides})")


def in_place(graph: Graph, op: Op) -> bool:
    """With every canonical stride positive the output is a subsequence of the input in the same order: output
    element k comes from input element ``f(k) >= k``, f increasing, and tg_slice_s8 writes in order after reading
    (memmove within a run), so the output may start at its dying input's offset. A reversed dimension reads
    backwards: not in place."""
    x = graph.tensor(op.inputs[0])
    _, _, strides = canonical(x.shape, _resolved(graph, op).slices)
    return all(s > 0 for s in strides)


OP = OpDef(
    kind=KIND,
    attrs=(Attr("slices", slice_triples), Attr("shrink", axis_set, ())),
    infer_shape=infer_shape,
    num_inputs=(1, 1),
    check=_check,
    params=params,
    reference=reference,
    data_inputs=1,
    float_reference=float_reference,
    quant_rule=SAME_AS_INPUT,
    tflite=(
        TfliteMapping("STRIDED_SLICE", from_tflite_strided, tflite.StridedSliceOptions,
                      {"BeginMask": 0, "EndMask": 0, "EllipsisMask": 0, "NewAxisMask": 0, "ShrinkAxisMask": 0,
                       "Offset": False}),
        TfliteMapping("SLICE", from_tflite_slice),
        TfliteMapping("SPLIT", from_tflite_split, tflite.SplitOptions, {"NumSplits": 0}),
        TfliteMapping("SPLIT_V", from_tflite_split_v, tflite.SplitVOptions, {"NumSplits": 0}),
        TfliteMapping("UNPACK", from_tflite_unpack, tflite.UnpackOptions, {"Num": 0, "Axis": 0}),
    ),
    keras_layers={"Cropping1D": from_keras_cropping1d, "Cropping2D": from_keras_cropping2d},
    lowerings=(lower,),
    in_place=in_place,
    qat=QatHooks(forward=_qat_forward),
)
