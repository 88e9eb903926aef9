"""The memory planner: sound (proved by a shadow-memory simulation, independent of the planner's own
self-check), compact (arena figures of the MLPerf Tiny models vs TFLite Micro's), aliases and scratch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import codegen
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.planner import ALIGN, IN_PLACE_KINDS, Buffer, MemoryPlan, check, plan


def _t(name: str, shape: tuple[int, ...], dtype: str = "int8") -> Tensor:
    return Tensor(name, shape, dtype, Quantization([0.1], [0]))


def simulate(graph: Graph, memory: MemoryPlan) -> None:
    """Execute the graph on a shadow arena that records which tensor each byte holds.

    Every op must find each input's bytes still holding that tensor; outputs must not overlap inputs
    (except an in-place elementwise op writing exactly over a same-shaped input) nor the op's scratch;
    at the end the graph outputs must still be intact.
    """
    alias: dict[str, str] = {}
    for op in graph.ops:
        if op.kind == "reshape" and not graph.tensor(op.inputs[0]).is_const:
            alias[op.outputs[0]] = alias.get(op.inputs[0], op.inputs[0])
    ids = {name: i for i, name in enumerate(graph.tensors)}

    def canon(name: str) -> int:
        return ids[alias.get(name, name)]

    def span(name: str) -> range:
        start = memory.offsets[name]
        return range(start, start + graph.tensor(name).nbytes)

    shadow = np.full(memory.arena_size, -1, dtype=np.int64)

    def write(name: str) -> None:
        r = span(name)
        shadow[r.start : r.stop] = canon(name)

    def intact(name: str, where: str) -> None:
        r = span(name)
        assert r.stop <= memory.arena_size, f"{name} ends past the arena"
        assert np.all(shadow[r.start : r.stop] == canon(name)), f"{where}: {name!r} was overwritten"

    for name in graph.inputs:
        write(name)
    for index, op in enumerate(graph.ops):
        acts = [n for n in op.inputs if not graph.tensor(n).is_const and n not in memory.const_aliases]
        for name in acts:
            intact(name, f"op {index}")
        out = op.outputs[0]
        if out in memory.const_aliases:
            continue
        o = span(out)
        for name in acts:
            r = span(name)
            if op.kind == "reshape":
                assert r == o
            elif r.start < o.stop and o.start < r.stop:
                assert op.kind in IN_PLACE_KINDS and r == o, f"op {index} {op.kind}: output {out} overlaps input {name}"
        if index in memory.scratch:
            s0, size = memory.scratch[index]
            assert s0 % ALIGN == 0 and s0 + size <= memory.arena_size
            for name in [*acts, out]:
                r = span(name)
                assert s0 + size <= r.start or r.stop <= s0, f"op {index}: scratch overlaps {name}"
            shadow[s0 : s0 + size] = -2  # the kernel scribbles over its scratch
        write(out)
    for name in graph.outputs:
        intact(name, "end")


def random_graph(seed: int) -> tuple[Graph, dict[int, int]]:
    """A random DAG of conv-like, elementwise and reshape ops with random sizes and scratch."""
    rng = np.random.default_rng(seed)
    g = Graph("rand")
    g.add_tensor(_t("in", (1, int(rng.integers(1, 300)))))
    g.inputs = ["in"]
    available = ["in"]
    scratch: dict[int, int] = {}
    for i in range(int(rng.integers(1, 25))):
        kind = str(rng.choice(["conv2d", "conv2d", "add", "relu", "reshape", "concatenation"]))
        a = str(rng.choice(available[-6:]))
        out = f"t{i}"
        if kind == "reshape":
            shape = (g.tensor(a).size,)
            inputs = [a]
        elif kind in ("add", "relu"):
            shape = g.tensor(a).shape
            same = [n for n in available if g.tensor(n).shape == shape]
            inputs = [a, str(rng.choice(same))] if kind == "add" else [a]
        else:
            shape = (1, int(rng.integers(1, 400)))
            inputs = [a, str(rng.choice(available))] if kind == "concatenation" else [a]
        g.add_tensor(_t(out, shape))
        g.add_op(Op(kind, f"op{i}", inputs, [out]))
        if kind == "conv2d" and rng.random() < 0.5:
            scratch[i] = int(rng.integers(1, 200))
        available.append(out)
    g.outputs = [available[-1]]
    return g, scratch


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_graphs_plan_soundly(seed: int) -> None:
    graph, scratch = random_graph(seed)
    memory = plan(graph, scratch)
    simulate(graph, memory)
    assert all(o % ALIGN == 0 for o in memory.offsets.values())
    assert memory.arena_size % ALIGN == 0
    # never worse than giving every buffer its own memory
    assert memory.arena_size <= sum(b.size for b in memory.buffers)


def test_reshape_aliases_and_in_place_elementwise() -> None:
    g = Graph("alias")
    for name, shape in (("x", (1, 4, 4, 2)), ("r", (1, 32)), ("a", (1, 32)), ("y", (1, 32)), ("z", (1, 32))):
        g.add_tensor(_t(name, shape))
    g.inputs, g.outputs = ["x"], ["z"]
    g.add_op(Op("reshape", "r", ["x"], ["r"]))
    g.add_op(Op("conv2d", "c", ["r"], ["a"]))
    g.add_op(Op("relu", "relu", ["a"], ["y"]))  # a dies here: in place
    g.add_op(Op("add", "add", ["y", "r"], ["z"]))  # y dies here, r too: in place over one of them
    memory = plan(g)
    assert memory.offsets["r"] == memory.offsets["x"]
    assert memory.offsets["y"] == memory.offsets["a"]
    assert memory.offsets["z"] in (memory.offsets["y"], memory.offsets["r"])
    simulate(g, memory)


def test_no_in_place_when_the_input_lives_on() -> None:
    g = Graph("live")
    for name in ("x", "a", "b", "c"):
        g.add_tensor(_t(name, (1, 64)))
    g.inputs, g.outputs = ["x"], ["c"]
    g.add_op(Op("relu", "r", ["x"], ["a"]))
    g.add_op(Op("relu", "r2", ["a"], ["b"]))
    g.add_op(Op("add", "add", ["b", "x"], ["c"]))  # x is read again here: "a" must not reuse x
    memory = plan(g)
    assert memory.offsets["a"] != memory.offsets["x"]
    simulate(g, memory)


def test_scratch_lives_inside_the_arena() -> None:
    g = Graph("scratch")
    g.add_tensor(_t("x", (1, 100)))
    g.add_tensor(_t("y", (1, 50)))
    g.inputs, g.outputs = ["x"], ["y"]
    g.add_op(Op("conv2d", "c", ["x"], ["y"]))
    memory = plan(g, {0: 33})
    offset, size = memory.scratch[0]
    assert size == 48 and memory.scratch_bytes == 48
    assert memory.arena_size == 112 + 64 + 48
    simulate(g, memory)


def test_check_rejects_overlapping_live_buffers() -> None:
    a = Buffer("a", 32, 0, 2, ["a"], offset=0)
    b = Buffer("b", 32, 2, 3, ["b"], offset=16)
    with pytest.raises(TinygenError, match="overlap"):
        check([a, b], 64)
    b.offset = 32
    check([a, b], 64)
    with pytest.raises(TinygenError, match="misplaced"):
        check([a, Buffer("c", 16, 0, 0, ["c"], offset=8)], 64)


#: TFLite Micro + CMSIS-NN arena bytes for the same models (shared/models/README.md)
TFLM_ARENA = {
    "mlperf_kws_dscnn_int8": 22820,
    "mlperf_ic_resnet8_int8": 54996,
    "mlperf_ad01_int8": 2580,
    "person_detect": 82308,
}


@pytest.mark.parametrize("name", list(TFLM_ARENA))
def test_mlperf_arena_figures(name: str, shared_models: Path, tmp_path: Path) -> None:
    """The four MLPerf Tiny models (person_detect stands for VWW): sound plans, smaller than TFLM's."""
    from tinygen.frontend.tflite import import_tflite

    graph = import_tflite(shared_models / f"{name}.tflite")
    bare = plan(graph)
    simulate(graph, bare)
    lib = codegen.generate(graph, tmp_path / "lib")
    activations = sum(t.nbytes for t in graph.activation_tensors())
    print(
        f"\n{name}: arena {lib.manifest['arena_bytes']} B (scratch {lib.manifest['scratch_bytes']} B, "
        f"tensors alone {bare.arena_size} B, all activations {activations} B; TFLite Micro {TFLM_ARENA[name]} B)"
    )
    assert lib.manifest["arena_bytes"] <= TFLM_ARENA[name]
