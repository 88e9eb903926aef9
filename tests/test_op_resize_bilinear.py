"""RESIZE_BILINEAR (tinygen/ops/resize_bilinear.py, kernel templates/kernels/tg_resize_bilinear_s8.{c,h}).

* TFLite Micro's integer arithmetic (ResizeBilinearInteger: scale_10, truncating bounds, 2^20 rounding) by hand,
  and against TFLite Micro's interpreter over a grid of sizes up and down for each legal flag pair and over random
  shapes, values, quantizations and flags (hypothesis, hand-built single-op ``.tflite`` files), and on models of
  TensorFlow's converter;
* the checks and their errors (both flags, sizes where TFLite Micro reads outside the input, quantization, types,
  rank, the size operand, the output shape);
* the generated C against the reference on the host (gcc and clang, -Wall -Wextra -Werror -pedantic, ASan/UBSan)
  with both roundings, the kernel for every Cortex-M core, and in QEMU on Cortex-M3 and M7;
* the Keras flow (``UpSampling2D(interpolation="bilinear")``), QAT, and ``tinygen convert``.
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

from tinygen import codegen, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import resize_bilinear
from tinygen.ops.resize_bilinear import axis_terms, round_20
from tinygen.oracle import tflm_run

KIND = resize_bilinear.KIND
KERNEL = "tg_resize_bilinear_s8"
FLAGS = [(False, False), (True, False), (False, True)]  # TFLite Micro refuses (True, True)
#: what the other Keras tests require of one int8 layer (tests/test_quantizer.py SQNR_DB)
SQNR_DB = 30.0


# --------------------------------------------------------------------------- models


def _op(x: int, size: int, y: int, ac: bool, hp: bool) -> FbOp:
    return FbOp("RESIZE_BILINEAR", [x, size], [y], "ResizeBilinearOptions", {"AlignCorners": ac, "HalfPixelCenters": hp})


def single_op_model(in_shape: tuple[int, ...], size: tuple[int, int], ac: bool = False, hp: bool = False,
                    quant: tuple[float, int] = (0.05, 3), out_quant: tuple[float, int] | None = None,
                    out_shape: tuple[int, ...] | None = None, size_tensor: FbTensor | None = None) -> bytes:
    """A .tflite holding one int8 RESIZE_BILINEAR (its size a constant int32 [2] tensor)."""
    n, _, _, c = in_shape
    tensors = [FbTensor("x", in_shape, "int8", *quant),
               size_tensor or FbTensor("size", (2,), "int32", data=np.asarray(size, np.int32)),
               FbTensor("y", out_shape or (n, size[0], size[1], c), "int8", *(out_quant or quant))]
    return build_tflite(tensors, [_op(0, 1, 2, ac, hp)], [0], [2])


def chain_model(in_shape: tuple[int, ...], steps: list[tuple[tuple[int, int], bool, bool]],
                quant: tuple[float, int] = (0.05, 3)) -> bytes:
    """RESIZE_BILINEAR ops one after the other: ``steps`` of (size, align_corners, half_pixel_centers)."""
    n, _, _, c = in_shape
    tensors = [FbTensor("x", in_shape, "int8", *quant)]
    ops = []
    for i, (size, ac, hp) in enumerate(steps):
        prev = len(tensors) - 1
        tensors.append(FbTensor(f"size{i}", (2,), "int32", data=np.asarray(size, np.int32)))
        tensors.append(FbTensor(f"r{i}", (n, size[0], size[1], c), "int8", *quant))
        ops.append(_op(prev, len(tensors) - 2, len(tensors) - 1, ac, hp))
    return build_tflite(tensors, ops, [0], [len(tensors) - 1])


def fan_model(in_shape: tuple[int, ...], sizes: list[tuple[int, int]], ac: bool, hp: bool) -> bytes:
    """One input resized to each of ``sizes`` (one op and one graph output per size)."""
    n, _, _, c = in_shape
    tensors, ops, outputs = [FbTensor("x", in_shape, "int8", 0.1, 0)], [], []
    for i, size in enumerate(sizes):
        tensors.append(FbTensor(f"size{i}", (2,), "int32", data=np.asarray(size, np.int32)))
        tensors.append(FbTensor(f"y{i}", (n, *size, c), "int8", 0.1, 0))
        ops.append(_op(0, len(tensors) - 2, len(tensors) - 1, ac, hp))
        outputs.append(len(tensors) - 1)
    return build_tflite(tensors, ops, [0], outputs)


def _ir_graph(in_shape: tuple[int, ...] = (1, 3, 4, 2), size: tuple[int, int] = (6, 8),
              in_quant: tuple[float, int] = (0.05, 3), out_quant: tuple[float, int] | None = None,
              out_shape: tuple[int, ...] | None = None, dtype: str = "int8", **attrs: Any) -> Graph:
    g = Graph("resize")
    n, c = (in_shape[0], in_shape[-1]) if len(in_shape) == 4 else (1, in_shape[-1])
    oq = out_quant or in_quant
    g.add_tensor(Tensor("x", in_shape, dtype, Quantization([in_quant[0]], [in_quant[1]])))
    g.add_tensor(Tensor("y", out_shape or (n, size[0], size[1], c), "int8", Quantization([oq[0]], [oq[1]])))
    g.add_op(Op(KIND, "resize", ["x"], ["y"], {"size": size, **attrs}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def _random(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, shape).astype(np.int8)


# --------------------------------------------------------------------------- the arithmetic by hand


def test_axis_terms_by_hand() -> None:
    # 2x with half-pixel centres: scale_10 = 512, scaled = 512 o - 256: the first output before pixel 0 (lo = hi
    # = 0, fraction -256), then fractions 1/4 and 3/4, the last output clamped to the last pixel
    lo, hi, frac = axis_terms(3, 6, False, True)
    assert (lo.tolist(), hi.tolist(), frac.tolist()) == ([0, 0, 0, 1, 1, 2], [0, 1, 1, 2, 2, 2],
                                                         [-256, 256, 768, 256, 768, 256])
    # 3x without flags: scale_10 = round(1024 / 3) = 341 (not 341.33): fractions drift
    lo, hi, frac = axis_terms(2, 6, False, False)
    assert (lo.tolist(), hi.tolist(), frac.tolist()) == ([0, 0, 0, 0, 1, 1], [0, 1, 1, 1, 1, 1],
                                                         [0, 341, 682, 1023, 340, 681])
    # align corners 3 -> 5: scale_10 = 2048 / 4 = 512
    assert axis_terms(3, 5, True, False)[2].tolist() == [0, 512, 0, 512, 0]
    # downsampling 7 -> 2 with align corners: scale_10 = 6144 (6 pixels)
    assert axis_terms(7, 2, True, False)[0].tolist() == [0, 6]
    # rounding of the 2^20 sum: half away from zero (TFLite's default), or half up (TFLITE_SINGLE_ROUNDING)
    half = 1 << 19
    assert round_20(np.array([half, -half, half - 1, -half - 1, 3 * half]), "double").tolist() == [1, -1, 0, -1, 2]
    assert round_20(np.array([half, -half, half - 1, -half - 1, 3 * half]), "single").tolist() == [1, 0, 0, -1, 2]


def test_values_by_hand() -> None:
    """[0, 100] 2 -> 4 with half-pixel centres: 0, 25, 75, 100; -> 3 without flags: scale 683/1024: 0, 66.7, 100."""
    g = _ir_graph((1, 1, 2, 1), (1, 4), half_pixel_centers=True)
    x = np.array([0, 100], np.int8).reshape(1, 1, 2, 1)
    assert reference.run(g, x)["y"].reshape(-1).tolist() == [0, 25, 75, 100]
    g = _ir_graph((1, 1, 2, 1), (1, 3))
    assert reference.run(g, x)["y"].reshape(-1).tolist() == [0, 67, 100]
    g = _ir_graph((1, 1, 2, 1), (1, 3))
    assert reference.run(g, -x)["y"].reshape(-1).tolist() == [0, -67, -100]


# --------------------------------------------------------------------------- against TFLite Micro


@pytest.mark.parametrize(("ac", "hp"), FLAGS)
def test_size_grid_matches_tflite_micro(ac: bool, hp: bool) -> None:
    """Input heights 1..12 (width 13 - height) to every output height 1..30 (width 31 - height): up and down."""
    for in_h in range(1, 13):
        in_shape = (1, in_h, 13 - in_h, 3)
        sizes = [(h, 31 - h) for h in range(1, 31)]
        data = fan_model(in_shape, sizes, ac, hp)
        graph = import_tflite(data)
        for seed in range(2):
            x = _random(in_shape, seed + 10 * in_h)
            want, got = tflm_run(data, [x]), reference.run(graph, [x])
            for i in range(len(sizes)):
                np.testing.assert_array_equal(got[f"y{i}"], want[f"y{i}"], err_msg=f"{in_shape} -> {sizes[i]}")


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 2), in_h=st.integers(1, 10), in_w=st.integers(1, 10), depth=st.integers(1, 9),
       new_h=st.integers(1, 24), new_w=st.integers(1, 24), flags=st.sampled_from(FLAGS),
       scale=st.floats(2.0**-13, 8.0, width=32), zero_point=st.integers(-128, 127), seed=st.integers(0, 2**16))
@example(n=1, in_h=4, in_w=5, depth=32, new_h=8, new_w=10, flags=(False, True), scale=0.0235, zero_point=-128, seed=0)
@example(n=2, in_h=7, in_w=3, depth=1, new_h=1, new_w=1, flags=(True, False), scale=1.0, zero_point=0, seed=1)
def test_reference_matches_tflite_micro(n: int, in_h: int, in_w: int, depth: int, new_h: int, new_w: int,
                                        flags: tuple[bool, bool], scale: float, zero_point: int, seed: int) -> None:
    ac, hp = flags
    data = single_op_model((n, in_h, in_w, depth), (new_h, new_w), ac, hp, quant=(scale, zero_point))
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops] == [KIND]
    assert graph.ops[0].attrs == {"size": (new_h, new_w), "align_corners": ac, "half_pixel_centers": hp}
    for x in (_random((n, in_h, in_w, depth), seed), np.full((n, in_h, in_w, depth), -128, np.int8)):
        want, got = tflm_run(data, [x])["y"], reference.run(graph, [x])["y"]
        assert got.dtype == want.dtype == np.int8 and got.shape == (n, new_h, new_w, depth)
        np.testing.assert_array_equal(got, want)


@pytest.fixture(scope="module")
def converter_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """TensorFlow's converter on bilinear resizes after a convolution: Keras UpSampling2D (half-pixel centres),
    Keras Resizing down, and TensorFlow's v1 resize with align_corners."""
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    from tinygen.tfconvert import keras_to_int8_tflite

    L = keras.layers
    folder = tmp_path_factory.mktemp("resize_bilinear_models")
    bodies = {
        "upsampling": lambda t: L.UpSampling2D((2, 3), interpolation="bilinear")(t),
        "resizing_down": lambda t: L.Resizing(4, 3, interpolation="bilinear")(t),
        "v1_align_corners": lambda t: L.Lambda(
            lambda v: tf.compat.v1.image.resize_bilinear(v, (13, 9), align_corners=True))(t),
    }
    paths = {}
    for i, (name, body) in enumerate(bodies.items()):
        keras.utils.set_random_seed(80 + i)
        inp = keras.Input((6, 5, 3), batch_size=1)
        model = keras.Model(inp, body(L.Conv2D(4, 3, padding="same")(inp)), name=name)
        samples = np.random.default_rng(i).normal(0.0, 1.0, (32, 6, 5, 3)).astype(np.float32)
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(keras_to_int8_tflite(model, samples))
    return paths


