"""``tinygen test [MODEL] --board BOARD``: run the model in QEMU and compare every output bit for bit.

The firmware for the board's QEMU stand-in embeds int8 input vectors: the ``--inputs`` samples (quantized
as ``tinygen validate`` does), then ``-n`` random ones (:func:`make_vectors`, the seed rule every command
shares). Its outputs must equal tinygen's numpy reference and, for an
imported ``.tflite``, TFLite Micro's interpreter, byte for byte. On a difference the firmware is
rebuilt with per-layer tensor dumps to name the first layer that goes wrong.

The helpers here (``prepare``, ``make_vectors``, ``build_firmware``, ``golden``) are shared with
``tinygen bench``, ``tinygen build`` and the emulator tests. ``--json``/``--junit`` write every figure of a run,
also when it fails.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np

from tinygen import ports
from tinygen.errors import TinygenError

DEFAULT_VECTORS = 8
DEFAULT_SEED = 0


@dataclass
class Prepared:
    """A model ready to build: its graph, generated library and the board."""

    graph: Any  # tinygen.ir.Graph
    library: Any  # tinygen.codegen.Library
    board: Any  # tinygen.boards.Board
    #: the .tflite bytes when the model is a .tflite (TFLite Micro can then be the oracle)
    model_bytes: bytes | None
    rounding: str
    work_dir: Path

    @property
    def manifest(self) -> dict[str, Any]:
        return self.library.manifest  # type: ignore[no-any-return]

    @property
    def input_tensor(self) -> Any:
        return self.graph.tensor(self.manifest["input_tensor"])

    @property
    def ports(self) -> tuple[list[Any], list[Any]]:
        """(input ports, output ports): tinygen.ports.Port of each graph input and output."""
        _, ins, outs = ports.split(self.graph)
        return ins, outs

    @property
    def input_size(self) -> int:
        """Bytes of one input vector: every core input, one after the other."""
        return sum(self.graph.tensor(p.core).nbytes for p in self.ports[0])

    @property
    def num_layers(self) -> int:
        return len(self.manifest["layers"])


def prepare(
    model: str | Path,
    board_name: str,
    work_dir: Path,
    *,
    calibration: str | None = None,
    observer: str = "minmax",
    quantizer: str = "tinygen",
    rounding: str = "double",
) -> Prepared:
    """Load ``model``, generate its library under ``work_dir/lib`` and look up the board."""
    from tinygen.boards import get_board
    from tinygen.codegen import generate
    from tinygen.loader import load_graph

    board = get_board(board_name)
    path = Path(model)
    graph = load_graph(path, calibration=calibration, observer=observer, quantizer=quantizer)
    model_bytes = path.read_bytes() if path.suffix.lower() == ".tflite" else None
    # the board's core picks the kernels: Helium (MVE) ones where it has MVE
    library = generate(graph, work_dir / "lib", rounding=rounding, force=True, mve=board.has_mve)
    return Prepared(graph, library, board, model_bytes, rounding, work_dir)


def prepare_settings(settings: Any, work_dir: Path) -> Prepared:
    """:func:`prepare` from the resolved command-line/tinygen.toml settings (a BuildSettings)."""
    return prepare(
        settings.model, settings.board, work_dir, calibration=settings.calibration,
        observer=settings.observer, quantizer=settings.quantizer, rounding=settings.rounding,
    )  # fmt: skip


#: how ``-n/--num-random`` vectors are made, the same in build, test, bench and flash (its --help)
SEED_RULE = (
    "Random vectors: numpy.random.default_rng(SEED) draws, input by input, N rows of uniform int8 values "
    "(a uint8 input: uniform uint8 values through its QUANTIZE); the same N and --seed give the same vectors "
    "in build, test, bench and flash."
)


def make_vectors(prep: Prepared, count: int, seed: int = DEFAULT_SEED) -> np.ndarray:
    """``count`` random input vectors as int8 byte rows: every core input, one after the other.

    The one rule of every command (build, test, bench, flash) and the emulator tests: ``numpy.random.
    default_rng(seed)`` draws, for each model input in order, a ``(count, size)`` block of uniform int8 values
    (``integers(-128, 128, dtype=int8)``); behind a uint8 input edge, uniform uint8 values (``integers(0, 256)``)
    go through the edge's QUANTIZE, so every value is one the model's uint8 input can produce; behind an int16
    input edge, uniform int8 values each moved to the nearest one its QUANTIZE can make; an int16 core input (a
    16x8 model) gets uniform int16 values (``integers(-32768, 32768, dtype=int16)``), as their little-endian
    bytes. For a model with
    one input the first k of ``count`` vectors are the ``count=k`` vectors. (The stored instruction counts of
    tests/instruction_counts.json are measured on these vectors.)"""
    if count < 0:
        raise TinygenError(f"-n/--num-random must be 0 or more, not {count}")
    rng = np.random.default_rng(seed)
    parts = []
    for port in prep.ports[0]:
        size = prep.graph.tensor(port.core).size
        table = ports.edge_table(prep.graph, port, prep.rounding)
        if prep.graph.tensor(port.core).dtype == "int16":
            parts.append(rng.integers(-32768, 32768, size=(count, size), dtype=np.int16).view(np.int8))
        elif table is None:
            parts.append(rng.integers(-128, 128, size=(count, size), dtype=np.int8))
        elif table.size == 256:  # uint8
            parts.append(table[rng.integers(0, 256, size=(count, size))])
        else:
            parts.append(ports.nearest_reachable(table, rng.integers(-128, 128, size=(count, size), dtype=np.int8)))
    return np.concatenate(parts, axis=1)


def input_vectors(prep: Prepared, path: str) -> np.ndarray:
    """The samples of an ``--inputs`` file as int8 input vectors (rows of every core input, one after the other),
    read and quantized as ``tinygen validate`` reads them (float values with the input's quantization, int8 as it
    is; a model with several inputs: an ``.npz`` keyed by the input names or ``arr_0``, ``arr_1``...)."""
    from tinygen.validation.data import load_inputs

    inputs = load_inputs(path, prep.graph, prep.ports[0], prep.rounding)
    return inputs.batch(0, inputs.count)[0]


@dataclass(frozen=True)
class VectorChoice:
    """What the user asked to run: the --inputs file's samples, then ``num_random`` random vectors."""

    inputs: str | None
    num_random: int | None  # None: the command's default
    seed: int = DEFAULT_SEED

    def random_count(self, default: int) -> int:
        """-n when given; else 0 with --inputs (the user's samples alone), ``default`` without."""
        if self.num_random is not None:
            return self.num_random
        return 0 if self.inputs else default

    def vectors(self, prep: Prepared, default: int) -> np.ndarray:
        parts = [input_vectors(prep, self.inputs)] if self.inputs else []
        parts.append(make_vectors(prep, self.random_count(default), self.seed))
        vectors = np.concatenate(parts)
        if not len(vectors):
            raise TinygenError("no input vectors to run: give --inputs FILE or -n/--num-random N (1 or more)")
        return vectors

    def describe(self, count: int, default: int) -> dict[str, Any]:
        """The vectors' origin, for --json."""
        random = self.random_count(default)
        return {"count": count, "inputs": self.inputs, "from_inputs": count - random, "random": random,
                "seed": self.seed}


