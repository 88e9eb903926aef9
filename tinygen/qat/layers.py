"""Keras layers that execute tinygen's float IR ops (after BatchNorm folding and activation fusion).

One :class:`QuantOp` per IR op. Conv, depthwise conv and fully connected layers hold their weights in
the IR layout (OHWI, ``[1, kh, kw, in*mult]``, ``[out, in]``), BatchNorm already folded in, and
fake-quantize them per output channel on every call, so the trained variables are exactly what the
quantizer quantizes. The layer config carries the IR op (name, kind, attributes, tensor names), which
is how :func:`tinygen.qat.convert` rebuilds the graph, also from a saved ``.keras`` file.

Requantizing ops and average pooling also return the int8 kernel's exact result (see
:mod:`tinygen.qat.exact`); the next :class:`~tinygen.qat.ranges.ActivationQuantizer` makes it the
forward value while the gradient follows the float op.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tinygen import ops
from tinygen.activations import FLOAT_RANGE, apply_tf
from tinygen.qat.exact import is_requantizing, requantize
from tinygen.qat.fake_quant import (INT32_MAX, fake_quant_bias, fake_quant_weights, round_half_away, weight_scales,
                                    widen_for_bias)


def is_weighted(kind: str) -> bool:
    """Ops with weights and bias inputs (conv, depthwise, dense): their layer holds them as variables."""
    return ops.get(kind).weight_axis is not None


def returns_exact(kind: str) -> bool:
    """Ops whose layer also returns the int8 kernel's exact result (they take [x, params...])."""
    defn = ops.get(kind)
    return is_requantizing(kind) or (defn.qat is not None and defn.qat.exact is not None)


def to_tuples(value: Any) -> Any:
    """JSON lists back to the tuples IR attributes use (stride, filter, paddings...)."""
    if isinstance(value, (list, tuple)):
        return tuple(to_tuples(v) for v in value)
    return value


