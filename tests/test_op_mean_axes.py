"""MEAN over any axes (not only the spatial mean of GlobalAveragePooling2D): tinygen's reference equals TFLite
Micro on every tensor, and the generated C (ASan/UBSan) equals the reference, for reductions over every axis
set of 3-D and 4-D tensors, with and without keep_dims; Keras GlobalAveragePooling1D runs through tinygen's
quantizer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_codegen import check_library

from tinygen import reference
from tinygen.frontend.tflite import import_tflite
from tinygen.oracle import tflm_run

CASES = [
    ((6, 5, 4), (1,), False), ((6, 5, 4), (2,), True), ((6, 5, 4), (1, 2), False),
    ((3, 4, 5), (3,), False), ((3, 4, 5), (1,), True), ((3, 4, 5), (2,), False), ((3, 4, 5), (1, 3), True),
    ((3, 4, 5), (2, 3), False), ((3, 4, 5), (1, 2, 3), False),
]


def _mean_model(shape: tuple[int, ...], axes: tuple[int, ...], keep: bool, seed: int) -> bytes:
    import keras

    from tinygen.tfconvert import keras_to_int8_tflite

    keras.utils.set_random_seed(seed)
    x = keras.Input(shape, batch_size=1)
    y = keras.layers.Lambda(lambda t: keras.ops.mean(t, axis=axes, keepdims=keep))(keras.layers.Dense(shape[-1])(x))
    model = keras.Model(x, y)
    data = np.random.default_rng(seed).normal(size=(16, *shape)).astype(np.float32)
    return keras_to_int8_tflite(model, data)


@pytest.mark.parametrize(("shape", "axes", "keep"), CASES)
def test_mean_over_any_axes_matches_tflite_micro(shape: tuple[int, ...], axes: tuple[int, ...], keep: bool,
                                                 tmp_path: Path) -> None:
    data = _mean_model(shape, axes, keep, seed=len(shape) * 10 + sum(axes))
    graph = import_tflite(data, name="mean_axes")
    assert [op.kind for op in graph.ops][-1] == "mean"
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.integers(-128, 128, size=graph.tensor(graph.inputs[0]).shape, dtype=np.int8)
        ours = reference.run(graph, x)
        theirs = tflm_run(data, [x])
        assert graph.outputs[0] in theirs
        for name, value in theirs.items():
            assert np.array_equal(ours[name].reshape(-1), np.asarray(value).reshape(-1)), name
    check_library(graph, tmp_path, vectors=2, sanitize=True)


def test_keras_global_average_pooling_1d(tmp_path: Path) -> None:
    import keras

    from tinygen.api import quantize

    keras.utils.set_random_seed(5)
    x = keras.Input((20, 6), batch_size=1)
    y = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(keras.layers.Conv1D(8, 3, activation="relu")(x)))
    graph = quantize(keras.Model(x, y), np.random.default_rng(0).normal(size=(16, 20, 6)).astype(np.float32))
    mean = next(op for op in graph.ops if op.kind == "mean")
    assert mean.attrs["axes"] == (1,) or mean.attrs["axes"] == (2,)
    check_library(graph, tmp_path, vectors=2, sanitize=True)
