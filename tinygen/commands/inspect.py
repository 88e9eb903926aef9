"""``tinygen inspect MODEL``: the model's graph as a table (ops, shapes, quantization, params, MACs)."""

from __future__ import annotations

import click
import numpy as np

from tinygen.commands.common import load_from_options, model_options
from tinygen.ir import Graph, Op, Tensor, op_macs


def _quant(tensor: Tensor) -> str:
    if tensor.quant is None:
        return tensor.dtype
    if tensor.quant.per_channel:
        return f"per-channel ({tensor.quant.scale.size})"
    scale, zero_point = tensor.quant.scalar()
    return f"{scale:.6g} / {zero_point}"


def _param_bytes(graph: Graph, op: Op) -> int:
    return sum(graph.tensors[name].nbytes for name in op.inputs if graph.tensors[name].is_const)


def _shape(tensor: Tensor) -> str:
    return "×".join(str(d) for d in tensor.shape) or "scalar"


def _display_name(name: str) -> str:
    """TFLite names fused ops "a;b;c..." after every op folded in; the first part names the layer."""
    first, _, rest = name.partition(";")
    return f"{first};…" if rest else first


def render(graph: Graph) -> "object":
    """A rich Table of ``graph``: one row per op, then totals."""
    from rich.table import Table

    table = Table(title=f"{graph.name}", show_footer=True)
    table.add_column("#", justify="right", footer="total")
    table.add_column("op", footer=f"{len(graph.ops)} ops")
    table.add_column("output", overflow="fold")
    table.add_column("shape", no_wrap=True)
    table.add_column("scale / zero point", no_wrap=True)
    table.add_column("params bytes", justify="right")
    table.add_column("MACs", justify="right")
    for index, op in enumerate(graph.ops):
        out = graph.tensors[op.outputs[0]]
        kind = op.kind if op.activation == "none" else f"{op.kind}+{op.activation}"
        table.add_row(
            str(index), kind, _display_name(out.name), _shape(out), _quant(out), f"{_param_bytes(graph, op):,}", f"{op_macs(graph, op):,}"
        )
    # Totals count each constant once, even if several ops share it.
    params = sum(t.nbytes for t in graph.tensors.values() if t.is_const)
    macs = sum(op_macs(graph, op) for op in graph.ops)
    table.columns[5].footer = f"{params:,}"
    table.columns[6].footer = f"{macs:,}"
    return table


def render_raw(name: str, rows: list, subgraphs: int) -> "object":
    """A rich Table of a .tflite's operators as stored, the ones tinygen does not support marked."""
    from rich.table import Table

    missing = sum(not r.supported for r in rows)
    title = f"{name} (as stored; {missing} of {len(rows)} ops not supported by tinygen"
    title += f"; subgraph 0 of {subgraphs})" if subgraphs > 1 else ")"
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("op")
    table.add_column("supported")
    table.add_column("inputs", overflow="fold")
    table.add_column("outputs", overflow="fold")
    for r in rows:
        table.add_row(str(r.index), r.builtin, "yes" if r.supported else "NO", "\n".join(r.inputs),
                      "\n".join(r.outputs))
    return table


def _io_lines(graph: Graph) -> list[str]:
    lines = []
    for role, names in (("input", graph.inputs), ("output", graph.outputs)):
        for name in names:
            t = graph.tensors[name]
            quant = f"scale / zero point {_quant(t)}" if t.quant is not None else "not quantized"
            lines.append(f"{role} {name!r}: {t.dtype} {_shape(t)}, {quant}")
    for state in graph.states:
        lines.append(f"state {state.name!r}: {np.asarray(state.initial).dtype.name} {state.initial.size} values kept "
                     "between invocations "
                     f"(read as {state.read!r}, stored from {state.write!r})")
    return lines


@click.command(name="inspect")
@click.argument("model", metavar="MODEL")
@model_options
def command(model: str, calibration: str | None, observer: str, quantizer: str) -> None:
    """Print a model's graph: ops, shapes, quantization, params and MACs.

    MODEL is an int8 .tflite file or a Keras model (quantized with --calibration data first).
    """
    from pathlib import Path

    from rich.console import Console

    from tinygen.errors import TinygenError

    console = Console(width=max(Console().width, 140))
    try:
        graph = load_from_options(model, calibration, observer, quantizer)
    except TinygenError as exc:
        if Path(model).suffix.lower() != ".tflite":
            raise
        # a .tflite tinygen cannot compile: show what the file holds, the unsupported ops marked, and why
        from tinygen.frontend.tflite import summarize

        subgraphs, rows, inputs, outputs = summarize(model)
        console.print(render_raw(Path(model).stem, rows, subgraphs))
        for role, names in (("input", inputs), ("output", outputs)):
            for name in names:
                console.print(f"{role} {name}", highlight=False, markup=False)
        console.print(f"tinygen cannot compile this model: {exc}", highlight=False, markup=False)
        return
    console.print(render(graph))
    for line in _io_lines(graph):
        console.print(line, highlight=False, markup=False)
