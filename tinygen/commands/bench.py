"""``tinygen bench [MODEL] --board BOARD``: exact instructions per layer and per inference in QEMU,
and estimated cycles on the board's core at its clock.

Instructions are counted by the QEMU plugin between the firmware's tg_mark() calls, so a layer's
figure includes the few instructions of its profiling hook. The same run records how often each
block ran; ``tinygen.cycles`` turns that into estimated cycles for the board's core and clock (the
QEMU stand-in runs the code; the estimate is for the named board). Memory figures come from the
generated manifest (arena, weights), the firmware ELF (flash, library code) and the firmware's
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
from tinygen.errors import TinygenError
from tinygen.lowering.base import CONST_KINDS

#: ``no_cycles_reason`` when the caller asked for no estimate
NO_CYCLES = "skipped with --no-cycles"


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


def estimate_cycles(result: Any, elf: Path, board: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The cycle estimate of a ``run_firmware(blocks=True)`` result for ``board``'s core and clock, or
    None and why there is none (no plugin, no llvm-mca for an M7/M55, a core without a model...)."""
    from tinygen.cycles.blocks import profile_of
    from tinygen.cycles.estimate import estimate_board

    try:
        return estimate_board(profile_of(result), elf, board), None
    except TinygenError as exc:
        return None, str(exc)


def cycle_model(estimate: dict[str, Any]) -> dict[str, Any]:
    """What the estimate assumes, for the report's ``cycle_model``."""
    return {
        "name": estimate["model"],
        "estimated": True,
        "board": estimate["board"],
        "core": estimate["core"],
        "clock_hz": estimate["clock_hz"],
        "assumptions": estimate["assumptions"],
        "memory": estimate["memory"],
    }