def _refuse_old(new: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            raise TinygenError(f"{ctx.info_name} {param.opts[0]} is gone: {new}")
        return value

    return callback


def old_vector_options(**spellings: str) -> Callable[[Any], Any]:
    """Hidden options for retired spellings (``--vectors``, ``--num-vectors``): giving one fails, naming the new
    option, so a script fails loudly instead of running other vectors than it asks for."""

    def decorate(func: Any) -> Any:
        for option, new in spellings.items():
            func = click.option(option, type=str, default=None, hidden=True, expose_value=False,
                                callback=_refuse_old(new))(func)  # fmt: skip
        return func

    return decorate


#: the message for the retired spellings
INPUTS_INSTEAD = "give --inputs FILE (.npy/.npz: float values or int8) for your own samples"
RANDOM_INSTEAD = "give -n/--num-random N for N random vectors (see --help for the seed rule)"


def vector_options(random_help: str, with_count: bool = True) -> Callable[[Any], Any]:
    """--inputs FILE, -n/--num-random N (when ``with_count``) and --seed S, the same in every command."""

    def decorate(func: Any) -> Any:
        func = click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
                            help="Seed of the random vectors. " + SEED_RULE)(func)  # fmt: skip
        if with_count:
            func = click.option("--num-random", "-n", "num_random", type=click.IntRange(min=0), default=None,
                                metavar="N", help=random_help)(func)  # fmt: skip
        return click.option(
            "--inputs", "inputs", type=click.Path(dir_okay=False), default=None, metavar="FILE",
            help="Your samples (.npy/.npz, batch first): float values, quantized with the model's input "
                 "quantization, or int8 already quantized; a model with several inputs: an .npz keyed by the "
                 "input names (or arr_0, arr_1...).",
        )(func)  # fmt: skip

    return decorate


