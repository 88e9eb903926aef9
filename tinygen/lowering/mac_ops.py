"""Lowerings of the multiply-accumulate ops conv2d and fully_connected (depthwise: depthwise_ops).

What is exact to precompute is precomputed here, offline:

* the input offset is folded into the bias: TFLite Micro's ``sum(w * (x + input_offset)) + bias``
  equals ``sum(w * x) + (bias + input_offset * sum(w))`` in int32 (wrapping) arithmetic, provided
  padded taps read the input zero point (real 0.0, i.e. ``x + input_offset == 0``) instead of being
  skipped. The kernels do exactly that.
* requantization: three int32 per output channel for templates/kernels/tg_requant_fast.h; when every
  channel shifts right by at least 2 (nearly always) they are the constants of its exact 5-instruction
  form (right shift 2..22, output offset folded in), otherwise TFLite's multiplier and shift.
* weights are reordered (same int8 bytes, same size) so the DSP loops load the rows they block
  together from one pointer: channel pairs for the conv GEMM (tg_conv_gemm_s8.h), row quads for
  fully connected (tg_fully_connected_s8.h). The portable paths read the same layouts.
"""

from __future__ import annotations

import numpy as np

from tinygen.errors import UnsupportedError
from tinygen.ir import Graph, Op, Tensor
from tinygen.lowering.base import KernelCall, LoweringContext, register, register_in_place
from tinygen.numerics import wrap_int32
from tinygen.qparams import ConvParams, FullyConnectedParams, op_params


def _bias(ctx: LoweringContext, op: Op) -> Tensor | None:
    if len(op.inputs) > 2 and op.inputs[2]:
        return ctx.graph.tensor(op.inputs[2])
    return None


def _folded_bias(ctx: LoweringContext, op: Op, weight_sums: np.ndarray, input_offset: int) -> np.ndarray:
    """bias + input_offset * sum(weights of the channel), wrapped to int32 like the C accumulator."""
    bias_t = _bias(ctx, op)
    bias = np.zeros(weight_sums.shape, dtype=np.int64)
    if bias_t is not None:
        if bias_t.data is None or bias_t.dtype != "int32" or bias_t.size != weight_sums.size:
            raise UnsupportedError(
                f"{op.kind} op {op.name!r}: bias {bias_t.name!r} ({bias_t.dtype}, shape {bias_t.shape}) must be a "
                f"constant int32 vector of {weight_sums.size} values: convert the model with int8 quantization"
            )
        bias = bias_t.data.astype(np.int64).reshape(-1)
    return wrap_int32(bias + int(input_offset) * weight_sums).astype(np.int32)


def _weights(ctx: LoweringContext, op: Op) -> Tensor:
    w = ctx.graph.tensor(op.inputs[1])
    if w.data is None:
        raise UnsupportedError(
            f"{op.kind} op {op.name!r}: weights {w.name!r} (shape {w.shape}) are not constant; tinygen compiles "
            "constant weights into flash: freeze the weights"
        )
    return w


def _requant_arrays(ctx: LoweringContext, op: Op, p: ConvParams | FullyConnectedParams, hint: str) -> tuple[str, str]:
    mult = ctx.const_array(f"{hint}_mult", np.asarray(p.multiplier, dtype=np.int32), "int32_t")
    shift = ctx.const_array(f"{hint}_shift", np.asarray(p.shift, dtype=np.int32), "int32_t")
    return mult, shift


#: tg_requant_fast.h modes
RQ_GENERAL, RQ_FAST, RQ_FAST_FULL = 0, 1, 2


def _rq_array(ctx: LoweringContext, op: Op, p: ConvParams | FullyConnectedParams, hint: str, n: int) -> tuple[str, str]:
    """The [n][3] int32 requantization values and the mode for tg_requant_fast.h."""
    mult = np.broadcast_to(np.asarray(p.multiplier, dtype=np.int64).reshape(-1), (n,))
    shift = np.broadcast_to(np.asarray(p.shift, dtype=np.int64).reshape(-1), (n,))
    if np.any(mult < 0):
        raise UnsupportedError(
            f"{op.kind} op {op.name!r}: negative requantization multiplier (a negative weight or output scale); "
            "re-quantize the model with positive scales"
        )
    if np.all((shift <= -2) & (shift >= -22)):
        e = -shift
        values = np.stack([mult, np.left_shift(1, e - 2) + p.output_offset * np.left_shift(1, e - 1), e - 1], axis=1)
        mode = RQ_FAST_FULL if (p.act_min, p.act_max) == (-128, 127) else RQ_FAST
    else:
        values = np.stack([mult, shift, np.zeros_like(shift)], axis=1)
        mode = RQ_GENERAL
    return ctx.const_array(f"{hint}_rq", values.astype(np.int32), "int32_t"), str(mode)


def _pair_layout(w2d: np.ndarray) -> np.ndarray:
    """[out_c, depth] rows -> tg_conv_gemm_s8's pair-interleaved layout (same bytes, reordered)."""
    return _blocked_layout(w2d, 2)


def _blocked_layout(w2d: np.ndarray, rows: int) -> np.ndarray:
    """Each block of ``rows`` rows: per complete group of four columns the rows' four bytes in turn,
    then the rows' tails in turn; rows after the last complete block stay natural."""
    out_c, depth = w2d.shape
    full = depth & ~3
    parts: list[np.ndarray] = []
    blocks = out_c // rows
    for blk in range(blocks):
        r = w2d[blk * rows : (blk + 1) * rows]
        parts.append(r[:, :full].reshape(rows, -1, 4).transpose(1, 0, 2).reshape(-1))
        parts.append(r[:, full:].reshape(-1))
    parts.append(w2d[blocks * rows :].reshape(-1))
    out = np.concatenate(parts)
    assert out.size == w2d.size
    return out


def _hint(op: Op) -> str:
    """Name stem of the op's const arrays (the code generator prefixes model name and layer index)."""
    return {"conv2d": "conv", "depthwise_conv2d": "dw", "fully_connected": "fc"}.get(op.kind, op.kind)


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


@register("fully_connected")
def lower_fully_connected(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, FullyConnectedParams)
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    w = _weights(ctx, op)
    if p.weights_offset != 0:
        raise UnsupportedError(
            f"fully_connected op {op.name!r}: weights {w.name!r} have zero point {-p.weights_offset}; tinygen needs "
            "symmetric int8 weights (zero point 0): re-quantize the model"
        )
    batches = x.size // p.in_features
    hint = _hint(op)
    weights = w.data.astype(np.int8)
    sums = weights.astype(np.int64).sum(axis=1)
    bias = ctx.const_array(f"{hint}_bias", _folded_bias(ctx, op, sums, p.input_offset), "int32_t")
    wsym = ctx.const_array(f"{hint}_w", _blocked_layout(weights.reshape(p.out_features, -1), 4), "int8_t")
    # per-tensor layers keep one requantization triple (rq_step 0)
    rq, mode = _rq_array(ctx, op, p, hint, p.out_features if p.per_channel else 1)
    args = (
        ctx.tensor_ptr(x.name), str(batches), str(p.in_features), wsym, bias, rq, "3" if p.per_channel else "0", mode,
        ctx.tensor_ptr(out.name), str(p.out_features), str(p.output_offset), str(p.act_min), str(p.act_max),
    )
    comment = (
        f"fully connected {p.in_features} -> {p.out_features} x{batches} "
        f"{'per-channel' if p.per_channel else 'per-tensor'} {op.activation}"
    )
    return KernelCall("tg_fully_connected_s8", args, (), 0, comment)
