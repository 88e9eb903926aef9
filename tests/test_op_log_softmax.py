"""LOG_SOFTMAX (tinygen/ops/log_softmax.py, kernel templates/kernels/tg_log_softmax_s8.{c,h}).

* Prepare: TFLite Micro's integer parameters by hand, the refused output quantizations, input scales and rows;
* the reference against TFLite Micro's interpreter over random shapes (softmax over the last axis), input
  scales and zero points (hypothesis, hand-built single-op ``.tflite`` files), and on a model of TensorFlow's
  converter;
* the generated C against the reference on the host (gcc and clang, -Wall -Wextra -Werror -pedantic,
  ASan/UBSan), in place and not, both rounding modes, the kernel for every core, and in QEMU on M3 and M7;
* the Keras flow (``activation="log_softmax"``, ``Activation("log_softmax")``), QAT, and ``tinygen convert``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import hostbuild
import numpy as np
import opcheck
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_reference_ops import FbOp, FbTensor, build_tflite

from tinygen import qparams, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import log_softmax
from tinygen.oracle import tflm_run

#: the output quantization of an int8 LOG_SOFTMAX
OUT_SCALE, OUT_ZP = 16.0 / 256.0, 127
#: the smallest input scale TFLite Micro's Prepare accepts is the next float32 above 2^-26
MIN_SCALE = float(np.nextafter(np.float32(2.0**-26), np.float32(1)))


# --------------------------------------------------------------------------- models


def single_op_model(shape: tuple[int, ...], scale: float = 0.1, zero_point: int = 0) -> bytes:
    """A .tflite holding one int8 LOG_SOFTMAX."""
    tensors = [FbTensor("x", shape, "int8", scale, zero_point), FbTensor("y", shape, "int8", OUT_SCALE, OUT_ZP)]
    return build_tflite(tensors, [FbOp("LOG_SOFTMAX", [0], [1])], [0], [1])


def chain_model(shape: tuple[int, ...], scale: float = 0.05, zero_point: int = 11) -> bytes:
    """``a = LOG_SOFTMAX(x); s = ADD(x, a); y = LOG_SOFTMAX(s)``: the first one cannot write over its input (the
    ADD still reads it), the second one can (its input dies there)."""
    sum_scale = float(np.float32(scale * 1.25 + 0.125))
    tensors = [
        FbTensor("x", shape, "int8", scale, zero_point),
        FbTensor("a", shape, "int8", OUT_SCALE, OUT_ZP),
        FbTensor("s", shape, "int8", sum_scale, 5),
        FbTensor("y", shape, "int8", OUT_SCALE, OUT_ZP),
    ]
    ops = [
        FbOp("LOG_SOFTMAX", [0], [1]),
        FbOp("ADD", [0, 1], [2], "AddOptions", {"FusedActivationFunction": 0}),
        FbOp("LOG_SOFTMAX", [2], [3]),
    ]
    return build_tflite(tensors, ops, [0], [3])


def _ir_graph(in_quant: tuple[float, int], out_quant: tuple[float, int] = (OUT_SCALE, OUT_ZP),
              shape: tuple[int, ...] = (2, 8), dtype: str = "int8") -> Graph:
    g = Graph("log_softmax")
    g.add_tensor(Tensor("x", shape, dtype, Quantization([in_quant[0]], [in_quant[1]])))
    g.add_tensor(Tensor("y", shape, "int8", Quantization([out_quant[0]], [out_quant[1]])))
    g.add_op(Op("log_softmax", "ls", ["x"], ["y"], {}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def random_rows(shape: tuple[int, ...], count: int, seed: int) -> list[np.ndarray]:
    """``count`` int8 inputs: uniform ones, narrow ones (many near the row maximum), constant rows."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        if k % 3 == 0:
            x = rng.integers(-128, 128, shape)
        elif k % 3 == 1:
            x = rng.integers(-10, 10, shape) + rng.integers(-100, 100)
        else:
            x = np.full(shape, rng.integers(-128, 128))
        out.append(np.asarray(x).astype(np.int8))
    return out


# --------------------------------------------------------------------------- Prepare


