"""RESIZE_NEAREST_NEIGHBOR (tinygen/ops/resize_nearest.py, kernel templates/kernels/tg_resize_nearest_s8.{c,h}).

* TFLite Micro's GetNearestNeighbor (float32 scale, floor or round half away, align_corners, half_pixel_centers)
  by hand, and against TFLite Micro's interpreter for every pair of sizes in a grid and both flags (models whose
  input pixels hold their own coordinates, so the output spells the source indices), and for the size pairs where
  float32 arithmetic and exact arithmetic disagree;
* the reference against TFLite Micro on random shapes, values, quantizations and flags (hypothesis, hand-built
  single-op ``.tflite`` files), on models of TensorFlow's converter and on the real MCUNet detector;
* the checks and their errors (quantization, types, rank, the size operand, the output shape);
* the generated C against the reference on the host (gcc and clang, -Wall -Wextra -Werror -pedantic, ASan/UBSan)
  and in QEMU on Cortex-M3 (portable) and M7 (DSP);
* the Keras flow (``UpSampling2D``), QAT, and ``tinygen convert``.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import hostbuild
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_reference_ops import FbOp, FbTensor, build_tflite

from tinygen import codegen, qparams, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import resize_nearest
from tinygen.ops.resize_nearest import nearest_indices
from tinygen.oracle import tflm_run
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
KIND = resize_nearest.KIND
OPTIONS = "ResizeNearestNeighborOptions"
FLAGS = [(False, False), (True, False), (False, True), (True, True)]


# --------------------------------------------------------------------------- models


def _resize_op(x: int, size: int, y: int, ac: bool, hp: bool) -> FbOp:
    return FbOp("RESIZE_NEAREST_NEIGHBOR", [x, size], [y], OPTIONS, {"AlignCorners": ac, "HalfPixelCenters": hp})


def single_op_model(in_shape: tuple[int, ...], size: tuple[int, int], ac: bool = False, hp: bool = False,
                    quant: tuple[float, int] = (0.05, 3), out_quant: tuple[float, int] | None = None,
                    out_shape: tuple[int, ...] | None = None, size_data: np.ndarray | None = None) -> bytes:
    """A .tflite holding one int8 RESIZE_NEAREST_NEIGHBOR (its size a constant int32 [2] tensor)."""
    oq = out_quant or quant
    n, _, _, c = in_shape
    tensors = [
        FbTensor("x", in_shape, "int8", *quant),
        FbTensor("size", (2,), "int32", data=np.asarray(size, np.int32) if size_data is None else size_data),
        FbTensor("y", out_shape or (n, size[0], size[1], c), "int8", *oq),
    ]
    return build_tflite(tensors, [_resize_op(0, 1, 2, ac, hp)], [0], [2])


def chain_model(in_shape: tuple[int, ...], steps: list[tuple[tuple[int, int], bool, bool]],
                quant: tuple[float, int] = (0.05, 3)) -> bytes:
    """RESIZE_NEAREST_NEIGHBOR ops one after the other: ``steps`` of (size, align_corners, half_pixel_centers)."""
    n, _, _, c = in_shape
    tensors = [FbTensor("x", in_shape, "int8", *quant)]
    ops = []
    for i, (size, ac, hp) in enumerate(steps):
        prev = len(tensors) - 1
        tensors.append(FbTensor(f"size{i}", (2,), "int32", data=np.asarray(size, np.int32)))
        tensors.append(FbTensor(f"r{i}", (n, size[0], size[1], c), "int8", *quant))
        ops.append(_resize_op(prev, len(tensors) - 2, len(tensors) - 1, ac, hp))
    return build_tflite(tensors, ops, [0], [len(tensors) - 1])


def coordinate_model(in_h: int, in_w: int, sizes: list[tuple[int, int]], ac: bool, hp: bool) -> bytes:
    """One input [1, in_h, in_w, 4] resized to each of ``sizes`` (one op and one graph output per size)."""
    tensors = [FbTensor("x", (1, in_h, in_w, 4), "int8", 1.0, 0)]
    ops, outputs = [], []
    for i, (h, w) in enumerate(sizes):
        tensors.append(FbTensor(f"size{i}", (2,), "int32", data=np.asarray((h, w), np.int32)))
        tensors.append(FbTensor(f"y{i}", (1, h, w, 4), "int8", 1.0, 0))
        ops.append(_resize_op(0, len(tensors) - 2, len(tensors) - 1, ac, hp))
        outputs.append(len(tensors) - 1)
    return build_tflite(tensors, ops, [0], outputs)


def coordinates(in_h: int, in_w: int) -> np.ndarray:
    """[1, in_h, in_w, 4] int8 whose pixel (y, x) holds the bytes of y and x (low, high): y & 255, y >> 8,
    x & 255, x >> 8."""
    y, x = np.meshgrid(np.arange(in_h), np.arange(in_w), indexing="ij")
    planes = np.stack([y & 255, y >> 8, x & 255, x >> 8], axis=-1).astype(np.uint8)
    return planes.view(np.int8).reshape(1, in_h, in_w, 4)


def decode(out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The source rows and columns a resize of :func:`coordinates` read (every output pixel checked)."""
    u = out.view(np.uint8).astype(np.int64)[0]
    ys, xs = u[..., 0] + 256 * u[..., 1], u[..., 2] + 256 * u[..., 3]
    assert (ys == ys[:, :1]).all() and (xs == xs[:1, :]).all(), "not a separable gather"
    return ys[:, 0], xs[0, :]


