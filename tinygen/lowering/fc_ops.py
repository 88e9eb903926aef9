"""Lowering of fully_connected.

Weights are reordered offline (same size, one byte per weight) so the DSP loop loads the four rows it
blocks together from one pointer. The default kernel, ``tg_fully_connected_dual_s8``, makes each SMLAD
serve two rows (tg_fully_connected_dual_s8.h): exact while every "B" row's dot product stays below 2^23
in magnitude, which is checked here from the weights (128 * sum|w| < 2^23); a layer that fails it, or has
fewer than four rows or inputs, keeps ``tg_fully_connected_s8`` (row quads, tg_fully_connected_s8.h).
Bias folding and requantization constants: :mod:`tinygen.lowering.mac_common`.
"""

from __future__ import annotations

import numpy as np

from tinygen.errors import UnsupportedError
from tinygen.ir import Op
from tinygen.lowering.base import QUANT, WEIGHTS, KernelCall, LoweringContext, register
from tinygen.lowering.mac_common import _blocked_layout, _folded_bias, _hint, _rq_array, _weights
from tinygen.qparams import FullyConnectedParams, op_params


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
    bias = ctx.const_array(f"{hint}_bias", _folded_bias(ctx, op, sums, p.input_offset), "int32_t", WEIGHTS)
    w2d = weights.reshape(p.out_features, -1)
    comment = (
        f"fully connected {p.in_features} -> {p.out_features} x{batches} "
        f"{'per-channel' if p.per_channel else 'per-tensor'} {op.activation}"
    )
    x_ptr, out_ptr = ctx.tensor_ptr(x.name), ctx.tensor_ptr(out.name)
    tail_args = (str(p.output_offset), str(p.act_min), str(p.act_max))
    if _dual_fits(w2d):
        wsym = ctx.const_array(f"{hint}_w", _dual_layout(w2d), "int8_t", WEIGHTS)
        rq, mode = _dual_rq(ctx, op, p, hint, _acc_bound(ctx, op, weights, p.input_offset))
        args = (x_ptr, str(batches), str(p.in_features), wsym, bias, rq, mode, out_ptr, str(p.out_features),
                *tail_args, f"(int16_t *)(void *)({ctx.scratch_ptr()})")
        scratch_bytes = 2 * (p.in_features & ~3)  # the expanded int16 inputs of the group part
        return KernelCall("tg_fully_connected_dual_s8", args, (), scratch_bytes, comment + ", two rows per SMLAD")
    wsym = ctx.const_array(f"{hint}_w", _blocked_layout(w2d, 4), "int8_t", WEIGHTS)
    # per-tensor layers keep one requantization triple (rq_step 0)
    rq, mode = _rq_array(ctx, op, p, hint, p.out_features if p.per_channel else 1)
    args = (x_ptr, str(batches), str(p.in_features), wsym, bias, rq, "3" if p.per_channel else "0", mode, out_ptr,
            str(p.out_features), *tail_args)
    return KernelCall("tg_fully_connected_s8", args, (), 0, comment)


#: tg_fully_connected_dual_s8.h's requantization modes
DUAL_RQ_GENERAL, DUAL_RQ_FAST, DUAL_RQ_FULL, DUAL_RQ_RELU = 0, 1, 2, 3


def _acc_bound(ctx: LoweringContext, op: Op, weights: np.ndarray, input_offset: int) -> int:
    """The largest |accumulator| any int8 input can produce: |folded bias| + 128 * sum|w| per row."""
    w = weights.reshape(weights.shape[0], -1).astype(np.int64)
    folded = _folded_bias(ctx, op, w.sum(axis=1), input_offset).astype(np.int64)
    return int((np.abs(folded) + 128 * np.abs(w).sum(axis=1)).max())


