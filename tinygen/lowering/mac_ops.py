"""Lowering of conv2d (depthwise: depthwise_ops, fully connected: fc_ops).

Weights are reordered offline (same int8 bytes, same size) so the DSP loops load the rows they block
together from one pointer: channel pairs for the conv GEMM (tg_conv_gemm_s8.h). The portable path
reads the same layout. Bias folding and requantization constants: :mod:`tinygen.lowering.mac_common`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tinygen.ir import Op
from tinygen.lowering.base import WEIGHTS, KernelCall, LoweringContext
from tinygen.lowering.fc_ops import fc_variants
from tinygen.lowering.mac_common import RQ_FAST, RQ_FAST_FULL, RQ_MIXED, _blocked_layout, _folded_bias, _rq_array

if TYPE_CHECKING:
    from tinygen.ops.conv_common import ConvParams


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


def conv_1x1_variants(in_c: int, split: bool = False) -> tuple[str, ...]:
    """tg_conv_1x1_s8 (conditions at the top of tg_conv_1x1_s8.c): CONV1X1_GROUPED when in_c % 4 == 0, else
    CONV1X1_TAIL; CONV1X1_MIXED for a split mixed layer (:func:`conv_1x1_split`)."""
    copy = ("CONV1X1_GROUPED",) if in_c % 4 == 0 else ("CONV1X1_TAIL",)
    return (*copy, "CONV1X1_MIXED") if split else copy


#: output pixels per block of tg_conv_1x1_c8_s8 (TG_CONV_1X1_C8_PIXELS)
CONV_1X1_C8_PIXELS = 16


def conv_1x1_kernel(in_c: int) -> str:
    """The pointwise kernel: tg_conv_1x1_c8_s8 for eight input channels (too few for the GEMM's column blocks to
    pay), tg_conv_1x1_s8 (tg_conv_gemm_s8) for the others."""
    return "tg_conv_1x1_c8_s8" if in_c == 8 else "tg_conv_1x1_s8"


def conv_1x1_c8_scratch_bytes() -> int:
    """tg_conv_1x1_c8_s8's scratch: a block of pixels, eight int16 each."""
    return 2 * 8 * CONV_1X1_C8_PIXELS


def conv_1x1_split(mode: int, in_c: int, out_c: int) -> bool:
    """Whether tg_conv_1x1_s8 splits a mixed layer (TG_CONV_1X1_SPLIT in tg_conv_1x1_s8.c): mode RQ_MIXED,
    in_c % 4 == 0 and out_c even. Its few general channels
    would otherwise take every channel pair to the GEMM's per-channel copy (GEMM_ANY); split, the pairs run the fast
    copy and the general channels are computed again."""
    return mode == RQ_MIXED and in_c % 4 == 0 and out_c % 2 == 0


#: the fast-form values a split mixed layer's general channels hold in the GEMM's params (overwritten results)
_GENERAL_STAND_IN = (0, 0, 1)


def conv_1x1_mixed_split(rq: np.ndarray, act_full: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """A split mixed layer's [out_c][3] rq values (tinygen.lowering.mac_common.rq_values_per_channel): the
    GEMM's values (the general channels' replaced by stand-ins), the general channels' list that follows the GEMM's
    params (their count, then per channel its index, multiplier and shift; tg_conv_1x1_s8.h) and the GEMM's mode
    (RQ_FAST_FULL when the activation is the full int8 range, as tg_conv_1x1_s8 chooses, else RQ_FAST)."""
    general = np.flatnonzero(rq[:, 2] == 0)  # the general form's third value (the fast form's e - 1 >= 1)
    gemm_rq = rq.copy()
    gemm_rq[general] = _GENERAL_STAND_IN
    listed = np.concatenate([[general.size], np.stack([general, rq[general, 0], rq[general, 1]], axis=1).reshape(-1)])
    return gemm_rq, listed.astype(np.int32), RQ_FAST_FULL if act_full else RQ_FAST


def _int16_scratch(ctx: LoweringContext) -> str:
    return f"(int16_t *)(void *){ctx.scratch_ptr()}"


def is_pixel_fc(in_shape: tuple[int, ...], w_shape: tuple[int, ...], out_shape: tuple[int, ...],
                pad: tuple[int, int]) -> bool:
    """Whether a conv (NHWC input, OHWI weights) is a fully connected layer: one output pixel per image whose
    window is the whole unpadded input, so each image's flattened pixels (y, x, c) are the layer's input vector
    in the weights' (ky, kx, ic) order. The GEMM would compute a block of three columns for that one."""
    _, h, w, c = in_shape
    _, kh, kw, kc = w_shape
    return tuple(out_shape[1:3]) == (1, 1) and (kh, kw, kc) == (h, w, c) and tuple(pad) == (0, 0)


def pixel_fc_call(ctx: LoweringContext, op: Op, p: ConvParams, weights: np.ndarray, comment: str) -> KernelCall:
    """tg_fully_connected_s8 for a conv that :func:`is_pixel_fc`: one batch row per image, the input offset
    folded into the bias, one requantization triple per channel (rq_step 3). It reads every input of an image
    for each quad of channels, so it never runs in place (conv2d.in_place_lag)."""
    x, out = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])
    out_c = weights.shape[0]
    w2d = weights.reshape(out_c, -1)
    bias = _folded_bias(ctx, op, w2d.astype(np.int64).sum(axis=1), p.input_offset)
    rq, rq_mode = _rq_array(ctx, op, p, "conv_fc", out_c)
    args = (
        ctx.tensor_ptr(x.name), str(x.shape[0]), str(w2d.shape[1]), "0",
        ctx.const_array("conv_fc_w", _blocked_layout(w2d, 4), "int8_t", WEIGHTS),
        ctx.const_array("conv_fc_bias", bias, "int32_t", WEIGHTS), rq, "3", rq_mode,
        ctx.tensor_ptr(out.name), str(out_c), str(p.output_offset), str(p.act_min), str(p.act_max),
    )
    return KernelCall("tg_fully_connected_s8", args, (), 0, comment + " (one pixel: fully connected)",
                      fc_variants(out_c))


def _gemm_params(bias: np.ndarray, rq: np.ndarray) -> np.ndarray:
    """tg_conv_gemm_s8's params: per channel pair the two biases, then the two channels' three requantization
    values; an odd last channel's bias and values last (4 int32 per channel, one pointer walks them)."""
    out_c = bias.size
    rq = rq.reshape(out_c, 3)
    pairs = out_c // 2
    head = np.concatenate([bias[: 2 * pairs].reshape(pairs, 2), rq[: 2 * pairs].reshape(pairs, 6)], axis=1)
    odd = np.concatenate([bias[2 * pairs :], rq[2 * pairs :].reshape(-1)])
    return np.concatenate([head.reshape(-1), odd]).astype(np.int32)




