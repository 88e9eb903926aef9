"""Lowerings to the Helium (MVE) kernels, for targets whose core has MVE (Cortex-M55).

The code generator consults :data:`MVE_LOWERINGS` first when it generates for an MVE target
(``codegen.generate(..., mve=True)``); a lowering returns None for a configuration it does not cover
and the op falls back to the normal :data:`tinygen.lowering.LOWERINGS`.

Offline work (templates/kernels/tg_mve_s8.h documents the layouts):

* weights in "quad layout": output channels in groups of four (zero rows pad the last group), depth
  padded with zeros to a multiple of 16, the four channels' 16-byte runs interleaved per step;
* per quad 16 int32 params {bias[4] (input offset folded in, :func:`mac_common._folded_bias`),
  multiplier[4], left shift[4], -right shift[4]} for the vector requantization (TFLite Micro's
  arithmetic, bit-exact: see the header).
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from tinygen.ir import Op
from tinygen.lowering.base import IN_PLACE, IN_PLACE_LAG, QUANT, WEIGHTS, KernelCall, LoweringContext
from tinygen.lowering.mac_common import _folded_bias, _hint, _weights
from tinygen.qparams import AddParams, ConvParams, FullyConnectedParams, op_params

#: a lowering for MVE targets: a KernelCall, or None to fall back to the normal lowering
MveLowering = Callable[[LoweringContext, Op], Optional[KernelCall]]

#: op kind -> MVE lowering
MVE_LOWERINGS: dict[str, MveLowering] = {}

STEP = 16  # int8 values per VMLADAVA.S8
CONV_PIXELS = 4  # TG_CONV_MVE_PIXELS: im2col columns per block of tg_conv_mve_s8


def register_mve(*kinds: str) -> Callable[[MveLowering], MveLowering]:
    def decorator(func: MveLowering) -> MveLowering:
        for kind in kinds:
            MVE_LOWERINGS[kind] = func
        return func

    return decorator


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def quad_layout(w2d: np.ndarray) -> np.ndarray:
    """[out_c, depth] int8 rows -> the quad layout [quad][d16 / 16][4][16] (zero padded)."""
    out_c, depth = w2d.shape
    padded = np.zeros((_round_up(out_c, 4), _round_up(depth, STEP)), dtype=np.int8)
    padded[:out_c, :depth] = w2d
    quads, d16 = padded.shape[0] // 4, padded.shape[1]
    return padded.reshape(quads, 4, d16 // STEP, STEP).transpose(0, 2, 1, 3).reshape(-1)


def quad_params(bias: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, bool]:
    """Per quad {bias[4], multiplier[4], left[4], -right[4]} (int32), and whether any shift is left."""
    out_c = bias.size
    n = _round_up(out_c, 4)

    def padded(values: np.ndarray) -> np.ndarray:
        out = np.zeros(n, dtype=np.int64)
        out[:out_c] = np.broadcast_to(np.asarray(values, dtype=np.int64).reshape(-1), (out_c,))
        return out

    shifts = padded(shift)
    left, right_neg = np.maximum(shifts, 0), np.minimum(shifts, 0)
    blocks = np.stack([padded(bias), padded(multiplier), left, right_neg]).reshape(4, n // 4, 4).transpose(1, 0, 2)
    return blocks.reshape(-1).astype(np.int32), bool(np.any(left > 0))


def _quad_params_kinds(params: np.ndarray) -> dict[str, int]:
    """The bytes of :func:`quad_params` by kind: one bias in each four int32, the rest requantization."""
    return {WEIGHTS: params.nbytes // 4, QUANT: params.nbytes - params.nbytes // 4}


def _vector_requant_ok(multiplier: np.ndarray, shift: np.ndarray) -> bool:
    """The vector requantization's domain: multipliers >= 0 (VQRDMULH cannot saturate), shifts that
    VSHL/VRSHL take (TFLite's are -31..30)."""
    m, s = np.asarray(multiplier), np.asarray(shift)
    return bool(np.all(m >= 0) and np.all(s >= -31) and np.all(s <= 30))


@register_mve("conv2d")
def lower_conv2d_mve(ctx: LoweringContext, op: Op) -> KernelCall | None:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, ConvParams)
    x = ctx.graph.tensor(op.inputs[0])
    weights = _weights(ctx, op).data.astype(np.int8)
    if len(x.shape) != 4 or weights.ndim != 4 or weights.shape[3] != x.shape[3] or p.depth_multiplier != 1:
        return None  # grouped or unusual convolutions: the normal lowering decides
    if not _vector_requant_ok(p.multiplier, p.shift):
        return None
    return _conv_call(ctx, op, p, weights, "conv")


