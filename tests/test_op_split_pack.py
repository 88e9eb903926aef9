"""SPLIT, SPLIT_V, UNPACK and PACK, imported as rewrites into existing op kinds (tinygen/ops/slice.py: one
``strided_slice`` per output, UNPACK's with the axis shrunk; tinygen/ops/concatenation.py: PACK as a ``reshape``
per input, a view, then one ``concatenation``), and Keras Cropping1D/Cropping2D (``strided_slice``).

* the refusals (TFLite Micro's and TFLite's checks: constant int32 axis in range, num_splits = outputs dividing the
  axis, size_splits with at most one -1 summing to the axis, UNPACK's num, PACK's values_count and shapes, declared
  output shapes, equal quantizations);
* the reference against TFLite Micro's interpreter over random shapes, axes and splits (hypothesis, hand-built
  ``.tflite`` files) and on models of TensorFlow's converter (tf.split, tf.unstack, tf.stack in Keras Lambdas);
* the generated C against the reference on the host (gcc and clang, ASan/UBSan), every graph output compared (a
  SPLIT's outputs are graph outputs), and in QEMU on Cortex-M3 and M7;
* the Keras flow (Cropping1D/2D: float reference, quantizer, QAT; TensorFlow's converter makes them STRIDED_SLICE)
  and ``tinygen convert`` on a .tflite and a .keras model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hostbuild
import numpy as np
import opcheck
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_reference_ops import FbOp, FbTensor, build_tflite

from tinygen import reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph, Op
from tinygen.ops import slice as slice_op
from tinygen.oracle import tflm_run

SLICE, RESHAPE, CONCAT = "strided_slice", "reshape", "concatenation"
Q = (0.05, 3)
SQNR_DB = 30.0  # what the other Keras tests require of one int8 layer (tests/test_quantizer.py)


# --------------------------------------------------------------------------- models


def _outs(shapes: list[tuple[int, ...]], quant: tuple[float, int] | list[tuple[float, int]]) -> list[FbTensor]:
    quants = quant if isinstance(quant, list) else [quant] * len(shapes)
    return [FbTensor(f"y{i}", s, "int8", *q) for i, (s, q) in enumerate(zip(shapes, quants))]


def _with(shape: tuple[int, ...], axis: int, size: int | None) -> tuple[int, ...]:
    """``shape`` with ``axis`` of ``size`` (None: removed)."""
    s = list(shape)
    if size is None:
        del s[axis]
    else:
        s[axis] = size
    return tuple(s)


def split_model(shape: tuple[int, ...], axis: int, num: int, *, num_splits: int | None = None,
                axis_tensor: FbTensor | None = None, out_shapes: list[tuple[int, ...]] | None = None,
                out_quant: Any = Q, keep: list[int] | None = None) -> bytes:
    """One SPLIT (operands axis, x), every output (``keep``: those outputs) a graph output."""
    shapes = out_shapes or [_with(shape, axis, shape[axis] // num)] * num
    tensors = [axis_tensor or FbTensor("axis", (), "int32", data=np.array([axis], np.int32)),
               FbTensor("x", shape, "int8", *Q), *_outs(shapes, out_quant)]
    outs = list(range(2, len(tensors)))
    op = FbOp("SPLIT", [0, 1], outs, "SplitOptions", {"NumSplits": num if num_splits is None else num_splits})
    return build_tflite(tensors, [op], [1], outs if keep is None else [outs[k] for k in keep])


def resolved(n: int, sizes: list[int]) -> list[int]:
    known = sum(s for s in sizes if s != -1)
    return [n - known if s == -1 else s for s in sizes]


def split_v_model(shape: tuple[int, ...], sizes: list[int], axis: int, *, num_splits: int | None = None,
                  out_shapes: list[tuple[int, ...]] | None = None, out_quant: Any = Q) -> bytes:
    """One SPLIT_V (operands x, size_splits, axis)."""
    shapes = out_shapes or [_with(shape, axis, s) for s in resolved(shape[axis], sizes)]
    tensors = [FbTensor("x", shape, "int8", *Q),
               FbTensor("sizes", (len(sizes),), "int32", data=np.array(sizes, np.int32)),
               FbTensor("axis", (1,), "int32", data=np.array([axis], np.int32)), *_outs(shapes, out_quant)]
    outs = list(range(3, len(tensors)))
    op = FbOp("SPLIT_V", [0, 1, 2], outs, "SplitVOptions",
              {"NumSplits": len(shapes) if num_splits is None else num_splits})
    return build_tflite(tensors, [op], [0], outs)


def unpack_model(shape: tuple[int, ...], axis: int, *, num: int | None = None, outputs: int | None = None,
                 out_shapes: list[tuple[int, ...]] | None = None, out_quant: Any = Q) -> bytes:
    count = shape[axis] if outputs is None else outputs
    shapes = out_shapes or [_with(shape, axis, None)] * count
    tensors = [FbTensor("x", shape, "int8", *Q), *_outs(shapes, out_quant)]
    outs = list(range(1, len(tensors)))
    op = FbOp("UNPACK", [0], outs, "UnpackOptions", {"Num": count if num is None else num, "Axis": axis})
    return build_tflite(tensors, [op], [0], outs)


def pack_model(shape: tuple[int, ...], count: int, axis: int, *, values_count: int | None = None,
               in_shapes: list[tuple[int, ...]] | None = None, out_shape: tuple[int, ...] | None = None,
               in_quant: Any = Q, same_input: bool = False) -> bytes:
    """One PACK of ``count`` graph inputs (one input ``count`` times with ``same_input``)."""
    shapes = in_shapes or [shape] * count
    quants = in_quant if isinstance(in_quant, list) else [in_quant] * count
    a = axis + len(shape) + 1 if axis < 0 else axis
    ins = [FbTensor(f"x{i}", s, "int8", *q) for i, (s, q) in enumerate(zip(shapes, quants))]
    ins = ins[:1] if same_input else ins
    tensors = [*ins, FbTensor("y", out_shape or (*shape[:a], count, *shape[a:]), "int8", *Q)]
    operands = [0] * count if same_input else list(range(count))
    fields = {"ValuesCount": count if values_count is None else values_count, "Axis": axis}
    op = FbOp("PACK", operands, [len(ins)], "PackOptions", fields)
    return build_tflite(tensors, [op], list(range(len(ins))), [len(ins)])


def chain_model() -> bytes:
    """Every rewrite in one graph, several graph outputs: x [1, 6, 8] -SPLIT axis 2-> a, b [1, 6, 4];
    SPLIT_V(a, [1, -1, 2], axis -2) -> a0, a1, a2 (graph outputs); UNPACK(b, axis 1) -> six [1, 4];
    PACK(those, axis 2) -> p [1, 4, 6] (a graph output), then PACK(p, a constant, axis 0) -> q [2, 1, 4, 6]."""
    t = [FbTensor("x", (1, 6, 8), "int8", *Q), FbTensor("axis2", (), "int32", data=np.array([2], np.int32)),
         FbTensor("a", (1, 6, 4), "int8", *Q), FbTensor("b", (1, 6, 4), "int8", *Q),
         FbTensor("sizes", (3,), "int32", data=np.array([1, -1, 2], np.int32)),
         FbTensor("axis-2", (1,), "int32", data=np.array([-2], np.int32)),
         *[FbTensor(f"a{i}", (1, n, 4), "int8", *Q) for i, n in enumerate((1, 3, 2))],
         *[FbTensor(f"u{i}", (1, 4), "int8", *Q) for i in range(6)],
         FbTensor("p", (1, 4, 6), "int8", *Q),
         FbTensor("c", (1, 4, 6), "int8", *Q, data=np.arange(-12, 12, dtype=np.int8).reshape(1, 4, 6)),
         FbTensor("q", (2, 1, 4, 6), "int8", *Q)]
    ops = [FbOp("SPLIT", [1, 0], [2, 3], "SplitOptions", {"NumSplits": 2}),
           FbOp("SPLIT_V", [2, 4, 5], [6, 7, 8], "SplitVOptions", {"NumSplits": 3}),
           FbOp("UNPACK", [3], list(range(9, 15)), "UnpackOptions", {"Num": 6, "Axis": 1}),
           FbOp("PACK", list(range(9, 15)), [15], "PackOptions", {"ValuesCount": 6, "Axis": 2}),
           FbOp("PACK", [15, 16], [17], "PackOptions", {"ValuesCount": 2, "Axis": 0})]
    return build_tflite(t, ops, [0], [6, 7, 8, 15, 17])


def random_int8(shape: tuple[int, ...], count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(count)]


def assert_matches_tflm(data: bytes, seed: int = 0, count: int = 2) -> Graph:
    """Every activation tensor TFLite Micro computes equals the reference's of the imported graph."""
    graph = import_tflite(data)
    for v in range(count):
        xs = [random_int8(graph.tensors[n].shape, 1, seed * 31 + v * 7 + k)[0] for k, n in enumerate(graph.inputs)]
        want, got = tflm_run(data, xs), reference.run(graph, xs)
        for name in graph.outputs:
            assert got[name].dtype == want[name].dtype == np.int8
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    return graph


