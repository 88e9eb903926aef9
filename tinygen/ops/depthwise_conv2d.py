"""DEPTHWISE_CONV_2D (Keras DepthwiseConv2D, SeparableConv2D's first half): each input channel ``ic`` convolved
with its own ``depth_multiplier`` filters; weights ``[1, kh, kw, in_c * depth_multiplier]``, output channel
``c = ic * depth_multiplier + m``, per-channel (or per-tensor) weight scales, optional int32 bias.

TFLite Micro's DepthwiseConvPerChannel: per output element of channel ``c`` (input channel ``c // M``),
``acc = bias[c] + sum over (ky, kx) of w[0, ky, kx, c] * (x[y * sh + ky * dh - pad_top, ..., c // M] + input_offset)``
(taps in the padding contribute nothing), in wrapping int32, then
``clamp(MultiplyByQuantizedMultiplier(acc, multiplier[c], shift[c]) + output_offset, act_min, act_max)``.
TFLite Micro runs the multiplier stored in the options (it does not derive it from the shapes), so a
``.tflite`` whose stored multiplier disagrees with its weights is rejected on import.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op
from tinygen.lowering.base import WEIGHTS, KernelCall, LoweringContext
from tinygen.lowering import depthwise_ops
from tinygen.lowering.depthwise_ops import (dw3_variants, dw3c_variants, fast_requantization, pack_channel_groups,
                                            scratch_3x3, uses_ring)
from tinygen.lowering.mac_common import (_folded_bias, _requant_arrays, _rq_array, _weights)
from tinygen.lowering.mve_ops import (DW_GATHER, DW_GENERAL, DW_RING, _channel_taps_layout, _quad_params_kinds,
                                      _sums_stay_int32, _tap_quad_layout, _vector_requant_ok, quad_params)
from tinygen.lowering.mve_ops import _round_up, s16_requant_arrays, s16_sums_fit_int32
from tinygen.ops import common, conv2d, conv_common
from tinygen.ops.base import ACTIVATION, Attr, OpDef, QatHooks, TfliteMapping, positive_int
from tinygen.ops.conv_common import ConvParams

KIND = "depthwise_conv2d"
#: name stem of this op's const arrays (the code generator prefixes the model name and layer index)
CONST_STEM = "dw"


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    return conv_common.infer_shape(graph, op, depthwise=True)


def check(graph: Graph, op: Op) -> None:
    if conv_common.is_16x8(graph, op):
        return conv_common.check_16x8(graph, op, depthwise=True)
    conv_common.check(graph, op, depthwise=True)


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> ConvParams:
    if conv_common.is_16x8(graph, op):
        return conv_common.params_16x8(graph, op, rounding, depthwise=True)
    return conv_common.params(graph, op, rounding, depthwise=True)


def reference(graph: Graph, op: Op, p: ConvParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return conv_common.from_accumulator(p, conv_common.accumulate(graph, op, p, args[0], depthwise=True), rounding)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    x, w = inputs[0], inputs[1]
    mult = int(op.attrs["depth_multiplier"])
    kh, kw = w.shape[1:3]
    win = common.float_windows(x, (kh, kw), op.attrs["stride"], op.attrs["dilation"], op.attrs["padding"])
    k = w.reshape(kh, kw, x.shape[3], mult)
    out = np.einsum("nhwcij,ijcm->nhwcm", win, k, optimize=True)
    return out.reshape(*out.shape[:3], x.shape[3] * mult) + conv_common.float_bias(inputs, x.shape[3] * mult)


def macs(graph: Graph, op: Op) -> int:
    return conv_common.macs(graph, op, depthwise=True)


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    x, w, *rest = imp.inputs(raw, 2)
    in_c = imp.ranked(raw, x, 4, "input")[-1]
    out_c = imp.ranked(raw, w, 4, "weights")[3]
    if imp.shape(w)[0] != 1 or out_c % in_c:
        raise TinygenError(
            f"{imp.where(raw)}: depthwise weights {imp.describe(w)} do not fit {in_c} input channels; corrupt model"
        )
    attrs = conv_common.window_options(imp, raw)
    stored = int(raw.options["DepthMultiplier"])
    if stored != out_c // in_c:
        # TFLite Micro loops over the stored multiplier: 0 or less leaves the output unwritten, a larger one
        # writes past the output and reads past the weights.
        raise TinygenError(
            f"{imp.where(raw)}: stores depth multiplier {stored}, but its weights {imp.describe(w)} over {in_c} input "
            f"channels give {out_c // in_c}; TFLite Micro runs the stored value: corrupt model, re-export it"
        )
    # Per output channel: axis 3 whatever quantized dimension the file records (TFLite Micro ignores it).
    int16 = imp.raw.tensors[x].type == tflite.TensorType.INT16  # 16x8: an int64 bias
    ins = [imp.activation_tensor(raw, x), imp.weights(raw, w, out_c, conv_common.DEPTHWISE_AXIS),
           *imp.bias(raw, rest[0] if rest else -1, out_c, int64=int16)]
    return Op(KIND, "", ins, [], {**attrs, "depth_multiplier": stored, "activation": imp.activation(raw)})


def emit(b: Any, layer: Any, x: str, kernel: np.ndarray, bias: np.ndarray | None, name: str) -> str:
    """A depthwise op of Keras kernel (kh, kw, in, mult) -> IR weights [1, kh, kw, in*mult] (output channel
    c*mult + m, as TFLite); no bias: zeros. Also SeparableConv2D's first half."""
    from tinygen.quantize.layers import _conv_shape, _pair, _padding

    cfg = layer.get_config()
    kh, kw, cin, mult = kernel.shape
    weights = kernel.reshape(1, kh, kw, cin * mult)
    bias = np.zeros(cin * mult, np.float32) if bias is None else bias
    stride, dilation, padding = _pair(cfg["strides"]), _pair(cfg["dilation_rate"]), _padding(layer)
    shape = _conv_shape(b, x, (kh, kw), stride, dilation, padding, cin * mult)
    return b.op(KIND, name, [x, b.const(f"{name}/weights", weights), b.const(f"{name}/bias", bias)],
                shape, stride=stride, dilation=dilation, padding=padding, depth_multiplier=int(mult),
                activation="none")


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    from tinygen.quantize.layers import (_activation_name, _apply_activation, _channels_last, _np, _require_rank,
                                         single_input)

    x = single_input(layer, inputs)
    _channels_last(layer)
    _require_rank(layer, b, x, 4)
    kernel = _np(layer.kernel)
    bias = _np(layer.bias) if layer.get_config()["use_bias"] else None
    out = emit(b, layer, x, kernel, bias, layer.name)
    return _apply_activation(b, layer, out, _activation_name(layer))


