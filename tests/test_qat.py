"""Quantization-aware training (tinygen.qat).

The task: sklearn's 8x8 digits with a small CNN (Conv+BN+ReLU, AvgPool, Depthwise+BN+ReLU, 1x1 Conv,
global average pool, Dense softmax). After float training, one channel of the first ReLU output is
scaled up by ``WIDE`` and the next depthwise conv's weights for it scaled down by the same factor: the
float function is unchanged (ReLU is positively homogeneous) but that tensor's per-tensor int8 range
is ``WIDE`` times wider, so post-training quantization loses accuracy. QAT fine-tunes through the
int8 grid and must win back at least half of the loss.

Trained models (the float model and the fine-tuned QAT model, saved as .keras, which also exercises
QAT model serialisation) are cached in tests/.cache under a hash of this file's recipe functions.
"""

from __future__ import annotations

import hashlib
import inspect
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from filelock import FileLock

import hostbuild
from tinygen import reference
from tinygen.quantize.report import quantize_input

CACHE = Path(__file__).resolve().parent / ".cache"
REPO = Path(__file__).resolve().parent.parent
WIDE = 40.0
CALIBRATION = 200
FLOAT_EPOCHS = 30
QAT_EPOCHS = 4
OBSERVER_STEPS = 45  # about one epoch of EMA range tracking, then frozen


def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., None]
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=1, stratify=y)
    return x_train, y_train, x_test, y_test


def _train_float() -> Any:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(7)
    tf.config.experimental.enable_op_determinism()
    L = keras.layers
    inputs = keras.Input((8, 8, 1), name="digits")
    x = L.Conv2D(12, 3, padding="same", use_bias=False, name="conv1")(inputs)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU(name="relu1")(x)
    x = L.AveragePooling2D(2, name="pool")(x)
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = L.BatchNormalization(name="bn2")(x)
    x = L.ReLU(name="relu2")(x)
    x = L.Conv2D(24, 1, activation="relu", name="pw")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(10, activation="softmax", name="logits")(x)
    model = keras.Model(inputs, outputs, name="digits_qat")
    x_train, y_train, _, _ = digits()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, batch_size=32, epochs=FLOAT_EPOCHS, verbose=0)
    # Widen channel 0 of relu1 (scale BN1's gamma/beta) and undo it in the depthwise kernel.
    gamma, beta, mean, var = model.get_layer("bn1").get_weights()
    gamma[0] *= WIDE
    beta[0] *= WIDE
    model.get_layer("bn1").set_weights([gamma, beta, mean, var])
    kernel, bias = model.get_layer("dw").get_weights()
    kernel[:, :, 0, :] /= WIDE
    model.get_layer("dw").set_weights([kernel, bias])
    return model


def _fine_tune(float_model: Any) -> Any:
    import keras
    import tensorflow as tf

    import tinygen.qat as qat

    keras.utils.set_random_seed(11)
    tf.config.experimental.enable_op_determinism()
    x_train, y_train, _, _ = digits()
    model = qat.prepare(float_model, x_train[:CALIBRATION], observer_steps=OBSERVER_STEPS)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, batch_size=32, epochs=QAT_EPOCHS, verbose=0)
    return model


def _recipe(*funcs: Any, with_qat: bool = False) -> str:
    import keras

    text = "".join(inspect.getsource(f) for f in (digits, *funcs)) + keras.__version__
    if with_qat:  # a fine-tuned model depends on the QAT layers' code too
        text += "".join(p.read_text() for p in sorted((REPO / "tinygen" / "qat").glob("*.py")))
    text += repr((WIDE, CALIBRATION, FLOAT_EPOCHS, QAT_EPOCHS, OBSERVER_STEPS))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cached(stem: str, make: Any, recipe: str) -> Any:
    import keras

    import tinygen.qat  # noqa: F401  (registers the QAT layers before a cached QAT model loads)

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{stem}_{recipe}.keras"
    with FileLock(str(path) + ".lock"):
        if not path.exists():
            tmp = path.with_suffix(".tmp.keras")
            make().save(tmp)
            tmp.replace(path)
    return keras.saving.load_model(path, compile=False)


_MODELS: dict[str, Any] = {}


