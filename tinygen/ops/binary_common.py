"""What the two-operand elementwise ops (ADD, MUL) share: operand checks, TFLite's (numpy's) broadcasting
as shape inference, the ``.tflite`` import, and the lowering to ``<kernel>_s8`` (same shapes) or
``<kernel>_broadcast_s8`` (strided operands), ``_s16`` for a 16x8 op, with the op's parameter struct as a compound
literal."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op, Tensor
from tinygen.lowering.args import const_ptr, i32, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common


def operands(graph: Graph, op: Op, int16: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """The two inputs and the output, each checked int8 (``int16``: or all three int16, a 16x8 op)."""
    a, b, out = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    if int16 and a.dtype == b.dtype == out.dtype == "int16":
        return a, b, out
    for t in (a, b, out):
        common.require_int8(t, op)
    return a, b, out


def act_range(op: Op, out: Tensor) -> tuple[int, int]:
    """The clamp range of the op's fused activation in the output's quantization and type (int8, or int16 in a
    16x8 op), checked."""
    if out.dtype != "int16":
        return common.act_range(op, out)
    scale, zp = common.qp(out, op)
    common.check_activation_range(op, scale)
    return numerics.activation_range(op.activation, scale, zp, *common.INT_RANGES["int16"])


def clamp(raw: np.ndarray, lo: int, hi: int, out: Tensor) -> np.ndarray:
    """``raw`` clamped to [lo, hi] in the output's type (int8 or int16)."""
    return np.clip(raw, lo, hi).astype(common.NP_DTYPES[out.dtype])


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    """The broadcast of the two operand shapes (TFLite broadcasts numpy-style, up to rank 6)."""
    return common.broadcast_shape(op, graph.tensor(op.inputs[0]).shape, graph.tensor(op.inputs[1]).shape)


def in_place(graph: Graph, op: Op) -> bool:
    """The kernels run one forward loop reading element i of each input right before writing element i of
    the output, so the output may start at its first input's offset when that input has the output's shape
    (the broadcasting kernels too: that input has the output's flat index, and the other input is a
    different buffer the planner never overlaps with the output)."""
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    return x.shape == out.shape and x.itemsize == out.itemsize


def from_tflite(imp: Any, raw: Any, kind: str) -> Op:
    """ADD/MUL: two int8 operands (either may be a constant, e.g. a per-channel BatchNorm factor), broadcast
    to the output (checked by the op's shape inference)."""
    a, b = imp.inputs(raw, 2)[:2]
    ins = [imp.activation_tensor(raw, a), imp.activation_tensor(raw, b)]
    return Op(kind, "", ins, [], {"activation": imp.activation(raw)})


# --------------------------------------------------------------------------- lowering


def broadcast_layout(op: Op, a: Tensor, b: Tensor, out: Tensor) -> tuple[list[int], list[int], list[int]]:
    """4-D output dims and element strides of both inputs (0 along broadcast dimensions): unit dimensions
    dropped, adjacent dimensions both inputs step through contiguously merged."""
    rank = len(out.shape)
    if len(a.shape) > rank or len(b.shape) > rank:
        raise TinygenError(
            f"{common.where(op)}: inputs {a.shape}, {b.shape} have more dimensions than output {out.shape}: "
            "fix the output shape"
        )
    dims = list(out.shape)
    strides = []
    for t in (a, b):
        shape = [1] * (rank - len(t.shape)) + list(t.shape)
        row = [int(np.prod(shape[k + 1:], dtype=np.int64)) for k in range(rank)]
        s = []
        for k in range(rank):
            if shape[k] == dims[k]:
                s.append(row[k] if dims[k] > 1 else 0)
            elif shape[k] == 1:
                s.append(0)
            else:
                raise UnsupportedError(
                    f"{common.where(op)}: input {t.name!r} of shape {t.shape} does not broadcast to output "
                    f"{out.shape}: fix the operand shapes"
                )
        strides.append(s)
    # Drop unit dimensions, then merge dimension k into k+1 when both inputs step through them contiguously.
    keep = [k for k in range(rank) if dims[k] > 1]
    m_dims = [dims[k] for k in keep]
    m_s = [[s[k] for k in keep] for s in strides]
    k = len(m_dims) - 2
    while k >= 0:
        if all(s[k] == s[k + 1] * m_dims[k + 1] for s in m_s):
            m_dims[k] *= m_dims[k + 1]
            for s in m_s:
                s[k] = s[k + 1]
                del s[k + 1]
            del m_dims[k + 1]
        k -= 1
    if len(m_dims) > 4:
        raise UnsupportedError(
            f"{common.where(op)}: broadcasting {a.shape} with {b.shape} needs {len(m_dims)} dimensions after "
            "merging; tinygen's kernels support 4: simplify the broadcast"
        )
    pad = 4 - len(m_dims)
    return [1] * pad + m_dims, [0] * pad + m_s[0], [0] * pad + m_s[1]