# --------------------------------------------------------------------------- the rewrites


def test_rewrites_by_hand() -> None:
    g = import_tflite(chain_model())
    assert [(op.kind, op.attrs.get("slices"), op.attrs.get("shrink")) for op in g.ops[:5]] == [
        (SLICE, ((0, 1, 1), (0, 6, 1), (0, 4, 1)), ()), (SLICE, ((0, 1, 1), (0, 6, 1), (4, 8, 1)), ()),
        (SLICE, ((0, 1, 1), (0, 1, 1), (0, 4, 1)), ()), (SLICE, ((0, 1, 1), (1, 4, 1), (0, 4, 1)), ()),
        (SLICE, ((0, 1, 1), (4, 6, 1), (0, 4, 1)), ())]
    assert [(op.kind, op.attrs.get("shrink")) for op in g.ops[5:11]] == [(SLICE, (1,))] * 6
    assert [op.kind for op in g.ops[11:]] == [RESHAPE] * 6 + [CONCAT] + [RESHAPE] * 2 + [CONCAT]
    assert g.ops[17].attrs["axis"] == 2 and g.ops[-1].attrs["axis"] == 0 and g.ops[-1].inputs[1] == "c/packed"
    assert g.tensors["c/packed"].shape == (1, 1, 4, 6) and g.outputs == ["a0", "a1", "a2", "p", "q"]
    x = np.arange(48, dtype=np.int8).reshape(1, 6, 8)
    r = reference.run(g, [x])
    np.testing.assert_array_equal(r["a1"], x[:, 1:4, :4])
    np.testing.assert_array_equal(r["p"], np.transpose(x[:, :, 4:], (0, 2, 1)))
    np.testing.assert_array_equal(r["q"], np.stack([r["p"], g.tensors["c"].data]))
    # a part nothing reads is not copied
    g = assert_matches_tflm(split_model((2, 6), 1, 3, keep=[1]))
    assert [(op.outputs, op.attrs["slices"]) for op in g.ops] == [(["y1"], ((0, 2, 1), (2, 4, 1)))]
    # a PACK of one input is a reshape
    g = import_tflite(pack_model((2, 3), 1, -1))
    assert [op.kind for op in g.ops] == [RESHAPE] and g.tensors[g.outputs[0]].shape == (2, 3, 1)


