"""Keras frontend: load a Keras 3 model file and quantize it to an int8 IR graph.

``.keras`` and ``.h5`` files load with ``keras.saving.load_model``. A SavedModel / ``model.export()``
directory holds a TensorFlow graph, not Keras layers: tinygen's quantizer cannot read its layers, so
it is quantized by TensorFlow's converter (``quantizer="tflite"``) through a ``keras.layers.TFSMLayer``
wrapper, and ``quantizer="tinygen"`` on it is a clear error.

A functional model may have several inputs and outputs: both quantizers give a graph whose inputs and outputs
are the model's, in its order (``model.inputs``, ``model.outputs``), named after the Keras inputs and the output
layers; its calibration is one array per input (see :mod:`tinygen.quantize.calibration`).
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


def _output_list(outputs: Any) -> list[tuple[str | None, Any]]:
    """A TFSMLayer's outputs as (name, tensor) in the model's order (a signature's dict keys ``output_<i>``)."""
    import re

    if isinstance(outputs, dict):
        keys = sorted(outputs, key=lambda k: (0, int(k[7:]), "") if re.fullmatch(r"output_\d+", k) else (1, 0, k))
        return [(str(k), outputs[k]) for k in keys]
    if isinstance(outputs, (list, tuple)):
        return [(f"output_{i}", o) for i, o in enumerate(outputs)]
    return [(None, outputs)]


def saved_model_as_keras(path: Path) -> Any:
    """Wrap a SavedModel's serving signature as a Keras model (for TensorFlow's converter).

    Several inputs need their order, which the serving signature (keyword arguments) does not keep: a
    ``model.export()`` directory's ``serve`` endpoint takes them as a list in the Keras model's order. Several
    outputs come in the signature's ``output_0``, ``output_1``... order, each named after its key."""
    import keras
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures["serving_default"]
    except Exception as exc:
        raise TinygenError(f"{path}: TensorFlow cannot load this SavedModel ({_first_line(exc)})") from exc
    specs = signature.structured_input_signature[1]
    endpoint = "serving_default"
    if len(specs) == 1:
        ordered = [(name, spec) for name, spec in specs.items()]
    else:
        serve_signature = getattr(getattr(loaded, "serve", None), "input_signature", None)
        listed = serve_signature[0] if serve_signature and len(serve_signature) == 1 else None
        if not isinstance(listed, (list, tuple)) or len(listed) != len(specs):
            raise UnsupportedError(
                f"{path}: the SavedModel's serving signature has {len(specs)} inputs ({', '.join(specs)}) but no "
                "input order; tinygen reads several inputs from a Keras model.export() directory (its 'serve' "
                "endpoint orders them), or save the Keras model with model.save('model.keras')"
            )
        ordered = [(str(spec.name), spec) for spec in listed]
        endpoint = "serve"
    inputs = []
    for name, spec in ordered:
        shape = list(spec.shape)
        if any(d is None for d in shape[1:]):
            raise TinygenError(
                f"{path}: SavedModel input {name!r} has shape {tuple(shape)} with unknown dimensions; fix them"
            )
        inputs.append(keras.Input(tuple(shape[1:]), batch_size=1, name=name if len(ordered) > 1 else None))
    outputs = _output_list(keras.layers.TFSMLayer(str(path), call_endpoint=endpoint)(
        inputs if len(inputs) > 1 else inputs[0]))
    if len(outputs) == 1:
        return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs[0][1], name=c_identifier(path.name))
    named = [keras.layers.Identity(name=key)(tensor) for key, tensor in outputs]
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], named, name=c_identifier(path.name))


def input_shape_of(model: Any) -> Any:
    """The model input's shape (batch 1); for a model with several inputs, a list of (input name, shape) in the
    model's order (what :func:`tinygen.quantize.calibration.load_calibration` takes for either)."""
    from tinygen.quantize.extract import fixed_shape, keras_input_name

    if len(model.inputs) == 1:
        return fixed_shape(model.inputs[0].shape, f"model {model.name!r} input")
    return [(keras_input_name(t), fixed_shape(t.shape, f"model {model.name!r} input {keras_input_name(t)!r}"))
            for t in model.inputs]


