"""RESIZE_BILINEAR (Keras ``UpSampling2D(interpolation="bilinear")``): an NHWC image resized to ``size`` =
(new_h, new_w), each output pixel a weighted mean of the 2x2 input pixels around its source position. No
requantization: the interpolated int8 values are the output's, so input and output share one quantization.

TFLite Micro (resize_bilinear.cc, then ``reference_ops::ResizeBilinearInteger`` for int8):

* Prepare: exactly 2 inputs and 1 output; the input has 4 dimensions; the size operand is a constant 1-D int32
  tensor (``[new_h, new_w]``, tinygen keeps it as the ``size`` attribute); ``half_pixel_centers`` and
  ``align_corners`` together are refused ("If half_pixel_centers is True, align_corners must be False."). It
  checks no quantization (tinygen requires input and output to share one: the kernel does not requantize).
* The scale per axis in 10 fractional bits, integer arithmetic only::

      scale_10 = ((1 << 10) * in + out / 2) / out                       (align_corners && out > 1:
                 ((1 << 10) * (in - 1) + (out - 1) / 2) / (out - 1))
      scaled   = half_pixel_centers ? o * scale_10 + scale_10 / 2 - (1 << 9) : o * scale_10
      lo       = max(scaled / 1024, 0)           (C division: truncation)
      hi       = min((scaled + 1023) / 1024, in - 1)

  and per channel the int64 sum ``v[y_lo][x_lo] * (1024 - fy) * (1024 - fx) + v[y_hi][x_lo] * fy * (1024 - fx)
  + v[y_lo][x_hi] * (1024 - fy) * fx + v[y_hi][x_hi] * fy * fx`` with ``fy = scaled_y - 1024 * y_lo`` (likewise
  fx), divided by 2^20: ``(s + (s > 0 ? 2^19 : -2^19)) / 2^20`` (round half away from zero), or with
  TFLITE_SINGLE_ROUNDING ``(s + 2^19) >> 20`` (round half up), cast to int8.
* ``lo`` is never clamped to ``in - 1``: where the rounded scale_10 overshoots (an upsampling ratio of about
  sqrt(2048 * in) and more), TFLite Micro reads outside the input. tinygen refuses those sizes.

The source rows, columns and fractions depend only on the sizes and flags, so :func:`axis_terms` computes them
offline; the reference runs TFLite Micro's sum on them, and the kernel (``tg_resize_bilinear_s8``) reads them as
const tables (byte offsets of the two source rows and columns, the fractions fy and fx). The lowering folds
the rows (columns) whose two sources coincide or whose upper weight is 0 into single-source ones, which changes
no sum: ``v * (1024 - f) + v * f = v * 1024``.
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
from tinygen.ops import common
from tinygen.ops.base import (
    SAME_AS_INPUT,
    Attr,
    OpDef,
    QatHooks,
    TfliteMapping,
    boolean,
    positive_pair,
)

KIND = "resize_bilinear"

#: fractional bits of TFLite's integer scale (scale_10)
FRAC_BITS = 10
ONE = 1 << FRAC_BITS


@dataclass(frozen=True)
class ResizeBilinearParams:
    """resize_bilinear: output row ``y`` mixes input rows ``row_lo[y]`` and ``row_hi[y]`` with weights
    ``1024 - row_frac[y]`` and ``row_frac[y]`` (columns likewise); TFLite Micro's ComputeInterpolationValuesInteger."""

    size: tuple[int, int]
    align_corners: bool
    half_pixel_centers: bool
    row_lo: tuple[int, ...]
    row_hi: tuple[int, ...]
    row_frac: tuple[int, ...]
    col_lo: tuple[int, ...]
    col_hi: tuple[int, ...]
    col_frac: tuple[int, ...]


# --------------------------------------------------------------------------- TFLite Micro's integer arithmetic


