"""``tinygen export arduino``: a generated library as an Arduino library ZIP.

The ZIP's layout and library.properties are checked, and its example sketch and sources are
compiled the way the Arduino build does (the .ino as C++ after ``#include <Arduino.h>``, against a
stand-in Arduino.h; every .c of src/ as gnu11 C) for Cortex-M0+, M4 and M33, compile only.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinygen import codegen, export_arduino
from tinygen.cli import main
from tinygen.ir import Graph, Op, Quantization, Tensor

GCC = shutil.which("arm-none-eabi-gcc")
GXX = shutil.which("arm-none-eabi-g++")
NM = shutil.which("arm-none-eabi-nm")
needs_arm = pytest.mark.skipif(
    GCC is None or GXX is None,
    reason="arm-none-eabi-gcc/g++ absent (apt-get install gcc-arm-none-eabi)",
)

# A stand-in for the cores' Arduino.h: ArduinoCore-API's Print overloads (so an ambiguous
# Serial.print() call fails here as it would there), Serial, micros(), millis(), delay().
ARDUINO_H = """\
#ifndef Arduino_h
#define Arduino_h
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#define DEC 10
#define HEX 16
#ifdef __cplusplus
extern "C" {
#endif
unsigned long micros(void);
unsigned long millis(void);
void delay(unsigned long ms);
void setup(void);
void loop(void);
#ifdef __cplusplus
}
class Print {
 public:
  size_t print(const char[]);
  size_t print(char);
  size_t print(unsigned char, int = DEC);
  size_t print(int, int = DEC);
  size_t print(unsigned int, int = DEC);
  size_t print(long, int = DEC);
  size_t print(unsigned long, int = DEC);
  size_t print(long long, int = DEC);
  size_t print(unsigned long long, int = DEC);
  size_t print(double, int = 2);
  size_t println(const char[]);
  size_t println(char);
  size_t println(unsigned char, int = DEC);
  size_t println(int, int = DEC);
  size_t println(unsigned int, int = DEC);
  size_t println(long, int = DEC);
  size_t println(unsigned long, int = DEC);
  size_t println(long long, int = DEC);
  size_t println(unsigned long long, int = DEC);
  size_t println(double, int = 2);
  size_t println(void);
};
class HardwareSerial : public Print {
 public:
  void begin(unsigned long baud);
  operator bool();
};
extern HardwareSerial Serial;
#endif
#endif
"""


# ---------------------------------------------------------------------------------------------
# Libraries to export


def _two_inputs_graph() -> Graph:
    """Two int8 inputs -> ADD -> FULLY_CONNECTED -> an int8 output, and its ARG_MAX (an int32 output)."""
    rng = np.random.default_rng(15)
    g = Graph("two_in")
    g.add_tensor(Tensor("a", (1, 16), "int8", Quantization([0.05], [-3])))
    g.add_tensor(Tensor("b", (1, 16), "int8", Quantization([0.04], [2])))
    g.add_tensor(Tensor("s", (1, 16), "int8", Quantization([0.08], [1])))
    g.add_op(Op("add", "add0", ["a", "b"], ["s"], {"activation": "none"}))
    weights = rng.integers(-127, 128, (12, 16)).astype(np.int8)
    g.add_tensor(
        Tensor(
            "w",
            (12, 16),
            "int8",
            Quantization(np.array([0.01], np.float32), np.zeros(1, np.int64)),
            weights,
        )
    )
    g.add_tensor(Tensor("y", (1, 12), "int8", Quantization([0.1], [-5])))
    g.add_op(
        Op(
            "fully_connected",
            "fc0",
            ["s", "w"],
            ["y"],
            {"activation": "relu", "keep_num_dims": False},
        )
    )
    g.add_tensor(Tensor("k", (1,), "int32"))
    g.add_op(Op("arg_max", "k", ["y"], ["k"], {"axis": 1}))
    g.inputs, g.outputs = ["a", "b"], ["y", "k"]
    return g


@pytest.fixture(scope="module")
def two_in_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lib") / "two_in"
    codegen.generate(_two_inputs_graph(), out)
    return out


@pytest.fixture(scope="module")
def hello_lib(tmp_path_factory: pytest.TempPathFactory, shared_models: Path) -> Path:
    model = shared_models / "hello_world_int8.tflite"
    if not model.is_file():
        pytest.skip(f"{model} is absent")
    from tinygen.loader import load_graph

    out = tmp_path_factory.mktemp("lib") / "hello_world"
    codegen.generate(load_graph(str(model)), out, name="hello_world")
    return out


@pytest.fixture(params=["two_in", "hello_world"])
def library(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue("two_in_lib" if request.param == "two_in" else "hello_lib")


def _export(lib: Path, out: Path, *extra: str) -> int:
    return main(["export", "arduino", str(lib), "-o", str(out), *extra])


def _properties(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")]
    return {key: value for key, value in pairs}


# ---------------------------------------------------------------------------------------------
# The ZIP


def test_zip_holds_the_library_the_properties_and_the_example(library: Path, tmp_path: Path) -> None:
    manifest = json.loads((library / "manifest.json").read_text())
    name = manifest["name"]
    out = tmp_path / f"{name}.zip"
    assert _export(library, out) == 0
    with zipfile.ZipFile(out) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        example = f"{name}/examples/{name}_inference/{name}_inference.ino"
        files = {f"{name}/library.properties", example} | {f"{name}/src/{f}" for f in manifest["files"]}
        folders = {
            f"{name}/",
            f"{name}/src/",
            f"{name}/examples/",
            f"{name}/examples/{name}_inference/",
        }
        assert set(names) == files | folders and len(names) == len(set(names))
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == (0o40755 if info.is_dir() else 0o100644)
        for f in manifest["files"]:
            assert archive.read(f"{name}/src/{f}") == (library / f).read_bytes()
        for required in (f"{name}.h", f"{name}.c", f"{name}_weights.c", f"{name}_weights.h", f"{name}_config.h",
                         "manifest.json"):  # fmt: skip
            assert f"{name}/src/{required}" in names
        assert any(n.endswith("tg_common.h") for n in names)  # tg_common.h or NAME_tg_common.h
        assert any(n.startswith(f"{name}/src/{name}_tg_") and n.endswith(".c") for n in names)
        props = _properties(archive.read(f"{name}/library.properties").decode())
        sketch = archive.read(example).decode()
        header = archive.read(f"{name}/src/{name}.h").decode()
    assert props["name"] == name
    assert props["version"] == "0.1.0" or props["version"].count(".") == 2
    assert props["author"] == "tinygen" and props["maintainer"] == "tinygen"
    assert props["category"] == "Data Processing"
    assert props["architectures"] == "mbed,mbed_nano,mbed_portenta,mbed_giga,rp2040,samd"
    assert props["includes"] == f"{name}.h"
    assert props["sentence"] and props["paragraph"] and props["url"] == ""
    # C sources, C++ sketches: the header's extern "C" guards make the link work
    assert 'extern "C" {' in header and "#ifdef __cplusplus" in header
    assert f"#include <{name}.h>" in sketch
    assert f"{name}_NUM_INPUTS" in sketch and f"{name}_input_at(i)" in sketch and f"{name}_run()" in sketch
    for i in range(len(manifest["inputs"])):
        assert f"{name}_INPUT{i}_BYTES" in sketch
    for i in range(len(manifest["outputs"])):
        assert f"{name}_output_at({i})" in sketch
    assert "micros()" in sketch and "Serial.begin(115200)" in sketch


def test_the_zip_is_deterministic(two_in_lib: Path, tmp_path: Path) -> None:
    assert _export(two_in_lib, tmp_path / "a.zip") == 0
    copy = tmp_path / "copy" / "two_in"
    shutil.copytree(two_in_lib, copy)
    for f in copy.iterdir():
        os.utime(f, (1_700_000_000, 1_700_000_000))
    (copy / "notes.txt").write_text("the user's own file: not listed by the manifest, not packed\n")
    assert _export(copy, tmp_path / "b.zip") == 0
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_properties_of_a_name_starting_with_an_underscore(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    codegen.generate(_two_inputs_graph(), lib, name="_m")
    assert _export(lib, tmp_path / "m.zip") == 0
    with zipfile.ZipFile(tmp_path / "m.zip") as archive:
        props = _properties(archive.read("model_m/library.properties").decode())
        assert "model_m/src/_m.h" in archive.namelist()
        assert "model_m/examples/_m_inference/_m_inference.ino" in archive.namelist()
    assert props["name"] == "model_m" and props["includes"] == "_m.h"


# ---------------------------------------------------------------------------------------------
# Compiling it as the Arduino build would


def _compile_arduino_library(zip_path: Path, work: Path, cpu: str, extra: tuple[str, ...] = ()) -> list[Path]:
    """Unpack the ZIP as the IDE installs it and compile it as the Arduino build does; the objects,
    the sketch's first. ``extra``: flags of the board's core (a ``-std=`` one is the C++ dialect)."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(work / "libraries")
        (root,) = {n.split("/")[0] for n in archive.namelist()}
    lib = work / "libraries" / root
    (work / "core").mkdir()
    (work / "core" / "Arduino.h").write_text(ARDUINO_H)
    (work / "build").mkdir()
    cxx_std = next((flag for flag in extra if flag.startswith("-std=")), "-std=gnu++17")
    arch = [
        "-mcpu=" + cpu,
        "-mthumb",
        *(flag for flag in extra if not flag.startswith("-std=")),
        "-Os",
        "-ffunction-sections",
        "-fdata-sections",
        "-DARDUINO=10819",
    ]
    objects = []
    (ino,) = (lib / "examples").glob("*/*.ino")
    sketch = work / "build" / (ino.name + ".cpp")
    sketch.write_text("#include <Arduino.h>\n" + f'#line 1 "{ino}"\n' + ino.read_text())
    obj = work / "build" / (ino.name + ".o")
    cmd = [GXX, *arch, cxx_std, "-fno-exceptions", "-fno-rtti", "-Wall", "-Wextra", "-Werror",
           f"-I{work / 'core'}", f"-I{lib / 'src'}", "-c", str(sketch), "-o", str(obj)]  # fmt: skip
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    objects.append(obj)
    sources = sorted((lib / "src").rglob("*.c"))
    assert sources
    for source in sources:
        obj = work / "build" / (source.name + ".o")
        cmd = [
            GCC,
            *arch,
            "-std=gnu11",
            "-Wall",
            f"-I{work / 'core'}",
            f"-I{lib / 'src'}",
            "-c",
            str(source),
            "-o",
            str(obj),
        ]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
        objects.append(obj)
    return objects


