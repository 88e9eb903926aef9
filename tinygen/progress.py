"""What a long step is doing, shown on the terminal: a spinner with the step's name and its elapsed time on
stderr while it runs (calibration and conversion, PlatformIO builds, QEMU runs, the golden models).

Quiet when stderr is not a terminal (pipes, CI logs, tests) or when ``TINYGEN_PROGRESS=0``: then nothing
is printed at all, so output stays byte-for-byte the same.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator


def enabled() -> bool:
    return os.environ.get("TINYGEN_PROGRESS", "1") != "0" and sys.stderr.isatty()


@contextmanager
def step(text: str) -> Iterator[None]:
    """Show ``text`` with a spinner while the block runs (see the module docstring)."""
    if not enabled():
        yield
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(f"{text}...", spinner="dots"):
        yield
