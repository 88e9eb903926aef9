"""Structural fuzzing of ``.tflite`` models: mutate a model's flatbuffer, then check that tinygen either
refuses the mutant with a :class:`~tinygen.errors.TinygenError` or generates C that is bit-exact.

Used by ``tests/test_fuzz.py`` (a bounded, seeded run in the suite) and ``scripts/fuzz_tflite.py`` (a
long run by hand). Three parts:

**Mutation** (:func:`mutate`, :func:`mutants`). The flatbuffer is read with the ``tflite`` schema
bindings and patched where its fields live, so a mutant differs from its seed model only in what the
mutation names (``op 3 CONV_2D Conv2DOptions.StrideH: 1 -> 0``). Where a field is present its value
is overwritten in place; where it is absent (flatbuffers omits default values: SAME padding, no fused
activation, opcode index 0...) the table gets a copy of its vtable with the field added and the value
is appended to the end of the buffer (a vtable offset reaches 64 KB past its table: an options table
further away is first copied, scalar-only as it is, to the end). Vectors (shapes, scales, operator
inputs) are patched in place or replaced by a new vector appended to the end (uoffsets only point
forward, and the end is after everything). Field offsets and types are read from the ``tflite``
package's generated accessors (:func:`field`), not hard-coded. Mutations cover op options, tensor
shapes/types/buffers, quantization, operator inputs/outputs, opcodes, op order, options tables, the
subgraph's inputs/outputs, and a few raw byte flips. Everything is derived from the seed string:
``mutate(data, "0:person_detect:17")`` gives the same bytes on every machine.

**Checking** (:func:`check_mutant`, run inside a worker process): import + generate; a TinygenError is
a clean refusal. An accepted mutant runs on the reference executor and TFLite Micro (every op output
compared) and, when asked, its C is compiled on the host (gcc -O1 with ASan/UBSan through
``hostbuild``) and run on the same input vectors (every layer compared with the reference). The result
is an outcome dict whose ``status`` is one of :data:`OK_STATUSES` or :data:`FAIL_STATUSES`.

**Isolation** (:class:`WorkerPool`): each mutant runs in a worker process (own process group, capped
address space, per-mutant timeout) so that a hang, a memory blow-up or a crash in tinygen, the compiled
program or TFLite Micro's interpreter is recorded as such and the run goes on.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
import os
import random
import re
import shutil
import signal
import struct
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import tflite

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

# =========================================================================== schema reflection

_FLAG_FMT = {
    "Bool": "B", "Int8": "b", "Uint8": "B", "Int16": "h", "Uint16": "H", "Int32": "i", "Uint32": "I",
    "Int64": "q", "Uint64": "Q", "Float32": "f", "Float64": "d",
}


@dataclass(frozen=True)
class Field:
    """One field of a flatbuffer table class of the ``tflite`` package."""

    name: str
    vo: int  # vtable offset
    kind: str  # "scalar", "vector" (of scalars), "table", "union", "other" (strings, vectors of tables...)
    fmt: str | None  # struct format of the scalar / the vector's elements


@functools.lru_cache(maxsize=None)
def field(cls: type, name: str) -> Field:
    """The vtable offset, kind and type of ``cls.name``, read from the generated accessor's source."""
    src = inspect.getsource(getattr(cls, name))
    vo = int(re.search(r"self\._tab\.Offset\((\d+)\)", src).group(1))  # type: ignore[union-attr]
    flags = [f for f in re.findall(r"number_types\.(\w+)Flags", src) if f != "UOffsetT"]
    fmt = _FLAG_FMT.get(flags[0]) if flags else None
    if "_tab.Union(" in src:
        kind = "union"
    elif "_tab.Vector(" in src:
        kind = "vector" if fmt and "Indirect" not in src and "String" not in src else "other"
    elif "_tab.String(" in src:
        kind = "other"
    elif "_tab.Indirect(" in src:
        kind = "table"
    else:
        kind = "scalar"
    return Field(name, vo, kind, fmt if kind in ("scalar", "vector") else None)


@functools.lru_cache(maxsize=None)
def fields(cls: type) -> tuple[Field, ...]:
    """Every field of table class ``cls`` (one per vtable slot)."""
    found: dict[int, Field] = {}
    for name, member in vars(cls).items():
        if name.startswith("_") or not callable(member) or name.endswith(("Length", "IsNone", "AsNumpy")):
            continue
        try:
            src = inspect.getsource(member)
        except (OSError, TypeError):
            continue
        if "self._tab.Offset(" not in src or "GetRootAs" in name or "BufferHasIdentifier" in name:
            continue
        f = field(cls, name)
        found.setdefault(f.vo, f)
    return tuple(sorted(found.values(), key=lambda f: f.vo))


def scalar_only(cls: type) -> bool:
    return all(f.kind == "scalar" for f in fields(cls))


_OPTIONS_TYPES = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
_OP_CODES = {k: v for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}

#: the options table each builtin op carries (for ops whose table the mutator may have to create)
OP_OPTIONS = {
    "CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions", "ADD": "AddOptions", "MUL": "MulOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions", "MEAN": "ReducerOptions",
    "SOFTMAX": "SoftmaxOptions", "CONCATENATION": "ConcatenationOptions", "RESHAPE": "ReshapeOptions",
    "SQUEEZE": "SqueezeOptions", "PAD": "PadOptions", "PADV2": "PadV2Options",
    "QUANTIZE": "QuantizeOptions", "DEQUANTIZE": "DequantizeOptions",
}


def options_class(type_code: int) -> type | None:
    name = _OPTIONS_TYPES.get(type_code)
    cls = getattr(tflite, name, None) if name else None
    return cls if isinstance(cls, type) else None


# =========================================================================== flatbuffer patching


