"""A corpus of int8 ``.tflite`` models built with TensorFlow's converter, for tests of every backend.

API (keep it stable, other test files use it)::

    from corpus import CORPUS_NAMES, corpus_model
    data: bytes = corpus_model("conv_relu")

Models are built lazily on first use and cached as files under ``tests/.cache/corpus/``, named by a
hash of the builder's source, the converter and zoo sources and TensorFlow's version, so a change to
any of them rebuilds just the affected models. A file lock per model makes parallel pytest-xdist
workers build each model once. ``python tests/corpus.py`` builds them all.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import os
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
from filelock import FileLock

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CACHE_DIR = Path(os.environ.get("TINYGEN_CORPUS_CACHE", Path(__file__).resolve().parent / ".cache" / "corpus"))

#: a builder returns (Keras model, representative samples [n, *input shape], float_io), or finished bytes
Builder = Callable[[], Any]


def _keras() -> Any:
    import keras

    return keras


def _inputs(shape: tuple[int, ...], seed: int, count: int = 24) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, (count, *shape)).astype(np.float32)


def _model(name: str, shape: tuple[int, ...], body: Callable[[Any], Any], seed: int) -> tuple[Any, np.ndarray, bool]:
    keras = _keras()
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=shape, batch_size=1, name="input")
    return keras.Model(inp, body(inp), name=name), _inputs(shape, seed), False


def conv_relu() -> tuple[Any, np.ndarray, bool]:
    L = _keras().layers
    return _model(
        "conv_relu",
        (12, 11, 3),
        lambda x: L.Conv2D(6, (3, 3), padding="valid", activation="relu")(
            L.Conv2D(8, (3, 3), strides=(2, 2), padding="same", activation="relu")(x)
        ),
        seed=10,
    )


def conv1d() -> tuple[Any, np.ndarray, bool]:
    """Conv1D layers: TensorFlow's converter wraps each CONV_2D in EXPAND_DIMS and RESHAPE (or SQUEEZE)."""
    L = _keras().layers
    return _model(
        "conv1d",
        (40, 3),
        lambda x: L.Conv1D(6, 5, padding="same", activation="relu")(L.Conv1D(8, 3, strides=2, padding="valid")(x)),
        seed=19,
    )


def conv_relu6() -> tuple[Any, np.ndarray, bool]:
    L = _keras().layers
    return _model(
        "conv_relu6",
        (10, 10, 4),
        lambda x: L.Conv2D(5, (5, 3), strides=(2, 1), padding="same", activation="relu6")(x),
        seed=11,
    )


def conv_dilation() -> tuple[Any, np.ndarray, bool]:
    L = _keras().layers
    return _model(
        "conv_dilation",
        (14, 13, 2),
        lambda x: L.Conv2D(4, (3, 3), dilation_rate=(2, 3), padding="same")(
            L.Conv2D(4, (3, 3), dilation_rate=(2, 2), padding="valid", activation="relu")(x)
        ),
        seed=12,
    )


def depthwise_m1() -> tuple[Any, np.ndarray, bool]:
    L = _keras().layers
    return _model(
        "depthwise_m1",
        (9, 9, 6),
        lambda x: L.DepthwiseConv2D((3, 3), strides=(2, 2), padding="same", activation="relu")(
            L.DepthwiseConv2D((3, 3), padding="valid")(x)
        ),
        seed=13,
    )


def depthwise_m2() -> tuple[Any, np.ndarray, bool]:
    L = _keras().layers
    return _model(
        "depthwise_m2",
        (8, 7, 3),
        lambda x: L.DepthwiseConv2D((3, 2), depth_multiplier=2, padding="same", activation="relu6")(x),
        seed=14,
    )


def dense_softmax() -> tuple[Any, np.ndarray, bool]:
    L = _keras().layers
    return _model(
        "dense_softmax",
        (20,),
        lambda x: L.Dense(10, activation="softmax")(L.Dense(16, activation="relu")(x)),
        seed=15,
    )


def dense_3d() -> tuple[Any, np.ndarray, bool]:
    """A Dense on a rank-3 input: FULLY_CONNECTED with keep_num_dims."""
    L = _keras().layers
    return _model("dense_3d", (5, 12), lambda x: L.Dense(7)(x), seed=16)


def max_pool() -> tuple[Any, np.ndarray, bool]:
    L = _keras().layers
    return _model(
        "max_pool",
        (11, 10, 4),
        lambda x: L.MaxPooling2D((3, 3), strides=(2, 2), padding="same")(
            L.MaxPooling2D((2, 2), padding="valid")(L.Conv2D(4, (1, 1), activation="relu")(x))
        ),
        seed=17,
    )


