"""tinygen's public Python API for Keras models.

    import tinygen.api as tg
    graph = tg.quantize(model, calibration=x_train[:500])          # int8 IR graph
    report = tg.quantization_report(model, calibration=x_train[:500])
    tg.print_report(report)

``model`` is an in-memory ``keras.Model`` or a path (``.keras``, ``.h5``; a SavedModel directory with
``quantizer="tflite"``). ``calibration`` is an array of N samples shaped like the model input, an
iterable of batches, a ``.npy``/``.npz`` path, or "random" (inaccurate; warns).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinygen.ir import Graph
from tinygen.quantize.report import DEFAULT_SAMPLES, QuantizationReport, print_report

OBSERVERS = ("minmax", "percentile", "mse")


def _model_and_name(model: Any, quantizer: str) -> tuple[Any, str | None]:
    if isinstance(model, (str, Path)):
        from tinygen.frontend.keras import is_saved_model, saved_model_as_keras, load_keras_model
        from tinygen.quantize.extract import c_identifier

        path = Path(model)
        name = c_identifier(path.stem if path.is_file() else path.name)
        if quantizer == "tflite" and is_saved_model(path):
            return saved_model_as_keras(path), name
        return load_keras_model(path), name
    return model, None


def quantize(model: Any, calibration: Any, observer: str = "minmax", quantizer: str = "tinygen",
             ptq: str = "auto", int16: str | None = None, int16_budget: int | None = None,
             int16_target_db: float | None = None) -> Graph:
    """Quantize a Keras model to an int8 IR graph (TFLite's int8 scheme).

    ``observer``: "minmax" (TFLite's calibration, default), "percentile" or "mse".
    ``quantizer``: "tinygen" (this package) or "tflite" (TensorFlow's converter, then imported).
    ``ptq``: tinygen's post-training pipeline: "auto" (default: the best of the candidates on held-out
    calibration samples, never worse than "plain"), "plain" (min-max, as TensorFlow's converter), or passes
    joined by "+" ("cle", "smooth", "bc", an observer: see :mod:`tinygen.quantize.pipeline`).
    ``int16``, ``int16_budget``, ``int16_target_db``: mixed precision, as ``--int16`` and its options
    (:mod:`tinygen.quantize.mixed`): Keras layer names (comma-separated), "all" or "auto".
    """
    from tinygen.quantize.mixed import parse_request, using_int16
    from tinygen.quantize.pipeline import using_ptq

    if quantizer == "tflite" and ptq != "auto":
        from tinygen.errors import TinygenError

        raise TinygenError(f"ptq={ptq!r} applies to tinygen's quantizer only: drop it or use quantizer='tinygen'")
    request = parse_request(int16, int16_budget, int16_target_db)
    if quantizer == "tflite" and request is not None:
        from tinygen.errors import TinygenError

        raise TinygenError(f"int16={int16!r} applies to tinygen's quantizer only: drop it or use quantizer='tinygen'")
    with using_ptq(ptq), using_int16(request):
        if isinstance(model, (str, Path)):
            from tinygen.frontend.keras import load_keras_graph

            return load_keras_graph(model, calibration=calibration, observer=observer, quantizer=quantizer)
        from tinygen.frontend.keras import quantize_model

        return quantize_model(model, calibration, observer, quantizer)


def quantize_with_report(model: Any, calibration: Any, observer: str = "minmax", quantizer: str = "tinygen",
                         max_samples: int = DEFAULT_SAMPLES, ptq: str | None = None
                         ) -> tuple[Graph, QuantizationReport]:
    """Quantize once and report on it: ``(graph, report)`` (what ``tinygen convert --report`` needs)."""
    from tinygen.frontend.keras import check_choices

    check_choices(observer, quantizer)
    model, name = _model_and_name(model, quantizer)
    if quantizer == "tflite":
        from tinygen.frontend.keras import input_shape_of, quantize_with_tflite
        from tinygen.quantize.calibration import load_calibration
        from tinygen.quantize.report import build_end_to_end_report

        samples = load_calibration(calibration, input_shape_of(model))
        graph = quantize_with_tflite(model, samples, name)
        return graph, build_end_to_end_report(model, graph, samples, "tflite", max_samples)
    from tinygen.quantize.pipeline import quantize_keras
    from tinygen.quantize.report import build_report

    result = quantize_keras(model, calibration, observer, name, ptq)
    return result.graph, build_report(result.float_graph, result.graph, result.calibration, result.ptq, max_samples,
                                      quantized_from=result.quantized_from, ranges=result.ranges)


def quantization_report(model: Any, calibration: Any, observer: str = "minmax", quantizer: str = "tinygen",
                        max_samples: int = DEFAULT_SAMPLES) -> QuantizationReport:
    """Per-layer SQNR of the int8 graph (reference executor, dequantized) against the float model on the
    first ``max_samples`` calibration samples, plus output SQNR and top-1 agreement.

    With ``quantizer="tflite"`` only the end-to-end figures are available (the converter renames tensors).
    """
    return quantize_with_report(model, calibration, observer, quantizer, max_samples)[1]


__all__ = ["OBSERVERS", "QuantizationReport", "print_report", "quantization_report", "quantize", "quantize_with_report"]
