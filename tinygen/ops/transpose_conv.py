"""TRANSPOSE_CONV (Keras Conv2DTranspose): int8 NHWC transposed convolution with OHWI weights
``[out_c, kh, kw, in_c]``, per-channel (or per-tensor) weight scales, an optional int32 bias and a fused
activation; bit-exact with TFLite Micro's int8 TRANSPOSE_CONV.

TFLite Micro (kernels/transpose_conv.cc, reference_integer_ops::TransposeConv):

* The operands are (output_shape, weights, input, bias); TFLite Micro ignores output_shape (input 0) and
  takes the output size from the output tensor. tinygen keeps that size as the ``output_size`` attribute.
* Prepare: ``ComputePaddingHeightWidth(stride, dilation 1, output size, filter size, padding)``: the padding
  of the *forward* convolution whose input is the transposed convolution's output (conv's computation with
  the output size in the input's place): ``pad = max((conv_out - 1) * stride + k - out, 0) / 2`` with
  ``conv_out`` the SAME/VALID output size of ``out``; ``PopulateConvolutionQuantizationParams`` with the
  options' fused activation (per-channel multipliers ``input_scale * weight_scale[c] / output_scale``).
  tinygen requires ``conv_out`` to be the input size (TensorFlow's own rule for a transposed convolution;
  every converter-made model obeys it), which also makes VALID's padding 0.
* Eval scatters: every input pixel (iy, ix) and tap (ky, kx) adds ``(x + input_offset) * w[c, ky, kx, :]``
  to output pixel ``(iy * sh - pad_top + ky, ix * sw - pad_left + kx)`` when it lies inside the output
  (int32 scratch of the output's size); then per element ``acc + bias[c]``,
  ``MultiplyByQuantizedMultiplier(acc, multiplier[c], shift[c]) + output_offset``, clamped to the activation.

Taps outside the input contribute nothing (not ``w * input_offset``). tinygen's kernels gather instead of
scattering, as ``stride_h * stride_w`` ordinary convolutions: output row oy receives exactly the taps
``ky = ry, ry + sh, ...`` (``ry = (oy + pad_top) % sh``) from input rows ``q, q - 1, ...`` (``q = (oy + pad_top)
// sh``), columns alike, so the outputs of one phase (ry, rx) are a stride-1 convolution of the input with the
phase's flipped sub-kernel (:func:`phases`), taps outside the image padded with the input zero point. The input
offset then folds into a per-phase bias (``bias + input_offset * sum(sub-kernel)``: a pad adds ``(zp +
input_offset) * w = 0``), and each phase runs the convolution GEMM (tg_conv_gemm_s8: SMLAD over channel pairs,
three output pixels per block) or, on Helium, VMLADAVA over the quad layout (tg_transpose_conv_mve_s8). The
int32 sum is TFLite Micro's in another order: exact, because every partial sum fits (checked: ``|bias| + 256 *
sum|w[c]| <= INT32_MAX``, the folded bias and the raw products together).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op, Tensor, conv_output_size
from tinygen.lowering.base import QUANT, WEIGHTS, KernelCall, LoweringContext
from tinygen.lowering.mac_common import _folded_bias, _weights, rq_values
from tinygen.lowering.mac_ops import (
    CONV_COLS,
    _gemm_params,
    _pair_layout,
    block_int16,
    gemm_variants,
)
from tinygen.lowering.mve_ops import (
    STEP,
    _quad_params_kinds,
    _round_up,
    _vector_requant_ok,
    quad_layout,
    quad_params,
)
from tinygen.ops import common, conv_common
from tinygen.ops.base import (
    ACTIVATION,
    MAX_WINDOW,
    Attr,
    OpDef,
    QatHooks,
    TfliteMapping,
    positive_pair,
)
from tinygen.ops.conv_common import INT32_MAX, ConvParams

KIND = "transpose_conv"
KERNEL = "tg_transpose_conv_s8"
KERNEL_MVE = "tg_transpose_conv_mve_s8"
#: the output's (height, width): TFLite Micro takes it from the output tensor, not from the op's inputs
OUTPUT_SIZE = Attr("output_size", positive_pair)
#: largest |x + input_offset| of an int8 input
MAX_OFFSET_INPUT = 255
#: the kernels' intermediate sums: the folded bias (up to 128 x sum|w| from the input offset) plus raw int8
#: products (up to 128 x sum|w|), so |bias| + 256 x sum|w| must fit int32 (the portable C sum must not overflow)
MAX_INTERMEDIATE_FACTOR = 256


# --------------------------------------------------------------------------- shapes and checks


def _structure(graph: Graph, op: Op) -> tuple[Tensor, Tensor, int]:
    """Input, weights and output channel count, checked against each other (float and int8 graphs alike)."""
    where = common.where(op)
    x, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    if len(x.shape) != 4:
        raise TinygenError(f"{where}: input {x.name!r} has shape {x.shape}; a transposed convolution needs an NHWC "
                           "input (rank 4)")
    if len(w.shape) != 4:
        raise TinygenError(f"{where}: weights {w.name!r} have shape {w.shape}; they must be OHWI [out_c, kh, kw, "
                           "in_c] (rank 4)")
    out_c, kh, kw, w_in = w.shape
    if w_in != x.shape[3]:
        raise TinygenError(f"{where}: weights {w.name!r} of shape {w.shape} have depth {w_in} but input {x.name!r} "
                           f"has {x.shape[3]} channels: OHWI weights [out_c, kh, kw, in_c] need in_c = {x.shape[3]}")
    if not (1 <= kh <= MAX_WINDOW and 1 <= kw <= MAX_WINDOW):
        raise TinygenError(f"{where}: filter {kh}x{kw} is outside 1..{MAX_WINDOW} pixels: fix or re-export the model")
    if len(op.inputs) > 2:
        b = graph.tensor(op.inputs[2])
        if b.size != out_c:
            raise TinygenError(f"{where}: bias {b.name!r} of shape {b.shape} has {b.size} values for {out_c} output "
                               "channels: give one bias per output channel")
    return x, w, out_c


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    """(N, output_size, out_c), where the input must be the size a convolution of the output with the same
    filter, stride and padding gives (TensorFlow's rule; TFLite Micro's padding assumes it)."""
    x, w, out_c = _structure(graph, op)
    n, h, wd, _ = x.shape
    (oh, ow), (sh, sw), padding = op.attrs["output_size"], op.attrs["stride"], op.attrs["padding"]
    for what, size, k, s, got in (("height", oh, w.shape[1], sh, h), ("width", ow, w.shape[2], sw, wd)):
        want, _ = conv_output_size(size, k, s, 1, padding)
        if want != got:
            raise TinygenError(
                f"{common.where(op)}: output {what} {size} does not fit input {x.name!r} of shape {x.shape} with "
                f"filter {w.shape[1]}x{w.shape[2]}, stride {sh}x{sw} and {padding!r} padding: a convolution of the "
                f"output would have {what} {want}, not {got}; a transposed convolution's output {what} must be one "
                "whose convolution gives the input's: fix or re-export the model"
            )
    return (n, oh, ow, out_c)


def check(graph: Graph, op: Op) -> None:
    """The int8 graph's checks: types, constant quantized weights and bias, scale counts and axis, TFLite's
    requantization range, and no int32 overflow in the accumulators."""
    where = common.where(op)
    x, w, out_c = _structure(graph, op)
    out = graph.tensor(op.outputs[0])
    for t in (x, w, out):
        common.require_int8(t, op)
    common.require_const(graph, op, 1)
    if w.quant is None:
        raise UnsupportedError(f"{where}: weights {w.name!r} are not quantized: quantize the model to int8")
    common.check_scales(w, op)
    common.check_zero_points(w, op)
    scales = w.quant.scale.size
    if scales not in (1, out_c):
        raise TinygenError(f"{where}: weights {w.name!r} shape {w.shape} have {scales} scales for {out_c} output "
                           "channels: use one scale per output channel or one per tensor")
    if scales > 1 and w.quant.axis != conv_common.CONV_AXIS:
        raise TinygenError(f"{where}: weights {w.name!r} shape {w.shape} are quantized per channel along axis "
                           f"{w.quant.axis}; this op's output channels are axis {conv_common.CONV_AXIS}: re-quantize "
                           "the model")
    bias = np.zeros(out_c, np.int64)
    if len(op.inputs) > 2:
        b = graph.tensor(op.inputs[2])
        if b.dtype != "int32":
            raise UnsupportedError(f"{where}: bias {b.name!r} is {b.dtype} (shape {b.shape}); an int8 transposed "
                                   "convolution needs an int32 bias: convert the model with int8 quantization")
        bias = np.asarray(b.data, dtype=np.int64).reshape(-1)
    common.qp(x, op)
    magnitudes = np.abs(np.asarray(w.data, dtype=np.int64)).reshape(out_c, -1).sum(axis=1)
    bound = np.abs(bias) + MAX_INTERMEDIATE_FACTOR * magnitudes
    bad = np.flatnonzero(bound > INT32_MAX)
    if bad.size:
        c = int(bad[0])
        raise TinygenError(
            f"{where}: output channel {c} (bias {int(bias[c])}, weights of magnitude sum {int(magnitudes[c])}) can "
            f"overflow the int32 accumulator (|{int(bias[c])}| + {MAX_INTERMEDIATE_FACTOR} x {int(magnitudes[c])} > "
            f"{INT32_MAX}): a bias this large is corrupt; re-quantize the model"
        )
    conv_common._check_requantization(graph, op, False)


# --------------------------------------------------------------------------- integer parameters


def padding_before(out_size: int, k: int, stride: int, padding: str) -> int:
    """TFLite Micro's ComputePaddingHeightWidth with the output size as the image size (dilation 1)."""
    conv_out, _ = conv_output_size(out_size, k, stride, 1, padding)
    return max((conv_out - 1) * stride + k - out_size, 0) // 2


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> ConvParams:
    """TFLite Micro's Prepare: per-channel multipliers (PopulateConvolutionQuantizationParams with the options'
    activation), activation range, padding from the output size."""
    check(graph, op)
    x, w, out = (graph.tensor(n) for n in (op.inputs[0], op.inputs[1], op.outputs[0]))
    _, in_zp = common.qp(x, op)
    _, out_zp = common.qp(out, op)
    mult, shift = numerics.quantize_multiplier_array(conv_common._real_multipliers(graph, op, False), rounding)
    act_min, act_max = common.act_range(op, out)
    (sh, sw), (oh, ow) = op.attrs["stride"], op.attrs["output_size"]
    return ConvParams(
        input_offset=-in_zp, output_offset=out_zp, multiplier=common.ro(mult), shift=common.ro(shift),
        act_min=act_min, act_max=act_max, stride_h=int(sh), stride_w=int(sw), dilation_h=1, dilation_w=1,
        pad_top=padding_before(oh, w.shape[1], sh, op.attrs["padding"]),
        pad_left=padding_before(ow, w.shape[2], sw, op.attrs["padding"]),
        depth_multiplier=1, has_bias=len(op.inputs) > 2,
    )