def avg_pool() -> tuple[Any, np.ndarray, bool]:
    L = _keras().layers
    return _model(
        "avg_pool",
        (11, 10, 4),
        lambda x: L.AveragePooling2D((3, 3), strides=(2, 2), padding="same")(
            L.AveragePooling2D((2, 3), padding="valid")(x)
        ),
        seed=18,
    )


def global_avg_pool() -> tuple[Any, np.ndarray, bool]:
    L = _keras().layers
    return _model(
        "global_avg_pool",
        (6, 5, 8),
        lambda x: L.Dense(3)(
            L.GlobalAveragePooling2D()(
                L.Conv2D(6, (1, 1))(L.GlobalAveragePooling2D(keepdims=True)(L.Conv2D(8, (3, 3), activation="relu")(x)))
            )
        ),
        seed=19,
    )


def residual_add() -> tuple[Any, np.ndarray, bool]:
    L = _keras().layers

    def body(x: Any) -> Any:
        y = L.Conv2D(4, (3, 3), padding="same", activation="relu")(x)
        y = L.Conv2D(4, (3, 3), padding="same")(y)
        return L.ReLU()(L.Add()([x, y]))

    return _model("residual_add", (8, 8, 4), body, seed=20)


def mul() -> tuple[Any, np.ndarray, bool]:
    L = _keras().layers

    def body(x: Any) -> Any:
        a = L.Conv2D(3, (1, 1))(x)
        b = L.Conv2D(3, (1, 1), activation="relu")(x)
        return L.Multiply()([a, b])

    return _model("mul", (6, 6, 3), body, seed=21)


def concatenate() -> tuple[Any, np.ndarray, bool]:
    L = _keras().layers

    def body(x: Any) -> Any:
        a = L.Conv2D(3, (3, 3), padding="same")(x)
        b = L.Conv2D(5, (1, 1), activation="relu")(x)
        return L.Conv2D(2, (1, 1))(L.Concatenate(axis=-1)([a, b]))

    return _model("concatenate", (7, 6, 2), body, seed=22)


def pad() -> tuple[Any, np.ndarray, bool]:
    L = _keras().layers
    return _model(
        "pad",
        (6, 7, 3),
        lambda x: L.Conv2D(4, (3, 3), strides=(2, 2))(L.ZeroPadding2D(((1, 2), (2, 1)))(x)),
        seed=23,
    )


def standalone_relu() -> tuple[Any, np.ndarray, bool]:
    """ReLU / ReLU6 with no op before them to fuse into: standalone RELU and RELU6 ops."""
    L = _keras().layers

    def body(x: Any) -> Any:
        return L.Conv2D(3, (1, 1))(L.Concatenate()([L.ReLU()(x), L.ReLU(max_value=6.0)(x)]))

    return _model("standalone_relu", (5, 5, 2), body, seed=24)


def bn_broadcast() -> tuple[Any, np.ndarray, bool]:
    """A BatchNormalization with no op before it to fold into: MUL and ADD with per-channel constants."""
    keras = _keras()
    L = keras.layers

    def body(x: Any) -> Any:
        bn = L.BatchNormalization()
        y = bn(x)
        rng = np.random.default_rng(26)
        bn.set_weights([rng.uniform(0.5, 2.0, 3), rng.normal(0, 0.5, 3), rng.normal(0, 0.5, 3), rng.uniform(0.5, 2.0, 3)])
        return L.Conv2D(4, (3, 3), activation="relu")(y)

    return _model("bn_broadcast", (6, 6, 3), body, seed=26)


def float_io() -> tuple[Any, np.ndarray, bool]:
    """float32 input and output: QUANTIZE at the input, DEQUANTIZE at the output."""
    L = _keras().layers
    model, data, _ = _model(
        "float_io",
        (6, 6, 2),
        lambda x: L.Dense(4)(L.Flatten()(L.Conv2D(3, (3, 3), activation="relu")(x))),
        seed=25,
    )
    return model, data, True


def _float_model(name: str, shape: tuple[int, ...], body: Callable[[Any], Any], quantize: bool) -> bytes:
    import tensorflow as tf

    keras = _keras()
    keras.utils.set_random_seed(30)
    inp = keras.Input(shape=shape, batch_size=1, name="input")
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inp, body(inp), name=name))
    if quantize:  # dynamic-range quantization: int8 weights, float activations
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return bytes(converter.convert())


def float32() -> bytes:
    """Error path: a plain float32 model (no quantization)."""
    L = _keras().layers
    return _float_model("float32", (6, 6, 2), lambda x: L.Dense(3)(L.Flatten()(L.Conv2D(4, (3, 3))(x))), False)