def _ir_graph(in_shape: tuple[int, ...] = (1, 3, 4, 2), size: tuple[int, int] = (6, 8),
              in_quant: tuple[float, int] = (0.05, 3), out_quant: tuple[float, int] | None = None,
              out_shape: tuple[int, ...] | None = None, dtype: str = "int8", **attrs: Any) -> Graph:
    g = Graph("resize")
    n, _, _, c = in_shape if len(in_shape) == 4 else (1, 0, 0, in_shape[-1])
    oq = out_quant or in_quant
    g.add_tensor(Tensor("x", in_shape, dtype, Quantization([in_quant[0]], [in_quant[1]])))
    g.add_tensor(Tensor("y", out_shape or (n, size[0], size[1], c), "int8", Quantization([oq[0]], [oq[1]])))
    g.add_op(Op(KIND, "resize", ["x"], ["y"], {"size": size, **attrs}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


# --------------------------------------------------------------------------- the index arithmetic


def exact_indices(in_size: int, out_size: int, ac: bool, hp: bool) -> list[int]:
    """GetNearestNeighbor in exact rational arithmetic (what float32 approximates): with scale num/den and
    offset h/2, the value is (2o + h) * num / (2 den); floor, or round half up (the value is never negative)."""
    num, den = (in_size - 1, out_size - 1) if ac and out_size > 1 else (in_size, out_size)
    twice = (2 * np.arange(out_size, dtype=np.int64) + (1 if hp else 0)) * num
    src = (twice + den) // (2 * den) if ac else twice // (2 * den)
    src = np.minimum(src, in_size - 1)
    return (np.maximum(src, 0) if hp else src).tolist()


def test_indices_by_hand() -> None:
    # 2x upsampling: each source twice
    assert nearest_indices(4, 8, False, False).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    # align_corners 3 -> 5: scale 2/4 = 0.5, round(o * 0.5) with ties away from zero (0.5 -> 1, 1.5 -> 2;
    # round-half-even would give 0 and 2)
    assert nearest_indices(3, 5, True, False).tolist() == [0, 1, 1, 2, 2]
    # half pixel centers 4 -> 2: scale 2, floor((o + 0.5) * 2) = 1, 3
    assert nearest_indices(4, 2, False, True).tolist() == [1, 3]
    # 5 -> 3: scale 5/3f = 1.6666666f: floor(0, 1.67, 3.33)
    assert nearest_indices(5, 3, False, False).tolist() == [0, 1, 3]
    # align_corners with one output: the plain scale in/out (7), so o = 0 reads 0; with half pixel centers
    # (0 + 0.5) * 7 = 3.5 rounds away from zero to 4
    assert nearest_indices(7, 1, True, False).tolist() == [0]
    assert nearest_indices(7, 1, True, True).tolist() == [4]
    # a single input pixel: everything reads it
    assert nearest_indices(1, 9, False, True).tolist() == [0] * 9


def test_float32_is_not_exact_arithmetic() -> None:
    """2 -> 41 with half pixel centers: (20 + 0.5) * (2/41) is exactly 1, but 2/41 in float32 is below 2/41 and
    the float32 product rounds to just below 1: source 0, not 1. TFLite Micro computes in float32, so must we."""
    assert exact_indices(2, 41, False, True)[20] == 1
    assert nearest_indices(2, 41, False, True)[20] == 0
    x = coordinates(2, 2)
    got = decode(tflm_run(single_op_model((1, 2, 2, 4), (41, 2), hp=True, quant=(1.0, 0)), [x])["y"])[0]
    assert got[20] == 0 and got.tolist() == nearest_indices(2, 41, False, True).tolist()


def test_upsampling_by_integer_factors_repeats() -> None:
    """What the Keras mapping relies on: without flags, n -> n*f maps o to o // f in float32 (n up to 512,
    f up to 8)."""
    for n in range(1, 513):
        for f in range(1, 9):
            np.testing.assert_array_equal(nearest_indices(n, n * f, False, False), np.arange(n * f) // f,
                                          err_msg=f"{n} x {f}")


@pytest.mark.parametrize(("ac", "hp"), FLAGS)
def test_index_grid_matches_tflite_micro(ac: bool, hp: bool) -> None:
    """Every (input size, output size) with input sizes 1..32 and output sizes 1..40 along the height and
    input sizes 33..64 with output sizes 2..80 along the width."""
    for in_h in range(1, 33):
        in_w = in_h + 32
        sizes = [(h, 2 * h) for h in range(1, 41)]
        data = coordinate_model(in_h, in_w, sizes, ac, hp)
        out = tflm_run(data, [coordinates(in_h, in_w)])
        for i, (h, w) in enumerate(sizes):
            rows, cols = decode(out[f"y{i}"])
            np.testing.assert_array_equal(rows, nearest_indices(in_h, h, ac, hp), err_msg=f"{in_h} -> {h}")
            np.testing.assert_array_equal(cols, nearest_indices(in_w, w, ac, hp), err_msg=f"{in_w} -> {w}")


def _float_sensitive_cases(limit: int) -> list[tuple[int, int, bool, bool]]:
    """(in, out, flags) up to ``limit`` where float32 and exact arithmetic pick different sources."""
    cases = []
    for in_size in range(1, limit):
        for out_size in range(1, limit):
            for ac, hp in FLAGS:
                if nearest_indices(in_size, out_size, ac, hp).tolist() != exact_indices(in_size, out_size, ac, hp):
                    cases.append((in_size, out_size, ac, hp))
    return cases


def test_float_sensitive_sizes_match_tflite_micro() -> None:
    """Every third (input size, output size, flags) below 80 where float32 rounding changes a source index, and
    larger ones: TFLite Micro reads what the float32 arithmetic says, not what exact arithmetic says."""
    cases = _float_sensitive_cases(80)
    assert len(cases) == 250
    larger = [(255, 205, True, False), (256, 208, True, True), (300, 206, False, True), (1000, 212, False, False),
              (4097, 374, False, False)]
    assert all(nearest_indices(*c).tolist() != exact_indices(*c) for c in larger)
    cases = cases[::3] + larger
    by_flags: dict[tuple[bool, bool], list[tuple[int, int]]] = {}
    for in_size, out_size, ac, hp in cases:
        by_flags.setdefault((ac, hp), []).append((in_size, out_size))
    for (ac, hp), pairs in by_flags.items():
        for in_size in sorted({p[0] for p in pairs}):
            outs = [o for i, o in pairs if i == in_size]
            # the pair along the height; the width 1 -> 1
            out = tflm_run(coordinate_model(in_size, 1, [(o, 1) for o in outs], ac, hp), [coordinates(in_size, 1)])
            for k, o in enumerate(outs):
                rows, _ = decode(out[f"y{k}"])
                np.testing.assert_array_equal(rows, nearest_indices(in_size, o, ac, hp), err_msg=f"{in_size}->{o}")


# --------------------------------------------------------------------------- reference against TFLite Micro


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3), in_h=st.integers(1, 12), in_w=st.integers(1, 12), depth=st.integers(1, 9),
    new_h=st.integers(1, 25), new_w=st.integers(1, 25), ac=st.booleans(), hp=st.booleans(),
    scale=st.floats(2.0**-13, 8.0, width=32), zero_point=st.integers(-128, 127), seed=st.integers(0, 2**16),
)
@example(n=1, in_h=4, in_w=5, depth=32, new_h=8, new_w=10, ac=False, hp=False, scale=0.0235, zero_point=-128, seed=0)
@example(n=2, in_h=7, in_w=3, depth=1, new_h=1, new_w=1, ac=True, hp=True, scale=1.0, zero_point=0, seed=1)
def test_reference_matches_tflite_micro(n: int, in_h: int, in_w: int, depth: int, new_h: int, new_w: int,
                                        ac: bool, hp: bool, scale: float, zero_point: int, seed: int) -> None:
    data = single_op_model((n, in_h, in_w, depth), (new_h, new_w), ac, hp, quant=(scale, zero_point))
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops] == [KIND]
    assert graph.ops[0].attrs == {"size": (new_h, new_w), "align_corners": ac, "half_pixel_centers": hp}
    x = np.random.default_rng(seed).integers(-128, 128, (n, in_h, in_w, depth)).astype(np.int8)
    want = tflm_run(data, [x])["y"]
    got = reference.run(graph, [x])["y"]
    assert got.dtype == want.dtype == np.int8 and got.shape == (n, new_h, new_w, depth)
    np.testing.assert_array_equal(got, want)


