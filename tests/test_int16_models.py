"""int16x8 (TFLite's 16x8 mode: int16 activations with zero point 0, int8 weights, int64 biases), issue 20 item 1:
the plumbing (int16 graph inputs and outputs, float32 <-> int16 edges, QUANTIZE int8 <-> int16 <-> int16) and
the 16x8 ops FULLY_CONNECTED, ADD, SUB, MUL, LOGISTIC, TANH, SOFTMAX, MAX/AVERAGE_POOL_2D, PAD, CONCATENATION,
RESHAPE.

* Keras models converted here with TF's 16x8 mode on calibration data made here: tinygen's reference against
  TFLite Micro on every tensor (per-channel and per-tensor weights, with and without bias, fused ReLU, float32
  and int16 model I/O; LOGISTIC/TANH also on all 65536 int16 inputs, power-of-two and general input scales);
* the generated C against the reference on the host (gcc/clang, sanitizers, the DSP path emulated), on vectors
  with the int16 extremes; TFLite Micro's int32-bias 16x8 path (the int32 accumulator wraps) and a mixed
  int8 -> int16 -> int8 graph as hand-made graphs;
* the models through ``tinygen test``'s path in QEMU (Cortex-M7 DSP, Cortex-M3 portable) bit-exact with TFLite
  Micro, and the ``tinygen test --board mps2_an500`` command itself;
* a 16x8 TRANSPOSE_CONV refused at import, naming the layer, its type and that its int16x8 form is not supported
  yet (CONV_2D and DEPTHWISE_CONV_2D 16x8: tests/test_int16_conv.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import opcheck
import pytest

from tinygen import ir, reference
from tinygen.errors import UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.oracle import tflm_run

tf = pytest.importorskip("tensorflow")


def _convert(model, calibration: np.ndarray, int16_io: bool, per_tensor: bool = False) -> bytes:
    """``model`` through TF's 16x8 converter (calibrated on ``calibration``), int16 or float32 at the I/O."""
    from tinygen import quiet_tf  # noqa: F401  (TF's log noise)

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([row[None]] for row in calibration)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    if per_tensor:
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    if int16_io:
        conv.inference_input_type = conv.inference_output_type = tf.int16
    return bytes(conv.convert())


def _mlp(bias: bool, seed: int) -> object:
    """Dense(16, relu) + Dense(8) on 20 features, random weights (and random biases: Keras' zero biases are
    dropped by the converter)."""
    tf.keras.utils.set_random_seed(seed)
    init = "random_normal" if bias else "zeros"
    return tf.keras.Sequential([
        tf.keras.Input((20,)),
        tf.keras.layers.Dense(16, activation="relu", bias_initializer=init, use_bias=bias),
        tf.keras.layers.Dense(8, bias_initializer=init, use_bias=bias),
    ])


