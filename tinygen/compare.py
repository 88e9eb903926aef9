"""Bit-exact comparison of int8 outputs and per-layer tensors, and the report ``tinygen test`` prints.

Nothing here tolerates a difference: two tensors match only when every byte is equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class FirstDifference:
    vector: int
    index: int
    expected: int
    actual: int


@dataclass
class Comparison:
    """``actual`` (what the firmware printed) against ``expected`` (a golden model), per vector."""

    name: str
    values: int = 0
    differing: int = 0
    first: FirstDifference | None = None
    #: vectors the firmware printed no (or a wrongly sized) output for
    missing: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.differing == 0 and not self.missing

    def summary(self) -> str:
        if self.ok:
            return f"{self.name}: all {self.values:,} values equal"
        parts = []
        if self.differing:
            f = self.first
            assert f is not None
            parts.append(
                f"{self.differing:,} of {self.values:,} values differ; first at vector {f.vector}, "
                f"index {f.index}: expected {f.expected}, got {f.actual}"
            )
        if self.missing:
            parts.append(f"no output of the right size for vector(s) {self.missing}")
        return f"{self.name}: " + "; ".join(parts)


def as_int8(data: bytes | np.ndarray) -> np.ndarray:
    """The bytes of ``data`` as int8 (an int32 tensor: its little-endian bytes, as the firmware prints them)."""
    if isinstance(data, (bytes, bytearray)):
        return np.frombuffer(bytes(data), dtype=np.int8)
    array = np.ascontiguousarray(data)
    if array.dtype.kind in "iu" and array.dtype.itemsize > 1:
        return array.reshape(-1).view(np.int8)
    return array.astype(np.int8, copy=False).reshape(-1)


def compare_outputs(
    name: str, expected: Sequence[bytes | np.ndarray], actual: Mapping[int, bytes | np.ndarray]
) -> Comparison:
    """Compare vector by vector; ``expected[v]`` is the golden output of vector ``v``."""
    result = Comparison(name)
    for v, want in enumerate(expected):
        want_a = as_int8(want)
        result.values += want_a.size
        if v not in actual or as_int8(actual[v]).size != want_a.size:
            result.missing.append(v)
            continue
        got = as_int8(actual[v])
        diff = np.flatnonzero(got != want_a)
        result.differing += int(diff.size)
        if diff.size and result.first is None:
            i = int(diff[0])
            result.first = FirstDifference(v, i, int(want_a[i]), int(got[i]))
    return result


@dataclass(frozen=True)
class LayerDifference:
    vector: int
    layer: int
    name: str
    op: str
    differing: int
    size: int
    first_index: int
    expected: int
    actual: int
    #: the firmware printed no dump (or one of the wrong size) for this layer
    missing: bool = False

    def describe(self) -> str:
        if self.missing:
            return f"layer {self.layer} ({self.op} {self.name!r}), vector {self.vector}: the firmware printed no dump of it"
        return (
            f"first differing layer: {self.layer} ({self.op} {self.name!r}), vector {self.vector}: "
            f"{self.differing} of {self.size} values differ, first at index {self.first_index} "
            f"(expected {self.expected}, got {self.actual})"
        )


def first_differing_layer(
    layers: Sequence[Mapping[str, object]],
    expected: Sequence[Mapping[str, np.ndarray]],
    dumped: Mapping[int, Mapping[int | str, bytes]],
) -> LayerDifference | None:
    """The earliest layer (in execution order, over all vectors) whose dumped output differs.

    ``layers`` are the manifest's layer records (index, name, op, output_tensor); ``expected[v]``
    maps tensor names to golden values for vector ``v``; ``dumped[v][layer]`` are the firmware's
    TG-TENSOR bytes. A missing dump counts as a difference: it is never silently skipped.
    """
    best: LayerDifference | None = None
    for v, golden in enumerate(expected):
        for layer in layers:
            index = int(layer["index"])  # type: ignore[call-overload]
            if best is not None and index >= best.layer:
                break
            want = as_int8(golden[str(layer["output_tensor"])])
            got_bytes = dumped.get(v, {}).get(index)
            got = as_int8(got_bytes) if got_bytes is not None else None
            if got is not None and got.size == want.size:
                diff = np.flatnonzero(got != want)
                if not diff.size:
                    continue
                i = int(diff[0])
                found = LayerDifference(
                    v, index, str(layer["name"]), str(layer["op"]), int(diff.size), want.size, i, int(want[i]), int(got[i])
                )
            else:
                found = LayerDifference(
                    v, index, str(layer["name"]), str(layer["op"]), want.size, want.size, 0, 0, 0, missing=True
                )
            best = found
            break
    return best


def first_differing_tensor(
    order: Sequence[str], expected: Mapping[str, np.ndarray], actual: Mapping[str, np.ndarray]
) -> str | None:
    """The first tensor name in ``order`` present in both maps whose values differ."""
    for name in order:
        if name in expected and name in actual:
            if not np.array_equal(np.asarray(expected[name]).reshape(-1), np.asarray(actual[name]).reshape(-1)):
                return name
    return None
