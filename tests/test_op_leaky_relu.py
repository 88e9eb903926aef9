"""LEAKY_RELU (tinygen/ops/leaky_relu.py, kernel templates/kernels/tg_lut_s8.{c,h}).

* Prepare: TFLite Micro's two multipliers by hand (double ratios, QuantizeMultiplier), the refused
  attributes, scales and types, the exact output shape;
* the reference against TFLite Micro's interpreter over all 256 int8 inputs for many scales, zero points
  and alphas (hypothesis, hand-built single-op ``.tflite`` files), and on models of TensorFlow's converter;
* the generated C against the reference on the host (gcc and clang, -Wall -Wextra -Werror -pedantic,
  ASan/UBSan), in place and not, both rounding modes, and in QEMU on Cortex-M3 (portable) and M7 (DSP);
* the Keras flow (``LeakyReLU`` layer, ``activation="leaky_relu"``), QAT, and ``tinygen convert``.
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
from tinygen.ops import leaky_relu
from tinygen.oracle import tflm_run
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
#: every int8 value, in order
ALL_INT8 = np.arange(-128, 128, dtype=np.int64).astype(np.int8)


# --------------------------------------------------------------------------- models


def _options(alpha: float) -> tuple[str, dict[str, float]]:
    return "LeakyReluOptions", {"Alpha": alpha}


def single_op_model(in_quant: tuple[float, int], out_quant: tuple[float, int], alpha: float,
                    shape: tuple[int, ...] = (1, 256)) -> bytes:
    """A .tflite holding one int8 LEAKY_RELU."""
    tensors = [FbTensor("x", shape, "int8", *in_quant), FbTensor("y", shape, "int8", *out_quant)]
    return build_tflite(tensors, [FbOp("LEAKY_RELU", [0], [1], *_options(alpha))], [0], [1])


def chain_model(scale: float, zero_point: int, alpha: float = 0.2, shape: tuple[int, ...] = (1, 259)) -> bytes:
    """``a = LEAKY_RELU(x); s = ADD(x, a); y = LEAKY_RELU(s)``: the first one cannot write over its input (the
    ADD still reads it), the second one can (its input dies there). 259 elements: a 3-element loop tail."""
    a_scale = float(np.float32(scale * 0.9))
    sum_scale = float(np.float32(scale * 1.7))
    tensors = [
        FbTensor("x", shape, "int8", scale, zero_point),
        FbTensor("a", shape, "int8", a_scale, -90),
        FbTensor("s", shape, "int8", sum_scale, 5),
        FbTensor("y", shape, "int8", float(np.float32(sum_scale * 0.8)), -60),
    ]
    ops = [
        FbOp("LEAKY_RELU", [0], [1], *_options(alpha)),
        FbOp("ADD", [0, 1], [2], "AddOptions", {"FusedActivationFunction": 0}),
        FbOp("LEAKY_RELU", [2], [3], *_options(-alpha)),
    ]
    return build_tflite(tensors, ops, [0], [3])


def _ir_graph(in_quant: tuple[float, int], out_quant: tuple[float, int], alpha: Any = 0.25, dtype: str = "int8",
              out_shape: tuple[int, ...] = (1, 8)) -> Graph:
    g = Graph("leaky_relu")
    g.add_tensor(Tensor("x", (1, 8), dtype, Quantization([in_quant[0]], [in_quant[1]])))
    g.add_tensor(Tensor("y", out_shape, "int8", Quantization([out_quant[0]], [out_quant[1]])))
    g.add_op(Op("leaky_relu", "lr", ["x"], ["y"], {"alpha": alpha}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


# --------------------------------------------------------------------------- Prepare


def test_params_by_hand() -> None:
    """input scale 1/16, output scale 1/8: identity ratio 0.5 = QuantizeMultiplier (2^30, 0); alpha 0.25 gives
    0.125 = (2^30, -2); alpha -0.5 gives -0.25 = (-2^30, -1) (QuantizeMultiplier keeps the sign); alpha 0
    gives (0, 0). Exact powers of two: both rounding modes agree."""
    for rounding in ("double", "single"):
        g = _ir_graph((1.0 / 16.0, 3), (1.0 / 8.0, -5), 0.25)
        g.validate()
        p = qparams.op_params(g, g.ops[0], rounding)  # type: ignore[arg-type]
        assert p == leaky_relu.LeakyReluParams(input_zero_point=3, output_zero_point=-5,
                                               output_multiplier_alpha=1 << 30, output_shift_alpha=-2,
                                               output_multiplier_identity=1 << 30, output_shift_identity=0)
        g = _ir_graph((1.0 / 16.0, 3), (1.0 / 8.0, -5), -0.5)
        p = qparams.op_params(g, g.ops[0], rounding)  # type: ignore[arg-type]
        assert (p.output_multiplier_alpha, p.output_shift_alpha) == (-(1 << 30), -1)
        g = _ir_graph((1.0 / 16.0, 3), (1.0 / 8.0, -5), 0.0)
        p = qparams.op_params(g, g.ops[0], rounding)  # type: ignore[arg-type]
        assert (p.output_multiplier_alpha, p.output_shift_alpha) == (0, 0)


def test_ratios_are_double_expressions() -> None:
    """The multipliers are QuantizeMultiplier of ``input_scale * alpha / output_scale`` and ``input_scale /
    output_scale`` in double (from the float32 values), not of float32 quotients: with the chain model's scales
    (0.04 * 1.7 and 0.8 of that, in float32) the float32 quotient is 1.25, the double one just below it, and
    TFLite Micro rounds 2 * 1.2499999 down to 2 where 2 * 1.25 would give 3."""
    si = float(np.float32(0.04 * 1.7))
    so, alpha = float(np.float32(si * 0.8)), -0.2
    g = _ir_graph((si, 5), (so, -60), alpha)
    g.validate()
    p = qparams.op_params(g, g.ops[0])
    from tinygen import numerics
    d32 = [float(np.float32(v)) for v in (si, so, alpha)]
    assert (p.output_multiplier_alpha, p.output_shift_alpha) == numerics.quantize_multiplier(d32[0] * d32[2] / d32[1])
    assert (p.output_multiplier_identity, p.output_shift_identity) == numerics.quantize_multiplier(d32[0] / d32[1])
    assert p.output_multiplier_identity < 5 << 28  # below 1.25 = 0.625 * 2^1
    assert float(np.float32(si) / np.float32(so)) == 1.25
    data = single_op_model((si, 5), (so, -60), alpha)
    x = ALL_INT8.reshape(1, 256)
    want = tflm_run(data, [x])["y"]
    assert want[0, 7 + 128] == -58  # d = 2: 2 * 1.2499999 = 2.4999999 -> 2
    np.testing.assert_array_equal(reference.run(import_tflite(data), [x])["y"], want)


def test_values_by_hand() -> None:
    """scale 1/16 (zero point 3) -> 1/8 (zero point -5), alpha 0.25: the zero point gives the output zero point;
    +1.0 (16 steps) gives 0.5 (4 steps above -5), -1.0 gives -0.25 (-2 steps), -2.0 gives -0.5 (-4 steps);
    127 (7.75) gives 3.875 (31 steps)."""
    g = _ir_graph((1.0 / 16.0, 3), (1.0 / 8.0, -5), 0.25)
    x = np.array([[3, 3 + 16, 3 - 16, 3 - 32, 127, 4, 3 + 2]], np.int8)
    g.tensors["x"] = Tensor("x", x.shape, "int8", Quantization([1.0 / 16.0], [3]))
    g.tensors["y"] = Tensor("y", x.shape, "int8", Quantization([1.0 / 8.0], [-5]))
    y = reference.run(g, x)["y"]
    assert y.tolist() == [[-5, 3, -7, -9, 57, -4, -4]]


def test_saturation_by_hand() -> None:
    """Output scale 1/4 of the input's and alpha 2: both slopes leave int8 and clamp to -128/127."""
    g = _ir_graph((0.25, 0), (1.0 / 16.0, 0), 2.0)
    x = np.array([[0, 1, 31, 32, -1, -15, -16, -128]], np.int8)
    y = reference.run(g, x)["y"]
    assert y.tolist() == [[0, 4, 124, 127, -8, -120, -128, -128]]


