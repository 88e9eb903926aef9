"""STRIDED_SLICE and SLICE (tinygen/ops/slice.py, kernel templates/kernels/tg_slice_s8.{c,h}).

* the import-time resolution of begin/end/strides with their masks (TFLite Micro's StridedSliceStartForAxis /
  StridedSliceEndForAxis) and of begin/size, by hand, and the offline canonicalisation of the kernel's loops;
* the reference against TFLite Micro's interpreter and against numpy's slicing (TensorFlow's meaning) over
  random shapes, indices (negative, out of range, int32 extremes), strides (negative too) and masks
  (hypothesis, hand-built single-op ``.tflite`` files), and on models of TensorFlow's converter;
* every refusal, with TFLite Micro's own behaviour where it accepts what tinygen refuses (an unwritten output,
  an ignored mask);
* the generated C against the reference on the host (gcc and clang, -Wall -Wextra -Werror -pedantic,
  ASan/UBSan), in place and not, a constant sliced tensor, and in QEMU on Cortex-M3 and M7;
* ``tinygen convert`` on a model with the ops and on the real model arm_micronet_cifar10.
"""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path
from typing import Any

import hostbuild
import numpy as np
import pytest
import test_reference_ops
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_op_logistic import check_c
from test_reference_ops import FbOp, FbTensor, build_tflite

from tinygen import reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import slice as slice_op
from tinygen.oracle import tflm_run
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
REAL_MODEL = Path("/work/shared/models/real/arm_micronet_cifar10.tflite")
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
SCALE, ZP = 0.0625, -7

# the hand-built flatbuffers need int64 index tensors for SLICE (TFLite's type code 4)
test_reference_ops._FB_TYPES.setdefault("int64", 4)


# --------------------------------------------------------------------------- models


def _index(name: str, values: list[int], dtype: str = "int32") -> FbTensor:
    return FbTensor(name, (len(values),), dtype, data=np.asarray(values, dtype=np.dtype(dtype)))


def strided_model(shape: tuple[int, ...], begin: list[int], end: list[int], strides: list[int],
                  out_shape: tuple[int, ...], *, begin_mask: int = 0, end_mask: int = 0, shrink: int = 0,
                  ellipsis: int = 0, new_axis: int = 0, offset: bool = False, index_dtype: str = "int32",
                  out_quant: tuple[float, int] = (SCALE, ZP)) -> bytes:
    """A .tflite holding one int8 STRIDED_SLICE of the graph input."""
    tensors = [FbTensor("x", shape, "int8", SCALE, ZP), _index("begin", begin, index_dtype),
               _index("end", end, index_dtype), _index("strides", strides, index_dtype),
               FbTensor("y", out_shape, "int8", *out_quant)]
    fields = {"BeginMask": begin_mask, "EndMask": end_mask, "EllipsisMask": ellipsis, "NewAxisMask": new_axis,
              "ShrinkAxisMask": shrink, "Offset": offset}
    return build_tflite(tensors, [FbOp("STRIDED_SLICE", [0, 1, 2, 3], [4], "StridedSliceOptions", fields)], [0], [4])


def slice_model(shape: tuple[int, ...], begin: list[int], size: list[int], out_shape: tuple[int, ...],
                index_dtype: str = "int32", size_dtype: str | None = None) -> bytes:
    """A .tflite holding one int8 SLICE of the graph input."""
    tensors = [FbTensor("x", shape, "int8", SCALE, ZP), _index("begin", begin, index_dtype),
               _index("size", size, size_dtype or index_dtype), FbTensor("y", out_shape, "int8", SCALE, ZP)]
    return build_tflite(tensors, [FbOp("SLICE", [0, 1, 2], [3])], [0], [3])


def _ss(inputs: list[int], out: int, begin_mask: int = 0, end_mask: int = 0, shrink: int = 0) -> FbOp:
    fields = {"BeginMask": begin_mask, "EndMask": end_mask, "ShrinkAxisMask": shrink}
    return FbOp("STRIDED_SLICE", inputs, [out], "StridedSliceOptions", fields)


#: the constant tensor the chain slices (shape (2, 4, 5))
CONST = ((np.arange(40) * 37) % 256 - 128).astype(np.int8).reshape(2, 4, 5)


