"""tinygen's intermediate representation: a graph of tensors and ops in topological order.

Conventions (the TFLite ones, so importing a ``.tflite`` is a direct mapping):

* Activations are NHWC. A fully connected input is flattened to ``[batch, features]``.
* Conv weights are OHWI ``[out_c, kh, kw, in_c]``; depthwise weights are ``[1, kh, kw, in_c * mult]``;
  fully connected weights are ``[out, in]``. Biases are int32 ``[out_c]`` (int64 in 16x8 layers).
* Quantization: ``real = scale * (q - zero_point)``. Scales are float32 (as TFLite stores them,
  the arithmetic derives multipliers from these exact float32 values). Per-channel parameters
  carry ``axis`` (the quantized dimension).
* Op ``kind`` is one of the kinds of the op registry (:mod:`tinygen.ops`), each defined (attributes, shape
  inference, checks...) in one module there.
* The fused activation of an op is ``attrs["activation"]`` in :data:`ACTIVATIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinygen import activations
from tinygen.errors import TinygenError

DTYPES = ("int8", "int16", "int32", "int64", "float32", "uint8")

#: the fused activations (``attrs["activation"]``): their one home is :mod:`tinygen.activations`
ACTIVATIONS = activations.ACTIVATIONS


@dataclass
class Quantization:
    """Affine quantization parameters: ``real = scale * (q - zero_point)``.

    ``scale`` and ``zero_point`` are 1-D arrays: one element for per-tensor quantization, one per
    channel of dimension ``axis`` for per-channel quantization.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None

    def __post_init__(self) -> None:
        self.scale = np.atleast_1d(np.asarray(self.scale, dtype=np.float32))
        self.zero_point = np.atleast_1d(np.asarray(self.zero_point, dtype=np.int64))
        if self.scale.shape != self.zero_point.shape:
            raise ValueError("scale and zero_point must have the same length")
        if self.scale.size > 1 and self.axis is None:
            raise ValueError("per-channel quantization needs an axis")

    @property
    def per_channel(self) -> bool:
        return self.axis is not None and self.scale.size > 1

    def scalar(self) -> tuple[float, int]:
        """(scale, zero_point) of a per-tensor quantization."""
        if self.scale.size != 1:
            raise ValueError("per-channel quantization has no single scale")
        return float(self.scale[0]), int(self.zero_point[0])


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quantization | None = None
    #: constant data (weights, biases, shapes); None for activations
    data: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.shape = tuple(int(d) for d in self.shape)
        if self.dtype not in DTYPES:
            raise ValueError(f"tensor {self.name!r}: unsupported dtype {self.dtype!r}")

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize


@dataclass
class Op:
    kind: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def activation(self) -> str:
        return str(self.attrs.get("activation", "none"))


@dataclass
class State:
    """A variable the model keeps between invocations (TFLite's resource variables: a streaming model's
    buffer of past frames). Each invocation reads it as tensor ``read`` (available from the start, like a
    graph input) and, if ``write`` is set, stores tensor ``write`` into it at the end; it starts as
    ``initial`` (and again after a reset)."""

    name: str
    read: str | None
    write: str | None
    initial: np.ndarray


