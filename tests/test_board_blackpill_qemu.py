"""The STM32F411 board's own firmware (startup, clock bring-up, USART1 driver at the chip's
addresses) runs unchanged in QEMU's netduinoplus2 (an STM32F405: the same RCC, flash interface
and USART register map), bit-exact, through `tinygen test`.

QEMU 7.2 leaves the F405's RCC, PWR and flash interface unimplemented (reads as zero, writes
ignored: hw/arm/stm32f405_soc.c), so the PLL never reports lock: the firmware's bounded wait gives
up, stays on the 16 MHz HSI and says so, exactly as it would on a board whose PLL failed. The
USART model (hw/char/stm32f2xx_usart.c) always reports TXE and prints every DR write to QEMU's
first serial port; the run ends with the firmware's semihosting exit call."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tinygen import emulator, platformio
from tinygen.boards import get_board
from tinygen.cli import main

from test_build import _expected_outputs, make_library

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits"
BOARD = "blackpill_f411ce"

pytestmark = pytest.mark.emulator


def test_board_firmware_runs_unchanged_in_netduinoplus2(tmp_path: Path) -> None:
    board = get_board(BOARD)
    library = make_library(tmp_path / "lib")
    vectors = platformio.default_vectors(16, 3, seed=7)
    for_board = platformio.build(platformio.prepare_firmware(library, board, tmp_path / "board", vectors=vectors))
    for_qemu = platformio.build(
        platformio.prepare_firmware(library, board, tmp_path / "qemu", vectors=vectors, target="qemu")
    )
    # what `tinygen test` runs is, byte for byte, what `tinygen flash` writes to the board
    assert for_qemu.bin.read_bytes() == for_board.bin.read_bytes()
    run = emulator.run_firmware(for_board.elf, board.machine, num_layers=2)
    assert run.ok, run.problem
    assert (run.machine, run.end_status, run.exit_code, run.method) == ("netduinoplus2", 0, 0, "plugin")
    assert run.console[0] == "TG-CLOCK 16000000 fallback: the PLL did not lock"
    assert [run.outputs[v] for v in range(3)] == [y for _, y in _expected_outputs(vectors)]


def _digits(board: str, tmp_path: Path, images: Path) -> dict:
    report = tmp_path / f"{board}.json"
    argv = ["test", str(EXAMPLE / "digits_cnn_int8.tflite"), "--board", board, "--inputs", str(images),
            "-n", "4", "--json", str(report), "--work-dir", str(tmp_path / board)]  # fmt: skip
    assert main(argv) == 0
    return json.loads(report.read_text())


def test_digits_example_bit_exact_on_the_board_firmware(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "images.npy"
    np.save(images, np.load(EXAMPLE / "test_images.npy")[:4])  # four held-out digits, then four random vectors
    figures = _digits(BOARD, tmp_path, images)
    out = capsys.readouterr().out
    assert "on blackpill_f411ce (QEMU netduinoplus2), 8 input vectors" in out
    assert "PASS: every output is bit-exact" in out
    assert figures["passed"] and figures["machine"] == "netduinoplus2"
    # the same Cortex-M4F code as on the MPS2 M4 machine: the same instructions per inference
    stand_in = _digits("mps2_an386", tmp_path, images)
    counts = figures["instructions_per_inference"]
    assert counts["method"] == "plugin" and len(counts["per_vector"]) == 8
    assert counts == stand_in["instructions_per_inference"]
