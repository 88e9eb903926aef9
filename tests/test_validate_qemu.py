"""`tinygen validate --board mps2_an500` on the digits tflite: the generated C runs in QEMU on the board's core,
batch by batch (300 samples: two firmware builds), bit-exact with the reference on every sample, with the same
accuracy as the host run; --json and --junit parse; a deliberately wrong weight is named by its layer."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinygen.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits"
TFLITE = EXAMPLE / "digits_cnn_int8.tflite"
SAMPLES = 300
BOARD = "mps2_an500"

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc", "gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    d = tmp_path_factory.mktemp("validate_qemu")
    files = {"images": d / "images.npy", "labels": d / "labels.npy"}
    np.save(files["images"], np.load(EXAMPLE / "test_images.npy")[:SAMPLES])
    np.save(files["labels"], np.load(EXAMPLE / "test_labels.npy")[:SAMPLES])
    return files


def _validate(data: dict[str, Path], tmp_path: Path, name: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """(exit status, the --json figures)."""
    out = tmp_path / f"{name}.json"
    argv = ["validate", str(TFLITE), "--inputs", str(data["images"]), "--labels", str(data["labels"]),
            "--json", str(out), *extra]
    status = main(argv)
    return status, json.loads(out.read_text())


def test_qemu_matches_the_host(data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "q.xml"
    status, qemu = _validate(data, tmp_path, "qemu", "--board", BOARD, "--junit", str(junit),
                                "--min-accuracy", "0.95")
    text = capsys.readouterr().out
    assert status == 0
    status, host = _validate(data, tmp_path, "host")
    assert status == 0
    capsys.readouterr()

    assert qemu["c_bit_exact"] == {"samples": SAMPLES, "bit_exact": SAMPLES, "mismatched": [],
                                   "first_differing_layer": None}
    assert f"C == reference: {SAMPLES} of {SAMPLES} samples bit-exact" in text
    assert qemu["batch_size"] < SAMPLES  # more than one firmware build
    assert qemu["accuracy"] == host["accuracy"] and qemu["confusion_matrix"] == host["confusion_matrix"]
    assert qemu["accuracy"]["int8"] > 0.95

    run = qemu["run"]
    assert (run["where"], run["board"], run["machine"], run["core"]) == ("qemu", BOARD, "mps2-an500", "cortex-m7")
    assert f"C in QEMU mps2-an500 (board {BOARD}: cortex-m7, {run['kernels']} kernels)" in text
    counts = run["instructions"]
    assert 0 < counts["min"] <= counts["mean"] <= counts["max"] and counts["min"] <= counts["first"] <= counts["max"]
    assert (qemu["board"], qemu["instructions_per_inference"]) == (BOARD, counts["first"])
    assert f"instructions per inference: {counts['first']:,}" in text
    assert (host["board"], host["instructions_per_inference"]) == (None, None)

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("2", "0")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == ["C bit-exact with the reference", "int8 top-1 accuracy >= 95.00%"]
    assert f"{SAMPLES} of {SAMPLES} samples bit-exact in QEMU mps2-an500 (board {BOARD}: cortex-m7" in (
        cases["C bit-exact with the reference"].findtext("system-out") or "")


def test_qemu_mismatch_names_the_layer(data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from test_validate import corrupt_weight

    corrupt_weight(monkeypatch, 4)  # conv2d_5: layer 4 of the library
    status, result = _validate(data, tmp_path, "bad", "--board", BOARD, "--batch-size", "100")
    err = capsys.readouterr().err
    assert status == 1
    first = result["c_bit_exact"]["first_differing_layer"]
    assert (first["layer"], first["op"]) == (4, "conv2d") and first["sample"] == result["c_bit_exact"]["mismatched"][0]
    assert "first differing layer: 4 (conv2d" in err