class Flat:
    """A flatbuffer being patched. Only appends and in-place writes: existing positions never move, so
    positions read from a parse of an earlier state stay valid."""

    def __init__(self, data: bytes) -> None:
        self.buf = bytearray(data)

    def data(self) -> bytes:
        return bytes(self.buf)

    def model(self) -> Any:
        return tflite.Model.GetRootAs(bytes(self.buf), 0)

    # -- raw access
    def get(self, fmt: str, pos: int) -> Any:
        return struct.unpack_from("<" + fmt, self.buf, pos)[0]

    def put(self, fmt: str, pos: int, value: Any) -> None:
        struct.pack_into("<" + fmt, self.buf, pos, value)

    def append(self, payload: bytes, align: int = 1, skew: int = 0) -> int:
        """Append ``payload`` at a position p with (p + skew) % align == 0; return p."""
        pad = (-(len(self.buf) + skew)) % align
        self.buf += b"\0" * pad
        pos = len(self.buf)
        self.buf += payload
        return pos

    # -- tables
    def vtable(self, table: int) -> int:
        return table - self.get("i", table)

    def offset(self, table: int, vo: int) -> int:
        """The field's offset in the table, 0 when absent."""
        vt = self.vtable(table)
        return self.get("H", vt + vo) if vo < self.get("H", vt) else 0

    def _revtable(self, table: int, changes: dict[int, int], min_size: int = 0) -> None:
        """Give the table a fresh vtable (vtables may be shared) with ``changes`` (vo -> offset)."""
        vt = self.vtable(table)
        vsize, osize = self.get("H", vt), self.get("H", vt + 2)
        entries = {vo: self.get("H", vt + vo) for vo in range(4, vsize, 2)}
        entries.update(changes)
        top = max((vo for vo, off in entries.items() if off), default=2)
        payload = struct.pack("<HH", top + 2, max(osize, min_size))
        payload += b"".join(struct.pack("<H", entries.get(vo, 0)) for vo in range(4, top + 2, 2))
        new = self.append(payload, 2)
        self.put("i", table, table - new)

    def set_scalar(self, table: int, vo: int, fmt: str, value: Any) -> bool:
        payload = struct.pack("<" + fmt, value)
        off = self.offset(table, vo)
        if off:
            self.buf[table + off : table + off + len(payload)] = payload
            return True
        mark = len(self.buf)
        pos = self.append(payload, len(payload))
        if pos - table + len(payload) > 0xFFFF:  # a vtable offset is 16 bits
            del self.buf[mark:]
            return False
        self._revtable(table, {vo: pos - table}, pos - table + len(payload))
        return True

    def drop(self, table: int, vo: int) -> bool:
        if not self.offset(table, vo):
            return False
        self._revtable(table, {vo: 0})
        return True

    def set_target(self, table: int, vo: int, build: Callable[[], int]) -> bool:
        """Point the table's offset field ``vo`` at a new object ``build()`` appends."""
        off = self.offset(table, vo)
        if off:
            slot = table + off
            target = build()
            self.put("I", slot, target - slot)
            return True
        mark = len(self.buf)
        slot = self.append(b"\0\0\0\0", 4)
        if slot - table + 4 > 0xFFFF:
            del self.buf[mark:]
            return False
        target = build()
        self.put("I", slot, target - slot)
        self._revtable(table, {vo: slot - table}, slot - table + 4)
        return True

    def target(self, table: int, vo: int) -> tuple[int, int] | None:
        """(slot, position of the object) of an offset field, None when absent."""
        off = self.offset(table, vo)
        if not off:
            return None
        slot = table + off
        return slot, slot + self.get("I", slot)

    def relocate(self, table: int, slot: int) -> int:
        """Copy a scalar-only table to the end and repoint the uoffset at ``slot`` to the copy."""
        vt = self.vtable(table)
        vsize, osize = self.get("H", vt), self.get("H", vt + 2)
        new_vt = self.append(bytes(self.buf[vt : vt + vsize]), 2)
        new = self.append(bytes(self.buf[table : table + max(osize, 4)]), 8, (-table) % 8)
        self.put("i", new, new - new_vt)
        self.put("I", slot, new - slot)
        return new

    def new_table(self) -> int:
        vt = self.append(struct.pack("<HH", 4, 4), 2)
        table = self.append(b"\0\0\0\0", 4)
        self.put("i", table, table - vt)
        return table

    # -- vectors
    def new_vector(self, fmt: str, values: list[Any], align: int = 4) -> int:
        size = struct.calcsize("<" + fmt)
        payload = struct.pack(f"<I{len(values)}{fmt}", len(values), *values)
        return self.append(payload, max(align, size, 4), 4)

    def vector(self, table: int, vo: int) -> tuple[int, int] | None:
        """(position of the first element, length), None when absent."""
        t = self.target(table, vo)
        if t is None:
            return None
        return t[1] + 4, self.get("I", t[1])

    def vector_values(self, table: int, vo: int, fmt: str) -> list[Any]:
        v = self.vector(table, vo)
        if v is None:
            return []
        size = struct.calcsize("<" + fmt)
        return [self.get(fmt, v[0] + i * size) for i in range(v[1])]

    def set_vector(self, table: int, vo: int, fmt: str, values: list[Any], align: int = 4) -> bool:
        return self.set_target(table, vo, lambda: self.new_vector(fmt, values, align))


# =========================================================================== mutation


def _wrap(fmt: str, value: Any) -> Any:
    """``value`` fitted into ``fmt`` (two's complement wrap for integers, so -1 in a uint32 is 0xFFFFFFFF)."""
    if fmt in "fd":
        return float(value)
    bits = struct.calcsize("<" + fmt) * 8
    value = int(value) & ((1 << bits) - 1)
    if fmt.islower() and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _f32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0] if math.isfinite(value) and abs(value) < 3.4e38 else value


_INT_SPECIAL = (0, -1, 1, 2, 3, 255, 65536, 2**31 - 1, -(2**31))
_FLOAT_SPECIAL = (0.0, -1.0, math.nan, math.inf, -math.inf, 1e-30, 3e38, 1e-45, 2.0, 0.5)
#: value lists for the options fields that matter (the rest get the generic ones)
_OPTION_VALUES: dict[str, tuple[Any, ...]] = {
    "Padding": (0, 1, 2, -1, 127),
    "FusedActivationFunction": (0, 1, 2, 3, 4, 5, 6, -1, 127),
    "DepthMultiplier": (0, -1, 1, 2, 3, 8, 1000),
    "KeepDims": (0, 1, 2),
    "KeepNumDims": (0, 1, 2),
    "Beta": _FLOAT_SPECIAL + (1.0, 0.75),
    "Axis": (-1, -2, -5, 0, 1, 2, 3, 4, 100, -(2**31)),
    "WeightsFormat": (0, 1, 2, -1),
    "AsymmetricQuantizeInputs": (0, 1),
    "PotScaleInt16": (0, 1),
    "QuantizedBiasType": (0, 2, 9, 4),
}
#: options fields mutated more often than the others
_HOT_OPTIONS = {
    "Padding", "StrideH", "StrideW", "DilationHFactor", "DilationWFactor", "FilterHeight", "FilterWidth",
    "DepthMultiplier", "FusedActivationFunction", "KeepDims", "KeepNumDims", "Beta", "Axis", "WeightsFormat",
}


def _int_values(orig: int) -> list[int]:
    return [*_INT_SPECIAL, orig + 1, orig - 1, 2 * orig]


def _new_value(rng: random.Random, fmt: str, orig: Any, name: str = "") -> Any:
    choices: list[Any]
    if name in _OPTION_VALUES:
        choices = list(_OPTION_VALUES[name])
    elif fmt in "fd":
        choices = [*_FLOAT_SPECIAL, -orig, orig * 2.0]
    else:
        choices = _int_values(int(orig))
    choices = [v for v in choices if not _same(_wrap(fmt, v), orig)] or choices
    return _wrap(fmt, rng.choice(choices))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return struct.pack("<d", float(a)) == struct.pack("<d", float(b))
    return bool(a == b)


