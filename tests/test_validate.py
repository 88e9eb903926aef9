"""`tinygen validate` (host) on the bundled digits example: accuracy, confusion matrix, error figures, the
generated C bit-exact with the reference on every sample, --json, --min-accuracy and the error cases."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tinygen.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits"
KERAS = EXAMPLE / "digits_cnn.keras"
TFLITE = EXAMPLE / "digits_cnn_int8.tflite"
#: a subset of the held-out test set keeps the test quick
SAMPLES = 200

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="validate compiles the generated C with gcc")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("validate")
    images = np.load(EXAMPLE / "test_images.npy")[:SAMPLES]
    labels = np.load(EXAMPLE / "test_labels.npy")[:SAMPLES]
    files = {"images": d / "images.npy", "labels": d / "labels.npy", "short_labels": d / "short.npy",
             "bad_shape": d / "bad_shape.npy", "junk": d / "junk.npy", "int8": d / "int8.npy"}
    np.save(files["images"], images)
    np.save(files["labels"], labels)
    np.save(files["short_labels"], labels[:-3])
    np.save(files["bad_shape"], np.zeros((4, 7, 7, 1), np.float32))
    files["junk"].write_text("not an array\n")
    # already quantized with the tflite model's input quantization (scale 1/255, zero point -128)
    np.save(files["int8"], np.clip(np.round(images * 255) - 128, -128, 127).astype(np.int8))
    return files


def _accuracy(text: str, which: str) -> float:
    match = re.search(rf"top-1 accuracy:.*?{which} ([\d.]+)%", text)
    assert match, text
    return float(match.group(1)) / 100


def _matrix(text: str) -> np.ndarray:
    rows = [line.split("|")[1].split() for line in text.splitlines() if re.match(r"^\s*\d+ \| ", line)]
    return np.array(rows, dtype=np.int64)


def test_keras_model(data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("keras")
    out = tmp_path / "v.json"
    argv = ["validate", str(KERAS), "--calibration", str(EXAMPLE / "calibration.npy"), "--inputs",
            str(data["images"]), "--labels", str(data["labels"]), "--json", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    float_acc, int8_acc = _accuracy(text, "float"), _accuracy(text, "int8")
    assert float_acc > 0.95 and int8_acc > 0.95
    assert "top-5 accuracy" in text and "float/int8 top-1 agreement" in text
    assert re.search(r"RMSE [\d.e-]+, MAE [\d.e-]+, cosine [\d.]+, SNR [\d.]+ dB", text)
    matrix = _matrix(text)
    assert matrix.shape == (10, 10) and matrix.sum() == SAMPLES
    assert f"C == reference: {SAMPLES} of {SAMPLES} samples bit-exact" in text

    result = json.loads(out.read_text())
    assert result["samples"] == SAMPLES and result["passed"] is True
    assert result["accuracy"]["float"] == pytest.approx(float_acc, abs=5e-5)
    assert result["accuracy"]["int8"] == pytest.approx(int8_acc, abs=5e-5)
    assert (np.array(result["confusion_matrix"]) == matrix).all()
    assert result["c_bit_exact"] == {"samples": SAMPLES, "bit_exact": SAMPLES, "mismatched": []}
    errors = result["errors"]
    assert errors["against"] == "float model" and 0 < errors["rmse"] < 0.05 and errors["cosine"] > 0.99
    assert errors["snr_db"] > 20 and 0 < errors["mae"] <= errors["rmse"]
    assert 0.95 < result["top1_agreement"] <= 1.0


def test_tflite_model_and_min_accuracy(data: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.json"
    argv = ["validate", str(TFLITE), "--inputs", str(data["images"]), "--labels", str(data["labels"]),
            "--json", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    int8_acc = _accuracy(text, "int8")
    assert int8_acc > 0.95 and "float" not in text.split("top-1 accuracy:")[1].splitlines()[0]
    assert _matrix(text).sum() == SAMPLES
    assert f"C == reference: {SAMPLES} of {SAMPLES} samples bit-exact" in text
    assert json.loads(out.read_text())["accuracy"]["int8"] == pytest.approx(int8_acc, abs=5e-5)

    assert main([*argv, "--min-accuracy", "1.01"]) == 1
    captured = capsys.readouterr()
    assert "below --min-accuracy" in captured.err and captured.err.count("\n") == 1
    result = json.loads(out.read_text())
    assert result["passed"] is False and result["failures"]


def test_int8_inputs_and_expected(data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # int8 inputs equal to the quantized floats give the same accuracy; --expected gives error figures
    assert main(["validate", str(TFLITE), "--inputs", str(data["int8"]), "--labels", str(data["labels"])]) == 0
    int8_acc = _accuracy(capsys.readouterr().out, "int8")
    onehot = np.eye(10, dtype=np.float32)[np.load(data["labels"])]
    expected = tmp_path / "expected.npy"
    np.save(expected, onehot)
    assert main(["validate", str(TFLITE), "--inputs", str(data["int8"]), "--expected", str(expected)]) == 0
    text = capsys.readouterr().out
    assert "int8 vs --expected expected.npy: RMSE" in text and int8_acc > 0.95


@pytest.mark.parametrize("case", ["bad_shape", "junk", "missing", "short_labels", "both"])
def test_errors(case: str, data: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    inputs = {"bad_shape": data["bad_shape"], "junk": data["junk"], "missing": data["images"].parent / "nope.npy"}
    argv = ["validate", str(TFLITE), "--inputs", str(inputs.get(case, data["images"]))]
    if case == "short_labels":
        argv += ["--labels", str(data["short_labels"])]
    if case == "both":
        argv += ["--labels", str(data["labels"]), "--expected", str(data["labels"])]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    wanted = {"bad_shape": "model input's shape (1, 8, 8, 1)", "junk": "not a .npy/.npz file",
              "missing": "cannot read it", "short_labels": f"{SAMPLES - 3} labels for {SAMPLES} input samples",
              "both": "not both"}[case]
    assert wanted in err, err
