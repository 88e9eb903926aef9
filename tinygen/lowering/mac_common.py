"""Helpers shared by the multiply-accumulate lowerings (conv, depthwise, fully connected).

What is exact to precompute is precomputed here, offline:

* the input offset is folded into the bias: TFLite Micro's ``sum(w * (x + input_offset)) + bias``
  equals ``sum(w * x) + (bias + input_offset * sum(w))`` in int32 (wrapping) arithmetic, provided
  padded taps read the input zero point (real 0.0, i.e. ``x + input_offset == 0``) instead of being
  skipped. The kernels do exactly that. A fully connected layer *without* a bias gets no bias array
  (a .tflite stores none, so neither does tinygen): its kernels add the input offset to the inputs
  instead, at no cost on the DSP path (SXTAB16 with the packed offset where SXTB16 was).
* requantization: three int32 per output channel for templates/kernels/tg_requant_fast.h; when every
  channel shifts right by at least 2 (nearly always) they are the constants of its exact 5-instruction
  form (right shift 2..22, output offset folded in), otherwise TFLite's multiplier and shift.
"""

from __future__ import annotations

import numpy as np

from tinygen.errors import UnsupportedError
from tinygen.ir import Op, Tensor
from tinygen.lowering.base import QUANT, LoweringContext
from tinygen.numerics import wrap_int32
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinygen.ops.conv_common import ConvParams
    from tinygen.ops.fully_connected import FullyConnectedParams


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
    mult = ctx.const_array(f"{hint}_mult", np.asarray(p.multiplier, dtype=np.int32), "int32_t", QUANT)
    shift = ctx.const_array(f"{hint}_shift", np.asarray(p.shift, dtype=np.int32), "int32_t", QUANT)
    return mult, shift


#: tg_requant_fast.h modes (RQ_MIXED: the form chosen per channel, conv's GEMM only)
RQ_GENERAL, RQ_FAST, RQ_FAST_FULL, RQ_MIXED = 0, 1, 2, 3


def output_multipliers(op: Op, p: ConvParams | FullyConnectedParams, n: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's multiplier and shift of each of ``n`` outputs (int64; a per-tensor layer's one pair repeated),
    refusing negative multipliers, which the fast requantization forms do not cover."""
    mult = np.broadcast_to(np.asarray(p.multiplier, dtype=np.int64).reshape(-1), (n,))
    shift = np.broadcast_to(np.asarray(p.shift, dtype=np.int64).reshape(-1), (n,))
    if np.any(mult < 0):
        raise UnsupportedError(
            f"{op.kind} op {op.name!r}: negative requantization multiplier (a negative weight or output scale); "
            "re-quantize the model with positive scales"
        )
    return mult, shift


def rq_values(op: Op, p: ConvParams | FullyConnectedParams, n: int) -> tuple[np.ndarray, int]:
    """The [n][3] int32 requantization values and the mode for tg_requant_fast.h."""
    mult, shift = output_multipliers(op, p, n)
    if np.all(_fast_shift(shift)):
        values = _fast_values(mult, -shift, p.output_offset)
        mode = RQ_FAST_FULL if (p.act_min, p.act_max) == (-128, 127) else RQ_FAST
    else:
        values = np.stack([mult, shift, np.zeros_like(shift)], axis=1)
        mode = RQ_GENERAL
    return values.astype(np.int32), mode


def _fast_values(mult: np.ndarray, e: np.ndarray, output_offset: int) -> np.ndarray:
    """The fast form's [n][3] values for right shifts e (tg_requant_fast.h): multiplier, rounding term with the
    output offset folded in, e - 1."""
    return np.stack([mult, np.left_shift(1, e - 2) + output_offset * np.left_shift(1, e - 1), e - 1], axis=1)


def _fast_shift(shift: np.ndarray) -> np.ndarray:
    """Where the fast form applies: a right shift e = -shift in 2..22 (tg_requant_fast.h)."""
    return (shift <= -2) & (shift >= -22)


def rq_values_per_channel(op: Op, p: ConvParams | FullyConnectedParams, n: int) -> tuple[np.ndarray, int]:
    """:func:`rq_values`, except that a layer whose shifts are only partly in the fast range gets mode RQ_MIXED:
    the fast values on those channels, {multiplier, shift, 0} on the others (tg_rq_chan tells them apart by
    the third value, never 0 in the fast form)."""
    values, mode = rq_values(op, p, n)
    mult, shift = output_multipliers(op, p, n)
    fast = _fast_shift(shift)
    if mode != RQ_GENERAL or not fast.any():
        return values, mode
    values[fast] = _fast_values(mult[fast], -shift[fast], p.output_offset).astype(np.int32)
    return values, RQ_MIXED


def _rq_array(ctx: LoweringContext, op: Op, p: ConvParams | FullyConnectedParams, hint: str, n: int) -> tuple[str, str]:
    """Emit :func:`rq_values` as a const array; returns its symbol and the mode (as C text)."""
    values, mode = rq_values(op, p, n)
    return ctx.const_array(f"{hint}_rq", values, "int32_t", QUANT), str(mode)


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
