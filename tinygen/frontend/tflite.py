"""Import a full-integer int8 (or int16x8) ``.tflite`` model into tinygen's IR.

The flatbuffer is read with the ``tflite`` schema bindings in two phases: :func:`_parse` copies
everything the importer needs into plain Python values (so a truncated or corrupt file fails there,
as one clean error), then :func:`import_tflite` validates and maps each operator to an IR op.

Mapping decisions (see docs/INTERNALS.md for the IR conventions):

* IR tensor names are the ``.tflite`` tensor names, made unique by suffixing ``_1``, ``_2``...; an
  unnamed tensor is called ``tensor<index>``. :func:`tensor_names` gives the IR name of every
  ``.tflite`` tensor index: the oracle uses it to key TFLite Micro's tensors by IR name.
* Only tensors that an IR op or the graph uses are kept. Operands TFLite passes as tensors but the IR
  holds as attributes are dropped: RESHAPE/SQUEEZE's shape (the output shape says it), MEAN's axes,
  PAD's paddings, PADV2's pad value (it must equal the output zero point), TRANSPOSE's permutation.
* A missing bias (optional input index -1) means no bias input: the op has two inputs.
* Per-channel weights: the quantized dimension must hold the scales (TFLite Micro's Prepare refuses it
  otherwise); the IR then uses the op's own channel axis (conv and dense 0, depthwise 3).
* ADD/MUL operands may broadcast (numpy rules, to the output shape), as TFLite allows: a BatchNorm with
  nothing to fold into becomes MUL/ADD with per-channel constants.
* 16x8 models (TFLite's int16 activations with zero point 0, int8 weights, int64 biases): int16 activations
  import for the builtins of :func:`int16_builtins`; any other op with an int16 activation is refused by name
  (layer, builtin) at import, before anything else could misread it.
* Batch size: a ``shape_signature`` of -1 in dimension 0 (Keras' unknown batch) is read as batch 1;
  -1 in any other dimension is a dynamic shape and an error.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tflite

from tinygen import activations, ir, ops
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend import fold, variables
from tinygen.naming import c_identifier

_TYPE_NAMES = {v: k.lower() for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
_NUMPY_TYPES = {
    tflite.TensorType.INT8: np.int8,
    tflite.TensorType.INT32: np.int32,
    tflite.TensorType.INT64: np.int64,
    tflite.TensorType.FLOAT32: np.float32,
    tflite.TensorType.INT16: np.int16,
    tflite.TensorType.UINT8: np.uint8,
}
#: fused activation code -> tinygen's activation name
_ACTIVATIONS = {getattr(tflite.ActivationFunctionType, code): name for name, code in activations.TFLITE_NAMES.items()}
_ACTIVATION_NAMES = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}


def int16_builtins() -> tuple[str, ...]:
    """The builtins tinygen runs with int16 activations (16x8 models: their op modules' mappings say
    ``int16=True``); its kernels for other ops are int8 only."""
    return tuple(name for name, (_, mapping) in ops.tflite_builtins().items() if mapping.int16)


@dataclass
class _RawTensor:
    index: int
    name: str | None
    shape: tuple[int, ...]
    signature: tuple[int, ...] | None
    type: int
    data: bytes | None
    scale: np.ndarray | None
    zero_point: np.ndarray | None
    quantized_dimension: int
    sparse: bool
    is_variable: bool = False


@dataclass
class _RawOp:
    index: int
    name: str  # builtin operator name, or the custom code
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)
    #: the op's intermediate tensors (an integer LSTM's gate and hidden quantization)
    intermediates: tuple[int, ...] = ()


@dataclass
class _RawModel:
    num_subgraphs: int
    tensors: list[_RawTensor]
    ops: list[_RawOp]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    #: resource variables (state kept between invocations), see tinygen/frontend/variables.py
    variables: variables.RawVariables = field(default_factory=variables.RawVariables)


def _read(path_or_bytes: str | Path | bytes | bytearray | memoryview) -> tuple[bytes, str, str]:
    """(bytes, default graph name, label for messages)."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes), "model", "model"
    path = Path(path_or_bytes)
    try:
        return path.read_bytes(), path.stem, str(path)
    except FileNotFoundError:
        raise TinygenError(f"{path}: no such file; give the path of an int8 .tflite model") from None
    except IsADirectoryError:
        raise TinygenError(f"{path}: is a directory, not a .tflite file") from None
    except OSError as exc:
        raise TinygenError(f"{path}: cannot read it ({exc.strerror})") from None


