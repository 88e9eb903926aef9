"""``tinygen validate MODEL --inputs X.npy [--labels y.npy | --expected Y.npy]``: does the deployed model still
do its job on the user's own data?

Every sample runs through the float model (Keras models: tinygen's float graph executor, or the Keras model
itself with ``--quantizer tflite``), tinygen's int8 reference and the generated C compiled on the host. The
C outputs must equal the reference's bit for bit. Printed (and written with ``--json``): top-1/top-k accuracy
and the int8 confusion matrix with labels; float/int8 top-1 agreement; RMSE, MAE, cosine similarity and SNR
of the dequantized int8 outputs against the float outputs (or ``--expected``).

This first slice runs on the host only and takes models with one input; metrics are of output 0.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from tinygen import ports
from tinygen.commands.common import model_options, rounding_option
from tinygen.errors import TinygenError

TOP_K = 5


@dataclass
class Loaded:
    graph: Any  # tinygen.ir.Graph
    #: float outputs (output 0) for a batch of float inputs; None for a .tflite
    float_model: Callable[[np.ndarray], np.ndarray] | None


def load_model(model: str, calibration: str | None, observer: str, quantizer: str) -> Loaded:
    """The int8 graph, quantized exactly as ``tinygen convert`` does, and for a Keras model its float model."""
    from tinygen import progress
    from tinygen.commands.common import load_from_options
    from tinygen.loader import KERAS_SUFFIXES

    path = Path(model)
    if not path.exists():
        raise TinygenError(f"{path}: no such file or directory")
    if not (path.suffix.lower() in KERAS_SUFFIXES or path.is_dir()):
        return Loaded(load_from_options(model, calibration, observer, quantizer), None)
    from tinygen.api import _model_and_name
    from tinygen.frontend.keras import check_choices, quantize_model

    check_choices(observer, quantizer)
    with progress.step(f"quantizing (calibration, {quantizer} quantizer) {path.name}"):
        keras_model, name = _model_and_name(path, quantizer)
        qat = quantizer == "tinygen" and _is_qat(keras_model)
        if quantizer == "tinygen" and not qat:
            from tinygen.quantize.floatexec import run_float
            from tinygen.quantize.pipeline import quantize_keras

            quantized = quantize_keras(keras_model, calibration, observer, name)
            fgraph = quantized.float_graph
            return Loaded(quantized.graph, lambda x: run_float(fgraph, x)[fgraph.outputs[0]])
        graph = quantize_model(keras_model, calibration, observer, quantizer, name)

    def predict(x: np.ndarray) -> np.ndarray:
        out = keras_model.predict(x, batch_size=256, verbose=0)
        return np.asarray(out[0] if isinstance(out, (list, tuple)) else out)

    return Loaded(graph, predict)


def _is_qat(model: Any) -> bool:
    from tinygen.frontend.keras import _qat_module

    qat = _qat_module()
    return bool(qat is not None and qat.is_qat_model(model))


def load_array(path: str, what: str) -> np.ndarray:
    """One array from a .npy, or a .npz holding one array."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise TinygenError(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
        raise TinygenError(f"{what} {path}: not a .npy/.npz file (save the array with numpy.save or numpy.savez)")
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                keys = list(data.keys())
                if len(keys) != 1:
                    raise TinygenError(f"{what} {path}: the .npz holds {len(keys)} arrays ({', '.join(keys) or 'none'}); "
                                       "give one array")
                return np.asarray(data[keys[0]])
        return np.asarray(data)
    except (OSError, ValueError, EOFError) as exc:
        raise TinygenError(f"{what} {path}: cannot read it as .npy/.npz ({str(exc).splitlines()[0]})") from None


