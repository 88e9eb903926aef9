"""PlatformIO, fully offline: core provisioning, project generation and ``pio run``.

PlatformIO's registry is unreachable from our machines and every attempt to reach it stalls
about a minute, so tinygen never lets PlatformIO ask it for anything:

* the core lives in a directory tinygen owns (``$TINYGEN_HOME/pio``, default
  ``~/.cache/tinygen/pio``), with upgrade checks and telemetry off;
* the one core package a build needs, ``tool-scons``, is made from the ``scons`` PyPI package
  (the exact release PlatformIO requires) with a ``.piopm`` naming owner ``platformio``, which
  is what the core's package lookup matches;
* the dev-platform is tinygen's own (``firmware/platform``, linked into the core once with ``symlink://``)
  and declares no packages: it compiles with the system ``arm-none-eabi-gcc``; the core's ``boards/``
  links tinygen's boards, so a generated project names both (``platform = tinygen``, ``board = ID``)
  and holds no path into the installation.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from tinygen.boards import Board
from tinygen.errors import TinygenError, ToolMissingError
from tinygen.resources import resource_dir

ENV_NAME = "tinygen"
#: the name of tinygen's dev-platform in its PlatformIO core (firmware/platform/platform.json's)
PLATFORM_NAME = "tinygen"
#: PlatformIO 6.2 requires tool-scons ~4.41101.0, i.e. SCons 4.11.1 (PlatformIO's versioning).
SCONS_PACKAGE_VERSION = "4.41101.0"
SCONS_VERSION = "4.11.1"
APT_TOOLCHAIN = "sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
#: build flag selecting the firmware app's streaming validation mode (firmware/app/main.c, TG_APP_STREAM):
#: inputs arrive over the console UART instead of being embedded (``tinygen validate --port``)
STREAM_APP_FLAG = "-DTG_APP_STREAM=1"
#: build flag of the bench app built for a board (``tinygen build --app bench``): a TG-LAYERS line of per-layer
#: timer ticks (DWT cycles) per inference; never in the QEMU harness builds, whose marks count instructions
LAYER_CYCLES_FLAG = "-DTG_LAYER_CYCLES=1"


def tinygen_home() -> Path:
    if os.environ.get("TINYGEN_HOME"):
        return Path(os.environ["TINYGEN_HOME"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tinygen"


def core_dir() -> Path:
    """One core per tinygen installation: the core links tinygen's platform by its path, so two
    installations (a checkout and a wheel, say) sharing a core would keep re-linking it under
    each other's running builds."""
    platform = str(resource_dir("firmware") / "platform")
    return tinygen_home() / "pio" / hashlib.sha1(platform.encode()).hexdigest()[:12]


def pio_environ() -> dict[str, str]:
    """The environment every PlatformIO call runs with: our core, no network chatter."""
    env = dict(os.environ)
    env.update(
        PLATFORMIO_CORE_DIR=str(core_dir()),
        PLATFORMIO_DISABLE_UPGRADE_CHECK="true",
        PLATFORMIO_SETTING_ENABLE_TELEMETRY="No",
        PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL="36500",
        PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD="0",
        PLATFORMIO_NO_ANSI="true",
        PYTHONIOENCODING="utf-8",
    )
    return env


# ---------------------------------------------------------------------------------------------
# Tools


def find_toolchain() -> Path:
    """Check that arm-none-eabi-gcc and newlib are installed; return gcc's path."""
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        raise ToolMissingError(f"arm-none-eabi-gcc is not installed; install it with '{APT_TOOLCHAIN}'")
    probe = subprocess.run(
        [gcc, "--specs=nano.specs", "-print-file-name=libc_nano.a"], capture_output=True, text=True
    )
    if probe.returncode != 0 or not os.path.isabs(probe.stdout.strip()):
        raise ToolMissingError(f"newlib for arm-none-eabi is not installed; install it with '{APT_TOOLCHAIN}'")
    return Path(gcc)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock across processes (parallel test workers share one core)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_core() -> Path:
    """Provision the offline PlatformIO core once (cached): tool-scons and tinygen's platform."""
    import SCons

    if SCons.__version__ != SCONS_VERSION:
        raise ToolMissingError(
            f"PlatformIO needs SCons {SCONS_VERSION} but SCons {SCons.__version__} is installed; "
            f"run 'pip install scons=={SCONS_VERSION}'"
        )
    root = core_dir()
    platform = resource_dir("firmware") / "platform"
    if not _provisioned(root, platform):
        with _locked(root / ".tinygen.lock"):
            if not _provisioned(root, platform):
                _provision(root, platform)
                (root / ".tinygen-platform").write_text(str(platform))
    _link_boards(root)
    return root


def _link_boards(root: Path) -> None:
    """The core's ``boards/`` is tinygen's boards folder: PlatformIO looks for a project's board there (after
    the project's own boards/), so a project names its board and platform without a path (``platform =
    tinygen``, ``board = nucleo_f746``) and builds wherever tinygen is installed."""
    link, boards = root / "boards", resource_dir("boards")
    if link.is_symlink() and Path(os.readlink(link)) == boards:
        return
    staging = root / f"boards.tinygen-{os.getpid()}"
    staging.unlink(missing_ok=True)
    staging.symlink_to(boards, target_is_directory=True)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    os.replace(staging, link)  # atomic: a build running meanwhile sees the old link or the new one


def _provisioned(root: Path, platform: Path) -> bool:
    marker = root / ".tinygen-platform"
    return (
        marker.is_file()
        and marker.read_text() == str(platform)
        and (root / "packages" / "tool-scons" / ".piopm").is_file()
        and (root / "platforms" / f"{PLATFORM_NAME}.pio-link").is_file()
    )


