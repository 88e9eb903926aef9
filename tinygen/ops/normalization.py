"""Keras ``Normalization`` (mean and variance adapted or given; ``invert``): an element-wise affine map, emitted as
tinygen's internal per-channel affine op (the one BatchNormalization becomes, :data:`tinygen.quantize.builder.AFFINE`).

Keras 3 computes, in float32, with ``eps = keras.config.epsilon()`` (1e-7 by default)::

    y = (x - mean) / max(sqrt(variance), eps)        # invert=False
    y = mean + x * max(sqrt(variance), eps)          # invert=True

that is ``y = x * scale + shift`` with one (scale, shift) per element of the kept axes, broadcast over the others.
The quantizer's passes (:mod:`tinygen.quantize.passes`) then fold it into a conv/depthwise/dense before it (its only
consumer, without fused activation: no op at all) or lower it to a 1x1 depthwise convolution whose weights are the
scales and bias the shifts (inputs that are not 4-D reshaped to ``[1, 1, n, C]`` around it, which costs no code).

Why a 1x1 depthwise convolution and not TFLite's MUL then ADD by broadcast constants (what TensorFlow's converter
emits, as SUB then MUL, for this layer): a depthwise weight is quantized per channel, and with one weight per channel
it is stored exactly (127 x its own scale), and the shift becomes an int32 bias; the result is rounded once, to the
output's grid. MUL+ADD quantizes the scales *per tensor* (a channel with a small scale next to one with a large scale
keeps a few levels, or none), rounds twice (an int8 intermediate) and runs two kernels over the tensor.
tests/test_keras_normalization.py measures it end to end against the converter's SUB+MUL on the same calibration:
0.3 to 3.7 dB better on six of seven models (first, middle, 2-D to 4-D, inverted), 0.3 dB worse on one. Where
the map follows a conv/dense without activation it folds into its weights: no op at all (the converter keeps
SUB+MUL there). (tinygen's own quantizer does not quantize constant operands of MUL/ADD either: that form would
need a quantizer change.)

Which axes: any kept axes but the batch. Kept axes are those where mean/variance vary; the constants are expanded
over the input's dimensions from the first kept one to the last (``axis=-1``, the usual case: one per channel; no
axis: one pair for the whole tensor, repeated per channel), and an input whose kept axes are not just the last is
reshaped (a view) to ``[1, 1, outer, inner]`` around the affine op: ``inner`` = the elements from the first kept axis
on, each its own depthwise "channel" (``axis=1`` of ``[1, T, F]``: T x F channels). Refused: statistics that vary
along the batch axis (tinygen runs one sample), negative or non-finite variances, and more than
``MAX_CHANNELS`` per-element pairs (each costs flash: an int8 weight, an int32 bias and a requantization pair).

The module defines the registry entry of the affine kind itself (shape, float reference) because the registry
collects Keras layer mappings from op definitions: an affine op never reaches the int8 graph (no ``params``,
``reference`` or lowering; ``Graph.validate`` on the float graph runs after the passes removed them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op
from tinygen.ops import common
from tinygen.ops.base import REQUIRED, Attr, AttrError, OpDef
from tinygen.quantize.builder import AFFINE

KIND = AFFINE

#: the most per-element (scale, shift) pairs one Normalization may expand to (depthwise channels; ~10 bytes of flash
#: each)
MAX_CHANNELS = 65536


def per_channel(value: Any) -> np.ndarray:
    """A 1-D float32 array of finite values (one per channel of the last axis)."""
    try:
        data = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise AttrError(f"{value!r} is not an array of numbers") from None
    if data.ndim != 1 or data.size == 0 or not np.all(np.isfinite(data)):
        raise AttrError(f"expected a non-empty 1-D array of finite numbers, got shape {data.shape}")
    return data


def _check(graph: Graph, op: Op) -> None:
    channels = graph.tensor(op.inputs[0]).shape[-1]
    for name in ("scale", "shift"):
        if op.attrs[name].size != channels:
            raise TinygenError(f"{common.where(op)}: {name} has {op.attrs[name].size} values for {channels} channels")


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    """``x * scale + shift`` per channel (last axis), float32."""
    f32 = np.float32
    return np.asarray(inputs[0], f32) * np.asarray(op.attrs["scale"], f32) + np.asarray(op.attrs["shift"], f32)


def _constant(layer: Any, value: Any, name: str, rank: int) -> np.ndarray:
    from tinygen.quantize.layers import layer_error

    if value is None:
        raise layer_error(layer, f"has no {name}: adapt() it or give mean and variance, then save the model")
    import keras

    data = np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float32)
    if data.ndim != rank:
        data = data.reshape((1,) * (rank - data.ndim) + data.shape) if data.ndim < rank else data
    if data.ndim != rank:
        raise layer_error(layer, f"{name} has shape {data.shape}, which does not broadcast to rank {rank}")
    return data


def affine_of(layer: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift), float32, broadcastable to ``shape``: Keras's formula for ``layer`` (invert or not)."""
    import keras

    from tinygen.quantize.layers import layer_error

    rank = len(shape)
    mean = _constant(layer, getattr(layer, "mean", None), "mean", rank)
    var = _constant(layer, getattr(layer, "variance", None), "variance", rank)
    for name, data in (("mean", mean), ("variance", var)):
        try:
            np.broadcast_shapes(data.shape, shape)
        except ValueError:
            raise layer_error(layer, f"{name} has shape {data.shape}, which does not broadcast to the input "
                                     f"{shape}") from None
        if not np.all(np.isfinite(data)):
            raise layer_error(layer, f"{name} holds NaN or infinite values: adapt() it again on finite data")
    if np.any(var < 0):
        raise layer_error(layer, f"variance holds negative values ({float(var.min()):g}); a variance is >= 0: "
                                 "adapt() it again or give a valid variance")
    if mean.shape[0] != 1 or var.shape[0] != 1:
        raise layer_error(layer, "mean and variance vary along the batch axis (axis 0); tinygen runs one sample per "
                                 "inference: normalize over the feature axes (axis=-1)")
    f32 = np.float32
    std = np.maximum(np.sqrt(var), f32(keras.config.epsilon())).astype(f32)
    if bool(getattr(layer, "invert", False)):
        scale, shift = std, mean
    else:
        # (x - mean) / std as x * (1 / std) + (-mean / std), in float32 (the int8 model cannot tell the difference)
        scale = (f32(1.0) / std).astype(f32)
        shift = (-mean / std).astype(f32)
    if not (np.all(np.isfinite(scale)) and np.all(np.isfinite(shift))):
        raise layer_error(layer, "mean / sqrt(variance) overflows float32; normalize data of a sane range")
    return scale, shift


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """keras.layers.Normalization: one affine op (folded or lowered to a 1x1 depthwise conv by the quantizer's
    passes), with reshapes (views) around it when the kept axes are not just the last."""
    from tinygen.ops import reshape
    from tinygen.quantize.layers import layer_error, single_input

    x = single_input(layer, inputs)
    shape = tuple(int(d) for d in b.shape(x))
    rank = len(shape)
    if rank < 2:
        raise layer_error(layer, f"input shape {shape}: tinygen needs a batched input of rank 2 or more")
    scale, shift = affine_of(layer, shape)
    both = np.broadcast_shapes(scale.shape, shift.shape)
    varying = [d for d in range(1, rank) if both[d] != 1]
    first = varying[0] if varying else rank - 1  # a scalar pair: repeated over the last axis
    inner_shape = shape[first:]
    inner = int(np.prod(inner_shape))
    if inner > MAX_CHANNELS:
        raise layer_error(
            layer, f"axis={tuple(getattr(layer, 'axis', ()))!r} on input {shape} gives {inner} per-element scale/shift "
            f"pairs (dimensions {first}..{rank - 1}), more than {MAX_CHANNELS}: normalize over the last axis "
            "(axis=-1), or normalize the data before the model")
    scale_c, shift_c = (np.ascontiguousarray(np.broadcast_to(c.reshape(c.shape[first:]), inner_shape).reshape(-1),
                                             dtype=np.float32) for c in (scale, shift))
    if first == rank - 1:
        return b.op(KIND, layer.name, [x], shape, scale=scale_c, shift=shift_c)
    outer = int(np.prod(shape[1:first]))
    flat_shape = (1, 1, outer, inner)  # 4-D: the passes lower it to one depthwise conv without reshapes of their own
    flat = b.op(reshape.KIND, f"{layer.name}/flatten", [x], flat_shape)
    y = b.op(KIND, layer.name, [flat], flat_shape, out_name=f"{layer.name}/affine", scale=scale_c, shift=shift_c)
    return b.op(reshape.KIND, f"{layer.name}/unflatten", [y], shape, out_name=layer.name)


OP = OpDef(
    kind=KIND,
    attrs=(Attr("scale", per_channel, REQUIRED), Attr("shift", per_channel, REQUIRED)),
    infer_shape=common.same_shape,
    num_inputs=(1, 1),
    check=_check,
    float_reference=float_reference,
    keras_layers={"Normalization": from_keras},
)
