"""Run firmware with the block-profile plugin: how often each translated block ran, per layer.

QEMU loads two plugins: ``tg_count.so`` (exact instruction counts, fault handling: the same as
``tinygen.emulator.run_firmware``) and ``tg_blocks.so`` (block executions between tg_mark()
calls). The console, the counts and the run's status come from emulator.py's
parsers, so a profiled run is judged exactly as a counted one.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tinygen import emulator
from tinygen.errors import TinygenError, ToolMissingError
from tinygen.resources import resource_dir


@dataclass(frozen=True)
class Block:
    """A block as QEMU translated it: ``size`` bytes, ``insns`` instructions from ``address``."""

    address: int
    insns: int
    size: int


@dataclass
class Interval:
    """What ran between two tg_mark() calls: block id -> (executions, fall-throughs)."""

    counts: dict[int, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Profile:
    result: emulator.Result
    blocks: dict[int, Block]
    #: interval 0 runs from reset to the first tg_mark(); interval k from mark k to mark k+1
    intervals: list[Interval]

    def layers(self, vector: int = 0) -> list[Interval]:
        """The intervals of each layer of inference ``vector``."""
        per_vector = len(self.result.layer_instructions[vector]) + 1 if self.result.layer_instructions else 0
        first = vector * per_vector + 1
        return self.intervals[first : first + per_vector - 1]

    def instructions(self, interval: Interval) -> int:
        return sum(execs * self.blocks[b].insns for b, (execs, _) in interval.counts.items())


def blocks_plugin_source() -> Path:
    return resource_dir("firmware") / "qemu_plugin" / "tg_blocks.c"


def build_blocks_plugin() -> Path:
    """tg_blocks.so, compiled on first use into emulator.py's plugin cache."""
    # emulator.build_plugin() builds only tg_count.c; a source parameter there would replace this.
    source = blocks_plugin_source()
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        raise ToolMissingError(f"no C compiler can build {source} (install gcc)")
    key = hashlib.sha256(source.read_bytes() + compiler.encode() + emulator.PLUGIN_CFLAGS.encode()).hexdigest()[:16]
    target = emulator._cache_root() / "qemu_plugin" / key / "tg_blocks.so"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
        proc = subprocess.run([*shlex.split(compiler), *emulator.PLUGIN_CFLAGS.split(), "-o", tmp, str(source)],
                              capture_output=True, text=True)  # fmt: skip
        if proc.returncode != 0:
            os.unlink(tmp)
            raise TinygenError(f"cannot compile {source}: {proc.stderr.strip()[:300]}")
        os.replace(tmp, target)
    return target


def run_profile(
    elf: str | Path,
    machine: str,
    *,
    num_layers: int | None = None,
    timeout: float = 300.0,
) -> Profile:
    """Run ``elf`` on QEMU ``machine`` with both plugins. Raises TinygenError unless the run is ok."""
    elf = Path(elf)
    info = emulator.machine_info(machine)
    if not elf.is_file():
        raise TinygenError(f"{elf}: firmware ELF not found; build it first")
    elf_info = emulator.read_elf(elf, info)
    counter = emulator.build_plugin()
    if counter is None or elf_info.mark is None:
        raise ToolMissingError(f"cannot profile {elf}: {emulator._plugin_problem(counter, elf_info)}")
    with tempfile.TemporaryDirectory(prefix="tinygen-blocks-") as tmp:
        counts_file, blocks_file = Path(tmp) / "counts.txt", Path(tmp) / "blocks.txt"
        count_args = f"{counter},out={counts_file},mark={elf_info.mark:#x}"
        count_args += "".join(f",fault={a:#x}" for a in elf_info.faults)
        block_args = f"{build_blocks_plugin()},out={blocks_file},mark={elf_info.mark:#x}"
        cmd = emulator.qemu_command(elf, machine, count_args, True) + ["-plugin", block_args]
        result, console_fault = _run(cmd, info.name, timeout)
        fault = emulator._parse_counts(result, counts_file.read_text()) if counts_file.is_file() else ""
        emulator._classify(result, result.exit_code is None, timeout, "; ".join(f for f in (fault, console_fault) if f))
        emulator._finish(result, num_layers)
        result.check()
        if not blocks_file.is_file():
            raise TinygenError(f"the block-profile plugin wrote nothing for {elf}")
        blocks, intervals = parse_blocks(blocks_file.read_text())
    profile = Profile(result, blocks, intervals)
    _check_consistent(profile)
    return profile


def _run(cmd: list[str], machine: str, timeout: float) -> tuple[emulator.Result, str]:
    """One QEMU run: its console parsed by emulator.py (``exit_code`` None: timed out) and the fault
    the firmware reported, if any."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the plugins still write what they have
        out, err = proc.communicate()
        code = None
    result = emulator.Result(machine=machine, status="ok", exit_code=code, method="plugin",
                             stderr=err.decode("utf-8", "replace"))  # fmt: skip
    return result, emulator._parse_console(result, out.decode("utf-8", "replace"))


def parse_blocks(text: str) -> tuple[dict[int, Block], list[Interval]]:
    blocks: dict[int, Block] = {}
    intervals: list[Interval] = []
    for line in text.splitlines():
        parts = line.split()
        if parts[0] == "block":
            blocks[int(parts[1])] = Block(int(parts[2], 16), int(parts[3]), int(parts[4]))
        elif parts[0] == "interval":
            intervals.append(Interval())
        elif parts[0] == "error":
            raise TinygenError(f"the block-profile plugin failed: {' '.join(parts[1:])}")
        else:
            intervals[-1].counts[int(parts[0])] = (int(parts[1]), int(parts[2]))
    return blocks, intervals


def _check_consistent(profile: Profile) -> None:
    """Block executions x block lengths must give tg_count's exact instructions for every layer."""
    for v, layers in enumerate(profile.result.layer_instructions):
        got = [profile.instructions(i) for i in profile.layers(v)]
        if got != layers:
            first = next(k for k, (a, b) in enumerate(zip(got, layers)) if a != b) if len(got) == len(layers) else 0
            raise TinygenError(
                f"block profile and instruction count disagree for vector {v}, layer {first} "
                f"({got[first] if got else 'none'} vs {layers[first]} instructions): a block was left mid-way "
                "(an exception inside a block); the estimate would be wrong"
            )
