"""What the convolution family (CONV_2D and DEPTHWISE_CONV_2D) shares: the integer parameters (TFLite Micro's
Prepare), shape inference and checks, the numpy accumulation of the reference, the requantization after it,
the ``.tflite`` window options and the MAC count. The two op modules pass ``depthwise``; no op kind is spelled
here.

Arithmetic (TFLite Micro's ConvPerChannel / DepthwiseConvPerChannel), per output element of channel ``c``:
``acc = sum(w * (x + input_offset)) + bias[c]`` in int32 (wrapping), padded taps contributing nothing, then
``clamp(MultiplyByQuantizedMultiplier(acc, multiplier[c], shift[c]) + output_offset, act_min, act_max)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op, Tensor, conv_output_size
from tinygen.ops import common
from tinygen.ops.base import MAX_WINDOW, Attr, padding_mode, positive_pair

INT32_MAX = 2**31 - 1

#: the window attributes both ops carry; required (the importers and Keras converters always set them, and
#: a hand-built op without a stride is more likely a mistake than a wish for TFLite's schema default)
STRIDE = Attr("stride", positive_pair)
DILATION = Attr("dilation", positive_pair)
PADDING = Attr("padding", padding_mode)

#: per-channel axis of the weights: OHWI conv weights by output channel, [1, kh, kw, C*M] depthwise by the last
CONV_AXIS, DEPTHWISE_AXIS = 0, 3


@dataclass(frozen=True)
class ConvParams:
    """conv2d and depthwise_conv2d (TFLite's ConvParams/DepthwiseParams + per-channel data).

    Accumulator per output element: ``sum(w * (x + input_offset)) + bias[c]`` (int32, wrapping),
    then ``requantize(acc, multiplier[c], shift[c]) + output_offset`` clamped to act range.
    Inputs outside the image (padding) contribute nothing (equivalently: x = input zero point).
    ``in_channel`` of depthwise output channel ``c`` is ``c // depth_multiplier``.
    """

    input_offset: int
    output_offset: int
    #: int32 [out_c]
    multiplier: np.ndarray
    #: int32 [out_c]
    shift: np.ndarray
    act_min: int
    act_max: int
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    #: explicit padding before the first row / column (TFLite's padding_values.height/width)
    pad_top: int
    pad_left: int
    #: 1 for conv2d
    depth_multiplier: int
    has_bias: bool
    #: 16x8 (int16 activations, zero points 0; :func:`params_16x8`): the output is int16 and no offset is added
    int16: bool = False
    #: 16x8 with TFLite's int64 accumulator and int64 requantization (an int64 bias, or none); False: int32
    wide: bool = False


# --------------------------------------------------------------------------- shapes and checks


def weight_axis(depthwise: bool) -> int:
    return DEPTHWISE_AXIS if depthwise else CONV_AXIS


def out_channels(graph: Graph, op: Op, depthwise: bool) -> int:
    w = graph.tensor(op.inputs[1]).shape
    return int(w[DEPTHWISE_AXIS] if depthwise else w[CONV_AXIS])


def _structure(graph: Graph, op: Op, depthwise: bool) -> tuple[Tensor, Tensor, int]:
    """Input, weights and output channel count, checked against each other (float and int8 graphs alike)."""
    where = common.where(op)
    x, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    if len(x.shape) != 4:
        raise TinygenError(f"{where}: input {x.name!r} has shape {x.shape}; a convolution needs an NHWC input (rank 4)")
    if len(w.shape) != 4:
        layout = "[1, kh, kw, channels x depth_multiplier]" if depthwise else "OHWI [out_c, kh, kw, in_c]"
        raise TinygenError(f"{where}: weights {w.name!r} have shape {w.shape}; they must be {layout} (rank 4)")
    in_c = x.shape[3]
    if depthwise:
        out_c, mult = w.shape[3], int(op.attrs["depth_multiplier"])
        if w.shape[0] != 1 or in_c * mult != out_c:
            raise TinygenError(
                f"{where}: weights {w.name!r} of shape {w.shape} do not fit input {x.name!r} ({in_c} channels) with "
                f"depth_multiplier {mult}: depthwise weights are [1, kh, kw, {in_c} x {mult} = {in_c * mult}]; "
                "fix or re-export the model"
            )
    else:
        out_c = w.shape[0]
        if w.shape[3] != in_c:
            raise UnsupportedError(
                f"{where}: grouped convolution ({in_c} input channels, filter depth {w.shape[3]}) is not "
                "supported; use a DepthwiseConv2D or groups=1"
            )
    kernel = (w.shape[1], w.shape[2])
    for axis, (k, d) in enumerate(zip(kernel, op.attrs["dilation"])):
        what = "height" if axis == 0 else "width"
        if not 1 <= k <= MAX_WINDOW or (k - 1) * d + 1 > MAX_WINDOW:
            raise TinygenError(
                f"{where}: filter {what} {k} with dilation {d} spans {(k - 1) * d + 1} pixels; tinygen takes filters "
                f"of 1..{MAX_WINDOW} pixels (dilated): fix or re-export the model"
            )
    if len(op.inputs) > 2:
        b = graph.tensor(op.inputs[2])
        if b.size != out_c:
            raise TinygenError(
                f"{where}: bias {b.name!r} of shape {b.shape} has {b.size} values for {out_c} output channels: "
                "give one bias per output channel"
            )
    return x, w, out_c


def infer_shape(graph: Graph, op: Op, depthwise: bool) -> tuple[int, ...]:
    """(N, OH, OW, out_c) from TFLite's SAME/VALID output size (ComputeOutSize)."""
    x, w, out_c = _structure(graph, op, depthwise)
    n, h, wd, _ = x.shape
    (sh, sw), (dh, dw), padding = op.attrs["stride"], op.attrs["dilation"], op.attrs["padding"]
    oh, _ = conv_output_size(h, w.shape[1], sh, dh, padding)
    ow, _ = conv_output_size(wd, w.shape[2], sw, dw, padding)
    if oh < 1 or ow < 1:
        raise TinygenError(
            f"{common.where(op)}: filter {w.shape[1]}x{w.shape[2]} (dilation {dh}x{dw}) on input {x.name!r} of shape "
            f"{x.shape} with {padding!r} padding gives an empty output ({oh}x{ow}): fix the model"
        )
    return (n, oh, ow, out_c)


def check(graph: Graph, op: Op, depthwise: bool) -> None:
    """The int8 graph's checks: types, constant quantized weights and bias, scale counts and axes, and no
    int32 overflow in the C accumulators."""
    where = common.where(op)
    x, w, out_c = _structure(graph, op, depthwise)
    out = graph.tensor(op.outputs[0])
    if out.dtype == "int16" and x.dtype == "int8":
        raise UnsupportedError(
            f"{where}: input {x.name!r} is int8 and output {out.name!r} (shape {out.shape}) int16; tinygen runs a "
            "convolution with int8 input and output, or int16 input and output (16x8): re-convert the model with "
            "full-integer int8 quantization or TFLite's 16x8 mode"
        )
    for t in (x, w, out):
        common.require_int8(t, op)
    _check_weights(graph, op, w, out_c, depthwise, "quantize the model to int8")
    common.check_zero_points(w, op)
    bias = None
    if len(op.inputs) > 2:
        b = graph.tensor(op.inputs[2])
        if b.dtype != "int32":
            raise UnsupportedError(
                f"{where}: bias {b.name!r} is {b.dtype} (shape {b.shape}); an int8 convolution needs an int32 bias: "
                "convert the model with int8 quantization"
            )
        bias = np.asarray(b.data, dtype=np.int64).reshape(-1)
    _check_accumulator(op, w, bias, common.qp(x, op)[1], depthwise)
    _check_requantization(graph, op, depthwise)


def _check_weights(graph: Graph, op: Op, w: Tensor, out_c: int, depthwise: bool, remedy: str) -> None:
    """Constant quantized weights with one scale per tensor or per output channel (along the op's channel axis):
    the checks of the int8 and the 16x8 layer alike (``remedy``: what to do when they are not quantized)."""
    where = common.where(op)
    common.require_const(graph, op, 1)
    if w.quant is None:
        raise UnsupportedError(f"{where}: weights {w.name!r} are not quantized: {remedy}")
    common.check_scales(w, op)
    scales, axis = w.quant.scale.size, weight_axis(depthwise)
    if scales not in (1, out_c):
        raise TinygenError(
            f"{where}: weights {w.name!r} shape {w.shape} have {scales} scales for {out_c} output channels: "
            "use one scale per output channel or one per tensor"
        )
    if scales > 1 and w.quant.axis != axis:
        raise TinygenError(
            f"{where}: weights {w.name!r} shape {w.shape} are quantized per channel along axis {w.quant.axis}; "
            f"this op's output channels are axis {axis}: re-quantize the model"
        )


def _check_accumulator(op: Op, w: Tensor, bias: np.ndarray | None, input_zp: int, depthwise: bool) -> None:
    """The C kernels start each accumulator at ``bias + input_offset * sum(w)`` (wrapped to int32 offline) and
    add ``w * x`` for int8 ``x`` in int32: no partial sum may leave int32 (signed overflow is undefined
    behaviour in C). True whenever ``|folded bias| + 128 * sum|w| <= INT32_MAX``; any real model is far
    inside (its biases are a few thousand, not 2^31)."""
    weights = np.asarray(w.data, dtype=np.int64)
    per_channel = weights.reshape(-1, weights.shape[3]) if depthwise else weights.reshape(weights.shape[0], -1).T
    sums, magnitudes = per_channel.sum(axis=0), np.abs(per_channel).sum(axis=0)
    b = np.zeros_like(sums) if bias is None else bias
    folded = numerics.wrap_int32(b - int(input_zp) * sums)
    bound = np.abs(folded) + 128 * magnitudes
    bad = np.flatnonzero(bound > INT32_MAX)
    if bad.size:
        c = int(bad[0])
        raise TinygenError(
            f"{common.where(op)}: output channel {c} (bias {int(b[c])}, input offset {-int(input_zp)} times weight "
            f"sum {int(sums[c])}, folded {int(folded[c])}) with weights of magnitude sum {int(magnitudes[c])} can "
            f"overflow the int32 accumulator (|{int(folded[c])}| + 128 x {int(magnitudes[c])} > {INT32_MAX}): "
            "a bias this large is corrupt; re-quantize the model"
        )


# --------------------------------------------------------------------------- integer parameters


def params(graph: Graph, op: Op, rounding: numerics.Rounding, depthwise: bool) -> ConvParams:
    """TFLite Micro's Prepare: per-channel multipliers (PopulateConvolutionQuantizationParams), activation
    range, SAME/VALID padding offsets."""
    check(graph, op, depthwise)
    x, w, out = (graph.tensor(n) for n in (op.inputs[0], op.inputs[1], op.outputs[0]))
    _, in_zp = common.qp(x, op)
    _, out_zp = common.qp(out, op)
    reals = _real_multipliers(graph, op, depthwise)
    mult, shift = numerics.quantize_multiplier_array(reals, rounding)
    act_min, act_max = common.act_range(op, out)
    sh, sw = (int(v) for v in op.attrs["stride"])
    dh, dw = (int(v) for v in op.attrs["dilation"])
    _, pad_top = conv_output_size(x.shape[1], w.shape[1], sh, dh, op.attrs["padding"])
    _, pad_left = conv_output_size(x.shape[2], w.shape[2], sw, dw, op.attrs["padding"])
    return ConvParams(
        input_offset=-in_zp, output_offset=out_zp, multiplier=common.ro(mult), shift=common.ro(shift),
        act_min=act_min, act_max=act_max, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
        pad_top=pad_top, pad_left=pad_left, depth_multiplier=int(op.attrs["depth_multiplier"]) if depthwise else 1,
        has_bias=len(op.inputs) > 2,
    )


def _real_multipliers(graph: Graph, op: Op, depthwise: bool) -> np.ndarray:
    """PopulateConvolutionQuantizationParams: double(input) * double(filter[c]) / double(output), per output
    channel."""
    x, w, out = (graph.tensor(n) for n in (op.inputs[0], op.inputs[1], op.outputs[0]))
    in_scale, _ = common.qp(x, op)
    out_scale, _ = common.qp(out, op)
    assert w.quant is not None
    scales = w.quant.scale
    out_c = out_channels(graph, op, depthwise)
    return np.array([float(np.float32(in_scale)) * float(scales[c if scales.size > 1 else 0])
                     / float(np.float32(out_scale)) for c in range(out_c)])


def _check_requantization(graph: Graph, op: Op, depthwise: bool) -> None:
    """Multipliers whose shift TFLite's int32 arithmetic can take (QuantizeMultiplier with double rounding
    gives shifts > 30 for absurd scale ratios; single rounding saturates them), and an activation range
    inside int32."""
    reals = _real_multipliers(graph, op, depthwise)
    _, shift = numerics.quantize_multiplier_array(reals, "double")
    if np.any(shift > 30):
        c = int(np.flatnonzero(shift > 30)[0])
        raise TinygenError(
            f"{common.where(op)}: output channel {c}: input scale x weight scale / output scale = {reals[c]:g} needs a "
            f"left shift of {int(shift[c])} bits; TFLite's requantization shifts int32 values by at most 30 (beyond, "
            "its arithmetic is undefined): the weight or output scale is corrupt; re-quantize the model"
        )
    common.check_activation_range(op, common.qp(graph.tensor(op.outputs[0]), op)[0])


# --------------------------------------------------------------------------- reference


def accumulate(graph: Graph, op: Op, p: ConvParams, x: np.ndarray, depthwise: bool) -> np.ndarray:
    """The exact int64 accumulators ``sum(w * (x + input_offset)) + bias`` (not yet wrapped to int32).

    im2col (stride tricks) + a float64 matrix product: exact, every operand is an integer of at most 9 bits
    times 8 bits, so every partial sum is an integer far below 2^53 whatever order BLAS adds in."""
    w_t = graph.tensor(op.inputs[1])
    weights = np.asarray(w_t.data, dtype=np.float64)
    out_shape = graph.tensor(op.outputs[0]).shape
    _, oh, ow, oc = out_shape
    kh, kw = w_t.shape[1], w_t.shape[2]
    need_h = (oh - 1) * p.stride_h + (kh - 1) * p.dilation_h + 1
    need_w = (ow - 1) * p.stride_w + (kw - 1) * p.dilation_w + 1
    # Offsetting first makes the padding exactly 0 (real 0.0 = the input zero point).
    xo = x.astype(np.float64) + p.input_offset
    xo = common.pad_spatial(xo, p.pad_top, p.pad_left, need_h, need_w, 0.0)
    win = common.windows(xo, kh, kw, p.stride_h, p.stride_w, p.dilation_h, p.dilation_w, oh, ow)
    if not depthwise:
        cols = win.reshape(-1, kh * kw * win.shape[-1])
        acc = (cols @ weights.reshape(oc, -1).T).reshape(out_shape)
    else:
        in_c = win.shape[-1]
        src = win if p.depth_multiplier == 1 else win[..., np.arange(in_c * p.depth_multiplier) // p.depth_multiplier]
        acc = np.einsum("nhwijc,ijc->nhwc", src, weights[0], optimize=True)
    acc = acc.astype(np.int64)
    if p.has_bias:
        acc = acc + np.asarray(graph.tensor(op.inputs[2]).data, dtype=np.int64).reshape(-1)  # any shape of out_c values
    return acc


def from_accumulator(p: ConvParams, acc: np.ndarray, rounding: str) -> np.ndarray:
    """int32 accumulators -> int8: wrap, requantize per output channel (last axis), offset, clamp."""
    if p.int16:
        return from_accumulator_16x8(p, acc, rounding)
    return common.requant_out(np.asarray(acc, dtype=np.int64), p.multiplier, p.shift, p.output_offset, p.act_min,
                              p.act_max, rounding)


# --------------------------------------------------------------------------- .tflite options


def window_options(imp: Any, raw: Any) -> dict[str, Any]:
    """stride, dilation and padding of a CONV_2D / DEPTHWISE_CONV_2D. A model without its options table (or
    with one of another type) reads as all zeros, as in TFLite Micro, whose zero-initialised parameters
    (stride 0, dilation 0) make every output pixel read input pixel (0, 0) only (checked against TFLite
    Micro): refused here, like any stride or dilation below 1."""
    padding = raw.options["Padding"]
    if padding not in (tflite.Padding.SAME, tflite.Padding.VALID):
        # TFLite Micro's unknown padding: no padding, an output size of 0 (it then runs the declared shape)
        raise TinygenError(
            f"{imp.where(raw)}: padding code {padding} is neither SAME ({tflite.Padding.SAME}) nor VALID "
            f"({tflite.Padding.VALID}): corrupt model, re-export it"
        )
    stride, dilation = imp.stride(raw), imp.dilation(raw)
    if min(*stride, *dilation) < 1:
        raise TinygenError(
            f"{imp.where(raw)}: stride {stride} and dilation {dilation} must be 1 or more (TFLite Micro runs a 0 as "
            "is: every output pixel reads the same window, every tap the same pixel; a model without its options "
            "table reads as all zeros there too): corrupt model, re-export it"
        )
    return {"stride": stride, "dilation": dilation, "padding": imp.padding(raw)}


#: the options fields both ops read, with their defaults (the values' types matter: a model without the
#: options table reads as zeros of these types, see window_options)
OPTION_FIELDS: dict[str, Any] = {
    "Padding": tflite.Padding.SAME, "StrideH": 1, "StrideW": 1, "DilationHFactor": 1, "DilationWFactor": 1,
    "FusedActivationFunction": tflite.ActivationFunctionType.NONE,
}


# --------------------------------------------------------------------------- float reference, MACs


def float_bias(inputs: list[np.ndarray], out_c: int) -> np.ndarray:
    return inputs[2] if len(inputs) > 2 else np.zeros(out_c, np.float32)


def macs(graph: Graph, op: Op, depthwise: bool) -> int:
    """Multiply-accumulates: every output element sums kh x kw (x in_c for conv) products."""
    out = graph.tensor(op.outputs[0])
    w = graph.tensor(op.inputs[1]).shape
    return out.size * w[1] * w[2] * (1 if depthwise else w[3])


# --------------------------------------------------------------------------- 16x8 (int16 activations, int8 weights)
# TFLite Micro's ConvPerChannel / DepthwiseConvPerChannel on int16: per output element of channel ``c``,
# ``acc = bias[c] + sum(w * x)`` with no input or output offset (it ignores the zero points: tinygen requires 0),
# in int64 with an int64 bias (or none) and requantized by the int64 MultiplyByQuantizedMultiplier (its multiplier
# rounded to 16 bits); CONV_2D with an int32 bias accumulates in wrapping int32 and requantizes as int8 layers do
# (DEPTHWISE_CONV_2D reads its bias as int64 whatever its type: an int32 one is refused). The output is clamped to
# the int16 range of the fused activation.

#: TFLite's int64 MultiplyByQuantizedMultiplier needs |acc| < 2^47 and a shift below 8: beyond, its arithmetic
#: (and tinygen's kernels') is undefined
ACC_LIMIT_16X8 = 1 << 47
MAX_SHIFT_16X8 = 7


def is_16x8(graph: Graph, op: Op) -> bool:
    """TFLite's 16x8 mode: an int16 input (:func:`check_16x8` checks the output and weights match)."""
    return graph.tensor(op.inputs[0]).dtype == "int16"


def check_16x8(graph: Graph, op: Op, depthwise: bool) -> None:
    """A 16x8 layer tinygen runs as TFLite Micro does: int16 input and output with zero points 0, constant
    symmetric int8 weights (one scale per output channel or per tensor), an int64 bias (CONV_2D: or int32), and
    the int64 requantization's preconditions."""
    where = common.where(op)
    x, w, out_c = _structure(graph, op, depthwise)
    out = graph.tensor(op.outputs[0])
    if out.dtype != "int16" or w.dtype != "int8":
        raise UnsupportedError(
            f"{where}: input {x.name!r} is int16, output {out.name!r} {out.dtype} and weights {w.name!r} {w.dtype}; "
            "a 16x8 convolution has int16 input and output and int8 weights: re-convert the model with TFLite's "
            "16x8 mode"
        )
    for t, role in ((x, "input"), (out, "output")):
        if common.qp(t, op)[1] != 0:
            raise UnsupportedError(
                f"{where}: int16 {role} {t.name!r} (shape {t.shape}) has zero point {common.qp(t, op)[1]}; TFLite "
                "Micro's 16x8 convolutions compute as if it were 0, so tinygen needs int16 zero points 0 (what "
                "TFLite's 16x8 converter makes): re-convert the model"
            )
    _check_weights(graph, op, w, out_c, depthwise, "quantize the model (16x8 mode)")
    if np.any(w.quant.zero_point != 0):
        raise UnsupportedError(
            f"{where}: weights {w.name!r} have zero points {w.quant.zero_point.tolist()[:4]}; 16x8 convolutions need "
            "symmetric int8 weights (zero point 0, as TFLite's converter makes): re-quantize the model"
        )
    _check_requantization(graph, op, depthwise)
    _check_accumulator_16x8(graph, op, depthwise)


def bias_16x8(graph: Graph, op: Op, depthwise: bool) -> np.ndarray | None:
    """The bias values as int64 (None without a bias), its type checked: int64, or int32 for CONV_2D."""
    if len(op.inputs) < 3:
        return None
    b = graph.tensor(op.inputs[2])
    legal = ("int64",) if depthwise else ("int64", "int32")
    if b.dtype not in legal or b.data is None:
        what = "an int64 bias (TFLite Micro reads it as int64 whatever its type)" if depthwise else \
            "an int64 (or int32) bias"
        raise UnsupportedError(
            f"{common.where(op)}: bias {b.name!r} is {b.dtype} (shape {b.shape}); a 16x8 "
            f"{'depthwise ' if depthwise else ''}convolution needs {what}: re-convert the model with TFLite's 16x8 mode"
        )
    return np.asarray(b.data, dtype=np.int64).reshape(-1)


def _check_accumulator_16x8(graph: Graph, op: Op, depthwise: bool) -> None:
    """With the int64 accumulator, TFLite's preconditions of its int64 requantization: |bias| + 32768 x sum|w|
    below 2^47, shifts at most 7 (any real model is far inside: a violation means corrupt scales or biases)."""
    bias = bias_16x8(graph, op, depthwise)
    if bias is not None and graph.tensor(op.inputs[2]).dtype != "int64":
        return  # int32: the sums wrap as TFLite's int32 accumulator does; tg_requantize takes shifts up to 30
    weights = np.asarray(graph.tensor(op.inputs[1]).data, dtype=np.int64)
    per_channel = weights.reshape(-1, weights.shape[3]) if depthwise else weights.reshape(weights.shape[0], -1).T
    bound = np.abs(per_channel).sum(axis=0) * 32768 + (0 if bias is None else np.abs(bias))
    _, shift = numerics.quantize_multiplier_array(_real_multipliers(graph, op, depthwise), "double")
    bad = np.flatnonzero((bound >= ACC_LIMIT_16X8) | (shift > MAX_SHIFT_16X8))
    if bad.size:
        c = int(bad[0])
        raise TinygenError(
            f"{common.where(op)}: output channel {c}: its int64 accumulator may reach {int(bound[c])} (TFLite's int64 "
            f"requantization needs < 2^47) or its shift {int(shift[c])} exceeds {MAX_SHIFT_16X8} (input scale x "
            "weight scale / output scale >= 128): the bias or scales are corrupt; re-quantize the model"
        )


def params_16x8(graph: Graph, op: Op, rounding: numerics.Rounding, depthwise: bool) -> ConvParams:
    """TFLite Micro's Prepare for a 16x8 layer: the int8 layers' per-channel multipliers, the int16 activation
    range, no offsets; ``wide`` for the int64 accumulator."""
    check_16x8(graph, op, depthwise)
    x, w, out = (graph.tensor(n) for n in (op.inputs[0], op.inputs[1], op.outputs[0]))
    mult, shift = numerics.quantize_multiplier_array(_real_multipliers(graph, op, depthwise), rounding)
    out_scale, out_zp = common.qp(out, op)
    act_min, act_max = numerics.activation_range(op.activation, out_scale, out_zp, *common.INT_RANGES["int16"])
    (sh, sw), (dh, dw) = ((int(a), int(b)) for a, b in (op.attrs["stride"], op.attrs["dilation"]))
    _, pad_top = conv_output_size(x.shape[1], w.shape[1], sh, dh, op.attrs["padding"])
    _, pad_left = conv_output_size(x.shape[2], w.shape[2], sw, dw, op.attrs["padding"])
    has_bias = len(op.inputs) > 2
    return ConvParams(
        input_offset=0, output_offset=0, multiplier=common.ro(mult), shift=common.ro(shift), act_min=act_min,
        act_max=act_max, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw, pad_top=pad_top, pad_left=pad_left,
        depth_multiplier=int(op.attrs["depth_multiplier"]) if depthwise else 1, has_bias=has_bias, int16=True,
        wide=not has_bias or graph.tensor(op.inputs[2]).dtype == "int64",
    )


def from_accumulator_16x8(p: ConvParams, acc: np.ndarray, rounding: str) -> np.ndarray:
    """Exact accumulators -> int16: TFLite's int64 requantization (``wide``) or the wrapped int32 one, clamped to
    the activation range (no output offset)."""
    acc = np.asarray(acc, dtype=np.int64)
    if p.wide:
        scaled = numerics.requantize_int64(acc, p.multiplier, p.shift)
    else:
        scaled = numerics.multiply_by_quantized_multiplier(numerics.wrap_int32(acc), p.multiplier.astype(np.int64),
                                                           p.shift.astype(np.int64), rounding)  # type: ignore[arg-type]
    return np.clip(scaled, p.act_min, p.act_max).astype(np.int16)


def fast_requant_16x8(graph: Graph, op: Op, p: ConvParams, depthwise: bool) -> np.ndarray | None:
    """Per output channel ``(bias, fast multiplier)`` (int32 pairs; bias 0 without one) for the kernels' int32 path
    with tg_requantize_s64_fast (tg_requantize_s16.h), where it computes TFLite's int64 requantization exactly for
    this layer, else None: the int64 accumulator (``wide``), every channel's |bias| + 32768 x sum|w| (its sums'
    bound) below 2^31, every total shift t = 15 - shift in 17..32 (multipliers of 2^-17 up to 1/4); the fast
    multiplier is ``reduced << (32 - t)``, with TFLite's multiplier rounded to Q0.15 (``reduced``)."""
    if not p.wide:
        return None
    weights = np.asarray(graph.tensor(op.inputs[1]).data, dtype=np.int64)
    per_channel = weights.reshape(-1, weights.shape[3]) if depthwise else weights.reshape(weights.shape[0], -1).T
    bias = bias_16x8(graph, op, depthwise)
    bias = np.zeros(per_channel.shape[1], np.int64) if bias is None else bias
    bound = np.abs(per_channel).sum(axis=0) * 32768 + np.abs(bias)
    total = 15 - p.shift.astype(np.int64)
    if bound.max() >= 1 << 31 or np.any((total < 17) | (total > 32)):
        return None
    m = p.multiplier.astype(np.int64)
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    return np.stack([bias, reduced << (32 - total)], axis=1).astype(np.int32)


def requant_args_16x8(ctx: Any, op: Op, p: ConvParams, stem: str, depthwise: bool) -> tuple[str, ...]:
    """The C arguments of tg_conv_s16 / tg_depthwise_s16 after the weights: the bias as int64 (an int32 bias widened,
    its sums still wrapped by the kernel: ``wide`` 0), the per-channel multipliers and shifts, the pairs of
    :func:`fast_requant_16x8` and ``wide``. With the pairs, the kernels need nothing else (null pointers); without,
    a null pointer for them (and for a missing bias)."""
    from tinygen.lowering.base import QUANT, WEIGHTS

    fast = fast_requant_16x8(ctx.graph, op, p, depthwise)
    if fast is not None:
        pairs = ctx.const_array(f"{stem}_fast", fast, "int32_t", {WEIGHTS: 4 * len(fast), QUANT: 4 * len(fast)})
        return "(const int64_t *)0", "(const int32_t *)0", "(const int32_t *)0", pairs, "1"
    bias = bias_16x8(ctx.graph, op, depthwise)
    return (ctx.const_array(f"{stem}_bias64", bias, "int64_t", WEIGHTS) if bias is not None else "(const int64_t *)0",
            ctx.const_array(f"{stem}_mult", p.multiplier, "int32_t", QUANT),
            ctx.const_array(f"{stem}_shift", p.shift, "int32_t", QUANT), "(const int32_t *)0", "1" if p.wide else "0")