def _int64(monkeypatch: pytest.MonkeyPatch) -> None:
    import test_reference_ops
    import tflite

    monkeypatch.setitem(test_reference_ops._FB_TYPES, "int64", tflite.TensorType.INT64)


REFUSED: dict[str, tuple[Any, type, str]] = {
    "split axis not constant": (lambda: split_model((2, 4), 1, 2, axis_tensor=FbTensor("axis", (), "int32")),
                                UnsupportedError, r"its axis \(tensor 'axis' \[\] int32\) must be a constant"),
    "split axis int64": (lambda: split_model((2, 4), 1, 2, axis_tensor=FbTensor("axis", (1,), "int64",
                                                                                 data=np.array([1], np.int64))),
                         UnsupportedError, r"its axis \(tensor 'axis' \[1\] int64\) must be one int32 value"),
    "split axis of two values": (lambda: split_model((2, 4), 1, 2, axis_tensor=FbTensor(
        "axis", (2,), "int32", data=np.array([1, 1], np.int32))), UnsupportedError, "must be one int32 value"),
    "split axis out of range": (lambda: split_model((2, 4), 2, 2, out_shapes=[(2, 2)] * 2), TinygenError,
                                r"axis 2 is out of range for an input of rank 2: give an axis in \[-2, 1\]"),
    "split num_splits": (lambda: split_model((2, 4), 1, 2, num_splits=4), TinygenError,
                         "num_splits is 4 but the op has 2 outputs; TFLite requires one output per split"),
    "split uneven": (lambda: split_model((2, 5), 1, 2, out_shapes=[(2, 2), (2, 3)]), TinygenError,
                     r"axis 1 of input tensor 'x' \[2, 5\] int8 \(size 5\) does not split into 2 equal parts"),
    "split output shape": (lambda: split_model((2, 4), -1, 2, out_shapes=[(2, 2), (1, 2)]), TinygenError,
                           r"output 1 \(tensor 'y1' \[1, 2\] int8\) has shape \[1, 2\], expected \[2, 2\]"),
    "split quantization": (lambda: split_model((2, 4), 0, 2, out_quant=[Q, (0.05, 4)]), TinygenError,
                           (r"zero point 3 but tensor 'y1' .* has scale 0\.05, zero point 4; TFLite Micro's SPLIT "
                            r"copies bytes without requantizing, so they must be equal")),
    "split rank 6": (lambda: split_model((1, 2, 1, 2, 1, 2), 1, 2), UnsupportedError,
                     "tinygen splits inputs of rank 1 to 5"),
    "split_v two -1": (lambda: split_v_model((2, 6), [-1, -1, 2], 1, out_shapes=[(2, 2)] * 3), TinygenError,
                       r"size_splits \[-1, -1, 2\] must be sizes >= 1 with at most one -1"),
    "split_v sum": (lambda: split_v_model((2, 6), [2, 3], 1, out_shapes=[(2, 2), (2, 4)]), TinygenError,
                    r"size_splits \[2, 3\] do not split axis 1 \(size 6\) .* they must sum to 6"),
    "split_v empty rest": (lambda: split_v_model((2, 6), [2, -1, 4], 1, out_shapes=[(2, 2), (2, 1), (2, 4)]),
                           TinygenError, r"size_splits \[2, -1, 4\] do not split axis 1"),
    "split_v zero": (lambda: split_v_model((2, 6), [6, 0], 1, out_shapes=[(2, 6), (2, 1)]), TinygenError,
                     "into non-empty parts"),
    "split_v sizes count": (lambda: split_v_model((2, 6), [2, 4], 1, out_shapes=[(2, 2), (2, 2), (2, 2)]),
                            TinygenError, (r"its size_splits \(tensor 'sizes' \[2\] int32\) must be 1-D with one "
                                           r"size per output \(3\)")),
    "split_v num_splits": (lambda: split_v_model((2, 6), [2, 4], 1, num_splits=3), TinygenError,
                           "num_splits is 3 but the op has 2 outputs"),
    "split_v output shape": (lambda: split_v_model((2, 6), [2, 4], 1, out_shapes=[(2, 4), (2, 2)]), TinygenError,
                             r"output 0 .* has shape \[2, 4\], expected \[2, 2\]"),
    "unpack num": (lambda: unpack_model((2, 3), 1, num=2), TinygenError,
                   r"num is 2 but the op has 3 outputs and axis 1 .* has size 3: UNPACK needs num = outputs"),
    "unpack outputs": (lambda: unpack_model((2, 3), 1, outputs=2), TinygenError, "num is 2 but the op has 2 outputs"),
    "unpack axis": (lambda: unpack_model((2, 3), -3, out_shapes=[(3,)] * 2, outputs=2), TinygenError,
                    r"axis -3 is out of range .* give an axis in \[-2, 1\]"),
    "unpack shape": (lambda: unpack_model((2, 3), 0, out_shapes=[(3,), (1, 3)]), TinygenError,
                     r"output 1 .* has shape \[1, 3\], expected \[3\]"),
    "unpack quantization": (lambda: unpack_model((2, 3), 0, out_quant=[(0.1, 3), Q]), TinygenError,
                            "TFLite Micro's UNPACK copies bytes without requantizing"),
    "pack values_count": (lambda: pack_model((2, 3), 2, 0, values_count=3), TinygenError,
                          r"values_count is 3 but the op has operands \[0, 1\]"),
    "pack shapes": (lambda: pack_model((2, 3), 2, 0, in_shapes=[(2, 3), (3, 2)]), TinygenError,
                    r"input tensor 'x1' \[3, 2\] int8 does not have the shape of input tensor 'x0' \[2, 3\] int8"),
    "pack axis": (lambda: pack_model((2, 3), 2, 3, out_shape=(2, 3, 2)), TinygenError,
                  r"axis 3 is out of range for packing inputs of rank 2: give an axis in \[-3, 2\]"),
    "pack output shape": (lambda: pack_model((2, 3), 2, 1, out_shape=(2, 3, 2)), TinygenError,
                          (r"has shape \[2, 3, 2\], expected \[2, 2, 3\] \(2 inputs of shape \[2, 3\] stacked on "
                           r"axis 1\)")),
    "pack quantization": (lambda: pack_model((2, 3), 2, 1, in_quant=[Q, (0.04, 3)]), TinygenError,
                          "TFLite Micro's PACK copies bytes without requantizing"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_on_import(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _int64(monkeypatch)
    build, error, match = REFUSED[case]
    with pytest.raises(error, match=match):
        import_tflite(build())


# --------------------------------------------------------------------------- against TFLite Micro


@st.composite
def shape_axis(draw: Any, max_rank: int = 5) -> tuple[tuple[int, ...], int]:
    rank = draw(st.integers(1, max_rank))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    return shape, draw(st.integers(-rank, rank - 1))


@settings(max_examples=50, deadline=None)
@given(case=shape_axis(), data=st.data())
@example(case=((1, 6, 8), -1), data=None)
def test_split_matches_tflite_micro(case: tuple[tuple[int, ...], int], data: Any) -> None:
    shape, axis = case
    n = shape[axis]
    num = data.draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0])) if data else 2
    graph = assert_matches_tflm(split_model(shape, axis, num), seed=n)
    assert [op.kind for op in graph.ops] == [SLICE] * num


