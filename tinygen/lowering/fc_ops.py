"""Lowering of fully_connected.

Weights are reordered offline (same size, one byte per weight) so the DSP loop loads the four rows it
blocks together from one pointer. Two kernels:

* ``tg_fully_connected_s8`` (row quads, tg_fully_connected_s8.h): the default, the smaller kernel;
* ``tg_fully_connected_dual_s8`` (each SMLAD serves two rows, tg_fully_connected_dual_s8.h): 0.6-0.7
  instructions fewer per MAC, for ~630 bytes more code, so a graph uses it only when its fully
  connected layers run at least :data:`DUAL_MIN_MACS` MACs on it. It is exact while every "B" row's dot
  product stays below 2^23 in magnitude, which is checked here from the weights (M * sum|w| < 2^23, M the
  largest |input + offset|); a layer that fails it, or has fewer than four rows or inputs, keeps the
  plain kernel.

The input offset: a layer with a bias gets it folded into the bias (free: the array exists anyway); a
layer without one (no bias buffer in its .tflite, or an all-zero bias) gets no bias array, and the
kernels add the offset to the inputs instead (no extra instruction on the DSP path), so the weights in
flash stay the .tflite's.

Kernel specialisations (``KernelCall.variants``): :func:`fc_variants` and :func:`dual_variants` mirror the
C dispatch of the two kernels. Requantization constants: :mod:`tinygen.lowering.mac_common`.
"""

from __future__ import annotations

import numpy as np

from tinygen.ir import Graph, Op
from tinygen.lowering.base import QUANT, LoweringContext
from tinygen.lowering.mac_common import _folded_bias, output_multipliers
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinygen.ops.fully_connected import FullyConnectedParams

#: The dual kernel pays for its flash from this many fully connected MACs per inference (the sum over the
#: graph's layers it can run: one large layer also carries the small ones, the code is there anyway).
#: Measured on Cortex-M7 (QEMU, -O2, the specialisations each model selects): the dual kernel takes ~2.1 kB
#: (one specialised copy + the general copy) against 1,444 B for the plain one, ~630 B more, and saves
#: 0.6-0.7 instructions per MAC. KWS's 64 -> 12 layer (768 MACs): 1,222 instructions dual, 1,708 plain,
#: 0.8 instructions saved per byte: flash wins. AD (264k MACs): 272,095 dual, 457,054 plain. From 8,192 MACs
#: the dual kernel saves >= ~5,000 instructions, >= 8 per byte.
DUAL_MIN_MACS = 8192

#: tg_fully_connected_dual_s8.h's requantization modes
DUAL_RQ_GENERAL, DUAL_RQ_FAST, DUAL_RQ_FULL, DUAL_RQ_RELU = 0, 1, 2, 3
_DUAL_RQ_NAMES = {DUAL_RQ_FAST: "FAST", DUAL_RQ_FULL: "FULL", DUAL_RQ_RELU: "RELU"}

#: a "B" row's dot product must satisfy |B| < 2^23 (so 256 * B fits in int32): M * sum|w| <= 2^23 - 1
_DUAL_LIMIT = (1 << 23) - 1
#: the bound for folded-bias layers (inputs |x| <= 128), kept for the tests
_DUAL_MAX_ABS_SUM = _DUAL_LIMIT // 128




def fc_variants(out_features: int) -> tuple[str, ...]:
    """The specialisations tg_fully_connected_s8 runs (its C dispatch, mirrored): FC_QUADS, the four-row pass,
    whenever there is a row quad. The single-row loop after it is always compiled."""
    return ("FC_QUADS",) if out_features >= 4 else ()


def dual_variants(in_features: int, mode: int) -> tuple[str, ...]:
    """The specialisations tg_fully_connected_dual_s8 runs (its C dispatch, mirrored; the lowering calls it
    only with a row quad and a group): FC_DUAL_RQ_<mode>, the copy of the quad loop for the FULL, RELU and
    FAST modes (GENERAL runs the general copy, always compiled), and in those copies FC_DUAL_G8, the
    eight-group inner loop, when there are eight groups of four inputs."""
    if mode not in _DUAL_RQ_NAMES:
        return ()
    return (*(("FC_DUAL_G8",) if in_features >> 2 >= 8 else ()), f"FC_DUAL_RQ_{_DUAL_RQ_NAMES[mode]}")


def _stores_bias(graph: Graph, op: Op) -> bool:
    """Whether the layer gets a (folded) bias array: it has a bias that is not all zeros. An all-zero bias
    (Keras' default initial bias; TensorFlow's converter drops it) computes what no bias computes, so such
    a layer stores none, like its .tflite, and its kernel adds the input offset to the inputs instead. A
    bias that is not a constant stays "stored", so that _folded_bias reports it."""
    if len(op.inputs) < 3 or not op.inputs[2]:
        return False
    data = graph.tensor(op.inputs[2]).data
    return data is None or bool(np.any(data != 0))


