"""Estimated cycles per layer and per inference: block counts from QEMU x cycles per block.

cycles = sum over the blocks that ran of executions x block cycles (+ a taken-branch refill for
each execution whose final conditional branch was taken), per tg_mark() interval, i.e. per layer.
Block cycles come from the Cortex-M0+/M3/M4 TRM tables (``tables``; M33 uses M4's) or LLVM's
scheduling models through llvm-mca (``mca``; M7, M55). The core runs at the board's clock.

Memory: the core estimate assumes every instruction fetch and data load hits zero-wait-state
memory or a cache (the ART accelerator on STM32, the L1 caches on Cortex-M7). ``memory`` in the
result states the board's flash wait states and bounds what misses could add (every load missing:
load instructions x wait states). Every figure is labelled an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinygen.cycles import mca, tables
from tinygen.cycles.blocks import Interval, Profile, run_profile
from tinygen.cycles.disasm import Insn, block_instructions, read_instructions
from tinygen.errors import TinygenError

#: extra cycles for a taken conditional branch on the llvm-mca cores (llvm-mca does not model it)
#: Cortex-M7: the branch target address cache predicts loop branches (assumed always right: 0);
#: Cortex-M55/M85: one refill cycle (assumed; their TRMs publish no branch timing); Cortex-M4
#: (the cross-check of LLVM's model with the TRM tables): P = 1. Unconditional branches pay it always.
#: An Armv8.1-M loop end (LE/LETP) is not charged it: assumed free once the M55 has cached the loop's start.
MCA_TAKEN_EXTRA = {"cortex-m7": 0.0, "cortex-m55": 1.0, "cortex-m85": 0.0, "cortex-m4": 1.0}
_LOADS = ("ldr", "ldm", "pop", "vldr", "vldm", "vpop")


@dataclass(frozen=True)
class Memory:
    """Flash wait states at the board's clock and what the estimate assumes about them."""

    wait_states: int
    assumption: str


#: What the estimate assumes about each family's flash accelerator and caches (the wait states themselves come
#: from the board's manifest: its clock section holds the reference manual's wait-state table)
CACHE_ASSUMPTION: dict[str, str] = {
    "stm32f4": "ART accelerator (instruction cache, prefetch, data cache) assumed to hit",
    "stm32f7": "ART / L1 caches assumed to hit",
    "stm32h7": "L1 I/D caches assumed to hit",
    "stm32l4": "ART accelerator (instruction cache, prefetch, 8-line data cache) assumed to hit",
    "stm32g0": "prefetch and instruction cache assumed to hit",
    "stm32u5": "ICACHE assumed to hit, weights in flash uncached (see the bound)",
    "nrf52": "flash with cache enabled, zero wait states assumed",
}
QEMU_MEMORY = Memory(0, "QEMU MPS2/MPS3 board: code and data in zero-wait-state SSRAM")


def model_name(core: str) -> str:
    if core in tables.TABLE_CORES:
        source = "Cortex-M4 TRM tables (M33 has none)" if core == "cortex-m33" else f"{core} TRM instruction tables"
        return f"table model: {source}"
    if core in mca.MCA_CORES:
        return f"llvm-mca ({Path(mca.find_llvm_mca()).name}) -mcpu={core}"
    raise TinygenError(f"no cycle model for {core}; cores with one: "
                       f"{', '.join(tables.TABLE_CORES + mca.MCA_CORES)}")  # fmt: skip


def block_timings(core: str, code: dict[int, list[Insn]], insns: dict[int, Insn],
                  use_mca: bool = False) -> dict[int, tables.BlockCycles]:  # fmt: skip
    """Cycles of one execution of each block (id -> instructions); ``use_mca`` takes LLVM's model for a
    core that has a table model too (Cortex-M4: a cross-check of the two)."""
    if core in tables.TABLE_CORES and not use_mca:
        return {b: tables.block_cycles(core, body, insns.get) for b, body in code.items()}
    model_name(core)  # an unknown core: a TinygenError naming the ones with a model
    steady = mca.block_cycles(core, code)
    extra = MCA_TAKEN_EXTRA.get(core, 1.0)
    timings = {}
    for b, body in code.items():
        last = body[-1]
        name = tables.base_mnemonic(last.mnemonic)
        conditional = name in ("cbz", "cbnz") or (tables.is_branch_mnemonic(name) and name not in ("b", "bl", "bx", "blx"))
        always = name in ("b", "bl", "bx", "blx") or (name in ("pop", "ldm", "ldmia") and "pc" in last.operands)
        timings[b] = tables.BlockCycles(steady[b] + (extra if always else 0.0), extra if conditional else 0.0, conditional)
    return timings