@settings(max_examples=50, deadline=None)
@given(case=shape_axis(), data=st.data())
def test_split_v_matches_tflite_micro(case: tuple[tuple[int, ...], int], data: Any) -> None:
    shape, axis = case
    n = shape[axis]
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=3))) if n > 1 else []
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, n])]
    if data.draw(st.booleans()):
        sizes[data.draw(st.integers(0, len(sizes) - 1))] = -1
    graph = assert_matches_tflm(split_v_model(shape, sizes, axis), seed=len(sizes))
    assert [op.kind for op in graph.ops] == [SLICE] * len(sizes)


@settings(max_examples=40, deadline=None)
@given(case=shape_axis())
@example(case=((4,), 0))  # scalars
def test_unpack_matches_tflite_micro(case: tuple[tuple[int, ...], int]) -> None:
    shape, axis = case
    graph = assert_matches_tflm(unpack_model(shape, axis), seed=len(shape))
    assert [(op.kind, op.attrs["shrink"]) for op in graph.ops] == [(SLICE, (axis % len(shape),))] * shape[axis]


@settings(max_examples=40, deadline=None)
@given(case=shape_axis(max_rank=4), count=st.integers(1, 4), same=st.booleans())
@example(case=((3,), 0), count=3, same=True)
def test_pack_matches_tflite_micro(case: tuple[tuple[int, ...], int], count: int, same: bool) -> None:
    shape, axis = case
    axis = axis if axis < 0 else axis + (count % 2)  # also the last axis (rank)
    graph = assert_matches_tflm(pack_model(shape, count, axis, same_input=same), seed=count)
    assert [op.kind for op in graph.ops] == ([RESHAPE] if count == 1 else [RESHAPE] * count + [CONCAT])


