"""``tinygen boards``: the supported boards as a table."""

from __future__ import annotations

import sys

import click

from tinygen.boards import list_boards


def _size(nbytes: int) -> str:
    return f"{nbytes // (1024 * 1024)} MB" if nbytes % (1024 * 1024) == 0 else f"{nbytes // 1024} KB"


@click.command(name="boards")
def command() -> None:
    """List the supported boards: core, memory, DSP/MVE and the QEMU machine standing in for each (a board marked
    "its own firmware" runs the very firmware built for the hardware in QEMU; the others run the same model code
    on a QEMU machine with the same core)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tinygen boards")
    for column in ("board", "name", "core", "FPU", "flash", "RAM", "DSP", "MVE", "upload", "QEMU stand-in"):
        table.add_column(column)
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
        )
    # a pipe gets every column unwrapped; a terminal gets its own width
    Console(width=None if sys.stdout.isatty() else 160).print(table)
