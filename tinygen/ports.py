"""A graph's inputs and outputs as the generated library presents them ("ports").

The library's core runs on int8 tensors, or int16 ones in a 16x8 model (TFLite's int16 activations with int8
weights): an int16 graph input or output is a core tensor like an int8 one. A model may declare other types at
its edges, converted by one op each, exactly as TFLite Micro runs them:

* a float32 input read by a QUANTIZE (float32 -> int8 or int16), a float32 output made by a DEQUANTIZE (from
  int8 or int16);
* a uint8 input read by a QUANTIZE (uint8 -> int8), a uint8 output made by a QUANTIZE (int8 -> uint8)
  (TFLite's ``inference_input_type``/``inference_output_type`` ``tf.uint8``);
* an int16 input read by a QUANTIZE (int16 -> int8), as TFLite Micro's keyword_scrambled example has (audio
  features in 16 bits).

Each graph input and output is a :class:`Port`: its *core* tensor (what ``NAME_invoke``/``NAME_input_at``
work on, int8 or int16, or int32 for an index output such as ARG_MAX's) and, where the model converts, the *edge*
op and the declared tensor. :func:`split` returns the core graph (the graph without its edge ops, whose
inputs and outputs are the core tensors: what ``NAME_run`` executes and the memory plan covers) and the
ports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen import numerics, ops
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op, Tensor

#: the types a core tensor may have, and the declared types an edge op converts from/to
CORE_TYPES = {"input": ("int8", "int16"), "output": ("int8", "int16", "int32")}
#: the core types a float32 edge converts to (QUANTIZE) or from (DEQUANTIZE)
FLOAT_EDGE_CORE_TYPES = ("int8", "int16")
EDGE_TYPES = {"input": ("float32", "uint8", "int16"), "output": ("float32", "uint8")}
#: the declared integer types an input edge requantizes, with their ranges
INTEGER_EDGE_RANGES = {"uint8": (0, 255), "int16": (-32768, 32767)}


@dataclass(frozen=True)
class Port:
    role: str  # "input" or "output"
    index: int
    #: the graph's own input/output tensor (its declared type)
    declared: str
    #: the int8 (int16, int32) tensor of the library's core API; ``declared`` when there is no edge op
    core: str
    #: the QUANTIZE/DEQUANTIZE between ``declared`` and ``core``, if any
    edge: Op | None

    @property
    def has_edge(self) -> bool:
        return self.edge is not None


def _int16_edge(graph: Graph, name: str) -> bool:
    """An int16 graph input read only by one QUANTIZE to int8 (TFLite Micro's keyword_scrambled example): an edge
    of an int8 core. Any other int16 input is a core input of a 16x8 model."""
    readers = graph.consumers(name)
    return len(readers) == 1 and ops.get(readers[0].kind).float_edge == "input" and (
        graph.tensor(readers[0].outputs[0]).dtype == "int8"
    )


def _input_port(graph: Graph, index: int, name: str) -> Port:
    t = graph.tensor(name)
    if t.dtype in CORE_TYPES["input"] and not (t.dtype == "int16" and _int16_edge(graph, name)):
        return Port("input", index, name, name, None)
    readers = graph.consumers(name)
    made = graph.tensor(readers[0].outputs[0]).dtype if len(readers) == 1 else None
    allowed = FLOAT_EDGE_CORE_TYPES if t.dtype == "float32" else ("int8",)
    if t.dtype not in EDGE_TYPES["input"] or len(readers) != 1 or ops.get(readers[0].kind).float_edge != "input" or (
        made not in allowed
    ):
        raise UnsupportedError(
            f"model {graph.name!r}: input {name!r} is {t.dtype} {list(t.shape)}; tinygen needs an int8 input (int16 "
            "in a 16x8 model), or a float32 input read only by one QUANTIZE to int8/int16, or a uint8/int16 input read "
            "only by one QUANTIZE to int8: convert with int8, int16, uint8 or float32 inputs"
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
    source = graph.tensor(op.inputs[0]).dtype if op is not None else None
    allowed = FLOAT_EDGE_CORE_TYPES if t.dtype == "float32" else ("int8",)
    if t.dtype not in EDGE_TYPES["output"] or op is None or defn is None or defn.float_edge is None or (
        source not in allowed or graph.consumers(name)
    ):
        raise UnsupportedError(
            f"model {graph.name!r}: output {name!r} is {t.dtype} {list(t.shape)}; tinygen needs an int8 output (int16 "
            "in a 16x8 model), or a float32 output made by one DEQUANTIZE from int8/int16, or a uint8 output made by "
            "one QUANTIZE from int8: convert with int8, int16, uint8 or float32 outputs"
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
        raise UnsupportedError(
            f"model {graph.name!r} has no integer op between the conversions at its inputs and outputs"
        )
    core = Graph(graph.name, dict(graph.tensors), core_ops, [p.core for p in inputs], [p.core for p in outputs],
                 graph.states)
    return core, inputs, outputs


def tensor(graph: Graph, port: Port) -> Tensor:
    """The port's core tensor."""
    return graph.tensor(port.core)


def edge_table(graph: Graph, port: Port, rounding: str = "double") -> np.ndarray | None:
    """The int8 core value the integer QUANTIZE at input ``port`` makes of each value of its declared type, in
    order from the type's smallest value (uint8: 256 values, int16: 65536; its reference: TFLite Micro's
    arithmetic); None when the port has no uint8 or int16 edge."""
    if port.edge is None or graph.tensor(port.declared).dtype not in INTEGER_EDGE_RANGES:
        return None
    from tinygen import qparams

    lo, hi = INTEGER_EDGE_RANGES[graph.tensor(port.declared).dtype]
    domain = np.arange(lo, hi + 1).astype(graph.tensor(port.declared).dtype)
    op = port.edge
    params = qparams.op_params(graph, op, rounding)  # type: ignore[arg-type]
    out = ops.get(op.kind).reference(graph, op, params, [domain], rounding)  # type: ignore[misc]
    return np.asarray(out, dtype=np.int8).reshape(-1)


def nearest_reachable(table: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Each int8 value of ``q`` moved to the nearest value an edge with ``table`` (:func:`edge_table`) makes."""
    reachable = np.unique(table)
    return reachable[np.abs(q.astype(np.int16)[..., None] - reachable.astype(np.int16)).argmin(axis=-1)]


def edge_sources(graph: Graph, port: Port, core: np.ndarray, rounding: str = "double") -> np.ndarray:
    """Values of the declared type of input ``port``'s integer edge that it turns into the int8 values ``core``
    (for each, the smallest such value); TinygenError for a value it cannot make."""
    table = edge_table(graph, port, rounding)
    if table is None:
        raise ValueError(f"input {port.declared!r} has no integer edge")
    declared = graph.tensor(port.declared)
    lo = INTEGER_EDGE_RANGES[declared.dtype][0]
    first = np.full(256, -1, dtype=np.int64)
    made, smallest = np.unique(table, return_index=True)  # the first (smallest) value making each int8 value
    first[made.astype(np.int64) + 128] = smallest
    wanted = first[np.asarray(core).astype(np.int64) + 128]
    if (wanted < 0).any():
        raise TinygenError(f"input {declared.name!r}: an int8 test value its {declared.dtype} QUANTIZE cannot make")
    return (wanted + lo).astype(declared.dtype)


def core_values(graph: Graph, port: Port, data: np.ndarray, rounding: str = "double") -> np.ndarray:
    """A user's samples for input ``port`` as the values of its core tensor (int8, or int16 in a 16x8 model):
    data of the core's type as it is; uint8 or int16 data behind an edge of that type through that edge; other
    numbers quantized with the core tensor's quantization as TFLite's QUANTIZE does
    (:func:`tinygen.numerics.affine_quantize`), then, behind a uint8 or int16 edge, moved to the nearest value
    the edge can produce (the C library's input is that edge's output)."""
    table = edge_table(graph, port, rounding)
    core = graph.tensor(port.core)
    if data.dtype == np.dtype(core.dtype):
        return data
    if table is not None and data.dtype == np.dtype(graph.tensor(port.declared).dtype):
        lo = INTEGER_EDGE_RANGES[graph.tensor(port.declared).dtype][0]
        return table[data.astype(np.int64) - lo]
    scale, zero_point = core.quant.scalar()  # type: ignore[union-attr]
    qmin, qmax = (-32768, 32767) if core.dtype == "int16" else (-128, 127)
    q = numerics.affine_quantize(data, scale, zero_point, qmin, qmax).astype(core.dtype)
    return nearest_reachable(table, q) if table is not None else q