def build_firmware(prep: Prepared, vectors: np.ndarray, dump_tensors: bool = False) -> Any:
    """Build the test firmware for the board's QEMU stand-in; return tinygen.platformio's BuildResult."""
    from tinygen import platformio

    project_dir = prep.work_dir / ("firmware-dump" if dump_tensors else "firmware")
    project = platformio.write_project(
        project_dir,
        board=prep.board,
        library_dir=prep.library.out_dir,
        model=prep.library.name,
        input_size=prep.input_size,
        vectors=vectors,
        target="qemu",
        dump_tensors=dump_tensors,
        app="bench",
    )
    return platformio.build(project)


def graph_input(prep: Prepared, vector: np.ndarray) -> list[np.ndarray]:
    """The graph inputs that make the library's int8 inputs equal ``vector`` (every core input, one after the
    other).

    Behind a float32 edge (QUANTIZE) the int8 input's exact dequantized value quantizes back to the same
    int8 (|q - zp| <= 255 is far inside float32 precision); behind a uint8 or int16 edge, a value that the edge
    maps to it (:func:`make_vectors` makes only such values).
    """
    values, offset = [], 0
    flat = vector.reshape(-1)
    for port in prep.ports[0]:
        core, declared = prep.graph.tensor(port.core), prep.graph.tensor(port.declared)
        part = flat[offset : offset + core.nbytes].view(core.dtype)  # an int16 core input: its bytes
        offset += core.nbytes
        if port.edge is None:
            values.append(part.reshape(core.shape))
        elif declared.dtype in ports.INTEGER_EDGE_RANGES:
            values.append(ports.edge_sources(prep.graph, port, part, prep.rounding).reshape(declared.shape))
        else:
            scale, zero_point = core.quant.scalar()
            floats = (part.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
            values.append(floats.astype(np.float32).reshape(declared.shape))
    return values


def core_outputs(prep: Prepared, tensors: dict[str, np.ndarray]) -> bytes:
    """Every core output of one run, one after the other, as the firmware prints them (TG-OUT)."""
    return b"".join(np.ascontiguousarray(tensors[p.core]).tobytes() for p in prep.ports[1])


def golden(prep: Prepared, vectors: np.ndarray) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]] | None]:
    """Every tensor of tinygen's reference per vector, and TFLite Micro's (None when not applicable)."""
    from tinygen import reference

    refs, oracle = [], []
    use_tflm = tflm_skip_reason(prep) is None
    state = None  # a streaming model's state carries from vector to vector, as the firmware runs them
    executor = reference.Executor(prep.graph, prep.rounding)
    for v, vector in enumerate(vectors):
        x = graph_input(prep, vector)
        ref = executor.run(x, state=state)
        state = reference.next_state(prep.graph, ref, state)
        core_in = np.concatenate([np.ascontiguousarray(ref[p.core]).reshape(-1).view(np.int8) for p in prep.ports[0]])
        if not np.array_equal(core_in, vector.reshape(-1)):
            raise TinygenError(f"internal error: the reference quantized the test input differently from {vector[:4]}...")
        refs.append(ref)
        if use_tflm:
            from tinygen.oracle import tflm_run

            assert prep.model_bytes is not None
            oracle.append(tflm_run(prep.model_bytes, x, reset=v == 0))
    return refs, (oracle if use_tflm else None)