@pytest.fixture(scope="module")
def converter_models() -> dict[str, bytes]:
    """TensorFlow's converter on tf.split, tf.split with sizes, tf.unstack and tf.stack inside Keras Lambdas."""
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    from tinygen.tfconvert import keras_to_int8_tflite

    L = keras.layers
    keras.utils.set_random_seed(3)
    inp = keras.Input((6, 8), batch_size=1)
    x = L.Dense(8)(inp)
    a, b = L.Lambda(lambda t: tf.split(t, 2, axis=-1))(x)
    parts = L.Lambda(lambda t: tf.split(t, [1, -1, 2], axis=1))(a)
    rows = L.Lambda(lambda t: tf.unstack(t, axis=1))(b)
    stacked = L.Lambda(lambda ts: tf.stack(ts, axis=2))(rows)
    model = keras.Model(inp, [*parts, L.Dense(3)(stacked)])
    return {"all": keras_to_int8_tflite(model, np.random.default_rng(0).normal(size=(32, 6, 8)).astype(np.float32))}


def test_converter_model_matches_tflite_micro(converter_models: dict[str, bytes]) -> None:
    from tinygen.frontend.tflite import summarize

    data = converter_models["all"]
    assert {r.builtin for r in summarize(data)[1]} >= {"SPLIT", "SPLIT_V", "UNPACK", "PACK"}
    graph = import_tflite(data)
    kinds = [op.kind for op in graph.ops]
    assert kinds.count(SLICE) == 2 + 3 + 6 and kinds.count(CONCAT) == 1 and kinds.count(RESHAPE) >= 6, kinds
    for v, x in enumerate(random_int8(graph.tensors[graph.inputs[0]].shape, 4, seed=2)):
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for name in want:
            if name in got:
                np.testing.assert_array_equal(got[name], want[name], err_msg=f"vector {v} tensor {name}")