def _symbols(obj: Path, undefined: bool) -> set[str]:
    assert NM is not None
    out = subprocess.run([NM, *(["-u"] if undefined else ["--defined-only"]), str(obj)],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


@needs_arm
@pytest.mark.parametrize(
    "cpu,extra",
    [
        (
            "cortex-m0plus",
            ("-std=gnu++11",),
        ),  # the SAMD core's C++ dialect (Arduino Zero, MKR)
        ("cortex-m4", ()),
        (
            "cortex-m4",
            ("-mfloat-abi=softfp", "-mfpu=fpv4-sp-d16", "-std=gnu++14"),
        ),  # Nano 33 BLE (mbed)
        ("cortex-m33", ()),
    ],
    ids=["m0plus", "m4", "m4-fpu", "m33"],
)
def test_the_example_and_the_library_compile_for_cortex_m(
    library: Path, tmp_path: Path, cpu: str, extra: tuple[str, ...]
) -> None:
    name = json.loads((library / "manifest.json").read_text())["name"]
    assert _export(library, tmp_path / "lib.zip") == 0
    objects = _compile_arduino_library(tmp_path / "lib.zip", tmp_path / "work", cpu, extra)
    if NM is None:
        return
    # the sketch calls the C functions by their C names (extern "C"), which the library defines
    wanted = _symbols(objects[0], undefined=True)
    assert {
        f"{name}_run",
        f"{name}_input_at",
        f"{name}_output_at",
        "micros",
        "delay",
    } <= wanted
    defined = set().union(*(_symbols(obj, undefined=False) for obj in objects[1:]))
    assert {f"{name}_run", f"{name}_input_at", f"{name}_output_at"} <= defined
    assert {s for s in wanted if s.startswith(name + "_")} <= defined


# ---------------------------------------------------------------------------------------------
# Errors


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_missing_library_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _export(tmp_path / "nope", tmp_path / "x.zip") == 1
    assert "no such folder" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists() and _leftovers(tmp_path) == []


def test_a_file_instead_of_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("x")
    assert _export(tmp_path / "f", tmp_path / "x.zip") == 1
    assert "is not a folder" in capsys.readouterr().err


def test_a_folder_without_a_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "model.h").write_text("int x;\n")
    assert _export(tmp_path / "lib", tmp_path / "x.zip") == 1
    err = capsys.readouterr().err
    assert "not a tinygen library folder" in err and "no manifest.json" in err
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda m: "{not json", "not valid JSON"),
        (lambda m: json.dumps({**m, "generator": "other"}), '"generator": "tinygen"'),
        (
            lambda m: json.dumps({**m, "files": [f for f in m["files"] if not f.endswith("two_in.h")]}),
            "two_in.h",
        ),
        (
            lambda m: json.dumps({**m, "files": [*m["files"], "../escape.c"]}),
            "bad file name",
        ),
        (lambda m: json.dumps({**m, "mve": True}), "Helium"),
    ],
    ids=["not-json", "not-tinygen", "no-header-listed", "unsafe-name", "mve"],
)
def test_a_bad_manifest(two_in_lib: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], edit, message) -> None:  # type: ignore[no-untyped-def]
    lib = tmp_path / "two_in"
    shutil.copytree(two_in_lib, lib)
    manifest = json.loads((lib / "manifest.json").read_text())
    (lib / "manifest.json").write_text(edit(manifest))
    assert _export(lib, tmp_path / "x.zip") == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()