def tflm_available() -> bool:
    """TFLite Micro's interpreter is an optional (test) dependency."""
    import importlib.util

    try:
        return importlib.util.find_spec("tflite_micro") is not None
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------
# Running and comparing


@dataclass
class TestOutcome:
    ok: bool
    lines: list[str]
    run: Any  # tinygen.emulator.Result
    #: tinygen.compare.Comparison of the firmware's outputs with tinygen's reference, then TFLite Micro's
    comparisons: list[Any] = field(default_factory=list)
    #: why TFLite Micro was not compared; None when it was
    tflm_skipped: str | None = None
    #: the first differing layer when anything differs (see :func:`_firmware_layer`, :func:`_oracle_layer`)
    first_layer: dict[str, Any] | None = None


def tflm_skip_reason(prep: Prepared) -> str | None:
    """Why TFLite Micro cannot be the oracle for ``prep``; None when it can."""
    if prep.model_bytes is None:
        return "the model is not a .tflite file (TFLite Micro runs .tflite files)"
    if prep.rounding != "double":
        return "--rounding single is not TFLite Micro's arithmetic"
    if not tflm_available():
        return "its interpreter is not installed (pip install tflite-micro)"
    from tinygen.oracle import tflm_refusal

    return tflm_refusal(prep.model_bytes)


def tflite_oracle(prep: Prepared, vectors: np.ndarray) -> list[dict[str, np.ndarray]] | None:
    """TensorFlow Lite's own interpreter's outputs per vector (carried from one to the next) where TFLite Micro
    refuses an op tinygen runs as TFLite defines it (an LSTM with peephole, projection, layer norm or CIFG); None
    where TFLite Micro is the oracle, or cannot be for another reason."""
    if prep.model_bytes is None or prep.rounding != "double" or not tflm_available():
        return None
    from tinygen.oracle import tflite_run, tflm_refusal

    inputs = [graph_input(prep, vector) for vector in vectors]
    if tflm_refusal(prep.model_bytes) is None or any(len(x) != 1 for x in inputs):  # tflite_run: one input
        return None
    return tflite_run(prep.model_bytes, [x[0] for x in inputs])