# --------------------------------------------------------------------------- lowering


def _is_3x3(graph: Graph, op: Op) -> bool:
    w = graph.tensor(op.inputs[1])
    x = graph.tensor(op.inputs[0])
    stride = op.attrs.get("stride", (1, 1))
    dilation = op.attrs.get("dilation", (1, 1))
    return (
        len(w.shape) == 4 and tuple(w.shape[1:3]) == (3, 3) and x.shape[-1] > 1
        and op.attrs.get("depth_multiplier", 1) == 1 and tuple(dilation) == (1, 1) and min(stride) >= 1
    )


def in_place(graph: Graph, op: Op) -> bool:
    """tg_depthwise_3x3_s8 may overwrite its input with stride 1 and output shape == input shape:
    each channel's input rows enter its scratch ring before that channel's outputs overwrite them."""
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if x.dtype == "int16":
        return False  # tg_depthwise_s16 reads every window from its input
    return (
        _is_3x3(graph, op) and uses_ring(graph, op) and tuple(op.attrs.get("stride", (1, 1))) == (1, 1)
        and tuple(x.shape) == tuple(out.shape)
    )


def one_channel_fits(kh: int, kw: int) -> bool:
    """Whether a one-input-channel layer with a kh x kw window runs faster on tg_depthwise_ch1_s8 than on the conv
    kernels: its 3x3 path (person_detect's first layer: 0.31 against 0.16 MACs/instruction on M7; other windows
    take its general path, slower than im2col + GEMM: micro_speech's 10x8 0.19 against 0.51, heartkit's 1x7
    0.11 against 0.22) but 1 x 7 and 1 x 8, which take its four-tap-pair row path (heartkit's first layer)."""
    return (kh, kw) == (3, 3) or (kh == 1 and kw in (7, 8))


