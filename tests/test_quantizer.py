"""tinygen's int8 quantizer: every supported Keras layer tracks its float model, the TFLite int8
rules (weights, biases, activation parameters, shared scales), observers and calibration checks."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

keras = pytest.importorskip("keras")
L = keras.layers

from tinygen.errors import TinygenError, UnsupportedError  # noqa: E402
from tinygen.quantize.calibration import load_calibration  # noqa: E402
from tinygen.quantize.extract import keras_to_float_graph  # noqa: E402
from tinygen.quantize.floatexec import run_float  # noqa: E402
from tinygen.quantize.observers import activation_params, observe  # noqa: E402
from tinygen.quantize.pipeline import quantize_keras  # noqa: E402
from tinygen.quantize.quantizer import quantize_weights  # noqa: E402
from tinygen.quantize.report import run_int8, sqnr_db  # noqa: E402

#: A single int8 layer keeps ~40 dB; 30 dB (3% RMS error) leaves room for the requantization of
#: small chains (pad + conv, reshape + BN ...) while any wrong layout or scale drops far below 10 dB.
SQNR_DB = 30.0
#: Softmax outputs are fixed at scale 1/256: its error is bounded by that step, not by the range.
SOFTMAX_SQNR_DB = 25.0


def _randomize_batch_norms(model: Any, seed: int = 7) -> None:
    """Non-trivial BatchNorm statistics so folding and the standalone affine are exercised."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.3, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.2, n).astype("float32"))


def _model(shape: tuple[int, ...], body: Callable[[Any], Any]) -> Any:
    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape, batch_size=1)
    model = keras.Model(inputs, body(inputs))
    _randomize_batch_norms(model)
    return model


IMG = (8, 8, 3)
SEQ = (12, 4)
CASES: dict[str, tuple[tuple[int, ...], Callable[[Any], Any]]] = {
    "conv2d_same_stride2_relu": (IMG, lambda x: L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)),
    "conv2d_valid_dilated": (IMG, lambda x: L.Conv2D(6, 3, dilation_rate=2)(x)),
    "conv2d_no_bias_5x3": (IMG, lambda x: L.Conv2D(4, (5, 3), padding="same", use_bias=False)(x)),
    "depthwise_mult1": (IMG, lambda x: L.DepthwiseConv2D(3, padding="same")(x)),
    "depthwise_mult3_stride2_relu6": (IMG, lambda x: L.DepthwiseConv2D(3, strides=2, depth_multiplier=3,
                                                                       activation="relu6")(x)),
    "separable_conv2d": (IMG, lambda x: L.SeparableConv2D(8, 3, padding="same", depth_multiplier=2)(x)),
    "conv1d_same": (SEQ, lambda x: L.Conv1D(6, 3, padding="same", activation="relu")(x)),
    "conv1d_valid_stride2": (SEQ, lambda x: L.Conv1D(5, 3, strides=2)(x)),
    "conv1d_causal_dilated": (SEQ, lambda x: L.Conv1D(5, 2, padding="causal", dilation_rate=2)(x)),
    "dense": ((10,), lambda x: L.Dense(7)(x)),
    "dense_relu_on_sequence": (SEQ, lambda x: L.Dense(5, activation="relu")(x)),
    "dense_softmax": ((10,), lambda x: L.Dense(6, activation="softmax")(x)),
    "batchnorm_folded_into_conv": (IMG, lambda x: L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3)(x)))),
    "batchnorm_folded_into_depthwise": (IMG, lambda x: L.BatchNormalization()(L.DepthwiseConv2D(3)(x))),
    "batchnorm_folded_into_dense": ((10,), lambda x: L.BatchNormalization()(L.Dense(8)(x))),
    "batchnorm_standalone_4d": (IMG, lambda x: L.BatchNormalization()(x)),
    "batchnorm_standalone_2d": ((10,), lambda x: L.BatchNormalization()(x)),
    "relu_layer": (IMG, lambda x: L.ReLU()(L.MaxPooling2D()(x))),
    "relu6_layer": (IMG, lambda x: L.ReLU(max_value=6.0)(L.Conv2D(4, 1)(x))),
    "activation_relu6": (IMG, lambda x: L.Activation("relu6")(L.Conv2D(4, 1)(x))),
    "activation_linear": (IMG, lambda x: L.Activation("linear")(L.Conv2D(4, 1)(x))),
    "activation_softmax": ((10,), lambda x: L.Activation("softmax")(L.Dense(5)(x))),
    "softmax_layer": ((10,), lambda x: L.Softmax()(L.Dense(5)(x))),
    "dropout": ((10,), lambda x: L.Dense(4)(L.Dropout(0.5)(x))),
    "maxpool_valid": (IMG, lambda x: L.MaxPooling2D(2)(x)),
    "maxpool_same_stride1": (IMG, lambda x: L.MaxPooling2D(3, strides=1, padding="same")(x)),
    "avgpool_same": (IMG, lambda x: L.AveragePooling2D(3, strides=2, padding="same")(x)),
    "global_avgpool": (IMG, lambda x: L.GlobalAveragePooling2D()(L.Conv2D(6, 3)(x))),
    "global_avgpool_keepdims": (IMG, lambda x: L.GlobalAveragePooling2D(keepdims=True)(x)),
    "flatten_dense": (IMG, lambda x: L.Dense(5)(L.Flatten()(x))),
    "reshape": (IMG, lambda x: L.Reshape((16, 12))(L.Conv2D(3, 1)(x))),
    "zero_padding_fused_into_conv": (IMG, lambda x: L.Conv2D(4, 3)(L.ZeroPadding2D(1)(x))),
    "zero_padding": (IMG, lambda x: L.Conv2D(4, 3)(L.ZeroPadding2D(((1, 2), (0, 1)))(x))),
    "add_relu": (IMG, lambda x: L.ReLU()(L.Add()([L.Conv2D(4, 1)(x), L.Conv2D(4, 3, padding="same")(x)]))),
    "add_three": (IMG, lambda x: L.Add()([L.Conv2D(4, 1)(x), L.Conv2D(4, 1)(x), L.Conv2D(4, 1)(x)])),
    "concatenate": (IMG, lambda x: L.Concatenate()([L.Conv2D(4, 1)(x), L.Conv2D(5, 1, activation="relu")(x)])),
    "concatenate_axis1": ((6, 4), lambda x: L.Concatenate(axis=1)([L.Dense(4)(x), x])),
}