def run_test(
    prep: Prepared,
    vectors: np.ndarray,
    timeout: float = 300.0,
    locate: bool = True,
    builder: Callable[..., Any] | None = None,
) -> TestOutcome:
    """Build, run in QEMU, compare; on a difference rebuild with dumps to find the first bad layer.

    ``builder(prep, vectors, dump_tensors=...)`` replaces :func:`build_firmware` (tests cache ELFs).
    """
    build = builder or build_firmware
    from tinygen.compare import compare_outputs, first_differing_tensor
    from tinygen.emulator import run_firmware

    from tinygen import progress

    machine = prep.board.machine
    built = build(prep, vectors)
    with progress.step(f"running {len(vectors)} vector(s) in QEMU ({machine})"):
        result = run_firmware(built.elf, machine, timeout=timeout, num_layers=prep.num_layers)
    plural = "" if len(vectors) == 1 else "s"
    lines = [f"{prep.library.name} on {prep.board.id} (QEMU {machine}), {len(vectors)} input vector{plural}"]
    skipped = tflm_skip_reason(prep)
    if not result.ok:
        lines.append(f"FAIL: the firmware did not complete: {result.status}: {result.problem}")
        return TestOutcome(False, lines, result, tflm_skipped=skipped)
    with progress.step("computing the reference" + (" and TFLite Micro's outputs" if prep.model_bytes else "")):
        refs, oracle = golden(prep, vectors)
    comparisons = [compare_outputs("tinygen reference", [core_outputs(prep, r) for r in refs], result.outputs)]
    if oracle is None and prep.model_bytes is not None:
        lines.append(f"note: not compared with TFLite Micro: {skipped}")
    oracle_bad: tuple[int, str] | None = None
    if oracle is not None:
        comparisons.append(compare_outputs("TFLite Micro", [core_outputs(prep, o) for o in oracle], result.outputs))
        order = [op.outputs[0] for op in prep.graph.ops]
        for v, (r, o) in enumerate(zip(refs, oracle)):
            bad = first_differing_tensor(order, r, o)
            if bad is not None:
                oracle_bad = (v, bad)
                lines.append(f"note: tinygen's reference and TFLite Micro differ on vector {v}, first at tensor {bad!r}")
                break
    interpreted = tflite_oracle(prep, vectors) if oracle is None else None
    if interpreted is not None:
        comparisons.append(compare_outputs("TensorFlow Lite", [core_outputs(prep, o) for o in interpreted],
                                           result.outputs))
    ok = all(c.ok for c in comparisons)
    lines += [("ok    " if c.ok else "FAIL  ") + c.summary() for c in comparisons]
    first_layer = None
    if not comparisons[0].ok and locate:
        first_layer = _firmware_layer(prep, vectors, refs, build, timeout)
    elif not ok and oracle_bad is not None:
        first_layer = _oracle_layer(prep, *oracle_bad)
    if first_layer is not None:
        lines.append(first_layer["description"])
    lines += instruction_lines(result)
    return TestOutcome(ok, lines, result, comparisons, None if oracle is not None else skipped, first_layer)


def _firmware_layer(prep: Prepared, vectors: np.ndarray, refs: list[dict[str, np.ndarray]],
                    build: Callable[..., Any], timeout: float) -> dict[str, Any]:  # fmt: skip
    """The firmware disagrees with the reference: rebuild with per-layer dumps to find where."""
    from dataclasses import asdict

    from tinygen.compare import first_differing_layer
    from tinygen.emulator import run_firmware

    dumped = run_firmware(
        build(prep, vectors, dump_tensors=True).elf, prep.board.machine, timeout=timeout,
        num_layers=prep.num_layers, count_instructions=False,
    )  # fmt: skip
    between = "firmware and tinygen reference"
    if not dumped.ok:
        return {"between": between, "layer": None,
                "description": f"the tensor-dump build did not complete: {dumped.status}: {dumped.problem}"}
    layer = first_differing_layer(prep.manifest["layers"], refs, dumped.tensors)
    if layer is None:
        return {"between": between, "layer": None,
                "description": "every layer's dump matches: the difference is in the output copy"}
    return {"between": between, **asdict(layer), "description": layer.describe()}


def _oracle_layer(prep: Prepared, vector: int, tensor: str) -> dict[str, Any]:
    """The firmware agrees with the reference, which disagrees with TFLite Micro first at ``tensor``."""
    where = next((layer for layer in prep.manifest["layers"] if layer["output_tensor"] == tensor), None)
    what = f"{where['index']} ({where['op']} {where['name']!r})" if where else f"the op producing {tensor!r}"
    return {
        "between": "tinygen reference and TFLite Micro", "vector": vector, "tensor": tensor,
        "layer": where["index"] if where else None, "name": where["name"] if where else None,
        "op": where["op"] if where else None,
        "description": f"first differing layer: {what}: the firmware matches tinygen's reference, TFLite Micro differs",
    }  # fmt: skip


