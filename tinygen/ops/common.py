"""Helpers the op modules share: tensor checks and integer-parameter pieces (the Prepare side), and the
numpy building blocks of the references (windows, padding, requantization, broadcasting)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from tinygen import numerics
from tinygen.activations import FLOAT_RANGE
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op, Tensor, same_padding

INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}
NP_DTYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "float32": np.float32}


def where(op: Op) -> str:
    return f"{op.kind} op {op.name!r}"


def ro(a: np.ndarray) -> np.ndarray:
    """A read-only contiguous int32 copy (per-channel parameters)."""
    a = np.ascontiguousarray(a, dtype=np.int32)
    a.setflags(write=False)
    return a


# --------------------------------------------------------------------------- tensor checks


def check_scales(tensor: Tensor, op: Op) -> None:
    scales = tensor.quant.scale if tensor.quant is not None else np.ones(1, np.float32)
    if not np.all(np.isfinite(scales) & (scales > 0)):
        raise TinygenError(
            f"{where(op)}: tensor {tensor.name!r} has quantization scale(s) {scales.tolist()[:4]}; scales must be "
            "finite and positive: re-quantize the model"
        )


def check_zero_points(tensor: Tensor, op: Op) -> None:
    """Zero points inside the range of the tensor's type."""
    if tensor.quant is None or tensor.dtype not in INT_RANGES:
        return
    lo, hi = INT_RANGES[tensor.dtype]
    zps = tensor.quant.zero_point
    if zps.size and (zps.min() < lo or zps.max() > hi):
        raise TinygenError(
            f"{where(op)}: tensor {tensor.name!r} ({tensor.dtype}) has zero point(s) {zps.tolist()[:4]} outside "
            f"[{lo}, {hi}]: re-quantize the model"
        )


def qp(tensor: Tensor, op: Op) -> tuple[float, int]:
    """(float32 scale, zero point) of a per-tensor quantized tensor, checked."""
    if tensor.quant is None:
        raise UnsupportedError(
            f"{where(op)}: tensor {tensor.name!r} ({tensor.dtype}, shape {tensor.shape}) has no quantization; "
            "tinygen runs int8-quantized models only: quantize the model (full-integer int8)"
        )
    check_scales(tensor, op)
    check_zero_points(tensor, op)
    if tensor.quant.scale.size != 1:
        raise UnsupportedError(
            f"{where(op)}: tensor {tensor.name!r} is per-channel quantized ({tensor.quant.scale.size} scales), "
            "only weights may be: use per-tensor quantization for activations"
        )
    return float(tensor.quant.scale[0]), int(tensor.quant.zero_point[0])


def require_int8(tensor: Tensor, op: Op) -> None:
    if tensor.dtype != "int8":
        raise UnsupportedError(
            f"{where(op)}: tensor {tensor.name!r} is {tensor.dtype} (shape {tensor.shape}); this op runs on int8 only: "
            "convert the model with full-integer int8 quantization"
        )


def require_const(graph: Graph, op: Op, first: int) -> None:
    """Weights and bias (inputs from ``first`` on) must be constant tensors."""
    for name in op.inputs[first:]:
        t = graph.tensor(name)
        if not t.is_const:
            raise UnsupportedError(
                f"{where(op)}: tensor {name!r} (shape {t.shape}) is computed at run time; tinygen needs constant "
                "weights and biases: freeze them into the model"
            )


def require_rank(graph: Graph, op: Op, name: str, rank: int, what: str = "input") -> tuple[int, ...]:
    shape = graph.tensor(name).shape
    if len(shape) != rank:
        raise TinygenError(f"{where(op)}: {what} {name!r} has shape {shape}; this op needs rank {rank}")
    return shape


def check_activation_range(op: Op, out_scale: float) -> None:
    """CalculateActivationRangeQuantized converts ``bound / scale`` (float32) to int32: a fused activation's
    bound beyond int32 output steps (an absurdly small output scale) is undefined behaviour there."""
    for bound in FLOAT_RANGE[op.activation]:
        if bound is None:
            continue
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            steps = float(np.float32(bound) / np.float32(out_scale))
        if not abs(steps) < 2.0**31:
            raise TinygenError(
                f"{where(op)}: output scale {out_scale:g} puts the {op.activation} bound {bound:g} at {steps:g} "
                "steps, beyond int32 (TFLite's activation range conversion is undefined there): the output scale is "
                "corrupt; re-quantize the model"
            )