def chain_model() -> bytes:
    """x [1, 7, 9, 6] -> a = x[:, 1:, 8:0:-2, :] [1, 6, 4, 6] (reversed rows, contiguous channels; x is a graph
    input dying here, but a reversed slice is not in place) -> b = a[:, ::2, :, ::-1] [1, 3, 4, 6] (reversed
    innermost: a gather with stride -1) -> c = b[0, 1:, :, 1::2] [2, 4, 3] (shrunk batch, stride 2: in place)
    -> d = SLICE(c, [1, 0, 0], [1, -1, -1]) [1, 4, 3] (one contiguous run: in place) -> y = d + k, with
    k = K[1:, :, ::-2] [1, 4, 3] a STRIDED_SLICE of a constant tensor K [2, 4, 5]."""
    q = (SCALE, ZP)
    tensors = [
        FbTensor("x", (1, 7, 9, 6), "int8", *q),  # 0
        _index("a_begin", [0, 1, 8, 0]), _index("a_end", [1, 7, 0, 6]), _index("a_strides", [1, 1, -2, 1]),  # 1-3
        FbTensor("a", (1, 6, 4, 6), "int8", *q),  # 4
        _index("b_begin", [0, 0, 0, 0]), _index("b_end", [0, 0, 0, 0]), _index("b_strides", [1, 2, 1, -1]),  # 5-7
        FbTensor("b", (1, 3, 4, 6), "int8", *q),  # 8
        _index("c_begin", [0, 1, 0, 1]), _index("c_end", [1, 3, 4, 6]), _index("c_strides", [1, 1, 1, 2]),  # 9-11
        FbTensor("c", (2, 4, 3), "int8", *q),  # 12
        _index("d_begin", [1, 0, 0]), _index("d_size", [1, -1, -1]),  # 13-14
        FbTensor("d", (1, 4, 3), "int8", *q),  # 15
        FbTensor("K", (2, 4, 5), "int8", 0.03, 9, data=CONST),  # 16
        _index("k_begin", [1, 0, 4]), _index("k_end", [2, 4, -6]), _index("k_strides", [1, 1, -2]),  # 17-19
        FbTensor("k", (1, 4, 3), "int8", 0.03, 9),  # 20
        FbTensor("y", (1, 4, 3), "int8", 0.09, -3),  # 21
    ]
    ops = [
        _ss([0, 1, 2, 3], 4),
        _ss([4, 5, 6, 7], 8, begin_mask=0b1111, end_mask=0b1111),
        _ss([8, 9, 10, 11], 12, shrink=0b0001),
        FbOp("SLICE", [12, 13, 14], [15]),
        _ss([16, 17, 18, 19], 20),
        FbOp("ADD", [15, 20], [21], "AddOptions", {"FusedActivationFunction": 0}),
    ]
    return build_tflite(tensors, ops, [0], [21])


