"""Lowering of depthwise_conv2d (general kernel and the 3x3 fast path).

It shares the bias folding and requantization helpers of :mod:`tinygen.lowering.mac_ops`.
Depthwise 3x3 weights are reordered and sign-extended to int16 in the channel order SXTB16
produces, the operand layout of SMLABB/SMLATT (the portable path reads the same array).
"""

from __future__ import annotations

import numpy as np

from tinygen.ir import Op
from tinygen.lowering.base import KernelCall, LoweringContext, register
from tinygen.lowering.mac_ops import _conv_call, _folded_bias, _hint, _requant_arrays, _weights
from tinygen.qparams import ConvParams, op_params


def pack_depthwise_3x3(weights: np.ndarray) -> np.ndarray:
    """TFLite depthwise 3x3 weights [1, 3, 3, C] -> tg_depthwise_3x3_s8's int16 layout.

    packed[g, t, k] = w[tap t, channel 4g + (0, 2, 1, 3)[k]]: groups of four channels (the last one
    padded with zeros) in the order SXTB16 splits four input bytes; see
    templates/kernels/tg_depthwise_3x3_s8.h.
    """
    channels = weights.shape[3]
    groups = (channels + 3) // 4
    taps = np.zeros((9, groups * 4), dtype=np.int16)
    taps[:, :channels] = weights.reshape(9, channels)
    # [t, g, j] -> [g, t, j] with j reordered 0, 2, 1, 3
    return taps.reshape(9, groups, 4)[:, :, [0, 2, 1, 3]].transpose(1, 0, 2).reshape(-1)


@register("depthwise_conv2d")
def lower_depthwise(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, ConvParams)
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    w = _weights(ctx, op)
    n, h, wd, c = x.shape
    _, kh, kw, out_c = w.shape
    _, oh, ow, _ = out.shape
    hint = _hint(op)
    weights = w.data.astype(np.int8)
    if c == 1:
        # One input channel: output channel m is an ordinary convolution filter [1, kh, kw] -> conv
        # with OHWI weights [M, kh, kw, 1], which runs as im2col + GEMM (exactly the same sums).
        return _conv_call(ctx, op, p, np.ascontiguousarray(weights.transpose(3, 1, 2, 0)), "depthwise (as conv)")
    sums = weights.astype(np.int64).reshape(kh * kw, out_c).sum(axis=0)
    bias = ctx.const_array(f"{hint}_bias", _folded_bias(ctx, op, sums, p.input_offset), "int32_t")
    mult, shift = _requant_arrays(ctx, op, p, hint)
    tail = (str(-p.input_offset), str(p.output_offset), str(p.act_min), str(p.act_max))
    comment = (
        f"depthwise {kh}x{kw} x{p.depth_multiplier} stride {p.stride_h}x{p.stride_w} "
        f"dil {p.dilation_h}x{p.dilation_w} {x.shape} -> {out.shape} {op.activation}"
    )
    if kh == 3 and kw == 3 and p.depth_multiplier == 1 and p.dilation_h == 1 and p.dilation_w == 1:
        packed = ctx.const_array(f"{hint}_w_packed", pack_depthwise_3x3(weights), "int16_t")
        args = (
            ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c), packed, bias, mult, shift,
            ctx.tensor_ptr(out.name), str(oh), str(ow), str(p.stride_h), str(p.stride_w),
            str(p.pad_top), str(p.pad_left), *tail, ctx.scratch_ptr(),
        )
        return KernelCall("tg_depthwise_3x3_s8", args, (), c, comment)
    wsym = ctx.const_array(f"{hint}_w", weights, "int8_t")
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c), wsym, str(kh), str(kw), str(p.depth_multiplier),
        bias, mult, shift, ctx.tensor_ptr(out.name), str(oh), str(ow), str(p.stride_h), str(p.stride_w),
        str(p.dilation_h), str(p.dilation_w), str(p.pad_top), str(p.pad_left), *tail,
        f"(int32_t *)(void *){ctx.scratch_ptr()}",
    )
    return KernelCall("tg_depthwise_s8", args, (), 4 * out_c, comment)