def _provision(root: Path, platform: Path) -> None:
    """tool-scons from the installed SCons, then tinygen's platform linked into the core, once,
    so that parallel builds never race to register it."""
    import SCons

    package = root / "packages" / "tool-scons"
    if not (package / ".piopm").is_file():
        staging = package.with_name("tool-scons.tinygen-tmp")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(Path(SCons.__file__).parent, staging / "scons-local" / "SCons")
        (staging / "scons.py").write_text(
            "# SCons entry point for PlatformIO, provisioned offline by tinygen\n"
            "import os, sys\n"
            "sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'scons-local'))\n"
            "import SCons.Script\n"
            "SCons.Script.main()\n"
        )
        (staging / "package.json").write_text(
            json.dumps({"name": "tool-scons", "version": SCONS_PACKAGE_VERSION, "description": "SCons"})
        )
        # owner "platformio": the core looks its packages up by that owner.
        spec = {"owner": "platformio", "id": None, "name": "tool-scons", "requirements": None, "uri": None}
        (staging / ".piopm").write_text(
            json.dumps({"type": "tool", "name": "tool-scons", "version": SCONS_PACKAGE_VERSION, "spec": spec})
        )
        shutil.rmtree(package, ignore_errors=True)
        staging.rename(package)
    for stale in (root / "platforms").glob("*"):
        # an earlier checkout's platform link: replace it with this installation's
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale)
        else:
            stale.unlink()
    # registered under its name (not the folder's): generated projects say "platform = tinygen"
    spec = f"{PLATFORM_NAME}=symlink://{platform}"
    cmd = [sys.executable, "-m", "platformio", "pkg", "install", "-g", "--platform", spec]
    proc = subprocess.run(cmd, cwd=root, env=pio_environ(), capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise TinygenError(f"cannot register tinygen's PlatformIO platform {platform}:\n{proc.stdout}{proc.stderr}")


# ---------------------------------------------------------------------------------------------
# Projects


@dataclass(frozen=True)
class Project:
    path: Path
    board: Board
    model: str
    #: "board": the board's own memory map and console; "qemu": built with the board's CPU flags
    #: for its QEMU stand-in (the stand-in's memory map, semihosting console, its timer)
    target: str
    #: the app it builds (APPS): the user's src/main.c ("template") or tinygen's harness
    app: str = "bench"
    #: what the build did with the user's code, for the command to say (e.g. "kept your src/main.c")
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def build_dir(self) -> Path:
        return self.path / ".pio" / "build" / ENV_NAME

    @property
    def elf(self) -> Path:
        return self.build_dir / "firmware.elf"

    @property
    def bin(self) -> Path:
        return self.build_dir / "firmware.bin"

    @property
    def hex(self) -> Path:
        return self.build_dir / "firmware.hex"


@dataclass(frozen=True)
class BuildResult:
    project: Project
    elf: Path
    bin: Path
    hex: Path
    #: code + constants + .data initial values
    flash_used: int
    #: .data + .bss (arena included) + the reserved stack
    ram_used: int
    flash_size: int
    ram_size: int


def _write_if_changed(path: Path, text: str) -> None:
    # unchanged files keep their timestamps, so a rebuild compiles nothing
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _sync_tree(src: Path, dst: Path) -> None:
    """Make ``dst`` a copy of ``src`` (files only rewritten when their content differs)."""
    wanted = set()
    for item in src.rglob("*"):
        if item.is_dir() or "__pycache__" in item.parts:
            continue
        rel = item.relative_to(src)
        wanted.add(rel)
        target = dst / rel
        data = item.read_bytes()
        if not target.is_file() or target.read_bytes() != data:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    if dst.is_dir():
        wanted.add(Path("library.json"))  # write_project's own when the source has none
        for item in sorted(dst.rglob("*"), reverse=True):
            if item.is_file() and item.relative_to(dst) not in wanted:
                item.unlink()


def vectors_header(model: str, input_size: int, vectors: np.ndarray) -> str:
    """``tg_vectors.h``: the int8 input vectors the firmware runs, one row per vector."""
    vectors = np.asarray(vectors)
    if vectors.dtype != np.int8:
        raise TinygenError(
            f"input vectors for {model} must be int8, got {vectors.dtype}; quantize them with the model's "
            "input scale and zero point first"
        )
    vectors = vectors.reshape(len(vectors), -1) if vectors.ndim > 1 else vectors.reshape(1, -1)
    if vectors.shape[1] != input_size or len(vectors) == 0:
        raise TinygenError(
            f"input vectors have shape {vectors.shape}; model {model} needs rows of {input_size} int8 values"
        )
    rows = []
    for row in vectors:
        values = [str(int(v)) for v in row]
        lines = [", ".join(values[i : i + 24]) for i in range(0, len(values), 24)]
        rows.append("    {\n        " + ",\n        ".join(lines) + "\n    }")
    return (
        "/* Generated by tinygen: the input vectors the firmware runs. */\n"
        "#ifndef TG_VECTORS_H\n#define TG_VECTORS_H\n\n#include <stdint.h>\n\n"
        f"#define TG_NUM_VECTORS {len(vectors)}\n\n"
        f"static const int8_t tg_input_vectors[TG_NUM_VECTORS][{input_size}] = {{\n"
        + ",\n".join(rows)
        + "\n};\n\n#endif\n"
    )


def model_header(model: str, num_inputs: int = 1, num_outputs: int = 1) -> str:
    """``tg_model.h``: binds the app's TG_MODEL_* names to the library's ``<model>_`` API."""
    in_bytes = ", ".join(f"{model}_INPUT{i}_BYTES" for i in range(num_inputs))
    out_bytes = ", ".join(f"{model}_OUTPUT{i}_BYTES" for i in range(num_outputs))
    return (
        "/* Generated by tinygen: which model library the firmware app runs. */\n"
        "#ifndef TG_MODEL_H\n#define TG_MODEL_H\n\n#include <stdint.h>\n\n"
        f'#include "{model}.h"\n\n'
        f'#define TG_MODEL_NAME "{model}"\n'
        f"#define TG_MODEL_NUM_INPUTS {model}_NUM_INPUTS\n"
        f"#define TG_MODEL_NUM_OUTPUTS {model}_NUM_OUTPUTS\n"
        f"#define TG_MODEL_NUM_LAYERS {model}_NUM_LAYERS\n"
        f"#define TG_MODEL_INPUT_AT(i) {model}_input_at(i)\n"
        f"#define TG_MODEL_RUN() {model}_run()\n"
        f"#define TG_MODEL_OUTPUT_AT(i) {model}_output_at(i)\n"
        "/* bytes of each input (one after the other in a row of tg_input_vectors) and each output */\n"
        f"static const uint32_t tg_model_input_bytes[{num_inputs}] = {{{in_bytes}}};\n"
        f"static const uint32_t tg_model_output_bytes[{num_outputs}] = {{{out_bytes}}};\n\n#endif\n"
    )


def port_counts(manifest: dict) -> tuple[int, int]:
    """(inputs, outputs) of a library (1, 1 for a manifest from before multi-I/O libraries)."""
    return len(manifest.get("inputs", [None])), len(manifest.get("outputs", [None]))


def input_bytes(manifest: dict) -> int:
    """Bytes of one input vector of a library: every input, one after the other."""
    if "inputs" in manifest:
        return sum(int(p["bytes"]) for p in manifest["inputs"])
    return int(np.prod(manifest["input"]["shape"]))


def _memory_overrides(board: Board) -> list[str]:
    """platformio.ini lines that build ``board``'s code for its QEMU stand-in: the stand-in's
    memory map (no bigger than the board's, so what overflows the board overflows here), its
    console (semihosting, so QEMU exits with the status), its timer, and no clock bring-up (the
    stand-in has none of the chip's clock registers). None where QEMU runs the board's own build."""
    if board.runs_in_qemu:
        return []
    qemu = board.stand_in()
    flash = min(board.flash.size, qemu.flash.size)
    ram = min(board.ram.size, qemu.ram.size)
    lines = [
        f"board_tinygen.memory.flash.origin = 0x{qemu.flash.origin:08X}",
        f"board_tinygen.memory.flash.size = {flash}",
        f"board_tinygen.memory.ram.origin = 0x{qemu.ram.origin:08X}",
        f"board_tinygen.memory.ram.size = {ram}",
        f"board_tinygen.console.kind = {qemu.console['kind']}",
        f"board_tinygen.timer = {qemu.timer}",
    ]
    if board.clock:
        lines.append("board_tinygen.clock.family = none")
    return lines


def build_target(board: Board, target: str) -> str:
    """The build a ``target`` needs: "qemu" is the board's own build ("board") where QEMU models
    its chip (``Board.runs_in_qemu``)."""
    if target not in ("board", "qemu"):
        raise ValueError(f"unknown target {target!r}")
    return "board" if target == "qemu" and board.runs_in_qemu and not board.is_qemu else target


#: the firmware apps a project builds: "template", the user's src/main.c (written once from
#: firmware/app/template/main.c.j2, never overwritten); "bench", tinygen's test/benchmark harness
#: (firmware/app/main.c: the embedded vectors, TG-OUT/TG-TIME lines); "validate", the harness's streaming
#: validation mode (STREAM_APP_FLAG: inputs over the console UART, ``tinygen validate --port``)
APPS = ("template", "bench", "validate")
#: project folders tinygen owns and regenerates on every build: the harness sources and the generated headers
#: (not "tinygen/": PlatformIO takes a folder named as the platform for the platform itself)
HARNESS_DIR = "generated/app"
GENERATED_INCLUDE = "generated/include"
USER_MAIN = "src/main.c"
#: the first line of the harness: a src/main.c starting with it was written by an older tinygen, not a user
_HARNESS_HEAD = "/* tinygen's test/bench application"
#: headers older tinygen versions generated into the project's include/ (the user's folder now)
_LEGACY_HEADERS = ("tg_hooks.h", "tg_model.h", "tg_vectors.h")
_C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "float32": "float"}
_Q_RANGES = {"int8": (-128, 127), "int16": (-32768, 32767)}


