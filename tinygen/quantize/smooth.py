"""Activation-range equalization (the SmoothQuant-style variant of cross-layer equalization) on the float graph.

With per-channel int8 weights and per-tensor int8 activations, what hurts is one activation tensor whose
channels have very different ranges (BatchNorm folding makes them): the narrow channels get a few steps of
the shared grid. For each pair of :mod:`tinygen.quantize.equalize`, channel ``c`` of the tensor between the
two ops is divided by ``s_c = a_c^ALPHA / w_c^(1 - ALPHA)`` (``a_c``: its largest magnitude on the calibration
data, ``w_c``: the second op's largest weight on that channel) and the second op's weights on that channel are
multiplied by it: the activation ranges move toward each other, the weights absorb the difference, and the
float model's outputs are unchanged (the same exact rescaling as :func:`equalize.apply_scales`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygen.ir import Graph
from tinygen.quantize.equalize import Pair, apply_scales, find_pairs, safe_scales, second_weight_ranges

#: how far toward equal activation ranges (1.0: all equal, the weights take it all; 0.0: weights equal)
ALPHA = 0.5


def channel_ranges(fgraph: Graph, samples: Any, names: list[str]) -> dict[str, np.ndarray]:
    """The largest |value| of each channel (last axis) of the tensors ``names`` on the calibration samples."""
    from tinygen.quantize.pipeline import float_chunks

    ranges = {n: np.zeros(int(fgraph.tensors[n].shape[-1])) for n in names}
    for values in float_chunks(fgraph, samples):
        for n in names:
            v = np.abs(values[n].astype(np.float64))
            ranges[n] = np.maximum(ranges[n], v.reshape(-1, v.shape[-1]).max(axis=0))
    return ranges


def activation_scales(graph: Graph, pair: Pair, activation_range: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """SmoothQuant's scales, normalised so that the widest channel keeps its range (the tensor's grid does not
    grow; the narrow channels are widened toward it)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        scales = activation_range**alpha / second_weight_ranges(graph, pair) ** (1.0 - alpha)
        widest = int(np.argmax(activation_range))
        scales = scales / scales[widest]
    return safe_scales(scales)


def equalize_activations(graph: Graph, samples: Any, alpha: float = ALPHA) -> int:
    """Activation-range equalization over every pair (in place); returns the number of pairs rescaled."""
    pairs = find_pairs(graph)
    ranges = channel_ranges(graph, samples, [p.path[0] for p in pairs])
    for pair in pairs:
        # Scaling one pair's tensor leaves every other pair's tensor as it was (each pair's rescaling is exact
        # and touches only the first op's output channels and the second op's input channels), so one
        # measurement serves every pair.
        apply_scales(graph, pair, activation_scales(graph, pair, ranges[pair.path[0]], alpha))
    return len(pairs)