@pytest.mark.parametrize(("name", "flags"), [("upsampling", (False, True)), ("resizing_down", (False, True)),
                                             ("v1_align_corners", (True, False))])
def test_converter_models_match_tflite_micro(converter_models: dict[str, Path], name: str,
                                             flags: tuple[bool, bool]) -> None:
    data = converter_models[name].read_bytes()
    graph = import_tflite(data)
    ops = [op for op in graph.ops if op.kind == KIND]
    assert len(ops) == 1 and (ops[0].attrs["align_corners"], ops[0].attrs["half_pixel_centers"]) == flags
    x_shape = graph.tensors[graph.inputs[0]].shape
    for seed in range(6):
        x = _random(x_shape, seed)
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for op in graph.ops:
            np.testing.assert_array_equal(got[op.outputs[0]], want[op.outputs[0]], err_msg=f"{op.kind} {op.name}")


# --------------------------------------------------------------------------- checks


def test_both_flags_are_refused() -> None:
    """TFLite Micro's Prepare: "If half_pixel_centers is True, align_corners must be False"."""
    with pytest.raises(UnsupportedError, match=r"resize_bilinear op 'resize': align_corners and half_pixel_centers "
                                                r"are both set; TFLite Micro's RESIZE_BILINEAR refuses that"):
        _ir_graph(align_corners=True, half_pixel_centers=True).validate()
    data = single_op_model((1, 3, 4, 2), (6, 8), True, True)
    with pytest.raises(TinygenError, match="TFLite Micro cannot load the model"):
        tflm_run(data, [np.zeros((1, 3, 4, 2), np.int8)])
    with pytest.raises(UnsupportedError, match="both set"):
        import_tflite(data)


