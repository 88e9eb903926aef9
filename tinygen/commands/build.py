"""``tinygen build``: model -> C library -> PlatformIO project -> firmware for a board, offline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tinygen.commands.common import model_options, rounding_option
from tinygen.commands.test import INPUTS_INSTEAD, RANDOM_INSTEAD, VectorChoice, old_vector_options, vector_options
from tinygen.errors import TinygenError

#: random vectors a firmware runs when the command line gives neither --inputs nor -n
DEFAULT_BUILD_VECTORS = 1

#: the app 'tinygen build' builds: the user's src/main.c, written once from the template
DEFAULT_APP = "template"
#: frameworks of PlatformIO's standard platforms 'tinygen build --framework' writes a project for
FRAMEWORKS = ("stm32cube", "arduino", "zephyr")

if TYPE_CHECKING:
    import numpy as np

    from tinygen.boards import Board
    from tinygen.platformio import BuildResult, Project


@dataclass(frozen=True)
class BuildSettings:
    model: Path
    board: str
    out: Path
    calibration: str | None
    observer: str
    quantizer: str
    rounding: str


def resolve_settings(
    model: str | None,
    board: str | None,
    out: str | None,
    calibration: str | None,
    observer: str,
    quantizer: str,
    rounding: str,
    explicit: frozenset[str] = frozenset(),
) -> BuildSettings:
    """Command-line values, completed from ./tinygen.toml where the command line leaves them out
    (``explicit``: the options the user typed, which win over the file)."""
    from tinygen import project

    toml = None
    if model is None or board is None:
        found = project.find()
        if found is not None:
            toml = project.load(found)
    if model is None:
        if toml is None:
            raise TinygenError("no model given and no tinygen.toml here; pass MODEL or run 'tinygen init MODEL --board BOARD'")
        model_path = toml.model
        calibration = calibration or toml.calibration
        observer = observer if "observer" in explicit else toml.observer
        quantizer = quantizer if "quantizer" in explicit else toml.quantizer
        rounding = rounding if "rounding" in explicit else toml.rounding
    else:
        model_path = Path(model)
    if board is None:
        if toml is None or toml.board is None:
            raise TinygenError("no board given; pass --board BOARD (see 'tinygen boards') or set [build] board in tinygen.toml")
        board = toml.board
    if out is None:
        out_path = toml.out if toml is not None and toml.out is not None and model is None else None
        out_path = out_path or Path("out") / f"{model_path.stem}-{board}"
    else:
        out_path = Path(out)
    return BuildSettings(model_path, board, out_path, calibration, observer, quantizer, rounding)


def explicit_options(ctx: click.Context) -> frozenset[str]:
    """The options given on the command line (not defaulted)."""
    return frozenset(
        name for name in ctx.params if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    )


def _library_and_vectors(settings: BuildSettings, board: Board, choice: VectorChoice | None) -> tuple[Path, np.ndarray]:
    """Load the model, generate its library into the project's lib/ and make ``choice``'s vectors."""
    from tinygen.codegen import c_identifier, generate
    from tinygen.commands.common import load_from_options
    from tinygen.commands.test import Prepared

    graph = load_from_options(str(settings.model), settings.calibration, settings.observer, settings.quantizer)
    name = c_identifier(graph.name)
    # the board's core picks the kernels: Helium (MVE) ones where it has MVE
    library = generate(graph, settings.out / "lib" / name, rounding=settings.rounding, force=True, mve=board.has_mve)
    prep = Prepared(graph, library, board, None, settings.rounding, settings.out)
    return library.out_dir, (choice or VectorChoice(None, None)).vectors(prep, DEFAULT_BUILD_VECTORS)


def build_firmware(
    settings: BuildSettings, *, qemu: bool = False, choice: VectorChoice | None = None, app: str = DEFAULT_APP
) -> BuildResult:
    """Load, generate, check the fit, write the project and compile it; return the BuildResult.

    The bench app runs ``choice``'s vectors: the --inputs samples, then -n random ones (default: one random
    vector without --inputs), made as ``tinygen test`` and ``tinygen bench`` make them; the template app's
    example input is the first of them."""
    from tinygen import platformio
    from tinygen.boards import get_board

    board = get_board(settings.board)  # an unknown board fails before the (slow) model load
    platformio.find_toolchain()
    library, vectors = _library_and_vectors(settings, board, choice)
    target = "qemu" if qemu else "board"
    # the bench app on a board also times each layer (TG-LAYERS); tinygen test's QEMU builds never do
    flags = [platformio.LAYER_CYCLES_FLAG] if app == "bench" and not qemu and not board.is_qemu else []
    return platformio.build(platformio.prepare_firmware(library, board, settings.out, vectors=vectors, target=target,
                                                       app=app, extra_flags=flags))  # fmt: skip


def write_framework_project(settings: BuildSettings, framework: str, choice: VectorChoice | None = None) -> Project:
    """Load, generate and write the project for PlatformIO's standard platform with ``framework``; nothing is
    compiled (that platform is downloaded on its first build)."""
    from tinygen import platformio
    from tinygen.boards import get_board

    board = get_board(settings.board)
    platformio.framework_board(board, framework)  # a board without that framework fails before the model load
    library, vectors = _library_and_vectors(settings, board, choice)
    return platformio.prepare_framework_project(library, board, settings.out, framework, vectors=vectors)


_APP_TEXT = {
    "template": "your src/main.c",
    "bench": "tinygen's benchmark harness (generated/app/main.c)",
    "validate": "tinygen's streaming validation app (generated/app/main.c, TG_APP_STREAM)",
}


def _usage(used: int, total: int) -> str:
    return f"{used:,} / {total:,} bytes ({100.0 * used / total:.1f}%)"


def report(result: BuildResult | Project) -> None:
    from tinygen.platformio import Project, framework_note, read_marker

    project = result if isinstance(result, Project) else result.project
    for note in project.notes:
        click.echo(note)
    if isinstance(result, Project):
        marker = read_marker(project.path)
        click.echo(f"PlatformIO project for {project.board.id} with the {marker['framework']} framework: {project.path}")
        click.echo(f"  it {framework_note(project.board.frameworks[marker['framework']]['platform'], marker['framework'])}")
        click.echo(f"  build it with: pio run -d {project.path}")
        return
    board = result.project.board
    where = f"{board.id} (QEMU stand-in {board.machine})" if result.project.target == "qemu" else board.id
    click.echo(f"firmware for {where}: {result.elf}")
    click.echo(f"  app:    {_APP_TEXT[result.project.app]}")
    click.echo(f"  binary: {result.bin}")
    click.echo(f"  flash:  {_usage(result.flash_used, result.flash_size)}")
    click.echo(f"  RAM:    {_usage(result.ram_used, result.ram_size)} (incl. {board.stack_size:,} bytes of stack)")


#: the --app option of build and flash
app_option = click.option(
    "--app", type=click.Choice(["template", "bench", "validate"]), default=DEFAULT_APP, show_default=True,
    help="What the firmware runs: template = your src/main.c (written once from the template, never overwritten; "
         "its example input is the first input vector); bench = tinygen's test/benchmark harness (the input vectors, "
         "TG-OUT/TG-TIME lines); validate = the harness's streaming app for 'tinygen validate --port'.")  # fmt: skip


@click.command(name="build")
@click.argument("model", required=False)
@click.option("--board", "-b", default=None, help="Board id (see 'tinygen boards'); default: tinygen.toml's.")
@click.option("--out", "-o", "out", default=None, metavar="DIR", help="Project folder [default: out/<model>-<board>].")
@click.option("--qemu", is_flag=True, help="Build the board's code for its QEMU stand-in (memory map, semihosting).")
@app_option
@click.option("--framework", type=click.Choice(FRAMEWORKS), default=None,
              help="Write a project for PlatformIO's standard platform of the board with this framework (vendor "
                   "drivers) instead of tinygen's offline platform. Not built: it needs internet on its first build.")
@vector_options("Random vectors the firmware runs after the --inputs samples [default: 1 without --inputs, 0 with it].")
@old_vector_options(**{"--vectors": INPUTS_INSTEAD, "--num-vectors": RANDOM_INSTEAD})
@click.option("--force", is_flag=True, help="Write into the project folder even if it holds files tinygen did not write.")
@model_options
@rounding_option
def command(
    model: str | None,
    board: str | None,
    out: str | None,
    qemu: bool,
    app: str,
    framework: str | None,
    inputs: str | None,
    num_random: int | None,
    seed: int,
    force: bool,
    calibration: str | None,
    observer: str,
    quantizer: str,
    rounding: str,
) -> None:
    """Generate a PlatformIO project for a board and build the firmware (offline).

    The project's src/main.c is yours (written once from a template: a loop that fills the input, runs the
    model and prints its output and cycles); the model library is regenerated in lib/. With --app bench the
    firmware runs the --inputs samples, then -n random vectors (one when there is no --inputs); the template's
    example input is the first of them."""
    settings = resolve_settings(
        model, board, out, calibration, observer, quantizer, rounding, explicit_options(click.get_current_context())
    )
    if not force:
        check_project_folder(settings.out)
    if framework is not None and (app != "template" or qemu):
        raise TinygenError(f"--framework {framework} builds your src/main.c on PlatformIO's standard platform: "
                           "--app bench/validate and --qemu need tinygen's platform (leave out --framework)")  # fmt: skip
    choice = VectorChoice(inputs, num_random, seed)
    if framework is not None:
        report(write_framework_project(settings, framework, choice))
    else:
        report(build_firmware(settings, qemu=qemu, choice=choice, app=app))


def check_project_folder(out: Path) -> None:
    """Refuse to write a firmware project into an existing folder tinygen did not make (someone's PlatformIO
    project: its platformio.ini and src/ would be overwritten), as ``convert`` refuses a foreign folder."""
    from tinygen.platformio import PROJECT_MARKER

    if out.exists() and not out.is_dir():
        raise TinygenError(f"--out {out}: exists and is not a folder; choose another path")
    if not out.is_dir() or (out / PROJECT_MARKER).is_file():
        return
    present = sorted(str(p.relative_to(out)) for p in out.iterdir())
    if present:
        shown = ", ".join(present[:5]) + (f" and {len(present) - 5} more" if len(present) > 5 else "")
        raise TinygenError(
            f"--out {out}: holds files tinygen did not write ({shown}); a build writes platformio.ini, src/main.c, "
            "generated/ and lib/ there: choose an empty or new folder, or pass --force to overwrite"
        )