def _ir_graph(x_shape: tuple[int, ...], slices: Any, shrink: Any, out_shape: tuple[int, ...],
              out_quant: tuple[float, int] = (SCALE, ZP), dtype: str = "int8") -> Graph:
    g = Graph("slice")
    g.add_tensor(Tensor("x", x_shape, dtype, Quantization([SCALE], [ZP])))
    g.add_tensor(Tensor("y", out_shape, "int8", Quantization([out_quant[0]], [out_quant[1]])))
    g.add_op(Op("strided_slice", "s", ["x"], ["y"], {"slices": slices, "shrink": shrink}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def _random_input(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, shape).astype(np.int8)


def _numpy_strided(x: np.ndarray, begin: list[int], end: list[int], strides: list[int], begin_mask: int,
                   end_mask: int, shrink: int) -> np.ndarray:
    """TensorFlow's (and numpy's) meaning of the slice: ``x[b:e:s, ...]`` with masked bounds left out and
    shrunk axes indexed by ``begin``."""
    index: list[Any] = []
    for k in range(x.ndim):
        if shrink >> k & 1:
            index.append(begin[k])
        else:
            index.append(slice(None if begin_mask >> k & 1 else begin[k], None if end_mask >> k & 1 else end[k],
                               strides[k]))
    return x[tuple(index)]


def _verdict(shape: tuple[int, ...], begin: list[int], end: list[int], strides: list[int], begin_mask: int,
             end_mask: int, shrink: int) -> str | None:
    """The refusal tinygen must give (a regex of its message), or None: the first axis with a problem wins."""
    for k, n in enumerate(shape):
        if shrink >> k & 1:
            if strides[k] < 0:
                return "shrunk .* with stride -?\\d+; TFLite Micro writes no element"
            index = begin[k] + n if begin[k] < 0 else begin[k]
            if not 0 <= index < n:
                return f"begin\\[{k}\\] = -?\\d+ selects no element"
            if begin_mask >> k & 1 and index != (0 if strides[k] > 0 else n - 1):
                return f"axis {k} is both shrunk and in begin_mask"
            start, elements = index, 1
        else:
            bounds = slice(None if begin_mask >> k & 1 else begin[k], None if end_mask >> k & 1 else end[k], strides[k])
            start, _, _ = bounds.indices(n)
            elements = len(range(*bounds.indices(n)))
            if elements == 0:
                return f"along axis {k} is empty"
        if not INT32_MIN <= start + elements * strides[k] <= INT32_MAX:
            return f"strides\\[{k}\\] = -?\\d+ from index {start} steps to -?\\d+, outside int32"
    return None


# --------------------------------------------------------------------------- resolution by hand


def test_strided_resolution_by_hand() -> None:
    """StridedSliceStartForAxis / StridedSliceEndForAxis on an axis of size 5."""
    start, stop = slice_op.strided_start, slice_op.strided_stop
    assert start(5, -2, 1, False) == 3 and stop(5, 3, -1, 1, False, False) == 4  # x[-2:-1]
    assert start(5, -100, 1, False) == 0 and stop(5, 0, 100, 1, False, False) == 5  # clamped to [0, n]
    assert start(5, 100, -1, False) == 4 and stop(5, 4, -100, -1, False, False) == -1  # clamped to [-1, n-1]
    assert start(5, 3, -1, True) == 4 and stop(5, 4, 3, -1, False, False) == 3  # begin_mask backwards: n - 1
    assert stop(5, 4, 3, -1, True, False) == -1  # end_mask backwards: -1
    assert start(5, 3, 2, True) == 0 and stop(5, 0, 1, 2, True, False) == 5  # masks: 0 and n forwards
    assert stop(5, 2, 0, 1, False, True) == 3 and stop(5, 5, 0, 1, False, True) == 5  # shrink: start + 1, or start
    assert start(5, INT32_MIN, 1, False) == 0 and start(5, INT32_MAX, -1, False) == 4
    # Prepare's float32 size: exact for realistic sizes, not beyond 2^24
    assert slice_op.prepare_size(4, -1, -2) == 3 and slice_op.prepare_size(0, 5, 2) == 3
    assert slice_op.prepare_size(0, (1 << 24) + 1, 1) == 1 << 24


def test_import_resolves_masks_and_negative_indices() -> None:
    data = strided_model((2, 5, 6), [1, -1, 100], [0, -6, 0], [1, -2, -2], (1, 3, 3), begin_mask=0, end_mask=0b001)
    graph = import_tflite(data)
    op = graph.ops[0]
    assert op.kind == "strided_slice"
    assert op.attrs == {"slices": ((1, 2, 1), (4, -1, -2), (5, 0, -2)), "shrink": ()}
    data = strided_model((3, 4), [2, 7], [0, 9], [1, 3], (2,), begin_mask=0b10, end_mask=0b10, shrink=0b01)
    assert import_tflite(data).ops[0].attrs == {"slices": ((2, 3, 1), (0, 4, 3)), "shrink": (0,)}
    data = slice_model((3, 4, 5), [1, 0, 2], [-1, 2, 3], (2, 2, 3), index_dtype="int64")
    assert import_tflite(data).ops[0].attrs == {"slices": ((1, 3, 1), (0, 2, 1), (2, 5, 1)), "shrink": ()}


def test_canonical_by_hand() -> None:
    """Offset of the first element; single elements dropped; whole inner runs merged outward."""
    shape = (1, 32, 32, 16)
    # x[..., :8] (arm_micronet): 1024 runs of 8 contiguous bytes, 16 apart
    assert slice_op.canonical(shape, ((0, 1, 1), (0, 32, 1), (0, 32, 1), (0, 8, 1))) == (0, [1024, 8], [16, 1])
    # a whole tensor: one run
    assert slice_op.canonical(shape, ((0, 1, 1), (0, 32, 1), (0, 32, 1), (0, 16, 1))) == (0, [16384], [1])
    # rows 2..5 of everything: one run from row 2
    assert slice_op.canonical(shape, ((0, 1, 1), (2, 6, 1), (0, 32, 1), (0, 16, 1))) == (1024, [2048], [1])
    # a full reversal merges into one reversed run from the last element
    assert slice_op.canonical((3, 4), ((2, -1, -1), (3, -1, -1))) == (11, [12], [-1])
    # every other row, reversed channels
    assert slice_op.canonical((4, 5, 3), ((0, 4, 2), (0, 5, 1), (2, -1, -1))) == (2, [2, 5, 3], [30, 3, -1])
    # one element
    assert slice_op.canonical((4, 5), ((3, 4, 1), (2, 3, 1))) == (17, [], [])
    assert slice_op.kernel_args([], []) == ([1, 1, 1, 1], [0, 0, 0, 1])
    assert slice_op.kernel_args([1024, 8], [16, 1]) == ([1, 1, 1024, 8], [0, 0, 16, 1])


def test_in_place_predicate() -> None:
    forward = _ir_graph((4, 6), ((1, 4, 2), (0, 6, 1)), (), (2, 6))
    backward = _ir_graph((4, 6), ((0, 4, 1), (5, 0, -1)), (), (4, 5))
    single_reversed = _ir_graph((4, 6), ((3, 2, -1), (0, 6, 1)), (), (1, 6))  # a reversed axis of one element
    for g, want in ((forward, True), (backward, False), (single_reversed, True)):
        g.validate()
        assert slice_op.OP.in_place is not None and slice_op.OP.in_place(g, g.ops[0]) is want


# --------------------------------------------------------------------------- checks and refusals


@pytest.mark.parametrize(("slices", "shrink", "out_shape", "match"), [
    (((0, 4, 1),), (), (4,), r"slices .* have 1 entries for input 'x' of shape \(4, 6\) \(rank 2\)"),
    (((0, 4, 1), (0, 7, 1)), (), (4, 7), r"slice \(0, 7, 1\) of axis 1 \(size 6\) .* needs 0 <= start < stop <= 6"),
    (((4, 5, 1), (0, 6, 1)), (), (1, 6), r"slice \(4, 5, 1\) of axis 0 \(size 4\)"),
    (((2, 2, 1), (0, 6, 1)), (), (0, 6), r"empty or out of range"),
    (((0, 4, 1), (6, -1, -1)), (), (4, 6), r"with step -1 it needs -1 <= stop < start <= 5"),
    (((0, 4, 1), (5, -2, -1)), (), (4, 7), r"with step -1 it needs -1 <= stop < start <= 5"),
    (((0, 4, 1), (0, 6, 1)), (0,), (6,), r"shrunk axis 0 holds 4 elements of input 'x'"),
    (((0, 1, 1), (0, 6, 1)), (2,), (6,), r"shrunk axis 2 is not an axis of input 'x'"),
])
def test_ir_checks(slices: Any, shrink: Any, out_shape: tuple[int, ...], match: str) -> None:
    with pytest.raises(TinygenError, match=match):
        _ir_graph((4, 6), slices, shrink, out_shape).validate()


@pytest.mark.parametrize(("slices", "shrink", "match"), [
    (((0, 4, 0), (0, 6, 1)), (), r"attribute 'slices': triple \(0, 4, 0\) has step 0"),
    (((0, 4), (0, 6, 1)), (), r"attribute 'slices': .* is not a tuple of \(start, stop, step\) triples"),
    (((0, 1 << 31, 1), (0, 6, 1)), (), r"attribute 'slices': 2147483648 is outside the int32 range"),
    (((0, 4, 1), (0, 6, 1)), (1, 1), r"attribute 'shrink': \(1, 1\) are not distinct non-negative axes"),
    (((0, 4, 1), (0, 6, 1)), (-1,), r"attribute 'shrink': \(-1,\) are not distinct non-negative axes"),
])
def test_attribute_checks(slices: Any, shrink: Any, match: str) -> None:
    with pytest.raises(TinygenError, match=match):
        _ir_graph((4, 6), slices, shrink, (4, 6)).validate()


def test_declared_output_shape_must_be_exact() -> None:
    _ir_graph((4, 6), ((1, 4, 2), (5, 0, -2)), (), (2, 3)).validate()
    with pytest.raises(TinygenError, match=r"output 'y' has shape \(2, 2\), expected \(2, 3\)"):
        _ir_graph((4, 6), ((1, 4, 2), (5, 0, -2)), (), (2, 2)).validate()
    with pytest.raises(TinygenError, match=r"output 'y' has shape \(1, 3\), expected \(3,\)"):
        _ir_graph((4, 6), ((1, 2, 1), (5, 0, -2)), (0,), (1, 3)).validate()
    # from a .tflite: TFLite Micro's Prepare refuses it too
    data = strided_model((4, 6), [1, 5], [4, 0], [2, -2], (2, 2))
    with pytest.raises(TinygenError, match=r"has shape \(2, 2\), expected \(2, 3\)"):
        import_tflite(data)
    with pytest.raises(TinygenError, match="failed to prepare|cannot load"):
        tflm_run(data, [np.zeros((4, 6), np.int8)])
    # SLICE: TFLite Micro checks no output shape; tinygen does
    with pytest.raises(TinygenError, match=r"has shape \(2, 5\), expected \(2, 4\)"):
        import_tflite(slice_model((4, 6), [1, 2], [2, -1], (2, 5)))


@pytest.mark.parametrize("out_quant", [(SCALE * 2, ZP), (SCALE, ZP + 1)])
def test_quantization_mismatch_is_refused(out_quant: tuple[float, int]) -> None:
    g = _ir_graph((4, 6), ((0, 4, 1), (0, 3, 1)), (), (4, 3), out_quant=out_quant)
    with pytest.raises(TinygenError, match=r"input 'x' has scale .* but output 'y' has scale .*copy bytes, so they "
                                           r"must be equal"):
        g.validate()
    with pytest.raises(TinygenError, match="must be equal"):
        import_tflite(strided_model((4, 6), [0, 0], [4, 3], [1, 1], (4, 3), out_quant=out_quant))


def test_int8_only() -> None:
    with pytest.raises(UnsupportedError, match="tensor 'x' is int16.*int8 only"):
        _ir_graph((4, 6), ((0, 4, 1), (0, 3, 1)), (), (4, 3), dtype="int16").validate()


#: (model, regex of tinygen's refusal, what TFLite Micro does with it: "refuses", "ignores" or "unwritten")
REFUSALS = {
    "ellipsis_mask": (lambda: strided_model((4, 6), [1, 2], [3, 4], [1, 1], (2, 2), ellipsis=1),
                      r"ellipsis_mask 1 is not supported: TFLite Micro's STRIDED_SLICE ignores it", "ignores"),
    "new_axis_mask": (lambda: strided_model((4, 6), [0, 2], [1, 4], [1, 1], (1, 2), new_axis=1),
                      r"new_axis_mask 1 is not supported: TFLite Micro's STRIDED_SLICE ignores it", "ignores"),
    "offset": (lambda: strided_model((4, 6), [1, 2], [2, 2], [1, 1], (2, 2), offset=True),
               r"offset=true .* is not supported: TFLite Micro's STRIDED_SLICE ignores it", "refuses"),
    "stride_0": (lambda: strided_model((4, 6), [1, 2], [3, 4], [0, 1], (2, 2)),
                 r"strides\[0\] is 0; TFLite Micro refuses it", "refuses"),
    "rank_5": (lambda: strided_model((1, 2, 3, 4, 5), [0] * 5, [1, 2, 3, 4, 5], [1] * 5, (1, 2, 3, 4, 5)),
               r"input .* has rank 5; TFLite Micro's STRIDED_SLICE supports ranks 1 to 4", "refuses"),
    "int64_indices": (lambda: strided_model((4, 6), [1, 2], [3, 4], [1, 1], (2, 2), index_dtype="int64"),
                      r"its begin .* must be int32: TFLite Micro reads it as int32", None),
    "short_begin": (lambda: build_tflite(
        [FbTensor("x", (4, 6), "int8", SCALE, ZP), _index("begin", [1]), _index("end", [3, 4]),
         _index("strides", [1, 1]), FbTensor("y", (2, 2), "int8", SCALE, ZP)],
        [_ss([0, 1, 2, 3], 4)], [0], [4]),
        r"its begin .* must be 1-D with one entry per dimension of the input \(2\)", None),
    "shrink_negative_stride": (lambda: strided_model((4, 6), [1, 0], [2, 6], [-1, 1], (6,), shrink=1),
                               r"axis 0 is shrunk \(shrink_axis_mask\) with stride -1; TFLite Micro writes no element",
                               "unwritten"),
    "shrink_past_the_end": (lambda: strided_model((4, 6), [4, 0], [5, 6], [1, 1], (6,), shrink=1),
                            r"begin\[0\] = 4 selects no element of axis 0 \(size 4\).*needs begin in \[-4, 3\]",
                            "unwritten"),
    "shrink_before_the_start": (lambda: strided_model((4, 6), [-5, 0], [0, 6], [1, 1], (6,), shrink=1),
                                r"begin\[0\] = -5 selects no element", None),
    "shrink_and_begin_mask": (lambda: strided_model((4, 6), [2, 0], [3, 6], [1, 1], (6,), shrink=1, begin_mask=1),
                              (r"axis 0 is both shrunk and in begin_mask with begin\[0\] = 2: TFLite Micro takes "
                               r"element 0, TensorFlow element 2"), None),
    "empty": (lambda: strided_model((4, 6), [3, 0], [1, 6], [1, 1], (1, 6)),
              r"the slice of input .* along axis 0 is empty \(begin 3, end 1, stride 1 resolve to start 3, stop 1\)",
              None),
    "slice_begin_out_of_range": (lambda: slice_model((4, 6), [4, 0], [1, 6], (1, 6)),
                                 r"begin\[0\] = 4 is outside axis 0 \(size 4\).*SLICE needs begin in \[0, 3\]", None),
    "slice_negative_begin": (lambda: slice_model((4, 6), [0, -1], [1, 1], (1, 1)),
                             r"begin\[1\] = -1 is outside axis 1", None),
    "slice_size_too_large": (lambda: slice_model((4, 6), [1, 2], [3, 5], (3, 5)),
                             r"size\[1\] = 5 with begin 2 does not fit axis 1 \(size 6\).*size in \[1, 4\] or -1",
                             None),
    "slice_size_negative": (lambda: slice_model((4, 6), [1, 2], [3, -2], (3, 1)),
                            r"size\[1\] = -2 with begin 2 does not fit", None),
    "slice_size_zero": (lambda: slice_model((4, 6), [1, 2], [0, 2], (1, 2)), r"along axis 0 is empty", None),
    "slice_mixed_types": (lambda: slice_model((4, 6), [1, 2], [1, 2], (1, 2), index_dtype="int32",
                                              size_dtype="int64"),
                          r"begin .* and size .* have different types", None),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals(case: str) -> None:
    build, match, tflm = REFUSALS[case]
    data = build()
    with pytest.raises(TinygenError, match=match):
        import_tflite(data)
    x = _random_input((4, 6), 1) if case != "rank_5" else _random_input((1, 2, 3, 4, 5), 1)
    if tflm == "refuses":
        with pytest.raises(TinygenError, match="failed to prepare|cannot load"):
            tflm_run(data, [x])
    elif tflm == "unwritten":
        # TFLite Micro runs it and leaves the output as it was: it does not depend on the input
        outputs = {tflm_run(data, [_random_input((4, 6), seed)])["y"].tobytes() for seed in range(3)}
        assert len(outputs) == 1
    elif tflm == "ignores":
        # TFLite Micro computes the slice as if the mask were 0 (not TensorFlow's meaning of it)
        got = tflm_run(data, [x])["y"]
        np.testing.assert_array_equal(got, x[1:3, 2:4] if case == "ellipsis_mask" else x[0:1, 2:4])


def test_non_constant_begin_is_refused() -> None:
    tensors = [FbTensor("x", (4, 6), "int8", SCALE, ZP), FbTensor("begin", (2,), "int32"), _index("end", [3, 4]),
               _index("strides", [1, 1]), FbTensor("y", (2, 2), "int8", SCALE, ZP)]
    # begin has no data: computed at run time (by an op the importer would refuse anyway)
    data = build_tflite(tensors, [_ss([0, 1, 2, 3], 4)], [0], [4])
    with pytest.raises(TinygenError, match=r"its begin \(tensor 'begin' \[2\] int32\) must be a constant"):
        import_tflite(data)


def test_int32_input_is_refused_as_shape_arithmetic() -> None:
    """SHAPE -> STRIDED_SLICE -> PACK (a dynamic batch size) slices an int32 tensor: that is constant folding,
    refused with what to do instead; here the int32 tensor is a constant, as after folding SHAPE."""
    tensors = [FbTensor("x", (4, 6), "int8", SCALE, ZP),
               FbTensor("shape", (4,), "int32", data=np.array([1, 8, 8, 3], np.int32)),
               _index("begin", [0]), _index("end", [1]), _index("strides", [1]), FbTensor("n", (), "int32"),
               FbTensor("y", (4, 6), "int8", SCALE, ZP)]
    ops = [_ss([1, 2, 3, 4], 5, shrink=1), FbOp("RELU", [0], [6])]
    data = build_tflite(tensors, ops, [0], [6, 5])
    with pytest.raises(UnsupportedError, match=r"slices tensor 'shape' \[4\] int32; tinygen slices int8 tensors only.*"
                                               r"SHAPE -> STRIDED_SLICE -> PACK.*fixed batch size"):
        import_tflite(data)


# --------------------------------------------------------------------------- against TFLite Micro


@st.composite
def strided_cases(draw: Any) -> tuple:
    """Mostly slices that select something (begin and end on the stride's side, as positive or negative indices,
    or past the ends), some wild ones (any index, int32 extremes: most of them refused), random masks."""
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank)))
    wild = st.one_of(st.integers(-8, 8), st.sampled_from([INT32_MIN, INT32_MIN + 1, INT32_MAX, -(1 << 20), 1 << 20]))
    begin, end, strides = [], [], []
    begin_mask = end_mask = shrink = 0
    for k, n in enumerate(shape):
        stride = draw(st.sampled_from([1, 1, 1, 2, 3, 7, -1, -1, -2, -3]))
        if draw(st.integers(0, 9)) == 0:  # wild
            stride = draw(st.sampled_from([stride, INT32_MAX, INT32_MIN, 1 << 20]))
            b, e = draw(wild), draw(wild)
        else:
            b_at = draw(st.integers(0, n - 1))
            b = draw(st.sampled_from([b_at, b_at - n]))
            if stride > 0:
                e_at = draw(st.integers(b_at + 1, n + 2))
                e = draw(st.sampled_from([e_at, e_at - n])) if e_at < n else e_at
            else:
                e_at = draw(st.integers(-3, b_at - 1))
                e = draw(st.sampled_from([e_at, e_at - n])) if e_at >= 0 else draw(st.integers(-n - 5, -n - 1))
        begin.append(b)
        end.append(e)
        strides.append(stride)
        begin_mask |= draw(st.sampled_from([0, 0, 0, 1])) << k
        end_mask |= draw(st.sampled_from([0, 0, 0, 1])) << k
        shrink |= draw(st.sampled_from([0, 0, 0, 0, 1])) << k
    # bits above the rank: ignored by TFLite Micro and by tinygen
    high = draw(st.sampled_from([0, 0, 0, 1 << 4, -(1 << 5)]))
    return shape, begin, end, strides, begin_mask | high, end_mask | high, shrink | high


