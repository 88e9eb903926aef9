#!/usr/bin/env python3
"""Recurrent models: instructions per time step on the Cortex-M4 (mps2_an386) and Cortex-M7 (mps2_an500)
stand-ins against TFLite Micro + CMSIS-NN, and the int8 accuracy of Keras LSTM/GRU classifiers quantized by
tinygen's quantizer against float and against TensorFlow's converter. Writes benchmarks/RECURRENT.md.

Models: the shared ``trained_lstm_int8.tflite`` and ``real/coral_keras_lstm_mnist_uint8.tflite`` (28 steps of
28 features, 20 units), and the Keras LSTM and GRU sequence classifiers of tests/test_keras_recurrent.py
(trained here with its recipe). Each runs one inference on bench's random vector (``tinygen bench``'s
machinery); instructions are counted exactly in QEMU. "Recurrent layers" are the LSTM op, or for the GRU every
layer of its unrolled lowering (all but the classifier's Dense); per step = that count / the number of steps.
TFLite Micro's figure is the stored whole-model count of ``coral_keras_lstm_mnist_uint8.tflite`` on the M7
(../shared/models/real/tflm_m7.json, its provenance in ``_what``); only whole models were measured there, so the
comparison is whole model against whole model, both divided by the 28 steps.

    python benchmarks/recurrent.py [--boards mps2_an386 mps2_an500] [--out benchmarks/RECURRENT.md]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "models"
TFLM_M7 = SHARED / "real" / "tflm_m7.json"
BOARDS = ("mps2_an386", "mps2_an500")
CORES = {"mps2_an386": "Cortex-M4", "mps2_an500": "Cortex-M7"}
#: the classifier's head in tests/test_keras_recurrent.py: the one layer that is not the recurrent layer's
HEAD_LAYERS = 1


def recipe() -> Any:
    """tests/test_keras_recurrent.py: its data and classifier (one recipe for the tests and this benchmark)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import test_keras_recurrent

    return test_keras_recurrent


def keras_models(work: Path) -> dict[str, tuple[Any, Path, Path]]:
    """name -> (Keras model, saved model path, calibration .npy), trained with the tests' recipe."""
    import keras

    r = recipe()
    made = {}
    for name, layer in (("keras_lstm", lambda: keras.layers.LSTM(12)), ("keras_gru", lambda: keras.layers.GRU(12))):
        model = r.classifier(layer, seed=1)
        x, y = r.sequences(2000, seed=0)
        model.fit(x, y, epochs=8, batch_size=32, verbose=0)
        path, cal = work / f"{name}.keras", work / f"{name}_calibration.npy"
        model.save(path)
        np.save(cal, x[: r.CALIBRATION])
        made[name] = (model, path, cal)
    return made


def measure(model: Path, board: str, work: Path, calibration: Path | None, steps: int) -> dict[str, Any]:
    from tinygen.commands.bench import bench
    from tinygen.commands.test import prepare

    prep = prepare(model, board, work, calibration=str(calibration) if calibration else None)
    report = bench(prep, timeout=1200.0, cycles=False)
    layers = report["layers"]
    lstm = [layer for layer in layers if layer["op"] == "unidirectional_sequence_lstm"]
    recurrent = lstm if lstm else layers[:-HEAD_LAYERS]
    return {"total": int(report["instructions_per_inference"]),
            "recurrent": sum(int(layer["instructions"]) for layer in recurrent),
            "layers": len(layers), "steps": steps,
            "macs": sum(int(layer["macs"]) for layer in recurrent)}


def speed(work: Path, boards: list[str], keras_made: dict[str, tuple[Any, Path, Path]]) -> dict[str, dict[str, Any]]:
    r = recipe()
    runs: dict[str, dict[str, Any]] = {}
    cases = [("trained_lstm_int8", SHARED / "trained_lstm_int8.tflite", None, 28),
             ("coral_keras_lstm_mnist_uint8", SHARED / "real" / "coral_keras_lstm_mnist_uint8.tflite", None, 28)]
    cases += [(name, path, cal, r.STEPS) for name, (_, path, cal) in keras_made.items()]
    for name, path, cal, steps in cases:
        for board in boards:
            run = measure(path, board, work / f"{name}_{board}", cal, steps)
            runs[f"{name}|{board}"] = run
            print(f"{name:32s} {board:11s} {run['total']:>10,} instructions, recurrent {run['recurrent']:,} "
                  f"({run['recurrent'] / steps:,.0f} per step)", flush=True)
    return runs


