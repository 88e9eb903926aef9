"""Compare tinygen's activation range observers (min-max, percentile, MSE) on the digits CNN.

    python benchmarks/calibration_observers.py [--calibration-samples 200]

For each observer: int8 top-1 accuracy on the held-out digits split (reference executor), top-1
agreement with the float model, output SQNR and the worst per-layer SQNR on the calibration data.
The digits model is the one tests/test_digits_accuracy.py trains (and caches in tests/.cache).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from test_digits_accuracy import digits_data, digits_model, int8_accuracy  # noqa: E402

from tinygen.quantize.observers import OBSERVERS  # noqa: E402
from tinygen.quantize.pipeline import quantize_keras  # noqa: E402
from tinygen.quantize.report import build_report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration-samples", type=int, default=200)
    parser.add_argument("--report-samples", type=int, default=100)
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    model = digits_model()
    x_train, _, x_test, y_test = digits_data()
    calibration = x_train[: args.calibration_samples]
    float_acc = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))

    table = Table(title=f"digits CNN: observers ({len(calibration)} calibration samples, {len(y_test)} test samples, "
                        f"float top-1 {100 * float_acc:.2f}%)")
    for column in ("observer", "int8 top-1 %", "Δ vs float (points)", "top-1 agreement %", "output SQNR dB",
                   "worst layer SQNR dB", "calibrate s"):
        table.add_column(column, justify="right" if column != "observer" else "left")
    for observer in OBSERVERS:
        start = time.perf_counter()
        result = quantize_keras(model, calibration, observer)
        elapsed = time.perf_counter() - start
        acc = int8_accuracy(result.graph, x_test, y_test)
        report = build_report(result.float_graph, result.graph, result.calibration, observer, args.report_samples)
        worst = min(report.layers, key=lambda layer: layer.sqnr_db)
        table.add_row(observer, f"{100 * acc:.2f}", f"{100 * (acc - float_acc):+.2f}",
                      f"{100 * (report.top1_agreement or 0):.2f}", f"{report.output_sqnr_db:.1f}",
                      f"{worst.sqnr_db:.1f} ({worst.op})", f"{elapsed:.2f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
