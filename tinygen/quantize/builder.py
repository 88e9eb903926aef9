"""The float-graph builder the Keras layer converters and graph passes emit through."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinygen.ir import Graph, Op, State, Tensor

#: Internal op kind of a BatchNormalization until it is folded or lowered (never leaves tinygen.quantize).
AFFINE = "affine"


@dataclass
class Builder:
    """Adds float32 tensors and ops to ``graph`` under unique names."""

    graph: Graph
    used: set[str] = field(default_factory=set)

    def unique(self, base: str) -> str:
        name, n = base, 1
        while name in self.used or name in self.graph.tensors:
            n += 1
            name = f"{base}_{n}"
        self.used.add(name)
        return name

    def act(self, name: str, shape: tuple[int, ...]) -> str:
        name = self.unique(name)
        self.graph.add_tensor(Tensor(name, shape, "float32"))
        return name

    def keep_state(self, name: str, shape: tuple[int, ...]) -> str:
        """A state the model keeps between invocations (a stateful recurrent layer's): the tensor each invocation
        reads it as, zero initially; :meth:`write_state` names the tensor stored back into it."""
        read = self.act(name, shape)
        self.graph.states.append(State(read, read, None, np.zeros(int(np.prod(shape)), np.float32)))
        return read

    def write_state(self, read: str, write: str) -> None:
        """Store ``write`` into the state read as ``read`` at the end of each invocation."""
        self.graph.states = [State(s.name, s.read, write, s.initial) if s.read == read else s for s in self.graph.states]

    def const(self, name: str, data: np.ndarray) -> str:
        name = self.unique(name)
        data = np.ascontiguousarray(data, dtype=np.float32)
        self.graph.add_tensor(Tensor(name, data.shape, "float32", data=data))
        return name

    def op(self, kind: str, name: str, inputs: list[str], out_shape: tuple[int, ...], out_name: str | None = None,
           **attrs: Any) -> str:
        out = self.act(out_name or name, out_shape)
        self.graph.add_op(Op(kind, self.unique_op(name), inputs, [out], attrs))
        return out

    def unique_op(self, base: str) -> str:
        taken = {op.name for op in self.graph.ops}
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        return name

    def shape(self, name: str) -> tuple[int, ...]:
        return self.graph.tensors[name].shape
