"""Lowering of fully_connected.

Weights are reordered offline (same int8 bytes, same size) into row quads (tg_fully_connected_s8.h)
so the DSP loop loads the four rows it blocks together from one pointer. Bias folding and
requantization constants: :mod:`tinygen.lowering.mac_common`.
"""

from __future__ import annotations

import numpy as np

from tinygen.errors import UnsupportedError
from tinygen.ir import Op
from tinygen.lowering.base import KernelCall, LoweringContext, register
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
