"""The figures of a report, gathered from the graph, the generated library's manifest, the memory plan and
(when given) ``tinygen bench``'s and ``tinygen validate``'s dicts: plain data, no drawing."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from tinygen.errors import TinygenError

#: how many characters of a layer's name the charts and the table show (the full name is in a tooltip)
SHORT_NAME = 30
#: trailing parts of TensorFlow op names that say nothing about which layer it is
_GENERIC = re.compile(r"^(BiasAdd|Relu6?|Conv2D|MatMul|FusedBatchNormV\d|BatchNorm|Add|add|Squeeze|Reshape|"
                      r"depthwise|Sigmoid|Softmax|Mean|Identity|Tanh|Mul|mul|AvgPool|MaxPool|Pad|Cast|"
                      r"Conv2D_bias|Relu_\d+|[a-z_]*\d*_fold|StatefulPartitionedCall(:\d+)?)$")


@dataclass
class Layer:
    index: int
    name: str
    short: str
    op: str
    input_shapes: list[list[int]]
    output_shape: list[int]
    macs: int
    instructions: int | None
    kernel: str | None
    variants: list[str]
    sqnr_db: float | None = None
    #: estimated cycles and ms on the board's core at its clock (bench's cycle model; None without one)
    estimated_cycles: int | None = None
    estimated_ms: float | None = None

    @property
    def macs_per_instruction(self) -> float | None:
        return self.macs / self.instructions if self.instructions else None


@dataclass
class Lifetime:
    """One bar of the memory picture: a tensor (or an op's scratch) at ``offset`` for ops ``first`` to ``last``."""

    name: str
    offset: int
    size: int
    first: int
    last: int
    scratch: bool = False
    #: the box starts (ends) mid-layer: the tensor is made (dies) by an op that writes over the other's bytes
    #: in place, so the two boxes share that layer's column half and half instead of overlapping
    born_in_place: bool = False
    dies_in_place: bool = False


@dataclass
class Memory:
    arena_bytes: int
    lower_bound: int
    lifetimes: list[Lifetime]
    #: bytes live during each op (index: op index; one more than the ops when outputs live past the last op)
    live_bytes: list[int]

    @property
    def peak_layer(self) -> int:
        return max(range(len(self.live_bytes)), key=lambda i: (self.live_bytes[i], -i)) if self.live_bytes else 0

    @property
    def peak_bytes(self) -> int:
        return max(self.live_bytes, default=0)


@dataclass
class Report:
    model: str
    name: str
    rounding: str
    layers: list[Layer]
    memory: Memory
    manifest: dict[str, Any]
    board: Any | None = None  # tinygen.boards.Board
    bench: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        """Instruction counts per layer are known (a bench ran with the QEMU plugin)."""
        return any(layer.instructions is not None for layer in self.layers)

    @property
    def total_macs(self) -> int:
        return int(self.manifest["total_macs"])

    @property
    def total_instructions(self) -> int | None:
        if self.bench is not None and self.bench.get("instructions_per_inference"):
            return int(self.bench["instructions_per_inference"])
        if self.validation is not None and self.validation.get("instructions_per_inference"):
            return int(self.validation["instructions_per_inference"])
        return None

    @property
    def cycle_model(self) -> dict[str, Any] | None:
        """The bench's cycle model (name, core, clock, assumptions) when it estimated cycles."""
        if self.bench is None or self.bench.get("estimated_cycles") is None:
            return None
        return self.bench.get("cycle_model")

    def share(self, layer: Layer) -> float:
        """The layer's share of the whole: of the instructions when measured, else of the MACs."""
        if self.measured:
            total = sum(lay.instructions or 0 for lay in self.layers)
            return (layer.instructions or 0) / total if total else 0.0
        return layer.macs / self.total_macs if self.total_macs else 0.0


def short_name(name: str, limit: int = SHORT_NAME) -> str:
    """A layer name short enough for a chart label: TFLite's fused "a;b;c" names keep their first part, a
    TensorFlow path keeps its last meaningful parts, and what is still too long loses its middle."""
    first = name.split(";", 1)[0]
    parts = [p for p in first.split("/") if p]
    while len(parts) > 1 and _GENERIC.match(parts[-1]):
        parts.pop()
    if len(parts) > 2:
        parts = parts[-2:]
    text = "/".join(parts) or first or name
    if len(text) > limit:
        keep = limit - 1
        text = text[: (keep + 1) // 2] + "…" + text[-(keep // 2) :]
    return text


def memory(graph: Any, manifest: dict[str, Any], plan: Any) -> Memory:
    """The memory picture of ``plan`` (a tinygen.planner.MemoryPlan): every arena tensor and scratch."""
    from tinygen import ports
    from tinygen.ir import Graph
    from tinygen.planner import tensor_lifetimes

    if plan.arena_size != int(manifest["arena_bytes"]):
        raise TinygenError(f"internal error: the report's memory plan ({plan.arena_size} bytes) is not the library's "
                           f"({manifest['arena_bytes']} bytes)")
    core, _, _ = ports.split(graph)
    writes = [s.write for s in core.states if s.write is not None and s.write in plan.offsets]
    life = tensor_lifetimes(Graph(core.name, core.tensors, core.ops, core.inputs, core.outputs + writes), plan.const_aliases)
    born, dying = set(), set()  # in-place outputs and views, and the inputs they take over
    for index in sorted(set(plan.in_place) | set(plan.aliases)):
        op = core.ops[index]
        if op.outputs[0] in plan.offsets and op.inputs[0] in life:
            born.add(op.outputs[0])
            if life[op.inputs[0]][1] == index:
                dying.add(op.inputs[0])
    lifetimes = [Lifetime(name, plan.offsets[name], core.tensor(name).nbytes, first, last,
                          born_in_place=name in born, dies_in_place=name in dying)
                 for name, (first, last) in life.items() if name in plan.offsets]
    lifetimes += [Lifetime(f"scratch of layer {index}", offset, size, index, index, scratch=True)
                  for index, (offset, size) in sorted(plan.scratch.items())]
    span = max((b.last for b in plan.buffers), default=0) + 1
    live = [sum(b.size for b in plan.buffers if b.first <= i <= b.last) for i in range(span)]
    return Memory(plan.arena_size, plan.lower_bound, sorted(lifetimes, key=lambda t: (t.first, t.offset)), live)


def layers(manifest: dict[str, Any], bench: dict[str, Any] | None,
           validation: dict[str, Any] | None) -> list[Layer]:
    """The manifest's layers with the bench's instruction counts and estimated cycles and validate's per-layer
    SQNR when given."""
    benched = {int(b["index"]): b for b in (bench or {}).get("layers", [])}
    sqnr: dict[str, float] = {}  # by output tensor and by layer name
    for entry in (validation or {}).get("layers_sqnr") or []:
        value = _number(entry.get("sqnr_db"))
        if value is not None:
            sqnr.setdefault(f"tensor:{entry.get('tensor')}", value)
            sqnr.setdefault(f"name:{entry.get('name')}", value)
    rows = []
    for layer in manifest["layers"]:
        index = int(layer["index"])
        rows.append(Layer(
            index=index, name=layer["name"], short=short_name(layer["name"]), op=layer["op"],
            input_shapes=[list(s) for s in layer["input_shapes"]], output_shape=list(layer["output_shape"]),
            macs=int(layer["macs"]), instructions=benched.get(index, {}).get("instructions"), kernel=layer.get("kernel"),
            variants=list(layer.get("variants", [])),
            sqnr_db=sqnr.get(f"tensor:{layer.get('output_tensor')}", sqnr.get(f"name:{layer['name']}")),
            estimated_cycles=benched.get(index, {}).get("estimated_cycles"),
            estimated_ms=benched.get(index, {}).get("estimated_ms"),
        ))  # fmt: skip
    return rows


def _number(value: Any) -> float | None:
    """A JSON figure as a float: validate's JSON writes infinities as "inf"/"-inf"."""
    if isinstance(value, (int, float)):
        return float(value)
    if value in ("inf", "-inf"):
        return math.inf if value == "inf" else -math.inf
    return None


def gather(graph: Any, manifest: dict[str, Any], plan: Any, board: Any | None = None,
           bench: dict[str, Any] | None = None, validation: dict[str, Any] | None = None) -> Report:
    """Every figure of the report. ``plan``: the library's tinygen.planner.MemoryPlan (``Library.memory``)."""
    report = Report(
        model=str(manifest.get("model") or graph.name), name=str(manifest["name"]), rounding=str(manifest["rounding"]),
        layers=layers(manifest, bench, validation), memory=memory(graph, manifest, plan), manifest=manifest,
        board=board, bench=bench, validation=validation,
    )  # fmt: skip
    if board is None:
        report.notes.append("Host-only report: no board was given, so there are no instruction counts, no "
                            "code size and no flash/RAM limits. Run tinygen report with --board for them.")
    elif bench is not None and bench.get("method") not in (None, "plugin"):
        report.notes.append("Per-layer instruction counts need the QEMU plugin, which could not be built here "
                            "(install gcc): the total comes from SysTick.")
    return report