def _strided_check(case: tuple) -> None:
    shape, begin, end, strides, begin_mask, end_mask, shrink = case
    rank = len(shape)
    bits = (1 << rank) - 1
    x = _random_input(shape, zlib.crc32(repr(case).encode()))
    refusal = _verdict(shape, begin, end, strides, begin_mask & bits, end_mask & bits, shrink & bits)
    if refusal is not None:
        with pytest.raises(TinygenError, match=refusal):
            import_tflite(strided_model(shape, begin, end, strides, (1,), begin_mask=begin_mask, end_mask=end_mask,
                                        shrink=shrink))
        return
    want = _numpy_strided(x, begin, end, strides, begin_mask & bits, end_mask & bits, shrink & bits)
    data = strided_model(shape, begin, end, strides, want.shape, begin_mask=begin_mask, end_mask=end_mask,
                         shrink=shrink)
    graph = import_tflite(data)
    got = reference.run(graph, [x])["y"]
    np.testing.assert_array_equal(got, want)  # TensorFlow's meaning
    np.testing.assert_array_equal(got, tflm_run(data, [x])["y"])  # TFLite Micro's bytes


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=strided_cases())
@example(case=((1, 32, 32, 16), [0, 0, 0, 0], [0, 0, 0, 8], [1, 1, 1, 1], 15, 7, 0))  # arm_micronet's x[..., :8]
@example(case=((5,), [INT32_MAX], [INT32_MIN], [-1], 0, 0, 0))  # the whole axis reversed, from the int32 extremes
@example(case=((3, 4), [-1, 0], [0, 0], [1, -1], 0, 0b10, 1))  # x[-1, ::-1]
@example(case=((2, 3, 4, 5), [1, -1, 0, 4], [0, -4, 0, 0], [1, -1, 3, -2], 0, 0, 0b0001))
@example(case=((4, 6), [2, 5], [3, 0], [1 << 20, -(1 << 20)], 0, 0, 0))  # one element each, huge strides
@example(case=((4, 6), [2, 0], [3, 6], [INT32_MAX, 1], 0, 0, 0))  # 2 + INT32_MAX overflows TFLite Micro's index
@example(case=((4, 6), [1, 0], [3, 6], [1, 1], 0, 0, 1))  # shrunk: the end does not matter
def test_strided_slice_matches_tflite_micro(case: tuple) -> None:
    _strided_check(case)


