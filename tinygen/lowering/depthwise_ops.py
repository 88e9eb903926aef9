"""Lowering of depthwise_conv2d (general kernel and the 3x3 fast path).

It shares the bias folding and requantization helpers of :mod:`tinygen.lowering.mac_common`.
Weights stay int8 with exactly the .tflite bytes: tg_depthwise_s8, the 1-D kernel tg_depthwise_1d_s8 (1 x K and
K x 1 filters, :func:`line_1d`), the one-input-channel kernel tg_depthwise_ch1_s8 and the 3x3 ring kernel
tg_depthwise_3x3_s8 read TFLite's layout [1, kh, kw, C]; tg_depthwise_3x3_ch_s8 (small images) reads
it reordered by channel groups. The ring kernel may run in place (see :func:`depthwise_in_place`).
Both 3x3 kernels get a per-layer ``fast`` flag: the lowering proves here, offline, that their
SMMLAR requantization is exact, and then passes doubled biases. On the DSP path, both run stride-1
layers with output lines of PAIRS_MIN_LINE or more as tg_depthwise_3x3_vp_s8 (int16 pairs of two
input lines, 9 MACs in 6 instructions), so their scratch covers that path's slots too.

Each call names the kernel specialisations its DSP path runs (KernelCall.variants): :func:`dw3_variants`,
:func:`dw3c_variants` and :func:`vp_variants` mirror the kernels' C dispatch (tests/test_variants_depthwise.py
proves it on every case), so a library compiles only the paths, line copies and requantization modes its model
uses; the portable path (no TG_DSP) is the compiler's choice and always compiled.
"""

from __future__ import annotations

import numpy as np

from tinygen.ir import Graph, Op
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinygen.ops.conv_common import ConvParams


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


def scratch_3x3(out_h: int, out_w: int, stride_h: int, stride_w: int) -> int:
    """Bytes of tg_depthwise_3x3_s8's scratch (TG_DEPTHWISE_3X3_SCRATCH_BYTES): its portable path's ring of
    three int16 input lines, or its DSP pair path's slots."""
    ring = 3 * ((max((out_h - 1) * stride_h, (out_w - 1) * stride_w) + 5) & ~1) * 2
    return max(ring, scratch_pairs(out_h, out_w, stride_h, stride_w))


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
    """The specialisations tg_depthwise_3x3_s8's DSP path runs for a call, mirroring its dispatch (the kernel
    and tg_dw3_ring): the pair path (DW3_VP + :func:`vp_variants`) where :func:`uses_pairs`, else the ring
    (DW3_RING) with the line copy DW3_S<stride>_<SAT|CLAMP|GENERIC> of its along-line stride 1 or 2 (larger
    strides take the portable loop, always compiled). Without TG_DSP the compiler keeps the portable path."""
    if uses_pairs(out_h, out_w, stride_h, stride_w):
        return ("DW3_VP", *vp_variants(out_h, out_w, fast, output_offset, act_min, act_max))
    stride = stride_h if out_h > out_w else stride_w  # along the line: columns when the output is taller
    if stride > 2:
        return ("DW3_RING",)
    mode = "GENERIC" if not fast else "SAT" if (act_min, act_max) == (-128, 127) else "CLAMP"
    return ("DW3_RING", f"DW3_S{stride}_{mode}")


def dw3c_variants(out_h: int, out_w: int, stride_h: int, stride_w: int, fast: bool, output_offset: int,
                  act_min: int, act_max: int) -> tuple[str, ...]:
    """The specialisations tg_depthwise_3x3_ch_s8's DSP path runs for a call, mirroring its dispatch: the pair
    path (DW3C_VP + :func:`vp_variants`) where :func:`uses_pairs`, else the four-channel loop (DW3C_RUN)."""
    if uses_pairs(out_h, out_w, stride_h, stride_w):
        return ("DW3C_VP", *vp_variants(out_h, out_w, fast, output_offset, act_min, act_max))
    return ("DW3C_RUN",)




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