# --------------------------------------------------------------------------- generated C


def test_generated_c_equals_reference(tmp_path: Path) -> None:
    graph = import_tflite(chain_model(), name="split_pack")
    vectors = np.stack([np.arange(48) - 24, *random_int8((48,), 3, seed=4)]).astype(np.int8)
    manifest = opcheck.check_c(graph, tmp_path, vectors)
    kernels = [layer["kernel"] for layer in manifest["layers"]]
    assert kernels == ["tg_slice_s8"] * 11 + [None] * 6 + ["tg_concat_s8"] + [None] * 2 + ["tg_concat_s8"], kernels


def test_split_of_a_graph_input_into_graph_outputs(tmp_path: Path) -> None:
    """The graph's outputs are the SPLIT's, read straight from the graph's input (UNPACK: 0-D outputs)."""
    for k, data in enumerate([split_v_model((3, 2, 5), [2, -1], 2), unpack_model((5,), 0)]):
        graph = import_tflite(data, name=f"edge{k}")
        size = graph.tensors[graph.inputs[0]].size
        opcheck.check_c(graph, tmp_path / str(k), np.stack(random_int8((size,), 3, seed=k)))


# --------------------------------------------------------------------------- QEMU


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    model = tmp_path / "split_pack.tflite"
    model.write_bytes(chain_model())
    report = opcheck.check_qemu(model, board, tmp_path / "work", (np.arange(48) - 24).reshape(1, -1))
    assert "all 384 values equal" in report, report  # 4 vectors x (4 + 12 + 8 + 24 + 48) values
    print(report)


# --------------------------------------------------------------------------- Keras Cropping1D / Cropping2D


def _cropping_model(keras: Any, dims: int) -> tuple[Any, np.ndarray]:
    L = keras.layers
    keras.utils.set_random_seed(7)
    if dims == 1:
        inputs = keras.Input((10, 3), batch_size=1)
        y = L.Cropping1D((2, 1))(L.Conv1D(6, 3, padding="same", activation="relu")(inputs))
    else:
        inputs = keras.Input((7, 6, 3), batch_size=1)
        y = L.Conv2D(6, 3, padding="same", activation="relu")(inputs)
        y = L.Cropping2D(((1, 2), (0, 3)))(y)
    model = keras.Model(inputs, L.Dense(4)(L.Flatten()(L.Conv1D(4, 1)(y) if dims == 1 else L.Conv2D(4, 1)(y))))
    shape = (10, 3) if dims == 1 else (7, 6, 3)
    return model, np.random.default_rng(dims).standard_normal((64, *shape)).astype(np.float32)


CROPS = {1: ((0, 1, 1), (2, 9, 1), (0, 6, 1)), 2: ((0, 1, 1), (1, 5, 1), (0, 3, 1), (0, 6, 1))}


def _slices(graph: Graph) -> list[tuple[tuple[int, int, int], ...]]:
    return [op.attrs["slices"] for op in graph.ops if op.kind == SLICE]


@pytest.mark.parametrize("dims", [1, 2])
def test_keras_cropping_tracks_the_float_model(dims: int) -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db
    from tinygen.tfconvert import keras_to_int8_tflite

    model, calibration = _cropping_model(keras, dims)
    graph = tg.quantize(model, calibration)
    assert _slices(graph) == [CROPS[dims]]
    op = next(op for op in graph.ops if op.kind == SLICE)
    assert graph.tensors[op.inputs[0]].quant.scalar() == graph.tensors[op.outputs[0]].quant.scalar()
    test = calibration[:16]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    assert sqnr >= SQNR_DB, f"SQNR {sqnr:.1f} dB"
    # TensorFlow's converter makes the crop one STRIDED_SLICE with the same box; it imports and matches TFLite Micro
    data = keras_to_int8_tflite(model, calibration)
    theirs = assert_matches_tflm(data, seed=dims, count=3)
    assert _slices(theirs) == [CROPS[dims]]


