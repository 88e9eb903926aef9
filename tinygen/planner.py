"""Static memory planning: one arena, every activation tensor and op scratch at a fixed offset.

Lifetimes come from op order: a tensor is live from the op that produces it (graph inputs: from
the start) to its last consumer (graph outputs: to the end). Tensors that must share memory form
one *buffer*:

* the output of an op whose lowering declares it an alias (:class:`OpNeeds` ``alias``: reshape) is a
  view of its input (same bytes, no copy);
* an op whose lowering declares that its kernel may write its output over its first input
  (``in_place_lag`` 0: elementwise ops, conv/depthwise kernels in some configurations) writes over that
  input when the input dies at that op and is not also read through another input: input and output
  become one buffer, as large as the larger of the two. A windowed kernel (convolution) may need its
  output to start a few bytes (about one input row) *before* its input (``in_place_lag`` > 0); then the
  buffer holds both at those relative offsets.

The planner knows no op kind: it receives these needs, per op index, from the lowerings
(:func:`tinygen.codegen.op_needs`).

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
from tinygen.ir import Graph
from tinygen.unionfind import UnionFind

#: arena alignment of every buffer (bytes): enough for int32/float and 128-bit loads
ALIGN = 16

#: placements the local search tries at most per plan, and its total work budget (buffers^2 per try):
#: big graphs get fewer tries, so planning stays well under a second
SEARCH_STEPS = 300
SEARCH_BUDGET = 2_000_000



@dataclass(frozen=True)
class OpNeeds:
    """What one op's lowering asks of the memory plan."""

    #: bytes of scratch its kernel needs while it runs
    scratch_bytes: int = 0
    #: the output is a view of the first input (no code): both get one buffer
    alias: bool = False
    #: None: the output needs its own bytes; otherwise the kernel may write the output over its first input
    #: (once that input dies here) starting this many bytes before it (0: at the same offset)
    in_place_lag: int | None = None


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
    #: op indices whose output is a view of their first input (no code)
    aliases: set[int] = field(default_factory=set)

    @property
    def scratch_bytes(self) -> int:
        """The largest scratch any op needs (it is part of ``arena_size``)."""
        return max((size for _, size in self.scratch.values()), default=0)


def const_aliases(graph: Graph, aliases: set[int]) -> dict[str, str]:
    """Outputs of the alias ops (op indices ``aliases``) that are views of a constant: output -> the constant."""
    found: dict[str, str] = {}
    for index, op in enumerate(graph.ops):
        if index in aliases and op.inputs:
            src = op.inputs[0]
            if src in found or graph.tensor(src).is_const:
                found[op.outputs[0]] = found.get(src, src)
    return found


def tensor_lifetimes(graph: Graph, const_aliases: Mapping[str, str]) -> dict[str, tuple[int, int]]:
    """Activation tensor in the arena -> (first op index, last op index) during which it is live. Graph outputs
    live past the last op (index ``len(graph.ops)``), so no op writes over one, not even the last op over an
    output it reads (an output of a multi-output graph may feed other ops)."""
    end = len(graph.ops)
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


def plan(graph: Graph, needs: Mapping[int, OpNeeds] | None = None) -> MemoryPlan:
    """Assign arena offsets to the activation tensors of ``graph`` and to each op's scratch, from what each
    op's lowering declared (``needs`` by op index; an op missing there needs nothing: no scratch, its own
    output buffer).

    Joining an input and its lagged output into one buffer usually saves memory, but not always (the
    joined buffer lives as long as both and is as large as both with the lag): the plan is made with
    and without the lagged joins and the smaller arena wins (on a tie, the one without).
    """
    needs = dict(needs or {})
    plain = _plan(graph, needs, allow_lag=False)
    if not any(n.in_place_lag for n in needs.values()):
        return plain
    lagged = _plan(graph, needs, allow_lag=True)
    return lagged if lagged.arena_size < plain.arena_size else plain


def _plan(graph: Graph, needs: Mapping[int, OpNeeds], allow_lag: bool) -> MemoryPlan:
    """:func:`plan` with the declared in-place joins (lagged ones if ``allow_lag``)."""
    aliases = {i for i, n in needs.items() if n.alias}
    const_of = const_aliases(graph, aliases)
    life = tensor_lifetimes(graph, const_of)
    groups = UnionFind()
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
        need = needs.get(index, OpNeeds())
        if need.alias:
            join(src, out)
            continue
        if group_last[groups.find(src)] != index:
            continue
        # the input's bytes must not also be read through another input of this op
        if any(groups.find(o) == groups.find(src) for o in op.inputs[1:] if o in life):
            continue
        # rounded up to ALIGN so both tensors stay aligned
        lag = None if need.in_place_lag is None else _align(need.in_place_lag)
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
    for index, size in sorted((i, n.scratch_bytes) for i, n in needs.items()):
        if size > 0:
            buf = Buffer(name=f"scratch:{index}", size=_align(size), first=index, last=index)
            scratch_buffers[index] = buf
            buffers.append(buf)

    bound = lower_bound(buffers)
    arena = _place_best(buffers, bound)
    check(buffers, arena)
    offsets = {n: b.offset + rel[n] for b in buffers for n in b.tensors}
    scratch = {i: (b.offset, b.size) for i, b in scratch_buffers.items()}
    memory = MemoryPlan(arena, buffers, offsets, scratch, const_of, in_place_ops, bound, in_place_lags, aliases)
    check_tensors(graph, memory)
    return memory


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
    life = tensor_lifetimes(graph, memory.const_aliases)
    alias: dict[str, str] = {}  # alias op output -> the tensor whose bytes it is
    for index, op in enumerate(graph.ops):
        if index in memory.aliases and op.outputs[0] in life and op.inputs[0] in life:
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
