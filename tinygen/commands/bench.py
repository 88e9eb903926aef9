"""``tinygen bench [MODEL] --board BOARD``: exact instructions per layer and per inference in QEMU.

Instructions (not cycles) are counted by the QEMU plugin between the firmware's tg_mark() calls,
so a layer's figure includes the few instructions of its profiling hook. Memory figures come from
the generated manifest (arena, weights), the firmware ELF (flash, library code) and the firmware's
stack high-water mark.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

import numpy as np

from tinygen.commands.test import (
    DEFAULT_SEED,
    VectorChoice,
    make_vectors,
    prepare_settings,
    resolve,
    shared_options,
    vector_options,
    work_directory,
)
from tinygen.lowering.base import CONST_KINDS


def library_code_bytes(elf: Path, prefix: str) -> int:
    """Bytes of the functions whose names start with the library's prefix (its ops and kernels)."""
    from elftools.elf.elffile import ELFFile

    total = 0
    with open(elf, "rb") as handle:
        symtab = ELFFile(handle).get_section_by_name(".symtab")
        for sym in symtab.iter_symbols() if symtab is not None else []:
            if sym["st_info"]["type"] == "STT_FUNC" and sym.name.startswith(prefix + "_"):
                total += int(sym["st_size"])
    return total


def bench(prep: Any, timeout: float = 300.0, seed: int = DEFAULT_SEED, vector: np.ndarray | None = None) -> dict[str, Any]:
    """Build and run one inference on ``vector`` (default: the one random vector of ``seed``, the rule of
    :func:`tinygen.commands.test.make_vectors`); return the report as a JSON-ready dict."""
    from tinygen.commands.test import build_firmware
    from tinygen.emulator import run_firmware

    built = build_firmware(prep, make_vectors(prep, 1, seed) if vector is None else vector.reshape(1, -1))
    result = run_firmware(built.elf, prep.board.machine, timeout=timeout, num_layers=prep.num_layers)
    result.check()
    manifest = prep.manifest
    layers = []
    counts = result.layer_instructions[0] if result.layer_instructions else [None] * prep.num_layers
    for layer, count in zip(manifest["layers"], counts):
        macs = int(layer["macs"])
        layers.append(
            {
                "index": layer["index"],
                "name": layer["name"],
                "op": layer["op"],
                "output_shape": layer["output_shape"],
                "macs": macs,
                "instructions": count,
                "macs_per_instruction": round(macs / count, 3) if count else None,
            }
        )
    weights = int(manifest["weight_bytes"])
    return {
        "model": prep.library.name,
        "board": prep.board.id,
        "machine": prep.board.machine,
        "method": result.method,
        "instructions_per_inference": result.inference_instructions[0] if result.inference_instructions else None,
        "macs": int(manifest["total_macs"]),
        #: the physical floor on a core with SMLAD (two MACs per instruction), for comparison
        "floor_instructions": int(manifest["total_macs"]) // 2 if prep.board.has_dsp else None,
        "arena_bytes": int(manifest["arena_bytes"]),
        "stack_bytes": result.stack_bytes,
        "flash_bytes": built.flash_used,
        "weight_bytes": weights,
        #: the constants by kind: weights (+ biases), requantization constants, tables
        "const_bytes": dict(manifest["const_bytes"]),
        "code_bytes": built.flash_used - weights,
        "library_code_bytes": library_code_bytes(built.elf, prep.library.name),
        "ram_bytes": built.ram_used,
        "layers": layers,
    }


def render(report: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title=f"{report['model']} on {report['board']} (QEMU {report['machine']}, {report['method']})")
    for column, justify in (("#", "right"), ("op", "left"), ("output shape", "left"), ("MACs", "right"),
                            ("instructions", "right"), ("MACs/instr", "right")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for layer in report["layers"]:
        count = layer["instructions"]
        table.add_row(
            str(layer["index"]),
            layer["op"],
            "×".join(map(str, layer["output_shape"])),
            f"{layer['macs']:,}",
            f"{count:,}" if count is not None else "-",
            f"{layer['macs_per_instruction']:.3f}" if layer["macs_per_instruction"] is not None else "-",
        )
    return table


def totals_lines(report: dict[str, Any]) -> list[str]:
    per_inference = report["instructions_per_inference"]
    ratio = f" ({report['macs'] / per_inference:.3f} MACs/instruction)" if per_inference else ""
    stack = f"{report['stack_bytes']:,}" if report["stack_bytes"] is not None else "not reported"
    return [
        f"instructions / inference: {per_inference:,}{ratio}" if per_inference else "instructions / inference: -",
        f"MACs / inference:         {report['macs']:,}"
        + (f" (floor with SMLAD: {report['floor_instructions']:,} instructions)" if report["floor_instructions"] else ""),
        f"arena:                    {report['arena_bytes']:,} bytes",
        f"stack high-water mark:    {stack} bytes",
        f"flash:                    {report['flash_bytes']:,} bytes = code {report['code_bytes']:,} "
        f"(library {report['library_code_bytes']:,}) + constants {report['weight_bytes']:,}",
        "constants:                " + " + ".join(f"{kind} {report['const_bytes'][kind]:,}" for kind in CONST_KINDS),
    ]


@click.command("bench")
@shared_options
@vector_options("", with_count=False)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None, metavar="REPORT.html",
              help="Also write the HTML report (as tinygen report --board) with these figures.")
@click.pass_context
def command(
    ctx: click.Context, model: str | None, board: str | None, work_dir: str | None, timeout: float, rounding: str,
    calibration: str | None, observer: str, quantizer: str, inputs: str | None, seed: int, as_json: bool,
    html_file: str | None,
) -> None:  # fmt: skip
    """Count instructions per inference and per layer in QEMU.

    One inference runs: on the first --inputs sample when given, else on the random vector of --seed."""
    settings = resolve(ctx, model, board, calibration, observer, quantizer, rounding)
    if html_file:
        from tinygen.report.page import check_output

        check_output(html_file)  # before the slow part
    path, cleanup = work_directory(work_dir)
    try:
        prep = prepare_settings(settings, path)
        choice = VectorChoice(inputs, 0 if inputs else 1, seed)  # the first sample, or one random vector
        report = bench(prep, timeout=timeout, vector=choice.vectors(prep, 1)[:1])
        report["vector"] = choice.describe(1, 1)
    finally:
        if cleanup is not None:
            cleanup.cleanup()
    if html_file:
        from tinygen.report import write_html

        written = write_html(html_file, graph=prep.graph, library=prep.library, board=prep.board, bench=report)
        click.echo(f"wrote {written}", err=as_json)  # --json keeps stdout pure JSON
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    from rich.console import Console

    console = Console()
    console.print(render(report))
    for line in totals_lines(report):
        console.print(line, highlight=False)
    if report["method"] != "plugin":
        click.echo("note: per-layer counts need the QEMU plugin, which could not be built here (install gcc); "
                   "the total comes from SysTick under -icount (±1 instruction)", err=True)  # fmt: skip