def lower_s16(ctx: LoweringContext, op: Op) -> KernelCall | None:
    """tg_depthwise_s16 for a 16x8 layer (any window, stride, dilation and multiplier); None for an int8 layer."""
    if not conv_common.is_16x8(ctx.graph, op):
        return None
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    w = _weights(ctx, op)
    n, h, wd, c = x.shape
    _, kh, kw, _ = w.shape
    _, oh, ow, _ = out.shape
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c),
        ctx.const_array(f"{CONST_STEM}_w", w.data.astype(np.int8), "int8_t", WEIGHTS), str(kh), str(kw),
        str(p.depth_multiplier), *conv_common.requant_args_16x8(ctx, op, p, CONST_STEM, depthwise=True),
        ctx.tensor_ptr(out.name), str(oh), str(ow), str(p.stride_h), str(p.stride_w), str(p.dilation_h),
        str(p.dilation_w), str(p.pad_top), str(p.pad_left), str(p.act_min), str(p.act_max),
        f"(int32_t *)(void *){ctx.scratch_ptr()}",
    )
    comment = (f"depthwise 16x8 {kh}x{kw} x{p.depth_multiplier} stride {p.stride_h}x{p.stride_w} "
               f"dil {p.dilation_h}x{p.dilation_w} {x.shape} -> {out.shape} {op.activation}, "
               f"{'int64' if p.wide else 'int32'} accumulator")
    # TG_DEPTHWISE_S16_SCRATCH_BYTES: the input and weight offsets of each tap
    return KernelCall("tg_depthwise_s16", args, (), 8 * kh * kw, comment)


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    """tg_depthwise_3x3_s8 (ring) / tg_depthwise_3x3_ch_s8 (channel groups) for 3x3, multiplier 1, no
    dilation (but tiny stride-2 outputs: depthwise_ops.generic_beats_channel_groups); one input channel: tg_depthwise_ch1_s8 (3x3, 1 x 7 and 1 x 8 windows, else the conv kernels); 1 x K / K x 1 filters (multiplier 1): tg_depthwise_1d_s8;
    3x3 undilated with multiplier > 1: tg_depthwise_mult_s8; tg_depthwise_s8 otherwise."""
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    w = _weights(ctx, op)
    n, h, wd, c = x.shape
    _, kh, kw, out_c = w.shape
    _, oh, ow, _ = out.shape
    hint = CONST_STEM
    weights = w.data.astype(np.int8)
    comment = (
        f"depthwise {kh}x{kw} x{p.depth_multiplier} stride {p.stride_h}x{p.stride_w} "
        f"dil {p.dilation_h}x{p.dilation_w} {x.shape} -> {out.shape} {op.activation}"
    )
    if c == 1 and not one_channel_fits(kh, kw):
        # One input channel, a window other than 3x3: output channel m is an ordinary convolution filter
        # [1, kh, kw] -> conv with OHWI weights [M, kh, kw, 1], im2col + GEMM (exactly the same sums)
        return conv2d.conv_call(ctx, op, p, np.ascontiguousarray(weights.transpose(3, 1, 2, 0)), "depthwise (as conv)")
    if c == 1:
        return one_channel_call(ctx, op, p, weights, comment)
    sums = weights.astype(np.int64).reshape(kh * kw, out_c).sum(axis=0)
    folded = _folded_bias(ctx, op, sums, p.input_offset)
    tail = (str(-p.input_offset), str(p.output_offset), str(p.act_min), str(p.act_max))
    geometry = (str(oh), str(ow), str(p.stride_h), str(p.stride_w), str(p.dilation_h), str(p.dilation_w),
                str(p.pad_top), str(p.pad_left))
    if (kh == 3 and kw == 3 and p.depth_multiplier == 1 and p.dilation_h == 1 and p.dilation_w == 1
            and not depthwise_ops.generic_beats_channel_groups(ctx.graph, op)):
        mult, shift = _requant_arrays(ctx, op, p, hint)
        fast = fast_requantization(folded, weights, p)
        # the fast path accumulates twice the sum (exact: fast_requantization bounds it)
        bias = ctx.const_array(f"{hint}_bias", folded * np.int32(2) if fast else folded, "int32_t", WEIGHTS)
        ring = uses_ring(ctx.graph, op)
        wsym = ctx.const_array(f"{hint}_w", weights if ring else pack_channel_groups(weights), "int8_t", WEIGHTS)
        args = (
            ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c), wsym, bias, mult, shift,
            ctx.tensor_ptr(out.name), str(oh), str(ow), str(p.stride_h), str(p.stride_w),
            str(p.pad_top), str(p.pad_left), *tail, "1" if fast else "0",
        )
        dispatch = (oh, ow, p.stride_h, p.stride_w, fast, p.output_offset, p.act_min, p.act_max)
        if ring:
            args += (f"(int16_t *)(void *){ctx.scratch_ptr()}",)
            return KernelCall("tg_depthwise_3x3_s8", args, (), scratch_3x3(oh, ow, p.stride_h, p.stride_w), comment,
                              dw3_variants(*dispatch))
        scratch = depthwise_ops.scratch_3x3_ch(c, oh, ow, p.stride_h, p.stride_w)
        return KernelCall("tg_depthwise_3x3_ch_s8", args + (ctx.scratch_ptr(),), (), scratch, comment,
                          dw3c_variants(*dispatch))
    if depthwise_ops.line_1d(kh, kw, oh, ow, p) is not None:
        return depthwise_ops.call_1d(ctx, op, p, weights, folded, comment)
    if depthwise_ops.uses_mult(kh, kw, p):
        return depthwise_ops.call_mult(ctx, op, p, weights, folded, comment)
    bias = ctx.const_array(f"{hint}_bias", folded, "int32_t", WEIGHTS)
    wsym = ctx.const_array(f"{hint}_w", weights, "int8_t", WEIGHTS)
    rq, mode = _rq_array(ctx, op, p, hint, out_c)
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c), wsym, str(kh), str(kw), str(p.depth_multiplier),
        bias, rq, mode, ctx.tensor_ptr(out.name), *geometry, *tail, ctx.scratch_ptr(),
    )
    # TG_DEPTHWISE_SCRATCH_BYTES: a pointer per tap, then a row of input zero points
    return KernelCall("tg_depthwise_s8", args, (), 8 * kh * kw + c + 4, comment)


