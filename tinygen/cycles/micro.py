"""Micro-benchmarks for the cycle models: loops whose cycles per iteration the manuals state.

Each kernel is one loop: ``loop: BODY; subs r4, r4, #1; bne loop`` with ``loop`` word aligned
(so P, the taken-branch refill, is 1 on M3/M4). ``expected`` is the figure worked out by hand from
the technical reference manual tables cited in ``tinygen.cycles.tables`` (M0+ DDI 0484C Table 3-1,
M3 DDI 0337H Table 18-1, M4 DDI 0439B Table 3-1 and 3.3.2), per core, for one iteration including
the SUBS (1) and the taken BNE (M3/M4: 1+P = 2; M0+: 2). The Cortex-M7 and M55 TRMs publish no
cycle tables: their figures are llvm-mca's, checked for the properties Arm documents (dual issue
on M7: independent ALU pairs below one cycle per instruction).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tinygen.cycles.disasm import Insn, parse_objdump
from tinygen.errors import ToolMissingError


@dataclass(frozen=True)
class Kernel:
    name: str
    #: loop body (r0: a word buffer whose first word holds its own address; r4: the loop counter)
    body: str
    #: core -> cycles per iteration by the manual (cores where the kernel is valid code)
    expected: dict[str, int] = field(default_factory=dict)
    why: str = ""


KERNELS = (
    Kernel("ldr x4 independent", "ldr r1, [r0]\nldr r2, [r0, #4]\nldr r3, [r0, #8]\nldr r5, [r0, #12]",
           {"cortex-m0plus": 11, "cortex-m3": 8, "cortex-m4": 8},
           "M3/M4: pipelined loads 2+1+1+1; M0+: 2 each"),
    Kernel("ldr x2 address-dependent", "ldr r1, [r0]\nldr r2, [r1]",
           {"cortex-m0plus": 7, "cortex-m3": 7, "cortex-m4": 7},
           "the second load's address is the first's result: no pipelining, 2+2"),
    Kernel("str x4 immediate offset", "str r1, [r0, #16]\nstr r2, [r0, #20]\nstr r3, [r0, #24]\nstr r5, [r0, #28]",
           {"cortex-m0plus": 11, "cortex-m3": 7, "cortex-m4": 7},
           "M3/M4 3.3.2: STR Rx,[Ry,#imm] is always one cycle; M0+: 2 each"),
    Kernel("ldm 4 registers", "ldm r0!, {r1, r2, r3, r5}\nsubs r0, #16",
           {"cortex-m0plus": 9, "cortex-m3": 9, "cortex-m4": 9}, "LDM 1+N with N=4, then one SUBS"),
    Kernel("muls x4 dependent", "muls r1, r2, r1\nmuls r1, r2, r1\nmuls r1, r2, r1\nmuls r1, r2, r1",
           {"cortex-m0plus": 7, "cortex-m3": 7, "cortex-m4": 7}, "MUL 1 cycle, no result latency on M0+/M3/M4"),
    Kernel("mla x4 independent", "mla r1, r2, r3, r1\nmla r5, r2, r3, r5\nmla r6, r2, r3, r6\nmla r7, r2, r3, r7",
           {"cortex-m3": 11, "cortex-m4": 7}, "MLA: 2 cycles on M3, 1 on M4"),
    Kernel("smlad x4 independent", "smlad r1, r2, r3, r1\nsmlad r5, r2, r3, r5\nsmlad r6, r2, r3, r6\n"
           "smlad r7, r2, r3, r7", {"cortex-m4": 7}, "M4 DSP: SMLAD 1 cycle"),
    Kernel("ldr x2 + smlad x2 (int8 MAC inner loop)", "ldr r1, [r0]\nldr r2, [r0, #4]\nsmlad r5, r1, r2, r5\n"
           "smlad r6, r2, r1, r6", {"cortex-m4": 8}, "loads 2+1, two SMLADs 1+1"),
    Kernel("alu x4 independent", "adds r1, r1, #1\nadds r2, r2, #1\nadds r3, r3, #1\nadds r5, r5, #1",
           {"cortex-m0plus": 7, "cortex-m3": 7, "cortex-m4": 7}, "data processing 1 cycle"),
    Kernel("add x4 independent, no flags", "add r1, r1, #1\nadd r2, r2, #1\nadd r3, r3, #1\nadd r5, r5, #1",
           {"cortex-m3": 7, "cortex-m4": 7}, "data processing 1 cycle (M7: two per cycle)"),
    Kernel("mul x4 dependent, no flags", "mul r1, r2, r1\nmul r1, r2, r1\nmul r1, r2, r1\nmul r1, r2, r1",
           {"cortex-m3": 7, "cortex-m4": 7}, "MUL 1 cycle (M7: result latency)"),
    Kernel("mul x4 independent, no flags", "mul r1, r2, r1\nmul r5, r2, r5\nmul r6, r2, r6\nmul r7, r2, r7",
           {"cortex-m3": 7, "cortex-m4": 7}, "MUL 1 cycle"),
    Kernel("ldr/add pairs (M7 dual issue)", "ldr r1, [r0]\nadd r2, r2, #1\nldr r3, [r0, #4]\nadd r5, r5, #1\n"
           "add r6, r6, #1\nadd r7, r7, #1", {"cortex-m3": 11, "cortex-m4": 11},
           "an ALU instruction between two loads stops their pipelining: 2+1+2+1+1+1"),
)  # fmt: skip

#: cores whose micro-benchmarks come from the TRM tables (exact by construction of tables.py)
VALIDATED = ("cortex-m0plus", "cortex-m3", "cortex-m4")
#: the assembler's option per core (binutils 2.40 does not know -mcpu=cortex-m55)
AS_TARGET = {"cortex-m0plus": "-mcpu=cortex-m0plus", "cortex-m3": "-mcpu=cortex-m3", "cortex-m4": "-mcpu=cortex-m4",
             "cortex-m33": "-mcpu=cortex-m33", "cortex-m7": "-mcpu=cortex-m7",
             "cortex-m55": "-march=armv8.1-m.main+mve"}  # fmt: skip


def loop_source(kernel: Kernel) -> str:
    return (".syntax unified\n.thumb\n.text\n.p2align 2\nloop:\n" + kernel.body
            + "\nsubs r4, r4, #1\nbne loop\n")  # fmt: skip


def assemble(kernel: Kernel, core: str) -> list[Insn]:
    """The kernel's loop as the core's assembler encodes it (arm-none-eabi-as, objdump)."""
    if shutil.which("arm-none-eabi-as") is None:
        raise ToolMissingError("arm-none-eabi-as is not installed; install binutils-arm-none-eabi")
    with tempfile.TemporaryDirectory(prefix="tinygen-micro-") as tmp:
        src, obj = Path(tmp) / "k.s", Path(tmp) / "k.o"
        src.write_text(loop_source(kernel))
        subprocess.run(["arm-none-eabi-as", AS_TARGET[core], "-mthumb", "-o", str(obj), str(src)],
                       check=True, capture_output=True, text=True)  # fmt: skip
        text = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], check=True, capture_output=True,
                              text=True).stdout  # fmt: skip
    insns = [i for _, i in sorted(parse_objdump(text).items())]
    end = next(n for n, i in enumerate(insns) if i.mnemonic == "bne")
    return insns[: end + 1]  # the loop, without the section's alignment padding


def loop_cycles(kernel: Kernel, core: str, use_mca: bool = False) -> float:
    """The model's cycles for one iteration of the kernel's loop (its branch taken); ``use_mca``: LLVM's."""
    from tinygen.cycles.estimate import block_timings

    body = assemble(kernel, core)
    timing = block_timings(core, {0: body}, {i.address: i for i in body}, use_mca)[0]
    return timing.base + timing.taken_extra
