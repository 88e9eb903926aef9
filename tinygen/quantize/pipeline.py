"""tinygen's post-training quantizer end to end: Keras model -> float graph -> calibrate -> int8 graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from tinygen.errors import TinygenError
from tinygen.ir import Graph
from tinygen.quantize.calibration import as_inputs, load_calibration
from tinygen.quantize.extract import keras_input_name, keras_to_float_graph
from tinygen.quantize.floatexec import run_float
from tinygen.quantize.observers import Ranges, observe
from tinygen.quantize.quantizer import quantize_graph

#: Float activations held at once while calibrating (elements), bounding memory on big models.
CHUNK_ELEMENTS = 1 << 24


@dataclass
class Quantized:
    float_graph: Graph
    graph: Graph
    #: the calibration samples: one array, or for a model with several inputs a list of arrays (one per input)
    calibration: np.ndarray | list[np.ndarray]
    ranges: Ranges
    observer: str


def float_chunks(fgraph: Graph, samples: np.ndarray | list[np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
    """Every float tensor's values, a chunk of calibration samples at a time (``samples``: one array, or a list
    with one array per graph input)."""
    per_sample = sum(t.size for t in fgraph.activation_tensors())
    chunk = max(1, CHUNK_ELEMENTS // max(per_sample, 1))
    inputs = as_inputs(samples)
    for start in range(0, inputs[0].shape[0], chunk):
        yield run_float(fgraph, [x[start:start + chunk] for x in inputs])


def quantize_float(fgraph: Graph, samples: np.ndarray | list[np.ndarray], observer: str = "minmax") -> Quantized:
    names = [t.name for t in fgraph.activation_tensors()]
    with np.errstate(over="ignore", invalid="ignore"):
        ranges = observe(names, lambda: float_chunks(fgraph, samples), observer)
    _check_ranges(fgraph, ranges, samples)
    return Quantized(fgraph, quantize_graph(fgraph, ranges), samples, ranges, observer)


def _check_ranges(fgraph: Graph, ranges: Ranges, samples: np.ndarray | list[np.ndarray]) -> None:
    """Every calibrated range finite: float32 overflow (huge calibration values) cannot be quantized."""
    producers = fgraph.producers()
    for name in [*fgraph.inputs, *(op.outputs[0] for op in fgraph.ops)]:  # the first one in execution order
        lo, hi = ranges.get(name, (0.0, 0.0))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            op = producers.get(name)
            where = f"the output of op {op.name!r} ({op.kind})" if op else f"input {name!r}"
            raise TinygenError(
                f"calibration: {where} takes non-finite values (float32 overflow) on the calibration data, whose "
                f"largest magnitude is {max(float(np.max(np.abs(x))) for x in as_inputs(samples)):g}; give "
                "calibration inputs in the range the "
                "model was trained on"
            )


def quantize_keras(model: Any, calibration: Any, observer: str = "minmax", name: str | None = None) -> Quantized:
    """Quantize an in-memory Keras model with tinygen's quantizer; keeps the float graph and data."""
    fgraph = keras_to_float_graph(model, name)
    if len(fgraph.inputs) == 1:
        samples = load_calibration(calibration, fgraph.tensors[fgraph.inputs[0]].shape)
    else:  # one array per input, keyed by the Keras input names (the graph's inputs are in the model's order)
        specs = [(keras_input_name(t), fgraph.tensors[n].shape) for t, n in zip(model.inputs, fgraph.inputs)]
        samples = load_calibration(calibration, specs)
    return quantize_float(fgraph, samples, observer)