def test_chain_matches_tflite_micro() -> None:
    steps = [((9, 13), False, False), ((4, 5), True, False), ((11, 7), False, True), ((3, 3), True, True)]
    data = chain_model((2, 5, 6, 3), steps)
    graph = import_tflite(data)
    rng = np.random.default_rng(4)
    for _ in range(3):
        x = rng.integers(-128, 128, (2, 5, 6, 3)).astype(np.int8)
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for i in range(len(steps)):
            np.testing.assert_array_equal(got[f"r{i}"], want[f"r{i}"], err_msg=f"r{i}")


@pytest.fixture(scope="module")
def converter_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """TensorFlow's converter on nearest-neighbour resizes after a convolution: Keras Resizing (TensorFlow's
    resize: half_pixel_centers), and TensorFlow's v1 resize with align_corners."""
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    from tinygen.tfconvert import keras_to_int8_tflite

    L = keras.layers
    folder = tmp_path_factory.mktemp("resize_models")
    bodies = {
        "resizing": lambda t: L.Resizing(11, 7, interpolation="nearest")(t),
        "v1_align_corners": lambda t: L.Lambda(
            lambda v: tf.compat.v1.image.resize_nearest_neighbor(v, (13, 9), align_corners=True))(t),
        "v1_plain": lambda t: L.Lambda(lambda v: tf.compat.v1.image.resize_nearest_neighbor(v, (3, 17)))(t),
    }
    paths = {}
    for i, (name, body) in enumerate(bodies.items()):
        keras.utils.set_random_seed(70 + i)
        inp = keras.Input((6, 5, 3), batch_size=1)
        model = keras.Model(inp, body(L.Conv2D(4, 3, padding="same")(inp)), name=name)
        samples = np.random.default_rng(i).normal(0.0, 1.0, (32, 6, 5, 3)).astype(np.float32)
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(keras_to_int8_tflite(model, samples))
    return paths


