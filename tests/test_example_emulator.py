"""The bundled digits CNN (Keras, tinygen's quantizer) through `tinygen test` in QEMU: bit-exact on
the portable path (Cortex-M3) and the DSP path (the Nucleo-F746's Cortex-M7 stand-in)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinygen.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits"

pytestmark = pytest.mark.emulator


@pytest.mark.parametrize("board", ["mps2_an385", "nucleo_f746"])
def test_digits_example_is_bit_exact_in_qemu(board: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "images.npy"
    np.save(images, np.load(EXAMPLE / "test_images.npy")[:4])  # four held-out digits, then four random vectors
    argv = ["test", str(EXAMPLE / "digits_cnn.keras"), "--board", board,
            "--calibration", str(EXAMPLE / "calibration.npy"), "--inputs", str(images), "-n", "4"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "8 input vectors" in out
    assert "PASS: every output is bit-exact" in out
    assert "instructions per inference" in out