def interval_cycles(interval: Interval, timings: dict[int, tables.BlockCycles]) -> float:
    total = 0.0
    for b, (execs, falls) in interval.counts.items():
        timing = timings[b]
        total += execs * timing.base
        if timing.conditional:
            total += (execs - falls) * timing.taken_extra
    return total


def _load_instructions(body: list[Insn]) -> int:
    return sum(1 for i in body if tables.base_mnemonic(i.mnemonic).startswith(_LOADS))


def estimate(profile: Profile, elf: str | Path, core: str, clock_hz: int, memory: Memory,
             vector: int = 0, use_mca: bool = False) -> dict[str, Any]:  # fmt: skip
    """The estimate for inference ``vector`` of a profiled run, as plain JSON-ready data."""
    insns = read_instructions(elf, core)
    layers = profile.layers(vector)
    ran = {b for layer in layers for b in layer.counts}
    code = {b: block_instructions(insns, profile.blocks[b].address, profile.blocks[b].insns) for b in sorted(ran)}
    timings = block_timings(core, code, insns, use_mca)
    rows = []
    for index, layer in enumerate(layers):
        cycles = interval_cycles(layer, timings)
        loads = sum(execs * _load_instructions(code[b]) for b, (execs, _) in layer.counts.items())
        rows.append({
            "index": index,
            "instructions": profile.instructions(layer),
            "estimated_cycles": round(cycles),
            "estimated_ms": round(cycles / clock_hz * 1e3, 4),
            "load_instructions": loads,
        })  # fmt: skip
    cycles = sum(r["estimated_cycles"] for r in rows)
    instructions = sum(r["instructions"] for r in rows)
    loads = sum(r["load_instructions"] for r in rows)
    return {
        "estimated": True,
        "core": core,
        "clock_hz": clock_hz,
        "model": model_name(core) if not use_mca else f"llvm-mca ({Path(mca.find_llvm_mca()).name}) -mcpu={core}",
        "assumptions": [
            "cycles per block from the cycle model, summed over QEMU's exact block execution counts",
            "taken-branch refill per taken conditional branch (fall-throughs counted by the plugin)",
            memory.assumption,
        ],
        "layers": rows,
        "inference": {
            "instructions": instructions,
            "estimated_cycles": cycles,
            "estimated_ms": round(cycles / clock_hz * 1e3, 4),
            "cycles_per_instruction": round(cycles / instructions, 3) if instructions else None,
        },
        "memory": {
            "flash_wait_states": memory.wait_states,
            "load_instructions": loads,
            # an upper bound on what cache/ART misses could add: every load misses
            "all_loads_miss_extra_cycles": loads * memory.wait_states,
        },
    }


def board_memory(board: Any) -> Memory:
    """The memory assumption for a tinygen.boards.Board."""
    clock = board.clock or {}
    if board.is_qemu or "family" not in clock:
        return QEMU_MEMORY
    wait_states = board.flash_wait_states()
    table = clock.get("flash_wait_states") or {}
    where = f"{table['source']}: " if "source" in table else ""
    assumption = CACHE_ASSUMPTION.get(clock["family"], "caches assumed to hit")
    return Memory(wait_states, f"{where}{wait_states} wait states at {board.clock_hz / 1e6:g} MHz; {assumption}")


def estimate_board(profile: Profile, elf: str | Path, board: Any, use_mca: bool = False) -> dict[str, Any]:
    """The estimate of a profiled run for ``board``'s core and clock (a tinygen.boards.Board; the run
    itself may come from its QEMU stand-in, or any machine with the same core)."""
    result = estimate(profile, elf, board.core, board.clock_hz, board_memory(board), use_mca=use_mca)
    result["board"] = board.id
    return result


def estimate_firmware(elf: str | Path, board_name: str, num_layers: int | None = None, timeout: float = 300.0,
                      use_mca: bool = False) -> dict[str, Any]:  # fmt: skip
    """Profile ``elf`` on the board's QEMU stand-in and estimate its cycles on the board's core and clock."""
    from tinygen.boards import get_board

    board = get_board(board_name)
    profile = run_profile(elf, board.machine, num_layers=num_layers, timeout=timeout)
    return estimate_board(profile, elf, board, use_mca)
