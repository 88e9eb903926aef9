"""TFLite Micro's own interpreter as the bit-exactness oracle.

``tflm_run(model_bytes, inputs)`` runs one inference with the ``tflite-micro`` package's interpreter in
``kPreserveAllTensors`` mode (every tensor keeps its own memory, so intermediates survive the
inference) and returns every activation tensor — graph inputs, intermediates and outputs — keyed by
its **IR tensor name**: the name :func:`tinygen.frontend.tflite.import_tflite` gives the tensor of the
same ``.tflite`` index (:func:`tinygen.frontend.tflite.tensor_names`). The result is therefore directly
comparable with ``tinygen.reference.run(import_tflite(model_bytes), ...)`` name by name. Constant
tensors (weights, biases, shapes) are not returned.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from typing import Any, Mapping, Sequence

import numpy as np

from tinygen.errors import ToolMissingError, TinygenError
from tinygen.frontend.tflite import _parse, _unique_names

_CACHE_SIZE = 4
# model hash -> (interpreter, activation tensor indices, IR names, graph input indices)
_interpreters: OrderedDict[str, tuple[Any, list[int], list[str], tuple[int, ...]]] = OrderedDict()


def _runtime() -> Any:
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as exc:
        raise ToolMissingError(
            f"TFLite Micro's Python interpreter is not installed ({exc}); "
            "pip install tflite-micro (nightly builds only, see pyproject.toml's test extra)"
        ) from None
    return runtime


def _interpreter(model_bytes: bytes) -> tuple[Any, list[int], list[str], tuple[int, ...]]:
    key = hashlib.sha256(model_bytes).hexdigest()
    if key in _interpreters:
        _interpreters.move_to_end(key)
        return _interpreters[key]
    raw = _parse(model_bytes, "model")
    refusal = _tflm_refusal(raw)
    if refusal is not None:
        raise TinygenError(f"TFLite Micro cannot run the model: {refusal}")
    names = _unique_names(raw.tensors)
    # The tensors the importer keeps: non-constant ones that an op or the graph interface uses.
    used = {*raw.inputs, *raw.outputs, *(i for op in raw.ops for i in (*op.inputs, *op.outputs))}
    # (resource handles, the VAR_HANDLE outputs, are not values)
    activations = [t.index for t in raw.tensors if t.data is None and t.index in used and t.type != 13]
    activation_bytes = sum(int(np.prod(t.shape)) * 4 for t in raw.tensors if t.data is None)
    runtime = _runtime()
    # Preserving all tensors needs room for every activation at once, plus TFLM's own bookkeeping.
    arena = 2 * len(model_bytes) + 2 * activation_bytes + (1 << 20)
    try:
        interpreter = runtime.Interpreter.from_bytes(
            model_bytes, arena_size=arena, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors
        )
    except (RuntimeError, ValueError) as exc:
        raise TinygenError(f"TFLite Micro cannot load the model: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}") from None
    entry = (interpreter, activations, names, raw.inputs)
    _interpreters[key] = entry
    while len(_interpreters) > _CACHE_SIZE:
        _interpreters.popitem(last=False)
    return entry


def _tflm_refusal(raw: Any) -> str | None:
    """Why TFLite Micro refuses a model tinygen runs (None: it does not): an LSTM with peephole, projection,
    layer norm or CIFG, which TFLite Micro's integer LSTM does not compute (tinygen follows TensorFlow Lite's
    own kernel there: compare with :func:`tflite_run`)."""
    from tinygen.ops import lstm

    for op in raw.ops:
        if op.name == "UNIDIRECTIONAL_SEQUENCE_LSTM" and len(op.inputs) == 24 and lstm.is_variant(op):
            return (f"its UNIDIRECTIONAL_SEQUENCE_LSTM (operator {op.index}) has a peephole, projection, layer norm or "
                    "coupled input and forget gates (CIFG), which TFLite Micro's integer LSTM refuses; tinygen runs it "
                    "as TensorFlow Lite's interpreter does, and `tinygen test` compares with that interpreter instead")
    return None


def tflm_refusal(model_bytes: bytes) -> str | None:
    """Why TFLite Micro cannot be the oracle of ``model_bytes`` although tinygen runs it; None when it can."""
    return _tflm_refusal(_parse(bytes(model_bytes), "model"))


def tflite_run(model_bytes: bytes, vectors: Sequence[np.ndarray], reference_kernels: bool = True
               ) -> list[dict[str, np.ndarray]]:
    """TensorFlow Lite's own interpreter (its reference kernels, or its default ones) on consecutive invocations
    of ``vectors`` (one array per invocation, a single-input model; its VARIABLE tensors carried): each
    invocation's graph outputs by IR name. The oracle of the ops TFLite Micro refuses (:func:`tflm_refusal`)."""
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ToolMissingError(f"TensorFlow is not installed ({exc}): pip install tensorflow") from None
    model_bytes = bytes(model_bytes)
    names = _unique_names(_parse(model_bytes, "model").tensors)
    resolver = tf.lite.experimental.OpResolverType
    with warnings.catch_warnings():  # TF 2.20 announces tf.lite.Interpreter's move to LiteRT on every construction
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=model_bytes, experimental_op_resolver_type=resolver.BUILTIN_REF
                                          if reference_kernels else resolver.AUTO)
    interpreter.allocate_tensors()
    results = []
    for vector in vectors:
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], np.asarray(vector).reshape(detail["shape"]).astype(detail["dtype"]))
        interpreter.invoke()
        results.append({names[d["index"]]: interpreter.get_tensor(d["index"]).copy()
                        for d in interpreter.get_output_details()})
    return results