@pytest.mark.parametrize("alpha", [float("nan"), float("inf"), -float("inf"), 1e39, "0.2", True, None])
def test_bad_alpha_is_refused(alpha: Any) -> None:
    g = _ir_graph((0.05, 0), (0.05, 0), alpha)
    with pytest.raises(TinygenError, match=r"leaky_relu 'lr'\): attribute 'alpha': .* (is not a number|is not a "
                                           r"finite float32 number)"):
        g.validate()


def test_missing_alpha_is_refused() -> None:
    g = _ir_graph((0.05, 0), (0.05, 0))
    del g.ops[0].attrs["alpha"]
    with pytest.raises(TinygenError, match="missing attribute 'alpha'"):
        g.validate()


def test_wrong_output_shape_is_refused() -> None:
    with pytest.raises(TinygenError, match=r"output 'y' has shape \(8, 1\), expected \(1, 8\)"):
        _ir_graph((0.05, 0), (0.05, 0), out_shape=(8, 1)).validate()


@pytest.mark.parametrize(("in_scale", "out_scale", "alpha", "what"), [
    (1.0, 2.0**-40, 0.0, "input/output"),  # identity ratio 2^40: a left shift of 41
    (1.0, 2.0**-20, 2.0**20, "input\\*alpha/output"),  # alpha ratio 2^40
    (1e30, 1e-5, 0.0, "input/output"),  # alpha 0 is (0, 0); the identity ratio 1e35 is not
])
def test_left_shift_beyond_30_is_refused(in_scale: float, out_scale: float, alpha: float, what: str) -> None:
    g = _ir_graph((in_scale, 0), (out_scale, 0), alpha)
    with pytest.raises(TinygenError, match=rf"{what} scale ratio .* needs a left shift of \d+ bits"):
        qparams.op_params(g, g.ops[0])


