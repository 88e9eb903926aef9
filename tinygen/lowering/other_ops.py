"""Lowerings of the non-MAC ops: pooling, mean, add, mul, softmax, concatenation, pad, relu, relu6,
quantize, dequantize, reshape.

Every integer parameter comes from :func:`tinygen.qparams.op_params` (the one place that derives
TFLite Micro's multipliers); this module only reshapes them into kernel arguments. What is exact to
precompute is precomputed here, offline:

* shapes are canonicalised: adjacent dimensions that behave alike are merged (broadcast strides of
  add/mul, reduced/kept axes of mean, unpadded inner dimensions of pad), so kernels run at most
  4 loops with the longest possible inner one; an unpadded trailing dimension turns pad's row copy
  into one memcpy;
* a softmax of at least :data:`SOFTMAX_LUT_MIN_ELEMENTS` values tabulates TFLite's exp of the 256 possible
  differences to the row maximum (``tg_softmax_lut_s8``);
* a relu whose requantization is exactly the identity (equal scales and zero points:
  QuantizeMultiplier(1.0) = (2^30, 1), and MultiplyByQuantizedMultiplier(x, 2^30, 1) == x for every
  int8 difference, in both rounding modes) becomes a plain clamp (``tg_relu_clamp_s8``, SIMD on DSP
  cores), like relu6;
* add/mul parameters are passed as a compound literal of the kernel's parameter struct;
* a same-shape add of at least :data:`ADD_LUT_MIN_ELEMENTS` elements becomes ``tg_add_table_s8``,
  ``out = clamp((T1[x1] + T2[x2]) >> k)``, when two int32 tables exist for which that equals TFLite's
  three requantizations for all 65,536 input pairs (checked here, exhaustively; see :func:`_add_tables`);
  otherwise it tabulates each input's rescaling ``requantize((x + offset) << 20, multiplier, shift)`` for
  all 256 int8 values (two 1 KiB int32 tables in flash): ``tg_add_lut_s8`` then does one requantization
  per element instead of three.

Reshape contract: the planner aliases a reshape's output to its input (constants included), and
:mod:`tinygen.codegen` emits no code for a reshape (it does not call this lowering). For any other
context, ``lower_reshape`` gives ``tg_copy_s8(src, n, dst)``, which copies when the buffers differ and
returns at once when ``src == dst``; a caller may drop a ``tg_copy_s8`` call whose first and last
arguments are the same expression. Float32 tensors (quantize input, dequantize output) are
passed as ``float *`` casts of the context's pointers (the arena is 16-byte aligned).
"""

from __future__ import annotations

import numpy as np

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op, Tensor
from tinygen.lowering.base import TABLE, WEIGHTS, KernelCall, LoweringContext, register, register_in_place
from tinygen.qparams import (
    AddParams,
    ConcatParams,
    DequantizeParams,
    MeanParams,
    MulParams,
    PadParams,
    PoolParams,
    QuantizeParams,
    Relu6Params,
    ReluParams,
    SoftmaxParams,
    op_params,
)

#: QuantizeMultiplier(1.0): the (multiplier, shift) whose requantization is the identity
_IDENTITY = (1 << 30, 1)

#: smallest same-shape add that gets rescaling tables (2 KiB of flash save ~30 instructions per element)
ADD_LUT_MIN_ELEMENTS = 512

#: smallest softmax that gets a 1 KiB exp table (each element's exp costs ~200 instructions twice otherwise)
SOFTMAX_LUT_MIN_ELEMENTS = 8

#: the int8 value of each table index 0..255 (the kernels index with (uint8_t)x)
_INT8_BY_INDEX = np.arange(256, dtype=np.int64) - ((np.arange(256) >= 128) * 256)


def _hint(op: Op, what: str) -> str:
    base = "".join(c if c.isalnum() else "_" for c in op.name)[:40] or op.kind
    return f"{base}_{what}"


def _i32(ctx: LoweringContext, op: Op, what: str, values: list[int]) -> str:
    """A small int32 array of shape constants (dims, strides, paddings), counted as weights: a .tflite keeps
    such constants (paddings, axes, shapes) in its buffers too."""
    return ctx.const_array(_hint(op, what), np.asarray(values, dtype=np.int32), "int32_t", WEIGHTS)


