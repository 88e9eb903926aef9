"""A project's own boards: boards/NAME.json next to tinygen.toml, found before the built-in ones,
written by `tinygen boards --new NAME --like ID`, checked key by key, respected by `tinygen build`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from tinygen.boards import get_board, list_boards
from tinygen.cli import main
from tinygen.errors import TinygenError

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "examples" / "digits" / "digits_cnn_int8.tflite"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (tinygen.toml) as the current directory."""
    (tmp_path / "tinygen.toml").write_text('[model]\npath = "model.tflite"\n\n[build]\nboard = "my_f746"\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def new_board(name: str = "my_f746", like: str = "nucleo_f746", edit: Callable[[dict], Any] | None = None) -> Path:
    assert main(["boards", "--new", name, "--like", like]) == 0
    path = Path("boards") / f"{name}.json"
    if edit is not None:
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))
    return path


def _parent(data: dict, key: str) -> tuple[dict, str]:
    """The object holding dotted ``key`` and the key's last part."""
    *parents, last = key.split(".")
    for part in parents:
        data = data[part]
    return data, last


def _delete(key: str) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        node, last = _parent(data, key)
        del node[last]
    return edit


def _set(key: str, value: Any) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        node, last = _parent(data, key)
        node[last] = value
    return edit


def set_ram(size: Any) -> Callable[[dict], None]:
    return _set("tinygen.memory.ram.size", size)


def test_project_board_is_found(project: Path) -> None:
    new_board(edit=set_ram(64 * 1024))
    board = get_board("my_f746")
    assert board.user and board.path == project / "boards" / "my_f746.json" and board.ram.size == 64 * 1024
    assert board.core == "cortex-m7" and board.stand_in().id == "mps2_an500"
    assert "my_f746" in [b.id for b in list_boards()] and not get_board("nucleo_f746").user


def test_boards_folder_outside_a_project_is_ignored(project: Path) -> None:
    new_board()
    (project / "tinygen.toml").unlink()
    with pytest.raises(TinygenError, match="unknown board 'my_f746'"):
        get_board("my_f746")


def test_project_board_overrides_builtin(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new_board("nucleo_f746", edit=set_ram(128 * 1024))
    assert "replaces the built-in nucleo_f746" in capsys.readouterr().out
    for name in ("nucleo_f746", "nucleo_f746zg"):  # the built-in's alias names its replacement
        board = get_board(name)
        assert board.user and board.ram.size == 128 * 1024
    assert [b.id for b in list_boards()].count("nucleo_f746") == 1
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"nucleo_f746 .*128 KB.*boards/nucleo_f746\.json \(replaces the built-in\)", out)
    assert re.search(r"nucleo_f411re .*built-in", out)


def test_new_copies_like_board(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = new_board()
    assert "wrote boards/my_f746.json, a copy of nucleo_f746" in capsys.readouterr().out
    copy, original = json.loads(path.read_text()), json.loads(get_board("nucleo_f746").path.read_text())
    assert copy["tinygen"]["memory"] == original["tinygen"]["memory"] and copy["build"] == original["build"]
    assert copy["tinygen"]["aliases"] == [] and copy["name"] == original["name"] + " (my_f746)"
    # QEMU models the Black Pill's chip: a copy of it runs its own firmware there too
    new_board("my_pill", like="blackpill_f411ce")
    assert get_board("my_pill").runs_in_qemu and get_board("my_pill").machine == "netduinoplus2"


def test_new_refuses_to_overwrite_without_force(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = new_board(edit=set_ram(1024))
    assert main(["boards", "--new", "my_f746", "--like", "nucleo_f746"]) == 1
    assert "exists; edit it, or pass --force" in capsys.readouterr().err
    assert get_board("my_f746").ram.size == 1024
    assert main(["boards", "--new", "my_f746", "--like", "nucleo_f746", "--force"]) == 0
    assert get_board("my_f746").ram.size == 320 * 1024 and path.is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["--new", "My-Board", "--like", "nucleo_f746"], "board name 'My-Board': use lowercase letters"),
    (["--new", "2fast", "--like", "nucleo_f746"], "board name '2fast'"),
    (["--new", "my_f746"], "--new my_f746 needs --like BOARD"),
    (["--like", "nucleo_f746"], "--like and --force go with --new NAME"),
    (["--new", "my_f746", "--like", "nucleo_f74"], "unknown board 'nucleo_f74': did you mean"),
])  # fmt: skip
def test_new_rejects_bad_arguments(project: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(["boards", *args]) == 1
    assert message in capsys.readouterr().err and not (project / "boards" / "my_f746.json").exists()


def test_new_needs_a_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["boards", "--new", "my_f746", "--like", "nucleo_f746"]) == 1
    assert "no tinygen.toml here" in capsys.readouterr().err and not (tmp_path / "boards").exists()


