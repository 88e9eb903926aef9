"""int16x8 CONV_2D and DEPTHWISE_CONV_2D (TFLite's 16x8 mode: int16 activations with zero point 0, int8 per-channel
weights, int64 biases), issue 20 item 1.

* Keras CNNs converted here with TF's 16x8 mode on calibration data made here (Conv2D and DepthwiseConv2D, same and
  valid padding, stride 2, depth multiplier 2, channels a multiple of four and not, ReLU/ReLU6, no bias, a
  one-channel input; a whole CNN: conv + depthwise + pool + dense + softmax): every tensor of tinygen's reference
  equals TFLite Micro's, the generated C (tg_conv_s16, tg_depthwise_s16) equals the reference on the host (gcc and
  clang, sanitizers, the DSP path emulated), and the models run bit-exact in QEMU on Cortex-M7 (DSP) and
  Cortex-M3 (portable), also through the ``tinygen test`` command;
* one-layer models built here for what the converter does not write (dilations: it rewrites them into
  SPACE_TO_BATCH_ND; multiplier 3, strides 2x3, 5x4 windows) and TFLite Micro's int32-bias CONV_2D path (its int32
  accumulator wraps), against TFLite Micro and in C;
* bad 16x8 layers refused at import with a TinygenError naming the layer, the tensor and the fix.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import opcheck
import pytest
from test_int16_models import _assert_matches_tflm, _convert, _int16_vectors

from tinygen import qparams, reference
from tinygen.errors import TinygenError
from tinygen.frontend.tflite import import_tflite
from tinygen.ops import conv_common
from tinygen.numerics import requantize_int64

tf = pytest.importorskip("tensorflow")
layers = tf.keras.layers


def _save(factory: pytest.TempPathFactory, name: str, inp: object, out: object, seed: int) -> Path:
    """The Keras model ``inp`` -> ``out`` in 16x8 with int16 I/O, calibrated on 32 normal images, as a file."""
    shape = tuple(int(d) for d in inp.shape[1:])  # type: ignore[attr-defined]
    calibration = np.random.default_rng(seed).normal(size=(32, *shape)).astype(np.float32) * 2
    path = factory.mktemp(f"int16_{name}") / f"{name}.tflite"
    path.write_bytes(_convert(tf.keras.Model(inp, out), calibration, True))
    return path


@pytest.fixture(scope="module")
def cnn_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The small CNNs by name (random weights and biases)."""
    bias = {"bias_initializer": "random_normal"}
    tf.keras.utils.set_random_seed(21)
    a = tf.keras.Input((9, 8, 3))  # same + ReLU6, stride 2 valid multiplier 2, 1x1 without bias
    a_out = layers.Conv2D(6, 3, padding="same", activation="relu6", **bias)(a)
    a_out = layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="valid", **bias)(a_out)
    a_out = layers.Conv2D(4, 1, use_bias=False)(a_out)
    b = tf.keras.Input((14, 19, 4))  # multiplier 1 on 4 and 5 channels, stride 2 same, 2x3 and 1x3 windows
    b_out = layers.DepthwiseConv2D(3, padding="same", activation="relu", **bias)(b)
    b_out = layers.Conv2D(5, 3, strides=2, padding="same", **bias)(b_out)
    b_out = layers.DepthwiseConv2D((2, 3), padding="same", **bias)(b_out)
    b_out = layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6", **bias)(b_out)
    b_out = layers.Conv2D(3, (1, 3), activation="relu", **bias)(b_out)
    c = tf.keras.Input((12, 12, 1))  # the whole CNN: one input channel, pool, dense, softmax
    c_out = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", **bias)(c)
    c_out = layers.DepthwiseConv2D(3, padding="same", activation="relu6", **bias)(c_out)
    c_out = layers.Conv2D(16, 1, activation="relu", **bias)(c_out)
    c_out = layers.MaxPooling2D(2)(c_out)
    c_out = layers.Dense(10, **bias)(layers.Flatten()(c_out))
    c_out = layers.Softmax()(c_out)
    return {"cnn_a": _save(tmp_path_factory, "cnn_a", a, a_out, 1), "cnn_b": _save(tmp_path_factory, "cnn_b", b, b_out, 2),
            "cnn": _save(tmp_path_factory, "cnn", c, c_out, 3)}


