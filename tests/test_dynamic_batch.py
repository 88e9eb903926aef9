"""The standard way to make a model: a Keras model with the default None batch and a Flatten. TensorFlow's
converter, used the documented way, turns its Flatten into SHAPE, STRIDED_SLICE, PACK, RESHAPE; tinygen converts
such a model both ways (its own quantizer, and `--quantizer tflite` through a batch-1 copy of the model) to a
library whose output equals the reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tinygen.cli import main


@pytest.fixture(scope="module")
def dynamic_batch_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((12, 10, 2)),  # batch None
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(5, activation="softmax"),
    ])
    assert model.inputs[0].shape[0] is None
    folder = tmp_path_factory.mktemp("dynamic")
    path = folder / "flatten.keras"
    model.save(path)
    calibration = folder / "calibration.npy"
    np.save(calibration, np.random.default_rng(0).normal(size=(16, 12, 10, 2)).astype(np.float32))
    return path, calibration


@pytest.mark.parametrize("quantizer", ["tinygen", "tflite"])
def test_dynamic_batch_flatten_converts(quantizer: str, dynamic_batch_model: tuple[Path, Path], tmp_path: Path) -> None:
    path, calibration = dynamic_batch_model
    out = tmp_path / "lib"
    assert main(["convert", str(path), "--calibration", str(calibration), "--quantizer", quantizer,
                 "-o", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    ops = [layer["op"] for layer in manifest["layers"]]
    assert ops[0] == "conv2d" and "fully_connected" in ops and ops[-1] == "softmax", ops
    assert manifest["input"]["shape"] == [1, 12, 10, 2] and manifest["output"]["shape"] == [1, 5]


def test_the_converter_sees_a_batch_one_model(dynamic_batch_model: tuple[Path, Path]) -> None:
    """The .tflite TensorFlow's converter makes holds no dynamic-shape ops (the batch-1 copy has static shapes)."""
    import keras

    from tinygen.frontend.tflite import summarize
    from tinygen.tfconvert import keras_to_int8_tflite

    path, calibration = dynamic_batch_model
    model = keras.models.load_model(path, compile=False)
    data = keras_to_int8_tflite(model, np.load(calibration))
    _, rows, inputs, _ = summarize(data)
    assert {r.builtin for r in rows} == {"CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"}
    assert inputs[0].endswith("[1, 12, 10, 2] int8")


def test_the_converters_dynamic_shape_ops_fold_at_import(dynamic_batch_model: tuple[Path, Path]) -> None:
    """TensorFlow's converter used directly on the None-batch model computes the Flatten's shape at run time
    (SHAPE, STRIDED_SLICE, PACK, RESHAPE): tinygen folds that arithmetic at import, the Flatten becomes a plain
    reshape, and the model equals TFLite Micro (which runs the SHAPE ops)."""
    import keras
    import tensorflow as tf

    from tinygen import reference
    from tinygen.frontend.tflite import import_tflite, summarize
    from tinygen.oracle import tflm_run

    path, calibration = dynamic_batch_model
    model = keras.models.load_model(path, compile=False)
    data = np.load(calibration)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in data)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    flat = converter.convert()
    assert {"SHAPE", "STRIDED_SLICE", "PACK"} <= {r.builtin for r in summarize(flat)[1]}
    graph = import_tflite(flat, name="dynamic")
    assert [op.kind for op in graph.ops] == ["conv2d", "max_pool2d", "reshape", "fully_connected", "softmax"]
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = rng.integers(-128, 128, (1, 12, 10, 2), dtype=np.int8)
        ref, tflm = reference.run(graph, x), tflm_run(flat, x)
        for op in graph.ops:
            assert np.array_equal(ref[op.outputs[0]], tflm[op.outputs[0]]), op.name
