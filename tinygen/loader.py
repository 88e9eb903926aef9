"""Turn whatever the user points at into a quantized int8 IR graph.

An int8 ``.tflite`` is imported as it is. A Keras model (``.keras``, ``.h5``, a SavedModel or
export directory) is quantized with calibration data by tinygen's quantizer, or by TensorFlow's
converter with ``quantizer="tflite"``.
"""

from __future__ import annotations

from pathlib import Path

from tinygen.errors import TinygenError
from tinygen.ir import Graph

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def load_graph(
    path: str | Path,
    *,
    calibration: str | None = None,
    observer: str = "minmax",
    quantizer: str = "tinygen",
) -> Graph:
    """Load ``path`` as an int8 graph. ``calibration`` is a ``.npy``/``.npz`` file or "random"."""
    path = Path(path)
    if not path.exists():
        raise TinygenError(f"{path}: no such file or directory")
    if path.suffix.lower() == ".tflite":
        from tinygen.frontend.tflite import import_tflite

        return import_tflite(path)
    if path.suffix.lower() in KERAS_SUFFIXES or path.is_dir():
        from tinygen.frontend.keras import load_keras_graph

        return load_keras_graph(path, calibration=calibration, observer=observer, quantizer=quantizer)
    raise TinygenError(
        f"{path}: not a model tinygen can read; give an int8 .tflite file, a Keras model "
        f"({', '.join(KERAS_SUFFIXES)}) or a SavedModel directory"
    )
