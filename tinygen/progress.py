"""What a long step is doing, shown on the terminal: a spinner with the step's name and its elapsed time on
stderr while it runs (calibration and conversion, PlatformIO builds, QEMU runs, the golden models).

Quiet when stderr is not a terminal (pipes, CI logs, tests) or when ``TINYGEN_PROGRESS=0``: then nothing
is printed at all, so output stays byte-for-byte the same.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: a progress bar is on screen: steps inside it stay quiet (rich shows one live display at a time)
_bar_shown = False


def enabled() -> bool:
    return os.environ.get("TINYGEN_PROGRESS", "1") != "0" and sys.stderr.isatty()


@contextmanager
def step(text: str) -> Iterator[None]:
    """Show ``text`` with a spinner while the block runs (see the module docstring)."""
    if not enabled() or _bar_shown:
        yield
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(f"{text}...", spinner="dots"):
        yield


@contextmanager
def bar(text: str, total: int) -> Iterator[Callable[[int, str], None]]:
    """A progress bar of ``total`` items while the block runs; the block calls ``advance(done, what)`` to add
    ``done`` items and show ``what`` (the current stage). Quiet as :func:`step` is; the steps run inside it
    show no spinner of their own."""
    global _bar_shown
    if not enabled() or _bar_shown:
        yield lambda done, what: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(), TimeElapsedColumn())
    _bar_shown = True
    try:
        with Progress(*columns, transient=True, console=Console(stderr=True)) as progress:
            task = progress.add_task(text, total=total)
            yield lambda done, what: progress.update(task, advance=done, description=f"{text}: {what}")
    finally:
        _bar_shown = False