def one_channel_call(ctx: LoweringContext, op: Op, p: ConvParams, weights: np.ndarray, comment: str) -> KernelCall:
    """tg_depthwise_ch1_s8 for a layer of one input channel with [1, kh, kw, M] int8 ``weights`` (a depthwise
    layer's, or a conv layer's OHWI [M, kh, kw, 1] transposed: the same sums): each output channel is an
    ordinary filter of the input plane, every pixel's window gathered once for all of them. It reads an
    output row's windows before writing the row, so it runs over its input wherever the conv kernels may
    (their lag covers every later pixel's window)."""
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    n, h, wd, _ = x.shape
    _, kh, kw, out_c = weights.shape
    _, oh, ow, _ = out.shape
    hint = CONST_STEM
    sums = weights.astype(np.int64).reshape(kh * kw, out_c).sum(axis=0)
    folded = _folded_bias(ctx, op, sums, p.input_offset)
    rq, mode = _rq_array(ctx, op, p, hint, out_c)
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), ctx.const_array(f"{hint}_w", weights, "int8_t", WEIGHTS),
        str(kh), str(kw), str(out_c), ctx.const_array(f"{hint}_bias", folded, "int32_t", WEIGHTS), rq, mode,
        ctx.tensor_ptr(out.name), str(oh), str(ow), str(p.stride_h), str(p.stride_w), str(p.dilation_h),
        str(p.dilation_w), str(p.pad_top), str(p.pad_left), str(-p.input_offset), str(p.output_offset),
        str(p.act_min), str(p.act_max), "1" if depthwise_ops.fast_requantization(folded, weights, p) else "0",
        ctx.scratch_ptr(),
    )
    # TG_DEPTHWISE_CH1_SCRATCH_BYTES: the filters as int16 tap pairs, then the windows of an output row
    return KernelCall("tg_depthwise_ch1_s8", args, (), 4 * ((kh * kw + 1) // 2) * (out_c + ow), comment)


def _in_place_covered(ctx: LoweringContext, op: Op, p: ConvParams, kernel: tuple[int, int]) -> bool:
    """False when the planner may put the output over the input (this op's in-place rule, or any lagged
    overlap) in a configuration tg_depthwise_mve_s8's row ring does not protect (3x3, dilation 1, stride 1,
    same shape: every input row is copied into the ring before an output row overwrites it)."""
    if OP.in_place_lag is not None:
        return False  # a lagged overlap: outputs would be written before later windows read their rows
    if not in_place(ctx.graph, op):
        return True
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    return (
        kernel == (3, 3) and (p.stride_h, p.stride_w) == (1, 1) and (p.dilation_h, p.dilation_w) == (1, 1)
        and tuple(x.shape) == tuple(out.shape)
    )


def lower_mve_s16(ctx: LoweringContext, op: Op) -> KernelCall | None:
    """tg_depthwise_mve_s16 (Helium, eight channels per vector, any window, stride, dilation and multiplier) for a
    16x8 layer whose int32 sums are exact (every real layer; the others: None, tg_depthwise_s16's int64 sums), with
    the fast requantization where conv_common.fast_requant_16x8 applies; None for int8."""
    if not conv_common.is_16x8(ctx.graph, op):
        return None
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    weights = _weights(ctx, op).data.astype(np.int8)
    n, h, wd, c = x.shape
    _, kh, kw, out_c = weights.shape
    _, oh, ow, _ = out.shape
    taps = weights.reshape(kh * kw, out_c)
    bias = conv_common.bias_16x8(ctx.graph, op, depthwise=True)
    if not s16_sums_fit_int32(taps, bias):
        return None
    fast = conv_common.fast_requant_16x8(ctx.graph, op, p, depthwise=True)
    prm, rq = s16_requant_arrays(ctx, CONST_STEM, p, fast, bias, 8, even_odd=True)
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c),
        ctx.const_array(f"{CONST_STEM}_mve_w16x8", np.pad(taps, ((0, 0), (0, -out_c % 8))), "int8_t", WEIGHTS),
        str(kh), str(kw), str(p.depth_multiplier), prm, rq, "1" if p.wide else "0", "1" if fast is not None else "0",
        ctx.tensor_ptr(out.name), str(oh), str(ow), str(p.stride_h), str(p.stride_w), str(p.dilation_h), str(p.dilation_w), str(p.pad_top), str(p.pad_left),
        str(p.act_min), str(p.act_max),
        f"(uint16_t *)(void *){ctx.scratch_ptr()}" if p.depth_multiplier > 1 else "(uint16_t *)0",
    )
    comment = (f"depthwise 16x8 {kh}x{kw} x{p.depth_multiplier} stride {p.stride_h}x{p.stride_w} "
               f"dil {p.dilation_h}x{p.dilation_w} {x.shape} -> {out.shape} {op.activation}, "
               f"{'fast' if fast is not None else 'int32'} sums (MVE)")
    # TG_DEPTHWISE_MVE_S16_SCRATCH_BYTES: the gather offsets of a multiplier above 1
    return KernelCall("tg_depthwise_mve_s16", args, (), 2 * _round_up(out_c, 8) if p.depth_multiplier > 1 else 0,
                      comment)