def act_range(op: Op, out: Tensor) -> tuple[int, int]:
    """The int8 clamp range of the op's fused activation in the output's quantization (checked)."""
    scale, zp = qp(out, op)
    check_activation_range(op, scale)
    qmin, qmax = INT_RANGES["int8"]
    return numerics.activation_range(op.activation, scale, zp, qmin, qmax)


def multiplier(real: float, op: Op, what: str, rounding: numerics.Rounding) -> tuple[int, int]:
    """QuantizeMultiplier of a checked non-negative finite ratio of scales."""
    if not np.isfinite(real) or real < 0:
        raise TinygenError(f"{where(op)}: {what} scale ratio {real!r} is not a finite non-negative number: fix the tensor scales")
    m, shift = numerics.quantize_multiplier(real, rounding)
    check_left_shift(op, what, real, shift)
    return m, shift


def check_left_shift(op: Op, what: str, real: float, shift: int) -> None:
    """TFLite's requantization shifts int32 values left by at most 30 bits (``x * (1 << shift)``): a larger
    shift (a corrupt, absurdly small output scale) is undefined behaviour there, and refused here."""
    if shift > 30:
        raise TinygenError(
            f"{where(op)}: {what} scale ratio {real:g} needs a left shift of {shift} bits; TFLite's requantization "
            "shifts int32 values by at most 30 (beyond, its arithmetic is undefined): the scales are corrupt; "
            "re-quantize the model"
        )


def unary_int8(graph: Graph, op: Op) -> tuple[Tensor, Tensor]:
    """Input 0 and the output of an int8 -> int8 op, checked."""
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    require_int8(x, op)
    require_int8(out, op)
    return x, out


def unary_int8_or_int16(graph: Graph, op: Op, zero_points_zero: bool = False) -> tuple[Tensor, Tensor]:
    """Input 0 and the output of an op on int8 (both int8) or on int16 (both int16, TFLite's 16x8 mode; with
    ``zero_points_zero`` both zero points must be 0, as the op's TFLite Micro Prepare requires), checked."""
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if x.dtype != "int16" and out.dtype != "int16":
        return unary_int8(graph, op)
    if x.dtype != out.dtype:
        raise TinygenError(f"{where(op)}: input {x.name!r} is {x.dtype} and output {out.name!r} {out.dtype}; the op needs "
                           "both int8 or both int16")
    for t in (x, out):
        zp = qp(t, op)[1]
        if zero_points_zero and zp != 0:
            raise TinygenError(f"{where(op)}: int16 tensor {t.name!r} has zero point {zp}; TFLite's int16 "
                               f"{op.kind.upper()} needs zero point 0 (16x8 quantization is symmetric): re-quantize the model")
    return x, out


def same_layout(graph: Graph, op: Op) -> bool:
    """The in-place rule of element-wise kernels that read element i right before writing element i: the output
    may start at its dying first input's offset when both have the same shape and element size."""
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    return x.shape == out.shape and x.itemsize == out.itemsize


def unary_from_tflite(kind: str) -> Callable[[Any, Any], Op]:
    """The ``.tflite`` converter of a unary op without options: its one int8 activation operand."""

    def convert(imp: Any, raw: Any) -> Op:
        return Op(kind, "", [imp.activation_tensor(raw, imp.inputs(raw, 1)[0])], [], {})

    return convert