class _View:
    """The current parse of a model being mutated, with the names mutation descriptions use."""

    def __init__(self, flat: Flat) -> None:
        self.flat = flat
        self.model = flat.model()
        self.sg = self.model.Subgraphs(0)
        self.n_tensors = self.sg.TensorsLength()
        self.n_ops = self.sg.OperatorsLength()
        self.n_codes = self.model.OperatorCodesLength()
        self.n_buffers = self.model.BuffersLength()

    def op(self, i: int) -> Any:
        return self.sg.Operators(i)

    def op_name(self, i: int) -> str:
        idx = self.op(i).OpcodeIndex()
        if idx >= self.n_codes:
            return f"opcode#{idx}"
        code = self.model.OperatorCodes(idx)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        return str(tflite.BUILTIN_OPCODE2NAME.get(builtin, f"BUILTIN_{builtin}"))

    def op_label(self, i: int) -> str:
        return f"op {i} {self.op_name(i)}"

    def tensor(self, i: int) -> Any:
        return self.sg.Tensors(i)

    def tensor_label(self, i: int) -> str:
        name = self.tensor(i).Name()
        name = name.decode("utf-8", "replace") if name else ""
        return f"tensor {i} {name[-40:]!r}"

    def used_tensors(self) -> list[int]:
        used: set[int] = set()
        for i in range(self.n_ops):
            op = self.op(i)
            used.update(int(x) for x in (*_ints(op, "Inputs"), *_ints(op, "Outputs")) if 0 <= x < self.n_tensors)
        return sorted(used) or list(range(self.n_tensors))

    def pick_tensor(self, rng: random.Random) -> int:
        return rng.choice(self.used_tensors() if rng.random() < 0.9 else list(range(self.n_tensors)))

    def tensor_index_values(self, rng: random.Random, orig: int) -> list[int]:
        """Replacement tensor indices: another tensor (of the same shape where one exists), none, out of range."""
        shape = list(_ints(self.tensor(orig), "Shape")) if 0 <= orig < self.n_tensors else None
        same = [i for i in range(self.n_tensors) if i != orig and list(_ints(self.tensor(i), "Shape")) == shape]
        other = [i for i in range(self.n_tensors) if i != orig]
        values = [-1, self.n_tensors, 2**31 - 1, -2]
        if same:
            values += [rng.choice(same)] * 3
        if other:
            values += [rng.choice(other)] * 3
        return values


def _ints(obj: Any, name: str) -> tuple[int, ...]:
    if getattr(obj, f"{name}IsNone")():
        return ()
    return tuple(int(v) for v in getattr(obj, f"{name}AsNumpy")())


Mutator = Callable[[_View, random.Random], "str | None"]


def m_option(v: _View, rng: random.Random) -> str | None:
    """One scalar field of an op's builtin options (strides, padding, activation, beta...)."""
    if not v.n_ops:
        return None
    i = rng.randrange(v.n_ops)
    op, flat = v.op(i), v.flat
    opt_field = field(tflite.Operator, "BuiltinOptions")
    cls = options_class(op.BuiltinOptionsType())
    where = flat.target(op._tab.Pos, opt_field.vo)
    if cls is None or where is None:
        cls_name = OP_OPTIONS.get(v.op_name(i))
        cls = getattr(tflite, cls_name) if cls_name else None
        if cls is None or not fields(cls):
            return None
        # no options table: create one (schema defaults everywhere) and name its type
        if not flat.set_target(op._tab.Pos, opt_field.vo, flat.new_table):
            return None
        flat.set_scalar(op._tab.Pos, field(tflite.Operator, "BuiltinOptionsType").vo, "B",
                        getattr(tflite.BuiltinOptions, cls.__name__))
        where = flat.target(op._tab.Pos, opt_field.vo)
        assert where is not None
    scalars = [f for f in fields(cls) if f.kind == "scalar"]
    if not scalars:
        return None
    hot = [f for f in scalars if f.name in _HOT_OPTIONS]
    f = rng.choice(hot if hot and rng.random() < 0.85 else scalars)
    slot, table = where
    obj = cls()
    obj.Init(bytearray(flat.buf), table)
    orig = getattr(obj, f.name)()
    orig = int(orig) if isinstance(orig, bool) else orig
    assert f.fmt is not None
    value = _new_value(rng, f.fmt, orig, f.name)
    if not flat.set_scalar(table, f.vo, f.fmt, value):
        if not scalar_only(cls):
            return None
        table = flat.relocate(table, slot)
        if not flat.set_scalar(table, f.vo, f.fmt, value):
            return None
    return f"{v.op_label(i)} {cls.__name__}.{f.name}: {_show(orig)} -> {_show(value)}"


def m_options_table(v: _View, rng: random.Random) -> str | None:
    """Remove an op's options table, or change the union type it is read as."""
    if not v.n_ops:
        return None
    i = rng.randrange(v.n_ops)
    op = v.op(i)
    t = op.BuiltinOptionsType()
    if rng.random() < 0.6:
        if not v.flat.drop(op._tab.Pos, field(tflite.Operator, "BuiltinOptions").vo):
            return None
        return f"{v.op_label(i)}: options table ({_OPTIONS_TYPES.get(t, t)}) removed"
    new = rng.choice([0, *(getattr(tflite.BuiltinOptions, n) for n in sorted(set(OP_OPTIONS.values()))), 126, 255])
    if new == t or not v.flat.set_scalar(op._tab.Pos, field(tflite.Operator, "BuiltinOptionsType").vo, "B", new):
        return None
    return f"{v.op_label(i)}: options type {_OPTIONS_TYPES.get(t, t)} -> {_OPTIONS_TYPES.get(new, new)}"


def m_shape(v: _View, rng: random.Random) -> str | None:
    """A tensor's shape: one dim +-1, 0, -1, huge; two dims swapped; a dim dropped or added; the signature."""
    ti = v.pick_tensor(rng)
    t, flat = v.tensor(ti), v.flat
    use_signature = rng.random() < 0.12 and not t.ShapeSignatureIsNone()
    f = field(tflite.Tensor, "ShapeSignature" if use_signature else "Shape")
    shape = flat.vector_values(t._tab.Pos, f.vo, "i")
    new = list(shape)
    how = rng.random()
    if shape and how < 0.6:
        k = rng.randrange(len(shape))
        new[k] = rng.choice([shape[k] + 1, shape[k] - 1, 0, -1, 1, 2, 2 * shape[k], 65536, 2**31 - 1, 1 << 20])
        what = f"[{k}]"
    elif len(shape) >= 2 and how < 0.75:
        a, b = rng.sample(range(len(shape)), 2)
        new[a], new[b] = new[b], new[a]
        what = f"swap {a},{b}"
    elif shape and how < 0.88:
        del new[rng.randrange(len(shape))]
        what = "dim dropped"
    else:
        new.insert(rng.randrange(len(shape) + 1), rng.choice([1, 1, 2]))
        what = "dim added"
    if new == shape:
        return None
    if len(new) == len(shape) and shape:
        start, _ = flat.vector(t._tab.Pos, f.vo)  # type: ignore[misc]
        for k, d in enumerate(new):
            flat.put("i", start + 4 * k, d)
    elif not flat.set_vector(t._tab.Pos, f.vo, "i", new):
        return None
    return f"{v.tensor_label(ti)} {f.name} {what}: {shape} -> {new}"