@st.composite
def slice_cases(draw: Any) -> tuple:
    rank = draw(st.integers(1, 5))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    begin = [draw(st.integers(0, n - 1)) for n in shape]
    size = [draw(st.one_of(st.just(-1), st.integers(1, n - b))) for n, b in zip(shape, begin)]
    return shape, begin, size, draw(st.sampled_from(["int32", "int64"]))


@settings(max_examples=80, deadline=None)
@given(case=slice_cases())
@example(case=((1, 3, 4, 5, 6), [0, 1, 1, 0, 2], [1, -1, 2, -1, 3], "int32"))  # rank 5
@example(case=((2, 3, 4, 5, 6), [1, 1, 1, 1, 1], [1, 1, 2, 3, 4], "int64"))
def test_slice_matches_tflite_micro(case: tuple) -> None:
    shape, begin, size, dtype = case
    x = _random_input(shape, zlib.crc32(repr(case).encode()))
    want = x[tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size))]
    data = slice_model(shape, begin, size, want.shape, index_dtype=dtype)
    graph = import_tflite(data)
    got = reference.run(graph, [x])["y"]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, tflm_run(data, [x])["y"])


def test_chain_matches_tflite_micro() -> None:
    data = chain_model()
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops] == ["strided_slice"] * 3 + ["strided_slice", "strided_slice", "add"]
    for seed in range(4):
        x = _random_input((1, 7, 9, 6), seed)
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for name in ("a", "b", "c", "d", "k", "y"):
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        np.testing.assert_array_equal(got["d"], x[0, 1:, 8:0:-2, :][::2, :, ::-1][1:, :, 1::2][1:2])
        np.testing.assert_array_equal(got["k"], CONST[1:, :, 4:-6:-2])


