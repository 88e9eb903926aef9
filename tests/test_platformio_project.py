"""The firmware project `tinygen build` writes: the model library in lib/NAME (regenerated), the user's
src/main.c (written once from the template, never overwritten), tinygen's harness apps under generated/,
no absolute path into the installation or the project (it builds where it is moved), user boards that
travel with the project, and projects for PlatformIO's standard platforms with a framework."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from test_build import make_library
from tinygen import platformio
from tinygen.boards import get_board
from tinygen.cli import main
from tinygen.errors import TinygenError
from tinygen.resources import resource_dir

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "examples" / "digits" / "digits_cnn_int8.tflite"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("lib") / "fcnet")


def _text_files(root: Path) -> dict[Path, str]:
    """Every text file of a project but PlatformIO's build folder (.pio: build output, never committed)."""
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and ".pio" not in path.relative_to(root).parts:
            try:
                found[path] = path.read_text()
            except UnicodeDecodeError:
                continue
    return found


def _ini(project: platformio.Project) -> str:
    return (project.path / "platformio.ini").read_text()


def test_template_main_is_written_once_and_kept(library: Path, tmp_path: Path) -> None:
    board = get_board("nucleo_f746")
    project = platformio.prepare_firmware(library, board, tmp_path / "fw", app="template")
    main_c = project.path / "src" / "main.c"
    assert project.notes == ("wrote src/main.c from the template: it is yours now, a rebuild never overwrites it",)
    text = main_c.read_text()
    assert "fcnet_run()" in text and "TODO: your sensor data goes here" in text and "fcnet_INPUT_SCALE" in text
    assert "src_dir" not in _ini(project) and "-include" not in _ini(project)  # the user's src/, no harness hooks
    main_c.write_text(text.replace("int main(void)", "/* my code */\nint main(void)"))
    edited = main_c.read_text()

    again = platformio.prepare_firmware(library, board, tmp_path / "fw", app="template")
    assert again.notes == ("kept your src/main.c",) and main_c.read_text() == edited
    # the harness on the same project: built from generated/app/, the user's main.c untouched and not compiled
    bench = platformio.prepare_firmware(library, board, tmp_path / "fw", app="bench")
    assert bench.notes == ("built the bench app (generated/app/); your src/main.c is kept and not compiled "
                           "(build it with --app template)",)  # fmt: skip
    assert main_c.read_text() == edited
    ini = _ini(bench)
    assert "src_dir = generated/app" in ini and "-include generated/include/tg_hooks.h" in ini
    assert (bench.path / "generated" / "app" / "main.c").read_text() == (resource_dir("firmware") / "app" / "main.c").read_text()
    validate = platformio.prepare_firmware(library, board, tmp_path / "fw", app="validate")
    assert platformio.STREAM_APP_FLAG in _ini(validate) and main_c.read_text() == edited
    assert platformio.load_project(tmp_path / "fw").app == "validate"


def test_a_project_from_an_older_tinygen_gets_the_template(library: Path, tmp_path: Path) -> None:
    # older builds wrote the harness to src/main.c and generated headers to include/: not the user's code
    root = tmp_path / "fw"
    (root / "src").mkdir(parents=True)
    (root / "include").mkdir()
    (root / "src" / "main.c").write_text((resource_dir("firmware") / "app" / "main.c").read_text())
    (root / "include" / "tg_model.h").write_text(platformio.model_header("old"))
    (root / "include" / "mine.h").write_text("/* the user's */\n")
    project = platformio.prepare_firmware(library, get_board("mps2_an500"), root, app="template")
    assert project.notes[0].startswith("wrote src/main.c from the template")
    assert "fcnet_run()" in (root / "src" / "main.c").read_text()
    assert not (root / "include" / "tg_model.h").exists() and (root / "include" / "mine.h").is_file()


def test_unknown_app_is_refused(library: Path, tmp_path: Path) -> None:
    with pytest.raises(TinygenError, match="unknown app 'demo'; use one of template, bench, validate"):
        platformio.prepare_firmware(library, get_board("mps2_an500"), tmp_path / "fw", app="demo")


