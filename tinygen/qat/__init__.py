"""Quantization-aware training for tinygen's int8 scheme.

    import tinygen.qat as qat
    qat_model = qat.prepare(model, calibration=x_train[:500])       # trainable, fake-quantized
    qat_model.compile(...); qat_model.fit(x_train, y_train, epochs=3)  # the user's own training
    graph = qat.convert(qat_model)                                  # int8 IR, no re-calibration
    qat_model.save("model_qat.keras")                               # tinygen.qat.load / convert(path)

``prepare`` extracts tinygen's float graph (same layer checks and errors as the quantizer, BatchNorm
folded into the conv/dense weights, ReLUs fused), initialises every activation range from the
calibration data (the PTQ ranges), and rebuilds the graph as Keras layers that fake-quantize weights
and activations on exactly the grids tinygen's quantizer will use. See docs/QAT.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinygen.errors import TinygenError
from tinygen.ir import Graph
from tinygen.qat.ranges import DEFAULT_MOMENTUM, DEFAULT_OBSERVER_STEPS, MODES


def prepare(model: Any, calibration: Any, mode: str = "ema", observer_steps: int = DEFAULT_OBSERVER_STEPS,
            momentum: float = DEFAULT_MOMENTUM) -> Any:
    """A trainable fake-quantized copy of the Keras ``model`` (the original is not modified).

    ``calibration``: as for :func:`tinygen.api.quantize` (array, batches, .npy/.npz path); it sets the
    initial activation ranges (min-max). ``mode``: "ema" (moving-average ranges for ``observer_steps``
    training steps, then frozen) or "learned" (the same, then trainable clipping values).
    """
    if mode not in MODES:
        raise TinygenError(f"unknown QAT range mode {mode!r}; choose one of {', '.join(MODES)}")
    if observer_steps < 0:
        raise TinygenError(f"observer_steps={observer_steps} is negative; give 0 (keep calibration ranges) or more")
    if not 0.0 <= momentum < 1.0:
        raise TinygenError(f"momentum={momentum} is outside [0, 1); typical values are 0.9-0.999")
    from tinygen.qat.graph import build_qat_model
    from tinygen.quantize.calibration import load_calibration
    from tinygen.quantize.extract import keras_to_float_graph
    from tinygen.quantize.observers import observe
    from tinygen.quantize.pipeline import float_chunks

    fgraph = keras_to_float_graph(model)
    samples = load_calibration(calibration, fgraph.tensors[fgraph.inputs[0]].shape)
    names = [t.name for t in fgraph.activation_tensors()]
    ranges = observe(names, lambda: float_chunks(fgraph, samples), "minmax")
    return build_qat_model(fgraph, ranges, mode, observer_steps, momentum)


def load(path: str | Path) -> Any:
    """Load a QAT model saved with ``qat_model.save('x.keras')`` (its custom layers are registered here)."""
    from tinygen.frontend.keras import load_keras_model
    import tinygen.qat.graph  # noqa: F401  (registers the QAT layers with Keras)

    return load_keras_model(path)


def convert(qat_model: Any) -> Graph:
    """The int8 IR graph of a (trained) QAT model or a saved QAT ``.keras`` path: weights and activation
    ranges come from training; nothing is re-calibrated."""
    from tinygen.qat.graph import float_graph_and_ranges, input_folded
    from tinygen.quantize.quantizer import quantize_graph

    if isinstance(qat_model, (str, Path)):
        qat_model = load(qat_model)
    fgraph, ranges = float_graph_and_ranges(qat_model)
    # a rescaling first layer is folded into the input's quantization as prepare() decided (and trained) it
    return quantize_graph(fgraph, ranges, fold_inputs=input_folded(qat_model, fgraph))


def is_qat_model(model: Any) -> bool:
    """Whether ``model`` was made by :func:`prepare` (the frontend's hook to route it to :func:`convert`)."""
    from tinygen.qat.graph import is_qat_model as check

    return check(model)


__all__ = ["MODES", "convert", "is_qat_model", "load", "prepare"]