def tf_int8_accuracy(model: Any, layer: Any, calibration: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """TensorFlow's converter on the same weights and calibration: the recurrent layer unrolled (unroll=True),
    the form TF 2.21's converter quantizes (it crashes on the fused Keras 3 LSTM), run by TFLite's interpreter."""
    import tensorflow as tf

    from tinygen.tfconvert import keras_to_int8_tflite

    r = recipe()
    unrolled = r.classifier(lambda: layer(unroll=True), seed=1)
    unrolled.set_weights(model.get_weights())
    interpreter = tf.lite.Interpreter(model_content=keras_to_int8_tflite(unrolled, calibration))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero = inp["quantization"]
    right = 0
    for sample, label in zip(x, y):
        q = np.clip(np.round(sample / scale) + zero, -128, 127).astype(np.int8)[None]
        interpreter.set_tensor(inp["index"], q)
        interpreter.invoke()
        right += int(np.argmax(interpreter.get_tensor(out["index"])[0]) == label)
    return right / len(y)


def accuracy(keras_made: dict[str, tuple[Any, Path, Path]]) -> dict[str, dict[str, float]]:
    import keras

    from tinygen.quantize.pipeline import quantize_keras
    from tinygen.quantize.report import run_int8

    r = recipe()
    x, y = r.sequences(r.HELD_OUT, seed=1)
    layers = {"keras_lstm": lambda **kw: keras.layers.LSTM(12, **kw), "keras_gru": lambda **kw: keras.layers.GRU(12, **kw)}
    results = {}
    for name, (model, _, cal) in keras_made.items():
        calibration = np.load(cal)
        graph = quantize_keras(model, calibration).graph
        results[name] = {
            "float": float(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y)),
            "tinygen": float(np.mean(np.argmax(run_int8(graph, x)[graph.outputs[0]], axis=1) == y)),
            "tflite": tf_int8_accuracy(model, layers[name], calibration, x, y),
        }
        print(name, results[name], flush=True)
    return results


