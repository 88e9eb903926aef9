"""The cycle estimator (tinygen.cycles): the TRM micro-benchmarks, the parsers, and one run in QEMU."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tinygen.cycles import micro, tables
from tinygen.cycles.blocks import Profile, parse_blocks
from tinygen.cycles.disasm import Insn, block_instructions, parse_objdump
from tinygen.cycles.estimate import interval_cycles
from tinygen.errors import TinygenError

needs_as = pytest.mark.skipif(shutil.which("arm-none-eabi-as") is None, reason="arm-none-eabi-as is not installed")
needs_mca = pytest.mark.skipif(
    not any(shutil.which(t) for t in ("llvm-mca-19", "llvm-mca")), reason="llvm-mca is not installed (apt-get install llvm-19)"
)

CASES = [(k, core) for k in micro.KERNELS for core in micro.VALIDATED if core in k.expected]


@needs_as
@pytest.mark.parametrize("kernel,core", CASES, ids=[f"{c}-{k.name}" for k, c in CASES])
def test_table_model_gives_the_manuals_cycles(kernel: micro.Kernel, core: str) -> None:
    """Exact: the table model must reproduce each figure worked out from the TRM tables."""
    assert micro.loop_cycles(kernel, core) == kernel.expected[core]


def test_every_validated_core_has_micro_benchmarks() -> None:
    for core in micro.VALIDATED:
        assert sum(core in k.expected for k in micro.KERNELS) >= 6, core


@needs_as
@needs_mca
def test_m7_model_dual_issues_and_sees_multiply_latency() -> None:
    """No M7 cycle table is published; check the properties Arm documents for its pipeline."""
    kernels = {k.name: k for k in micro.KERNELS}
    independent_adds = micro.loop_cycles(kernels["add x4 independent, no flags"], "cortex-m7")
    assert independent_adds < 6  # six instructions (4 ADD, SUBS, BNE) in fewer than six cycles
    dependent = micro.loop_cycles(kernels["mul x4 dependent, no flags"], "cortex-m7")
    independent = micro.loop_cycles(kernels["mul x4 independent, no flags"], "cortex-m7")
    assert dependent > independent


OBJDUMP = """
00000040 <loop>:
      40:	6801      	ldr	r1, [r0, #0]
      42:	f8d0 2004 	ldr.w	r2, [r0, #4]	@ 0x4
      46:	bf18      	it	ne
      48:	3101      	addne	r1, #1
      4a:	3c01      	subs	r4, #1
      4c:	d1f8      	bne.n	40 <loop>
      4e:	bf00      	nop
      50:	12345678 	.word	0x12345678
      54:	b1e9      	cbz	r1, 92 <loop+0x52>
"""


def test_objdump_is_parsed_with_sizes_targets_and_no_data() -> None:
    insns = parse_objdump(OBJDUMP)
    assert 0x50 not in insns  # a literal-pool word is not an instruction
    assert (insns[0x42].size, insns[0x42].mnemonic, insns[0x42].operands) == (4, "ldr", "r2, [r0, #4]")
    assert (insns[0x4C].mnemonic, insns[0x4C].target, insns[0x4C].operands) == ("bne", 0x40, "")
    assert (insns[0x54].mnemonic, insns[0x54].target, insns[0x54].operands) == ("cbz", 0x92, "r1")
    assert [i.address for i in block_instructions(insns, 0x40, 3)] == [0x40, 0x42, 0x46]
    with pytest.raises(TinygenError, match="does not hold"):
        block_instructions(insns, 0x4E, 2)


def test_mnemonics_lose_it_conditions_and_flag_suffixes_only() -> None:
    expected = {"addne": "add", "adds": "add", "ldrle": "ldr", "mlalt": "mla", "smlal": "smlal", "bls": "bls",
                "bl": "bl", "bics": "bic", "smmlar": "smmlar", "movs": "mov", "strbne": "strb"}  # fmt: skip
    assert {m: tables.base_mnemonic(m) for m in expected} == expected


def _insn(address: int, size: int, mnemonic: str, operands: str = "", target: int | None = None) -> Insn:
    return Insn(address, size, mnemonic, operands, target)


def test_branch_refill_depends_on_the_target_and_pop_pc() -> None:
    wide_unaligned = _insn(0x102, 4, "ldr", "r1, [r0, #4]")
    lookup = {0x102: wide_unaligned, 0x100: _insn(0x100, 2, "nop")}.get
    # M4 TRM: P = 1, or 2 for a 32-bit target at a halfword address
    assert tables.block_cycles("cortex-m4", [_insn(0, 2, "bne", "", 0x100)], lookup) == tables.BlockCycles(1, 1, True)
    assert tables.block_cycles("cortex-m4", [_insn(0, 2, "bne", "", 0x102)], lookup).taken_extra == 2
    assert tables.block_cycles("cortex-m4", [_insn(0, 2, "pop", "{r4, r5, pc}")], lookup).base == 1 + 3 + 1
    assert tables.block_cycles("cortex-m0plus", [_insn(0, 2, "pop", "{r4, r5, pc}")], lookup).base == 3 + 3
    assert tables.block_cycles("cortex-m0plus", [_insn(0, 4, "bl", "", 0x100)], lookup).base == 3
    with pytest.raises(ValueError, match="no instruction table"):
        tables.block_cycles("cortex-m7", [_insn(0, 2, "nop")], lookup)


def test_block_profile_is_parsed_and_taken_branches_cost_extra() -> None:
    text = "block 0 0x40 6 14\nblock 1 0x100 2 4\ninterval 0\n1 1 1\ninterval 1\n0 10 1\n1 2 0\ninterval 2\n"
    blocks, intervals = parse_blocks(text)
    assert blocks[0].address == 0x40 and blocks[0].insns == 6 and len(intervals) == 3
    assert intervals[1].counts == {0: (10, 1), 1: (2, 0)}
    timings = {0: tables.BlockCycles(6, 2, True), 1: tables.BlockCycles(3)}
    # block 0: 10 x 6 + 9 taken x 2; block 1: 2 x 3 (not conditional: fall-throughs do not matter)
    assert interval_cycles(intervals[1], timings) == 10 * 6 + 9 * 2 + 2 * 3
    with pytest.raises(TinygenError, match="plugin failed"):
        parse_blocks("block 0 0x40 1 2\ninterval 0\nerror out of memory\n")


def test_unknown_core_is_an_error() -> None:
    from tinygen.cycles.estimate import block_timings

    with pytest.raises(TinygenError, match="no cycle model for cortex-m99"):
        block_timings("cortex-m99", {0: [_insn(0, 2, "nop")]}, {})


# ---------------------------------------------------------------------------------------------
# End to end in QEMU: the self-test program of test_emulator.py (5-instruction loops).


@pytest.mark.emulator
@pytest.mark.parametrize("machine,core", [("mps2-an386", "cortex-m4"), ("mps2-an500", "cortex-m7")])
def test_selftest_estimate_follows_the_loop_timing(tmp_path: Path, machine: str, core: str) -> None:
    from test_emulator import N, build_selftest, expected_layers

    from tinygen.cycles.blocks import run_profile
    from tinygen.cycles.estimate import QEMU_MEMORY, estimate

    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm is not installed")
    elf = build_selftest(tmp_path, machine)
    profile = run_profile(elf, machine, num_layers=2, timeout=30)
    assert isinstance(profile, Profile)
    assert [[profile.instructions(i) for i in profile.layers(v)] for v in (0, 1)] == [expected_layers(0), expected_layers(1)]
    first, second = (estimate(profile, elf, core, 25_000_000, QEMU_MEMORY, vector=v) for v in (0, 1))
    assert first["estimated"] is True and first["inference"]["instructions"] == sum(expected_layers(0))
    # vector 1 runs each loop N (layer 0) and 2N (layer 1) more iterations than vector 0
    per_iteration = [
        (b["estimated_cycles"] - a["estimated_cycles"]) / extra
        for a, b, extra in zip(first["layers"], second["layers"], (N, 2 * N))
    ]
    if core == "cortex-m4":
        assert per_iteration == [6, 6]  # ADDS, ADDS, EORS, SUBS: 4 x 1; taken BNE: 1+P = 2 (M4 TRM Table 3-1)
    else:
        body = micro.Kernel("selftest", "adds r1, r1, #1\nadds r2, r2, #2\neors r3, r3, r1")
        assert per_iteration == [pytest.approx(micro.loop_cycles(body, core), abs=0.01)] * 2