def float_model() -> Any:
    if "float" not in _MODELS:
        _MODELS["float"] = _cached("qat_float", _train_float, _recipe(_train_float))
    return _MODELS["float"]


def qat_model_path() -> Path:
    qat_model()
    return CACHE / f"qat_tuned_{_recipe(_train_float, _fine_tune, with_qat=True)}.keras"


def qat_model() -> Any:
    if "qat" not in _MODELS:
        fm = float_model()
        _MODELS["qat"] = _cached("qat_tuned", lambda: _fine_tune(fm), _recipe(_train_float, _fine_tune, with_qat=True))
    return _MODELS["qat"]


def int8_outputs(graph: Any, x: np.ndarray) -> np.ndarray:
    """The reference executor's int8 output for each sample."""
    name = graph.outputs[0]
    return np.stack([reference.run(graph, quantize_input(graph, x[i:i + 1]))[name].reshape(-1) for i in range(len(x))])


def dequantized(graph: Any, q: np.ndarray) -> np.ndarray:
    scale, zero_point = graph.tensors[graph.outputs[0]].quant.scalar()
    return (q.astype(np.float64) - zero_point) * float(scale)


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores, axis=1) == y))


# --------------------------------------------------------------------------- the fake-quant arithmetic


def test_activation_params_match_the_quantizer() -> None:
    """The TensorFlow twin of observers.activation_params gives the same float32 scale and zero point."""
    import tensorflow as tf

    from tinygen.qat.fake_quant import activation_params
    from tinygen.quantize.observers import activation_params as reference_params

    rng = np.random.default_rng(0)
    edge_lows, edge_highs = [0.0, 0.0, -1e-9, -5.0], [0.0, 1.0, 1e-9, 0.0]  # degenerate, one-sided ranges
    lows = np.concatenate([-rng.exponential(3.0, 300), rng.uniform(0, 2, 50), edge_lows]).astype(np.float32)
    highs = np.concatenate([rng.exponential(3.0, 300), rng.uniform(-2, 0, 50), edge_highs]).astype(np.float32)
    scale, zp = activation_params(tf.constant(lows), tf.constant(highs))
    for i in range(lows.size):
        want_scale, want_zp = reference_params(float(lows[i]), float(highs[i]))
        assert scale.numpy()[i] == want_scale, (lows[i], highs[i])
        assert int(zp.numpy()[i]) == want_zp, (lows[i], highs[i])


def test_weight_fake_quant_equals_int8_weights() -> None:
    """Fake-quantized weights are exactly the quantizer's int8 values times its per-channel scales."""
    import tensorflow as tf

    from tinygen.qat.fake_quant import fake_quant_weights
    from tinygen.quantize.quantizer import quantize_weights

    rng = np.random.default_rng(1)
    for axis, shape in ((0, (6, 3, 3, 4)), (3, (1, 3, 3, 8)), (0, (10, 17))):
        w = (rng.standard_normal(shape) * rng.uniform(0.01, 3.0)).astype(np.float32)
        w[(slice(None),) * axis + (0,)] = 0.0  # an all-zero channel takes scale 1.0
        q, scale = quantize_weights(w, axis)
        bshape = [1] * w.ndim
        bshape[axis] = -1
        expected = q.astype(np.float32) * scale.reshape(bshape)
        np.testing.assert_array_equal(fake_quant_weights(tf.constant(w), axis).numpy(), expected)


