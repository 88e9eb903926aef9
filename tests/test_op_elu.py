"""ELU (tinygen/ops/elu.py, kernel templates/kernels/tg_lut_s8.{c,h}).

* Prepare: the quantization read, the refused scale ratios (undefined float-to-int conversion), expf;
* the reference against TFLite Micro's interpreter over all 256 int8 inputs for many input/output scales
  and zero points (hypothesis, hand-built single-op ``.tflite`` files), and on models of TensorFlow's
  converter;
* the generated C against the reference on the host (gcc and clang, -Wall -Wextra -Werror -pedantic,
  ASan/UBSan), in place and not, both rounding modes, and in QEMU on Cortex-M3 (portable) and M7 (DSP);
* the Keras flow (``ELU()``, ``activation="elu"``, alpha other than 1 refused), QAT, and ``tinygen convert``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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
from tinygen.ops import elu, tanh
from tinygen.oracle import tflm_run
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
#: every int8 value, in order
ALL_INT8 = np.arange(-128, 128, dtype=np.int64).astype(np.int8)


def _float32(value: float) -> float:
    return float(np.float32(value))


# --------------------------------------------------------------------------- models


def single_op_model(in_quant: tuple[float, int], out_quant: tuple[float, int],
                    shape: tuple[int, ...] = (1, 256)) -> bytes:
    """A .tflite holding one int8 ELU."""
    tensors = [FbTensor("x", shape, "int8", *in_quant), FbTensor("y", shape, "int8", *out_quant)]
    return build_tflite(tensors, [FbOp("ELU", [0], [1])], [0], [1])


def chain_model(scale: float, zero_point: int, shape: tuple[int, ...] = (1, 259)) -> bytes:
    """``a = ELU(x); s = ADD(x, a); y = ELU(s)``: the first ELU cannot write over its input (the ADD still
    reads it), the second one can (its input dies there). 259 elements: a 3-element loop tail."""
    a_quant = (_float32(scale * 0.6), -60)
    sum_scale = _float32(scale * 1.7)
    tensors = [
        FbTensor("x", shape, "int8", scale, zero_point),
        FbTensor("a", shape, "int8", *a_quant),
        FbTensor("s", shape, "int8", sum_scale, 5),
        FbTensor("y", shape, "int8", _float32(sum_scale * 0.8), -70),
    ]
    ops = [
        FbOp("ELU", [0], [1]),
        FbOp("ADD", [0, 1], [2], "AddOptions", {"FusedActivationFunction": 0}),
        FbOp("ELU", [2], [3]),
    ]
    return build_tflite(tensors, ops, [0], [3])


def _ir_graph(in_quant: tuple[float, int], out_quant: tuple[float, int], dtype: str = "int8",
              shape: tuple[int, ...] = (1, 8)) -> Graph:
    g = Graph("elu")
    g.add_tensor(Tensor("x", shape, dtype, Quantization([in_quant[0]], [in_quant[1]])))
    g.add_tensor(Tensor("y", shape, "int8", Quantization([out_quant[0]], [out_quant[1]])))
    g.add_op(Op("elu", "elu", ["x"], ["y"], {}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


# --------------------------------------------------------------------------- Prepare


def test_params_by_hand() -> None:
    """The parameters are the float32 scales and the zero points; no rounding mode changes them."""
    g = _ir_graph((0.1, 3), (0.05, -7))
    g.validate()
    for rounding in ("double", "single"):
        p = qparams.op_params(g, g.ops[0], rounding)  # type: ignore[arg-type]
        assert p == elu.EluParams(input_scale=_float32(0.1), input_zero_point=3, output_scale=_float32(0.05),
                                  output_zero_point=-7)


def test_values_by_hand() -> None:
    """Input scale 1/16, zero point 0; output scale 1/32, zero point -64: x = k/16 >= 0 gives 2k - 64
    (clamped at 127), x = -1 (k = -16) gives round(32 * (e^-1 - 1)) = round(-20.23) = -20, so -84; the far
    negative end -128/16 = -8 gives round(32 * (e^-8 - 1)) = round(-31.989) = -32, so -96; a tie:
    x = -1/16, 32 * (e^-0.0625 - 1) = -1.9375..., rounds to -2, -66."""
    x = np.array([[0, 1, 10, 95, 96, 127, -16, -128, -1]], np.int8)
    g = _ir_graph((1.0 / 16.0, 0), (1.0 / 32.0, -64), shape=x.shape)
    y = reference.run(g, x)["y"]
    assert y.tolist() == [[-64, -62, -44, 126, 127, 127, -84, -96, -66]]
    np.testing.assert_array_equal(y, tflm_run(single_op_model((1.0 / 16.0, 0), (1.0 / 32.0, -64), x.shape), [x])["y"])


def _host_expf() -> Any:
    """The C library's expf (what TFLite Micro's Python interpreter calls), or skip where it is not glibc."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
    except (OSError, AttributeError):
        pytest.skip("the C library is not glibc")
    expf = ctypes.CDLL(ctypes.util.find_library("m")).expf
    expf.restype, expf.argtypes = ctypes.c_float, [ctypes.c_float]
    return expf