def _op_name(model: Any, code_index: int) -> str:
    code = model.OperatorCodes(code_index)
    # Old files store the code in the deprecated int8 field; codes >= 127 only in the new one.
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == tflite.BuiltinOperator.CUSTOM:
        custom = code.CustomCode()
        return f"CUSTOM:{custom.decode('utf-8', 'replace') if custom else '?'}"
    return str(tflite.BUILTIN_OPCODE2NAME.get(builtin, f"BUILTIN_{builtin}"))


def _options(op: Any, op_name: str) -> dict[str, Any]:
    """The fields of the op's builtin options table that its mapping reads (schema defaults for fields the
    table omits)."""
    mapped = ops.tflite_builtins().get(op_name)
    if mapped is None or mapped[1].options is None:
        return {}
    cls, defaults = mapped[1].options, dict(mapped[1].fields)
    table = op.BuiltinOptions()
    if table is None or op.BuiltinOptionsType() != getattr(tflite.BuiltinOptions, cls.__name__):
        # TFLite Micro reads the options only through their type tag: a missing table, or one of another
        # type, leaves its parameter struct zero-initialised. So do the same (and the attribute checks
        # then refuse what cannot run, such as stride 0).
        return {f: type(default)(0) for f, default in defaults.items()}
    options = cls()
    options.Init(table.Bytes, table.Pos)
    return {f: getattr(options, f)() for f in defaults}


def _vector(obj: Any, field_name: str) -> tuple[int, ...]:
    if getattr(obj, f"{field_name}IsNone")():
        return ()
    return tuple(int(v) for v in getattr(obj, f"{field_name}AsNumpy")())


def _buffer_data(buf: bytes, model: Any, index: int) -> bytes | None:
    if index <= 0 or index >= model.BuffersLength():
        return None  # buffer 0 is the empty sentinel
    buffer = model.Buffers(index)
    offset = buffer.Offset()
    if offset > 1:  # models over 2 GB keep data after the flatbuffer, addressed by offset/size
        size = buffer.Size()
        if offset + size > len(buf):
            raise ValueError("buffer beyond end of file")
        return buf[offset : offset + size]
    if buffer.DataIsNone() or buffer.DataLength() == 0:
        return None
    return buffer.DataAsNumpy().tobytes()


def _parse_tensor(buf: bytes, model: Any, subgraph: Any, index: int) -> _RawTensor:
    t = subgraph.Tensors(index)
    name = t.Name()
    q = t.Quantization()
    scale = zero_point = None
    qdim = 0
    if q is not None and q.ScaleLength() > 0:
        scale = q.ScaleAsNumpy().astype(np.float32)  # stored as float32: kept exactly
        zero_point = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(scale.size, np.int64)
        qdim = q.QuantizedDimension()
        # Scales are checked where an op uses them (ops/common.py): an unused all-zero constant with scale 0,
        # as some exports carry, is no error.
        if zero_point.size != scale.size:
            raise ValueError("invalid quantization parameters")
    return _RawTensor(
        index=index,
        name=name.decode("utf-8", "replace") if name else None,
        shape=_vector(t, "Shape"),
        signature=_vector(t, "ShapeSignature") or None,
        type=t.Type(),
        data=_buffer_data(buf, model, t.Buffer()),
        scale=scale,
        zero_point=zero_point,
        quantized_dimension=qdim,
        sparse=t.Sparsity() is not None,
        is_variable=bool(t.IsVariable()),
    )


