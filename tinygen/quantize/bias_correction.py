"""Empirical bias correction (Nagel et al., 2019, section 4.2): layer by layer on the calibration data, shift
each conv/depthwise/dense bias by the mean gap, per output channel, between the float model's pre-activation
and the int8-simulated one (int8 weights, inputs on their int8 grids, each earlier layer already corrected), so
that quantization error has zero mean on every channel.

The simulation is the float graph with every weight replaced by its int8 value times its scale and every
activation rounded to its int8 grid (TFLite's AffineQuantize); it leaves out the requantization's rounding,
which has no bias to speak of. Unlike the equalization passes this changes the float model on purpose (its
biases absorb the int8 model's systematic error).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from tinygen import numerics
from tinygen.activations import apply_float
from tinygen.ir import Graph, Tensor
from tinygen.quantize.calibration import as_inputs, head
from tinygen.quantize.equalize import WEIGHTED
from tinygen.quantize.floatexec import all_outputs, constants, pre_activation, run_float
from tinygen.quantize.observers import Ranges

#: calibration samples the correction averages over (the simulation holds every tensor of them at once)
SAMPLES = 256


def fake_quant(x: np.ndarray, tensor: Tensor) -> np.ndarray:
    """``x`` rounded to the int8 (int16) grid of ``tensor`` (a quantized activation tensor), dequantized."""
    scale, zero_point = tensor.quant.scalar()
    info = np.iinfo(tensor.dtype)
    return ((numerics.affine_quantize(x, scale, zero_point, info.min, info.max) - zero_point) * scale).astype(np.float32)


def dequantized_constants(qgraph: Graph) -> dict[str, np.ndarray]:
    """Every int8 weight and int32 bias of ``qgraph`` as the float value it stands for."""
    values = {}
    for name, t in qgraph.tensors.items():
        if t.is_const and t.quant is not None:
            shape = [1] * t.data.ndim
            if t.quant.scale.size > 1:
                shape[t.quant.axis] = -1
            values[name] = (t.data.astype(np.float64) * t.quant.scale.astype(np.float64).reshape(shape)).astype(np.float32)
    return values


def correct_biases(fgraph: Graph, qgraph: Graph, samples: Any) -> Graph:
    """A copy of ``fgraph`` whose weighted ops' biases are corrected against ``qgraph`` (the int8 graph quantized
    from ``fgraph``, same names) on the first :data:`SAMPLES` calibration samples."""
    corrected = copy.deepcopy(fgraph)
    xs = as_inputs(head(samples, SAMPLES))
    n = xs[0].shape[0]
    reference = run_float(fgraph, xs)
    sim: dict[str, np.ndarray] = {**constants(fgraph), **dequantized_constants(qgraph)}
    for name, x in zip(fgraph.inputs, xs):
        sim[name] = fake_quant(x, qgraph.tensors[name])
    for op in corrected.ops:
        y, *more = all_outputs(corrected, op, [sim[i] for i in op.inputs], n)
        if op.kind in WEIGHTED:
            want = pre_activation(fgraph, op, [reference[i] for i in op.inputs], n)
            gap = (want.astype(np.float64) - y).reshape(-1, y.shape[-1]).mean(axis=0)
            bias = corrected.tensors[op.inputs[2]]
            bias.data = (bias.data + gap).astype(np.float32)
            y = (y + gap).astype(np.float32)
        out = op.outputs[0]
        sim[out] = fake_quant(apply_float(y, op.activation), qgraph.tensors[out])
        for name, value in zip(op.outputs[1:], more):  # an LSTM's last state (int8) and cells (no int8 tensor)
            t = qgraph.tensors.get(name)
            sim[name] = fake_quant(value, t) if t is not None and t.dtype == "int8" else value
    return corrected


def observe_and_correct(fgraph: Graph, samples: Any, ranges: Ranges, observer: str) -> tuple[Graph, Ranges]:
    """Bias-correct ``fgraph`` against its int8 quantization with ``ranges``, then calibrate the corrected graph
    again (its activations moved by the shifts)."""
    from tinygen.quantize.pipeline import observe_ranges
    from tinygen.quantize.quantizer import quantize_graph

    corrected = correct_biases(fgraph, quantize_graph(fgraph, ranges), samples)
    return corrected, observe_ranges(corrected, samples, observer)