def test_huge_alpha_is_refused_by_its_shift() -> None:
    g = _ir_graph((1.0, 0), (1.0, 0), 1e30)
    with pytest.raises(TinygenError, match=r"input\*alpha/output scale ratio 1e\+30 needs a left shift of 100 bits"):
        qparams.op_params(g, g.ops[0])


def test_int8_only() -> None:
    with pytest.raises(UnsupportedError, match="tensor 'x' is int16.*int8 only"):
        _ir_graph((0.05, 0), (0.05, 0), dtype="int16").validate()


def test_in_place_predicate() -> None:
    g = _ir_graph((0.05, 0), (0.05, 0))
    assert leaky_relu.OP.in_place is not None and leaky_relu.OP.in_place(g, g.ops[0])
    g.tensors["y"] = Tensor("y", (8, 1), "int8", Quantization([0.05], [0]))
    assert not leaky_relu.OP.in_place(g, g.ops[0])


def test_import_reads_alpha_and_its_default() -> None:
    graph = import_tflite(single_op_model((0.05, 1), (0.04, -2), 0.1))
    assert [(op.kind, op.attrs) for op in graph.ops] == [("leaky_relu", {"alpha": float(np.float32(0.1))})]
    tensors = [FbTensor("x", (1, 4), "int8", 0.05, 0), FbTensor("y", (1, 4), "int8", 0.05, 0)]
    bare = build_tflite(tensors, [FbOp("LEAKY_RELU", [0], [1])], [0], [1])  # no options table: alpha 0
    assert import_tflite(bare).ops[0].attrs == {"alpha": 0.0}
    x = ALL_INT8[:4].reshape(1, 4)
    np.testing.assert_array_equal(reference.run(import_tflite(bare), [x])["y"], tflm_run(bare, [x])["y"])


# --------------------------------------------------------------------------- against TFLite Micro


def _float32(value: float) -> float:
    return float(np.float32(value))


SCALES = st.floats(-12.0, 3.0).map(lambda e: _float32(2.0**e))
ALPHAS = st.one_of(st.sampled_from([0.0, 0.01, 0.1, 0.2, 0.3, 1.0, -0.5]),
                   st.floats(-4.0, 4.0, width=32), st.floats(-2.0**-20, 2.0**-20, width=32))


@settings(max_examples=120, deadline=None)
@given(in_scale=SCALES, out_scale=SCALES, in_zp=st.integers(-128, 127), out_zp=st.integers(-128, 127), alpha=ALPHAS)
@example(in_scale=1.0 / 16.0, out_scale=1.0 / 16.0, in_zp=0, out_zp=0, alpha=0.5)  # identity (2^30, 1)
@example(in_scale=0.1, out_scale=0.01, in_zp=-128, out_zp=127, alpha=0.3)  # saturation both ways
@example(in_scale=0.02, out_scale=0.3, in_zp=127, out_zp=-128, alpha=-3.0)  # negative slope
@example(in_scale=2.0**-8, out_scale=2.0**-8, in_zp=5, out_zp=5, alpha=2.0**-40)  # alpha shift < -31: (0, 0)
def test_all_int8_inputs_match_tflite_micro(in_scale: float, out_scale: float, in_zp: int, out_zp: int,
                                            alpha: float) -> None:
    data = single_op_model((in_scale, in_zp), (out_scale, out_zp), alpha)
    graph = import_tflite(data)
    x = ALL_INT8.reshape(1, 256)
    want = tflm_run(data, [x])[graph.outputs[0]]
    assert want.dtype == np.int8
    got = reference.run(graph, [x])[graph.outputs[0]]
    np.testing.assert_array_equal(got, want)
    # the lowering's table (indexed by the input's bits) holds the same values
    p = qparams.op_params(graph, graph.ops[0])
    np.testing.assert_array_equal(leaky_relu.table(p, "double")[x.view(np.uint8)], want)
    # and single rounding's table is single rounding's reference
    single = reference.run(graph, [x], rounding="single")[graph.outputs[0]]
    sp = qparams.op_params(graph, graph.ops[0], "single")
    np.testing.assert_array_equal(leaky_relu.table(sp, "single")[x.view(np.uint8)], single)


