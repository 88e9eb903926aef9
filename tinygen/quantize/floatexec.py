"""numpy executor for the float32 graph: every tensor's values for a batch of inputs.

The quantizer calibrates on these values (as TFLite's calibrator runs the folded float model), and the
quantization report compares the int8 reference against them. Batch dimension is free: the graph's
shapes say batch 1, the executor runs any batch size N.
"""

from __future__ import annotations

import numpy as np

from tinygen import ops
from tinygen.activations import apply_float
from tinygen.ir import Graph, Op


def pre_activation(graph: Graph, op: Op, ins: list[np.ndarray], n: int) -> np.ndarray:
    """``op``'s (first) float output for a batch of ``n`` before its fused activation, shaped ``(n, *shape[1:])``."""
    return all_outputs(graph, op, ins, n)[0]


def all_outputs(graph: Graph, op: Op, ins: list[np.ndarray], n: int) -> list[np.ndarray]:
    """Every float output of ``op`` for a batch of ``n`` (an op with several outputs, such as the LSTM's sequence,
    last state and cells, returns a tuple), each shaped ``(n, *shape[1:])``."""
    defn = ops.get(op.kind)
    if defn.float_reference is None:
        raise ValueError(f"float executor: op kind {op.kind!r} has no float reference")
    result = defn.float_reference(op, ins)
    results = result if len(op.outputs) > 1 else (result,)
    return [np.asarray(r, np.float32).reshape((n, *graph.tensors[o].shape[1:])) for r, o in zip(results, op.outputs)]


def constants(graph: Graph) -> dict[str, np.ndarray]:
    return {name: np.asarray(t.data, np.float32) for name, t in graph.tensors.items() if t.is_const}


def run_float(graph: Graph, x: np.ndarray | list[np.ndarray]) -> dict[str, np.ndarray]:
    """Run the float graph on ``x`` (N samples, shape (N, *input_shape[1:]); for several inputs a list of such
    arrays in graph-input order, with the same N): every tensor by name."""
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    if len(xs) != len(graph.inputs):
        raise ValueError(f"float executor: graph {graph.name!r} has {len(graph.inputs)} inputs, got {len(xs)} arrays")
    values: dict[str, np.ndarray] = {name: np.asarray(v, np.float32) for name, v in zip(graph.inputs, xs)}
    values.update(constants(graph))
    n = values[graph.inputs[0]].shape[0]
    for op in graph.ops:
        ys = all_outputs(graph, op, [values[i] for i in op.inputs], n)
        values[op.outputs[0]] = apply_float(ys[0], op.activation)
        values.update(zip(op.outputs[1:], ys[1:]))
    return values
