"""Mixed int8/int16 precision (``--int16``): which layers of a Keras model run in 16x8, and what that costs.

``--int16 LAYER[,LAYER...]`` names Keras layers; ``all`` is the whole model in 16x8 (int16 inputs and outputs too,
TFLite's 16x8 mode); ``auto`` chooses by measurement: the calibration samples are split as ``--ptq auto`` splits
them (:func:`tinygen.quantize.ptq_select.split`), each candidate (a tensor group held at 16 bits with its producers
and readers in 16x8, :func:`tinygen.quantize.precision.candidates`) is measured by the output SQNR of the mixed
graph on the held-out part and by its arena (the memory planner's, exactly: the library's arena minus the int8
one), and the greedy search adds the candidate with the most dB per extra arena byte (lazily: a candidate is
re-measured on the current choice before it is taken) while it gains, within ``--int16-budget`` bytes, until
``--int16-target-db`` is reached.
"""

from __future__ import annotations

import contextlib
import heapq
import shutil
import tempfile
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from tinygen.errors import TinygenError
from tinygen.ir import Graph
from tinygen.quantize import precision
from tinygen.quantize.ptq_select import MARGIN_DB

AUTO, ALL = "auto", "all"
#: the QEMU machine the instructions are counted on: the Cortex-M7 stand-in
M7_BOARD = "mps2_an500"
#: a candidate is taken only if it gains at least this much output SQNR (dB): what ``--ptq auto`` requires of a
#: pipeline (a 16x8 layer costs about twice the int8 instructions; noise-level gains are not worth them)
MIN_GAIN_DB = MARGIN_DB

INT16_HELP = ("Keras layers to run with 16-bit activations (16x8: int16 activations, int8 weights, int64 biases), "
              "comma-separated; 'all' (the whole model, int16 inputs and outputs), or 'auto' (chosen by measured "
              "output SQNR per byte of extra arena; needs --int16-budget or --int16-target-db).")


@dataclass(frozen=True)
class Int16Request:
    """What ``--int16`` and its options asked for."""

    layers: tuple[str, ...] = ()
    mode: str = "layers"  # "layers", ALL or AUTO
    budget: int | None = None
    target_db: float | None = None
    #: count the int8 and mixed libraries' instructions in QEMU (the Cortex-M7 stand-in)
    instructions: bool = False


def parse_request(spec: str | None, budget: int | None = None, target_db: float | None = None,
                  instructions: bool = False) -> Int16Request | None:
    """The request of the command-line options (None: no ``--int16``), checked."""
    if spec is None:
        if budget is not None or target_db is not None or instructions:
            raise TinygenError("--int16-budget, --int16-target-db and --int16-instructions go with --int16: add "
                               "--int16 auto (or name the layers)")
        return None
    names = tuple(n.strip() for n in spec.split(",") if n.strip())
    if not names:
        raise TinygenError(f"--int16 {spec!r}: give Keras layer names (comma-separated), 'all' or 'auto'")
    mode = names[0].lower() if len(names) == 1 and names[0].lower() in (AUTO, ALL) else "layers"
    if mode != AUTO and (budget is not None or target_db is not None):
        raise TinygenError("--int16-budget and --int16-target-db apply to --int16 auto only")
    if mode == AUTO and budget is None and target_db is None:
        raise TinygenError("--int16 auto needs a limit: --int16-budget BYTES (extra arena) and/or --int16-target-db "
                           "DB (output SQNR to reach)")
    if budget is not None and budget < 0:
        raise TinygenError(f"--int16-budget {budget}: give the extra arena bytes allowed, 0 or more")
    return Int16Request(names if mode == "layers" else (), mode, budget, target_db, instructions)


_REQUEST: ContextVar[Int16Request | None] = ContextVar("tinygen_int16", default=None)


@contextlib.contextmanager
def using_int16(request: Int16Request | None) -> Iterator[None]:
    """Quantize Keras models with the mixed precision ``request`` in this block (None: int8)."""
    token = _REQUEST.set(request)
    try:
        yield
    finally:
        _REQUEST.reset(token)


def current_request() -> Int16Request | None:
    return _REQUEST.get()


# --------------------------------------------------------------------------- measuring


def arena_bytes(graph: Graph) -> int:
    """The arena of ``graph``'s library as the code generator plans it (portable library, no Helium)."""
    from tinygen.codegen import generate

    with tempfile.TemporaryDirectory(prefix="tinygen-int16-") as tmp:
        return int(generate(graph, Path(tmp) / "lib", force=True).manifest["arena_bytes"])