def test_params_by_hand() -> None:
    """input scale 1/16: 2^26/16 = 2^22 = 0.5 * 2^23, so multiplier 2^30 with left shift 23; the reverse
    2^(31-23) / 2^30 = 2^-22 = 0.5 * 2^-21: divisor 2^30, right shift 21; diff_min -floor(31 * 2^26 / 2^23) = -248."""
    g = _ir_graph((1.0 / 16.0, 3))
    g.validate()
    for rounding in ("double", "single"):
        p = qparams.op_params(g, g.ops[0], rounding)  # type: ignore[arg-type]
        assert p == log_softmax.LogSoftmaxParams(input_multiplier=1 << 30, input_left_shift=23,
                                                 reverse_scaling_divisor=1 << 30, reverse_scaling_right_shift=21,
                                                 diff_min=-248)
    # a scale of 64 caps the real multiplier: at 2^31 - 1 (double rounding), at 2^30 - 1 (single rounding)
    g = _ir_graph((64.0, 0))
    p = qparams.op_params(g, g.ops[0], "double")
    assert (p.input_multiplier, p.input_left_shift, p.diff_min) == ((1 << 31) - 1, 31, 0)
    p = qparams.op_params(g, g.ops[0], "single")
    assert (p.input_multiplier, p.input_left_shift, p.diff_min) == ((1 << 31) - 2, 30, -1)


def test_values_by_hand() -> None:
    """Scale 1/16, rows [0, 0] (log 1/2 = -0.693: 127 - 11.09 -> 116), [16, 0] (x = 1, 0: -0.313, -1.313 -> 122,
    106) and [0, -128] (x = 0, -8: log(1 + e^-8) = 0.0003, so 127 and 127 - 128.005 -> -1)."""
    g = _ir_graph((1.0 / 16.0, 0), shape=(3, 2))
    x = np.array([[0, 0], [16, 0], [0, -128]], np.int8)
    assert reference.run(g, x)["y"].tolist() == [[116, 116], [122, 106], [127, -1]]


@pytest.mark.parametrize("out_quant", [(1.0 / 256.0, -128), (OUT_SCALE, 0), (OUT_SCALE, -128), (1.0 / 16.5, 127)])
def test_other_output_quantization_is_refused(out_quant: tuple[float, int]) -> None:
    g = _ir_graph((0.05, 0), out_quant)
    with pytest.raises(TinygenError, match=r"output 'y' has scale .*TFLite's int8 LOG_SOFTMAX needs scale 16/256 and "
                                           r"zero point 127: re-quantize"):
        qparams.op_params(g, g.ops[0])
    with pytest.raises(TinygenError, match="scale 16/256"):
        reference.run(g, np.zeros((2, 8), np.int8))


@pytest.mark.parametrize("scale", [2.0**-26, 2.0**-30, 1e-12])
def test_input_scale_at_or_below_2_pow_minus_26_is_refused(scale: float) -> None:
    g = _ir_graph((scale, 0))
    with pytest.raises(TinygenError, match=r"input 'x' has scale .*; TFLite's int8 LOG_SOFTMAX needs an input scale "
                                           r"above 2\^-26"):
        qparams.op_params(g, g.ops[0])


@pytest.mark.parametrize(("shape", "match"), [
    ((), r"input 'x' of shape \(\) has no last dimension"),
    ((2, 0), r"input 'x' of shape \(2, 0\) has no last dimension"),
    ((1, 4096), r"has rows of 4096 values; .*overflows int32 for rows of 4096 or more: use rows of 1\.\.4095"),
])
def test_rows_without_values_or_too_long_are_refused(shape: tuple[int, ...], match: str) -> None:
    with pytest.raises(TinygenError, match=match):
        _ir_graph((0.05, 0), shape=shape).validate()
    _ir_graph((0.05, 0), shape=(1, 4095)).validate()


def test_int8_only_and_shape_checked() -> None:
    with pytest.raises(UnsupportedError, match="tensor 'x' is int16.*int8 only"):
        _ir_graph((0.05, 0), dtype="int16").validate()
    g = _ir_graph((0.05, 0))
    g.tensors["y"] = Tensor("y", (2, 4), "int8", Quantization([OUT_SCALE], [OUT_ZP]))
    with pytest.raises(TinygenError, match=r"output 'y' has shape \(2, 4\), expected \(2, 8\)"):
        g.validate()


