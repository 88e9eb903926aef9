"""Options shared by the commands that take a model."""

from __future__ import annotations

from typing import Any, Callable

import click

from tinygen.ir import Graph

OBSERVERS = ("minmax", "percentile", "mse")


def model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add --calibration, --observer and --quantizer (used for Keras models only)."""
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
