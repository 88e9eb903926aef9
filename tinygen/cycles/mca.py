"""Per-block cycles from LLVM's scheduling models, through ``llvm-mca`` (Cortex-M7, M55, M85).

Every block is one llvm-mca code region, all in a single run. A block's cycles are llvm-mca's
steady-state cycles per iteration over ``ITERATIONS`` back-to-back repetitions: exact for a loop
body that branches to itself, an approximation for straight-line blocks (dependencies on earlier
blocks are not seen). llvm-mca does not model branches; ``estimate`` adds the taken-branch cost.

Debian's ``llvm-19`` (``apt-get install llvm-19``) has scheduling models for Cortex-M4, M7, M55 and
M85; llvm-mca-14 already has M4 and M7 (its cortex-m55 is the M4 model), so M55 needs 19.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tinygen.cycles.disasm import Insn, is_branch_mnemonic, is_loop_mnemonic
from tinygen.errors import TinygenError, ToolMissingError

ITERATIONS = 100
#: newest first; the first one found is used
LLVM_MCA = ("llvm-mca-19", "llvm-mca-18", "llvm-mca-17", "llvm-mca")
TRIPLES = {
    "cortex-m7": "thumbv7em-none-eabi",
    "cortex-m4": "thumbv7em-none-eabi",
    "cortex-m55": "thumbv8.1m.main-none-eabi",
    "cortex-m85": "thumbv8.1m.main-none-eabi",
}
MCA_CORES = tuple(TRIPLES)
_REGION = re.compile(r"Code Region - b(\d+)\s.*?Iterations:\s+(\d+)\s+Instructions:\s+(\d+)\s+Total Cycles:\s+(\d+)", re.S)


def find_llvm_mca() -> str:
    for name in LLVM_MCA:
        path = shutil.which(name)
        if path is not None:
            return path
    raise ToolMissingError("llvm-mca is not installed; install Debian's llvm-19 ('apt-get install llvm-19')")


def mca_line(insn: Insn) -> str:
    """The instruction as llvm-mc reads it: direct branches get a target of their own."""
    if insn.mnemonic in ("cbz", "cbnz"):
        return "nop"  # a compare-and-branch issues like one ALU instruction; its target cannot be "."
    if is_loop_mnemonic(insn.mnemonic):
        return "nop"  # WLS/DLS/LE: no scheduling information in LLVM; one issue slot, as an ALU instruction
    if insn.mnemonic in ("bl", "blx", "bx"):
        return "b ."  # llvm-mca charges a call 100 cycles; the callee's blocks are counted on their own
    if is_branch_mnemonic(insn.mnemonic) and insn.target is not None:
        return f"{insn.mnemonic} ."
    return f"{insn.mnemonic} {insn.operands}".strip()


def region_source(blocks: dict[int, list[Insn]]) -> str:
    lines = [".syntax unified", ".thumb"]
    for key, insns in blocks.items():
        lines.append(f"# LLVM-MCA-BEGIN b{key}")
        lines += [mca_line(i) for i in insns]
        lines.append("# LLVM-MCA-END")
    return "\n".join(lines) + "\n"


def block_cycles(core: str, blocks: dict[int, list[Insn]]) -> dict[int, float]:
    """Steady-state cycles per execution of each block (keyed as given), from llvm-mca's ``core`` model.

    Instructions llvm-mca cannot parse or schedule are left out and counted as one cycle each."""
    if core not in TRIPLES:
        raise TinygenError(f"llvm-mca has no scheduling model tinygen uses for {core}; use one of {', '.join(MCA_CORES)}")
    if not blocks:
        return {}
    tool = find_llvm_mca()
    with tempfile.TemporaryDirectory(prefix="tinygen-mca-") as tmp:
        source = Path(tmp) / "blocks.s"
        source.write_text(region_source(blocks))
        cmd = [tool, f"-mtriple={TRIPLES[core]}", f"-mcpu={core}", f"-iterations={ITERATIONS}",
               "-skip-unsupported-instructions=any", "-resource-pressure=0", "-instruction-info=0",
               str(source)]  # fmt: skip
        if "19" not in Path(tool).name and "18" not in Path(tool).name:
            cmd.remove("-skip-unsupported-instructions=any")  # older llvm-mca lacks it
        proc = subprocess.run(cmd, capture_output=True, text=True)
    found = {int(m.group(1)): (int(m.group(2)), int(m.group(3)), int(m.group(4))) for m in _REGION.finditer(proc.stdout)}
    if proc.returncode != 0 or len(found) != len(blocks):
        raise TinygenError(f"llvm-mca failed on the firmware's blocks for {core}: {proc.stderr.strip()[:300]}")
    cycles = {}
    for key, insns in blocks.items():
        iterations, executed, total = found[key]
        skipped = len(insns) - executed // iterations
        cycles[key] = total / iterations + skipped
    return cycles
