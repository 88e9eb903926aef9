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
    #: the model with this layer's output (its shared-scale group) at 16 bits, the layer and its readers in 16x8
    #: (:mod:`tinygen.quantize.precision`): this layer's SQNR, the model's output SQNR and the extra arena bytes;
    #: None where a layer there has no 16x8 kernel
    int8_db: float | None = None
    int16_db: float | None = None
    int16_output_db: float | None = None
    int16_arena: int | None = None


#: a cause whose SQNR alone is at least this high (dB) needs no remedy
FINE_DB = 30.0


REMEDIES = {
    "equalize": "--ptq cle or smooth (channels of very different ranges on the input's grid)",
    "bias corr.": "--ptq bc (the int8 weights' error)",
    "16-bit out": "--int16 LAYER (this layer and its readers at 16 bits; the output's grid)",
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
    #: samples the 16-bit columns were measured on (0: not measured), and the int8 output SQNR on them
    int16_samples: int = 0
    int8_output_db: float = math.nan
    #: the graph reported is a mixed int8/int16 one (``--int16``)
    mixed: bool = False


def sqnr_db(signal_power: float, noise_power: float) -> float:
    if noise_power == 0.0:
        return math.inf
    if signal_power == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal_power / noise_power)


#: the activation types the report dequantizes (int16: the 16x8 layers of a mixed-precision graph)
ACTIVATION_TYPES = {"int8": np.int8, "int16": np.int16}


def quantize_input(graph: Graph, x: np.ndarray, index: int = 0) -> np.ndarray:
    """Float input -> the int8 (int16) graph input ``index``, as TFLite's QUANTIZE does (round half away, clamp)."""
    t = graph.tensors[graph.inputs[index]]
    scale, zero_point = t.quant.scalar()
    info = np.iinfo(ACTIVATION_TYPES[t.dtype])
    return numerics.affine_quantize(x, scale, zero_point, info.min, info.max).astype(ACTIVATION_TYPES[t.dtype])


def dequantize(graph: Graph, name: str, q: np.ndarray) -> np.ndarray:
    scale, zero_point = graph.tensors[name].quant.scalar()
    return (q.astype(np.float64) - zero_point) * float(scale)


def run_int8(graph: Graph, x: np.ndarray | list[np.ndarray]) -> dict[str, np.ndarray]:
    """Every activation tensor of the int8 (or mixed int8/int16) graph, dequantized, for each sample of ``x``
    (stacked on axis 0); ``x`` is one array, or for a graph with several inputs a list of arrays in graph-input
    order."""
    from tinygen import reference

    xs = as_inputs(x)
    executor = reference.Executor(graph)
    per_sample = []
    for i in range(xs[0].shape[0]):
        values = executor.run([quantize_input(graph, a[i:i + 1], k) for k, a in enumerate(xs)])
        per_sample.append({n: dequantize(graph, n, v) for n, v in values.items()
                           if graph.tensors[n].dtype in ACTIVATION_TYPES})
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
        return values[name] if t.dtype not in ACTIVATION_TYPES or t.quant is None else fake_quant(values[name], t)

    split: dict[str, tuple[float, float, float]] = {}
    for op in fgraph.ops:
        out = op.outputs[0]
        ins_f = [floats.get(i, values.get(i)) for i in op.inputs]
        ins_in = [floats[i] if i in floats else on_grid(i) for i in op.inputs]
        ins_w = [quantized.get(i, v) for i, v in zip(op.inputs, ins_f)]
        run = [apply_float(pre_activation(fgraph, op, ins, n), op.activation) for ins in (ins_in, ins_w)]
        split[op.name] = (_sqnr(values[out], run[0]), _sqnr(values[out], run[1]), _sqnr(values[out], on_grid(out)))
    return split


def _float_name(graph: Graph, name: str, float_values: dict[str, np.ndarray]) -> str:
    """The float tensor an int tensor stands for: itself, or for a QUANTIZE added at an int8/int16 boundary the tensor
    it converts."""
    producers = graph.producers()
    while name not in float_values and name in producers:
        name = producers[name].inputs[0]
    return name


def build_report(float_graph: Graph, graph: Graph, samples: np.ndarray, observer: str,
                 max_samples: int = DEFAULT_SAMPLES, quantized_from: Graph | None = None,
                 ranges: dict[str, tuple[float, float]] | None = None) -> QuantizationReport:
    """Report for tinygen's quantizer: the int8 graph has the float graph's tensor names. ``quantized_from``: the
    float graph ``graph`` was quantized from when it is not ``float_graph`` (bias-corrected), for the error split;
    ``observer`` names how the ranges were chosen (the PTQ pipeline). ``ranges``: the calibrated ranges, for the
    16-bit columns (:func:`int16_columns`; None: left out)."""
    from tinygen.quantize.floatexec import run_float

    x = head(samples, max_samples)
    n = num_samples(x)
    float_values = run_float(float_graph, x)
    int8_values = run_int8(graph, x)
    split = error_split(quantized_from or float_graph, graph, x)
    report = QuantizationReport(graph.name, "tinygen", observer, n)
    report.mixed = any(t.dtype == "int16" for t in graph.activation_tensors())
    for op in graph.ops:
        out = op.outputs[0]
        f = float_values[_float_name(graph, out, float_values)].reshape(n, -1).astype(np.float64)
        q = int8_values[out].reshape(n, -1)
        causes = split.get(op.name, (math.inf, math.inf, math.inf))
        report.layers.append(LayerReport(op.name, op.kind if op.activation == "none" else f"{op.kind}+{op.activation}",
                                         out, graph.tensors[out].shape,
                                         sqnr_db(float(np.sum(f**2)), float(np.sum((f - q) ** 2))),
                                         *causes, remedy(*causes)))
    _end_to_end(report, [float_values[o] for o in float_graph.outputs], [int8_values[o] for o in graph.outputs])
    if ranges is not None:
        int16_columns(report, quantized_from or float_graph, ranges, x, float_values)
    return report