def _c_float(value: float) -> str:
    # 9 significant digits name a float32 exactly; "2" is an int in C ("2f" is no literal): "2.0f"
    text = f"{float(np.float32(value)):.9g}"
    return f"{text}f" if any(c in text for c in ".e") else f"{text}.0f"


def example_input_header(model: str, manifest: dict, vector: np.ndarray) -> str:
    """``tg_example_input.h``: the template app's example input, the build's first input vector: real values
    (x = scale * (q - zero_point), which the app quantizes back to q) for a model with one quantized int8 or
    int16 input, its int8 bytes otherwise."""
    data = np.asarray(vector, np.int8).reshape(-1)
    head = (
        "/* Generated by tinygen (rewritten by each build): an example input for src/main.c, the build's first\n"
        "   input vector. Replace it with your sensor data in src/main.c, fill_input(). */\n"
        "#ifndef TG_EXAMPLE_INPUT_H\n#define TG_EXAMPLE_INPUT_H\n\n#include <stdint.h>\n\n"
    )
    port = _quantized_input(manifest)
    if port is not None:
        q = data.view(np.int16) if port["dtype"] == "int16" else data
        real = np.float32(port["scale"]) * (q.astype(np.float32) - np.float32(port["zero_point"]))
        values = [_c_float(v) for v in real]
        body = f"static const float tg_example_input[{len(values)}] = {{\n"
    else:
        values = [str(int(v)) for v in data.view(np.uint8)]
        sizes = [int(p["bytes"]) for p in manifest["inputs"]] if "inputs" in manifest else [len(values)]
        body = (f"static const uint32_t tg_example_input_bytes[{len(sizes)}] = {{{', '.join(map(str, sizes))}}};\n"
                f"static const uint8_t tg_example_input[{len(values)}] = {{\n")  # fmt: skip
    lines = [", ".join(values[i : i + 12]) for i in range(0, len(values), 12)]
    return head + body + "    " + ",\n    ".join(lines) + "\n};\n\n#endif\n"


