"""Cross-layer equalization (Nagel et al., "Data-Free Quantization", 2019) on the float graph.

A *pair* is a weighted op (conv2d, depthwise_conv2d, fully_connected) whose output reaches one other weighted
op through ops that commute with a positive per-channel scale: the first op's fused ReLU (``relu(z / s) =
relu(z) / s`` for ``s > 0``) or none, max/average pooling, a spatial mean, zero padding, and a reshape that
keeps channel ``c`` at the flat positions ``c mod C`` (a Flatten before a Dense). Dividing channel ``c`` of the
first op's weights and bias by ``s_c`` and multiplying the second op's weights on input channel ``c`` by ``s_c``
leaves the float model's outputs unchanged (up to float32 rounding): the passes here are exact transformations.

ReLU6 (and every other clamp) is left alone: ``min(relu(z) / s, 6) != min(relu(z), 6) / s`` unless ``s = 1``,
and no int8 op expresses the per-channel bound ``6 / s`` that would keep it exact, so a pair through a ReLU6 is
never rescaled (the float model never changes silently).

:func:`weight_scales` is Nagel's choice (both ops' per-channel weight ranges become ``sqrt(r1 r2)``);
:mod:`tinygen.quantize.smooth` chooses the scales from the activations instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen import ops
from tinygen.ir import Graph, Op

#: op kinds with (x, weights, bias) inputs whose channels can be rescaled
WEIGHTED = ("conv2d", "depthwise_conv2d", "fully_connected")
#: activations a positive per-channel scale passes through exactly
EXACT_ACTIVATIONS = ("none", "relu")
#: the input-channel axis of each weighted kind's weights (conv OHWI, depthwise 1HW(C*m), dense [out, in])
INPUT_AXIS = {"conv2d": 3, "depthwise_conv2d": 3, "fully_connected": 1}
#: sweeps over the pairs: a chain of pairs converges in a few (Nagel et al. iterate the same way)
SWEEPS = 4
#: scales kept within [1/LIMIT, LIMIT]: a dead channel (range 0) is left alone rather than blown up
LIMIT = 1e4


@dataclass
class Pair:
    first: Op
    second: Op
    #: the activation tensors between them, first's output first, the one second reads last
    path: list[str]
    #: how many times each channel repeats on the second op's input (a Flatten of H x W pixels: H * W)
    tiles: int

    @property
    def multiplier(self) -> int:
        """The second op's weights per input channel along its input axis (a depthwise conv's multiplier)."""
        return int(self.second.attrs.get("depth_multiplier", 1)) if self.second.kind == "depthwise_conv2d" else 1

    def second_input_scales(self, scales: np.ndarray) -> np.ndarray:
        """Per-channel ``scales`` laid out along the second op's weight input axis: tiled over a Flatten's
        pixels, repeated over a depthwise conv's multiplier (its output c * m + j reads input channel c)."""
        return np.repeat(np.tile(scales, self.tiles), self.multiplier)


def _commutes(graph: Graph, op: Op) -> bool:
    """Whether ``op`` (one activation input) commutes with a positive per-channel scale of its input."""
    if op.kind in ("max_pool2d", "avg_pool2d"):
        return op.activation in EXACT_ACTIVATIONS
    if op.kind == "pad":
        return True  # zero padding: 0 / s = 0
    if op.kind == "mean":
        rank = len(graph.tensors[op.inputs[0]].shape)
        return (rank - 1) not in [a % rank for a in op.attrs["axes"]]
    return op.kind == "reshape"


def _sole_consumer(graph: Graph, tensor: str) -> Op | None:
    consumers = graph.consumers(tensor)
    if tensor in graph.outputs or len(consumers) != 1:
        return None
    return consumers[0]


def _channels(graph: Graph, name: str) -> int:
    return int(graph.tensors[name].shape[-1])