def _c_float(value: float) -> str:
    """An exact C99 float literal of a float32 value (hexadecimal, no decimal rounding)."""
    v = float(np.float32(value))
    if not np.isfinite(v):
        raise TinygenError(f"scale {value!r} is not finite: fix the tensor quantization")
    return f"{v.hex()}f"


def _const_ptr(ctx: LoweringContext, name: str) -> str:
    return f"(const int8_t *)({ctx.tensor_ptr(name)})"


def _shape_str(t: Tensor) -> str:
    return "x".join(str(d) for d in t.shape) or "scalar"


def _tensors(ctx: LoweringContext, op: Op) -> tuple[Tensor, Tensor]:
    return ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.outputs[0])


def _require_4d(op: Op, t: Tensor) -> tuple[int, int, int, int]:
    if len(t.shape) != 4:
        raise UnsupportedError(
            f"{op.kind} op {op.name!r}: tensor {t.name!r} has shape {t.shape}; pooling needs a 4-D NHWC tensor: "
            "reshape the input to [batch, height, width, channels]"
        )
    n, h, w, c = t.shape
    return n, h, w, c


# --------------------------------------------------------------------------- pooling


def _check_windows(op: Op, in_size: int, filt: int, stride: int, pad: int, out_size: int, axis: str) -> None:
    for o in range(out_size):
        start = o * stride - pad
        if min(filt, in_size - start) <= max(0, -start):
            raise TinygenError(
                f"{op.kind} op {op.name!r}: output {axis} {o} pools a window that lies entirely in the padding "
                f"(input {axis} {in_size}, filter {filt}, stride {stride}, pad {pad}): fix filter/stride/padding"
            )


@register("max_pool2d", "avg_pool2d")
def lower_pool(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, PoolParams)
    x, out = _tensors(ctx, op)
    n, h, w, c = _require_4d(op, x)
    _, oh, ow, _ = _require_4d(op, out)
    _check_windows(op, h, p.filter_h, p.stride_h, p.pad_top, oh, "row")
    _check_windows(op, w, p.filter_w, p.stride_w, p.pad_left, ow, "column")
    kernel = "tg_max_pool_s8" if op.kind == "max_pool2d" else "tg_avg_pool_s8"
    args = (
        _const_ptr(ctx, x.name), str(n), str(h), str(w), str(c), str(p.filter_h), str(p.filter_w),
        str(p.stride_h), str(p.stride_w), str(p.pad_top), str(p.pad_left), str(oh), str(ow),
        str(p.act_min), str(p.act_max), ctx.tensor_ptr(out.name),
    )
    comment = (
        f"{op.kind} {_shape_str(x)} -> {_shape_str(out)}, filter {p.filter_h}x{p.filter_w}, "
        f"stride {p.stride_h}x{p.stride_w}, pad {p.pad_top},{p.pad_left}, clamp [{p.act_min}, {p.act_max}]"
    )
    return KernelCall(kernel, args, comment=comment)


# --------------------------------------------------------------------------- mean