@pytest.mark.parametrize(("name", "flags"), [("resizing", (False, True)), ("v1_align_corners", (True, False)),
                                             ("v1_plain", (False, False))])
def test_converter_models_match_tflite_micro(converter_models: dict[str, Path], name: str,
                                             flags: tuple[bool, bool]) -> None:
    data = converter_models[name].read_bytes()
    graph = import_tflite(data)
    resizes = [op for op in graph.ops if op.kind == KIND]
    assert len(resizes) == 1, [op.kind for op in graph.ops]
    assert (resizes[0].attrs["align_corners"], resizes[0].attrs["half_pixel_centers"]) == flags
    x_shape = graph.tensors[graph.inputs[0]].shape
    rng = np.random.default_rng(3)
    for x in [rng.integers(-128, 128, x_shape).astype(np.int8) for _ in range(4)]:
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for op in graph.ops:
            np.testing.assert_array_equal(got[op.outputs[0]], want[op.outputs[0]], err_msg=f"{op.kind} {op.name}")


def test_mcunet_detection_matches_tflite_micro(shared_models: Path) -> None:
    """The real model that needs the op: MCUNet's YOLO detector (two 2x upsamplings, 4x5x32 -> 8x10 and
    8x10x16 -> 16x20, each into an ADD). Every tensor equals TFLite Micro's."""
    path = shared_models / "real" / "mcunet_detection.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    data = path.read_bytes()
    graph = import_tflite(data)
    resizes = [op for op in graph.ops if op.kind == KIND]
    assert [op.attrs["size"] for op in resizes] == [(8, 10), (16, 20)]
    x = np.random.default_rng(0).uniform(-1.0, 1.0, graph.tensors[graph.inputs[0]].shape).astype(np.float32)
    want, got = tflm_run(data, [x]), reference.run(graph, [x])
    assert len(want) > 70
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


# --------------------------------------------------------------------------- checks


def test_params_and_shape() -> None:
    g = _ir_graph((1, 3, 4, 2), (5, 9), align_corners=True)
    g.validate()
    p = qparams.op_params(g, g.ops[0])
    assert p == resize_nearest.ResizeNearestParams(size=(5, 9), align_corners=True, half_pixel_centers=False,
                                                   rows=(0, 1, 1, 2, 2), cols=(0, 0, 1, 1, 2, 2, 2, 3, 3))


@pytest.mark.parametrize("out_quant", [(0.06, 3), (0.05, 4)])
def test_quantization_mismatch_is_refused(out_quant: tuple[float, int]) -> None:
    g = _ir_graph(out_quant=out_quant)
    with pytest.raises(TinygenError, match=r"input 'x' has scale 0.05, zero point 3 but output 'y' has scale 0.0[56], zero point [34]; .*copies "
                                           r"bytes and needs equal input and output quantization: re-quantize"):
        g.validate()
    # the same from a .tflite file
    with pytest.raises(TinygenError, match="needs equal input and output quantization"):
        import_tflite(single_op_model((1, 3, 4, 2), (6, 8), out_quant=out_quant))


