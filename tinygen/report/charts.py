"""The report's charts, drawn with matplotlib (Agg canvas, SVG output) and returned as inline ``<svg>`` text.

Text is drawn as paths (``svg.fonttype: path``), so a chart looks the same in every browser with no font
installed, and the files are deterministic: a fixed ``svg.hashsalt`` per chart (ids stay unique when several
charts share one page) and no date in the metadata. Each bar, box and cell can carry a tooltip: its artist
gets a gid, and an SVG ``<title>`` is put into the group matplotlib writes for it.
"""

from __future__ import annotations

import html
import io
import math
import re
from typing import Any

from tinygen.report.data import Memory, Report

#: a qualitative palette (colour-blind friendly) for op kinds
PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974",
           "#64b5cd")
INK, MUTED, GRID = "#1f2937", "#6b7280", "#e5e7eb"
WIDTH = 12.0  # inches at 72 dpi: a chart is 864 px wide and scales with the page
_STYLE = {
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 9.5,
    "axes.edgecolor": "#9ca3af",
    "axes.labelcolor": INK,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "axes.grid": False,
    "legend.frameon": False,
}
_TIP = re.compile(r'<g id="tgtip(\d+)">')


class Chart:
    """One figure being drawn; :meth:`svg` renders it."""

    def __init__(self, key: str, height: float, width: float = WIDTH) -> None:
        from matplotlib.figure import Figure

        self.key = key
        self.figure = Figure(figsize=(width, height), dpi=72, layout="constrained")
        self.tips: list[str] = []

    def tip(self, artist: Any, text: str) -> None:
        artist.set_gid(f"tgtip{len(self.tips)}")
        self.tips.append(text)

    def svg(self, label: str) -> str:
        import matplotlib
        from matplotlib.backends.backend_svg import FigureCanvasSVG

        buffer = io.StringIO()
        with matplotlib.rc_context({**_STYLE, "svg.hashsalt": f"tinygen-{self.key}"}):
            FigureCanvasSVG(self.figure)
            self.figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
        text = buffer.getvalue()
        text = text[text.index("<svg"):]  # no XML prolog or DOCTYPE inside HTML
        # scale with the page: keep the viewBox, drop the fixed size
        text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", text, count=1)
        text = text.replace("<svg", f'<svg role="img" aria-label="{html.escape(label)}" class="chart" '
                                    f'id="chart-{self.key}"', 1)
        return _TIP.sub(lambda m: f'<g id="{self.key}-{m.group(1)}"><title>{html.escape(self.tips[int(m.group(1))])}'
                                  "</title>", text)


def _with_style(func: Any) -> Any:
    """Draw inside the report's rc style (fonts and colours are read when artists are made)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import matplotlib

        with matplotlib.rc_context(_STYLE):
            return func(*args, **kwargs)

    return wrapper


def op_colours(report: Report) -> dict[str, str]:
    """One colour per op kind, the most frequent kinds first (stable: ties by name)."""
    counts: dict[str, int] = {}
    for layer in report.layers:
        counts[layer.op] = counts.get(layer.op, 0) + 1
    kinds = sorted(counts, key=lambda k: (-counts[k], k))
    return {kind: PALETTE[i % len(PALETTE)] for i, kind in enumerate(kinds)}


def _bytes(value: float) -> str:
    return f"{value / 1024:,.1f} KiB" if value >= 1024 else f"{value:,.0f} B"


def _thousands(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: _compact(v)))


def _compact(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:g}{suffix}"
    return f"{value:g}"


def _layer_axis(ax: Any, count: int, extra: int = 0) -> None:
    """An x axis of layer indices: integer ticks, few enough not to overlap on any model."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlim(-0.6, count - 0.4 + extra)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=min(count + extra, 24), integer=True))
    ax.set_xlabel("layer")