def test_straight_through_and_range_gradients() -> None:
    import tensorflow as tf

    from tinygen.qat.fake_quant import fake_quant_range

    x = tf.constant([-3.0, -0.5, 0.1, 0.7, 5.0])
    lo, hi = tf.Variable(-1.0), tf.Variable(1.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(fake_quant_range(x, lo, hi) * tf.constant([1.0, 2.0, 3.0, 4.0, 5.0]))
    dx, dlo, dhi = tape.gradient(y, [x, lo, hi])
    np.testing.assert_array_equal(dx.numpy(), [0.0, 2.0, 3.0, 4.0, 0.0])
    assert float(dlo) == 1.0 and float(dhi) == 5.0


# --------------------------------------------------------------------------- prepare / convert


def test_prepare_reproduces_post_training_quantization() -> None:
    """Before any training, convert(prepare(model, calibration)) is the PTQ graph, tensor for tensor:
    fake quantization sits exactly where tinygen's quantizer quantizes."""
    import tinygen.qat as qat
    from tinygen.api import quantize

    model = float_model()
    x_train, _, _, _ = digits()
    ptq = quantize(model, x_train[:CALIBRATION], ptq="plain")  # QAT's starting point is plain min-max PTQ
    converted = qat.convert(qat.prepare(model, x_train[:CALIBRATION]))
    assert [(op.kind, op.name, op.inputs, op.outputs, op.attrs) for op in converted.ops] == \
        [(op.kind, op.name, op.inputs, op.outputs, op.attrs) for op in ptq.ops]
    assert set(converted.tensors) == set(ptq.tensors)
    for name, t in ptq.tensors.items():
        c = converted.tensors[name]
        assert (c.shape, c.dtype) == (t.shape, t.dtype), name
        np.testing.assert_array_equal(c.quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(c.quant.zero_point, t.quant.zero_point, err_msg=name)
        if t.is_const:
            np.testing.assert_array_equal(c.data, t.data, err_msg=name)


@pytest.mark.parametrize("trained", [False, True], ids=["prepared", "fine_tuned"])
def test_fake_quant_predictions_equal_int8_reference(trained: bool) -> None:
    """The QAT Keras model's predictions are the int8 reference executor's dequantized outputs: on the
    int8 grid and equal element for element (the contract allows one output step; the exact integer
    requantization in the forward pass gives zero)."""
    import tinygen.qat as qat

    _, _, x_test, _ = digits()
    x = x_test[:100]
    model = qat_model() if trained else qat.prepare(float_model(), digits()[0][:CALIBRATION])
    graph = qat.convert(model)
    scale, zero_point = graph.tensors[graph.outputs[0]].quant.scalar()
    predicted = model.predict(x, verbose=0) / float(scale) + zero_point
    on_grid = np.rint(predicted)
    assert np.abs(predicted - on_grid).max() < 1e-3, "QAT predictions are not on the output's int8 grid"
    expected = int8_outputs(graph, x)
    differ = int(np.sum(on_grid != expected))
    print(f"\n{'fine-tuned' if trained else 'prepared'}: {differ} of {expected.size} outputs differ from the int8 "
          f"reference, largest {np.abs(on_grid - expected).max():.0f} steps")
    np.testing.assert_array_equal(on_grid, expected)


def test_qat_recovers_post_training_accuracy() -> None:
    import tinygen.qat as qat
    from tinygen.api import quantize

    x_train, _, x_test, y_test = digits()
    model = float_model()
    float_acc = accuracy(model.predict(x_test, verbose=0), y_test)
    ptq_acc = accuracy(int8_outputs(quantize(model, x_train[:CALIBRATION], ptq="plain"), x_test), y_test)
    qat_acc = accuracy(int8_outputs(qat.convert(qat_model()), x_test), y_test)
    print(f"\ndigits top-1 on {len(y_test)} held-out samples: float {100 * float_acc:.2f}%, "
          f"PTQ int8 {100 * ptq_acc:.2f}%, QAT int8 {100 * qat_acc:.2f}% ({QAT_EPOCHS} epochs)")
    assert float_acc > 0.9, "the float model did not train"
    assert float_acc - ptq_acc >= 0.03, "PTQ does not lose measurable accuracy on this model: the test is moot"
    assert qat_acc - ptq_acc >= 0.5 * (float_acc - ptq_acc)


def test_saved_qat_model_converts_identically(tmp_path: Path) -> None:
    """A QAT model saved as .keras loads (registered custom layers) and converts to the same graph."""
    import tinygen.qat as qat

    path = tmp_path / "tuned.keras"
    shutil.copy(qat_model_path(), path)
    a, b = qat.convert(qat_model()), qat.convert(path)
    assert qat.is_qat_model(qat.load(path))
    for name, t in a.tensors.items():
        np.testing.assert_array_equal(b.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        if t.is_const:
            np.testing.assert_array_equal(b.tensors[name].data, t.data, err_msg=name)


def test_ema_ranges_freeze_after_observer_steps() -> None:
    import keras

    import tinygen.qat as qat
    from tinygen.qat.ranges import ActivationQuantizer

    x_train, y_train, _, _ = digits()
    model = qat.prepare(float_model(), x_train[:CALIBRATION], observer_steps=3, momentum=0.5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    quantizers = [layer for layer in model.layers if isinstance(layer, ActivationQuantizer) and layer.fixed is None]
    before = [q.current_range() for q in quantizers]
    model.fit(x_train[:96], y_train[:96], batch_size=32, epochs=1, verbose=0)
    observed = [q.current_range() for q in quantizers]
    model.fit(x_train[:96], y_train[:96], batch_size=32, epochs=1, verbose=0)
    assert observed != before, "the observer did not track the batches"
    assert [q.current_range() for q in quantizers] == observed, "ranges moved after observer_steps"
    assert all(q.steps.numpy() == 6 for q in quantizers)


def test_learned_ranges_train_and_convert() -> None:
    """mode="learned": min/max are trainable after the observation phase and the converted graph uses them."""
    import keras

    import tinygen.qat as qat
    from tinygen.qat.ranges import ActivationQuantizer

    x_train, y_train, x_test, _ = digits()
    # Calibrating on a few samples leaves ranges that training data exceeds: clipping to learn from.
    model = qat.prepare(float_model(), x_train[:10], mode="learned", observer_steps=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    quantizers = [layer for layer in model.layers if isinstance(layer, ActivationQuantizer) and layer.fixed is None]
    assert all(q.range_min.trainable and q.range_max.trainable for q in quantizers)
    before = [q.current_range() for q in quantizers]
    model.fit(x_train[:256], y_train[:256], batch_size=32, epochs=1, verbose=0)
    after = [q.current_range() for q in quantizers]
    assert sum(a != b for a, b in zip(after, before)) >= len(quantizers) // 2, "the clipping values did not learn"
    graph = qat.convert(model)
    from tinygen.quantize.observers import activation_params

    for q, (lo, hi) in zip(quantizers, after):
        scale, zp = activation_params(lo, hi)
        assert graph.tensors[q.tensor_names[0]].quant.scalar() == (scale, zp)
    scale, zero_point = graph.tensors[graph.outputs[0]].quant.scalar()
    x = x_test[:40]
    predicted = np.rint(model.predict(x, verbose=0) / float(scale) + zero_point)
    np.testing.assert_array_equal(predicted, int8_outputs(graph, x))


def test_unsupported_layer_fails_like_the_quantizer() -> None:
    import keras

    import tinygen.qat as qat
    from tinygen.api import quantize
    from tinygen.errors import TinygenError

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.Conv3D(2, 1, name="conv3d")(keras.layers.Reshape((6, 6, 4, 1))(x))
    model = keras.Model(inputs, keras.layers.Flatten()(x))
    calibration = np.zeros((4, 8, 8, 1), np.float32)
    with pytest.raises(TinygenError) as ptq_error:
        quantize(model, calibration)
    with pytest.raises(TinygenError) as qat_error:
        qat.prepare(model, calibration)
    assert str(qat_error.value) == str(ptq_error.value)
    assert "'conv3d' (Conv3D)" in str(qat_error.value)


def test_bad_options_are_clear_errors() -> None:
    import tinygen.qat as qat
    from tinygen.errors import TinygenError

    with pytest.raises(TinygenError, match="range mode 'pact'"):
        qat.prepare(float_model(), digits()[0][:8], mode="pact")
    with pytest.raises(TinygenError, match="not a tinygen QAT model"):
        qat.convert(float_model())


# --------------------------------------------------------------------------- the C backend


def test_qat_graph_runs_bit_exact_in_c(tmp_path: Path) -> None:
    import tinygen.qat as qat
    from tinygen import codegen

    graph = qat.convert(qat_model())
    _, _, x_test, _ = digits()
    x = np.stack([quantize_input(graph, x_test[i:i + 1]) for i in range(64)])
    expected = np.stack([reference.run(graph, v)[graph.outputs[0]].reshape(-1) for v in x])
    lib = codegen.generate(graph, tmp_path / "lib")
    hb = hostbuild.build(lib.out_dir, lib.manifest, tmp_path / "build", compiler=hostbuild.compilers()[0])
    out, _ = hostbuild.run(hb, x.reshape(len(x), -1))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.emulator
def test_qat_graph_runs_bit_exact_in_qemu(tmp_path: Path) -> None:
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    import tinygen.qat as qat
    from tinygen.boards import get_board
    from tinygen.codegen import generate
    from tinygen.commands.test import Prepared, run_test

    graph = qat.convert(qat_model())
    library = generate(graph, tmp_path / "lib", force=True)
    prep = Prepared(graph, library, get_board("mps2_an386"), None, "double", tmp_path)
    _, _, x_test, _ = digits()
    vectors = np.stack([quantize_input(graph, x_test[i:i + 1]).reshape(-1) for i in range(4)])
    outcome = run_test(prep, vectors)
    assert outcome.ok, "\n".join(outcome.lines)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["kws_dscnn", "ic_resnet8"])
def test_benchmark_architectures_prepare_and_match(name: str) -> None:
    """MLPerf Tiny architectures (folded BatchNorm, depthwise, non-square average pool, residual Add):
    prepare+convert is the PTQ graph, and the QAT model predicts the int8 reference's outputs."""
    import tinygen.qat as qat
    import tinygen.zoo as zoo
    from tinygen.api import quantize

    model = getattr(zoo, name)()
    rng = np.random.default_rng(3)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    calibration = rng.standard_normal((8, *shape)).astype(np.float32)
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    for tname, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[tname].quant.scale, t.quant.scale, err_msg=tname)
        if t.is_const:
            np.testing.assert_array_equal(graph.tensors[tname].data, t.data, err_msg=tname)
    x = rng.standard_normal((3, *shape)).astype(np.float32)
    scale, zero_point = graph.tensors[graph.outputs[0]].quant.scalar()
    predicted = np.rint(prepared.predict(x, verbose=0) / float(scale) + zero_point).reshape(3, -1)
    np.testing.assert_array_equal(predicted, int8_outputs(graph, x))


def test_mixed_layers_prepare_and_match_after_training() -> None:
    """ZeroPadding2D+Conv (fused 'same'), SeparableConv2D+BN, Concatenate (shared scale), MaxPool, Add+ReLU,
    'same' AveragePooling with partial windows, Flatten, Dense, Dropout: prepare+convert is the PTQ graph
    and, after a few training steps that move the observed ranges, predictions still equal the reference."""
    import keras

    import tinygen.qat as qat
    from tinygen.api import quantize

    keras.utils.set_random_seed(5)
    L = keras.layers
    inputs = keras.Input((12, 12, 3))
    a = L.Conv2D(8, 3, activation="relu6")(L.ZeroPadding2D(1)(inputs))
    b = L.ReLU()(L.BatchNormalization()(L.SeparableConv2D(6, 3, padding="same")(inputs)))
    c = L.MaxPooling2D(2)(L.Concatenate()([a, b]))
    e = L.ReLU()(L.Add()([c, L.Conv2D(14, 1)(c)]))
    e = L.AveragePooling2D(3, strides=2, padding="same")(e)
    f = L.Dropout(0.1)(L.Dense(16, activation="relu")(L.Flatten()(e)))
    model = keras.Model(inputs, L.Dense(5)(f), name="mixed")
    rng = np.random.default_rng(0)
    calibration = rng.standard_normal((16, 12, 12, 3)).astype(np.float32)
    prepared = qat.prepare(model, calibration, observer_steps=2, momentum=0.5)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    assert [op.kind for op in graph.ops] == [op.kind for op in ptq.ops]
    assert "concatenation" in [op.kind for op in graph.ops] and "add" in [op.kind for op in graph.ops]
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
        if t.is_const:
            np.testing.assert_array_equal(graph.tensors[name].data, t.data, err_msg=name)
    prepared.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    x = rng.standard_normal((20, 12, 12, 3)).astype(np.float32)
    prepared.fit(x * 2.0, rng.standard_normal((20, 5)).astype(np.float32), batch_size=10, epochs=2, verbose=0)
    graph = qat.convert(prepared)
    assert graph.tensors[graph.inputs[0]].quant.scalar() != ptq.tensors[ptq.inputs[0]].quant.scalar()
    scale, zero_point = graph.tensors[graph.outputs[0]].quant.scalar()
    predicted = np.rint(prepared.predict(x, verbose=0) / float(scale) + zero_point)
    np.testing.assert_array_equal(predicted, int8_outputs(graph, x))