def _data(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_tracks_float_model(case: str) -> None:
    shape, body = CASES[case]
    model = _model(shape, body)
    # Evaluated on calibration samples: held-out samples beyond the calibrated range would measure
    # clipping (a property of the data set size), not the quantizer.
    calibration = _data(shape, 128, 0)
    test = calibration[:24]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    result = quantize_keras(model, calibration)
    # The float graph (folded, fused, split) computes what Keras computes.
    float_out = run_float(result.float_graph, test)[result.float_graph.outputs[0]]
    np.testing.assert_allclose(float_out.reshape(expected.shape), expected, rtol=1e-4, atol=1e-5)
    got = run_int8(result.graph, test)[result.graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    threshold = SOFTMAX_SQNR_DB if result.graph.ops[-1].kind == "softmax" else SQNR_DB
    print(f"{case}: int8 vs float SQNR {sqnr:.1f} dB")
    assert sqnr >= threshold, f"{case}: SQNR {sqnr:.1f} dB < {threshold} dB"


# ---- graph structure: folding, fusion, splitting ------------------------------------------------


def _kinds(model: Any) -> list[str]:
    return [op.kind if op.activation == "none" else f"{op.kind}+{op.activation}" for op in keras_to_float_graph(model).ops]


def test_batchnorm_folds_and_relu_fuses() -> None:
    model = _model(IMG, lambda x: L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3)(x))))
    assert _kinds(model) == ["conv2d+relu"]


def test_batchnorm_shared_output_is_not_folded() -> None:
    """A conv whose output also feeds something else keeps its BatchNorm as a 1x1 depthwise affine."""
    def body(x: Any) -> Any:
        y = L.Conv2D(4, 1)(x)
        return L.Add()([y, L.BatchNormalization()(y)])

    assert _kinds(_model(IMG, body)) == ["conv2d", "depthwise_conv2d", "add"]