def test_in_place_predicate() -> None:
    g = _ir_graph((0.05, 0))
    assert log_softmax.OP.in_place is not None and log_softmax.OP.in_place(g, g.ops[0])
    g.tensors["y"] = Tensor("y", (8, 2), "int8", Quantization([OUT_SCALE], [OUT_ZP]))
    assert not log_softmax.OP.in_place(g, g.ops[0])


# --------------------------------------------------------------------------- against TFLite Micro


def _float32(value: float) -> float:
    return float(np.float32(value))


#: input scales: realistic ones (log-uniform over 2^-12..2^3) and any float32 above 2^-26 up to 2^7 (hypothesis
#: favours edges: powers of two, the range's ends; 32 and above cap the multiplier)
SCALES = st.one_of(
    st.floats(-12.0, 3.0).map(lambda e: _float32(2.0**e)),
    st.floats(MIN_SCALE, 128.0, width=32),
)
SHAPES = st.lists(st.integers(1, 5), min_size=0, max_size=3).flatmap(
    lambda lead: st.integers(1, 300).map(lambda depth: (*lead, depth)))


@settings(max_examples=120, deadline=None)
@given(shape=SHAPES, scale=SCALES, zero_point=st.integers(-128, 127), seed=st.integers(0, 2**16))
@example(shape=(4, 256), scale=1.0 / 16.0, zero_point=0, seed=0)
@example(shape=(3, 7), scale=MIN_SCALE, zero_point=-128, seed=1)  # left shift 1: every difference in the sum
@example(shape=(3, 9), scale=4.0, zero_point=7, seed=2)  # left shift 28: diff_min -7
@example(shape=(2, 5), scale=64.0, zero_point=-3, seed=3)  # capped multiplier, left shift 31: diff_min 0
@example(shape=(1, 2, 3, 40), scale=_float32(0.75 * 2.0**-8), zero_point=-100, seed=4)  # a short significand
def test_reference_matches_tflite_micro(shape: tuple[int, ...], scale: float, zero_point: int, seed: int) -> None:
    data = single_op_model(shape, scale, zero_point)
    graph = import_tflite(data)
    for x in random_rows(shape, 3, seed):
        want = tflm_run(data, [x])[graph.outputs[0]]
        assert want.dtype == np.int8
        np.testing.assert_array_equal(reference.run(graph, [x])[graph.outputs[0]], want)


def test_chain_with_add_matches_tflite_micro() -> None:
    data = chain_model((3, 67))
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops] == ["log_softmax", "add", "log_softmax"]
    for x in random_rows((3, 67), 6, seed=1):
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for name in ("a", "s", "y"):
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def _keras_model(case: str):  # type: ignore[no-untyped-def]
    keras = pytest.importorskip("keras")
    L = keras.layers
    keras.utils.set_random_seed(3)
    if case == "dense_activation":
        inputs = keras.Input((10,), batch_size=1)
        return keras.Model(inputs, L.Dense(7, activation="log_softmax")(L.Dense(12, activation="relu")(inputs)))
    inputs = keras.Input((6, 6, 3), batch_size=1)
    return keras.Model(inputs, L.Activation("log_softmax")(L.Conv2D(5, 3)(inputs)))


SHAPES_OF = {"dense_activation": (10,), "activation_layer": (6, 6, 3)}


def test_converter_model_matches_tflite_micro(tmp_path: Path) -> None:
    """TensorFlow's converter on Activation("log_softmax") after a convolution: its LOG_SOFTMAX (output 16/256,
    127) imports and matches TFLite Micro, every layer."""
    from tinygen.tfconvert import keras_to_int8_tflite

    model = _keras_model("activation_layer")
    samples = np.random.default_rng(2).normal(0.0, 2.0, (32, 6, 6, 3)).astype(np.float32)
    data = keras_to_int8_tflite(model, samples)
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops][-1] == "log_softmax"
    out = graph.tensors[graph.outputs[0]]
    assert out.quant is not None and out.quant.scalar() == (np.float32(OUT_SCALE), OUT_ZP)
    x_shape = graph.tensors[graph.inputs[0]].shape
    outputs = set()
    for x in random_rows(x_shape, 9, seed=3):
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for op in graph.ops:
            np.testing.assert_array_equal(got[op.outputs[0]], want[op.outputs[0]], err_msg=f"{op.kind} {op.name}")
        outputs.add(got[graph.outputs[0]].tobytes())
    assert len(outputs) > 5