def dynamic_range() -> bytes:
    """Error path: dynamic-range quantization (int8 weights, float activations)."""
    L = _keras().layers
    return _float_model("dynamic_range", (16,), lambda x: L.Dense(8)(L.Dense(32, activation="relu")(x)), True)


def gelu() -> tuple[Any, np.ndarray, bool]:
    """Error path: a GELU op, which tinygen does not support."""
    L = _keras().layers
    return _model("gelu", (8,), lambda x: L.Dense(4, activation="gelu")(x), seed=31)


# ---- ops the converter does not emit for Keras models: made by editing a converted model --------


def _schema() -> Any:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    return fb


def _edit(base: str, edit: Callable[[Any, Any], None]) -> bytes:
    """Corpus model ``base`` with ``edit(model, schema)`` applied to its object-API form, re-serialised."""
    import flatbuffers

    fb = _schema()
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(corpus_model(base), 0))
    edit(model, fb)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _opcode(model: Any, fb: Any, code: int) -> int:
    opcode = fb.OperatorCodeT()
    opcode.builtinCode, opcode.deprecatedBuiltinCode, opcode.version = code, min(code, 127), 1
    model.operatorCodes.append(opcode)
    return len(model.operatorCodes) - 1


def _int8_tensor(model: Any, fb: Any, name: str, shape: list[int], scale: float, zero_point: int, data: bytes | None) -> int:
    buffer = fb.BufferT()
    buffer.data = list(data) if data is not None else None
    model.buffers.append(buffer)
    q = fb.QuantizationParametersT()
    q.scale, q.zeroPoint = [scale], [zero_point]
    tensor = fb.TensorT()
    tensor.name, tensor.shape, tensor.type = name.encode(), shape, fb.TensorType.INT8
    tensor.buffer, tensor.quantization = len(model.buffers) - 1, q
    sg = model.subgraphs[0]
    sg.tensors.append(tensor)
    return len(sg.tensors) - 1


def _find(model: Any, code: int) -> Any:
    return next(op for op in model.subgraphs[0].operators if model.operatorCodes[op.opcodeIndex].builtinCode == code)


def requantize() -> bytes:
    """An int8 -> int8 QUANTIZE (a requantization) between two convolutions of conv_relu."""

    def edit(model: Any, fb: Any) -> None:
        sg = model.subgraphs[0]
        first, second = sg.operators[0], sg.operators[1]
        src = sg.tensors[first.outputs[0]]
        # A different scale and zero point, so the requantization really rescales.
        new = _int8_tensor(
            model, fb, "requantized", list(src.shape), float(src.quantization.scale[0]) * 1.37,
            int(src.quantization.zeroPoint[0]) + 9, None,
        )
        op = fb.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = _opcode(model, fb, fb.BuiltinOperator.QUANTIZE), [first.outputs[0]], [new]
        op.builtinOptionsType, op.builtinOptions = fb.BuiltinOptions.QuantizeOptions, fb.QuantizeOptionsT()
        second.inputs = [new, *list(second.inputs)[1:]]
        sg.operators.insert(1, op)

    return _edit("conv_relu", edit)


def padv2() -> bytes:
    """pad's PAD as a PADV2 whose constant value is the output zero point (real 0.0)."""

    def edit(model: Any, fb: Any) -> None:
        op = _find(model, fb.BuiltinOperator.PAD)
        out = model.subgraphs[0].tensors[op.outputs[0]]
        scale, zero_point = float(out.quantization.scale[0]), int(out.quantization.zeroPoint[0])
        value = _int8_tensor(model, fb, "pad_value", [1], scale, zero_point, np.int8(zero_point).tobytes())
        op.opcodeIndex = _opcode(model, fb, fb.BuiltinOperator.PADV2)
        op.inputs = [*list(op.inputs)[:2], value]
        op.builtinOptionsType, op.builtinOptions = fb.BuiltinOptions.PadV2Options, fb.PadV2OptionsT()

    return _edit("pad", edit)


def squeeze() -> bytes:
    """float_io-like flatten of a 1x1 map done by SQUEEZE instead of RESHAPE (squeeze_source)."""

    def edit(model: Any, fb: Any) -> None:
        op = _find(model, fb.BuiltinOperator.RESHAPE)
        op.opcodeIndex = _opcode(model, fb, fb.BuiltinOperator.SQUEEZE)
        op.inputs = [int(op.inputs[0])]
        options = fb.SqueezeOptionsT()
        options.squeezeDims = [1, 2]
        op.builtinOptionsType, op.builtinOptions = fb.BuiltinOptions.SqueezeOptions, options

    return _edit("squeeze_source", edit)