def _input_bound(p: FullyConnectedParams, folded: bool) -> int:
    """The largest |input| the kernels multiply: int8 (128) with a folded bias, else max |x + input_offset|."""
    return 128 if folded else max(abs(-128 + p.input_offset), abs(127 + p.input_offset))




def _acc_bound(ctx: LoweringContext, op: Op, w2d: np.ndarray, p: FullyConnectedParams, folded: bool) -> int:
    """The largest |accumulator| any int8 input can produce: |bias| + M * sum|w| per row."""
    w = w2d.astype(np.int64)
    bias = _folded_bias(ctx, op, w.sum(axis=1), p.input_offset).astype(np.int64) if folded else 0
    return int((np.abs(bias) + _input_bound(p, folded) * np.abs(w).sum(axis=1)).max())


def _dual_rq(ctx: LoweringContext, op: Op, p: FullyConnectedParams, hint: str, acc_bound: int) -> tuple[str, int]:
    """One requantization triple per output (per-tensor layers repeat theirs) and the mode, for
    tg_fully_connected_dual_s8: {m, 2^(e-1) + offset * 2^e, e} when every e = -shift is in 1..22 and no
    accumulator can reach 2^29 (SMMLAR's form), else TFLite's {m, shift, 0}."""
    mult, shift = output_multipliers(op, p, p.out_features)
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
    return ctx.const_array(f"{hint}_rq", values.astype(np.int32), "int32_t", QUANT), mode


def _dual_fits(w2d: np.ndarray, input_bound: int = 128) -> bool:
    """True when tg_fully_connected_dual_s8 is exact for these weights (every B row: input_bound * sum|w| <
    2^23, input_bound the largest |input| it multiplies) and has work (a row quad, a group)."""
    out_c, depth = w2d.shape
    quads, full = out_c // 4, depth & ~3
    if quads == 0 or full == 0:
        return False
    b_rows = w2d[: 4 * quads][1::2, :full].astype(np.int64)  # rows o+1 and o+3 of every quad
    return bool(input_bound * np.abs(b_rows).sum(axis=1).max() <= _DUAL_LIMIT)


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


# --------------------------------------------------------------------------- 16x8 (tg_fully_connected_s16)

#: tg_fully_connected_s16's int64 requantization multiplies the accumulator by a 16-bit multiplier in int64:
#: TFLite's precondition |acc| < 2^47 keeps it exact
_S16_ACC_LIMIT = 1 << 47


def s16_layout(w2d: np.ndarray) -> np.ndarray:
    """tg_fully_connected_s16.h's weight layout: each row's complete groups of four w0 w1 w2 w3 as w0 w2 w1 w3
    (SXTB16 then gives (w0, w1) and, rotated by 8, (w2, w3): the pairs of two int16 inputs), the tail as it is."""
    out_c, depth = w2d.shape
    full = depth & ~3
    body = w2d[:, :full].reshape(out_c, full // 4, 4)[:, :, [0, 2, 1, 3]].reshape(out_c, full)
    return np.concatenate([body, w2d[:, full:]], axis=1).astype(np.int8).reshape(-1)


def check_s16(op: Op, p: FullyConnectedParams, w2d: np.ndarray, bias: np.ndarray | None) -> None:
    """Refuse a 16x8 layer tg_fully_connected_s16 cannot compute as TFLite Micro does: symmetric weights only; with
    the int64 accumulator, TFLite's own preconditions (|acc| < 2^47, shifts <= 7), beyond which its arithmetic
    (and the kernel's) is undefined."""
    from tinygen.errors import TinygenError, UnsupportedError

    where = f"{op.kind} op {op.name!r}"
    if p.weights_offset != 0:
        raise UnsupportedError(
            f"{where}: weights have zero point {-p.weights_offset}; tinygen needs symmetric int8 weights (zero point "
            "0): re-quantize the model"
        )
    if not p.wide:
        return
    largest_row = int(np.abs(w2d.astype(np.int64)).sum(axis=1).max())
    bound = (int(np.abs(bias).max()) if bias is not None else 0) + largest_row * 32768
    if bound >= _S16_ACC_LIMIT or int(np.max(p.shift)) > 7:
        raise TinygenError(
            f"{where}: its int64 accumulator may reach {int(bound)} (TFLite's int64 requantization needs < 2^47) or "
            f"its shift {int(np.max(p.shift))} exceeds 7: the bias or scales are corrupt; re-quantize the model"
        )
