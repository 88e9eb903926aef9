"""Activation ranges during quantization-aware training: one Keras layer per quantization group.

A group is the set of activation tensors tinygen's quantizer gives one (scale, zero point): a tensor,
plus the outputs of the ops that keep their input's parameters (pools, reshape, pad) and all inputs of
a concatenation. The layer holds the group's float range ``[min, max]`` and fake-quantizes every member
with it, so training sees exactly the int8 grid :func:`tinygen.qat.convert` will emit.

Range modes (``mode``):

* ``"ema"``: for the first ``observer_steps`` training steps the range follows an exponential moving
  average (``momentum``) of each batch's min/max, starting from the calibration min/max; then it is frozen.
* ``"learned"``: the same observation phase, then ``min``/``max`` are trainable and learn clipping
  values from the straight-through gradient of the clipped elements (PACT-style).

Softmax outputs (and their group) have TFLite's fixed parameters (scale 1/256, zero point -128).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tinygen.qat.fake_quant import activation_params, fake_quant_fixed, fake_quant_range

MODES = ("ema", "learned")
DEFAULT_OBSERVER_STEPS = 200
DEFAULT_MOMENTUM = 0.99


@keras.saving.register_keras_serializable(package="tinygen_qat")
class ActivationQuantizer(keras.layers.Layer):
    """Fake-quantizes the members of one quantization group with one (min, max)."""

    def __init__(self, tensor_names: list[str], initial_range: tuple[float, float] = (0.0, 1.0),
                 fixed: tuple[float, int] | None = None, mode: str = "ema",
                 observer_steps: int = DEFAULT_OBSERVER_STEPS, momentum: float = DEFAULT_MOMENTUM,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tensor_names = list(tensor_names)
        self.initial_range = (float(initial_range[0]), float(initial_range[1]))
        self.fixed = None if fixed is None else (float(fixed[0]), int(fixed[1]))
        self.mode = mode
        self.observer_steps = int(observer_steps)
        self.momentum = float(momentum)
        learned = mode == "learned" and self.fixed is None
        self.range_min = self.add_weight(name="range_min", shape=(), trainable=learned,
                                         initializer=keras.initializers.Constant(self.initial_range[0]))
        self.range_max = self.add_weight(name="range_max", shape=(), trainable=learned,
                                         initializer=keras.initializers.Constant(self.initial_range[1]))
        self.steps = self.add_weight(name="steps", shape=(), trainable=False,
                                     initializer=keras.initializers.Constant(0.0))

    def params(self) -> Any:
        """The group's current [float32 scale, zero point] as a [2] tensor."""
        if self.fixed is not None:
            return tf.constant([self.fixed[0], float(self.fixed[1])], tf.float32)
        scale, zp = activation_params(self.range_min.value, self.range_max.value)
        return tf.stack([scale, zp])

    def call(self, inputs: Any, observe: bool = True, return_params: bool = False,
             training: bool | None = None) -> Any:
        """Fake-quantize ``inputs``: a tensor, or ``[x, exact]`` where ``exact`` is the int8 kernel's
        exact dequantized result (forward value) and ``x`` the float value (observed, gradient).
        With ``return_params`` return :meth:`params` (the inputs only order the call in the graph)."""
        if return_params:
            return self.params()
        x, exact = (inputs[0], inputs[1]) if isinstance(inputs, (list, tuple)) else (inputs, None)
        if self.fixed is not None:
            y = fake_quant_fixed(x, self.fixed[0], self.fixed[1])
        else:
            # Quantize with the range read before this step's observer update: the same range the
            # ``return_params`` calls (earlier in the graph) gave the exact int8 emulation.
            rmin, rmax = tf.identity(self.range_min.value), tf.identity(self.range_max.value)
            if training and observe and self.observer_steps > 0:
                observing = self.steps.value < float(self.observer_steps)
                m = self.momentum
                new_min = m * rmin + (1.0 - m) * tf.stop_gradient(tf.reduce_min(x))
                new_max = m * rmax + (1.0 - m) * tf.stop_gradient(tf.reduce_max(x))
                self.range_min.assign(tf.where(observing, new_min, rmin))
                self.range_max.assign(tf.where(observing, new_max, rmax))
                self.steps.assign(self.steps.value + 1.0)
                # While observing, the range is a statistic: no gradient reaches it.
                rmin = tf.where(observing, tf.stop_gradient(rmin), rmin)
                rmax = tf.where(observing, tf.stop_gradient(rmax), rmax)
            y = fake_quant_range(x, rmin, rmax)
        return y if exact is None else y + tf.stop_gradient(exact - y)

    def current_range(self) -> tuple[float, float]:
        """The float32 (min, max) the int8 graph is quantized with."""
        return float(self.range_min.numpy()), float(self.range_max.numpy())

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(tensor_names=self.tensor_names, initial_range=list(self.initial_range),
                      fixed=None if self.fixed is None else list(self.fixed), mode=self.mode,
                      observer_steps=self.observer_steps, momentum=self.momentum)
        return config
