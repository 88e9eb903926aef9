"""Float32 IR graph + activation ranges -> int8 IR graph, in TFLite's int8 scheme.

* Weights: symmetric per output channel (conv axis 0 of OHWI, depthwise axis 3, dense axis 0), values
  in [-127, 127], scale = max|w| / 127, round half away from zero.
* Biases: int32, scale = input_scale * weight_scale[c], zero point 0.
* Activations: per tensor, asymmetric, range widened to include 0, zero point nudged
  (:func:`~tinygen.quantize.observers.activation_params`). A fused ReLU shows in the observed range.
* Ops whose int8 kernels do not requantize (max/avg pool, reshape, pad, concatenation) need the
  same parameters on their inputs and output: those tensors form one group (union-find) quantized
  with the union of their ranges, which is what TFLite's input->output propagation gives for
  pools/reshape/pad and its shared scale for concatenation.
* Softmax outputs are scale 1/256, zero point -128.
"""

from __future__ import annotations

import numpy as np

from tinygen import ops
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops.base import SAME_AS_INPUT, SHARED_BY_ALL
from tinygen.quantize.observers import Ranges, activation_params

INT32_MAX = 2**31 - 1


def round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize_weights(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(int8 values, float32 per-channel scales) of symmetric narrow-range weights."""
    other = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w.astype(np.float64)).max(axis=other)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    return _quantize_with(w, scale, axis), scale


def _quantize_with(w: np.ndarray, scale: np.ndarray, axis: int) -> np.ndarray:
    shape = [1] * w.ndim
    shape[axis] = -1
    q = round_half_away(w.astype(np.float64) / scale.astype(np.float64).reshape(shape))
    return np.clip(q, -127, 127).astype(np.int8)


def quantize_bias(bias: np.ndarray, input_scale: np.float32, weight_scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int32 values, float32 scales) with scale = input_scale * weight_scale[c]."""
    scale = np.float64(input_scale) * weight_scale.astype(np.float64)
    q = round_half_away(bias.astype(np.float64) / scale)
    return np.clip(q, -INT32_MAX, INT32_MAX).astype(np.int32), scale.astype(np.float32)


def quantization_rule(kind: str) -> tuple[str, tuple[float, int] | None]:
    """(rule, fixed output quantization or None) of an op kind (its module's ``quant_rule``)."""
    defn = ops.get(kind)
    return defn.quant_rule, defn.fixed_output_quant


def weight_axis(kind: str) -> int | None:
    """The per-channel weight axis of a weighted op kind (inputs x, weights, bias), else None."""
    return ops.get(kind).weight_axis


class _Groups:
    """Union-find over activation tensor names."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def activation_quantization(graph: Graph, ranges: Ranges) -> dict[str, Quantization]:
    """Per-tensor (scale, zero point) of every activation tensor, with TFLite's constraints."""
    groups = _Groups()
    fixed: dict[str, tuple[np.float32, int]] = {}
    for op in graph.ops:
        rule, fixed_quant = quantization_rule(op.kind)
        if rule == SAME_AS_INPUT:
            groups.union(op.inputs[0], op.outputs[0])
        elif rule == SHARED_BY_ALL:
            for name in op.inputs:
                groups.union(name, op.outputs[0])
        if fixed_quant is not None:
            fixed[op.outputs[0]] = (np.float32(fixed_quant[0]), int(fixed_quant[1]))
    names = [t.name for t in graph.activation_tensors()]
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    for name in names:
        root = groups.find(name)
        if name not in ranges:
            raise TinygenError(f"tensor {name!r} has no calibrated range")
        lo[root] = min(lo.get(root, np.inf), ranges[name][0])
        hi[root] = max(hi.get(root, -np.inf), ranges[name][1])
    root_params = {root: activation_params(lo[root], hi[root]) for root in lo}
    for name, params in fixed.items():
        root = groups.find(name)
        members = [n for n in names if groups.find(n) == root and n != name]
        if any(n in fixed and fixed[n] != params for n in members):
            raise TinygenError(f"tensor {name!r}: two fixed quantizations meet in one shared-scale group")
        root_params[root] = params
    return {n: Quantization([root_params[groups.find(n)][0]], [root_params[groups.find(n)][1]]) for n in names}


def bias_limit(weights_per_channel: int) -> float:
    """The largest |int32 bias| that leaves a channel's accumulator room for every input: |bias| + 256 x 127 x K
    (K weights of magnitude <= 127, each times an input plus offset of magnitude <= 256) stays within int32, so
    the kernels never overflow (the op modules refuse a model where they could)."""
    return float(max(INT32_MAX - 256 * 127 * int(weights_per_channel), 1 << 24))


def _widen_for_bias(bias: np.ndarray, input_scale: np.float32, scale: np.ndarray, weights_per_channel: int) -> np.ndarray:
    """Widen weight scales whose bias would overflow int32, with the accumulator's headroom (TFLite's converter
    adjusts them the same way, without the headroom)."""
    limit = np.abs(bias.astype(np.float64)) / (np.float64(input_scale) * bias_limit(weights_per_channel))
    return np.maximum(scale, limit.astype(np.float32) * np.float32(1.0 + 1e-6)).astype(np.float32)


def quantize_graph(fgraph: Graph, ranges: Ranges) -> Graph:
    """The int8 graph of a float graph (same tensor and op names)."""
    act = activation_quantization(fgraph, ranges)
    graph = Graph(fgraph.name, inputs=list(fgraph.inputs), outputs=list(fgraph.outputs))
    for name in fgraph.inputs:
        graph.add_tensor(Tensor(name, fgraph.tensors[name].shape, "int8", act[name]))
    for fop in fgraph.ops:
        inputs = list(fop.inputs)
        axis = weight_axis(fop.kind)
        if axis is not None:
            x, wname, bname = fop.inputs
            w, bias = fgraph.tensors[wname].data, fgraph.tensors[bname].data
            in_scale = act[x].scale[0]
            qw, wscale = quantize_weights(w, axis)
            adjusted = _widen_for_bias(bias, in_scale, wscale, w.size // max(wscale.size, 1))
            if not np.array_equal(adjusted, wscale):
                wscale, qw = adjusted, _quantize_with(w, adjusted, axis)
            qb, bscale = quantize_bias(bias, in_scale, wscale)
            zeros = np.zeros(wscale.size, np.int64)
            graph.add_tensor(Tensor(wname, w.shape, "int8", Quantization(wscale, zeros, axis), data=qw))
            graph.add_tensor(Tensor(bname, bias.shape, "int32", Quantization(bscale, zeros, 0), data=qb))
        else:
            for name in inputs:
                if fgraph.tensors[name].is_const:
                    raise TinygenError(f"op {fop.name!r} ({fop.kind}): constant input {name!r} is not supported")
        out = fop.outputs[0]
        graph.add_tensor(Tensor(out, fgraph.tensors[out].shape, "int8", act[out]))
        graph.add_op(Op(fop.kind, fop.name, inputs, [out], dict(fop.attrs)))
    graph.validate()
    return graph
