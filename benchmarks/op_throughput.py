#!/usr/bin/env python3
"""Instructions per output element of the element-wise and data-movement ops, measured in QEMU.

Each op runs alone in a small model made by TensorFlow's converter from a Keras model (a Dense or
Conv2D before it gives the op an int8 input with its own quantization), on the Cortex-M3 (portable C) and
Cortex-M7 (DSP) stand-ins. The figure is the op's own layer (the QEMU plugin counts every layer
exactly): instructions / output elements, and output elements per instruction. Writes
benchmarks/OPS.md unless --out says otherwise.

    python benchmarks/op_throughput.py [--ops NAME ...] [--boards mps2_an385 mps2_an500]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHAPE = (16, 16, 32)  # 8,192 elements in, the size of a typical mid-network activation


def _models() -> dict[str, tuple[str, Callable[[Any, Any], Any]]]:
    """op -> (the tinygen op kind to measure, body(keras, x) building it after a conv)."""
    import keras

    layers = keras.layers
    ops = keras.ops
    return {
        "logistic": ("logistic", lambda k, x: layers.Activation("sigmoid")(x)),
        "tanh": ("tanh", lambda k, x: layers.Activation("tanh")(x)),
        "maximum": ("maximum", lambda k, x: layers.Maximum()([x, layers.Conv2D(SHAPE[-1], 1)(x)])),
        "transpose": ("transpose", lambda k, x: layers.Permute((3, 1, 2))(x)),
        "resize_nearest": ("resize_nearest_neighbor", lambda k, x: layers.Resizing(32, 32, interpolation="nearest")(x)),
        "strided_slice": ("strided_slice", lambda k, x: layers.Lambda(lambda t: t[:, 1:15:2, :, 4:28])(x)),
        "mean_channels": ("mean", lambda k, x: layers.Lambda(lambda t: ops.mean(t, axis=3, keepdims=True))(x)),
        "add": ("add", lambda k, x: layers.Add()([x, layers.Conv2D(SHAPE[-1], 1)(x)])),
        "mul": ("mul", lambda k, x: layers.Multiply()([x, layers.Conv2D(SHAPE[-1], 1)(x)])),
    }


def build(name: str, folder: Path) -> Path:
    import keras

    from tinygen.tfconvert import keras_to_int8_tflite

    _, body = _models()[name]
    keras.utils.set_random_seed(1)
    x = keras.Input(SHAPE, batch_size=1)
    y = body(keras, keras.layers.Conv2D(SHAPE[-1], 3, padding="same")(x))
    data = np.random.default_rng(0).normal(size=(32, *SHAPE)).astype(np.float32)
    path = folder / f"{name}.tflite"
    path.write_bytes(keras_to_int8_tflite(keras.Model(x, y), data))
    return path


def measure(model: Path, kind: str, board: str, work: Path) -> tuple[int, int]:
    """(instructions of the op's layer, its output elements) in one inference."""
    from tinygen.commands.bench import bench
    from tinygen.commands.test import prepare

    report = bench(prepare(model, board, work / f"{model.stem}-{board}"))
    layers = [layer for layer in report["layers"] if layer["op"] == kind]
    if not layers:
        raise SystemExit(f"{model.stem}: no {kind} layer in {[layer['op'] for layer in report['layers']]}")
    layer = layers[-1]
    return int(layer["instructions"]), int(np.prod(layer["output_shape"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", nargs="+", default=list(_models()))
    parser.add_argument("--boards", nargs="+", default=["mps2_an385", "mps2_an500"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "OPS.md")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tg-ops-") as tmp:
        work = Path(tmp)
        for name in args.ops:
            kind = _models()[name][0]
            model = build(name, work)
            cells = []
            for board in args.boards:
                instructions, elements = measure(model, kind, board, work)
                print(f"{name:18s} {board:11s} {instructions:>9,} instructions for {elements:>6,} outputs: "
                      f"{instructions / elements:6.2f} instr/element", flush=True)
                cells.append(f"{instructions:,} / {elements:,} = **{instructions / elements:.2f}**")
            rows.append(f"| {name} (`{kind}`) | " + " | ".join(cells) + " |")
    header = "| op | " + " | ".join(f"{b}: instructions / output elements" for b in args.boards) + " |"
    text = "\n".join([
        "# Element-wise and data-movement ops: instructions per output element",
        "",
        "Measured by `python benchmarks/op_throughput.py` (QEMU instruction-count plugin, exact; the op's own",
        f"layer only) on single-op models from TensorFlow's converter, input {SHAPE} int8 after a 3x3 conv.",
        "M3 runs the portable C kernels, M7 the DSP build. Lower is better. TFLite Micro's per-op figures are not",
        "measured here (its whole-model figures are in RESULTS.md and ../shared/models/real/tflm_m7.json).",
        "",
        header,
        "|" + "---|" * (len(args.boards) + 1),
        *rows,
        "",
    ])
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