@pytest.fixture(scope="module")
def converter_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TensorFlow's converter on Keras slicing: ``x[:, ::-1, 1:9:3, :4]``, Cropping2D, ``x[:, 2, :, 1:5]`` and
    ``tf.slice`` (STRIDED_SLICE with begin/end masks, a shrunk axis and a negative stride; SLICE with -1)."""
    keras = pytest.importorskip("keras")
    import tensorflow as tf

    from tinygen.tfconvert import keras_to_int8_tflite

    L = keras.layers
    keras.utils.set_random_seed(5)
    inp = keras.Input((8, 10, 6), batch_size=1)
    x = L.Conv2D(6, 1)(inp)
    branches = [
        L.Lambda(lambda t: t[:, ::-1, 1:9:3, :4])(x),
        L.Cropping2D(((1, 2), (3, 1)))(x),
        L.Lambda(lambda t: t[:, 2, :, 1:5])(x),
        L.Lambda(lambda t: tf.slice(t, [0, 1, 2, 0], [1, 3, -1, 2]))(x),
    ]
    model = keras.Model(inp, L.Concatenate()([L.Flatten()(b) for b in branches]))
    samples = np.random.default_rng(2).normal(0.0, 1.0, (32, 8, 10, 6)).astype(np.float32)
    path = tmp_path_factory.mktemp("slice_models") / "slices.tflite"
    path.write_bytes(keras_to_int8_tflite(model, samples))
    return path


def test_converter_model_matches_tflite_micro(converter_model: Path) -> None:
    data = converter_model.read_bytes()
    graph = import_tflite(data)
    kinds = [op.kind for op in graph.ops]
    assert kinds.count("strided_slice") == 4, kinds
    attrs = [op.attrs for op in graph.ops if op.kind == "strided_slice"]
    assert {"slices": ((0, 1, 1), (7, -1, -1), (1, 9, 3), (0, 4, 1)), "shrink": ()} in attrs
    assert any(a["shrink"] == (1,) for a in attrs)
    rng = np.random.default_rng(3)
    for _ in range(4):
        x = rng.integers(-128, 128, (1, 8, 10, 6)).astype(np.int8)
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for op in graph.ops:
            np.testing.assert_array_equal(got[op.outputs[0]], want[op.outputs[0]], err_msg=f"{op.kind} {op.name}")


# --------------------------------------------------------------------------- generated C on the host


def test_generated_c_chain(tmp_path: Path) -> None:
    """Every kernel path (contiguous runs, strided and reversed gathers, a shrunk axis, a constant input), in place
    where every step is positive and not where one is negative, both rounding modes' libraries alike."""
    graph = import_tflite(chain_model())
    vectors = np.stack([_random_input((1, 7, 9, 6), seed).reshape(-1) for seed in range(4)])
    manifest = check_c(graph, tmp_path, "double", vectors)
    layers = manifest["layers"]
    assert [layer["kernel"] for layer in layers] == ["tg_slice_s8"] * 5 + [layers[5]["kernel"]]
    in_place = {layer["output_tensor"]: layer["in_place"] for layer in layers}
    # a and b reverse an axis: not in place; c and d run over their dying inputs; k slices a constant (in flash)
    assert in_place == {"a": None, "b": None, "c": "b", "d": "c", "k": None, "y": in_place["y"]}


