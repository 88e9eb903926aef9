"""TensorFlow's own converter, full-integer post-training quantization (int8 weights and activations).

Used by the test corpus, by ``--quantizer tflite`` and as a comparison point for tinygen's quantizer.
TensorFlow is imported lazily: importing it takes seconds.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np

from tinygen.errors import TinygenError


def input_names(model: Any) -> list[str]:
    """The input names of the converter's serving signature: the names of the model's input tensors (those of
    its InputLayers when ``keras.Input(name=...)`` named them, else ``keras_tensor_<n>``)."""
    return [str(t.name).split(":")[0] for t in model.inputs]


def _samples(model: Any, representative: Iterable[Any] | np.ndarray) -> list[list[np.ndarray]]:
    """Materialise the calibration data once: the converter iterates the dataset more than once and
    must see the same samples each time. Each sample becomes a list with one batch-1 array per input, in the
    model's input order (a sample given as a dict is keyed by input name)."""
    from tinygen.quantize.extract import keras_input_name

    inputs = model.inputs
    namings = [input_names(model), [keras_input_name(t) for t in inputs]]
    samples: list[list[np.ndarray]] = []
    for sample in representative:
        if isinstance(sample, dict):
            names = next((n for n in namings if sorted(n) == sorted(map(str, sample))), None)
            if names is None:
                raise TinygenError(
                    f"calibration sample keyed {sorted(map(str, sample))} does not match the model's inputs "
                    f"{namings[1]}"
                )
            sample = [sample[n] for n in names]
        arrays = list(sample) if isinstance(sample, (list, tuple)) else [sample]
        if len(arrays) != len(inputs):
            raise TinygenError(
                f"calibration sample has {len(arrays)} arrays but the model has {len(inputs)} inputs; "
                "give one array per input"
            )
        batch: list[np.ndarray] = []
        for array, spec in zip(arrays, inputs):
            array = np.asarray(array, dtype=np.float32)
            want = tuple(1 if d is None else int(d) for d in spec.shape)
            if array.shape != want:
                if array.size != int(np.prod(want)):
                    raise TinygenError(
                        f"calibration sample of shape {array.shape} does not fit model input "
                        f"{spec.name!r} of shape {want}"
                    )
                array = array.reshape(want)
            batch.append(array)
        samples.append(batch)
    if not samples:
        raise TinygenError("calibration data is empty; give at least one representative input sample")
    return samples


def _batch_one(model: Any) -> Any:
    """The same model (same layers, same weights) built on batch-1 inputs."""
    import keras

    inputs = [keras.Input(tuple(spec.shape[1:]), batch_size=1, dtype=spec.dtype, name=spec.name.split(":")[0])
              for spec in model.inputs]
    try:
        clone = keras.models.clone_model(model, input_tensors=inputs if len(inputs) > 1 else inputs[0])
    except Exception as exc:  # Keras raises several types for models it cannot clone
        raise TinygenError(
            f"model {model.name!r} has an unknown batch size and could not be rebuilt with batch 1 for TensorFlow's "
            f"converter ({type(exc).__name__}); build it with keras.Input(shape, batch_size=1)"
        ) from exc
    clone.set_weights(model.get_weights())
    return clone


def keras_to_int8_tflite(model: Any, representative: Iterable[Any] | np.ndarray, float_io: bool = False) -> bytes:
    """Convert a Keras model to a full-integer int8 ``.tflite`` (TFLITE_BUILTINS_INT8 only).

    ``representative``: an array whose first axis enumerates samples, or an iterable of samples
    (an array each, or for multi-input models a list/tuple of arrays in the model's input order or a dict
    keyed by input name). Input/output tensors are int8 unless ``float_io`` (then the converter adds
    QUANTIZE/DEQUANTIZE at the edges).

    The ``.tflite``'s inputs and outputs need not be in the model's order (the converter sorts the inputs by
    name): its serving signature maps the model's input names and ``output_<i>`` to its tensors.
    """
    import tensorflow as tf

    samples = _samples(model, representative)
    if any(spec.shape[0] is None for spec in model.inputs):
        # A None batch would reach the flatbuffer as dynamic shapes (a Flatten becomes SHAPE, STRIDED_SLICE, PACK,
        # RESHAPE): convert a batch-1 copy of the model instead, so every shape is static.
        model = _batch_one(model)
    names = input_names(model)

    def dataset() -> Iterator[list[np.ndarray] | dict[str, np.ndarray]]:
        # The calibrator takes a list in the .tflite's input order, which is not the model's (it sorts the
        # inputs by name): with several inputs, a dict keyed by the signature's input names is unambiguous.
        for sample in samples:
            yield dict(zip(names, sample)) if len(names) > 1 else sample

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        return bytes(converter.convert())
    except Exception as exc:  # the converter raises many unrelated types; report it as one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TinygenError(
            f"TensorFlow's converter could not quantize model {model.name!r} to int8: {first}; "
            "use layers TFLite supports with int8 kernels, or --quantizer tinygen"
        ) from exc
