"""Block profiles from QEMU: how often each translated block ran, per layer.

``tinygen.emulator.run_firmware(blocks=True)`` runs the firmware with the counting plugin
(``firmware/qemu_plugin/tg_count.c``) profiling blocks too, so a profiled run is counted and judged
exactly as any other. :func:`profile_of` turns its result into a :class:`Profile` after checking
that block executions x block lengths give the exact instruction count of every layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinygen import emulator
from tinygen.emulator import Block, Interval
from tinygen.errors import TinygenError, ToolMissingError

__all__ = ["Block", "Interval", "Profile", "profile_of", "run_profile"]


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


def profile_of(result: emulator.Result) -> Profile:
    """The block profile of an ok ``run_firmware(..., blocks=True)`` result; a TinygenError says why
    there is none (no plugin, an incomplete profile, or one that disagrees with the exact counts)."""
    result.check()
    recorded = result.block_profile
    if recorded is None:
        raise ToolMissingError("no block profile: it needs the QEMU plugin (install gcc so tinygen can build it)")
    if recorded.error:
        raise TinygenError(f"the QEMU plugin's block profile is incomplete: {recorded.error}")
    profile = Profile(result, recorded.blocks, recorded.intervals)
    _check_consistent(profile)
    return profile


def run_profile(elf: str | Path, machine: str, *, num_layers: int | None = None, timeout: float = 300.0) -> Profile:
    """Run ``elf`` on QEMU ``machine`` with the block profile. Raises TinygenError unless the run is ok."""
    result = emulator.run_firmware(elf, machine, timeout=timeout, num_layers=num_layers, method="plugin", blocks=True)
    return profile_of(result)


def _check_consistent(profile: Profile) -> None:
    """Block executions x block lengths must give the plugin's exact instructions for every layer."""
    for v, layers in enumerate(profile.result.layer_instructions):
        got = [profile.instructions(i) for i in profile.layers(v)]
        if got != layers:
            first = next(k for k, (a, b) in enumerate(zip(got, layers)) if a != b) if len(got) == len(layers) else 0
            raise TinygenError(
                f"block profile and instruction count disagree for vector {v}, layer {first} "
                f"({got[first] if got else 'none'} vs {layers[first]} instructions): a block was left mid-way "
                "(an exception inside a block); the estimate would be wrong"
            )
