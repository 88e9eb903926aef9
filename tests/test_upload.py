"""Uploaders beyond test_flash.py's: pyOCD (the default where pyOCD has the chip built in), nRF
Util, bossac (the Arduino Nano 33 BLE, whose bootloader below 0x10000 must survive), picotool and
UF2 drive copies (the Raspberry Pi Pico). For each protocol: the command line the builder runs
(recorded by a stand-in program on PATH, nothing is flashed), the error naming the tool and how to
install it when it is missing, and each board's protocol list. Plus the UF2 converter against the
format's specification."""

from __future__ import annotations

import dataclasses
import os
import shutil
import struct
import sys
from pathlib import Path

import pytest

import test_flash
from test_flash import built, fake_uploaders, uploads  # noqa: F401 (fake_uploaders: a fixture)
from tinygen import platformio, uf2
from tinygen.boards import get_board
from tinygen.cli import main
from tinygen.errors import TinygenError, ToolMissingError

#: every program an upload protocol runs
PROGRAMS = sorted({program for program, _ in platformio.UPLOADERS.values()})

#: (default protocol, every protocol) per board this file covers
PROTOCOLS = {
    "nrf52840_dk": ("pyocd", ("pyocd", "nrfutil", "jlink", "nrfjprog")),
    "arduino_nano_33_ble": ("bossac", ("bossac", "pyocd", "jlink", "nrfutil")),
    "raspberry_pi_pico": ("uf2", ("uf2", "picotool", "pyocd", "cmsis-dap")),
    "nucleo_h743zi": ("pyocd", ("pyocd", "stlink", "openocd", "cmsis-dap")),
}


@pytest.fixture()
def recorders(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """test_flash's recording uploaders, for every program of UPLOADERS; returns their log."""
    monkeypatch.setattr(test_flash, "UPLOADERS", PROGRAMS)
    monkeypatch.delenv(uf2.DRIVE_ENV, raising=False)
    return request.getfixturevalue("fake_uploaders")


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, platformio.Project]:
    """One built firmware project per board (uploading rebuilds nothing)."""
    library = test_flash.make_library(tmp_path_factory.mktemp("lib") / "fcnet")
    where = tmp_path_factory.mktemp("fw")
    return {board: built(library, board, where / board) for board in PROTOCOLS}


@pytest.mark.parametrize("board_id", sorted(PROTOCOLS))
def test_protocol_list_per_board(board_id: str) -> None:
    board = get_board(board_id)
    assert (board.upload_protocol, board.upload_protocols) == PROTOCOLS[board_id]
    assert all(p == "uf2" or p in platformio.UPLOADERS for p in board.upload_protocols)


def test_pyocd_is_the_default_where_pyocd_has_the_chip_built_in() -> None:
    for board_id in ("nrf52840_dk", "raspberry_pi_pico", "arduino_nano_33_ble", "nucleo_h743zi"):
        assert get_board(board_id).pyocd_target in platformio.PYOCD_BUILTIN
    # boards without a probe of their own keep their bootloader's uploader as the default
    assert get_board("nrf52840_dk").upload_protocol == "pyocd"
    assert get_board("nucleo_h743zi").upload_protocol == "pyocd"  # its ST-LINK/V3 probe; stm32h743xx is built in


