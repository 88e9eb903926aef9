"""The report page: the figures of :mod:`tinygen.report.data` and the charts of :mod:`tinygen.report.charts`
put into ``templates/report/report.html.j2``, one self-contained HTML file written atomically."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from tinygen.errors import TinygenError
from tinygen.report import charts
from tinygen.report.data import Report

TEMPLATE = "report/report.html.j2"
#: the widest share bar in the layer table (pixels)
SHARE_PX = 40


def _int(value: int | None) -> str:
    return f"{value:,}" if value is not None else "–"


def _bytes(value: int | None) -> str:
    return f"{value:,} B" if value is not None else "–"


def _percent(value: float | None) -> str:
    return f"{value:.2%}" if value is not None else "–"


def _db(value: Any) -> str:
    if value is None or value == "inf" or (isinstance(value, float) and math.isinf(value) and value > 0):
        return "exact" if value is not None else "–"
    return f"{float(value):.1f} dB"


def _card(key: str, label: str, value: str, detail: str = "") -> dict[str, str]:
    return {"key": key, "label": label, "value": value, "detail": detail}


def _verdict(report: Report) -> dict[str, Any] | None:
    """Fits the board or not, from the firmware's flash and RAM figures."""
    board, bench = report.board, report.bench
    if board is None or bench is None:
        return None
    over = [what for what, used, limit in (("flash", bench["flash_bytes"], board.flash.size),
                                           ("RAM", bench["ram_bytes"], board.ram.size)) if used > limit]
    return {"ok": not over, "text": "fits the board" if not over else f"does not fit: {' and '.join(over)} too small"}


def _cards(report: Report) -> list[dict[str, str]]:
    board, bench, manifest = report.board, report.bench, report.manifest
    cards = []
    if board is not None:
        features = ", ".join(f for f, on in (("DSP", board.has_dsp), ("MVE", board.has_mve), ("FPU", board.has_fpu)) if on)
        cards.append(_card("board", "board", board.id, board.title))
        cards.append(_card("core", "core", board.core, features or "no DSP extension"))
        cards.append(_card("clock", "clock", f"{board.clock_hz / 1e6:g} MHz",
                           f"QEMU {board.machine}" if bench is not None else ""))
    total = report.total_instructions
    if total:
        cards.append(_card("instructions", "instructions / inference", _int(total),
                           f"{report.total_macs / total:.3f} MACs/instruction, counted in QEMU"))
    model = report.cycle_model
    if model is not None and bench is not None:
        cards.append(_card("cycles", "estimated cycles / inference", _int(bench["estimated_cycles"]),
                           f"≈ {bench['estimated_ms']:,.3f} ms at {model['clock_hz'] / 1e6:g} MHz ({model['core']}) · "
                           "an estimate, not a measurement"))
    cards.append(_card("macs", "MACs / inference", _int(report.total_macs), f"{len(report.layers)} layers"))
    bound = report.memory.lower_bound
    arena = report.memory.arena_bytes
    cards.append(_card("arena", "arena", _bytes(arena),
                       "optimal (equals the peak of live bytes)" if arena == bound else f"peak of live bytes {bound:,} B"))
    if bench is not None:
        stack = bench.get("stack_bytes")
        cards.append(_card("stack", "stack high-water", _bytes(stack),
                           f"of {board.stack_size:,} B reserved" if board is not None and stack is not None else ""))
        cards.append(_card("flash", "flash", _bytes(bench["flash_bytes"]),
                           f"{bench['flash_bytes'] / board.flash.size:.1%} of {board.flash.size:,} B"
                           if board is not None else ""))
        cards.append(_card("ram", "RAM", _bytes(bench["ram_bytes"]),
                           f"{bench['ram_bytes'] / board.ram.size:.1%} of {board.ram.size:,} B" if board is not None else ""))
    const = manifest["const_bytes"]
    cards.append(_card("constants", "constants in flash", _bytes(int(manifest["weight_bytes"])),
                       " · ".join(f"{k} {v:,}" for k, v in const.items())))
    return cards


