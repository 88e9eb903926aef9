"""Keras frontend: load a Keras 3 model file and quantize it to an int8 IR graph.

``.keras`` and ``.h5`` files load with ``keras.saving.load_model``. A SavedModel / ``model.export()``
directory holds a TensorFlow graph, not Keras layers: tinygen's quantizer cannot read its layers, so
it is quantized by TensorFlow's converter (``quantizer="tflite"``) through a ``keras.layers.TFSMLayer``
wrapper, and ``quantizer="tinygen"`` on it is a clear error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph
from tinygen.quantize.extract import c_identifier

QUANTIZERS = ("tinygen", "tflite")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def load_keras_model(path: str | Path) -> Any:
    """A Keras model from a ``.keras``/``.h5`` file (raises TinygenError for anything else)."""
    path = Path(path)
    if not path.exists():
        raise TinygenError(f"{path}: no such file or directory")
    if path.is_dir():
        if is_saved_model(path):
            raise UnsupportedError(
                f"{path} is a TensorFlow SavedModel: it has no Keras layers for tinygen's quantizer to read; "
                "quantize it with --quantizer tflite, or save the Keras model with model.save('model.keras')"
            )
        raise TinygenError(f"{path} is a directory without saved_model.pb: not a SavedModel or Keras model")
    import keras

    _qat_module()  # registers the QAT layers, so saved QAT models load
    try:
        model = keras.saving.load_model(str(path), compile=False)
    except Exception as exc:  # Keras raises many types for unreadable files; report one line
        raise TinygenError(
            f"{path}: Keras cannot load this file as a model ({_first_line(exc)}); give a model saved with "
            "model.save('model.keras') or an .h5 file (custom layers are not supported)"
        ) from exc
    if not isinstance(model, keras.Model):
        raise TinygenError(f"{path} holds a {type(model).__name__}, not a Keras model")
    return model


def saved_model_as_keras(path: Path) -> Any:
    """Wrap a SavedModel's serving signature as a one-input Keras model (for TensorFlow's converter)."""
    import keras
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures["serving_default"]
    except Exception as exc:
        raise TinygenError(f"{path}: TensorFlow cannot load this SavedModel ({_first_line(exc)})") from exc
    specs = signature.structured_input_signature[1]
    if len(specs) != 1:
        raise UnsupportedError(
            f"{path}: the SavedModel's serving signature has {len(specs)} inputs ({', '.join(specs)}); "
            "tinygen supports single-input models"
        )
    spec = next(iter(specs.values()))
    shape = list(spec.shape)
    if any(d is None for d in shape[1:]):
        raise TinygenError(f"{path}: SavedModel input has shape {tuple(shape)} with unknown dimensions; fix them")
    inputs = keras.Input(tuple(shape[1:]), batch_size=1)
    outputs = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")(inputs)
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise UnsupportedError(f"{path}: the SavedModel has {len(outputs)} outputs; tinygen supports one")
        outputs = next(iter(outputs.values()))
    return keras.Model(inputs, outputs, name=c_identifier(path.name))


def input_shape_of(model: Any) -> tuple[int, ...]:
    from tinygen.quantize.extract import fixed_shape

    if len(model.inputs) != 1:
        raise UnsupportedError(
            f"model {model.name!r} has {len(model.inputs)} inputs; tinygen supports single-input models"
        )
    return fixed_shape(model.inputs[0].shape, f"model {model.name!r} input")


def quantize_with_tflite(model: Any, calibration: Any, name: str | None = None) -> Graph:
    """TensorFlow's converter (same calibration data) -> int8 .tflite -> tinygen's importer."""
    from tinygen.frontend.tflite import import_tflite
    from tinygen.quantize.calibration import load_calibration
    from tinygen.tfconvert import keras_to_int8_tflite

    samples = load_calibration(calibration, input_shape_of(model))
    flatbuffer = keras_to_int8_tflite(model, samples)
    return import_tflite(flatbuffer, name=c_identifier(name or model.name))


def _qat_module() -> Any:
    """tinygen.qat when installed (it registers its Keras layers on import), else None."""
    try:
        import tinygen.qat
        import tinygen.qat.graph  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("tinygen.qat"):
            return None
        raise
    return tinygen.qat


def check_choices(observer: str, quantizer: str) -> None:
    from tinygen.quantize.observers import OBSERVERS

    if quantizer not in QUANTIZERS:
        raise TinygenError(f"unknown quantizer {quantizer!r}; choose one of {', '.join(QUANTIZERS)}")
    if observer not in OBSERVERS:
        raise TinygenError(f"unknown observer {observer!r}; choose one of {', '.join(OBSERVERS)}")
    if quantizer == "tflite" and observer != "minmax":
        raise TinygenError(
            f"observer {observer!r} applies to tinygen's quantizer only: TensorFlow's converter always calibrates "
            "with min-max; drop --observer or use --quantizer tinygen"
        )


def quantize_model(model: Any, calibration: Any, observer: str = "minmax", quantizer: str = "tinygen",
                   name: str | None = None) -> Graph:
    """An in-memory Keras model -> int8 graph with the chosen quantizer."""
    check_choices(observer, quantizer)
    qat = _qat_module()
    if qat is not None and qat.is_qat_model(model):
        # A quantization-aware-trained model carries its own ranges: no calibration, no observer.
        graph = qat.convert(model)
        graph.name = c_identifier(name or graph.name)
        return graph
    if quantizer == "tflite":
        return quantize_with_tflite(model, calibration, name)
    from tinygen.quantize.pipeline import quantize_keras

    return quantize_keras(model, calibration, observer, name).graph


def load_keras_graph(
    path: str | Path,
    calibration: Any = None,
    observer: str = "minmax",
    quantizer: str = "tinygen",
) -> Graph:
    """Keras model file (``.keras``, ``.h5``) or SavedModel directory -> int8 IR graph.

    ``calibration``: a ``.npy``/``.npz`` path, an array, an iterable of batches, or "random".
    """
    path = Path(path)
    name = c_identifier(path.stem if path.is_file() else path.name)
    check_choices(observer, quantizer)
    if is_saved_model(path) and quantizer == "tflite":
        if calibration is None:
            raise TinygenError(
                f"{path}: a SavedModel needs calibration data to be quantized to int8; pass --calibration data.npy"
            )
        return quantize_with_tflite(saved_model_as_keras(path), calibration, name)
    model = load_keras_model(path)
    return quantize_model(model, calibration, observer, quantizer, name)
