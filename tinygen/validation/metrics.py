"""The figures of a validation run: accuracy, confusion matrix, error figures and per-layer SQNR."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygen.quantize.report import dequantize, sqnr_db

TOP_K = 5


def topk_accuracy(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def error_metrics(reference: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, L2 relative error (||values - reference||_2 / ||reference||_2 over every value), mean cosine
    similarity per sample and SNR (dB) of ``values`` against ``reference``."""
    ref = reference.reshape(len(reference), -1).astype(np.float64)
    val = values.reshape(len(values), -1).astype(np.float64)
    err = val - ref
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(val, axis=1)
    dots = np.sum(ref * val, axis=1)
    cosines = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), np.where(np.all(err == 0, axis=1), 1.0, 0.0))
    signal, noise = float(np.sum(ref**2)), float(np.sum(err**2))
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "l2_relative": float(np.sqrt(noise / signal)) if signal > 0 else (0.0 if noise == 0 else float("inf")),
        "cosine": float(np.mean(cosines)),
        "snr_db": sqnr_db(signal, noise),
    }


def classification(labels: np.ndarray, int8: np.ndarray, floats: np.ndarray | None) -> dict[str, Any]:
    """Top-1 (and top-k, for more than k classes) accuracy of the int8 (and float) outputs and the int8
    confusion matrix (rows: label, columns: predicted)."""
    classes = int8.shape[1]
    result: dict[str, Any] = {"accuracy": {"int8": float(np.mean(np.argmax(int8, axis=1) == labels))}}
    if floats is not None:
        result["accuracy"]["float"] = float(np.mean(np.argmax(floats, axis=1) == labels))
    if classes > TOP_K:
        top: dict[str, Any] = {"k": TOP_K, "int8": topk_accuracy(labels, int8, TOP_K)}
        if floats is not None:
            top["float"] = topk_accuracy(labels, floats, TOP_K)
        result["top_k_accuracy"] = top
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, np.argmax(int8, axis=1)), 1)
    result["confusion_matrix"] = matrix.tolist()
    return result


def output_figures(int8: np.ndarray, floats: np.ndarray | None, target: np.ndarray | None,
                   against: str | None) -> dict[str, Any]:
    """Float/int8 top-1 agreement (more than one value) and the error figures against ``target``."""
    result: dict[str, Any] = {}
    if floats is not None and int8.shape[1] > 1:
        result["top1_agreement"] = float(np.mean(np.argmax(floats, axis=1) == np.argmax(int8, axis=1)))
    if target is not None:
        result["errors"] = {"against": against, **error_metrics(target, int8)}
    return result


class LayerSqnr:
    """Per-layer SQNR of the int8 reference against tinygen's float graph (same tensor names), accumulated
    batch by batch over the user's samples: 10·log10(Σ float² / Σ error²), as the quantization report
    computes it on calibration data."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.sums: dict[str, list[float]] = {}

    def add(self, float_values: dict[str, np.ndarray], refs: list[dict[str, np.ndarray]]) -> None:
        for op in self.graph.ops:
            out = op.outputs[0]
            if self.graph.tensors[out].dtype != "int8" or out not in float_values:
                continue
            q = dequantize(self.graph, out, np.stack([r[out].reshape(-1) for r in refs]))
            f = float_values[out].reshape(len(refs), -1).astype(np.float64)
            sums = self.sums.setdefault(out, [0.0, 0.0])
            sums[0] += float(np.sum(f**2))
            sums[1] += float(np.sum((f - q) ** 2))

    def layers(self) -> list[dict[str, Any]]:
        """``{name, op, tensor, sqnr_db}`` per layer in execution order."""
        return [{"name": op.name, "op": op.kind if op.activation == "none" else f"{op.kind}+{op.activation}",
                 "tensor": op.outputs[0], "sqnr_db": sqnr_db(*self.sums[op.outputs[0]])}
                for op in self.graph.ops if op.outputs[0] in self.sums]