def _overclock(data: dict) -> None:
    data["tinygen"]["clock_hz"] = data["tinygen"]["clock"]["sysclk_hz"] = 240_000_000


#: a hand edit -> the one-line error (after "board manifest boards/my_f746.json: ")
BAD_EDITS = {
    "missing key": (_delete("tinygen.stack_size"), "tinygen.stack_size: missing; expected a number"),
    "missing section": (_delete("tinygen.memory"), "tinygen.memory.flash.origin: missing; expected a number"),
    "wrong type bool": (_set("tinygen.has_dsp", "yes"), "tinygen.has_dsp: expected true or false, got 'yes'"),
    "wrong type list": (_set("tinygen.cpu_flags", "-mcpu=cortex-m7"), "tinygen.cpu_flags: expected a list of strings"),
    "not an object": (_set("tinygen.memory", 5), "tinygen.memory: expected an object (with 'flash'), got 5"),
    "unknown core": (_set("tinygen.core", "cortex-m5"), "tinygen.core: unknown core 'cortex-m5'; expected one of cortex-m0plus"),
    "RAM size text": (set_ram("320K"), "tinygen.memory.ram.size: expected a number (an integer >= 0, or a string such as \"0x20000000\"), got '320K'"),
    "RAM size bool": (set_ram(True), "tinygen.memory.ram.size: expected a number"),
    "RAM size negative": (set_ram(-4096), "tinygen.memory.ram.size: expected a number (an integer >= 0"),
    "flash size fraction": (_set("tinygen.memory.flash.size", 1.5), "tinygen.memory.flash.size: expected a number"),
    "RAM size zero": (set_ram(0), "tinygen.memory.ram.size: expected a size in bytes above 0"),
    "flash size float text": (_set("tinygen.memory.flash.size", "1.5e6"), "tinygen.memory.flash.size: expected a number"),
    "clock table short": (_overclock, "tinygen.clock.flash_wait_states.max_hclk_hz: the table stops at 216,000,000 Hz "
                                      "but HCLK is 240,000,000 Hz"),
    "clock table entry": (_set("tinygen.clock.flash_wait_states.max_hclk_hz", [30e6, "fast"]),
                          "tinygen.clock.flash_wait_states.max_hclk_hz[1]: expected a number"),
    "clock disagrees": (_set("tinygen.clock_hz", 200_000_000), "tinygen.clock_hz: 200,000,000 Hz, but tinygen.clock.sysclk_hz is 216,000,000 Hz"),
    "stand-in": (_set("tinygen.qemu.board", "nucleo_h743zi"), "tinygen.qemu: board 'nucleo_h743zi' with machine 'mps2-an500' is not a QEMU board"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_EDITS))
def test_bad_manifest_is_one_line_error(project: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    edit, message = BAD_EDITS[case]
    new_board(edit=edit)
    capsys.readouterr()
    assert main(["boards"]) == 1
    err = capsys.readouterr().err
    assert err == f"error: board manifest boards/my_f746.json: {message}" + err.split(message, 1)[1]
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_json_and_file_name(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "boards").mkdir()
    (project / "boards" / "broken.json").write_text('{"name": "x",}')
    assert main(["boards"]) == 1
    assert "board manifest boards/broken.json: not valid JSON (Expecting property name" in capsys.readouterr().err
    (project / "boards" / "broken.json").unlink()
    (project / "boards" / "My-Board.json").write_text("{}")
    assert main(["build", "--board", "nucleo_f746"]) == 1
    assert "board manifest boards/My-Board.json: the file name is the board id" in capsys.readouterr().err


def test_build_fit_check_uses_project_board_ram(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The model fits the built-in Nucleo-F746 but not the project's copy with 4 KB of RAM."""
    (project / "model.tflite").write_bytes(MODEL.read_bytes())
    new_board(edit=set_ram(4096))
    assert main(["build", "-o", "out"]) == 1
    err = capsys.readouterr().err
    assert "does not fit board my_f746: RAM needs" in err and "but my_f746 has 4,096: " in err


def test_build_links_with_project_board_ram(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "model.tflite").write_bytes(MODEL.read_bytes())
    new_board(edit=set_ram(192 * 1024))
    assert main(["build", "-o", "out"]) == 0, capsys.readouterr().err
    script = (project / "out" / ".pio" / "build" / "tinygen" / "tinygen.ld").read_text()
    assert re.search(r"RAM\s+\(rwx\) : ORIGIN = 0x20000000, LENGTH = 196608\b", script)
    assert re.search(r"RAM: +[0-9,]+ / 196,608 bytes", capsys.readouterr().out)
