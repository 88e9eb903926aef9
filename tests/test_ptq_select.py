"""The default PTQ (``--ptq auto``) on a channel-imbalanced digits CNN (benchmarks/accuracy.py builds it: trained on
scikit-learn's digits, then one BatchNorm's channels rescaled from 1/50 to 4 and the next conv's inputs by the
inverse, the same float function): within 0.5 point of float where TensorFlow's converter loses >= 2, never worse
than plain min-max on held-out calibration samples, plain kept on a naturally trained model, and the report's
error split names equalization for the layer that reads the imbalanced tensor."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

pytest.importorskip("keras")
pytest.importorskip("sklearn")

from test_digits_accuracy import digits_data, digits_model, int8_accuracy  # noqa: E402

from tinygen.cli import main  # noqa: E402
from tinygen.quantize.pipeline import quantize_keras  # noqa: E402
from tinygen.quantize.ptq_select import output_sqnr  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CALIBRATION = slice(0, 300)
HELD_OUT = slice(300, 400)


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("accuracy_benchmark", REPO / "benchmarks" / "accuracy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def imbalanced() -> Any:
    return _benchmark().imbalanced_digits_cnn(epochs=20)


def _float_accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(model.predict(x, verbose=0, batch_size=256), axis=1) == y))


def test_default_keeps_float_accuracy_where_tensorflow_loses(imbalanced: Any) -> None:
    from tinygen.frontend.keras import quantize_with_tflite

    x_train, _, x_test, y_test = digits_data()
    calibration = x_train[CALIBRATION]
    want = _float_accuracy(imbalanced, x_test, y_test)
    auto = quantize_keras(imbalanced, calibration)
    ours = int8_accuracy(auto.graph, x_test, y_test)
    theirs = int8_accuracy(quantize_with_tflite(imbalanced, calibration), x_test, y_test)
    print(f"\nfloat {100 * want:.2f}%, tinygen default {100 * ours:.2f}% ({auto.ptq}), TensorFlow's converter "
          f"{100 * theirs:.2f}%\n{auto.choice.reason if auto.choice else ''}")
    assert auto.ptq != "plain" and auto.choice is not None
    assert ours >= want - 0.005
    assert theirs <= want - 0.02


@pytest.mark.parametrize("which", ["imbalanced", "natural"])
def test_auto_is_never_worse_than_plain_on_held_out_samples(which: str, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue("imbalanced") if which == "imbalanced" else digits_model()
    x_train = digits_data()[0]
    held_out = x_train[HELD_OUT]
    plain, auto = (quantize_keras(model, x_train[CALIBRATION], ptq=p) for p in ("plain", "auto"))
    want = [np.asarray(model.predict(held_out, verbose=0), np.float64)]
    sqnr = {q.ptq: output_sqnr(q.graph, want, held_out) for q in (plain, auto)}
    print(which, sqnr)
    assert output_sqnr(auto.graph, want, held_out) >= output_sqnr(plain.graph, want, held_out)
    if which == "natural":  # quantizes well: plain kept, TensorFlow's converter's numbers
        assert auto.ptq == "plain" and auto.choice is not None and list(auto.choice.sqnr_db) == ["plain"]
    else:
        assert sqnr[auto.ptq] >= sqnr["plain"] + 10


def test_report_splits_the_error_and_names_equalization(imbalanced: Any) -> None:
    from tinygen.api import quantize_with_report

    calibration = digits_data()[0][CALIBRATION]
    _, plain = quantize_with_report(imbalanced, calibration, ptq="plain", max_samples=100)
    _, auto = quantize_with_report(imbalanced, calibration, max_samples=100)
    layers = {layer.op: layer for layer in plain.layers}
    # conv2 reads the imbalanced tensor: its input grid is the worst cause, equalization the remedy
    assert layers["conv2"].remedy == "equalize", layers["conv2"]
    assert [name for name, layer in layers.items() if layer.remedy == "equalize"] == ["conv2"]
    fixed = {layer.op: layer for layer in auto.layers}["conv2"]
    assert fixed.input_db > layers["conv2"].input_db + 20 and fixed.remedy == "nothing"
    assert auto.output_sqnr_db > plain.output_sqnr_db + 10


def test_convert_prints_what_it_chose(imbalanced: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, calibration = tmp_path / "imbalanced.keras", tmp_path / "calibration.npy"
    imbalanced.save(model)
    np.save(calibration, digits_data()[0][CALIBRATION])
    base = ["convert", str(model), "--calibration", str(calibration), "-o", str(tmp_path / "lib"), "--force"]
    assert main(base) == 0
    err = capsys.readouterr().err
    assert "output SQNR against plain min-max's" in err and "held-out calibration samples" in err, err
    assert main([*base, "--ptq", "cle+bc"]) == 0
    assert "ptq cle+bc (pinned by --ptq)" in capsys.readouterr().err
    assert main([*base, "--ptq", "cle+kl"]) == 1
    assert "--ptq 'cle+kl': 'kl' is unknown" in capsys.readouterr().err