def test_chain_with_add_matches_tflite_micro() -> None:
    data = chain_model(0.04, 11)
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops] == ["leaky_relu", "add", "leaky_relu"]
    for x in opcheck.vectors_with_every_value(259, 6, seed=1):
        want = tflm_run(data, [x.reshape(1, 259)])
        got = reference.run(graph, [x.reshape(1, 259)])
        for name in ("a", "s", "y"):
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.fixture(scope="module")
def converter_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """TensorFlow's converter on Keras leaky ReLUs: a LeakyReLU layer after a Dense and a Dense with
    activation="leaky_relu"."""
    keras = pytest.importorskip("keras")
    from tinygen.tfconvert import keras_to_int8_tflite

    L = keras.layers
    folder = tmp_path_factory.mktemp("leaky_relu_models")
    bodies = {
        "dense_leaky_layer": ((12,), lambda x: L.LeakyReLU(negative_slope=0.1)(L.Dense(16)(x))),
        "conv_leaky_activation": ((6, 6, 3), lambda x: L.Conv2D(4, 3, padding="same", activation="leaky_relu")(x)),
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


@pytest.mark.parametrize("name", ["dense_leaky_layer", "conv_leaky_activation"])
def test_converter_models_match_tflite_micro(converter_models: dict[str, Path], name: str) -> None:
    data = converter_models[name].read_bytes()
    graph = import_tflite(data)
    kinds = [op.kind for op in graph.ops]
    assert kinds[-1] == "leaky_relu", kinds
    assert graph.ops[-1].attrs["alpha"] == _float32(0.1 if name == "dense_leaky_layer" else 0.2)
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
@pytest.mark.parametrize(("scale", "zero_point", "alpha"), [(0.04, 11, 0.2), (1.0 / 16.0, -128, 0.01),
                                                             (0.0123, 100, 1.5), (5.0, 0, 0.0)])
def test_generated_c_equals_reference_in_place_and_not(tmp_path: Path, scale: float, zero_point: int, alpha: float,
                                                       rounding: str) -> None:
    graph = import_tflite(chain_model(scale, zero_point, alpha))
    manifest = check_c(graph, tmp_path, rounding, opcheck.vectors_with_every_value(259, 4, seed=zero_point & 0xFF))
    layers = manifest["layers"]
    assert [(layer["op"], layer["kernel"]) for layer in layers] == [
        ("leaky_relu", "tg_lut_s8"), ("add", layers[1]["kernel"]), ("leaky_relu", "tg_lut_s8")]
    # the first one's input is still read by the ADD; the second one's dies there: it runs in place
    assert layers[0]["in_place"] is None
    assert layers[2]["in_place"] == "s" and layers[2]["arena_offset"] == layers[1]["arena_offset"]


@pytest.mark.parametrize("shape", [(1, 256), (2, 3, 5, 7), (1, 3), (1, 1)])
def test_generated_c_single_op_shapes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    """Sizes below, at and off the 4-element step; a single op writes over the graph input."""
    graph = import_tflite(single_op_model((0.07, -20), (0.05, 3), 0.3, shape))
    size = int(np.prod(shape))
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
    """Each LEAKY_RELU reads a 256-entry int8 table, counted as table bytes; two of the same input and output
    quantization and alpha share one; another alpha has a table of its own."""
    arrays, const_bytes = _lut_arrays(import_tflite(chain_model(0.04, 11)), tmp_path / "chain")
    assert len(arrays) == 2 and all("_lut[256]" in line for line in arrays), arrays
    assert const_bytes == {"weights": 0, "quant": 0, "table": 512}

    def twins(alpha_b: float) -> Graph:
        tensors = [FbTensor("x", (1, 9), "int8", 0.03, 4), FbTensor("a", (1, 9), "int8", 0.02, -3),
                   FbTensor("b", (1, 9), "int8", 0.02, -3), FbTensor("y", (1, 9), "int8", 0.05, 0)]
        ops = [FbOp("LEAKY_RELU", [0], [1], *_options(0.2)), FbOp("LEAKY_RELU", [0], [2], *_options(alpha_b)),
               FbOp("ADD", [1, 2], [3], "AddOptions", {"FusedActivationFunction": 0})]
        return import_tflite(build_tflite(tensors, ops, [0], [3]))

    arrays, const_bytes = _lut_arrays(twins(0.2), tmp_path / "twins")
    assert len(arrays) == 1 and const_bytes["table"] == 256, arrays
    arrays, const_bytes = _lut_arrays(twins(0.3), tmp_path / "other")
    assert len(arrays) == 2 and const_bytes["table"] == 512, arrays


# --------------------------------------------------------------------------- QEMU


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)  # Cortex-M3 (portable C), Cortex-M7 (DSP)
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    print(opcheck.check_activation_chain_qemu(chain_model(0.04, 11), leaky_relu.KIND, board, tmp_path))


