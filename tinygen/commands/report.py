"""``tinygen report MODEL [--board B] [--inputs X.npy [--labels y.npy]] -o report.html``: one self-contained HTML
page about the deployed model (see :mod:`tinygen.report`).

With ``--board`` the model is benchmarked in QEMU (``tinygen bench``) for instructions per layer, flash and RAM
against the board's limits; without, the report is host-only. With ``--inputs`` the samples go through
``tinygen validate`` for accuracy, error figures and the confusion matrix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tinygen.commands.test import shared_options


@click.command("report")
@shared_options
@click.option("--inputs", "inputs", default=None, metavar="X.npy",
              help="Samples to validate on (as tinygen validate): accuracy, errors, per-layer SQNR.")
@click.option("--labels", "labels", default=None, metavar="Y.npy", help="Class index of each sample (with --inputs).")
@click.option("--expected", "expected", default=None, metavar="Y.npy",
              help="Expected outputs of each sample (with --inputs), instead of the float model's.")
@click.option("-o", "--output", "output", required=True, type=click.Path(), metavar="REPORT.html",
              help="The HTML file to write.")
@click.pass_context
def command(
    ctx: click.Context, model: str | None, board: str | None, work_dir: str | None, timeout: float, rounding: str,
    calibration: str | None, observer: str, quantizer: str, inputs: str | None, labels: str | None,
    expected: str | None, output: str,
) -> None:  # fmt: skip
    """Write one self-contained HTML report: summary, layers, memory plan (and validation with --inputs)."""
    from tinygen.errors import TinygenError
    from tinygen.report import page, write_html

    if (labels or expected) and not inputs:
        raise TinygenError("--labels and --expected need --inputs (the samples they belong to)")
    page.check_output(output)  # before the slow part
    if board is not None:
        gathered = _with_board(ctx, model, board, work_dir, timeout, rounding, calibration, observer, quantizer)
    elif model is None:
        raise TinygenError("no model given; pass MODEL (a .tflite or Keras model)")
    elif inputs:  # the validation's graph and library are the report's: the model is loaded once
        from tinygen.validation.core import run_validation

        run = run_validation(model, inputs, labels, expected, calibration, observer, quantizer, rounding)
        gathered = {"graph": run.graph, "library": run.library, "validation": run.result, "rounding": rounding}
    else:
        gathered = _host_only(model, rounding, calibration, observer, quantizer)
    if inputs and "validation" not in gathered:
        from tinygen.commands.validate import validate

        gathered["validation"] = validate(str(gathered["model_path"]), inputs, labels, expected, calibration,
                                          observer, quantizer, rounding)
    gathered.pop("model_path", None)
    path = write_html(output, **gathered)
    click.echo(f"wrote {path} ({path.stat().st_size:,} bytes)")


def _with_board(ctx: click.Context, model: str | None, board: str, work_dir: str | None, timeout: float,
                rounding: str, calibration: str | None, observer: str, quantizer: str) -> dict[str, Any]:
    """Benchmark in QEMU as ``tinygen bench`` does: the graph, manifest, board and bench dict."""
    from tinygen.commands.bench import bench
    from tinygen.commands.test import prepare_settings, resolve, work_directory

    settings = resolve(ctx, model, board, calibration, observer, quantizer, rounding)
    path, cleanup = work_directory(work_dir)
    try:
        prep = prepare_settings(settings, path)
        result = bench(prep, timeout=timeout)
    finally:
        if cleanup is not None:
            cleanup.cleanup()
    return {"graph": prep.graph, "library": prep.library, "board": prep.board, "bench": result,
            "rounding": rounding, "model_path": settings.model}


def _host_only(model: str, rounding: str, calibration: str | None, observer: str, quantizer: str) -> dict[str, Any]:
    from tinygen.commands.common import load_from_options
    from tinygen.errors import TinygenError

    if not Path(model).exists():
        raise TinygenError(f"{model}: no such file or directory")
    graph = load_from_options(model, calibration, observer, quantizer)
    return {"graph": graph, "rounding": rounding}
