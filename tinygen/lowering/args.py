"""Small helpers the lowerings share to spell C arguments: pointers, shape-constant arrays, exact float
literals, and the names and comments of const arrays."""

from __future__ import annotations

import numpy as np

from tinygen.errors import TinygenError
from tinygen.ir import Op, Tensor
from tinygen.lowering.base import TABLE, WEIGHTS, KernelCall, LoweringContext


def hint(op: Op, what: str) -> str:
    """A const array name hint: the op's name (C-safe, short) and what the array holds."""
    base = "".join(c if c.isalnum() else "_" for c in op.name)[:40] or op.kind
    return f"{base}_{what}"


def i32(ctx: LoweringContext, op: Op, what: str, values: list[int]) -> str:
    """A small int32 array of shape constants (dims, strides, paddings), counted as weights: a .tflite keeps
    such constants (paddings, axes, shapes) in its buffers too."""
    return ctx.const_array(hint(op, what), np.asarray(values, dtype=np.int32), "int32_t", WEIGHTS)


def c_float(value: float) -> str:
    """An exact C99 float literal of a float32 value (hexadecimal, no decimal rounding)."""
    v = float(np.float32(value))
    if not np.isfinite(v):
        raise TinygenError(f"scale {value!r} is not finite: fix the tensor quantization")
    return f"{v.hex()}f"


def const_ptr(ctx: LoweringContext, name: str) -> str:
    """``(const int8_t *)`` pointer to a tensor (activation or constant)."""
    return f"(const int8_t *)({ctx.tensor_ptr(name)})"


def elementwise_input_ptr(ctx: LoweringContext, t: Tensor) -> str:
    """The input pointer of an element-wise kernel: ``const int8_t *`` for the int8 kernels, the tensor's own
    ``int16_t *`` for the int16 ones."""
    return ctx.tensor_ptr(t.name) if t.dtype == "int16" else const_ptr(ctx, t.name)


def shape_str(t: Tensor) -> str:
    return "x".join(str(d) for d in t.shape) or "scalar"


def in_out(ctx: LoweringContext, op: Op) -> tuple[Tensor, Tensor]:
    """The op's first input and its output."""
    return ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])


def lut_call(ctx: LoweringContext, op: Op, table: np.ndarray, comment: str) -> KernelCall:
    """A unary element-wise int8 op as one 256-entry lookup (``tg_lut_s8``): ``table`` holds the output for each
    int8 input in ``(uint8_t)x`` index order (identical tables are stored once)."""
    x, out = in_out(ctx, op)
    lut = ctx.const_array(hint(op, "lut"), np.asarray(table, dtype=np.int8), "int8_t", TABLE)
    return KernelCall("tg_lut_s8", (const_ptr(ctx, x.name), str(x.size), lut, ctx.tensor_ptr(out.name)),
                      comment=comment)
