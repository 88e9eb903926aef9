"""Fused activations: the one home of their names, float ranges, TFLite codes and float/TensorFlow forms.

An op's ``attrs["activation"]`` is one of :data:`ACTIVATIONS`. In int8 it is a clamp of the output to the
quantized range (``numerics.activation_range``, TFLite's CalculateActivationRangeQuantized); in float it
is a clamp to :data:`FLOAT_RANGE`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NONE, RELU, RELU6, RELU_N1_TO_1 = "none", "relu", "relu6", "relu_n1_to_1"
ACTIVATIONS = (NONE, RELU, RELU6, RELU_N1_TO_1)

#: the real-valued range each activation clamps to (None: unbounded on that side)
FLOAT_RANGE: dict[str, tuple[float | None, float | None]] = {
    NONE: (None, None),
    RELU: (0.0, None),
    RELU6: (0.0, 6.0),
    RELU_N1_TO_1: (-1.0, 1.0),
}

#: tflite.ActivationFunctionType member name of each activation
TFLITE_NAMES = {NONE: "NONE", RELU: "RELU", RELU6: "RELU6", RELU_N1_TO_1: "RELU_N1_TO_1"}


def apply_float(x: np.ndarray, activation: str) -> np.ndarray:
    """The float activation (numpy)."""
    lo, hi = FLOAT_RANGE[activation]
    if lo is None and hi is None:
        return x
    if hi is None:
        return np.maximum(x, lo)
    return np.clip(x, lo, hi)


def apply_tf(tf: Any, x: Any, activation: str) -> Any:
    """The float activation (TensorFlow, for QAT): ReLU through ``tf.nn.relu`` for its gradient."""
    lo, hi = FLOAT_RANGE[activation]
    if lo is None and hi is None:
        return x
    if hi is None:
        return tf.nn.relu(x)
    return tf.clip_by_value(x, lo, hi)
