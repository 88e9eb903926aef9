"""Board manifests (``boards/<id>.json``): PlatformIO board JSON plus a ``tinygen`` section.

The PlatformIO part (``build``, ``upload``, ``debug``) is what ``pio run`` reads; the ``tinygen``
section is ours: core and compiler flags, DSP/MVE, clock bring-up (PLL, prescalers, the flash wait
states per clock from the reference manual, caches), memory regions, console, timer, and the QEMU
machine that runs the board's firmware: a stand-in of the same core family (the board's code built
at the stand-in's memory map), or, where QEMU models the chip (``qemu.board`` is the board itself),
the board's own firmware unchanged.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tinygen.errors import TinygenError
from tinygen.resources import resource_dir


@dataclass(frozen=True)
class Region:
    origin: int
    size: int

    @property
    def end(self) -> int:
        return self.origin + self.size


@dataclass(frozen=True)
class Board:
    """One board: ``id`` is the manifest's file name (PlatformIO's board id)."""

    id: str
    title: str
    vendor: str
    mcu: str
    core: str
    cpu_flags: tuple[str, ...]
    fpu: str
    has_fpu: bool
    has_dsp: bool
    has_mve: bool
    clock_hz: int
    flash: Region
    ram: Region
    stack_size: int
    upload_protocol: str
    upload_protocols: tuple[str, ...]
    #: id of the QEMU board that stands in for this one (itself for the QEMU boards)
    qemu: str
    #: the ``qemu-system-arm -M`` machine that runs this board's builds
    machine: str
    console: dict[str, Any]
    timer: str
    aliases: tuple[str, ...] = ()
    openocd_target: str | None = None
    #: pyOCD's name of the chip (``debug.pyocd_target``, as in PlatformIO's manifests)
    pyocd_target: str | None = None
    #: a UF2 family id (``tinygen.uf2_family``): the build also writes ``firmware.uf2`` for a
    #: drag-and-drop bootloader (the RP2040's)
    uf2_family: int | None = None
    #: the manifest's ``tinygen.clock`` (empty: no clock bring-up, as on the QEMU machines)
    clock: dict[str, Any] = field(default_factory=dict, compare=False)
    path: Path = field(default=Path(), compare=False)
    #: from the project's ``boards/`` folder (next to tinygen.toml), not tinygen's own
    user: bool = field(default=False, compare=False)
    #: ``tinygen.frameworks``: framework (``tinygen build --framework``) -> {"platform": PlatformIO's standard
    #: platform, "board": its board id} (PlatformIO's top-level ``frameworks`` list means tinygen's platform's)
    frameworks: dict[str, dict[str, str]] = field(default_factory=dict, compare=False)

    @property
    def is_qemu(self) -> bool:
        """A board that only exists as a QEMU machine (nothing to flash)."""
        return self.upload_protocol == "qemu"

    @property
    def runs_in_qemu(self) -> bool:
        """QEMU models this board's chip: its own firmware, unchanged, runs there."""
        return self.qemu == self.id

    def stand_in(self) -> Board:
        """The QEMU board that runs this board's builds (itself for a QEMU board, or one whose chip
        QEMU models)."""
        return self if self.runs_in_qemu else get_board(self.qemu)

    def flash_wait_states(self, hclk_hz: int | None = None) -> int:
        """Flash wait states at ``hclk_hz`` (default: the configured HCLK), from the manifest's
        table (the reference manual's); 0 for a board without one (QEMU, nRF52)."""
        table = self.clock.get("flash_wait_states")
        if not table:
            return 0
        if hclk_hz is None:
            hclk_hz = _int(self.clock["sysclk_hz"]) // _int(self.clock["ahb_div"])
        for wait_states, max_hz in enumerate(table["max_hclk_hz"]):
            if hclk_hz <= _int(max_hz):
                return wait_states
        raise TinygenError(f"board {self.id}: {hclk_hz:,} Hz is above its flash's fastest clock")


def _int(value: Any) -> int:
    return int(value, 0) if isinstance(value, str) else int(value)


