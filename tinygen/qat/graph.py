"""Float IR graph <-> QAT Keras model.

``build_qat_model`` turns tinygen's float graph (BatchNorm folded, activations fused: exactly what the
int8 quantizer sees) into a Keras model of :class:`~tinygen.qat.layers.QuantOp` layers with an
:class:`~tinygen.qat.ranges.ActivationQuantizer` after the graph input and after every op.
``float_graph_and_ranges`` reads the trained model back into a float graph plus activation ranges,
which :func:`tinygen.quantize.quantizer.quantize_graph` turns into the int8 graph.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op, Tensor
from tinygen.ops.base import SAME_AS_INPUT, SHARED_BY_ALL
from tinygen.qat.layers import QuantOp, is_weighted, returns_exact
from tinygen.qat.ranges import ActivationQuantizer
from tinygen.quantize.extract import c_identifier
from tinygen.quantize.observers import Ranges
from tinygen.quantize.quantizer import plan_input_folds, quantization_rule


def quantization_groups(graph: Graph) -> dict[str, str]:
    """Activation tensor -> its group's first member: the tensors the quantizer gives one set of
    parameters (same rules as ``activation_quantization``: pools/reshape/pad outputs share their
    input's, all inputs and the output of a concatenation share one)."""
    parent: dict[str, str] = {t.name: t.name for t in graph.activation_tensors()}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra

    for op in graph.ops:
        rule, _ = quantization_rule(op.kind)
        if rule == SAME_AS_INPUT:
            union(op.inputs[0], op.outputs[0])
        elif rule == SHARED_BY_ALL:
            for name in op.inputs:
                union(op.outputs[0], name)
    order = list(graph.inputs) + [op.outputs[0] for op in graph.ops]
    first: dict[str, str] = {}
    for name in order:
        first.setdefault(find(name), name)
    return {name: first[find(name)] for name in order}


def _keras_name(prefix: str, name: str) -> str:
    return f"{prefix}_{c_identifier(name)}"


def build_qat_model(fgraph: Graph, ranges: Ranges, mode: str, observer_steps: int, momentum: float) -> Any:
    """The trainable fake-quantized Keras model of a float graph, ranges initialised from ``ranges``."""
    groups = quantization_groups(fgraph)
    fixed = {op.outputs[0]: quantization_rule(op.kind)[1] for op in fgraph.ops if quantization_rule(op.kind)[1]}
    members: dict[str, list[str]] = {}
    for name, root in groups.items():
        members.setdefault(root, []).append(name)
    # A rescaling first layer folded into its input's quantization (tinygen.quantize.quantizer.plan_input_folds):
    # the input is fake-quantized on (s_in, z_in) and the rescaled tensor on (s_y, z_y), both frozen: the
    # rescaled grid is the image of the input's, so the rescale op lands every value on y's grid exactly as the
    # folded int8 graph does, and convert() folds the same ranges to the same grids (the range is the raw
    # data's, nothing to learn).
    folded: dict[str, tuple[float, int]] = {}
    for f in plan_input_folds(fgraph, ranges):
        folded[groups[f.input]] = (float(f.input_quant[0]), int(f.input_quant[1]))
        folded[groups[f.output]] = (float(f.output_quant[0]), int(f.output_quant[1]))
        ranges = {**ranges, f.output: f.output_range}
    quantizers: dict[str, ActivationQuantizer] = {}
    for index, (root, names) in enumerate(members.items()):
        lo = min(ranges[n][0] for n in names)
        hi = max(ranges[n][1] for n in names)
        fixed_quant = next((fixed[n] for n in names if n in fixed), None)
        if root in folded:
            fixed_quant = folded[root]
        quantizers[root] = ActivationQuantizer(
            names, (lo, hi), fixed=(float(fixed_quant[0]), int(fixed_quant[1])) if fixed_quant else None,
            mode=mode, observer_steps=observer_steps, momentum=momentum, name=_keras_name(f"q{index}", root))
    producers = fgraph.producers()

    def quantize(name: str, value: Any) -> Any:
        op = producers.get(name)
        # Pools/reshape/pad outputs are already on their group's grid: only the tensor that defines the
        # group's range observes it.
        observe = op is None or quantization_rule(op.kind)[0] != SAME_AS_INPUT
        return quantizers[groups[name]](value, observe=observe)

    in_name = fgraph.inputs[0]
    inputs = keras.Input(fgraph.tensors[in_name].shape[1:], name=_keras_name("input", in_name))
    values = {in_name: quantize(in_name, inputs)}
    for index, op in enumerate(fgraph.ops):
        weighted = is_weighted(op.kind)
        weight_shape = list(fgraph.tensors[op.inputs[1]].shape) if weighted else None
        data_inputs = op.inputs[:1] if weighted else op.inputs
        out = op.outputs[0]
        layer = QuantOp(index, op.kind, op.name, list(data_inputs), out, list(fgraph.tensors[out].shape),
                        dict(op.attrs), weight_shape, is_output=out in fgraph.outputs,
                        const_names=list(op.inputs[1:]) if weighted else None,
                        name=_keras_name(f"op{index}", op.name))
        if weighted:
            layer.kernel.assign(fgraph.tensors[op.inputs[1]].data)
            layer.bias.assign(fgraph.tensors[op.inputs[2]].data)
        args = [values[n] for n in data_inputs]
        if returns_exact(op.kind):
            x = values[op.inputs[0]]
            args += [quantizers[groups[op.inputs[0]]](x, return_params=True),
                     quantizers[groups[out]](x, return_params=True)]
        values[out] = quantize(out, layer(args if len(args) > 1 else args[0]))
    return keras.Model(inputs, values[fgraph.outputs[0]], name=fgraph.name)


def input_folded(model: Any, graph: Graph) -> bool:
    """Whether :func:`build_qat_model` folded the input rescaling (the input's quantizer is frozen on the fold's
    grid; a graph input has no other reason to be): convert folds it again, and only then, whatever the trained
    ranges would now allow."""
    return any(isinstance(layer, ActivationQuantizer) and layer.fixed is not None
               and any(n in layer.tensor_names for n in graph.inputs) for layer in model.layers)


def is_qat_model(model: Any) -> bool:
    return any(isinstance(layer, QuantOp) for layer in getattr(model, "layers", []))


def float_graph_and_ranges(model: Any) -> tuple[Graph, Ranges]:
    """The float graph (trained weights) and activation ranges (trained/observed) of a QAT model."""
    ops = sorted((layer for layer in model.layers if isinstance(layer, QuantOp)), key=lambda layer: layer.index)
    if not ops:
        raise TinygenError(
            f"model {model.name!r} is not a tinygen QAT model (no QuantOp layers); create one with "
            "tinygen.qat.prepare(model, calibration)"
        )
    ranges: Ranges = {}
    for layer in model.layers:
        if isinstance(layer, ActivationQuantizer):
            lo, hi = layer.current_range()
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise TinygenError(f"QAT model {model.name!r}: tensor {layer.tensor_names[0]!r} has a non-finite "
                                   f"range ({lo}, {hi}); training diverged: lower the learning rate")
            for name in layer.tensor_names:
                ranges[name] = (lo, hi)
    graph = Graph(model.name)
    produced = {layer.output_name for layer in ops}
    sources = [n for layer in ops for n in layer.input_names if n not in produced]
    in_name = sources[0]
    graph.add_tensor(Tensor(in_name, (1, *(int(d) for d in model.inputs[0].shape[1:])), "float32"))
    graph.inputs = [in_name]
    for layer in ops:
        inputs = list(layer.input_names)
        if is_weighted(layer.kind):
            for name, var in zip(layer.const_names, (layer.kernel, layer.bias)):
                data = np.asarray(var.numpy(), np.float32)
                graph.add_tensor(Tensor(name, data.shape, "float32", data=data))
                inputs.append(name)
        graph.add_tensor(Tensor(layer.output_name, tuple(layer.ir_output_shape), "float32"))
        graph.add_op(Op(layer.kind, layer.op_name, inputs, [layer.output_name], dict(layer.attrs)))
        if layer.is_output:
            graph.outputs = [layer.output_name]
    graph.validate()
    return graph, ranges
