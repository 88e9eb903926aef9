"""CONV_2D (Keras Conv2D, Conv1D, SeparableConv2D's pointwise half): int8 NHWC convolution with OHWI weights
``[out_c, kh, kw, in_c]``, per-channel (or per-tensor) weight scales and an optional int32 bias.

TFLite Micro's ConvPerChannel: per output element of channel ``c``,
``acc = bias[c] + sum over (ky, kx, ic) of w[c, ky, kx, ic] * (x[y * sh + ky * dh - pad_top, ...] + input_offset)``
(taps in the padding contribute nothing), in wrapping int32, then
``clamp(MultiplyByQuantizedMultiplier(acc, multiplier[c], shift[c]) + output_offset, act_min, act_max)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.activations import ACTIVATIONS as FUSED_ACTIVATIONS
from tinygen.errors import UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.lowering.base import QUANT, WEIGHTS, KernelCall, LoweringContext
from tinygen.lowering.fc_ops import s16_layout
from tinygen.lowering.mac_common import _folded_bias, _weights, rq_values_per_channel
from tinygen.lowering.mac_ops import (_gemm_params, _pair_layout, block_int16, conv_1x1_c8_scratch_bytes,
                                      conv_1x1_kernel, conv_1x1_mixed_split, conv_1x1_split, conv_1x1_variants,
                                      conv_variants, gemm_variants, is_pixel_fc, pixel_fc_call)
from tinygen.lowering.mve_ops import (CONV_PIXELS, STEP, _quad_params_kinds, _round_up, _vector_requant_ok, quad_layout,
                                      quad_params)
from tinygen.lowering.mve_ops import STEP_S16, s16_requant_arrays, s16_sums_fit_int32
from tinygen.lowering.window_lag import window_lag
from tinygen.ops import common, conv_common
from tinygen.ops import pad as pad_op
from tinygen.ops import reshape as reshape_op
from tinygen.ops.base import ACTIVATION, OpDef, QatHooks, TfliteMapping
from tinygen.ops.conv_common import ConvParams

KIND = "conv2d"
#: name stem of this op's const arrays (the code generator prefixes the model name and layer index)
CONST_STEM = "conv"


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    return conv_common.infer_shape(graph, op, depthwise=False)


def check(graph: Graph, op: Op) -> None:
    if conv_common.is_16x8(graph, op):
        return conv_common.check_16x8(graph, op, depthwise=False)
    conv_common.check(graph, op, depthwise=False)


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> ConvParams:
    if conv_common.is_16x8(graph, op):
        return conv_common.params_16x8(graph, op, rounding, depthwise=False)
    return conv_common.params(graph, op, rounding, depthwise=False)


def reference(graph: Graph, op: Op, p: ConvParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return conv_common.from_accumulator(p, conv_common.accumulate(graph, op, p, args[0], depthwise=False), rounding)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    x, w = inputs[0], inputs[1]
    win = common.float_windows(x, w.shape[1:3], op.attrs["stride"], op.attrs["dilation"], op.attrs["padding"])
    # win (N, OH, OW, C, kh, kw) . w (O, kh, kw, C) -> (N, OH, OW, O)
    out = np.tensordot(win, w.transpose(3, 1, 2, 0), axes=([3, 4, 5], [0, 1, 2]))
    return out + conv_common.float_bias(inputs, w.shape[0])


def macs(graph: Graph, op: Op) -> int:
    return conv_common.macs(graph, op, depthwise=False)


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    x, w, *rest = imp.inputs(raw, 2)
    in_c = imp.ranked(raw, x, 4, "input")[-1]
    out_c, _, _, w_in = imp.ranked(raw, w, 4, "weights")
    if w_in != in_c:
        raise UnsupportedError(
            f"{imp.where(raw)}: grouped convolution ({in_c} input channels, filter depth {w_in}) is not "
            "supported; use a DepthwiseConv2D or groups=1"
        )
    attrs = conv_common.window_options(imp, raw)
    int16 = imp.raw.tensors[x].type == tflite.TensorType.INT16  # 16x8: an int64 (or int32) bias
    ins = [imp.activation_tensor(raw, x), imp.weights(raw, w, out_c, conv_common.CONV_AXIS),
           *imp.bias(raw, rest[0] if rest else -1, out_c, int64=int16)]
    return Op(KIND, "", ins, [], {**attrs, "activation": imp.activation(raw)})


def _groups(layer: Any) -> None:
    from tinygen.quantize.layers import layer_error

    if int(layer.get_config().get("groups", 1)) != 1:
        raise layer_error(layer, "grouped convolution (groups > 1) is not supported")


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    from tinygen.quantize.layers import (_activation_name, _apply_activation, _channels_last, _conv_shape, _np, _pair,
                                         _padding, _require_rank, single_input)

    x = single_input(layer, inputs)
    _channels_last(layer)
    _require_rank(layer, b, x, 4)
    cfg = layer.get_config()
    _groups(layer)
    kernel = _np(layer.kernel)  # (kh, kw, in, out)
    weights = kernel.transpose(3, 0, 1, 2)  # OHWI
    bias = _np(layer.bias) if cfg["use_bias"] else np.zeros(weights.shape[0], np.float32)
    stride, dilation, padding = _pair(cfg["strides"]), _pair(cfg["dilation_rate"]), _padding(layer)
    shape = _conv_shape(b, x, kernel.shape[:2], stride, dilation, padding, weights.shape[0])
    out = b.op(KIND, layer.name, [x, b.const(f"{layer.name}/weights", weights), b.const(f"{layer.name}/bias", bias)],
               shape, stride=stride, dilation=dilation, padding=padding, activation="none")
    return _apply_activation(b, layer, out, _activation_name(layer))


def from_keras_separable(b: Any, layer: Any, inputs: list[str]) -> str:
    """SeparableConv2D: a depthwise conv (no bias) then a 1x1 conv with the layer's bias."""
    from tinygen.ops import depthwise_conv2d
    from tinygen.quantize.layers import (_activation_name, _apply_activation, _channels_last, _np, _require_rank,
                                         single_input)

    x = single_input(layer, inputs)
    _channels_last(layer)
    _require_rank(layer, b, x, 4)
    mid = depthwise_conv2d.emit(b, layer, x, _np(layer.depthwise_kernel), None, f"{layer.name}/depthwise")
    pointwise = _np(layer.pointwise_kernel)  # (1, 1, in*mult, out)
    weights = pointwise.transpose(3, 0, 1, 2)
    bias = _np(layer.bias) if layer.get_config()["use_bias"] else np.zeros(weights.shape[0], np.float32)
    n, h, w, _ = b.shape(mid)
    out = b.op(KIND, f"{layer.name}/pointwise",
               [mid, b.const(f"{layer.name}/pointwise/weights", weights), b.const(f"{layer.name}/bias", bias)],
               (n, h, w, weights.shape[0]), out_name=layer.name, stride=(1, 1), dilation=(1, 1), padding="valid",
               activation="none")
    return _apply_activation(b, layer, out, _activation_name(layer))


