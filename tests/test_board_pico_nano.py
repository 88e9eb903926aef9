"""The Raspberry Pi Pico (RP2040) and the Arduino Nano 33 BLE (nRF52840): the board builds (boot2
with its CRC, the vector table where boot2 jumps, the app above the Nano's bootloader) and their
code bit-exact under `tinygen test` on the QEMU stand-ins (QEMU 7.2 models neither chip: the Pico's
Cortex-M0+ code runs on the Cortex-M3 mps2-an385 as the G071's does, the Nano's on the M4
mps2-an386). Their clock, UART and boot2 code is verified by build and by review only."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from test_build import make_library
from tinygen import platformio
from tinygen.boards import get_board
from tinygen.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits"


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, not reflected, no final XOR): the RP2040
    boot ROM's check of boot2 (datasheet 2.8.1.3)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def test_crc32_mpeg2_check_value() -> None:
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7  # the catalogue's check value for CRC-32/MPEG-2


@pytest.fixture(scope="module")
def pico_build(tmp_path_factory: pytest.TempPathFactory) -> platformio.BuildResult:
    library = make_library(tmp_path_factory.mktemp("lib") / "fcnet")
    return platformio.build(platformio.prepare_firmware(library, get_board("raspberry_pi_pico"), tmp_path_factory.mktemp("pico")))


def test_pico_image_starts_with_boot2_and_its_crc(pico_build: platformio.BuildResult) -> None:
    image = pico_build.bin.read_bytes()  # loaded at 0x10000000, the start of the XIP flash
    boot2 = image[:256]
    assert struct.unpack("<I", boot2[252:])[0] == crc32_mpeg2(boot2[:252])
    # boot2 points VTOR at 0x10000100 and jumps through it: the vector table is there
    assert struct.pack("<I", 0x10000100) in boot2[:252] and struct.pack("<I", 0xE000ED08) in boot2[:252]
    stack, reset = struct.unpack("<2I", image[256:264])
    assert stack == 0x20000000 + 264 * 1024 and reset & 1 and 0x10000100 < reset < 0x10000000 + len(image)


def test_pico_clock_and_console_code_is_in_the_board_build(pico_build: platformio.BuildResult) -> None:
    """The board build brings the RP2040 up (not the stand-in's no-op): the registers it writes
    are in its literal pools (XOSC_CTRL, PLL_SYS_FBDIV_INT, UART0, GPIO0_CTRL)."""
    image = pico_build.bin.read_bytes()[256:]
    for register in (0x40024000, 0x40028008, 0x40034000, 0x40014004):
        assert struct.pack("<I", register) in image, hex(register)


@pytest.mark.emulator
@pytest.mark.parametrize("board, machine", [("raspberry_pi_pico", "mps2-an385"), ("arduino_nano_33_ble", "mps2-an386")])
def test_digits_bit_exact_on_the_stand_in(board: str, machine: str, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    argv = ["test", str(EXAMPLE / "digits_cnn_int8.tflite"), "--board", board, "-n", "2", "--json", str(report),
            "--work-dir", str(tmp_path / "work")]  # fmt: skip
    assert main(argv) == 0
    figures = json.loads(report.read_text())
    assert figures["machine"] == machine and figures["passed"] is True
