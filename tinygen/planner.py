"""Static memory planning: one arena, every activation tensor and op scratch at a fixed offset.

Lifetimes come from op order: a tensor is live from the op that produces it (graph inputs: from
the start) to its last consumer (graph outputs: to the end). Tensors that must share memory form
one *buffer*:

* a ``reshape`` output is an alias of its input (same bytes, no copy);
* an elementwise op (add, mul, relu, relu6) whose output has the shape and element size of an input
  that dies at that op writes over that input; this is safe because these kernels read element
  ``i`` of every input before writing element ``i`` of the output, and nothing reads the input after.

Buffers are placed greedily, largest first (like TFLite Micro's GreedyMemoryPlanner), each into the
gap among the time-overlapping buffers already placed that fits it best (first fit is also tried;
the smaller arena wins). Offsets and sizes are multiples of :data:`ALIGN`. :func:`check` proves that
no two simultaneously live buffers overlap; :func:`plan` always runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinygen.errors import TinygenError
from tinygen.ir import Graph

#: arena alignment of every buffer (bytes): enough for int32/float and 128-bit loads
ALIGN = 16

#: op kinds whose output may reuse the memory of a dying input of the same shape and element size
IN_PLACE_KINDS = ("add", "mul", "relu", "relu6")


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


def _lifetimes(graph: Graph) -> dict[str, tuple[int, int]]:
    """Activation tensor -> (first op index, last op index) during which it is live."""
    end = max(len(graph.ops) - 1, 0)
    life: dict[str, list[int]] = {}
    for name in graph.inputs:
        life[name] = [0, 0]
    for index, op in enumerate(graph.ops):
        for name in op.inputs:
            if name in life:
                life[name][1] = index
        for name in op.outputs:
            life[name] = [index, index]
    for name in graph.outputs:
        life[name][1] = end
    return {name: (a, b) for name, (a, b) in life.items()}


def plan(graph: Graph, scratch_bytes_by_op: dict[int, int] | None = None) -> MemoryPlan:
    """Assign arena offsets to the activation tensors of ``graph`` and to each op's scratch."""
    scratch_bytes_by_op = scratch_bytes_by_op or {}
    life = _lifetimes(graph)
    groups = _Groups()
    const_aliases: dict[str, str] = {}
    for name in life:
        groups.find(name)

    def group_last(root: str) -> int:
        return max(life[n][1] for n in life if groups.find(n) == root)

    for index, op in enumerate(graph.ops):
        out = op.outputs[0]
        if op.kind == "reshape":
            src = op.inputs[0]
            if graph.tensors[src].is_const:
                const_aliases[out] = const_aliases.get(src, src)
                continue
            groups.union(src, out)
        elif op.kind in IN_PLACE_KINDS and all(graph.tensors[n].shape == graph.tensors[out].shape for n in op.inputs):
            # no broadcasting: element i of the output depends on element i of each input only
            out_t = graph.tensors[out]
            for src in op.inputs:
                src_t = graph.tensors[src]
                if src not in life or src_t.shape != out_t.shape or src_t.itemsize != out_t.itemsize:
                    continue
                # the input must die here, and not also be read through another input of this op
                if op.inputs.count(src) != 1 or any(
                    groups.find(o) == groups.find(src) for o in op.inputs if o != src and o in life
                ):
                    continue
                if group_last(groups.find(src)) == index:
                    groups.union(src, out)
                    break

    members: dict[str, list[str]] = {}
    for name in life:
        if name in const_aliases:
            continue
        members.setdefault(groups.find(name), []).append(name)
    buffers: list[Buffer] = []
    for root, names in members.items():
        size = max(graph.tensors[n].nbytes for n in names)
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

    arena = _place_best(buffers)
    check(buffers, arena)
    offsets = {n: b.offset for b in buffers for n in b.tensors}
    scratch = {i: (b.offset, b.size) for i, b in scratch_buffers.items()}
    return MemoryPlan(arena, buffers, offsets, scratch, const_aliases)


def _place_best(buffers: list[Buffer]) -> int:
    """Place with best fit and with first fit; keep the smaller arena. Returns the arena size."""
    results = []
    for best in (True, False):
        placed = _place(buffers, best)
        results.append((max((b.offset + b.size for b in buffers), default=0), placed))
    size, placed = min(results, key=lambda r: r[0])
    for buf, offset in zip(buffers, placed):
        buf.offset = offset
    return size


def _place(buffers: list[Buffer], best_fit: bool) -> list[int]:
    order = sorted(range(len(buffers)), key=lambda i: (-buffers[i].size, buffers[i].first, buffers[i].name))
    for buf in buffers:
        buf.offset = -1
    done: list[Buffer] = []
    for i in order:
        buf = buffers[i]
        busy = sorted((b for b in done if b.live_with(buf)), key=lambda b: b.offset)
        choice, choice_gap, cursor = -1, -1, 0
        for other in busy:
            gap = other.offset - cursor
            if gap >= buf.size and (choice < 0 or (best_fit and gap < choice_gap)):
                choice, choice_gap = cursor, gap
                if not best_fit:
                    break
            cursor = max(cursor, other.offset + other.size)
        buf.offset = choice if choice >= 0 else cursor
        done.append(buf)
    return [b.offset for b in buffers]


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
