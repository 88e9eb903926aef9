"""`tinygen convert --report` on the bundled Keras example, and its refusal for a .tflite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinygen.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits"


def test_report_prints_per_layer_sqnr_and_emits_the_library(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lib"
    argv = ["convert", str(EXAMPLE / "digits_cnn.keras"), "--calibration", str(EXAMPLE / "calibration.npy"),
            "-o", str(out), "--report"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "SQNR dB" in text and "top-1 agreement with float" in text
    manifest = json.loads((out / "manifest.json").read_text())
    # every layer of the report is a layer of the library
    for layer in manifest["layers"]:
        assert layer["name"] in text or layer["op"] in text


def test_report_needs_a_keras_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lib"
    assert main(["convert", str(EXAMPLE / "digits_cnn_int8.tflite"), "-o", str(out), "--report"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "needs a Keras model" in err and err.count("\n") == 1
    assert not out.exists()
