"""tinygen's post-training quantizer end to end: Keras model -> float graph -> calibrate -> int8 graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from tinygen.ir import Graph
from tinygen.quantize.calibration import load_calibration
from tinygen.quantize.extract import keras_to_float_graph
from tinygen.quantize.floatexec import run_float
from tinygen.quantize.observers import Ranges, observe
from tinygen.quantize.quantizer import quantize_graph

#: Float activations held at once while calibrating (elements), bounding memory on big models.
CHUNK_ELEMENTS = 1 << 24


@dataclass
class Quantized:
    float_graph: Graph
    graph: Graph
    calibration: np.ndarray
    ranges: Ranges
    observer: str


def float_chunks(fgraph: Graph, samples: np.ndarray) -> Iterator[dict[str, np.ndarray]]:
    """Every float tensor's values, a chunk of calibration samples at a time."""
    per_sample = sum(t.size for t in fgraph.activation_tensors())
    chunk = max(1, CHUNK_ELEMENTS // max(per_sample, 1))
    for start in range(0, samples.shape[0], chunk):
        yield run_float(fgraph, samples[start:start + chunk])


def quantize_float(fgraph: Graph, samples: np.ndarray, observer: str = "minmax") -> Quantized:
    names = [t.name for t in fgraph.activation_tensors()]
    ranges = observe(names, lambda: float_chunks(fgraph, samples), observer)
    return Quantized(fgraph, quantize_graph(fgraph, ranges), samples, ranges, observer)


def quantize_keras(model: Any, calibration: Any, observer: str = "minmax", name: str | None = None) -> Quantized:
    """Quantize an in-memory Keras model with tinygen's quantizer; keeps the float graph and data."""
    fgraph = keras_to_float_graph(model, name)
    samples = load_calibration(calibration, fgraph.tensors[fgraph.inputs[0]].shape)
    return quantize_float(fgraph, samples, observer)
