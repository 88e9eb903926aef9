"""The instructions of each executed block, from the firmware ELF (``arm-none-eabi-objdump -d``).

objdump is already part of the Arm toolchain tinygen needs, follows the ELF's mapping symbols (so
literal pools are not decoded as code) and prints unified syntax that llvm-mca reads back; a
Python disassembler (capstone) would be one more dependency for no gain here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tinygen.errors import TinygenError, ToolMissingError

OBJDUMP = "arm-none-eabi-objdump"
# "    8a:	f8d1 3004 	ldr.w	r3, [r1, #4]	@ comment"
_LINE = re.compile(r"^\s*([0-9a-f]+):\s+([0-9a-f]{4})(?: ([0-9a-f]{4}))?\s+\t([a-z][\w.]*)\s*(.*)$")


@dataclass(frozen=True)
class Insn:
    address: int
    size: int
    #: lower case, width qualifier (.n/.w) removed: "ldr", "bne", "smlad", "vldr"
    mnemonic: str
    #: operand text without objdump's comment and symbol annotations
    operands: str
    #: branch target for direct branches (B, Bcc, BL, CBZ, CBNZ)
    target: int | None = None


#: cores whose instructions objdump (binutils 2.40) decodes only when told the architecture: from the ELF's
#: "cortex-m55" attribute it does not enable Armv8.1-M (CSEL/CSINC/CSNEG, low-overhead loops, MVE)
OBJDUMP_ARCH = {"cortex-m55": "armv8.1-m.main", "cortex-m85": "armv8.1-m.main"}


def read_instructions(elf: str | Path, core: str | None = None) -> dict[int, Insn]:
    """Every instruction of the ELF's code sections, by address (``core``: the core it was built for)."""
    tool = shutil.which(OBJDUMP)
    if tool is None:
        raise ToolMissingError(f"{OBJDUMP} is not installed; install it with 'apt-get install binutils-arm-none-eabi'")
    arch = ["-m", OBJDUMP_ARCH[core]] if core in OBJDUMP_ARCH else []
    proc = subprocess.run([tool, "-d", *arch, str(elf)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise TinygenError(f"{elf}: {OBJDUMP} cannot disassemble it ({proc.stderr.strip()[:200]}); rebuild the firmware")
    return parse_objdump(proc.stdout)


def parse_objdump(text: str) -> dict[int, Insn]:
    insns: dict[int, Insn] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None or match.group(4).startswith("."):  # .word/.short: data in a literal pool
            continue
        address = int(match.group(1), 16)
        size = 4 if match.group(3) else 2
        mnemonic = re.sub(r"\.[nw]$", "", match.group(4))
        operands, target = _clean_operands(mnemonic, match.group(5))
        insns[address] = Insn(address, size, mnemonic, operands, target)
    return insns


def _clean_operands(mnemonic: str, text: str) -> tuple[str, int | None]:
    text = text.split("\t@")[0].split(" @ ")[0].strip()
    target = None
    branch = re.match(r"^((?:(?:r\d+|ip|lr|sl|fp), )*)([0-9a-f]+) <[^>]*>$", text)
    if branch and (is_branch_mnemonic(mnemonic) or mnemonic in ("cbz", "cbnz") or is_loop_mnemonic(mnemonic)):
        target = int(branch.group(2), 16)
        text = branch.group(1).rstrip(", ")
    return text, target


#: Armv8.1-M low-overhead loops: WLS/DLS start one (WLS branches past it when the count is zero), LE ends
#: an iteration (branches back); the tail-predicated forms carry a size suffix (wlstp.8)
LOOP_MNEMONICS = ("wls", "wlstp", "dls", "dlstp", "le", "letp")


def is_loop_mnemonic(mnemonic: str) -> bool:
    return mnemonic.split(".")[0] in LOOP_MNEMONICS


CONDITIONS = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al")


def is_branch_mnemonic(mnemonic: str) -> bool:
    """B, Bcc, BL, BX, BLX (not BIC/BFI/BFC)."""
    return mnemonic in ("b", "bl", "bx", "blx") or (mnemonic.startswith("b") and mnemonic[1:] in CONDITIONS)


def block_instructions(insns: dict[int, Insn], address: int, count: int) -> list[Insn]:
    """The ``count`` instructions from ``address`` on (a block as QEMU translated it)."""
    out: list[Insn] = []
    pc = address
    for _ in range(count):
        insn = insns.get(pc)
        if insn is None:
            raise TinygenError(
                f"QEMU ran code at {pc:#x} that the ELF's disassembly does not hold; "
                "profile the same ELF the estimate reads"
            )
        out.append(insn)
        pc += insn.size
    return out