def from_keras_1d(b: Any, layer: Any, inputs: list[str]) -> str:
    """Conv1D on [1, L, C] = Conv2D with height 1 on [1, 1, L, C], between two reshapes ('causal': an
    explicit left pad, then a valid conv)."""
    from tinygen.quantize.layers import (_activation_name, _apply_activation, _channels_last, _conv_shape, _np, _pair,
                                         _require_rank, layer_error, single_input)

    x = single_input(layer, inputs)
    _channels_last(layer)
    _require_rank(layer, b, x, 3)
    cfg = layer.get_config()
    _groups(layer)
    kernel = _np(layer.kernel)  # (k, in, out)
    k = kernel.shape[0]
    stride, dilation = int(_pair(cfg["strides"])[0]), int(_pair(cfg["dilation_rate"])[0])
    padding = str(cfg["padding"]).lower()
    n, length, channels = b.shape(x)
    x4 = b.op(reshape_op.KIND, f"{layer.name}/to_2d", [x], (n, 1, length, channels))
    if padding == "causal":  # left padding only: an explicit pad, then a valid conv
        x4 = b.op(pad_op.KIND, f"{layer.name}/causal_pad", [x4], (n, 1, length + dilation * (k - 1), channels),
                  paddings=((0, 0), (0, 0), (dilation * (k - 1), 0), (0, 0)))
        padding = "valid"
    elif padding not in ("same", "valid"):
        raise layer_error(layer, f"padding={padding!r} is not supported; use 'same', 'valid' or 'causal'")
    weights = kernel.transpose(2, 0, 1)[:, None, :, :]  # (out, 1, k, in)
    bias = _np(layer.bias) if cfg["use_bias"] else np.zeros(weights.shape[0], np.float32)
    shape = _conv_shape(b, x4, (1, k), (1, stride), (1, dilation), padding, weights.shape[0])
    y4 = b.op(KIND, layer.name, [x4, b.const(f"{layer.name}/weights", weights), b.const(f"{layer.name}/bias", bias)],
              shape, out_name=f"{layer.name}/conv2d", stride=(1, stride), dilation=(1, dilation), padding=padding,
              activation="none")
    act = _activation_name(layer)
    # ReLUs (the activations a conv can fuse) go on the conv; any other activation (softmax: along the last
    # axis, the same either way) after the reshape, on the 1-D layout.
    fusable = act in FUSED_ACTIVATIONS
    y4 = _apply_activation(b, layer, y4, act if fusable else "linear")
    out = b.op(reshape_op.KIND, f"{layer.name}/to_1d", [y4], (n, shape[2], shape[3]), out_name=layer.name)
    return _apply_activation(b, layer, out, "linear" if fusable else act)


