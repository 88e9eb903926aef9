"""``tinygen test [MODEL] --board BOARD``: run the model in QEMU and compare every output bit for bit.

The firmware for the board's QEMU stand-in embeds N int8 input vectors (random with a fixed seed,
plus calibration samples when given). Its outputs must equal tinygen's numpy reference and, for an
imported ``.tflite``, TFLite Micro's interpreter, byte for byte. On a difference the firmware is
rebuilt with per-layer tensor dumps to name the first layer that goes wrong.

The helpers here (``prepare``, ``make_vectors``, ``build_firmware``, ``golden``) are shared with
``tinygen bench`` and the emulator tests.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
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
        return sum(self.graph.tensor(p.core).size for p in self.ports[0])

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


def make_vectors(prep: Prepared, count: int, seed: int = DEFAULT_SEED, calibration: str | None = None) -> np.ndarray:
    """``count`` random vectors (fixed seed), then up to ``count`` calibration samples: rows of every int8 core
    input, one after the other. Behind a uint8 input edge, random uint8 values go through the edge's QUANTIZE
    (so every value is one the model's uint8 input can produce)."""
    if count < 1:
        raise TinygenError(f"--vectors must be at least 1, not {count}")
    rng = np.random.default_rng(seed)
    parts = []
    for port in prep.ports[0]:
        size = prep.graph.tensor(port.core).size
        table = ports.uint8_edge_table(prep.graph, port, prep.rounding)
        if table is None:
            parts.append(rng.integers(-128, 128, size=(count, size), dtype=np.int8))
        else:
            parts.append(table[rng.integers(0, 256, size=(count, size))])
    vectors = [np.concatenate(parts, axis=1)]
    if calibration and calibration != "random":
        vectors.append(_calibration_vectors(prep, Path(calibration))[:count])
    return np.concatenate(vectors)


def _calibration_vectors(prep: Prepared, path: Path) -> np.ndarray:
    """Calibration samples as the int8 input of the generated library: each sample's inputs, each quantized with
    its core input's quantization, one after the other. A model with several inputs takes an ``.npz`` with one
    array per input keyed by the input names (or ``arr_0``, ``arr_1``... in input order), as calibration does."""
    ins = prep.ports[0]
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                arrays = {key: np.asarray(data[key]) for key in data}
        else:
            arrays = {"": np.asarray(data)}
    except (OSError, ValueError) as exc:
        raise TinygenError(f"calibration file {path}: cannot read it as .npy/.npz ({exc})") from exc
    if len(ins) == 1:
        if not arrays:
            raise TinygenError(f"calibration file {path}: it holds no array")
        chosen = [(ins[0], next(iter(arrays.values())))]
    else:
        names = [p.declared for p in ins]
        described = ", ".join(f"{p.declared} {prep.graph.tensor(p.declared).shape}" for p in ins)
        if set(names) <= set(arrays):
            keys = names
        elif set(arrays) == {f"arr_{i}" for i in range(len(ins))}:
            keys = [f"arr_{i}" for i in range(len(ins))]
        else:
            held = ", ".join(repr(k) for k in arrays if k) or "one unnamed array (a .npy)"
            raise TinygenError(
                f"calibration file {path}: model {prep.graph.name!r} has {len(ins)} inputs ({described}); give an .npz "
                f"with one array per input keyed by the input names (or arr_0, arr_1... in input order); it holds {held}"
            )
        extra = [k for k in arrays if k not in keys]
        if extra:
            raise TinygenError(f"calibration file {path}: array(s) {', '.join(map(repr, extra))} match no model input "
                               f"({described})")
        chosen = [(port, arrays[key]) for port, key in zip(ins, keys)]

    def quantized(port: Any, data: np.ndarray) -> np.ndarray:
        core = prep.graph.tensor(port.core)
        size = core.size
        what = f"input {port.declared!r} " if len(ins) > 1 else ""
        if data.size % size:
            raise TinygenError(
                f"calibration file {path}: {what}shape {data.shape} does not split into inputs of {size} values "
                f"(model input {core.shape})"
            )
        return ports.core_values(prep.graph, port, data.reshape(-1, size), prep.rounding)

    parts = [quantized(port, data) for port, data in chosen]
    counts = [len(part) for part in parts]
    if len(set(counts)) > 1:
        raise TinygenError(
            f"calibration file {path}: the inputs have different sample counts ("
            + ", ".join(f"{port.declared}: {n}" for (port, _), n in zip(chosen, counts)) + ")"
        )
    return np.concatenate(parts, axis=1)


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
    )
    return platformio.build(project)


def graph_input(prep: Prepared, vector: np.ndarray) -> list[np.ndarray]:
    """The graph inputs that make the library's int8 inputs equal ``vector`` (every core input, one after the
    other).

    Behind a float32 edge (QUANTIZE) the int8 input's exact dequantized value quantizes back to the same
    int8 (|q - zp| <= 255 is far inside float32 precision); behind a uint8 edge, a uint8 value that the edge
    maps to it (:func:`make_vectors` makes only such values).
    """
    values, offset = [], 0
    flat = vector.reshape(-1)
    for port in prep.ports[0]:
        core, declared = prep.graph.tensor(port.core), prep.graph.tensor(port.declared)
        part = flat[offset : offset + core.size]
        offset += core.size
        if port.edge is None:
            values.append(part.reshape(core.shape))
        elif declared.dtype == "uint8":
            table = ports.uint8_edge_table(prep.graph, port, prep.rounding)
            assert table is not None
            source = np.full(256, -1, dtype=np.int16)
            for u in range(255, -1, -1):  # the smallest uint8 value that makes each int8 value
                source[int(table[u]) + 128] = u
            wanted = source[part.astype(np.int16) + 128]
            if (wanted < 0).any():
                raise TinygenError(f"input {declared.name!r}: an int8 test value its uint8 QUANTIZE cannot make")
            values.append(wanted.astype(np.uint8).reshape(declared.shape))
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
    use_tflm = prep.model_bytes is not None and prep.rounding == "double" and tflm_available()
    state = None  # a streaming model's state carries from vector to vector, as the firmware runs them
    for v, vector in enumerate(vectors):
        x = graph_input(prep, vector)
        ref = reference.run(prep.graph, x, rounding=prep.rounding, state=state)
        state = reference.next_state(prep.graph, ref, state)
        core_in = np.concatenate([ref[p.core].astype(np.int8).reshape(-1) for p in prep.ports[0]])
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
# The command