def m_type(v: _View, rng: random.Random) -> str | None:
    ti = v.pick_tensor(rng)
    t = v.tensor(ti)
    orig = t.Type()
    new = rng.choice([c for c in (9, 3, 7, 2, 4, 0, 1, 6, 17, 10, 127, -1) if c != orig])
    if not v.flat.set_scalar(t._tab.Pos, field(tflite.Tensor, "Type").vo, "b", new):
        return None
    return f"{v.tensor_label(ti)} type: {_TYPE_NAMES.get(orig, orig)} -> {_TYPE_NAMES.get(new, new)}"


def _quantized(v: _View, rng: random.Random) -> tuple[int, Any] | None:
    candidates = [i for i in v.used_tensors() if v.tensor(i).Quantization() is not None]
    if not candidates:
        return None
    ti = rng.choice(candidates)
    return ti, v.tensor(ti).Quantization()


def m_scale(v: _View, rng: random.Random) -> str | None:
    found = _quantized(v, rng)
    if found is None:
        return None
    ti, q = found
    vec = v.flat.vector(q._tab.Pos, field(tflite.QuantizationParameters, "Scale").vo)
    if not vec or not vec[1]:
        return None
    k = rng.randrange(vec[1])
    pos = vec[0] + 4 * k
    orig = v.flat.get("f", pos)
    new = rng.choice([0.0, -orig, math.nan, math.inf, -math.inf, 1e-30, 3e38, 1e-45, 1e-10, 1e10,
                      orig * 2, orig / 1024, orig * rng.uniform(0.1, 10.0), orig * 1.0000001])
    if _same(_f32(new), orig):
        return None
    v.flat.put("f", pos, new)
    return f"{v.tensor_label(ti)} scale[{k}]: {orig!r} -> {v.flat.get('f', pos)!r}"


def m_zero_point(v: _View, rng: random.Random) -> str | None:
    found = _quantized(v, rng)
    if found is None:
        return None
    ti, q = found
    vec = v.flat.vector(q._tab.Pos, field(tflite.QuantizationParameters, "ZeroPoint").vo)
    if not vec or not vec[1]:
        return None
    k = rng.randrange(vec[1])
    pos = vec[0] + 8 * k
    orig = v.flat.get("q", pos)
    new = rng.choice([-129, 128, 255, 127, -128, -1000, 2**31, -(2**63), orig + 1, orig - 1, 0])
    if new == orig:
        return None
    v.flat.put("q", pos, new)
    return f"{v.tensor_label(ti)} zero_point[{k}]: {orig} -> {new}"


def m_quant_structure(v: _View, rng: random.Random) -> str | None:
    """quantized_dimension, the number of scales / zero points, or no quantization at all."""
    found = _quantized(v, rng)
    if found is None:
        return None
    ti, q = found
    flat, how = v.flat, rng.random()
    if how < 0.45:
        f = field(tflite.QuantizationParameters, "QuantizedDimension")
        orig = q.QuantizedDimension()
        new = rng.choice([c for c in (0, 1, 2, 3, 4, -1, 99) if c != orig])
        if not flat.set_scalar(q._tab.Pos, f.vo, "i", new):
            return None
        return f"{v.tensor_label(ti)} quantized_dimension: {orig} -> {new}"
    if how < 0.85:
        name = rng.choice(["Scale", "ZeroPoint"])
        f = field(tflite.QuantizationParameters, name)
        fmt = "f" if name == "Scale" else "q"
        values = flat.vector_values(q._tab.Pos, f.vo, fmt)
        if not values:
            return None
        new = values[:-1] if len(values) > 1 and rng.random() < 0.5 else values + [values[-1]]
        if not flat.set_vector(q._tab.Pos, f.vo, fmt, new):
            return None
        return f"{v.tensor_label(ti)} {name}: {len(values)} -> {len(new)} values"
    if not flat.drop(v.tensor(ti)._tab.Pos, field(tflite.Tensor, "Quantization").vo):
        return None
    return f"{v.tensor_label(ti)}: quantization removed"


def m_buffer_index(v: _View, rng: random.Random) -> str | None:
    ti = v.pick_tensor(rng)
    t = v.tensor(ti)
    orig = t.Buffer()
    others = [b for b in range(v.n_buffers) if b != orig]
    with_data = [b for b in others if v.model.Buffers(b).DataLength() > 0]
    choices = [0, v.n_buffers, 2**32 - 1] + [rng.choice(others)] * 2 if others else [0, v.n_buffers]
    if with_data:
        # a buffer of the same size is the interesting one: the model stays consistent
        same = [b for b in with_data if orig < v.n_buffers and v.model.Buffers(b).DataLength() == v.model.Buffers(orig).DataLength()]
        choices += [rng.choice(with_data)] * 2 + ([rng.choice(same)] * 3 if same else [])
    new = rng.choice([c for c in choices if c != orig] or [0])
    if new == orig or not v.flat.set_scalar(t._tab.Pos, field(tflite.Tensor, "Buffer").vo, "I", new):
        return None
    return f"{v.tensor_label(ti)} buffer: {orig} -> {new}"