def test_a_missing_header(two_in_lib: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lib = tmp_path / "two_in"
    shutil.copytree(two_in_lib, lib)
    (lib / "two_in.h").unlink()
    assert _export(lib, tmp_path / "x.zip") == 1
    err = capsys.readouterr().err
    assert "incomplete" in err and "two_in.h" in err
    assert not (tmp_path / "x.zip").exists()


def test_an_existing_output_needs_force(two_in_lib: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.zip"
    out.write_bytes(b"precious")
    assert _export(two_in_lib, out) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert _export(two_in_lib, out, "--force") == 0
    assert zipfile.is_zipfile(out)
    assert _leftovers(tmp_path) == []
    assert (out.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_output_folder_and_suffix(two_in_lib: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.zip").mkdir()
    assert _export(two_in_lib, tmp_path / "d.zip", "--force") == 1
    assert "it is a folder" in capsys.readouterr().err
    assert _export(two_in_lib, tmp_path / "x.tar") == 1
    assert "must be a .zip file" in capsys.readouterr().err
    assert not (tmp_path / "x.tar").exists()


def test_missing_parents_are_created(two_in_lib: Path, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "x.zip"
    assert _export(two_in_lib, out) == 0
    assert zipfile.is_zipfile(out)


def test_an_unwritable_output(two_in_lib: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert _export(two_in_lib, blocker / "sub" / "x.zip") == 1
    err = capsys.readouterr().err
    assert "cannot write" in err and "is in the way" in err
    if Path("/proc/self").is_dir():
        assert _export(two_in_lib, Path("/proc/tinygen-test/x.zip")) == 1
        assert "cannot write /proc/tinygen-test/x.zip" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        try:
            assert _export(two_in_lib, locked / "x.zip") == 1
            assert "no permission" in capsys.readouterr().err
        finally:
            locked.chmod(0o755)


@pytest.mark.parametrize("force", [False, True])
def test_a_failed_write_leaves_nothing_behind(
    two_in_lib: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    force: bool,
) -> None:
    """A failure at the last step (the rename) leaves OUT as it was and no temporary file, and removes the
    parent folders it created."""

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(args[1]))

    monkeypatch.setattr(export_arduino.os, "replace" if force else "link", full)
    out = tmp_path / "new" / "x.zip"
    assert _export(two_in_lib, out, *(["--force"] if force else [])) == 1
    assert "no space left" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    if force:
        (tmp_path / "new").mkdir()
        out.write_bytes(b"old")
        assert _export(two_in_lib, out, "--force") == 1
        assert out.read_bytes() == b"old" and _leftovers(out.parent) == []


def test_the_api_and_the_command_give_the_same_bytes(two_in_lib: Path, tmp_path: Path) -> None:
    lib = export_arduino.read_library(two_in_lib)
    data = export_arduino.zip_bytes(export_arduino.zip_entries(lib))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("two_in/src/two_in.c") == (two_in_lib / "two_in.c").read_bytes()
    assert _export(two_in_lib, tmp_path / "x.zip") == 0
    assert (tmp_path / "x.zip").read_bytes() == data
