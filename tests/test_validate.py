"""`tinygen validate` (host) on the bundled digits example: accuracy, confusion matrix, error figures, per-layer
SQNR, the generated C bit-exact with the reference on every sample (and the first differing layer named when it
is not), batches, --json, --junit, --save-outputs, the thresholds, --float-model and the error cases."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

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
    assert re.search(r"RMSE [\d.e-]+, MAE [\d.e-]+, L2 relative [\d.e-]+, cosine [\d.]+, SNR [\d.]+ dB", text)
    matrix = _matrix(text)
    assert matrix.shape == (10, 10) and matrix.sum() == SAMPLES
    assert f"C == reference: {SAMPLES} of {SAMPLES} samples bit-exact" in text

    result = json.loads(out.read_text())
    assert result["samples"] == SAMPLES and result["passed"] is True
    assert result["accuracy"]["float"] == pytest.approx(float_acc, abs=5e-5)
    assert result["accuracy"]["int8"] == pytest.approx(int8_acc, abs=5e-5)
    assert (np.array(result["confusion_matrix"]) == matrix).all()
    assert result["c_bit_exact"] == {"samples": SAMPLES, "bit_exact": SAMPLES, "mismatched": [],
                                     "first_differing_layer": None}
    assert result["run"] == {"where": "host", "summary": []}
    errors = result["errors"]
    assert errors["against"] == "float model" and 0 < errors["rmse"] < 0.05 and errors["cosine"] > 0.99
    assert errors["snr_db"] > 20 and 0 < errors["mae"] <= errors["rmse"]
    # L2 relative error and SNR are two views of the same sums: SNR = -20 log10(L2 relative)
    assert 0 < errors["l2_relative"] < 0.1
    assert errors["snr_db"] == pytest.approx(-20 * np.log10(errors["l2_relative"]), rel=1e-9)
    assert 0.95 < result["top1_agreement"] <= 1.0
    # per-layer SQNR on these samples: every layer of the model, in order, and the worst ones printed
    layers = result["layers_sqnr"]
    assert [layer["op"].split("+")[0] for layer in layers] == ["conv2d", "depthwise_conv2d", "conv2d", "max_pool2d",
                                                               "conv2d", "mean", "fully_connected", "softmax"]
    assert all(isinstance(layer["sqnr_db"], float) and layer["sqnr_db"] > 20 for layer in layers)
    worst = min(layers, key=lambda layer: layer["sqnr_db"])
    assert f"lowest: {worst['name']} ({worst['op']}) {worst['sqnr_db']:.3g} dB" in text


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


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _junit(path: Path) -> dict[str, str | None]:
    """JUnit case name -> failure message (None: passed), after checking the counts agree."""
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name", ""): (c.find("failure").get("message") if c.find("failure") is not None else None)
             for c in suite.findall("testcase")}
    assert int(suite.get("tests", "-1")) == len(cases)
    assert int(suite.get("failures", "-1")) == sum(1 for f in cases.values() if f is not None)
    return cases


def test_batches_save_outputs_and_junit(data: dict[str, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    # 200 samples in batches of 64 (4 batches, the last one short) give what one batch of 200 gives
    saved = {n: tmp_path / f"{n}.npz" for n in ("one", "four")}
    base = ["validate", str(TFLITE), "--inputs", str(data["images"]), "--labels", str(data["labels"])]
    status, one_text, _ = _run([*base, "--save-outputs", str(saved["one"])], capsys)
    assert status == 0
    junit, out = tmp_path / "v.xml", tmp_path / "v.json"
    status, text, _ = _run([*base, "--batch-size", "64", "--save-outputs", str(saved["four"]), "--junit", str(junit),
                            "--json", str(out), "--min-accuracy", "0.9"], capsys)
    assert status == 0 and text == one_text
    assert json.loads(out.read_text())["batch_size"] == 64
    one, four = np.load(saved["one"]), np.load(saved["four"])
    assert sorted(four) == ["inputs_int8", "labels", "outputs_dequantized", "outputs_int8"]
    for key in four:
        assert np.array_equal(one[key], four[key]), key
    # the saved arrays: the quantized inputs, the int8 outputs and their dequantized values, the labels
    assert four["inputs_int8"].dtype == np.int8 and four["inputs_int8"].shape == (SAMPLES, 8, 8, 1)
    scale = 1 / 255  # the tflite model's input quantization (zero point -128): within half a step of the images
    assert np.abs((four["inputs_int8"] + 128.0) * scale - np.load(data["images"])).max() <= scale / 2 + 1e-6
    assert four["outputs_int8"].dtype == np.int8 and four["outputs_int8"].shape == (SAMPLES, 10)
    assert np.allclose(four["outputs_dequantized"], (four["outputs_int8"].astype(np.float64) + 128) / 256)
    assert np.array_equal(four["labels"], np.load(data["labels"]))
    int8_acc = float(np.mean(np.argmax(four["outputs_int8"], axis=1) == four["labels"]))
    assert _accuracy(text, "int8") == pytest.approx(int8_acc, abs=5e-5)
    assert _junit(junit) == {"C bit-exact with the reference": None, "int8 top-1 accuracy >= 90.00%": None}


def test_thresholds_fail_with_the_figures(data: dict[str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    onehot = tmp_path / "onehot.npy"
    np.save(onehot, np.eye(10, dtype=np.float32)[np.load(data["labels"])])
    junit, out, saved = tmp_path / "t.xml", tmp_path / "t.json", tmp_path / "t.npz"
    argv = ["validate", str(TFLITE), "--inputs", str(data["images"]), "--expected", str(onehot), "--junit",
            str(junit), "--json", str(out), "--save-outputs", str(saved), "--max-rmse", "0.001", "--min-snr", "90",
            "--min-cosine", "0.5"]
    status, _, err = _run(argv, capsys)
    assert status == 1 and err.count("\n") == 1
    errors = json.loads(out.read_text())["errors"]
    assert f"RMSE {errors['rmse']:.4g} is above --max-rmse 0.001" in err
    assert f"SNR (dB) {errors['snr_db']:.3g} is below --min-snr 90" in err and "cosine" not in err
    cases = _junit(junit)
    assert cases["cosine similarity >= 0.5"] is None and cases["C bit-exact with the reference"] is None
    assert cases["RMSE <= 0.001"] == f"RMSE {errors['rmse']:.4g} is above --max-rmse 0.001"
    assert saved.is_file()  # the files are written on a failed check too


@pytest.mark.parametrize("option", ["--min-accuracy", "--max-rmse", "--min-agreement"])
def test_threshold_needs_its_figure(option: str, data: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(["validate", str(TFLITE), "--inputs", str(data["images"]), option, "0.5"], capsys)
    wanted = {"--min-accuracy": "--min-accuracy needs --labels", "--max-rmse": "--max-rmse needs float outputs",
              "--min-agreement": "--min-agreement needs a float model"}[option]
    assert status == 1 and wanted in err and err.count("\n") == 1, err


def corrupt_weight(monkeypatch: pytest.MonkeyPatch, layer: int) -> None:
    """Every generated library gets one weight of ``layer``'s op changed (a deliberate bug in the C)."""
    from tinygen import codegen

    generate = codegen.generate

    def corrupted(*args: Any, **kwargs: Any) -> Any:
        library = generate(*args, **kwargs)
        weights = Path(library.out_dir) / f"{library.name}_weights.c"
        text = weights.read_text()
        match = re.search(rf"_op{layer}_\w*_w\[\d+\][^{{]*= {{\s*(-?\d+)", text)
        assert match, f"no weights of op {layer} in {weights}"
        value = int(match.group(1))
        bad = str(value - 100 if value > 0 else value + 100)
        weights.write_text(text[:match.start(1)] + bad + text[match.end(1):])
        return library

    monkeypatch.setattr(codegen, "generate", corrupted)


