"""The model under validation: its int8 graph, quantized exactly as ``tinygen convert`` does, and its float
side (tinygen's float graph, the Keras model, or ``--float-model`` for a .tflite)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinygen.errors import TinygenError


@dataclass
class Loaded:
    graph: Any  # tinygen.ir.Graph (int8)
    #: tinygen's float graph (tinygen's quantizer): float outputs, and per-layer SQNR (same tensor names)
    float_graph: Any = None
    #: the Keras model run for the float outputs when there is no float graph (--quantizer tflite, QAT,
    #: --float-model)
    keras_model: Any = None
    #: what the float outputs come from, for the report
    float_source: str | None = None

    def float_outputs(self, xs: list[np.ndarray]) -> tuple[list[np.ndarray], dict[str, np.ndarray] | None]:
        """(float outputs in graph-output order, every float-graph tensor by name or None) for a batch of float
        inputs (one array per model input)."""
        if self.float_graph is not None:
            from tinygen.quantize.floatexec import run_float

            values = run_float(self.float_graph, xs)
            return [values[name] for name in self.float_graph.outputs], values
        predicted = self.keras_model.predict(xs if len(xs) > 1 else xs[0], batch_size=len(xs[0]), verbose=0)
        outs = list(predicted) if isinstance(predicted, (list, tuple)) else [predicted]
        if len(outs) != len(self.graph.outputs):
            raise TinygenError(f"the float model ({self.float_source}) has {len(outs)} outputs, the int8 model "
                               f"{len(self.graph.outputs)}; give the float model the .tflite was converted from")
        return [np.asarray(o) for o in outs], None

    @property
    def has_float(self) -> bool:
        return self.float_graph is not None or self.keras_model is not None


def load_model(model: str, calibration: str | None, observer: str, quantizer: str,
               float_model: str | None = None) -> Loaded:
    """The int8 graph and, for a Keras model (or a .tflite with ``float_model``), its float side."""
    from tinygen import progress
    from tinygen.commands.common import load_from_options
    from tinygen.loader import KERAS_SUFFIXES

    path = Path(model)
    if not path.exists():
        raise TinygenError(f"{path}: no such file or directory")
    if not (path.suffix.lower() in KERAS_SUFFIXES or path.is_dir()):
        loaded = Loaded(load_from_options(model, calibration, observer, quantizer))
        if float_model:
            loaded.keras_model = _keras_float_model(float_model, len(loaded.graph.inputs))
            loaded.float_source = f"--float-model {Path(float_model).name}"
        return loaded
    if float_model:
        raise TinygenError(f"--float-model is for a .tflite MODEL; {path.name} is a Keras model, its own float "
                           "model is the float side already")
    from tinygen.api import _model_and_name
    from tinygen.frontend.keras import check_choices, quantize_model

    check_choices(observer, quantizer)
    with progress.step(f"quantizing (calibration, {quantizer} quantizer) {path.name}"):
        keras_model, name = _model_and_name(path, quantizer)
        if quantizer == "tinygen" and not _is_qat(keras_model):
            from tinygen.quantize.pipeline import quantize_keras

            quantized = quantize_keras(keras_model, calibration, observer, name)
            return Loaded(quantized.graph, float_graph=quantized.float_graph, float_source="float model")
        graph = quantize_model(keras_model, calibration, observer, quantizer, name)
    return Loaded(graph, keras_model=keras_model, float_source="float model")


def _is_qat(model: Any) -> bool:
    from tinygen.frontend.keras import _qat_module

    qat = _qat_module()
    return bool(qat is not None and qat.is_qat_model(model))


def _keras_float_model(path: str, inputs: int) -> Any:
    if importlib.util.find_spec("tensorflow") is None:
        raise TinygenError(f"--float-model {path}: running a Keras model needs TensorFlow, which is not installed: "
                           "pip install 'tinygen[keras]'")
    from tinygen.frontend.keras import load_keras_model

    model = load_keras_model(Path(path))
    if len(model.inputs) != inputs:
        raise TinygenError(f"--float-model {path}: {len(model.inputs)} input(s), the .tflite has {inputs}; give the "
                           "Keras model the .tflite was converted from")
    return model