def test_standalone_batchnorm_is_depthwise_1x1() -> None:
    graph = keras_to_float_graph(_model((10,), lambda x: L.BatchNormalization()(x)))
    assert [op.kind for op in graph.ops] == ["reshape", "depthwise_conv2d", "reshape"]
    weights = graph.tensors[graph.ops[1].inputs[1]]
    assert weights.shape == (1, 1, 1, 10)


def test_separable_is_depthwise_then_pointwise_and_dropout_vanishes() -> None:
    model = _model(IMG, lambda x: L.Dropout(0.5)(L.SeparableConv2D(8, 3, depth_multiplier=2, activation="relu")(x)))
    graph = keras_to_float_graph(model)
    assert _kinds(model) == ["depthwise_conv2d", "conv2d+relu"]
    assert graph.tensors[graph.ops[0].inputs[1]].shape == (1, 3, 3, 6)
    assert graph.tensors[graph.ops[1].inputs[1]].shape == (8, 1, 1, 6)


def test_same_padding_is_fused_into_the_conv() -> None:
    graph = keras_to_float_graph(_model(IMG, lambda x: L.DepthwiseConv2D(3)(L.ZeroPadding2D(1)(x))))
    assert [(op.kind, op.attrs["padding"]) for op in graph.ops] == [("depthwise_conv2d", "same")]
    # Asymmetric padding that 'same' would not add stays a pad op.
    assert _kinds(_model(IMG, lambda x: L.Conv2D(4, 3)(L.ZeroPadding2D(((0, 2), (1, 1)))(x)))) == ["pad", "conv2d"]


def test_multi_output_model_keeps_its_output_order() -> None:
    x = keras.Input((4,), batch_size=1)
    model = keras.Model(x, [L.Dense(2, name="b_head")(x), L.Dense(3, name="a_head")(x)])
    graph = keras_to_float_graph(model)
    assert graph.outputs == ["b_head", "a_head"] and [graph.tensors[n].shape for n in graph.outputs] == [(1, 2), (1, 3)]
    y = L.Dense(2)(x)
    with pytest.raises(UnsupportedError, match=r"outputs 0 and 1 are the same tensor"):
        keras_to_float_graph(keras.Model(x, [y, y]))


def test_nested_sequential_is_inlined() -> None:
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3), L.ReLU()], name="inner")
    inputs = keras.Input(IMG, batch_size=1)
    model = keras.Model(inputs, L.Flatten()(inner(inputs)))
    assert _kinds(model) == ["conv2d+relu", "reshape"]


# ---- the TFLite int8 rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lo", "hi", "scale", "zero_point"),
    [
        (0.0, 1.0, 1.0 / 255, -128),  # ReLU range: zero point at the bottom
        (-1.0, 0.0, 1.0 / 255, 127),
        (0.5, 2.0, 2.0 / 255, -128),  # widened to include 0
        (-2.0, -0.5, 2.0 / 255, 127),
        (-1.0, 1.0, 2.0 / 255, -1),  # zero point -0.5 rounds half away from zero
        (-1.0, 3.0, 4.0 / 255, -64),  # -128 + 63.75 = -64.25 -> -64
        (0.0, 0.0, 1.0, -128),
    ],
)
def test_activation_params_nudge_like_tflite(lo: float, hi: float, scale: float, zero_point: int) -> None:
    got_scale, got_zp = activation_params(lo, hi)
    assert got_scale == np.float32(scale)
    assert got_zp == zero_point
    # 0.0 is exactly representable.
    assert -128 <= got_zp <= 127


def test_weights_are_symmetric_per_channel() -> None:
    w = np.array([[[[1.0, -0.5]]], [[[0.25, -0.1]]], [[[0.0, 0.0]]]], np.float32)  # OHWI, 3 channels
    q, scale = quantize_weights(w, axis=0)
    assert q.dtype == np.int8
    np.testing.assert_array_equal(scale, np.array([1.0 / 127, 0.25 / 127, 1.0], np.float32))
    np.testing.assert_array_equal(q.reshape(3, 2), [[127, -64], [127, -51], [0, 0]])  # -63.5 -> -64


