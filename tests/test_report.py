"""`tinygen report` on the bundled digits example: a host-only page (figures equal the manifest's), with
validation (figures equal validate()'s), with a board in QEMU (figures equal bench()'s), deterministic output,
the error cases (no file written), and the page in a real headless browser: charts shown, no script error."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinygen.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits"
TFLITE = EXAMPLE / "digits_cnn_int8.tflite"
SAMPLES = 200
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


class Page(HTMLParser):
    """What the tests read back from a report: the layer table's cells, the summary cards, the charts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: list[list[dict[str, Any]]] = []
        self.cards: dict[str, list[str]] = {}
        self.charts: list[str] = []
        self.external: list[str] = []
        self._cell: dict[str, Any] | None = None
        self._card: str | None = None
        self._in_body = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key) and not str(a[key]).startswith("#"):
                self.external.append(str(a[key]))
        if tag == "svg" and "chart" in (a.get("class") or ""):
            self.charts.append(str(a.get("id")))
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._cell = {"text": "", "value": a.get("data-value"), "title": a.get("title")}
            self.rows[-1].append(self._cell)
        elif tag == "div" and "data-figure" in a:
            self._card = str(a["data-figure"])
            self.cards[self._card] = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "td":
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["text"] += data
        if self._card is not None and data.strip():
            self.cards[self._card].append(data.strip())
            if len(self.cards[self._card]) >= 3:
                self._card = None


def _manifest(tmp: Path) -> dict[str, Any]:
    from tinygen.codegen import generate
    from tinygen.loader import load_graph

    return generate(load_graph(TFLITE), tmp / "lib", force=True).manifest


def test_host_only_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(TFLITE), "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    text = out.read_text()
    page = Page(text)
    assert page.external == [], "the page must not load anything"
    assert page.charts == ["chart-budget", "chart-layers", "chart-memory"]
    assert "Host-only report" in text
    manifest = _manifest(tmp_path)
    assert len(page.rows) == len(manifest["layers"])
    for row, layer in zip(page.rows, manifest["layers"]):
        assert int(row[0]["text"]) == layer["index"]
        assert row[1]["title"] == layer["name"]
        assert row[4]["text"] == f"{layer['macs']:,}" and int(row[4]["value"]) == layer["macs"]
    assert page.cards["macs"][1] == f"{manifest['total_macs']:,}"
    assert page.cards["arena"][1] == f"{manifest['arena_bytes']:,} B"
    assert page.cards["constants"][1] == f"{manifest['weight_bytes']:,} B"
    # every tensor's box in the memory picture has a tooltip with its offset, as the library places it
    for layer in manifest["layers"]:
        if layer["arena_offset"] is not None:
            assert f"{layer['out_bytes']:,} bytes at offset {layer['arena_offset']:,}" in text