def _conv_call(ctx: LoweringContext, op: Op, p: ConvParams, weights: np.ndarray, what: str) -> KernelCall:
    """tg_conv_mve_s8 for OHWI int8 ``weights``. It copies each pixel's window before writing the pixel's
    outputs, so it may run over its input wherever the planner allows the DSP conv kernels to."""
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    n, h, wd, c = x.shape
    out_c, kh, kw, _ = weights.shape
    _, oh, ow, _ = out.shape
    depth = kh * kw * c
    hint = _hint(op)
    sums = weights.astype(np.int64).reshape(out_c, -1).sum(axis=1)
    params, has_left = quad_params(_folded_bias(ctx, op, sums, p.input_offset), p.multiplier, p.shift)
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c),
        ctx.const_array(f"{hint}_mve_w", quad_layout(weights.reshape(out_c, -1)), "int8_t", WEIGHTS),
        str(kh), str(kw), ctx.const_array(f"{hint}_mve_p", params, "int32_t", _quad_params_kinds(params)),
        ctx.tensor_ptr(out.name), str(oh), str(ow), str(out_c), str(p.stride_h), str(p.stride_w),
        str(p.dilation_h), str(p.dilation_w), str(p.pad_top), str(p.pad_left), str(-p.input_offset),
        str(p.output_offset), str(p.act_min), str(p.act_max), str(int(has_left)), ctx.scratch_ptr(),
    )
    comment = (
        f"{what} {kh}x{kw} stride {p.stride_h}x{p.stride_w} dil {p.dilation_h}x{p.dilation_w} "
        f"{x.shape} -> {out.shape} {op.activation} (MVE)"
    )
    return KernelCall("tg_conv_mve_s8", args, (), CONV_PIXELS * _round_up(depth, STEP), comment)


@register_mve("fully_connected")
def lower_fully_connected_mve(ctx: LoweringContext, op: Op) -> KernelCall | None:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, FullyConnectedParams)
    if p.weights_offset != 0 or not _vector_requant_ok(p.multiplier, p.shift):
        return None  # the normal lowering reports asymmetric weights
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    weights = _weights(ctx, op).data.astype(np.int8).reshape(p.out_features, -1)
    batches = x.size // p.in_features
    hint = _hint(op)
    sums = weights.astype(np.int64).sum(axis=1)
    # a per-tensor layer repeats its one multiplier and shift in every quad
    params, has_left = quad_params(_folded_bias(ctx, op, sums, p.input_offset), p.multiplier, p.shift)
    scratch = 0 if p.in_features % STEP == 0 else _round_up(p.in_features, STEP)
    args = (
        ctx.tensor_ptr(x.name), str(batches), str(p.in_features),
        ctx.const_array(f"{hint}_mve_w", quad_layout(weights), "int8_t", WEIGHTS),
        ctx.const_array(f"{hint}_mve_p", params, "int32_t", _quad_params_kinds(params)),
        ctx.tensor_ptr(out.name), str(p.out_features), str(p.output_offset), str(p.act_min), str(p.act_max),
        str(int(has_left)), ctx.scratch_ptr() if scratch else "(int8_t *)0",
    )
    comment = (
        f"fully connected {p.in_features} -> {p.out_features} x{batches} "
        f"{'per-channel' if p.per_channel else 'per-tensor'} {op.activation} (MVE)"
    )
    return KernelCall("tg_fully_connected_mve_s8", args, (), scratch, comment)


#: tg_depthwise_mve_s8 modes (TG_DW_MVE_*)
DW_GENERAL, DW_RING, DW_GATHER = 0, 1, 2


def _channel_taps_layout(weights: np.ndarray) -> np.ndarray:
    """Depthwise [1, 3, 3, C] -> the gather mode's [C][16]: each channel's nine taps, then seven zeros."""
    taps = weights.reshape(9, -1).T  # [C][9]
    out = np.zeros((taps.shape[0], STEP), dtype=np.int8)
    out[:, :9] = taps
    return out.reshape(-1)


def _tap_quad_layout(weights: np.ndarray) -> np.ndarray:
    """Depthwise [1, kh, kw, C] -> tg_depthwise_mve_s8's [C / 4][kh * kw][4] (C a multiple of 4)."""
    taps = weights.reshape(-1, weights.shape[-1])  # [tap][C]
    return taps.reshape(taps.shape[0], -1, 4).transpose(1, 0, 2).reshape(-1)


