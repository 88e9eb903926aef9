"""The op registry: every op kind tinygen knows, each defined in one module of this package.

An op module defines ``OP = OpDef(...)`` (or ``OPS = (OpDef(...), ...)`` for a tight family such as
pooling); modules are discovered, so adding an op is adding its module (see docs/INTERNALS.md, "Adding
an op"). Everything else derives its tables from here: :func:`get`, :func:`kinds`, :func:`tflite_builtins`,
:func:`keras_layers`, :func:`keras_activations`.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import Callable

from tinygen.errors import UnsupportedError
from tinygen.ops.base import OpDef, TfliteMapping


@lru_cache(maxsize=1)
def registry() -> dict[str, OpDef]:
    """op kind -> its definition, from every module of this package that defines ``OP`` or ``OPS``."""
    found: dict[str, OpDef] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        defs = list(getattr(module, "OPS", ()))
        if hasattr(module, "OP"):
            defs.append(module.OP)
        for d in defs:
            if d.kind in found:
                raise RuntimeError(f"op kind {d.kind!r} is defined twice (tinygen.ops.{info.name})")
            found[d.kind] = d
    return found


def get(kind: str) -> OpDef:
    """The definition of ``kind``; an unknown kind is an UnsupportedError."""
    op = registry().get(kind)
    if op is None:
        raise UnsupportedError(f"op kind {kind!r} is not supported by tinygen; supported: {', '.join(kinds())}")
    return op


def find(kind: str) -> OpDef | None:
    return registry().get(kind)


def kinds() -> tuple[str, ...]:
    return tuple(sorted(registry()))


@lru_cache(maxsize=1)
def tflite_builtins() -> dict[str, tuple[OpDef, TfliteMapping]]:
    """``.tflite`` builtin operator name -> (op definition, its mapping)."""
    table: dict[str, tuple[OpDef, TfliteMapping]] = {}
    for d in registry().values():
        for m in d.tflite:
            table[m.builtin] = (d, m)
    return dict(sorted(table.items()))


@lru_cache(maxsize=1)
def keras_layers() -> dict[str, Callable[..., str]]:
    """Keras layer class name -> converter ``(builder, layer, inputs) -> output``."""
    table: dict[str, Callable[..., str]] = {}
    for d in registry().values():
        table.update(d.keras_layers)
    return dict(sorted(table.items()))


@lru_cache(maxsize=1)
def keras_activations() -> dict[str, Callable[..., str]]:
    """Keras activation name -> emitter ``(builder, name, x) -> output``."""
    table: dict[str, Callable[..., str]] = {}
    for d in registry().values():
        table.update(d.keras_activations)
    return dict(sorted(table.items()))


__all__ = ["OpDef", "find", "get", "keras_activations", "keras_layers", "kinds", "registry", "tflite_builtins"]