def _dual_rq(ctx: LoweringContext, op: Op, p: FullyConnectedParams, hint: str, acc_bound: int) -> tuple[str, str]:
    """One requantization triple per output (per-tensor layers repeat theirs) and the mode, for
    tg_fully_connected_dual_s8: {m, 2^(e-1) + offset * 2^e, e} when every e = -shift is in 1..22 and no
    accumulator can reach 2^29 (SMMLAR's form), else TFLite's {m, shift, 0}."""
    n = p.out_features
    mult = np.broadcast_to(np.asarray(p.multiplier, dtype=np.int64).reshape(-1), (n,))
    shift = np.broadcast_to(np.asarray(p.shift, dtype=np.int64).reshape(-1), (n,))
    if np.any(mult < 0):
        raise UnsupportedError(
            f"{op.kind} op {op.name!r}: negative requantization multiplier (a negative weight or output scale); "
            "re-quantize the model with positive scales"
        )
    e = -shift
    if np.all((e >= 1) & (e <= 22)) and acc_bound < (1 << 29):
        values = np.stack([mult, np.left_shift(1, e - 1) + p.output_offset * np.left_shift(1, e), e], axis=1)
        if (p.act_min, p.act_max) == (-128, 127):
            mode = DUAL_RQ_FULL
        elif p.act_min >= p.output_offset and p.act_max == 127:
            mode = DUAL_RQ_RELU
        else:
            mode = DUAL_RQ_FAST
    else:
        values = np.stack([mult, shift, np.zeros_like(shift)], axis=1)
        mode = DUAL_RQ_GENERAL
    return ctx.const_array(f"{hint}_rq", values.astype(np.int32), "int32_t", QUANT), str(mode)


#: a "B" row's dot product must satisfy |B| < 2^23 (so 256 * B fits in int32): 128 * sum|w| <= 2^23 - 1
_DUAL_MAX_ABS_SUM = ((1 << 23) - 1) // 128


def _dual_fits(w2d: np.ndarray) -> bool:
    """True when tg_fully_connected_dual_s8 is exact for these weights and worth it (a row quad, a group)."""
    out_c, depth = w2d.shape
    quads, full = out_c // 4, depth & ~3
    if quads == 0 or full == 0:
        return False
    b_rows = w2d[: 4 * quads][1::2, :full].astype(np.int64)  # rows o+1 and o+3 of every quad
    return bool(np.abs(b_rows).sum(axis=1).max() <= _DUAL_MAX_ABS_SUM)


def _dual_layout(w2d: np.ndarray) -> np.ndarray:
    """tg_fully_connected_dual_s8.h's weight layout: per quad and group of four inputs the words
    [a_k + 128, b_k, a_k+2 + 128, b_k+2], [a_k+1 + 128, b_k+1, a_k+3 + 128, b_k+3] of the pairs (o, o+1) and
    (o+2, o+3) (A rows offset to unsigned bytes), then the quads' tails, then the remaining rows."""
    out_c, depth = w2d.shape
    quads, full = out_c // 4, depth & ~3
    w = w2d.astype(np.int16)
    q = w[: 4 * quads, :full].reshape(quads, 2, 2, full // 4, 4)  # quad, pair, row in pair (A, B), group, input
    a = (q[:, :, 0] + 128).astype(np.uint8).view(np.int8)  # [quad, pair, group, input]
    b = q[:, :, 1].astype(np.int8)
    order = [0, 2, 1, 3]  # the words pair inputs (k, k+2), then (k+1, k+3)
    words = np.stack([a[..., order], b[..., order]], axis=-1)  # [quad, pair, group, 4 inputs, (A, B)]
    body = words.transpose(0, 2, 1, 3, 4).reshape(-1)  # quad, group, pair, word bytes
    tails = w2d[: 4 * quads, full:].astype(np.int8).reshape(-1)
    rest = w2d[4 * quads:].astype(np.int8).reshape(-1)
    out = np.concatenate([body, tails, rest])
    assert out.size == w2d.size
    return out