def test_expf_is_glibcs() -> None:
    """elu.glibc_expf gives the bits of the C library's expf at every negative input x = scale * d the tables
    meet (60 scales), at random negative floats down to the underflow, and at the edges; the correctly
    rounded exp differs at some of them (why the tables do not use it)."""
    expf = _host_expf()
    rng = np.random.default_rng(7)
    scales = np.float32(2.0) ** rng.uniform(-14.0, 4.0, 60).astype(np.float32)
    xs = np.concatenate([
        (scales[:, None] * -np.arange(1, 256, dtype=np.float32)[None, :]).astype(np.float32).ravel(),
        -(np.float32(2.0) ** rng.uniform(-30.0, 7.2, 20000).astype(np.float32)).astype(np.float32),
        np.float32([-0.0, 0.0, -2.0**-149, -87.9, -88.0, -103.0, -103.9, -104.0, -1e30, -np.inf]),
    ])
    theirs = np.array([expf(float(v)) for v in xs], np.float32)
    np.testing.assert_array_equal(elu.glibc_expf(xs).view(np.uint32), theirs.view(np.uint32))
    correctly_rounded = np.exp(xs.astype(np.float64)).astype(np.float32)
    assert 0 < np.count_nonzero(correctly_rounded != theirs) < len(xs) // 200


@pytest.mark.parametrize(("in_scale", "out_scale"), [(1e6, 1e-6), (1.0, 2.0**-24), (2.0**30, 1.0), (1e38, 1e-38)])
def test_rescaled_value_outside_int32_is_refused(in_scale: float, out_scale: float) -> None:
    """127 * input scale / output scale at or beyond 2^31: TFLite Micro's static_cast<int32_t> is undefined."""
    g = _ir_graph((in_scale, -128), (out_scale, 0))
    with pytest.raises(TinygenError, match=r"input 'x' scale .* against output 'y' scale .* out of int32's range"):
        qparams.op_params(g, g.ops[0])
    with pytest.raises(TinygenError, match="out of int32's range"):
        reference.run(g, np.zeros((1, 8), np.int8))


def test_largest_ratio_is_accepted() -> None:
    """255 * 2^23 is below 2^31: input scale 2^23 against output scale 1 stays defined (saturates to 127)."""
    g = _ir_graph((2.0**23, -128), (1.0, 0))
    y = reference.run(g, np.array([[-128, -127, 127, 0, -1, 1, 2, 3]], np.int8))["y"]
    assert y.tolist() == [[0, 127, 127, 127, 127, 127, 127, 127]]


def test_int8_only() -> None:
    with pytest.raises(UnsupportedError, match="tensor 'x' is int16.*int8 only"):
        _ir_graph((0.05, 0), (0.05, 0), dtype="int16").validate()


def test_wrong_declared_shape_is_refused() -> None:
    g = _ir_graph((0.05, 0), (0.05, 0))
    g.tensors["y"] = Tensor("y", (8, 1), "int8", Quantization([0.05], [0]))
    with pytest.raises(TinygenError):
        g.validate()