def test_report_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    assert main(["report", str(TFLITE), "-o", str(first)]) == 0
    assert main(["report", str(TFLITE), "-o", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.skipif(shutil.which("gcc") is None, reason="validate compiles the generated C with gcc")
def test_report_with_validation(tmp_path: Path) -> None:
    from tinygen.commands.validate import validate

    images, labels = tmp_path / "images.npy", tmp_path / "labels.npy"
    np.save(images, np.load(EXAMPLE / "test_images.npy")[:SAMPLES])
    np.save(labels, np.load(EXAMPLE / "test_labels.npy")[:SAMPLES])
    out = tmp_path / "report.html"
    assert main(["report", str(TFLITE), "--inputs", str(images), "--labels", str(labels), "-o", str(out)]) == 0
    text = out.read_text()
    page = Page(text)
    assert "chart-confusion" in page.charts
    result = validate(str(TFLITE), str(images), str(labels), None, None, "minmax", "tinygen", "double")
    assert f"<dd>{result['accuracy']['int8']:.2%}</dd>" in text
    exact = result["c_bit_exact"]
    assert f"{exact['bit_exact']:,} of {exact['samples']:,} samples bit-exact" in text
    # every non-zero cell of the confusion matrix is a count in the heat map's tooltip-free text: check the sum
    assert int(np.sum(result["confusion_matrix"])) == SAMPLES
    if result.get("layers_sqnr"):
        assert "chart-sqnr" in page.charts


def test_bad_output_paths_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no" / "such" / "report.html"
    assert main(["report", str(TFLITE), "-o", str(missing)]) != 0
    assert "does not exist" in capsys.readouterr().err and not missing.parent.exists()
    assert main(["report", str(TFLITE), "-o", str(tmp_path)]) != 0
    assert "is a folder" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        assert main(["report", str(TFLITE), "-o", str(locked / "r.html")]) != 0
        assert "permission denied" in capsys.readouterr().err


def test_failed_report_keeps_the_old_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    out.write_text("previous report\n")
    assert main(["report", str(TFLITE), "--board", "no_such_board", "-o", str(out)]) != 0
    assert "no_such_board" in capsys.readouterr().err
    assert out.read_text() == "previous report\n"
    assert main(["report", str(TFLITE), "--labels", str(out), "-o", str(out)]) != 0
    assert "--labels and --expected need --inputs" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.tflite"), "-o", str(out)]) != 0
    assert "no such file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"], "no temporary file left behind"


def test_estimated_cycles_are_shown_as_estimates(tmp_path: Path) -> None:
    """A bench dict with an estimate (as bench() returns it): a cycles column and an ms column per layer, a card
    per inference, the model and its assumptions under the table, the chart's ticks; none of it without one."""
    from tinygen.loader import load_graph
    from tinygen.report import write_html

    manifest = _manifest(tmp_path)
    layers = [{"index": layer["index"], "instructions": 1000 + i, "estimated_cycles": 1500 + 10 * i,
               "estimated_ms": round((1500 + 10 * i) / 120e3, 4)} for i, layer in enumerate(manifest["layers"])]
    cycles = sum(layer["estimated_cycles"] for layer in layers)
    model = {"name": "table model: cortex-m4 TRM instruction tables", "estimated": True, "board": "nucleo_l4r5zi",
             "core": "cortex-m4", "clock_hz": 120_000_000, "assumptions": ["ART accelerator assumed to hit"],
             "memory": {"flash_wait_states": 5, "load_instructions": 100, "all_loads_miss_extra_cycles": 500}}
    bench = {"method": "plugin", "instructions_per_inference": sum(layer["instructions"] for layer in layers),
             "estimated_cycles": cycles, "estimated_ms": round(cycles / 120e3, 4), "cycle_model": model,
             "no_cycles_reason": None, "flash_bytes": 30_000, "ram_bytes": 12_000, "stack_bytes": 600,
             "code_bytes": 17_000, "library_code_bytes": 9_000, "arena_bytes": manifest["arena_bytes"], "layers": layers}
    graph = load_graph(TFLITE)
    text = write_html(tmp_path / "r.html", graph=graph, board="nucleo_l4r5zi", bench=bench).read_text()
    page = Page(text)
    assert page.cards["cycles"][:2] == ["estimated cycles / inference", f"{cycles:,}"]
    assert page.cards["cycles"][2] == f"≈ {cycles / 120e3:,.3f} ms at 120 MHz (cortex-m4) · an estimate, not a measurement"
    assert "at 1 instr./cycle" not in text
    for row, layer in zip(page.rows, layers):
        assert row[7]["text"] == f"{layer['estimated_cycles']:,}" and row[8]["text"] == f"{layer['estimated_ms']:.3f}"
    assert "never measurements" in text and "ART accelerator assumed to hit" in text and "500 cycles" in text
    assert "estimated cycles per layer" in text  # the chart's label
    unestimated = {**bench, "estimated_cycles": None, "estimated_ms": None, "cycle_model": None,
                   "no_cycles_reason": "skipped with --no-cycles"}
    plain = write_html(tmp_path / "p.html", graph=graph, board="nucleo_l4r5zi", bench=unestimated).read_text()
    assert "cycles" not in Page(plain).cards and "est. cycles" not in plain and "never measurements" not in plain


@pytest.mark.emulator
def test_report_on_a_board(tmp_path: Path) -> None:
    """The page's instruction, flash and RAM figures are the bench's (exact instruction counts repeat)."""
    from tinygen.commands.bench import bench
    from tinygen.commands.test import prepare

    out = tmp_path / "report.html"
    assert main(["report", str(TFLITE), "--board", "mps2_an500", "-o", str(out)]) == 0
    report = bench(prepare(TFLITE, "mps2_an500", tmp_path / "work"))
    page = Page(out.read_text())
    assert "chart-budget" in page.charts and "chart-layers" in page.charts
    assert page.cards["board"][1] == "mps2_an500"
    assert page.cards["instructions"][1] == f"{report['instructions_per_inference']:,}"
    assert page.cards["flash"][1] == f"{report['flash_bytes']:,} B"
    assert page.cards["ram"][1] == f"{report['ram_bytes']:,} B"
    assert page.cards["stack"][1] == f"{report['stack_bytes']:,} B"
    assert len(page.rows) == len(report["layers"])
    for row, layer in zip(page.rows, report["layers"]):
        assert row[5]["text"] == f"{layer['instructions']:,}"
        assert row[6]["text"] == f"{layer['macs'] / layer['instructions']:.3f}"
        assert row[7]["text"] == f"{layer['estimated_cycles']:,}"  # estimated cycles, exact repeats too
        assert row[8]["text"] == f"{layer['estimated_ms']:.3f}"
    # per inference: cycles and ms at the board's clock, labelled as an estimate with its assumptions
    assert page.cards["cycles"][:2] == ["estimated cycles / inference", f"{report['estimated_cycles']:,}"]
    assert f"{report['estimated_ms']:,.3f} ms at 25 MHz" in page.cards["cycles"][2]
    assert "estimate, not a measurement" in page.cards["cycles"][2]
    assert "L1 I/D caches" not in out.read_text()  # the QEMU board's own memory assumption, not a Nucleo's
    assert report["cycle_model"]["assumptions"][-1] in out.read_text().replace("&#39;", "'")


def _browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


@pytest.mark.skipif(_browser() is None, reason="no chromium/chromium-browser/google-chrome on PATH "
                                              "(scripts/setup.sh installs Debian's chromium)")
def test_report_renders_in_a_browser(tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "report.html"
    assert main(["report", str(TFLITE), "-o", str(out)]) == 0
    browser = _browser()
    assert browser is not None

    def run(*options: str) -> str:
        profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
        argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                f"--user-data-dir={profile}", "--window-size=1280,2000", "--virtual-time-budget=3000", *options,
                out.as_uri()]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    dom = run("--dump-dom")
    assert len(re.findall(r'<svg[^>]*class="chart"', dom)) == 3
    # the page's window "error" handler writes each script error into <div id="tg-errors">
    errors = re.search(r'<div id="tg-errors">(.*?)</div>', dom, re.S)
    assert errors is not None and errors.group(1) == "", f"script errors: {errors and errors.group(1)}"
    shot = tmp_path / "shot.png"
    run(f"--screenshot={shot}")
    assert shot.stat().st_size > 20_000
    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        pixels = np.asarray(image.convert("RGB"))
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 50, "the screenshot is (nearly) blank"
    # the charts' op colours are on screen: the most common op kind's colour (conv2d: #4c72b0)
    assert np.any(np.all(pixels == (0x4C, 0x72, 0xB0), axis=2))


def test_write_html_entry_point(tmp_path: Path) -> None:
    """The API bench --html and validate --html call: a board id, a validate dict with the keys it may gain."""
    from tinygen.loader import load_graph
    from tinygen.report import write_html

    graph = load_graph(TFLITE)
    validation = json.loads(json.dumps({
        "model": str(TFLITE), "samples": 3, "classes": 10, "accuracy": {"int8": 2 / 3},
        "confusion_matrix": np.eye(10, dtype=int).tolist(), "board": "mps2_an500",
        "c_bit_exact": {"samples": 3, "bit_exact": 3, "mismatched": []},
        "layers_sqnr": [{"name": "last", "tensor": graph.ops[-1].outputs[0], "op": graph.ops[-1].kind, "sqnr_db": "inf"}],
    }))  # validate's JSON form: an infinite SQNR is "inf"  # fmt: skip
    out = write_html(tmp_path / "r.html", graph=graph, validation=validation)
    text = out.read_text()
    page = Page(text)
    assert "digits_cnn_int8 on Arm MPS2 AN500" in text and "66.67%" in text
    assert page.charts[-2:] == ["chart-confusion", "chart-sqnr"]
    assert [row[6]["text"] for row in page.rows]  # #, layer, op, shapes, MACs, share, SQNR == ["–"] * (len(page.rows) - 1) + ["exact"]
