"""Integer parameters of each op, derived from the IR's float32 scales exactly as TFLite Micro's
kernels compute them in their Prepare functions.

``op_params(graph, op, rounding="double")`` returns one frozen dataclass per op kind. Both the
numpy reference (:mod:`tinygen.reference`) and the C code generator consume these, so the two can
never disagree about a multiplier.

Conventions (TFLite's, and tg_common.h's):

* ``multiplier``/``shift`` pairs come from :func:`tinygen.numerics.quantize_multiplier`: Q0.31
  multiplier in [2^30, 2^31) (or 0), ``shift`` > 0 shifts left, < 0 shifts right, and
  ``requantize(x) = MultiplyByQuantizedMultiplier(x, multiplier, shift)``.
* ``input_offset`` is ``-input_zero_point`` (added to each input value); ``output_offset`` is
  ``+output_zero_point`` (added after requantization); then the result is clamped to
  ``[act_min, act_max]`` (the fused activation's range, CalculateActivationRangeQuantized).
* Per-channel arrays are read-only ``np.int32`` arrays, one entry per output channel.
* The ``rounding`` argument only changes the parameters where TFLite's ``TFLITE_SINGLE_ROUNDING``
  build changes them (QuantizeMultiplier's shift > 30 saturation, softmax's multiplier cap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op, Tensor, conv_output_size

_INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.int32)
    a.setflags(write=False)
    return a


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


@dataclass(frozen=True)
class FullyConnectedParams:
    """fully_connected: ``acc = sum((w + weights_offset) * (x + input_offset)) + bias[o]``, then
    ``requantize(acc, multiplier[o or 0], shift[o or 0]) + output_offset`` clamped.

    ``per_channel`` False: ``multiplier``/``shift`` have one element (per-tensor weights,
    GetQuantizedConvolutionMultipler); True: one per output unit.
    Input is flattened to ``[batch, in_features]`` with ``in_features = weights.shape[1]``.
    """

    input_offset: int
    weights_offset: int
    output_offset: int
    multiplier: np.ndarray
    shift: np.ndarray
    per_channel: bool
    act_min: int
    act_max: int
    has_bias: bool
    in_features: int
    out_features: int


@dataclass(frozen=True)
class AddParams:
    """add (TFLite's ArithmeticParams for int8 ADD). Per element::

        a = (x1 + input1_offset) << left_shift;  b = (x2 + input2_offset) << left_shift
        a = requantize(a, input1_multiplier, input1_shift)   # shifts are <= 0
        b = requantize(b, input2_multiplier, input2_shift)
        out = clamp(requantize(a + b, output_multiplier, output_shift) + output_offset)
    """

    input1_offset: int
    input2_offset: int
    output_offset: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class MulParams:
    """mul: ``out = clamp(requantize((x1 + input1_offset) * (x2 + input2_offset), output_multiplier,
    output_shift) + output_offset)``."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


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


@dataclass(frozen=True)
class MeanParams:
    """mean over ``axes`` (TFLite Micro's int8 MEAN, QuantizedMeanOrSum):
    ``s = sum(x) - input_zero_point * n`` (int32), ``out = clamp(requantize(s, multiplier, shift) +
    output_zero_point)``, where ``multiplier``/``shift`` already include the 1/n factor exactly as
    TFLite Micro folds it in (shift by floor(log2 n), then integer-divide the multiplier by n).

    ``same_quantization`` is always False: the TFLite Micro we match requantizes even when input and
    output quantization are equal (an older truncating ``sum / n`` shortcut gives different results,
    measured against the interpreter). The field is kept so existing consumers keep compiling.
    """

    axes: tuple[int, ...]
    keep_dims: bool
    num_elements: int
    same_quantization: bool
    input_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int


@dataclass(frozen=True)
class SoftmaxParams:
    """softmax int8 -> int8 (output scale 1/256, zero point -128), over the last axis.

    ``input_multiplier``/``input_left_shift`` rescale ``x - max`` into Q5.26
    (MultiplyByQuantizedMultiplierGreaterThanOne); differences below ``diff_min`` give -128.
    """

    input_multiplier: int
    input_left_shift: int
    diff_min: int


@dataclass(frozen=True)
class ReluParams:
    """relu op (TFLite Micro's ReluQuantized, it requantizes):
    ``out = clamp(output_offset + requantize(x - input_zero_point, multiplier, shift))``."""

    input_zero_point: int
    output_offset: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class Relu6Params:
    """relu6 op (TFLite Micro's Relu6Quantized: no requantization):
    ``out = min(max(x, zero), six)`` in the input's quantization."""

    zero: int
    six: int


@dataclass(frozen=True)
class QuantizeParams:
    """quantize. ``mode`` "affine" (float32 -> int): ``out = clamp(roundf(x / scale) + zero_point)``
    with a float32 division and round half away from zero (AffineQuantize). ``mode`` "requantize"
    (int -> int, reference_ops::Requantize): ``out = clamp(requantize(x - input_zero_point,
    multiplier, shift) + output_zero_point)``. Clamp range ``[qmin, qmax]`` of the output type."""

    mode: str
    scale: float
    input_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int
    qmin: int
    qmax: int


@dataclass(frozen=True)
class DequantizeParams:
    """dequantize: ``out = float32(scale * (x - zero_point))`` with ``scale`` as float64."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class PadParams:
    """pad: ``paddings`` ((before, after) per dimension); padded elements hold ``pad_value``
    (the output zero point, i.e. real 0.0). Input bytes are copied unchanged."""

    paddings: tuple[tuple[int, int], ...]
    pad_value: int


@dataclass(frozen=True)
class ConcatParams:
    """concatenation: a byte copy along ``axis`` (non-negative); all quantizations are equal."""

    axis: int


@dataclass(frozen=True)
class ReshapeParams:
    """reshape: a byte copy (or no-op in place)."""


OpParams = Union[
    ConvParams, FullyConnectedParams, AddParams, MulParams, PoolParams, MeanParams, SoftmaxParams,
    ReluParams, Relu6Params, QuantizeParams, DequantizeParams, PadParams, ConcatParams, ReshapeParams,
]


# --------------------------------------------------------------------------- helpers


def _where(op: Op) -> str:
    return f"{op.kind} op {op.name!r}"


def _qp(tensor: Tensor, op: Op) -> tuple[float, int]:
    """(float32 scale, zero point) of a per-tensor quantized tensor."""
    if tensor.quant is None:
        raise UnsupportedError(
            f"{_where(op)}: tensor {tensor.name!r} ({tensor.dtype}, shape {tensor.shape}) has no quantization; "
            "tinygen runs int8-quantized models only: quantize the model (full-integer int8)"
        )
    _check_scales(tensor, op)
    if tensor.quant.scale.size != 1:
        raise UnsupportedError(
            f"{_where(op)}: tensor {tensor.name!r} is per-channel quantized ({tensor.quant.scale.size} scales), "
            "only weights may be: use per-tensor quantization for activations"
        )
    return float(tensor.quant.scale[0]), int(tensor.quant.zero_point[0])


def _check_scales(tensor: Tensor, op: Op) -> None:
    scales = tensor.quant.scale if tensor.quant is not None else np.ones(1, np.float32)
    if not np.all(np.isfinite(scales) & (scales > 0)):
        raise TinygenError(
            f"{_where(op)}: tensor {tensor.name!r} has quantization scale(s) {scales.tolist()[:4]}; scales must be "
            "finite and positive: re-quantize the model"
        )


def _require_int8(tensor: Tensor, op: Op) -> None:
    if tensor.dtype != "int8":
        raise UnsupportedError(
            f"{_where(op)}: tensor {tensor.name!r} is {tensor.dtype} (shape {tensor.shape}); this op runs on int8 only: "
            "convert the model with full-integer int8 quantization"
        )


def _require_const(graph: Graph, op: Op, first: int) -> None:
    """Weights and bias (inputs from ``first`` on) must be constant tensors."""
    for name in op.inputs[first:]:
        t = graph.tensor(name)
        if not t.is_const:
            raise UnsupportedError(
                f"{_where(op)}: tensor {name!r} (shape {t.shape}) is computed at run time; tinygen needs constant "
                "weights and biases: freeze them into the model"
            )


def _act_range(op: Op, out: Tensor) -> tuple[int, int]:
    scale, zp = _qp(out, op)
    qmin, qmax = _INT_RANGES["int8"]
    return numerics.activation_range(op.activation, scale, zp, qmin, qmax)


def _mult(real: float, op: Op, what: str, rounding: numerics.Rounding) -> tuple[int, int]:
    if not np.isfinite(real) or real < 0:
        raise TinygenError(f"{_where(op)}: {what} scale ratio {real!r} is not a finite non-negative number: fix the tensor scales")
    return numerics.quantize_multiplier(real, rounding)


# --------------------------------------------------------------------------- per kind


def _weighted_op_tensors(graph: Graph, op: Op) -> tuple[Tensor, Tensor, Tensor, tuple[float, int], tuple[float, int]]:
    """Input, weights and output of a conv/depthwise/fully connected op, checked int8 with constant
    quantized weights; plus the input's and output's (scale, zero point)."""
    x, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    out = graph.tensor(op.outputs[0])
    for t in (x, w, out):
        _require_int8(t, op)
    _require_const(graph, op, 1)
    if w.quant is None:
        raise UnsupportedError(f"{_where(op)}: weights {w.name!r} are not quantized: quantize the model to int8")
    _check_scales(w, op)
    return x, w, out, _qp(x, op), _qp(out, op)


def _conv(graph: Graph, op: Op, rounding: numerics.Rounding) -> ConvParams:
    x, w, out, (in_scale, in_zp), (out_scale, out_zp) = _weighted_op_tensors(graph, op)
    depthwise = op.kind == "depthwise_conv2d"
    out_c = w.shape[3] if depthwise else w.shape[0]
    scales = w.quant.scale
    if scales.size not in (1, out_c):
        raise TinygenError(
            f"{_where(op)}: weights {w.name!r} shape {w.shape} have {scales.size} scales for {out_c} output channels: "
            "use one scale per output channel or one per tensor"
        )
    # PopulateConvolutionQuantizationParams: double(input) * double(filter[c]) / double(output).
    reals = [float(np.float32(in_scale)) * float(scales[c if scales.size > 1 else 0]) / float(np.float32(out_scale)) for c in range(out_c)]
    mult, shift = numerics.quantize_multiplier_array(np.array(reals), rounding)
    act_min, act_max = _act_range(op, out)
    sh, sw = (int(v) for v in op.attrs["stride"])
    dh, dw = (int(v) for v in op.attrs["dilation"])
    _, pad_top = conv_output_size(x.shape[1], w.shape[1], sh, dh, op.attrs["padding"])
    _, pad_left = conv_output_size(x.shape[2], w.shape[2], sw, dw, op.attrs["padding"])
    if depthwise:
        mult_d = int(op.attrs["depth_multiplier"])
        if mult_d < 1 or x.shape[3] * mult_d != out_c:
            raise TinygenError(
                f"{_where(op)}: input {x.name!r} has {x.shape[3]} channels, weights {w.shape} need "
                f"{out_c} = channels x depth_multiplier {mult_d}: fix the depth multiplier"
            )
    else:
        mult_d = 1
        if w.shape[3] != x.shape[3]:
            raise TinygenError(f"{_where(op)}: input {x.name!r} has {x.shape[3]} channels, weights {w.shape} expect {w.shape[3]}")
    return ConvParams(
        input_offset=-in_zp, output_offset=out_zp, multiplier=_ro(mult), shift=_ro(shift),
        act_min=act_min, act_max=act_max, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
        pad_top=pad_top, pad_left=pad_left, depth_multiplier=mult_d, has_bias=len(op.inputs) > 2,
    )


def _fully_connected(graph: Graph, op: Op, rounding: numerics.Rounding) -> FullyConnectedParams:
    x, w, out, (in_scale, in_zp), (out_scale, out_zp) = _weighted_op_tensors(graph, op)
    out_f, in_f = w.shape
    if x.size % in_f != 0:
        raise TinygenError(f"{_where(op)}: input {x.name!r} shape {x.shape} cannot be flattened to rows of {in_f} features")
    scales = w.quant.scale
    per_channel = scales.size > 1
    if per_channel:
        if scales.size != out_f:
            raise TinygenError(f"{_where(op)}: weights {w.name!r} shape {w.shape} have {scales.size} scales for {out_f} outputs")
        reals = np.array([float(np.float32(in_scale)) * float(s) / float(np.float32(out_scale)) for s in scales])
    else:
        # GetQuantizedConvolutionMultipler: double(input) * double(filter) / double(output)
        product = float(np.float32(in_scale)) * float(scales[0])
        reals = np.array([product / float(np.float32(out_scale))])
        bias = graph.tensor(op.inputs[2]) if len(op.inputs) > 2 else None
        if bias is not None and bias.quant is not None:
            # TFLite Micro refuses (at allocation) a bias scale far from input * filter scale.
            bias_scale = float(bias.quant.scale[0])
            if abs(product - bias_scale) / float(np.float32(out_scale)) > 0.02:
                raise TinygenError(
                    f"{_where(op)}: bias {bias.name!r} has scale {bias_scale:g} but input x weight scale is "
                    f"{product:g} (output scale {out_scale:g}); TFLite requires bias scale = input scale x weight "
                    "scale: re-quantize the model"
                )
    mult, shift = numerics.quantize_multiplier_array(reals, rounding)
    w_zp = int(w.quant.zero_point[0])
    act_min, act_max = _act_range(op, out)
    return FullyConnectedParams(
        input_offset=-in_zp, weights_offset=-w_zp, output_offset=out_zp, multiplier=_ro(mult), shift=_ro(shift),
        per_channel=per_channel, act_min=act_min, act_max=act_max, has_bias=len(op.inputs) > 2,
        in_features=in_f, out_features=out_f,
    )


def _add(graph: Graph, op: Op, rounding: numerics.Rounding) -> AddParams:
    a, b, out = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    for t in (a, b, out):
        _require_int8(t, op)
    (s1, z1), (s2, z2), (so, zo) = _qp(a, op), _qp(b, op), _qp(out, op)
    left_shift = 20
    # max of the float32 scales, then doubled in double precision (CalculateOpDataAdd)
    twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
    try:
        m1, sh1 = numerics.quantize_multiplier_smaller_than_one(float(np.float32(s1)) / twice_max, rounding)
        m2, sh2 = numerics.quantize_multiplier_smaller_than_one(float(np.float32(s2)) / twice_max, rounding)
        mo, sho = numerics.quantize_multiplier_smaller_than_one(twice_max / (float(1 << left_shift) * float(np.float32(so))), rounding)
    except ValueError as exc:
        raise TinygenError(
            f"{_where(op)}: scales {s1:g}, {s2:g} -> {so:g} cannot be requantized by TFLite's int8 ADD ({exc}): "
            "the output scale is far too small for the inputs; re-quantize the model"
        ) from None
    act_min, act_max = _act_range(op, out)
    return AddParams(
        input1_offset=-z1, input2_offset=-z2, output_offset=zo, left_shift=left_shift,
        input1_multiplier=m1, input1_shift=sh1, input2_multiplier=m2, input2_shift=sh2,
        output_multiplier=mo, output_shift=sho, act_min=act_min, act_max=act_max,
    )


def _mul(graph: Graph, op: Op, rounding: numerics.Rounding) -> MulParams:
    a, b, out = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    for t in (a, b, out):
        _require_int8(t, op)
    (s1, z1), (s2, z2), (so, zo) = _qp(a, op), _qp(b, op), _qp(out, op)
    real = float(np.float32(s1)) * float(np.float32(s2)) / float(np.float32(so))
    m, sh = _mult(real, op, "input1*input2/output", rounding)
    act_min, act_max = _act_range(op, out)
    return MulParams(input1_offset=-z1, input2_offset=-z2, output_offset=zo, output_multiplier=m, output_shift=sh,
                     act_min=act_min, act_max=act_max)


def _pool(graph: Graph, op: Op, rounding: numerics.Rounding) -> PoolParams:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _require_int8(x, op)
    _require_int8(out, op)
    fh, fw = (int(v) for v in op.attrs["filter"])
    sh, sw = (int(v) for v in op.attrs["stride"])
    _, pad_top = conv_output_size(x.shape[1], fh, sh, 1, op.attrs["padding"])
    _, pad_left = conv_output_size(x.shape[2], fw, sw, 1, op.attrs["padding"])
    act_min, act_max = _act_range(op, out)
    return PoolParams(filter_h=fh, filter_w=fw, stride_h=sh, stride_w=sw, pad_top=pad_top, pad_left=pad_left,
                      act_min=act_min, act_max=act_max)


def _mean(graph: Graph, op: Op, rounding: numerics.Rounding) -> MeanParams:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _require_int8(x, op)
    _require_int8(out, op)
    (si, zi), (so, zo) = _qp(x, op), _qp(out, op)
    rank = len(x.shape)
    axes: list[int] = []
    for a in op.attrs["axes"]:
        a = int(a)
        if not -rank <= a < rank:
            raise TinygenError(f"{_where(op)}: axis {a} is out of range for input {x.name!r} of shape {x.shape}")
        a = a + rank if a < 0 else a
        if a not in axes:
            axes.append(a)
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64)) if axes else 1
    mult, shift = numerics.quantize_multiplier(float(np.float32(si)) / float(np.float32(so)), rounding)
    if n > 0:
        # QuantizedMeanOrSum folds 1/n into the multiplier: shift = floor(log2 n), clamped.
        extra = min(n.bit_length() - 1, 32, 31 + shift)
        mult = (mult << extra) // n
        shift = shift - extra
    return MeanParams(axes=tuple(axes), keep_dims=bool(op.attrs["keep_dims"]), num_elements=n, same_quantization=False,
                      input_zero_point=zi, output_zero_point=zo, multiplier=int(mult), shift=int(shift))


def _softmax(graph: Graph, op: Op, rounding: numerics.Rounding) -> SoftmaxParams:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _require_int8(x, op)
    _require_int8(out, op)
    si, _ = _qp(x, op)
    so, zo = _qp(out, op)
    if zo != -128 or np.float32(so) != np.float32(1.0 / 256):
        raise TinygenError(
            f"{_where(op)}: output {out.name!r} has scale {so!r}, zero point {zo}; TFLite's int8 softmax needs "
            "scale 1/256 and zero point -128: re-quantize the model (the TFLite converter does this)"
        )
    beta = float(op.attrs["beta"])
    m, ls, diff_min = numerics.softmax_input_params(beta, si, rounding)
    return SoftmaxParams(input_multiplier=m, input_left_shift=ls, diff_min=diff_min)


def _relu(graph: Graph, op: Op, rounding: numerics.Rounding) -> ReluParams:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _require_int8(x, op)
    _require_int8(out, op)
    (si, zi), (so, zo) = _qp(x, op), _qp(out, op)
    m, sh = _mult(float(np.float32(si)) / float(np.float32(so)), op, "input/output", rounding)
    act_min, act_max = numerics.activation_range("relu", so, zo)
    return ReluParams(input_zero_point=zi, output_offset=zo, multiplier=m, shift=sh, act_min=act_min, act_max=act_max)


def _relu6(graph: Graph, op: Op, rounding: numerics.Rounding) -> Relu6Params:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _require_int8(x, op)
    _require_int8(out, op)
    si, zi = _qp(x, op)
    # FloatToQuantizedType<int8_t>(6.0f, scale, zero_point): float32 division, round, clamp.
    q = float(np.float32(6.0) / np.float32(si))
    six = int(np.clip(int(numerics.round_half_away(q)) + zi, -128, 127))
    return Relu6Params(zero=zi, six=six)


def _quantize(graph: Graph, op: Op, rounding: numerics.Rounding) -> QuantizeParams:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if out.dtype not in ("int8", "uint8"):
        raise UnsupportedError(f"{_where(op)}: output {out.name!r} is {out.dtype}; tinygen quantizes to int8 (or uint8) only")
    so, zo = _qp(out, op)
    qmin, qmax = _INT_RANGES[out.dtype]
    if x.dtype == "float32":
        return QuantizeParams(mode="affine", scale=float(np.float32(so)), input_zero_point=0, output_zero_point=zo,
                              multiplier=0, shift=0, qmin=qmin, qmax=qmax)
    if x.dtype in ("int8", "uint8") and (x.dtype, out.dtype) != ("uint8", "uint8"):
        si, zi = _qp(x, op)
        m, sh = _mult(float(np.float32(si)) / float(np.float32(so)), op, "input/output", rounding)
        return QuantizeParams(mode="requantize", scale=float(np.float32(so)), input_zero_point=zi, output_zero_point=zo,
                              multiplier=m, shift=sh, qmin=qmin, qmax=qmax)
    raise UnsupportedError(f"{_where(op)}: quantize from {x.dtype} to {out.dtype} is not supported (float32/int8 -> int8)")


def _dequantize(graph: Graph, op: Op, rounding: numerics.Rounding) -> DequantizeParams:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if x.dtype not in ("int8", "uint8") or out.dtype != "float32":
        raise UnsupportedError(f"{_where(op)}: dequantize from {x.dtype} to {out.dtype} is not supported (int8 -> float32)")
    si, zi = _qp(x, op)
    return DequantizeParams(scale=float(np.float32(si)), zero_point=zi)


def _pad(graph: Graph, op: Op, rounding: numerics.Rounding) -> PadParams:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _require_int8(x, op)
    _require_int8(out, op)
    paddings = tuple((int(b), int(a)) for b, a in op.attrs["paddings"])
    if len(paddings) != len(x.shape) or any(b < 0 or a < 0 for b, a in paddings):
        raise TinygenError(f"{_where(op)}: paddings {paddings} do not fit input {x.name!r} of shape {x.shape}")
    _, zo = _qp(out, op)
    return PadParams(paddings=paddings, pad_value=zo)


def _concat(graph: Graph, op: Op, rounding: numerics.Rounding) -> ConcatParams:
    out = graph.tensor(op.outputs[0])
    _require_int8(out, op)
    if op.activation != "none":
        raise UnsupportedError(f"{_where(op)}: fused activation {op.activation!r} on CONCATENATION is not supported by TFLite Micro")
    so, zo = _qp(out, op)
    for name in op.inputs:
        t = graph.tensor(name)
        _require_int8(t, op)
        si, zi = _qp(t, op)
        if np.float32(si) != np.float32(so) or zi != zo:
            raise TinygenError(
                f"{_where(op)}: input {name!r} has scale {si!r}, zero point {zi} but output {out.name!r} has scale "
                f"{so!r}, zero point {zo}; TFLite Micro's int8 concatenation copies bytes and needs equal "
                "quantization: re-quantize with one shared scale (the TFLite converter does this)"
            )
    rank = len(out.shape)
    axis = int(op.attrs["axis"])
    if not -rank <= axis < rank:
        raise TinygenError(f"{_where(op)}: axis {axis} is out of range for output shape {out.shape}")
    return ConcatParams(axis=axis + rank if axis < 0 else axis)


def _reshape(graph: Graph, op: Op, rounding: numerics.Rounding) -> ReshapeParams:
    return ReshapeParams()


_BUILDERS = {
    "conv2d": _conv, "depthwise_conv2d": _conv, "fully_connected": _fully_connected, "add": _add, "mul": _mul,
    "max_pool2d": _pool, "avg_pool2d": _pool, "mean": _mean, "softmax": _softmax, "relu": _relu, "relu6": _relu6,
    "quantize": _quantize, "dequantize": _dequantize, "pad": _pad, "concatenation": _concat, "reshape": _reshape,
}


def op_params(graph: Graph, op: Op, rounding: numerics.Rounding = "double") -> OpParams:
    """The integer parameters of ``op`` (see the dataclasses above), as TFLite Micro derives them."""
    numerics.check_rounding(rounding)
    from tinygen import ops

    defn = ops.find(op.kind)
    if defn is not None and defn.params is not None:
        return defn.params(graph, op, rounding)
    builder = _BUILDERS.get(op.kind)
    if builder is None:
        raise UnsupportedError(f"op {op.name!r}: op kind {op.kind!r} is not supported by tinygen")
    return builder(graph, op, rounding)