def _tensor_params(graph: Any, name: str) -> tuple[float, int]:
    return graph.tensors[name].quant.scalar()


def test_quantized_graph_follows_ir_conventions() -> None:
    def body(x: Any) -> Any:
        a = L.Conv2D(6, 3, padding="same", activation="relu")(x)
        b = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
        c = L.Concatenate()([L.MaxPooling2D()(a), L.MaxPooling2D()(b)])
        d = L.Dense(5)(L.Flatten()(L.ZeroPadding2D(1)(c)))
        return L.Softmax()(d)

    graph = quantize_keras(_model(IMG, body), _data(IMG, 64, 0)).graph
    producers = graph.producers()
    for op in graph.ops:
        if op.kind in ("conv2d", "depthwise_conv2d", "fully_connected"):
            w, bias = graph.tensors[op.inputs[1]], graph.tensors[op.inputs[2]]
            axis = 3 if op.kind == "depthwise_conv2d" else 0
            assert w.dtype == "int8" and w.data.dtype == np.int8 and w.quant.axis == axis
            assert w.data.min() >= -127 and np.all(w.quant.zero_point == 0)
            assert w.quant.scale.size == w.shape[axis]
            in_scale, _ = _tensor_params(graph, op.inputs[0])
            assert bias.dtype == "int32" and bias.data.dtype == np.int32
            expected = (np.float64(in_scale) * w.quant.scale.astype(np.float64)).astype(np.float32)
            np.testing.assert_array_equal(bias.quant.scale, expected)
            # Some channel uses the full int8 range: scale = max|w| / 127.
            assert np.abs(w.data.astype(int)).max() == 127
        if op.kind in ("max_pool2d", "reshape", "pad"):
            assert _tensor_params(graph, op.inputs[0]) == _tensor_params(graph, op.outputs[0])
        if op.kind == "concatenation":
            params = {_tensor_params(graph, n) for n in op.inputs + op.outputs}
            assert len(params) == 1, "concatenation inputs and output share one scale"
        if op.kind == "softmax":
            assert _tensor_params(graph, op.outputs[0]) == (1.0 / 256, -128)
    assert producers[graph.outputs[0]].kind == "softmax"
    assert graph.tensors[graph.inputs[0]].dtype == "int8"


def test_fused_relu6_range_is_clamped() -> None:
    model = _model(IMG, lambda x: L.Conv2D(4, 3, activation="relu6")(x))
    # Large inputs push the conv far beyond 6: the observed (fused) range stops at 6.
    graph = quantize_keras(model, 50 * _data(IMG, 32, 0)).graph
    scale, zero_point = _tensor_params(graph, graph.outputs[0])
    assert zero_point == -128 and scale == np.float32(6.0 / 255)


# ---- observers -----------------------------------------------------------------------------------


def _fake_quant_mse(x: np.ndarray, lo: float, hi: float) -> float:
    scale, zp = activation_params(lo, hi)
    q = np.clip(np.round(x / scale) + zp, -128, 127)
    return float(np.mean((x - (q - zp) * scale) ** 2))


def test_observers_on_heavy_tailed_data() -> None:
    rng = np.random.default_rng(0)
    values = rng.standard_t(df=2, size=200_000).astype(np.float32)
    chunks = np.array_split(values, 4)
    ranges = {obs: observe(["t"], lambda: iter({"t": c} for c in chunks), obs)["t"] for obs in ("minmax", "percentile", "mse")}
    assert ranges["minmax"] == (float(values.min()), float(values.max()))
    lo_p, hi_p = ranges["percentile"]
    assert ranges["minmax"][0] < lo_p < 0 < hi_p < ranges["minmax"][1]
    errors = {obs: _fake_quant_mse(values, *r) for obs, r in ranges.items()}
    print(errors)
    assert errors["mse"] <= errors["percentile"] and errors["mse"] < errors["minmax"]


