#!/usr/bin/env python3
"""Instructions per output element of the element-wise, data-movement and reduction ops, measured in QEMU.

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
        # one alpha per channel (random: Keras' zeros would make it a single-value lookup table)
        "prelu": ("prelu", lambda k, x: layers.PReLU(alpha_initializer="random_uniform", shared_axes=[1, 2])(x)),
        "resize_bilinear": ("resize_bilinear", lambda k, x: layers.Resizing(32, 32, interpolation="bilinear")(x)),
        "depth_to_space": ("depth_to_space", lambda k, x: layers.Lambda(lambda t: _tf().nn.depth_to_space(t, 2))(x)),
        "space_to_depth": ("space_to_depth", lambda k, x: layers.Lambda(lambda t: _tf().nn.space_to_depth(t, 2))(x)),
        "reduce_max_spatial": ("reduce_max", lambda k, x: layers.GlobalMaxPooling2D()(x)),
        "sum_channels": ("sum", lambda k, x: layers.Lambda(lambda t: ops.sum(t, axis=3, keepdims=True))(x)),
        "log_softmax": ("log_softmax", lambda k, x: layers.Activation("log_softmax")(x)),
        "transpose_conv": ("transpose_conv", lambda k, x: layers.Conv2DTranspose(8, 3, strides=2, padding="same")(x)),
    }


def _tf() -> Any:
    import tensorflow as tf

    return tf


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


def measure(model: Path, kind: str, board: str, work: Path) -> tuple[int, int, int]:
    """(instructions of the op's layer, its output elements, its MACs) in one inference."""
    from tinygen.commands.bench import bench
    from tinygen.commands.test import prepare

    report = bench(prepare(model, board, work / f"{model.stem}-{board}"))
    layers = [layer for layer in report["layers"] if layer["op"] == kind]
    if not layers:
        raise SystemExit(f"{model.stem}: no {kind} layer in {[layer['op'] for layer in report['layers']]}")
    layer = layers[-1]
    return int(layer["instructions"]), int(np.prod(layer["output_shape"])), int(layer.get("macs") or 0)


def _merge(path: Path, rows: list[str], order: list[str]) -> list[str]:
    """The measured rows, and the rows of ``path`` for the ops not measured this time (``--ops`` re-measures a
    few), in the models' order."""
    by_op = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.startswith("| ") and " (`" in line:
                by_op[line[2:].split(" ", 1)[0]] = line
    for row in rows:
        by_op[row[2:].split(" ", 1)[0]] = row
    return [by_op[name] for name in order if name in by_op]


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
                instructions, elements, macs = measure(model, kind, board, work)
                print(f"{name:18s} {board:11s} {instructions:>9,} instructions for {elements:>6,} outputs: "
                      f"{instructions / elements:6.2f} instr/element", flush=True)
                per_mac = f" ({macs / instructions:.2f} MACs/instruction)" if macs else ""
                cells.append(f"{instructions:,} / {elements:,} = **{instructions / elements:.2f}**{per_mac}")
            rows.append(f"| {name} (`{kind}`) | " + " | ".join(cells) + " |")
    header = "| op | " + " | ".join(f"{b}: instructions / output elements" for b in args.boards) + " |"
    rows = _merge(args.out, rows, list(_models()))
    text = "\n".join([
        "# Element-wise, data-movement and reduction ops: instructions per output element",
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
