"""Options shared by the commands that take a model."""

from __future__ import annotations

import functools
from typing import Any, Callable

import click

from tinygen.ir import Graph

OBSERVERS = ("minmax", "percentile", "mse")


def _with_ptq(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run the command with its ``--ptq`` as the PTQ pipeline of every Keras quantization it makes (the command
    itself does not see the option)."""

    @functools.wraps(func)
    def wrapper(*args: Any, ptq: str | None = None, **kwargs: Any) -> Any:
        from tinygen.quantize.pipeline import using_ptq

        if ptq is not None and kwargs.get("quantizer") == "tflite":
            from tinygen.errors import TinygenError

            raise TinygenError(f"--ptq {ptq} applies to tinygen's quantizer only: drop --ptq or use --quantizer tinygen")
        with using_ptq(ptq):
            return func(*args, **kwargs)

    return wrapper


def _with_int16(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run the command with its ``--int16`` options as the mixed precision of every Keras quantization it makes (the
    command itself does not see them)."""

    @functools.wraps(func)
    def wrapper(*args: Any, int16: str | None = None, int16_budget: int | None = None,
                int16_target_db: float | None = None, int16_instructions: bool = False, **kwargs: Any) -> Any:
        from tinygen.errors import TinygenError
        from tinygen.quantize.mixed import parse_request, using_int16

        request = parse_request(int16, int16_budget, int16_target_db, int16_instructions)
        model = str(kwargs.get("model") or "")
        if request is not None and (kwargs.get("quantizer") == "tflite" or model.lower().endswith(".tflite")):
            raise TinygenError(f"--int16 {int16} applies to Keras models quantized by tinygen's quantizer: convert a "
                               ".keras/.h5 model with --quantizer tinygen (a .tflite keeps the types it has)")
        with using_int16(request):
            return func(*args, **kwargs)

    return wrapper


def int16_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add --int16, --int16-budget, --int16-target-db and --int16-instructions (Keras models, tinygen's quantizer)."""
    from tinygen.quantize.mixed import INT16_HELP

    func = _with_int16(func)
    func = click.option("--int16-instructions", is_flag=True,
                        help="With --int16: also count the int8 and the mixed library's instructions per inference "
                             "in QEMU on the Cortex-M7 stand-in (builds two firmwares).")(func)
    func = click.option("--int16-target-db", type=float, default=None, metavar="DB",
                        help="--int16 auto: stop once the held-out output SQNR reaches DB.")(func)
    func = click.option("--int16-budget", type=int, default=None, metavar="BYTES",
                        help="--int16 auto: extra arena bytes allowed over the int8 library (exact, the memory "
                             "planner's).")(func)
    return click.option("--int16", default=None, metavar="LAYERS|all|auto", help=INT16_HELP)(func)


def model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add --calibration, --observer, --quantizer, --ptq (used for Keras models only) and the --int16 options."""
    func = int16_options(func)
    func = click.option(
        "--ptq",
        default=None,
        metavar="PIPELINE",
        help="tinygen's post-training quantization: auto (default: the best candidate on held-out calibration "
             "samples, never worse than plain), plain (min-max, as TensorFlow's converter), or passes joined by "
             "'+': cle, smooth (equalization), bc (bias correction), an observer (minmax, mse, percentile).",
    )(_with_ptq(func))
    func = click.option(
        "--quantizer",
        type=click.Choice(["tinygen", "tflite"]),
        default="tinygen",
        show_default=True,
        help="Quantize Keras models with tinygen's quantizer or TensorFlow's converter.",
    )(func)
    func = click.option(
        "--observer",
        type=click.Choice(OBSERVERS),
        default="minmax",
        show_default=True,
        help="How activation ranges are chosen from the calibration data.",
    )(func)
    func = click.option(
        "--calibration",
        metavar="DATA",
        default=None,
        help="Calibration inputs for a Keras model: a .npy/.npz file, or 'random' (inaccurate).",
    )(func)
    return func


def rounding_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--rounding",
        type=click.Choice(["double", "single"]),
        default="double",
        show_default=True,
        help="Requantization rounding: TFLite Micro's default (double) or TFLITE_SINGLE_ROUNDING.",
    )(func)


def load_from_options(model: str, calibration: str | None, observer: str, quantizer: str) -> Graph:
    from pathlib import Path

    from tinygen import progress
    from tinygen.loader import load_graph

    what = "importing" if Path(model).suffix.lower() == ".tflite" else f"quantizing (calibration, {quantizer} quantizer)"
    with progress.step(f"{what} {Path(model).name}"):
        return load_graph(model, calibration=calibration, observer=observer, quantizer=quantizer)