# --------------------------------------------------------------------------- generated C


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize(("scale", "zero_point"), [(0.05, 11), (0.0123, 100), (64.0, 0)])
def test_generated_c_equals_reference_in_place_and_not(tmp_path: Path, scale: float, zero_point: int,
                                                       rounding: str) -> None:
    shape = (3, 67)
    graph = import_tflite(chain_model(shape, scale, zero_point))
    vectors = np.stack([x.reshape(-1) for x in random_rows(shape, 4, seed=zero_point & 0xFF)])
    manifest = opcheck.check_c(graph, tmp_path, vectors, rounding)
    layers = manifest["layers"]
    assert [(layer["op"], layer["kernel"]) for layer in layers][::2] == [("log_softmax", "tg_log_softmax_s8")] * 2
    # the first LOG_SOFTMAX's input is still read by the ADD; the second one's dies there: it runs in place
    assert layers[0]["in_place"] is None
    assert layers[2]["in_place"] == "s" and layers[2]["arena_offset"] == layers[1]["arena_offset"]


@pytest.mark.parametrize(("shape", "scale", "rounding"), [
    ((1, 1), 0.1, "double"), ((1, 7), 0.02, "single"), ((7, 1), 64.0, "double"), ((2, 3), MIN_SCALE, "single"),
    ((1, 5), 4.0, "double"), ((2, 3, 5, 7), 0.02, "single"), ((1, 4095), 0.004, "double"),
    ((6, 256), MIN_SCALE, "double"), ((3, 4), 64.0, "single")])
def test_generated_c_single_op_shapes(tmp_path: Path, shape: tuple[int, ...], scale: float, rounding: str) -> None:
    """Computed exps (below 8 elements) and tabulated ones; one value per row, the longest rows, the smallest
    scale and a capped multiplier; a single op writes over the graph input."""
    graph = import_tflite(single_op_model(shape, scale, -20))
    vectors = np.stack([x.reshape(-1) for x in random_rows(shape, 3, seed=shape[-1])])
    manifest = opcheck.check_c(graph, tmp_path, vectors, rounding)
    assert manifest["layers"][0]["in_place"] == graph.inputs[0]
    tabulated = int(np.prod(shape)) >= log_softmax.LUT_MIN_ELEMENTS
    assert manifest["const_bytes"]["table"] == 1024 * tabulated


def test_exp_table_is_the_sum_of_exps_terms() -> None:
    """The table holds the Q12.19 terms the reference sums: a row [0, -k] sums entries 0 and k."""
    g = _ir_graph((0.1, 0), shape=(256, 2))
    p = qparams.op_params(g, g.ops[0])
    table = log_softmax.exp_table(p, "double")
    assert table.dtype == np.int32 and table.shape == (256,)
    assert table[0] == 1 << 19 and np.all(np.diff(table) <= 0) and table[-1] == 0  # exp(-25.5) rounds to 0
    # diff_min -248 at scale 0.1: differences beyond it are left out
    assert p.diff_min == -248 and np.all(table[249:] == 0)


def test_c_log_equals_reference_log(tmp_path: Path) -> None:
    """The kernel's fixed-point log (static in tg_log_softmax_s8.c) equals the reference's on sums from 1.0
    (log 0) over the whole Q12.19 range, under ASan/UBSan; within 3 units of Q5.26 of ln."""
    driver = tmp_path / "log.c"
    driver.write_text('#include <stdio.h>\n#include "tg_log_softmax_s8.c"\nint main(void) { long v; '
                      'while (scanf("%ld", &v) == 1) printf("%ld\\n", (long)tg_log_softmax_log((int32_t)v)); }\n')
    cmd = ["gcc", "-std=c99", "-O2", *hostbuild.WARNINGS, *hostbuild.SANITIZE, f"-I{opcheck.KERNELS}", str(driver),
           "-o", str(tmp_path / "log")]
    subprocess.run(cmd, check=True)
    x = np.concatenate([np.arange(1 << 19, (1 << 19) + 20000), 1 << np.arange(19, 31), (1 << 31) - np.arange(1, 2000),
                        np.random.default_rng(1).integers(1 << 19, 1 << 31, 60000)])
    res = subprocess.run([str(tmp_path / "log")], input="\n".join(map(str, x)), capture_output=True, text=True,
                         check=True)
    want = log_softmax.log_x_for_x_greater_than_or_equal_to_1(x)
    np.testing.assert_array_equal(np.array(res.stdout.split(), np.int64), want)
    assert want[0] == 0 and np.abs(want - np.log(x / 2.0**19) * 2.0**26).max() < 3


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    shape = (3, 67)
    model = tmp_path / "log_softmax_chain.tflite"
    model.write_bytes(chain_model(shape))
    extra = np.stack([x.reshape(-1) for x in random_rows(shape, 3, seed=0)])
    kernels = ["tg_log_softmax_s8", "tg_add_s8", "tg_log_softmax_s8"]
    print(opcheck.check_qemu(model, board, tmp_path / "work", extra, kernels))