def squeeze_source() -> tuple[Any, np.ndarray, bool]:
    """Pooling to 1x1 then Flatten: a RESHAPE [1, 1, 1, C] -> [1, C] (the squeeze model edits it)."""
    L = _keras().layers
    return _model(
        "squeeze_source",
        (6, 6, 3),
        lambda x: L.Softmax()(L.Flatten()(L.AveragePooling2D((6, 6))(L.Conv2D(5, (1, 1))(x)))),
        seed=27,
    )


#: edited models -> the corpus models they start from (part of their cache key)
EDIT_BASES = {"requantize": "conv_relu", "padv2": "pad", "squeeze": "squeeze_source"}


def _zoo(name: str) -> Builder:
    def build() -> tuple[Any, np.ndarray, bool]:
        from tinygen import zoo

        return zoo.MODELS[name](), zoo.representative_data(name), False

    build.__name__ = name
    return build


BUILDERS: dict[str, Builder] = {
    f.__name__: f
    for f in (
        conv_relu,
        conv1d,
        conv_relu6,
        conv_dilation,
        depthwise_m1,
        depthwise_m2,
        dense_softmax,
        dense_3d,
        max_pool,
        avg_pool,
        global_avg_pool,
        residual_add,
        mul,
        concatenate,
        pad,
        standalone_relu,
        bn_broadcast,
        float_io,
        squeeze_source,
        requantize,
        padv2,
        squeeze,
    )
}
ZOO_NAMES = ("kws_dscnn", "vww_mobilenet", "ic_resnet8", "ad_autoencoder")
BUILDERS.update({name: _zoo(name) for name in ZOO_NAMES})

CORPUS_NAMES: tuple[str, ...] = tuple(BUILDERS)

#: models tinygen must refuse with a clean error (not part of CORPUS_NAMES); some build raw bytes
ERROR_BUILDERS: dict[str, Callable[[], Any]] = {f.__name__: f for f in (float32, dynamic_range, gelu)}
ERROR_CORPUS_NAMES: tuple[str, ...] = tuple(ERROR_BUILDERS)


def _tf_version() -> str:
    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def _key(name: str) -> str:
    """Hash of everything that determines the model's bytes."""
    digest = hashlib.sha256()
    sources = [
        inspect.getsource(corpus_path),
        inspect.getsource(_model),
        inspect.getsource(_inputs),
        (REPO / "tinygen" / "tfconvert.py").read_text(),
    ]
    if name in ZOO_NAMES:
        sources.append((REPO / "tinygen" / "zoo.py").read_text())
    elif name in EDIT_BASES:
        sources += [
            _key(EDIT_BASES[name]),
            inspect.getsource(BUILDERS[name]),
            inspect.getsource(_edit),
            inspect.getsource(_opcode),
            inspect.getsource(_int8_tensor),
            inspect.getsource(_find),
        ]
    elif name in ERROR_BUILDERS:
        sources += [inspect.getsource(ERROR_BUILDERS[name]), inspect.getsource(_float_model)]
    else:
        sources.append(inspect.getsource(BUILDERS[name]))
    for text in [name, _tf_version(), *sources]:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def corpus_path(name: str) -> Path:
    """The cached ``.tflite`` file of corpus model ``name``, built first if needed."""
    builder = BUILDERS.get(name) or ERROR_BUILDERS.get(name)
    if builder is None:
        raise KeyError(f"unknown corpus model {name!r}; choose one of {CORPUS_NAMES + ERROR_CORPUS_NAMES}")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"{name}-{_key(name)}.tflite"
    if path.exists():
        return path
    with FileLock(str(CACHE_DIR / f"{name}.lock")):
        if not path.exists():  # another worker may have built it while we waited
            from tinygen.tfconvert import keras_to_int8_tflite

            # Fresh Keras name counters: layer (hence tensor) names must not depend on what this
            # process built before, or the same key would give different bytes on different runs.
            _keras().backend.clear_session()
            built = builder()
            if isinstance(built, bytes):
                blob = built
            else:
                model, data, float_io_ = built
                blob = keras_to_int8_tflite(model, data, float_io=float_io_)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(blob)
            os.replace(tmp, path)
            for stale in CACHE_DIR.glob(f"{name}-*.tflite"):
                if stale != path:
                    stale.unlink(missing_ok=True)
    return path


def corpus_model(name: str) -> bytes:
    """The int8 ``.tflite`` bytes of corpus model ``name`` (one of :data:`CORPUS_NAMES`)."""
    return corpus_path(name).read_bytes()


if __name__ == "__main__":
    for model_name in sys.argv[1:] or CORPUS_NAMES + ERROR_CORPUS_NAMES:
        print(model_name, corpus_path(model_name))