def instruction_lines(result: Any) -> list[str]:
    counts = result.inference_instructions
    if not counts:
        return ["instructions per inference: not measured"]
    how = "exact, QEMU plugin" if result.method == "plugin" else "SysTick under -icount, ±1"
    spread = f" (vectors: min {min(counts):,}, max {max(counts):,})" if min(counts) != max(counts) else ""
    lines = [f"instructions per inference: {counts[0]:,}{spread} [{how}]"]
    if result.stack_bytes is not None:
        lines.append(f"stack high-water mark: {result.stack_bytes:,} bytes")
    return lines


def resolve(ctx: click.Context, model: str | None, board: str | None, calibration: str | None,
            observer: str, quantizer: str, rounding: str) -> Any:  # fmt: skip
    """Command-line values completed from ./tinygen.toml (tinygen build's rules); a BuildSettings."""
    from tinygen.commands.build import explicit_options, resolve_settings

    return resolve_settings(
        model, board, None, calibration, observer, quantizer, rounding, explicit=explicit_options(ctx)
    )


def work_directory(work_dir: str | None) -> tuple[Path, Any]:
    """(directory, cleanup handle): the given one, or a temporary one removed afterwards."""
    if work_dir:
        path = Path(work_dir)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from tinygen.outdir import explain

            raise explain(exc, path) from None
        return path, None
    tmp = tempfile.TemporaryDirectory(prefix="tinygen-test-")
    return Path(tmp.name), tmp


def shared_options(func: Any) -> Any:
    from tinygen.commands.common import model_options, rounding_option

    func = rounding_option(model_options(func))
    func = click.option("--timeout", type=float, default=300.0, show_default=True,
                        help="Seconds before a hung firmware run is stopped.")(func)  # fmt: skip
    func = click.option("--work-dir", type=click.Path(file_okay=False), default=None,
                        help="Keep the generated library and firmware projects here (default: a temporary folder).")(func)  # fmt: skip
    func = click.option("--board", "-b", "board", default=None, help="Board id (its QEMU stand-in runs the firmware).")(func)
    func = click.argument("model", required=False)(func)
    return func


# ---------------------------------------------------------------------------------------------
# --json and --junit


def outcome_figures(prep: Prepared, model_file: str, choice: VectorChoice, vectors: np.ndarray,
                    outcome: TestOutcome) -> dict[str, Any]:  # fmt: skip
    """Every figure of a test run, JSON-ready (``--json``)."""
    from dataclasses import asdict

    run = outcome.run
    counts = run.inference_instructions
    return {
        "model": prep.library.name,
        "model_file": model_file,
        "board": prep.board.id,
        "machine": prep.board.machine,
        "rounding": prep.rounding,
        "vectors": choice.describe(len(vectors), DEFAULT_VECTORS),
        "passed": outcome.ok,
        "firmware": {"completed": run.ok, "status": run.status, "problem": run.problem or None},
        "comparisons": [
            {"name": c.name, "ok": c.ok, "values": c.values, "differing": c.differing,
             "first_difference": asdict(c.first) if c.first else None, "missing_vectors": c.missing}
            for c in outcome.comparisons
        ],  # fmt: skip
        "tflite_micro": {"compared": outcome.tflm_skipped is None, "reason": outcome.tflm_skipped},
        "first_differing_layer": outcome.first_layer,
        "instructions_per_inference": {"method": run.method, "per_vector": counts, "min": min(counts),
                                       "max": max(counts)} if counts else None,  # fmt: skip
        "stack_bytes": run.stack_bytes,
        "summary": outcome.lines,
    }