def _budget_rows(report: Report) -> tuple[list[tuple[str, list[tuple[str, int, str]], int | None]], str]:
    """The bars of the flash/RAM chart and its caption."""
    const = report.manifest["const_bytes"]
    p = charts.PALETTE
    constants = [("weights", int(const.get("weights", 0)), p[0]), ("quantization constants", int(const.get("quant", 0)), p[9]),
                 ("tables", int(const.get("table", 0)), p[4])]  # fmt: skip
    bench, board = report.bench, report.board
    if bench is None:
        rows = [("flash (constants)", constants, None), ("RAM (arena)", [("arena", report.memory.arena_bytes, p[2])], None)]
        return rows, "Constants and arena of the generated library; code size needs a board (--board)."
    library = int(bench["library_code_bytes"])
    flash = [("firmware code", int(bench["code_bytes"]) - library, "#9ca3af"), ("library code", library, p[1]), *constants]
    reserved = board.stack_size if board is not None else 0
    arena = int(bench["arena_bytes"])
    ram = [("arena", arena, p[2]), ("stack (reserved)", reserved, p[3]),
           ("other static data", max(0, int(bench["ram_bytes"]) - arena - reserved), "#d1d5db")]
    limits = (board.flash.size, board.ram.size) if board is not None else (None, None)
    caption = ("Flash: the test firmware's code (harness and startup), the model library's code and its constants. "
               "RAM: the arena, the reserved stack and the rest of .data/.bss. The outline is the board's limit.")
    return [("flash", flash, limits[0]), ("RAM", ram, limits[1])], caption


def _rows(report: Report) -> list[dict[str, Any]]:
    colours = charts.op_colours(report)
    shares = [report.share(layer) for layer in report.layers]
    widest = max(shares, default=0.0) or 1.0
    rows = []
    for layer, share in zip(report.layers, shares):
        ratio = layer.macs_per_instruction
        shapes = ", ".join("×".join(map(str, s)) for s in layer.input_shapes[:1]) + " → " + "×".join(map(str, layer.output_shape))
        rows.append({
            "index": layer.index, "name": layer.name, "short": layer.short, "op": layer.op, "colour": colours[layer.op],
            "shapes": shapes, "macs": layer.macs, "macs_text": _int(layer.macs),
            "instructions": layer.instructions, "instructions_text": _int(layer.instructions),
            "ratio": ratio, "ratio_text": f"{ratio:.3f}" if ratio is not None else "–",
            "cycles": layer.estimated_cycles, "cycles_text": _int(layer.estimated_cycles),
            "ms": layer.estimated_ms, "ms_text": f"{layer.estimated_ms:.3f}" if layer.estimated_ms is not None else "–",
            "share": round(share, 6), "share_text": f"{share:.1%}", "share_px": max(1, round(SHARE_PX * share / widest)),
            "sqnr": layer.sqnr_db if layer.sqnr_db is not None and math.isfinite(layer.sqnr_db) else None,
            "sqnr_text": _db(layer.sqnr_db) if layer.sqnr_db is not None else "–",
            "kernel": layer.kernel or "(view, no code)", "variants": ", ".join(layer.variants),
        })  # fmt: skip
    return rows


def _cycle_note(report: Report) -> str | None:
    """What the estimated cycles are and assume (shown under the layer table)."""
    model, bench = report.cycle_model, report.bench
    if model is None or bench is None:
        return None
    memory = model["memory"]
    return (f"Estimated cycles and ms are estimates, never measurements: QEMU's exact block execution counts x "
            f"cycles per block from the {model['name']}, for {model['board']} ({model['core']} at "
            f"{model['clock_hz'] / 1e6:g} MHz). Assumptions: " + "; ".join(model["assumptions"]) + ". If every load "
            f"missed the cache, {memory['flash_wait_states']} flash wait states would add at most "
            f"{memory['all_loads_miss_extra_cycles']:,} cycles.")