#: the cores tinygen compiles for (``tinygen.core``; also ``build.cpu`` for PlatformIO)
CORES = ("cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
#: a board id: PlatformIO's board id and the manifest's file name; lowercase, as lookups are
BOARD_ID = re.compile(r"[a-z][a-z0-9_]*")
_NUMBER = "a number (an integer >= 0, or a string such as \"0x20000000\")"


def _number(value: Any) -> int | None:
    """``value`` as an integer >= 0 (a JSON integer, or a decimal or "0x..." string), else None."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        return None  # JSON true is no size, and 1.5 bytes no size either
    try:
        number = _int(value)
    except (ValueError, TypeError):
        return None
    return number if number >= 0 else None


class _Manifest:
    """A manifest's JSON read key by dotted key, each value checked, each error one line naming the
    file, the key and what is expected (users edit these files by hand)."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    def error(self, key: str, problem: str) -> TinygenError:
        return TinygenError(f"board manifest {self.path}: {key}: {problem}")

    def get(self, key: str, expected: str, default: Any = ...) -> Any:
        value: Any = self.data
        walked = []
        for part in key.split("."):
            if not isinstance(value, dict):
                raise self.error(".".join(walked), f"expected an object (with {part!r}), got {value!r}")
            if part not in value:
                if default is not ...:
                    return default
                raise self.error(key, f"missing; expected {expected}")
            value = value[part]
            walked.append(part)
        return value

    def text(self, key: str, default: Any = ...) -> str:
        value = self.get(key, "a string", default)
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {value!r}")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if self.get(key, "", None) is not None else None

    def texts(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, "a list of strings", default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, f"expected a list of strings, got {value!r}")
        return tuple(value)

    def flag(self, key: str) -> bool:
        value = self.get(key, "true or false")
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def number(self, key: str, default: Any = ...) -> int:
        value = self.get(key, _NUMBER, default)
        number = _number(value)
        if number is None:
            raise self.error(key, f"expected {_NUMBER}, got {value!r}")
        return number

    def size(self, key: str) -> int:
        number = self.number(key)
        if number == 0:
            raise self.error(key, "expected a size in bytes above 0, got 0")
        return number

    def obj(self, key: str, default: Any = ...) -> dict[str, Any]:
        value = self.get(key, "an object", default)
        if not isinstance(value, dict):
            raise self.error(key, f"expected an object, got {value!r}")
        return dict(value)


def _read(path: Path) -> _Manifest:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise TinygenError(f"board manifest {path}: cannot read it ({exc.strerror})") from exc
    except ValueError as exc:
        raise TinygenError(f"board manifest {path}: not valid JSON ({exc}); fix the file") from exc
    if not isinstance(data, dict):
        raise TinygenError(f"board manifest {path}: expected a JSON object, got {type(data).__name__}")
    if not BOARD_ID.fullmatch(path.stem):
        raise TinygenError(f"board manifest {path}: the file name is the board id: lowercase letters, digits and _, "
                           "starting with a letter (e.g. my_board.json)")
    return _Manifest(path, data)


def _check_clock(m: _Manifest, clock_hz: int, clock: dict[str, Any]) -> None:
    """The clock bring-up agrees with ``clock_hz`` and its flash wait-state table covers HCLK."""
    if "sysclk_hz" not in clock:
        return
    sysclk = m.number("tinygen.clock.sysclk_hz")
    if sysclk != clock_hz:
        raise m.error("tinygen.clock_hz", f"{clock_hz:,} Hz, but tinygen.clock.sysclk_hz is {sysclk:,} Hz; "
                                          "set both to the clock the bring-up configures")
    if "flash_wait_states" not in clock:
        return
    key = "tinygen.clock.flash_wait_states.max_hclk_hz"
    table = m.get(key, "a list of the fastest HCLK (Hz) for 0, 1, 2... wait states")
    if not isinstance(table, list) or not table:
        raise m.error(key, f"expected a list of the fastest HCLK (Hz) for 0, 1, 2... wait states, got {table!r}")
    limits: list[int] = []
    for index, value in enumerate(table):
        number = _number(value)
        if number is None:
            raise m.error(f"{key}[{index}]", f"expected {_NUMBER}, got {value!r}")
        limits.append(number)
    ahb_div = m.number("tinygen.clock.ahb_div", 1)
    if ahb_div == 0:
        raise m.error("tinygen.clock.ahb_div", "expected the AHB prescaler (1, 2, 4...), got 0")
    hclk = sysclk // ahb_div
    if hclk > limits[-1]:
        raise m.error(key, f"the table stops at {limits[-1]:,} Hz but HCLK is {hclk:,} Hz (sysclk_hz / ahb_div); "
                           "add the wait states for it from the reference manual or lower the clock")


def _check_stand_in(m: _Manifest, board_id: str, qemu: str, machine: str) -> None:
    """A project's board runs in QEMU as itself (QEMU models its chip) or on a built-in QEMU board."""
    qemu_boards = {b.id: b.machine for b in builtin_boards().values() if b.is_qemu}
    if qemu != board_id and qemu_boards.get(qemu) != machine:
        choices = ", ".join(f"{b} ({mach})" for b, mach in qemu_boards.items())
        raise m.error("tinygen.qemu", f"board {qemu!r} with machine {machine!r} is not a QEMU board; expected "
                                      f"the board itself (QEMU models its chip) or one of {choices}, with its core")


def _parse(path: Path, user: bool = False) -> Board:
    """The board of the manifest at ``path`` (a project's own where ``user``), every key checked."""
    m = _read(path)
    core = m.text("tinygen.core")
    if core not in CORES:
        raise m.error("tinygen.core", f"unknown core {core!r}; expected one of {', '.join(CORES)}")
    clock_hz = m.number("tinygen.clock_hz")
    clock = m.obj("tinygen.clock", {})
    _check_clock(m, clock_hz, clock)
    qemu, machine = m.text("tinygen.qemu.board"), m.text("tinygen.qemu.machine")
    if user:
        _check_stand_in(m, path.stem, qemu, machine)
    console = m.obj("tinygen.console")
    if not isinstance(console.get("kind"), str):
        raise m.error("tinygen.console.kind", f"expected a string, got {console.get('kind')!r}")
    return Board(
        id=path.stem,
        title=m.text("name"),
        vendor=m.text("vendor", ""),
        mcu=m.text("build.mcu"),
        core=core,
        cpu_flags=m.texts("tinygen.cpu_flags"),
        fpu=m.text("tinygen.fpu"),
        has_fpu=m.flag("tinygen.has_fpu"),
        has_dsp=m.flag("tinygen.has_dsp"),
        has_mve=m.flag("tinygen.has_mve"),
        clock_hz=clock_hz,
        flash=Region(m.number("tinygen.memory.flash.origin"), m.size("tinygen.memory.flash.size")),
        ram=Region(m.number("tinygen.memory.ram.origin"), m.size("tinygen.memory.ram.size")),
        stack_size=m.size("tinygen.stack_size"),
        upload_protocol=m.text("upload.protocol"),
        upload_protocols=m.texts("tinygen.upload_protocols"),
        qemu=qemu,
        machine=machine,
        console=console,
        timer=m.text("tinygen.timer"),
        aliases=m.texts("tinygen.aliases", []),
        openocd_target=m.optional_text("debug.openocd_target"),
        pyocd_target=m.optional_text("debug.pyocd_target"),
        uf2_family=m.number("tinygen.uf2_family") if m.get("tinygen.uf2_family", "", None) is not None else None,
        clock=clock,
        path=path.resolve(),
        user=user,
        frameworks=_frameworks(m),
    )


def _frameworks(m: _Manifest) -> dict[str, dict[str, str]]:
    """``tinygen.frameworks``, each entry checked: {"platform": "ststm32", "board": "nucleo_f746zg"}."""
    found = m.obj("tinygen.frameworks", {})
    for name, entry in found.items():
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("platform", "board")):
            raise m.error(f"tinygen.frameworks.{name}", 'expected {"platform": "<PlatformIO platform>", '
                          '"board": "<its board id>"}')  # fmt: skip
    return {name: {"platform": entry["platform"], "board": entry["board"]} for name, entry in found.items()}


