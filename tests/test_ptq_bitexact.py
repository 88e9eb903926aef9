"""Whatever PTQ pipeline made its numbers, the int8 graph is an ordinary one: the generated C equals tinygen's
reference bit for bit (every layer, every compiler build of tests/opcheck.check_c). One model per pipeline,
together covering every pass (cle, smooth, bias correction) and observer, and what auto chooses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")
L = keras.layers

from opcheck import check_c  # noqa: E402

from tinygen.quantize.pipeline import quantize_keras  # noqa: E402
from tinygen.quantize.report import quantize_input  # noqa: E402


def _model() -> Any:
    """Conv-BN-ReLU with BatchNorm scales ~e^±2.5 apart, a depthwise conv, pooling, a Flatten and two Dense."""
    keras.utils.set_random_seed(11)
    inputs = keras.Input((8, 8, 2), batch_size=1)
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, padding="same")(inputs)))
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.MaxPooling2D(2)(L.Conv2D(8, 3, padding="same", activation="relu")(x))
    x = L.Dense(12, activation="relu")(L.Flatten()(x))
    model = keras.Model(inputs, L.Dense(4)(x))
    rng = np.random.default_rng(2)
    bn = next(layer for layer in model.layers if isinstance(layer, L.BatchNormalization))
    gamma, beta, mean, var = bn.get_weights()
    scale = np.exp(rng.uniform(-2.5, 2.5, gamma.shape)).astype(np.float32)
    bn.set_weights([gamma * scale, rng.normal(0, 1, beta.shape).astype(np.float32) * scale, mean, var])
    return model


@pytest.mark.parametrize("ptq", ["cle+bc", "smooth+mse", "bc+percentile", "auto"])
def test_every_pipeline_gives_c_equal_to_the_reference(ptq: str, tmp_path: Path) -> None:
    calibration = np.random.default_rng(3).standard_normal((64, 8, 8, 2)).astype(np.float32)
    result = quantize_keras(_model(), calibration, ptq=ptq)
    if ptq == "auto":
        assert result.choice is not None and result.ptq != "plain", result.choice.reason
    else:
        assert result.ptq == ptq
    vectors = np.stack([quantize_input(result.graph, calibration[i:i + 1]) for i in range(6)])
    vectors = np.concatenate([vectors, np.random.default_rng(4).integers(-128, 128, (2, *vectors.shape[1:]))])
    check_c(result.graph, tmp_path, vectors.astype(np.int8))