def test_wrong_output_shape_is_refused() -> None:
    with pytest.raises(TinygenError, match=r"output 'y' has shape \(1, 6, 9, 2\), expected \(1, 6, 8, 2\)"):
        _ir_graph(out_shape=(1, 6, 9, 2)).validate()
    with pytest.raises(TinygenError, match=r"has shape \(1, 6, 8, 3\), expected \(1, 6, 8, 2\)"):
        import_tflite(single_op_model((1, 3, 4, 2), (6, 8), out_shape=(1, 6, 8, 3)))


@pytest.mark.parametrize("size", [(0, 4), (4, -1), (70000, 2)])
def test_size_outside_range_is_refused(size: tuple[int, int]) -> None:
    with pytest.raises(TinygenError, match=r"attribute 'size': .* outside 1\.\.65536"):
        _ir_graph(size=size, out_shape=(1, 2, 2, 2)).validate()
    with pytest.raises(TinygenError, match=r"attribute 'size': .* outside 1\.\.65536"):
        import_tflite(single_op_model((1, 3, 4, 2), (6, 8), size_data=np.asarray(size, np.int32),
                                      out_shape=(1, 6, 8, 2)))


@pytest.mark.parametrize("attr", [{"align_corners": 1}, {"half_pixel_centers": "yes"}, {"size": (2, 2, 2)},
                                  {"size": (2.0, 2)}, {"scale": 2}])
def test_bad_attributes_are_refused(attr: dict[str, Any]) -> None:
    g = _ir_graph()
    g.ops[0].attrs.update(attr)
    with pytest.raises(TinygenError, match="attribute|unknown attribute"):
        g.validate()


def test_rank_and_type_are_checked() -> None:
    with pytest.raises(TinygenError, match=r"input 'x' has shape \(3, 4, 2\); this op needs rank 4"):
        _ir_graph(in_shape=(3, 4, 2), out_shape=(1, 6, 8, 2)).validate()
    with pytest.raises(UnsupportedError, match="tensor 'x' is int16.*int8 only"):
        _ir_graph(dtype="int16").validate()
    data = build_tflite([FbTensor("x", (3, 4, 2), "int8", 0.05, 3), FbTensor("size", (2,), "int32",
                         data=np.array([6, 8], np.int32)), FbTensor("y", (6, 8, 2), "int8", 0.05, 3)],
                        [_resize_op(0, 1, 2, False, False)], [0], [2])
    with pytest.raises(UnsupportedError, match=r"input tensor 'x' \[3, 4, 2\] int8 must have 4 dimensions"):
        import_tflite(data)


def _size_model(size: FbTensor, inputs: list[int] | None = None) -> bytes:
    tensors = [FbTensor("x", (1, 3, 4, 2), "int8", 0.05, 3), size, FbTensor("y", (1, 6, 8, 2), "int8", 0.05, 3)]
    op = _resize_op(0, 1, 2, False, False)
    if inputs is not None:
        op.inputs = inputs
    return build_tflite(tensors, [op], [0], [2])


@pytest.mark.parametrize("size", [
    FbTensor("size", (2,), "int64", data=np.array([6, 8], np.int64)),
    FbTensor("size", (3,), "int32", data=np.array([6, 8, 1], np.int32)),
    FbTensor("size", (1, 2), "int32", data=np.array([[6, 8]], np.int32)),
    FbTensor("size", (2,), "int32"),  # computed at run time
], ids=["int64", "three_values", "rank2", "not_constant"])
def test_size_operand_is_checked(size: FbTensor, monkeypatch: pytest.MonkeyPatch) -> None:
    import test_reference_ops

    monkeypatch.setitem(test_reference_ops._FB_TYPES, "int64", 4)  # TensorType.INT64, for this model only
    with pytest.raises(UnsupportedError, match=r"its size \(tensor 'size' .*\) must be a constant 1-D int32 tensor of 2 "
                                               r"values \[new_height, new_width\]"):
        import_tflite(_size_model(size))


def test_extra_input_is_refused() -> None:
    size = FbTensor("size", (2,), "int32", data=np.array([6, 8], np.int32))
    with pytest.raises(TinygenError, match="has 3 inputs; RESIZE_NEAREST_NEIGHBOR takes 2"):
        import_tflite(_size_model(size, inputs=[0, 1, 1]))


def test_wide_input_is_refused_by_the_lowering(tmp_path: Path) -> None:
    g = _ir_graph((1, 1, 40000, 1), (1, 2))
    g.validate()
    with pytest.raises(UnsupportedError, match="40000 pixels wide.*at most 32768 input columns"):
        codegen.generate(g, tmp_path / "lib", force=True)


def test_memory_needs() -> None:
    """Not a view and not in place: the output gets its own buffer."""
    op = resize_nearest.OP
    assert not op.alias and op.in_place is None and op.in_place_lag is None
    assert op.quant_rule == "same_as_input"