# --------------------------------------------------------------------------- lowering


def conv_call(ctx: LoweringContext, op: Op, p: ConvParams, weights: np.ndarray, what: str) -> KernelCall:
    """tg_conv_s8 / tg_conv_1x1_s8 for OHWI int8 ``weights`` (also a one-channel depthwise conv's)."""
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    n, h, wd, c = x.shape
    out_c, kh, kw, _ = weights.shape
    _, oh, ow, _ = out.shape
    hint = CONST_STEM
    sums = weights.astype(np.int64).reshape(out_c, -1).sum(axis=1)
    rq, rq_mode = rq_values_per_channel(op, p, out_c)
    mode = str(rq_mode)
    depth = kh * kw * c
    one_by_one = kh == 1 and kw == 1 and p.pad_top == 0 and p.pad_left == 0
    c8 = one_by_one and conv_1x1_kernel(c) == "tg_conv_1x1_c8_s8"  # each channel's own form: no split
    split = one_by_one and not c8 and conv_1x1_split(rq_mode, c, out_c)
    gemm_rq, general, gemm_mode = (conv_1x1_mixed_split(rq, (p.act_min, p.act_max) == (-128, 127)) if split
                                   else (rq, np.zeros(0, np.int32), rq_mode))
    gemm = np.concatenate([_gemm_params(_folded_bias(ctx, op, sums, p.input_offset), gemm_rq), general])
    prm = ctx.const_array(f"{hint}_params", gemm, "int32_t", {WEIGHTS: 4 * out_c, QUANT: 12 * out_c + 4 * general.size})
    wsym = ctx.const_array(f"{hint}_w", _pair_layout(weights.reshape(out_c, -1)), "int8_t", WEIGHTS)
    act = (str(p.output_offset), str(p.act_min), str(p.act_max))
    scratch = f"(int16_t *)(void *){ctx.scratch_ptr()}"
    comment = (
        f"{what} {kh}x{kw} stride {p.stride_h}x{p.stride_w} dil {p.dilation_h}x{p.dilation_w} "
        f"{x.shape} -> {out.shape} {op.activation}"
    )
    if c8:
        args = (
            ctx.tensor_ptr(x.name), str(n), str(h), str(wd), wsym, prm, ctx.tensor_ptr(out.name), str(oh), str(ow),
            str(out_c), str(p.stride_h), str(p.stride_w), *act, scratch,
        )
        return KernelCall("tg_conv_1x1_c8_s8", args, (), conv_1x1_c8_scratch_bytes(), comment)
    if one_by_one:
        args = (
            ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c), wsym, prm, mode,
            ctx.tensor_ptr(out.name), str(oh), str(ow), str(out_c), str(p.stride_h), str(p.stride_w),
            *act, scratch,
        )
        variants = conv_1x1_variants(c, split) + gemm_variants(gemm_mode, depth, out_c)
        return KernelCall("tg_conv_1x1_s8", args, ("tg_conv_gemm_s8",), 2 * block_int16(c), comment, variants)
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c), wsym, str(kh), str(kw), prm, mode,
        ctx.tensor_ptr(out.name), str(oh), str(ow), str(out_c), str(p.stride_h), str(p.stride_w),
        str(p.dilation_h), str(p.dilation_w), str(p.pad_top), str(p.pad_left), str(-p.input_offset),
        *act, scratch,
    )
    # the column block (int16), then an int8 column staged when in_c is not a multiple of four
    variants = conv_variants(c, p.dilation_w) + gemm_variants(rq_mode, depth, out_c)
    return KernelCall("tg_conv_s8", args, ("tg_conv_gemm_s8",), 2 * block_int16(depth) + depth, comment, variants)


