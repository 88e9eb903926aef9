"""PAD / PADV2 (Keras ZeroPadding2D, ZeroPadding1D): the input surrounded by ``paddings`` ((before, after) per
dimension). TFLite Micro copies the input bytes unchanged and fills the padding with the output zero point (real
0.0; PADV2's pad value must equal it); input and output share one quantization. int16 (16x8 models, zero point 0)
runs the int8 kernel on the rows' bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import const_ptr, i32, in_out, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import SAME_AS_INPUT, Attr, OpDef, QatHooks, TfliteMapping, pad_pairs

KIND = "pad"


@dataclass(frozen=True)
class PadParams:
    """pad: ``paddings`` ((before, after) per dimension); padded elements hold ``pad_value``
    (the output zero point, i.e. real 0.0). Input bytes are copied unchanged."""

    paddings: tuple[tuple[int, int], ...]
    pad_value: int


def _paddings(graph: Graph, op: Op) -> tuple[tuple[int, int], ...]:
    """The paddings, checked: one non-negative (before, after) pair per input dimension."""
    x = graph.tensor(op.inputs[0])
    paddings = tuple((int(b), int(a)) for b, a in op.attrs["paddings"])
    if len(paddings) != len(x.shape) or any(b < 0 or a < 0 for b, a in paddings):
        raise TinygenError(
            f"{common.where(op)}: paddings {paddings} do not fit input {x.name!r} of shape {x.shape}: give one "
            f"non-negative (before, after) pair per dimension ({len(x.shape)})"
        )
    return paddings


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    x = graph.tensor(op.inputs[0])
    return tuple(d + b + a for d, (b, a) in zip(x.shape, _paddings(graph, op)))


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> PadParams:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if not x.dtype == out.dtype == "int16":
        common.unary_int8(graph, op)
    paddings = _paddings(graph, op)
    _, zo = common.qp(out, op)
    if out.dtype == "int16" and zo != 0:
        raise UnsupportedError(
            f"{common.where(op)}: int16 output {out.name!r} has zero point {zo}; tinygen pads int16 tensors with zero "
            "point 0 (what TFLite's 16x8 converter makes): re-convert the model"
        )
    return PadParams(paddings=paddings, pad_value=zo)


def reference(graph: Graph, op: Op, p: PadParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    out_type = common.NP_DTYPES[graph.tensor(op.outputs[0]).dtype]
    return np.pad(args[0], p.paddings, constant_values=p.pad_value).astype(out_type)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return np.pad(inputs[0], [tuple(p) for p in op.attrs["paddings"]])


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    x, paddings_index, *rest = imp.inputs(raw, 2)
    rank = len(imp.shape(x))
    paddings = imp.const(raw, paddings_index, "paddings")
    if paddings.size != 2 * rank:
        raise TinygenError(f"{imp.where(raw)}: paddings {imp.describe(paddings_index)} do not fit rank {rank}")
    paddings = paddings.reshape(rank, 2)
    if rest and rest[0] != -1:  # PADV2's pad value
        value = imp.const_int8(raw, rest[0], "pad value")
        out_zp = imp.raw.tensors[raw.outputs[0]].zero_point
        if value.size != 1 or out_zp is None or int(value[0]) != int(out_zp[0]):
            raise UnsupportedError(
                f"{imp.where(raw)}: padding with a value other than real 0.0 is not supported; use ZeroPadding2D"
            )
    pads = tuple((int(a), int(b)) for a, b in paddings)
    return Op(KIND, "", [imp.activation_tensor(raw, x)], [], {"paddings": pads})


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    from tinygen.quantize.layers import _channels_last, _require_rank, single_input

    x = single_input(layer, inputs)
    _channels_last(layer)
    _require_rank(layer, b, x, 4)
    (top, bottom), (left, right) = (tuple(int(v) for v in p) for p in layer.get_config()["padding"])
    n, h, w, c = b.shape(x)
    return b.op(KIND, layer.name, [x], (n, h + top + bottom, w + left + right, c),
                paddings=((0, 0), (top, bottom), (left, right), (0, 0)))


def from_keras_1d(b: Any, layer: Any, inputs: list[str]) -> str:
    """keras.layers.ZeroPadding1D: (left, right) zeros along the steps of a [1, steps, channels] input."""
    from tinygen.quantize.layers import _channels_last, _require_rank, layer_error, single_input

    x = single_input(layer, inputs)
    _channels_last(layer)
    _require_rank(layer, b, x, 3)
    padding = layer.get_config()["padding"]
    pair = tuple(padding) if isinstance(padding, (list, tuple)) else (padding, padding)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0
                                 for v in pair):
        raise layer_error(layer, f"padding={padding!r} is not an integer or a (left, right) pair of integers >= 0")
    left, right = int(pair[0]), int(pair[1])
    n, steps, c = b.shape(x)
    return b.op(KIND, layer.name, [x], (n, steps + left + right, c), paddings=((0, 0), (left, right), (0, 0)))


# --------------------------------------------------------------------------- lowering


def _pad_dims(
    op: Op, shape: tuple[int, ...], paddings: tuple[tuple[int, int], ...]
) -> tuple[list[int], list[int], list[int]]:
    """4-D (in dims, pad before, out dims): unpadded unit dims dropped, unpadded inner dims merged outward
    (an unpadded trailing dimension turns the kernel's row copy into one memcpy)."""
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
            f"{common.where(op)}: paddings {paddings} of shape {shape} need more than 4 dimensions: "
            "pad at most 4 dimensions per PAD op"
        )
    dims = [(1, 0, 0)] * (4 - len(dims)) + dims
    return [d for d, _, _ in dims], [b for _, b, _ in dims], [d + b + a for d, b, a in dims]


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    in_dims, before, out_dims = _pad_dims(op, x.shape, p.paddings)
    if int(np.prod(out_dims)) != out.size:
        raise TinygenError(
            f"{common.where(op)}: input {x.shape} padded by {p.paddings} does not give output {out.shape}: "
            "fix the paddings or the output shape"
        )
    if x.itemsize > 1:  # int16 padded with 0: the same bytes as int8 rows twice as long, padded with 0 bytes
        in_dims[-1], before[-1], out_dims[-1] = (v * x.itemsize for v in (in_dims[-1], before[-1], out_dims[-1]))
    out_ptr = ctx.tensor_ptr(out.name)
    args = (const_ptr(ctx, x.name), i32(ctx, op, "in_dims", in_dims), i32(ctx, op, "pad_before", before),
            i32(ctx, op, "out_dims", out_dims), str(p.pad_value),
            f"(int8_t *)(void *)({out_ptr})" if x.itemsize > 1 else out_ptr)
    return KernelCall("tg_pad_s8", args, comment=f"pad {shape_str(x)} by {list(p.paddings)} with {p.pad_value}")


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return tf.pad(xs[0], [list(p) for p in attrs["paddings"]])


OP = OpDef(
    kind=KIND,
    attrs=(Attr("paddings", pad_pairs),),
    infer_shape=infer_shape,
    params=params,
    reference=reference,
    data_inputs=1,
    float_reference=float_reference,
    quant_rule=SAME_AS_INPUT,
    tflite=(TfliteMapping("PAD", from_tflite, int16=True), TfliteMapping("PADV2", from_tflite)),
    keras_layers={"ZeroPadding2D": from_keras, "ZeroPadding1D": from_keras_1d},
    lowerings=(lower,),
    qat=QatHooks(forward=_qat_forward),
)