CALIBRATION = np.random.default_rng(0).normal(size=(64, 20)).astype(np.float32) * 2


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The converted MLPs by configuration, written to files."""
    root = tmp_path_factory.mktemp("int16_fc")
    configs = {
        "bias_int16io": (True, True, False), "bias_f32io": (True, False, False),
        "nobias_int16io": (False, True, False), "bias_per_tensor": (True, True, True),
    }
    out = {}
    for name, (bias, int16_io, per_tensor) in configs.items():
        out[name] = root / f"{name}.tflite"
        out[name].write_bytes(_convert(_mlp(bias, seed=len(out)), CALIBRATION, int16_io, per_tensor))
    return out


def _int16_vectors(count: int, size: int, seed: int) -> np.ndarray:
    """``count`` int16 vectors: the extremes and zero first, then uniform values."""
    v = np.random.default_rng(seed).integers(-32768, 32768, (count, size)).astype(np.int16)
    v[: min(3, count)] = np.array([[32767], [-32768], [0]])[: min(3, count)]
    return v


def _assert_matches_tflm(data: bytes, g: ir.Graph, inputs: np.ndarray) -> None:
    """Every tensor of tinygen's reference equals TFLite Micro's on each of ``inputs`` (one graph input each)."""
    for vector in inputs:
        ours, theirs = reference.run(g, [vector]), tflm_run(data, [vector])
        for op in g.ops:
            np.testing.assert_array_equal(ours[op.outputs[0]], theirs[op.outputs[0]], err_msg=op.outputs[0])


@pytest.mark.parametrize("config", ["bias_int16io", "bias_f32io", "nobias_int16io", "bias_per_tensor"])
def test_reference_matches_tflm(models: dict[str, Path], config: str) -> None:
    """Every tensor of tinygen's reference equals TFLite Micro's, on 12 inputs (the int16 extremes among them)."""
    data = models[config].read_bytes()
    g = import_tflite(data, name=config)
    fcs = [op for op in g.ops if op.kind == "fully_connected"]
    assert len(fcs) == 2 and all(g.tensor(op.outputs[0]).dtype == "int16" for op in fcs)
    assert [g.tensor(op.inputs[2]).dtype for op in fcs if len(op.inputs) > 2] == (
        ["int64"] * 2 if config.startswith("bias") else [])
    assert g.tensor(fcs[0].inputs[1]).quant.per_channel == (config != "bias_per_tensor")
    x = g.tensor(g.inputs[0])
    if x.dtype == "int16":
        inputs = _int16_vectors(12, 20, seed=1).reshape(12, *x.shape)
    else:
        inputs = (np.random.default_rng(1).normal(size=(12, *x.shape)) * 4).astype(np.float32)
    _assert_matches_tflm(data, g, inputs)


@pytest.mark.parametrize("config", ["bias_int16io", "nobias_int16io", "bias_per_tensor"])
def test_c_matches_reference(models: dict[str, Path], config: str, tmp_path: Path) -> None:
    """The generated C (tg_fully_connected_s16, portable and DSP path) equals the reference on every layer."""
    g = import_tflite(models[config].read_bytes(), name=config)
    manifest = opcheck.check_c(g, tmp_path, _int16_vectors(6, 20, seed=2), dsp_emulate=True)
    assert [layer["kernel"] for layer in manifest["layers"]] == ["tg_fully_connected_s16"] * 2
    assert manifest["input"]["dtype"] == manifest["output"]["dtype"] == "int16"
    assert manifest["input"]["bytes"] == 40 and manifest["output"]["bytes"] == 16


def _fc16_graph(depth: int, bias_dtype: str, seed: int) -> ir.Graph:
    """x int16 [1, depth] -> FULLY_CONNECTED 16x8 (4 outputs, per-channel weights of +-127 following the sign
    pattern of the test's alternating input, a ``bias_dtype`` bias) -> int16."""
    rng = np.random.default_rng(seed)
    q = ir.Quantization
    sign = np.where(np.arange(depth) % 2, 1, -1)
    g = ir.Graph(f"fc16_{bias_dtype}")
    g.add_tensor(ir.Tensor("x", (1, depth), "int16", q(np.float32(1e-4), 0)))
    g.add_tensor(ir.Tensor("w", (4, depth), "int8", q(np.full(4, 0.01, np.float32), np.zeros(4), 0),
                           (np.tile(sign * 127, (4, 1)) * np.array([[1], [-1], [1], [1]])).astype(np.int8)))
    g.add_tensor(ir.Tensor("b", (4,), bias_dtype, None, rng.integers(-1000, 1000, 4).astype(bias_dtype)))
    g.add_tensor(ir.Tensor("y", (1, 4), "int16", q(np.float32(2.0), 0)))
    g.add_op(ir.Op("fully_connected", "fc", ["x", "w", "b"], ["y"], {"activation": "none", "keep_num_dims": False}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def test_int32_bias_wraps_like_tflm(tmp_path: Path) -> None:
    """TFLite Micro's 16x8 FULLY_CONNECTED with an int32 bias accumulates in int32 (wrapping) and requantizes as int8
    layers do; with an int64 bias in int64 with its 16-bit multiplier. A 1024-deep layer on alternating extremes
    sums 1024 x 32767 x 127 > 2^32: the int32 accumulator wraps, so the two differ; the C equals the reference
    for both (the portable and DSP paths)."""
    vectors = _int16_vectors(6, 1024, seed=3)
    vectors[3] = np.where(np.arange(1024) % 2, 32767, -32768)
    narrow, wide = _fc16_graph(1024, "int32", seed=3), _fc16_graph(1024, "int64", seed=3)
    got = [reference.run(graph, [vectors[3][None]])["y"] for graph in (narrow, wide)]
    assert not np.array_equal(*got)
    for graph in (narrow, wide):
        opcheck.check_c(graph, tmp_path / graph.name, vectors, dsp_emulate=True)


def _mixed_graph() -> ir.Graph:
    """int8 x -> QUANTIZE int8 -> int16 -> FULLY_CONNECTED 16x8 (int64 bias, per-channel) -> QUANTIZE int16 -> int8:
    the boundaries of a mixed model."""
    rng = np.random.default_rng(4)
    q = ir.Quantization
    g = ir.Graph("mixed")
    g.add_tensor(ir.Tensor("x", (1, 24), "int8", q(np.float32(0.05), 3)))
    g.add_tensor(ir.Tensor("x16", (1, 24), "int16", q(np.float32(0.05 / 200), 0)))
    g.add_tensor(ir.Tensor("w", (10, 24), "int8", q(rng.uniform(0.002, 0.01, 10).astype(np.float32), np.zeros(10), 0),
                           rng.integers(-127, 128, (10, 24)).astype(np.int8)))
    g.add_tensor(ir.Tensor("b", (10,), "int64", None, rng.integers(-(1 << 20), 1 << 20, 10).astype(np.int64)))
    g.add_tensor(ir.Tensor("y16", (1, 10), "int16", q(np.float32(0.0004), 0)))
    g.add_tensor(ir.Tensor("y", (1, 10), "int8", q(np.float32(0.1), -5)))
    g.add_op(ir.Op("quantize", "to16", ["x"], ["x16"]))
    g.add_op(ir.Op("fully_connected", "fc", ["x16", "w", "b"], ["y16"], {"activation": "none", "keep_num_dims": False}))
    g.add_op(ir.Op("quantize", "to8", ["y16"], ["y"]))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def test_mixed_int8_int16_boundaries(tmp_path: Path) -> None:
    """QUANTIZE int8 -> int16 and int16 -> int8 around a 16x8 layer: the C equals the reference on every int8
    value; the reference's requantization is TFLite's Requantize (checked against TFLite Micro on the MLP's
    float32 edge and on int8 models elsewhere), here on values whose results we can state: x16 = 200 (x - 3)."""
    g = _mixed_graph()
    vectors = opcheck.vectors_with_every_value(24, 12, seed=5)
    ref = reference.run(g, [vectors[0][None]])
    np.testing.assert_array_equal(ref["x16"], (vectors[0][None].astype(np.int64) - 3) * 200)
    manifest = opcheck.check_c(g, tmp_path, vectors, dsp_emulate=True)
    assert [layer["kernel"] for layer in manifest["layers"]] == [
        "tg_quantize_s8_s16", "tg_fully_connected_s16", "tg_quantize_s16_s8"]


def test_transpose_conv_16x8_refused(tmp_path: Path) -> None:
    """A 16x8 TRANSPOSE_CONV (no 16x8 kernel yet): refused at import, naming the layer, its type and that its
    int16x8 form is not supported yet."""
    tf.keras.utils.set_random_seed(6)
    model = tf.keras.Sequential([tf.keras.Input((4, 4, 2)), tf.keras.layers.Conv2DTranspose(4, 3, strides=2,
                                                                                           name="edge_up"),
                                 tf.keras.layers.Flatten(), tf.keras.layers.Dense(3)])
    data = _convert(model, np.random.default_rng(6).normal(size=(16, 4, 4, 2)).astype(np.float32), True)
    with pytest.raises(UnsupportedError, match=r"\(TRANSPOSE_CONV\) layer '[^']*edge_up[^']*'.* int16: int16x8 "
                       r"\(16-bit activations\) TRANSPOSE_CONV is not supported yet"):
        import_tflite(data, name="up16")


def test_cli_test_int16(models: dict[str, Path], tmp_path: Path) -> None:
    """``tinygen test --board mps2_an500`` on the int16-I/O MLP: PASS, with TFLite Micro compared."""
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("QEMU or the Arm toolchain is not installed (scripts/setup.sh installs them)")
    result = subprocess.run(["tinygen", "test", str(models["bias_int16io"]), "--board", "mps2_an500", "-n", "3",
                             "--work-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    TFLite Micro: all 48 values equal" in result.stdout and "PASS" in result.stdout


# --------------------------------------------------------------------------- LOGISTIC, TANH, ADD


@pytest.fixture(scope="module")
def activation_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dense(12) -> tanh and sigmoid of it -> Add, minus the sigmoid (Subtract), times the tanh (Multiply) ->
    Dense(4), 16x8 with int16 I/O."""
    tf.keras.utils.set_random_seed(3)
    inp = tf.keras.Input((20,))
    h = tf.keras.layers.Dense(12, bias_initializer="random_normal")(inp)
    t = tf.keras.layers.Activation("tanh")(h)
    s = tf.keras.layers.Activation("sigmoid")(h)
    difference = tf.keras.layers.Subtract()([tf.keras.layers.Add()([t, s]), s])
    product = tf.keras.layers.Multiply()([difference, t])
    model = tf.keras.Model(inp, tf.keras.layers.Dense(4, bias_initializer="random_normal")(product))
    path = tmp_path_factory.mktemp("int16_act") / "tanh_logistic_add.tflite"
    path.write_bytes(_convert(model, CALIBRATION, True))
    return path


def test_activations_reference_matches_tflm(activation_model: Path) -> None:
    """TANH, LOGISTIC (a calibrated, not power-of-two, input scale: TFLite's multiplier and shift), ADD, SUB and MUL
    int16: every tensor of the reference equals TFLite Micro's on 12 inputs."""
    data = activation_model.read_bytes()
    g = import_tflite(data, name="act16")
    assert [op.kind for op in g.ops] == ["fully_connected", "tanh", "logistic", "add", "sub", "mul", "fully_connected"]
    _assert_matches_tflm(data, g, _int16_vectors(12, 20, seed=8).reshape(12, 1, 20))


def test_activations_c_matches_reference(activation_model: Path, tmp_path: Path) -> None:
    g = import_tflite(activation_model.read_bytes(), name="act16")
    manifest = opcheck.check_c(g, tmp_path, _int16_vectors(6, 20, seed=9), dsp_emulate=True)
    assert [layer["kernel"] for layer in manifest["layers"]] == [
        "tg_fully_connected_s16", "tg_sigmoid_tanh_s16", "tg_sigmoid_tanh_s16", "tg_add_s16", "tg_add_s16",
        "tg_mul_s16", "tg_fully_connected_s16"]


def _int16_op_model(builtin: str, shape: tuple[int, ...], in_scale: float, out_scale: float,
                    options: str | None = None, fields: dict[str, float] | None = None) -> bytes:
    """A .tflite of one int16 -> int16 ``builtin`` (zero points 0)."""
    import test_reference_ops
    import tflite
    from test_reference_ops import FbOp, FbTensor, build_tflite

    tensors = [FbTensor("x", shape, "int16", float(np.float32(in_scale)), 0), FbTensor("y", shape, "int16", out_scale, 0)]
    with pytest.MonkeyPatch.context() as mp:  # the builder's type table has no int16 (tests/test_op_lstm.py does so)
        mp.setitem(test_reference_ops._FB_TYPES, "int16", tflite.TensorType.INT16)
        return build_tflite(tensors, [FbOp(builtin, [0], [1], options, fields or {})], [0], [1])


@pytest.mark.parametrize("kind, in_scale, multiplier, shift", [
    ("logistic", 2.0**-12, 3, 0), ("tanh", 2.0**-12, 3, 0), ("tanh", 2.0**-11, 6, 0),  # TFLite's power-of-two cases
    ("logistic", 2.0**-11, 24576, 12), ("logistic", 0.0003, 30198, 13), ("tanh", 0.004, 25165, 9),
])
def test_activation_every_value(kind: str, in_scale: float, multiplier: int, shift: int, tmp_path: Path) -> None:
    """TFLite's int16 Prepare: a power-of-two input scale with shift 0 (tanh: 0 or 1) takes multiplier 3 << shift;
    any other scale (2^-11 for LOGISTIC too) the multiplier int(scale * 3 * 4096 * 2^shift) with the fewest shifts
    lifting it above 16383.5 (0.0003: 3.6864 * 2^13 = 30198.9). On all 65536 int16 inputs (the saturated table ends
    among them) the reference equals TFLite Micro and the C the reference."""
    from tinygen import qparams

    data = _int16_op_model(kind.upper(), (1, 4096), in_scale, 2.0**-15)
    g = import_tflite(data, name=kind)
    p = qparams.op_params(g, g.ops[0], "double")
    assert (p.multiplier, p.shift) == (multiplier, shift)
    every = np.arange(-32768, 32768, dtype=np.int64).astype(np.int16).reshape(16, 1, 4096)
    _assert_matches_tflm(data, g, every)
    opcheck.check_c(g, tmp_path, every.reshape(16, 4096))


# --------------------------------------------------------------------------- SOFTMAX


@pytest.mark.parametrize("in_scale, beta", [(0.001, 1.0), (0.0003, 1.0), (0.01, 0.5), (2.0**-12, 1.0)])
def test_softmax_reference_and_c(in_scale: float, beta: float, tmp_path: Path) -> None:
    """SOFTMAX int16 -> int16 (TFLite's exp and 1/(1+x) tables, rebuilt in float32 as its Prepare does): on rows of
    64 values spread over 100 to 65535 steps (the exp table's saturation and the reciprocal's whole range), the
    reference equals TFLite Micro and the C the reference."""
    data = _int16_op_model("SOFTMAX", (4, 64), in_scale, 1.0 / 32768, "SoftmaxOptions", {"Beta": beta})
    g = import_tflite(data, name="softmax16")
    rng = np.random.default_rng(15)
    spreads = np.array([100, 1000, 10000, 65535] * 10)[:, None, None]
    vectors = np.clip(rng.integers(-(1 << 15), 1 << 15, (40, 4, 64)) * spreads // 65536
                      + rng.integers(-20000, 20000, (40, 1, 1)), -32768, 32767).astype(np.int16)
    _assert_matches_tflm(data, g, vectors)
    opcheck.check_c(g, tmp_path, vectors.reshape(40, 256))


@pytest.fixture(scope="module")
def softmax_mlp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dense(16, relu) + Dense(8) + softmax on 20 features, 16x8 with int16 I/O."""
    tf.keras.utils.set_random_seed(16)
    model = tf.keras.Sequential([
        tf.keras.Input((20,)), tf.keras.layers.Dense(16, activation="relu", bias_initializer="random_normal"),
        tf.keras.layers.Dense(8, bias_initializer="random_normal"), tf.keras.layers.Softmax(),
    ])
    path = tmp_path_factory.mktemp("int16_softmax") / "softmax_mlp.tflite"
    path.write_bytes(_convert(model, CALIBRATION, True))
    return path


def test_softmax_mlp_reference_and_c(softmax_mlp: Path, tmp_path: Path) -> None:
    data = softmax_mlp.read_bytes()
    g = import_tflite(data, name="softmax_mlp")
    vectors = _int16_vectors(12, 20, seed=17)
    _assert_matches_tflm(data, g, vectors.reshape(12, 1, 20))
    manifest = opcheck.check_c(g, tmp_path, vectors, dsp_emulate=True)
    assert [layer["kernel"] for layer in manifest["layers"]] == ["tg_fully_connected_s16"] * 2 + ["tg_softmax_s16"]


# --------------------------------------------------------------------------- pooling, PAD, CONCATENATION, reshape


def _image_model(factory: pytest.TempPathFactory, name: str, inp: object, out: object) -> Path:
    """The Keras model ``inp`` -> ``out`` in 16x8 with int16 I/O, calibrated on 32 normal images, as a file."""
    shape = tuple(int(d) for d in inp.shape[1:])  # type: ignore[attr-defined]
    calibration = np.random.default_rng(0).normal(size=(32, *shape)).astype(np.float32) * 2
    path = factory.mktemp(f"int16_{name}") / f"{name}.tflite"
    path.write_bytes(_convert(tf.keras.Model(inp, out), calibration, True))
    return path


@pytest.fixture(scope="module")
def pool_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MaxPooling2D(2, same) and AveragePooling2D(3, stride 2, same) of a 6x7x3 input -> Add -> Flatten -> Dense(5):
    windows clipped at the image edges (the average's count varies), a reshape."""
    tf.keras.utils.set_random_seed(4)
    inp = tf.keras.Input((6, 7, 3))
    pooled = tf.keras.layers.Add()([tf.keras.layers.MaxPooling2D(2, padding="same")(inp),
                                    tf.keras.layers.AveragePooling2D(3, strides=2, padding="same")(inp)])
    out = tf.keras.layers.Dense(5, bias_initializer="random_normal")(tf.keras.layers.Flatten()(pooled))
    return _image_model(tmp_path_factory, "pool", inp, out)


@pytest.fixture(scope="module")
def pad_concat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ZeroPadding2D -> MaxPooling2D and AveragePooling2D -> Concatenate (TFLite's converter rescales both inputs
    to one scale with QUANTIZE int16 -> int16) -> Flatten -> Dense(4)."""
    tf.keras.utils.set_random_seed(5)
    inp = tf.keras.Input((5, 4, 3))
    padded = tf.keras.layers.ZeroPadding2D(((1, 0), (2, 1)))(inp)
    joined = tf.keras.layers.Concatenate()([tf.keras.layers.MaxPooling2D(2)(padded),
                                            tf.keras.layers.AveragePooling2D(2)(padded)])
    out = tf.keras.layers.Dense(4, bias_initializer="random_normal")(tf.keras.layers.Flatten()(joined))
    return _image_model(tmp_path_factory, "padcat", inp, out)


@pytest.mark.parametrize("fixture, kernels", [
    ("pool_model", ["tg_pool_s16", "tg_pool_s16", "tg_add_s16", None, "tg_fully_connected_s16"]),
    ("pad_concat_model", ["tg_pad_s8", "tg_pool_s16", "tg_pool_s16", "tg_quantize_s16_s16", "tg_quantize_s16_s16",
                          "tg_concat_s8", None, "tg_fully_connected_s16"]),
])
def test_image_ops_reference_and_c(fixture: str, kernels: list[str | None], request: pytest.FixtureRequest,
                                   tmp_path: Path) -> None:
    """MAX_POOL_2D and AVERAGE_POOL_2D (one tg_pool_s16), PAD and CONCATENATION (the int8 kernels moving the int16
    values' bytes), QUANTIZE int16 -> int16: every tensor of the reference equals TFLite Micro's, the C the
    reference; the reshape is a view (no code)."""
    data = request.getfixturevalue(fixture).read_bytes()
    g = import_tflite(data, name=fixture)
    shape = g.tensor(g.inputs[0]).shape
    vectors = _int16_vectors(8, int(np.prod(shape)), seed=11)
    _assert_matches_tflm(data, g, vectors.reshape(8, *shape))
    manifest = opcheck.check_c(g, tmp_path, vectors)
    assert [layer["kernel"] for layer in manifest["layers"]] == kernels


@pytest.mark.parametrize("fixture, config, board, inputs, outputs", [
    ("models", "bias_f32io", "mps2_an500", 20, 8), ("models", "nobias_int16io", "mps2_an385", 20, 8),
    ("softmax_mlp", None, "mps2_an500", 20, 8),
    ("activation_model", None, "mps2_an500", 20, 4), ("pool_model", None, "mps2_an385", 126, 5),
    ("pad_concat_model", None, "mps2_an500", 60, 4),
])
def test_models_in_qemu(fixture: str, config: str | None, board: str, inputs: int, outputs: int,
                        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Each model through ``tinygen test``'s path in QEMU (Cortex-M7 DSP, Cortex-M3 portable): int16 vectors (their
    bytes) in, bit-exact with the reference and TFLite Micro; a float32-I/O model runs its int16 core
    (NAME_input_at/NAME_output_at are int16)."""
    path = request.getfixturevalue(fixture)
    path = path[config] if config is not None else path
    report = opcheck.check_qemu(path, board, tmp_path, _int16_vectors(3, inputs, seed=7).view(np.int8))
    assert f"all {6 * outputs * 2} values equal" in report  # 6 vectors of int16 outputs, as bytes


@pytest.mark.parametrize("int16_io", [False, True])
def test_validate_int16_model(int16_io: bool, tmp_path: Path) -> None:
    """``tinygen validate`` on a 16x8 model: the int16 core inputs go to the C as their bytes (bit-exact on every
    sample) and its int16 outputs are dequantized for the error figures (46 dB against the float model here; a
    wrong scale gave -81 dB)."""
    from tinygen.cli import main

    model = _mlp(True, seed=11)
    path = tmp_path / "mlp16.tflite"
    path.write_bytes(_convert(model, CALIBRATION, int16_io))
    x = np.random.default_rng(7).normal(size=(20, 20)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model.predict(x, verbose=0))
    report = tmp_path / "v.json"
    argv = ["validate", str(path), "--inputs", str(tmp_path / "x.npy"), "--expected", str(tmp_path / "y.npy"),
            "--json", str(report)]
    assert main(argv) == 0
    figures = json.loads(report.read_text())
    assert figures["c_bit_exact"]["bit_exact"] == figures["samples"] == 20
    assert figures["errors"]["snr_db"] > 30