def lower_mve(ctx: LoweringContext, op: Op) -> KernelCall | None:
    """tg_depthwise_mve_s8 (multiplier 1, channels a multiple of 4, kernels up to 16 rows; 3x3 undilated as a
    row ring), a one-channel input as the MVE conv; None for the rest (the portable/DSP kernels)."""
    if conv_common.is_16x8(ctx.graph, op):
        return None  # lower_mve_s16, else lower_s16
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    weights = _weights(ctx, op).data.astype(np.int8)
    if len(x.shape) != 4 or weights.ndim != 4 or not _vector_requant_ok(p.multiplier, p.shift):
        return None
    n, h, wd, c = x.shape
    _, kh, kw, out_c = weights.shape
    _, oh, ow, _ = out.shape
    if c == 1 and in_place(ctx.graph, op):
        return None
    if c == 1:
        # one input channel: output channel m is an ordinary filter [kh, kw] -> the MVE conv kernel with
        # OHWI weights [M, kh, kw, 1] (the same sums)
        ohwi = np.ascontiguousarray(weights.transpose(3, 1, 2, 0))
        return conv2d.conv_call_mve(ctx, op, p, ohwi, "depthwise (as conv)")
    if out_c != c or c % 4 != 0 or kh > 16:
        return None  # depth multiplier > 1, channel tails, tall kernels: the normal kernels
    if not _in_place_covered(ctx, op, p, (kh, kw)):
        return None
    hint = CONST_STEM
    taps = weights.reshape(kh * kw, c)
    bias = _folded_bias(ctx, op, taps.astype(np.int64).sum(axis=0), p.input_offset)
    if not _sums_stay_int32(bias, taps):
        return None
    prm, has_left = quad_params(bias, p.multiplier, p.shift)
    ring = (kh, kw, p.dilation_h, p.dilation_w) == (3, 3, 1, 1)
    pad_right = max(0, (ow - 1) * p.stride_w + kw - p.pad_left - wd)
    wp = p.pad_left + wd + pad_right  # padded row width
    if not ring:
        mode, wsym_values = DW_GENERAL, _tap_quad_layout(weights)
    elif 3 * wp + 2 <= 255:  # every tap offset of the planar ring fits the gather's byte offsets
        mode, wsym_values = DW_GATHER, _channel_taps_layout(weights)
    else:
        mode, wsym_values = DW_RING, _tap_quad_layout(weights)
    scratch = 4 * wp * c if ring else 0
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c),
        ctx.const_array(f"{hint}_mve_w", wsym_values, "int8_t", WEIGHTS),
        str(kh), str(kw), ctx.const_array(f"{hint}_mve_p", prm, "int32_t", _quad_params_kinds(prm)),
        ctx.tensor_ptr(out.name), str(oh), str(ow), str(p.stride_h), str(p.stride_w),
        str(p.dilation_h), str(p.dilation_w), str(p.pad_top), str(p.pad_left), str(pad_right), str(-p.input_offset),
        str(p.output_offset), str(p.act_min), str(p.act_max), str(int(has_left)), str(mode),
        ctx.scratch_ptr() if scratch else "(int8_t *)0",
    )
    comment = (
        f"depthwise {kh}x{kw} stride {p.stride_h}x{p.stride_w} dil {p.dilation_h}x{p.dilation_w} "
        f"{x.shape} -> {out.shape} {op.activation} (MVE)"
    )
    return KernelCall("tg_depthwise_mve_s8", args, (), scratch, comment)


