"""``tinygen validate MODEL --inputs X.npy [--labels y.npy | --expected Y.npy] [--board B]``: does the deployed
model still do its job on the user's own data?

Every sample runs through the float model (Keras models: tinygen's float graph, or the Keras model itself with
``--quantizer tflite``; a .tflite: ``--float-model F.keras``), tinygen's int8 reference and the generated C, on
the host (default), in QEMU on the board's core (``--board``) or on the board itself over its serial port (``--board
--port``: the streaming validation firmware, :mod:`tinygen.serialport`), in batches. The C outputs must equal the
reference's bit for bit; a mismatch names the first differing layer. The work is in :mod:`tinygen.validation`;
this module is the command line.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from tinygen.commands.common import model_options, rounding_option
from tinygen.errors import TinygenError
from tinygen.validation import validate  # noqa: F401  (the API the HTML report uses)
from tinygen.validation.checks import SAVE_OUTPUTS_HELP


@click.command("validate")
@click.argument("model", metavar="MODEL")
@click.option("--inputs", "inputs", required=True, metavar="X.npy",
              help="Samples (.npy/.npz, batch first): float values (quantized with the model's input quantization) "
                   "or int8; a model with several inputs: an .npz keyed by input name (or arr_0, arr_1...).")
@click.option("--labels", "labels", default=None, metavar="Y.npy",
              help="Class index of each sample (or one-hot): accuracy and the confusion matrix.")
@click.option("--expected", "expected", default=None, metavar="Y.npy",
              help="Expected outputs (output 0) of each sample: error figures against these instead of the float "
                   "model.")
@click.option("--board", "-b", "board", default=None,
              help="Run the generated C in QEMU on this board's stand-in core (its kernels) instead of the host.")
@click.option("--port", "-p", "port", default=None, metavar="PORT",
              help="Run the generated C on the board itself (--board), over this serial port (/dev/ttyACM0, COM3...): "
                   "builds the streaming validation firmware into out/<model>-<board>-stream (flash it with tinygen "
                   "flash, or --flash) and sends every sample over the port.")
@click.option("--baud", type=int, default=115200, show_default=True, help="Baud rate of the board's console (--port).")
@click.option("--flash", "flash", is_flag=True, help="With --port: upload the streaming firmware before the run.")
# tests: QEMU runs the board's own firmware with its USART on --port socket://HOST:PORT, instead of a flash
@click.option("--emulate-board", "emulate", is_flag=True, hidden=True)
@click.option("--float-model", "float_model", default=None, metavar="F.keras",
              help="For a .tflite MODEL: the Keras model it was converted from, run for the float outputs "
                   "(needs TensorFlow).")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), default=None,
              help="Write every figure to this JSON file.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), default=None,
              help="Write the checks (C bit-exact, each threshold) as JUnit XML for CI.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None, metavar="REPORT.html",
              help="Also write the HTML report (as tinygen report) with these figures.")
@click.option("--save-outputs", "save_file", type=click.Path(dir_okay=False), default=None, metavar="OUT.npz",
              help=SAVE_OUTPUTS_HELP)
@click.option("--min-accuracy", type=float, default=None,
              help="Fail (exit status 1) when int8 top-1 accuracy (a fraction, 0 to 1) is below this (needs --labels).")
@click.option("--max-rmse", type=float, default=None, help="Fail when the RMSE of the int8 outputs is above this.")
@click.option("--min-snr", type=float, default=None, help="Fail when the SNR (dB) of the int8 outputs is below this.")
@click.option("--min-cosine", type=float, default=None,
              help="Fail when the mean cosine similarity of the int8 outputs is below this.")
@click.option("--min-agreement", type=float, default=None,
              help="Fail when float/int8 top-1 agreement (a fraction, 0 to 1) is below this.")
@click.option("--batch-size", type=int, default=None,
              help="Samples per batch (default 256; in QEMU fewer when the vectors would not fit the flash).")
@click.option("--timeout", type=float, default=300.0, show_default=True,
              help="Seconds before a hung firmware run (per batch) is stopped.")
@rounding_option
@model_options
def command(model: str, inputs: str, labels: str | None, expected: str | None, board: str | None,
            port: str | None, baud: int, flash: bool, emulate: bool, float_model: str | None, json_file: str | None, junit_file: str | None, html_file: str | None,
            save_file: str | None,
            min_accuracy: float | None, max_rmse: float | None, min_snr: float | None, min_cosine: float | None,
            min_agreement: float | None, batch_size: int | None, timeout: float, rounding: str,
            calibration: str | None, observer: str, quantizer: str) -> None:
    """Run MODEL on your samples: float vs int8 accuracy and errors, and the generated C bit-exact (host, QEMU or
    the board over its serial port)."""
    from tinygen.loader import KERAS_SUFFIXES
    from tinygen.validation.checks import (
        check_requirements,
        run_checks,
        save_outputs,
        write_json,
    )
    from tinygen.validation.core import run_validation
    from tinygen.validation.lines import report_lines

    started = time.monotonic()
    given = {"min_accuracy": min_accuracy, "max_rmse": max_rmse, "min_snr": min_snr, "min_cosine": min_cosine,
             "min_agreement": min_agreement}
    path = Path(model)
    keras = path.suffix.lower() in KERAS_SUFFIXES or path.is_dir()
    check_requirements(given, bool(labels), keras or bool(float_model), bool(expected))
    for option, file in (("--json", json_file), ("--junit", junit_file), ("--save-outputs", save_file)):
        if file and not Path(file).resolve().parent.is_dir():  # fail before the run, not after it
            raise TinygenError(f"{option} {file}: its folder {Path(file).resolve().parent} does not exist")
    if html_file:
        from tinygen.report.page import check_output

        check_output(html_file)
    target = _port_target(port, board, baud, flash, emulate)
    try:
        run = run_validation(model, inputs, labels, expected, calibration, observer, quantizer, rounding, board=board,
                             float_model=float_model, timeout=timeout, batch_size=batch_size,
                             keep_arrays=bool(save_file), port=target)
    finally:
        if target is not None:
            target.close()
    result = run.result
    for line in report_lines(result):
        click.echo(line)
    suite = run_checks(result, given)
    suite.seconds = time.monotonic() - started
    failures = [case.failure for case in suite.cases if case.failure is not None]
    result["passed"] = not failures
    result["failures"] = failures
    if json_file:
        write_json(json_file, result)
    if junit_file:
        suite.write(junit_file)
    if save_file and run.arrays is not None:
        save_outputs(save_file, run.arrays)
    if html_file:
        from tinygen.report import write_html

        click.echo(f"wrote {write_html(html_file, graph=run.graph, library=run.library, board=board, validation=result)}")
    if failures:
        raise TinygenError("; ".join(failures))
    click.echo("PASS")


def _port_target(port: str | None, board: str | None, baud: int, flash: bool, emulate: bool) -> Any:
    """With --port: the board's serial port the samples go over (a PortTarget); else None."""
    from tinygen.validation.runners import PortTarget

    if port is None:
        if flash or emulate:
            raise TinygenError("--flash needs --port (and --board): the board to flash and the port to talk to it")
        return None
    if board is None:
        raise TinygenError(f"--port {port} needs --board: the board whose firmware runs the samples")
    return PortTarget(port, baud, flash=flash, emulate=emulate)
