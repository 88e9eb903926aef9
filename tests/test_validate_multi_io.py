"""`tinygen validate` on a Keras model with two inputs and two outputs (tests/test_keras_multi_io.py's model):
inputs as an .npz keyed by input name or arr_0/arr_1, figures for every output, the C bit-exact on the host,
and a clear error for inputs that match no model input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from test_keras_multi_io import calibration, two_head_model

from tinygen.cli import main

SAMPLES = 100

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="validate compiles the generated C with gcc")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("validate_multi_io")
    two_head_model().save(root / "two_head.keras")
    np.savez(root / "calib.npz", **calibration())
    samples = calibration(SAMPLES, seed=5)  # other samples than the calibration set
    np.savez(root / "named.npz", **samples)
    np.savez(root / "positional.npz", samples["image"], samples["features"])
    np.savez(root / "wrong.npz", image=samples["image"], extra=samples["features"])
    np.save(root / "one.npy", samples["image"])
    return {p.stem: p for p in root.iterdir()}


def _argv(files: dict[str, Path], inputs: str, *extra: str) -> list[str]:
    return ["validate", str(files["two_head"]), "--calibration", str(files["calib"]), "--inputs",
            str(files[inputs]), *extra]


def test_every_output_has_figures(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, saved = tmp_path / "m.json", tmp_path / "m.npz"
    assert main(_argv(files, "named", "--json", str(out), "--save-outputs", str(saved), "--batch-size", "32")) == 0
    text = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["c_bit_exact"]["bit_exact"] == SAMPLES and result["classes"] == 5
    assert result["errors"]["against"] == "float model" and result["errors"]["snr_db"] > 20
    [value] = result["other_outputs"]
    assert (value["index"], value["name"], value["shape"]) == (1, "value", [1, 1])
    assert value["errors"]["snr_db"] > 20 and "top1_agreement" not in value  # one value: no arg-max
    assert f"output 1 (value): int8 vs float model: RMSE {value['errors']['rmse']:.4g}" in text
    arrays = np.load(saved)
    assert arrays["inputs_int8"].shape == (SAMPLES, 8, 8, 1) and arrays["inputs_int8_1"].shape == (SAMPLES, 3)
    assert arrays["outputs_int8_1"].shape == arrays["outputs_float_1"].shape == (SAMPLES, 1)
    assert {layer["name"] for layer in result["layers_sqnr"]} >= {"logits", "value"}

    positional = tmp_path / "p.json"
    assert main(_argv(files, "positional", "--json", str(positional), "--batch-size", "32")) == 0
    capsys.readouterr()
    same = json.loads(positional.read_text())
    assert same["errors"] == result["errors"] and same["other_outputs"] == result["other_outputs"]


@pytest.mark.parametrize("inputs", ["wrong", "one"])
def test_inputs_that_match_no_model_input(inputs: str, files: dict[str, Path],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_argv(files, inputs)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --inputs ") and err.count("\n") == 1, err
    wanted = {"wrong": "no array for model input(s) 'features'", "one": "one array, but model 'two_head' has 2 inputs"}
    assert wanted[inputs] in err, err
