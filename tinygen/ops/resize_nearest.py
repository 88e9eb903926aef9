"""RESIZE_NEAREST_NEIGHBOR (Keras ``UpSampling2D(interpolation="nearest")`` and ``UpSampling1D``): an NHWC image resized to
``size`` = (new_h, new_w) by copying, for each output pixel, the channels of one input pixel. The bytes are
copied unchanged, so input and output share one quantization.

TFLite Micro (resize_nearest_neighbor.cc, then ``reference_ops::ResizeNearestNeighbor``):

* Prepare: exactly 2 inputs and 1 output; the input has 4 dimensions; the size operand is a constant 1-D
  int32 tensor of 2 elements ``[new_h, new_w]`` (tinygen keeps it as the ``size`` attribute). It resizes no
  tensor: the output shape is the model's, and Eval writes ``batches x new_h x new_w x depth`` bytes into it
  (so tinygen requires the output shape to be exactly that).
* Eval, ``GetNearestNeighbor(o, in_size, out_size, align_corners, half_pixel_centers)`` per output row and per
  output column, in float32::

      scale  = (align_corners && out_size > 1) ? (in_size - 1) / (float)(out_size - 1) : in_size / (float)out_size
      offset = half_pixel_centers ? 0.5f : 0.0f
      src    = min(align_corners ? (int32)roundf((o + offset) * scale) : (int32)floorf((o + offset) * scale),
                   in_size - 1)
      if half_pixel_centers: src = max(0, src)

  (TfLiteRound is std::round: ties away from zero), then ``memcpy`` of the ``depth`` channels of input pixel
  (src_y, src_x). There is no fixed-point path in TFLite Micro (the ``<< 16`` fixed-point scale belongs to
  TFLite's optimized_ops, which Micro does not use). Both flags may be set together (TFLite Micro accepts it,
  TensorFlow's own op does not).

The source indices depend only on the sizes and flags, so :func:`nearest_indices` computes them offline with
that float32 arithmetic (numpy float32 operations are IEEE single precision, as the C++ is); the reference
gathers with them, and the kernel (``tg_resize_nearest_s8``) reads them as const tables: a row table of int32
byte offsets ``src_y * in_w * depth`` and a column table of int16 source columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import const_ptr, hint, in_out, shape_str
from tinygen.lowering.base import TABLE, KernelCall, LoweringContext
from tinygen.ops import common, reshape, resize_bilinear
from tinygen.ops.base import (
    SAME_AS_INPUT,
    Attr,
    OpDef,
    QatHooks,
    TfliteMapping,
    boolean,
    positive_pair,
)

KIND = "resize_nearest_neighbor"

#: the Keras layers that map to this op: UpSampling2D (with interpolation="nearest"; "bilinear" maps to
#: RESIZE_BILINEAR) and UpSampling1D (on a 4-D view)
KERAS_LAYER = "UpSampling2D"
KERAS_LAYER_1D = "UpSampling1D"

#: the widest input the kernel's int16 column table can index
MAX_INPUT_WIDTH = 1 << 15


@dataclass(frozen=True)
class ResizeNearestParams:
    """resize_nearest_neighbor: output row ``y`` copies input row ``rows[y]``, output column ``x`` input column
    ``cols[x]`` (TFLite Micro's GetNearestNeighbor); bytes are copied unchanged."""

    size: tuple[int, int]
    align_corners: bool
    half_pixel_centers: bool
    rows: tuple[int, ...]
    cols: tuple[int, ...]


# --------------------------------------------------------------------------- TFLite Micro's index arithmetic


def nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """GetNearestNeighbor(o, in_size, out_size, ...) for every output index o in [0, out_size): the source
    index, in float32 arithmetic exactly as TFLite Micro computes it."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)  # int / float: a float32 division
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel_centers else f32(0.0)
    # (input_value + offset) * scale: the int converted to float (exact below 2^24), a float32 add and multiply
    value = (np.arange(out_size, dtype=np.int64).astype(f32) + offset) * scale
    assert value.dtype == np.float32
    if align_corners:
        # TfLiteRound(float) = std::round: ties away from zero (the float32 value is exact in float64)
        src = numerics.round_half_away(value.astype(np.float64))
    else:
        src = np.floor(value.astype(np.float64))
    out = np.minimum(src.astype(np.int64), in_size - 1)
    if half_pixel_centers:
        out = np.maximum(out, 0)
    return out


# --------------------------------------------------------------------------- checks, shape, params


def _size(op: Op) -> tuple[int, int]:
    h, w = op.attrs["size"]
    return int(h), int(w)


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    """(batches, new_h, new_w, depth) of a rank-4 NHWC input."""
    x = graph.tensor(op.inputs[0])
    if len(x.shape) != 4:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} has shape {x.shape}; RESIZE_NEAREST_NEIGHBOR needs a rank-4 NHWC "
            "input (TFLite Micro's Prepare requires 4 dimensions)"
        )
    n, _, _, c = x.shape
    new_h, new_w = _size(op)
    return (n, new_h, new_w, c)


def _check(graph: Graph, op: Op) -> None:
    """int8 in and out, rank 4, one shared quantization (the kernel copies bytes)."""
    x, out = common.unary_int8(graph, op)
    common.require_rank(graph, op, x.name, 4)
    si, zi = common.qp(x, op)
    so, zo = common.qp(out, op)
    if np.float32(si) != np.float32(so) or zi != zo:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} has scale {np.float32(si)!s}, zero point {zi} but output "
            f"{out.name!r} has scale {np.float32(so)!s}, zero point {zo}; RESIZE_NEAREST_NEIGHBOR copies bytes and "
            "needs equal input and output quantization: re-quantize the model (the TFLite converter gives them one scale)"
        )


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> ResizeNearestParams:
    """The source row and column of each output row and column (``rounding`` plays no part)."""
    _check(graph, op)
    x = graph.tensor(op.inputs[0])
    _, in_h, in_w, _ = x.shape
    new_h, new_w = _size(op)
    ac, hp = bool(op.attrs["align_corners"]), bool(op.attrs["half_pixel_centers"])
    rows = tuple(int(v) for v in nearest_indices(in_h, new_h, ac, hp))
    cols = tuple(int(v) for v in nearest_indices(in_w, new_w, ac, hp))
    return ResizeNearestParams(size=(new_h, new_w), align_corners=ac, half_pixel_centers=hp, rows=rows, cols=cols)


def _gather(x: np.ndarray, rows: Any, cols: Any) -> np.ndarray:
    return np.take(np.take(x, np.asarray(rows, np.intp), axis=1), np.asarray(cols, np.intp), axis=2)


def reference(graph: Graph, op: Op, p: ResizeNearestParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return _gather(args[0], p.rows, p.cols).astype(np.int8)


def _float_indices(op: Op, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    new_h, new_w = _size(op)
    ac, hp = bool(op.attrs.get("align_corners", False)), bool(op.attrs.get("half_pixel_centers", False))
    return nearest_indices(shape[1], new_h, ac, hp), nearest_indices(shape[2], new_w, ac, hp)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    x = np.asarray(inputs[0])
    rows, cols = _float_indices(op, x.shape)
    return _gather(x, rows, cols)


# --------------------------------------------------------------------------- import


from_tflite = common.resize_from_tflite(KIND, "RESIZE_NEAREST_NEIGHBOR")


def _keras_repeat_check(layer: Any, size: int, factor: int) -> None:
    """TFLite Micro's arithmetic with align_corners and half_pixel_centers off maps output index o of an n -> n*f
    resize to floor(o * (n / (n * f))) in float32, which is o // f: Keras's repeat (checked for the layer's sizes)."""
    from tinygen.quantize.layers import layer_error

    if not np.array_equal(nearest_indices(size, size * factor, False, False), np.arange(size * factor) // factor):
        raise layer_error(layer, f"TFLite's nearest-neighbour arithmetic does not repeat {size} pixels {factor} "
                                 "times exactly; use another size")


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """UpSampling2D(size=(fh, fw)): interpolation="nearest" repeats each pixel fh x fw times (this op);
    "bilinear" is TensorFlow's resize to (h * fh, w * fw) with half-pixel centres (RESIZE_BILINEAR,
    :mod:`tinygen.ops.resize_bilinear`)."""
    from tinygen.quantize.layers import (
        _channels_last,
        _pair,
        _require_rank,
        layer_error,
        single_input,
    )

    x = single_input(layer, inputs)
    _channels_last(layer)
    _require_rank(layer, b, x, 4)
    cfg = layer.get_config()
    interpolation = str(cfg.get("interpolation", "nearest"))
    if interpolation not in ("nearest", "bilinear"):
        raise layer_error(layer, f"interpolation={interpolation!r} is not supported; use 'nearest' or 'bilinear'")
    fh, fw = _pair(cfg.get("size", (2, 2)))
    n, h, w, c = b.shape(x)
    new_h, new_w = h * fh, w * fw
    if not (1 <= fh and 1 <= fw and new_h <= 1 << 16 and new_w <= 1 << 16):
        raise layer_error(layer, f"size {(fh, fw)} on input {b.shape(x)} gives {new_h}x{new_w}: give factors >= 1 "
                                 "and an output of at most 65536x65536")
    if interpolation == "bilinear":
        # tf.image.resize(method="bilinear"): TensorFlow's ResizeBilinear with half_pixel_centers
        attrs = {"size": (new_h, new_w), "align_corners": False, "half_pixel_centers": True}
        try:
            resize_bilinear.keras_check(Op(resize_bilinear.KIND, layer.name, [x], [], attrs), (n, h, w, c))
        except TinygenError as exc:
            raise layer_error(layer, str(exc)) from None
        return b.op(resize_bilinear.KIND, layer.name, [x], (n, new_h, new_w, c), **attrs)
    _keras_repeat_check(layer, h, fh)
    _keras_repeat_check(layer, w, fw)
    return b.op(KIND, layer.name, [x], (n, new_h, new_w, c), size=(new_h, new_w), align_corners=False,
                half_pixel_centers=False)


def from_keras_1d(b: Any, layer: Any, inputs: list[str]) -> str:
    """UpSampling1D(size=f) on [batch, steps, channels]: each step repeated f times, as this op on the 4-D view
    [batch, 1, steps, channels] (reshapes, which cost nothing: the planner aliases them) resized to
    (1, steps * f)."""
    from tinygen.quantize.layers import _require_rank, layer_error, single_input

    x = single_input(layer, inputs)
    _require_rank(layer, b, x, 3)
    factor = int(layer.get_config().get("size", 2))
    n, steps, c = b.shape(x)
    new = steps * factor
    if not (1 <= factor and new <= 1 << 16):
        raise layer_error(layer, f"size {factor} on input {b.shape(x)} gives {new} steps: give a factor >= 1 and at "
                                 "most 65536 steps")
    _keras_repeat_check(layer, steps, factor)
    x4 = b.op(reshape.KIND, f"{layer.name}/to_2d", [x], (n, 1, steps, c))
    y4 = b.op(KIND, layer.name, [x4], (n, 1, new, c), out_name=f"{layer.name}/resize", size=(1, new),
              align_corners=False, half_pixel_centers=False)
    return b.op(reshape.KIND, f"{layer.name}/to_1d", [y4], (n, new, c), out_name=layer.name)


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    n, in_h, in_w, depth = x.shape
    if in_w > MAX_INPUT_WIDTH:
        raise UnsupportedError(
            f"{common.where(op)}: input {x.name!r} of shape {x.shape} is {in_w} pixels wide; tinygen's nearest-"
            f"neighbour resize indexes at most {MAX_INPUT_WIDTH} input columns: split the image"
        )
    row_bytes = in_w * depth
    rows = np.asarray(p.rows, np.int64) * row_bytes
    if in_h * row_bytes >= 1 << 31:
        raise UnsupportedError(f"{common.where(op)}: input {x.name!r} of shape {x.shape} holds 2^31 bytes or more")
    row_table = ctx.const_array(hint(op, "src_rows"), rows.astype(np.int32), "int32_t", TABLE)
    col_table = ctx.const_array(hint(op, "src_cols"), np.asarray(p.cols, np.int16), "int16_t", TABLE)
    new_h, new_w = p.size
    args = (const_ptr(ctx, x.name), str(n), str(in_h * row_bytes), str(depth), str(new_h), str(new_w), row_table,
            col_table, ctx.tensor_ptr(out.name))
    flags = [f for f, on in (("align_corners", p.align_corners), ("half_pixel_centers", p.half_pixel_centers)) if on]
    return KernelCall("tg_resize_nearest_s8", args,
                      comment=f"resize nearest {shape_str(x)} -> {shape_str(out)}{' ' + ', '.join(flags) if flags else ''}")


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    """The same gather as the kernel (so the float forward is exactly the int8 op's data movement)."""
    x = xs[0]
    new_h, new_w = (int(v) for v in attrs["size"])
    ac, hp = bool(attrs.get("align_corners", False)), bool(attrs.get("half_pixel_centers", False))
    rows = nearest_indices(int(x.shape[1]), new_h, ac, hp)
    cols = nearest_indices(int(x.shape[2]), new_w, ac, hp)
    return tf.gather(tf.gather(x, rows.astype(np.int32), axis=1), cols.astype(np.int32), axis=2)


OP = OpDef(
    kind=KIND,
    attrs=(Attr("size", positive_pair), Attr("align_corners", boolean, False), Attr("half_pixel_centers", boolean, False)),
    infer_shape=infer_shape,
    num_inputs=(1, 1),
    check=_check,
    params=params,
    reference=reference,
    data_inputs=1,
    float_reference=float_reference,
    quant_rule=SAME_AS_INPUT,
    tflite=(TfliteMapping("RESIZE_NEAREST_NEIGHBOR", from_tflite, tflite.ResizeNearestNeighborOptions,
                          {"AlignCorners": False, "HalfPixelCenters": False}),),
    keras_layers={KERAS_LAYER: from_keras, KERAS_LAYER_1D: from_keras_1d},
    lowerings=(lower,),
    qat=QatHooks(forward=_qat_forward),
)
