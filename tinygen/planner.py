"""Static memory planning: one arena, every activation tensor and op scratch at a fixed offset.

Lifetimes come from op order: a tensor is live from the op that produces it (graph inputs: from
the start) to its last consumer (graph outputs: to the end). Tensors that must share memory form
one *buffer*:

* a ``reshape`` output is an alias of its input (same bytes, no copy);
* an op whose kernel may write its output over its first input (``IN_PLACE`` of
  :mod:`tinygen.lowering.base`: elementwise ops, and conv/depthwise kernels that register it) writes
  over that input when the input dies at that op and is not also read through another input: input
  and output become one buffer, as large as the larger of the two. A windowed kernel (``IN_PLACE_LAG``:
  convolution) may need its output to start a few bytes (about one input row) *before* its input;
  then the buffer holds both at those relative offsets.

Buffers are placed greedily, each into the gap among the time-overlapping buffers already placed
that fits it best (or first), in several orders (largest first like TFLite Micro's
GreedyMemoryPlanner, by start, by size x lifetime, ...); then a seeded local search swaps pairs in
the best order. The smallest arena wins; the search stops early at the lower bound (the largest
sum of buffers live during one op), which proves that arena optimal. Offsets and sizes are
multiples of :data:`ALIGN`.

:func:`check` proves that no two simultaneously live buffers overlap and :func:`check_tensors`, from
the graph alone, that every op writes its output and scratch over no byte still needed (except the
declared in-place input); :func:`plan` always runs both.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Mapping

from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op
from tinygen.lowering.base import IN_PLACE, IN_PLACE_LAG

#: arena alignment of every buffer (bytes): enough for int32/float and 128-bit loads
ALIGN = 16

#: placements the local search tries at most per plan, and its total work budget (buffers^2 per try):
#: big graphs get fewer tries, so planning stays well under a second
SEARCH_STEPS = 300
SEARCH_BUDGET = 2_000_000

InPlaceTable = Mapping[str, Callable[[Graph, Op], bool]]
LagTable = Mapping[str, Callable[[Graph, Op], "int | None"]]


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Buffer:
    """One region of the arena: the tensors sharing it, or one op's scratch."""

    name: str
    size: int
    first: int  # index of the first op during which it is live
    last: int  # index of the last op during which it is live (inclusive)
    tensors: list[str] = field(default_factory=list)
    offset: int = -1

    def live_with(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last

    def overlaps(self, other: "Buffer") -> bool:
        return self.offset < other.offset + other.size and other.offset < self.offset + self.size


@dataclass
class MemoryPlan:
    arena_size: int
    buffers: list[Buffer]
    #: activation tensor name -> arena offset
    offsets: dict[str, int]
    #: op index -> (offset, bytes) of its scratch
    scratch: dict[int, tuple[int, int]]
    #: constant tensor a reshape aliases: reshape output name -> the constant's name
    const_aliases: dict[str, str] = field(default_factory=dict)
    #: op index -> the input tensor its output overwrites in place (same offset)
    in_place: dict[int, str] = field(default_factory=dict)
    #: the largest sum of buffers live during one op: no placement can beat it
    lower_bound: int = 0
    #: op index -> bytes its in-place output starts before its input (ops missing here: 0)
    in_place_lag: dict[int, int] = field(default_factory=dict)

    @property
    def scratch_bytes(self) -> int:
        """The largest scratch any op needs (it is part of ``arena_size``)."""
        return max((size for _, size in self.scratch.values()), default=0)


class _Groups:
    """Union-find over tensor names: tensors that share one buffer."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, name: str) -> str:
        self.parent.setdefault(name, name)
        while self.parent[name] != name:
            self.parent[name] = self.parent[self.parent[name]]
            name = self.parent[name]
        return name

    def union(self, keep: str, other: str) -> None:
        self.parent[self.find(other)] = self.find(keep)


def _const_aliases(graph: Graph) -> dict[str, str]:
    """Reshape outputs that are views of a constant: output name -> the constant's name."""
    aliases: dict[str, str] = {}
    for op in graph.ops:
        if op.kind == "reshape" and op.inputs:
            src = op.inputs[0]
            if src in aliases or graph.tensor(src).is_const:
                aliases[op.outputs[0]] = aliases.get(src, src)
    return aliases


def _lifetimes(graph: Graph, const_aliases: Mapping[str, str]) -> dict[str, tuple[int, int]]:
    """Activation tensor in the arena -> (first op index, last op index) during which it is live."""
    end = max(len(graph.ops) - 1, 0)
    life: dict[str, list[int]] = {}
    for name in graph.inputs:
        life[name] = [0, 0]
    for index, op in enumerate(graph.ops):
        for name in op.inputs:
            if name in life:
                life[name][1] = index
        for name in op.outputs:
            if name not in const_aliases:
                life[name] = [index, index]
    for name in graph.outputs:
        if name in life:
            life[name][1] = end
    return {name: (a, b) for name, (a, b) in life.items()}


def plan(
    graph: Graph,
    scratch_bytes_by_op: dict[int, int] | None = None,
    in_place: InPlaceTable | None = None,
    lags: LagTable | None = None,
) -> MemoryPlan:
    """Assign arena offsets to the activation tensors of ``graph`` and to each op's scratch.

    ``in_place`` (default: the kernels' ``IN_PLACE`` table) says which ops may overwrite their first
    input at the same offset; ``lags`` (default: the kernels' ``IN_PLACE_LAG`` table when ``in_place``
    is the default, else none) which may do so with their output starting some bytes before the input.

    Joining an input and its lagged output into one buffer usually saves memory, but not always (the
    joined buffer lives as long as both and is as large as both with the lag): the plan is made with
    and without the lagged joins and the smaller arena wins (on a tie, the one without).
    """
    scratch_bytes_by_op = scratch_bytes_by_op or {}
    table = IN_PLACE if in_place is None else in_place
    lag_table = (IN_PLACE_LAG if in_place is None else {}) if lags is None else lags
    plain = _plan(graph, scratch_bytes_by_op, table, lag_table, allow_lag=False)
    if not lag_table:
        return plain
    lagged = _plan(graph, scratch_bytes_by_op, table, lag_table, allow_lag=True)
    return lagged if lagged.arena_size < plain.arena_size else plain


def _plan(
    graph: Graph, scratch_bytes_by_op: dict[int, int], table: InPlaceTable, lag_table: LagTable, allow_lag: bool
) -> MemoryPlan:
    """:func:`plan` with the in-place joins of ``table`` and ``lag_table`` (lagged ones if ``allow_lag``)."""
    const_aliases = _const_aliases(graph)
    life = _lifetimes(graph, const_aliases)
    groups = _Groups()
    in_place_ops: dict[int, str] = {}
    in_place_lags: dict[int, int] = {}
    group_last: dict[str, int] = {}  # root -> last op index any member is live
    rel: dict[str, int] = {name: 0 for name in life}  # byte offset of each tensor within its buffer
    for name, (_, last) in life.items():
        group_last[groups.find(name)] = last

    def join(keep: str, out: str, lag: int = 0) -> None:
        """Add the fresh tensor ``out`` to ``keep``'s buffer, starting ``lag`` bytes before ``keep``."""
        root = groups.find(keep)
        last = max(group_last[root], group_last[groups.find(out)])
        rel[out] = rel[keep] - lag
        if rel[out] < 0:  # the buffer grows downwards: shift every member up
            shift = -rel[out]
            for name in rel:
                if groups.find(name) == root or name == out:
                    rel[name] += shift
        groups.union(keep, out)
        group_last[groups.find(keep)] = last

    for index, op in enumerate(graph.ops):
        if not op.inputs or len(op.outputs) != 1:
            continue
        src, out = op.inputs[0], op.outputs[0]
        if src not in life or out not in life:
            continue
        if op.kind == "reshape":
            join(src, out)
            continue
        if group_last[groups.find(src)] != index:
            continue
        # the input's bytes must not also be read through another input of this op
        if any(groups.find(o) == groups.find(src) for o in op.inputs[1:] if o in life):
            continue
        lag = _in_place_lag(graph, op, table, lag_table)
        if lag is not None and (allow_lag or lag == 0):
            join(src, out, lag)
            in_place_ops[index] = src
            if lag:
                in_place_lags[index] = lag

    members: dict[str, list[str]] = {}
    for name in life:
        members.setdefault(groups.find(name), []).append(name)
    buffers: list[Buffer] = []
    for root, names in members.items():
        size = max(rel[n] + graph.tensors[n].nbytes for n in names)
        buffers.append(
            Buffer(
                name=root,
                size=_align(size),
                first=min(life[n][0] for n in names),
                last=max(life[n][1] for n in names),
                tensors=names,
            )
        )
    scratch_buffers: dict[int, Buffer] = {}
    for index, size in sorted(scratch_bytes_by_op.items()):
        if size > 0:
            buf = Buffer(name=f"scratch:{index}", size=_align(size), first=index, last=index)
            scratch_buffers[index] = buf
            buffers.append(buf)

    bound = lower_bound(buffers)
    arena = _place_best(buffers, bound)
    check(buffers, arena)
    offsets = {n: b.offset + rel[n] for b in buffers for n in b.tensors}
    scratch = {i: (b.offset, b.size) for i, b in scratch_buffers.items()}
    memory = MemoryPlan(arena, buffers, offsets, scratch, const_aliases, in_place_ops, bound, in_place_lags)
    check_tensors(graph, memory)
    return memory


def _in_place_lag(graph: Graph, op: Op, table: InPlaceTable, lags: LagTable) -> int | None:
    """Bytes the op's output must start before its first input to overwrite it (0: same offset), rounded
    up to ALIGN so both stay aligned; None when its kernel cannot run over its input."""
    lag_of = lags.get(op.kind)
    lag = lag_of(graph, op) if lag_of is not None else None
    if lag is not None:
        return _align(lag)
    predicate = table.get(op.kind)
    return 0 if predicate is not None and predicate(graph, op) else None


def lower_bound(buffers: list[Buffer]) -> int:
    """The largest total size of the buffers live during one op."""
    if not buffers:
        return 0
    end = max(b.last for b in buffers)
    live = [0] * (end + 2)
    for b in buffers:  # difference array over op indices
        live[b.first] += b.size
        live[b.last + 1] -= b.size
    best = total = 0
    for delta in live:
        total += delta
        best = max(best, total)
    return best


def _orders(buffers: list[Buffer]) -> list[list[int]]:
    """Candidate placement orders: the classic greedy ones."""
    idx = range(len(buffers))
    keys: list[Callable[[int], tuple[int, ...]]] = [
        lambda i: (-buffers[i].size, buffers[i].first, i),  # largest first (TFLite Micro)
        lambda i: (-buffers[i].size, -buffers[i].last, i),
        lambda i: (-buffers[i].size * (buffers[i].last - buffers[i].first + 1), i),  # largest area first
        lambda i: (buffers[i].first, -buffers[i].size, i),  # chronological (linear scan)
        lambda i: (-(buffers[i].last - buffers[i].first), -buffers[i].size, i),  # longest-lived first
    ]
    return [sorted(idx, key=k) for k in keys]


def _place_best(buffers: list[Buffer], bound: int) -> int:
    """Try several orders with best and first fit, then locally search the best order; keep the
    smallest arena (stop as soon as it equals ``bound``). Returns the arena size."""
    best: tuple[int, list[int], list[int], bool] | None = None
    for order in _orders(buffers):
        for best_fit in (True, False):
            offsets = _place(buffers, order, best_fit)
            size = _extent(buffers, offsets)
            if best is None or size < best[0]:
                best = (size, offsets, order, best_fit)
            if size <= bound:
                break
        if best is not None and best[0] <= bound:
            break
    if best is None:
        return 0
    size, offsets, order, best_fit = best
    rng = random.Random(len(buffers))  # seeded: the same graph always gets the same plan
    steps = min(SEARCH_STEPS, SEARCH_BUDGET // len(buffers) ** 2) if len(buffers) > 2 else 0
    for _ in range(steps):
        if size <= bound:
            break
        trial = list(order)
        i, j = rng.randrange(len(trial)), rng.randrange(len(trial))
        trial[i], trial[j] = trial[j], trial[i]
        trial_offsets = _place(buffers, trial, best_fit)
        trial_size = _extent(buffers, trial_offsets)
        if trial_size <= size:  # accept sideways moves too: they let the search cross plateaus
            size, offsets, order = trial_size, trial_offsets, trial
    for buf, offset in zip(buffers, offsets):
        buf.offset = offset
    return size


def _extent(buffers: list[Buffer], offsets: list[int]) -> int:
    return max((o + b.size for b, o in zip(buffers, offsets)), default=0)


def _place(buffers: list[Buffer], order: list[int], best_fit: bool) -> list[int]:
    """Offsets of ``buffers`` placed in ``order``, each into a gap (best or first fit) or at the top."""
    offsets = [-1] * len(buffers)
    done: list[int] = []
    for i in order:
        buf = buffers[i]
        busy = sorted(
            (offsets[j], buffers[j].size) for j in done if buffers[j].first <= buf.last and buf.first <= buffers[j].last
        )
        choice, choice_gap, cursor = -1, -1, 0
        for offset, size in busy:
            gap = offset - cursor
            if gap >= buf.size and (choice < 0 or (best_fit and gap < choice_gap)):
                choice, choice_gap = cursor, gap
                if not best_fit:
                    break
            cursor = max(cursor, offset + size)
        offsets[i] = choice if choice >= 0 else cursor
        done.append(i)
    return offsets


def check(buffers: list[Buffer], arena_size: int) -> None:
    """Prove the plan sound: aligned, inside the arena, no two live-together buffers overlap."""
    for buf in buffers:
        if buf.offset < 0 or buf.offset % ALIGN or buf.offset + buf.size > arena_size:
            raise TinygenError(f"memory plan: buffer {buf.name!r} at {buf.offset}+{buf.size} is misplaced (internal error)")
    for i, a in enumerate(buffers):
        for b in buffers[i + 1 :]:
            if a.live_with(b) and a.overlaps(b):
                raise TinygenError(
                    f"memory plan: buffers {a.name!r} [{a.offset}, {a.offset + a.size}) ops {a.first}-{a.last} and "
                    f"{b.name!r} [{b.offset}, {b.offset + b.size}) ops {b.first}-{b.last} overlap (internal error)"
                )


def check_tensors(graph: Graph, memory: MemoryPlan) -> None:
    """Prove, tensor by tensor, that no op writes (output or scratch) over a byte that another live
    tensor still needs; the only exception is the in-place input of an op, which must start at the
    output's offset plus the op's lag and die at that op (no alias of it may live on)."""
    life = _lifetimes(graph, memory.const_aliases)
    alias: dict[str, str] = {}  # reshape output -> the tensor whose bytes it is
    for op in graph.ops:
        if op.kind == "reshape" and op.outputs[0] in life and op.inputs[0] in life:
            alias[op.outputs[0]] = alias.get(op.inputs[0], op.inputs[0])

    def span(name: str) -> tuple[int, int]:
        start = memory.offsets[name]
        return start, start + graph.tensor(name).nbytes

    def fail(index: int, what: str, name: str) -> TinygenError:
        return TinygenError(f"memory plan: op {index} ({graph.ops[index].kind}) writes its {what} over live tensor {name!r} (internal error)")

    for name in life:
        start, stop = span(name)
        if start % ALIGN or start < 0 or stop > memory.arena_size:
            raise TinygenError(f"memory plan: tensor {name!r} at [{start}, {stop}) is misplaced (internal error)")
    for index, op in enumerate(graph.ops):
        live = [n for n, (a, b) in life.items() if a <= index <= b]
        writes: list[tuple[str, tuple[int, int]]] = []
        out = op.outputs[0] if op.outputs else None
        if out in life and out not in alias:
            writes.append(("output", span(out)))
        if index in memory.scratch:
            s0, size = memory.scratch[index]
            if s0 % ALIGN or s0 < 0 or s0 + size > memory.arena_size:
                raise TinygenError(f"memory plan: scratch of op {index} at [{s0}, {s0 + size}) is misplaced (internal error)")
            writes.append(("scratch", (s0, s0 + size)))
        src = memory.in_place.get(index)
        lag = memory.in_place_lag.get(index, 0)
        if src is not None and (
            src != op.inputs[0] or life[src][1] != index or memory.offsets[src] - memory.offsets[out] != lag
        ):
            raise TinygenError(f"memory plan: op {index} ({op.kind}) cannot run in place over {src!r} (internal error)")
        for what, (w0, w1) in writes:
            for name in live:
                if what == "output" and name == out:
                    continue
                t0, t1 = span(name)
                if t0 < w1 and w0 < t1 and not (what == "output" and name == src):
                    raise fail(index, what, name)
