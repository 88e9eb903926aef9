"""`tinygen flash`: the right uploader command with the right file, through PlatformIO's upload
target. No board is attached: stand-in uploader scripts on PATH record their arguments."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from test_build import make_library
from tinygen import platformio
from tinygen.boards import get_board
from tinygen.cli import main

UPLOADERS = ("st-flash", "openocd", "nrfjprog", "JLinkExe")


@pytest.fixture()
def fake_uploaders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put recording st-flash/openocd/nrfjprog first on PATH; returns the log (one JSON argv a line)."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    log = tmp_path / "uploads.log"
    for name in UPLOADERS:
        script = bindir / name
        script.write_text(
            f"#!{sys.executable}\nimport json, os, sys\n"
            f"with open({str(log)!r}, 'a') as f:\n    f.write(json.dumps([os.path.basename(sys.argv[0])] + sys.argv[1:]) + '\\n')\n"
            "sys.exit(int(os.environ.get('FAKE_UPLOAD_EXIT', '0')))\n"
        )
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return log


def uploads(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("lib") / "fcnet")


def built(library: Path, board_id: str, where: Path, target: str = "board") -> platformio.Project:
    project = prepared(library, board_id, where, target)
    platformio.build(project)
    return project


def prepared(library: Path, board_id: str, where: Path, target: str = "board") -> platformio.Project:
    """A project written but not compiled: enough where flash must refuse before building."""
    return platformio.prepare_firmware(library, get_board(board_id), where, target=target)


def test_flash_project_with_st_flash(library: Path, tmp_path: Path, fake_uploaders: Path) -> None:
    project = built(library, "nucleo_f746", tmp_path / "fw")
    assert main(["flash", str(project.path)]) == 0
    assert uploads(fake_uploaders) == [["st-flash", "--reset", "write", str(project.bin), "0x08000000"]]


@pytest.mark.parametrize("protocol, interface", [("openocd", "stlink"), ("cmsis-dap", "cmsis-dap")])
def test_flash_with_openocd(library: Path, tmp_path: Path, fake_uploaders: Path, protocol: str, interface: str) -> None:
    project = built(library, "nucleo_h743zi", tmp_path / "fw")
    assert main(["flash", str(project.path), "--protocol", protocol]) == 0
    assert uploads(fake_uploaders) == [
        [
            "openocd", "-f", f"interface/{interface}.cfg", "-f", "target/stm32h7x.cfg",
            "-c", f"program {{{project.elf}}} verify reset exit",
        ]
    ]  # fmt: skip


def test_flash_nrf52840_with_nrfjprog(library: Path, tmp_path: Path, fake_uploaders: Path) -> None:
    project = built(library, "nrf52840_dk", tmp_path / "fw")
    assert main(["flash", str(project.path), "--board", "nrf52840_dk", "--protocol", "nrfjprog"]) == 0
    assert uploads(fake_uploaders) == [
        ["nrfjprog", "-f", "nrf52", "--program", str(project.hex), "--sectorerase", "--verify", "--reset"]
    ]
    assert project.hex.read_text().startswith(":")  # Intel HEX


def test_flash_nrf52840_with_jlink(library: Path, tmp_path: Path, fake_uploaders: Path) -> None:
    project = built(library, "nrf52840_dk", tmp_path / "fw")
    assert main(["flash", str(project.path), "--protocol", "jlink"]) == 0
    script = project.build_dir / "upload.jlink"
    assert uploads(fake_uploaders) == [
        ["JLinkExe", "-device", "nrf52840", "-if", "SWD", "-speed", "4000", "-autoconnect", "1", "-CommanderScript", str(script)]
    ]
    assert f"loadfile {project.hex}" in script.read_text().splitlines()


def test_flash_model_builds_then_uploads(shared_models: Path, tmp_path: Path, fake_uploaders: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fw"
    model = str(shared_models / "hello_world_int8.tflite")
    assert main(["flash", model, "--board", "nucleo_g071rb", "-o", str(out)]) == 0
    binary = out / ".pio" / "build" / "tinygen" / "firmware.bin"
    assert binary.is_file() and "36,864 bytes" in capsys.readouterr().out
    assert uploads(fake_uploaders) == [["st-flash", "--reset", "write", str(binary), "0x08000000"]]


@pytest.mark.parametrize("hidden", [("st-flash",), ("st-flash", "openocd")])
def test_missing_uploader_names_the_fix(
    hidden: tuple[str, ...], library: Path, tmp_path: Path, fake_uploaders: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = prepared(library, "nucleo_f746", tmp_path / "fw")
    real_which = shutil.which
    monkeypatch.setattr(platformio.shutil, "which", lambda name, *a, **k: None if name in hidden else real_which(name, *a, **k))
    assert main(["flash", str(project.path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: st-flash (the 'stlink' uploader of nucleo_f746) is not installed")
    assert "sudo apt-get install stlink-tools" in err
    # an installed alternative is offered
    assert ("or pass --protocol openocd (openocd is installed)" in err) == ("openocd" not in hidden)
    assert uploads(fake_uploaders) == []


def test_failing_uploader_is_an_error(library: Path, tmp_path: Path, fake_uploaders: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    project = built(library, "nucleo_f746", tmp_path / "fw")
    monkeypatch.setenv("FAKE_UPLOAD_EXIT", "1")
    assert main(["flash", str(project.path)]) == 1
    assert "firmware upload failed for board nucleo_f746" in capsys.readouterr().err
    assert len(uploads(fake_uploaders)) == 1


def test_flash_refuses_what_cannot_be_flashed(library: Path, tmp_path: Path, fake_uploaders: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qemu_board = prepared(library, "mps2_an505", tmp_path / "an505")
    assert main(["flash", str(qemu_board.path)]) == 1
    assert "QEMU machine: there is nothing to flash" in capsys.readouterr().err
    stand_in = prepared(library, "nucleo_f746", tmp_path / "standin", target="qemu")
    assert main(["flash", str(stand_in.path)]) == 1
    assert "rebuild it without --qemu" in capsys.readouterr().err
    board_build = prepared(library, "nucleo_f746", tmp_path / "f746")
    assert main(["flash", str(board_build.path), "--protocol", "nrfjprog"]) == 1
    assert "cannot be flashed with 'nrfjprog'; use one of stlink, openocd, cmsis-dap" in capsys.readouterr().err
    assert main(["flash", str(board_build.path), "--board", "nrf52840_dk"]) == 1
    assert "was built for board nucleo_f746" in capsys.readouterr().err
    assert uploads(fake_uploaders) == []
    assert not (board_build.path / ".pio").exists()  # refused before compiling anything


def test_flash_without_arguments_uses_tinygen_toml(
    shared_models: Path, tmp_path: Path, fake_uploaders: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hello.tflite").write_bytes((shared_models / "hello_world_int8.tflite").read_bytes())
    assert main(["init", "hello.tflite", "--board", "disco_f746ng"]) == 0
    assert main(["flash"]) == 0
    binary = tmp_path / "out" / "hello-disco_f746ng" / ".pio" / "build" / "tinygen" / "firmware.bin"
    assert uploads(fake_uploaders) == [["st-flash", "--reset", "write", str(binary), "0x08000000"]]
