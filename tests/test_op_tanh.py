"""TANH (tinygen/ops/tanh.py, kernel templates/kernels/tg_lut_s8.{c,h}).

* Prepare: TFLite Micro's integer parameters by hand, the refused output quantizations and input scales;
* the reference against TFLite Micro's interpreter over all 256 int8 inputs for many input scales and
  zero points (hypothesis, hand-built single-op ``.tflite`` files), and on models of TensorFlow's converter;
* the generated C against the reference on the host (gcc and clang, -Wall -Wextra -Werror -pedantic,
  ASan/UBSan), in place and not, both rounding modes, and in QEMU on Cortex-M3 (portable) and M7 (DSP);
* the Keras flow (``activation="tanh"``, ``Activation("tanh")``), QAT, and ``tinygen convert``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hostbuild
import opcheck
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_reference_ops import FbOp, FbTensor, build_tflite

from tinygen import codegen, qparams, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import logistic, tanh
from tinygen.oracle import tflm_run
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
#: every int8 value, in order
ALL_INT8 = np.arange(-128, 128, dtype=np.int64).astype(np.int8)
#: the output quantization of an int8 TANH
OUT_SCALE, OUT_ZP = float(np.float32(1.0 / 128.0)), 0
#: the defined input scales: [2^-28, 2^35) (input_left_shift 0..62)
MIN_SCALE, MAX_SCALE = 2.0**-28, 2.0**35


# --------------------------------------------------------------------------- models


def single_op_model(scale: float, zero_point: int, shape: tuple[int, ...] = (1, 256),
                    out_quant: tuple[float, int] = (OUT_SCALE, OUT_ZP)) -> bytes:
    """A .tflite holding one int8 TANH."""
    tensors = [FbTensor("x", shape, "int8", scale, zero_point), FbTensor("y", shape, "int8", *out_quant)]
    return build_tflite(tensors, [FbOp("TANH", [0], [1])], [0], [1])


def chain_model(scale: float, zero_point: int, shape: tuple[int, ...] = (1, 259)) -> bytes:
    """``a = TANH(x); s = ADD(x, a); y = TANH(s)``: the first TANH cannot write over its input (the ADD still
    reads it), the second one can (its input dies there). 259 elements: a 3-element loop tail."""
    sum_scale = float(np.float32(scale * 1.25 + 1.0 / 128.0))
    tensors = [
        FbTensor("x", shape, "int8", scale, zero_point),
        FbTensor("a", shape, "int8", OUT_SCALE, OUT_ZP),
        FbTensor("s", shape, "int8", sum_scale, 5),
        FbTensor("y", shape, "int8", OUT_SCALE, OUT_ZP),
    ]
    ops = [
        FbOp("TANH", [0], [1]),
        FbOp("ADD", [0, 1], [2], "AddOptions", {"FusedActivationFunction": 0}),
        FbOp("TANH", [2], [3]),
    ]
    return build_tflite(tensors, ops, [0], [3])


def _ir_graph(in_quant: tuple[float, int], out_quant: tuple[float, int], dtype: str = "int8") -> Graph:
    g = Graph("tanh")
    g.add_tensor(Tensor("x", (1, 8), dtype, Quantization([in_quant[0]], [in_quant[1]])))
    g.add_tensor(Tensor("y", (1, 8), "int8", Quantization([out_quant[0]], [out_quant[1]])))
    g.add_op(Op("tanh", "tanh", ["x"], ["y"], {}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


# --------------------------------------------------------------------------- Prepare


def test_params_by_hand() -> None:
    """input scale 1/16: 2^27/16 = 2^23 = 0.5 * 2^24, so multiplier 2^30, left shift 24, and the radius
    floor(15 * 2^27 / 2^24) = 120; no rounding mode changes Prepare."""
    g = _ir_graph((1.0 / 16.0, 3), (OUT_SCALE, OUT_ZP))
    g.validate()
    for rounding in ("double", "single"):
        p = qparams.op_params(g, g.ops[0], rounding)  # type: ignore[arg-type]
        assert p == tanh.TanhParams(input_zero_point=3, input_multiplier=1 << 30, input_left_shift=24,
                                    input_range_radius=120)
    # 0.1f = m * 2^-27 (m its 24-bit significand): 0.1f * 2^27 = (0.1f * 2^3) * 2^24, so the multiplier is
    # 0.1f * 2^3 * 2^31 = m * 2^7, exactly
    g = _ir_graph((0.1, 0), (OUT_SCALE, OUT_ZP))
    p = qparams.op_params(g, g.ops[0])
    m = int(float(np.float32(0.1)) * 2**27)
    assert (p.input_multiplier, p.input_left_shift, p.input_range_radius) == (m << 7, 24, 120)


def test_values_by_hand() -> None:
    """Zero (the zero point) is exactly 0; at and beyond the radius the output saturates (just inside it
    tanh(±7.44) rounds to the ends too); ±1 (scale 1/16: x = ±1/16, tanh ±0.0624) rounds to ±8 steps of
    1/128, ±16 (tanh(±1) = ±0.7616) to ±97."""
    g = _ir_graph((1.0 / 16.0, 3), (OUT_SCALE, OUT_ZP))
    x = np.array([[3, 4, 2, 3 + 16, 3 - 16, 3 + 119, 3 - 119, 3 + 120, 3 - 120, 127, -128]], np.int8)
    g.tensors["x"] = Tensor("x", x.shape, "int8", Quantization([1.0 / 16.0], [3]))
    g.tensors["y"] = Tensor("y", x.shape, "int8", Quantization([OUT_SCALE], [OUT_ZP]))
    y = reference.run(g, x)["y"]
    assert y.tolist() == [[0, 8, -8, 97, -97, 127, -128, 127, -128, 127, -128]]


def test_fixed_point_tanh_is_odd_and_exact_at_zero() -> None:
    """gemmlowp's tanh (Q4.27 in, Q0.31 out) is exactly 0 at 0 and negates the result of |a| for negative a;
    just below 15.0 it is 1 (INT32_MAX); at 1.0 it is tanh(1) = 0.76159 within 2^-23, at 2^-27 a few hundred
    raw steps from 2^-27 (the int8 results are checked against TFLite Micro below)."""
    a = np.array([0, 1, 16, 1 << 20, 1 << 27, 3 << 26, (15 << 27) - 1], np.int64)
    t = tanh.fixed_point_tanh(a)
    np.testing.assert_array_equal(tanh.fixed_point_tanh(-a), -t)
    assert t[0] == 0 and t[-1] == 2**31 - 1
    assert np.all(np.diff(t) > 0)
    assert abs(int(t[4]) - round(np.tanh(1.0) * 2**31)) < 2**8
    assert 0 < t[1] < 2**9


@pytest.mark.parametrize("out_quant", [(1.0 / 256.0, -128), (OUT_SCALE, -128), (1.0 / 127.0, 0), (OUT_SCALE, 1)])
def test_other_output_quantization_is_refused(out_quant: tuple[float, int]) -> None:
    g = _ir_graph((0.05, 0), out_quant)
    with pytest.raises(TinygenError, match=r"output 'y' has scale .*TFLite's int8 TANH needs scale 1/128 and "
                                           r"zero point 0: re-quantize"):
        qparams.op_params(g, g.ops[0])
    with pytest.raises(TinygenError, match="scale 1/128"):
        reference.run(g, np.zeros((1, 8), np.int8))


def test_tflite_micro_ignores_the_output_quantization() -> None:
    """Why another output quantization is refused: TFLite Micro's TANH does not check it and writes the
    1/128, zero point 0 bytes whatever the output tensor says, so no faithful result exists for it."""
    want = tflm_run(single_op_model(0.05, 0), [ALL_INT8.reshape(1, 256)])["y"]
    other = tflm_run(single_op_model(0.05, 0, out_quant=(1.0 / 256.0, -128)), [ALL_INT8.reshape(1, 256)])["y"]
    np.testing.assert_array_equal(other, want)
    graph = import_tflite(single_op_model(0.05, 0, out_quant=(1.0 / 256.0, -128)))
    with pytest.raises(TinygenError, match="TANH needs scale 1/128"):
        qparams.op_params(graph, graph.ops[0])


@pytest.mark.parametrize("scale", [2.0**-29, float(np.nextafter(np.float32(2.0**-28), np.float32(0))), 2.0**35, 1e20])
def test_input_scale_outside_the_defined_range_is_refused(scale: float) -> None:
    g = _ir_graph((scale, 0), (OUT_SCALE, OUT_ZP))
    with pytest.raises(TinygenError, match=r"input 'x' has scale .* outside \[2\^-28, 2\^35\) where TFLite's int8 "
                                           r"TANH is defined"):
        qparams.op_params(g, g.ops[0])


def test_int8_only() -> None:
    with pytest.raises(UnsupportedError, match="tensor 'x' is int16.*int8 only"):
        _ir_graph((0.05, 0), (OUT_SCALE, OUT_ZP), dtype="int16").validate()


def test_in_place_predicate() -> None:
    g = _ir_graph((0.05, 0), (OUT_SCALE, OUT_ZP))
    assert tanh.OP.in_place is not None and tanh.OP.in_place(g, g.ops[0])
    g.tensors["y"] = Tensor("y", (8, 1), "int8", Quantization([OUT_SCALE], [OUT_ZP]))
    assert not tanh.OP.in_place(g, g.ops[0])


# --------------------------------------------------------------------------- against TFLite Micro


def _float32(value: float) -> float:
    return float(np.float32(value))


#: input scales: realistic ones (log-uniform over 2^-12..2^3, any significand) and any float32 in the
#: defined range (hypothesis favours edges: powers of two, the range's ends)
SCALES = st.one_of(
    st.floats(-12.0, 3.0).map(lambda e: _float32(2.0**e)),
    st.floats(MIN_SCALE, MAX_SCALE, exclude_max=True, width=32),
).filter(lambda s: MIN_SCALE <= s < MAX_SCALE)


@settings(max_examples=150, deadline=None)
@given(scale=SCALES, zero_point=st.integers(-128, 127))
@example(scale=1.0 / 16.0, zero_point=0)  # radius 120: both ends of it inside -128..127
@example(scale=MIN_SCALE, zero_point=-128)  # left shift 0: the whole input range inside the radius
@example(scale=4.0, zero_point=7)  # left shift 30: radius 1, only the zero point is computed (0)
@example(scale=8.0, zero_point=-3)  # left shift 31: radius 0, TFLite Micro gives -128 at the zero point
@example(scale=_float32(np.nextafter(np.float32(MAX_SCALE), np.float32(0))), zero_point=127)  # left shift 62
@example(scale=_float32(0.75 * 2.0**-8), zero_point=-100)  # a short significand (rounding ties in the rescaling)
def test_all_int8_inputs_match_tflite_micro(scale: float, zero_point: int) -> None:
    data = single_op_model(scale, zero_point)
    graph = import_tflite(data)
    x = ALL_INT8.reshape(1, 256)
    want = tflm_run(data, [x])[graph.outputs[0]]
    assert want.dtype == np.int8
    got = reference.run(graph, [x])[graph.outputs[0]]
    np.testing.assert_array_equal(got, want)
    # the lowering's table (indexed by the input's bits) holds the same values
    p = qparams.op_params(graph, graph.ops[0])
    np.testing.assert_array_equal(tanh.table(p, "double")[x.view(np.uint8)], want)
    # and single rounding's table is single rounding's reference
    single = reference.run(graph, [x], rounding="single")[graph.outputs[0]]
    np.testing.assert_array_equal(tanh.table(p, "single")[x.view(np.uint8)], single)


def test_radius_zero_gives_minus_128_at_the_zero_point() -> None:
    """Input scale 8 (left shift 31): radius 0, so ``d <= -0`` holds at the zero point and TFLite Micro writes
    -128 there, not tanh(0) = 0; tinygen does the same."""
    data = single_op_model(8.0, -3)
    x = ALL_INT8.reshape(1, 256)
    want = tflm_run(data, [x])["y"]
    assert want[0, -3 + 128] == -128 and want[0, -2 + 128] == 127
    np.testing.assert_array_equal(reference.run(import_tflite(data), [x])["y"], want)


def test_chain_with_add_matches_tflite_micro() -> None:
    data = chain_model(0.04, 11)
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops] == ["tanh", "add", "tanh"]
    for x in opcheck.vectors_with_every_value(259, 6, seed=1):
        want = tflm_run(data, [x.reshape(1, 259)])
        got = reference.run(graph, [x.reshape(1, 259)])
        for name in ("a", "s", "y"):
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.fixture(scope="module")
def converter_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """TensorFlow's converter on Keras tanhs: a Dense with activation="tanh" and an Activation("tanh") layer
    after a convolution."""
    keras = pytest.importorskip("keras")
    from tinygen.tfconvert import keras_to_int8_tflite

    L = keras.layers
    folder = tmp_path_factory.mktemp("tanh_models")
    bodies = {
        "dense_tanh": ((12,), lambda x: L.Dense(6, activation="tanh")(L.Dense(16, activation="relu")(x))),
        "conv_tanh": ((6, 6, 3), lambda x: L.Activation("tanh")(L.Conv2D(4, 3, padding="same")(x))),
    }
    paths = {}
    for i, (name, (shape, body)) in enumerate(bodies.items()):
        keras.utils.set_random_seed(50 + i)
        inp = keras.Input(shape, batch_size=1)
        model = keras.Model(inp, body(inp), name=name)
        samples = np.random.default_rng(i).normal(0.0, 2.0, (32, *shape)).astype(np.float32)
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(keras_to_int8_tflite(model, samples))
    return paths


@pytest.mark.parametrize("name", ["dense_tanh", "conv_tanh"])
def test_converter_models_match_tflite_micro(converter_models: dict[str, Path], name: str) -> None:
    data = converter_models[name].read_bytes()
    graph = import_tflite(data)
    kinds = [op.kind for op in graph.ops]
    assert kinds[-1] == "tanh", kinds
    out = graph.tensors[graph.outputs[0]]
    assert out.quant is not None and out.quant.scalar() == (np.float32(OUT_SCALE), OUT_ZP)
    x_shape = graph.tensors[graph.inputs[0]].shape
    rng = np.random.default_rng(3)
    outputs = set()
    for x in [rng.integers(-128, 128, x_shape).astype(np.int8) for _ in range(12)] + [
            np.full(x_shape, v, np.int8) for v in (-128, 127)]:
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for op in graph.ops:
            np.testing.assert_array_equal(got[op.outputs[0]], want[op.outputs[0]], err_msg=f"{op.kind} {op.name}")
        outputs.add(got[graph.outputs[0]].tobytes())
    assert len(outputs) > 10


# --------------------------------------------------------------------------- generated C on the host


def check_c(graph: Graph, work: Path, rounding: str, vectors: np.ndarray) -> dict[str, Any]:
    """The generated C against the reference under every compiler/sanitizer build (tests/opcheck.py)."""
    return opcheck.check_c(graph, work, vectors, rounding)


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize(("scale", "zero_point"), [(0.04, 11), (1.0 / 16.0, -128), (0.0123, 100), (5.0, 0)])
def test_generated_c_equals_reference_in_place_and_not(tmp_path: Path, scale: float, zero_point: int,
                                                       rounding: str) -> None:
    graph = import_tflite(chain_model(scale, zero_point))
    manifest = check_c(graph, tmp_path, rounding, opcheck.vectors_with_every_value(259, 4, seed=zero_point & 0xFF))
    layers = manifest["layers"]
    assert [(layer["op"], layer["kernel"]) for layer in layers] == [
        ("tanh", "tg_lut_s8"), ("add", layers[1]["kernel"]), ("tanh", "tg_lut_s8")]
    # the first TANH's input is still read by the ADD; the second one's dies there: it runs in place
    assert layers[0]["in_place"] is None
    assert layers[2]["in_place"] == "s" and layers[2]["arena_offset"] == layers[1]["arena_offset"]


@pytest.mark.parametrize("shape", [(1, 256), (2, 3, 5, 7), (1, 3), (1, 1)])
def test_generated_c_single_op_shapes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    """Sizes below, at and off the 4-element step; a single op writes over the graph input."""
    graph = import_tflite(single_op_model(0.07, -20, shape))
    size = int(np.prod(shape))
    # every int8 value, in as many vectors as it takes, then random ones
    every = np.resize(ALL_INT8, -(-256 // size) * size).reshape(-1, size)
    vectors = np.concatenate([every, opcheck.vectors_with_every_value(size, 2, seed=size)])
    manifest = check_c(graph, tmp_path, "double", vectors)
    assert manifest["layers"][0]["in_place"] == graph.inputs[0]


def _lut_arrays(graph: Graph, work: Path) -> tuple[list[str], dict[str, int]]:
    lib = codegen.generate(graph, work / "lib", force=True)
    text = (lib.out_dir / f"{lib.name}_weights.c").read_text()
    return [line for line in text.splitlines() if line.startswith("const int8_t") and "_lut[" in line], \
        lib.manifest["const_bytes"]


def test_tables_are_256_byte_const_arrays(tmp_path: Path) -> None:
    """Each TANH reads a 256-entry int8 table, counted as table bytes; two TANHs of one input quantization
    share one; a LOGISTIC of that input has a table of its own (another function, same kernel)."""
    arrays, const_bytes = _lut_arrays(import_tflite(chain_model(1.0 / 128.0, OUT_ZP)), tmp_path / "chain")
    assert len(arrays) == 2 and all("_lut[256]" in line for line in arrays), arrays
    assert const_bytes == {"weights": 0, "quant": 0, "table": 512}
    tensors = [FbTensor("x", (1, 9), "int8", 0.03, 4), FbTensor("a", (1, 9), "int8", OUT_SCALE, OUT_ZP),
               FbTensor("b", (1, 9), "int8", OUT_SCALE, OUT_ZP), FbTensor("y", (1, 9), "int8", 2.0 / 128.0, 0)]
    ops = [FbOp("TANH", [0], [1]), FbOp("TANH", [0], [2]),
           FbOp("ADD", [1, 2], [3], "AddOptions", {"FusedActivationFunction": 0})]
    twins = build_tflite(tensors, ops, [0], [3])
    arrays, const_bytes = _lut_arrays(import_tflite(twins), tmp_path / "twins")
    assert len(arrays) == 1 and const_bytes["table"] == 256, arrays
    tensors[2] = FbTensor("b", (1, 9), "int8", *logistic.OUTPUT_QUANT)
    ops[1] = FbOp("LOGISTIC", [0], [2])
    mixed = build_tflite(tensors, ops, [0], [3])
    arrays, const_bytes = _lut_arrays(import_tflite(mixed), tmp_path / "mixed")
    assert len(arrays) == 2 and const_bytes["table"] == 512, arrays


# --------------------------------------------------------------------------- QEMU


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)  # Cortex-M3 (portable C), Cortex-M7 (DSP)
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    print(opcheck.check_activation_chain_qemu(chain_model(0.04, 11), tanh.KIND, board, tmp_path))


# --------------------------------------------------------------------------- Keras flow


#: what the other Keras tests require of one int8 layer (tests/test_quantizer.py SQNR_DB)
SQNR_DB = 30.0


@pytest.mark.parametrize("case", ["dense_activation", "activation_layer"])
def test_keras_tanh_tracks_the_float_model(case: str) -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db

    L = keras.layers
    keras.utils.set_random_seed(3)
    shape = {"dense_activation": (10,), "activation_layer": (6, 6, 3)}[case]
    inputs = keras.Input(shape, batch_size=1)
    if case == "dense_activation":
        outputs = L.Dense(7, activation="tanh")(inputs)
    else:
        outputs = L.Activation("tanh")(L.Conv2D(4, 3)(inputs))
    model = keras.Model(inputs, outputs)
    calibration = np.random.default_rng(0).standard_normal((128, *shape)).astype(np.float32) * 2.0
    graph = tg.quantize(model, calibration)
    kinds = [op.kind for op in graph.ops]
    assert kinds[-1] == "tanh" and kinds.count("tanh") == 1, kinds
    out = graph.tensors[graph.outputs[0]]
    assert out.quant is not None and out.quant.scalar() == (np.float32(OUT_SCALE), OUT_ZP)
    test = calibration[:24]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    print(f"{case}: int8 vs float SQNR {sqnr:.1f} dB")
    assert sqnr >= SQNR_DB, f"{case}: SQNR {sqnr:.1f} dB < {SQNR_DB} dB"
    # TensorFlow's converter gives the same op sequence, and its TANH the same fixed output quantization
    theirs = tg.quantize(model, calibration, quantizer="tflite")
    assert [op.kind for op in theirs.ops] == kinds
    assert theirs.tensors[theirs.outputs[0]].quant.scalar() == out.quant.scalar()


def test_qat_prepare_reproduces_post_training_quantization() -> None:
    """QAT of a model with a tanh: convert(prepare(model)) is the post-training graph, and the QAT model's
    predictions sit on the fixed 1/128 output grid."""
    keras = pytest.importorskip("keras")
    from tinygen import qat
    from tinygen.api import quantize

    L = keras.layers
    keras.utils.set_random_seed(9)
    inputs = keras.Input((10,), batch_size=1)
    model = keras.Model(inputs, L.Dense(5, activation="tanh")(L.Dense(8, activation="relu")(inputs)))
    calibration = np.random.default_rng(1).standard_normal((64, 10)).astype(np.float32)
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    assert [(op.kind, op.inputs, op.outputs) for op in graph.ops] == [(op.kind, op.inputs, op.outputs) for op in ptq.ops]
    assert graph.ops[-1].kind == "tanh"
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
        if t.is_const:
            np.testing.assert_array_equal(graph.tensors[name].data, t.data, err_msg=name)
    predicted = prepared.predict(calibration[:16], verbose=0) * 128.0
    np.testing.assert_array_equal(predicted, np.rint(predicted))
    assert predicted.min() >= -128 and predicted.max() <= 127


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "tanh.tflite"
    model.write_bytes(chain_model(0.04, 11))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]][::2] == [("tanh", "tg_lut_s8")] * 2
    assert any(p.name.endswith("tg_lut_s8.c") for p in out.iterdir()), sorted(p.name for p in out.iterdir())
    # the emitted library computes what the reference does
    graph = import_tflite(model)
    vectors = opcheck.vectors_with_every_value(259, 2, seed=5)
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(1, 259)])["y"].reshape(-1))