# --------------------------------------------------------------------------- Keras flow


#: what the other Keras tests require of one int8 layer (tests/test_quantizer.py SQNR_DB)
SQNR_DB = 30.0


@pytest.mark.parametrize("case", ["leaky_layer", "dense_activation"])
def test_keras_leaky_relu_tracks_the_float_model(case: str) -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db

    L = keras.layers
    keras.utils.set_random_seed(3)
    shape = {"leaky_layer": (6, 6, 3), "dense_activation": (10,)}[case]
    inputs = keras.Input(shape, batch_size=1)
    if case == "dense_activation":
        outputs, alpha = L.Dense(7, activation="leaky_relu")(inputs), 0.2
    else:
        outputs, alpha = L.LeakyReLU(negative_slope=0.15)(L.Conv2D(4, 3)(inputs)), 0.15
    model = keras.Model(inputs, outputs)
    calibration = np.random.default_rng(0).standard_normal((128, *shape)).astype(np.float32) * 2.0
    graph = tg.quantize(model, calibration)
    kinds = [op.kind for op in graph.ops]
    assert kinds[-1] == "leaky_relu" and kinds.count("leaky_relu") == 1, kinds
    assert graph.ops[-1].attrs["alpha"] == _float32(alpha)
    test = calibration[:24]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    print(f"{case}: int8 vs float SQNR {sqnr:.1f} dB")
    assert sqnr >= SQNR_DB, f"{case}: SQNR {sqnr:.1f} dB < {SQNR_DB} dB"
    # TensorFlow's converter gives the same op sequence and alpha
    theirs = tg.quantize(model, calibration, quantizer="tflite")
    assert [op.kind for op in theirs.ops] == kinds
    assert theirs.ops[-1].attrs["alpha"] == graph.ops[-1].attrs["alpha"]


def test_qat_prepare_reproduces_post_training_quantization() -> None:
    """QAT of a model with a LeakyReLU: convert(prepare(model)) is the post-training graph."""
    keras = pytest.importorskip("keras")
    from tinygen import qat
    from tinygen.api import quantize

    L = keras.layers
    keras.utils.set_random_seed(9)
    inputs = keras.Input((10,), batch_size=1)
    model = keras.Model(inputs, L.Dense(5)(L.LeakyReLU(negative_slope=0.1)(L.Dense(8)(inputs))))
    calibration = np.random.default_rng(1).standard_normal((64, 10)).astype(np.float32)
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    assert [(op.kind, op.inputs, op.outputs) for op in graph.ops] == [(op.kind, op.inputs, op.outputs) for op in ptq.ops]
    assert [op.kind for op in graph.ops].count("leaky_relu") == 1
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
        if t.is_const:
            np.testing.assert_array_equal(graph.tensors[name].data, t.data, err_msg=name)


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "leaky_relu.tflite"
    model.write_bytes(chain_model(0.04, 11))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]][::2] == [("leaky_relu", "tg_lut_s8")] * 2
    assert any(p.name.endswith("tg_lut_s8.c") for p in out.iterdir()), sorted(p.name for p in out.iterdir())
    # the emitted library computes what the reference does
    graph = import_tflite(model)
    vectors = opcheck.vectors_with_every_value(259, 2, seed=5)
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(1, 259)])["y"].reshape(-1))
