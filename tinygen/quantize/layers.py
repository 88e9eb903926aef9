"""Keras layer -> float32 IR ops: the dispatch to the op modules' converters (``OpDef.keras_layers``,
``keras_activations``) and the helpers those converters share (weights as numpy, padding and stride
options, output shapes, errors naming the layer).

The op modules convert weights to the IR layouts (OHWI conv, [1, kh, kw, C*M] depthwise, [out, in]
dense); BatchNormalization becomes an internal per-channel affine op (here) that
:mod:`tinygen.quantize.passes` folds or lowers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import conv_output_size
from tinygen.quantize.builder import AFFINE, Builder

#: inference-time identities: the layer's output is its input
_IDENTITY_LAYERS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianDropout", "GaussianNoise")
#: layers this module converts itself (BatchNormalization becomes the internal affine op)
_OWN_LAYERS = {"BatchNormalization": "_batch_norm", "Activation": "_activation", "GRU": "_gru"}


def supported_layers() -> tuple[str, ...]:
    """Every Keras layer class tinygen converts (the op modules' ``keras_layers`` and the generic ones)."""
    from tinygen import ops

    return tuple(sorted({"InputLayer", *_IDENTITY_LAYERS, *_OWN_LAYERS, *ops.keras_layers()}))


def _np(variable: Any) -> np.ndarray:
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable, dtype=np.float32)


def layer_error(layer: Any, problem: str) -> UnsupportedError:
    return UnsupportedError(f"layer {layer.name!r} ({type(layer).__name__}): {problem}")


def supported_activations() -> tuple[str, ...]:
    from tinygen import ops

    return tuple(sorted({"linear", *ops.keras_activations()}))


def single_input(layer: Any, inputs: list[str]) -> str:
    """The one input of a single-input layer."""
    if len(inputs) != 1:
        raise layer_error(layer, f"expected one input, got {len(inputs)}")
    return inputs[0]


def _activation_name(layer: Any) -> str:
    act = layer.get_config().get("activation", "linear")
    if isinstance(act, dict):  # a serialised activation object
        act = act.get("config", {}).get("name", act.get("class_name", "?"))
    act = "linear" if act is None else str(act)
    if act not in supported_activations():
        raise layer_error(layer, f"activation {act!r} is not supported; use one of {', '.join(supported_activations())}")
    return act


def emit_activation(b: Builder, name: str, x: str, act: str) -> str:
    """The op(s) of Keras activation ``act`` on ``x`` ("linear": none)."""
    from tinygen import ops

    if act == "linear":
        return x
    return ops.keras_activations()[act](b, name, x)


def _channels_last(layer: Any) -> None:
    fmt = layer.get_config().get("data_format", "channels_last")
    if fmt not in (None, "channels_last"):
        raise layer_error(layer, f"data_format={fmt!r} is not supported; rebuild the model with channels_last (NHWC)")


def _padding(layer: Any) -> str:
    padding = str(layer.get_config()["padding"]).lower()
    if padding not in ("same", "valid"):
        raise layer_error(layer, f"padding={padding!r} is not supported; use 'same' or 'valid'")
    return padding


def _pair(value: Any) -> tuple[int, int]:
    values = tuple(int(v) for v in (value if isinstance(value, (list, tuple)) else (value, value)))
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def _conv_shape(b: Builder, x: str, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
                padding: str, channels: int) -> tuple[int, ...]:
    n, h, w, _ = b.shape(x)
    oh, _ = conv_output_size(h, kernel[0], stride[0], dilation[0], padding)
    ow, _ = conv_output_size(w, kernel[1], stride[1], dilation[1], padding)
    if oh <= 0 or ow <= 0:
        raise TinygenError(f"convolution on input {b.shape(x)} with kernel {kernel} gives an empty output")
    return (n, oh, ow, channels)


def _apply_activation(b: Builder, layer: Any, out: str, act: str) -> str:
    return emit_activation(b, f"{layer.name}/{act}", out, act)


def _require_rank(layer: Any, b: Builder, x: str, rank: int) -> None:
    if len(b.shape(x)) != rank:
        raise layer_error(layer, f"input shape {b.shape(x)} has rank {len(b.shape(x))}, tinygen needs rank {rank}")


def _batch_norm(b: Builder, layer: Any, x: str) -> str:
    cfg = layer.get_config()
    axis = cfg["axis"]
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    rank = len(b.shape(x))
    if not isinstance(axis, int) or axis % rank != rank - 1:
        raise layer_error(layer, f"axis={cfg['axis']!r} is not supported; only the channel (last) axis is")
    mean, var = _np(layer.moving_mean), _np(layer.moving_variance)
    gamma = _np(layer.gamma) if cfg.get("scale", True) else np.ones_like(mean)
    beta = _np(layer.beta) if cfg.get("center", True) else np.zeros_like(mean)
    # float32 throughout, in the order tf.nn.batch_normalization computes it: the converter folds
    # exactly these float32 constants, so the folded weights (and their int8 scales) match its.
    scale = (np.float32(1.0) / np.sqrt(var + np.float32(cfg["epsilon"]))) * gamma
    shift = beta - mean * scale
    return b.op(AFFINE, layer.name, [x], b.shape(x), scale=scale, shift=shift)


def _gru(b: Builder, layer: Any, x: str) -> str:
    from tinygen.quantize.recurrent import gru

    return gru(b, layer, [x])


def _activation(b: Builder, layer: Any, x: str) -> str:
    return emit_activation(b, layer.name, x, _activation_name(layer))


_ALIASES = {"Convolution2D": "Conv2D", "Convolution1D": "Conv1D", "SeparableConvolution2D": "SeparableConv2D",
            "MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D", "GlobalAvgPool2D": "GlobalAveragePooling2D",
            "MaxPool1D": "MaxPooling1D", "AvgPool1D": "AveragePooling1D", "GlobalAvgPool1D": "GlobalAveragePooling1D"}


def emit_layer(b: Builder, layer: Any, inputs: list[str]) -> str:
    from tinygen import ops

    cls = type(layer).__name__
    cls = _ALIASES.get(cls, cls)
    if cls in _IDENTITY_LAYERS:
        return inputs[0]
    if cls in _OWN_LAYERS:
        return globals()[_OWN_LAYERS[cls]](b, layer, single_input(layer, inputs))
    convert = ops.keras_layers().get(cls)
    if convert is None:
        raise UnsupportedError(
            f"layer {layer.name!r} ({type(layer).__name__}) is not supported by tinygen; supported layers: "
            f"{', '.join(supported_layers())}"
        )
    return convert(b, layer, inputs)