def _rename(graph: Graph, old: str, new: str) -> None:
    """Rename tensor ``old`` (and the op named after it) to ``new`` everywhere in ``graph``."""
    graph.tensors = {(new if k == old else k): v for k, v in graph.tensors.items()}
    graph.tensors[new].name = new
    for op in graph.ops:
        op.inputs = [new if n == old else n for n in op.inputs]
        op.outputs = [new if n == old else n for n in op.outputs]
        if op.name == old:
            op.name = new
    graph.inputs = [new if n == old else n for n in graph.inputs]
    graph.outputs = [new if n == old else n for n in graph.outputs]
    for state in graph.states:
        state.read = new if state.read == old else state.read
        state.write = new if state.write == old else state.write


def in_model_order(graph: Graph, flatbuffer: bytes, model: Any) -> Graph:
    """The graph of TensorFlow's ``.tflite`` of ``model`` with its inputs and outputs in the model's order and
    named as the model names them (inputs after the Keras inputs, outputs after the layers that make them).

    The converter orders the ``.tflite``'s inputs by name and its outputs as it likes; its serving signature
    maps each model input name, and ``output_<i>`` (the model's output i), to a tensor."""
    import tflite

    from tinygen.frontend.tflite import tensor_names
    from tinygen.quantize.extract import keras_input_name
    from tinygen.tfconvert import input_names

    signature_inputs = input_names(model)
    keras_inputs = [keras_input_name(t) for t in model.inputs]
    keras_outputs = [str(n) for n in getattr(model, "output_names", None) or [t.name for t in model.outputs]]
    keras_outputs = [n if keras_outputs.index(n) == i else f"{n}_{i}" for i, n in enumerate(keras_outputs)]
    ir_names = tensor_names(flatbuffer)
    fb = tflite.Model.GetRootAs(flatbuffer, 0)
    if fb.SignatureDefsLength() == 0:
        if len(graph.inputs) == 1 and len(graph.outputs) == 1:
            return graph
        raise TinygenError(f"model {model.name!r}: TensorFlow's .tflite has no signature to map its inputs and outputs")
    sig = fb.SignatureDefs(0)
    sig_in = {sig.Inputs(i).Name().decode(): ir_names[sig.Inputs(i).TensorIndex()] for i in range(sig.InputsLength())}
    sig_out = {sig.Outputs(i).Name().decode(): ir_names[sig.Outputs(i).TensorIndex()]
               for i in range(sig.OutputsLength())}
    inputs = [sig_in.get(name) for name in signature_inputs]
    outputs = [sig_out.get(f"output_{i}", sig_out.get(name)) for i, name in enumerate(keras_outputs)]
    if (len(sig_in) == 1 and len(keras_inputs) == 1) and inputs[0] is None:
        inputs = list(sig_in.values())
    if (len(sig_out) == 1 and len(keras_outputs) == 1) and outputs[0] is None:
        outputs = list(sig_out.values())
    if sorted(map(str, inputs)) != sorted(graph.inputs) or sorted(map(str, outputs)) != sorted(graph.outputs):
        raise TinygenError(
            f"model {model.name!r}: the .tflite's signature (inputs {sorted(sig_in)}, outputs {sorted(sig_out)}) does "
            f"not map onto the model's inputs {keras_inputs} and outputs {keras_outputs}"
        )
    graph.inputs = [str(n) for n in inputs]
    graph.outputs = [str(n) for n in outputs]
    for old, new in [*zip(list(graph.inputs), keras_inputs), *zip(list(graph.outputs), keras_outputs)]:
        if old != new and new not in graph.tensors:
            _rename(graph, old, new)
    graph.validate()
    return graph


def quantize_with_tflite(model: Any, calibration: Any, name: str | None = None) -> Graph:
    """TensorFlow's converter (same calibration data) -> int8 .tflite -> tinygen's importer. The graph's inputs and
    outputs are the model's, in its order (:func:`in_model_order`)."""
    from tinygen.frontend.tflite import import_tflite
    from tinygen.quantize.calibration import load_calibration
    from tinygen.tfconvert import keras_to_int8_tflite

    samples = load_calibration(calibration, input_shape_of(model))
    if isinstance(samples, list):  # several inputs: one list of batch-1 arrays per sample, in the model's order
        samples = [[x[i:i + 1] for x in samples] for i in range(samples[0].shape[0])]
    flatbuffer = keras_to_int8_tflite(model, samples)
    graph = import_tflite(flatbuffer, name=c_identifier(name or model.name))
    return in_model_order(graph, flatbuffer, model)


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
