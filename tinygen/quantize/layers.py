"""Keras layer -> float32 IR ops, one converter per supported layer class.

Weights are converted to the IR layouts here (OHWI conv, [1, kh, kw, C*M] depthwise, [out, in] dense);
BatchNormalization becomes an internal per-channel affine op that :mod:`tinygen.quantize.passes`
folds or lowers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import conv_output_size
from tinygen.quantize.builder import AFFINE, Builder

SUPPORTED_LAYERS = (
    "InputLayer", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv1D", "Dense",
    "BatchNormalization", "ReLU", "Activation", "Softmax", "Dropout", "MaxPooling2D",
    "AveragePooling2D", "GlobalAveragePooling2D", "Flatten", "Reshape", "ZeroPadding2D", "Add",
    "Concatenate",
)
SUPPORTED_ACTIVATIONS = ("linear", "relu", "relu6", "softmax")


def _np(variable: Any) -> np.ndarray:
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable, dtype=np.float32)


def layer_error(layer: Any, problem: str) -> UnsupportedError:
    return UnsupportedError(f"layer {layer.name!r} ({type(layer).__name__}): {problem}")


def supported_activations() -> tuple[str, ...]:
    from tinygen import ops

    return tuple(sorted({"linear", *SUPPORTED_ACTIVATIONS, *ops.keras_activations()}))


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
    emit = ops.keras_activations().get(act)
    if emit is not None:
        return emit(b, name, x)
    if act == "softmax":
        return b.op("softmax", name, [x], b.shape(x), beta=1.0)
    return b.op(act, name, [x], b.shape(x))


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


def _conv2d(b: Builder, layer: Any, x: str) -> str:
    _channels_last(layer)
    _require_rank(layer, b, x, 4)
    cfg = layer.get_config()
    if int(cfg.get("groups", 1)) != 1:
        raise layer_error(layer, "grouped convolution (groups > 1) is not supported")
    kernel = _np(layer.kernel)  # (kh, kw, in, out)
    weights = kernel.transpose(3, 0, 1, 2)  # OHWI
    bias = _np(layer.bias) if cfg["use_bias"] else np.zeros(weights.shape[0], np.float32)
    stride, dilation, padding = _pair(cfg["strides"]), _pair(cfg["dilation_rate"]), _padding(layer)
    shape = _conv_shape(b, x, kernel.shape[:2], stride, dilation, padding, weights.shape[0])
    out = b.op("conv2d", layer.name, [x, b.const(f"{layer.name}/weights", weights), b.const(f"{layer.name}/bias", bias)],
               shape, stride=stride, dilation=dilation, padding=padding, activation="none")
    return _apply_activation(b, layer, out, _activation_name(layer))


def _depthwise(b: Builder, layer: Any, x: str, kernel: np.ndarray, bias: np.ndarray | None, name: str) -> str:
    """kernel (kh, kw, in, mult) -> IR [1, kh, kw, in*mult]: output channel c*mult + m, as TFLite."""
    cfg = layer.get_config()
    kh, kw, cin, mult = kernel.shape
    weights = kernel.reshape(1, kh, kw, cin * mult)
    bias = np.zeros(cin * mult, np.float32) if bias is None else bias
    stride, dilation, padding = _pair(cfg["strides"]), _pair(cfg["dilation_rate"]), _padding(layer)
    shape = _conv_shape(b, x, (kh, kw), stride, dilation, padding, cin * mult)
    return b.op("depthwise_conv2d", name, [x, b.const(f"{name}/weights", weights), b.const(f"{name}/bias", bias)],
                shape, stride=stride, dilation=dilation, padding=padding, depth_multiplier=int(mult),
                activation="none")


def _depthwise_conv2d(b: Builder, layer: Any, x: str) -> str:
    _channels_last(layer)
    _require_rank(layer, b, x, 4)
    kernel = _np(layer.kernel)
    bias = _np(layer.bias) if layer.get_config()["use_bias"] else None
    out = _depthwise(b, layer, x, kernel, bias, layer.name)
    return _apply_activation(b, layer, out, _activation_name(layer))


def _separable_conv2d(b: Builder, layer: Any, x: str) -> str:
    _channels_last(layer)
    _require_rank(layer, b, x, 4)
    mid = _depthwise(b, layer, x, _np(layer.depthwise_kernel), None, f"{layer.name}/depthwise")
    pointwise = _np(layer.pointwise_kernel)  # (1, 1, in*mult, out)
    weights = pointwise.transpose(3, 0, 1, 2)
    bias = _np(layer.bias) if layer.get_config()["use_bias"] else np.zeros(weights.shape[0], np.float32)
    n, h, w, _ = b.shape(mid)
    out = b.op("conv2d", f"{layer.name}/pointwise",
               [mid, b.const(f"{layer.name}/pointwise/weights", weights), b.const(f"{layer.name}/bias", bias)],
               (n, h, w, weights.shape[0]), out_name=layer.name, stride=(1, 1), dilation=(1, 1), padding="valid",
               activation="none")
    return _apply_activation(b, layer, out, _activation_name(layer))


def _conv1d(b: Builder, layer: Any, x: str) -> str:
    """Conv1D on [1, L, C] = Conv2D with height 1 on [1, 1, L, C], between two reshapes."""
    _channels_last(layer)
    _require_rank(layer, b, x, 3)
    cfg = layer.get_config()
    if int(cfg.get("groups", 1)) != 1:
        raise layer_error(layer, "grouped convolution (groups > 1) is not supported")
    kernel = _np(layer.kernel)  # (k, in, out)
    k = kernel.shape[0]
    stride, dilation = int(_pair(cfg["strides"])[0]), int(_pair(cfg["dilation_rate"])[0])
    padding = str(cfg["padding"]).lower()
    n, length, channels = b.shape(x)
    x4 = b.op("reshape", f"{layer.name}/to_2d", [x], (n, 1, length, channels))
    if padding == "causal":  # left padding only: an explicit pad, then a valid conv
        x4 = b.op("pad", f"{layer.name}/causal_pad", [x4], (n, 1, length + dilation * (k - 1), channels),
                  paddings=((0, 0), (0, 0), (dilation * (k - 1), 0), (0, 0)))
        padding = "valid"
    elif padding not in ("same", "valid"):
        raise layer_error(layer, f"padding={padding!r} is not supported; use 'same', 'valid' or 'causal'")
    weights = kernel.transpose(2, 0, 1)[:, None, :, :]  # (out, 1, k, in)
    bias = _np(layer.bias) if cfg["use_bias"] else np.zeros(weights.shape[0], np.float32)
    shape = _conv_shape(b, x4, (1, k), (1, stride), (1, dilation), padding, weights.shape[0])
    y4 = b.op("conv2d", layer.name, [x4, b.const(f"{layer.name}/weights", weights), b.const(f"{layer.name}/bias", bias)],
              shape, out_name=f"{layer.name}/conv2d", stride=(1, stride), dilation=(1, dilation), padding=padding,
              activation="none")
    act = _activation_name(layer)
    # ReLUs fuse into the conv; a softmax must see the 1-D layout (it is along the last axis either way).
    y4 = _apply_activation(b, layer, y4, "linear" if act == "softmax" else act)
    out = b.op("reshape", f"{layer.name}/to_1d", [y4], (n, shape[2], shape[3]), out_name=layer.name)
    return _apply_activation(b, layer, out, "softmax" if act == "softmax" else "linear")


def _dense(b: Builder, layer: Any, x: str) -> str:
    kernel = _np(layer.kernel)  # (in, out)
    weights = kernel.T
    bias = _np(layer.bias) if layer.get_config()["use_bias"] else np.zeros(weights.shape[0], np.float32)
    shape = b.shape(x)
    if len(shape) < 2:
        raise layer_error(layer, f"input shape {shape} has no feature dimension")
    out = b.op("fully_connected", layer.name,
               [x, b.const(f"{layer.name}/weights", weights), b.const(f"{layer.name}/bias", bias)],
               (*shape[:-1], weights.shape[0]), activation="none", keep_num_dims=len(shape) > 2)
    return _apply_activation(b, layer, out, _activation_name(layer))


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


def _relu(b: Builder, layer: Any, x: str) -> str:
    cfg = layer.get_config()
    if float(cfg.get("negative_slope") or 0.0) != 0.0 or float(cfg.get("threshold") or 0.0) != 0.0:
        raise layer_error(layer, "negative_slope/threshold other than 0 (leaky ReLU) is not supported")
    max_value = cfg.get("max_value")
    if max_value is None:
        return b.op("relu", layer.name, [x], b.shape(x))
    if float(max_value) == 6.0:
        return b.op("relu6", layer.name, [x], b.shape(x))
    raise layer_error(layer, f"max_value={max_value} is not supported; only None (ReLU) and 6 (ReLU6) are")


def _activation(b: Builder, layer: Any, x: str) -> str:
    return emit_activation(b, layer.name, x, _activation_name(layer))


def _softmax(b: Builder, layer: Any, x: str) -> str:
    axis = layer.get_config().get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if not isinstance(axis, int) or axis % len(b.shape(x)) != len(b.shape(x)) - 1:
        raise layer_error(layer, f"axis={axis!r} is not supported; only the last axis is")
    return b.op("softmax", layer.name, [x], b.shape(x), beta=1.0)


def _pool(kind: str) -> Any:
    def convert(b: Builder, layer: Any, x: str) -> str:
        _channels_last(layer)
        _require_rank(layer, b, x, 4)
        cfg = layer.get_config()
        size = _pair(cfg["pool_size"])
        stride = _pair(cfg["strides"] if cfg.get("strides") is not None else size)
        padding = _padding(layer)
        n, h, w, c = b.shape(x)
        shape = _conv_shape(b, x, size, stride, (1, 1), padding, c)
        return b.op(kind, layer.name, [x], shape, filter=size, stride=stride, padding=padding, activation="none")

    return convert


def _global_avg_pool(b: Builder, layer: Any, x: str) -> str:
    _channels_last(layer)
    _require_rank(layer, b, x, 4)
    keep = bool(layer.get_config().get("keepdims", False))
    n, _, _, c = b.shape(x)
    return b.op("mean", layer.name, [x], (n, 1, 1, c) if keep else (n, c), axes=(1, 2), keep_dims=keep)


def _reshape_to(b: Builder, layer: Any, x: str, target: tuple[int, ...]) -> str:
    return b.op("reshape", layer.name, [x], target)


def _flatten(b: Builder, layer: Any, x: str) -> str:
    _channels_last(layer)
    return _reshape_to(b, layer, x, (1, int(np.prod(b.shape(x)[1:]))))


def _reshape(b: Builder, layer: Any, x: str) -> str:
    target = [int(d) for d in layer.get_config()["target_shape"]]
    size = int(np.prod(b.shape(x)[1:]))
    if target.count(-1) == 1:
        known = int(np.prod([d for d in target if d != -1]))
        target[target.index(-1)] = size // known if known else 0
    if int(np.prod(target)) != size:
        raise layer_error(layer, f"target shape {tuple(target)} does not fit input shape {b.shape(x)}")
    return _reshape_to(b, layer, x, (1, *target))


def _zero_padding(b: Builder, layer: Any, x: str) -> str:
    _channels_last(layer)
    _require_rank(layer, b, x, 4)
    (top, bottom), (left, right) = (tuple(int(v) for v in p) for p in layer.get_config()["padding"])
    n, h, w, c = b.shape(x)
    return b.op("pad", layer.name, [x], (n, h + top + bottom, w + left + right, c),
                paddings=((0, 0), (top, bottom), (left, right), (0, 0)))


def _add(b: Builder, layer: Any, xs: list[str]) -> str:
    shapes = {b.shape(x) for x in xs}
    if len(shapes) != 1:
        raise layer_error(layer, f"inputs have different shapes {sorted(shapes)}; broadcasting Add is not supported")
    out = xs[0]
    for i, x in enumerate(xs[1:]):
        last = i == len(xs) - 2
        out = b.op("add", layer.name if last else f"{layer.name}/{i}", [out, x], b.shape(x), activation="none")
    return out


def _concatenate(b: Builder, layer: Any, xs: list[str]) -> str:
    rank = len(b.shape(xs[0]))
    axis = int(layer.get_config().get("axis", -1)) % rank
    if axis == 0:
        raise layer_error(layer, "concatenating along the batch axis is not supported")
    shape = list(b.shape(xs[0]))
    shape[axis] = sum(b.shape(x)[axis] for x in xs)
    return b.op("concatenation", layer.name, list(xs), tuple(shape), axis=axis, activation="none")


_SINGLE_INPUT = {
    "Conv2D": _conv2d,
    "DepthwiseConv2D": _depthwise_conv2d,
    "SeparableConv2D": _separable_conv2d,
    "Conv1D": _conv1d,
    "Dense": _dense,
    "BatchNormalization": _batch_norm,
    "ReLU": _relu,
    "Activation": _activation,
    "Softmax": _softmax,
    "MaxPooling2D": _pool("max_pool2d"),
    "AveragePooling2D": _pool("avg_pool2d"),
    "GlobalAveragePooling2D": _global_avg_pool,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "ZeroPadding2D": _zero_padding,
}
_MULTI_INPUT = {"Add": _add, "Concatenate": _concatenate}
# Aliases Keras 3 exports under other names.
_ALIASES = {"Convolution2D": "Conv2D", "Convolution1D": "Conv1D", "SeparableConvolution2D": "SeparableConv2D",
            "MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D", "GlobalAvgPool2D": "GlobalAveragePooling2D"}


def emit_layer(b: Builder, layer: Any, inputs: list[str]) -> str:
    from tinygen import ops

    cls = type(layer).__name__
    cls = _ALIASES.get(cls, cls)
    if cls in ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianDropout", "GaussianNoise"):
        return inputs[0]  # inference-time identity
    convert = ops.keras_layers().get(cls)
    if convert is not None:
        return convert(b, layer, inputs)
    if cls in _MULTI_INPUT:
        if len(inputs) < 2:
            raise layer_error(layer, f"needs at least two inputs, got {len(inputs)}")
        return _MULTI_INPUT[cls](b, layer, inputs)
    if cls in _SINGLE_INPUT:
        if len(inputs) != 1:
            raise layer_error(layer, f"expected one input, got {len(inputs)}")
        return _SINGLE_INPUT[cls](b, layer, inputs[0])
    raise UnsupportedError(
        f"layer {layer.name!r} ({type(layer).__name__}) is not supported by tinygen; supported layers: "
        f"{', '.join(SUPPORTED_LAYERS)}"
    )