def _quantized_input(manifest: dict) -> dict | None:
    """The model's one input where it is a quantized int8/int16 tensor the template can quantize into."""
    ports = manifest.get("inputs", [])
    if len(ports) != 1 or ports[0].get("dtype") not in _Q_RANGES or "scale" not in ports[0]:
        return None
    return dict(ports[0])


def render_app(template: str, model: str, manifest: dict, **extra: str) -> str:
    """An app source from firmware/app/template/ for ``model`` (written once into the user's src/)."""
    import jinja2

    folder = resource_dir("firmware") / "app" / "template"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)  # fmt: skip
    port = _quantized_input(manifest)
    outputs = manifest.get("outputs", [{}])
    context: dict[str, object] = {
        "name": model,
        "quantize": port is not None,
        "out_ctype": _C_TYPES.get(outputs[0].get("dtype", "int8"), "int8_t"),
        **extra,
    }
    if port is not None:
        qmin, qmax = _Q_RANGES[port["dtype"]]
        context.update(ctype=_C_TYPES[port["dtype"]], qmin=qmin, qmax=qmax)
    return env.get_template(template).render(context)


def _keep_or_write_main(root: Path, model: str, manifest: dict, app: str) -> tuple[str, ...]:
    """Write src/main.c from the template unless the user has one; what happened, for the command to say."""
    path = root / USER_MAIN
    if path.is_file() and path.read_text().startswith(_HARNESS_HEAD):
        path.unlink()  # an older tinygen's harness, not the user's code
    note = _write_once(root, USER_MAIN, render_app("main.c.j2", model, manifest))
    if app == "template":
        if f'"{model}.h"' not in path.read_text():
            return (note, f"your {USER_MAIN} does not include {model}.h: was it written for another model? Rename it "
                          "and build again for a new one from the template")  # fmt: skip
        return (note,)
    if note.startswith("kept"):
        return (f"built the {app} app ({HARNESS_DIR}/); your {USER_MAIN} is kept and not compiled "
                "(build it with --app template)",)  # fmt: skip
    return ()


def _drop_legacy_files(root: Path) -> None:
    """Remove what older tinygen versions generated into include/ (it would shadow generated/include/)."""
    for name in _LEGACY_HEADERS:
        path = root / "include" / name
        if path.is_file() and path.read_text().startswith(("/* Generated by tinygen", "/* Profiling hooks")):
            path.unlink()


def _sync_library(library_dir: Path, root: Path, model: str) -> list[str]:
    """The library into lib/<model>; its include folders relative to the project."""
    lib = root / "lib" / model
    if library_dir != lib:
        _sync_tree(library_dir, lib)
    if not (lib / "library.json").is_file():  # codegen writes one; a hand-written library may not
        library_json = {"name": model, "version": "0.0.0", "build": {"srcFilter": ["+<*.c>"], "includeDir": "."}}
        _write_if_changed(lib / "library.json", json.dumps(library_json, indent=2) + "\n")
    return sorted({p.parent.relative_to(root).as_posix() for p in lib.rglob("*.h")})


def _user_board(root: Path, board: Board) -> None:
    """A board from the user's own manifest travels with the project: boards/<id>.json, where PlatformIO
    looks first (its default boards_dir); tinygen's own boards come from tinygen's core (ensure_core)."""
    if board.user:
        _write_if_changed(root / "boards" / f"{board.id}.json", board.path.read_text())


