"""The emulator regression suite: real firmware for every QEMU board, compared bit for bit.

Each test generates a model's library, builds the test firmware with PlatformIO for a QEMU board,
runs it and compares every output with tinygen's reference and TFLite Micro. Firmware ELFs are
cached under tests/.cache/firmware, keyed by a hash of everything that goes into them (generated
library, firmware sources, board manifests, input vectors, compiler version), so a rerun with
nothing changed only runs QEMU.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from filelock import FileLock

from corpus import CORPUS_NAMES, ZOO_NAMES, corpus_path

pytestmark = pytest.mark.emulator

REPO = Path(__file__).resolve().parent.parent
FIRMWARE_CACHE = Path(__file__).resolve().parent / ".cache" / "firmware"
COUNTS_FILE = Path(__file__).resolve().parent / "instruction_counts.json"
QEMU_BOARDS = ("mps2_an385", "mps2_an386", "mps2_an500", "mps2_an505", "mps3_an547")
#: the board whose instruction counts are stored and guarded against regressions (Cortex-M7)
COUNTS_BOARD = "mps2_an500"
#: a count more than this fraction above the stored figure fails
REGRESSION = 0.01
VECTORS = 3
SHARED_MLPERF = ("mlperf_kws_dscnn_int8", "mlperf_ic_resnet8_int8", "mlperf_ad01_int8", "person_detect")
SHARED_OTHERS = ("micro_speech_quantized", "hello_world_int8", "trained_lstm_int8",
                 "keyword_scrambled_8bit",  # int16 input, SVDF (7 states), int8 -> int16 softmax, int32 output
                 "real/coral_keras_lstm_mnist_uint8")


def _need_tools() -> None:
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")


def _compiler_version() -> str:
    return subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True).stdout


def _firmware_key(prep: Any, vectors: np.ndarray, dump_tensors: bool) -> str:
    """Hash of everything that determines the firmware ELF."""
    from tinygen.resources import resource_dir

    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(label.encode() + b"\0" + hashlib.sha256(data).digest())

    for path in sorted(prep.library.out_dir.rglob("*")):
        if path.is_file():
            add(f"lib/{path.relative_to(prep.library.out_dir)}", path.read_bytes())
    firmware = resource_dir("firmware")
    for path in sorted(firmware.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and "qemu_plugin" not in path.parts:
            add(f"fw/{path.relative_to(firmware)}", path.read_bytes())
    for board in (prep.board, prep.board.stand_in()):
        add(f"board/{board.id}", board.path.read_bytes())
    for module in ("platformio.py", "boards.py"):
        add(module, (REPO / "tinygen" / module).read_bytes())
    add("vectors", np.ascontiguousarray(vectors).tobytes() + str(vectors.shape).encode())
    add("dump", b"1" if dump_tensors else b"0")
    add("gcc", _compiler_version().encode())
    return digest.hexdigest()[:20]


@dataclass
class CachedBuild:
    elf: Path
    flash_used: int
    ram_used: int


def cached_build(prep: Any, vectors: np.ndarray, dump_tensors: bool = False) -> CachedBuild:
    """tinygen.commands.test.build_firmware, with the ELF cached on disk by content hash."""
    from tinygen.commands.test import build_firmware

    key = _firmware_key(prep, vectors, dump_tensors)
    FIRMWARE_CACHE.mkdir(parents=True, exist_ok=True)
    elf, sizes = FIRMWARE_CACHE / f"{key}.elf", FIRMWARE_CACHE / f"{key}.json"
    with FileLock(str(FIRMWARE_CACHE / f"{key}.lock")):
        if not (elf.is_file() and sizes.is_file()):
            built = build_firmware(prep, vectors, dump_tensors=dump_tensors)
            tmp = elf.with_suffix(f".tmp{os.getpid()}")
            shutil.copyfile(built.elf, tmp)
            os.replace(tmp, elf)
            sizes.write_text(json.dumps({"flash": built.flash_used, "ram": built.ram_used}))
    info = json.loads(sizes.read_text())
    return CachedBuild(elf, info["flash"], info["ram"])


def _prepare(model: Path, board: str, work: Path) -> Any:
    from tinygen.commands.test import prepare

    return prepare(model, board, work)


def _run(model: Path, board: str, work: Path, vectors: int = VECTORS) -> Any:
    from tinygen.commands.test import make_vectors, run_test

    prep = _prepare(model, board, work)
    outcome = run_test(prep, make_vectors(prep, vectors), timeout=600, builder=cached_build)
    return prep, outcome


# ---------------------------------------------------------------------------------------------
# Bit-exactness on every QEMU board


@pytest.fixture(autouse=True)
def _tools() -> None:
    _need_tools()


def _corpus_matrix() -> list[tuple[str, str]]:
    """MLPerf models on every board. The small models on the three kernel paths (portable C on M3,
    DSP on M4, MVE on M55), and on M7 or M33 in turn (the same DSP source, other cores), which
    keeps the suite within minutes on two cores."""
    pairs = []
    small = [name for name in CORPUS_NAMES if name not in ZOO_NAMES]
    for i, name in enumerate(small):
        for board in ("mps2_an385", "mps2_an386", "mps3_an547", ("mps2_an500", "mps2_an505")[i % 2]):
            pairs.append((name, board))
    pairs += [(name, board) for name in ZOO_NAMES for board in QEMU_BOARDS]
    return pairs


@pytest.mark.parametrize(("name", "board"), _corpus_matrix())
def test_corpus_model_is_bit_exact(name: str, board: str, tmp_path: Path) -> None:
    _, outcome = _run(corpus_path(name), board, tmp_path)
    assert outcome.ok, "\n".join(outcome.lines)
    assert outcome.run.method == "plugin"
    assert len(outcome.run.outputs) == VECTORS


@pytest.mark.parametrize(
    ("name", "board"),
    [(name, board) for name in SHARED_MLPERF for board in QEMU_BOARDS]
    + [(name, board) for name in SHARED_OTHERS for board in ("mps2_an385", "mps2_an386", "mps3_an547")],
)
def test_real_model_is_bit_exact(name: str, board: str, shared_models: Path, tmp_path: Path) -> None:
    _, outcome = _run(shared_models / f"{name}.tflite", board, tmp_path)
    assert outcome.ok, "\n".join(outcome.lines)


# ---------------------------------------------------------------------------------------------
# A wrong weight is caught, and the first wrong layer is named


def _corrupt_layer_weights(prep: Any, layer: int) -> str:
    """Negate and saturate the first row of the int8 weight array layer ``layer`` reads."""
    name = prep.library.name
    source = (prep.library.out_dir / f"{name}.c").read_text()
    block = re.search(rf"TG_LAYER_BEGIN\({layer}\);(.*?)TG_LAYER_END\({layer},", source, re.S)
    assert block is not None, f"layer {layer} not found in {name}.c"
    weights_c = prep.library.out_dir / f"{name}_weights.c"
    text = weights_c.read_text()
    int8_arrays = re.findall(r"const int8_t (\w+)\[", text)
    used = [a for a in int8_arrays if re.search(rf"\b{a}\b", block.group(1))]
    assert used, f"layer {layer} reads no int8 constant array"
    start = text.index(f"const int8_t {used[0]}[")
    body = text.index("{", text.index("=", start)) + 1
    end = text.index("\n", text.index("\n", body) + 1)
    row = text[body:end]
    flipped = re.sub(r"-?\d+", lambda m: "-127" if int(m.group()) >= 0 else "127", row)
    weights_c.write_text(text[:body] + flipped + text[end:])
    return used[0]


def test_corrupted_weight_fails_and_names_the_layer(tmp_path: Path) -> None:
    from tinygen.commands.test import make_vectors, run_test

    prep = _prepare(corpus_path("conv_relu"), "mps2_an386", tmp_path)
    assert [layer["op"] for layer in prep.manifest["layers"]][:2] == ["conv2d", "conv2d"]
    _corrupt_layer_weights(prep, 1)
    outcome = run_test(prep, make_vectors(prep, VECTORS), timeout=300, builder=cached_build)
    report = "\n".join(outcome.lines)
    assert not outcome.ok
    assert re.search(r"FAIL  tinygen reference: \d+ of \d+ values differ; first at vector \d+, index \d+", report)
    assert "FAIL  TFLite Micro" in report
    assert "first differing layer: 1 (conv2d" in report, report


def _inject(prep: Any, layer: int, statement: str) -> None:
    """Put ``statement`` into the generated op sequence, at the start of layer ``layer``."""
    source = prep.library.out_dir / f"{prep.library.name}.c"
    text = source.read_text()
    marker = f"TG_LAYER_BEGIN({layer});"
    assert marker in text
    source.write_text(text.replace(marker, f"{marker} {statement}"))


@pytest.mark.parametrize("board", ["mps2_an385", "mps3_an547"])
def test_crash_in_generated_code_is_reported(board: str, tmp_path: Path) -> None:
    from tinygen.commands.test import make_vectors, run_test

    prep = _prepare(corpus_path("conv_relu"), board, tmp_path)
    _inject(prep, 1, "*(volatile unsigned *)0xFFFFFFF0u = 1u;")
    outcome = run_test(prep, make_vectors(prep, 2), timeout=120, builder=cached_build)
    assert not outcome.ok
    assert outcome.run.status == "crash"
    # The plugin saw the fault handler from the vector table, and the firmware said so too.
    assert "hard fault" in outcome.run.problem and "TG-FAULT" in "\n".join(outcome.run.console)
    assert "FAIL: the firmware did not complete: crash" in outcome.lines[1]


def test_hang_in_generated_code_is_a_timeout(tmp_path: Path) -> None:
    from tinygen.commands.test import make_vectors, run_test

    prep = _prepare(corpus_path("conv_relu"), "mps2_an500", tmp_path)
    _inject(prep, 0, "for (;;) { __asm__ volatile(\"\"); }")
    outcome = run_test(prep, make_vectors(prep, 1), timeout=3, builder=cached_build)
    assert not outcome.ok and outcome.run.status == "timeout"
    assert "did not finish within 3 s" in outcome.lines[1]


# ---------------------------------------------------------------------------------------------
# Instruction counts on the Cortex-M7 stand-in, guarded against regressions


def _counts_models(shared: Path | None) -> dict[str, Path]:
    models = {name: corpus_path(name) for name in ZOO_NAMES}
    if shared is not None:
        models.update({name: shared / f"{name}.tflite" for name in SHARED_MLPERF})
    return models


def _measure(model: Path, tmp_path: Path) -> int:
    prep, outcome = _run(model, COUNTS_BOARD, tmp_path)
    # Bit-exactness is the other tests' job; here the run only has to complete.
    assert outcome.run.ok, "\n".join(outcome.lines)
    counts = outcome.run.inference_instructions
    assert outcome.run.method == "plugin" and len(counts) == VECTORS
    # The plugin is exact, so the per-layer figures add up to the inference exactly.
    assert [sum(layers) for layers in outcome.run.layer_instructions] == counts
    # The same firmware counted again gives the same count, to the instruction, at every mark.
    from tinygen.commands.test import make_vectors
    from tinygen.emulator import run_firmware

    again = run_firmware(cached_build(prep, make_vectors(prep, VECTORS)).elf, prep.board.machine, timeout=600)
    assert again.ok and again.marks == outcome.run.marks
    return int(counts[0])


@pytest.mark.parametrize("name", ZOO_NAMES + SHARED_MLPERF)
def test_instruction_count_has_not_regressed(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if name in SHARED_MLPERF:
        model = request.getfixturevalue("shared_models") / f"{name}.tflite"
    else:
        model = corpus_path(name)
    measured = _measure(model, tmp_path)
    stored = json.loads(COUNTS_FILE.read_text())["models"]
    if os.environ.get("TINYGEN_RECORD_COUNTS") == "1":
        _record(name, measured)
        return
    assert name in stored, (
        f"no stored instruction count for {name} in {COUNTS_FILE.name}; "
        f"measured {measured:,}: rerun with TINYGEN_RECORD_COUNTS=1 to record it"
    )
    limit = stored[name]["instructions"] * (1 + REGRESSION)
    assert measured <= limit, (
        f"{name} on {COUNTS_BOARD}: {measured:,} instructions per inference, more than 1% above the stored "
        f"{stored[name]['instructions']:,}; if intended, rerun with TINYGEN_RECORD_COUNTS=1"
    )


def _record(name: str, measured: int) -> None:
    with FileLock(str(COUNTS_FILE) + ".lock"):
        data = json.loads(COUNTS_FILE.read_text())
        data["models"][name] = {"instructions": measured}
        data["models"] = dict(sorted(data["models"].items()))
        COUNTS_FILE.write_text(json.dumps(data, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# The commands


def test_tinygen_test_command_passes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tinygen.cli import cli

    model = corpus_path("conv_relu")
    result = CliRunner().invoke(
        cli, ["test", str(model), "--board", "nucleo_l4r5zi", "-n", "2", "--work-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "ok    tinygen reference: all" in result.output
    assert "ok    TFLite Micro: all" in result.output
    assert re.search(r"instructions per inference: [\d,]+ .*\[exact, QEMU plugin\]", result.output)
    assert "PASS: every output is bit-exact" in result.output


def test_tinygen_bench_json(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tinygen.cli import cli

    model = corpus_path("conv_relu")
    result = CliRunner().invoke(
        cli, ["bench", str(model), "--board", "mps2_an500", "--json", "--work-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    manifest = json.loads((tmp_path / "lib" / "manifest.json").read_text())
    assert report["method"] == "plugin"
    assert [layer["op"] for layer in report["layers"]] == [layer["op"] for layer in manifest["layers"]]
    assert sum(layer["instructions"] for layer in report["layers"]) == report["instructions_per_inference"]
    assert report["arena_bytes"] == manifest["arena_bytes"] and report["weight_bytes"] == manifest["weight_bytes"]
    assert 0 < report["library_code_bytes"] < report["code_bytes"]
    assert report["flash_bytes"] == report["code_bytes"] + report["weight_bytes"]
    assert report["stack_bytes"] > 0
    for layer in report["layers"]:
        assert layer["instructions"] > 0
        if layer["macs"]:
            assert layer["macs_per_instruction"] == round(layer["macs"] / layer["instructions"], 3)


def test_unknown_board_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    code = main(["test", str(corpus_path("conv_relu")), "--board", "no_such_board", "--work-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("error: ") and "no_such_board" in err and "Traceback" not in err


def test_tinygen_test_reads_the_project_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from tinygen.cli import cli

    shutil.copyfile(corpus_path("conv_relu"), tmp_path / "model.tflite")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "model.tflite", "--board", "mps2_an505"]).exit_code == 0
    result = runner.invoke(cli, ["test", "-n", "1", "--work-dir", "work"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("model on mps2_an505 (QEMU mps2-an505), 1 input vector")
    assert "PASS: every output is bit-exact" in result.output