# --------------------------------------------------------------------------- generated C on the host


@functools.lru_cache(maxsize=1)
def _clang_sanitizers() -> bool:
    """Whether clang links ASan/UBSan here (its runtimes are a separate package: libclang-rt-dev)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text("int main(void) { return 0; }\n")
        res = subprocess.run(["clang", *hostbuild.SANITIZE, str(src), "-o", str(Path(tmp) / "probe")],
                             capture_output=True, text=True, check=False)
        return res.returncode == 0


def builds() -> list[tuple[str, bool]]:
    """(compiler, sanitize): gcc with and without ASan/UBSan, clang without, and with them where installed."""
    if tuple(hostbuild.compilers()) != ("gcc", "clang"):
        pytest.fail(f"gcc and clang are both needed, found {hostbuild.compilers()}: install them (scripts/setup.sh)")
    return [("gcc", True), ("gcc", False), ("clang", False)] + ([("clang", True)] if _clang_sanitizers() else [])


def check_c(graph: Graph, work: Path, vectors: np.ndarray) -> dict[str, Any]:
    """Generate, compile (:func:`builds`), run ``vectors``; every layer's output must equal the reference."""
    lib = codegen.generate(graph, work / "lib", force=True)
    shape = graph.tensors[graph.inputs[0]].shape
    refs = [reference.run(graph, v.reshape(shape)) for v in vectors]
    for compiler, sanitize in builds():
        hb = hostbuild.build(lib.out_dir, lib.manifest, work / f"{compiler}{int(sanitize)}", compiler=compiler,
                             sanitize=sanitize, dump=True)
        out, dumps = hostbuild.run(hb, vectors.reshape(len(vectors), -1))
        for v, ref in enumerate(refs):
            for layer, got in zip(lib.manifest["layers"], dumps[v]):
                want = ref[layer["output_tensor"]].reshape(-1)
                bad = np.flatnonzero(got != want)
                assert bad.size == 0, (f"{compiler} sanitize={sanitize} vector {v} layer {layer['index']} "
                                       f"{layer['op']} ({layer['kernel']}): {bad.size} differ, first at {bad[0]}: "
                                       f"C {got[bad[0]]} reference {want[bad[0]]}")
            np.testing.assert_array_equal(out[v], ref[graph.outputs[0]].reshape(-1))
    return lib.manifest


#: chains of resizes, up and down, every flag, through each of the kernel's row copies: depth 1 (byte gather),
#: 2, 3, 4 (unrolled copies), multiples of 8 (word pairs), others (word pairs, then a word, a halfword, a byte)
CHAINS = {
    "depth1": ((1, 5, 7, 1), [((10, 14), False, False), ((4, 9), True, False), ((9, 4), False, True),
                              ((9, 4), True, True)]),
    "depth2_batches2": ((2, 4, 6, 2), [((8, 12), False, False), ((5, 5), True, True), ((11, 3), False, True)]),
    "depth3": ((1, 6, 5, 3), [((12, 10), False, False), ((3, 4), False, True), ((1, 1), True, False)]),
    "depth4": ((1, 3, 3, 4), [((7, 6), True, False), ((2, 13), False, False)]),
    "depth7": ((1, 4, 4, 7), [((9, 5), False, True), ((4, 8), True, True)]),
    "depth13": ((1, 4, 5, 13), [((4, 5), False, False), ((9, 11), True, True), ((17, 2), False, False)]),
    "depth32_batches2": ((2, 4, 5, 32), [((8, 10), False, False), ((3, 7), True, False), ((6, 6), False, True)]),
}


@pytest.mark.parametrize("name", list(CHAINS))
def test_generated_c_equals_reference(tmp_path: Path, name: str) -> None:
    in_shape, steps = CHAINS[name]
    graph = import_tflite(chain_model(in_shape, steps))
    vectors = np.random.default_rng(len(name)).integers(-128, 128, (3, int(np.prod(in_shape)))).astype(np.int8)
    manifest = check_c(graph, tmp_path, vectors)
    layers = manifest["layers"]
    assert [layer["kernel"] for layer in layers] == ["tg_resize_nearest_s8"] * len(steps)
    assert all(layer["in_place"] is None for layer in layers)


def _tables(graph: Graph, work: Path) -> tuple[list[str], dict[str, int]]:
    lib = codegen.generate(graph, work / "lib", force=True)
    text = (lib.out_dir / f"{lib.name}_weights.c").read_text()
    return [line for line in text.splitlines() if "_src_" in line and line.startswith("const")], \
        lib.manifest["const_bytes"]


