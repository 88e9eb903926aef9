"""TFLite Micro's integer requantization inside the QAT forward pass.

Rounding ``acc * real_multiplier`` to the nearest integer is not what TFLite Micro does: it rounds
twice (``SaturatingRoundingDoublingHighMul``, then ``RoundingDivideByPOT``), which moves results by a
step when the accumulators are small (coarse inputs, right shifts of 1-2). Those one-step differences
compound over layers, so a plain fake-quant model drifts several output steps from the int8 graph.

The requantizing ops (conv, depthwise, fully connected, mean; softmax, whose int8 kernel is a
fixed-point exp) therefore also compute their exact
integer accumulator in float64 (integer inputs and weights: every sum is exact) and requantize it here
with the parameters and arithmetic of :mod:`tinygen.qparams` / :mod:`tinygen.numerics` (a one-op int8
graph with the current scales), the same code the reference executor runs. The forward value is that
exact result; gradients stay straight-through (see :mod:`tinygen.qat.layers`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygen import ops, qparams
from tinygen.ir import Graph, Op, Quantization, Tensor



def is_requantizing(kind: str) -> bool:
    """Whether the op's int8 result is a requantized integer accumulator (its QAT layer computes it exactly)."""
    return ops.get(kind).from_accumulator is not None


def _one_op_graph(kind: str, attrs: dict[str, Any], in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                  weight_shape: tuple[int, ...] | None, in_params: np.ndarray, out_params: np.ndarray,
                  weight_scale: np.ndarray) -> tuple[Graph, Op]:
    graph = Graph("qat_op")
    graph.add_tensor(Tensor("x", in_shape, "int8", Quantization([in_params[0]], [int(in_params[1])])))
    graph.add_tensor(Tensor("y", out_shape, "int8", Quantization([out_params[0]], [int(out_params[1])])))
    inputs = ["x"]
    if weight_shape is not None:
        scale = np.asarray(weight_scale, np.float32).reshape(-1)
        zeros = np.zeros(scale.size, np.int64)
        axis = ops.get(kind).weight_axis
        graph.add_tensor(Tensor("w", weight_shape, "int8", Quantization(scale, zeros, axis),
                                data=np.zeros(weight_shape, np.int8)))
        graph.add_tensor(Tensor("b", (scale.size,), "int32", Quantization(scale, zeros, 0),
                                data=np.zeros(scale.size, np.int32)))
        inputs += ["w", "b"]
    op = graph.add_op(Op(kind, "op", inputs, ["y"], dict(attrs)))
    return graph, op


def requantize(kind: str, attrs: dict[str, Any], in_shape: tuple[int, ...], out_shape: tuple[int, ...],
               weight_shape: tuple[int, ...] | None, acc: np.ndarray, in_params: np.ndarray,
               out_params: np.ndarray, weight_scale: np.ndarray) -> np.ndarray:
    """int8 outputs (as float32) of a requantizing op from its exact int32 accumulators ``acc``
    (conv/dense: ``sum((x - zp_in) * w) + bias``; mean: ``sum(x - zp_in)``; softmax: the int8 input
    itself), batch of any size: the op's own ``from_accumulator``, with its parameters."""
    graph, op = _one_op_graph(kind, attrs, in_shape, out_shape, weight_shape, in_params, out_params, weight_scale)
    defn = ops.get(kind)
    p = qparams.op_params(graph, op)
    acc64 = np.rint(np.asarray(acc, np.float64)).astype(np.int64)
    assert defn.from_accumulator is not None
    return np.asarray(defn.from_accumulator(p, acc64, "double")).astype(np.float32)
