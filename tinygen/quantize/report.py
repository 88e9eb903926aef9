"""Quantization report: how closely the int8 graph tracks the float model on the calibration data.

Per layer: SQNR (dB) of the int8 reference executor's output, dequantized, against the float
graph's activation, accumulated over the samples (10·log10(Σ float² / Σ error²)). End to end: the
output SQNR and, for a classifier (last dimension > 1), top-1 agreement; a model with several outputs reports
the lowest output SQNR and the top-1 agreement of its first classifier output.

The error split: each layer run alone on the float model's own input, with only one of its three grids
quantized (its input's int8 grid, its int8 weights, its output's int8 grid; the others left in float), gives
one SQNR per cause, and the remedy follows from the worst one (:func:`remedy`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinygen import numerics
from tinygen.ir import Graph
from tinygen.quantize.calibration import as_inputs, head, num_samples

#: Samples the report runs through the reference executor (it runs one sample at a time).
DEFAULT_SAMPLES = 200


@dataclass
class LayerReport:
    op: str
    kind: str
    tensor: str
    shape: tuple[int, ...]
    sqnr_db: float
    #: SQNR (dB) of the layer alone with only its input / only its weights / only its output quantized
    input_db: float = math.inf
    weight_db: float = math.inf
    output_db: float = math.inf
    remedy: str = ""


#: a cause whose SQNR alone is at least this high (dB) needs no remedy
FINE_DB = 30.0


REMEDIES = {
    "equalize": "--ptq cle or smooth (channels of very different ranges on the input's grid)",
    "bias corr.": "--ptq bc (the int8 weights' error)",
    "16-bit out": "a 16-bit output (once 16-bit activations land; the output's grid)",
}


def remedy(input_db: float, weight_db: float, output_db: float) -> str:
    """The fix that targets the worst of the three causes, or "nothing" when each is at least :data:`FINE_DB`.
    Equalization fixes the input grid, and the weights too when both are poor (a channel imbalance shows on
    both sides of the op); bias correction the weights alone."""
    worst = min(input_db, weight_db, output_db)
    if worst >= FINE_DB:
        return "nothing"
    if worst == output_db:
        return "16-bit out"
    if worst == input_db or input_db < FINE_DB:
        return "equalize"
    return "bias corr."


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


def quantize_input(graph: Graph, x: np.ndarray, index: int = 0) -> np.ndarray:
    """Float input -> the int8 graph input ``index``, as TFLite's QUANTIZE does (round half away, clamp)."""
    scale, zero_point = graph.tensors[graph.inputs[index]].quant.scalar()
    return numerics.affine_quantize(x, scale, zero_point).astype(np.int8)


def dequantize(graph: Graph, name: str, q: np.ndarray) -> np.ndarray:
    scale, zero_point = graph.tensors[name].quant.scalar()
    return (q.astype(np.float64) - zero_point) * float(scale)


def run_int8(graph: Graph, x: np.ndarray | list[np.ndarray]) -> dict[str, np.ndarray]:
    """Every tensor of the int8 graph, dequantized, for each sample of ``x`` (stacked on axis 0); ``x`` is one
    array, or for a graph with several inputs a list of arrays in graph-input order."""
    from tinygen import reference

    xs = as_inputs(x)
    per_sample = []
    for i in range(xs[0].shape[0]):
        values = reference.run(graph, [quantize_input(graph, a[i:i + 1], k) for k, a in enumerate(xs)])
        per_sample.append({n: dequantize(graph, n, v) for n, v in values.items() if graph.tensors[n].dtype == "int8"})
    return {n: np.concatenate([s[n] for s in per_sample]) for n in per_sample[0]}


def _end_to_end(report: QuantizationReport, float_outs: list[np.ndarray], int8_outs: list[np.ndarray]) -> None:
    """Output SQNR (with several outputs: the lowest of them) and top-1 agreement (of the first output with
    more than one value)."""
    sqnrs = []
    for float_out, int8_out in zip(float_outs, int8_outs):
        f = np.asarray(float_out).reshape(np.shape(float_out)[0], -1).astype(np.float64)
        q = np.asarray(int8_out).reshape(np.shape(int8_out)[0], -1)
        sqnrs.append(sqnr_db(float(np.sum(f**2)), float(np.sum((f - q) ** 2))))
        if f.shape[1] > 1 and report.top1_agreement is None:
            report.top1_agreement = float(np.mean(np.argmax(f, axis=1) == np.argmax(q, axis=1)))
    report.output_sqnr_db = min(sqnrs)


def _sqnr(want: np.ndarray, got: np.ndarray) -> float:
    f = np.asarray(want, np.float64).reshape(-1)
    return sqnr_db(float(np.sum(f**2)), float(np.sum((f - np.asarray(got, np.float64).reshape(-1)) ** 2)))