def test_in_place_predicate() -> None:
    g = _ir_graph((0.05, 0), (0.05, 0))
    assert elu.OP.in_place is not None and elu.OP.in_place(g, g.ops[0])
    g.tensors["y"] = Tensor("y", (8, 1), "int8", Quantization([0.05], [0]))
    assert not elu.OP.in_place(g, g.ops[0])


# --------------------------------------------------------------------------- against TFLite Micro


#: scales: realistic ones (log-uniform over 2^-12..2^4, any significand) and any float32 in a wide range
SCALES = st.one_of(
    st.floats(-12.0, 4.0).map(lambda e: _float32(2.0**e)),
    st.floats(2.0**-30, 2.0**10, width=32),
)


@settings(max_examples=120, deadline=None)
@given(in_scale=SCALES, in_zp=st.integers(-128, 127), out_scale=SCALES, out_zp=st.integers(-128, 127))
@example(in_scale=1.0 / 16.0, in_zp=0, out_scale=1.0 / 32.0, out_zp=-64)
@example(in_scale=0.05, in_zp=127, out_scale=0.05, out_zp=127)  # all inputs negative
@example(in_scale=0.05, in_zp=-128, out_scale=0.1, out_zp=-128)  # all inputs non-negative
@example(in_scale=2.0**-30, in_zp=0, out_scale=2.0**-30, out_zp=0)  # the identity (tiny x: e^x - 1 ~ x)
@example(in_scale=2.0**10, in_zp=3, out_scale=2.0**-12, out_zp=0)  # large ratio, inside int32
@example(in_scale=0.125, in_zp=0, out_scale=_float32(1.0 / 3.0), out_zp=1)  # an inexact inverse scale
def test_all_int8_inputs_match_tflite_micro(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> None:
    g = _ir_graph((in_scale, in_zp), (out_scale, out_zp))
    try:
        qparams.op_params(g, g.ops[0])
    except TinygenError:
        assert 255.0 * _float32(in_scale) / _float32(out_scale) > 2.0**31 * 0.99  # refused only beyond int32
        return
    data = single_op_model((in_scale, in_zp), (out_scale, out_zp))
    graph = import_tflite(data)
    x = ALL_INT8.reshape(1, 256)
    want = tflm_run(data, [x])[graph.outputs[0]]
    assert want.dtype == np.int8
    for rounding in ("double", "single"):
        np.testing.assert_array_equal(reference.run(graph, [x], rounding=rounding)[graph.outputs[0]], want)
    # the lowering's table (indexed by the input's bits) holds the same values
    p = qparams.op_params(graph, graph.ops[0])
    np.testing.assert_array_equal(elu.table(p)[x.view(np.uint8)], want)


def test_many_scales_match_tflite_micro() -> None:
    """A fixed sweep on top of hypothesis: 200 random input/output quantizations, every int8 input."""
    rng = np.random.default_rng(11)
    x = ALL_INT8.reshape(1, 256)
    distinct = set()
    for _ in range(200):
        in_quant = (_float32(2.0 ** rng.uniform(-12.0, 5.0)), int(rng.integers(-128, 128)))
        out_quant = (_float32(2.0 ** rng.uniform(-12.0, 5.0)), int(rng.integers(-128, 128)))
        data = single_op_model(in_quant, out_quant)
        want = tflm_run(data, [x])["y"]
        np.testing.assert_array_equal(reference.run(import_tflite(data), [x])["y"], want, err_msg=f"{in_quant} {out_quant}")
        distinct.add(want.tobytes())
    assert len(distinct) > 190


def test_chain_with_add_matches_tflite_micro() -> None:
    data = chain_model(0.04, 11)
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops] == ["elu", "add", "elu"]
    for x in opcheck.vectors_with_every_value(259, 6, seed=1):
        want = tflm_run(data, [x.reshape(1, 259)])
        got = reference.run(graph, [x.reshape(1, 259)])
        for name in ("a", "s", "y"):
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.mark.parametrize("case", ["dense_elu", "conv_elu"])
def test_tensorflow_converter_leaves_elu_float(tmp_path: Path, case: str) -> None:
    """TensorFlow's converter does not quantize ELU (it keeps a float ELU between DEQUANTIZE and QUANTIZE), so
    no converter model exercises the int8 ELU: tinygen refuses such a model as a float one, naming the ELU; the
    int8 ELU is checked above on hand-built models and below on tinygen's own quantizer's graphs."""
    keras = pytest.importorskip("keras")
    from tinygen.tfconvert import keras_to_int8_tflite

    L = keras.layers
    shape, body = {
        "dense_elu": ((12,), lambda x: L.Dense(6, activation="elu")(L.Dense(16, activation="relu")(x))),
        "conv_elu": ((6, 6, 3), lambda x: L.ELU()(L.Conv2D(4, 3, padding="same")(x))),
    }[case]
    keras.utils.set_random_seed(50)
    inp = keras.Input(shape, batch_size=1)
    model = keras.Model(inp, body(inp), name=case)
    samples = np.random.default_rng(0).normal(0.0, 2.0, (32, *shape)).astype(np.float32)
    data = keras_to_int8_tflite(model, samples)
    with pytest.raises(UnsupportedError, match=r"a float model \(op \d+ ELU uses float tensor"):
        import_tflite(data)


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
        ("elu", "tg_lut_s8"), ("add", layers[1]["kernel"]), ("elu", "tg_lut_s8")]
    # the first ELU's input is still read by the ADD; the second one's dies there: it runs in place
    assert layers[0]["in_place"] is None
    assert layers[2]["in_place"] == "s" and layers[2]["arena_offset"] == layers[1]["arena_offset"]


