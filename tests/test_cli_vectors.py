"""One vocabulary for input vectors in build, test, bench and flash (--inputs FILE, -n/--num-random N, --seed S,
one seed rule), the retired spellings refused, and `tinygen test --json/--junit` on the bundled digits model."""

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
#: the digits model's input quantization (8x8x1 image in [0, 1]: scale 1/255, zero point -128)
SCALE, ZERO_POINT, INPUT_SIZE = 1 / 255, -128, 64


class Captured(Exception):
    """Raised where a command hands its vectors to the firmware, to stop it there."""

    def __init__(self, vectors: np.ndarray) -> None:
        super().__init__("captured")
        self.vectors = np.asarray(vectors)


def _raise(vectors: np.ndarray) -> None:
    raise Captured(vectors)


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``capture(argv)``: the int8 vectors the command would put into its firmware (nothing is compiled or run)."""
    from tinygen import platformio
    from tinygen.commands import bench, test

    monkeypatch.setattr(platformio, "find_toolchain", lambda: Path("/nonexistent"))
    monkeypatch.setattr(platformio, "prepare_firmware", lambda *a, vectors, **k: _raise(vectors))  # build, flash
    monkeypatch.setattr(test, "run_test", lambda prep, vectors, **k: _raise(vectors))
    monkeypatch.setattr(bench, "bench", lambda prep, vector, **k: _raise(vector))

    def run(argv: list[str]) -> np.ndarray:
        with pytest.raises(Captured) as caught:
            main(argv)
        return caught.value.vectors.reshape(len(caught.value.vectors), -1)

    return run


def _argv(command: str, tmp_path: Path, *options: str) -> list[str]:
    where = ["-o", str(tmp_path / command)] if command in ("build", "flash") else ["--work-dir", str(tmp_path / command)]
    where += ["--force"] if command == "build" else []  # a stopped build leaves its lib/ there
    return [command, str(TFLITE), "--board", "mps2_an500", *where, *options]


def test_same_n_and_seed_give_the_same_vectors_in_every_command(capture: Any, tmp_path: Path) -> None:
    built = capture(_argv("build", tmp_path, "-n", "5", "--seed", "7"))
    tested = capture(_argv("test", tmp_path, "--num-random", "5", "--seed", "7"))
    flashed = capture(_argv("flash", tmp_path, "-n", "5", "--seed", "7"))
    benched = capture(_argv("bench", tmp_path, "--seed", "7"))
    assert built.shape == (5, INPUT_SIZE) and built.dtype == np.int8
    assert np.array_equal(built, tested) and np.array_equal(built, flashed)
    # the documented rule, and for a one-input model the first of N vectors is the one vector bench runs
    rule = np.random.default_rng(7).integers(-128, 128, size=(5, INPUT_SIZE), dtype=np.int8)
    assert np.array_equal(built, rule)
    assert np.array_equal(benched, built[:1])
    # another seed, other vectors; the defaults: 1 in build, 8 in test, seed 0
    assert not np.array_equal(capture(_argv("test", tmp_path, "-n", "5", "--seed", "8")), built)
    default_test = capture(_argv("test", tmp_path))
    assert default_test.shape == (8, INPUT_SIZE)
    assert np.array_equal(capture(_argv("build", tmp_path)), default_test[:1])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("vectors")
    images = np.load(EXAMPLE / "test_images.npy")[:6]
    files = {"float": d / "float.npy", "int8": d / "int8.npz", "bad": d / "bad.npy"}
    np.save(files["float"], images)
    rng = np.random.default_rng(1)
    np.savez(files["int8"], rng.integers(-128, 128, size=(3, 8, 8, 1), dtype=np.int8))
    np.save(files["bad"], np.zeros((2, 7, 7, 1), np.float32))
    return files


@pytest.mark.parametrize("command", ["build", "test"])
def test_inputs_float_and_int8(command: str, capture: Any, data: dict[str, Path], tmp_path: Path) -> None:
    images = np.load(data["float"]).reshape(-1, INPUT_SIZE).astype(np.float64)
    got = capture(_argv(command, tmp_path, "--inputs", str(data["float"])))
    assert got.shape == (6, INPUT_SIZE) and got.dtype == np.int8  # the samples alone: no random vector added
    # quantized with the input's quantization: within half a step of the value, and not all one value
    assert np.max(np.abs((got.astype(np.float64) - ZERO_POINT) * SCALE - images)) <= SCALE / 2 + 1e-9
    assert len(np.unique(got)) > 2
    with np.load(data["int8"]) as npz:
        int8 = npz["arr_0"].reshape(-1, INPUT_SIZE)
    mixed = capture(_argv(command, tmp_path, "--inputs", str(data["int8"]), "-n", "2", "--seed", "3"))
    assert np.array_equal(mixed[:3], int8)  # int8 data as it is
    assert np.array_equal(mixed[3:], np.random.default_rng(3).integers(-128, 128, size=(2, INPUT_SIZE), dtype=np.int8))


def test_bench_runs_the_first_inputs_sample(capture: Any, data: dict[str, Path], tmp_path: Path) -> None:
    tested = capture(_argv("test", tmp_path, "--inputs", str(data["float"])))
    assert np.array_equal(capture(_argv("bench", tmp_path, "--inputs", str(data["float"]))), tested[:1])


@pytest.mark.parametrize(("argv", "message"), [
    (["build", "--vectors", "x.npy"], "build --vectors is gone: give --inputs FILE"),
    (["build", "--num-vectors", "3"], "build --num-vectors is gone: give -n/--num-random N"),
    (["test", "--vectors", "3"], "test --vectors is gone: give -n/--num-random N"),
])  # fmt: skip
def test_old_spellings_are_refused(argv: list[str], message: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    out = tmp_path / "out"
    full = [argv[0], str(TFLITE), "--board", "mps2_an500", *argv[1:]]
    full += ["-o", str(out)] if argv[0] == "build" else ["--work-dir", str(out)]
    assert main(full) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and "Traceback" not in err
    assert not out.exists()


def test_bad_inputs_and_no_vectors(capture: Any, data: dict[str, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main(_argv("build", tmp_path, "--inputs", str(data["bad"]))) == 1
    assert "is not N samples of the model input's shape (1, 8, 8, 1)" in capsys.readouterr().err
    assert main(_argv("test", tmp_path, "-n", "0")) == 1
    assert "no input vectors to run: give --inputs FILE or -n/--num-random N" in capsys.readouterr().err


def test_error_before_the_run_still_writes_the_reports(data: dict[str, Path], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    json_file, junit_file = tmp_path / "t.json", tmp_path / "t.xml"
    argv = _argv("test", tmp_path, "--inputs", str(data["bad"]), "--json", str(json_file), "--junit", str(junit_file))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "is not N samples of the model input's shape" in err
    figures = json.loads(json_file.read_text())
    assert figures["passed"] is False and figures["board"] == "mps2_an500" and figures["error"] in err
    suite = ET.parse(junit_file).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


# ---------------------------------------------------------------------------------------------
# tinygen test --json/--junit in QEMU


def _need_tools() -> None:
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")


def _cases(junit: Path) -> dict[str, ET.Element]:
    root = ET.parse(junit).getroot()
    return {case.get("name", ""): case for case in root.iter("testcase")}


@pytest.mark.emulator
def test_json_and_junit_hold_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _need_tools()
    from tinygen.commands.test import tflm_available

    json_file, junit_file = tmp_path / "t.json", tmp_path / "t.xml"
    assert main(_argv("test", tmp_path, "-n", "3", "--json", str(json_file), "--junit", str(junit_file))) == 0
    printed = capsys.readouterr().out
    figures = json.loads(json_file.read_text())
    assert (figures["model"], figures["board"], figures["machine"]) == ("digits_cnn_int8", "mps2_an500", "mps2-an500")
    assert figures["vectors"] == {"count": 3, "inputs": None, "from_inputs": 0, "random": 3, "seed": 0}
    assert figures["passed"] is True and figures["firmware"]["completed"] is True
    assert figures["first_differing_layer"] is None
    names = ["tinygen reference"] + (["TFLite Micro"] if tflm_available() else [])
    assert [c["name"] for c in figures["comparisons"]] == names
    for c in figures["comparisons"]:
        assert (c["ok"], c["values"], c["differing"], c["first_difference"]) == (True, 3 * 10, 0, None)
        assert f"ok    {c['name']}: all 30 values equal" in printed
    assert figures["tflite_micro"]["compared"] is tflm_available()
    counts = figures["instructions_per_inference"]
    assert len(counts["per_vector"]) == 3 and counts["min"] == min(counts["per_vector"]) > 0
    assert counts["max"] == max(counts["per_vector"]) and f"instructions per inference: {counts['per_vector'][0]:,}" in printed
    assert figures["stack_bytes"] > 0 and f"stack high-water mark: {figures['stack_bytes']:,} bytes" in printed
    cases = _cases(junit_file)
    assert list(cases) == ["firmware completed", "tinygen reference", "TFLite Micro"]
    assert all(case.find("failure") is None for case in cases.values())
    assert (cases["TFLite Micro"].find("skipped") is None) is tflm_available()
    assert f"{counts['per_vector'][0]:,}" in (cases["firmware completed"].findtext("system-out") or "")


@pytest.mark.emulator
def test_a_failing_run_writes_both_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """The reference's output of vector 1 is made wrong by one step: the run fails, names the last layer as the
    first differing one, and both files say so."""
    _need_tools()
    from tinygen.commands import test

    real_golden = test.golden

    def wrong_golden(prep: Any, vectors: np.ndarray) -> Any:
        refs, oracle = real_golden(prep, vectors)
        out = refs[1][prep.ports[1][0].core]
        refs[1] = {**refs[1], prep.ports[1][0].core: out.copy()}
        flat = refs[1][prep.ports[1][0].core].reshape(-1)
        flat[0] = flat[0] + 1 if flat[0] < 127 else flat[0] - 1
        return refs, oracle

    monkeypatch.setattr(test, "golden", wrong_golden)
    json_file, junit_file = tmp_path / "t.json", tmp_path / "t.xml"
    assert main(_argv("test", tmp_path, "-n", "2", "--json", str(json_file), "--junit", str(junit_file))) == 1
    captured = capsys.readouterr()
    assert "is not bit-exact on mps2_an500" in captured.err
    figures = json.loads(json_file.read_text())
    reference = figures["comparisons"][0]
    assert figures["passed"] is False and reference["ok"] is False and reference["differing"] == 1
    assert reference["first_difference"]["vector"] == 1 and reference["first_difference"]["index"] == 0
    layer = figures["first_differing_layer"]
    manifest = json.loads((tmp_path / "test" / "lib" / "manifest.json").read_text())
    assert layer["between"] == "firmware and tinygen reference" and layer["vector"] == 1
    assert layer["layer"] == manifest["layers"][-1]["index"] and layer["description"] in captured.out
    failure = _cases(junit_file)["tinygen reference"].find("failure")
    assert failure is not None
    summary = next(line for line in captured.out.splitlines() if line.startswith("FAIL  tinygen reference"))
    assert failure.get("message") == summary.removeprefix("FAIL  ")
    assert layer["description"] in (failure.text or "")


def test_a_firmware_that_does_not_complete_fails_its_case() -> None:
    from tinygen.commands.test import TestOutcome, outcome_suite
    from tinygen.emulator import Result

    run = Result("mps2-an500", "timeout", None, "none", problem="no TG-END within 3 s")
    line = "FAIL: the firmware did not complete: timeout: no TG-END within 3 s"
    outcome = TestOutcome(False, ["m on mps2_an500 (QEMU mps2-an500), 1 input vector", line], run)
    root = ET.fromstring(outcome_suite("tinygen test m", outcome, 1.0).to_xml())
    cases = {case.get("name"): case for case in root.iter("testcase")}
    failure = cases["firmware completed"].find("failure")
    assert failure is not None and failure.get("message") == line
    for name in ("tinygen reference", "TFLite Micro"):
        skipped = cases[name].find("skipped")
        assert skipped is not None and skipped.get("message") == "the firmware did not complete"