KERNELS = {
    "cnn_a": ["tg_conv_s16", "tg_depthwise_s16", "tg_conv_s16"],
    "cnn_b": ["tg_depthwise_s16", "tg_conv_s16", "tg_depthwise_s16", "tg_depthwise_s16", "tg_conv_s16"],
    "cnn": ["tg_conv_s16", "tg_depthwise_s16", "tg_conv_s16", "tg_pool_s16", None, "tg_fully_connected_s16",
            "tg_softmax_s16"],
}


def _vectors(path: Path, count: int, seed: int) -> np.ndarray:
    g = import_tflite(path.read_bytes(), name=path.stem)
    return _int16_vectors(count, g.tensor(g.inputs[0]).size, seed)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_reference_matches_tflm(cnn_models: dict[str, Path], name: str) -> None:
    """Every tensor of tinygen's reference equals TFLite Micro's on 10 inputs (the int16 extremes among them); the
    layers are 16x8 with int64 biases (the converter gives a bias-less Conv2D a zero one)."""
    data = cnn_models[name].read_bytes()
    g = import_tflite(data, name=name)
    convs = [op for op in g.ops if op.kind in ("conv2d", "depthwise_conv2d")]
    assert convs and all(g.tensor(op.outputs[0]).dtype == "int16" and g.tensor(op.inputs[2]).dtype == "int64"
                         for op in convs)
    assert all(qparams.op_params(g, op, "double").wide for op in convs)
    assert all(_fast(g, op) for op in convs)  # the kernels' int32 path (test_int32_bias_wraps_like_tflm: the other)
    shape = g.tensor(g.inputs[0]).shape
    _assert_matches_tflm(data, g, _vectors(cnn_models[name], 10, seed=4).reshape(10, *shape))


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_c_matches_reference(cnn_models: dict[str, Path], name: str, tmp_path: Path) -> None:
    """The generated C (portable and DSP path) equals the reference on every layer; int16 tensors take two bytes
    per value in the arena plan."""
    g = import_tflite(cnn_models[name].read_bytes(), name=name)
    manifest = opcheck.check_c(g, tmp_path, _vectors(cnn_models[name], 5, seed=5), dsp_emulate=True)
    assert [layer["kernel"] for layer in manifest["layers"]] == KERNELS[name]
    first = g.tensor(g.ops[0].outputs[0])
    assert manifest["layers"][0]["out_bytes"] == 2 * first.size


@pytest.mark.parametrize("name, board", [("cnn_a", "mps2_an500"), ("cnn_b", "mps2_an500"), ("cnn_b", "mps2_an385"),
                                         ("cnn", "mps2_an385")])
def test_models_in_qemu(cnn_models: dict[str, Path], name: str, board: str, tmp_path: Path) -> None:
    """Each CNN through ``tinygen test``'s path in QEMU (Cortex-M7 DSP, Cortex-M3 portable), int16 extremes among
    the vectors: bit-exact with the reference and TFLite Micro."""
    vectors = _vectors(cnn_models[name], 3, seed=6).view(np.int8)
    opcheck.check_qemu(cnn_models[name], board, tmp_path, vectors, kernels=KERNELS[name])