def lower_s16(ctx: LoweringContext, op: Op) -> KernelCall | None:
    """tg_conv_s16 for a 16x8 layer (im2col of two pixels, then two channels x two pixels per step); None for an
    int8 layer."""
    if not conv_common.is_16x8(ctx.graph, op):
        return None
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    weights = _weights(ctx, op).data.astype(np.int8)
    n, h, wd, c = x.shape
    out_c, kh, kw, _ = weights.shape
    _, oh, ow, _ = out.shape
    depth = kh * kw * c
    # the same layout as tg_fully_connected_s16's rows: groups of four w0 w1 w2 w3 stored as w0 w2 w1 w3
    wsym = ctx.const_array(f"{CONST_STEM}_w16x8", s16_layout(weights.reshape(out_c, depth)), "int8_t", WEIGHTS)
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c), wsym, str(kh), str(kw),
        *conv_common.requant_args_16x8(ctx, op, p, CONST_STEM, depthwise=False), ctx.tensor_ptr(out.name), str(oh), str(ow),
        str(out_c), str(p.stride_h), str(p.stride_w), str(p.dilation_h), str(p.dilation_w), str(p.pad_top),
        str(p.pad_left), str(p.act_min), str(p.act_max), f"(int16_t *)(void *){ctx.scratch_ptr()}",
    )
    comment = (f"conv 16x8 {kh}x{kw} stride {p.stride_h}x{p.stride_w} dil {p.dilation_h}x{p.dilation_w} "
               f"{x.shape} -> {out.shape} {op.activation}, {'int64' if p.wide else 'int32'} accumulator")
    # TG_CONV_S16_SCRATCH_BYTES: the int16 im2col columns of two pixels
    return KernelCall("tg_conv_s16", args, (), 4 * depth, comment)


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    weights = _weights(ctx, op).data.astype(np.int8)
    out_c, kh, kw, in_c = weights.shape
    x = ctx.graph.tensor(op.inputs[0])
    if in_c == 1 and x.shape[3] == 1:
        from tinygen.ops import depthwise_conv2d

        if depthwise_conv2d.one_channel_fits(kh, kw):
            # one input channel, a 3x3 window (a first layer on a grey image or a spectrogram): the same sums
            # as the one-channel depthwise layer with multiplier out_c, whose kernel gathers each window once
            # for every output channel instead of building im2col columns
            comment = f"conv {kh}x{kw} stride {p.stride_h}x{p.stride_w} {x.shape} -> {out_c} channels (one input channel)"
            return depthwise_conv2d.one_channel_call(ctx, op, p, np.ascontiguousarray(weights.transpose(3, 1, 2, 0)),
                                                     comment)
    if is_pixel_fc(x.shape, weights.shape, ctx.graph.tensor(op.outputs[0]).shape, (p.pad_top, p.pad_left)):
        return pixel_fc_call(ctx, op, p, weights, f"conv {kh}x{kw} {x.shape} -> {out_c} channels")
    return conv_call(ctx, op, p, weights, "conv")


