"""Lowering of depthwise_conv2d (general kernel and the 3x3 fast path).

It shares the bias folding and requantization helpers of :mod:`tinygen.lowering.mac_common`.
Weights stay int8 with exactly the .tflite bytes: tg_depthwise_s8, the 1-D kernel tg_depthwise_1d_s8 (1 x K and
K x 1 filters, :func:`line_1d`), the one-input-channel kernel tg_depthwise_ch1_s8 and the 3x3 ring kernel
tg_depthwise_3x3_s8 read TFLite's layout [1, kh, kw, C]; tg_depthwise_3x3_ch_s8 (small images) reads
it reordered by channel groups. The ring kernel may run in place (see :func:`depthwise_in_place`).
Both 3x3 kernels get a per-layer ``fast`` flag: the lowering proves here, offline, that their
SMMLAR requantization is exact, and then passes doubled biases. On the DSP path, both run stride-1
layers with output lines of PAIRS_MIN_LINE or more as tg_depthwise_3x3_vp_s8 (int16 pairs of two
input lines, 9 MACs in 6 instructions), so their scratch covers that path's slots too; tg_depthwise_3x3_s8 runs
stride-2x2 layers as its four-channel stride-2 path (:func:`uses_groups2`: int16 pairs along five input lines,
two output lines per pass), whose slots its scratch covers as well.

Each call names the kernel specialisations its DSP path runs (KernelCall.variants): :func:`dw3_variants`,
:func:`dw3c_variants` and :func:`vp_variants` mirror the kernels' C dispatch (tests/test_variants_depthwise.py
proves it on every case), so a library compiles only the paths, line copies and requantization modes its model
uses; the 3x3 kernels' portable path (no TG_DSP) is the compiler's choice and always compiled. The 1-D kernel's
forms serve both paths: :func:`dw1d_variants` names those of either.
"""

from __future__ import annotations

import numpy as np

from tinygen.ir import Graph, Op
from tinygen.lowering.base import QUANT, WEIGHTS, KernelCall
from tinygen.lowering.mac_common import output_multipliers, rq_values_per_channel
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinygen.lowering.base import LoweringContext
    from tinygen.ops.conv_common import ConvParams

#: the name stem of the depthwise op's const arrays (tinygen.ops.depthwise_conv2d.CONST_STEM)
CONST_STEM = "dw"


#: the 3x3 kernels' DSP path runs as the pair path (tg_depthwise_3x3_vp_s8) from this output line length on
PAIRS_MIN_LINE = 6


def uses_pairs(out_h: int, out_w: int, stride_h: int, stride_w: int) -> bool:
    """Whether the 3x3 kernels' DSP path takes the pair path (TG_DWVP_USE in tg_depthwise_3x3_vp_s8.h)."""
    return stride_h == 1 and stride_w == 1 and max(out_h, out_w) >= PAIRS_MIN_LINE