def test_tables_are_const_arrays(tmp_path: Path) -> None:
    """Each resize reads an int32 row table (byte offsets) and an int16 column table, counted as table bytes."""
    arrays, const_bytes = _tables(import_tflite(single_op_model((1, 4, 5, 32), (8, 10))), tmp_path)
    assert len(arrays) == 2 and any("int32_t" in a and "_src_rows[8]" in a for a in arrays) \
        and any("int16_t" in a and "_src_cols[10]" in a for a in arrays), arrays
    assert const_bytes == {"weights": 0, "quant": 0, "table": 8 * 4 + 10 * 2}


# --------------------------------------------------------------------------- QEMU


#: QEMU models, one per row copy of the kernel: MCUNet's upsampling (4x5x32 -> 8x10, word pairs), depth 13
#: (the general copy), 3 (unrolled) and 1 (byte gather), each through a chain of every flag
_QEMU_STEPS = [((8, 10), False, False), ((5, 7), True, False), ((11, 3), False, True), ((16, 20), True, True)]
QEMU_MODELS = {f"depth{d}": ((1, 4, 5, d), _QEMU_STEPS) for d in (32, 13, 3, 1)}


@pytest.mark.emulator
@pytest.mark.parametrize("name", list(QEMU_MODELS))
@pytest.mark.parametrize("board", ["mps2_an385", "mps2_an500"])  # Cortex-M3 (portable C), Cortex-M7 (DSP)
def test_bit_exact_in_qemu(board: str, name: str, tmp_path: Path) -> None:
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    from test_emulator_models import cached_build

    from tinygen.commands.test import make_vectors, prepare, run_test

    in_shape, steps = QEMU_MODELS[name]
    model = tmp_path / f"resize_{name}.tflite"
    model.write_bytes(chain_model(in_shape, steps))
    prep = prepare(model, board, tmp_path / "work")
    assert [layer["kernel"] for layer in prep.manifest["layers"]] == ["tg_resize_nearest_s8"] * len(steps)
    vectors = make_vectors(prep, 4)
    outcome = run_test(prep, vectors, timeout=300, builder=cached_build)
    report = "\n".join(outcome.lines)
    print(f"\n{report}")
    assert outcome.ok, report
    # compared with tinygen's reference and with TFLite Micro, every vector
    assert "ok    tinygen reference" in report and "ok    TFLite Micro" in report
    assert len(outcome.run.outputs) == len(vectors)


# --------------------------------------------------------------------------- Keras flow


def _upsampling_model(keras: Any, **kwargs: Any) -> Any:
    L = keras.layers
    keras.utils.set_random_seed(5)
    inputs = keras.Input((5, 4, 3), batch_size=1)
    x = L.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    x = L.UpSampling2D(**kwargs)(x)
    return keras.Model(inputs, L.Conv2D(4, 3, padding="same")(x))


def test_keras_upsampling_is_exact() -> None:
    """UpSampling2D becomes this op; its int8 output is its int8 input repeated exactly as Keras repeats (and the
    whole model tracks the float one)."""
    keras = pytest.importorskip("keras")
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db

    model = _upsampling_model(keras, size=(2, 3))
    calibration = np.random.default_rng(0).standard_normal((64, 5, 4, 3)).astype(np.float32)
    graph = tg.quantize(model, calibration)
    kinds = [op.kind for op in graph.ops]
    assert kinds == ["conv2d", KIND, "conv2d"], kinds
    op = graph.ops[1]
    assert op.attrs == {"size": (10, 12), "align_corners": False, "half_pixel_centers": False}
    x_q, y_q = (graph.tensors[n].quant.scalar() for n in (op.inputs[0], op.outputs[0]))
    assert x_q == y_q
    values = reference.run(graph, np.random.default_rng(1).integers(-128, 128, (1, 5, 4, 3)).astype(np.int8))
    np.testing.assert_array_equal(values[op.outputs[0]],
                                  np.repeat(np.repeat(values[op.inputs[0]], 2, axis=1), 3, axis=2))
    test = calibration[:16]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    assert sqnr >= 30.0, f"SQNR {sqnr:.1f} dB"


@pytest.mark.parametrize(("kwargs", "error"), [({"interpolation": "bicubic"},
                                                "interpolation='bicubic' is not supported; use 'nearest' or 'bilinear'"),
                                               ({"data_format": "channels_first"}, "data_format='channels_first'")])
def test_keras_upsampling_refusals(kwargs: dict[str, Any], error: str) -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg

    L = keras.layers
    if kwargs.get("data_format") == "channels_first":
        inputs = keras.Input((3, 5, 4), batch_size=1)
        model = keras.Model(inputs, L.UpSampling2D(**kwargs)(inputs))
        calibration = np.zeros((4, 3, 5, 4), np.float32)
    else:
        model = _upsampling_model(keras, **kwargs)
        calibration = np.zeros((4, 5, 4, 3), np.float32)
    with pytest.raises(UnsupportedError, match=error):
        tg.quantize(model, calibration)