def _validation(report: Report) -> dict[str, Any] | None:
    result = report.validation
    if result is None:
        return None
    figures: list[tuple[str, str]] = [("samples", _int(result.get("samples")))]
    if "accuracy" in result:
        acc = result["accuracy"]
        if "float" in acc:
            figures.append(("top-1 accuracy, float", _percent(acc["float"])))
        figures.append(("top-1 accuracy, int8", _percent(acc["int8"])))
    if "top_k_accuracy" in result:
        top = result["top_k_accuracy"]
        if "float" in top:
            figures.append((f"top-{top['k']} accuracy, float", _percent(top["float"])))
        figures.append((f"top-{top['k']} accuracy, int8", _percent(top["int8"])))
    if "top1_agreement" in result:
        figures.append(("float/int8 top-1 agreement", _percent(result["top1_agreement"])))
    if "errors" in result:
        e = result["errors"]
        figures += [(f"RMSE vs {e['against']}", f"{e['rmse']:.4g}"), ("MAE", f"{e['mae']:.4g}"),
                    ("cosine similarity", f"{e['cosine']:.6f}"), ("SNR", _db(e["snr_db"]))]
    exact = result.get("c_bit_exact")
    if exact:
        figures.append(("generated C == reference", f"{exact['bit_exact']:,} of {exact['samples']:,} samples bit-exact"))
    matrix = result.get("confusion_matrix")
    where = f" on {result['board']}" if result.get("board") else " on the host"
    return {
        "caption": f"{result.get('samples', 0):,} samples of {Path(str(result.get('model', ''))).name}, C run{where}",
        "figures": figures,
        "confusion_svg": charts.confusion_chart(matrix) if matrix else None,
        "sqnr_svg": charts.sqnr_chart(report) if any(lay.sqnr_db is not None for lay in report.layers) else None,
    }


def render(report: Report) -> str:
    """The whole page as text."""
    import markupsafe

    from tinygen import __version__

    env = _environment()
    board = report.board
    measured = report.measured
    estimated = measured and report.cycle_model is not None
    rows = _rows(report)
    budget, budget_caption = _budget_rows(report)
    validation = _validation(report)
    if validation is not None:
        validation = {k: markupsafe.Markup(v) if k.endswith("_svg") and v else v for k, v in validation.items()}
    layer_total = sum(layer.instructions or 0 for layer in report.layers)
    memory = report.memory
    values = {
        "version": __version__,
        "title": f"{report.model}" + (f" on {board.title}" if board is not None else ""),
        "subtitle": (f"tinygen report · library {report.name} · {report.rounding} rounding · "
                     + (f"{board.core} at {board.clock_hz / 1e6:g} MHz" if board is not None else "host only")),
        "notes": report.notes,
        "verdict": _verdict(report),
        "cards": _cards(report),
        "budget_svg": markupsafe.Markup(charts.budget_chart(budget)),
        "budget_caption": budget_caption,
        "layers_svg": markupsafe.Markup(charts.layers_chart(report)),
        "layer_caption": ("instructions per layer, counted in QEMU" + (", and estimated cycles" if estimated else "")
                          if measured else "MACs per layer (instruction counts need --board)"),
        "measured": measured,
        "estimated": estimated,
        "cycle_note": _cycle_note(report),
        "total_cycles": _int(report.bench["estimated_cycles"]) if estimated and report.bench else "–",
        "total_ms": f"{report.bench['estimated_ms']:.3f}" if estimated and report.bench else "–",
        "has_sqnr": any(row["sqnr_text"] != "–" for row in rows),
        "rows": rows,
        "total_macs": _int(report.total_macs),
        "total_layer_instructions": _int(layer_total),
        "total_ratio": f"{report.total_macs / layer_total:.3f}" if layer_total else "–",
        "memory_svg": markupsafe.Markup(charts.memory_chart(report)),
        "memory_caption": (f"arena {memory.arena_bytes:,} bytes, {len(memory.lifetimes)} buffers; peak "
                           f"{memory.peak_bytes:,} bytes live at layer {memory.peak_layer}"),
        "validation": validation,
    }
    return env.get_template(TEMPLATE).render(**values)


def _environment() -> Any:
    import jinja2

    from tinygen.resources import resource_dir

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
                              undefined=jinja2.StrictUndefined, autoescape=True, keep_trailing_newline=True)


def check_output(path: str | Path) -> Path:
    """Refuse, before any slow work, an output path that cannot be written: a folder, or a missing or
    read-only parent folder."""
    out = Path(path)
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise TinygenError(f"-o {out}: it is a folder; give the path of the .html file to write")
    if not parent.is_dir():
        raise TinygenError(f"-o {out}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise TinygenError(f"-o {out}: cannot write there (permission denied); choose another path")
    return out


def write(path: str | Path, text: str) -> Path:
    """Write the page through a temporary file renamed into place: ``path`` is either as it was or complete."""
    from tinygen.filewrite import write_file_atomically

    return write_file_atomically(check_output(path), text.encode("utf-8"), force=True)