def _mean_dims(op: Op, shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[list[int], list[bool]]:
    """Merge runs of adjacent kept/reduced dimensions; at most 4 groups, front-padded with kept 1s."""
    dims: list[int] = []
    reduced: list[bool] = []
    for i, d in enumerate(shape):
        r = i in axes
        if d == 1:
            continue  # a unit dimension changes neither the order nor the count
        if reduced and reduced[-1] == r:
            dims[-1] *= d
        else:
            dims.append(d)
            reduced.append(r)
    if len(dims) > 4:
        raise UnsupportedError(
            f"mean op {op.name!r}: axes {axes} of shape {shape} interleave kept and reduced dimensions more than "
            "4 times: reduce over adjacent axes (e.g. two MEAN ops)"
        )
    while len(dims) < 4:
        dims.insert(0, 1)
        reduced.insert(0, False)
    return dims, reduced


@register("mean")
def lower_mean(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, MeanParams)
    x, out = _tensors(ctx, op)
    if p.num_elements < 1:
        raise UnsupportedError(
            f"mean op {op.name!r}: input {x.name!r} of shape {x.shape} is empty along axes {p.axes}: "
            "remove the MEAN of an empty tensor from the model"
        )
    dims, reduced = _mean_dims(op, x.shape, p.axes)
    if int(np.prod([d for d, r in zip(dims, reduced) if r], dtype=np.int64)) != p.num_elements:
        raise TinygenError(
            f"mean op {op.name!r}: axes {p.axes} of shape {x.shape} do not reduce {p.num_elements} elements: "
            "fix the axes"
        )
    strides = [int(np.prod(dims[k + 1:], dtype=np.int64)) for k in range(4)]
    out_dims = [1 if r else d for d, r in zip(dims, reduced)]
    red_dims = [d if r else 1 for d, r in zip(dims, reduced)]
    args = (
        _const_ptr(ctx, x.name), _i32(ctx, op, "out_dims", out_dims), _i32(ctx, op, "red_dims", red_dims),
        _i32(ctx, op, "strides", strides), str(p.num_elements), "1" if p.same_quantization else "0",
        str(p.input_zero_point), str(p.output_zero_point), str(p.multiplier), str(p.shift), ctx.tensor_ptr(out.name),
    )
    how = "sum / n" if p.same_quantization else f"requantize({p.multiplier}, {p.shift})"
    comment = f"mean {_shape_str(x)} over axes {list(p.axes)} -> {_shape_str(out)}, {how}"
    return KernelCall("tg_mean_s8", args, comment=comment)


# --------------------------------------------------------------------------- add / mul


def _broadcast_layout(op: Op, a: Tensor, b: Tensor, out: Tensor) -> tuple[list[int], list[int], list[int]]:
    """4-D output dims and element strides of both inputs (0 along broadcast dimensions)."""
    rank = len(out.shape)
    if len(a.shape) > rank or len(b.shape) > rank:
        raise TinygenError(
            f"{op.kind} op {op.name!r}: inputs {a.shape}, {b.shape} have more dimensions than output {out.shape}: "
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
                    f"{op.kind} op {op.name!r}: input {t.name!r} of shape {t.shape} does not broadcast to output "
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
            f"{op.kind} op {op.name!r}: broadcasting {a.shape} with {b.shape} needs {len(m_dims)} dimensions after "
            "merging; tinygen's kernels support 4: simplify the broadcast"
        )
    pad = 4 - len(m_dims)
    return [1] * pad + m_dims, [0] * pad + m_s[0], [0] * pad + m_s[1]


def _binary(ctx: LoweringContext, op: Op, name: str, struct: str, fields: str) -> KernelCall:
    a, b = ctx.graph.tensor(op.inputs[0]), ctx.graph.tensor(op.inputs[1])
    out = ctx.graph.tensor(op.outputs[0])
    params = f"&(const {struct}){{{fields}}}"
    pa, pb, po = _const_ptr(ctx, a.name), _const_ptr(ctx, b.name), ctx.tensor_ptr(out.name)
    if a.size == out.size and b.size == out.size:
        return KernelCall(f"tg_{name}_s8", (pa, pb, str(out.size), params, po),
                          comment=f"{op.kind} {_shape_str(out)} elementwise")
    dims, sa, sb = _broadcast_layout(op, a, b, out)
    args = (pa, pb, _i32(ctx, op, "dims", dims), _i32(ctx, op, "strides1", sa), _i32(ctx, op, "strides2", sb),
            params, po)
    comment = f"{op.kind} {_shape_str(a)} with {_shape_str(b)} -> {_shape_str(out)} (broadcast)"
    return KernelCall(f"tg_{name}_broadcast_s8", args, extra_kernels=(f"tg_{name}_s8",), comment=comment)


def _rescaled_inputs(p: AddParams, rounding: str) -> list[np.ndarray]:
    """TFLite's rescaled value of each input for the 256 int8 values (table index order), int64."""
    tables = []
    inputs = (
        (p.input1_offset, p.input1_multiplier, p.input1_shift),
        (p.input2_offset, p.input2_multiplier, p.input2_shift),
    )
    for offset, mult, shift in inputs:
        shifted = numerics.wrap_int32((_INT8_BY_INDEX + offset) << p.left_shift)
        tables.append(np.asarray(numerics.multiply_by_quantized_multiplier(shifted, mult, shift, rounding),  # type: ignore[arg-type]
                                 dtype=np.int64))
    return tables


#: the shifts tg_add_table_s8 has a specialised loop for, finest first
ADD_TABLE_SHIFTS = (24, 20, 16)


def _add_tables(p: AddParams, rounding: str) -> tuple[int, np.ndarray, np.ndarray] | None:
    """(k, T1, T2) with clamp((T1[x1] + T2[x2]) >> k) == TFLite's add for every int8 pair, or None.

    TFLite computes out = requantize(s1 + s2, M, shift) + offset with exactly rescaled inputs s1(x1), s2(x2);
    the real value is (s1 + s2) * M / 2^(31 + e) + offset (e = -shift). Tables holding s_i * M / 2^(31 + e - k)
    (floored), the offset and the rounding constant in fixed point with k fraction bits give that value to
    within 2^-k, so the floor of their sum rounds like TFLite wherever no pair lies that close to a rounding
    threshold. Whether that holds is not assumed: every candidate is compared with TFLite's arithmetic on all
    65,536 pairs, and only an exact match is used. |T1| + |T2| < 2^31 keeps the C sum from overflowing.
    """
    s1, s2 = _rescaled_inputs(p, rounding)
    sums = s1[:, None] + s2[None, :]
    ref = numerics.multiply_by_quantized_multiplier(sums, p.output_multiplier, p.output_shift, rounding)  # type: ignore[arg-type]
    want = np.clip(np.asarray(ref, dtype=np.int64) + p.output_offset, p.act_min, p.act_max)
    e = -p.output_shift
    m = int(p.output_multiplier)
    for k in ADD_TABLE_SHIFTS:
        r = 31 + e - k
        if r < 1:
            continue
        a1, a2 = (s1 * m) >> r, (s2 * m) >> r  # |s| < 2^31, m < 2^31: exact in int64
        # TFLite's double rounding moves positive results up at h >= tie - 2^30 (in s * M units)
        base = (((2 * p.output_offset + 1) << (30 + e)) - (1 << 30)) >> r
        for d in (0, 1, -1, 2, -2):
            t1, t2 = a1 + base + d, a2
            if int(np.abs(t1).max()) + int(np.abs(t2).max()) >= 1 << 31:
                break
            got = np.clip((t1[:, None] + t2[None, :]) >> k, -128, 127)
            if np.array_equal(np.clip(got, p.act_min, p.act_max), want):
                return k, t1, t2
    return None


def _add_table(ctx: LoweringContext, op: Op, p: AddParams) -> KernelCall | None:
    """Same-shape add as one table sum and one shift per element (tg_add_table_s8), where exact."""
    found = _add_tables(p, ctx.rounding)
    if found is None:
        return None
    k, t1, t2 = found
    a, b, out = (ctx.graph.tensor(n) for n in (*op.inputs[:2], op.outputs[0]))
    tables = [ctx.const_array(_hint(op, f"sum{i}"), t.astype(np.int32), "int32_t", TABLE) for i, t in ((1, t1), (2, t2))]
    args = (_const_ptr(ctx, a.name), _const_ptr(ctx, b.name), str(out.size), tables[0], tables[1], str(k),
            str(p.act_min), str(p.act_max), ctx.tensor_ptr(out.name))
    return KernelCall("tg_add_table_s8", args, comment=f"add {_shape_str(out)} elementwise: (T1[x1] + T2[x2]) >> {k}, "
                      "exact for every input pair")


def _add_lut(ctx: LoweringContext, op: Op, p: AddParams) -> KernelCall:
    """Same-shape add with tabulated input rescaling (exact: the same arithmetic, done offline)."""
    a, b, out = (ctx.graph.tensor(n) for n in (*op.inputs[:2], op.outputs[0]))
    luts = []
    for which, table in enumerate(_rescaled_inputs(p, ctx.rounding), 1):
        luts.append(ctx.const_array(_hint(op, f"lut{which}"), np.asarray(table, dtype=np.int32), "int32_t", TABLE))
    args = (_const_ptr(ctx, a.name), _const_ptr(ctx, b.name), str(out.size), luts[0], luts[1], str(p.output_offset),
            str(p.output_multiplier), str(p.output_shift), str(p.act_min), str(p.act_max), ctx.tensor_ptr(out.name))
    return KernelCall("tg_add_lut_s8", args, comment=f"add {_shape_str(out)} elementwise, tabulated input rescaling")


@register("add")
def lower_add(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, AddParams)
    out = ctx.graph.tensor(op.outputs[0])
    if out.size >= ADD_LUT_MIN_ELEMENTS and all(ctx.graph.tensor(n).size == out.size for n in op.inputs[:2]):
        return _add_table(ctx, op, p) or _add_lut(ctx, op, p)
    # Field order of tg_add_params_t.
    fields = ", ".join(str(v) for v in (
        p.input1_offset, p.input1_multiplier, p.input1_shift, p.input2_offset, p.input2_multiplier, p.input2_shift,
        p.left_shift, p.output_offset, p.output_multiplier, p.output_shift, p.act_min, p.act_max,
    ))
    return _binary(ctx, op, "add", "tg_add_params_t", fields)


@register("mul")
def lower_mul(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, MulParams)
    # Field order of tg_mul_params_t.
    fields = ", ".join(str(v) for v in (
        p.input1_offset, p.input2_offset, p.output_offset, p.output_multiplier, p.output_shift, p.act_min, p.act_max,
    ))
    return _binary(ctx, op, "mul", "tg_mul_params_t", fields)


# --------------------------------------------------------------------------- softmax


@register("softmax")
def lower_softmax(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, SoftmaxParams)
    x, out = _tensors(ctx, op)
    depth = x.shape[-1] if x.shape else 1
    if depth < 1 or x.size % depth:
        raise TinygenError(
            f"softmax op {op.name!r}: input {x.name!r} of shape {x.shape} has no last dimension to normalise: "
            "give the softmax input at least one non-empty dimension"
        )
    rows = x.size // depth
    if x.size >= SOFTMAX_LUT_MIN_ELEMENTS:
        # TFLite's exp of each possible difference to the row maximum (0, -1, ..., -255), 0 below diff_min
        diff = -np.arange(256, dtype=np.int64)
        rescaled = numerics.multiply_by_quantized_multiplier_greater_than_one(
            diff, p.input_multiplier, p.input_left_shift, ctx.rounding)  # type: ignore[arg-type]
        exps = numerics.exp_on_negative_values(rescaled)
        table = np.where(diff >= p.diff_min, exps, 0).astype(np.int32)
        args = (_const_ptr(ctx, x.name), str(rows), str(depth), ctx.const_array(_hint(op, "exp"), table, "int32_t", TABLE),
                ctx.tensor_ptr(out.name))
        return KernelCall("tg_softmax_lut_s8", args, comment=f"softmax {rows} rows of {depth}, tabulated exp "
                          f"(beta*scale multiplier {p.input_multiplier} << {p.input_left_shift}, diff_min {p.diff_min})")
    args = (_const_ptr(ctx, x.name), str(rows), str(depth), str(p.input_multiplier), str(p.input_left_shift),
            str(p.diff_min), ctx.tensor_ptr(out.name))
    return KernelCall("tg_softmax_s8", args, comment=f"softmax {rows} rows of {depth}, beta*scale multiplier "
                      f"{p.input_multiplier} << {p.input_left_shift}, diff_min {p.diff_min}")


# --------------------------------------------------------------------------- data movement


@register("concatenation")
def lower_concatenation(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, ConcatParams)
    out = ctx.graph.tensor(op.outputs[0])
    outer = int(np.prod(out.shape[: p.axis], dtype=np.int64))
    blocks = []
    for name in op.inputs:
        t = ctx.graph.tensor(name)
        outside = (t.shape[: p.axis], t.shape[p.axis + 1:]) == (out.shape[: p.axis], out.shape[p.axis + 1:])
        if len(t.shape) != len(out.shape) or not outside:
            raise TinygenError(
                f"concatenation op {op.name!r}: input {name!r} of shape {t.shape} does not match output {out.shape} "
                f"outside axis {p.axis}: fix the input shapes"
            )
        blocks.append(t.size // outer if outer else 0)
    if sum(blocks) * outer != out.size:
        raise TinygenError(
            f"concatenation op {op.name!r}: inputs do not add up to output {out.shape} along axis {p.axis}: "
            "fix the output shape"
        )
    ptrs = ", ".join(_const_ptr(ctx, n) for n in op.inputs)
    args = (f"(const int8_t *const[]){{{ptrs}}}", _i32(ctx, op, "blocks", blocks), str(len(op.inputs)), str(outer),
            ctx.tensor_ptr(out.name))
    comment = f"concatenate {len(op.inputs)} tensors on axis {p.axis} -> {_shape_str(out)}"
    return KernelCall("tg_concat_s8", args, comment=comment)


def _pad_dims(
    op: Op, shape: tuple[int, ...], paddings: tuple[tuple[int, int], ...]
) -> tuple[list[int], list[int], list[int]]:
    """4-D (in dims, pad before, out dims): unpadded unit dims dropped, unpadded inner dims merged outward."""
    dims = [(d, b, a) for d, (b, a) in zip(shape, paddings) if not (d == 1 and b == 0 and a == 0)]
    k = len(dims) - 2
    while k >= 0:
        d1, b1, a1 = dims[k + 1]
        if b1 == 0 and a1 == 0:  # whole rows of dimension k+1 are copied or padded together
            d0, b0, a0 = dims[k]
            dims[k] = (d0 * d1, b0 * d1, a0 * d1)
            del dims[k + 1]
        k -= 1
    if len(dims) > 4:
        raise UnsupportedError(
            f"pad op {op.name!r}: paddings {paddings} of shape {shape} need more than 4 dimensions: "
            "pad at most 4 dimensions per PAD op"
        )
    dims = [(1, 0, 0)] * (4 - len(dims)) + dims
    return [d for d, _, _ in dims], [b for _, b, _ in dims], [d + b + a for d, b, a in dims]


@register("pad")
def lower_pad(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, PadParams)
    x, out = _tensors(ctx, op)
    in_dims, before, out_dims = _pad_dims(op, x.shape, p.paddings)
    if int(np.prod(out_dims)) != out.size:
        raise TinygenError(
            f"pad op {op.name!r}: input {x.shape} padded by {p.paddings} does not give output {out.shape}: "
            "fix the paddings or the output shape"
        )
    args = (_const_ptr(ctx, x.name), _i32(ctx, op, "in_dims", in_dims), _i32(ctx, op, "pad_before", before),
            _i32(ctx, op, "out_dims", out_dims), str(p.pad_value), ctx.tensor_ptr(out.name))
    return KernelCall("tg_pad_s8", args, comment=f"pad {_shape_str(x)} by {list(p.paddings)} with {p.pad_value}")


@register("reshape")
def lower_reshape(ctx: LoweringContext, op: Op) -> KernelCall:
    x, out = _tensors(ctx, op)
    args = (_const_ptr(ctx, x.name), str(x.nbytes), ctx.tensor_ptr(out.name))
    comment = f"reshape {_shape_str(x)} -> {_shape_str(out)} (no-op when aliased)"
    return KernelCall("tg_copy_s8", args, comment=comment)


# --------------------------------------------------------------------------- activations


@register("relu")
def lower_relu(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, ReluParams)
    x, out = _tensors(ctx, op)
    if (p.multiplier, p.shift) == _IDENTITY and p.input_zero_point == p.output_offset:
        args = (_const_ptr(ctx, x.name), str(x.size), str(p.act_min), str(p.act_max), ctx.tensor_ptr(out.name))
        return KernelCall("tg_relu_clamp_s8", args, comment=f"relu {_shape_str(x)}: clamp [{p.act_min}, {p.act_max}]")
    args = (_const_ptr(ctx, x.name), str(x.size), str(p.input_zero_point), str(p.multiplier), str(p.shift),
            str(p.output_offset), str(p.act_min), str(p.act_max), ctx.tensor_ptr(out.name))
    return KernelCall("tg_relu_s8", args, comment=f"relu {_shape_str(x)} with requantization")


@register("relu6")
def lower_relu6(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, Relu6Params)
    x, out = _tensors(ctx, op)
    args = (_const_ptr(ctx, x.name), str(x.size), str(p.zero), str(p.six), ctx.tensor_ptr(out.name))
    return KernelCall("tg_relu_clamp_s8", args, comment=f"relu6 {_shape_str(x)}: clamp [{p.zero}, {p.six}]")


# --------------------------------------------------------------------------- in place
#
# These kernels run one forward loop that reads element i of each input right before writing element
# i of the output, and output elements are no wider than input elements: writing output element i
# only clobbers input bytes of elements <= i, all already read. So the output may start at its first
# input's offset when that input dies here (the planner checks the death; see planner.py).


def _same_layout(graph: Graph, op: Op) -> bool:
    """First input of the output's shape and element size: element i of each is at the same byte."""
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    return x.shape == out.shape and x.itemsize == out.itemsize


@register_in_place("relu", "relu6")
def in_place_activation(graph: Graph, op: Op) -> bool:
    return _same_layout(graph, op)


@register_in_place("add", "mul")
def in_place_binary(graph: Graph, op: Op) -> bool:
    # the broadcasting kernels too: an input of the output's shape has the output's flat index, and
    # the other (broadcast) input is a different buffer the planner never overlaps with the output
    return _same_layout(graph, op)


@register_in_place("quantize")
def in_place_quantize(graph: Graph, op: Op) -> bool:
    # int8 -> int8 element for element; float32 -> int8 writes byte i over float element i // 4
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    return x.size == out.size and out.dtype == "int8" and x.dtype in ("int8", "float32")


# --------------------------------------------------------------------------- quantize / dequantize


@register("quantize")
def lower_quantize(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, QuantizeParams)
    x, out = _tensors(ctx, op)
    if out.dtype != "int8" or x.dtype not in ("float32", "int8"):
        raise UnsupportedError(
            f"quantize op {op.name!r}: {x.dtype} {x.name!r} -> {out.dtype} {out.name!r} is not supported; tinygen "
            "quantizes float32 or int8 to int8: convert the model with int8 (not uint8) inputs and outputs"
        )
    if p.mode == "affine":
        args = (f"(const float *)(const void *)({ctx.tensor_ptr(x.name)})", str(x.size), _c_float(p.scale),
                str(p.output_zero_point), ctx.tensor_ptr(out.name))
        return KernelCall("tg_quantize_f32_s8", args, comment=f"quantize float32 {_shape_str(x)}: scale {p.scale:g}, "
                          f"zero point {p.output_zero_point}")
    args = (_const_ptr(ctx, x.name), str(x.size), str(p.input_zero_point), str(p.multiplier), str(p.shift),
            str(p.output_zero_point), ctx.tensor_ptr(out.name))
    return KernelCall("tg_quantize_s8", args, comment=f"requantize {_shape_str(x)}")


@register("dequantize")
def lower_dequantize(ctx: LoweringContext, op: Op) -> KernelCall:
    p = op_params(ctx.graph, op, ctx.rounding)
    assert isinstance(p, DequantizeParams)
    x, out = _tensors(ctx, op)
    if x.dtype != "int8":
        raise UnsupportedError(
            f"dequantize op {op.name!r}: input {x.name!r} is {x.dtype}; tinygen dequantizes int8 only: "
            "convert the model with int8 (not uint8) tensors"
        )
    args = (_const_ptr(ctx, x.name), str(x.size), _c_float(p.scale), str(p.zero_point),
            f"(float *)(void *)({ctx.tensor_ptr(out.name)})")
    comment = f"dequantize {_shape_str(x)}: scale {p.scale:g}, zero point {p.zero_point}"
    return KernelCall("tg_dequantize_s8", args, comment=comment)