def test_mismatch_names_the_first_differing_layer(data: dict[str, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    corrupt_weight(monkeypatch, 4)  # conv2d_5: layer 4 of the library
    out, junit = tmp_path / "m.json", tmp_path / "m.xml"
    status, text, err = _run(["validate", str(TFLITE), "--inputs", str(data["images"]), "--json", str(out),
                              "--junit", str(junit)], capsys)
    assert status == 1
    c = json.loads(out.read_text())["c_bit_exact"]
    first = c["first_differing_layer"]
    assert c["mismatched"] and c["bit_exact"] == SAMPLES - len(c["mismatched"])
    assert first["sample"] == c["mismatched"][0] and first["layer"] == 4 and first["op"] == "conv2d"
    assert first["differing"] > 0 and first["expected"] != first["actual"] and first["missing"] is False
    assert f"first differing layer: 4 (conv2d '{first['name']}'), sample {first['sample']}" in text
    assert f"differs from tinygen's reference on {len(c['mismatched'])} sample(s)" in err
    assert "first differing layer: 4 (conv2d" in err
    assert "first differing layer: 4" in (_junit(junit)["C bit-exact with the reference"] or "")


def test_float_model_for_a_tflite(data: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("keras")
    status, text, _ = _run(["validate", str(TFLITE), "--float-model", str(KERAS), "--inputs", str(data["images"]),
                            "--labels", str(data["labels"]), "--min-agreement", "0.95"], capsys)
    assert status == 0
    assert _accuracy(text, "float") > 0.95 and "float/int8 top-1 agreement" in text
    assert re.search(r"int8 vs --float-model digits_cnn.keras: RMSE [\d.e-]+", text)


def test_float_model_without_tensorflow(data: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else find_spec(name, *a))
    status, _, err = _run(["validate", str(TFLITE), "--float-model", str(KERAS), "--inputs", str(data["images"])],
                          capsys)
    assert status == 1 and "pip install 'tinygen[keras]'" in err and err.count("\n") == 1, err


def test_progress_bar(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen import progress

    with progress.bar("validating", 2) as advance:  # off a terminal: nothing at all
        advance(2, "batch 1/1")
    assert capsys.readouterr() == ("", "")
    monkeypatch.setattr(progress, "enabled", lambda: True)
    with progress.bar("validating", 2) as advance:
        assert progress._bar_shown  # the steps inside (firmware builds, QEMU runs) show no spinner of their own
        with progress.bar("nested", 1) as inner:
            inner(1, "quiet")
        assert progress._bar_shown
        advance(2, "batch 1/1")
    assert not progress._bar_shown