def _in_place_covered(ctx: LoweringContext, op: Op, p: ConvParams, kernel: tuple[int, int]) -> bool:
    """False when the planner may put the output over the input (the depthwise IN_PLACE rule, or any
    lagged overlap) in a configuration the kernel's row ring does not protect (3x3, dilation 1, stride 1,
    same shape: every input row is copied into the ring before an output row overwrites it)."""
    if "depthwise_conv2d" in IN_PLACE_LAG:
        return False  # a lagged overlap: outputs would be written before later windows read their rows
    predicate = IN_PLACE.get(op.kind)
    if predicate is None or not predicate(ctx.graph, op):
        return True
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    return (
        kernel == (3, 3) and (p.stride_h, p.stride_w) == (1, 1) and (p.dilation_h, p.dilation_w) == (1, 1)
        and tuple(x.shape) == tuple(out.shape)
    )


def _sums_stay_int32(bias: np.ndarray, weights: np.ndarray) -> bool:
    """Whether every partial sum bias + products of the channel stays in int32 for any int8 input, so
    the kernel's saturating adds (VQADD) equal TFLite's wrapping ones."""
    bound = np.abs(bias.astype(np.int64)) + 128 * np.abs(weights.astype(np.int64)).sum(axis=0)
    return bool(np.all(bound <= 2**31 - 1))


@register_mve("depthwise_conv2d")
def lower_depthwise_mve(ctx: LoweringContext, op: Op) -> KernelCall | None:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, ConvParams)
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    weights = _weights(ctx, op).data.astype(np.int8)
    if len(x.shape) != 4 or weights.ndim != 4 or not _vector_requant_ok(p.multiplier, p.shift):
        return None
    n, h, wd, c = x.shape
    _, kh, kw, out_c = weights.shape
    _, oh, ow, _ = out.shape
    if c == 1 and IN_PLACE.get(op.kind) is not None and IN_PLACE[op.kind](ctx.graph, op):
        return None
    if c == 1:
        # one input channel: output channel m is an ordinary filter [kh, kw] -> the MVE conv kernel with
        # OHWI weights [M, kh, kw, 1] (the same sums)
        ohwi = np.ascontiguousarray(weights.transpose(3, 1, 2, 0))
        return _conv_call(ctx, op, p, ohwi, "depthwise (as conv)")
    if out_c != c or c % 4 != 0 or kh > 16:
        return None  # depth multiplier > 1, channel tails, tall kernels: the normal kernels
    if not _in_place_covered(ctx, op, p, (kh, kw)):
        return None
    hint = _hint(op)
    taps = weights.reshape(kh * kw, c)
    bias = _folded_bias(ctx, op, taps.astype(np.int64).sum(axis=0), p.input_offset)
    if not _sums_stay_int32(bias, taps):
        return None
    params, has_left = quad_params(bias, p.multiplier, p.shift)
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
        str(kh), str(kw), ctx.const_array(f"{hint}_mve_p", params, "int32_t", _quad_params_kinds(params)),
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


@register_mve("add")
def lower_add_mve(ctx: LoweringContext, op: Op) -> KernelCall | None:
    """Same-shape int8 ADD, double rounding (TFLite's default); broadcasts and single rounding fall back."""
    if ctx.rounding != "double":
        return None
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, AddParams)
    a, b, out = (ctx.graph.tensor(name) for name in (op.inputs[0], op.inputs[1], op.outputs[0]))
    shifts = (p.input1_shift, p.input2_shift, p.output_shift)
    mults = (p.input1_multiplier, p.input2_multiplier, p.output_multiplier)
    if not (a.size == b.size == out.size) or p.left_shift != 20 or max(shifts) > 0 or min(shifts) < -31 or min(mults) < 0:
        return None
    args = (
        ctx.tensor_ptr(a.name), ctx.tensor_ptr(b.name), ctx.tensor_ptr(out.name), str(out.size),
        str(p.input1_offset), str(p.input2_offset), str(p.input1_multiplier), str(-p.input1_shift),
        str(p.input2_multiplier), str(-p.input2_shift), str(p.output_multiplier), str(-p.output_shift),
        str(p.output_offset), str(p.act_min), str(p.act_max),
    )
    return KernelCall("tg_add_mve_s8", args, (), 0, f"add {out.shape} {op.activation} (MVE)")
