"""``tinygen export``: package a generated library for another tool (``tinygen export arduino``)."""

from __future__ import annotations

import click


@click.group(name="export")
def command() -> None:
    """Package a library written by 'tinygen convert' for another tool."""


@command.command(name="arduino")
@click.argument("lib_dir", metavar="LIB_DIR")
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    metavar="OUT.zip",
    help="The ZIP to write (Arduino IDE: Sketch > Include Library > Add .ZIP Library).",
)
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def arduino(lib_dir: str, out: str, force: bool) -> None:
    """Write LIB_DIR (a 'tinygen convert' output folder) as an Arduino library ZIP, with an example sketch."""
    from tinygen.export_arduino import export_arduino

    lib = export_arduino(lib_dir, out, force=force)
    example = f"{lib.name}_inference"
    click.echo(f"{out}: Arduino library {lib.arduino_name} ({len(lib.files)} files in src/, example {example})")
    click.echo(
        f"  install: Arduino IDE > Sketch > Include Library > Add .ZIP Library, or arduino-cli lib install --zip-path {out}"
    )
    click.echo(f"  then open File > Examples > {lib.arduino_name} > {example}")
