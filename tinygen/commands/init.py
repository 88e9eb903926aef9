"""``tinygen init``: write ./tinygen.toml so later commands need no arguments."""

from __future__ import annotations

import os
from pathlib import Path

import click

from tinygen.commands.common import OBSERVERS
from tinygen.errors import TinygenError

_MODEL_SUFFIXES = (".tflite", ".keras", ".h5", ".hdf5")


@click.command(name="init")
@click.argument("model", required=False)
@click.option("--board", "-b", required=True, help="Default board (see 'tinygen boards').")
@click.option("--calibration", default=None, metavar="DATA", help="Calibration inputs for a Keras model (.npy/.npz).")
@click.option("--observer", type=click.Choice(OBSERVERS), default="minmax", show_default=True)
@click.option("--quantizer", type=click.Choice(["tinygen", "tflite"]), default="tinygen", show_default=True)
@click.option("--rounding", type=click.Choice(["double", "single"]), default="double", show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing tinygen.toml.")
def command(
    model: str | None,
    board: str,
    calibration: str | None,
    observer: str,
    quantizer: str,
    rounding: str,
    force: bool,
) -> None:
    """Write a tinygen.toml naming the model, calibration data and board."""
    from tinygen import project
    from tinygen.boards import get_board

    target = Path(project.FILENAME)
    if target.exists() and not force:
        raise TinygenError(f"{target} already exists; pass --force to replace it")
    board_id = get_board(board).id
    if model is None:
        found = sorted(p for p in Path(".").iterdir() if p.suffix.lower() in _MODEL_SUFFIXES)
        if len(found) != 1:
            what = "no model file" if not found else f"several model files ({', '.join(p.name for p in found)})"
            raise TinygenError(f"{what} in this folder; name the model: 'tinygen init MODEL --board {board_id}'")
        model = found[0].name
    if not Path(model).exists():
        raise TinygenError(f"{model}: no such file or directory")
    is_keras = Path(model).suffix.lower() != ".tflite"
    if is_keras and calibration is None:
        raise TinygenError(f"{model} is a Keras model: pass --calibration DATA (.npy/.npz, or 'random')")
    if calibration not in (None, "random") and not Path(calibration).exists():
        raise TinygenError(f"{calibration}: no such calibration file")

    def rel(path: str) -> str:
        # paths in tinygen.toml are relative to its folder, so the project can move
        return os.path.relpath(Path(path).resolve(), Path.cwd().resolve())

    text = project.render(
        rel(model),
        board_id,
        calibration=None if calibration in (None, "random") else rel(calibration),
        observer=observer,
        quantizer=quantizer,
        rounding=rounding,
    )
    if calibration == "random":
        text = text.replace("[model]\n", '[model]\ncalibration = "random"\n', 1)
    try:
        target.write_text(text)
    except OSError as exc:
        raise TinygenError(f"cannot write {target}: {exc.strerror or exc}; run 'tinygen init' in a folder you can write to") from None
    click.echo(f"wrote {target}: model {model}, board {board_id}; now run 'tinygen build'")
