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

if TYPE_CHECKING:
    from tinygen.platformio import BuildResult


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


def build_firmware(settings: BuildSettings, *, qemu: bool = False, choice: VectorChoice | None = None) -> BuildResult:
    """Load, generate, check the fit, write the project and compile it; return the BuildResult.

    The firmware runs ``choice``'s vectors: the --inputs samples, then -n random ones (default: one random
    vector without --inputs), made as ``tinygen test`` and ``tinygen bench`` make them."""
    from tinygen import platformio
    from tinygen.boards import get_board
    from tinygen.codegen import c_identifier, generate
    from tinygen.commands.common import load_from_options
    from tinygen.commands.test import Prepared

    board = get_board(settings.board)  # an unknown board fails before the (slow) model load
    platformio.find_toolchain()
    graph = load_from_options(str(settings.model), settings.calibration, settings.observer, settings.quantizer)
    name = c_identifier(graph.name)
    # the board's core picks the kernels: Helium (MVE) ones where it has MVE
    library = generate(graph, settings.out / "lib" / name, rounding=settings.rounding, force=True, mve=board.has_mve)
    prep = Prepared(graph, library, board, None, settings.rounding, settings.out)
    vectors = (choice or VectorChoice(None, None)).vectors(prep, DEFAULT_BUILD_VECTORS)
    project = platformio.prepare_firmware(
        library.out_dir, board, settings.out, vectors=vectors, target="qemu" if qemu else "board"
    )
    return platformio.build(project)


def _usage(used: int, total: int) -> str:
    return f"{used:,} / {total:,} bytes ({100.0 * used / total:.1f}%)"


def report(result: BuildResult) -> None:
    board = result.project.board
    where = f"{board.id} (QEMU stand-in {board.machine})" if result.project.target == "qemu" else board.id
    click.echo(f"firmware for {where}: {result.elf}")
    click.echo(f"  binary: {result.bin}")
    click.echo(f"  flash:  {_usage(result.flash_used, result.flash_size)}")
    click.echo(f"  RAM:    {_usage(result.ram_used, result.ram_size)} (incl. {board.stack_size:,} bytes of stack)")


@click.command(name="build")
@click.argument("model", required=False)
@click.option("--board", "-b", default=None, help="Board id (see 'tinygen boards'); default: tinygen.toml's.")
@click.option("--out", "-o", "out", default=None, metavar="DIR", help="Project folder [default: out/<model>-<board>].")
@click.option("--qemu", is_flag=True, help="Build the board's code for its QEMU stand-in (memory map, semihosting).")
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

    The firmware runs the --inputs samples, then -n random vectors (one when there is no --inputs)."""
    settings = resolve_settings(
        model, board, out, calibration, observer, quantizer, rounding, explicit_options(click.get_current_context())
    )
    if not force:
        check_project_folder(settings.out)
    report(build_firmware(settings, qemu=qemu, choice=VectorChoice(inputs, num_random, seed)))


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
            f"--out {out}: holds files tinygen did not write ({shown}); a build writes platformio.ini, src/, "
            "include/ and lib/ there: choose an empty or new folder, or pass --force to overwrite"
        )