@pytest.mark.parametrize("shape", [(1, 256), (2, 3, 5, 7), (1, 3), (1, 1)])
def test_generated_c_single_op_shapes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    """Sizes below, at and off the 4-element step; a single op writes over the graph input."""
    graph = import_tflite(single_op_model((0.07, -20), (0.05, -30), shape))
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
    """Each ELU reads a 256-entry int8 table, counted as table bytes; two ELUs of one quantization share
    one; a TANH of that input has a table of its own (another function, same kernel)."""
    arrays, const_bytes = _lut_arrays(import_tflite(chain_model(0.04, 11)), tmp_path / "chain")
    assert len(arrays) == 2 and all("_lut[256]" in line for line in arrays), arrays
    assert const_bytes == {"weights": 0, "quant": 0, "table": 512}
    tensors = [FbTensor("x", (1, 9), "int8", 0.03, 4), FbTensor("a", (1, 9), "int8", 0.02, -50),
               FbTensor("b", (1, 9), "int8", 0.02, -50), FbTensor("y", (1, 9), "int8", 0.04, -50)]
    ops = [FbOp("ELU", [0], [1]), FbOp("ELU", [0], [2]),
           FbOp("ADD", [1, 2], [3], "AddOptions", {"FusedActivationFunction": 0})]
    twins = build_tflite(tensors, ops, [0], [3])
    arrays, const_bytes = _lut_arrays(import_tflite(twins), tmp_path / "twins")
    assert len(arrays) == 1 and const_bytes["table"] == 256, arrays
    tensors[2] = FbTensor("b", (1, 9), "int8", *tanh.OUTPUT_QUANT)
    ops[1] = FbOp("TANH", [0], [2])
    mixed = build_tflite(tensors, ops, [0], [3])
    arrays, const_bytes = _lut_arrays(import_tflite(mixed), tmp_path / "mixed")
    assert len(arrays) == 2 and const_bytes["table"] == 512, arrays


# --------------------------------------------------------------------------- QEMU


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)  # Cortex-M3 (portable C), Cortex-M7 (DSP)
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    print(opcheck.check_activation_chain_qemu(chain_model(0.04, 11), elu.KIND, board, tmp_path))


# --------------------------------------------------------------------------- Keras flow