def test_unknown_observer() -> None:
    with pytest.raises(TinygenError, match="unknown observer 'kl'.*minmax, percentile, mse"):
        observe(["t"], lambda: iter([]), "kl")


@pytest.mark.parametrize("observer", ["percentile", "mse"])
def test_other_observers_quantize_a_model(observer: str) -> None:
    model = _model(IMG, lambda x: L.Dense(4)(L.Flatten()(L.Conv2D(4, 3, activation="relu")(x))))
    calibration = _data(IMG, 64, 0)
    result = quantize_keras(model, calibration, observer)
    expected = np.asarray(model.predict(calibration[:16], verbose=0), np.float64)
    got = run_int8(result.graph, calibration[:16])[result.graph.outputs[0]].reshape(expected.shape)
    assert sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2))) >= SQNR_DB


# ---- calibration data --------------------------------------------------------------------------------

SHAPE = (1, 8, 8, 3)


def test_calibration_accepts_arrays_batches_and_files(tmp_path: Any) -> None:
    data = _data(IMG, 10, 0)
    np.testing.assert_array_equal(load_calibration(data, SHAPE), data)
    np.testing.assert_array_equal(load_calibration(data.astype(np.float64), SHAPE), data)
    np.testing.assert_array_equal(load_calibration(data[:, None], SHAPE), data)  # N batch-1 samples
    np.testing.assert_array_equal(load_calibration(iter([data[:4], [data[4:]]]), SHAPE), data)
    np.save(tmp_path / "x.npy", data)
    np.savez(tmp_path / "x.npz", images=data)
    np.testing.assert_array_equal(load_calibration(str(tmp_path / "x.npy"), SHAPE), data)
    np.testing.assert_array_equal(load_calibration(tmp_path / "x.npz", SHAPE), data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, r"needs calibration data.*--calibration data\.npy.*\(N, 8, 8, 3\)"),
        (np.zeros((0, 8, 8, 3), np.float32), r"empty \(0 samples\)"),
        ([], r"empty \(no batches\)"),
        (np.zeros((4, 8, 8, 1), np.float32), r"shape \(4, 8, 8, 1\).*model input has shape \(1, 8, 8, 3\)"),
        (np.zeros((4, 8, 8, 3), np.uint8), r"dtype uint8.*float32"),
        (np.full((2, 8, 8, 3), np.nan, np.float32), "NaN"),
        ("missing_file.npy", "no such file"),
        (object(), "not understood"),
    ],
)
def test_bad_calibration_is_a_clear_error(data: Any, message: str) -> None:
    with pytest.raises(TinygenError, match=message):
        load_calibration(data, SHAPE)


def test_npz_with_several_arrays(tmp_path: Any) -> None:
    np.savez(tmp_path / "two.npz", a=np.zeros((1, 8, 8, 3)), b=np.zeros((1, 8, 8, 3)))
    with pytest.raises(TinygenError, match="holds 2 arrays"):
        load_calibration(tmp_path / "two.npz", SHAPE)


def test_random_calibration_warns(capsys: Any) -> None:
    data = load_calibration("random", SHAPE)
    assert data.shape[1:] == SHAPE[1:] and data.shape[0] > 0
    assert "accuracy will suffer" in capsys.readouterr().err


# ---- unsupported models ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "shape", "message"),
    [
        (lambda x: L.Conv3D(2, 1)(L.Reshape((*IMG, 1))(x)), IMG,
         r"layer 'conv3d.*' \(Conv3D\) is not supported.*supported layers: .*Conv2D"),
        (lambda x: L.Conv2DTranspose(2, 3, dilation_rate=2)(x), IMG, r"\(Conv2DTranspose\).*dilation"),
        (lambda x: L.UpSampling2D(interpolation="bicubic")(x), IMG, r"bicubic"),
        (lambda x: L.Dense(3, activation="softsign")(x), (4,), r"\(Dense\): activation 'softsign' is not supported"),
        (lambda x: L.Activation("softplus")(x), (4,), r"activation 'softplus' is not supported"),
        (lambda x: L.ReLU(max_value=3.0)(x), (4,), r"max_value=3.0 is not supported"),
        (lambda x: L.Conv2D(6, 3, groups=3)(L.Conv2D(6, 1)(x)), IMG, r"groups > 1"),
        (lambda x: L.Average()([x, x]), (4,), r"\(Average\) is not supported"),
        (lambda x: x * 2.0, (4,), r"keras\.ops call in the model\) is not supported"),
        (lambda x: keras.ops.add(L.Dense(4)(x), x), (4,), r"\(Add, a keras\.ops call"),
    ],
)
def test_unsupported_layers_fail_cleanly(body: Any, shape: tuple[int, ...], message: str) -> None:
    model = _model(shape, body)
    with pytest.raises(UnsupportedError, match=message):
        quantize_keras(model, _data(shape, 4, 0))


