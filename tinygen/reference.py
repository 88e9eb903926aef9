"""The numpy reference executor: tinygen's golden model.

``run(graph, inputs, rounding="double")`` executes an int8 graph with exactly the integer arithmetic
of TFLite Micro's reference kernels (parameters from :mod:`tinygen.qparams`, arithmetic from
:mod:`tinygen.numerics`) and returns every activation tensor by name.

Speed: convolutions are im2col (stride tricks) + a float64 matrix product. That is exact: every
operand is an integer of at most 9 bits times 8 bits, so every partial sum is an integer far below
2^53, whatever order BLAS adds in; the int32 wrap is then applied to the exact sum.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tinygen import numerics, ops
from tinygen import qparams as qp
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op

_NP_DTYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "float32": np.float32}


def _clamp_int8(acc: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(acc, lo, hi).astype(np.int8)


def _windows(x: np.ndarray, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int, ow: int) -> np.ndarray:
    """View [N, OH, OW, KH, KW, C] of the (already padded) NHWC array ``x``."""
    n, _, _, c = x.shape
    s0, s1, s2, s3 = x.strides
    return as_strided(x, shape=(n, oh, ow, kh, kw, c), strides=(s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3), writeable=False)


def _pad_spatial(x: np.ndarray, pad_top: int, pad_left: int, need_h: int, need_w: int, value: float) -> np.ndarray:
    """Pad rows/columns so the windows fit: ``pad_top``/``pad_left`` before, the rest after."""
    n, h, w, c = x.shape
    bottom = max(need_h - h - pad_top, 0)
    right = max(need_w - w - pad_left, 0)
    return np.pad(x, ((0, 0), (pad_top, bottom), (pad_left, right), (0, 0)), constant_values=value)


def _conv_like(graph: Graph, op: Op, p: qp.ConvParams, x: np.ndarray) -> np.ndarray:
    w_t = graph.tensor(op.inputs[1])
    weights = np.asarray(w_t.data, dtype=np.float64)
    out_shape = graph.tensor(op.outputs[0]).shape
    _, oh, ow, oc = out_shape
    kh, kw = w_t.shape[1], w_t.shape[2]
    need_h = (oh - 1) * p.stride_h + (kh - 1) * p.dilation_h + 1
    need_w = (ow - 1) * p.stride_w + (kw - 1) * p.dilation_w + 1
    # Offsetting first makes the padding exactly 0 (real 0.0 = the input zero point).
    xo = x.astype(np.float64) + p.input_offset
    xo = _pad_spatial(xo, p.pad_top, p.pad_left, need_h, need_w, 0.0)
    win = _windows(xo, kh, kw, p.stride_h, p.stride_w, p.dilation_h, p.dilation_w, oh, ow)
    if op.kind == "conv2d":
        cols = win.reshape(-1, kh * kw * win.shape[-1])
        acc = cols @ weights.reshape(oc, -1).T
        acc = acc.reshape(out_shape)
    else:
        in_c = win.shape[-1]
        if p.depth_multiplier == 1:
            src = win
        else:
            src = win[..., np.arange(in_c * p.depth_multiplier) // p.depth_multiplier]
        acc = np.einsum("nhwijc,ijc->nhwc", src, weights[0], optimize=True)
    acc = acc.astype(np.int64)
    if p.has_bias:
        acc = acc + np.asarray(graph.tensor(op.inputs[2]).data, dtype=np.int64)
    return acc


def _requant_out(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray, offset: int, lo: int, hi: int, rounding: str) -> np.ndarray:
    acc = numerics.wrap_int32(acc)
    scaled = numerics.multiply_by_quantized_multiplier(acc, mult.astype(np.int64), shift.astype(np.int64), rounding)
    return _clamp_int8(scaled + offset, lo, hi)


def _run_conv(graph: Graph, op: Op, p: qp.ConvParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    acc = _conv_like(graph, op, p, args[0])
    return _requant_out(acc, p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max, rounding)


def _run_fc(graph: Graph, op: Op, p: qp.FullyConnectedParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    x = args[0].astype(np.float64).reshape(-1, p.in_features) + p.input_offset
    w = np.asarray(graph.tensor(op.inputs[1]).data, dtype=np.float64) + p.weights_offset
    acc = (x @ w.T).astype(np.int64)
    if p.has_bias:
        acc = acc + np.asarray(graph.tensor(op.inputs[2]).data, dtype=np.int64)
    out = _requant_out(acc, p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max, rounding)
    return out.reshape(graph.tensor(op.outputs[0]).shape)


def _broadcast_pair(graph: Graph, op: Op, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out_shape = graph.tensor(op.outputs[0]).shape
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        shape = None
    if shape is None or tuple(shape) != tuple(out_shape) or len(shape) > 6:
        raise UnsupportedError(
            f"{op.kind} op {op.name!r}: inputs of shape {a.shape} and {b.shape} do not broadcast to output "
            f"{tuple(out_shape)}: TFLite broadcasting needs compatible shapes of rank <= 6"
        )
    return np.broadcast_to(a, shape).astype(np.int64), np.broadcast_to(b, shape).astype(np.int64)


def _run_add(graph: Graph, op: Op, p: qp.AddParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    a, b = _broadcast_pair(graph, op, args[0], args[1])
    mqm = numerics.multiply_by_quantized_multiplier
    sa = mqm(numerics.wrap_int32((a + p.input1_offset) << p.left_shift), p.input1_multiplier, p.input1_shift, rounding)
    sb = mqm(numerics.wrap_int32((b + p.input2_offset) << p.left_shift), p.input2_multiplier, p.input2_shift, rounding)
    raw = mqm(numerics.wrap_int32(sa + sb), p.output_multiplier, p.output_shift, rounding) + p.output_offset
    return _clamp_int8(raw, p.act_min, p.act_max)


def _run_mul(graph: Graph, op: Op, p: qp.MulParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    a, b = _broadcast_pair(graph, op, args[0], args[1])
    prod = (a + p.input1_offset) * (b + p.input2_offset)
    raw = numerics.multiply_by_quantized_multiplier(prod, p.output_multiplier, p.output_shift, rounding) + p.output_offset
    return _clamp_int8(raw, p.act_min, p.act_max)


def _run_pool(graph: Graph, op: Op, p: qp.PoolParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    x = args[0]
    _, oh, ow, _ = graph.tensor(op.outputs[0]).shape
    need_h = (oh - 1) * p.stride_h + p.filter_h
    need_w = (ow - 1) * p.stride_w + p.filter_w
    if op.kind == "max_pool2d":
        xp = _pad_spatial(x.astype(np.int16), p.pad_top, p.pad_left, need_h, need_w, -32768)
        win = _windows(xp, p.filter_h, p.filter_w, p.stride_h, p.stride_w, 1, 1, oh, ow)
        best = win.max(axis=(3, 4)).astype(np.int64)
        best = np.maximum(best, -128)  # TFLite starts from int8 lowest: a window with no pixel gives -128
        return _clamp_int8(best, p.act_min, p.act_max)
    xp = _pad_spatial(x.astype(np.int64), p.pad_top, p.pad_left, need_h, need_w, 0)
    valid = _pad_spatial(np.ones((1,) + x.shape[1:3] + (1,), dtype=np.int64), p.pad_top, p.pad_left, need_h, need_w, 0)
    acc = _windows(xp, p.filter_h, p.filter_w, p.stride_h, p.stride_w, 1, 1, oh, ow).sum(axis=(3, 4))
    count = _windows(valid, p.filter_h, p.filter_w, p.stride_h, p.stride_w, 1, 1, oh, ow).sum(axis=(3, 4))
    if np.any(count == 0):
        raise TinygenError(f"avg_pool2d op {op.name!r}: a pooling window lies entirely in the padding: fix filter/stride/padding")
    half = count // 2
    num = np.where(acc > 0, acc + half, acc - half)
    avg = np.sign(num) * (np.abs(num) // count)  # C division truncates toward zero
    return _clamp_int8(avg, p.act_min, p.act_max)


def _run_mean(graph: Graph, op: Op, p: qp.MeanParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    x = args[0].astype(np.int64)
    out_shape = graph.tensor(op.outputs[0]).shape
    total = numerics.wrap_int32(x.sum(axis=p.axes)) if p.axes else x
    if p.num_elements == 0:
        return np.zeros(out_shape, dtype=np.int8)
    shifted = numerics.wrap_int32(total - p.input_zero_point * p.num_elements)
    raw = numerics.multiply_by_quantized_multiplier(shifted, p.multiplier, p.shift, rounding) + p.output_zero_point
    return _clamp_int8(raw, -128, 127).reshape(out_shape)


def _run_softmax(graph: Graph, op: Op, p: qp.SoftmaxParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return numerics.softmax_int8(args[0], p.input_multiplier, p.input_left_shift, p.diff_min, rounding)  # type: ignore[arg-type]


def _run_relu(graph: Graph, op: Op, p: qp.ReluParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    x = args[0].astype(np.int64) - p.input_zero_point
    raw = p.output_offset + numerics.multiply_by_quantized_multiplier(x, p.multiplier, p.shift, rounding)
    return _clamp_int8(raw, p.act_min, p.act_max)


def _run_relu6(graph: Graph, op: Op, p: qp.Relu6Params, args: list[np.ndarray], rounding: str) -> np.ndarray:
    x = args[0]
    return np.where(x > p.six, p.six, np.where(x < p.zero, p.zero, x)).astype(np.int8)


def _run_quantize(graph: Graph, op: Op, p: qp.QuantizeParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    out_dtype = _NP_DTYPES[graph.tensor(op.outputs[0]).dtype]
    x = args[0]
    if p.mode == "affine":
        # AffineQuantize: val / static_cast<float>(scale) in float32, roundf, static_cast<int32_t>, + zero point.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            quotient = x.astype(np.float32) / np.float32(p.scale)
            q = numerics.float_to_int32_x86(numerics.round_half_away(quotient.astype(np.float64)))
        raw = numerics.wrap_int32(q + p.output_zero_point)
    else:
        raw = numerics.multiply_by_quantized_multiplier(x.astype(np.int64) - p.input_zero_point, p.multiplier, p.shift, rounding)
        raw = raw + p.output_zero_point
    return np.clip(raw, p.qmin, p.qmax).astype(out_dtype)


def _run_dequantize(graph: Graph, op: Op, p: qp.DequantizeParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return (p.scale * (args[0].astype(np.float64) - p.zero_point)).astype(np.float32)


def _run_pad(graph: Graph, op: Op, p: qp.PadParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return np.pad(args[0], p.paddings, constant_values=p.pad_value).astype(np.int8)


def _run_concat(graph: Graph, op: Op, p: qp.ConcatParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return np.concatenate(args, axis=p.axis).astype(np.int8)


def _run_reshape(graph: Graph, op: Op, p: qp.ReshapeParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return args[0].reshape(graph.tensor(op.outputs[0]).shape).copy()


_KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "conv2d": _run_conv, "depthwise_conv2d": _run_conv, "fully_connected": _run_fc, "add": _run_add, "mul": _run_mul,
    "max_pool2d": _run_pool, "avg_pool2d": _run_pool, "mean": _run_mean, "softmax": _run_softmax,
    "relu": _run_relu, "relu6": _run_relu6, "quantize": _run_quantize, "dequantize": _run_dequantize,
    "pad": _run_pad, "concatenation": _run_concat, "reshape": _run_reshape,
}

#: op inputs that are parameters (weights, biases, shapes), not data the kernel reads as activations
_DATA_INPUTS: dict[str, int] = {"conv2d": 1, "depthwise_conv2d": 1, "fully_connected": 1, "reshape": 1, "pad": 1, "mean": 1}


def _check_input(graph: Graph, name: str, value: np.ndarray) -> np.ndarray:
    t = graph.tensor(name)
    arr = np.asarray(value)
    if arr.size != t.size:
        raise TinygenError(f"graph input {name!r}: got an array of shape {arr.shape}, the model expects {t.shape} ({t.dtype})")
    want = _NP_DTYPES[t.dtype]
    if arr.dtype != want:
        if np.issubdtype(arr.dtype, np.integer) and np.issubdtype(want, np.integer):
            info = np.iinfo(want)
            if arr.size and (arr.min() < info.min or arr.max() > info.max):
                raise TinygenError(f"graph input {name!r}: values outside the {t.dtype} range: quantize the input first")
        elif not (np.issubdtype(want, np.floating) and np.issubdtype(arr.dtype, np.number)):
            raise TinygenError(f"graph input {name!r}: got {arr.dtype} data, the model expects {t.dtype}")
    return arr.astype(want).reshape(t.shape)


def run(
    graph: Graph, inputs: np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray], rounding: str = "double"
) -> dict[str, np.ndarray]:
    """Execute ``graph`` on ``inputs`` (one array per graph input in order, a dict keyed by input
    name, or one array for a single-input graph). Returns every non-constant tensor (inputs,
    intermediates, outputs) by name."""
    numerics.check_rounding(rounding)
    graph.validate()
    if isinstance(inputs, Mapping):
        missing = [n for n in graph.inputs if n not in inputs]
        if missing:
            raise TinygenError(f"graph {graph.name!r}: inputs are missing graph input(s) {missing}")
        inputs = [np.asarray(inputs[n]) for n in graph.inputs]
    if isinstance(inputs, np.ndarray) or not isinstance(inputs, (list, tuple)):
        inputs = [np.asarray(inputs)]
    if len(inputs) != len(graph.inputs):
        raise TinygenError(f"graph {graph.name!r} has {len(graph.inputs)} inputs {graph.inputs}, got {len(inputs)} arrays")
    values: dict[str, np.ndarray] = {}
    for name, value in zip(graph.inputs, inputs):
        values[name] = _check_input(graph, name, value)
    for op in graph.ops:
        defn = ops.find(op.kind)
        if defn is not None and defn.reference is not None:
            kernel = defn.reference
            count = defn.data_inputs if defn.data_inputs is not None else len(op.inputs)
        else:
            kernel = _KERNELS.get(op.kind)  # type: ignore[assignment]
            count = _DATA_INPUTS.get(op.kind, len(op.inputs))
        if kernel is None:
            raise UnsupportedError(f"op {op.name!r}: the reference executor cannot run op kind {op.kind!r}")
        params = qp.op_params(graph, op, rounding)  # type: ignore[arg-type]
        args = []
        for name in op.inputs[:count]:
            if name in values:
                args.append(values[name])
            elif graph.tensor(name).is_const:
                t = graph.tensor(name)
                args.append(np.asarray(t.data).astype(_NP_DTYPES[t.dtype]).reshape(t.shape))
            else:
                raise TinygenError(f"op {op.name!r}: input {name!r} is used before it is produced")
        result = kernel(graph, op, params, args, rounding)
        out_t = graph.tensor(op.outputs[0])
        values[op.outputs[0]] = np.asarray(result).reshape(out_t.shape).astype(_NP_DTYPES[out_t.dtype])
    return values
