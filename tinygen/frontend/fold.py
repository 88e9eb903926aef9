"""Constant folding of shape arithmetic at import.

TensorFlow's converter, given a Keras model with an unknown (``None``) batch, computes shapes at run time:
a Flatten becomes ``SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE``. tinygen compiles one static shape (the
batch read as 1), so such int32/int64 computations have one value: :func:`fold` evaluates every operator
whose output is an integer tensor computable from constants and static shapes (SHAPE, STRIDED_SLICE of a
1-D vector, PACK, CONCATENATION, RESHAPE/SQUEEZE/EXPAND_DIMS), stores the value as the tensor's constant
data and drops the operator. What it cannot evaluate is left as it was (and refused later if unsupported).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tflite

_INTEGER = {tflite.TensorType.INT32: np.int32, tflite.TensorType.INT64: np.int64}


def _static_shape(t: Any) -> tuple[int, ...] | None:
    """The tensor's shape with a dynamic batch read as 1; None when another dimension is dynamic."""
    if t.signature is not None and any(d < 0 for d in t.signature[1:]):
        return None
    if any(d < 0 for d in t.shape[1:]):
        return None
    return tuple(1 if (i == 0 and d < 0) else int(d) for i, d in enumerate(t.shape))


def _strided_slice(values: list[np.ndarray], options: dict[str, Any]) -> np.ndarray | None:
    x, begin, end, strides = values
    if x.ndim != 1 or begin.size != 1 or end.size != 1 or strides.size != 1 or int(strides[0]) == 0:
        return None
    if options.get("EllipsisMask") or options.get("NewAxisMask") or options.get("Offset"):
        return None
    b, e, s = int(begin[0]), int(end[0]), int(strides[0])
    if int(options.get("ShrinkAxisMask", 0)) & 1:
        index = b + x.size if b < 0 else b
        return x[index] if 0 <= index < x.size else None
    start = None if int(options.get("BeginMask", 0)) & 1 else b
    stop = None if int(options.get("EndMask", 0)) & 1 else e
    return x[start:stop:s]


_EVALUATE: dict[str, Callable[[list[np.ndarray], dict[str, Any]], np.ndarray | None]] = {
    "STRIDED_SLICE": _strided_slice,
    "PACK": lambda v, o: np.stack(v, axis=int(o.get("Axis", 0))),
    "CONCATENATION": lambda v, o: np.concatenate([np.atleast_1d(a) for a in v], axis=int(o.get("Axis", 0))),
    "RESHAPE": lambda v, o: v[0],
    "SQUEEZE": lambda v, o: v[0],
    "EXPAND_DIMS": lambda v, o: v[0],
}


def fold(raw: Any) -> None:
    """Fold ``raw``'s (a parsed ``.tflite``) constant shape arithmetic in place (see the module docstring)."""
    kept = []
    for op in raw.ops:
        value = _evaluate(raw, op)
        if value is None:
            kept.append(op)
            continue
        out = raw.tensors[op.outputs[0]]
        dtype = _INTEGER[out.type]
        if np.asarray(value).size != int(np.prod(out.shape, dtype=np.int64)):
            kept.append(op)
            continue
        out.data = np.asarray(value).astype(dtype).tobytes()
    raw.ops = kept


def _evaluate(raw: Any, op: Any) -> np.ndarray | None:
    if len(op.outputs) != 1 or raw.tensors[op.outputs[0]].type not in _INTEGER or op.outputs[0] in raw.outputs:
        return None
    if op.name == "SHAPE":
        shape = _static_shape(raw.tensors[op.inputs[0]]) if op.inputs else None
        return None if shape is None else np.array(shape, dtype=np.int64)
    evaluate = _EVALUATE.get(op.name)
    if evaluate is None:
        return None
    values = []
    for index in op.inputs[: 1 if op.name in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS") else None]:
        t = raw.tensors[index] if index >= 0 else None
        if t is None or t.data is None or t.type not in _INTEGER:
            return None
        shape = _static_shape(t)
        data = np.frombuffer(t.data, dtype=_INTEGER[t.type])
        if shape is None or data.size != int(np.prod(shape, dtype=np.int64)):
            return None
        values.append(data.reshape(shape).astype(np.int64))
    try:
        return evaluate(values, op.options)
    except (ValueError, IndexError, TypeError):
        return None
