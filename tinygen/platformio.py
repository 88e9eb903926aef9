"""PlatformIO, fully offline: core provisioning, project generation and ``pio run``.

PlatformIO's registry is unreachable from our machines and every attempt to reach it stalls
about a minute, so tinygen never lets PlatformIO ask it for anything:

* the core lives in a directory tinygen owns (``$TINYGEN_HOME/pio``, default
  ``~/.cache/tinygen/pio``), with upgrade checks and telemetry off;
* the one core package a build needs, ``tool-scons``, is made from the ``scons`` PyPI package
  (the exact release PlatformIO requires) with a ``.piopm`` naming owner ``platformio``, which
  is what the core's package lookup matches;
* the dev-platform is tinygen's own (``firmware/platform``, referenced with ``symlink://``) and
  declares no packages: it compiles with the system ``arm-none-eabi-gcc``.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from tinygen.boards import Board
from tinygen.errors import TinygenError, ToolMissingError
from tinygen.resources import resource_dir

ENV_NAME = "tinygen"
#: PlatformIO 6.2 requires tool-scons ~4.41101.0, i.e. SCons 4.11.1 (PlatformIO's versioning).
SCONS_PACKAGE_VERSION = "4.41101.0"
SCONS_VERSION = "4.11.1"
APT_TOOLCHAIN = "sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
#: build flag selecting the firmware app's streaming validation mode (firmware/app/main.c, TG_APP_STREAM):
#: inputs arrive over the console UART instead of being embedded (``tinygen validate --port``)
STREAM_APP_FLAG = "-DTG_APP_STREAM=1"


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
    if _provisioned(root, platform):
        return root
    with _locked(root / ".tinygen.lock"):
        if not _provisioned(root, platform):
            _provision(root, platform)
            (root / ".tinygen-platform").write_text(str(platform))
    return root


def _provisioned(root: Path, platform: Path) -> bool:
    marker = root / ".tinygen-platform"
    return (
        marker.is_file()
        and marker.read_text() == str(platform)
        and (root / "packages" / "tool-scons" / ".piopm").is_file()
        and any((root / "platforms").glob("*"))
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
    cmd = [sys.executable, "-m", "platformio", "pkg", "install", "-g", "--platform", f"symlink://{platform}"]
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
) -> Project:
    """Write a PlatformIO project: the library under lib/<model>, the app under src/."""
    target = build_target(board, target)
    root = Path(project_dir).resolve()
    library_dir = Path(library_dir).resolve()
    if not (library_dir / f"{model}.h").is_file():
        raise TinygenError(f"{library_dir}: no {model}.h; generate the model library first")
    app = resource_dir("firmware") / "app"
    lib = root / "lib" / model
    if library_dir != lib:
        _sync_tree(library_dir, lib)
    include_dirs = sorted({p.parent for p in lib.rglob("*.h")})
    if not (lib / "library.json").is_file():  # codegen writes one; a hand-written library may not
        library_json = {"name": model, "version": "0.0.0", "build": {"srcFilter": ["+<*.c>"], "includeDir": "."}}
        _write_if_changed(lib / "library.json", json.dumps(library_json, indent=2) + "\n")
    for source in sorted(app.glob("*.c")):
        _write_if_changed(root / "src" / source.name, source.read_text())
    hooks = root / "include" / "tg_hooks.h"
    _write_if_changed(hooks, (app / "tg_hooks.h").read_text())
    manifest_path = library_dir / "manifest.json"
    counts = port_counts(json.loads(manifest_path.read_text())) if manifest_path.is_file() else (1, 1)
    _write_if_changed(root / "include" / "tg_model.h", model_header(model, *counts))
    _write_if_changed(root / "include" / "tg_vectors.h", vectors_header(model, input_size, vectors))

    # quoted: PlatformIO splits build_flags like a shell, and a path may hold spaces
    flags = [f'-include "{hooks}"', *(f'-I"{d}"' for d in include_dirs)]
    if dump_tensors:
        flags.append("-DTG_DUMP_TENSORS=1")
    flags += list(extra_flags)
    lines = [
        "; Generated by tinygen: firmware running the model library in lib/ (regenerated by each build)",
        "[platformio]",
        f"boards_dir = {board.path.parent}",  # tinygen's boards/, or a project's own (a user board)
        f"default_envs = {ENV_NAME}",
        "",
        f"[env:{ENV_NAME}]",
        f"platform = symlink://{resource_dir('firmware') / 'platform'}",
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
    return Project(root, board, model, target)


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

    flash_sections = {".isr_vector", ".text", ".ARM.extab", ".ARM.exidx", ".data"}
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
) -> Project:
    """Check the library fits ``board`` and write its firmware project (nothing is compiled)."""
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
        )
        marker = {"board": board.id, "model": name, "target": target, "library": str(Path(library_dir).resolve())}
        _write_if_changed(project.path / PROJECT_MARKER, json.dumps(marker, indent=2) + "\n")
    except OSError as exc:
        from tinygen.outdir import explain

        raise explain(exc, Path(project_dir)) from None
    return project


def load_project(project_dir: str | Path) -> Project:
    """A firmware project tinygen wrote earlier (``tinygen build -o DIR``)."""
    from tinygen.boards import get_board

    root = Path(project_dir).resolve()
    try:
        marker = json.loads((root / PROJECT_MARKER).read_text())
    except (OSError, ValueError) as exc:
        raise TinygenError(f"{root} is not a firmware project built by tinygen (no {PROJECT_MARKER})") from exc
    return Project(root, get_board(marker["board"]), marker["model"], marker["target"])


# ---------------------------------------------------------------------------------------------
# Uploading

#: upload protocol -> (program the builder runs, how to install it)
UPLOADERS: dict[str, tuple[str, str]] = {
    "stlink": ("st-flash", "install it with 'sudo apt-get install stlink-tools'"),
    "openocd": ("openocd", "install it with 'sudo apt-get install openocd'"),
    "cmsis-dap": ("openocd", "install it with 'sudo apt-get install openocd'"),
    "nrfjprog": ("nrfjprog", "install Nordic's nRF Command Line Tools (nordicsemi.com, 'nRF Command Line Tools')"),
    "jlink": ("JLinkExe", "install SEGGER's J-Link Software and Documentation Pack (segger.com/downloads/jlink)"),
}


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
    program, install = UPLOADERS[protocol]
    if shutil.which(program) is None:
        others = [p for p in board.upload_protocols if p != protocol and shutil.which(UPLOADERS[p][0])]
        hint = f", or pass --protocol {others[0]} ({UPLOADERS[others[0]][0]} is installed)" if others else ""
        raise ToolMissingError(f"{program} (the '{protocol}' uploader of {board.id}) is not installed; {install}{hint}")
    ini = project.path / "platformio.ini"
    text = ini.read_text()
    text = re.sub(r"(?m)^upload_protocol = .*\n", "", text) + f"upload_protocol = {protocol}\n"
    _write_if_changed(ini, text)
    return run_pio(project, ["upload"])