def scale_10(in_size: int, out_size: int, align_corners: bool) -> int:
    """TFLite's ``height_scale_10`` / ``width_scale_10`` (every operand non-negative: ``//`` is C's ``/``)."""
    if align_corners and out_size > 1:
        return (ONE * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    return (ONE * in_size + out_size // 2) // out_size


def axis_terms(in_size: int, out_size: int, align_corners: bool,
               half_pixel_centers: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ComputeInterpolationValuesInteger for every output index: (lo, hi, frac) with ``frac = scaled - 1024 * lo``
    (negative where half-pixel centres put the source before the first pixel; then lo = hi = 0)."""
    s = scale_10(in_size, out_size, align_corners)
    o = np.arange(out_size, dtype=np.int64)
    scaled = o * s + s // 2 - (1 << (FRAC_BITS - 1)) if half_pixel_centers else o * s
    # C's truncating division: scaled / 1024 for negative scaled (> -1024) is 0, and max(., 0) makes it 0 anyway
    lo = np.maximum(np.trunc(scaled / ONE).astype(np.int64), 0)
    hi = np.minimum((scaled + ONE - 1) // ONE, in_size - 1)  # scaled + 1023 > 0: floor is truncation
    return lo, hi, scaled - ONE * lo


def _check_in_range(op: Op, axis: str, in_size: int, out_size: int, lo: np.ndarray) -> None:
    bad = np.flatnonzero(lo > in_size - 1)
    if bad.size:
        o = int(bad[0])
        raise UnsupportedError(
            f"{common.where(op)}: resizing {axis} {in_size} -> {out_size}: TFLite Micro's integer arithmetic (scale "
            f"rounded to 1/1024) takes output {axis[:-1]} {o} from input {axis[:-1]} {int(lo[o])}, past the last "
            f"({in_size - 1}), and reads outside the input; split the resize into smaller steps"
        )


# --------------------------------------------------------------------------- checks, shape, params


def _size(op: Op) -> tuple[int, int]:
    h, w = op.attrs["size"]
    return int(h), int(w)


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    """(batches, new_h, new_w, depth) of a rank-4 NHWC input."""
    x = graph.tensor(op.inputs[0])
    if len(x.shape) != 4:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} has shape {x.shape}; RESIZE_BILINEAR needs a rank-4 NHWC input "
            "(TFLite Micro's Prepare requires 4 dimensions)"
        )
    n, _, _, c = x.shape
    new_h, new_w = _size(op)
    return (n, new_h, new_w, c)


def _check_flags(op: Op) -> None:
    if op.attrs.get("align_corners") and op.attrs.get("half_pixel_centers"):
        raise UnsupportedError(
            f"{common.where(op)}: align_corners and half_pixel_centers are both set; TFLite Micro's RESIZE_BILINEAR "
            "refuses that (\"If half_pixel_centers is True, align_corners must be False\"): set at most one"
        )


def _check(graph: Graph, op: Op) -> None:
    """int8 in and out, rank 4, legal flags and sizes, one shared quantization (the kernel does not requantize)."""
    x, out = common.unary_int8(graph, op)
    common.require_rank(graph, op, x.name, 4)
    keras_check(op, x.shape)
    si, zi = common.qp(x, op)
    so, zo = common.qp(out, op)
    if np.float32(si) != np.float32(so) or zi != zo:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} has scale {np.float32(si)!s}, zero point {zi} but output "
            f"{out.name!r} has scale {np.float32(so)!s}, zero point {zo}; RESIZE_BILINEAR interpolates the int8 values "
            "without requantizing and needs equal input and output quantization: re-quantize the model (the TFLite "
            "converter gives them one scale)"
        )


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> ResizeBilinearParams:
    """The two source rows (columns) and the fraction of each output row (column); ``rounding`` only changes the
    final division (see :func:`interpolate`)."""
    _check(graph, op)
    _, in_h, in_w, _ = graph.tensor(op.inputs[0]).shape
    new_h, new_w = _size(op)
    ac, hp = bool(op.attrs["align_corners"]), bool(op.attrs["half_pixel_centers"])
    rows = axis_terms(in_h, new_h, ac, hp)
    cols = axis_terms(in_w, new_w, ac, hp)
    r, c = ([tuple(int(v) for v in a) for a in terms] for terms in (rows, cols))
    return ResizeBilinearParams(size=(new_h, new_w), align_corners=ac, half_pixel_centers=hp,
                                row_lo=r[0], row_hi=r[1], row_frac=r[2], col_lo=c[0], col_hi=c[1], col_frac=c[2])


def round_20(acc: np.ndarray, rounding: str) -> np.ndarray:
    """``acc / 2^20`` as TFLite rounds it: half away from zero, or (TFLITE_SINGLE_ROUNDING) half up."""
    acc = np.asarray(acc, np.int64)
    half = 1 << (2 * FRAC_BITS - 1)
    if rounding == "single":
        return (acc + half) >> (2 * FRAC_BITS)
    mag = (np.abs(acc) + half) >> (2 * FRAC_BITS)  # (acc + (acc > 0 ? half : -half)) / 2^20, truncated
    return np.where(acc >= 0, mag, -mag)


def interpolate(x: np.ndarray, p: ResizeBilinearParams, rounding: str) -> np.ndarray:
    """ResizeBilinearInteger's per-channel sum, term by term as TFLite Micro writes it, then :func:`round_20`."""
    v = np.asarray(x, np.int64)
    fy = np.asarray(p.row_frac, np.int64)[None, :, None, None]
    fx = np.asarray(p.col_frac, np.int64)[None, None, :, None]
    rows_lo, rows_hi = np.take(v, p.row_lo, axis=1), np.take(v, p.row_hi, axis=1)
    ll, rl = np.take(rows_lo, p.col_lo, axis=2), np.take(rows_lo, p.col_hi, axis=2)
    lu, ru = np.take(rows_hi, p.col_lo, axis=2), np.take(rows_hi, p.col_hi, axis=2)
    acc = ll * (ONE - fy) * (ONE - fx) + lu * fy * (ONE - fx) + rl * (ONE - fy) * fx + ru * fy * fx
    out = round_20(acc, rounding)  # a weighted mean of int8 values: int8 (static_cast<int8_t> changes nothing)
    return out.astype(np.int8)


def reference(graph: Graph, op: Op, p: ResizeBilinearParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return interpolate(args[0], p, rounding)


# --------------------------------------------------------------------------- float (TensorFlow's ResizeBilinear)


def float_axis(in_size: int, out_size: int, align_corners: bool,
               half_pixel_centers: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TensorFlow's compute_interpolation_weights in float64: (lower, upper, lerp)."""
    if align_corners and out_size > 1:
        scale = (in_size - 1) / (out_size - 1)
    else:
        scale = in_size / out_size
    o = np.arange(out_size, dtype=np.float64)
    src = (o + 0.5) * scale - 0.5 if half_pixel_centers else o * scale
    floor = np.floor(src)
    lower = np.clip(floor, 0, in_size - 1).astype(np.int64)
    upper = np.minimum(np.ceil(src), in_size - 1).astype(np.int64)
    return lower, np.maximum(upper, 0), src - floor


def _float_resize(x: np.ndarray, size: tuple[int, int], ac: bool, hp: bool) -> np.ndarray:
    y0, y1, ly = float_axis(x.shape[1], size[0], ac, hp)
    x0, x1, lx = float_axis(x.shape[2], size[1], ac, hp)
    ly, lx = ly[None, :, None, None], lx[None, None, :, None]
    top, bottom = np.take(x, y0, axis=1), np.take(x, y1, axis=1)
    top = np.take(top, x0, axis=2) + (np.take(top, x1, axis=2) - np.take(top, x0, axis=2)) * lx
    bottom = np.take(bottom, x0, axis=2) + (np.take(bottom, x1, axis=2) - np.take(bottom, x0, axis=2)) * lx
    return top + (bottom - top) * ly


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    x = np.asarray(inputs[0])
    ac, hp = bool(op.attrs.get("align_corners", False)), bool(op.attrs.get("half_pixel_centers", False))
    return _float_resize(x.astype(np.float64), _size(op), ac, hp).astype(x.dtype)


# --------------------------------------------------------------------------- import


from_tflite = common.resize_from_tflite(KIND, "RESIZE_BILINEAR")


def keras_check(op: Op, in_shape: tuple[int, ...]) -> None:
    """The flags and the sizes TFLite Micro's arithmetic resizes without reading outside the input (also for the
    Keras mapping, ``resize_nearest.from_keras``, whose float graph is not checked)."""
    _check_flags(op)
    new_h, new_w = _size(op)
    ac, hp = bool(op.attrs["align_corners"]), bool(op.attrs["half_pixel_centers"])
    _check_in_range(op, "rows", in_shape[1], new_h, axis_terms(in_shape[1], new_h, ac, hp)[0])
    _check_in_range(op, "columns", in_shape[2], new_w, axis_terms(in_shape[2], new_w, ac, hp)[0])


# --------------------------------------------------------------------------- lowering


def folded(lo: tuple[int, ...], hi: tuple[int, ...], frac: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel's view of one axis: where both sources coincide or the upper weight is 0, one source (hi = lo)
    with fraction 0; the sum is unchanged (``v * (1024 - f) + v * f = v * 1024``) and every weight is in [0, 1024]."""
    lo_a, hi_a, f = (np.asarray(a, np.int64) for a in (lo, hi, frac))
    single = (lo_a == hi_a) | (f == 0)
    hi_a = np.where(single, lo_a, hi_a)
    f = np.where(single, 0, f)
    assert ((f >= 0) & (f < ONE)).all()
    return lo_a, hi_a, f


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x, out = in_out(ctx, op)
    n, in_h, in_w, depth = x.shape
    row_bytes = in_w * depth
    if in_h * row_bytes >= 1 << 31:
        raise UnsupportedError(f"{common.where(op)}: input {x.name!r} of shape {x.shape} holds 2^31 bytes or more")
    y0, y1, fy = folded(p.row_lo, p.row_hi, p.row_frac)
    x0, x1, fx = folded(p.col_lo, p.col_hi, p.col_frac)
    rows = np.stack([y0 * row_bytes, y1 * row_bytes], axis=1).reshape(-1).astype(np.int32)
    cols = np.stack([x0 * depth, x1 * depth], axis=1).reshape(-1).astype(np.int32)
    row_table = ctx.const_array(hint(op, "rows"), rows, "int32_t", TABLE)
    col_table = ctx.const_array(hint(op, "cols"), cols, "int32_t", TABLE)
    fy_table = ctx.const_array(hint(op, "row_frac"), fy.astype(np.int16), "int16_t", TABLE)
    fx_table = ctx.const_array(hint(op, "col_frac"), fx.astype(np.int16), "int16_t", TABLE)
    new_h, new_w = p.size
    args = (const_ptr(ctx, x.name), str(n), str(in_h * row_bytes), str(depth), str(new_h), str(new_w), row_table,
            fy_table, col_table, fx_table, ctx.tensor_ptr(out.name))
    flags = [f for f, on in (("align_corners", p.align_corners), ("half_pixel_centers", p.half_pixel_centers)) if on]
    return KernelCall("tg_resize_bilinear_s8", args,
                      comment=f"resize bilinear {shape_str(x)} -> {shape_str(out)}{' ' + ', '.join(flags) if flags else ''}")


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    """TensorFlow's float bilinear resize with the op's flags (what the Keras layer computes)."""
    x = xs[0]
    size = tuple(int(v) for v in attrs["size"])
    ac, hp = bool(attrs.get("align_corners", False)), bool(attrs.get("half_pixel_centers", False))
    return tf.compat.v1.image.resize_bilinear(x, size, align_corners=ac, half_pixel_centers=hp)


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
    tflite=(TfliteMapping("RESIZE_BILINEAR", from_tflite, tflite.ResizeBilinearOptions,
                          {"AlignCorners": False, "HalfPixelCenters": False}),),
    lowerings=(lower,),
    qat=QatHooks(forward=_qat_forward),
)