#: samples the 16-bit columns run (one int8 run of the model per layer, on the report's first samples)
INT16_SAMPLES = 64


def _db_of(want: np.ndarray, got: np.ndarray) -> float:
    f = want.reshape(want.shape[0], -1).astype(np.float64)
    return sqnr_db(float(np.sum(f**2)), float(np.sum((f - got.reshape(f.shape)) ** 2)))


def int16_columns(report: QuantizationReport, fgraph: Graph, ranges: dict[str, tuple[float, float]], x: Any,
                  float_values: dict[str, np.ndarray]) -> None:
    """Fill each layer's int8 and 16-bit figures (:class:`LayerReport`) on the first :data:`INT16_SAMPLES`
    samples: the all-int8 model, then for each tensor group that can be held at 16 bits the model with that group
    in 16x8 (:func:`tinygen.quantize.precision.candidates`)."""
    from tinygen.errors import TinygenError
    from tinygen.quantize.mixed import arena_bytes
    from tinygen.quantize.precision import candidates, tensor_groups
    from tinygen.quantize.quantizer import quantize_graph

    few = head(x, INT16_SAMPLES)
    n = num_samples(few)
    floats = {name: v[:n] for name, v in float_values.items()}
    int8 = quantize_graph(fgraph, ranges)
    base = run_int8(int8, few)
    base_arena = arena_bytes(int8)
    report.int16_samples = n
    report.int8_output_db = min((_db_of(floats[o], base[o]) for o in fgraph.outputs if o in base), default=math.nan)
    groups = tensor_groups(fgraph)
    rows = {layer.tensor: layer for layer in report.layers}
    for layer in report.layers:
        if layer.tensor in base:
            layer.int8_db = _db_of(floats[_float_name(int8, layer.tensor, floats)], base[layer.tensor])
    for cand in candidates(fgraph):
        try:
            mixed = quantize_graph(fgraph, ranges, int16_ops=cand.ops)
        except TinygenError:  # a configuration an op's 16x8 kernel does not cover
            continue
        values = run_int8(mixed, few)
        output_db = min((_db_of(floats[o], values[m]) for o, m in zip(fgraph.outputs, mixed.outputs) if m in values),
                        default=math.nan)
        arena = arena_bytes(mixed) - base_arena
        for name in (t for t in fgraph.tensors if groups.find(t) == cand.root and t in rows):
            row = rows[name]
            row.int16_db, row.int16_output_db, row.int16_arena = _db_of(floats[name], values[name]), output_db, arena


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
    """Print the report as a table (rich), the 16-bit table, the error split where a layer needs a remedy, and the
    end-to-end figures."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    what = "ptq" if report.quantizer == "tinygen" else "observer"
    kind = "mixed int8/int16" if report.mixed else "int8"
    table = Table(title=f"{report.model}: {kind} vs float ({report.quantizer} quantizer, {what} {report.observer}, "
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
    _print_int16(report, console)
    _print_split(report, console)
    console.print(f"output SQNR: {_db(report.output_sqnr_db)} dB", highlight=False, markup=False)
    if report.top1_agreement is not None:
        console.print(f"top-1 agreement with float: {100 * report.top1_agreement:.2f}% of {report.samples} samples",
                      highlight=False, markup=False)


def _print_int16(report: QuantizationReport, console: Any) -> None:
    """What holding each layer's output at 16 bits buys (the layers where it was measured)."""
    from rich.table import Table

    rows = [(i, layer) for i, layer in enumerate(report.layers) if layer.int16_db is not None]
    if not report.int16_samples:
        return
    table = Table(title=f"int8 or 16 bits, on the first {report.int16_samples} samples (all-int8 model output: "
                        f"{_db(report.int8_output_db)} dB)")
    for column in ("#", "op", "int8 dB", "16-bit dB", "model dB", "+arena B"):
        table.add_column(column, justify="left" if column == "op" else "right")
    for index, layer in rows:
        table.add_row(str(index), layer.op, _maybe_db(layer.int8_db), _maybe_db(layer.int16_db),
                      _maybe_db(layer.int16_output_db), "-" if layer.int16_arena is None else f"{layer.int16_arena:+,}")
    if rows:
        console.print(table)
    console.print("int8 dB: the layer's SQNR in the all-int8 model; 16-bit dB and model dB: the layer's and the model "
                  "output's SQNR in the model with this layer's output alone at 16 bits (the layer and the layers "
                  "reading it in 16x8, QUANTIZE ops at the edges: --int16 LAYER,READERS); +arena B: the extra arena "
                  f"bytes (the memory planner's). {len(report.layers) - len(rows)} layer(s) not listed: a layer there "
                  "has no 16x8 kernel, or a QUANTIZE op --int16 added.", highlight=False, markup=False)


def _maybe_db(value: float | None) -> str:
    return "-" if value is None else _db(value)
