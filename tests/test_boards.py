"""Board manifests, board lookup, `tinygen boards`, tinygen.toml and `tinygen init` (no compiling)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinygen import project
from tinygen.boards import Board, board_names, get_board, list_boards
from tinygen.cli import main
from tinygen.errors import TinygenError
from tinygen.resources import resource_dir

KB = 1024
MB = 1024 * KB

#: data-sheet figures: core, FPU, DSP, flash, RAM, QEMU stand-in machine
DATASHEET = {
    "blackpill_f411ce": ("cortex-m4", "fpv4-sp-d16", True, 512 * KB, 128 * KB, "netduinoplus2"),
    "nucleo_f411re": ("cortex-m4", "fpv4-sp-d16", True, 512 * KB, 128 * KB, "mps2-an386"),
    "nucleo_f746": ("cortex-m7", "fpv5-sp-d16", True, 1 * MB, 320 * KB, "mps2-an500"),
    "disco_f746ng": ("cortex-m7", "fpv5-sp-d16", True, 1 * MB, 320 * KB, "mps2-an500"),
    "nucleo_h743zi": ("cortex-m7", "fpv5-d16", True, 2 * MB, 512 * KB, "mps2-an500"),
    "nucleo_l4r5zi": ("cortex-m4", "fpv4-sp-d16", True, 2 * MB, 640 * KB, "mps2-an386"),
    "nucleo_u575zi": ("cortex-m33", "fpv5-sp-d16", True, 2 * MB, 768 * KB, "mps2-an505"),
    "nrf52840_dk": ("cortex-m4", "fpv4-sp-d16", True, 1 * MB, 256 * KB, "mps2-an386"),
    "nucleo_g071rb": ("cortex-m0plus", "none", False, 128 * KB, 36 * KB, "mps2-an385"),
    "arduino_nano_33_ble": ("cortex-m4", "fpv4-sp-d16", True, 960 * KB, 256 * KB, "mps2-an386"),  # app above the 64 KB bootloader
    "raspberry_pi_pico": ("cortex-m0plus", "none", False, 2 * MB, 264 * KB, "mps2-an385"),
    "mps2_an385": ("cortex-m3", "none", False, 4 * MB, 4 * MB, "mps2-an385"),
    "mps2_an386": ("cortex-m4", "fpv4-sp-d16", True, 4 * MB, 4 * MB, "mps2-an386"),
    "mps2_an500": ("cortex-m7", "fpv5-d16", True, 4 * MB, 4 * MB, "mps2-an500"),
    "mps2_an505": ("cortex-m33", "fpv5-sp-d16", True, 4 * MB, 4 * MB, "mps2-an505"),
    "mps3_an547": ("cortex-m55", "auto", True, 512 * KB, 512 * KB, "mps3-an547"),
}


def test_every_board_is_listed() -> None:
    assert sorted(b.id for b in list_boards()) == sorted(DATASHEET)


@pytest.mark.parametrize("board_id", sorted(DATASHEET))
def test_board_matches_datasheet(board_id: str) -> None:
    core, fpu, dsp, flash, ram, machine = DATASHEET[board_id]
    board = get_board(board_id)
    assert (board.core, board.fpu, board.has_dsp, board.flash.size, board.ram.size, board.machine) == (
        core, fpu, dsp, flash, ram, machine
    )  # fmt: skip
    assert f"-mcpu={core}" in board.cpu_flags and "-mthumb" in board.cpu_flags
    if fpu in ("none",):
        assert "-mfloat-abi=soft" in board.cpu_flags and not board.has_fpu
    else:
        assert "-mfloat-abi=hard" in board.cpu_flags and board.has_fpu
        assert fpu == "auto" or f"-mfpu={fpu}" in board.cpu_flags
    assert board.has_mve == (core == "cortex-m55")


@pytest.mark.parametrize("path", sorted(resource_dir("boards").glob("*.json")), ids=lambda p: p.stem)
def test_platformio_fields_agree_with_tinygen_section(path: Path) -> None:
    data = json.loads(path.read_text())
    board = get_board(path.stem)
    assert data["build"]["cpu"] == board.core
    assert data["upload"]["maximum_size"] == board.flash.size
    assert data["upload"]["maximum_ram_size"] == board.ram.size
    assert data["upload"]["protocol"] in data["upload"]["protocols"] == list(board.upload_protocols)
    assert int(data["build"]["f_cpu"].rstrip("L")) == board.clock_hz
    stand_in = board.stand_in()
    assert (stand_in.is_qemu or stand_in.runs_in_qemu) and stand_in.machine == board.machine
    # same core, except the M0+ whose (Thumb-1) build runs on the M3 machine
    assert stand_in.core == board.core or (board.core, stand_in.core) == ("cortex-m0plus", "cortex-m3")
    # every DSP/FPU instruction the board's build may use also executes on the stand-in
    assert stand_in.has_dsp >= board.has_dsp and stand_in.has_fpu >= board.has_fpu


def test_stand_in_machines_are_ones_the_emulator_runs() -> None:
    from tinygen.emulator import MACHINES

    assert {b.machine for b in list_boards()} <= set(MACHINES)


def test_hardware_boards_use_their_real_memory_map_and_uploaders() -> None:
    f746 = get_board("nucleo_f746")
    assert (f746.flash.origin, f746.ram.origin) == (0x08000000, 0x20000000)
    assert f746.upload_protocol == "stlink" and f746.openocd_target == "stm32f7x"
    assert f746.console["kind"] == "stm32_usart" and f746.timer == "dwt"
    nrf = get_board("nrf52840_dk")
    assert (nrf.flash.origin, nrf.upload_protocol) == (0, "pyocd")
    nano = get_board("arduino_nano_33_ble")
    assert (nano.flash.origin, nano.upload_protocol) == (0x10000, "bossac")  # above Arduino's bootloader
    pico = get_board("raspberry_pi_pico")
    assert (pico.flash.origin, pico.upload_protocol, pico.uf2_family) == (0x10000000, "uf2", 0xE48BFF56)  # XIP flash
    g0 = get_board("nucleo_g071rb")
    assert g0.timer == "systick"  # the M0+ has no DWT cycle counter
    an547 = get_board("mps3_an547")
    assert (an547.flash.origin, an547.ram.origin) == (0x10000000, 0x30000000)  # Secure ITCM / DTCM


def test_aliases_and_spelling_variants_resolve() -> None:
    assert get_board("nucleo_f746zg").id == "nucleo_f746"
    assert get_board("NUCLEO-F746ZG").id == "nucleo_f746"
    assert get_board("mps2-an505").id == "mps2_an505"
    assert "nucleo_f746zg" in board_names()


def test_unknown_board_lists_close_matches() -> None:
    with pytest.raises(TinygenError) as info:
        get_board("nucleo_f74")
    message = str(info.value)
    assert "unknown board 'nucleo_f74'" in message and "nucleo_f746" in message and "tinygen boards" in message


def test_unknown_board_without_close_match_lists_all() -> None:
    with pytest.raises(TinygenError, match="known boards: .*mps3_an547"):
        get_board("zz_no_such_board")


def test_boards_command_prints_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    for board in list_boards():
        assert board.id in out
    assert "cortex-m0plus" in out and "mps3-an547" in out and "36 KB" in out and "320 KB" in out


def test_cli_unknown_board_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "m.tflite"
    model.write_bytes(b"not read: the board is checked first")
    assert main(["build", str(model), "--board", "nucleo_f74", "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown board") and "nucleo_f746" in err and "Traceback" not in err


# ---- tinygen.toml and tinygen init ----


def test_toml_round_trip(tmp_path: Path) -> None:
    (tmp_path / "tinygen.toml").write_text(
        project.render("models/kws.keras", "nucleo_f746", calibration="calib.npy", observer="mse", rounding="single")
    )
    loaded = project.load(tmp_path / "tinygen.toml")
    assert loaded.model == tmp_path / "models" / "kws.keras"
    assert loaded.calibration == str(tmp_path / "calib.npy")
    assert (loaded.board, loaded.observer, loaded.quantizer, loaded.rounding) == ("nucleo_f746", "mse", "tinygen", "single")


@pytest.mark.parametrize(
    "text, problem",
    [
        ("[model]\npath = 'a.tflite'\nbord = 'x'\n", "unknown keys bord"),
        ("[build]\nboard = 'x'\n", "has no 'path'"),
        ("[model\n", "cannot read it"),
    ],
)
def test_toml_errors_name_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "tinygen.toml").write_text(text)
    with pytest.raises(TinygenError, match=problem):
        project.load(tmp_path / "tinygen.toml")


def test_init_writes_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.tflite").write_bytes(b"x")
    assert main(["init", "--board", "nucleo_f746zg"]) == 0
    loaded = project.load(tmp_path / "tinygen.toml")
    assert loaded.model == tmp_path / "model.tflite" and loaded.board == "nucleo_f746"
    assert main(["init", "--board", "nucleo_f746"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["init", "model.tflite", "--board", "mps2_an385", "--force"]) == 0
    assert project.load(tmp_path / "tinygen.toml").board == "mps2_an385"


def test_init_keras_needs_calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.keras").write_bytes(b"x")
    assert main(["init", "net.keras", "--board", "nucleo_f746"]) == 1
    assert "--calibration" in capsys.readouterr().err
    (tmp_path / "calib.npy").write_bytes(b"x")
    assert main(["init", "net.keras", "--board", "nucleo_f746", "--calibration", "calib.npy"]) == 0
    assert project.load(tmp_path / "tinygen.toml").calibration == str(tmp_path / "calib.npy")


def test_build_without_model_or_toml_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--board", "nucleo_f746"]) == 1
    assert "tinygen init" in capsys.readouterr().err


@pytest.mark.parametrize("board", [b for b in list_boards() if not b.is_qemu], ids=lambda b: b.id)
def test_hardware_console_settings_are_valid(board: Board) -> None:
    console = board.console
    assert console["kind"] in ("stm32_usart", "nrf_uart", "rp2040_uart"), "every hardware board prints its results somewhere"
    assert console["baud"] == 115200
    peripheral = range(0x40000000, 0x60000000)
    assert int(console["base"], 16) in peripheral
    if console["kind"] == "stm32_usart":
        assert console["bus"] in (1, 2) and console.get("registers", "v2") in ("v1", "v2")
        assert 1 <= len(console["enable"]) <= 4
        assert all(int(e["reg"], 16) in peripheral and 0 <= e["bit"] < 32 for e in console["enable"])
        assert int(console["tx"]["gpio"], 16) in peripheral and 0 <= console["tx"]["pin"] < 16 and 0 <= console["tx"]["af"] < 16


def test_boards_qemu_runs_unchanged_and_the_stand_ins() -> None:
    blackpill = get_board("blackpill_f411ce")
    assert blackpill.runs_in_qemu and not blackpill.is_qemu and blackpill.stand_in() is blackpill
    assert get_board("mps2_an386").is_qemu and not get_board("nucleo_f746").runs_in_qemu
    assert get_board("weact_f411ce").id == "blackpill_f411ce"