@dataclass
class TestOutcome:
    ok: bool
    lines: list[str]
    run: Any  # tinygen.emulator.Result


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
    from tinygen.compare import compare_outputs, first_differing_layer, first_differing_tensor
    from tinygen.emulator import run_firmware

    from tinygen import progress

    machine = prep.board.machine
    built = build(prep, vectors)
    with progress.step(f"running {len(vectors)} vector(s) in QEMU ({machine})"):
        result = run_firmware(built.elf, machine, timeout=timeout, num_layers=prep.num_layers)
    plural = "" if len(vectors) == 1 else "s"
    lines = [f"{prep.library.name} on {prep.board.id} (QEMU {machine}), {len(vectors)} input vector{plural}"]
    if not result.ok:
        lines.append(f"FAIL: the firmware did not complete: {result.status}: {result.problem}")
        return TestOutcome(False, lines, result)
    with progress.step("computing the reference" + (" and TFLite Micro's outputs" if prep.model_bytes else "")):
        refs, oracle = golden(prep, vectors)
    comparisons = [compare_outputs("tinygen reference", [core_outputs(prep, r) for r in refs], result.outputs)]
    if oracle is None and prep.model_bytes is not None:
        lines.append(
            "note: not compared with TFLite Micro: "
            + ("--rounding single is not TFLite Micro's arithmetic" if prep.rounding != "double"
               else "its interpreter is not installed (pip install tflite-micro)")
        )  # fmt: skip
    oracle_bad: str | None = None
    if oracle is not None:
        comparisons.append(compare_outputs("TFLite Micro", [core_outputs(prep, o) for o in oracle], result.outputs))
        order = [op.outputs[0] for op in prep.graph.ops]
        for v, (r, o) in enumerate(zip(refs, oracle)):
            oracle_bad = first_differing_tensor(order, r, o)
            if oracle_bad is not None:
                lines.append(f"note: tinygen's reference and TFLite Micro differ on vector {v}, first at tensor {oracle_bad!r}")
                break
    ok = all(c.ok for c in comparisons)
    lines += [("ok    " if c.ok else "FAIL  ") + c.summary() for c in comparisons]
    if not comparisons[0].ok and locate:
        # The firmware disagrees with the reference: rebuild with per-layer dumps to find where.
        dumped = run_firmware(
            build(prep, vectors, dump_tensors=True).elf, machine, timeout=timeout,
            num_layers=prep.num_layers, count_instructions=False,
        )  # fmt: skip
        if not dumped.ok:
            lines.append(f"the tensor-dump build did not complete: {dumped.status}: {dumped.problem}")
        else:
            layer = first_differing_layer(prep.manifest["layers"], refs, dumped.tensors)
            lines.append(layer.describe() if layer else "every layer's dump matches: the difference is in the output copy")
    elif not ok and oracle_bad is not None:
        # The firmware agrees with the reference, which disagrees with TFLite Micro.
        layer_of = {layer["output_tensor"]: layer for layer in prep.manifest["layers"]}
        where = layer_of.get(oracle_bad)
        what = f"{where['index']} ({where['op']} {where['name']!r})" if where else f"the op producing {oracle_bad!r}"
        lines.append(f"first differing layer: {what}: the firmware matches tinygen's reference, TFLite Micro differs")
    lines += instruction_lines(result)
    return TestOutcome(ok, lines, result)


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


@click.command("test")
@shared_options
@click.option("--vectors", "-n", "num_vectors", type=int, default=DEFAULT_VECTORS, show_default=True,
              help="Random int8 input vectors to run (calibration samples are added when given).")  # fmt: skip
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True, help="Seed of the random input vectors.")
@click.pass_context
def command(
    ctx: click.Context, model: str | None, board: str | None, work_dir: str | None, timeout: float, rounding: str,
    calibration: str | None, observer: str, quantizer: str, num_vectors: int, seed: int,
) -> None:  # fmt: skip
    """Run the model in QEMU and compare every output bit for bit."""
    settings = resolve(ctx, model, board, calibration, observer, quantizer, rounding)
    path, cleanup = work_directory(work_dir)
    try:
        prep = prepare_settings(settings, path)
        vectors = make_vectors(prep, num_vectors, seed, settings.calibration)
        outcome = run_test(prep, vectors, timeout=timeout)
    finally:
        if cleanup is not None:
            cleanup.cleanup()
    for line in outcome.lines:
        click.echo(line)
    if not outcome.run.ok:
        raise TinygenError(f"the {prep.library.name} firmware did not complete on {prep.board.id}: {outcome.run.status}")
    if not outcome.ok:
        raise TinygenError(f"model {prep.library.name} is not bit-exact on {prep.board.id} (details above)")
    click.echo("PASS: every output is bit-exact")