def to_json(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def act_limits(activation: str, params: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The int8 clamp of a fused activation on an output quantized with ``params`` = [scale, zero point]
    (``numerics.activation_range``)."""
    scale, zp = params[0], tf.cast(params[1], tf.float64)

    def q(value: float) -> tf.Tensor:  # float32 division, rounded half away from zero, as the C++
        return zp + tf.cast(round_half_away(tf.constant(value, tf.float32) / scale), tf.float64)

    lo, hi = tf.constant(-128.0, tf.float64), tf.constant(127.0, tf.float64)
    f_lo, f_hi = FLOAT_RANGE[activation]
    return (lo if f_lo is None else tf.maximum(lo, q(f_lo))), (hi if f_hi is None else tf.minimum(hi, q(f_hi)))


@keras.saving.register_keras_serializable(package="tinygen_qat")
class QuantOp(keras.layers.Layer):
    """One IR op (float32, fake-quantized weights) as a Keras layer."""

    def __init__(self, index: int, kind: str, op_name: str, input_names: list[str], output_name: str,
                 output_shape: list[int], attrs: dict[str, Any], weight_shape: list[int] | None = None,
                 is_output: bool = False, const_names: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = int(index)
        self.kind = kind
        self.op_name = op_name
        self.input_names = list(input_names)
        self.output_name = output_name
        self.ir_output_shape = [int(d) for d in output_shape]
        self.attrs = {k: to_tuples(v) for k, v in attrs.items()}
        self.weight_shape = None if weight_shape is None else [int(d) for d in weight_shape]
        self.is_output = bool(is_output)
        #: IR names of the weights and bias tensors (the float graph's, kept so convert reproduces them)
        self.const_names = list(const_names) if const_names else [f"{op_name}/weights", f"{op_name}/bias"]
        self.defn = ops.get(kind)
        if self.defn.weight_axis is not None:
            if self.weight_shape is None:
                raise ValueError(f"{kind} op {op_name!r} needs weight_shape")
            channels = self.weight_shape[self.defn.weight_axis]
            self.kernel = self.add_weight(name="kernel", shape=tuple(self.weight_shape), initializer="zeros")
            self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros")

    def _quantized_weights(self, input_scale: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """(fake-quantized weights, bias; int8 weights, int32 bias as float64; per-channel scales) on the
        quantizer's grids: weight scales widened where the bias would overflow int32, bias scale = input
        scale x weight scale."""
        axis = self.defn.weight_axis
        kernel, bias = self.kernel.value, self.bias.value
        channels = self.weight_shape[axis]  # type: ignore[index]
        per_channel = int(np.prod(self.weight_shape)) // max(channels, 1)
        scale = widen_for_bias(weight_scales(kernel, axis), bias, input_scale, per_channel)
        w, b = fake_quant_weights(kernel, axis, scale), fake_quant_bias(bias, input_scale, scale)
        w_int = tf.stop_gradient(round_half_away(tf.cast(w, tf.float64) / tf.cast(scale, tf.float64)))
        b_scale = tf.cast(input_scale, tf.float64) * tf.cast(tf.reshape(scale, [-1]), tf.float64)
        b_int = tf.stop_gradient(round_half_away(tf.cast(bias, tf.float64) / b_scale))
        b_int = tf.clip_by_value(b_int, -INT32_MAX, INT32_MAX)
        return w, b, w_int, b_int, tf.reshape(scale, [-1])

    def _linear(self, x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
        assert self.defn.qat is not None and self.defn.qat.linear is not None
        return self.defn.qat.linear(tf, x, w, self.attrs, self.weight_shape)

    def _requantizing(self, x: tf.Tensor, in_params: tf.Tensor, out_params: tf.Tensor) -> list[tf.Tensor]:
        """[float result (gradient, range observation), the int8 kernel's exact dequantized result]."""
        act = self.attrs.get("activation", "none")
        in_scale, in_zp = in_params[0], in_params[1]
        # The input is on its int8 grid: (q - zp) * scale; recover q - zp exactly.
        x_int = tf.stop_gradient(round_half_away(tf.cast(x, tf.float64) / tf.cast(in_scale, tf.float64)))
        if self.defn.weight_axis is None:
            assert self.defn.qat is not None and self.defn.qat.accumulate is not None
            y, acc = self.defn.qat.accumulate(tf, x, x_int, in_zp, self.attrs)
            w_scale = tf.ones((1,), tf.float32)
        else:
            w, b, w_int, b_int, w_scale = self._quantized_weights(in_scale)
            y = apply_tf(tf, self._linear(x, w) + b, act)
            acc = self._linear(x_int, w_int) + b_int
        in_shape = (1, *(int(d) for d in x.shape[1:]))
        weight_shape = None if self.weight_shape is None else tuple(self.weight_shape)

        def run(acc: np.ndarray, in_params: np.ndarray, out_params: np.ndarray, w_scale: np.ndarray) -> np.ndarray:
            return requantize(self.kind, self.attrs, in_shape, tuple(self.ir_output_shape), weight_shape, acc,
                              in_params, out_params, w_scale)

        q = tf.numpy_function(run, [acc, in_params, out_params, w_scale], tf.float32, stateful=False)
        q = tf.reshape(q, tf.shape(y))
        exact = tf.stop_gradient((q - out_params[1]) * out_params[0])
        return [y, exact]

    def call(self, inputs: Any) -> Any:
        """``inputs``: the op's activation inputs; a requantizing op (conv, depthwise, dense, mean) gets
        ``[x, input params, output params]`` (each [scale, zero point]) and returns ``[y, exact]``."""
        xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        hooks = self.defn.qat
        if hooks is None:
            raise NotImplementedError(f"op kind {self.kind!r} has no QAT layer")
        if is_requantizing(self.kind):
            return self._requantizing(xs[0], xs[1], xs[2])
        if hooks.exact is not None:
            return hooks.exact(tf, xs[0], xs[1], self.attrs)
        if hooks.forward is None:
            raise NotImplementedError(f"op kind {self.kind!r} has no QAT layer")
        y = hooks.forward(tf, xs, self.attrs, self.ir_output_shape)
        return apply_tf(tf, y, self.attrs.get("activation", "none"))

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = (None, *self.ir_output_shape[1:])
        return [shape, shape] if returns_exact(self.kind) else shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(index=self.index, kind=self.kind, op_name=self.op_name, input_names=self.input_names,
                      output_name=self.output_name, output_shape=self.ir_output_shape,
                      attrs={k: to_json(v) for k, v in self.attrs.items()}, weight_shape=self.weight_shape,
                      is_output=self.is_output, const_names=self.const_names)
        return config