def conv_call_mve(ctx: LoweringContext, op: Op, p: ConvParams, weights: np.ndarray, what: str) -> KernelCall:
    """tg_conv_mve_s8 for OHWI int8 ``weights``. It copies each pixel's window before writing the pixel's
    outputs, so it may run over its input wherever the planner allows the DSP conv kernels to."""
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    n, h, wd, c = x.shape
    out_c, kh, kw, _ = weights.shape
    _, oh, ow, _ = out.shape
    depth = kh * kw * c
    hint = CONST_STEM
    sums = weights.astype(np.int64).reshape(out_c, -1).sum(axis=1)
    prm, has_left = quad_params(_folded_bias(ctx, op, sums, p.input_offset), p.multiplier, p.shift)
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c),
        ctx.const_array(f"{hint}_mve_w", quad_layout(weights.reshape(out_c, -1)), "int8_t", WEIGHTS),
        str(kh), str(kw), ctx.const_array(f"{hint}_mve_p", prm, "int32_t", _quad_params_kinds(prm)),
        ctx.tensor_ptr(out.name), str(oh), str(ow), str(out_c), str(p.stride_h), str(p.stride_w),
        str(p.dilation_h), str(p.dilation_w), str(p.pad_top), str(p.pad_left), str(-p.input_offset),
        str(p.output_offset), str(p.act_min), str(p.act_max), str(int(has_left)), ctx.scratch_ptr(),
    )
    comment = (
        f"{what} {kh}x{kw} stride {p.stride_h}x{p.stride_w} dil {p.dilation_h}x{p.dilation_w} "
        f"{x.shape} -> {out.shape} {op.activation} (MVE)"
    )
    return KernelCall("tg_conv_mve_s8", args, (), CONV_PIXELS * _round_up(depth, STEP), comment)


def lower_mve_s16(ctx: LoweringContext, op: Op) -> KernelCall | None:
    """tg_conv_mve_s16 (Helium) for a 16x8 layer: weights in mve_ops.quad_layout with steps of 8; int32 sums with
    the fast requantization where conv_common.fast_requant_16x8 applies, int32 sums with TFLite's where they are
    exact (the int32 accumulator, or bounded sums), else exact int64 sums (TG_CONV_MVE_S16_*); None for int8."""
    if not conv_common.is_16x8(ctx.graph, op):
        return None
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    weights = _weights(ctx, op).data.astype(np.int8)
    n, h, wd, c = x.shape
    out_c, kh, kw, _ = weights.shape
    _, oh, ow, _ = out.shape
    w2d = weights.reshape(out_c, -1)
    bias = conv_common.bias_16x8(ctx.graph, op, depthwise=False)
    fast = conv_common.fast_requant_16x8(ctx.graph, op, p, depthwise=False)
    mode = 0 if fast is not None else 1 if not p.wide or s16_sums_fit_int32(w2d.T, bias) else 2
    prm, rq = s16_requant_arrays(ctx, CONST_STEM, p, fast, bias, 4)
    bias64 = np.zeros(_round_up(out_c, 4), dtype=np.int64)
    bias64[:out_c] = 0 if bias is None else bias
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c),
        ctx.const_array(f"{CONST_STEM}_mve_w16x8", quad_layout(w2d, STEP_S16), "int8_t", WEIGHTS), str(kh), str(kw),
        prm, ctx.const_array(f"{CONST_STEM}_mve_bias64", bias64, "int64_t", WEIGHTS) if mode == 2
        else "(const int64_t *)0", rq, "1" if p.wide else "0", str(mode), ctx.tensor_ptr(out.name), str(oh),
        str(ow), str(out_c), str(p.stride_h), str(p.stride_w), str(p.dilation_h), str(p.dilation_w), str(p.pad_top),
        str(p.pad_left), str(p.act_min), str(p.act_max), f"(int16_t *)(void *){ctx.scratch_ptr()}",
    )
    comment = (f"conv 16x8 {kh}x{kw} stride {p.stride_h}x{p.stride_w} dil {p.dilation_h}x{p.dilation_w} "
               f"{x.shape} -> {out.shape} {op.activation}, {('fast', 'int32', 'int64')[mode]} sums (MVE)")
    # TG_CONV_MVE_S16_SCRATCH_BYTES: the zero-padded int16 columns of two pixels
    return KernelCall("tg_conv_mve_s16", args, (), 4 * _round_up(kh * kw * c, STEP_S16), comment)


