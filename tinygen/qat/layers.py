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

from tinygen.ir import conv_output_size
from tinygen.qat.exact import REQUANTIZING, requantize
from tinygen.qat.fake_quant import (INT32_MAX, fake_quant_bias, fake_quant_weights, round_half_away, weight_scales,
                                    widen_for_bias)
from tinygen.quantize.quantizer import WEIGHT_AXIS

WEIGHTED = tuple(WEIGHT_AXIS)
#: ops whose layer also returns the int8 kernel's exact result (they take [x, params...])
EXACT = (*REQUANTIZING, "avg_pool2d")


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


def _activation(x: tf.Tensor, activation: str) -> tf.Tensor:
    if activation == "relu":
        return tf.nn.relu(x)
    if activation == "relu6":
        return tf.clip_by_value(x, 0.0, 6.0)
    if activation == "relu_n1_to_1":
        return tf.clip_by_value(x, -1.0, 1.0)
    return x


def _window_counts(hw: tuple[int, int], size: tuple[int, int], stride: tuple[int, int], padding: str) -> np.ndarray:
    """[1, OH, OW, 1] float64: how many input pixels each pooling window covers (padding excluded)."""
    counts = []
    for i in range(2):
        out, before = conv_output_size(hw[i], size[i], stride[i], 1, padding.lower())
        starts = np.arange(out) * stride[i] - before
        counts.append(np.minimum(starts + size[i], hw[i]) - np.maximum(starts, 0))
    return np.outer(counts[0], counts[1]).astype(np.float64)[None, :, :, None]