@pytest.mark.parametrize(("in_shape", "size", "flags", "match"), [
    # scale_10 = round(1024 / 55) = 19 > 1024 / 55: output 54 lands on 54 * 19 / 1024 = 1.002, past pixel 0
    ((1, 1, 2, 1), (55, 2), (False, False), (r"resizing rows 1 -> 55: .* takes output row 54 from input row 1, past "
                                             r"the last \(0\), and reads outside the input")),
    ((1, 3, 8, 1), (3, 129), (False, False), r"resizing columns 8 -> 129: .* takes output column 128 from input column 8"),
    ((1, 2, 2, 1), (1281, 2), (False, True), r"resizing rows 2 -> 1281"),
])
def test_sizes_where_tflite_micro_reads_outside_are_refused(in_shape: tuple[int, ...], size: tuple[int, int],
                                                            flags: tuple[bool, bool], match: str) -> None:
    g = _ir_graph(in_shape, size, align_corners=flags[0], half_pixel_centers=flags[1])
    with pytest.raises(UnsupportedError, match=match):
        g.validate()
    with pytest.raises(UnsupportedError, match=match):
        import_tflite(single_op_model(in_shape, size, *flags))
    # one size less is inside
    smaller = (size[0] - 1, size[1]) if size[0] > size[1] else (size[0], size[1] - 1)
    g = _ir_graph(in_shape, smaller, align_corners=flags[0], half_pixel_centers=flags[1])
    assert reference.run(g, np.zeros(in_shape, np.int8))["y"].shape[1:3] == smaller