#: what the other Keras tests require of one int8 layer (tests/test_quantizer.py SQNR_DB)
SQNR_DB = 30.0


@pytest.mark.parametrize("case", ["dense_activation", "elu_layer", "activation_layer"])
def test_keras_elu_tracks_the_float_model(case: str) -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db

    L = keras.layers
    keras.utils.set_random_seed(3)
    shape = {"dense_activation": (10,), "elu_layer": (6, 6, 3), "activation_layer": (6, 6, 3)}[case]
    inputs = keras.Input(shape, batch_size=1)
    if case == "dense_activation":
        outputs = L.Dense(7, activation="elu")(inputs)
    elif case == "elu_layer":
        outputs = L.ELU()(L.Conv2D(4, 3)(inputs))
    else:
        outputs = L.Activation("elu")(L.Conv2D(4, 3)(inputs))
    model = keras.Model(inputs, outputs)
    calibration = np.random.default_rng(0).standard_normal((128, *shape)).astype(np.float32) * 2.0
    graph = tg.quantize(model, calibration)
    kinds = [op.kind for op in graph.ops]
    assert kinds[-1] == "elu" and kinds.count("elu") == 1, kinds
    test = calibration[:24]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    print(f"{case}: int8 vs float SQNR {sqnr:.1f} dB")
    assert sqnr >= SQNR_DB, f"{case}: SQNR {sqnr:.1f} dB < {SQNR_DB} dB"
    # the ELU got its own calibrated output quantization (ELU's floor -1 inside its range)
    q = graph.tensors[graph.outputs[0]].quant
    assert q is not None and -128 <= int(q.zero_point[0]) < 127 and float(q.scale[0]) > 0


def test_keras_elu_alpha_other_than_1_is_refused() -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg

    inputs = keras.Input((10,), batch_size=1)
    model = keras.Model(inputs, keras.layers.ELU(alpha=0.5)(keras.layers.Dense(4)(inputs)))
    calibration = np.random.default_rng(0).standard_normal((16, 10)).astype(np.float32)
    with pytest.raises(TinygenError, match=r"alpha=0\.5 is not supported; TFLite's ELU has alpha 1 only"):
        tg.quantize(model, calibration)


def test_qat_prepare_reproduces_post_training_quantization() -> None:
    """QAT of a model with an elu: convert(prepare(model)) is the post-training graph."""
    keras = pytest.importorskip("keras")
    from tinygen import qat
    from tinygen.api import quantize

    L = keras.layers
    keras.utils.set_random_seed(9)
    inputs = keras.Input((10,), batch_size=1)
    model = keras.Model(inputs, L.Dense(5, activation="elu")(L.Dense(8, activation="relu")(inputs)))
    calibration = np.random.default_rng(1).standard_normal((64, 10)).astype(np.float32)
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    assert [(op.kind, op.inputs, op.outputs) for op in graph.ops] == [(op.kind, op.inputs, op.outputs) for op in ptq.ops]
    assert graph.ops[-1].kind == "elu"
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
        if t.is_const:
            np.testing.assert_array_equal(graph.tensors[name].data, t.data, err_msg=name)
    # the QAT model computes ELU: its predictions reach below zero but not below -1 (ELU's floor), on the
    # output's quantization grid
    predicted = prepared.predict(calibration[:16], verbose=0)
    out = ptq.tensors[ptq.outputs[0]].quant
    steps = predicted / float(out.scale[0]) + int(out.zero_point[0])
    np.testing.assert_allclose(steps, np.rint(steps), atol=1e-3)
    assert predicted.min() >= -1.0 - float(out.scale[0])


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "elu.tflite"
    model.write_bytes(chain_model(0.04, 11))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]][::2] == [("elu", "tg_lut_s8")] * 2
    assert any(p.name.endswith("tg_lut_s8.c") for p in out.iterdir()), sorted(p.name for p in out.iterdir())
    graph = import_tflite(model)
    vectors = opcheck.vectors_with_every_value(259, 2, seed=5)
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(1, 259)])["y"].reshape(-1))
