"""``tinygen convert MODEL -o OUT``: import or quantize a model and emit its C99 inference library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tinygen.commands.common import load_from_options, model_options, rounding_option
from tinygen.errors import TinygenError
from tinygen.ir import Graph
from tinygen.quantize.pipeline import collecting_choices


#: --cpu: whether the core has Helium (MVE)
CPUS = {"cortex-m0": False, "cortex-m0plus": False, "cortex-m3": False, "cortex-m4": False, "cortex-m7": False,
        "cortex-m33": False, "cortex-m55": True}


def read_labels(path: str) -> list[str]:
    """Class names, one per line (surrounding whitespace and a trailing empty line dropped)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TinygenError(f"--labels {path}: cannot read it as a UTF-8 text file ({exc})") from None
    labels = [line.strip() for line in text.splitlines()]
    while labels and not labels[-1]:
        labels.pop()
    if not labels:
        raise TinygenError(f"--labels {path}: the file holds no labels; write one class name per line")
    return labels


def _name_from(model: str) -> str:
    path = Path(model)
    return path.stem if path.suffix else path.name


def _print_choices(choices: list[Any]) -> None:
    """What ``--ptq auto`` chose for each quantization and why, or the pipeline pinned (to stderr, like the
    progress lines)."""
    for choice in choices:
        click.echo(choice.reason, err=True)


def _quantize_with_report(model: str, calibration: str | None, observer: str, quantizer: str) -> Graph:
    """Quantize a Keras model once and print its quantization report."""
    from tinygen.loader import KERAS_SUFFIXES

    path = Path(model)
    if not path.exists():
        raise TinygenError(f"{path}: no such file or directory")
    if not (path.suffix.lower() in KERAS_SUFFIXES or path.is_dir()):
        raise TinygenError(f"{path}: --report compares int8 with float activations, so it needs a Keras model")
    from tinygen.api import print_report, quantize_with_report

    graph, quantization_report = quantize_with_report(path, calibration, observer, quantizer)
    print_report(quantization_report)
    return graph


@click.command(name="convert")
@click.argument("model", metavar="MODEL")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write the library into (created; replaced when it holds a previous tinygen library).")
@click.option("--name", default=None,
              help="C prefix of every symbol (default: the model file's name, made a C identifier).")
@click.option("--force", is_flag=True, help="Replace the output folder even if it holds files tinygen did not write.")
@click.option("--report", is_flag=True,
              help="Keras models: print per-layer SQNR of int8 vs float activations and end-to-end agreement.")
@click.option("--labels", "labels_file", type=click.Path(dir_okay=False), default=None,
              help="Text file of class names, one per line, one per value of output 0: NAME_labels[].")
@click.option("--arena", type=click.Choice(["static", "external"]), default="static", show_default=True,
              help="external: the caller passes the arena to NAME_init() (place it, or share one between models).")
@click.option("--cpu", type=click.Choice(sorted(CPUS)), default=None,
              help="The core the library is for: cortex-m55 selects the Helium (MVE) kernels; the others the "
                   "portable C with DSP paths (the default, for any Cortex-M).")
@rounding_option
@model_options
def command(
    model: str,
    out_dir: str,
    name: str | None,
    force: bool,
    report: bool,
    labels_file: str | None,
    arena: str,
    cpu: str | None,
    rounding: str,
    calibration: str | None,
    observer: str,
    quantizer: str,
) -> None:
    """Quantize/import MODEL (int8 .tflite or Keras) and emit its C99 inference library into OUT."""
    from tinygen.codegen import c_identifier, generate

    with collecting_choices() as choices:
        if report:
            graph = _quantize_with_report(model, calibration, observer, quantizer)
        else:
            graph = load_from_options(model, calibration, observer, quantizer)
    if quantizer == "tinygen" and not Path(model).suffix.lower() == ".tflite":
        _print_choices(choices)
    labels = read_labels(labels_file) if labels_file else None
    library = generate(graph, out_dir, rounding=rounding, force=force, name=c_identifier(name or _name_from(model)),
                       mve=CPUS.get(cpu or "", False), labels=labels, arena=arena)
    m = library.manifest
    kernels = len(m["kernels"])
    click.echo(f"{library.name}: {len(m['layers'])} layers, {m['total_macs']:,} MACs, rounding {m['rounding']}")
    click.echo(f"  arena   {m['arena_bytes']:,} bytes (scratch {m['scratch_bytes']:,})")
    click.echo(f"  weights {m['weight_bytes']:,} bytes (const, flash)")
    for role in ("inputs", "outputs"):
        for i, port in enumerate(m[role]):
            label = f"{role[:-1]}{i if len(m[role]) > 1 else ''}"
            quant = f"  scale {port['scale']:.9g}  zero point {port['zero_point']}" if port["scale"] is not None else ""
            declared = f"  (the model declares {port['declared_dtype']})" if port["declared_dtype"] != port["dtype"] else ""
            click.echo(f"  {label:<7} {port['dtype']} {port['shape']}{quant}{declared}")
    api = [f"{library.name}_init() (external arena)"] * (arena == "external") + [f"{library.name}_invoke()"] + [
        f"{library.name}_invoke_f32()"] * m["invoke_f32"] + [f"{library.name}_invoke_model() (the declared types)"] * m["edges"]
    api += [f"{library.name}_top_k()/_argmax()"] * (m["outputs"][0]["dtype"] == "int8") + [f"{library.name}_labels"] * bool(labels)
    api += [f"{library.name}_reset() (state)"] * bool(m["states"])
    click.echo(f"  API     {', '.join(api)}")
    click.echo(
        f"  code    {library.out_dir}/: {library.name}.h (API), {library.name}.c, {library.name}_weights.c, "
        f"{kernels} kernels, library.json, CMakeLists.txt, manifest.json"
    )
