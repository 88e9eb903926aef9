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
    #: the manifest's ``tinygen.clock`` (empty: no clock bring-up, as on the QEMU machines)
    clock: dict[str, Any] = field(default_factory=dict, compare=False)
    path: Path = field(default=Path(), compare=False)

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


def _parse(path: Path) -> Board:
    try:
        data = json.loads(path.read_text())
        tg = data["tinygen"]
        mem = tg["memory"]
        return Board(
            id=path.stem,
            title=data["name"],
            vendor=data.get("vendor", ""),
            mcu=data["build"]["mcu"],
            core=tg["core"],
            cpu_flags=tuple(tg["cpu_flags"]),
            fpu=tg["fpu"],
            has_fpu=bool(tg["has_fpu"]),
            has_dsp=bool(tg["has_dsp"]),
            has_mve=bool(tg["has_mve"]),
            clock_hz=_int(tg["clock_hz"]),
            flash=Region(_int(mem["flash"]["origin"]), _int(mem["flash"]["size"])),
            ram=Region(_int(mem["ram"]["origin"]), _int(mem["ram"]["size"])),
            stack_size=_int(tg["stack_size"]),
            upload_protocol=data["upload"]["protocol"],
            upload_protocols=tuple(tg["upload_protocols"]),
            qemu=tg["qemu"]["board"],
            machine=tg["qemu"]["machine"],
            console=dict(tg["console"]),
            timer=tg["timer"],
            aliases=tuple(tg.get("aliases", ())),
            openocd_target=data.get("debug", {}).get("openocd_target"),
            clock=dict(tg.get("clock", {})),
            path=path,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise TinygenError(f"board manifest {path} is malformed ({exc!r}); fix or remove it") from exc


@lru_cache(maxsize=None)
def _load_all() -> dict[str, Board]:
    boards = {}
    for path in sorted(resource_dir("boards").glob("*.json")):
        board = _parse(path)
        boards[board.id] = board
    return boards


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def list_boards() -> list[Board]:
    """Every board tinygen knows, sorted by id."""
    return list(_load_all().values())


def board_names() -> list[str]:
    """Board ids and their aliases."""
    return sorted({n for b in list_boards() for n in (b.id, *b.aliases)})


def get_board(name: str) -> Board:
    """The board called ``name`` (id or alias, case- and dash-insensitive)."""
    boards = _load_all()
    key = _key(name)
    for board in boards.values():
        if key == board.id or key in board.aliases:
            return board
    names = board_names()
    close = difflib.get_close_matches(key, names, n=4, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"known boards: {', '.join(names)}"
    raise TinygenError(f"unknown board {name!r}: {hint} (`tinygen boards` lists them all)")
