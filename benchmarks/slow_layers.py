#!/usr/bin/env python3
"""Slow layers: every layer of at least 4,096 MACs below 0.3 MACs per instruction, on every shared model.

Runs `tinygen bench`'s machinery (``tinygen.commands.test.prepare`` + ``tinygen.commands.bench.bench``) on
every .tflite in ../shared/models and ../shared/models/real on the Cortex-M4 (mps2_an386) and Cortex-M7
(mps2_an500) stand-ins, and writes benchmarks/SLOW_LAYERS.md: the layers under the floor (model, layer, op,
kernel, shapes, parameters, MACs, instructions, ratio), the slowest layer per op kind, and the models that
could not be measured. A run is cached under build/slow_layers_cache by the hash of the generated library
(every file, so a changed kernel or lowering re-measures) and the board, so reruns only measure what changed.

    python benchmarks/slow_layers.py [--models STEM ...] [--boards mps2_an386 mps2_an500]
                                     [--rounding double|single] [--out benchmarks/SLOW_LAYERS.md]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "models"
CACHE = ROOT / "build" / "slow_layers_cache"
BOARDS = ("mps2_an386", "mps2_an500")
MIN_MACS = 4096
FLOOR = 0.3
#: op attributes worth showing (the ones that pick a kernel)
PARAM_KEYS = ("stride", "dilation", "padding", "depth_multiplier", "activation")


def models(stems: list[str] | None) -> list[Path]:
    found = sorted(SHARED.glob("*.tflite")) + sorted((SHARED / "real").glob("*.tflite"))
    return [path for path in found if stems is None or path.stem in stems]


def library_hash(prep: Any, board: str) -> str:
    """The hash of every generated file (the manifest names them) and the board: what a measurement depends on
    (the firmware around the library is the same for all)."""
    digest = hashlib.sha256(board.encode())
    for path in sorted(prep.library.files):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def layer_params(prep: Any) -> dict[str, str]:
    """Layer name -> its weight shape and op attributes, as text."""
    ops = {op.name: op for op in prep.graph.ops}
    out = {}
    for layer in prep.manifest["layers"]:
        op = ops.get(layer["name"])
        if op is None:
            continue
        attrs = [f"{k}={_short(op.attrs[k])}" for k in PARAM_KEYS if k in op.attrs]
        out[layer["name"]] = " ".join(attrs)
    return out


def _short(value: Any) -> str:
    return "x".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def measure(model: Path, board: str, rounding: str, work: Path) -> dict[str, Any]:
    """The layers of one bench run with their shapes, kernel and parameters (cached)."""
    from tinygen.commands.bench import bench
    from tinygen.commands.test import prepare

    prep = prepare(model, board, work / f"{model.stem}-{board}-{rounding}", rounding=rounding)
    key = library_hash(prep, board)
    cached = CACHE / f"{key}.json"
    if cached.is_file():
        return dict(json.loads(cached.read_text()), cached=True)
    report = bench(prep, timeout=1200.0)
    params = layer_params(prep)
    by_index = {layer["index"]: layer for layer in prep.manifest["layers"]}
    for layer in report["layers"]:
        info = by_index[layer["index"]]
        layer.update(kernel=info["kernel"], input_shapes=info["input_shapes"], params=params.get(layer["name"], ""))
    result = {"model": model.stem, "board": board, "rounding": rounding, "total": report["instructions_per_inference"],
              "macs": report["macs"], "layers": report["layers"]}
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(result))
    return dict(result, cached=False)


def slow(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [layer for layer in run["layers"]
            if layer["macs"] >= MIN_MACS and layer["instructions"] and layer["macs"] / layer["instructions"] < FLOOR]


def _row(run: dict[str, Any], layer: dict[str, Any]) -> str:
    shapes = ", ".join("x".join(map(str, s)) for s in layer["input_shapes"][:2])
    out = "x".join(map(str, layer["output_shape"]))
    return (f"| {run['model']} | {run['board']} | {layer['index']} | {layer['op']} | {layer['kernel']} | {shapes} -> "
            f"{out} | {layer['params']} | {layer['macs']:,} | {layer['instructions']:,} | "
            f"**{layer['macs'] / layer['instructions']:.3f}** |")


HEADER = ("| model | board | # | op | kernel | input, weights -> output | params | MACs | instructions | MACs/instr |\n"
          "|---|---|---:|---|---|---|---|---:|---:|---:|")


def worst_per_kind(runs: list[dict[str, Any]]) -> list[str]:
    """The slowest layer (>= MIN_MACS) of each op kind across all runs."""
    worst: dict[str, tuple[float, dict[str, Any], dict[str, Any]]] = {}
    for run in runs:
        for layer in run["layers"]:
            if layer["macs"] >= MIN_MACS and layer["instructions"]:
                ratio = layer["macs"] / layer["instructions"]
                if layer["op"] not in worst or ratio < worst[layer["op"]][0]:
                    worst[layer["op"]] = (ratio, run, layer)
    return [_row(run, layer) for _, run, layer in sorted(worst.values(), key=lambda item: item[0])]


def render(runs: list[dict[str, Any]], failures: list[str], rounding: str, boards: list[str]) -> str:
    rows = [_row(run, layer) for run in runs for layer in slow(run)]
    rows.sort(key=lambda row: float(row.rsplit("**", 2)[1]))
    lines = [
        "# Slow layers",
        "",
        f"Generated by `benchmarks/slow_layers.py` (do not edit): every layer of at least {MIN_MACS:,} MACs below "
        f"{FLOOR} MACs per instruction (issue 17, item 3), rounding `{rounding}`, boards {', '.join(boards)}, "
        "one inference on bench's random vector, instructions counted exactly in QEMU.",
        "",
        f"## Below the floor: {len(rows)} layer runs",
        "",
        HEADER,
        *rows,
        "",
        "## Slowest layer per op kind",
        "",
        HEADER,
        *worst_per_kind(runs),
        "",
        "## Totals",
        "",
        "| model | board | MACs | instructions | MACs/instr |",
        "|---|---|---:|---:|---:|",
        *(f"| {r['model']} | {r['board']} | {r['macs']:,} | {r['total']:,} | {r['macs'] / r['total']:.3f} |"
          for r in runs if r["total"]),
    ]
    if failures:
        lines += ["", "## Not measured", "", *(f"- {failure}" for failure in failures)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from tinygen.errors import TinygenError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None, help="file stems (default: every .tflite)")
    parser.add_argument("--boards", nargs="+", default=list(BOARDS))
    parser.add_argument("--rounding", choices=("double", "single"), default="double")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "SLOW_LAYERS.md")
    args = parser.parse_args(argv)
    runs, failures = [], []
    with tempfile.TemporaryDirectory(prefix="tg-slow-") as tmp:
        for model in models(args.models):
            for board in args.boards:
                try:
                    run = measure(model, board, args.rounding, Path(tmp))
                except TinygenError as exc:
                    failures.append(f"{model.stem} on {board}: {str(exc).splitlines()[0]}")
                    print(f"{model.stem:40s} {board:11s} not measured: {str(exc).splitlines()[0]}", flush=True)
                    continue
                except Exception:  # noqa: BLE001 - a benchmark lists what broke and goes on
                    failures.append(f"{model.stem} on {board}: {traceback.format_exc().splitlines()[-1]}")
                    print(traceback.format_exc(), flush=True)
                    continue
                runs.append(run)
                print(f"{model.stem:40s} {board:11s} {run['total']:>12,} instructions, {len(slow(run))} slow layers"
                      f"{' (cached)' if run['cached'] else ''}", flush=True)
    args.out.write_text(render(runs, failures, args.rounding, args.boards))
    print(f"wrote {args.out}")
    return 1 if failures and not runs else 0


if __name__ == "__main__":
    raise SystemExit(main())