# --------------------------------------------------------------------------- reference


def scatter(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], pads: tuple[int, int],
            out_hw: tuple[int, int]) -> np.ndarray:
    """TFLite's scatter: out[n, iy*sh - pad_top + ky, ix*sw - pad_left + kx, c] += x[n, iy, ix, :] . w[c, ky, kx, :]
    (outside the output: dropped), in float64 (exact for the integer operands of the int8 reference: every
    partial sum is an integer far below 2^53)."""
    n, h, wd, _ = x.shape
    out_c, kh, kw, _ = w.shape
    (sh, sw), (pt, pl), (oh, ow) = stride, pads, out_hw
    full_h, full_w = max((h - 1) * sh + kh, pt + oh), max((wd - 1) * sw + kw, pl + ow)
    buf = np.zeros((n, full_h, full_w, out_c), np.float64)
    xf = np.asarray(x, np.float64)
    for ky in range(kh):
        for kx in range(kw):
            contrib = xf @ np.asarray(w[:, ky, kx, :], np.float64).T  # (n, h, wd, out_c)
            buf[:, ky : ky + (h - 1) * sh + 1 : sh, kx : kx + (wd - 1) * sw + 1 : sw, :] += contrib
    return buf[:, pt : pt + oh, pl : pl + ow, :]