# --------------------------------------------------------------------------- Keras flow


#: what the other Keras tests require of one int8 layer (tests/test_quantizer.py SQNR_DB)
SQNR_DB = 30.0


@pytest.mark.parametrize("case", ["dense_activation", "activation_layer"])
def test_keras_log_softmax_tracks_the_float_model(case: str) -> None:
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db

    model = _keras_model(case)
    calibration = np.random.default_rng(0).standard_normal((128, *SHAPES_OF[case])).astype(np.float32) * 2.0
    graph = tg.quantize(model, calibration)
    kinds = [op.kind for op in graph.ops]
    assert kinds[-1] == "log_softmax" and kinds.count("log_softmax") == 1, kinds
    out = graph.tensors[graph.outputs[0]]
    assert out.quant is not None and out.quant.scalar() == (np.float32(OUT_SCALE), OUT_ZP)
    test = calibration[:24]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    print(f"{case}: int8 vs float SQNR {sqnr:.1f} dB")
    assert sqnr >= SQNR_DB, f"{case}: SQNR {sqnr:.1f} dB < {SQNR_DB} dB"
    # the float reference is Keras' log_softmax
    x = calibration[:4].reshape(4, -1)[:, :7].astype(np.float64)
    want = np.asarray(pytest.importorskip("keras").activations.log_softmax(x), np.float64)
    np.testing.assert_allclose(log_softmax.float_reference(graph.ops[-1], [x]), want, atol=1e-6)
    # TensorFlow's converter gives the same op sequence, and its LOG_SOFTMAX the same fixed output quantization
    theirs = tg.quantize(model, calibration, quantizer="tflite")
    assert [op.kind for op in theirs.ops] == kinds
    assert theirs.tensors[theirs.outputs[0]].quant.scalar() == out.quant.scalar()


def test_qat_prepare_reproduces_post_training_quantization() -> None:
    """QAT of a model with a log_softmax: convert(prepare(model)) is the post-training graph, and the QAT model's
    predictions sit on the fixed 16/256 output grid."""
    from tinygen import qat
    from tinygen.api import quantize

    model = _keras_model("dense_activation")
    calibration = np.random.default_rng(1).standard_normal((64, 10)).astype(np.float32)
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    assert [(op.kind, op.inputs, op.outputs) for op in graph.ops] == [
        (op.kind, op.inputs, op.outputs) for op in ptq.ops]
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
    predicted = prepared.predict(calibration[:16], verbose=0) * 16.0 + 127.0
    np.testing.assert_array_equal(predicted, np.rint(predicted))
    assert predicted.min() >= -128 and predicted.max() <= 127


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    shape = (3, 67)
    model = tmp_path / "log_softmax.tflite"
    model.write_bytes(chain_model(shape))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]][::2] == [
        ("log_softmax", "tg_log_softmax_s8")] * 2
    names = sorted(p.name for p in out.iterdir())
    assert any(n.endswith("tg_log_softmax_s8.c") for n in names), names
    assert any(n.endswith("tg_fixedpoint.h") for n in names), names
    # the emitted library computes what the reference does
    graph = import_tflite(model)
    vectors = np.stack([x.reshape(-1) for x in random_rows(shape, 3, seed=5)])
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(shape)])["y"].reshape(-1))