@pytest.mark.parametrize("app", ["template", "bench"])
def test_no_absolute_path_and_it_builds_where_it_is_moved(app: str, library: Path, tmp_path: Path) -> None:
    board = get_board("nucleo_f746")
    project = platformio.prepare_firmware(library, board, tmp_path / "fw", app=app, target="qemu")
    platformio.build(project)
    forbidden = [str(REPO), str(resource_dir("firmware")), str(resource_dir("boards")), str(project.path), str(library)]
    files = _text_files(project.path)
    assert {p.name for p in files} >= {"platformio.ini", "main.c", "tinygen-project.json", "fcnet.h", "tg_model.h"}
    for path, text in files.items():
        assert not [f for f in forbidden if f in text], path
    assert "platform = tinygen\n" in _ini(project) and f"board = {board.id}\n" in _ini(project)
    marker = json.loads((project.path / platformio.PROJECT_MARKER).read_text())
    assert not Path(marker["library"]).is_absolute() and (project.path / marker["library"]).resolve() == library.resolve()

    moved = tmp_path / "elsewhere" / "fw"
    shutil.copytree(project.path, moved, ignore=shutil.ignore_patterns(".pio"))
    shutil.rmtree(project.path)
    copy = platformio.load_project(moved)
    assert (copy.board.id, copy.target, copy.app) == (board.id, "qemu", app)
    result = platformio.build(copy)
    assert result.elf.is_relative_to(moved) and result.bin.is_file()


def test_a_user_board_travels_with_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(MODEL, home / "model.tflite")
    (home / "tinygen.toml").write_text('[model]\npath = "model.tflite"\n\n[build]\nboard = "my_f746"\n')
    monkeypatch.chdir(home)
    assert main(["boards", "--new", "my_f746", "--like", "nucleo_f746"]) == 0
    assert main(["build", "-o", "out"]) == 0, capsys.readouterr().err
    assert "wrote src/main.c from the template" in capsys.readouterr().out
    out = home / "out"
    assert (out / "boards" / "my_f746.json").read_text() == (home / "boards" / "my_f746.json").read_text()
    assert "boards_dir" not in (out / "platformio.ini").read_text()  # PlatformIO's default: the project's boards/
    for path, text in _text_files(out).items():
        assert str(home) not in text and str(REPO) not in text, path
    # from anywhere: the project's own copy of the manifest names the board
    monkeypatch.chdir(tmp_path)
    project = platformio.load_project(out)
    assert project.board.id == "my_f746" and project.board.user


def _framework_build(board: str, framework: str, out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["build", str(MODEL), "--board", board, "-o", str(out), "--framework", framework])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@pytest.mark.parametrize(
    ("framework", "source", "platform", "pio_board"),
    [
        ("stm32cube", "src/main.c", "ststm32", "nucleo_f746zg"),
        ("arduino", "src/main.cpp", "ststm32", "nucleo_f746zg"),
        ("zephyr", "src/main.c", "ststm32", "nucleo_f746zg"),
    ],
)
def test_framework_project(framework: str, source: str, platform: str, pio_board: str, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    out = _framework_build("nucleo_f746", framework, tmp_path / "fw", capsys)
    assert "needs internet on its first build" in out and "tinygen did not build or verify it (offline)" in out
    assert f"build it with: pio run -d {tmp_path / 'fw'}" in out
    ini = (tmp_path / "fw" / "platformio.ini").read_text()
    for line in (f"platform = {platform}", f"board = {pio_board}", f"framework = {framework}", "-Ilib/digits_cnn_int8",
                 "-Igenerated/include"):  # fmt: skip
        assert f"{line}\n" in ini
    assert "symlink://" not in ini and "NOT VERIFIED OFFLINE" in (tmp_path / "fw" / source).read_text()
    assert (tmp_path / "fw" / "lib" / "digits_cnn_int8" / "digits_cnn_int8.h").is_file()
    assert not (tmp_path / "fw" / ".pio").exists()  # nothing was built
    assert (tmp_path / "fw" / "zephyr" / "CMakeLists.txt").is_file() == (framework == "zephyr")
    with pytest.raises(TinygenError, match="targets PlatformIO's .* framework"):
        platformio.load_project(tmp_path / "fw")  # tinygen flash cannot upload it


def test_framework_without_a_board_mapping_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["build", str(MODEL), "--board", "nrf52840_dk", "-o", str(tmp_path / "fw"), "--framework", "arduino"])
    err = capsys.readouterr().err
    assert code == 1
    assert "board nrf52840_dk has no PlatformIO board for framework 'arduino' (its frameworks: zephyr)" in err
    assert not (tmp_path / "fw").exists()
    assert main(["build", str(MODEL), "--board", "mps2_an500", "-o", str(tmp_path / "fw"), "--framework", "zephyr"]) == 1
    assert "board mps2_an500 has no PlatformIO board for framework 'zephyr' (its frameworks: none)" in capsys.readouterr().err
    assert main(["build", str(MODEL), "--board", "nucleo_f746", "--framework", "zephyr", "--app", "bench"]) == 1
    assert "--app bench/validate and --qemu need tinygen's platform" in capsys.readouterr().err