def render(runs: dict[str, dict[str, Any]], acc: dict[str, dict[str, float]]) -> str:
    tflm = json.loads(TFLM_M7.read_text())["coral_keras_lstm_mnist_uint8.tflite"]["instructions"]
    lines = [
        "# Recurrent models: speed and accuracy",
        "",
        "Generated by `benchmarks/recurrent.py` (do not edit). One inference on bench's random vector, instructions "
        "counted exactly in QEMU (mps2_an386: Cortex-M4, mps2_an500: Cortex-M7). *Recurrent* is the LSTM op, or for "
        "the GRU every layer of its unrolled lowering (FULLY_CONNECTED, ADD, SUB, MUL, LOGISTIC, TANH, "
        "STRIDED_SLICE); per step = recurrent instructions / steps.",
        "",
        "| model | core | steps | layers | whole model | recurrent | recurrent per step | MACs/instr (recurrent) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, run in runs.items():
        name, board = key.split("|")
        lines.append(f"| {name} | {CORES[board]} | {run['steps']} | {run['layers']} | {run['total']:,} | "
                     f"{run['recurrent']:,} | {run['recurrent'] / run['steps']:,.0f} | "
                     f"{run['macs'] / max(run['recurrent'], 1):.3f} |")
    lines += ["", "## Against TFLite Micro + CMSIS-NN", ""]
    ours = runs.get("coral_keras_lstm_mnist_uint8|mps2_an500")
    if ours is not None:
        lines += [
            "`coral_keras_lstm_mnist_uint8.tflite` on the Cortex-M7, whole model (QUANTIZE, the LSTM over 28 steps, "
            "the FULLY_CONNECTED head, DEQUANTIZE...) against whole model, each divided by the 28 steps "
            "(TFLite Micro's figure: ../shared/models/real/tflm_m7.json, the only one stored; it is whole-model).",
            "",
            "| | whole model | per step | |",
            "|---|---:|---:|---:|",
            f"| TFLite Micro + CMSIS-NN | {tflm:,} | {tflm / 28:,.0f} | 1.00x |",
            f"| tinygen | {ours['total']:,} | {ours['total'] / 28:,.0f} | {tflm / ours['total']:.2f}x faster |",
            "",
        ]
    lines += [
        "## Accuracy of the Keras classifiers (300 held-out sequences)",
        "",
        "tinygen's quantizer (the LSTM as TFLite's fused UNIDIRECTIONAL_SEQUENCE_LSTM, the GRU lowered and "
        "unrolled) against float and against TensorFlow's converter (int8, same weights and calibration samples; "
        "the recurrent layer converted with unroll=True, as TensorFlow 2.21's converter crashes on the fused "
        "Keras 3 LSTM, so its scales are not the fused op's and outputs are compared by accuracy only).",
        "",
        "| model | float | tinygen int8 | TensorFlow int8 |",
        "|---|---:|---:|---:|",
    ]
    for name, a in acc.items():
        lines.append(f"| {name} | {a['float']:.3f} | {a['tinygen']:.3f} | {a['tflite']:.3f} |")
    return "\n".join(lines) + "\n"


#: the 16x8 LSTM (int16 activations, int8 weights, int64 biases) against the int8 one of the same shape: the Coral
#: model's LSTM (28 steps of 28 features, 20 units), hand-built as tests/test_lstm_int16.py and tests/test_op_lstm.py
#: build them (TensorFlow's converter refuses the LSTM in 16x8 mode); one batch, a cell clip of 3
SHAPE_16X8 = (1, 28, 28, 20)


def speed_16x8(work: Path, boards: list[str]) -> dict[str, dict[str, Any]]:
    """Instructions of the hand-built 16x8 LSTM and of the int8 LSTM of the same shape and seed, per board."""
    sys.path.insert(0, str(ROOT / "tests"))
    import test_lstm_int16
    import test_op_lstm

    runs: dict[str, dict[str, Any]] = {}
    models = {"lstm_16x8": test_lstm_int16.lstm16_model(*SHAPE_16X8, seed=3, cell_clip=3.0),
              "lstm_int8": test_op_lstm.lstm_model(*SHAPE_16X8, seed=3, cell_clip=3.0)}
    for name, model in models.items():
        path = work / f"{name}.tflite"
        path.write_bytes(model)
        for board in boards:
            run = measure(path, board, work / f"{name}_{board}", None, SHAPE_16X8[1])
            runs[f"{name}|{board}"] = run
            print(f"{name:32s} {board:11s} {run['total']:>10,} instructions, LSTM {run['recurrent']:,} "
                  f"({run['recurrent'] / run['steps']:,.0f} per step)", flush=True)
    return runs


def render_16x8(runs: dict[str, dict[str, Any]]) -> str:
    b, t, f, u = SHAPE_16X8
    lines = [
        "", "## The 16x8 LSTM (int16 activations)", "",
        f"A hand-built UNIDIRECTIONAL_SEQUENCE_LSTM of the Coral model's shape ({t} steps of {f} features, {u} units, "
        "batch 1, cell clip 3) in 16x8 (int16 input, state and output; int8 weights; int64 biases: kernel "
        "tg_lstm_s16) and in int8 (tg_lstm_s8), same weights. TensorFlow 2.21's converter refuses this op in 16x8 "
        "mode, and no TFLite Micro count of a 16x8 LSTM is stored (this benchmark does not build TFLite Micro), so "
        "there is no TFLite Micro column here.",
        "",
        "| LSTM | core | LSTM instructions | per step | MACs/instr | vs int8 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, run in runs.items():
        name, board = key.split("|")
        base = runs.get(f"lstm_int8|{board}")
        ratio = f"{run['recurrent'] / base['recurrent']:.2f}x" if base else ""
        lines.append(f"| {name} | {CORES[board]} | {run['recurrent']:,} | {run['recurrent'] / run['steps']:,.0f} | "
                     f"{run['macs'] / max(run['recurrent'], 1):.3f} | {ratio} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boards", nargs="+", default=list(BOARDS), choices=BOARDS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RECURRENT.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tinygen_recurrent_") as tmp:
        work = Path(tmp)
        made = keras_models(work)
        runs = speed(work, args.boards, made)
        acc = accuracy(made)
        runs16 = speed_16x8(work, args.boards)
    args.out.write_text(render(runs, acc) + render_16x8(runs16))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