def resize_from_tflite(kind: str, builtin: str) -> Callable[[Any, Any], Op]:
    """The ``.tflite`` converter of a RESIZE_* builtin: the NHWC image and a constant int32 [new_height,
    new_width] (TFLite Micro supports no other size operand), its align_corners/half_pixel_centers flags."""

    def convert(imp: Any, raw: Any) -> Op:
        import tflite

        if len(raw.inputs) != 2:
            raise TinygenError(
                f"{imp.where(raw)}: has {len(raw.inputs)} inputs; {builtin} takes 2 (the image and its new size); "
                "corrupt model"
            )
        x, size_index = imp.inputs(raw, 2)
        imp.ranked(raw, x, 4, "input")
        t = imp.raw.tensors[size_index]
        if t.type != tflite.TensorType.INT32 or t.data is None or tuple(t.shape) != (2,):
            raise UnsupportedError(
                f"{imp.where(raw)}: its size ({imp.describe(size_index)}) must be a constant 1-D int32 tensor of 2 "
                "values [new_height, new_width] (TFLite Micro supports no other)"
            )
        size = imp.const(raw, size_index, "size")
        return Op(kind, "", [imp.activation_tensor(raw, x)], [], {
            "size": (int(size[0]), int(size[1])),
            "align_corners": bool(raw.options["AlignCorners"]),
            "half_pixel_centers": bool(raw.options["HalfPixelCenters"]),
        })

    return convert


def same_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    """Shape inference of an elementwise op: the first input's shape."""
    return graph.tensor(op.inputs[0]).shape


# --------------------------------------------------------------------------- reference building blocks


def clamp_int8(acc: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(acc, lo, hi).astype(np.int8)


def windows(x: np.ndarray, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int, ow: int) -> np.ndarray:
    """View [N, OH, OW, KH, KW, C] of the (already padded) NHWC array ``x``."""
    n, _, _, c = x.shape
    s0, s1, s2, s3 = x.strides
    return as_strided(x, shape=(n, oh, ow, kh, kw, c), strides=(s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3), writeable=False)


def pad_spatial(x: np.ndarray, pad_top: int, pad_left: int, need_h: int, need_w: int, value: float) -> np.ndarray:
    """Pad rows/columns so the windows fit: ``pad_top``/``pad_left`` before, the rest after."""
    n, h, w, c = x.shape
    bottom = max(need_h - h - pad_top, 0)
    right = max(need_w - w - pad_left, 0)
    return np.pad(x, ((0, 0), (pad_top, bottom), (pad_left, right), (0, 0)), constant_values=value)


def requant_out(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray, offset: int, lo: int, hi: int, rounding: str) -> np.ndarray:
    """int32 accumulators -> int8: wrap, requantize per channel, add the output offset, clamp."""
    acc = numerics.wrap_int32(acc)
    scaled = numerics.multiply_by_quantized_multiplier(acc, mult.astype(np.int64), shift.astype(np.int64), rounding)  # type: ignore[arg-type]
    return clamp_int8(scaled + offset, lo, hi)


def broadcast_shape(op: Op, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """TFLite's (numpy's) broadcast of two operand shapes, rank <= 6."""
    try:
        shape = tuple(int(d) for d in np.broadcast_shapes(a, b))
    except ValueError:
        shape = None
    if shape is None or len(shape) > 6:
        raise UnsupportedError(
            f"{where(op)}: inputs of shape {a} and {b} do not broadcast: TFLite broadcasting needs compatible "
            "shapes of rank <= 6"
        )
    return shape


def broadcast_pair(graph: Graph, op: Op, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    shape = broadcast_shape(op, a.shape, b.shape)
    return np.broadcast_to(a, shape).astype(np.int64), np.broadcast_to(b, shape).astype(np.int64)


# --------------------------------------------------------------------------- float reference building blocks


def float_pad_same(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
                   padding: str, value: float = 0.0) -> np.ndarray:
    if padding != "same":
        return x
    pads = [same_padding(x.shape[1 + i], kernel[i], stride[i], dilation[i])[1:] for i in range(2)]
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


def float_windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
                  padding: str, value: float = 0.0) -> np.ndarray:
    """(N, OH, OW, C, kh, kw) view of the receptive fields of a float NHWC batch."""
    xp = float_pad_same(x, kernel, stride, dilation, padding, value)
    eff = [(kernel[i] - 1) * dilation[i] + 1 for i in range(2)]
    win = sliding_window_view(xp, eff, axis=(1, 2))
    return win[:, :: stride[0], :: stride[1], :, :: dilation[0], :: dilation[1]]