def bench(prep: Any, timeout: float = 300.0, seed: int = DEFAULT_SEED, vector: np.ndarray | None = None,
          cycles: bool = True, cycles_board: Any = None) -> dict[str, Any]:  # fmt: skip
    """Build and run one inference on ``vector`` (default: the one random vector of ``seed``, the rule of
    :func:`tinygen.commands.test.make_vectors`); return the report as a JSON-ready dict.

    ``cycles``: also estimate cycles, for ``cycles_board`` (a tinygen.boards.Board with the same core;
    default the prepared board): ``estimated_cycles``/``estimated_ms`` per layer and per inference and
    ``cycle_model``, or ``no_cycles_reason`` saying why there is no estimate."""
    from tinygen.commands.test import build_firmware
    from tinygen.emulator import run_firmware

    target = cycles_board or prep.board
    if target.core != prep.board.core:
        raise TinygenError(f"cannot estimate cycles on {target.id} ({target.core}) from a run for {prep.board.id} "
                           f"({prep.board.core}); estimate for a board with the same core")  # fmt: skip
    built = build_firmware(prep, make_vectors(prep, 1, seed) if vector is None else vector.reshape(1, -1))
    result = run_firmware(built.elf, prep.board.machine, timeout=timeout, num_layers=prep.num_layers, blocks=cycles)
    result.check()
    estimate, why_not = estimate_cycles(result, built.elf, target) if cycles else (None, NO_CYCLES)
    manifest = prep.manifest
    layers = []
    counts = result.layer_instructions[0] if result.layer_instructions else [None] * prep.num_layers
    estimated = estimate["layers"] if estimate is not None else [{}] * prep.num_layers
    for layer, count, cost in zip(manifest["layers"], counts, estimated):
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
                "estimated_cycles": cost.get("estimated_cycles"),
                "estimated_ms": cost.get("estimated_ms"),
            }
        )
    weights = int(manifest["weight_bytes"])
    return {
        "model": prep.library.name,
        "board": prep.board.id,
        "machine": prep.board.machine,
        "method": result.method,
        "instructions_per_inference": result.inference_instructions[0] if result.inference_instructions else None,
        "estimated_cycles": estimate["inference"]["estimated_cycles"] if estimate is not None else None,
        "estimated_ms": estimate["inference"]["estimated_ms"] if estimate is not None else None,
        "cycle_model": cycle_model(estimate) if estimate is not None else None,
        "no_cycles_reason": why_not,
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

    estimated = report.get("estimated_cycles") is not None
    table = Table(title=f"{report['model']} on {report['board']} (QEMU {report['machine']}, {report['method']})",
                  caption=f"est. = estimated by the {report['cycle_model']['name']}, not measured" if estimated else None)
    columns = [("#", "right"), ("op", "left"), ("output shape", "left"), ("MACs", "right"), ("instructions", "right"),
               ("MACs/instr", "right")] + ([("est. cycles", "right"), ("est. ms", "right")] if estimated else [])  # fmt: skip
    for column, justify in columns:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for layer in report["layers"]:
        count = layer["instructions"]
        cells = [
            str(layer["index"]),
            layer["op"],
            "×".join(map(str, layer["output_shape"])),
            f"{layer['macs']:,}",
            f"{count:,}" if count is not None else "-",
            f"{layer['macs_per_instruction']:.3f}" if layer["macs_per_instruction"] is not None else "-",
        ]
        if estimated:
            cells += [f"{layer['estimated_cycles']:,}", f"{layer['estimated_ms']:.3f}"]
        table.add_row(*cells)
    return table


def cycles_lines(report: dict[str, Any]) -> list[str]:
    """The estimate per inference and what it assumes, or why there is none."""
    model = report.get("cycle_model")
    if model is None:
        return [f"estimated cycles:         none ({report.get('no_cycles_reason')})"]
    memory = model["memory"]
    return [
        f"estimated cycles / inf.:  {report['estimated_cycles']:,} ≈ {report['estimated_ms']:,.3f} ms on "
        f"{model['board']} ({model['core']} at {model['clock_hz'] / 1e6:g} MHz), an estimate, not a measurement",
        f"  cycle model:            {model['name']}",
        *(f"  assumes:                {line}" for line in model["assumptions"]),
        f"  if every load missed:   +{memory['all_loads_miss_extra_cycles']:,} cycles at most "
        f"({memory['load_instructions']:,} loads x {memory['flash_wait_states']} flash wait states)",
    ]


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
@click.option("--no-cycles", is_flag=True, help="Skip the cycle estimate (instruction counts only).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None, metavar="REPORT.html",
              help="Also write the HTML report (as tinygen report --board) with these figures.")
@click.pass_context
def command(
    ctx: click.Context, model: str | None, board: str | None, work_dir: str | None, timeout: float, rounding: str,
    calibration: str | None, observer: str, quantizer: str, inputs: str | None, seed: int, no_cycles: bool,
    as_json: bool, html_file: str | None,
) -> None:  # fmt: skip
    """Count instructions per inference and per layer in QEMU, and estimate cycles and milliseconds on the
    board's core at its clock (an estimate from a timing model, never a measurement).

    One inference runs: on the first --inputs sample when given, else on the random vector of --seed."""
    settings = resolve(ctx, model, board, calibration, observer, quantizer, rounding)
    if html_file:
        from tinygen.report.page import check_output

        check_output(html_file)  # before the slow part
    path, cleanup = work_directory(work_dir)
    try:
        prep = prepare_settings(settings, path)
        choice = VectorChoice(inputs, 0 if inputs else 1, seed)  # the first sample, or one random vector
        report = bench(prep, timeout=timeout, vector=choice.vectors(prep, 1)[:1], cycles=not no_cycles)
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
    for line in totals_lines(report) + cycles_lines(report):
        console.print(line, highlight=False)
    if report["method"] != "plugin":
        click.echo("note: per-layer counts need the QEMU plugin, which could not be built here (install gcc); "
                   "the total comes from SysTick under -icount (±1 instruction)", err=True)  # fmt: skip