@pytest.mark.parametrize(
    "board_id, protocol, command",
    [
        ("nrf52840_dk", "pyocd", ["pyocd", "flash", "--no-wait", "--erase", "sector", "--target", "nrf52840", "{hex}"]),
        ("nrf52840_dk", "nrfutil", ["nrfutil", "device", "program", "--firmware", "{hex}", "--options",
                                    "chip_erase_mode=ERASE_RANGES_TOUCHED_BY_FIRMWARE,verify=VERIFY_READ,reset=RESET_SYSTEM"]),
        ("nrf52840_dk", "nrfjprog", ["nrfjprog", "-f", "nrf52", "--program", "{hex}", "--sectorerase", "--verify", "--reset"]),
        ("arduino_nano_33_ble", "bossac", ["bossac", "-U", "-i", "-e", "-w", "{bin}", "-R"]),
        ("arduino_nano_33_ble", "pyocd", ["pyocd", "flash", "--no-wait", "--erase", "sector", "--target", "nrf52840", "{hex}"]),
        ("nucleo_h743zi", "pyocd", ["pyocd", "flash", "--no-wait", "--erase", "sector", "--target", "stm32h743xx", "{hex}"]),
        ("raspberry_pi_pico", "picotool", ["picotool", "load", "-x", "{uf2}"]),
        ("raspberry_pi_pico", "pyocd", ["pyocd", "flash", "--no-wait", "--erase", "sector", "--target", "rp2040", "{hex}"]),
        ("raspberry_pi_pico", "cmsis-dap", ["openocd", "-f", "interface/cmsis-dap.cfg", "-f", "target/rp2040.cfg",
                                            "-c", "program {{{elf}}} verify reset exit"]),
    ],
)  # fmt: skip
def test_upload_command_per_protocol(
    board_id: str, protocol: str, command: list[str], projects: dict[str, platformio.Project], recorders: Path
) -> None:
    project = projects[board_id]
    files = {"hex": project.hex, "bin": project.bin, "elf": project.elf, "uf2": project.build_dir / "firmware.uf2"}
    assert main(["flash", str(project.path), "--protocol", protocol]) == 0
    assert uploads(recorders) == [[arg.format(**{k: str(v) for k, v in files.items()}) for arg in command]]