def test_two_input_model_takes_one_array_per_input() -> None:
    """(Several inputs and outputs: tests/test_keras_multi_io.py.)"""
    a, b = keras.Input((4,), batch_size=1, name="a"), keras.Input((4,), batch_size=1, name="b")
    model = keras.Model([a, b], L.Add()([a, b]))
    with pytest.raises(TinygenError, match=r"one array \(4, 4\) but the model has 2 inputs \(a \(1, 4\), b \(1, 4\)\)"):
        quantize_keras(model, _data((4,), 4, 0))
    result = quantize_keras(model, {"a": _data((4,), 4, 0), "b": _data((4,), 4, 1)})
    assert result.graph.inputs == ["a", "b"] and [op.kind for op in result.graph.ops] == ["add"]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (lambda: keras.Input((None, 3)), r"unknown dimensions"),
        (lambda: keras.Input((4,), batch_size=8), r"fixed batch size 8"),
    ],
)
def test_unfixable_input_shapes(inputs: Any, message: str) -> None:
    x = inputs()
    model = keras.Model(x, L.Dense(2)(x))
    with pytest.raises(TinygenError, match=message):
        keras_to_float_graph(model)


def test_dynamic_batch_is_fixed_to_one() -> None:
    x = keras.Input((4,))
    graph = keras_to_float_graph(keras.Model(x, L.Dense(2)(x)))
    assert graph.tensors[graph.inputs[0]].shape == (1, 4)


def test_unbuilt_sequential_is_a_clear_error() -> None:
    with pytest.raises(TinygenError, match=r"no defined inputs.*keras.Input"):
        keras_to_float_graph(keras.Sequential([L.Dense(2)]))


# ---- the quantized graph runs unchanged through the C backend ----------------------------------------


def _every_layer(x: Any) -> Any:
    y = L.ZeroPadding2D(((1, 0), (0, 1)))(x)
    y = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(y)))
    a = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu6")(y)
    b = L.BatchNormalization()(L.SeparableConv2D(16, 3, padding="same")(y))
    s = L.MaxPooling2D()(L.Activation("relu")(L.Add()([a, b])))
    c = L.BatchNormalization()(L.Concatenate()([s, L.AveragePooling2D(3, strides=1, padding="same")(s)]))
    g = L.GlobalAveragePooling2D()(c)
    f = L.BatchNormalization()(L.Dense(20)(L.Dropout(0.3)(L.Flatten()(c))))
    f = L.Conv1D(6, 2, padding="causal", activation="relu")(L.Reshape((4, 5))(f))
    f = L.Flatten()(L.Dense(3)(f))  # a dense layer on a sequence keeps its dimensions
    return L.Dense(10, activation="softmax")(L.BatchNormalization()(L.Concatenate()([g, f])))


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_quantized_keras_graph_compiles_and_matches_reference_bit_exactly(compiler: str, tmp_path: Any) -> None:
    import shutil

    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    import hostbuild

    from tinygen import codegen, reference
    from tinygen.quantize.report import quantize_input

    model = _model((12, 12, 3), _every_layer)
    calibration = _data((12, 12, 3), 64, 0)
    graph = quantize_keras(model, calibration).graph
    inputs = np.concatenate([quantize_input(graph, calibration[i:i + 1]) for i in range(8)])
    expected = np.stack([reference.run(graph, inputs[i:i + 1])[graph.outputs[0]].reshape(-1) for i in range(8)])
    lib = codegen.generate(graph, tmp_path / "lib")
    exe = hostbuild.build(lib.out_dir, lib.manifest, tmp_path / "build", compiler=compiler,
                          sanitize=compiler == "gcc")  # this machine's clang ships no ASan runtime
    got, _ = hostbuild.run(exe, inputs.reshape(8, -1))
    np.testing.assert_array_equal(got, expected)
    assert len({tuple(row) for row in expected}) > 1, "outputs should depend on the input"