def read_user_board(path: str | Path) -> Board:
    """The board of a user's manifest file (a project's ``boards/<id>.json``), every key checked."""
    return _parse(Path(path), user=True)


@lru_cache(maxsize=None)
def builtin_boards() -> dict[str, Board]:
    """The boards shipped with tinygen (``boards/`` of the installation), by id."""
    return {board.id: board for board in map(_parse, sorted(resource_dir("boards").glob("*.json")))}


def project_boards_dir(start: str | Path = ".") -> Path | None:
    """The project's own ``boards/`` folder: next to the ``tinygen.toml`` found from ``start``
    (as ``tinygen build`` finds it), or None outside a project."""
    from tinygen import project

    toml = project.find(start)
    return None if toml is None else toml.parent / "boards"


def user_boards(start: str | Path = ".") -> dict[str, Board]:
    """The project's own boards (``boards/*.json`` next to tinygen.toml), by id; read each time,
    as the user edits them."""
    folder = project_boards_dir(start)
    if folder is None or not folder.is_dir():
        return {}
    return {board.id: board for board in (_parse(p, user=True) for p in sorted(folder.glob("*.json")))}


def _load_all() -> dict[str, Board]:
    """Every board by id, sorted: a project's board with a built-in id replaces the built-in one."""
    boards = {**builtin_boards(), **user_boards()}
    return dict(sorted(boards.items()))


def overrides_builtin(board: Board) -> bool:
    """A project's board with the id of a built-in one (which it replaces)."""
    return board.user and board.id in builtin_boards()


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def list_boards() -> list[Board]:
    """Every board tinygen knows, sorted by id."""
    return list(_load_all().values())


def board_names() -> list[str]:
    """Board ids and their aliases."""
    return sorted({n for b in (*list_boards(), *builtin_boards().values()) for n in (b.id, *b.aliases)})


def get_board(name: str) -> Board:
    """The board called ``name`` (id or alias, case- and dash-insensitive); a project's own board
    first, and under a built-in board's aliases too where it replaces that board."""
    boards = _load_all()
    key = _key(name)
    if key in boards:
        return boards[key]
    for board in sorted(boards.values(), key=lambda b: not b.user):  # a project's aliases first
        if key in board.aliases:
            return board
    for builtin in builtin_boards().values():  # a replaced built-in's aliases name its replacement
        if key in builtin.aliases:
            return boards[builtin.id]
    names = board_names()
    close = difflib.get_close_matches(key, names, n=4, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"known boards: {', '.join(names)}"
    raise TinygenError(f"unknown board {name!r}: {hint} (`tinygen boards` lists them all)")