def write_project(
    project_dir: str | Path,
    *,
    board: Board,
    library_dir: str | Path,
    model: str,
    input_size: int,
    vectors: np.ndarray,
    target: str = "board",
    dump_tensors: bool = False,
    extra_flags: Sequence[str] = (),
    upload_protocol: str | None = None,
    app: str = "bench",
) -> Project:
    """Write a PlatformIO project for tinygen's platform: the library under lib/<model>, the harness under
    generated/app/, the generated headers under generated/include/, and src/main.c from the template unless the
    user has one; ``app`` chooses what is compiled (APPS). Every path in it is relative to the project."""
    if app not in APPS:
        raise TinygenError(f"unknown app {app!r}; use one of {', '.join(APPS)}")
    if app == "bench" and STREAM_APP_FLAG in extra_flags:
        app = "validate"  # the harness's streaming mode asked for by its flag
    target = build_target(board, target)
    root = Path(project_dir).resolve()
    library_dir = Path(library_dir).resolve()
    if not (library_dir / f"{model}.h").is_file():
        raise TinygenError(f"{library_dir}: no {model}.h; generate the model library first")
    include_dirs = _sync_library(library_dir, root, model)
    harness = resource_dir("firmware") / "app"
    for source in sorted(harness.glob("*.c")):
        _write_if_changed(root / HARNESS_DIR / source.name, source.read_text())
    generated = root / GENERATED_INCLUDE
    _write_if_changed(generated / "tg_hooks.h", (harness / "tg_hooks.h").read_text())
    manifest_path = library_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    _write_if_changed(generated / "tg_model.h", model_header(model, *port_counts(manifest)))
    _write_if_changed(generated / "tg_vectors.h", vectors_header(model, input_size, vectors))
    _write_if_changed(generated / "tg_example_input.h", example_input_header(model, manifest, np.asarray(vectors).reshape(-1, input_size)[0]))
    _drop_legacy_files(root)
    notes = _keep_or_write_main(root, model, manifest, app)
    _user_board(root, board)

    flags = [] if app == "template" else [f"-include {GENERATED_INCLUDE}/tg_hooks.h"]  # the harness's profiling hooks
    flags += [f"-I{GENERATED_INCLUDE}", *(f"-I{d}" for d in include_dirs)]
    if app == "validate":
        flags.append(STREAM_APP_FLAG)
    if dump_tensors:
        flags.append("-DTG_DUMP_TENSORS=1")
    flags += [flag for flag in extra_flags if flag not in flags]
    lines = [
        "; Generated by tinygen: rewritten by each `tinygen build`. Your code: src/ (built with --app template);",
        "; the model library: lib/ (regenerated); tinygen's harness and headers: generated/ (regenerated).",
        "; Paths are relative: the platform is tinygen's, registered in tinygen's PlatformIO core.",
        "[platformio]",
        f"default_envs = {ENV_NAME}",
    ]
    if app != "template":
        # the include folder too: PlatformIO's library finder follows the harness's includes from there
        lines += [f"; the {app} app: tinygen's harness instead of src/", f"src_dir = {HARNESS_DIR}",
                  f"include_dir = {GENERATED_INCLUDE}"]  # fmt: skip
    lines += [
        "",
        f"[env:{ENV_NAME}]",
        f"platform = {PLATFORM_NAME}",
        f"board = {board.id}",
        "lib_ldf_mode = deep+",
        "build_flags =",
        *(f"    {flag}" for flag in flags),
    ]
    if upload_protocol:
        lines.append(f"upload_protocol = {upload_protocol}")
    if target == "qemu":
        lines += _memory_overrides(board)
    _write_if_changed(root / "platformio.ini", "\n".join(lines) + "\n")
    return Project(root, board, model, target, app, notes)


# ---------------------------------------------------------------------------------------------
# Running pio


_ERROR_LINE = re.compile(r"(error|undefined reference|overflowed|multiple definition|No such file)", re.I)
_OVERFLOW = re.compile(r"region [`'](\w+)' overflowed by (\d+) bytes")


