"""A graph's inputs and outputs as the generated library presents them ("ports").

The library's core runs on int8 tensors. A model may declare other types at its edges, converted by one
op each, exactly as TFLite Micro runs them:

* a float32 input read by a QUANTIZE (float32 -> int8), a float32 output made by a DEQUANTIZE;
* a uint8 input read by a QUANTIZE (uint8 -> int8), a uint8 output made by a QUANTIZE (int8 -> uint8)
  (TFLite's ``inference_input_type``/``inference_output_type`` ``tf.uint8``).

Each graph input and output is a :class:`Port`: its *core* tensor (what ``NAME_invoke``/``NAME_input_at``
work on, int8, or int32 for an index output such as ARG_MAX's) and, where the model converts, the *edge*
op and the declared tensor. :func:`split` returns the core graph (the graph without its edge ops, whose
inputs and outputs are the core tensors: what ``NAME_run`` executes and the memory plan covers) and the
ports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen import numerics, ops
from tinygen.errors import UnsupportedError
from tinygen.ir import Graph, Op, Tensor

#: the types a core tensor may have, and the declared types an edge op converts from/to
CORE_TYPES = {"input": ("int8",), "output": ("int8", "int32")}
EDGE_TYPES = ("float32", "uint8")


@dataclass(frozen=True)
class Port:
    role: str  # "input" or "output"
    index: int
    #: the graph's own input/output tensor (its declared type)
    declared: str
    #: the int8 (int32) tensor of the library's core API; ``declared`` when there is no edge op
    core: str
    #: the QUANTIZE/DEQUANTIZE between ``declared`` and ``core``, if any
    edge: Op | None

    @property
    def has_edge(self) -> bool:
        return self.edge is not None


def _input_port(graph: Graph, index: int, name: str) -> Port:
    t = graph.tensor(name)
    if t.dtype in CORE_TYPES["input"]:
        return Port("input", index, name, name, None)
    readers = graph.consumers(name)
    if t.dtype not in EDGE_TYPES or len(readers) != 1 or ops.get(readers[0].kind).float_edge != "input" or (
        graph.tensor(readers[0].outputs[0]).dtype != "int8"
    ):
        raise UnsupportedError(
            f"model {graph.name!r}: input {name!r} is {t.dtype} {list(t.shape)}; tinygen needs an int8 input, or a "
            "float32/uint8 input read only by one QUANTIZE to int8: convert with int8, uint8 or float32 inputs"
        )
    return Port("input", index, name, readers[0].outputs[0], readers[0])


def _output_port(graph: Graph, index: int, name: str, producers: dict[str, Op]) -> Port:
    t = graph.tensor(name)
    if name in graph.inputs:
        raise UnsupportedError(f"model {graph.name!r}: {name!r} is both an input and an output; nothing computes it")
    if t.dtype in CORE_TYPES["output"]:
        return Port("output", index, name, name, None)
    op = producers.get(name)
    defn = ops.get(op.kind) if op is not None else None
    if t.dtype not in EDGE_TYPES or op is None or defn is None or defn.float_edge is None or (
        graph.tensor(op.inputs[0]).dtype != "int8" or graph.consumers(name)
    ):
        raise UnsupportedError(
            f"model {graph.name!r}: output {name!r} is {t.dtype} {list(t.shape)}; tinygen needs an int8 output, or a "
            "float32/uint8 output made by one DEQUANTIZE/QUANTIZE from int8: convert with int8, uint8 or float32 outputs"
        )
    return Port("output", index, name, op.inputs[0], op)


def split(graph: Graph) -> tuple[Graph, list[Port], list[Port]]:
    """(the core graph, the input ports, the output ports). The core graph's tensor table is a copy of
    ``graph``'s (the same tensors)."""
    inputs = [_input_port(graph, i, name) for i, name in enumerate(graph.inputs)]
    producers = graph.producers()
    outputs = [_output_port(graph, i, name, producers) for i, name in enumerate(graph.outputs)]
    edges = {id(p.edge) for p in (*inputs, *outputs) if p.edge is not None}
    core_ops = [op for op in graph.ops if id(op) not in edges]
    if not core_ops:
        raise UnsupportedError(f"model {graph.name!r} has no int8 op between the conversions at its inputs and outputs")
    core = Graph(graph.name, dict(graph.tensors), core_ops, [p.core for p in inputs], [p.core for p in outputs],
                 graph.states)
    return core, inputs, outputs


def tensor(graph: Graph, port: Port) -> Tensor:
    """The port's core tensor."""
    return graph.tensor(port.core)


def uint8_edge_table(graph: Graph, port: Port, rounding: str = "double") -> np.ndarray | None:
    """The int8 core value the uint8 -> int8 QUANTIZE at input ``port`` makes of each uint8 value (its reference:
    TFLite Micro's arithmetic); None when the port has no uint8 edge."""
    if port.edge is None or graph.tensor(port.declared).dtype != "uint8":
        return None
    from tinygen import qparams

    op = port.edge
    params = qparams.op_params(graph, op, rounding)  # type: ignore[arg-type]
    out = ops.get(op.kind).reference(graph, op, params, [np.arange(256, dtype=np.uint8)], rounding)  # type: ignore[misc]
    return np.asarray(out, dtype=np.int8).reshape(-1)


def core_values(graph: Graph, port: Port, data: np.ndarray, rounding: str = "double") -> np.ndarray:
    """A user's samples for input ``port`` as the int8 values of its core tensor: int8 data as it is; uint8 data
    behind a uint8 edge through that edge; other numbers quantized with the core tensor's quantization as
    TFLite's QUANTIZE does (:func:`tinygen.numerics.affine_quantize`), then, behind a uint8 edge, moved to the
    nearest value the edge can produce (the C library's input is that edge's output)."""
    table = uint8_edge_table(graph, port, rounding)
    if data.dtype == np.int8:
        return data
    if table is not None and data.dtype == np.uint8:
        return table[data]
    scale, zero_point = graph.tensor(port.core).quant.scalar()  # type: ignore[union-attr]
    q = numerics.affine_quantize(data, scale, zero_point).astype(np.int8)
    if table is not None:
        reachable = np.unique(table)
        q = reachable[np.abs(q.astype(np.int16)[..., None] - reachable.astype(np.int16)).argmin(axis=-1)]
    return q