def _parse(buf: bytes, label: str) -> _RawModel:
    if len(buf) < 8 or not tflite.Model.ModelBufferHasIdentifier(buf, 0):
        what = "too short to be" if len(buf) < 8 else "does not carry the file identifier 'TFL3' of"
        raise TinygenError(f"{label}: not a TensorFlow Lite model (it {what} a .tflite flatbuffer); give an int8 .tflite file")
    try:
        model = tflite.Model.GetRootAs(buf, 0)
        num_subgraphs = model.SubgraphsLength()
        if num_subgraphs == 0:
            raise TinygenError(f"{label}: the model has no subgraph; re-export it with the TFLite converter")
        sg = model.Subgraphs(0)
        tensors = [_parse_tensor(buf, model, sg, i) for i in range(sg.TensorsLength())]
        ops = []
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            name = _op_name(model, op.OpcodeIndex())
            ops.append(_RawOp(i, name, _vector(op, "Inputs"), _vector(op, "Outputs"), _options(op, name),
                              _vector(op, "Intermediates")))
        raw = _RawModel(num_subgraphs, tensors, ops, _vector(sg, "Inputs"), _vector(sg, "Outputs"))
        if any(op.name in variables.RESOURCE_OPS for op in ops) or num_subgraphs > 1:
            raw.variables = variables.parse(buf, model, lambda op: _op_name(model, op.OpcodeIndex()), label)
        # Every tensor index must exist (a corrupt file may point anywhere); only an op input may be -1
        # (an optional operand that is absent).
        for index in [*raw.inputs, *raw.outputs, *(i for o in ops for i in o.outputs)]:
            if not 0 <= index < len(tensors):
                raise ValueError(f"tensor index {index} out of range")
        for index in (i for o in ops for i in o.inputs):
            if index != -1 and not 0 <= index < len(tensors):
                raise ValueError(f"tensor index {index} out of range")
        return raw
    except TinygenError:
        raise
    except (struct.error, IndexError, ValueError, TypeError, AttributeError, OverflowError, MemoryError):
        raise TinygenError(
            f"{label}: truncated or corrupt .tflite file ({len(buf)} bytes; its tables point past the end or "
            "hold invalid data); re-export or re-download the model"
        ) from None


def _unique_names(tensors: list[_RawTensor]) -> list[str]:
    names: list[str] = []
    used: set[str] = set()
    for t in tensors:
        base = t.name or f"tensor{t.index}"
        name, k = base, 0
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        names.append(name)
    return names


@dataclass
class RawOpSummary:
    """One operator of a ``.tflite`` as stored (for ``tinygen inspect`` of a model tinygen cannot compile)."""

    index: int
    builtin: str
    supported: bool
    inputs: list[str]
    outputs: list[str]


def summarize(path_or_bytes: str | Path | bytes) -> tuple[int, list[RawOpSummary], list[str], list[str]]:
    """(subgraph count, the first subgraph's operators, its inputs, its outputs), each tensor as
    ``name [shape] type``: what the file holds, whether or not tinygen supports it. Raises TinygenError only
    for a file that is not a readable .tflite."""
    buf, _, label = _read(path_or_bytes)
    raw = _parse(buf, label)
    names = _unique_names(raw.tensors)

    def describe(index: int) -> str:
        if index < 0:
            return "(none)"
        t = raw.tensors[index]
        return f"{names[index]} {list(t.shape)} {_TYPE_NAMES.get(t.type, t.type)}"

    builtins = ops.tflite_builtins()
    folded = _parse(buf, label)
    fold.fold(folded)
    # supported: an op of the registry, a resource-variable op (the graph's state) or shape arithmetic folded away
    kept = {op.index for op in folded.ops}
    rows = [RawOpSummary(op.index, op.name, op.name in builtins or op.name in variables.RESOURCE_OPS or op.index not in kept,
                         [describe(i) for i in op.inputs],
                         [describe(i) for i in op.outputs]) for op in raw.ops]
    return raw.num_subgraphs, rows, [describe(i) for i in raw.inputs], [describe(i) for i in raw.outputs]


def tensor_names(path_or_bytes: str | Path | bytes) -> list[str]:
    """The IR tensor name of every tensor index of the model's (first) subgraph."""
    buf, _, label = _read(path_or_bytes)
    return _unique_names(_parse(buf, label).tensors)