def lower_mve(ctx: LoweringContext, op: Op) -> KernelCall | None:
    if conv_common.is_16x8(ctx.graph, op):
        return None  # lower_mve_s16
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x = ctx.graph.tensor(op.inputs[0])
    weights = _weights(ctx, op).data.astype(np.int8)
    if len(x.shape) != 4 or weights.ndim != 4 or weights.shape[3] != x.shape[3] or p.depth_multiplier != 1:
        return None  # grouped or unusual convolutions: the normal lowering decides
    if not _vector_requant_ok(p.multiplier, p.shift):
        return None
    return conv_call_mve(ctx, op, p, weights, "conv")


def in_place(graph: Graph, op: Op) -> bool:
    """tg_conv_1x1_s8 may write over its input at the same offset when stride is 1 and out_c <= in_c: it
    copies each block of pixels into its scratch before writing the block's outputs, and those end where
    the next block's input begins at the earliest. (The planner asks :func:`in_place_lag` first, which
    gives every conv its lag, 0 in these cases; this predicate is the lag-free special case.)"""
    x, w, out = (graph.tensor(name) for name in (op.inputs[0], op.inputs[1], op.outputs[0]))
    if x.dtype == "int16":
        return False  # tg_conv_s16 reads its input while writing its output
    if len(x.shape) != 4 or len(w.shape) != 4 or len(out.shape) != 4:
        return False
    out_c, kh, kw, in_c = w.shape
    return (
        not is_pixel_fc(x.shape, w.shape, out.shape, (0, 0))  # tg_fully_connected_s8 (lower)
        and (kh, kw) == (1, 1)
        and tuple(op.attrs.get("stride", (1, 1))) == (1, 1)
        and x.shape[:3] == out.shape[:3]
        and x.shape[3] == in_c
        and out.shape[3] == out_c <= in_c
    )


def in_place_lag(graph: Graph, op: Op) -> int | None:
    """The lag tg_conv_s8 / tg_conv_1x1_s8 need to run over their input (the planner rounds it up to
    its alignment; see :mod:`tinygen.lowering.window_lag`), or None when the tensors are not the plain int8
    NHWC convolution they implement."""
    x, w, out = (graph.tensor(name) for name in (op.inputs[0], op.inputs[1], op.outputs[0]))
    if len(x.shape) != 4 or len(w.shape) != 4 or len(out.shape) != 4 or x.shape[3] != w.shape[3]:
        return None
    if x.dtype != "int8" or out.dtype != "int8" or out.shape[0] != x.shape[0] or out.shape[3] != w.shape[0]:
        return None
    p = params(graph, op, "double")
    if is_pixel_fc(x.shape, w.shape, out.shape, (p.pad_top, p.pad_left)):
        return None  # tg_fully_connected_s8 (lower) reads every input of an image for each channel quad
    return window_lag(tuple(x.shape), tuple(out.shape), (int(w.shape[1]), int(w.shape[2])),
                      (p.stride_h, p.stride_w), (p.dilation_h, p.dilation_w), (p.pad_top, p.pad_left))


# --------------------------------------------------------------------------- QAT


def _qat_linear(tf: Any, x: Any, w: Any, attrs: dict[str, Any], weight_shape: list[int] | None) -> Any:
    return tf.nn.conv2d(x, tf.transpose(w, (1, 2, 3, 0)),  # OHWI -> HWIO
                        strides=(1, *attrs["stride"], 1), padding=attrs["padding"].upper(),
                        dilations=(1, *attrs["dilation"], 1))


OP = OpDef(
    kind=KIND,
    attrs=(conv_common.STRIDE, conv_common.DILATION, conv_common.PADDING, ACTIVATION),
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
    tflite=(TfliteMapping("CONV_2D", from_tflite, tflite.Conv2DOptions, conv_common.OPTION_FIELDS, int16=True),),
    keras_layers={"Conv2D": from_keras, "Conv1D": from_keras_1d, "SeparableConv2D": from_keras_separable},
    lowerings=(lower_s16, lower),
    mve_lowerings=(lower_mve_s16, lower_mve),
    in_place=in_place,
    in_place_lag=in_place_lag,
    macs=macs,
    qat=QatHooks(linear=_qat_linear),
)