@pytest.mark.parametrize("out_quant", [(0.1, 3), (0.05, 4)])
def test_other_output_quantization_is_refused(out_quant: tuple[float, int]) -> None:
    with pytest.raises(TinygenError, match=r"input 'x' has scale 0.05, zero point 3 but output 'y' has scale .*; "
                                           r"RESIZE_BILINEAR interpolates the int8 values without requantizing"):
        _ir_graph(out_quant=out_quant).validate()
    with pytest.raises(TinygenError, match="without requantizing"):
        import_tflite(single_op_model((1, 3, 4, 2), (6, 8), out_quant=out_quant))


def test_shape_rank_and_type_are_checked() -> None:
    with pytest.raises(TinygenError, match=r"output 'y' has shape \(1, 6, 7, 2\), expected \(1, 6, 8, 2\)"):
        _ir_graph(out_shape=(1, 6, 7, 2)).validate()
    with pytest.raises(TinygenError, match=r"expected \(1, 6, 8, 2\)"):
        import_tflite(single_op_model((1, 3, 4, 2), (6, 8), out_shape=(1, 6, 7, 2)))
    with pytest.raises(TinygenError, match=r"input 'x' has shape \(3, 4, 2\); this op needs rank 4"):
        _ir_graph(in_shape=(3, 4, 2), out_shape=(1, 6, 8, 2)).validate()
    with pytest.raises(UnsupportedError, match="tensor 'x' is int16.*int8 only"):
        _ir_graph(dtype="int16").validate()
    with pytest.raises(TinygenError, match=r"attribute 'size': \(0, 8\) has a value outside 1\.\.65536"):
        _ir_graph(size=(0, 8), out_shape=(1, 1, 8, 2)).validate()


@pytest.mark.parametrize("size", [
    FbTensor("size", (3,), "int32", data=np.array([6, 8, 1], np.int32)),
    FbTensor("size", (1, 2), "int32", data=np.array([[6, 8]], np.int32)),
    FbTensor("size", (2,), "int32"),  # computed at run time
], ids=["three_values", "rank2", "not_constant"])
def test_size_operand_is_checked(size: FbTensor) -> None:
    with pytest.raises(UnsupportedError, match=r"its size \(tensor 'size' .*\) must be a constant 1-D int32 tensor of 2 "
                                               r"values \[new_height, new_width\]"):
        import_tflite(single_op_model((1, 3, 4, 2), (6, 8), size_tensor=size))


