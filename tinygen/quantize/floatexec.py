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
    arrays in graph-input order, with the same N): every tensor by name. A graph that keeps state between
    invocations (a stateful recurrent layer) runs the samples one after the other, each from the state the one
    before left, as the deployed model sees a stream (so calibration sees the states it will meet)."""
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    if len(xs) != len(graph.inputs):
        raise ValueError(f"float executor: graph {graph.name!r} has {len(graph.inputs)} inputs, got {len(xs)} arrays")
    xs = [np.asarray(v, np.float32) for v in xs]
    states = {s.read: np.asarray(s.initial, np.float32).reshape(graph.tensors[s.read].shape)
              for s in graph.states if s.read is not None}
    if not any(s.write is not None for s in graph.states):
        return _run_batch(graph, xs, states)
    runs = []
    for i in range(xs[0].shape[0]):
        values = _run_batch(graph, [v[i:i + 1] for v in xs], states)
        states = {s.read: values[s.write] for s in graph.states if s.read is not None and s.write is not None}
        runs.append(values)
    consts = constants(graph)
    return {name: consts[name] if name in consts else np.concatenate([r[name] for r in runs]) for name in runs[0]}


def _run_batch(graph: Graph, xs: list[np.ndarray], states: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every tensor for the samples ``xs``, each starting from ``states`` (one value per state read tensor)."""
    values: dict[str, np.ndarray] = dict(zip(graph.inputs, xs))
    values.update(constants(graph))
    n = xs[0].shape[0]
    for read, value in states.items():
        values[read] = np.broadcast_to(value[:1], (n, *value.shape[1:]))
    for op in graph.ops:
        ys = all_outputs(graph, op, [values[i] for i in op.inputs], n)
        values[op.outputs[0]] = apply_float(ys[0], op.activation)
        values.update(zip(op.outputs[1:], ys[1:]))
    return values