def test_cli_test_cnn(cnn_models: dict[str, Path], tmp_path: Path) -> None:
    """``tinygen test --board mps2_an500`` on the whole 16x8 CNN: PASS, every output value equal to TFLite Micro's."""
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("QEMU or the Arm toolchain is not installed (scripts/setup.sh installs them)")
    result = subprocess.run(["tinygen", "test", str(cnn_models["cnn"]), "--board", "mps2_an500", "-n", "4",
                             "--work-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    TFLite Micro: all 80 values equal" in result.stdout and "PASS" in result.stdout  # 4 x 10 int16


# --------------------------------------------------------------------------- hand-made models


def _layer_model(kind: str, bias: str | None = "int64", *, in_c: int = 8, mult: int = 1, kernel: tuple[int, int] = (3, 3),
                 stride: tuple[int, int] = (1, 1), dilation: tuple[int, int] = (1, 1), padding: str = "SAME",
                 in_zp: int = 0, out_type: str = "int16", out_scale: float = 0.2, fused: str = "NONE") -> bytes:
    """A .tflite of one 16x8 CONV_2D (4 filters) or DEPTHWISE_CONV_2D on x int16 [1, 6, 7, in_c] (scale 1e-4, zero
    point ``in_zp``): weights +-127 by the parity of their input channel (the sign pattern of an input alternating
    between the extremes; negated for output channel 1), per-channel scales 0.01, a ``bias`` bias (None: none),
    output ``out_type`` of ``out_scale``, fused activation ``fused``."""
    import test_reference_ops
    import tflite
    from test_reference_ops import FbOp, FbTensor, build_tflite

    rng = np.random.default_rng(8)
    depthwise = kind == "DEPTHWISE_CONV_2D"
    out_c = in_c * mult if depthwise else 4
    if depthwise:
        w = np.broadcast_to(np.where(np.arange(out_c) // mult % 2, 127, -127), (1, *kernel, out_c))
    else:
        sign = np.broadcast_to(np.where(np.arange(in_c) % 2, 127, -127), (*kernel, in_c))
        w = np.stack([sign, -sign, sign, sign])
    tensors = [FbTensor("x", (1, 6, 7, in_c), "int16", 1e-4, in_zp),
               FbTensor("w", w.shape, "int8", np.full(out_c, 0.01), np.zeros(out_c), 3 if depthwise else 0,
                        np.ascontiguousarray(w, dtype=np.int8))]
    if bias is not None:
        tensors.append(FbTensor("b", (out_c,), bias, np.full(out_c, 1e-6), np.zeros(out_c), 0,
                                rng.integers(-1000, 1000, out_c).astype(bias)))
    (sh, sw), (dh, dw) = stride, dilation
    oh, ow = ((n - (k - 1) * d - 1) // st + 1 if padding == "VALID" else -(-n // st)
              for n, k, st, d in ((6, kernel[0], sh, dh), (7, kernel[1], sw, dw)))
    tensors.append(FbTensor("y", (1, oh, ow, out_c), out_type, out_scale, 0))
    fields = {"Padding": getattr(tflite.Padding, padding), "StrideH": sh, "StrideW": sw, "DilationHFactor": dh,
              "DilationWFactor": dw, "FusedActivationFunction": getattr(tflite.ActivationFunctionType, fused),
              **({"DepthMultiplier": mult} if depthwise else {})}
    options = "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions"
    op = FbOp(kind, list(range(len(tensors) - 1)), [len(tensors) - 1], options, fields)
    with pytest.MonkeyPatch.context() as mp:  # the builder's type table has no int16/int64
        mp.setitem(test_reference_ops._FB_TYPES, "int16", tflite.TensorType.INT16)
        mp.setitem(test_reference_ops._FB_TYPES, "int64", tflite.TensorType.INT64)
        return build_tflite(tensors, [op], [0], [len(tensors) - 1])


def _fast(g: object, op: object) -> bool:
    """Whether the kernels run ``op`` in their int32 form (tg_requantize_s64_fast)."""
    p = qparams.op_params(g, op, "double")  # type: ignore[arg-type]
    return conv_common.fast_requant_16x8(g, op, p, op.kind == "depthwise_conv2d") is not None  # type: ignore[arg-type,attr-defined]


def _alternating_vectors(size: int) -> np.ndarray:
    """Random int16 vectors and one of alternating extremes (the last), whose windows fill an accumulator."""
    vectors = _int16_vectors(4, size, seed=9)
    vectors[3] = np.where(np.arange(size) % 2, 32767, -32768)
    return vectors


LAYERS = {  # layers of every geometry the converter does not write (it turns dilations into SPACE_TO_BATCH_ND)
    "conv_dilated": ("CONV_2D", {"dilation": (2, 1), "kernel": (2, 3)}),
    "conv_dilated_valid_stride": ("CONV_2D", {"dilation": (1, 2), "stride": (2, 1), "padding": "VALID", "in_c": 3}),
    "conv_no_bias": ("CONV_2D", {"bias": None, "stride": (2, 2), "in_c": 5}),
    "conv_1x1_stride": ("CONV_2D", {"kernel": (1, 1), "stride": (2, 3), "padding": "VALID"}),
    "dw_dilated": ("DEPTHWISE_CONV_2D", {"dilation": (2, 2), "in_c": 6}),
    "dw_mult3_stride": ("DEPTHWISE_CONV_2D", {"mult": 3, "stride": (2, 2), "in_c": 2, "kernel": (3, 2)}),
    "dw_no_bias_valid": ("DEPTHWISE_CONV_2D", {"bias": None, "padding": "VALID", "kernel": (5, 4)}),
    "dw_7_channels": ("DEPTHWISE_CONV_2D", {"in_c": 7, "out_scale": 0.002}),
    "conv_relu_n1_to_1": ("CONV_2D", {"fused": "RELU_N1_TO_1", "out_scale": 2e-4, "in_c": 4}),
    "dw_relu6": ("DEPTHWISE_CONV_2D", {"fused": "RELU6", "out_scale": 5e-4}),
    # multipliers 1e-6 below 2^-18: beyond the kernels' int32 form (total shift 33), their int64 form
    "conv_tiny_multiplier": ("CONV_2D", {"out_scale": 1.0, "stride": (2, 2)}),
    "dw_tiny_multiplier": ("DEPTHWISE_CONV_2D", {"out_scale": 1.0, "padding": "VALID"}),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_geometries(name: str, tmp_path: Path) -> None:
    """Dilations, strides, valid padding, multipliers, channel tails, no bias, RELU_N1_TO_1 and RELU6 clamping
    inside the int16 range, the kernels' int32 and int64 forms: the reference equals TFLite Micro on every tensor
    and the C the reference (portable and DSP paths)."""
    kind, options = LAYERS[name]
    data = _layer_model(kind, **options)  # type: ignore[arg-type]
    g = import_tflite(data, name=name)
    assert _fast(g, g.ops[0]) == (not name.endswith("tiny_multiplier"))
    vectors = _alternating_vectors(g.tensor(g.inputs[0]).size)
    _assert_matches_tflm(data, g, vectors.reshape(len(vectors), *g.tensor(g.inputs[0]).shape))
    opcheck.check_c(g, tmp_path, vectors, dsp_emulate=True)


def test_int32_bias_wraps_like_tflm(tmp_path: Path) -> None:
    """TFLite Micro's 16x8 CONV_2D with an int32 bias accumulates in int32 (wrapping) and requantizes as int8 layers
    do; with an int64 bias in int64 with its 16-bit multiplier. 3x3x64 windows of alternating extremes sum
    576 x 32767 x 127 > 2^31: the int32 accumulator wraps, so the two differ. Both: the reference equals TFLite
    Micro and the C the reference (portable and DSP paths), the kernel's exact int64 form (beyond int32 sums)."""
    got = []
    for bias in ("int32", "int64"):
        data = _layer_model("CONV_2D", bias, in_c=64)
        g = import_tflite(data, name=f"conv_{bias}")
        assert qparams.op_params(g, g.ops[0], "double").wide == (bias == "int64") and not _fast(g, g.ops[0])
        vectors = _alternating_vectors(g.tensor(g.inputs[0]).size)
        _assert_matches_tflm(data, g, vectors.reshape(len(vectors), *g.tensor(g.inputs[0]).shape))
        opcheck.check_c(g, tmp_path / bias, vectors, dsp_emulate=True)
        got.append(reference.run(g, [vectors[3].reshape(g.tensor(g.inputs[0]).shape)])[g.outputs[0]])
    assert not np.array_equal(*got)


@pytest.mark.parametrize("kind, options, message", [
    ("CONV_2D", {"in_zp": 5}, r"op 'y': int16 input 'x' \(shape \(1, 6, 7, 8\)\) has zero point 5; TFLite Micro's "
     r"16x8 convolutions compute as if it were 0, so tinygen needs int16 zero points 0 .*: re-convert the model"),
    ("DEPTHWISE_CONV_2D", {"in_zp": -3}, r"int16 input 'x' .* has zero point -3"),
    ("DEPTHWISE_CONV_2D", {"bias": "int32"}, r"bias 'b' is int32 \(shape \(8,\)\); a 16x8 depthwise convolution "
     r"needs an int64 bias \(TFLite Micro reads it as int64 whatever its type\)"),
    ("CONV_2D", {"out_type": "int8"}, r"input 'x' is int16, output 'y' int8 and weights 'w' int8; a 16x8 "
     r"convolution has int16 input and output"),
])
def test_bad_16x8_layers_refused(kind: str, options: dict[str, object], message: str) -> None:
    """A 16x8 layer tinygen cannot run as TFLite Micro does is refused at import, naming the layer, the tensor and
    its type or zero point, and the fix."""
    with pytest.raises(TinygenError, match=message):
        import_tflite(_layer_model(kind, **options), name="bad")  # type: ignore[arg-type]


@pytest.mark.parametrize("name, board, model", [
    ("conv_int32_bias", "mps2_an500", ("CONV_2D", {"bias": "int32", "in_c": 64})),
    ("conv_int64_deep", "mps2_an385", ("CONV_2D", {"in_c": 64})),
    ("dw_mult3_stride", "mps2_an500", LAYERS["dw_mult3_stride"]),
    ("dw_7_channels", "mps2_an385", LAYERS["dw_7_channels"]),
])
def test_layers_in_qemu(name: str, board: str, model: tuple[str, dict[str, object]], tmp_path: Path) -> None:
    """The kernels' exact int64 form (sums beyond int32, the int32 accumulator) and their one-channel-at-a-time
    path (multiplier 3, a channel tail) on Cortex-M7 and M3, the alternating extremes among the vectors: bit-exact
    with the reference and TFLite Micro."""
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(_layer_model(model[0], **model[1]))  # type: ignore[arg-type]
    g = import_tflite(path.read_bytes(), name=name)
    vectors = _alternating_vectors(g.tensor(g.inputs[0]).size)
    opcheck.check_qemu(path, board, tmp_path / "work", vectors.view(np.int8))


def test_fast_requantization_is_tflite_int64() -> None:
    """tg_requantize_s64_fast's identity, on int32 accumulators (the extremes among them) and multipliers over the
    whole range it is used for (total shifts 17..32): (x * reduced + 2^(t-1)) >> t equals
    (x * (reduced << (32 - t)) + 2^31) >> 32, TFLite's int64 MultiplyByQuantizedMultiplier."""
    rng = np.random.default_rng(12)
    x = np.concatenate([[-(1 << 31), (1 << 31) - 1, 0, 1, -1], rng.integers(-(1 << 31), 1 << 31, 20000)]).astype(np.int64)
    multipliers = np.concatenate([[1 << 30, 0x7FFF0000 - 1, 0x7FFF0000, (1 << 31) - 1],
                                  rng.integers(1 << 30, 1 << 31, 60)]).astype(np.int64)
    for shift in range(-17, -1):
        for m in multipliers:
            reduced = min((int(m) + (1 << 15)) >> 16, 0x7FFF)
            fast = reduced << (32 - (15 - shift))
            assert fast < 1 << 31
            np.testing.assert_array_equal((x * fast + (1 << 31)) >> 32, requantize_int64(x, m, np.int64(shift)))