def scratch_pairs(out_h: int, out_w: int, stride_h: int, stride_w: int) -> int:
    """Bytes of the 3x3 kernels' DSP pair path (0 where it does not run): two slots of four channels'
    int16 pair words over the padded output line (TG_DWVP_SCRATCH_BYTES in tg_depthwise_3x3_vp_s8.h)."""
    if not uses_pairs(out_h, out_w, stride_h, stride_w):
        return 0
    return 64 * ((max(out_h, out_w) + 3) // 2)


def uses_groups2(stride_h: int, stride_w: int) -> bool:
    """Whether tg_depthwise_3x3_s8's DSP path takes its four-channel stride-2 path (TG_DW3_G2_USE in
    tg_depthwise_3x3_s8.h): stride 2 both ways."""
    return stride_h == 2 and stride_w == 2


def scratch_3x3(out_h: int, out_w: int, stride_h: int, stride_w: int) -> int:
    """Bytes of tg_depthwise_3x3_s8's scratch (TG_DEPTHWISE_3X3_SCRATCH_BYTES): its portable path's ring of
    three int16 input lines, or its DSP pair path's slots, or its DSP stride-2 path's five slots (lines of four
    channels' int16 pairs, in blocks of 160 bytes: two pairs of the five lines)."""
    ring = 3 * ((max((out_h - 1) * stride_h, (out_w - 1) * stride_w) + 5) & ~1) * 2
    groups2 = 160 * ((max(out_h, out_w) + 2) // 2) if uses_groups2(stride_h, stride_w) else 0
    return max(ring, scratch_pairs(out_h, out_w, stride_h, stride_w), groups2)


def vp_variants(out_h: int, out_w: int, fast: bool, output_offset: int, act_min: int, act_max: int) -> tuple[str, ...]:
    """The line functions tg_depthwise_3x3_vp_s8 runs for a call (TG_VARIANT names, see its table): the
    requantization mode (ANY: generic, unless fast; then SIGNED where act_min < output_offset, else RELU; with
    _SAT where the clamp range is all of -128..127), DWVP_TWO_<mode> for pairs of output lines and DWVP_ONE_<mode>
    for the last of an odd count."""
    sat = "_SAT" if (act_min, act_max) == (-128, 127) else ""
    mode = "ANY" if not fast else ("SIGNED" if act_min < output_offset else "RELU") + sat
    out_lines = out_w if out_h > out_w else out_h  # lines are columns when the output is taller than wide
    return (f"DWVP_TWO_{mode}",) * (out_lines >= 2) + (f"DWVP_ONE_{mode}",) * (out_lines % 2)


def dw3_variants(out_h: int, out_w: int, stride_h: int, stride_w: int, fast: bool, output_offset: int, act_min: int,
                 act_max: int) -> tuple[str, ...]:
    """The specialisations tg_depthwise_3x3_s8's DSP path runs for a call, mirroring its dispatch (the kernel,
    tg_dw3_g2 and tg_dw3_ring): the pair path (DW3_VP + :func:`vp_variants`) where :func:`uses_pairs`, the
    stride-2 path's line functions DW3_G2_<TWO|ONE>_<GENERIC|SAT|CLAMP|RELU_SAT|RELU_CLAMP> where
    :func:`uses_groups2` (TWO for pairs of output lines, ONE for the last of an odd count; RELU: fast with
    act_min >= output_offset, no sign correction; SAT: the clamp range is all of -128..127), else
    the ring (DW3_RING) with the line copy DW3_S<stride>_<SAT|CLAMP|GENERIC> of its along-line stride 1 or 2
    (larger strides take the portable loop, always compiled). Without TG_DSP the compiler keeps the portable
    path."""
    if uses_pairs(out_h, out_w, stride_h, stride_w):
        return ("DW3_VP", *vp_variants(out_h, out_w, fast, output_offset, act_min, act_max))
    if uses_groups2(stride_h, stride_w):
        clamp = "SAT" if (act_min, act_max) == (-128, 127) else "CLAMP"
        mode = "GENERIC" if not fast else "RELU_" + clamp if act_min >= output_offset else clamp
        out_lines = out_w if out_h > out_w else out_h  # lines are columns when the output is taller than wide
        return (f"DW3_G2_TWO_{mode}",) * (out_lines >= 2) + (f"DW3_G2_ONE_{mode}",) * (out_lines % 2)
    stride = stride_h if out_h > out_w else stride_w  # along the line: columns when the output is taller
    if stride > 2:
        return ("DW3_RING",)
    mode = "GENERIC" if not fast else "SAT" if (act_min, act_max) == (-128, 127) else "CLAMP"
    return ("DW3_RING", f"DW3_S{stride}_{mode}")


def dw3c_variants(out_h: int, out_w: int, stride_h: int, stride_w: int, fast: bool, output_offset: int,
                  act_min: int, act_max: int) -> tuple[str, ...]:
    """The specialisation tg_depthwise_3x3_ch_s8's DSP path runs for a call, mirroring its dispatch: the channel
    function of its requantization mode, DW3C_<mode> (the modes of :func:`vp_variants`). Its portable path is
    the compiler's choice, always compiled. (The geometry does not pick a copy: every one has every stride.)"""
    sat = "_SAT" if (act_min, act_max) == (-128, 127) else ""
    return (f"DW3C_{'ANY' if not fast else ('SIGNED' if act_min < output_offset else 'RELU') + sat}",)


def scratch_3x3_ch(channels: int, out_h: int, out_w: int, stride_h: int, stride_w: int) -> int:
    """Bytes of tg_depthwise_3x3_ch_s8's scratch (TG_DEPTHWISE_3X3_CH_SCRATCH_BYTES): its DSP path's padded plane
    of four channels, the rows and columns the outputs read (pairs of columns, one pair past an even column's
    taps), at least its portable path's four int32 requantization slots and a zero point per channel."""
    plane = 16 * ((out_h - 1) * stride_h + 3) * (((out_w - 1) * stride_w) // 2 + 2)
    return max(plane, 17 * channels)


def fast_requantization(bias: np.ndarray, weights: np.ndarray, p: ConvParams) -> bool:
    """Whether the 3x3 kernels' DSP requantization (SMMLAR of the doubled accumulator with double rounding,
    SMMLA with single rounding, then one rounding shift: tg_dw_rq_fast) is exact for every channel:
    multipliers >= 0, right shifts 1..30, and no int32 overflow for any int8 input (see tg_depthwise_3x3_s8.h).
    The bounds serve both roundings: the high word is at most the accumulator in magnitude either way."""
    mult = np.asarray(p.multiplier, dtype=np.int64).reshape(-1)
    shift = np.asarray(p.shift, dtype=np.int64).reshape(-1)
    mult, shift = np.broadcast_to(mult, bias.shape), np.broadcast_to(shift, bias.shape)
    if (mult < 0).any() or (shift > -1).any() or (shift < -30).any():
        return False
    bound = np.abs(bias.astype(np.int64)) + 128 * np.abs(weights.astype(np.int64)).reshape(-1, bias.size).sum(axis=0)
    right = -shift
    limit = 2**31 - 1
    return bool((2 * bound <= limit).all() and (bound + 2 + 2 ** (right - 1) + 128 * 2**right <= limit).all())


#: tg_depthwise_3x3_s8 (a ring of int16 lines per channel) pays off from this output line length on
#: (measured on person_detect: 12x12 lines run faster in the ring, 6x6 four channels at a time);
#: with shorter lines, layers of CHANNELS_MIN or more channels (a multiple of 4: the
#: per-pixel set-up is shared by channels / 4 groups) run four channels at a time in
#: tg_depthwise_3x3_ch_s8
RING_MIN_LINE = 8
CHANNELS_MIN = 16


def uses_ring(graph: Graph, op: Op) -> bool:
    """Whether a 3x3 depthwise op runs as tg_depthwise_3x3_s8 (else tg_depthwise_3x3_ch_s8)."""
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    channels = x.shape[-1]
    if channels % 4 != 0 or channels < CHANNELS_MIN:
        return True
    return max(out.shape[1], out.shape[2]) >= RING_MIN_LINE


#: stride-2x2 layers of at most this output line length run on tg_depthwise_s8 rather than tg_depthwise_3x3_ch_s8,
#: whose plane copy and per-group constants cost more than its MACs save there (measured on mltk_kws_mobilenetv2's
#: 4x4x96 -> 2x2 layer, instructions M3/M4/M7: tg_depthwise_s8 26,095/24,625/24,576 against 27,429 (M7) with the
#: faster plane copy, 46,866/29,714/28,998 before it; at 3x3 outputs, person_detect's 6x6x128,
#: tg_depthwise_3x3_ch_s8 is the faster on M4/M7: 58,923/57,491 against 72,273/72,152)
GENERIC_MAX_LINE_S2 = 2


def generic_beats_channel_groups(graph: Graph, op: Op) -> bool:
    """Whether a 3x3 depthwise layer (multiplier 1, undilated) that would run as tg_depthwise_3x3_ch_s8 (not
    :func:`uses_ring`) runs faster on tg_depthwise_s8: stride 2x2 with output lines of at most GENERIC_MAX_LINE_S2."""
    out = graph.tensor(op.outputs[0])
    small = tuple(op.attrs.get("stride", (1, 1))) == (2, 2) and max(out.shape[1], out.shape[2]) <= GENERIC_MAX_LINE_S2
    return small and not uses_ring(graph, op)


def pack_channel_groups(weights: np.ndarray) -> np.ndarray:
    """TFLite [1, 3, 3, C] -> tg_depthwise_3x3_ch_s8's order (the same bytes): per group of four
    channels its nine taps' four weights, then the channels past the last group tap by tap."""
    taps = weights.reshape(9, -1)
    groups = taps.shape[1] // 4
    head = taps[:, : 4 * groups].reshape(9, groups, 4).transpose(1, 0, 2).reshape(-1)
    tail = taps[:, 4 * groups :].T.reshape(-1)
    return np.concatenate([head, tail]).astype(np.int8)


#: tg_depthwise_1d_s8's longest filter (TG_DEPTHWISE_1D_MAX_TAPS) and shortest output line (shorter lines: the
#: per-line copy costs more than tg_depthwise_s8's per-pixel set-up)
MAX_TAPS_1D = 16
MIN_LINE_1D = 4


def line_1d(kh: int, kw: int, out_h: int, out_w: int, p: ConvParams) -> tuple[bool, int, int] | None:
    """(along_w, output line length, stride along the line) when a depthwise op runs as tg_depthwise_1d_s8:
    multiplier 1, a 1 x K (lines are rows, along_w) or K x 1 filter (lines are columns) of at most MAX_TAPS_1D
    taps, undilated along the line, output lines of MIN_LINE_1D or more; else None."""
    if p.depth_multiplier != 1 or kh * kw > MAX_TAPS_1D:
        return None
    if kh == 1 and p.dilation_w == 1 and out_w >= MIN_LINE_1D:
        return True, out_w, p.stride_w
    if kw == 1 and p.dilation_h == 1 and out_h >= MIN_LINE_1D:
        return False, out_h, p.stride_h
    return None


def scratch_1d(out_len: int, stride: int, taps: int) -> int:
    """Bytes of tg_depthwise_1d_s8's scratch (TG_DEPTHWISE_1D_SCRATCH_BYTES): one int16 line, padding included."""
    return 2 * ((out_len - 1) * stride + 2 * ((taps + 1) // 2) + 2)


#: tg_depthwise_1d_s8's fast-form modes (TG_DW1D_FAST_RELU, TG_DW1D_FAST_SIGNED in tg_depthwise_1d_s8.h)
DW1D_FAST_RELU = 4
DW1D_FAST_SIGNED = 5


def requant_1d(op: Op, p: ConvParams, folded: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """tg_depthwise_1d_s8's (bias, rq values [C, 3], mode): where :func:`fast_requantization` proves the fast form
    exact, the doubled bias and per channel {multiplier, 2^(r-1) + output_offset * 2^r, r} (r the right shift;
    its bounds keep the rounding term in int32), mode DW1D_FAST_RELU where act_min >= output_offset (the double
    rounding's sign correction cannot change an output), else DW1D_FAST_SIGNED; otherwise the folded bias and
    tg_requant_fast.h's values, the form chosen per channel (it runs channel by channel: a layer with a few
    shifts outside the fast form keeps that form on its other channels)."""
    n = folded.size
    if not fast_requantization(folded, weights, p):
        values, mode = rq_values_per_channel(op, p, n)
        return folded, values, mode
    mult, shift = output_multipliers(op, p, n)
    right = -shift
    rnd = (1 << (right - 1)) + p.output_offset * (1 << right)
    values = np.stack([mult, rnd, right], axis=1).astype(np.int32)
    mode = DW1D_FAST_RELU if p.act_min >= p.output_offset else DW1D_FAST_SIGNED
    return folded * np.int32(2), values, mode


def direct_1d(in_shape: tuple[int, ...], out_shape: tuple[int, ...], along_w: bool, taps: int, p: ConvParams) -> bool:
    """Whether tg_depthwise_1d_s8's geometry lets a fast-form call of 3 (5 on the DSP path) taps read its lines
    straight from the input (its `direct`, less the form and tap count): stride 1 along the line, padding there of
    at most taps - 1, outputs as far apart as inputs, and no padding line across."""
    _, h, w, _ = in_shape
    _, oh, ow, _ = out_shape
    if along_w:
        stride, pad, line_stride, line_pad, lines, out_lines, same_step = (p.stride_w, p.pad_left, p.stride_h,
                                                                           p.pad_top, h, oh, True)
    else:
        stride, pad, line_stride, line_pad, lines, out_lines, same_step = (p.stride_h, p.pad_top, p.stride_w,
                                                                           p.pad_left, w, ow, ow == w)
    return (stride == 1 and 0 <= pad <= taps - 1 and same_step and line_pad == 0
            and (out_lines - 1) * line_stride < lines)


def dw1d_variants(taps: int, mode: int, act_min: int, act_max: int, direct: bool) -> tuple[str, ...]:
    """The specialisations tg_depthwise_1d_s8 runs for a call (TG_VARIANT names), mirroring its dispatch on both
    paths: DW1D_ANY for the forms of tg_requant_fast.h (tg_dw1d_line_any); in the fast form (`mode`
    DW1D_FAST_RELU or DW1D_FAST_SIGNED; _SAT where the clamp range is all of -128..127) the line copy's
    DW1D_P<tap pairs, N past 5>_<form>, or where :func:`direct_1d` holds DW1D_D3_<form> for 3 taps, and for 5
    DW1D_D5_<form> (the DSP path) with the line copy DW1D_P3_<form> (the portable path)."""
    if mode not in (DW1D_FAST_RELU, DW1D_FAST_SIGNED):
        return ("DW1D_ANY",)
    form = ("SIGNED" if mode == DW1D_FAST_SIGNED else "RELU") + ("_SAT" if (act_min, act_max) == (-128, 127) else "")
    pairs = (taps + 1) // 2
    line = f"DW1D_P{pairs if pairs <= 5 else 'N'}_{form}"
    if not direct or taps not in (3, 5):
        return (line,)
    return (f"DW1D_D3_{form}",) if taps == 3 else (f"DW1D_D5_{form}", line)


def call_1d(ctx: LoweringContext, op: Op, p: ConvParams, weights: np.ndarray, folded: np.ndarray,
            comment: str) -> KernelCall:
    """The tg_depthwise_1d_s8 call of a layer :func:`line_1d` accepts: TFLite's int8 ``weights`` [1, kh, kw, C] and
    the ``folded`` biases, requantized as :func:`requant_1d` chooses."""
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    n, h, wd, c = x.shape
    _, kh, kw, _ = weights.shape
    _, oh, ow, _ = out.shape
    line = line_1d(kh, kw, oh, ow, p)
    assert line is not None, "call_1d of a layer line_1d refuses"
    along_w, out_len, stride = line
    bias, values, mode = requant_1d(op, p, folded, weights)
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c),
        ctx.const_array(f"{CONST_STEM}_w", weights, "int8_t", WEIGHTS), str(kh * kw), str(int(along_w)),
        ctx.const_array(f"{CONST_STEM}_bias", bias, "int32_t", WEIGHTS),
        ctx.const_array(f"{CONST_STEM}_rq", values, "int32_t", QUANT), str(mode), ctx.tensor_ptr(out.name),
        str(oh), str(ow), str(p.stride_h), str(p.stride_w), str(p.pad_top), str(p.pad_left), str(-p.input_offset),
        str(p.output_offset), str(p.act_min), str(p.act_max), f"(int16_t *)(void *){ctx.scratch_ptr()}",
    )
    variants = dw1d_variants(kh * kw, mode, p.act_min, p.act_max, direct_1d(x.shape, out.shape, along_w, kh * kw, p))
    return KernelCall("tg_depthwise_1d_s8", args, (), scratch_1d(out_len, stride, kh * kw), comment, variants)


def uses_mult(kh: int, kw: int, p: ConvParams) -> bool:
    """Whether a depthwise op runs as tg_depthwise_mult_s8: a depth multiplier > 1 with a 3x3 undilated filter
    (then the multiplier-1 3x3 kernel over the input with each channel repeated)."""
    return p.depth_multiplier > 1 and (kh, kw) == (3, 3) and (p.dilation_h, p.dilation_w) == (1, 1)


def mult_expands_in_output(in_shape: tuple[int, ...], out_shape: tuple[int, ...], p: ConvParams) -> bool:
    """Whether tg_depthwise_mult_s8 repeats the input into its output buffer and runs the 3x3 kernel in place there
    (stride 1, the output the input's height and width), else into scratch."""
    return (p.stride_h, p.stride_w) == (1, 1) and tuple(in_shape[1:3]) == tuple(out_shape[1:3])


def call_mult(ctx: LoweringContext, op: Op, p: ConvParams, weights: np.ndarray, folded: np.ndarray,
              comment: str) -> KernelCall:
    """The tg_depthwise_mult_s8 call of a layer :func:`uses_mult` accepts: tg_depthwise_3x3_s8's arguments for
    in_c * multiplier channels (TFLite's ``weights`` [1, 3, 3, in_c * multiplier] unchanged, the ``folded``
    biases), the repeated input in the output buffer (:func:`mult_expands_in_output`) or at the start of the
    scratch, the 3x3 kernel's scratch after it (the portable path: its requantization values and zero points)."""
    from tinygen.lowering.mac_common import _requant_arrays

    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    n, h, wd, c = x.shape
    _, oh, ow, out_c = out.shape
    mult, shift = _requant_arrays(ctx, op, p, CONST_STEM)
    fast = fast_requantization(folded, weights, p)
    # the fast requantization accumulates twice the sum (exact: fast_requantization bounds it)
    bias = ctx.const_array(f"{CONST_STEM}_bias", folded * np.int32(2) if fast else folded, "int32_t", WEIGHTS)
    if mult_expands_in_output(x.shape, out.shape, p):
        expanded, offset = ctx.tensor_ptr(out.name), 0
    else:
        expanded, offset = ctx.scratch_ptr(), (n * h * wd * out_c + 7) & ~7  # the 3x3 scratch 8-byte aligned
    args = (
        ctx.tensor_ptr(x.name), str(n), str(h), str(wd), str(c), str(p.depth_multiplier), expanded,
        ctx.const_array(f"{CONST_STEM}_w", weights, "int8_t", WEIGHTS), bias, mult, shift, ctx.tensor_ptr(out.name),
        str(oh), str(ow), str(p.stride_h), str(p.stride_w), str(p.pad_top), str(p.pad_left), str(-p.input_offset),
        str(p.output_offset), str(p.act_min), str(p.act_max), "1" if fast else "0",
        f"(int16_t *)(void *)((int8_t *){ctx.scratch_ptr()} + {offset})",
    )
    variants = dw3_variants(oh, ow, p.stride_h, p.stride_w, fast, p.output_offset, p.act_min, p.act_max)
    # after the repeated input: the 3x3 kernel's scratch (DSP path), or the portable path's three int32
    # requantization values per output channel and in_c zero points
    scratch = offset + max(scratch_3x3(oh, ow, p.stride_h, p.stride_w), 12 * out_c + c)
    return KernelCall("tg_depthwise_mult_s8", args, (), scratch, comment, variants)