def test_framework_mapping_in_manifests_is_checked(tmp_path: Path) -> None:
    from tinygen.boards import read_user_board

    data = json.loads((resource_dir("boards") / "nucleo_f746.json").read_text())
    data["tinygen"]["frameworks"] = {"zephyr": {"platform": "ststm32"}}
    path = tmp_path / "my_board.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TinygenError, match=r"my_board.json: tinygen.frameworks.zephyr: expected \{\"platform\""):
        read_user_board(path)


def test_every_builtin_framework_mapping_names_a_known_framework() -> None:
    from tinygen.boards import builtin_boards

    mapped = {board.id: board.frameworks for board in builtin_boards().values() if board.frameworks}
    assert {"nucleo_f746", "nucleo_h743zi", "nrf52840_dk"} <= set(mapped)
    for frameworks in mapped.values():
        assert set(frameworks) <= set(platformio.FRAMEWORK_APPS)
        assert all(entry["platform"] in ("ststm32", "nordicnrf52", "raspberrypi") for entry in frameworks.values())


def test_example_input_quantizes_back_to_the_vector() -> None:
    # the template quantizes these real values with the model's scale and zero point: they must give the
    # int8 vector back (round(x / scale) + zero_point, in float32 as the C code does)
    manifest = {"inputs": [{"dtype": "int8", "scale": 0.05000000074505806, "zero_point": -3, "bytes": 256}]}
    vector = np.arange(-128, 128, dtype=np.int8)
    header = platformio.example_input_header("m", manifest, vector)
    body = header[header.index("{") + 1 : header.index("}")]
    real = np.array([float(v.strip().rstrip("f")) for v in body.split(",")], np.float32)
    scaled = real / np.float32(0.05000000074505806)
    rounded = np.where(scaled >= 0, scaled + np.float32(0.5), scaled - np.float32(0.5)).astype(np.int64)
    assert np.array_equal(np.clip(rounded - 3, -128, 127), vector.astype(np.int64))


def test_a_kept_main_written_for_something_else_is_pointed_out(library: Path, tmp_path: Path) -> None:
    from test_build import fc_graph

    board = get_board("nucleo_f746")
    platformio.prepare_firmware(library, board, tmp_path / "fw", app="template")
    other = make_library(tmp_path / "other", fc_graph("other"))
    notes = platformio.prepare_firmware(other, board, tmp_path / "fw", app="template").notes
    assert notes == ("kept your src/main.c", "your src/main.c does not include other.h: was it written for another "
                     "model? Rename it and build again for a new one from the template")  # fmt: skip
    notes = platformio.prepare_framework_project(library, board, tmp_path / "fw", "stm32cube").notes
    assert notes == ("kept your src/main.c", "your src/main.c uses tinygen's platform API (tg_platform.h), which the "
                     "stm32cube framework does not have: rename it and build again for the stm32cube template")  # fmt: skip


@pytest.mark.parametrize("qemu", [False, True])
def test_bench_app_times_layers_only_in_a_board_build(qemu: bool, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """`build --app bench` for a board prints per-layer DWT cycles (TG-LAYERS); a QEMU build never does, so its
    instruction counts between marks stay the layers' own."""
    out = tmp_path / "fw"
    argv = ["build", str(MODEL), "--board", "nucleo_f746", "--app", "bench", "-o", str(out), *(["--qemu"] * qemu)]
    assert main(argv) == 0, capsys.readouterr().err
    assert (platformio.LAYER_CYCLES_FLAG in _ini(platformio.load_project(out))) is not qemu