def instructions(graph: Graph) -> int | str:
    """Instructions per inference of ``graph``'s library in QEMU on the Cortex-M7 stand-in (``tinygen bench``'s
    machinery, one inference on bench's random vector), or why they were not counted."""
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup.sh installs it)"
    from tinygen.boards import get_board
    from tinygen.codegen import generate
    from tinygen.commands.bench import bench
    from tinygen.commands.test import Prepared

    with tempfile.TemporaryDirectory(prefix="tinygen-int16-") as tmp:
        library = generate(graph, Path(tmp) / "lib", force=True)
        prep = Prepared(graph, library, get_board(M7_BOARD), None, "double", Path(tmp))
        return int(bench(prep, cycles=False)["instructions_per_inference"])


def macs_16x8(graph: Graph) -> tuple[int, int]:
    """(MACs of the 16x8 layers, all MACs) of ``graph``."""
    from tinygen.ir import op_macs

    total = wide = 0
    for op in graph.ops:
        macs = op_macs(graph, op)
        total += macs
        wide += macs * (graph.tensors[op.inputs[0]].dtype == "int16" and op.kind != "quantize")
    return wide, total


@dataclass
class Measure:
    """One graph measured: output SQNR on the held-out samples, arena bytes."""

    sqnr_db: float
    arena: int


class Bench:
    """Builds and measures the mixed graphs of one float graph on held-out samples (cached by op set)."""

    def __init__(self, fgraph: Graph, float_graph: Graph, samples: Any, observer: str) -> None:
        from tinygen.quantize.floatexec import run_float
        from tinygen.quantize.pipeline import observe_ranges
        from tinygen.quantize.ptq_select import split

        fit, self.test, held_out = split(samples)
        self.fgraph = fgraph
        self.ranges = observe_ranges(fgraph, fit, observer)
        values = run_float(float_graph, self.test)
        self.float_outputs = [values[name] for name in float_graph.outputs]
        self.held_out = int(np.asarray(self.test if not isinstance(self.test, list) else self.test[0]).shape[0])
        self.calibrated_on = int(np.asarray(fit if not isinstance(fit, list) else fit[0]).shape[0]) if held_out else 0
        self._cache: dict[tuple[frozenset[str], bool], Measure] = {}

    def graph(self, int16_ops: frozenset[str], edges: bool = False) -> Graph:
        from tinygen.quantize.quantizer import quantize_graph

        return quantize_graph(self.fgraph, self.ranges, int16_ops=int16_ops, int16_edges=edges)

    def measure(self, int16_ops: frozenset[str], edges: bool = False) -> Measure:
        from tinygen.quantize.ptq_select import output_sqnr

        key = (int16_ops, edges)
        if key not in self._cache:
            graph = self.graph(int16_ops, edges)
            self._cache[key] = Measure(output_sqnr(graph, self.float_outputs, self.test), arena_bytes(graph))
        return self._cache[key]


# --------------------------------------------------------------------------- the choice


@dataclass
class Step:
    """One candidate the greedy search took: the layers it put at 16 bits, the dB it gained, the bytes it added."""

    layers: list[str]
    gain_db: float
    added_bytes: int


@dataclass
class MixedChoice:
    """What ``--int16`` chose and what it cost (what ``tinygen convert`` prints)."""

    mode: str
    layers: list[str]
    int16_ops: frozenset[str]
    int8: Measure
    mixed: Measure
    held_out: int
    calibrated_on: int
    macs: tuple[int, int] = (0, 0)
    budget: int | None = None
    target_db: float | None = None
    steps: list[Step] = field(default_factory=list)
    #: instructions per inference in QEMU (int8, mixed), or why they were not counted
    instructions: tuple[int, int] | str = "not counted (add --int16-instructions to count them in QEMU)"
    boundaries: int = 0

    @property
    def reason(self) -> str:
        where = (f"{self.held_out} held-out calibration samples (calibrated on {self.calibrated_on})"
                 if self.calibrated_on else f"the {self.held_out} calibration samples")
        limits = [] if self.budget is None else [f"budget {self.budget:,} bytes"]
        limits += [] if self.target_db is None else [f"target {self.target_db:g} dB"]
        what = {"layers": "the named layers", ALL: "the whole model", AUTO: f"auto ({', '.join(limits)})"}[self.mode]
        names = ", ".join(self.layers) if self.layers else "none"
        lines = [
            f"int16 {what}: {len(self.layers)} layer(s) in 16x8: {names}",
            f"  output SQNR {self.int8.sqnr_db:.1f} dB int8 -> {self.mixed.sqnr_db:.1f} dB mixed on {where}",
            f"  arena {self.int8.arena:,} -> {self.mixed.arena:,} bytes ({self.mixed.arena - self.int8.arena:+,}, the "
            f"memory planner's); {self.macs[0]:,} of {self.macs[1]:,} MACs in 16x8; {self.boundaries} QUANTIZE "
            "int8<->int16 op(s) added",
        ]
        for step in self.steps:
            lines.append(f"  took {', '.join(step.layers)}: {step.gain_db:+.2f} dB, {step.added_bytes:+,} bytes")
        if isinstance(self.instructions, tuple):
            int8, mixed = self.instructions
            lines.append(f"  instructions per inference (QEMU {M7_BOARD}, Cortex-M7, measured): int8 {int8:,} -> "
                         f"mixed {mixed:,} ({100.0 * (mixed - int8) / int8:+.1f}%)")
        else:
            lines.append(f"  instructions: {self.instructions}")
        return "\n".join(lines)