def accumulate(graph: Graph, op: Op, p: ConvParams, x: np.ndarray) -> np.ndarray:
    """The exact int64 accumulators ``sum over landing taps of (x + input_offset) * w + bias``."""
    w = np.asarray(graph.tensor(op.inputs[1]).data, dtype=np.int64)
    xo = np.asarray(x, dtype=np.int64) + p.input_offset
    acc = scatter(xo, w, (p.stride_h, p.stride_w), (p.pad_top, p.pad_left), op.attrs["output_size"])
    acc = acc.astype(np.int64)
    if p.has_bias:
        acc = acc + np.asarray(graph.tensor(op.inputs[2]).data, dtype=np.int64).reshape(-1)
    return acc


def reference(graph: Graph, op: Op, p: ConvParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return conv_common.from_accumulator(p, accumulate(graph, op, p, args[0]), rounding)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    x, w = np.asarray(inputs[0]), np.asarray(inputs[1])
    (oh, ow), (sh, sw), padding = op.attrs["output_size"], op.attrs["stride"], op.attrs["padding"]
    pads = (padding_before(oh, w.shape[1], sh, padding), padding_before(ow, w.shape[2], sw, padding))
    out = scatter(x, w, (sh, sw), pads, (oh, ow))
    return (out + conv_common.float_bias(inputs, w.shape[0])).astype(np.float32)


def _landing(in_size: int, k: int, stride: int, pad: int, out_size: int) -> int:
    """(input index, tap) pairs of one dimension that land inside the output."""
    return sum(1 for i in range(in_size) for t in range(k) if 0 <= i * stride - pad + t < out_size)


def macs(graph: Graph, op: Op) -> int:
    """Multiply-accumulates: every (input pixel, tap) pair landing in the output, times in_c x out_c."""
    x, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    (oh, ow), (sh, sw), padding = op.attrs["output_size"], op.attrs["stride"], op.attrs["padding"]
    ys = _landing(x.shape[1], w.shape[1], sh, padding_before(oh, w.shape[1], sh, padding), oh)
    xs = _landing(x.shape[2], w.shape[2], sw, padding_before(ow, w.shape[2], sw, padding), ow)
    return x.shape[0] * ys * xs * w.shape[0] * w.shape[3]


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    """TRANSPOSE_CONV's operands (output_shape, weights, input[, bias]); a constant output_shape must name the
    output tensor's shape (TFLite Micro ignores it and runs the output tensor's)."""
    shape_index, w, x, *rest = imp.inputs(raw, 3)
    in_c = imp.ranked(raw, x, 4, "input")[-1]
    out_c, _, _, w_in = imp.ranked(raw, w, 4, "weights")
    out_shape = imp.ranked(raw, raw.outputs[0], 4, "output")
    if w_in != in_c:
        raise UnsupportedError(f"{imp.where(raw)}: weights {imp.describe(w)} have depth {w_in} for an input of "
                               f"{in_c} channels: grouped transposed convolution is not supported")
    if shape_index >= 0 and imp.raw.tensors[shape_index].data is not None:
        declared = tuple(int(v) for v in imp.const(raw, shape_index, "output shape"))
        if declared != tuple(out_shape):
            raise TinygenError(f"{imp.where(raw)}: its output shape operand {imp.describe(shape_index)} says "
                               f"{list(declared)} but the output tensor has shape {list(out_shape)}: corrupt model, "
                               "re-export it")
    padding = raw.options["Padding"]
    if padding not in (tflite.Padding.SAME, tflite.Padding.VALID):
        raise TinygenError(f"{imp.where(raw)}: padding code {padding} is neither SAME ({tflite.Padding.SAME}) nor "
                           f"VALID ({tflite.Padding.VALID}): corrupt model, re-export it")
    stride = imp.stride(raw)
    if min(stride) < 1:
        raise TinygenError(f"{imp.where(raw)}: stride {stride} must be 1 or more (a model without its options table "
                           "reads as stride 0 in TFLite Micro): corrupt model, re-export it")
    ins = [imp.activation_tensor(raw, x), imp.weights(raw, w, out_c, conv_common.CONV_AXIS),
           *imp.bias(raw, rest[0] if rest else -1, out_c)]
    return Op(KIND, "", ins, [], {"stride": stride, "padding": imp.padding(raw),
                                  "output_size": (int(out_shape[1]), int(out_shape[2])),
                                  "activation": imp.activation(raw)})


OPTION_FIELDS: dict[str, Any] = {
    "Padding": tflite.Padding.SAME, "StrideH": 0, "StrideW": 0,
    "FusedActivationFunction": tflite.ActivationFunctionType.NONE,
}


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """Conv2DTranspose: kernel (kh, kw, out_c, in_c) -> OHWI; output size as Keras computes it (output_padding
    included), dilation 1 only."""
    from tinygen.quantize.layers import (
        _activation_name,
        _apply_activation,
        _channels_last,
        _np,
        _padding,
        _pair,
        _require_rank,
        layer_error,
        single_input,
    )

    x = single_input(layer, inputs)
    _channels_last(layer)
    _require_rank(layer, b, x, 4)
    cfg = layer.get_config()
    if _pair(cfg.get("dilation_rate", 1)) != (1, 1):
        raise layer_error(layer, f"dilation_rate={cfg['dilation_rate']} is not supported (TFLite's TRANSPOSE_CONV has "
                                 "no dilation); use dilation_rate=1")
    kernel = _np(layer.kernel)  # (kh, kw, out, in)
    weights = kernel.transpose(2, 0, 1, 3)  # OHWI
    bias = _np(layer.bias) if cfg["use_bias"] else np.zeros(weights.shape[0], np.float32)
    n, h, w, c = b.shape(x)
    shape = tuple(int(d) for d in layer.compute_output_shape((n, h, w, c)))
    out = b.op(KIND, layer.name, [x, b.const(f"{layer.name}/weights", weights), b.const(f"{layer.name}/bias", bias)],
               (n, shape[1], shape[2], weights.shape[0]), stride=_pair(cfg["strides"]), padding=_padding(layer),
               output_size=(shape[1], shape[2]), activation="none")
    return _apply_activation(b, layer, out, _activation_name(layer))


# --------------------------------------------------------------------------- lowering


def phases(weights: np.ndarray, stride: tuple[int, int]) -> list[np.ndarray]:
    """The sub-kernels of OHWI ``weights``, one per output phase (ry outer, rx inner): the taps ky = ry,
    ry + sh, ... and kx = rx, rx + sw, ..., flipped (window row m takes tap ry + (ny - 1 - m) * sh), so that
    phase (ry, rx) is an ordinary convolution of the input (tg_transpose_conv_s8.h); [out_c, 0, ...] when the
    stride exceeds the filter."""
    sh, sw = stride
    return [weights[:, ry::sh, rx::sw, :][:, ::-1, ::-1, :] for ry in range(sh) for rx in range(sw)]


def _tap_sums(weights: np.ndarray) -> np.ndarray:
    return weights.astype(np.int64).reshape(weights.shape[0], -1).sum(axis=1)


def _geometry(ctx: LoweringContext, op: Op) -> tuple[ConvParams, Tensor, Tensor, np.ndarray, list[np.ndarray]]:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    weights = _weights(ctx, op).data.astype(np.int8)
    return p, x, out, weights, phases(weights, (p.stride_h, p.stride_w))


def _args(ctx: LoweringContext, p: ConvParams, x: Tensor, out: Tensor, weights: np.ndarray, wsym: str,
          prm: str) -> tuple[str, ...]:
    n, h, wd, c = x.shape
    out_c, kh, kw, _ = weights.shape
    _, oh, ow, _ = out.shape
    return (ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c), wsym, str(kh), str(kw), prm,
            ctx.tensor_ptr(out.name), str(oh), str(ow), str(out_c), str(p.stride_h), str(p.stride_w),
            str(p.pad_top), str(p.pad_left), str(-p.input_offset), str(p.output_offset), str(p.act_min),
            str(p.act_max))


