"""Mixed int8/int16 precision on the float graph: which ops may run in 16x8, which ops a choice of tensor or Keras
layer puts there, and where the int8 <-> int16 boundaries go.

A 16x8 op (TFLite's 16x8 mode) reads and writes int16 activations (symmetric, zero point 0) with int8 weights; an
int8 op int8 ones. Each activation tensor has its producer's precision (a graph input int8, or int16 when the whole
model is); an op reading a tensor of the other precision reads a converted copy, made by a QUANTIZE op inserted
just before its first reader (one per tensor and precision; in float the identity, with the tensor's range).
Ops whose kernels do not requantize (pooling, reshape, pad, concatenation) share one quantization with their
inputs: such a group of tensors (:func:`tensor_groups`) is chosen as a whole.

An op kind runs in 16x8 when its op module says so (a ``TfliteMapping`` with ``int16=True``): the registry is asked,
never a list, so an op gains 16x8 here the moment its module declares it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinygen import ops
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op
from tinygen.ops.base import OWN_RANGE
from tinygen.quantize import recurrent
from tinygen.quantize.builder import Builder
from tinygen.unionfind import UnionFind

INT8, INT16 = "int8", "int16"


def int16_kinds() -> frozenset[str]:
    """The op kinds with a 16x8 kernel (their modules' ``.tflite`` mappings import them with int16 activations)."""
    return frozenset(kind for kind in ops.kinds() if any(m.int16 for m in ops.get(kind).tflite))


#: union-find over activation tensor names (each join keeps the output's root, as before the shared class)
Groups = UnionFind


def tensor_groups(graph: Graph) -> Groups:
    """The tensors that must share one quantization: the inputs and output of an op that does not requantize
    (its module's ``quant_rule``: the first input, or every input), an LSTM's shared outputs, and a kept state's
    read and write tensors."""
    from tinygen.ops.base import SAME_AS_INPUT, SHARED_BY_ALL

    groups = Groups()
    for op in graph.ops:
        rule = ops.get(op.kind).quant_rule
        if rule == SAME_AS_INPUT:
            groups.union(op.outputs[0], op.inputs[0])
        elif rule == SHARED_BY_ALL:
            for name in op.inputs:
                groups.union(op.outputs[0], name)
        shared = recurrent.shared_outputs(op)
        for a, b in zip(shared, shared[1:]):
            groups.union(b, a)
    for state in graph.states:  # a kept state is read back on the grid it was written on
        if state.read is not None and state.write is not None:
            groups.union(state.write, state.read)
    return groups


def _shares_input_grid(op: Op) -> bool:
    return ops.get(op.kind).quant_rule != OWN_RANGE


def whole_groups(graph: Graph, names: set[str]) -> set[str]:
    """``names`` (op names) with every op of a shared-scale group one of them belongs to: a pool, reshape, pad or
    concatenation and the ones sharing its grid are one precision."""
    groups = tensor_groups(graph)
    roots = {groups.find(op.outputs[0]) for op in graph.ops if op.name in names and _shares_input_grid(op)}
    return names | {op.name for op in graph.ops if _shares_input_grid(op) and groups.find(op.outputs[0]) in roots}


def closure(graph: Graph, root: str, groups: Groups) -> set[str]:
    """The ops that put the tensor group ``root`` at 16 bits: every producer and every reader of its tensors."""
    return {op.name for op in graph.ops
            if any(groups.find(t) == root for t in [*op.outputs, *op.inputs] if not graph.tensors[t].is_const)}


def unsupported(graph: Graph, names: set[str]) -> list[Op]:
    """The ops among ``names`` without a 16x8 kernel (the LSTM has one: tinygen/ops/lstm.py's 16x8 form)."""
    kinds = int16_kinds()
    return [op for op in graph.ops if op.name in names and op.kind not in kinds]


@dataclass(frozen=True)
class Candidate:
    """A tensor group that can be held at 16 bits: its tensors, and the ops that then run in 16x8."""

    root: str
    tensors: tuple[str, ...]
    ops: frozenset[str]


def candidates(graph: Graph) -> list[Candidate]:
    """Every tensor group (in execution order) whose producers and readers all have 16x8 kernels and that holds no
    graph input (the graph's inputs keep the int8 flow's type)."""
    groups = tensor_groups(graph)
    members: dict[str, list[str]] = {}
    for op in graph.ops:
        for t in op.outputs:
            members.setdefault(groups.find(t), []).append(t)
    inputs = {groups.find(t) for t in graph.inputs}
    found = []
    for root, tensors in members.items():
        if root in inputs:
            continue
        names = closure(graph, root, groups)
        if not unsupported(graph, names):
            found.append(Candidate(root, tuple(tensors), frozenset(names)))
    return found


@dataclass
class Boundaries:
    """The float graph with QUANTIZE ops at the int8/int16 boundaries (see the module docstring)."""

    graph: Graph
    #: the int16 activation tensors
    int16: frozenset[str]
    #: each inserted tensor -> the float tensor whose values it holds (its range)
    sources: dict[str, str]


def with_boundaries(fgraph: Graph, int16_ops: frozenset[str], int16_edges: bool = False) -> Boundaries:
    """``fgraph`` with the ops ``int16_ops`` at 16x8 and QUANTIZE ops where a tensor meets a reader of the other
    precision; graph inputs and outputs int8 (``int16_edges``: int16, the whole-model 16x8 mode)."""
    from tinygen.ops import quantize

    edge = INT16 if int16_edges else INT8
    graph = Graph(fgraph.name, dict(fgraph.tensors), [], list(fgraph.inputs), [], list(fgraph.states))
    precision = {name: edge for name in fgraph.inputs}
    converted: dict[tuple[str, str], str] = {}
    sources: dict[str, str] = {}

    builder = Builder(graph)

    def as_precision(name: str, want: str) -> str:
        if graph.tensors[name].is_const or precision.get(name, INT8) == want:  # (a state: int8)
            return name
        if (name, want) not in converted:
            copy = builder.act(f"{name}/{want}", fgraph.tensors[name].shape)
            graph.add_op(Op(quantize.KIND, builder.unique_op(f"{name}/to_{want}"), [name], [copy]))
            precision[copy], converted[(name, want)] = want, copy
            sources[copy] = sources.get(name, name)
        return converted[(name, want)]

    for op in fgraph.ops:
        want = INT16 if op.name in int16_ops else INT8
        graph.add_op(Op(op.kind, op.name, [as_precision(t, want) for t in op.inputs], list(op.outputs), op.attrs))
        precision.update({t: want for t in op.outputs})
    graph.outputs = [as_precision(t, edge) for t in fgraph.outputs]
    return Boundaries(graph, frozenset(t for t, p in precision.items() if p == INT16), sources)


# --------------------------------------------------------------------------- Keras layers


def layer_of(op_name: str, layers: dict[str, str]) -> str | None:
    """The Keras layer an op of the float graph comes from: the layer named like the op, or the longest layer name
    the op's name extends with '/' (a Dense's fused ``dense/tanh``); None for ops of no layer."""
    best = None
    for layer in layers:
        if (op_name == layer or op_name.startswith(layer + "/")) and (best is None or len(layer) > len(best)):
            best = layer
    return best


def layer_ops(fgraph: Graph, layers: dict[str, str]) -> dict[str, list[str]]:
    """Keras layer name -> the names of its ops in the float graph (layers folded away have none)."""
    found: dict[str, list[str]] = {name: [] for name in layers}
    for op in fgraph.ops:
        layer = layer_of(op.name, layers)
        if layer is not None:
            found[layer].append(op.name)
    return found


def ops_of_layers(fgraph: Graph, names: list[str], layers: dict[str, str]) -> frozenset[str]:
    """The ops of the named Keras layers (``layers``: every layer's name -> its class), each checked: a layer the
    model has, with ops of its own, each with a 16x8 kernel; with the rest of their shared-scale groups."""
    by_layer = layer_ops(fgraph, layers)
    chosen: set[str] = set()
    for name in names:
        if name not in layers:
            close = sorted(by_layer, key=lambda n: (not n.startswith(name[:3]), n))[:8]
            raise TinygenError(f"--int16: the model has no layer {name!r}; its layers are {', '.join(close)}"
                               f"{', ...' if len(by_layer) > 8 else ''} (give Keras layer names, comma-separated)")
        if not by_layer[name]:
            raise TinygenError(f"--int16: layer {name!r} ({layers[name]}) computes nothing of its own in tinygen's "
                               "graph (an identity, or folded into the layer before it): name that layer instead")
        chosen.update(by_layer[name])
    chosen = whole_groups(fgraph, chosen)
    refuse_unsupported(fgraph, chosen, layers)
    return frozenset(chosen)


def refuse_unsupported(fgraph: Graph, names: set[str], layers: dict[str, str]) -> None:
    """A TinygenError naming each layer (and its type) among ``names`` whose op has no 16x8 kernel."""
    bad = unsupported(fgraph, names)
    if not bad:
        return
    what = []
    for op in bad:
        layer = layer_of(op.name, layers)
        what.append(f"layer {layer!r} ({layers[layer]}, op {op.kind})" if layer else f"op {op.name!r} ({op.kind})")
    kinds = ", ".join(sorted(int16_kinds()))
    raise TinygenError(f"--int16: {'; '.join(dict.fromkeys(what))} has no 16x8 (int16 activation) kernel in tinygen; "
                       f"16x8 runs {kinds}: keep that layer int8 (leave it out of --int16, or use --int16 auto)")
