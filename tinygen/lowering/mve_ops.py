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

from typing import Any, Callable, Optional

import numpy as np

from tinygen.ir import Op
from tinygen.lowering.base import QUANT, WEIGHTS, KernelCall, LoweringContext

#: a lowering for MVE targets: a KernelCall, or None to fall back to the normal lowering
MveLowering = Callable[[LoweringContext, Op], Optional[KernelCall]]

#: op kind -> MVE lowering
MVE_LOWERINGS: dict[str, MveLowering] = {}

STEP = 16  # int8 values per VMLADAVA.S8
STEP_S16 = 8  # int16 values per VMLALDAVA.S16 (tg_fully_connected_mve_s16)
CONV_PIXELS = 8  # TG_CONV_MVE_PIXELS: im2col columns per block of tg_conv_mve_s8




def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def quad_layout(w2d: np.ndarray, step: int = STEP) -> np.ndarray:
    """[out_c, depth] int8 rows -> the quad layout [quad][d16 / 16][4][16] (zero padded); ``step`` 8: the
    layout of tg_fully_connected_mve_s16 ([quad][d8 / 8][4][8], eight int16 products per VMLALDAVA.S16)."""
    out_c, depth = w2d.shape
    padded = np.zeros((_round_up(out_c, 4), _round_up(depth, step)), dtype=np.int8)
    padded[:out_c, :depth] = w2d
    quads, d16 = padded.shape[0] // 4, padded.shape[1]
    return padded.reshape(quads, 4, d16 // step, step).transpose(0, 2, 1, 3).reshape(-1)


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




def s16_sums_fit_int32(per_channel: np.ndarray, bias: np.ndarray | None) -> bool:
    """Whether every channel's |bias| + 32768 x sum|w| (``per_channel``: [taps, channels] int8 weights) stays below
    2^31, so int32 sums of int16 x int8 products are exact (tg_conv_mve_s16, tg_depthwise_mve_s16)."""
    bound = np.abs(per_channel.astype(np.int64)).sum(axis=0) * 32768 + (0 if bias is None else np.abs(bias))
    return bool(np.all(bound < 2**31))


def s16_group_params(columns: list[np.ndarray], group: int, even_odd: bool = False) -> np.ndarray:
    """Per group of ``group`` channels (zeros pad the last), each per-channel column's ``group`` values in turn
    ([group][column][values], int32); ``even_odd``: each group's values of the even channels first, then of the odd
    (the lanes of VMULLB / VMULLT.S16, tg_depthwise_mve_s16)."""
    count = len(columns[0])
    padded = np.zeros((len(columns), _round_up(count, group)), dtype=np.int64)
    padded[:, :count] = np.stack([np.asarray(c, dtype=np.int64).reshape(-1) for c in columns])
    blocks = padded.reshape(len(columns), -1, group)
    if even_odd:
        blocks = np.concatenate([blocks[..., 0::2], blocks[..., 1::2]], axis=-1)
    return blocks.transpose(1, 0, 2).reshape(-1).astype(np.int32)


def s16_requant_arrays(ctx: LoweringContext, stem: str, p: Any, fast: np.ndarray | None, bias: np.ndarray | None,
                       group: int, even_odd: bool = False) -> tuple[str, str]:
    """The C symbols of tg_conv_mve_s16's / tg_depthwise_mve_s16's params (:func:`s16_group_params` of the pairs of
    conv_common.fast_requant_16x8, else of the bias and zeros) and per-channel {multiplier, shift} pairs for
    TFLite's requantization (a null pointer with ``fast``); ``p``: the layer's ConvParams."""
    zeros = np.zeros(p.multiplier.size, dtype=np.int64)
    columns = [fast[:, 0], fast[:, 1]] if fast is not None else [zeros if bias is None else bias, zeros]
    prm = s16_group_params(columns, group, even_odd)
    rq = np.stack([p.multiplier, p.shift], axis=1)
    return (ctx.const_array(f"{stem}_mve_p", prm, "int32_t", {WEIGHTS: prm.nbytes // 2, QUANT: prm.nbytes // 2}),
            "(const int32_t *)0" if fast is not None else ctx.const_array(f"{stem}_mve_rq", rq, "int32_t", QUANT))


def _sums_stay_int32(bias: np.ndarray, weights: np.ndarray) -> bool:
    """Whether every partial sum bias + products of the channel stays in int32 for any int8 input, so
    the kernel's saturating adds (VQADD) equal TFLite's wrapping ones."""
    bound = np.abs(bias.astype(np.int64)) + 128 * np.abs(weights.astype(np.int64)).sum(axis=0)
    return bool(np.all(bound <= 2**31 - 1))