@_with_style
def layers_chart(report: Report) -> str:
    """Instructions (measured) or MACs per layer, one bar per layer coloured by op kind; estimated cycles,
    when the bench has them, as a dark tick over each bar (same axis: cycles and instructions compare)."""
    measured = report.measured
    estimated = measured and report.cycle_model is not None
    chart = Chart("layers", 3.6)
    ax = chart.figure.subplots()
    colours = op_colours(report)
    for layer in report.layers:
        value = (layer.instructions or 0) if measured else layer.macs
        (bar,) = ax.bar(layer.index, value, width=0.8, color=colours[layer.op], linewidth=0)
        share = report.share(layer)
        what = f"{value:,} instructions" if measured else f"{value:,} MACs"
        if estimated and layer.estimated_cycles is not None:
            what += f", {layer.estimated_cycles:,} estimated cycles"
        chart.tip(bar, f"#{layer.index} {layer.op}: {what} ({share:.1%})\n{layer.name}")
    extra = []
    if estimated:
        points = [(layer.index, layer.estimated_cycles) for layer in report.layers if layer.estimated_cycles is not None]
        size = max(3.0, min(14.0, 700.0 / max(len(report.layers), 1)))
        (ticks,) = ax.plot([x for x, _ in points], [y for _, y in points], linestyle="none", marker="_", color=INK,
                           markersize=size, markeredgewidth=2.0, label="estimated cycles")
        extra.append(ticks)
    _layer_axis(ax, len(report.layers))
    ax.set_ylabel(("instructions, est. cycles" if estimated else "instructions") if measured else "MACs")
    _thousands(ax.yaxis)
    ax.yaxis.grid(True, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    _op_legend(ax, colours, extra)
    return chart.svg(("instructions and estimated cycles per layer" if estimated else "instructions per layer")
                     if measured else "MACs per layer")


def _op_legend(ax: Any, colours: dict[str, str], extra: list[Any] | None = None) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=colour, label=kind) for kind, colour in colours.items()] + list(extra or [])
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.01), ncols=_legend_columns(len(handles)),
              fontsize=8.5, handlelength=1.0, columnspacing=1.2, borderaxespad=0)


@_with_style
def memory_chart(report: Report) -> str:
    """The arena over time: one box per tensor lifetime (x: layers it lives through, y: its bytes in the
    arena), scratch hatched, the peak of live bytes marked."""
    from matplotlib.patches import Rectangle

    memory: Memory = report.memory
    count = len(report.layers)
    extra = max(0, len(memory.live_bytes) - count)
    chart = Chart("memory", 4.2)
    ax = chart.figure.subplots()
    producer = {layer.index: layer for layer in report.layers}
    colours = op_colours(report)
    for n, t in enumerate(memory.lifetimes):
        made_by = producer.get(t.first) if not t.scratch else None
        colour = "#d1d5db" if t.scratch else colours.get(made_by.op, PALETTE[0]) if made_by else "#9ca3af"
        x0 = t.first if t.born_in_place else t.first - 0.42
        x1 = t.last if t.dies_in_place else t.last + 0.42
        box = Rectangle((x0, t.offset), x1 - x0, t.size, facecolor=colour, edgecolor="white", linewidth=0.6,
                        hatch="///" if t.scratch else None)
        ax.add_patch(box)
        chart.tip(box, f"{t.name}\n{t.size:,} bytes at offset {t.offset:,}, live during layers {t.first}–{t.last}")
    peak = memory.peak_layer
    ax.axhline(memory.arena_bytes, color=INK, linewidth=1, linestyle="--")
    ax.annotate(f"arena {memory.arena_bytes:,} B", (1.0, memory.arena_bytes), xycoords=("axes fraction", "data"),
                xytext=(0, 3), textcoords="offset points", ha="right", va="bottom", color=INK, fontsize=8.5)
    ax.axvspan(peak - 0.5, peak + 0.5, color="#ef4444", alpha=0.10, linewidth=0, zorder=0)
    ax.annotate(f"peak: {memory.peak_bytes:,} B live at layer {peak}", (peak, memory.arena_bytes),
                xytext=(0, 14), textcoords="offset points", ha="center" if 3 < peak < count - 3 else
                ("left" if peak <= 3 else "right"), color="#b91c1c", fontsize=8.5,
                arrowprops={"arrowstyle": "-", "color": "#b91c1c", "linewidth": 0.8})
    _layer_axis(ax, count, extra)
    ax.set_ylim(0, memory.arena_bytes * 1.16 if memory.arena_bytes else 1)
    ax.set_ylabel("arena offset (bytes)")
    _thousands(ax.yaxis)
    return chart.svg("memory plan: arena offset against layer")


