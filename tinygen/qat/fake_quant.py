"""Fake quantization in TensorFlow, bit-compatible with tinygen's int8 quantizer.

The forward pass reproduces exactly the parameters :mod:`tinygen.quantize.quantizer` will choose:

* weights: symmetric per channel, ``scale = float32(max|w| / 127)`` (computed in float64, as numpy does),
  values rounded half away from zero and clipped to [-127, 127];
* biases: int32 with scale ``input_scale * weight_scale[c]`` (the weight scales widened where the
  int32 bias would overflow, as the quantizer does);
* activations: :func:`tinygen.quantize.observers.activation_params` (range widened to include 0,
  scale = range / 255, TFLite's zero point choice and nudge) recomputed here in float64 from the same
  float32 (min, max), so ``scale``/``zero point`` are identical bit for bit.

Gradients are straight-through: the rounding is the identity, clipping passes no gradient to the
input. For learned ranges the clipped elements' gradients go to ``min``/``max`` (the gradient of
``tf.quantization.fake_quant_with_min_max_vars``, PACT-style).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

QMIN, QMAX = -128, 127
WEIGHT_QMAX = 127
INT32_MAX = 2**31 - 1
_EPS64 = float(np.finfo(np.float64).eps)


def round_half_away(x: tf.Tensor) -> tf.Tensor:
    """Round half away from zero (TFLite's rounding; ``tf.round`` rounds half to even)."""
    return tf.sign(x) * tf.floor(tf.abs(x) + 0.5)


def activation_params(rmin: tf.Tensor, rmax: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(float32 scale, float32 zero point) of a float range: the TensorFlow twin of
    :func:`tinygen.quantize.observers.activation_params` (same float64 arithmetic, same branches)."""
    lo = tf.minimum(tf.cast(rmin, tf.float64), 0.0)
    hi = tf.maximum(tf.cast(rmax, tf.float64), 0.0)
    degenerate = hi - lo < _EPS64
    scale = tf.where(degenerate, tf.constant(1.0, tf.float64), (hi - lo) / float(QMAX - QMIN))
    zp_from_min = QMIN - lo / scale
    err_min = abs(QMIN) + tf.abs(lo / scale)
    zp_from_max = QMAX - hi / scale
    err_max = abs(QMAX) + tf.abs(hi / scale)
    zp = tf.where(err_min < err_max, zp_from_min, zp_from_max)
    zp = tf.clip_by_value(round_half_away(zp), QMIN, QMAX)
    zp = tf.where(degenerate, tf.constant(float(QMIN), tf.float64), zp)
    return tf.cast(scale, tf.float32), tf.cast(zp, tf.float32)


def _quantize_dequantize(x: tf.Tensor, scale: tf.Tensor, zp: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(dequantized x, mask of elements inside the int8 grid) for float32 scale/zp; rounds as TFLite's
    QUANTIZE does (``round(x / scale) + zp``)."""
    q = round_half_away(x / scale) + zp
    inside = tf.logical_and(q >= QMIN, q <= QMAX)
    q = tf.clip_by_value(q, QMIN, QMAX)
    return (q - zp) * scale, inside


def fake_quant_fixed(x: tf.Tensor, scale: float, zero_point: int) -> tf.Tensor:
    """Fake quantization with constant parameters (softmax output), straight-through gradient."""

    @tf.custom_gradient
    def fq(x: tf.Tensor):  # type: ignore[no-untyped-def]
        y, inside = _quantize_dequantize(x, tf.constant(scale, tf.float32), tf.constant(float(zero_point)))

        def grad(dy: tf.Tensor) -> tf.Tensor:
            return dy * tf.cast(inside, dy.dtype)

        return y, grad

    return fq(x)


def fake_quant_range(x: tf.Tensor, rmin: tf.Tensor, rmax: tf.Tensor) -> tf.Tensor:
    """Fake quantization with the parameters of the range [rmin, rmax]; straight-through gradient for
    ``x`` inside the grid, the gradient of elements clipped below/above goes to ``rmin``/``rmax``."""

    @tf.custom_gradient
    def fq(x: tf.Tensor, rmin: tf.Tensor, rmax: tf.Tensor):  # type: ignore[no-untyped-def]
        scale, zp = activation_params(rmin, rmax)
        y, inside = _quantize_dequantize(x, scale, zp)
        below = x < (QMIN - zp) * scale

        def grad(dy: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            d_in = dy * tf.cast(inside, dy.dtype)
            d_lo = tf.reduce_sum(dy * tf.cast(tf.logical_and(tf.logical_not(inside), below), dy.dtype))
            d_hi = tf.reduce_sum(dy * tf.cast(tf.logical_and(tf.logical_not(inside), tf.logical_not(below)), dy.dtype))
            return d_in, tf.reshape(d_lo, tf.shape(rmin)), tf.reshape(d_hi, tf.shape(rmax))

        return y, grad

    return fq(x, rmin, rmax)


def weight_scales(w: tf.Tensor, axis: int) -> tf.Tensor:
    """float32 per-channel scales ``max|w| / 127`` (1.0 for an all-zero channel), shaped to broadcast
    against ``w`` (tinygen's ``quantize_weights``)."""
    rank = len(w.shape)
    other = [i for i in range(rank) if i != axis % rank]
    amax = tf.reduce_max(tf.abs(tf.cast(w, tf.float64)), axis=other, keepdims=True)
    return tf.cast(tf.where(amax > 0, amax / float(WEIGHT_QMAX), tf.ones_like(amax)), tf.float32)


def widen_for_bias(scale: tf.Tensor, bias: tf.Tensor, input_scale: tf.Tensor, weights_per_channel: int) -> tf.Tensor:
    """The quantizer's ``_widen_for_bias``: widen weight scales whose int32 bias would overflow the accumulator
    (``quantizer.bias_limit``)."""
    from tinygen.quantize.quantizer import bias_limit

    limit = tf.abs(tf.cast(bias, tf.float64)) / (tf.cast(input_scale, tf.float64) * bias_limit(weights_per_channel))
    widened = tf.maximum(tf.reshape(scale, [-1]), tf.cast(limit, tf.float32) * tf.constant(1.0 + 1e-6, tf.float32))
    return tf.reshape(widened, tf.shape(scale))


def fake_quant_weights(w: tf.Tensor, axis: int, scale: tf.Tensor | None = None) -> tf.Tensor:
    """Per-channel symmetric int8 fake quantization of ``w`` along ``axis`` (tinygen's
    ``quantize_weights``), straight-through gradient (the scale is treated as a constant)."""
    scale = weight_scales(w, axis) if scale is None else scale
    w64 = tf.cast(w, tf.float64)
    q = tf.clip_by_value(round_half_away(w64 / tf.cast(scale, tf.float64)), -WEIGHT_QMAX, WEIGHT_QMAX)
    dequant = tf.cast(q, tf.float32) * scale
    return w + tf.stop_gradient(dequant - w)


def fake_quant_bias(bias: tf.Tensor, input_scale: tf.Tensor, weight_scale: tf.Tensor) -> tf.Tensor:
    """int32 bias fake quantization with scale ``input_scale * weight_scale[c]`` (tinygen's
    ``quantize_bias``: the product and the division in float64), straight-through gradient."""
    scale = tf.cast(input_scale, tf.float64) * tf.cast(tf.reshape(weight_scale, [-1]), tf.float64)
    q = tf.clip_by_value(round_half_away(tf.cast(bias, tf.float64) / scale), -INT32_MAX, INT32_MAX)
    return bias + tf.stop_gradient(tf.cast(q * scale, tf.float32) - bias)
