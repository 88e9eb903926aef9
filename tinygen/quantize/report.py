"""Quantization report: how closely the int8 graph tracks the float model on the calibration data.

Per layer: SQNR (dB) of the int8 reference executor's output, dequantized, against the float
graph's activation, accumulated over the samples (10·log10(Σ float² / Σ error²)). End to end: the
output SQNR and, for a classifier (last dimension > 1), top-1 agreement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinygen.ir import Graph

#: Samples the report runs through the reference executor (it runs one sample at a time).
DEFAULT_SAMPLES = 200


@dataclass
class LayerReport:
    op: str
    kind: str
    tensor: str
    shape: tuple[int, ...]
    sqnr_db: float


@dataclass
class QuantizationReport:
    model: str
    quantizer: str
    observer: str
    samples: int
    layers: list[LayerReport] = field(default_factory=list)
    output_sqnr_db: float = math.nan
    #: fraction of samples whose int8 arg-max equals the float arg-max (None: not a classifier)
    top1_agreement: float | None = None


def sqnr_db(signal_power: float, noise_power: float) -> float:
    if noise_power == 0.0:
        return math.inf
    if signal_power == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal_power / noise_power)


def quantize_input(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Float input -> the int8 graph input, as TFLite's QUANTIZE does (round half away, clamp)."""
    scale, zero_point = graph.tensors[graph.inputs[0]].quant.scalar()
    scaled = np.asarray(x, np.float32) / np.float32(scale)
    q = np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5)) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(graph: Graph, name: str, q: np.ndarray) -> np.ndarray:
    scale, zero_point = graph.tensors[name].quant.scalar()
    return (q.astype(np.float64) - zero_point) * float(scale)


def run_int8(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor of the int8 graph, dequantized, for each sample of ``x`` (stacked on axis 0)."""
    from tinygen import reference

    per_sample = []
    for i in range(x.shape[0]):
        values = reference.run(graph, quantize_input(graph, x[i:i + 1]))
        per_sample.append({n: dequantize(graph, n, v) for n, v in values.items() if graph.tensors[n].dtype == "int8"})
    return {n: np.concatenate([s[n] for s in per_sample]) for n in per_sample[0]}


def _end_to_end(report: QuantizationReport, float_out: np.ndarray, int8_out: np.ndarray) -> None:
    f = float_out.reshape(float_out.shape[0], -1).astype(np.float64)
    q = int8_out.reshape(int8_out.shape[0], -1)
    report.output_sqnr_db = sqnr_db(float(np.sum(f**2)), float(np.sum((f - q) ** 2)))
    if f.shape[1] > 1:
        report.top1_agreement = float(np.mean(np.argmax(f, axis=1) == np.argmax(q, axis=1)))


def build_report(float_graph: Graph, graph: Graph, samples: np.ndarray, observer: str,
                 max_samples: int = DEFAULT_SAMPLES) -> QuantizationReport:
    """Report for tinygen's quantizer: the int8 graph has the float graph's tensor names."""
    from tinygen.quantize.floatexec import run_float

    x = samples[:max_samples]
    float_values = run_float(float_graph, x)
    int8_values = run_int8(graph, x)
    report = QuantizationReport(graph.name, "tinygen", observer, int(x.shape[0]))
    for op in graph.ops:
        out = op.outputs[0]
        f = float_values[out].reshape(x.shape[0], -1).astype(np.float64)
        q = int8_values[out].reshape(x.shape[0], -1)
        report.layers.append(LayerReport(op.name, op.kind if op.activation == "none" else f"{op.kind}+{op.activation}",
                                         out, graph.tensors[out].shape,
                                         sqnr_db(float(np.sum(f**2)), float(np.sum((f - q) ** 2)))))
    _end_to_end(report, float_values[float_graph.outputs[0]], int8_values[graph.outputs[0]])
    return report


def build_end_to_end_report(model: Any, graph: Graph, samples: np.ndarray, quantizer: str,
                            max_samples: int = DEFAULT_SAMPLES) -> QuantizationReport:
    """End-to-end only (a graph from TensorFlow's converter has its own tensor names): the Keras
    model's float output against the int8 graph's."""
    x = samples[:max_samples]
    float_out = np.asarray(model.predict(x, batch_size=1, verbose=0), np.float64)
    int8_out = run_int8(graph, x)[graph.outputs[0]]
    report = QuantizationReport(graph.name, quantizer, "minmax", int(x.shape[0]))
    _end_to_end(report, float_out, int8_out)
    return report


def _db(value: float) -> str:
    return "exact" if math.isinf(value) and value > 0 else f"{value:.1f}"


def print_report(report: QuantizationReport, console: Any = None) -> None:
    """Print the report as a table (rich) followed by the end-to-end figures."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{report.model}: int8 vs float ({report.quantizer} quantizer, {report.observer} observer, "
                        f"{report.samples} calibration samples)")
    table.add_column("#", justify="right")
    table.add_column("op")
    table.add_column("kind")
    table.add_column("shape", no_wrap=True)
    table.add_column("SQNR dB", justify="right")
    for index, layer in enumerate(report.layers):
        table.add_row(str(index), layer.op, layer.kind, "×".join(str(d) for d in layer.shape), _db(layer.sqnr_db))
    if report.layers:
        console.print(table)
    else:
        console.print(table.title, highlight=False, markup=False)
    console.print(f"output SQNR: {_db(report.output_sqnr_db)} dB", highlight=False, markup=False)
    if report.top1_agreement is not None:
        console.print(f"top-1 agreement with float: {100 * report.top1_agreement:.2f}% of {report.samples} samples",
                      highlight=False, markup=False)