def test_float_reference_on_a_batch() -> None:
    x = np.arange(2 * 5 * 4, dtype=np.float32).reshape(2, 5, 4)
    op = Op(SLICE, "s", ["x"], ["y"], {"slices": ((0, 1, 1), (4, -1, -2), (1, 3, 1)), "shrink": ()})
    np.testing.assert_array_equal(slice_op.float_reference(op, [x]), x[:, ::-2, 1:3])
    op.attrs.update(slices=((0, 1, 1), (3, 4, 1), (0, 4, 3)), shrink=(1,))
    np.testing.assert_array_equal(slice_op.float_reference(op, [x]), x[:, 3, ::3])


def test_keras_cropping_that_leaves_nothing_is_refused() -> None:
    class Layer:
        name = "crop"

        @staticmethod
        def get_config() -> dict[str, Any]:
            return {"cropping": ((1, 1), (3, 3))}

    class Builder:
        @staticmethod
        def shape(name: str) -> tuple[int, ...]:
            return (1, 5, 6, 2)

    with pytest.raises(UnsupportedError, match=r"layer 'crop' \(Layer\): cropping \(3, 3\) of axis 2 \(size 6\) leaves "
                                               r"no element; crop at most 5 in all"):
        slice_op.from_keras_cropping2d(Builder(), Layer(), ["x"])


def test_qat_prepare_reproduces_post_training_quantization() -> None:
    keras = pytest.importorskip("keras")
    from tinygen import qat
    from tinygen.api import quantize

    model, calibration = _cropping_model(keras, 2)
    prepared = qat.prepare(model, calibration[:32])
    graph, ptq = qat.convert(prepared), quantize(model, calibration[:32])
    assert [(op.kind, op.attrs.get("slices")) for op in graph.ops] == [
        (op.kind, op.attrs.get("slices")) for op in ptq.ops]
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
    from tinygen.quantize.report import sqnr_db

    expected = np.asarray(model.predict(calibration[:8], verbose=0), np.float64)
    got = np.asarray(prepared.predict(calibration[:8], verbose=0), np.float64)
    assert sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2))) >= SQNR_DB


# --------------------------------------------------------------------------- command line


def test_convert_cli_tflite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "split_pack.tflite"
    model.write_bytes(chain_model())
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    kinds = [SLICE] * 11 + [RESHAPE] * 6 + [CONCAT] + [RESHAPE] * 2 + [CONCAT]
    assert [layer["op"] for layer in manifest["layers"]] == kinds
    graph = import_tflite(model)
    vectors = np.stack(random_int8((48,), 2, seed=7))
    got, _ = hostbuild.run(hostbuild.build(out, manifest, tmp_path / "build"), vectors)
    for v, x in enumerate(vectors):
        ref = reference.run(graph, [x.reshape(1, 6, 8)])
        np.testing.assert_array_equal(got[v].view(np.int8), np.concatenate([ref[n].reshape(-1) for n in graph.outputs]))


def test_convert_cli_keras(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg
    from tinygen.cli import main

    model, calibration = _cropping_model(keras, 2)
    model.save(tmp_path / "crop.keras")
    np.save(tmp_path / "calibration.npy", calibration)
    out = tmp_path / "lib"
    argv = ["convert", str(tmp_path / "crop.keras"), "--calibration", str(tmp_path / "calibration.npy"), "-o", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"] if layer["op"] == SLICE] == [
        (SLICE, "tg_slice_s8")]
    graph = tg.quantize(model, calibration)
    vectors = np.stack(random_int8((7 * 6 * 3,), 2, seed=8))
    got, _ = hostbuild.run(hostbuild.build(out, manifest, tmp_path / "build"), vectors)
    for v, x in enumerate(vectors):
        want = reference.run(graph, [x.reshape(1, 7, 6, 3)])[graph.outputs[0]]
        np.testing.assert_array_equal(got[v], want.reshape(-1))
