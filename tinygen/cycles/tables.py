"""Table-driven cycle model for in-order Cortex-M cores: M0+, M3, M4 (and M33, which uses M4's).

Sources (Arm technical reference manuals):
* Cortex-M4 TRM (ARM DDI 0439B) section 3.3.1 "Cortex-M4 instructions", Table 3-1 (cycle counts),
  section 3.3.2 "Load/store timings" (load pipelining), and Table 7-1 "FPU instruction set" (FPU);
* Cortex-M3 TRM (ARM DDI 0337H) section 18.2, Table 18-1 "Cortex-M3 instruction set summary";
* Cortex-M0+ TRM (ARM DDI 0484C) section 3.3, Table 3-1 "Cortex-M0+ instruction summary".
The Cortex-M33 TRM publishes no cycle table; its 3-stage in-order pipeline is modelled with the
M4's table, as LLVM does (its cortex-m33 scheduling model is the Cortex-M4 one).

Assumptions, stated once: zero-wait-state memory (the flash model in ``estimate`` adds wait
states); P, the pipeline refill after a taken branch, is 1 cycle, or 2 when the target is a 32-bit
instruction at a halfword (not word) aligned address (M3/M4 TRM: "P ranges from 1 to 3 depending on
the alignment and width of the target instruction, and whether the processor manages to speculate
the address early"); multiplies with early termination (M3 long multiplies) and divides take the
middle of their documented range; an instruction skipped by IT still takes its cycle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from tinygen.cycles.disasm import CONDITIONS, Insn, is_branch_mnemonic

TABLE_CORES = ("cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m33")

_REG = re.compile(r"\b(r\d+|sp|lr|ip|fp|sl|pc)\b")
_ALIASES = {"ip": "r12", "fp": "r11", "sl": "r10"}
_SINGLE_LOADS = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex", "ldrt", "ldrbt", "ldrht", "vldr"}
_SINGLE_STORES = {"str", "strb", "strh", "strex", "strt", "vstr"}
_MULTI = {"ldm", "ldmia", "ldmfd", "ldmdb", "stm", "stmia", "stmea", "stmdb", "stmfd", "push", "pop",
          "vldmia", "vldmdb", "vstmia", "vstmdb", "vpush", "vpop"}  # fmt: skip
#: M4 Table 3-1: every multiply and multiply-accumulate is single cycle (DSP extension included)
_MULTIPLIES = re.compile(r"^(mul|mla|mls|[su]mull|[su]mlal|umaal|smul[bt][bt]|smulw[bt]|smla[bt][bt]|smlaw[bt]|"
                         r"smlal[bt][bt]|smla[ld]x?|smlsl?dx?|smu[as]dx?|smmulr?|smml[as]r?|smlald?x?|usada?8)$")
_DIVIDES = {"sdiv", "udiv"}
#: M4 Table 7-1: three-cycle FP multiply-accumulates, 14-cycle divide and square root
_FP_MAC = re.compile(r"^v(n?ml[as]|fm[as]|fnm[as])\b")
_FP_LONG = re.compile(r"^v(div|sqrt)\b")


@dataclass(frozen=True)
class BlockCycles:
    """Cycles of one execution of a block.

    ``base`` assumes the block's final conditional branch is not taken (an unconditional branch's
    refill is included); ``taken_extra`` is added for each execution where it is taken."""

    base: float
    taken_extra: float = 0.0
    conditional: bool = False


def base_mnemonic(mnemonic: str) -> str:
    """``mnemonic`` without an IT condition or flag-setting ``s``: "addne" -> "add", "adds" -> "add"."""
    name = mnemonic.split(".")[0]
    if is_branch_mnemonic(name) or name in ("cbz", "cbnz"):
        return name
    if len(name) > 3 and name[-2:] in CONDITIONS and _known(name[:-2]):
        name = name[:-2]
    if len(name) > 2 and name.endswith("s") and _known(name[:-1]) and not _known(name):
        name = name[:-1]
    return name


def _known(name: str) -> bool:
    return bool(
        name in _SINGLE_LOADS or name in _SINGLE_STORES or name in _MULTI or name in _DIVIDES
        or _MULTIPLIES.match(name) or name in ("ldrd", "strd", "add", "sub", "mov", "and", "orr", "eor", "lsl",
                                               "lsr", "asr", "ror", "rsb", "adc", "sbc", "bic", "mvn", "neg", "mul",
                                               "it", "cmp", "cmn", "tst", "teq", "sxtb", "uxtb", "sxth", "uxth")
    )  # fmt: skip


def registers(text: str) -> list[str]:
    return [_ALIASES.get(r, r) for r in _REG.findall(text)]


def _address_registers(operands: str) -> list[str]:
    inside = operands[operands.find("[") + 1 : operands.find("]")] if "[" in operands else ""
    return registers(inside)


def _register_list_length(operands: str) -> int:
    """Registers in a {list} (ranges like r4-r7 counted in full)."""
    inside = operands[operands.find("{") + 1 : operands.find("}")]
    count = 0
    for part in inside.split(","):
        ends = [int(n) for n in re.findall(r"[rsd](\d+)", part)]
        count += ends[1] - ends[0] + 1 if len(ends) == 2 else 1
    return max(count, 1)


def _refill(target: Insn | None, core: str) -> int:
    """P: pipeline refill after a taken branch."""
    if core == "cortex-m0plus":
        return 1  # M0+ Table 3-1: taken branches are 2 cycles (1 + 1), BL 3
    if target is not None and target.size == 4 and target.address % 4 == 2:
        return 2
    return 1


def instruction_cycles(insn: Insn, core: str, previous: Insn | None) -> int:
    """Cycles of one non-branch instruction (branches: :func:`block_cycles`)."""
    name = base_mnemonic(insn.mnemonic)
    if name in _SINGLE_LOADS or name in _SINGLE_STORES:
        return _load_store_cycles(insn, name, core, previous)
    if name in _MULTI:
        return 1 + _register_list_length(insn.operands)  # 1+N (all three TRMs); POP with pc: block_cycles
    if name in ("ldrd", "strd"):
        return 3 if core != "cortex-m0plus" else 2  # M3/M4: 1+N with N=2
    if name in _DIVIDES:
        return 7  # 2..12 (M3/M4 Table: "SDIV/UDIV 2-12"): the middle
    if _MULTIPLIES.match(name):
        return _multiply_cycles(name, core)
    if _FP_MAC.match(name):
        return 3
    if _FP_LONG.match(name):
        return 14
    return 1  # data processing, shifts, extends, bitfield, saturation, SIMD, IT, moves: 1 cycle


def _load_store_cycles(insn: Insn, name: str, core: str, previous: Insn | None) -> int:
    if core == "cortex-m0plus":
        return 2  # M0+ Table 3-1: every single load and store is 2 cycles, no pipelining
    if name in _SINGLE_STORES and "]" in insn.operands and not _register_offset(insn.operands):
        # M4 3.3.2: "STR Rx,[Ry,#imm] is always one cycle" (the data phase overlaps the next instruction)
        return 1
    cycles = 2
    if previous is not None and base_mnemonic(previous.mnemonic) in _SINGLE_LOADS:
        # M4 3.3.2: an LDR followed by an LDR or STR whose address does not use the first LDR's
        # destination pipelines: "one cycle is removed from the cost of the next instruction"
        destination = registers(previous.operands)[:1]
        if not set(destination) & set(_address_registers(insn.operands)):
            cycles -= 1
    return cycles


def _register_offset(operands: str) -> bool:
    inside = operands[operands.find("[") + 1 : operands.find("]")]
    return len(registers(inside)) > 1


def _multiply_cycles(name: str, core: str) -> int:
    if core in ("cortex-m4", "cortex-m33", "cortex-m0plus"):
        return 1  # M4 Table 3-1: MUL, MLA, long multiplies, DSP MACs: 1; M0+: MULS 1 (fast multiplier)
    # Cortex-M3 Table 18-1: MUL 1, MLA/MLS 2, UMULL/SMULL 3-5, UMLAL/SMLAL 4-7 (early termination)
    if name == "mul":
        return 1
    if name in ("mla", "mls"):
        return 2
    if name in ("umull", "smull"):
        return 4
    return 5 if name in ("umlal", "smlal") else 2


def block_cycles(core: str, insns: list[Insn], lookup: Callable[[int], Insn | None]) -> BlockCycles:
    """Cycles of one execution of the block ``insns``; ``lookup(address)`` finds branch targets."""
    if core not in TABLE_CORES:
        raise ValueError(f"no instruction table for {core}")
    total = 0
    previous: Insn | None = None
    for insn in insns[:-1]:
        total += instruction_cycles(insn, core, previous)
        previous = insn
    last = insns[-1]
    name = base_mnemonic(last.mnemonic)
    target = lookup(last.target) if last.target is not None else None
    refill = _refill(target, core)
    writes_pc = "pc" in registers(last.operands.split(",")[0] if name not in _MULTI else last.operands)
    if name in ("cbz", "cbnz") or (is_branch_mnemonic(name) and name not in ("b", "bl", "bx", "blx")):
        return BlockCycles(total + 1, refill, conditional=True)  # Bcc/CBZ: 1 not taken, 1+P taken
    if name == "bl" and core == "cortex-m0plus":
        return BlockCycles(total + 3)  # M0+ Table 3-1: BL 3
    if name in ("b", "bl", "bx", "blx"):
        return BlockCycles(total + 1 + refill)  # B/BL/BX/BLX: 1+P
    if name in ("tbb", "tbh"):
        return BlockCycles(total + 2 + refill)  # M3/M4: TBB/TBH 2+P
    cycles = instruction_cycles(last, core, previous)
    if writes_pc and (name in _MULTI or name in _SINGLE_LOADS):
        cycles += refill if core != "cortex-m0plus" else 2  # POP {..,pc}: 1+N+P (M0+: 3+N)
    return BlockCycles(total + cycles)