class _Importer:
    def __init__(self, raw: _RawModel, graph_name: str, label: str) -> None:
        self.raw = raw
        self.label = label
        self.names = _unique_names(raw.tensors)
        self.graph = ir.Graph(name=graph_name)
        self.consumers: dict[int, list[_RawOp]] = {}
        self.producer: dict[int, _RawOp] = {}
        for op in raw.ops:
            for i in op.inputs:
                self.consumers.setdefault(i, []).append(op)
            for o in op.outputs:
                self.producer[o] = op

    # -- messages -------------------------------------------------------------------------------

    def where(self, op: _RawOp) -> str:
        if op.index < 0:
            return f"{self.label}: {op.name}"
        return f"{self.label}: op {op.index} ({op.name})"

    def describe(self, index: int) -> str:
        t = self.raw.tensors[index]
        return f"tensor {self.names[index]!r} {list(t.shape)} {_TYPE_NAMES.get(t.type, t.type)}"

    # -- whole-model checks ---------------------------------------------------------------------

    def check_model(self) -> None:
        raw = self.raw
        for role, indices in (("input", raw.inputs), ("output", raw.outputs)):
            for index in indices:
                t = raw.tensors[index]
                if self.is_edge(index):
                    continue
                if t.type == tflite.TensorType.UINT8:
                    raise UnsupportedError(
                        f"{self.label}: graph {role} {self.describe(index)}: tinygen supports int8 and int16 "
                        "activations (not uint8 quantization inside the model); re-convert with full-integer int8 "
                        "quantization (TFLITE_BUILTINS_INT8, inference_input_type=tf.int8)"
                    )
                if t.type == tflite.TensorType.INT16 and role == "input":  # a 16x8 model's: read by 16x8 ops only
                    for reader in self.consumers.get(index, []):
                        self.check_int16(reader, index)
        self.check_float()  # first: a float model's unsupported ops are not the real problem
        unsupported = [op for op in raw.ops if op.name not in ops.tflite_builtins() and op.name not in variables.RESOURCE_OPS]
        if unsupported:
            listed = "; ".join(f"op {op.index} {op.name}" for op in unsupported[:12])
            more = f" and {len(unsupported) - 12} more" if len(unsupported) > 12 else ""
            raise UnsupportedError(
                f"{self.label}: {len(unsupported)} op(s) tinygen does not support: {listed}{more}; supported ops: "
                f"{', '.join(ops.tflite_builtins())}; replace those layers in the model"
            )

    def is_edge(self, index: int) -> bool:
        """A uint8 graph input read only by QUANTIZE ops, an int16 one read only by QUANTIZE ops to int8, or a
        uint8 graph output of a QUANTIZE: the conversion at the edge of an int8 model (TFLite's
        inference_input_type/output_type=tf.uint8; an int16 input such as TFLite Micro's keyword_scrambled
        example has). Any other int16 graph input is an activation of a 16x8 model."""
        t = self.raw.tensors[index]
        if t.type != tflite.TensorType.UINT8 and not (t.type == tflite.TensorType.INT16 and index in self.raw.inputs):
            return False
        if index in self.raw.inputs:
            readers = self.consumers.get(index, [])
            if not readers or any(op.name != "QUANTIZE" for op in readers) or index in self.raw.outputs:
                return False
            if t.type == tflite.TensorType.INT16 and any(
                self.raw.tensors[op.outputs[0]].type != tflite.TensorType.INT8 for op in readers if op.outputs
            ):
                return False
        else:
            producer = self.producer.get(index)
            if producer is None or producer.name != "QUANTIZE" or self.consumers.get(index):
                return False
        return t.scale is not None and t.scale.size == 1

    def edge_tensor(self, index: int) -> str:
        """A uint8 graph input or output, or an int16 graph input (see :meth:`is_edge`)."""
        if not self.is_edge(index):
            raise UnsupportedError(
                f"{self.label}: {self.describe(index)}: a uint8 tensor that is not a graph input or output converted "
                "by QUANTIZE (or an int16 one that is not a graph input); tinygen supports int8 activations only: "
                "re-convert with full-integer int8 quantization"
            )
        return self.tensor(index)

    def check_float(self) -> None:
        """A float (or dynamic-range) model: float32 tensors anywhere but at QUANTIZE/DEQUANTIZE edges."""
        for op in self.raw.ops:
            mapped = ops.tflite_builtins().get(op.name)
            if mapped is not None and mapped[0].float_edge is not None:
                continue
            for index in (*op.inputs, *op.outputs):
                if index >= 0 and self.raw.tensors[index].type in (tflite.TensorType.FLOAT32, tflite.TensorType.FLOAT16):
                    raise UnsupportedError(
                        f"{self.label}: a float model (op {op.index} {op.name} uses float {self.describe(index)}); "
                        "tinygen needs a full-integer int8 model: quantize it with representative data "
                        "(TFLiteConverter with TFLITE_BUILTINS_INT8, or give tinygen the Keras model)"
                    )

    # -- tensors --------------------------------------------------------------------------------

    def shape(self, index: int) -> tuple[int, ...]:
        t = self.raw.tensors[index]
        if any(d < 0 for d in t.shape) or (
            t.signature is not None and any(d < 0 for d in t.signature[1:])
        ):
            raise UnsupportedError(
                f"{self.label}: {self.describe(index)} has a dynamic shape (signature {list(t.signature or t.shape)}); "
                "tinygen needs static shapes: build the model with fixed input sizes (batch_size=1)"
            )
        if any(d == 0 for d in t.shape):
            raise TinygenError(f"{self.label}: {self.describe(index)} has a zero-sized dimension; corrupt model")
        return t.shape

    def ranked(self, op: _RawOp, index: int, rank: int, what: str) -> tuple[int, ...]:
        """The shape of an operand that must have ``rank`` dimensions."""
        shape = self.shape(index)
        if len(shape) != rank:
            raise UnsupportedError(
                f"{self.where(op)}: {what} {self.describe(index)} must have {rank} dimensions"
                + (" (NHWC)" if rank == 4 and what == "input" else "")
            )
        return shape

    def tensor(self, index: int, *, axis: int | None = None) -> str:
        """Add .tflite tensor ``index`` to the graph (once) and return its IR name."""
        name = self.names[index]
        if name in self.graph.tensors:
            return name
        t = self.raw.tensors[index]
        if t.sparse:
            raise UnsupportedError(f"{self.label}: {self.describe(index)} is sparse; convert the model without sparsity")
        if t.is_variable:
            raise UnsupportedError(
                f"{self.label}: {self.describe(index)} is a variable tensor (state TFLite Micro keeps between "
                "invocations); tinygen compiles stateless models only: export the model without variable tensors"
            )
        if t.type not in _NUMPY_TYPES:
            raise UnsupportedError(
                f"{self.label}: {self.describe(index)} has type {_TYPE_NAMES.get(t.type, t.type)}, which tinygen does "
                "not support; use int8 weights and activations, int32 biases"
            )
        shape = self.shape(index)
        dtype = np.dtype(_NUMPY_TYPES[t.type])
        quant = None
        if t.scale is not None and t.zero_point is not None:
            per_channel = t.scale.size > 1
            quant = ir.Quantization(
                t.scale,
                t.zero_point,
                (axis if axis is not None else t.quantized_dimension) if per_channel else None,
            )
        data = None
        if t.data is not None:
            expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if len(t.data) != expected:
                raise TinygenError(
                    f"{self.label}: {self.describe(index)} holds {len(t.data)} bytes of data, expected {expected}: "
                    "truncated or corrupt .tflite file; re-export the model"
                )
            data = np.frombuffer(t.data, dtype=dtype).reshape(shape).copy()
        self.graph.add_tensor(ir.Tensor(name, shape, dtype.name, quant, data))
        return name

    def check_int16(self, op: _RawOp, index: int) -> None:
        """An int16 activation of ``op``: refused, naming the layer, unless tinygen runs the op in 16x8."""
        if op.name in int16_builtins() or op.index < 0:
            return
        layer = self.names[op.outputs[0]] if op.outputs else "?"
        raise UnsupportedError(
            f"{self.where(op)} layer {layer!r}: {self.describe(index)}: int16x8 (16-bit activations) {op.name} is not "
            f"supported yet: tinygen supports int8 activations only in {op.name} (16x8 models run with "
            f"{', '.join(int16_builtins())}); convert this model with int8 quantization (TFLITE_BUILTINS_INT8), or "
            "replace the layer"
        )

    def activation_tensor(self, op: _RawOp, index: int) -> str:
        """An int8 or int16 activation operand (or a constant int8 operand of ADD/MUL/CONCATENATION)."""
        t = self.raw.tensors[index]
        if t.type == tflite.TensorType.INT16:
            self.check_int16(op, index)
        elif t.type != tflite.TensorType.INT8:
            raise UnsupportedError(
                f"{self.where(op)}: {self.describe(index)}: tinygen supports int8 activations only; "
                "re-convert with full-integer int8 quantization"
            )
        if t.scale is None or t.scale.size != 1:
            raise UnsupportedError(
                f"{self.where(op)}: {self.describe(index)} needs per-tensor quantization (one scale and zero point)"
            )
        return self.tensor(index)

    def const(self, op: _RawOp, index: int, what: str) -> np.ndarray:
        t = self.raw.tensors[index]
        if t.data is None:
            raise UnsupportedError(f"{self.where(op)}: its {what} ({self.describe(index)}) must be a constant")
        if t.type not in (tflite.TensorType.INT32, tflite.TensorType.INT64):
            raise UnsupportedError(f"{self.where(op)}: its {what} ({self.describe(index)}) must be int32 or int64")
        itemsize = np.dtype(_NUMPY_TYPES[t.type]).itemsize
        if len(t.data) % itemsize:
            raise TinygenError(
                f"{self.where(op)}: its {what} ({self.describe(index)}) holds {len(t.data)} bytes, not a whole number "
                f"of {itemsize}-byte values; corrupt model"
            )
        values = np.frombuffer(t.data, dtype=_NUMPY_TYPES[t.type])
        if values.size != int(np.prod(self.shape(index))):
            raise TinygenError(f"{self.where(op)}: its {what} ({self.describe(index)}) has the wrong size; corrupt model")
        return values

    def const_int8(self, op: _RawOp, index: int, what: str) -> np.ndarray:
        t = self.raw.tensors[index]
        if t.data is None or t.type != tflite.TensorType.INT8:
            raise UnsupportedError(f"{self.where(op)}: its {what} ({self.describe(index)}) must be a constant int8")
        return np.frombuffer(t.data, dtype=np.int8)

    def weights(self, op: _RawOp, index: int, out_channels: int, axis: int) -> str:
        t = self.raw.tensors[index]
        if t.type != tflite.TensorType.INT8 or t.data is None or t.scale is None:
            raise UnsupportedError(
                f"{self.where(op)}: weights {self.describe(index)} must be constant int8 with quantization "
                "(int4/int16/float weights are not supported); re-convert with int8 weights"
            )
        if t.scale.size not in (1, out_channels):
            raise TinygenError(
                f"{self.where(op)}: weights {self.describe(index)} have {t.scale.size} scales for {out_channels} "
                "output channels; corrupt quantization parameters"
            )
        qdim = t.quantized_dimension
        if t.scale.size > 1 and not (0 <= qdim < len(t.shape) and t.shape[qdim] == t.scale.size):
            # TFLite Micro's Prepare refuses it too (the channel count must be the quantized dimension's size)
            raise TinygenError(
                f"{self.where(op)}: weights {self.describe(index)} are quantized per channel along dimension {qdim}, "
                f"which does not hold their {t.scale.size} scales; corrupt quantization parameters"
            )
        return self.tensor(index, axis=axis)

    def bias(self, op: _RawOp, index: int, out_channels: int, int64: bool = False) -> list[str]:
        """The bias operand: a constant int32 vector (``int64``: or int64, as a 16x8 layer has)."""
        if index == -1:
            return []  # optional bias absent: no bias input
        t = self.raw.tensors[index]
        if t.type not in (tflite.TensorType.INT32, *((tflite.TensorType.INT64,) if int64 else ())) or t.data is None:
            raise UnsupportedError(
                f"{self.where(op)}: bias {self.describe(index)} must be a constant int32 tensor"
                + (" or int64 (16x8 model)" if int64 else " (int8 model)")
            )
        if int(np.prod(t.shape)) != out_channels:
            raise TinygenError(f"{self.where(op)}: bias {self.describe(index)} does not have {out_channels} elements")
        return [self.tensor(index, axis=0)]

    # -- ops ------------------------------------------------------------------------------------

    def activation(self, op: _RawOp) -> str:
        code = op.options.get("FusedActivationFunction", tflite.ActivationFunctionType.NONE)
        if code not in _ACTIVATIONS:
            raise UnsupportedError(
                f"{self.where(op)}: fused activation {_ACTIVATION_NAMES.get(code, code)} is not supported "
                f"(supported: {', '.join(_ACTIVATIONS.values())})"
            )
        return _ACTIVATIONS[code]

    def padding(self, op: _RawOp) -> str:
        return "same" if op.options["Padding"] == tflite.Padding.SAME else "valid"

    def stride(self, op: _RawOp) -> tuple[int, int]:
        return (int(op.options["StrideH"]), int(op.options["StrideW"]))

    def dilation(self, op: _RawOp) -> tuple[int, int]:
        return (int(op.options["DilationHFactor"]), int(op.options["DilationWFactor"]))

    def inputs(self, op: _RawOp, count: int) -> tuple[int, ...]:
        if len(op.inputs) < count or len(op.outputs) != 1:
            raise TinygenError(
                f"{self.where(op)}: has {len(op.inputs)} inputs and {len(op.outputs)} outputs, expected at least "
                f"{count} and 1; corrupt model"
            )
        return op.inputs

    def convert(self, op: _RawOp) -> ir.Op | list[ir.Op]:
        """The IR op of a supported ``.tflite`` operator (its op module's converter), or the IR ops it is
        rewritten into (each with its outputs set: :meth:`output` and :meth:`derived` make them)."""
        return ops.tflite_builtins()[op.name][1].convert(self, op)

    def derived(self, like: str, shape: tuple[int, ...], suffix: str) -> str:
        """A new activation tensor for a rewrite: ``like``'s type and quantization, ``shape``, named after
        ``like`` with ``suffix`` (made unique)."""
        t = self.graph.tensor(like)
        name, k = f"{like}/{suffix}", 0
        while name in self.graph.tensors or name in self.names:
            k += 1
            name = f"{like}/{suffix}_{k}"
        self.graph.add_tensor(ir.Tensor(name, shape, t.dtype, t.quant))
        return name

    def output(self, op: _RawOp, kind: str, position: int = 0) -> str:
        """The IR tensor of the op's output ``position``, checked for what an op of ``kind`` may produce."""
        index = op.outputs[position]
        t = self.raw.tensors[index]
        if ops.get(kind).float_edge == "output":
            return self.tensor(index)
        if t.type == tflite.TensorType.UINT8 and ops.get(kind).float_edge is not None:
            return self.edge_tensor(index)
        if t.type == tflite.TensorType.INT16:
            self.check_int16(op, index)
        if t.type not in (tflite.TensorType.INT8, tflite.TensorType.INT16) or t.scale is None or t.scale.size != 1:
            raise UnsupportedError(
                f"{self.where(op)}: output {self.describe(index)}: tinygen supports per-tensor int8 activations only "
                "(int16 in the 16x8 layers it supports); re-convert with full-integer int8 quantization"
            )
        return self.tensor(index)

    def run(self) -> ir.Graph:
        self.check_model()
        g = self.graph
        for index in self.raw.inputs:
            t = self.raw.tensors[index]
            if t.type == tflite.TensorType.FLOAT32:
                self.tensor(index)
            elif t.type == tflite.TensorType.UINT8 or self.is_edge(index):
                self.edge_tensor(index)
            else:
                self.activation_tensor(_RawOp(-1, "graph input", (), ()), index)
        g.inputs = [self.names[i] for i in self.raw.inputs]
        for raw_op in self.raw.ops:
            if raw_op.name in variables.RESOURCE_OPS:
                continue  # the graph's states (below)
            op = self.convert(raw_op)
            if isinstance(op, list):  # rewritten into several ops (their outputs set by the converter)
                for part in op:
                    part.name = part.name or part.outputs[0]
                    g.add_op(part)
                continue
            if len(raw_op.outputs) != 1:
                raise TinygenError(f"{self.where(raw_op)}: has {len(raw_op.outputs)} outputs, expected 1; corrupt model")
            op.outputs = [self.output(raw_op, op.kind)]
            op.name = op.outputs[0]
            g.add_op(op)
        g.outputs = [self.names[i] for i in self.raw.outputs]
        g.states += variables.states(self)  # after any state an op's converter added (an LSTM's variable tensors)
        for name in g.outputs:
            if name not in g.tensors:
                raise TinygenError(f"{self.label}: graph output {name!r} is not produced by any op; corrupt model")
        g.validate()
        return g


def import_tflite(path_or_bytes: str | Path | bytes, name: str | None = None) -> ir.Graph:
    """Import an int8 ``.tflite`` (path or bytes) as an IR graph named ``name`` (default: the file stem,
    made a C identifier). Raises :class:`TinygenError` on anything tinygen cannot run."""
    buf, stem, label = _read(path_or_bytes)
    if name and not isinstance(path_or_bytes, (str, Path)):
        label = name
    raw = _parse(buf, label)
    fold.fold(raw)  # the shape arithmetic of a dynamic batch: constants
    return _Importer(raw, c_identifier(name or stem), label).run()
