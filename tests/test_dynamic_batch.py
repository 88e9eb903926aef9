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