def test_memory_needs() -> None:
    """Not a view and not in place (each output pixel reads a 2x2 neighbourhood): its own buffer."""
    op = resize_bilinear.OP
    assert not op.alias and op.in_place is None and op.in_place_lag is None and op.quant_rule == "same_as_input"


# --------------------------------------------------------------------------- generated C on the host


#: chains of resizes, up and down, every legal flag pair, through the kernel's paths: copied output rows, rows with
#: one source (a copy or a horizontal mix per pixel), rows with two (a vertical mix or four pixels per pixel)
CHAINS = {
    "depth1": ((1, 5, 7, 1), [((10, 14), False, False), ((4, 9), True, False), ((9, 4), False, True),
                              ((9, 17), False, False)]),
    "depth3_batches2": ((2, 4, 6, 3), [((8, 12), False, True), ((5, 5), True, False), ((11, 3), False, False)]),
    "depth8": ((1, 4, 5, 8), [((8, 10), False, True), ((3, 7), True, False), ((6, 6), False, False)]),
    "depth13": ((1, 3, 4, 13), [((12, 16), False, False), ((7, 9), False, True), ((1, 1), True, False)]),
}


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("name", list(CHAINS))
def test_generated_c_equals_reference(tmp_path: Path, name: str, rounding: str) -> None:
    in_shape, steps = CHAINS[name]
    graph = import_tflite(chain_model(in_shape, steps))
    size = int(np.prod(in_shape))
    vectors = np.stack([np.full(size, -128), np.arange(size) % 256 - 128,
                        *np.random.default_rng(len(name)).integers(-128, 128, (2, size))]).astype(np.int8)
    manifest = opcheck.check_c(graph, tmp_path, vectors, rounding=rounding)
    assert [layer["kernel"] for layer in manifest["layers"]] == [KERNEL] * len(steps)
    assert all(layer["in_place"] is None for layer in manifest["layers"])


def test_rounding_modes_differ_on_negative_ties() -> None:
    """-1 and 0 mixed half and half: -0.5, which rounds to -1 away from zero and to 0 half up."""
    g = _ir_graph((1, 1, 2, 1), (1, 3), align_corners=True)
    x = np.array([-1, 0], np.int8).reshape(1, 1, 2, 1)
    assert reference.run(g, x, rounding="double")["y"].reshape(-1).tolist() == [-1, -1, 0]
    assert reference.run(g, x, rounding="single")["y"].reshape(-1).tolist() == [-1, 0, 0]


def test_tables_are_const_arrays(tmp_path: Path) -> None:
    """Row and column byte offsets (two int32 per output row and column) and fractions (int16), counted as tables;
    rows with one source have both offsets equal and fraction 0."""
    lib = codegen.generate(import_tflite(single_op_model((1, 4, 5, 8), (8, 10), hp=True)), tmp_path / "lib",
                           force=True)
    text = (lib.out_dir / f"{lib.name}_weights.c").read_text()
    assert "_rows[16]" in text and "_cols[20]" in text and "_row_frac[8]" in text and "_col_frac[10]" in text, text
    assert "0, 0, 0, 40, 0, 40, 40, 80," in text  # rows: y = 0 folded to one source, then 0/1, 0/1 (x 5 * 8 bytes)
    assert lib.manifest["const_bytes"] == {"weights": 0, "quant": 0, "table": (8 + 10) * 8 + (8 + 10) * 2}


# --------------------------------------------------------------------------- QEMU


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    steps = CHAINS["depth8"][1] + [((9, 4), False, False)]
    model = tmp_path / "resize_bilinear.tflite"
    model.write_bytes(chain_model((1, 4, 5, 8), steps))
    print(opcheck.check_qemu(model, board, tmp_path / "work", np.full((1, 4 * 5 * 8), -128, np.int8),
                             [KERNEL] * len(steps)))


# --------------------------------------------------------------------------- Keras flow


def _upsampling_model(keras: Any, size: tuple[int, int] = (2, 2)) -> Any:
    L = keras.layers
    keras.utils.set_random_seed(5)
    inputs = keras.Input((5, 4, 3), batch_size=1)
    x = L.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    x = L.UpSampling2D(size, interpolation="bilinear")(x)
    return keras.Model(inputs, L.Conv2D(4, 3, padding="same")(x))