def outcome_suite(name: str, outcome: TestOutcome, seconds: float) -> Any:
    """The JUnit suite of a run: "firmware completed", then one case per comparison (a failure carries its
    summary line; TFLite Micro is skipped, saying why, where it was not compared)."""
    from tinygen.junit import Suite

    run = outcome.run
    suite = Suite(name, seconds=seconds)
    figures = "\n".join(instruction_lines(run))
    if not run.ok:
        suite.add("firmware completed", outcome.lines[-1], output=figures)
        for case in ("tinygen reference", "TFLite Micro"):
            suite.add(case, skipped="the firmware did not complete")
        return suite
    suite.add("firmware completed", output=figures)
    located = outcome.first_layer["description"] if outcome.first_layer else None
    for c in outcome.comparisons:
        suite.add(c.name, None if c.ok else "\n".join(filter(None, [c.summary(), located])))
    if outcome.tflm_skipped is not None:
        suite.add("TFLite Micro", skipped=outcome.tflm_skipped)
    return suite


def error_suite(name: str, error: str, seconds: float) -> Any:
    """The JUnit suite of a run that stopped before the firmware ran (a model, input or build error)."""
    from tinygen.junit import Suite

    suite = Suite(name, seconds=seconds)
    suite.add("firmware completed", error)
    return suite


@dataclass(frozen=True)
class ReportFiles:
    """Where --json and --junit go (either may be None)."""

    json_file: str | None
    junit_file: str | None

    def write(self, figures: dict[str, Any], suite: Any) -> None:
        """Write both as ``tinygen validate`` writes its own (the JSON through a temporary file and a rename)."""
        from tinygen.validation.checks import write_json

        if self.json_file:
            write_json(self.json_file, figures)
        if self.junit_file:
            suite.write(self.junit_file)


# ---------------------------------------------------------------------------------------------
# The command


@click.command("test")
@shared_options
@vector_options(f"Random vectors to run after the --inputs samples [default: {DEFAULT_VECTORS} without --inputs, "
                "0 with it].")  # fmt: skip
@old_vector_options(**{"--vectors": RANDOM_INSTEAD})
@click.option("--json", "json_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write every figure of the run to this JSON file (also when the test fails).")  # fmt: skip
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write a JUnit XML file for CI: firmware completed, one case per comparison.")  # fmt: skip
@click.pass_context
def command(
    ctx: click.Context, model: str | None, board: str | None, work_dir: str | None, timeout: float, rounding: str,
    calibration: str | None, observer: str, quantizer: str, inputs: str | None, num_random: int | None, seed: int,
    json_file: str | None, junit_file: str | None,
) -> None:  # fmt: skip
    """Run the model in QEMU and compare every output bit for bit.

    The firmware runs the --inputs samples, then -n random vectors (8 when there is no --inputs)."""
    import time

    settings = resolve(ctx, model, board, calibration, observer, quantizer, rounding)
    choice = VectorChoice(inputs, num_random, seed)
    reports = ReportFiles(json_file, junit_file)
    name = f"tinygen test {settings.model.name} on {settings.board}"
    started = time.monotonic()
    path, cleanup = work_directory(work_dir)
    try:
        prep = prepare_settings(settings, path)
        vectors = choice.vectors(prep, DEFAULT_VECTORS)
        outcome = run_test(prep, vectors, timeout=timeout)
    except TinygenError as exc:
        error = {"model_file": str(settings.model), "board": settings.board, "passed": False, "error": str(exc)}
        reports.write(error, error_suite(name, str(exc), time.monotonic() - started))
        raise
    finally:
        if cleanup is not None:
            cleanup.cleanup()
    for line in outcome.lines:
        click.echo(line)
    figures = outcome_figures(prep, str(settings.model), choice, vectors, outcome)
    reports.write(figures, outcome_suite(name, outcome, time.monotonic() - started))
    if not outcome.run.ok:
        raise TinygenError(f"the {prep.library.name} firmware did not complete on {prep.board.id}: {outcome.run.status}")
    if not outcome.ok:
        raise TinygenError(f"model {prep.library.name} is not bit-exact on {prep.board.id} (details above)")
    click.echo("PASS: every output is bit-exact")