# --------------------------------------------------------------------------- QAT


def _qat_linear(tf: Any, x: Any, w: Any, attrs: dict[str, Any], weight_shape: list[int] | None) -> Any:
    if weight_shape is None:
        raise TinygenError(f"{KIND}: QAT needs the weight shape [1, kh, kw, channels x multiplier]")
    _, kh, kw, channels = weight_shape
    mult = int(attrs["depth_multiplier"])
    return tf.nn.depthwise_conv2d(x, tf.reshape(w, (kh, kw, channels // mult, mult)), strides=(1, *attrs["stride"], 1),
                                  padding=attrs["padding"].upper(), dilations=tuple(attrs["dilation"]))


OP = OpDef(
    kind=KIND,
    attrs=(conv_common.STRIDE, conv_common.DILATION, conv_common.PADDING, Attr("depth_multiplier", positive_int),
           ACTIVATION),
    num_inputs=(2, 3),
    infer_shape=infer_shape,
    check=check,
    params=params,
    reference=reference,
    data_inputs=1,
    from_accumulator=conv_common.from_accumulator,
    float_reference=float_reference,
    weight_axis=conv_common.DEPTHWISE_AXIS,
    fuses_activation=True,
    folds_batchnorm=True,
    tflite=(TfliteMapping("DEPTHWISE_CONV_2D", from_tflite, tflite.DepthwiseConv2DOptions,
                          {**conv_common.OPTION_FIELDS, "DepthMultiplier": 0}, int16=True),),
    keras_layers={"DepthwiseConv2D": from_keras},
    lowerings=(lower_s16, lower),
    mve_lowerings=(lower_mve_s16, lower_mve),
    in_place=in_place,
    macs=macs,
    qat=QatHooks(linear=_qat_linear),
)