@pytest.mark.parametrize(("name", "build", "shape"), [
    # x[..., :8] of arm_micronet: 1024 runs of 8 bytes; in place over the graph input
    ("micronet", lambda: strided_model((1, 32, 32, 16), [0, 0, 0, 0], [0, 0, 0, 8], [1] * 4, (1, 32, 32, 8),
                                       begin_mask=15, end_mask=7), (1, 32, 32, 16)),
    # rank 5 SLICE canonicalised to 3 dimensions
    ("rank5", lambda: slice_model((2, 3, 4, 5, 6), [1, 0, 1, 1, 0], [1, -1, 2, 3, -1], (1, 3, 2, 3, 6)),
     (2, 3, 4, 5, 6)),
    # everything reversed: one reversed run (not in place)
    ("reversed", lambda: strided_model((3, 5, 7), [-1, -1, -1], [0, 0, 0], [-1, -1, -1], (3, 5, 7),
                                       end_mask=7), (3, 5, 7)),
    # in place over the input, each run overlapping its source: memmove (90 bytes), the short copy (18 bytes)
    ("long_overlap", lambda: slice_model((2, 100), [0, 10], [-1, -1], (2, 90)), (2, 100)),
    ("short_overlap", lambda: slice_model((2, 20), [0, 2], [-1, 18], (2, 18)), (2, 20)),
    # one element
    ("single", lambda: strided_model((3, 5, 7), [2, 4, 6], [0, 0, 0], [1, 1, 1], (), shrink=7), (3, 5, 7)),
    # a gather of stride 3 (4 elements at a time and a tail of 3), shrunk middle axis
    ("gather", lambda: strided_model((2, 3, 23), [0, 1, 1], [2, 0, 21], [1, 1, 3], (2, 7), shrink=2), (2, 3, 23)),
])
def test_generated_c_single_op(tmp_path: Path, name: str, build: Any, shape: tuple[int, ...]) -> None:
    graph = import_tflite(build())
    vectors = np.stack([_random_input(shape, seed).reshape(-1) for seed in range(3)])
    manifest = check_c(graph, tmp_path, "double", vectors)
    layer = manifest["layers"][0]
    assert layer["kernel"] == "tg_slice_s8"
    assert layer["in_place"] == (None if name == "reversed" else graph.inputs[0]), layer["in_place"]