def _pair_from(graph: Graph, first: Op) -> Pair | None:
    """The pair that starts at ``first``, if its output reaches exactly one weighted op through commuting ops."""
    if first.kind not in WEIGHTED or first.activation not in EXACT_ACTIVATIONS:
        return None
    path = [first.outputs[0]]
    channels = _channels(graph, path[0])
    while True:
        nxt = _sole_consumer(graph, path[-1])
        if nxt is None or nxt.inputs[0] != path[-1]:
            return None
        if nxt.kind in WEIGHTED:
            break
        if not _commutes(graph, nxt):
            return None
        path.append(nxt.outputs[0])
    last = _channels(graph, path[-1])
    if last % channels or any(_channels(graph, t) % channels for t in path):
        return None  # a reshape that mixes channels
    if nxt.kind == "depthwise_conv2d" and last != channels:
        return None
    pair = Pair(first, nxt, path, last // channels)
    if graph.tensors[nxt.inputs[1]].shape[INPUT_AXIS[nxt.kind]] != last * pair.multiplier:
        return None  # the second op's weights do not lay out one entry per input value of its last axis
    return pair


def find_pairs(graph: Graph) -> list[Pair]:
    """Every rescalable pair, in graph order."""
    return [p for p in (_pair_from(graph, op) for op in graph.ops) if p is not None]


def _along(values: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = -1
    return values.reshape(shape)


def first_weight_ranges(graph: Graph, pair: Pair) -> np.ndarray:
    """max |w| per output channel of the pair's first op."""
    w = graph.tensors[pair.first.inputs[1]].data
    axis = ops.get(pair.first.kind).weight_axis
    return np.abs(w).max(axis=tuple(i for i in range(w.ndim) if i != axis)).astype(np.float64)


def second_weight_ranges(graph: Graph, pair: Pair) -> np.ndarray:
    """max |w| per input channel of the pair's second op (over every tiled position of a channel)."""
    w = graph.tensors[pair.second.inputs[1]].data
    axis = INPUT_AXIS[pair.second.kind]
    per_input = np.abs(w).max(axis=tuple(i for i in range(w.ndim) if i != axis)).astype(np.float64)
    return per_input.reshape(pair.tiles, -1, pair.multiplier).max(axis=(0, 2))


def safe_scales(scales: np.ndarray) -> np.ndarray:
    """Scales with dead or degenerate channels (zero, inf, nan) left at 1, clipped to [1/LIMIT, LIMIT]."""
    scales = np.where(np.isfinite(scales) & (scales > 0), scales, 1.0)
    return np.clip(scales, 1.0 / LIMIT, LIMIT)


def apply_scales(graph: Graph, pair: Pair, scales: np.ndarray) -> None:
    """Divide channel c of the first op's output by ``scales[c]`` and multiply the second op's weights on that
    channel by it (an exact transformation of the float model)."""
    s = scales.astype(np.float64)
    w1, b1 = graph.tensors[pair.first.inputs[1]], graph.tensors[pair.first.inputs[2]]
    w1.data = (w1.data / _along(s, ops.get(pair.first.kind).weight_axis, w1.data.ndim)).astype(np.float32)
    b1.data = (b1.data / s).astype(np.float32)
    w2 = graph.tensors[pair.second.inputs[1]]
    w2.data = (w2.data * _along(pair.second_input_scales(s), INPUT_AXIS[pair.second.kind], w2.data.ndim)
               ).astype(np.float32)


def weight_scales(graph: Graph, pair: Pair) -> np.ndarray:
    """Nagel's scales ``s_c = sqrt(r1_c / r2_c)``: both weight ranges of channel c become ``sqrt(r1_c r2_c)``."""
    return safe_scales(np.sqrt(first_weight_ranges(graph, pair) / second_weight_ranges(graph, pair)))


def equalize_weights(graph: Graph) -> int:
    """Cross-layer equalization of weight ranges over every pair (in place); returns the number of pairs."""
    pairs = find_pairs(graph)
    for _ in range(SWEEPS):
        for pair in pairs:
            apply_scales(graph, pair, weight_scales(graph, pair))
    return len(pairs)