@_with_style
def budget_chart(rows: list[tuple[str, list[tuple[str, int, str]], int | None]]) -> str:
    """For each resource (flash, RAM): how much of the board's limit it uses (left, when a limit is known) and
    what it is made of (right: stacked parts, scaled to the use so that small parts stay visible)."""
    limited = any(limit for _, _, limit in rows)
    chart = Chart("budget", 0.95 + 0.55 * len(rows))
    if limited:
        gauge, split = chart.figure.subplots(1, 2, width_ratios=(1, 2.6), sharey=True)
        _gauge(chart, gauge, rows)
    else:
        split = chart.figure.subplots()
    seen: dict[str, str] = {}
    for y, (label, parts, limit) in enumerate(rows):
        left = 0
        for part, size, colour in parts:
            if size <= 0:
                continue
            (bar,) = split.barh(y, size, left=left, height=0.6, color=colour, linewidth=0)
            chart.tip(bar, f"{label}: {part} {size:,} bytes" + (f" ({size / limit:.1%} of the board's {limit:,})" if limit else ""))
            seen.setdefault(part, colour)
            left += size
        split.annotate(_tick_bytes(left), (left, y), xytext=(5, 0), textcoords="offset points", va="center",
                       fontsize=8.5, color=INK)
    split.set_yticks(range(len(rows)), [label for label, _, _ in rows])
    if not limited:  # sharing the gauge's y axis, the split is already inverted
        split.invert_yaxis()
    widest = max(sum(s for _, s, _ in parts) for _, parts, _ in rows)
    split.set_xlim(0, widest * 1.18 if widest else 1)
    _byte_axis(split.xaxis, widest)
    split.spines["left"].set_visible(False)
    split.tick_params(axis="y", length=0)
    if limited:
        split.set_title("what it is made of", loc="left", fontsize=9.5, color=MUTED)
    from matplotlib.patches import Patch

    chart.figure.legend(handles=[Patch(color=c, label=p) for p, c in seen.items()], loc="outside lower center",
                        ncols=_legend_columns(len(seen)), fontsize=8.5, handlelength=1.0)
    return chart.svg("flash and RAM use against the board's limits")


def _gauge(chart: Chart, ax: Any, rows: list[tuple[str, list[tuple[str, int, str]], int | None]]) -> None:
    """Used share of each limit, 0 to 100 % (and beyond when it does not fit)."""
    worst = 1.0
    for y, (label, parts, limit) in enumerate(rows):
        if not limit:
            continue
        used = sum(size for _, size, _ in parts) / limit
        worst = max(worst, used)
        colour = "#16a34a" if used < 0.8 else "#d97706" if used <= 1 else "#dc2626"
        ax.barh(y, 1.0, height=0.6, color="#f3f4f6", linewidth=0)
        (bar,) = ax.barh(y, used, height=0.6, color=colour, linewidth=0)
        chart.tip(bar, f"{label}: {used:.2%} of the board's {limit:,} bytes")
        ax.annotate(f"{used:.1%} of {_tick_bytes(limit)}", (max(used, 0), y), xytext=(5, 0),
                    textcoords="offset points", va="center", fontsize=8.5, color=INK)
    ax.axvline(1.0, color="#dc2626", linewidth=1)
    ax.set_xlim(0, worst * 1.6)
    ax.set_xticks([0, 0.5, 1.0], ["0", "50%", "100%"])
    ax.set_yticks(range(len(rows)), [label for label, _, _ in rows])
    ax.invert_yaxis()
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.set_title("of the board's limit", loc="left", fontsize=9.5, color=MUTED)