def m_buffer_length(v: _View, rng: random.Random) -> str | None:
    """A constant tensor's data shortened or lengthened."""
    consts = [i for i in v.used_tensors() if 0 < v.tensor(i).Buffer() < v.n_buffers
              and v.model.Buffers(v.tensor(i).Buffer()).DataLength() > 0]
    if not consts:
        return None
    ti = rng.choice(consts)
    b = v.tensor(ti).Buffer()
    buffer = v.model.Buffers(b)
    f = field(tflite.Buffer, "Data")
    slot, vec = v.flat.target(buffer._tab.Pos, f.vo)  # type: ignore[misc]
    n = v.flat.get("I", vec)
    new = rng.choice([n - 1, n // 2, 0, n + 1, n + 4, 2 * n])
    if new == n:
        return None
    if new < n:
        v.flat.put("I", vec, new)  # in place: the vector just ends earlier
    else:
        data = bytes(v.flat.buf[vec + 4 : vec + 4 + n]) + bytes(rng.randrange(256) for _ in range(new - n))
        if not v.flat.set_vector(buffer._tab.Pos, f.vo, "B", list(data), align=16):
            return None
    return f"buffer {b} of {v.tensor_label(ti)}: {n} -> {new} bytes"


def m_const_values(v: _View, rng: random.Random) -> str | None:
    """Values inside a constant tensor (weights to -128/127, biases to the int32 extremes): the model stays
    consistent, the arithmetic goes to its edges (accumulator overflow, saturation)."""
    types = {9: ("b", (-128, 127, 0, -127)), 2: ("i", (2**31 - 1, -(2**31), 2**30, -(2**24), 0)), 3: ("B", (0, 255)),
             7: ("h", (-32768, 32767)), 4: ("q", (2**63 - 1, -(2**63), 0))}
    consts = [i for i in v.used_tensors() if 0 < v.tensor(i).Buffer() < v.n_buffers and v.tensor(i).Type() in types
              and v.model.Buffers(v.tensor(i).Buffer()).DataLength() > 0]
    if not consts:
        return None
    ti = rng.choice(consts)
    fmt, values = types[v.tensor(ti).Type()]
    size = struct.calcsize("<" + fmt)
    start, n = v.flat.vector(v.model.Buffers(v.tensor(ti).Buffer())._tab.Pos, field(tflite.Buffer, "Data").vo)  # type: ignore[misc]
    count = n // size
    if not count:
        return None
    how = rng.random()
    if how < 0.5:
        k = rng.randrange(count)
        chosen = [k]
    elif how < 0.8:
        chosen = sorted(rng.sample(range(count), min(count, rng.choice([4, 16, 64]))))
    else:
        chosen = list(range(count))
    value = rng.choice(values)
    for k in chosen:
        v.flat.put(fmt, start + k * size, value)
    which = f"[{chosen[0]}]" if len(chosen) == 1 else f"{len(chosen)} of {count} elements"
    return f"{v.tensor_label(ti)} data {which} = {value}"


def m_op_io(v: _View, rng: random.Random) -> str | None:
    """One operator input/output index: -1, another tensor, out of range; or an entry dropped/added."""
    if not v.n_ops:
        return None
    i = rng.randrange(v.n_ops)
    op = v.op(i)
    name = rng.choice(["Inputs", "Inputs", "Outputs"])
    f = field(tflite.Operator, name)
    values = v.flat.vector_values(op._tab.Pos, f.vo, "i")
    if values and rng.random() < 0.8:
        k = rng.randrange(len(values))
        new = rng.choice(v.tensor_index_values(rng, values[k]))
        if new == values[k]:
            return None
        start, _ = v.flat.vector(op._tab.Pos, f.vo)  # type: ignore[misc]
        v.flat.put("i", start + 4 * k, new)
        return f"{v.op_label(i)} {name.lower()}[{k}]: {values[k]} -> {new}"
    new_list = values[:-1] if values and rng.random() < 0.5 else values + [rng.choice([-1, rng.randrange(max(v.n_tensors, 1))])]
    if not v.flat.set_vector(op._tab.Pos, f.vo, "i", new_list):
        return None
    return f"{v.op_label(i)} {name.lower()}: {values} -> {new_list}"


def m_opcode(v: _View, rng: random.Random) -> str | None:
    """An operator's opcode index, or an operator code's builtin code."""
    if not v.n_ops:
        return None
    if rng.random() < 0.6:
        i = rng.randrange(v.n_ops)
        op = v.op(i)
        orig = op.OpcodeIndex()
        choices = [c for c in range(v.n_codes) if c != orig] * 2 + [v.n_codes, 2**32 - 1]
        new = rng.choice(choices)
        label = v.op_label(i)
        if not v.flat.set_scalar(op._tab.Pos, field(tflite.Operator, "OpcodeIndex").vo, "I", new):
            return None
        return f"{label} opcode index: {orig} -> {new}"
    c = rng.randrange(v.n_codes)
    code = v.model.OperatorCodes(c)
    orig = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    names = ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D",
             "MEAN", "RESHAPE", "SQUEEZE", "SOFTMAX", "CONCATENATION", "PAD", "PADV2", "RELU", "RELU6",
             "QUANTIZE", "DEQUANTIZE", "LOGISTIC", "TANH", "SUB", "CUSTOM"]
    new = rng.choice([_OP_CODES[n] for n in names if _OP_CODES[n] != orig] + [200, 1000])
    ok = v.flat.set_scalar(code._tab.Pos, field(tflite.OperatorCode, "BuiltinCode").vo, "i", new)
    ok = v.flat.set_scalar(code._tab.Pos, field(tflite.OperatorCode, "DeprecatedBuiltinCode").vo, "b", min(new, 127)) and ok
    if not ok:
        return None
    return f"operator code {c}: {tflite.BUILTIN_OPCODE2NAME.get(orig, orig)} -> {tflite.BUILTIN_OPCODE2NAME.get(new, new)}"


def m_op_order(v: _View, rng: random.Random) -> str | None:
    """Two operators swapped in the execution order."""
    if v.n_ops < 2:
        return None
    a, b = sorted(rng.sample(range(v.n_ops), 2))
    start, _ = v.flat.vector(v.sg._tab.Pos, field(tflite.SubGraph, "Operators").vo)  # type: ignore[misc]
    sa, sb = start + 4 * a, start + 4 * b
    ta, tb = sa + v.flat.get("I", sa), sb + v.flat.get("I", sb)
    if tb <= sa or ta <= sb:
        return None
    label = f"{v.op_label(a)} <-> {v.op_label(b)}"
    v.flat.put("I", sa, tb - sa)
    v.flat.put("I", sb, ta - sb)
    return f"order swapped: {label}"


def m_graph_io(v: _View, rng: random.Random) -> str | None:
    """The subgraph's input or output list."""
    name = rng.choice(["Inputs", "Outputs"])
    f = field(tflite.SubGraph, name)
    values = v.flat.vector_values(v.sg._tab.Pos, f.vo, "i")
    how = rng.random()
    if values and how < 0.6:
        k = rng.randrange(len(values))
        new = rng.choice(v.tensor_index_values(rng, values[k]))
        start, _ = v.flat.vector(v.sg._tab.Pos, f.vo)  # type: ignore[misc]
        v.flat.put("i", start + 4 * k, new)
        return f"subgraph {name.lower()}[{k}]: {values[k]} -> {new}"
    if how < 0.75:
        new_list: list[int] = []
    else:
        new_list = values + [rng.choice([*v.used_tensors(), -1])]
    if new_list == values or not v.flat.set_vector(v.sg._tab.Pos, f.vo, "i", new_list):
        return None
    return f"subgraph {name.lower()}: {values} -> {new_list}"


def m_bytes(v: _View, rng: random.Random) -> str | None:
    """Random bytes (the unstructured baseline)."""
    pos = rng.randrange(8, len(v.flat.buf))
    orig = v.flat.buf[pos]
    new = orig ^ rng.randrange(1, 256)
    v.flat.buf[pos] = new
    return f"byte {pos}: 0x{orig:02x} -> 0x{new:02x}"


#: (mutator, weight)
MUTATORS: tuple[tuple[Mutator, int], ...] = (
    (m_option, 26),
    (m_options_table, 5),
    (m_shape, 14),
    (m_type, 6),
    (m_scale, 8),
    (m_zero_point, 6),
    (m_quant_structure, 6),
    (m_buffer_index, 5),
    (m_buffer_length, 4),
    (m_const_values, 8),
    (m_op_io, 10),
    (m_opcode, 5),
    (m_op_order, 3),
    (m_graph_io, 5),
    (m_bytes, 2),
)


def mutate(data: bytes, seed: str, count: int | None = None) -> tuple[bytes, list[str]]:
    """Apply ``count`` mutations (default: 1 mostly, up to 3) chosen by ``seed``; return the mutant and
    the description of each mutation applied."""
    rng = random.Random(seed)
    if count is None:
        count = rng.choice([1, 1, 1, 1, 1, 1, 2, 2, 3])
    flat = Flat(data)
    done: list[str] = []
    mutators, weights = zip(*MUTATORS)
    attempts = 0
    while len(done) < count and attempts < 50:
        attempts += 1
        mutator = rng.choices(mutators, weights)[0]
        snapshot = bytes(flat.buf)
        try:
            what = mutator(_View(flat), rng)
        except Exception:  # an earlier mutation made the model unreadable for this one: try another
            what = None
        if what is None:
            flat.buf = bytearray(snapshot)  # undo a half-done mutation
            continue
        done.append(what)
    return flat.data(), done


@dataclass
class Mutant:
    model: str  # the seed model's name
    index: int  # 0 = the seed model itself
    seed: str
    data: bytes
    mutations: list[str]

    @property
    def label(self) -> str:
        return f"{self.model}#{self.index}"

    def describe(self) -> str:
        what = "; ".join(self.mutations) if self.mutations else "(unmutated)"
        return f"{self.label} [seed {self.seed!r}]: {what}"


def mutants(name: str, data: bytes, count: int, seed: int = 0, include_seed: bool = True) -> Iterator[Mutant]:
    """The seed model itself (index 0, when ``include_seed``), then ``count`` mutants of it."""
    if include_seed:
        yield Mutant(name, 0, "", data, [])
    for i in range(1, count + 1):
        s = f"{seed}:{name}:{i}"
        mutant, what = mutate(data, s)
        if what:
            yield Mutant(name, i, s, mutant, what)


# =========================================================================== checking one mutant

#: outcomes that satisfy the fuzz contract
OK_STATUSES = ("rejected", "exact", "unchecked")
#: outcomes that break it (each a tinygen bug to look at)
FAIL_STATUSES = (
    "traceback",  # an exception other than TinygenError (import, generate, reference)
    "reference-rejects",  # generate accepted the model, the reference executor refused it
    "compile-error",  # the generated C does not compile (warnings are errors)
    "sanitizer",  # ASan/UBSan stopped the generated C
    "c-crash",  # the generated program failed otherwise (a runtime check, a signal)
    "differs-reference",  # C != reference
    "differs-tflm",  # reference (and C) != TFLite Micro, where TFLite Micro ran the model
    "hang",  # over the per-mutant time limit
    "crash",  # the worker process died (a signal in tinygen or numpy)
)
#: above this many activation elements a mutant is accepted but not executed ("unchecked")
MAX_ELEMENTS = 1 << 23


def _location(exc: BaseException) -> str:
    """Where the exception was raised: the innermost tinygen frame and its tinygen caller (and the
    innermost frame when that is outside tinygen)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"

    def show(fr: traceback.FrameSummary) -> str:
        path = Path(fr.filename)
        try:
            path = path.resolve().relative_to(REPO)
        except ValueError:
            path = Path(*path.parts[-2:])
        return f"{path}:{fr.lineno} in {fr.name}"

    ours = [fr for fr in frames if f"{os.sep}tinygen{os.sep}" in fr.filename]
    where = " <- ".join(show(fr) for fr in reversed(ours[-2:])) if ours else show(frames[-1])
    if ours and ours[-1] is not frames[-1]:
        where += f" (raised at {show(frames[-1])})"
    return where


def _first_line(text: str, limit: int = 300) -> str:
    text = str(text).strip()
    line = text.splitlines()[0] if text else ""
    return line[:limit]


def _error(outcome: dict, status: str, stage: str, exc: BaseException) -> dict:
    outcome.update(status=status, stage=stage, error=type(exc).__name__, message=_first_line(str(exc)), where=_location(exc))
    if status != "rejected":
        outcome["traceback"] = "".join(traceback.format_exception(exc))[-4000:]
    return outcome


def _lib_hash(lib_dir: Path) -> str:
    h = hashlib.sha1()
    for p in sorted(lib_dir.glob("*.[ch]")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def _compare(want: Any, got: Any) -> str | None:
    """None when equal bit for bit, else what differs."""
    import numpy as np

    want, got = np.asarray(want), np.asarray(got)
    if want.dtype != got.dtype or want.size != got.size:
        return f"{want.dtype}{list(want.shape)} vs {got.dtype}{list(got.shape)}"
    a, b = want.reshape(-1), got.reshape(-1)
    kind = f"u{a.itemsize}"
    bad = np.flatnonzero(a.view(kind) != b.view(kind))  # bit for bit (NaN payloads and -0.0 included)
    if bad.size == 0:
        return None
    return f"{bad.size} of {a.size} differ, first at {int(bad[0])}: {a[bad[0]]} vs {b[bad[0]]}"


@dataclass(frozen=True)
class CompileUnseen:
    """check_mutant's ``compile_c`` predicate: compile libraries whose hash is not in ``seen``."""

    seen: frozenset

    def __call__(self, lib_hash: str) -> bool:
        return lib_hash not in self.seen


def _with_address_space(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` with the address-space cap lifted (ASan programs reserve terabytes of shadow)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    try:
        return fn()
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def check_mutant(
    data: bytes,
    work: Path,
    *,
    compile_c: bool | Callable[[str], bool] = True,
    vectors: int = 2,
    seed: int = 0,
    tflm: bool = True,
    emit: Callable[..., None] = lambda *a: None,
    c_timeout: float = 60.0,
) -> dict:
    """Check one model (see the module docstring). ``compile_c``: whether to build and run its C, or a
    predicate on the generated library's hash. ``emit("stage", name)`` / ``emit("partial", outcome)``
    report progress (a worker forwards them so that a crash or a hang is placed)."""
    import numpy as np

    import hostbuild
    from tinygen import codegen, reference
    from tinygen.errors import TinygenError
    from tinygen.frontend.tflite import import_tflite

    outcome: dict[str, Any] = {"status": "rejected", "stage": "import", "compiled": False, "tflm": "not run"}
    stage = "import"
    try:
        emit("stage", stage)
        graph = import_tflite(data, name="fuzz")
        stage = "generate"
        emit("stage", stage)
        lib = codegen.generate(graph, work / "lib", force=True)
    except TinygenError as exc:
        return _error(outcome, "rejected", stage, exc)
    except Exception as exc:
        return _error(outcome, "traceback", stage, exc)
    outcome.update(status="exact", stage="accepted", c_hash=_lib_hash(lib.out_dir))

    # ---- inputs; mutants too big (or with several inputs) are accepted but not executed
    activations = [t for t in graph.tensors.values() if not t.is_const]
    elements = sum(int(np.prod(t.shape, dtype=np.float64)) for t in activations)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1 or elements > MAX_ELEMENTS:
        why = f"{len(graph.inputs)} inputs, {len(graph.outputs)} outputs, {elements:.0f} activation elements"
        outcome.update(status="unchecked", detail=why)
        return outcome
    x_t = graph.tensors[graph.inputs[0]]
    rng = np.random.default_rng(seed)
    if x_t.dtype == "float32":
        x = rng.normal(0.0, 1.0, (vectors, *x_t.shape)).astype(np.float32)
    else:
        info = np.iinfo(x_t.dtype)
        x = rng.integers(info.min, int(info.max) + 1, (vectors, *x_t.shape)).astype(x_t.dtype)

    stage = "reference"
    emit("stage", stage)
    try:
        refs = [reference.run(graph, x[v]) for v in range(vectors)]
    except TinygenError as exc:
        return _error(outcome, "reference-rejects", stage, exc)
    except Exception as exc:
        return _error(outcome, "traceback", stage, exc)

    # ---- the C, on the host with the sanitizers
    want_c = compile_c(outcome["c_hash"]) if callable(compile_c) else compile_c
    if want_c:
        import subprocess

        stage = "compile"
        emit("stage", stage)
        outcome["compiled"] = True
        manifest = lib.manifest
        try:
            hb = _with_address_space(lambda: hostbuild.build(lib.out_dir, manifest, work / "build", sanitize=True, opt="-O1", dump=True))
        except AssertionError as exc:
            outcome.update(status="compile-error", stage=stage, message=_tail_error(str(exc)))
            return outcome
        stage = "run-c"
        emit("stage", stage)
        core_in = manifest["input_tensor"]
        inputs = np.stack([refs[v][core_in] for v in range(vectors)]) if manifest["f32_io"] else x
        try:
            out, dumps = _with_address_space(lambda: hostbuild.run(hb, inputs.reshape(vectors, -1), timeout=c_timeout))
        except subprocess.TimeoutExpired:
            outcome.update(status="hang", stage=stage, message=f"the compiled program ran over {c_timeout:.0f} s")
            return outcome
        except AssertionError as exc:
            text = str(exc)
            sanitizer = any(s in text for s in ("AddressSanitizer", "runtime error:", "UndefinedBehaviorSanitizer", "LeakSanitizer"))
            outcome.update(status="sanitizer" if sanitizer else "c-crash", stage=stage, message=_tail_error(text))
            return outcome
        for v in range(vectors):
            for layer, got in zip(manifest["layers"], dumps[v]):
                bad = _compare(refs[v][layer["output_tensor"]].reshape(-1), got)
                if bad:
                    outcome.update(status="differs-reference", stage=stage,
                                   detail=f"vector {v} layer {layer['index']} {layer['op']} ({layer['kernel']}): C vs reference: {bad}")
                    return outcome
            bad = _compare(refs[v][manifest["output_tensor"]].reshape(-1), out[v])
            if bad:
                outcome.update(status="differs-reference", stage=stage, detail=f"vector {v} output: C vs reference: {bad}")
                return outcome

    # ---- TFLite Micro (last: its interpreter may crash the worker on a corrupt model)
    if tflm:
        stage = "tflm"
        emit("partial", dict(outcome))
        emit("stage", stage)
        outcome["tflm"] = _tflm_check(data, graph, x, refs, outcome)
    return outcome


def _tail_error(text: str) -> str:
    """The informative line of a compiler / sanitizer report."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for key in ("runtime error:", "ERROR: AddressSanitizer", "error:", "SUMMARY:"):
        for ln in lines:
            if key in ln:
                return ln.strip()[:300]
    return (lines[0] if lines else text)[:300]


def _tflm_check(data: bytes, graph: Any, x: Any, refs: list[dict], outcome: dict) -> str:
    """Compare every op output with TFLite Micro; returns the tflm verdict and updates ``outcome``."""
    from tinygen.errors import TinygenError
    from tinygen.oracle import tflm_run

    for v in range(len(refs)):
        try:
            oracle = tflm_run(data, [x[v]])
        except TinygenError as exc:
            outcome["tflm_message"] = _first_line(str(exc))
            return "refuses"
        except Exception as exc:
            outcome["tflm_message"] = f"{type(exc).__name__}: {_first_line(str(exc))}"
            return "error"
        for index, op in enumerate(graph.ops):
            name = op.outputs[0]
            if name not in oracle:
                continue
            bad = _compare(oracle[name], refs[v][name])
            if bad:
                outcome.update(status="differs-tflm", stage="tflm",
                               detail=f"vector {v} op {index} {op.kind} {name!r}: TFLite Micro vs reference: {bad}")
                return "differs"
    return "equal"


# =========================================================================== worker processes


def _worker_main(conn: Any, log_path: str, mem_limit: int, work_root: str, options: dict) -> None:
    """A worker: runs check_mutant for each task received, in its own process group."""
    import faulthandler
    import resource

    os.setpgrp()
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    faulthandler.enable()
    if mem_limit:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (mem_limit, hard))
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "stop":
            return
        _, task_id, data, compile_c, seed = msg
        os.ftruncate(log, 0)
        work = Path(tempfile.mkdtemp(prefix="m", dir=work_root))
        try:
            outcome = check_mutant(data, work, compile_c=compile_c, seed=seed,
                                   emit=lambda *e: conn.send(e), **options)
        except BaseException as exc:  # the checker itself: report, do not die
            outcome = _error({"compiled": False, "tflm": "not run"}, "traceback", "checker", exc)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        conn.send(("done", outcome))


@dataclass
class _Worker:
    proc: Any
    conn: Any
    log: Path
    task: Any = None
    deadline: float = 0.0
    stage: str = ""
    partial: dict | None = None


class WorkerPool:
    """``workers`` worker processes; :meth:`run` feeds them (task, compile flag, input seed) and yields
    (task, outcome) as they finish, with hangs and crashes turned into outcomes."""

    def __init__(self, workers: int, work_root: Path, timeout: float = 60.0, mem_limit: int = 3 << 30, **options: Any) -> None:
        import multiprocessing

        self.ctx = multiprocessing.get_context("spawn")
        self.n = max(1, workers)
        self.root = Path(work_root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self.mem_limit = mem_limit
        self.options = options
        self.workers: list[_Worker] = []
        self.restarts = 0

    def _start(self, k: int) -> _Worker:
        parent, child = self.ctx.Pipe()
        log = self.root / f"worker{k}.log"
        proc = self.ctx.Process(target=_worker_main, args=(child, str(log), self.mem_limit, str(self.root), self.options), daemon=True)
        threads = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        saved = {k: os.environ.get(k) for k in threads}
        os.environ.update({k: "1" for k in threads})  # one core per worker (the child copies the environment)
        try:
            proc.start()
        finally:
            for k, value in saved.items():
                if value is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = value
        child.close()
        return _Worker(proc, parent, log)

    def _kill(self, w: _Worker) -> None:
        if w.proc.is_alive():
            try:
                os.killpg(w.proc.pid, signal.SIGKILL)  # the worker's group: it and the compilers / programs it started
            except (ProcessLookupError, PermissionError):
                w.proc.kill()  # not yet its own group leader
        w.proc.join(5)
        w.conn.close()

    def _log_tail(self, w: _Worker) -> str:
        """What the dead worker wrote last: the fatal error and its innermost frames (faulthandler), or the tail."""
        try:
            lines = [ln.strip() for ln in w.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        fatal = [i for i, ln in enumerate(lines) if ln.startswith("Fatal Python error")]
        if fatal:
            i = fatal[-1]
            frames = [ln for ln in lines[i + 1 :] if ln.startswith("File ")][:2]
            return " | ".join([lines[i], *frames])[:600]
        return " | ".join(lines[-4:])[-600:]

    def run(self, tasks: Iterable[Any], compile_for: Callable[[Any], Any], seed_for: Callable[[Any], int] = lambda t: 0) -> Iterator[tuple[Any, dict]]:
        """``tasks`` carry ``.data``; ``compile_for(task)`` is passed to check_mutant as compile_c (a bool,
        or a picklable predicate on the library hash); ``seed_for(task)`` seeds the input vectors."""
        from multiprocessing.connection import wait

        pending = iter(tasks)
        self.workers = [self._start(k) for k in range(self.n)]
        exhausted = False
        try:
            while True:
                for k, w in enumerate(self.workers):
                    if w.task is None and not exhausted:
                        task = next(pending, None)
                        if task is None:
                            exhausted = True
                            break
                        w.task, w.stage, w.partial = task, "queued", None
                        w.deadline = time.monotonic() + self.timeout
                        w.conn.send(("task", id(task), task.data, compile_for(task), seed_for(task)))
                busy = [w for w in self.workers if w.task is not None]
                if not busy:
                    return
                now = time.monotonic()
                ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy],
                             timeout=max(0.0, min(w.deadline for w in busy) - now))
                for k, w in enumerate(self.workers):
                    if w.task is None:
                        continue
                    finished: dict | None = None
                    if w.conn in ready:
                        try:
                            while w.conn.poll():
                                msg = w.conn.recv()
                                if msg[0] == "stage":
                                    w.stage = msg[1]
                                elif msg[0] == "partial":
                                    w.partial = msg[1]
                                elif msg[0] == "done":
                                    finished = msg[1]
                                    break
                        except (EOFError, OSError):
                            pass
                    if finished is None and not w.proc.is_alive():
                        finished = self._died(w, "crash", f"worker died (exit {w.proc.exitcode}) during {w.stage}")
                    elif finished is None and time.monotonic() > w.deadline:
                        finished = self._died(w, "hang", f"over {self.timeout:.0f} s in {w.stage}")
                    if finished is not None:
                        task, w.task = w.task, None
                        yield task, finished
                        if not w.proc.is_alive():
                            self.workers[k] = self._start(k)
                            self.restarts += 1
        finally:
            for w in self.workers:
                if w.proc.is_alive():
                    try:
                        w.conn.send(("stop",))
                    except (OSError, BrokenPipeError):
                        pass
                    w.proc.join(2)
                self._kill(w)

    def _died(self, w: _Worker, status: str, message: str) -> dict:
        self._kill(w)
        tail = self._log_tail(w)
        if w.stage == "tflm" and w.partial is not None:
            # TFLite Micro's interpreter died on the mutant: tinygen's part of the outcome stands
            outcome = dict(w.partial)
            outcome["tflm"] = "crash" if status == "crash" else "hang"
            outcome["tflm_message"] = f"{message}: {tail}"
            return outcome
        return {"status": status, "stage": w.stage, "message": message, "log": tail, "compiled": w.stage in ("compile", "run-c"), "tflm": "not run"}


# =========================================================================== reporting


def summarize(results: list[tuple[Mutant, dict]]) -> str:
    """A plain-text summary: counts per status, TFLite Micro verdicts, and one example per failure class
    (status, stage, exception type, location)."""
    from collections import Counter, OrderedDict

    lines = []
    statuses = Counter(o["status"] for _, o in results)
    accepted = [o for _, o in results if o.get("c_hash")]  # import + generate succeeded
    lines.append(f"{len(results)} models checked")
    for status in (*OK_STATUSES, *FAIL_STATUSES):
        if statuses[status]:
            lines.append(f"  {status:18} {statuses[status]}")
    compiled = sum(1 for o in accepted if o.get("compiled"))
    distinct = len({o.get("c_hash") for o in accepted if o.get("c_hash")})
    lines.append(f"  accepted: {len(accepted)} ({distinct} distinct libraries, {compiled} compiled and run with ASan/UBSan)")
    verdicts = Counter(o.get("tflm", "not run") for o in accepted if o["status"] in ("exact", "differs-tflm"))
    lines.append("  TFLite Micro on accepted mutants: " + ", ".join(f"{k} {n}" for k, n in sorted(verdicts.items())))
    classes: OrderedDict[tuple, list[tuple[Mutant, dict]]] = OrderedDict()
    for m, o in results:
        if o["status"] in FAIL_STATUSES or o.get("tflm") in ("refuses", "crash", "error", "hang"):
            key = failure_class(o)
            classes.setdefault(key, []).append((m, o))
    if classes:
        lines.append(f"{len(classes)} failure / disagreement classes:")
        for key, items in sorted(classes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            m, o = items[0]
            lines.append(f"- [{len(items)}x] {' | '.join(str(k) for k in key if k)}")
            lines.append(f"    e.g. {m.describe()}")
            text = o.get("message") or o.get("detail") or o.get("tflm_message") or ""
            if text:
                lines.append(f"    {text[:400]}")
    return "\n".join(lines)


def failure_class(o: dict) -> tuple:
    """What makes two failures the same: status, stage, exception type and where it was raised."""
    status = o["status"]
    if status in FAIL_STATUSES:
        where = o.get("where", "")
        if status in ("compile-error", "sanitizer", "c-crash"):
            where = re.sub(r"/tmp/\S+/", "", o.get("message", ""))[:120]
            where = re.sub(r"\d+", "N", where)
        if status in ("differs-reference", "differs-tflm"):
            detail = o.get("detail", "")
            m = re.search(r"(layer \d+ \S+ \(\S+\)|op \d+ \S+)", detail)
            where = re.sub(r"\b\d+\b", "N", m.group(1)) if m else ""
        return (status, o.get("stage", ""), o.get("error", ""), where)
    msg = re.sub(r"\d+", "N", re.sub(r"File \"\S*/", 'File "', o.get("tflm_message", "")))[:160]
    return (f"tflm {o.get('tflm')}", "tflm", "", msg)
