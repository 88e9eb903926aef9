"""MAX_POOL_2D and AVERAGE_POOL_2D (Keras MaxPooling2D/AveragePooling2D) on int8 NHWC tensors. TFLite Micro
clips each window to the image (padding never counts) and does not requantize (input and output share one
quantization): max is the largest valid value (starting from -128), average is
``(sum + n/2) / n`` for a positive sum, ``(sum - n/2) / n`` otherwise, with C's truncating division, over
the n valid values; both are clamped to the fused activation's range. int16 (16x8 models) is the same arithmetic
on int16 values (max from -32768), one kernel for both (``tg_pool_s16``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import tflite

from tinygen import numerics
from tinygen.activations import apply_tf
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op, Tensor, conv_output_size
from tinygen.lowering.args import const_ptr, in_out, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import binary_common, common
from tinygen.ops.base import (ACTIVATION, SAME_AS_INPUT, Attr, OpDef, QatHooks, TfliteMapping, padding_mode,
                               positive_pair)

MAX_KIND = "max_pool2d"
AVG_KIND = "avg_pool2d"

#: most input pixels one average-pooling window may cover: the kernel's int32 ``sum +- count / 2`` of int8
#: values (at most 128.5 x count in magnitude) must not overflow
MAX_AVG_WINDOW_PIXELS = (2**31 - 1) // 129
#: the same for int16 values (at most 32768.5 x count)
MAX_AVG_WINDOW_PIXELS_16 = (2**31 - 1) // 32769


@dataclass(frozen=True)
class PoolParams:
    """max_pool2d / avg_pool2d: windows clipped to the image (padding never counts).

    avg: ``acc = sum(valid x)``, ``n = count(valid)``, ``acc > 0 ? (acc + n/2)/n : (acc - n/2)/n``
    (C division truncating toward zero), clamped. max: max of valid x, clamped. No requantization
    (TFLite requires equal input/output quantization).
    """

    filter_h: int
    filter_w: int
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int
    act_min: int
    act_max: int


ATTRS = (
    Attr("filter", positive_pair),
    Attr("stride", positive_pair),
    Attr("padding", padding_mode, "same"),  # the schema's default padding
    ACTIVATION,
)


# --------------------------------------------------------------------------- shapes and checks


def _input_shape(graph: Graph, op: Op) -> tuple[int, int, int, int]:
    n, h, w, c = common.require_rank(graph, op, op.inputs[0], 4, "input (NHWC)")
    return n, h, w, c


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    n, h, w, c = _input_shape(graph, op)
    (fh, fw), (sh, sw) = op.attrs["filter"], op.attrs["stride"]
    oh, _ = conv_output_size(h, fh, sh, 1, op.attrs["padding"])
    ow, _ = conv_output_size(w, fw, sw, 1, op.attrs["padding"])
    return (n, oh, ow, c)


def check_windows(op: Op, in_size: int, filt: int, stride: int, pad: int, out_size: int, axis: str) -> None:
    """Every pooling window along one axis covers at least one input pixel (TFLite Micro's average would
    divide by zero; its max would give -128 from nothing)."""
    # Window o covers [o * stride - pad, o * stride - pad + filt); its start grows with o, so only a leading
    # run (ending at or before 0) or a trailing run (starting at or after in_size) can miss the input.
    bad = None
    if out_size > 0 and (in_size < 1 or filt <= pad):
        bad = 0
    else:
        first_after = -(-(in_size + pad) // stride)  # first o whose window starts at or after in_size
        if first_after < out_size:
            bad = first_after
    if bad is not None:
        raise TinygenError(
            f"{common.where(op)}: output {axis} {bad} pools a window that lies entirely in the padding "
            f"(input {axis} {in_size}, filter {filt}, stride {stride}, pad {pad}): fix filter/stride/padding"
        )


def _check(graph: Graph, op: Op) -> None:
    n, h, w, c = _input_shape(graph, op)
    x = graph.tensor(op.inputs[0])
    for axis, size, filt, stride in (("row", h, op.attrs["filter"][0], op.attrs["stride"][0]),
                                     ("column", w, op.attrs["filter"][1], op.attrs["stride"][1])):
        out, pad = conv_output_size(size, filt, stride, 1, op.attrs["padding"])
        if out < 1:
            raise TinygenError(
                f"{common.where(op)}: filter {tuple(op.attrs['filter'])} with stride {tuple(op.attrs['stride'])} and "
                f"{op.attrs['padding']!r} padding leaves no output {axis} for input {x.name!r} of shape {x.shape}: "
                "fix the filter size or use 'same' padding"
            )
        check_windows(op, size, filt, stride, pad, out, axis)


def _check_avg(graph: Graph, op: Op) -> None:
    _check(graph, op)
    n, h, w, c = _input_shape(graph, op)
    (fh, fw) = op.attrs["filter"]
    pixels = min(fh, h) * min(fw, w)  # the largest window, clipped to the image
    limit = MAX_AVG_WINDOW_PIXELS_16 if graph.tensor(op.inputs[0]).dtype == "int16" else MAX_AVG_WINDOW_PIXELS
    if pixels > limit:
        raise TinygenError(
            f"{common.where(op)}: filter {tuple(op.attrs['filter'])} on input of shape {(n, h, w, c)} averages up to "
            f"{pixels} pixels per window; the int32 sum supports at most {limit}: use a smaller filter "
            "or pool in several steps"
        )


# --------------------------------------------------------------------------- parameters and references


def _operands(graph: Graph, op: Op) -> tuple[Tensor, Tensor]:
    """Input and output: both int8, or both int16 (a 16x8 model's pooling, TFLite Micro's int16 MaxPool/AveragePool:
    the int8 arithmetic on int16 values)."""
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if x.dtype == out.dtype == "int16":
        return x, out
    return common.unary_int8(graph, op)


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> PoolParams:
    x, out = _operands(graph, op)
    fh, fw = (int(v) for v in op.attrs["filter"])
    sh, sw = (int(v) for v in op.attrs["stride"])
    _, pad_top = conv_output_size(x.shape[1], fh, sh, 1, op.attrs["padding"])
    _, pad_left = conv_output_size(x.shape[2], fw, sw, 1, op.attrs["padding"])
    act_min, act_max = binary_common.act_range(op, out)
    return PoolParams(filter_h=fh, filter_w=fw, stride_h=sh, stride_w=sw, pad_top=pad_top, pad_left=pad_left,
                      act_min=act_min, act_max=act_max)


def _windows(graph: Graph, op: Op, p: PoolParams, x: np.ndarray, value: int) -> np.ndarray:
    """[N, OH, OW, KH, KW, C] windows of ``x``, padded with ``value``."""
    _, oh, ow, _ = graph.tensor(op.outputs[0]).shape
    need_h = (oh - 1) * p.stride_h + p.filter_h
    need_w = (ow - 1) * p.stride_w + p.filter_w
    xp = common.pad_spatial(x, p.pad_top, p.pad_left, need_h, need_w, value)
    return common.windows(xp, p.filter_h, p.filter_w, p.stride_h, p.stride_w, 1, 1, oh, ow)


def reference_max(graph: Graph, op: Op, p: PoolParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    out = graph.tensor(op.outputs[0])
    lowest = common.INT_RANGES[out.dtype][0]
    best = _windows(graph, op, p, args[0].astype(np.int32), lowest).max(axis=(3, 4)).astype(np.int64)
    best = np.maximum(best, lowest)  # TFLite starts from the type's lowest: a window with no pixel gives it
    return binary_common.clamp(best, p.act_min, p.act_max, out)


def reference_avg(graph: Graph, op: Op, p: PoolParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    x = args[0]
    acc = _windows(graph, op, p, x.astype(np.int64), 0).sum(axis=(3, 4))
    count = _windows(graph, op, p, np.ones((1,) + x.shape[1:3] + (1,), dtype=np.int64), 0).sum(axis=(3, 4))
    if np.any(count == 0):
        raise TinygenError(
            f"{common.where(op)}: a pooling window lies entirely in the padding: fix filter/stride/padding")
    half = count // 2
    num = np.where(acc > 0, acc + half, acc - half)
    avg = np.sign(num) * (np.abs(num) // count)  # C division truncates toward zero
    return binary_common.clamp(avg, p.act_min, p.act_max, graph.tensor(op.outputs[0]))


def _float_geometry(op: Op) -> tuple[tuple[int, int], tuple[int, int], str]:
    return tuple(op.attrs["filter"]), tuple(op.attrs["stride"]), op.attrs["padding"]  # type: ignore[return-value]


def float_reference_max(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    size, stride, padding = _float_geometry(op)
    return common.float_windows(inputs[0], size, stride, (1, 1), padding, -np.inf).max(axis=(4, 5))


def float_reference_avg(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    # Average over the valid (unpadded) elements only, as TFLite and Keras do.
    x = inputs[0]
    size, stride, padding = _float_geometry(op)
    sums = common.float_windows(x, size, stride, (1, 1), padding).sum(axis=(4, 5))
    ones = np.ones((1, *x.shape[1:3], 1), x.dtype)
    counts = common.float_windows(ones, size, stride, (1, 1), padding).sum(axis=(4, 5))
    return sums / counts


# --------------------------------------------------------------------------- import


def _from_tflite(kind: str) -> Callable[[Any, Any], Op]:
    def convert(imp: Any, raw: Any) -> Op:
        x = imp.inputs(raw, 1)[0]
        imp.ranked(raw, x, 4, "input")
        attrs = {
            "filter": (int(raw.options["FilterHeight"]), int(raw.options["FilterWidth"])),
            "stride": imp.stride(raw),
            "padding": imp.padding(raw),
            "activation": imp.activation(raw),
        }
        return Op(kind, "", [imp.activation_tensor(raw, x)], [], attrs)

    return convert


#: Pool2DOptions fields with the schema's defaults (a model without the table has filter and stride 0,
#: which the attribute checks reject: TFLite Micro would divide by zero)
_POOL_OPTIONS = {
    "Padding": tflite.Padding.SAME,
    "StrideH": 0,
    "StrideW": 0,
    "FilterHeight": 0,
    "FilterWidth": 0,
    "FusedActivationFunction": tflite.ActivationFunctionType.NONE,
}


def _from_keras(kind: str) -> Callable[[Any, Any, list[str]], str]:
    def convert(b: Any, layer: Any, inputs: list[str]) -> str:
        from tinygen.quantize.layers import (_channels_last, _conv_shape, _pair, _padding, _require_rank,
                                             single_input)

        x = single_input(layer, inputs)
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


def _from_keras_1d(kind: str) -> Callable[[Any, Any, list[str]], str]:
    """MaxPooling1D / AveragePooling1D on [1, L, C]: the 2-D pool with height 1 on [1, 1, L, C], between two
    reshapes (as TensorFlow's converter exports them)."""

    def convert(b: Any, layer: Any, inputs: list[str]) -> str:
        from tinygen.ops import reshape
        from tinygen.quantize.layers import _channels_last, _conv_shape, _padding, _require_rank, single_input

        x = single_input(layer, inputs)
        _channels_last(layer)
        _require_rank(layer, b, x, 3)
        cfg = layer.get_config()
        size = int(_first(cfg["pool_size"]))
        stride = int(_first(cfg["strides"] if cfg.get("strides") is not None else size))
        padding = _padding(layer)
        n, length, c = b.shape(x)
        x4 = b.op(reshape.KIND, f"{layer.name}/to_2d", [x], (n, 1, length, c))
        shape = _conv_shape(b, x4, (1, size), (1, stride), (1, 1), padding, c)
        y4 = b.op(kind, layer.name, [x4], shape, out_name=f"{layer.name}/pool2d", filter=(1, size),
                  stride=(1, stride), padding=padding, activation="none")
        return b.op(reshape.KIND, f"{layer.name}/to_1d", [y4], (n, shape[2], c), out_name=layer.name)

    return convert


def _first(value: Any) -> Any:
    """A Keras 1-D size given as an int or a 1-tuple."""
    return value[0] if isinstance(value, (list, tuple)) else value


# --------------------------------------------------------------------------- lowering


def _lower(ctx: LoweringContext, op: Op, kernel: str) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    n, h, w, c = x.shape
    _, oh, ow, _ = out.shape
    check_windows(op, h, p.filter_h, p.stride_h, p.pad_top, oh, "row")
    check_windows(op, w, p.filter_w, p.stride_w, p.pad_left, ow, "column")
    int16 = x.dtype == "int16"
    args = (
        ctx.tensor_ptr(x.name) if int16 else const_ptr(ctx, x.name), str(n), str(h), str(w), str(c), str(p.filter_h),
        str(p.filter_w), str(p.stride_h), str(p.stride_w), str(p.pad_top), str(p.pad_left), str(oh), str(ow),
        str(p.act_min), str(p.act_max), *(("1" if kernel == "tg_avg_pool_s8" else "0",) if int16 else ()),
        ctx.tensor_ptr(out.name),
    )
    if int16:  # one int16 kernel, its last scalar saying max (0) or average (1)
        kernel = "tg_pool_s16"
    comment = (
        f"{op.kind} {shape_str(x)} -> {shape_str(out)}, filter {p.filter_h}x{p.filter_w}, "
        f"stride {p.stride_h}x{p.stride_w}, pad {p.pad_top},{p.pad_left}, clamp [{p.act_min}, {p.act_max}]"
    )
    return KernelCall(kernel, args, comment=comment)


def lower_max(ctx: LoweringContext, op: Op) -> KernelCall:
    return _lower(ctx, op, "tg_max_pool_s8")


def lower_avg(ctx: LoweringContext, op: Op) -> KernelCall:
    return _lower(ctx, op, "tg_avg_pool_s8")


# --------------------------------------------------------------------------- QAT


def _qat_max(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return tf.nn.max_pool2d(xs[0], tuple(attrs["filter"]), tuple(attrs["stride"]), attrs["padding"].upper())


def window_counts(hw: tuple[int, int], size: tuple[int, int], stride: tuple[int, int], padding: str) -> np.ndarray:
    """[1, OH, OW, 1] float64: how many input pixels each pooling window covers (padding excluded)."""
    counts = []
    for i in range(2):
        out, before = conv_output_size(hw[i], size[i], stride[i], 1, padding.lower())
        starts = np.arange(out) * stride[i] - before
        counts.append(np.minimum(starts + size[i], hw[i]) - np.maximum(starts, 0))
    return np.outer(counts[0], counts[1]).astype(np.float64)[None, :, :, None]


def _qat_avg_exact(tf: Any, x: Any, params: Any, attrs: dict[str, Any]) -> list[Any]:
    """[float average (fused activation applied), TFLite Micro's int8 average pool dequantized]: the window sum
    of the int8 values (zero point included, padding excluded) divided by the window's valid count, rounded
    half away from zero."""
    from tinygen.qat.fake_quant import round_half_away
    from tinygen.qat.layers import act_limits

    act = attrs.get("activation", "none")
    size, stride, padding = tuple(attrs["filter"]), (1, *attrs["stride"], 1), attrs["padding"].upper()
    y = apply_tf(tf, tf.nn.avg_pool2d(x, size, stride[1:3], padding), act)
    scale, zp = tf.cast(params[0], tf.float64), tf.cast(params[1], tf.float64)
    q = tf.stop_gradient(round_half_away(tf.cast(x, tf.float64) / scale) + zp)
    count = tf.constant(window_counts(tuple(int(d) for d in x.shape[1:3]), size, tuple(attrs["stride"]), padding))
    acc = tf.math.rint(tf.nn.avg_pool2d(q, size, stride[1:3], padding) * count)  # exact: float64 integers
    half = tf.floor(count / 2.0)
    num = tf.where(acc > 0, acc + half, acc - half)
    avg = tf.sign(num) * tf.floor(tf.abs(num) / count)  # C integer division truncates toward zero
    lo, hi = act_limits(act, params)
    exact = tf.stop_gradient(tf.cast((tf.clip_by_value(avg, lo, hi) - zp) * scale, tf.float32))
    return [y, exact]


MAX_POOL = OpDef(
    kind=MAX_KIND,
    attrs=ATTRS,
    infer_shape=infer_shape,
    check=_check,
    params=params,
    reference=reference_max,
    float_reference=float_reference_max,
    quant_rule=SAME_AS_INPUT,
    tflite=(TfliteMapping("MAX_POOL_2D", _from_tflite(MAX_KIND), tflite.Pool2DOptions, _POOL_OPTIONS, int16=True),),
    keras_layers={"MaxPooling2D": _from_keras(MAX_KIND), "MaxPooling1D": _from_keras_1d(MAX_KIND)},
    lowerings=(lower_max,),
    qat=QatHooks(forward=_qat_max),
)

AVG_POOL = OpDef(
    kind=AVG_KIND,
    attrs=ATTRS,
    infer_shape=infer_shape,
    check=_check_avg,
    params=params,
    reference=reference_avg,
    float_reference=float_reference_avg,
    quant_rule=SAME_AS_INPUT,
    tflite=(TfliteMapping("AVERAGE_POOL_2D", _from_tflite(AVG_KIND), tflite.Pool2DOptions, _POOL_OPTIONS, int16=True),),
    keras_layers={"AveragePooling2D": _from_keras(AVG_KIND), "AveragePooling1D": _from_keras_1d(AVG_KIND)},
    lowerings=(lower_avg,),
    qat=QatHooks(exact=_qat_avg_exact),
)

OPS = (MAX_POOL, AVG_POOL)