def _legend_columns(count: int) -> int:
    """One row of legend entries while they fit the chart's width, else as few rows as it takes."""
    return count if count <= 8 else -(-count // -(-count // 8))


def _byte_axis(axis: Any, widest: float) -> None:
    """Ticks at round sizes (64 B ... 1, 2, 5, 10 ... KiB apart), at most about seven of them."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    steps = [64, 128, 256, 512] + [k * 1024 * 10**e for e in range(6) for k in (1, 2, 5)]
    step = next((s for s in steps if widest / s <= 7), steps[-1])
    axis.set_major_locator(MultipleLocator(step))
    axis.set_major_formatter(FuncFormatter(lambda v, _: _tick_bytes(v)))


def _tick_bytes(value: float) -> str:
    for unit, name in ((1024 * 1024, "MiB"), (1024, "KiB")):
        if value >= unit:
            return f"{value / unit:,.4g} {name}"
    return f"{value:,.0f} B" if value else "0"


@_with_style
def sqnr_chart(report: Report) -> str:
    """Per-layer SQNR (dB) of the int8 model against the float model on the user's samples."""
    chart = Chart("sqnr", 3.0)
    ax = chart.figure.subplots()
    colours = op_colours(report)
    shown = [layer for layer in report.layers if layer.sqnr_db is not None]
    finite = [layer.sqnr_db for layer in shown if layer.sqnr_db is not None and math.isfinite(layer.sqnr_db)]
    ceiling = max(finite, default=60.0) * 1.1 or 1.0
    for layer in shown:
        value = layer.sqnr_db if layer.sqnr_db is not None and math.isfinite(layer.sqnr_db) else ceiling
        (bar,) = ax.bar(layer.index, value, width=0.8, color=colours[layer.op], linewidth=0)
        text = "exact" if layer.sqnr_db is not None and math.isinf(layer.sqnr_db) else f"{layer.sqnr_db:.1f} dB"
        chart.tip(bar, f"#{layer.index} {layer.op}: SQNR {text}\n{layer.name}")
    _layer_axis(ax, len(report.layers))
    ax.set_ylabel("SQNR (dB)")
    ax.yaxis.grid(True, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    return chart.svg("per-layer SQNR")


@_with_style
def confusion_chart(matrix: list[list[int]]) -> str:
    """The confusion matrix as a heat map, counts written in the cells while they stay legible."""
    import numpy as np

    data = np.asarray(matrix, dtype=np.int64)
    classes = len(data)
    side = min(6.5, 2.0 + 0.3 * classes)
    chart = Chart("confusion", side, width=side + 1.0)
    ax = chart.figure.subplots()
    rows = data.sum(axis=1, keepdims=True)
    share = np.where(rows > 0, data / np.where(rows > 0, rows, 1), 0.0)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    if classes <= 20:
        for (r, c), value in np.ndenumerate(data):
            if value:
                ax.text(c, r, str(value), ha="center", va="center", fontsize=8 if classes > 12 else 9,
                        color="white" if share[r, c] > 0.55 else INK)
    ticks = range(classes) if classes <= 30 else range(0, classes, max(1, classes // 15))
    ax.set_xticks(list(ticks))
    ax.set_yticks(list(ticks))
    ax.set_xlabel("predicted (int8)")
    ax.set_ylabel("label")
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar = chart.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label("share of the label's samples")
    bar.outline.set_visible(False)
    return chart.svg("confusion matrix")
