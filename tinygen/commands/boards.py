"""``tinygen boards``: the supported boards as a table, and ``--new NAME --like ID``: a project's own
board manifest (``boards/NAME.json`` next to tinygen.toml) copied from a known board, to edit."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from tinygen.boards import BOARD_ID, Board, get_board, list_boards, overrides_builtin, project_boards_dir
from tinygen.errors import TinygenError


def _size(nbytes: int) -> str:
    return f"{nbytes // (1024 * 1024)} MB" if nbytes % (1024 * 1024) == 0 else f"{nbytes // 1024} KB"


def _source(board: Board) -> str:
    if not board.user:
        return "built-in"
    where = os.path.relpath(board.path)
    return f"{where} (replaces the built-in)" if overrides_builtin(board) else where


def _print_table() -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tinygen boards")
    columns = ("board", "name", "core", "FPU", "flash", "RAM", "DSP", "MVE", "upload", "QEMU stand-in", "manifest")
    for column in columns:  # the board and its name may wrap, what a script greps for may not
        table.add_column(column, no_wrap=column not in ("board", "name"))
    for board in list_boards():
        name = board.id + (f" ({', '.join(board.aliases)})" if board.aliases else "")
        table.add_row(
            name,
            board.title,
            board.core,
            board.fpu,
            _size(board.flash.size),
            _size(board.ram.size),
            "yes" if board.has_dsp else "no",
            "yes" if board.has_mve else "no",
            board.upload_protocol,
            board.machine + (" (its own firmware)" if board.runs_in_qemu and not board.is_qemu else ""),
            _source(board),
        )
    # a pipe gets every column unwrapped; a terminal gets its own width
    Console(width=None if sys.stdout.isatty() else 240).print(table)


def new_manifest(name: str, like: Board) -> dict:
    """``like``'s manifest as board ``name``: the same hardware description, to edit."""
    data = json.loads(like.path.read_text())
    if name != like.id:
        data["name"] = f"{data['name']} ({name})"
        data["tinygen"]["aliases"] = []  # the copied aliases name the other board
        if like.runs_in_qemu and not like.is_qemu:  # QEMU models the copied chip: it runs this board's firmware
            data["tinygen"]["qemu"]["board"] = name
    return data


def write_new_board(name: str, like_name: str, force: bool) -> Path:
    """Write ``boards/<name>.json`` next to tinygen.toml, a copy of board ``like_name``."""
    if not BOARD_ID.fullmatch(name):
        raise TinygenError(f"board name {name!r}: use lowercase letters, digits and _, starting with a letter "
                           "(it is the file name and PlatformIO's board id), e.g. my_f746")
    folder = project_boards_dir()
    if folder is None:
        raise TinygenError("no tinygen.toml here: a project's boards live in boards/ next to it; "
                           "run 'tinygen init MODEL --board BOARD' first")
    like = get_board(like_name)
    path = folder / f"{name}.json"
    if path.exists() and not force:
        raise TinygenError(f"{path} exists; edit it, or pass --force to replace it with a copy of {like.id}")
    folder.mkdir(exist_ok=True)
    path.write_text(json.dumps(new_manifest(name, like), indent=2) + "\n")
    get_board(name)  # the copy reads back as a valid board
    return path


@click.command(name="boards")
@click.option("--new", "new", default=None, metavar="NAME",
              help="Write boards/NAME.json (next to tinygen.toml), a board of this project's own to edit.")
@click.option("--like", "like", default=None, metavar="BOARD", help="With --new: the board to copy, e.g. nucleo_f746.")
@click.option("--force", is_flag=True, help="With --new: replace an existing boards/NAME.json.")
def command(new: str | None, like: str | None, force: bool) -> None:
    """List the supported boards: core, memory, DSP/MVE and the QEMU machine standing in for each (a board marked
    "its own firmware" runs the very firmware built for the hardware in QEMU; the others run the same model code
    on a QEMU machine with the same core). A project's own boards (boards/NAME.json next to tinygen.toml) come
    first: one with a built-in board's id replaces it. `tinygen boards --new NAME --like BOARD` writes one."""
    if new is None:
        if like is not None or force:
            raise TinygenError("--like and --force go with --new NAME (e.g. tinygen boards --new my_f746 --like nucleo_f746)")
        _print_table()
        return
    if like is None:
        raise TinygenError(f"--new {new} needs --like BOARD, the board to copy (e.g. --like nucleo_f746; see 'tinygen boards')")
    path = write_new_board(new, like, force)
    board = get_board(new)
    replaces = f"; it replaces the built-in {board.id} in this project" if overrides_builtin(board) else ""
    click.echo(f"wrote {path}, a copy of {get_board(like).id}{replaces}. Edit it (tinygen.memory, tinygen.clock, "
               f"tinygen.console...), then: tinygen build --board {board.id}")
