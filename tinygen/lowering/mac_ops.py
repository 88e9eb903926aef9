"""Lowering of conv2d (depthwise: depthwise_ops, fully connected: fc_ops).

Weights are reordered offline (same int8 bytes, same size) so the DSP loops load the rows they block
together from one pointer: channel pairs for the conv GEMM (tg_conv_gemm_s8.h). The portable path
reads the same layout. Bias folding and requantization constants: :mod:`tinygen.lowering.mac_common`.
"""

from __future__ import annotations

import numpy as np

from tinygen.ir import Graph, Op
from tinygen.lowering.base import KernelCall, LoweringContext, register, register_in_place
from tinygen.lowering.mac_common import _blocked_layout, _folded_bias, _hint, _rq_array, _weights
from tinygen.qparams import ConvParams, op_params


def _pair_layout(w2d: np.ndarray) -> np.ndarray:
    """[out_c, depth] rows -> tg_conv_gemm_s8's pair-interleaved layout (same bytes, reordered)."""
    return _blocked_layout(w2d, 2)


def _int16_scratch(ctx: LoweringContext) -> str:
    return f"(int16_t *)(void *){ctx.scratch_ptr()}"


@register("conv2d")
def lower_conv2d(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, ConvParams)
    return _conv_call(ctx, op, p, _weights(ctx, op).data.astype(np.int8), "conv")


def _conv_call(ctx: LoweringContext, op: Op, p: ConvParams, weights: np.ndarray, what: str) -> KernelCall:
    """tg_conv_s8 / tg_conv_1x1_s8 for OHWI int8 ``weights``."""
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    n, h, wd, c = x.shape
    out_c, kh, kw, _ = weights.shape
    _, oh, ow, _ = out.shape
    hint = _hint(op)
    sums = weights.astype(np.int64).reshape(out_c, -1).sum(axis=1)
    bias = ctx.const_array(f"{hint}_bias", _folded_bias(ctx, op, sums, p.input_offset), "int32_t")
    wsym = ctx.const_array(f"{hint}_w", _pair_layout(weights.reshape(out_c, -1)), "int8_t")
    rq, mode = _rq_array(ctx, op, p, hint, out_c)
    act = (str(p.output_offset), str(p.act_min), str(p.act_max))
    comment = (
        f"{what} {kh}x{kw} stride {p.stride_h}x{p.stride_w} dil {p.dilation_h}x{p.dilation_w} "
        f"{x.shape} -> {out.shape} {op.activation}"
    )
    if kh == 1 and kw == 1 and p.pad_top == 0 and p.pad_left == 0:
        args = (
            ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c), wsym, bias, rq, mode,
            ctx.tensor_ptr(out.name), str(oh), str(ow), str(out_c), str(p.stride_h), str(p.stride_w),
            *act, _int16_scratch(ctx),
        )
        return KernelCall("tg_conv_1x1_s8", args, ("tg_conv_gemm_s8",), 2 * 2 * c, comment)
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c), wsym, str(kh), str(kw), bias, rq, mode,
        ctx.tensor_ptr(out.name), str(oh), str(ow), str(out_c), str(p.stride_h), str(p.stride_w),
        str(p.dilation_h), str(p.dilation_w), str(p.pad_top), str(p.pad_left), str(-p.input_offset),
        *act, _int16_scratch(ctx),
    )
    # the column pair (int16), then an int8 column staged when kernel rows are not groups of four
    return KernelCall("tg_conv_s8", args, ("tg_conv_gemm_s8",), 2 * 2 * kh * kw * c + kh * kw * c, comment)


@register_in_place("conv2d")
def conv2d_in_place(graph: Graph, op: Op) -> bool:
    """tg_conv_1x1_s8 may write over its input when stride is 1 and out_c <= in_c: it copies each pixel
    pair into its scratch before writing the pair's outputs, and those end where the next pair's input
    begins at the earliest."""
    x, w, out = (graph.tensor(name) for name in (op.inputs[0], op.inputs[1], op.outputs[0]))
    if len(x.shape) != 4 or len(w.shape) != 4 or len(out.shape) != 4:
        return False
    out_c, kh, kw, in_c = w.shape
    return (
        (kh, kw) == (1, 1)
        and tuple(op.attrs.get("stride", (1, 1))) == (1, 1)
        and x.shape[:3] == out.shape[:3]
        and x.shape[3] == in_c
        and out.shape[3] == out_c <= in_c
    )