def layers_of(op_names: frozenset[str], fgraph: Graph, layers: dict[str, str]) -> list[str]:
    """The Keras layers (in execution order) with an op among ``op_names``."""
    found = [precision.layer_of(op.name, layers) or op.name for op in fgraph.ops if op.name in op_names]
    return list(dict.fromkeys(found))


def greedy(bench: Bench, budget: int | None, target_db: float | None, fgraph: Graph, layers: dict[str, str]
           ) -> tuple[frozenset[str], list[Step]]:
    """The auto choice (module docstring): lazy greedy over the candidates by dB gained per extra arena byte."""
    base = bench.measure(frozenset())
    chosen: frozenset[str] = frozenset()
    current = base
    steps: list[Step] = []

    def score(ops: frozenset[str]) -> tuple[float, Measure]:
        m = bench.measure(chosen | ops)
        added = m.arena - current.arena
        return (m.sqnr_db - current.sqnr_db) / max(added, 1), m

    heap: list[tuple[float, int, frozenset[str]]] = []
    for index, cand in enumerate(precision.candidates(fgraph)):
        try:
            s, _ = score(cand.ops)
        except TinygenError:  # a configuration the op's 16x8 kernel does not cover (e.g. a broadcast ADD)
            continue
        heapq.heappush(heap, (-s, index, cand.ops))
    while heap and not (target_db is not None and current.sqnr_db >= target_db):
        _, index, ops = heapq.heappop(heap)
        if ops <= chosen:
            continue
        s, m = score(ops)
        if heap and s < -heap[0][0]:  # stale: measured again, no longer the best; back in the queue
            heapq.heappush(heap, (-s, index, ops))
            continue
        if m.sqnr_db - current.sqnr_db < MIN_GAIN_DB or (budget is not None and m.arena - base.arena > budget):
            continue
        steps.append(Step(layers_of(ops - chosen, fgraph, layers), m.sqnr_db - current.sqnr_db, m.arena - current.arena))
        chosen, current = chosen | ops, m
    return chosen, steps


def choose(result: Any, layers: dict[str, str], request: Int16Request) -> tuple[Graph, MixedChoice]:
    """The mixed graph of a quantization ``result`` (:class:`tinygen.quantize.pipeline.Quantized`) for ``request``,
    and what was chosen. ``layers``: every Keras layer's name -> its class."""
    fgraph = result.quantized_from or result.float_graph
    bench = Bench(fgraph, result.float_graph, result.calibration, result.observer)
    edges, steps = request.mode == ALL, []
    if request.mode == ALL:
        int16_ops = frozenset(op.name for op in fgraph.ops)
        precision.refuse_unsupported(fgraph, set(int16_ops), layers)
    elif request.mode == AUTO:
        int16_ops, steps = greedy(bench, request.budget, request.target_db, fgraph, layers)
    else:
        int16_ops = precision.ops_of_layers(fgraph, list(request.layers), layers)
    from tinygen.quantize.quantizer import quantize_graph

    graph = _checked(lambda: quantize_graph(fgraph, result.ranges, int16_ops=int16_ops, int16_edges=edges), layers)
    choice = MixedChoice(request.mode, layers_of(int16_ops, fgraph, layers), int16_ops, bench.measure(frozenset()),
                         _checked(lambda: bench.measure(int16_ops, edges), layers), bench.held_out,
                         bench.calibrated_on, macs_16x8(graph), request.budget, request.target_db, steps,
                         boundaries=sum(op.name not in {o.name for o in fgraph.ops} for op in graph.ops))
    if request.instructions:
        counts = [instructions(g) for g in (result.graph, graph)]
        choice.instructions = (counts[0], counts[1]) if all(isinstance(c, int) for c in counts) else \
            f"not counted: {next(c for c in counts if isinstance(c, str))}"
    return graph, choice


def _checked(make: Any, layers: dict[str, str]) -> Any:
    """``make()``, an op's refusal of its 16x8 configuration said as a --int16 problem."""
    try:
        return make()
    except TinygenError as exc:
        raise TinygenError(f"--int16: a layer's 16x8 form is refused: {exc}; keep that layer int8 (leave it out "
                           "of --int16, or use --int16 auto, which skips it)") from None


def keras_layers(model: Any) -> dict[str, str]:
    """Every layer of a Keras model (nested models' too) by name -> its class name."""
    import keras

    found: dict[str, str] = {}
    for layer in model.layers:
        found[layer.name] = type(layer).__name__
        if isinstance(layer, keras.Model):
            found.update(keras_layers(layer))
    return found