def _act_limits(activation: str, params: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The int8 clamp of a fused activation on a pooling output (``numerics.activation_range``)."""
    scale, zp = params[0], tf.cast(params[1], tf.float64)

    def q(value: float) -> tf.Tensor:  # float32 division, rounded half away from zero, as the C++
        return zp + tf.cast(round_half_away(tf.constant(value, tf.float32) / scale), tf.float64)

    lo, hi = tf.constant(-128.0, tf.float64), tf.constant(127.0, tf.float64)
    if activation == "relu":
        return tf.maximum(lo, q(0.0)), hi
    if activation == "relu6":
        return tf.maximum(lo, q(0.0)), tf.minimum(hi, q(6.0))
    if activation == "relu_n1_to_1":
        return tf.maximum(lo, q(-1.0)), tf.minimum(hi, q(1.0))
    return lo, hi


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
        if self.kind in WEIGHTED:
            if self.weight_shape is None:
                raise ValueError(f"{kind} op {op_name!r} needs weight_shape")
            channels = self.weight_shape[WEIGHT_AXIS[kind]]
            self.kernel = self.add_weight(name="kernel", shape=tuple(self.weight_shape), initializer="zeros")
            self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros")

    def _quantized_weights(self, input_scale: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """(fake-quantized weights, bias; int8 weights, int32 bias as float64; per-channel scales) on the
        quantizer's grids: weight scales widened where the bias would overflow int32, bias scale = input
        scale x weight scale."""
        axis = WEIGHT_AXIS[self.kind]
        kernel, bias = self.kernel.value, self.bias.value
        scale = widen_for_bias(weight_scales(kernel, axis), bias, input_scale)
        w, b = fake_quant_weights(kernel, axis, scale), fake_quant_bias(bias, input_scale, scale)
        w_int = tf.stop_gradient(round_half_away(tf.cast(w, tf.float64) / tf.cast(scale, tf.float64)))
        b_scale = tf.cast(input_scale, tf.float64) * tf.cast(tf.reshape(scale, [-1]), tf.float64)
        b_int = tf.stop_gradient(round_half_away(tf.cast(bias, tf.float64) / b_scale))
        b_int = tf.clip_by_value(b_int, -INT32_MAX, INT32_MAX)
        return w, b, w_int, b_int, tf.reshape(scale, [-1])

    def _conv(self, x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
        a = self.attrs
        padding = a["padding"].upper()
        if self.kind == "conv2d":
            return tf.nn.conv2d(x, tf.transpose(w, (1, 2, 3, 0)),  # OHWI -> HWIO
                                strides=(1, *a["stride"], 1), padding=padding, dilations=(1, *a["dilation"], 1))
        _, kh, kw, channels = self.weight_shape  # type: ignore[misc]
        mult = int(a["depth_multiplier"])
        return tf.nn.depthwise_conv2d(x, tf.reshape(w, (kh, kw, channels // mult, mult)), strides=(1, *a["stride"], 1),
                                      padding=padding, dilations=tuple(a["dilation"]))

    def _linear(self, x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
        if self.kind == "fully_connected":
            return tf.matmul(x, w, transpose_b=True)
        return self._conv(x, w)

    def _requantizing(self, x: tf.Tensor, in_params: tf.Tensor, out_params: tf.Tensor) -> list[tf.Tensor]:
        """[float result (gradient, range observation), the int8 kernel's exact dequantized result]."""
        act = self.attrs.get("activation", "none")
        in_scale, in_zp = in_params[0], in_params[1]
        # The input is on its int8 grid: (q - zp) * scale; recover q - zp exactly.
        x_int = tf.stop_gradient(round_half_away(tf.cast(x, tf.float64) / tf.cast(in_scale, tf.float64)))
        if self.kind == "softmax":
            y = tf.nn.softmax(x * float(self.attrs["beta"]), axis=-1)
            acc = x_int + tf.cast(in_zp, tf.float64)
            w_scale = tf.ones((1,), tf.float32)
        elif self.kind == "mean":
            y = tf.reduce_mean(x, axis=list(self.attrs["axes"]), keepdims=bool(self.attrs["keep_dims"]))
            acc = tf.reduce_sum(x_int, axis=list(self.attrs["axes"]), keepdims=bool(self.attrs["keep_dims"]))
            w_scale = tf.ones((1,), tf.float32)
        else:
            w, b, w_int, b_int, w_scale = self._quantized_weights(in_scale)
            y = _activation(self._linear(x, w) + b, act)
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

    def _avg_pool(self, x: tf.Tensor, params: tf.Tensor) -> list[tf.Tensor]:
        """[float average, TFLite Micro's int8 average pool]: the window sum of the int8 values (zero point
        included, padding excluded) divided by the window's valid count, rounded half away from zero."""
        a = self.attrs
        size, stride, padding = tuple(a["filter"]), (1, *a["stride"], 1), a["padding"].upper()
        y = _activation(tf.nn.avg_pool2d(x, size, stride[1:3], padding), a.get("activation", "none"))
        scale, zp = tf.cast(params[0], tf.float64), tf.cast(params[1], tf.float64)
        q = tf.stop_gradient(round_half_away(tf.cast(x, tf.float64) / scale) + zp)
        count = tf.constant(_window_counts(tuple(int(d) for d in x.shape[1:3]), size, tuple(a["stride"]), padding))
        acc = tf.math.rint(tf.nn.avg_pool2d(q, size, stride[1:3], padding) * count)  # exact: float64 integers
        half = tf.floor(count / 2.0)
        num = tf.where(acc > 0, acc + half, acc - half)
        avg = tf.sign(num) * tf.floor(tf.abs(num) / count)  # C integer division truncates toward zero
        lo, hi = _act_limits(a.get("activation", "none"), params)
        exact = tf.stop_gradient(tf.cast((tf.clip_by_value(avg, lo, hi) - zp) * scale, tf.float32))
        return [y, exact]

    def call(self, inputs: Any) -> Any:
        """``inputs``: the op's activation inputs; a requantizing op (conv, depthwise, dense, mean) gets
        ``[x, input params, output params]`` (each [scale, zero point]) and returns ``[y, exact]``."""
        xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        x, a, act = xs[0], self.attrs, self.attrs.get("activation", "none")
        if self.kind in REQUANTIZING:
            return self._requantizing(x, xs[1], xs[2])
        if self.kind == "avg_pool2d":
            return self._avg_pool(x, xs[1])
        if self.kind in ("max_pool2d", "avg_pool2d"):
            pool = tf.nn.max_pool2d if self.kind == "max_pool2d" else tf.nn.avg_pool2d
            return _activation(pool(x, tuple(a["filter"]), tuple(a["stride"]), a["padding"].upper()), act)
        if self.kind == "reshape":
            return tf.reshape(x, (-1, *self.ir_output_shape[1:]))
        if self.kind == "add":
            return _activation(xs[0] + xs[1], act)
        if self.kind == "concatenation":
            return _activation(tf.concat(xs, axis=int(a["axis"])), act)
        if self.kind == "pad":
            return tf.pad(x, [list(p) for p in a["paddings"]])
        if self.kind in ("relu", "relu6"):
            return _activation(x, self.kind)
        raise NotImplementedError(f"op kind {self.kind!r} has no QAT layer")

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = (None, *self.ir_output_shape[1:])
        return [shape, shape] if self.kind in EXACT else shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(index=self.index, kind=self.kind, op_name=self.op_name, input_names=self.input_names,
                      output_name=self.output_name, output_shape=self.ir_output_shape,
                      attrs={k: to_json(v) for k, v in self.attrs.items()}, weight_shape=self.weight_shape,
                      is_output=self.is_output, const_names=self.const_names)
        return config