def quantize_inputs(graph: Any, port: Any, data: np.ndarray, path: str, rounding: str) -> tuple[np.ndarray, np.ndarray]:
    """(int8 core input vectors [N, size], float inputs [N, *shape] for the float model) from the user's data:
    float values are quantized with the core input's quantization (TFLite's QUANTIZE: round half away from
    zero, clamp); int8 data is taken as it is (and dequantized for the float model)."""
    core = graph.tensor(port.core)
    shape = tuple(core.shape[1:]) if len(core.shape) > 1 else tuple(core.shape)
    size = core.size
    if data.ndim < 1 or int(np.prod(data.shape[1:], dtype=np.int64)) != size or data.shape[0] == 0:
        raise TinygenError(f"--inputs {path}: shape {data.shape} is not N samples of the model input's shape "
                           f"{tuple(core.shape)} (batch first: (N, {', '.join(map(str, shape))}))")
    flat = data.reshape(len(data), size)
    scale, zero_point = core.quant.scalar()
    table = ports.uint8_edge_table(graph, port, rounding)
    if not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
        raise TinygenError(f"--inputs {path}: {data.dtype} data; give float values or int8 (already quantized)")
    q = ports.core_values(graph, port, flat, rounding)
    if data.dtype == np.int8 or (data.dtype == np.uint8 and table is not None):
        floats = (q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
    else:
        floats = flat.astype(np.float32)
    return np.ascontiguousarray(q, dtype=np.int8), floats.reshape(len(data), *shape)


def topk_accuracy(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def error_metrics(reference: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, mean cosine similarity per sample and SNR (dB) of ``values`` against ``reference``."""
    from tinygen.quantize.report import sqnr_db

    ref = reference.reshape(len(reference), -1).astype(np.float64)
    val = values.reshape(len(values), -1).astype(np.float64)
    err = val - ref
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(val, axis=1)
    dots = np.sum(ref * val, axis=1)
    cosines = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), np.where(np.all(err == 0, axis=1), 1.0, 0.0))
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "cosine": float(np.mean(cosines)),
        "snr_db": sqnr_db(float(np.sum(ref**2)), float(np.sum(err**2))),
    }


def _labels(path: str, count: int, classes: int) -> np.ndarray:
    data = load_array(path, "--labels")
    if data.ndim == 2 and data.shape[1] == classes and classes > 1:  # one-hot (or scores)
        data = np.argmax(data, axis=1)
    data = data.reshape(-1) if data.ndim == 2 and data.shape[1] == 1 else data
    if data.ndim != 1:
        raise TinygenError(f"--labels {path}: shape {data.shape}; give one class index per sample (N,) or one-hot "
                           f"(N, {classes})")
    if len(data) != count:
        raise TinygenError(f"--labels {path}: {len(data)} labels for {count} input samples; give one per sample")
    if not np.issubdtype(data.dtype, np.integer) and (
            not np.issubdtype(data.dtype, np.floating) or np.any(data != np.round(data))):
        raise TinygenError(f"--labels {path}: {data.dtype} values; give integer class indices")
    labels = data.astype(np.int64)
    if labels.min() < 0 or labels.max() >= classes:
        raise TinygenError(f"--labels {path}: class indices from {labels.min()} to {labels.max()}, the model has "
                           f"{classes} classes (0 to {classes - 1})")
    return labels


def _fmt(value: float, digits: int = 4) -> str:
    if math.isinf(value):
        return "exact" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def validate(model: str, inputs: str, labels: str | None, expected: str | None, calibration: str | None,
             observer: str, quantizer: str, rounding: str) -> dict[str, Any]:
    """Run everything and return the results (what ``--json`` writes)."""
    from tinygen import hostrun, ports, progress
    from tinygen.codegen import generate
    from tinygen.commands.test import Prepared, core_outputs, golden

    if labels and expected:
        raise TinygenError("give --labels or --expected, not both")
    data = load_array(inputs, "--inputs")  # before the (slow) quantization: a bad file fails fast
    loaded = load_model(model, calibration, observer, quantizer)
    graph = loaded.graph
    _, ins, outs = ports.split(graph)
    if len(ins) != 1:
        described = ", ".join(f"{p.declared} {tuple(graph.tensor(p.declared).shape)}" for p in ins)
        raise TinygenError(f"model {graph.name!r} has {len(ins)} inputs ({described}); tinygen validate takes "
                           "models with one input for now")
    vectors, floats = quantize_inputs(graph, ins[0], data, inputs, rounding)
    count = len(vectors)
    out_port = outs[0]
    out_t = graph.tensor(out_port.core)
    if out_t.dtype != "int8" or out_t.quant is None:
        raise TinygenError(f"model {graph.name!r}: output 0 is {out_t.dtype} (not quantized int8 values); "
                           "validate compares int8 outputs")

    with tempfile.TemporaryDirectory(prefix="tinygen-validate-") as tmp:
        work = Path(tmp)
        with progress.step("generating and compiling the C library for the host"):
            library = generate(graph, work / "lib", rounding=rounding, force=True)
            program = hostrun.compile_library(library, work / "host")
        prep = Prepared(graph, library, None, None, rounding, work)
        with progress.step(f"running {count} samples through tinygen's int8 reference"):
            refs, _ = golden(prep, vectors)
        with progress.step(f"running {count} samples through the generated C"):
            c_outputs = hostrun.run(program, vectors)
    mismatches = [i for i, (ref, c) in enumerate(zip(refs, c_outputs)) if core_outputs(prep, ref) != c]

    scale, zero_point = out_t.quant.scalar()
    int8_out = np.stack([ref[out_port.core].reshape(-1) for ref in refs])
    dequantized = (int8_out.astype(np.float64) - zero_point) * float(scale)
    classes = dequantized.shape[1]

    float_out = None
    if loaded.float_model is not None:
        with progress.step(f"running {count} samples through the float model"):
            float_out = np.asarray(loaded.float_model(floats), np.float64).reshape(count, -1)
    target, against = float_out, "float model"
    if expected:
        target = load_array(expected, "--expected").astype(np.float64)
        if target.size != dequantized.size or len(target) != count:
            raise TinygenError(f"--expected {expected}: shape {target.shape}; the model gives {count} samples of "
                               f"{tuple(out_t.shape)} (N, {classes})")
        target, against = target.reshape(count, -1), f"--expected {Path(expected).name}"

    result: dict[str, Any] = {"model": str(model), "name": graph.name, "samples": count, "classes": classes,
                              "rounding": rounding}
    if labels:
        y = _labels(labels, count, classes)
        acc: dict[str, Any] = {"int8": float(np.mean(np.argmax(dequantized, axis=1) == y))}
        if float_out is not None:
            acc["float"] = float(np.mean(np.argmax(float_out, axis=1) == y))
        result["accuracy"] = acc
        if classes > TOP_K:
            top: dict[str, Any] = {"k": TOP_K, "int8": topk_accuracy(y, dequantized, TOP_K)}
            if float_out is not None:
                top["float"] = topk_accuracy(y, float_out, TOP_K)
            result["top_k_accuracy"] = top
        matrix = np.zeros((classes, classes), dtype=np.int64)
        np.add.at(matrix, (y, np.argmax(dequantized, axis=1)), 1)
        result["confusion_matrix"] = matrix.tolist()
    if float_out is not None and classes > 1:
        result["top1_agreement"] = float(np.mean(np.argmax(float_out, axis=1) == np.argmax(dequantized, axis=1)))
    if target is not None:
        result["errors"] = {"against": against, **error_metrics(target, dequantized)}
    result["c_bit_exact"] = {"samples": count, "bit_exact": count - len(mismatches), "mismatched": mismatches}
    return result


def report_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"{result['name']}: {result['samples']} samples, {result['classes']} outputs"]
    if "accuracy" in result:
        acc = result["accuracy"]
        parts = ([f"float {acc['float']:.2%}"] if "float" in acc else []) + [f"int8 {acc['int8']:.2%}"]
        lines.append(f"top-1 accuracy: {', '.join(parts)}")
        if "top_k_accuracy" in result:
            top = result["top_k_accuracy"]
            parts = ([f"float {top['float']:.2%}"] if "float" in top else []) + [f"int8 {top['int8']:.2%}"]
            lines.append(f"top-{top['k']} accuracy: {', '.join(parts)}")
    if "top1_agreement" in result:
        lines.append(f"float/int8 top-1 agreement: {result['top1_agreement']:.2%}")
    if "errors" in result:
        e = result["errors"]
        lines.append(f"int8 vs {e['against']}: RMSE {_fmt(e['rmse'])}, MAE {_fmt(e['mae'])}, cosine "
                     f"{_fmt(e['cosine'], 6)}, SNR {_fmt(e['snr_db'], 3)} dB")
    elif "accuracy" not in result:
        lines.append("no float reference: give --expected outputs (or --labels) for accuracy and error figures")
    if "confusion_matrix" in result:
        matrix = result["confusion_matrix"]
        width = max(3, len(str(max(max(row) for row in matrix))), len(str(len(matrix) - 1)))
        lines.append("confusion matrix (int8; rows: label, columns: predicted):")
        lines.append(" " * (width + 3) + " ".join(f"{c:>{width}}" for c in range(len(matrix))))
        for label, row in enumerate(matrix):
            lines.append(f"{label:>{width}} | " + " ".join(f"{v:>{width}}" for v in row))
    c = result["c_bit_exact"]
    lines.append(f"C == reference: {c['bit_exact']} of {c['samples']} samples bit-exact")
    return lines


@click.command("validate")
@click.argument("model", metavar="MODEL")
@click.option("--inputs", "inputs", required=True, metavar="X.npy",
              help="Samples (.npy/.npz, batch first): float values (quantized with the model's input quantization) "
                   "or int8.")
@click.option("--labels", "labels", default=None, metavar="Y.npy",
              help="Class index of each sample (or one-hot): accuracy and the confusion matrix.")
@click.option("--expected", "expected", default=None, metavar="Y.npy",
              help="Expected outputs of each sample: error figures against these instead of the float model.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), default=None,
              help="Write every figure to this JSON file.")
@click.option("--min-accuracy", type=float, default=None,
              help="Fail (exit status 1) when int8 top-1 accuracy (a fraction, 0 to 1) is below this.")
@rounding_option
@model_options
def command(model: str, inputs: str, labels: str | None, expected: str | None, json_file: str | None,
            min_accuracy: float | None, rounding: str, calibration: str | None, observer: str, quantizer: str) -> None:
    """Run MODEL on your samples: float vs int8 accuracy and errors, and the generated C bit-exact on the host."""
    if min_accuracy is not None and not labels:
        raise TinygenError("--min-accuracy needs --labels")
    result = validate(model, inputs, labels, expected, calibration, observer, quantizer, rounding)
    for line in report_lines(result):
        click.echo(line)
    failures = []
    mismatched = result["c_bit_exact"]["mismatched"]
    if mismatched:
        shown = ", ".join(map(str, mismatched[:10])) + (" ..." if len(mismatched) > 10 else "")
        failures.append(f"the generated C differs from tinygen's reference on {len(mismatched)} sample(s): "
                        f"sample {shown} (0-based)")
    if min_accuracy is not None and result["accuracy"]["int8"] < min_accuracy:
        failures.append(f"int8 top-1 accuracy {result['accuracy']['int8']:.2%} is below --min-accuracy "
                        f"{min_accuracy:.2%}")
    result["passed"] = not failures
    result["failures"] = failures
    if json_file:
        try:
            Path(json_file).write_text(json.dumps(_jsonable(result), indent=2) + "\n")
        except OSError as exc:
            raise TinygenError(f"--json {json_file}: cannot write it ({exc.strerror or exc})") from None
    if failures:
        raise TinygenError("; ".join(failures))
    click.echo("PASS")
