"""The summary ``tinygen validate`` prints, from the result dict."""

from __future__ import annotations

import math
from typing import Any

#: layers the per-layer SQNR line shows (the worst ones)
WORST_LAYERS = 3


def fmt(value: float, digits: int = 4) -> str:
    if math.isinf(value):
        return "exact" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def where_c_ran(run: dict[str, Any]) -> str:
    """Where the C ran (a result's ``run``), for the summary's first line and the checks."""
    if run["where"] == "host":
        return "on the host"
    if run["where"] == "port":
        how = f"; {run['machine']}" if run.get("machine") else ""
        return (f"on board {run['board']} over {run['port']} ({run['core']}, {run['kernels']} kernels; firmware "
                f"{run['firmware']}{how})")
    return f"in QEMU {run['machine']} (board {run['board']}: {run['core']}, {run['kernels']} kernels)"


def report_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"{result['name']}: {result['samples']} samples, {result['classes']} outputs; C "
             f"{where_c_ran(result['run'])}"]
    lines += _accuracy_lines(result)
    lines += _error_lines(result, "")
    for other in result.get("other_outputs", []):
        lines += _error_lines(other, f"output {other['index']} ({other['name']}): ")
    if "errors" not in result and "accuracy" not in result:
        lines.append("no float reference: give --labels for accuracy, --expected outputs (or for a .tflite the Keras "
                     "model with --float-model) for error figures")
    if "confusion_matrix" in result:
        lines += _matrix_lines(result["confusion_matrix"])
    if result.get("layers_sqnr"):
        lines.append(_sqnr_line(result["layers_sqnr"]))
    c = result["c_bit_exact"]
    lines.append(f"C == reference: {c['bit_exact']} of {c['samples']} samples bit-exact")
    if c.get("first_differing_layer"):
        lines.append(c["first_differing_layer"]["text"])
    lines += result["run"].get("summary", [])
    return lines


def _accuracy_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for key, title in (("accuracy", "top-1 accuracy"), ("top_k_accuracy", "top-{k} accuracy")):
        if key in result:
            acc = result[key]
            parts = ([f"float {acc['float']:.2%}"] if "float" in acc else []) + [f"int8 {acc['int8']:.2%}"]
            lines.append(f"{title.format(k=acc.get('k'))}: {', '.join(parts)}")
    return lines


def _error_lines(figures: dict[str, Any], prefix: str) -> list[str]:
    lines = []
    if "top1_agreement" in figures:
        lines.append(f"{prefix}float/int8 top-1 agreement: {figures['top1_agreement']:.2%}")
    if "errors" in figures:
        e = figures["errors"]
        lines.append(f"{prefix}int8 vs {e['against']}: RMSE {fmt(e['rmse'])}, MAE {fmt(e['mae'])}, L2 relative "
                     f"{fmt(e['l2_relative'])}, cosine {fmt(e['cosine'], 6)}, SNR {fmt(e['snr_db'], 3)} dB")
    return lines


def _matrix_lines(matrix: list[list[int]]) -> list[str]:
    width = max(3, len(str(max(max(row) for row in matrix))), len(str(len(matrix) - 1)))
    lines = ["confusion matrix (int8; rows: label, columns: predicted):",
             " " * (width + 3) + " ".join(f"{c:>{width}}" for c in range(len(matrix)))]
    for label, row in enumerate(matrix):
        lines.append(f"{label:>{width}} | " + " ".join(f"{v:>{width}}" for v in row))
    return lines


def _sqnr_line(layers: list[dict[str, Any]]) -> str:
    worst = sorted(layers, key=lambda layer: layer["sqnr_db"])[:WORST_LAYERS]
    shown = ", ".join(f"{layer['name']} ({layer['op']}) {fmt(layer['sqnr_db'], 3)} dB" for layer in worst)
    return f"per-layer SQNR on these samples ({len(layers)} layers), lowest: {shown}"
