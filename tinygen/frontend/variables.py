"""Resource variables of a ``.tflite``: the state a streaming model keeps between invocations.

TensorFlow's converter exports a stateful Keras model (streaming convolutions keeping a window of past
frames, as microWakeWord's models do) as two subgraphs: the main one starts with CALL_ONCE, which runs
an *init* subgraph once (VAR_HANDLE + ASSIGN_VARIABLE of a constant per variable); then the main
subgraph's VAR_HANDLE ops name the variables, READ_VARIABLE copies a variable into a tensor and
ASSIGN_VARIABLE copies a tensor into a variable. TFLite Micro keeps each variable in a buffer of its own.

tinygen maps each variable to an :class:`tinygen.ir.State`: READ_VARIABLE's output is the state's
``read`` tensor (available from the start, as a graph input is), ASSIGN_VARIABLE's input its ``write``
tensor (stored when the invocation ends), the init subgraph's constant its ``initial`` value. None of
these ops becomes an IR op. That is TFLite Micro's result exactly when each variable is read at most once
and assigned at most once, after the read: anything else is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tflite

from tinygen import ir
from tinygen.errors import TinygenError, UnsupportedError

#: the builtins handled here (none of them is an IR op)
RESOURCE_OPS = ("CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE")


@dataclass
class RawVariables:
    """What the file says of its variables (parsed with the rest of the flatbuffer)."""

    #: the subgraph CALL_ONCE runs (None: no CALL_ONCE)
    init_subgraph: int | None = None
    #: main-subgraph tensor index of each VAR_HANDLE's handle -> the variable's name
    handles: dict[int, str] = field(default_factory=dict)
    #: variable name -> (shape, raw int8 bytes, scale, zero point) of its initial value
    initial: dict[str, tuple[tuple[int, ...], bytes, float | None, int | None]] = field(default_factory=dict)


def _var_name(op: Any, where: str) -> str:
    table = op.BuiltinOptions()
    if table is None or op.BuiltinOptionsType() != tflite.BuiltinOptions.VarHandleOptions:
        raise TinygenError(f"{where}: VAR_HANDLE without its options (the variable's name); corrupt model")
    options = tflite.VarHandleOptions()
    options.Init(table.Bytes, table.Pos)
    container = (options.Container() or b"").decode("utf-8", "replace")
    return f"{container}/{(options.SharedName() or b'').decode('utf-8', 'replace')}" if container else (
        (options.SharedName() or b"").decode("utf-8", "replace"))


def parse(buf: bytes, model: Any, op_name: Any, label: str) -> RawVariables:
    """The variables of ``model`` (``op_name(op)``: an operator's builtin name). Refuses subgraphs that are
    not CALL_ONCE's init subgraph (control flow) and init subgraphs that do more than assign constants."""
    found = RawVariables()
    main = model.Subgraphs(0)
    for i in range(main.OperatorsLength()):
        op = main.Operators(i)
        name = op_name(op)
        if name == "CALL_ONCE":
            table = op.BuiltinOptions()
            if table is None or found.init_subgraph is not None:
                raise UnsupportedError(f"{label}: op {i} CALL_ONCE: missing options or a second CALL_ONCE")
            options = tflite.CallOnceOptions()
            options.Init(table.Bytes, table.Pos)
            found.init_subgraph = int(options.InitSubgraphIndex())
        elif name == "VAR_HANDLE":
            found.handles[int(op.OutputsAsNumpy()[0])] = _var_name(op, f"{label}: op {i}")
    extra = [k for k in range(1, model.SubgraphsLength()) if k != found.init_subgraph]
    if extra or (found.init_subgraph is not None and not 0 < found.init_subgraph < model.SubgraphsLength()):
        raise UnsupportedError(
            f"{label}: the model has {model.SubgraphsLength()} subgraphs (control flow such as WHILE/IF, or several "
            "signatures); tinygen supports one subgraph, plus the init subgraph of resource variables (CALL_ONCE): "
            "export one function without control flow"
        )
    if found.init_subgraph is None:
        return found
    init = model.Subgraphs(found.init_subgraph)
    handles: dict[int, str] = {}
    for i in range(init.OperatorsLength()):
        op = init.Operators(i)
        name = op_name(op)
        where = f"{label}: init subgraph op {i} ({name})"
        if name == "VAR_HANDLE":
            handles[int(op.OutputsAsNumpy()[0])] = _var_name(op, where)
        elif name == "ASSIGN_VARIABLE":
            handle, value = (int(v) for v in op.InputsAsNumpy()[:2])
            t = init.Tensors(value)
            data = _constant(buf, model, t)
            if handle not in handles or data is None or t.Type() != tflite.TensorType.INT8:
                raise UnsupportedError(f"{where}: a variable's initial value must be a constant int8 tensor")
            q = t.Quantization()
            scale = float(q.ScaleAsNumpy()[0]) if q is not None and q.ScaleLength() else None
            zp = int(q.ZeroPointAsNumpy()[0]) if q is not None and q.ZeroPointLength() else None
            shape = tuple(int(d) for d in t.ShapeAsNumpy()) if not t.ShapeIsNone() else ()
            found.initial[handles[handle]] = (shape, data, scale, zp)
        else:
            raise UnsupportedError(f"{where}: the init subgraph may only create variables and assign constants to them")
    return found


def _constant(buf: bytes, model: Any, tensor: Any) -> bytes | None:
    index = tensor.Buffer()
    if index <= 0 or index >= model.BuffersLength():
        return None
    buffer = model.Buffers(index)
    if buffer.Offset() > 1:
        return buf[buffer.Offset() : buffer.Offset() + buffer.Size()]
    return None if buffer.DataIsNone() else buffer.DataAsNumpy().tobytes()


def states(importer: Any) -> list[ir.State]:
    """The graph's states from the main subgraph's READ_VARIABLE/ASSIGN_VARIABLE ops (``importer``: the
    ``.tflite`` importer, its graph's tensors made as they are needed)."""
    raw, variables = importer.raw, importer.raw.variables
    reads: dict[str, str] = {}
    writes: dict[str, str] = {}
    for op in raw.ops:
        if op.name not in ("READ_VARIABLE", "ASSIGN_VARIABLE"):
            continue
        where = importer.where(op)
        handle = op.inputs[0] if op.inputs else -1
        if handle not in variables.handles:
            raise UnsupportedError(f"{where}: reads or assigns a variable that no VAR_HANDLE of the main subgraph names")
        var = variables.handles[handle]
        if op.name == "READ_VARIABLE":
            if var in reads or var in writes:
                raise UnsupportedError(f"{where}: variable {var!r} is read twice or after it is assigned; tinygen keeps "
                                       "one read before the assignment per invocation")
            reads[var] = importer.activation_tensor(op, op.outputs[0])
        else:
            if var in writes:
                raise UnsupportedError(f"{where}: variable {var!r} is assigned twice in one invocation")
            writes[var] = importer.activation_tensor(op, op.inputs[1])
    found = []
    for var in sorted(set(reads) | set(writes), key=lambda v: list(variables.handles.values()).index(v)):
        if var not in variables.initial:
            raise UnsupportedError(f"{importer.label}: variable {var!r} has no initial value in the init subgraph "
                                   "(CALL_ONCE); tinygen needs one")
        shape, data, scale, zp = variables.initial[var]
        initial = np.frombuffer(data, dtype=np.int8)
        for name in (reads.get(var), writes.get(var)):
            if name is None:
                continue
            t = importer.graph.tensor(name)
            q = t.quant.scalar() if t.quant is not None else (None, None)
            if t.size != initial.size or (scale is not None and (np.float32(scale), zp) != (np.float32(q[0]), q[1])):
                raise TinygenError(
                    f"{importer.label}: variable {var!r} (initial value {list(shape)}, scale {scale}, zero point {zp}) "
                    f"does not match tensor {name!r} ({list(t.shape)}, quantization {q}); corrupt model"
                )
        found.append(ir.State(var, reads.get(var), writes.get(var), initial.copy()))
    return found
