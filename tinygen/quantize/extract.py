"""Keras model -> float32 IR graph (same op kinds and weight layouts as the int8 IR).

The float graph is what the quantizer calibrates and quantizes. :mod:`tinygen.quantize.layers` converts
each layer, :mod:`tinygen.quantize.passes` folds BatchNorm, fuses activations and padding. This module
walks the Keras 3 functional graph from the model outputs back through ``_keras_history``, inlining
nested models, and fixes the batch dimension to 1. A model may have several inputs and outputs.
"""

from __future__ import annotations

from typing import Any

from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph
from tinygen.quantize.builder import Builder
from tinygen.quantize.layers import emit_layer, layer_error, supported_layers
from tinygen.quantize.passes import simplify
from tinygen.naming import c_identifier

__all__ = ["c_identifier", "fixed_shape", "keras_input_name", "keras_to_float_graph", "supported_layers"]


def fixed_shape(shape: Any, what: str) -> tuple[int, ...]:
    dims = list(shape)
    if not dims:
        raise TinygenError(f"{what} is a scalar; tinygen needs a batched tensor input")
    if dims[0] not in (None, 1):
        raise TinygenError(
            f"{what} has a fixed batch size {dims[0]}; tinygen runs one sample per inference: "
            "rebuild the model with keras.Input(shape, batch_size=1) or batch_size=None"
        )
    if any(d is None for d in dims[1:]):
        raise TinygenError(
            f"{what} has shape {tuple(dims)} with unknown dimensions; tinygen needs every dimension but the batch "
            "fixed: rebuild the model with a concrete keras.Input(shape=...)"
        )
    return (1, *(int(d) for d in dims[1:]))


def _node_of(tensor: Any) -> tuple[Any, Any]:
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        raise TinygenError(f"tensor {tensor!r} has no Keras history; give a Keras functional or Sequential model")
    operation, node_index, _ = history
    return operation, operation._inbound_nodes[node_index]


def _walk(b: Builder, model: Any, outer: dict[int, str]) -> list[str]:
    """Emit the ops of ``model`` whose inputs are already named in ``outer`` (id -> name); return its outputs."""
    import keras

    names = dict(outer)
    done: set[int] = set()

    def visit(tensor: Any) -> str:
        if id(tensor) in names:
            return names[id(tensor)]
        operation, node = _node_of(tensor)
        if isinstance(operation, keras.layers.InputLayer):
            raise TinygenError(f"model {model.name!r}: input {operation.name!r} is not connected")
        if id(node) not in done:
            done.add(id(node))
            inputs = [visit(t) for t in node.input_tensors]
            outputs = list(node.output_tensors)
            if isinstance(operation, keras.Model):
                results = _walk(b, operation, {id(t): n for t, n in zip(operation.inputs, inputs)})
            elif not isinstance(operation, keras.layers.Layer):
                raise UnsupportedError(
                    f"operation {operation.name!r} ({type(operation).__name__}, a keras.ops call in the model) is not "
                    f"supported by tinygen; use layers: {', '.join(supported_layers())}"
                )
            else:
                if len(outputs) != 1:
                    raise layer_error(operation, f"has {len(outputs)} outputs; tinygen supports single-output layers")
                results = [emit_layer(b, operation, inputs)]
            for t, n in zip(outputs, results):
                names[id(t)] = n
        if id(tensor) not in names:
            raise TinygenError(f"model {model.name!r}: could not resolve tensor {tensor!r}")
        return names[id(tensor)]

    return [visit(t) for t in model.outputs]


def _check_finite(graph: Graph) -> None:
    """Weights, biases and BatchNorm statistics must be finite numbers (NaN/inf cannot be quantized)."""
    import numpy as np

    for op in graph.ops:
        consts = [(n, graph.tensors[n].data) for n in op.inputs if graph.tensors[n].is_const]
        consts += [(f"{op.name}/{k}", v) for k, v in op.attrs.items() if isinstance(v, np.ndarray)]
        for name, data in consts:
            values = np.asarray(data, dtype=np.float64)
            if not np.all(np.isfinite(values)):
                bad = int(np.count_nonzero(~np.isfinite(values)))
                raise TinygenError(
                    f"layer {op.name!r}: {name!r} holds {bad} NaN or infinite value(s) of {values.size}; the model's "
                    "weights are broken (training diverged?): retrain it or load a good checkpoint"
                )


def keras_input_name(tensor: Any) -> str:
    """The name of a Keras model input (its InputLayer's name, what ``keras.Input(name=...)`` set): the key of its
    calibration array."""
    history = getattr(tensor, "_keras_history", None)
    if history is not None:
        return str(history[0].name)
    return str(getattr(tensor, "name", "input")).split(":")[0]


def keras_to_float_graph(model: Any, name: str | None = None) -> Graph:
    """Extract the float32 IR graph of a built Keras model (batch fixed to 1). The graph's inputs and outputs are
    the model's (``model.inputs``, ``model.outputs``), in its order; each input tensor is named after its Keras
    input, each output after the layer that makes it."""
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError) as exc:
        raise TinygenError(
            f"model {getattr(model, 'name', '?')!r} has no defined inputs (a Sequential model that was never built); "
            "start it with keras.Input(shape=...) so its input shape is known"
        ) from exc
    if not inputs or not outputs:
        raise TinygenError(f"model {model.name!r} has {len(inputs)} inputs and {len(outputs)} outputs; nothing to run")
    graph = Graph(c_identifier(name or model.name))
    b = Builder(graph)
    names: dict[int, str] = {}
    for tensor in inputs:
        in_layer, _ = _node_of(tensor)
        what = f"model {model.name!r} input {in_layer.name!r}"
        in_name = b.act(in_layer.name, fixed_shape(tensor.shape, what))
        dtype = str(getattr(tensor, "dtype", "float32"))
        if dtype not in ("float32", "float16", "float64"):
            raise TinygenError(f"{what} has dtype {dtype}; tinygen needs a float input")
        names[id(tensor)] = in_name
    graph.inputs = [names[id(t)] for t in inputs]
    graph.outputs = _walk(b, model, names)
    for index, out in enumerate(graph.outputs):
        if out in graph.inputs:
            which = "its output is its input" if len(outputs) == 1 else f"output {index} is its input {out!r}"
            raise UnsupportedError(f"model {model.name!r}: {which}; there is nothing to compute")
        if graph.outputs.index(out) != index:
            raise UnsupportedError(
                f"model {model.name!r}: outputs {graph.outputs.index(out)} and {index} are the same tensor {out!r}; "
                "give each output once"
            )
    _check_finite(graph)
    simplify(graph)
    unused = [n for n in graph.inputs if not graph.consumers(n)]
    if unused:
        raise UnsupportedError(f"model {model.name!r}: input(s) {unused} are not used by any layer; remove them")
    graph.validate()
    return graph