def test_bias_that_would_overflow_int32_widens_the_weight_scale() -> None:
    model = _model((4,), lambda x: L.Dense(3)(x))
    dense = model.layers[-1]
    dense.kernel.assign(np.full((4, 3), 1e-9, np.float32))
    dense.bias.assign(np.array([1000.0, -500.0, 0.0], np.float32))
    calibration = _data((4,), 32, 0)
    graph = quantize_keras(model, calibration).graph
    fc = graph.ops[0]
    bias, weights = graph.tensors[fc.inputs[2]], graph.tensors[fc.inputs[1]]
    assert np.abs(bias.data.astype(np.int64)).max() <= 2**31 - 1
    # The bias still dequantizes to its float value.
    np.testing.assert_allclose(bias.data[:2] * bias.quant.scale[:2].astype(np.float64), [1000.0, -500.0], rtol=1e-6)
    assert weights.quant.scale[0] > 1e-9 / 127
    expected = np.asarray(model.predict(calibration[:8], verbose=0), np.float64)
    got = run_int8(graph, calibration[:8])[graph.outputs[0]].reshape(expected.shape)
    assert sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2))) >= SQNR_DB


# ---- properties -----------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, width=32)


@settings(max_examples=300, deadline=None)
@given(_finite, _finite)
def test_activation_params_cover_the_range_and_zero(a: float, b: float) -> None:
    lo, hi = min(a, b, 0.0), max(a, b, 0.0)
    scale, zp = activation_params(min(a, b), max(a, b))
    assert -128 <= zp <= 127 and scale > 0
    if hi - lo > 1e-30:
        # 0.0 is the integer zp; the int8 grid spans the range to within one step at each end.
        assert (-128 - zp) * float(scale) <= lo + float(scale) * 1.0001
        assert (127 - zp) * float(scale) >= hi - float(scale) * 1.0001


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_weight_quantization_round_trip(channels: int, size: int, seed: int) -> None:
    w = np.random.default_rng(seed).standard_normal((channels, size, size, 2)).astype(np.float32)
    q, scale = quantize_weights(w, axis=0)
    assert np.abs(q.astype(int)).max(axis=(1, 2, 3)).tolist() == [127] * channels
    error = np.abs(q * scale.reshape(-1, 1, 1, 1).astype(np.float64) - w)
    assert np.all(error <= scale.reshape(-1, 1, 1, 1) / 2 * (1 + 1e-6))


@pytest.mark.parametrize("name", ["kws_dscnn", "vww_mobilenet", "ic_resnet8", "ad_autoencoder"])
def test_mlperf_tiny_architectures_quantize(name: str) -> None:
    """The MLPerf Tiny architectures (random weights, non-trivial BatchNorm) quantize, and every layer's
    int8 output tracks the float graph (per-layer SQNR >= 30 dB on calibration samples)."""
    from tinygen import zoo
    from tinygen.quantize.report import build_report

    model = getattr(zoo, name)()
    shape = tuple(d or 1 for d in model.inputs[0].shape)
    calibration = _data(shape[1:], 16, 0)
    result = quantize_keras(model, calibration)
    report = build_report(result.float_graph, result.graph, calibration, "minmax", max_samples=3)
    worst = min(report.layers, key=lambda layer: layer.sqnr_db)
    print(f"{name}: {len(report.layers)} ops, worst layer {worst.op} {worst.sqnr_db:.1f} dB, "
          f"output {report.output_sqnr_db:.1f} dB")
    assert worst.sqnr_db >= SQNR_DB