def _comment(p: ConvParams, x: Tensor, out: Tensor, weights: np.ndarray, op: Op, what: str) -> str:
    return (f"transpose conv {weights.shape[1]}x{weights.shape[2]} stride {p.stride_h}x{p.stride_w} pad "
            f"{p.pad_top},{p.pad_left} {x.shape} -> {out.shape} {op.activation}: {p.stride_h * p.stride_w} phase "
            f"convolutions{what}")


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    """tg_transpose_conv_s8: per phase the sub-kernel in tg_conv_gemm_s8's channel-pair layout (each phase
    16-byte aligned in one array) and tg_conv_gemm_s8's params with the phase's folded bias."""
    p, x, out, weights, subs = _geometry(ctx, op)
    out_c = weights.shape[0]
    rq, mode = rq_values(op, p, out_c)
    w_parts, prm_parts, variants = [], [], []
    for sub in subs:
        depth = sub[0].size
        prm_parts.append(_gemm_params(_folded_bias(ctx, op, _tap_sums(sub), p.input_offset), rq))
        if depth:
            w_parts.append(_pair_layout(sub.reshape(out_c, -1)))
            w_parts.append(np.zeros(-(out_c * depth) % 16, np.int8))
            variants += [v for v in gemm_variants(mode, depth, out_c) if v not in variants]
    prm_all = np.concatenate(prm_parts)
    wsym = ctx.const_array("tconv_w", np.concatenate(w_parts), "int8_t", WEIGHTS)
    prm = ctx.const_array("tconv_params", prm_all, "int32_t", {WEIGHTS: prm_all.nbytes // 4,
                                                               QUANT: prm_all.nbytes - prm_all.nbytes // 4})
    args = _args(ctx, p, x, out, weights, wsym, prm)
    args = (*args[:9], str(mode), *args[9:], f"(int16_t *)(void *){ctx.scratch_ptr()}")
    depth = max(sub[0].size for sub in subs)
    scratch = 2 * block_int16(depth) + _round_up(depth, 4) + CONV_COLS * out_c
    return KernelCall(KERNEL, args, ("tg_conv_gemm_s8",), scratch, _comment(p, x, out, weights, op, ""),
                      tuple(variants))


def lower_mve(ctx: LoweringContext, op: Op) -> KernelCall | None:
    """tg_transpose_conv_mve_s8 (Helium): per phase the sub-kernel in the quad layout and quad params with the
    phase's folded bias (tinygen/lowering/mve_ops.py); None for shifts VSHL/VRSHL cannot take."""
    p, x, out, weights, subs = _geometry(ctx, op)
    if not _vector_requant_ok(p.multiplier, p.shift):
        return None
    out_c = weights.shape[0]
    w_parts, prm_parts, has_left = [], [], False
    for sub in subs:
        quads, left = quad_params(_folded_bias(ctx, op, _tap_sums(sub), p.input_offset), p.multiplier, p.shift)
        prm_parts.append(quads)
        has_left |= left
        if sub[0].size:
            w_parts.append(quad_layout(sub.reshape(out_c, -1)))
    prm_all = np.concatenate(prm_parts)
    args = _args(ctx, p, x, out, weights, ctx.const_array("tconv_mve_w", np.concatenate(w_parts), "int8_t", WEIGHTS),
                 ctx.const_array("tconv_mve_p", prm_all, "int32_t", _quad_params_kinds(prm_all)))
    args = (*args, str(int(has_left)), ctx.scratch_ptr())
    scratch = _round_up(max(sub[0].size for sub in subs), STEP)
    return KernelCall(KERNEL_MVE, args, (), scratch, _comment(p, x, out, weights, op, " (MVE)"))


# --------------------------------------------------------------------------- QAT


def _qat_linear(tf: Any, x: Any, w: Any, attrs: dict[str, Any], weight_shape: list[int] | None) -> Any:
    out_c = int(weight_shape[0]) if weight_shape is not None else int(w.shape[0])
    shape = tf.stack([tf.shape(x)[0], int(attrs["output_size"][0]), int(attrs["output_size"][1]), out_c])
    return tf.nn.conv2d_transpose(tf.cast(x, w.dtype), tf.transpose(w, (1, 2, 0, 3)),  # OHWI -> HW,O,I
                                  shape, strides=(1, *attrs["stride"], 1), padding=attrs["padding"].upper())


OP = OpDef(
    kind=KIND,
    attrs=(conv_common.STRIDE, conv_common.PADDING, OUTPUT_SIZE, ACTIVATION),
    num_inputs=(2, 3),
    infer_shape=infer_shape,
    check=check,
    params=params,
    reference=reference,
    data_inputs=1,
    from_accumulator=conv_common.from_accumulator,
    float_reference=float_reference,
    weight_axis=conv_common.CONV_AXIS,
    fuses_activation=True,
    folds_batchnorm=True,
    tflite=(TfliteMapping("TRANSPOSE_CONV", from_tflite, tflite.TransposeConvOptions, OPTION_FIELDS),),
    keras_layers={"Conv2DTranspose": from_keras},
    lowerings=(lower,),
    mve_lowerings=(lower_mve,),
    macs=macs,
    qat=QatHooks(linear=_qat_linear),
)