@pytest.mark.parametrize("size", [(2, 2), (3, 2)])
def test_keras_upsampling_bilinear_tracks_the_float_model(size: tuple[int, int]) -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db

    model = _upsampling_model(keras, size)
    calibration = np.random.default_rng(0).standard_normal((64, 5, 4, 3)).astype(np.float32)
    graph = tg.quantize(model, calibration)
    assert [op.kind for op in graph.ops] == ["conv2d", KIND, "conv2d"]
    op = graph.ops[1]
    assert op.attrs == {"size": (5 * size[0], 4 * size[1]), "align_corners": False, "half_pixel_centers": True}
    assert graph.tensors[op.inputs[0]].quant.scalar() == graph.tensors[op.outputs[0]].quant.scalar()
    test = calibration[:16]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    print(f"size {size}: int8 vs float SQNR {sqnr:.1f} dB")
    assert sqnr >= SQNR_DB, f"SQNR {sqnr:.1f} dB"
    # TensorFlow's converter gives the same op with the same flags
    theirs = tg.quantize(model, calibration, quantizer="tflite")
    assert [(o.kind, o.attrs) for o in theirs.ops if o.kind == KIND] == [(KIND, op.attrs)]


def test_float_reference_is_tensorflows_resize() -> None:
    """The float reference (calibration, reports) is TensorFlow's float ResizeBilinear, with every flag pair."""
    tf = pytest.importorskip("tensorflow")
    x = np.random.default_rng(3).standard_normal((2, 5, 4, 3)).astype(np.float32)
    for ac, hp in FLAGS:
        for size in [(10, 8), (7, 13), (3, 2), (1, 1)]:
            op = Op(KIND, "r", ["x"], ["y"], {"size": size, "align_corners": ac, "half_pixel_centers": hp})
            want = tf.compat.v1.image.resize_bilinear(x, size, align_corners=ac, half_pixel_centers=hp).numpy()
            got = resize_bilinear.float_reference(op, [x])
            assert got.dtype == np.float32 and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=f"{size} {ac} {hp}")


def test_keras_sizes_where_tflite_micro_reads_outside_are_refused() -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg

    inputs = keras.Input((2, 2, 1), batch_size=1)
    model = keras.Model(inputs, keras.layers.UpSampling2D((641, 1), interpolation="bilinear")(inputs))
    with pytest.raises(UnsupportedError, match=r"\(UpSampling2D\): .*resizing rows 2 -> 1282: .*reads outside"):
        tg.quantize(model, np.zeros((4, 2, 2, 1), np.float32))


def test_qat_prepare_reproduces_post_training_quantization() -> None:
    keras = pytest.importorskip("keras")
    from tinygen import qat
    from tinygen.api import quantize
    from tinygen.quantize.report import sqnr_db

    model = _upsampling_model(keras)
    calibration = np.random.default_rng(2).standard_normal((32, 5, 4, 3)).astype(np.float32)
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    assert [(op.kind, op.inputs, op.outputs) for op in graph.ops] == [(op.kind, op.inputs, op.outputs) for op in ptq.ops]
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
    expected = np.asarray(model.predict(calibration[:8], verbose=0), np.float64)
    got = np.asarray(prepared.predict(calibration[:8], verbose=0), np.float64)
    assert sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2))) >= SQNR_DB


# --------------------------------------------------------------------------- command line


def test_convert_cli_tflite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "resize.tflite"
    model.write_bytes(chain_model((1, 4, 5, 8), [((8, 10), False, True), ((3, 7), True, False)]))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]] == [(KIND, KERNEL)] * 2
    graph = import_tflite(model)
    vectors = np.random.default_rng(6).integers(-128, 128, (2, 4 * 5 * 8)).astype(np.int8)
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(1, 4, 5, 8)])["r1"].reshape(-1))


def test_convert_cli_keras(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keras = pytest.importorskip("keras")
    from tinygen.cli import main

    path = tmp_path / "up.keras"
    _upsampling_model(keras).save(path)
    calibration = tmp_path / "calibration.npy"
    np.save(calibration, np.random.default_rng(1).standard_normal((32, 5, 4, 3)).astype(np.float32))
    out = tmp_path / "lib"
    assert main(["convert", str(path), "--calibration", str(calibration), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [layer["op"] for layer in manifest["layers"]] == ["conv2d", KIND, "conv2d"]
    assert manifest["layers"][1]["kernel"] == KERNEL