def test_rank5_slice_that_needs_5_dimensions_is_refused(tmp_path: Path) -> None:
    from tinygen import codegen

    data = slice_model((2, 3, 4, 5, 6), [0, 1, 1, 1, 1], [2, 2, 2, 2, 2], (2, 2, 2, 2, 2))
    graph = import_tflite(data)
    # the reference runs it (as TFLite Micro does); the C kernel walks 4 dimensions
    x = _random_input((2, 3, 4, 5, 6), 0)
    want = reference.run(graph, [x])["y"]
    np.testing.assert_array_equal(want, x[:, 1:3, 1:3, 1:3, 1:3])
    np.testing.assert_array_equal(want, tflm_run(data, [x])["y"])
    with pytest.raises(UnsupportedError, match=r"need 5 dimensions after dropping single elements and merging "
                                               r"contiguous runs; tinygen's slice kernel walks at most 4"):
        codegen.generate(graph, tmp_path / "lib", force=True)


# --------------------------------------------------------------------------- QEMU


@pytest.mark.emulator
@pytest.mark.parametrize("board", ["mps2_an385", "mps2_an500"])  # Cortex-M3, Cortex-M7
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    from test_emulator_models import cached_build

    from tinygen.commands.test import make_vectors, prepare, run_test

    model = tmp_path / "slice_chain.tflite"
    model.write_bytes(chain_model())
    prep = prepare(model, board, tmp_path / "work")
    layers = prep.manifest["layers"]
    assert [layer["kernel"] for layer in layers][:5] == ["tg_slice_s8"] * 5
    assert layers[2]["in_place"] == "b" and layers[0]["in_place"] is None
    vectors = make_vectors(prep, 4)
    outcome = run_test(prep, vectors, timeout=300, builder=cached_build)
    report = "\n".join(outcome.lines)
    print(f"\n{report}")
    assert outcome.ok, report
    assert "ok    tinygen reference" in report and "ok    TFLite Micro" in report
    assert len(outcome.run.outputs) == len(vectors)


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "slices.tflite"
    model.write_bytes(chain_model())
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [layer["kernel"] for layer in manifest["layers"]][:5] == ["tg_slice_s8"] * 5
    assert any(p.name.endswith("tg_slice_s8.c") for p in out.iterdir()), sorted(p.name for p in out.iterdir())
    graph = import_tflite(model)
    vectors = np.stack([_random_input((1, 7, 9, 6), seed).reshape(-1) for seed in range(2)])
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(1, 7, 9, 6)])["y"].reshape(-1))


def test_convert_cli_arm_micronet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real model that needed STRIDED_SLICE (x[..., :8] nine times): it converts, and its C on the host
    equals the reference, which equals TFLite Micro."""
    if not REAL_MODEL.is_file():
        pytest.skip(f"{REAL_MODEL} is not here")
    from tinygen.cli import main

    out = tmp_path / "lib"
    assert main(["convert", str(REAL_MODEL), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert sum(layer["kernel"] == "tg_slice_s8" for layer in manifest["layers"]) == 9
    data = REAL_MODEL.read_bytes()
    graph = import_tflite(data)
    shape = graph.tensors[graph.inputs[0]].shape
    vectors = np.stack([_random_input(shape, seed).reshape(-1) for seed in range(2)])
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        want = reference.run(graph, [x.reshape(shape)])[graph.outputs[0]]
        np.testing.assert_array_equal(want, tflm_run(data, [x.reshape(shape)])[graph.outputs[0]])
        np.testing.assert_array_equal(got[v], want.reshape(-1))
