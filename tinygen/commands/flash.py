"""``tinygen flash``: build if needed, then upload through PlatformIO's upload target."""

from __future__ import annotations

from pathlib import Path

import click

from tinygen.commands.common import model_options, rounding_option
from tinygen.commands.build import app_option
from tinygen.commands.test import VectorChoice, vector_options
from tinygen.errors import TinygenError

#: the options that choose a new build's input vectors
VECTOR_OPTIONS = ("inputs", "num_random", "seed")


@click.command(name="flash")
@click.argument("target", required=False, metavar="[MODEL|DIR]")
@click.option("--board", "-b", default=None, help="Board id (see 'tinygen boards'); default: the project's or tinygen.toml's.")
@click.option("--out", "-o", "out", default=None, metavar="DIR", help="Project folder when building [default: out/<model>-<board>].")
@click.option("--protocol", default=None, help="Upload protocol (default: the board's, shown by `tinygen boards`): pyocd, stlink, openocd, "
              "cmsis-dap, nrfutil, nrfjprog, jlink, bossac (Arduino bootloader), uf2 (copy to the RPI-RP2 drive), picotool.")
@app_option
@vector_options("Random vectors the bench app runs after the --inputs samples when flash builds it (the template "
                "app's example input is the first vector) [default: 1 without --inputs, 0 with it].")  # fmt: skip
@model_options
@rounding_option
def command(
    target: str | None,
    board: str | None,
    out: str | None,
    protocol: str | None,
    app: str,
    inputs: str | None,
    num_random: int | None,
    seed: int,
    calibration: str | None,
    observer: str,
    quantizer: str,
    rounding: str,
) -> None:
    """Build the firmware if needed and upload it to a board."""
    from tinygen import platformio
    from tinygen.boards import get_board
    from tinygen.commands.build import build_firmware, explicit_options, report, resolve_settings

    explicit = explicit_options(click.get_current_context())
    if target is not None and (Path(target) / platformio.PROJECT_MARKER).is_file():
        # a project 'tinygen build -o DIR' wrote: pio rebuilds whatever changed, then uploads
        project = platformio.load_project(target)
        if board is not None and get_board(board).id != project.board.id:
            raise TinygenError(
                f"{target} was built for board {project.board.id}, not {board}; rebuild it with 'tinygen build --board {board}'"
            )
        given = [f"--{name.replace('_', '-')}" for name in (*VECTOR_OPTIONS, "app") if name in explicit]
        if given:
            raise TinygenError(f"{target} is already built with its app and input vectors; {', '.join(given)} apply "
                               "when flash builds from a model: rebuild the project with 'tinygen build' and these options")
    else:
        if target is not None and Path(target).is_dir() and not Path(target).suffix:
            raise TinygenError(f"{target} is neither a model nor a firmware project built by tinygen")
        settings = resolve_settings(target, board, out, calibration, observer, quantizer, rounding, explicit)
        result = build_firmware(settings, choice=VectorChoice(inputs, num_random, seed), app=app)
        report(result)
        project = result.project
    platformio.upload(project, protocol)
    click.echo(f"flashed {project.build_dir} firmware to {project.board.id} with {protocol or project.board.upload_protocol}")