@dataclass
class Graph:
    """A model: tensors by name, ops in execution (topological) order, graph inputs/outputs, and the state it
    keeps between invocations (none for most models)."""

    name: str
    tensors: dict[str, Tensor] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    states: list[State] = field(default_factory=list)

    def add_tensor(self, tensor: Tensor) -> Tensor:
        if tensor.name in self.tensors:
            raise ValueError(f"duplicate tensor name {tensor.name!r}")
        self.tensors[tensor.name] = tensor
        return tensor

    def add_op(self, op: Op) -> Op:
        self.ops.append(op)
        return op

    def tensor(self, name: str) -> Tensor:
        return self.tensors[name]

    def producers(self) -> dict[str, Op]:
        return {out: op for op in self.ops for out in op.outputs}

    def consumers(self, name: str) -> list[Op]:
        return [op for op in self.ops if name in op.inputs]

    def activation_tensors(self) -> list[Tensor]:
        """Non-constant tensors (graph inputs and op outputs)."""
        return [t for t in self.tensors.values() if not t.is_const]

    def validate(self) -> None:
        """Check the graph before anything runs or is generated: inputs/outputs defined, every op of a known
        kind with legal attributes and consistent shapes (its own checks: :meth:`tinygen.ops.OpDef.validate`),
        tensors produced once and before use (topological order), constants the size of their shape."""
        from tinygen import ops

        for name in self.inputs + self.outputs:
            if name not in self.tensors:
                raise TinygenError(f"graph {self.name!r}: input/output tensor {name!r} is not defined")
        for t in self.tensors.values():
            if t.data is not None and np.asarray(t.data).size != t.size:
                raise TinygenError(
                    f"graph {self.name!r}: constant tensor {t.name!r} of shape {t.shape} holds {np.asarray(t.data).size} "
                    f"values, expected {t.size}: corrupt model"
                )
        self._check_states()
        available = set(self.inputs) | {n for n, t in self.tensors.items() if t.is_const}
        available |= {s.read for s in self.states if s.read is not None}
        # the Keras flow's float graph (every op output float32) gets the structural checks only
        quantized = any(self.tensors[o].dtype != "float32" for op in self.ops for o in op.outputs if o in self.tensors)
        for index, op in enumerate(self.ops):
            defn = ops.find(op.kind)
            if defn is None:
                raise TinygenError(f"op {index} ({op.kind} {op.name!r}): unknown op kind; tinygen knows {', '.join(ops.kinds())}")
            self._check_operands(index, op, available)
            defn.validate(self, op, index, quantized)
        for name in self.outputs + [s.write for s in self.states if s.write is not None]:
            if name not in available:
                raise TinygenError(f"graph {self.name!r}: output tensor {name!r} is never produced")

    def _check_states(self) -> None:
        """Each state's tensors exist, are non-constant int8 or int16 (float32 in the quantizer's float graph) of its
        initial value's type and size."""
        for s in self.states:
            initial = np.asarray(s.initial)
            for name in (s.read, s.write):
                if name is None:
                    continue
                t = self.tensors.get(name)
                if t is None or t.is_const or t.dtype not in ("int8", "int16", "float32") or t.dtype != initial.dtype.name or (
                    t.size != initial.size
                ):
                    raise TinygenError(
                        f"graph {self.name!r}: state {s.name!r} ({initial.size} {initial.dtype.name} values) does not "
                        f"match tensor {name!r}" + (f" ({t.dtype}, shape {t.shape})" if t is not None else " (not defined)")
                    )
            if s.read is not None and s.read in self.inputs:
                raise TinygenError(f"graph {self.name!r}: state {s.name!r} is read as graph input {s.read!r}")

    def _check_operands(self, index: int, op: Op, available: set[str]) -> None:
        """Every input defined and produced before ``op``; every output defined and produced once."""
        where = f"op {index} ({op.kind} {op.name!r})"
        for name in op.inputs:
            if name not in self.tensors:
                raise TinygenError(f"{where}: input tensor {name!r} is not defined")
            if name not in available:
                raise TinygenError(f"{where}: input tensor {name!r} is used before it is produced")
        for name in op.outputs:
            if name not in self.tensors:
                raise TinygenError(f"{where}: output tensor {name!r} is not defined")
            if name in available:
                raise TinygenError(f"{where}: tensor {name!r} is produced twice")
            available.add(name)


def same_padding(in_size: int, filter_size: int, stride: int, dilation: int = 1) -> tuple[int, int, int]:
    """TFLite's SAME padding: (output size, pad before, pad after) along one dimension."""
    effective = (filter_size - 1) * dilation + 1
    out = (in_size + stride - 1) // stride
    total = max((out - 1) * stride + effective - in_size, 0)
    return out, total // 2, total - total // 2


def conv_output_size(in_size: int, filter_size: int, stride: int, dilation: int, padding: str) -> tuple[int, int]:
    """(output size, pad before) along one dimension for ``padding`` "same" or "valid"."""
    if padding == "same":
        out, before, _ = same_padding(in_size, filter_size, stride, dilation)
        return out, before
    effective = (filter_size - 1) * dilation + 1
    return (in_size - effective + stride) // stride, 0


def op_macs(graph: Graph, op: Op) -> int:
    """Multiply-accumulates an op performs (0 for data movement ops)."""
    from tinygen import ops

    macs = ops.get(op.kind).macs
    return macs(graph, op) if macs is not None else 0
