"""Lowering of conv2d (depthwise: depthwise_ops, fully connected: fc_ops).

Weights are reordered offline (same int8 bytes, same size) so the DSP loops load the rows they block
together from one pointer: channel pairs for the conv GEMM (tg_conv_gemm_s8.h). The portable path
reads the same layout. Bias folding and requantization constants: :mod:`tinygen.lowering.mac_common`.
"""

from __future__ import annotations

import numpy as np

from tinygen.ir import Graph, Op
from tinygen.lowering.base import QUANT, WEIGHTS, KernelCall, LoweringContext, register, register_in_place
from tinygen.lowering.mac_common import RQ_FAST_FULL, _folded_bias, _hint, _weights, rq_values
from tinygen.qparams import ConvParams, op_params


def _pair_layout(w2d: np.ndarray) -> np.ndarray:
    """[out_c, depth] rows -> tg_conv_gemm_s8's layout (same bytes, reordered): per channel pair its complete
    groups of four (channel c's four bytes, then c + 1's), for every pair in turn (so each pair's groups
    start 8-byte aligned whatever the depth); then per pair the two channels' depth % 4 tail bytes; then an
    odd last channel's natural row."""
    out_c, depth = w2d.shape
    full = depth & ~3
    pairs = w2d[: out_c & ~1].reshape(out_c // 2, 2, depth)
    groups = pairs[:, :, :full].reshape(out_c // 2, 2, full // 4, 4).transpose(0, 2, 1, 3).reshape(-1)
    tails = pairs[:, :, full:].reshape(-1)
    out = np.concatenate([groups, tails, w2d[out_c & ~1 :].reshape(-1)])
    assert out.size == w2d.size
    return out


#: output pixels per column block of tg_conv_gemm_s8 (TG_CONV_COLS)
CONV_COLS = 3


def block_int16(depth: int) -> int:
    """int16 values of tg_conv_gemm_s8's column block (TG_CONV_BLOCK_INT16): the groups of four, then T0 and
    T1 of every column when depth % 4 != 0."""
    return CONV_COLS * (4 * (depth // 4) + (8 if depth % 4 else 0))


# The kernel specialisations (KernelCall.variants) a call runs. Each function mirrors its kernel's C dispatch
# exactly (see the comment above it in the kernel source); tests/test_variants_conv.py proves every case.


def gemm_variants(mode: int, depth: int, out_ch: int) -> tuple[str, ...]:
    """tg_conv_gemm_s8 (dispatch at the end of tg_conv_gemm_s8.c): the channel pairs take GEMM_FULL_EVEN
    (mode TG_RQ_FAST_FULL, depth % 8 == 0), GEMM_FULL (TG_RQ_FAST_FULL, other depths) or GEMM_ANY (the other
    modes); an odd last channel also GEMM_ODD_CH. Weights are const arrays, 16-byte aligned in an emitted
    library, so the kernel's copy for unaligned weights is never needed (it is compiled only without a
    config header)."""
    if mode == RQ_FAST_FULL:
        pairs = "GEMM_FULL_EVEN" if depth % 8 == 0 else "GEMM_FULL"
    else:
        pairs = "GEMM_ANY"
    return (pairs, "GEMM_ODD_CH") if out_ch % 2 else (pairs,)


def conv_variants(in_c: int, dil_w: int) -> tuple[str, ...]:
    """tg_conv_s8's im2col (conditions at the top of tg_conv_s8.c): CONV_GROUPED when in_c % 4 == 0, else
    CONV_STAGED; CONV_DILATED when dil_w != 1."""
    im2col = "CONV_GROUPED" if in_c % 4 == 0 else "CONV_STAGED"
    return (im2col, "CONV_DILATED") if dil_w != 1 else (im2col,)


def conv_1x1_variants(in_c: int) -> tuple[str, ...]:
    """tg_conv_1x1_s8 (conditions at the top of tg_conv_1x1_s8.c): CONV1X1_GROUPED when in_c % 4 == 0, else
    CONV1X1_TAIL."""
    return ("CONV1X1_GROUPED",) if in_c % 4 == 0 else ("CONV1X1_TAIL",)


def _int16_scratch(ctx: LoweringContext) -> str:
    return f"(int16_t *)(void *){ctx.scratch_ptr()}"


@register("conv2d")
def lower_conv2d(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, ConvParams)
    return _conv_call(ctx, op, p, _weights(ctx, op).data.astype(np.int8), "conv")


def _gemm_params(bias: np.ndarray, rq: np.ndarray) -> np.ndarray:
    """tg_conv_gemm_s8's params: per channel pair the two biases, then the two channels' three requantization
    values; an odd last channel's bias and values last (4 int32 per channel, one pointer walks them)."""
    out_c = bias.size
    rq = rq.reshape(out_c, 3)
    pairs = out_c // 2
    head = np.concatenate([bias[: 2 * pairs].reshape(pairs, 2), rq[: 2 * pairs].reshape(pairs, 6)], axis=1)
    odd = np.concatenate([bias[2 * pairs :], rq[2 * pairs :].reshape(-1)])
    return np.concatenate([head.reshape(-1), odd]).astype(np.int32)


def _conv_call(ctx: LoweringContext, op: Op, p: ConvParams, weights: np.ndarray, what: str) -> KernelCall:
    """tg_conv_s8 / tg_conv_1x1_s8 for OHWI int8 ``weights``."""
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    n, h, wd, c = x.shape
    out_c, kh, kw, _ = weights.shape
    _, oh, ow, _ = out.shape
    hint = _hint(op)
    sums = weights.astype(np.int64).reshape(out_c, -1).sum(axis=1)
    rq, rq_mode = rq_values(op, p, out_c)
    mode = str(rq_mode)
    depth = kh * kw * c
    params = _gemm_params(_folded_bias(ctx, op, sums, p.input_offset), rq)
    prm = ctx.const_array(f"{hint}_params", params, "int32_t", {WEIGHTS: 4 * out_c, QUANT: 12 * out_c})
    wsym = ctx.const_array(f"{hint}_w", _pair_layout(weights.reshape(out_c, -1)), "int8_t", WEIGHTS)
    act = (str(p.output_offset), str(p.act_min), str(p.act_max))
    comment = (
        f"{what} {kh}x{kw} stride {p.stride_h}x{p.stride_w} dil {p.dilation_h}x{p.dilation_w} "
        f"{x.shape} -> {out.shape} {op.activation}"
    )
    if kh == 1 and kw == 1 and p.pad_top == 0 and p.pad_left == 0:
        args = (
            ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c), wsym, prm, mode,
            ctx.tensor_ptr(out.name), str(oh), str(ow), str(out_c), str(p.stride_h), str(p.stride_w),
            *act, _int16_scratch(ctx),
        )
        variants = conv_1x1_variants(c) + gemm_variants(rq_mode, depth, out_c)
        return KernelCall("tg_conv_1x1_s8", args, ("tg_conv_gemm_s8",), 2 * block_int16(c), comment, variants)
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c), wsym, str(kh), str(kw), prm, mode,
        ctx.tensor_ptr(out.name), str(oh), str(ow), str(out_c), str(p.stride_h), str(p.stride_w),
        str(p.dilation_h), str(p.dilation_w), str(p.pad_top), str(p.pad_left), str(-p.input_offset),
        *act, _int16_scratch(ctx),
    )
    # the column block (int16), then an int8 column staged when in_c is not a multiple of four
    variants = conv_variants(c, p.dilation_w) + gemm_variants(rq_mode, depth, out_c)
    return KernelCall("tg_conv_s8", args, ("tg_conv_gemm_s8",), 2 * block_int16(depth) + depth, comment, variants)


@register_in_place("conv2d")
def conv2d_in_place(graph: Graph, op: Op) -> bool:
    """tg_conv_1x1_s8 may write over its input at the same offset when stride is 1 and out_c <= in_c: it
    copies each block of pixels into its scratch before writing the block's outputs, and those end where
    the next block's input begins at the earliest. (The planner asks window_lag.conv2d_lag first, which
    gives every conv its lag, 0 in these cases; this predicate is the lag-free special case.)"""
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