def lower_binary(ctx: LoweringContext, op: Op, kernel: str, struct: str, fields: str) -> KernelCall:
    """``<kernel>_<t>(a, b, size, params, out)`` for same-size operands, else
    ``<kernel>_broadcast_<t>(a, b, dims, strides1, strides2, params, out)``, ``<t>`` ``s8`` or ``s16`` (the
    output's type: a 16x8 op); ``params`` is a compound literal of ``struct`` with ``fields`` (in the struct's
    field order)."""
    a, b = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.inputs[1])
    out = ctx.graph.tensor(op.outputs[0])
    params = f"&(const {struct}){{{fields}}}"
    int16 = out.dtype == "int16"
    suffix = "s16" if int16 else "s8"
    # int16 operands keep their typed pointers (a constant operand is an int16_t array)
    pa, pb = (ctx.tensor_ptr(a.name), ctx.tensor_ptr(b.name)) if int16 else (const_ptr(ctx, a.name),
                                                                             const_ptr(ctx, b.name))
    po = ctx.tensor_ptr(out.name)
    what = f"{op.kind}{' int16' if int16 else ''}"
    if a.size == out.size and b.size == out.size:
        return KernelCall(f"{kernel}_{suffix}", (pa, pb, str(out.size), params, po),
                          comment=f"{what} {shape_str(out)} elementwise")
    dims, sa, sb = broadcast_layout(op, a, b, out)
    args = (pa, pb, i32(ctx, op, "dims", dims), i32(ctx, op, "strides1", sa), i32(ctx, op, "strides2", sb),
            params, po)
    comment = f"{what} {shape_str(a)} with {shape_str(b)} -> {shape_str(out)} (broadcast)"
    return KernelCall(f"{kernel}_broadcast_{suffix}", args, extra_kernels=(f"{kernel}_{suffix}",), comment=comment)


def exact_table_pair(s1: np.ndarray, s2: np.ndarray, want: np.ndarray, output_multiplier: int, output_shift: int,
                     output_offset: int, act_min: int, act_max: int,
                     shifts: tuple[int, ...]) -> tuple[int, np.ndarray, np.ndarray] | None:
    """(k, T1, T2) with clamp((T1[x1] + T2[x2]) >> k) == ``want[x1, x2]`` for every int8 pair, or None: the
    table form of an int8 ADD/SUB whose exactly rescaled terms are ``s1``/``s2`` (256 values each, table index
    order) and whose result is ``requantize(s1 + s2, output_multiplier, output_shift) + output_offset``.

    The real value is (s1 + s2) * M / 2^(31 + e) + offset (e = -shift). Tables holding s_i * M / 2^(31 + e - k)
    (floored), the offset and the rounding constant in fixed point with k fraction bits give that value to
    within 2^-k, so the floor of their sum rounds like TFLite wherever no pair lies that close to a rounding
    threshold. Whether that holds is not assumed: every candidate is compared with ``want`` on all 65,536 pairs,
    and only an exact match is used. |T1| + |T2| < 2^31 keeps the C sum from overflowing."""
    e, m = -output_shift, int(output_multiplier)
    for k in shifts:
        r = 31 + e - k
        if r < 1:
            continue
        a1, a2 = (s1 * m) >> r, (s2 * m) >> r  # |s| < 2^31, m < 2^31: exact in int64
        # TFLite's double rounding moves positive results up at h >= tie - 2^30 (in s * M units)
        base = (((2 * output_offset + 1) << (30 + e)) - (1 << 30)) >> r
        for d in (0, 1, -1, 2, -2):
            t1, t2 = a1 + base + d, a2
            if int(np.abs(t1).max()) + int(np.abs(t2).max()) >= 1 << 31:
                break
            got = np.clip((t1[:, None] + t2[None, :]) >> k, -128, 127)
            if np.array_equal(np.clip(got, act_min, act_max), want):
                return k, t1, t2
    return None