def test_qat_prepare_reproduces_post_training_quantization() -> None:
    keras = pytest.importorskip("keras")
    from tinygen import qat
    from tinygen.api import quantize

    model = _upsampling_model(keras)
    calibration = np.random.default_rng(2).standard_normal((32, 5, 4, 3)).astype(np.float32)
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    assert [(op.kind, op.inputs, op.outputs) for op in graph.ops] == [(op.kind, op.inputs, op.outputs) for op in ptq.ops]
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
    assert prepared.predict(calibration[:2], verbose=0).shape == (2, 10, 8, 4)


def _upsampling1d_model(keras: Any, factor: int = 3) -> Any:
    L = keras.layers
    keras.utils.set_random_seed(6)
    inputs = keras.Input((6, 4), batch_size=1)
    x = L.Conv1D(5, 3, padding="same", activation="relu")(inputs)
    x = L.UpSampling1D(factor)(x)
    return keras.Model(inputs, L.Conv1D(2, 3, padding="same")(x))


def test_keras_upsampling1d_is_exact(tmp_path: Path) -> None:
    """UpSampling1D(3) on [1, 6, 5]: a resize of the view [1, 1, 6, 5] to (1, 18) between two reshapes (aliases:
    no copy); its int8 output is its input with each step repeated 3 times, the model tracks the float one, and
    the generated C equals the reference. (TensorFlow's converter exports the layer as RESHAPE, TILE, RESHAPE.)"""
    keras = pytest.importorskip("keras")
    import opcheck

    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db

    model = _upsampling1d_model(keras)
    calibration = np.random.default_rng(0).standard_normal((64, 6, 4)).astype(np.float32)
    graph = tg.quantize(model, calibration)
    ups = [i for i, op in enumerate(graph.ops) if op.kind == KIND]
    assert len(ups) == 1
    before, op, after = graph.ops[ups[0] - 1], graph.ops[ups[0]], graph.ops[ups[0] + 1]
    assert (before.kind, after.kind) == ("reshape", "reshape")
    assert op.attrs == {"size": (1, 18), "align_corners": False, "half_pixel_centers": False}
    assert [graph.tensors[n].shape for n in (before.inputs[0], op.inputs[0], op.outputs[0], after.outputs[0])] == [
        (1, 6, 5), (1, 1, 6, 5), (1, 1, 18, 5), (1, 18, 5)]
    assert len({graph.tensors[n].quant.scalar() for n in (before.inputs[0], op.outputs[0], after.outputs[0])}) == 1
    values = reference.run(graph, np.random.default_rng(1).integers(-128, 128, (1, 6, 4)).astype(np.int8))
    np.testing.assert_array_equal(values[after.outputs[0]], np.repeat(values[before.inputs[0]], 3, axis=1))
    test = calibration[:16]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    assert sqnr >= 30.0, f"SQNR {sqnr:.1f} dB"
    vectors = np.random.default_rng(2).integers(-128, 128, (3, 24)).astype(np.int8)
    manifest = opcheck.check_c(graph, tmp_path, vectors)
    kernels = {layer["op"]: layer["kernel"] for layer in manifest["layers"]}
    assert kernels[KIND] == "tg_resize_nearest_s8"


def test_keras_upsampling1d_convert_cli_and_qat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keras = pytest.importorskip("keras")
    from tinygen import qat
    from tinygen.api import quantize
    from tinygen.cli import main

    model = _upsampling1d_model(keras, factor=2)
    calibration = np.random.default_rng(3).standard_normal((32, 6, 4)).astype(np.float32)
    path, data = tmp_path / "up1d.keras", tmp_path / "calibration.npy"
    model.save(path)
    np.save(data, calibration)
    out = tmp_path / "lib"
    assert main(["convert", str(path), "--calibration", str(data), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [layer["kernel"] for layer in manifest["layers"] if layer["op"] == KIND] == ["tg_resize_nearest_s8"]
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    assert [(op.kind, op.inputs, op.outputs) for op in graph.ops] == [(op.kind, op.inputs, op.outputs) for op in ptq.ops]
    assert prepared.predict(calibration[:2], verbose=0).shape == (2, 12, 2)


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "resize.tflite"
    model.write_bytes(chain_model((1, 4, 5, 32), [((8, 10), False, False), ((3, 7), True, True)]))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]] == [(KIND, "tg_resize_nearest_s8")] * 2
    assert any(p.name.endswith("tg_resize_nearest_s8.c") for p in out.iterdir()), sorted(p.name for p in out.iterdir())
    graph = import_tflite(model)
    vectors = np.random.default_rng(6).integers(-128, 128, (2, 4 * 5 * 32)).astype(np.int8)
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(1, 4, 5, 32)])["r1"].reshape(-1))
