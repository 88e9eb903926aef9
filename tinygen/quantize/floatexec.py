"""numpy executor for the float32 graph: every tensor's values for a batch of inputs.

The quantizer calibrates on these values (as TFLite's calibrator runs the folded float model), and the
quantization report compares the int8 reference against them. Batch dimension is free: the graph's
shapes say batch 1, the executor runs any batch size N.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinygen import ops
from tinygen.ir import Graph, Op, same_padding


def _activation(x: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.maximum(x, 0)
    if activation == "relu6":
        return np.clip(x, 0, 6)
    if activation == "relu_n1_to_1":
        return np.clip(x, -1, 1)
    return x


def _pad_spatial(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
                 padding: str, value: float = 0.0) -> np.ndarray:
    if padding != "same":
        return x
    pads = [same_padding(x.shape[1 + i], kernel[i], stride[i], dilation[i])[1:] for i in range(2)]
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
             padding: str, value: float = 0.0) -> np.ndarray:
    """(N, OH, OW, C, kh, kw) view of the receptive fields."""
    xp = _pad_spatial(x, kernel, stride, dilation, padding, value)
    eff = [(kernel[i] - 1) * dilation[i] + 1 for i in range(2)]
    win = sliding_window_view(xp, eff, axis=(1, 2))
    return win[:, :: stride[0], :: stride[1], :, :: dilation[0], :: dilation[1]]


def _conv2d(op: Op, x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    win = _windows(x, w.shape[1:3], op.attrs["stride"], op.attrs["dilation"], op.attrs["padding"])
    # win (N, OH, OW, C, kh, kw) . w (O, kh, kw, C) -> (N, OH, OW, O)
    return np.tensordot(win, w.transpose(3, 1, 2, 0), axes=([3, 4, 5], [0, 1, 2])) + bias


def _depthwise(op: Op, x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mult = int(op.attrs["depth_multiplier"])
    kh, kw = w.shape[1:3]
    win = _windows(x, (kh, kw), op.attrs["stride"], op.attrs["dilation"], op.attrs["padding"])
    k = w.reshape(kh, kw, x.shape[3], mult)
    out = np.einsum("nhwcij,ijcm->nhwcm", win, k, optimize=True)
    return out.reshape(*out.shape[:3], x.shape[3] * mult) + bias


def _pool(op: Op, x: np.ndarray) -> np.ndarray:
    size, stride, padding = tuple(op.attrs["filter"]), tuple(op.attrs["stride"]), op.attrs["padding"]
    if op.kind == "max_pool2d":
        return _windows(x, size, stride, (1, 1), padding, -np.inf).max(axis=(4, 5))
    # Average over the valid (unpadded) elements only, as TFLite and Keras do.
    sums = _windows(x, size, stride, (1, 1), padding).sum(axis=(4, 5))
    ones = np.ones((1, *x.shape[1:3], 1), x.dtype)
    counts = _windows(ones, size, stride, (1, 1), padding).sum(axis=(4, 5))
    return sums / counts


def run_float(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run the float graph on ``x`` (N samples, shape (N, *input_shape[1:])): every tensor by name."""
    values: dict[str, np.ndarray] = {graph.inputs[0]: np.asarray(x, np.float32)}
    for name, tensor in graph.tensors.items():
        if tensor.is_const:
            values[name] = np.asarray(tensor.data, np.float32)
    n = values[graph.inputs[0]].shape[0]
    for op in graph.ops:
        ins = [values[i] for i in op.inputs]
        out_shape = (n, *graph.tensors[op.outputs[0]].shape[1:])
        defn = ops.find(op.kind)
        if defn is not None and defn.float_reference is not None:
            y = defn.float_reference(op, ins)
        elif op.kind == "conv2d":
            y = _conv2d(op, *ins)
        elif op.kind == "depthwise_conv2d":
            y = _depthwise(op, *ins)
        elif op.kind == "fully_connected":
            y = ins[0].reshape(-1, ins[1].shape[1]) @ ins[1].T + ins[2]
        elif op.kind == "add":
            y = ins[0] + ins[1]
        elif op.kind == "mul":
            y = ins[0] * ins[1]
        elif op.kind in ("max_pool2d", "avg_pool2d"):
            y = _pool(op, ins[0])
        elif op.kind == "mean":
            y = ins[0].mean(axis=tuple(op.attrs["axes"]), keepdims=bool(op.attrs["keep_dims"]))
        elif op.kind == "reshape":
            y = ins[0]
        elif op.kind == "softmax":
            z = ins[0] * float(op.attrs["beta"])
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            y = e / e.sum(axis=-1, keepdims=True)
        elif op.kind == "concatenation":
            y = np.concatenate(ins, axis=int(op.attrs["axis"]))
        elif op.kind == "pad":
            y = np.pad(ins[0], [tuple(p) for p in op.attrs["paddings"]])
        elif op.kind == "relu":
            y = np.maximum(ins[0], 0)
        elif op.kind == "relu6":
            y = np.clip(ins[0], 0, 6)
        else:
            raise ValueError(f"float executor: op kind {op.kind!r} is not supported")
        values[op.outputs[0]] = _activation(np.asarray(y, np.float32), op.activation).reshape(out_shape)
    return values