def _input_list(inputs: Any, names: list[str], input_indices: tuple[int, ...]) -> list[np.ndarray]:
    if isinstance(inputs, Mapping):
        missing = [names[i] for i in input_indices if names[i] not in inputs]
        if missing:
            raise TinygenError(f"inputs are missing graph input(s) {missing}")
        return [np.asarray(inputs[names[i]]) for i in input_indices]
    if isinstance(inputs, np.ndarray):
        return [inputs]
    if isinstance(inputs, Sequence):
        return [np.asarray(x) for x in inputs]
    raise TinygenError(f"inputs must be an array, a list of arrays or a dict by input name, not {type(inputs).__name__}")


def tflm_run(model_bytes: bytes, inputs: Any, reset: bool = True) -> dict[str, np.ndarray]:
    """Run ``model_bytes`` on ``inputs`` (one array, a list in graph-input order, or a dict keyed by IR
    input name) and return every activation tensor by IR name (see the module docstring).

    A model with resource variables starts from their initial values (``reset``), or continues from the
    state the previous invocation of the same model left (``reset=False``: consecutive invocations of a
    streaming model)."""
    model_bytes = bytes(model_bytes)
    interpreter, activations, names, input_indices = _interpreter(model_bytes)
    if reset:
        interpreter.reset()
    arrays = _input_list(inputs, names, input_indices)
    if len(arrays) != len(input_indices):
        raise TinygenError(f"the model has {len(input_indices)} inputs, got {len(arrays)} arrays")
    for position, array in enumerate(arrays):
        details = interpreter.get_input_details(position)
        dtype, shape = np.dtype(details["dtype"]), tuple(int(d) for d in details["shape"])
        if array.dtype != dtype or array.size != int(np.prod(shape)):
            raise TinygenError(
                f"input {names[input_indices[position]]!r} must be {dtype.name} with shape {shape}, "
                f"got {array.dtype.name} {array.shape}"
            )
        interpreter.set_input(np.ascontiguousarray(array.reshape(shape)), position)
    try:
        interpreter.invoke()
    except RuntimeError as exc:
        raise TinygenError(f"TFLite Micro failed to run the model: {str(exc).strip() or exc!r}") from None
    results: dict[str, np.ndarray] = {}
    for index in activations:
        tensor = interpreter.GetTensor(index, 0)
        results[names[index]] = np.array(tensor["tensor_data"], copy=True)
    return results