def test_uf2_upload_copies_to_the_bootloaders_drive(
    projects: dict[str, platformio.Project], recorders: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    (drive / uf2.INFO_FILE).write_text("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n")
    monkeypatch.setenv(uf2.DRIVE_ENV, str(drive))
    project = projects["raspberry_pi_pico"]
    assert main(["flash", str(project.path)]) == 0  # the default protocol: uf2
    assert (drive / "firmware.uf2").read_bytes() == (project.build_dir / "firmware.uf2").read_bytes()
    assert uploads(recorders) == []


def test_bossac_keeps_the_nano_bootloader(projects: dict[str, platformio.Project]) -> None:
    """The app is linked at 0x10000, above Arduino's bootloader: nothing of the image lies below."""
    from elftools.elf.elffile import ELFFile

    project = projects["arduino_nano_33_ble"]
    platformio.build(project)  # an upload after a protocol change rebuilds only the file it writes
    with open(project.elf, "rb") as handle:
        loaded = [s["p_paddr"] for s in ELFFile(handle).iter_segments() if s["p_type"] == "PT_LOAD" and s["p_filesz"]]
    assert min(loaded) == 0x10000
    vector = struct.unpack("<2I", project.bin.read_bytes()[:8])
    assert vector[0] == 0x20000000 + 256 * 1024 and 0x10000 < vector[1] < 0x100000  # stack top, reset handler


# ---- a missing uploader names the tool and how to install it ----

INSTALL_HINTS = {
    "pyocd": "pip install pyocd",
    "nrfutil": "nrfutil install device",
    "nrfjprog": "--protocol nrfutil",
    "jlink": "segger.com",
    "bossac": "arduino-cli core install arduino:mbed_nano",
    "picotool": "github.com/raspberrypi/picotool",
    "cmsis-dap": "sudo apt-get install openocd",
    "openocd": "sudo apt-get install openocd",
    "stlink": "sudo apt-get install stlink-tools",
}


@pytest.mark.parametrize(
    "board_id, protocol", [(b, p) for b, (_, protocols) in PROTOCOLS.items() for p in protocols if p != "uf2"]
)
def test_missing_uploader_names_the_tool_and_the_install(board_id: str, protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    program = platformio.UPLOADERS[protocol][0]
    monkeypatch.setattr(platformio.shutil, "which", lambda name, *a, **k: None)
    monkeypatch.delenv(uf2.DRIVE_ENV, raising=False)
    with pytest.raises(ToolMissingError) as error:
        platformio._check_uploader(get_board(board_id), protocol)
    message = str(error.value)
    assert message.startswith(f"{program} (the '{protocol}' uploader of {board_id}) is not installed")
    assert INSTALL_HINTS[protocol] in message
    others = [p for p in PROTOCOLS[board_id][1] if p != protocol]
    assert message.endswith(f"the other uploaders of {board_id}: {', '.join(others)}")


def test_missing_uf2_drive_says_how_to_mount_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(uf2.DRIVE_ENV, str(tmp_path))  # a folder without INFO_UF2.TXT is no UF2 drive
    real_which = shutil.which
    monkeypatch.setattr(platformio.shutil, "which", lambda name, *a, **k: "/usr/bin/picotool" if name == "picotool" else real_which(name))
    with pytest.raises(ToolMissingError, match="no RPI-RP2 drive is mounted .* hold BOOTSEL .*, or pass --protocol picotool"):
        platformio._check_uploader(get_board("raspberry_pi_pico"), "uf2")


def _pyocd_listing(bindir: Path, targets: list[str]) -> None:
    """A stand-in pyocd whose 'list --targets' prints ``targets`` as pyOCD's table does."""
    bindir.mkdir(exist_ok=True)
    rows = "".join(f"  {t:<24} STMicroelectronics  {t.upper():<16} pack\\n" for t in targets)
    script = bindir / "pyocd"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write('  Name  Vendor  Part Number  Source\\n{rows}')\n")
    script.chmod(0o755)


@pytest.mark.parametrize("installed", [[], ["stm32f746zgtx"]], ids=["no-pack", "pack-installed"])
def test_pyocd_target_not_built_in_needs_its_pack(installed: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chip pyOCD lacks (the F746 needs a CMSIS pack): a clear error naming `pyocd pack install`,
    never a download; fine once the user installed the pack."""
    _pyocd_listing(tmp_path / "bin", installed)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    f746 = get_board("nucleo_f746")
    board = dataclasses.replace(f746, pyocd_target="stm32f746zgtx", upload_protocols=("pyocd", *f746.upload_protocols))
    if installed:
        assert platformio._check_uploader(board, "pyocd") is None
        return
    with pytest.raises(ToolMissingError) as error:
        platformio._check_uploader(board, "pyocd")
    assert "pyOCD has no target stm32f746zgtx (the chip of nucleo_f746) built in" in str(error.value)
    assert "'pyocd pack install stm32f746zgtx'" in str(error.value)


def test_pyocd_without_a_target_in_the_manifest() -> None:
    board = dataclasses.replace(get_board("nucleo_f746"), upload_protocols=("pyocd", "stlink"))
    with pytest.raises(TinygenError, match="names no pyOCD target \\(debug.pyocd_target in .*nucleo_f746.json\\)"):
        platformio._check_pyocd_target(board)


# ---- UF2 against the format's specification (github.com/microsoft/uf2, README "File format") ----


def test_uf2_blocks_follow_the_spec() -> None:
    data = bytes(range(256)) * 2 + b"\x01\x02\x03"  # two full pages and a partial one
    blob = uf2.bin_to_uf2(data, 0x10000000, uf2.RP2040_FAMILY)
    assert len(blob) == 3 * 512
    for number in range(3):
        block = blob[number * 512 : (number + 1) * 512]
        magic0, magic1, flags, address, size, block_no, count, family = struct.unpack("<8I", block[:32])
        assert (magic0, magic1, struct.unpack("<I", block[508:])[0]) == (0x0A324655, 0x9E5D5157, 0x0AB16F30)
        assert flags == 0x00002000 and family == 0xE48BFF56  # familyID present: the RP2040's
        assert (address, size, block_no, count) == (0x10000000 + 256 * number, 256, number, 3)
        assert block[32 : 32 + 256] == data[256 * number : 256 * (number + 1)].ljust(256, b"\0")
        assert block[32 + 256 : 508] == bytes(476 - 256)  # the rest of the data field is zero
    assert block[32:35] == b"\x01\x02\x03"


def test_uf2_refuses_what_the_boot_rom_cannot_take() -> None:
    with pytest.raises(TinygenError, match="not 256-byte aligned"):
        uf2.bin_to_uf2(b"\0" * 4, 0x10000080, uf2.RP2040_FAMILY)
    with pytest.raises(TinygenError, match="empty"):
        uf2.bin_to_uf2(b"", 0x10000000, uf2.RP2040_FAMILY)


def test_pico_build_writes_the_uf2_of_its_binary(projects: dict[str, platformio.Project]) -> None:
    project = projects["raspberry_pi_pico"]
    platformio.build(project)
    image = project.bin.read_bytes()
    assert (project.build_dir / "firmware.uf2").read_bytes() == uf2.bin_to_uf2(image, 0x10000000, uf2.RP2040_FAMILY)
