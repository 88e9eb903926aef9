"""The numpy reference executor: tinygen's golden model.

``run(graph, inputs, rounding="double")`` executes an int8 graph with exactly the integer arithmetic
of TFLite Micro's reference kernels and returns every activation tensor by name. Each op's reference
lives in its module (:mod:`tinygen.ops`), with its parameters (:mod:`tinygen.qparams` dispatches) and
the arithmetic of :mod:`tinygen.numerics`.

Speed: convolutions are im2col (stride tricks) + a float64 matrix product. That is exact: every
operand is an integer of at most 9 bits times 8 bits, so every partial sum is an integer far below
2^53, whatever order BLAS adds in; the int32 wrap is then applied to the exact sum.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from tinygen import numerics, ops
from tinygen import qparams as qp
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op

_NP_DTYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
              "float32": np.float32}


def _check_input(graph: Graph, name: str, value: np.ndarray) -> np.ndarray:
    t = graph.tensor(name)
    arr = np.asarray(value)
    if arr.size != t.size:
        raise TinygenError(f"graph input {name!r}: got an array of shape {arr.shape}, the model expects {t.shape} ({t.dtype})")
    want = _NP_DTYPES[t.dtype]
    if arr.dtype != want:
        if np.issubdtype(arr.dtype, np.integer) and np.issubdtype(want, np.integer):
            info = np.iinfo(want)
            if arr.size and (arr.min() < info.min or arr.max() > info.max):
                raise TinygenError(f"graph input {name!r}: values outside the {t.dtype} range: quantize the input first")
        elif not (np.issubdtype(want, np.floating) and np.issubdtype(arr.dtype, np.number)):
            raise TinygenError(f"graph input {name!r}: got {arr.dtype} data, the model expects {t.dtype}")
    return arr.astype(want).reshape(t.shape)


class Executor:
    """A graph prepared for the reference: validated once, each op's parameters and constant inputs computed
    once (they cost far more than one sample's arithmetic on small models), then :meth:`run` per sample."""

    def __init__(self, graph: Graph, rounding: str = "double") -> None:
        numerics.check_rounding(rounding)
        graph.validate()
        self.graph, self.rounding = graph, rounding
        self._steps: list[tuple[Op, Any, Any, int]] = []
        self._consts: dict[str, np.ndarray] = {}
        for op in graph.ops:
            defn = ops.get(op.kind)
            if defn.reference is None:
                raise UnsupportedError(f"op {op.name!r}: the reference executor cannot run op kind {op.kind!r}")
            count = defn.data_inputs if defn.data_inputs is not None else len(op.inputs)
            params = qp.op_params(graph, op, rounding)  # type: ignore[arg-type]
            self._steps.append((op, defn.reference, params, count))
            for name in op.inputs[:count]:
                t = graph.tensor(name)
                if t.is_const and name not in self._consts:
                    arr = np.asarray(t.data).astype(_NP_DTYPES[t.dtype]).reshape(t.shape)
                    arr.setflags(write=False)  # shared by every sample: a kernel must not write its inputs
                    self._consts[name] = arr

    def run(self, inputs: np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray],
            state: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Every non-constant tensor (inputs, intermediates, outputs) by name after one invocation; see :func:`run`."""
        graph = self.graph
        if isinstance(inputs, Mapping):
            missing = [n for n in graph.inputs if n not in inputs]
            if missing:
                raise TinygenError(f"graph {graph.name!r}: inputs are missing graph input(s) {missing}")
            inputs = [np.asarray(inputs[n]) for n in graph.inputs]
        if isinstance(inputs, np.ndarray) or not isinstance(inputs, (list, tuple)):
            inputs = [np.asarray(inputs)]
        if len(inputs) != len(graph.inputs):
            raise TinygenError(f"graph {graph.name!r} has {len(graph.inputs)} inputs {graph.inputs}, got {len(inputs)} arrays")
        values: dict[str, np.ndarray] = {}
        for name, value in zip(graph.inputs, inputs):
            values[name] = _check_input(graph, name, value)
        for s in graph.states:
            if s.read is not None:
                current = state[s.name] if state is not None and s.name in state else s.initial
                t = graph.tensor(s.read)
                values[s.read] = np.asarray(current).astype(_NP_DTYPES[t.dtype]).reshape(t.shape)
        for op, kernel, params, count in self._steps:
            args = []
            for name in op.inputs[:count]:
                if name in values:
                    args.append(values[name])
                elif name in self._consts:
                    args.append(self._consts[name])
                else:
                    raise TinygenError(f"op {op.name!r}: input {name!r} is used before it is produced")
            result = kernel(graph, op, params, args, self.rounding)
            # an op with several outputs (an LSTM's sequence and final states) returns one array each
            results = result if len(op.outputs) > 1 else (result,)
            if len(results) != len(op.outputs):
                raise TinygenError(f"op {op.name!r}: its reference gave {len(results)} results for {len(op.outputs)} outputs")
            for name, value in zip(op.outputs, results):
                out_t = graph.tensor(name)
                values[name] = np.asarray(value).reshape(out_t.shape).astype(_NP_DTYPES[out_t.dtype])
        return values


def run(
    graph: Graph, inputs: np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray], rounding: str = "double",
    state: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Execute ``graph`` on ``inputs`` (one array per graph input in order, a dict keyed by input
    name, or one array for a single-input graph). Returns every non-constant tensor (inputs,
    intermediates, outputs) by name. Several samples of one graph: :class:`Executor` prepares it once.

    A model with state (``graph.states``) reads ``state`` (values by state name; default: the initial
    values, as after a reset); :func:`next_state` gives the state after this invocation."""
    return Executor(graph, rounding).run(inputs, state)


def next_state(graph: Graph, values: Mapping[str, np.ndarray], state: Mapping[str, np.ndarray] | None = None
               ) -> dict[str, np.ndarray]:
    """The state after an invocation that returned ``values`` and started from ``state`` (None: initial)."""
    after = {}
    for s in graph.states:
        before = state[s.name] if state is not None and s.name in state else s.initial
        after[s.name] = np.asarray(values[s.write] if s.write is not None else before).astype(np.asarray(s.initial).dtype).reshape(-1)
    return after