def run_pio(project: Project, targets: Sequence[str] = (), timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``pio run`` in ``project`` with the offline environment; raise with the error lines."""
    find_toolchain()
    ensure_core()
    cmd = [sys.executable, "-m", "platformio", "run", "-d", str(project.path), "-e", ENV_NAME]
    for target in targets:
        cmd += ["-t", target]
    from tinygen import progress

    try:
        with progress.step(f"{'uploading' if 'upload' in targets else 'building'} the firmware for {project.board.id} "
                           "(PlatformIO)"):
            proc = subprocess.run(cmd, env=pio_environ(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise TinygenError(f"'pio run' in {project.path} did not finish within {timeout:g} s") from exc
    if proc.returncode != 0:
        output = proc.stdout + proc.stderr
        overflow = _OVERFLOW.findall(output)
        if overflow:
            parts = ", ".join(f"{region} overflowed by {int(n):,} bytes" for region, n in overflow)
            raise TinygenError(
                f"the firmware does not fit board {project.board.id}: {parts} "
                f"(flash {project.board.flash.size:,} bytes, RAM {project.board.ram.size:,} bytes); "
                "use a smaller model or a bigger board"
            )
        errors = [line for line in output.splitlines() if _ERROR_LINE.search(line)]
        shown = "\n".join(errors[:20] or output.strip().splitlines()[-20:])
        what = "upload" if "upload" in targets else "build"
        raise TinygenError(f"the firmware {what} failed for board {project.board.id} ({project.path}):\n{shown}")
    return proc


def elf_sizes(elf: Path) -> tuple[int, int]:
    """(flash bytes, RAM bytes) of a linked firmware, from its section headers."""
    from elftools.elf.elffile import ELFFile

    flash_sections = {".boot2", ".isr_vector", ".text", ".ARM.extab", ".ARM.exidx", ".data"}  # .boot2: RP2040
    ram_sections = {".data", ".bss", ".stack"}
    flash = ram = 0
    with open(elf, "rb") as handle:
        for section in ELFFile(handle).iter_sections():
            size = int(section["sh_size"])
            if section.name in flash_sections:
                flash += size
            if section.name in ram_sections:
                ram += size
    return flash, ram


def build(project: Project) -> BuildResult:
    """Compile and link ``project``; return the firmware files and its flash/RAM use."""
    run_pio(project)
    if not project.elf.is_file() or not project.bin.is_file():
        raise TinygenError(f"'pio run' succeeded but left no firmware in {project.build_dir}")
    flash, ram = elf_sizes(project.elf)
    mem_board = project.board if project.target == "board" else project.board.stand_in()
    return BuildResult(
        project=project,
        elf=project.elf,
        bin=project.bin,
        hex=project.hex,
        flash_used=flash,
        ram_used=ram,
        flash_size=min(project.board.flash.size, mem_board.flash.size),
        ram_size=min(project.board.ram.size, mem_board.ram.size),
    )


# ---------------------------------------------------------------------------------------------
# From a generated library to firmware

#: RAM the firmware needs besides the arena and the reserved stack (app, platform, console buffer)
APP_RAM_BYTES = 512
#: flash of the smallest firmware (startup, console, app) besides the model's weights and vectors
APP_FLASH_BYTES = 4096
PROJECT_MARKER = "tinygen-project.json"


def read_manifest(library_dir: str | Path) -> dict:
    path = Path(library_dir) / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TinygenError(f"{path}: cannot read the library manifest ({exc}); regenerate the library") from exc


def check_fit(board: Board, manifest: dict, num_vectors: int = 1, target: str = "board") -> None:
    """Fail before compiling when the model cannot fit the board: arena + stack > RAM, or
    weights (+ vectors + the smallest firmware) > flash."""
    mem = board if target == "board" else board.stand_in()
    ram = min(board.ram.size, mem.ram.size)
    flash = min(board.flash.size, mem.flash.size)
    name = manifest.get("name", "model")
    arena = int(manifest["arena_bytes"])
    weights = int(manifest["weight_bytes"])
    inputs = input_bytes(manifest) * num_vectors
    need_ram = arena + board.stack_size + APP_RAM_BYTES
    need_flash = weights + inputs + APP_FLASH_BYTES
    problems = []
    if need_ram > ram:
        problems.append(
            f"RAM needs {need_ram:,} bytes (arena {arena:,} + stack {board.stack_size:,} + firmware "
            f"{APP_RAM_BYTES:,}) but {board.id} has {ram:,}: {need_ram - ram:,} bytes over"
        )
    if need_flash > flash:
        problems.append(
            f"flash needs at least {need_flash:,} bytes (weights {weights:,} + input vectors {inputs:,} + "
            f"firmware {APP_FLASH_BYTES:,}) but {board.id} has {flash:,}: {need_flash - flash:,} bytes over"
        )
    if problems:
        raise TinygenError(
            f"model {name} does not fit board {board.id}: " + "; ".join(problems)
            + ". Use a smaller model or a board with more memory (`tinygen boards`)."
        )


def default_vectors(input_size: int, count: int = 1, seed: int = 0) -> np.ndarray:
    """Deterministic random int8 input vectors."""
    return np.random.default_rng(seed).integers(-128, 128, (count, input_size)).astype(np.int8)


def prepare_firmware(
    library_dir: str | Path,
    board: Board,
    project_dir: str | Path,
    *,
    vectors: np.ndarray | None = None,
    target: str = "board",
    dump_tensors: bool = False,
    extra_flags: Sequence[str] = (),
    upload_protocol: str | None = None,
    app: str = "bench",
) -> Project:
    """Check the library fits ``board`` and write its firmware project (nothing is compiled); ``app``: which
    app it builds (APPS; the vectors are the harness's, and the template's example input is the first)."""
    manifest = read_manifest(library_dir)
    name = manifest["name"]
    input_size = input_bytes(manifest)
    if vectors is None:
        vectors = default_vectors(input_size)
    vectors = np.asarray(vectors)
    count = len(vectors) if vectors.ndim > 1 else 1
    check_fit(board, manifest, count, target)
    try:
        project = write_project(
            project_dir,
            board=board,
            library_dir=library_dir,
            model=name,
            input_size=input_size,
            vectors=vectors,
            target=target,
            dump_tensors=dump_tensors,
            extra_flags=extra_flags,
            upload_protocol=upload_protocol,
            app=app,
        )
        _write_marker(project.path, {"board": board.id, "model": name, "target": target, "app": app}, library_dir)
    except OSError as exc:
        from tinygen.outdir import explain

        raise explain(exc, Path(project_dir)) from None
    return project


def _write_marker(root: Path, marker: dict, library_dir: str | Path) -> None:
    """``tinygen-project.json``: what the project was built for; the library's path relative to the project."""
    marker = {**marker, "library": Path(os.path.relpath(Path(library_dir).resolve(), root)).as_posix()}
    _write_if_changed(root / PROJECT_MARKER, json.dumps(marker, indent=2) + "\n")


def read_marker(project_dir: str | Path) -> dict:
    root = Path(project_dir).resolve()
    try:
        return dict(json.loads((root / PROJECT_MARKER).read_text()))
    except (OSError, ValueError) as exc:
        raise TinygenError(f"{root} is not a firmware project built by tinygen (no {PROJECT_MARKER})") from exc


#: framework (``tinygen build --framework``) -> (its app template in firmware/app/template/, the source it becomes)
FRAMEWORK_APPS = {
    "stm32cube": ("stm32cube.c.j2", "src/main.c"),
    "arduino": ("arduino.cpp.j2", "src/main.cpp"),
    "zephyr": ("zephyr.c.j2", "src/main.c"),
}
ZEPHYR_FILES = {
    "zephyr/CMakeLists.txt": "cmake_minimum_required(VERSION 3.13.1)\nfind_package(Zephyr REQUIRED HINTS $ENV{ZEPHYR_BASE})\n"
                             "project({name})\ntarget_sources(app PRIVATE ../src/main.c)\n",
    "zephyr/prj.conf": "CONFIG_PRINTK=y\nCONFIG_FPU=y\n",
}  # fmt: skip


def framework_note(platform: str, framework: str) -> str:
    return (f"needs internet on its first build (PlatformIO downloads the {platform} platform and the {framework} "
            "framework from its registry): tinygen did not build or verify it (offline)")  # fmt: skip


def framework_board(board: Board, framework: str) -> dict[str, str]:
    """PlatformIO's standard platform and board id for ``board`` with ``framework`` (``tinygen.frameworks``)."""
    if framework not in FRAMEWORK_APPS:
        raise TinygenError(f"unknown framework {framework!r}; tinygen writes projects for {', '.join(FRAMEWORK_APPS)}")
    entry = board.frameworks.get(framework)
    if entry is None:
        has = ", ".join(sorted(board.frameworks)) or "none"
        raise TinygenError(
            f"board {board.id} has no PlatformIO board for framework {framework!r} (its frameworks: {has}); build for "
            f"tinygen's own platform without --framework, or give a board manifest of your own ('tinygen boards --new "
            f'ID --like {board.id}\') a "tinygen.frameworks" entry {framework!r}: {{"platform": ..., "board": ...}}'
        )
    return entry


def _write_once(root: Path, rel: str, text: str) -> str:
    """Write a file the user owns unless it exists; what happened, for the command to say."""
    if (root / rel).is_file():
        return f"kept your {rel}"
    _write_if_changed(root / rel, text)
    return f"wrote {rel} from the template: it is yours now, a rebuild never overwrites it"


def prepare_framework_project(
    library_dir: str | Path, board: Board, project_dir: str | Path, framework: str, *, vectors: np.ndarray | None = None
) -> Project:
    """A PlatformIO project for PlatformIO's standard platform with ``framework`` (vendor drivers): the library
    in lib/, the example input in generated/include/, the user's app from the framework's template. It cannot
    be built here (PlatformIO downloads the platform): nothing is compiled."""
    entry = framework_board(board, framework)
    manifest = read_manifest(library_dir)
    name, input_size = manifest["name"], input_bytes(manifest)
    check_fit(board, manifest)
    first = (default_vectors(input_size) if vectors is None else np.asarray(vectors)).reshape(-1, input_size)[0]
    root = Path(project_dir).resolve()
    include_dirs = _sync_library(Path(library_dir).resolve(), root, name)
    _write_if_changed(root / GENERATED_INCLUDE / "tg_example_input.h", example_input_header(name, manifest, first))
    template, source = FRAMEWORK_APPS[framework]
    app = render_app(template, name, manifest, board=board.id, platform=entry["platform"],
                     hal_header=f"{board.mcu[:7].lower()}xx_hal.h")  # fmt: skip
    notes = [_write_once(root, source, app)]
    if "tg_platform.h" in (root / source).read_text():
        notes.append(f"your {source} uses tinygen's platform API (tg_platform.h), which the {framework} framework "
                     f"does not have: rename it and build again for the {framework} template")  # fmt: skip
    if framework == "zephyr":
        notes += [_write_once(root, rel, text.replace("{name}", name)) for rel, text in ZEPHYR_FILES.items()]
    flags = [f"-I{GENERATED_INCLUDE}", *(f"-I{d}" for d in include_dirs)]
    lines = [
        f"; Generated by tinygen for PlatformIO's {entry['platform']} platform with the {framework} framework: it",
        "; " + framework_note(entry["platform"], framework) + ".",
        "; Rewritten by each `tinygen build --framework`; your code: src/; the model library: lib/ (regenerated).",
        "[platformio]",
        f"default_envs = {ENV_NAME}",
        "",
        f"[env:{ENV_NAME}]",
        f"platform = {entry['platform']}",
        f"board = {entry['board']}",
        f"framework = {framework}",
        "lib_ldf_mode = deep+",
        "monitor_speed = 115200",
        "build_flags =",
        *(f"    {flag}" for flag in flags),
    ]
    _write_if_changed(root / "platformio.ini", "\n".join(lines) + "\n")
    marker = {"board": board.id, "model": name, "target": "board", "app": "template", "framework": framework}
    _write_marker(root, marker, library_dir)
    return Project(root, board, name, "board", "template", tuple(notes))


def load_project(project_dir: str | Path) -> Project:
    """A firmware project tinygen wrote earlier (``tinygen build -o DIR``); a user board from the project's
    own boards/ (where the build copied its manifest) before tinygen.toml's and the built-in ones."""
    from tinygen.boards import get_board, read_user_board

    root = Path(project_dir).resolve()
    marker = read_marker(root)
    if marker.get("framework"):
        raise TinygenError(f"{root} targets PlatformIO's {marker['framework']} framework, not tinygen's platform; "
                           f"build and upload it with PlatformIO itself: 'pio run -d {project_dir} -t upload'")  # fmt: skip
    own = root / "boards" / f"{marker['board']}.json"
    board = read_user_board(own) if own.is_file() else get_board(marker["board"])
    return Project(root, board, marker["model"], marker["target"], marker.get("app", "bench"))


# ---------------------------------------------------------------------------------------------
# Uploading

#: upload protocol -> (program the builder runs, how to install it); "uf2" needs no program but the
#: bootloader's drive (``tinygen.uf2.find_drive``)
UPLOADERS: dict[str, tuple[str, str]] = {
    "pyocd": ("pyocd", "install it with 'pip install pyocd' (or tinygen's extra: pip install 'tinygen[boards]')"),
    "stlink": ("st-flash", "install it with 'sudo apt-get install stlink-tools'"),
    "openocd": ("openocd", "install it with 'sudo apt-get install openocd'"),
    "cmsis-dap": ("openocd", "install it with 'sudo apt-get install openocd'"),
    "nrfutil": ("nrfutil", "install Nordic's nRF Util (nordicsemi.com, 'nRF Util'), then its device command with "
                           "'nrfutil install device'"),
    "nrfjprog": ("nrfjprog", "install Nordic's nRF Command Line Tools (nordicsemi.com, 'nRF Command Line Tools'; "
                             "retired by Nordic: nRF Util, --protocol nrfutil, replaces it)"),
    "jlink": ("JLinkExe", "install SEGGER's J-Link Software and Documentation Pack (segger.com/downloads/jlink)"),
    "bossac": ("bossac", "install Arduino's bossac, which knows the nRF52840 (Debian's bossa-cli does not): "
                         "'arduino-cli core install arduino:mbed_nano' puts it in "
                         "~/.arduino15/packages/arduino/tools/bossac/<version>/; put that folder on PATH"),
    "picotool": ("picotool", "install it with 'sudo apt-get install picotool' (Debian 13, Ubuntu 24.04) or build it "
                             "from github.com/raspberrypi/picotool"),
}
#: pyOCD's built-in targets among the chips of tinygen's boards (``pyocd list --targets``, pyOCD
#: 0.46): nRF52840, RP2040, STM32H743. The STM32F411/F746/L4R5/U575/G071 need their CMSIS pack,
#: installed once by the user (``pyocd pack install <part>``); tinygen never downloads one.
PYOCD_BUILTIN = frozenset({"nrf52840", "rp2040", "stm32h743xx"})


def _installed(protocol: str) -> bool:
    """The uploader of ``protocol`` is there: its program on PATH, or a UF2 drive mounted."""
    from tinygen import uf2

    if protocol == "uf2":
        return uf2.find_drive() is not None
    return shutil.which(UPLOADERS[protocol][0]) is not None


def _alternatives(board: Board, protocol: str) -> str:
    """", or pass --protocol X (installed)" for the board's first other uploader that is installed."""
    for other in board.upload_protocols:
        if other != protocol and _installed(other):
            what = "a UF2 drive is mounted" if other == "uf2" else f"{UPLOADERS[other][0]} is installed"
            return f", or pass --protocol {other} ({what})"
    return f"; the other uploaders of {board.id}: {', '.join(p for p in board.upload_protocols if p != protocol)}"


def _pyocd_targets() -> set[str]:
    """The targets the installed pyOCD knows (built-in and from installed packs), lowercase."""
    proc = subprocess.run(["pyocd", "list", "--targets"], capture_output=True, text=True, timeout=120)
    rows = [line.split() for line in proc.stdout.splitlines()]
    return {row[0].lower() for row in rows if row}


def _check_pyocd_target(board: Board) -> None:
    """pyOCD knows the board's chip: built in, or from a pack the user installed."""
    target = board.pyocd_target
    if target is None:
        raise TinygenError(f"board {board.id} names no pyOCD target (debug.pyocd_target in {board.path}); "
                           f"add it or use another uploader{_alternatives(board, 'pyocd')}")
    if target.lower() in PYOCD_BUILTIN or target.lower() in _pyocd_targets():
        return
    raise ToolMissingError(
        f"pyOCD has no target {target} (the chip of {board.id}) built in: install its CMSIS pack once with "
        f"'pyocd pack install {target}' (it downloads the pack; tinygen never does){_alternatives(board, 'pyocd')}"
    )


def _check_uploader(board: Board, protocol: str) -> str | None:
    """Raise naming the tool and how to install it when ``protocol``'s uploader is missing; the
    upload port the builder needs (a UF2 drive), if any."""
    from tinygen import uf2

    if protocol == "uf2":
        drive = uf2.find_drive()
        if drive is None:
            raise ToolMissingError(
                f"no RPI-RP2 drive is mounted (the 'uf2' upload of {board.id}): hold BOOTSEL while plugging the board "
                f"in, then run flash again (or name the drive's folder in ${uf2.DRIVE_ENV}){_alternatives(board, protocol)}"
            )
        return str(drive)
    program, install = UPLOADERS[protocol]
    if shutil.which(program) is None:
        raise ToolMissingError(f"{program} (the '{protocol}' uploader of {board.id}) is not installed; {install}"
                               f"{_alternatives(board, protocol)}")
    if protocol == "pyocd":
        _check_pyocd_target(board)
    return None


def upload(project: Project, protocol: str | None = None) -> subprocess.CompletedProcess[str]:
    """Build if needed and upload ``project``'s firmware with the board's (or the given) protocol."""
    board = project.board
    if board.is_qemu:
        raise TinygenError(
            f"board {board.id} is a QEMU machine: there is nothing to flash; run the firmware with 'tinygen test'"
        )
    if project.target != "board":
        raise TinygenError(f"{project.path} was built for the QEMU stand-in of {board.id}; rebuild it without --qemu")
    protocol = protocol or board.upload_protocol
    if protocol not in board.upload_protocols:
        raise TinygenError(
            f"board {board.id} cannot be flashed with {protocol!r}; use one of {', '.join(board.upload_protocols)}"
        )
    port = _check_uploader(board, protocol)
    ini = project.path / "platformio.ini"
    text = re.sub(r"(?m)^upload_(protocol|port) = .*\n", "", ini.read_text()) + f"upload_protocol = {protocol}\n"
    if port is not None:
        text += f"upload_port = {port}\n"
    _write_if_changed(ini, text)
    return run_pio(project, ["upload"])