def error_split(fgraph: Graph, graph: Graph, x: Any) -> dict[str, tuple[float, float, float]]:
    """Per op of ``fgraph`` (the float graph ``graph`` was quantized from): the SQNR of its output with only its
    input grid, only its weights, only its output grid quantized, each on the float model's own input."""
    from tinygen.activations import apply_float
    from tinygen.quantize.bias_correction import dequantized_constants, fake_quant
    from tinygen.quantize.floatexec import constants, pre_activation, run_float

    values = run_float(fgraph, x)
    n = num_samples(x)
    floats, quantized = constants(fgraph), dequantized_constants(graph)

    def on_grid(name: str) -> np.ndarray:
        t = graph.tensors[name]
        return values[name] if t.dtype != "int8" or t.quant is None else fake_quant(values[name], t)

    split: dict[str, tuple[float, float, float]] = {}
    for op in fgraph.ops:
        out = op.outputs[0]
        ins_f = [floats.get(i, values.get(i)) for i in op.inputs]
        ins_in = [floats[i] if i in floats else on_grid(i) for i in op.inputs]
        ins_w = [quantized.get(i, v) for i, v in zip(op.inputs, ins_f)]
        run = [apply_float(pre_activation(fgraph, op, ins, n), op.activation) for ins in (ins_in, ins_w)]
        split[op.name] = (_sqnr(values[out], run[0]), _sqnr(values[out], run[1]), _sqnr(values[out], on_grid(out)))
    return split


def build_report(float_graph: Graph, graph: Graph, samples: np.ndarray, observer: str,
                 max_samples: int = DEFAULT_SAMPLES, quantized_from: Graph | None = None) -> QuantizationReport:
    """Report for tinygen's quantizer: the int8 graph has the float graph's tensor names. ``quantized_from``: the
    float graph ``graph`` was quantized from when it is not ``float_graph`` (bias-corrected), for the error split;
    ``observer`` names how the ranges were chosen (the PTQ pipeline)."""
    from tinygen.quantize.floatexec import run_float

    x = head(samples, max_samples)
    n = num_samples(x)
    float_values = run_float(float_graph, x)
    int8_values = run_int8(graph, x)
    split = error_split(quantized_from or float_graph, graph, x)
    report = QuantizationReport(graph.name, "tinygen", observer, n)
    for op in graph.ops:
        out = op.outputs[0]
        f = float_values[out].reshape(n, -1).astype(np.float64)
        q = int8_values[out].reshape(n, -1)
        causes = split.get(op.name, (math.inf, math.inf, math.inf))
        report.layers.append(LayerReport(op.name, op.kind if op.activation == "none" else f"{op.kind}+{op.activation}",
                                         out, graph.tensors[out].shape,
                                         sqnr_db(float(np.sum(f**2)), float(np.sum((f - q) ** 2))),
                                         *causes, remedy(*causes)))
    _end_to_end(report, [float_values[o] for o in float_graph.outputs], [int8_values[o] for o in graph.outputs])
    return report


def build_end_to_end_report(model: Any, graph: Graph, samples: np.ndarray, quantizer: str,
                            max_samples: int = DEFAULT_SAMPLES) -> QuantizationReport:
    """End-to-end only (a graph from TensorFlow's converter has its own tensor names): the Keras
    model's float output against the int8 graph's."""
    x = head(samples, max_samples)
    predicted = model.predict(x, batch_size=1, verbose=0)
    float_outs = [np.asarray(p, np.float64) for p in (predicted if isinstance(predicted, (list, tuple)) else [predicted])]
    int8_values = run_int8(graph, x)
    report = QuantizationReport(graph.name, quantizer, "minmax", num_samples(x))
    _end_to_end(report, float_outs, [int8_values[o] for o in graph.outputs])
    return report


def _db(value: float) -> str:
    return "exact" if math.isinf(value) and value > 0 else f"{value:.1f}"


def _print_split(report: QuantizationReport, console: Any) -> None:
    """The error split of the layers that need a remedy (one cause below FINE_DB), or a line saying none does."""
    from rich.table import Table

    poor = [(i, lay) for i, lay in enumerate(report.layers) if lay.remedy and lay.remedy != "nothing"]
    if not any(lay.remedy for lay in report.layers):
        return
    if not poor:
        console.print(f"error split: every layer's input, weight and output grids each keep >= {FINE_DB:g} dB: "
                      "nothing to fix", highlight=False, markup=False)
        return
    table = Table(title=f"error split: each layer alone with only its input, weights or output on the int8 grid "
                        f"(layers with a cause below {FINE_DB:g} dB)")
    for column in ("#", "op", "input dB", "weights dB", "output dB"):
        table.add_column(column, justify="left" if column == "op" else "right")
    table.add_column("remedy", no_wrap=True)
    for index, layer in poor:
        table.add_row(str(index), layer.op, _db(layer.input_db), _db(layer.weight_db), _db(layer.output_db),
                      layer.remedy)
    console.print(table)
    for name, text in REMEDIES.items():
        if any(layer.remedy == name for _, layer in poor):
            console.print(f"  {name}: {text}", highlight=False, markup=False)


def print_report(report: QuantizationReport, console: Any = None) -> None:
    """Print the report as a table (rich), the error split where a layer needs a remedy, and the end-to-end
    figures."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    what = "ptq" if report.quantizer == "tinygen" else "observer"
    table = Table(title=f"{report.model}: int8 vs float ({report.quantizer} quantizer, {what} {report.observer}, "
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
    _print_split(report, console)
    console.print(f"output SQNR: {_db(report.output_sqnr_db)} dB", highlight=False, markup=False)
    if report.top1_agreement is not None:
        console.print(f"top-1 agreement with float: {100 * report.top1_agreement:.2f}% of {report.samples} samples",
                      highlight=False, markup=False)
