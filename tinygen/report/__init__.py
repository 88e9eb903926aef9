"""``tinygen report``: one self-contained HTML page about a generated model (summary and board budget, layers,
memory plan, validation figures), for ``tinygen report``, ``tinygen bench --html`` and ``tinygen validate --html``.

:func:`write_html` is the entry point: give it the graph and what you already have (the generated library
(``tinygen.codegen.Library``: its manifest and memory plan), the board, ``tinygen.commands.bench.bench()``'s dict, ``tinygen.commands.validate.validate()``'s dict).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

__all__ = ["write_html", "render_html"]


def render_html(*, graph: Any, library: Any = None, board: Any = None, bench: dict[str, Any] | None = None,
                validation: dict[str, Any] | None = None, rounding: str = "double") -> str:
    """The report page as text (see :func:`write_html`)."""
    from tinygen.report import data, page

    if isinstance(board, str):
        from tinygen.boards import get_board

        board = get_board(board)
    if board is None and validation is not None and validation.get("board"):
        from tinygen.boards import get_board

        board = get_board(str(validation["board"]))
    if library is None:
        with tempfile.TemporaryDirectory(prefix="tinygen-report-") as tmp:
            from tinygen.codegen import generate

            mve = bool(board is not None and board.has_mve)
            library = generate(graph, Path(tmp) / "lib", rounding=rounding, force=True, mve=mve)
    report = data.gather(graph, library.manifest, library.memory, board=board, bench=bench, validation=validation)
    return page.render(report)


def write_html(path: str | Path, *, graph: Any, library: Any = None, board: Any = None,
               bench: dict[str, Any] | None = None, validation: dict[str, Any] | None = None,
               rounding: str = "double") -> Path:
    """Write the report of ``graph`` (a tinygen.ir.Graph, as loaded) to ``path``, atomically.

    ``library``: the generated tinygen.codegen.Library (its manifest and memory plan; generated again with
    ``rounding`` when None). ``board``: a tinygen.boards.Board or a board id (None: a host-only report, or
    validate's ``board`` when it has one). ``bench``: the dict of ``tinygen.commands.bench.bench()`` (instructions
    per layer, flash/RAM). ``validation``: the dict of ``tinygen.commands.validate.validate()`` (accuracy,
    confusion matrix, errors, ``layers_sqnr`` when present). A path that cannot be written raises TinygenError before anything
    is computed."""
    from tinygen.report import page

    page.check_output(path)
    text = render_html(graph=graph, library=library, board=board, bench=bench, validation=validation,
                       rounding=rounding)
    return page.write(path, text)

