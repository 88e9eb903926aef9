"""The cycle estimator (tinygen.cycles): the TRM micro-benchmarks, the parsers, and one run in QEMU."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tinygen.cycles import micro, tables
from tinygen.cycles.blocks import Profile
from tinygen.cycles.disasm import Insn, block_instructions, parse_objdump
from tinygen.cycles.mca import mca_line
from tinygen.cycles.estimate import interval_cycles
from tinygen.emulator import parse_block_profile
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
      56:	f023 c00d 	wlstp.8	lr, r3, 74 <loop+0x34>
      5a:	f01f c00f 	letp	lr, 40 <loop>
"""


def test_objdump_is_parsed_with_sizes_targets_and_no_data() -> None:
    insns = parse_objdump(OBJDUMP)
    assert 0x50 not in insns  # a literal-pool word is not an instruction
    assert (insns[0x42].size, insns[0x42].mnemonic, insns[0x42].operands) == (4, "ldr", "r2, [r0, #4]")
    assert (insns[0x4C].mnemonic, insns[0x4C].target, insns[0x4C].operands) == ("bne", 0x40, "")
    assert (insns[0x54].mnemonic, insns[0x54].target, insns[0x54].operands) == ("cbz", 0x92, "r1")
    # Armv8.1-M low-overhead loops: their targets too, and llvm-mca gets an issue slot for them
    assert (insns[0x56].mnemonic, insns[0x56].operands, insns[0x56].target) == ("wlstp.8", "lr, r3", 0x74)
    assert (insns[0x5A].mnemonic, insns[0x5A].operands, insns[0x5A].target) == ("letp", "lr", 0x40)
    assert mca_line(insns[0x5A]) == "nop"
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
    profile = parse_block_profile(text)
    blocks, intervals = profile.blocks, profile.intervals
    assert blocks[0].address == 0x40 and blocks[0].insns == 6 and len(intervals) == 3
    assert intervals[1].counts == {0: (10, 1), 1: (2, 0)}
    timings = {0: tables.BlockCycles(6, 2, True), 1: tables.BlockCycles(3)}
    # block 0: 10 x 6 + 9 taken x 2; block 1: 2 x 3 (not conditional: fall-throughs do not matter)
    assert interval_cycles(intervals[1], timings) == 10 * 6 + 9 * 2 + 2 * 3
    assert parse_block_profile("block 0 0x40 1 2\ninterval 0\nerror out of memory\n").error == "out of memory"


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


# ---------------------------------------------------------------------------------------------
# tinygen bench: the estimate beside the exact counts.


def test_bench_prints_the_estimate_or_why_there_is_none() -> None:
    from tinygen.commands.bench import NO_CYCLES, cycles_lines

    model = {"name": "table model: cortex-m4 TRM instruction tables", "estimated": True, "board": "nucleo_l4r5zi",
             "core": "cortex-m4", "clock_hz": 120_000_000, "assumptions": ["ART accelerator assumed to hit"],
             "memory": {"flash_wait_states": 5, "load_instructions": 10, "all_loads_miss_extra_cycles": 50}}  # fmt: skip
    lines = cycles_lines({"estimated_cycles": 1_200_000, "estimated_ms": 10.0, "cycle_model": model})
    assert lines[0].startswith("estimated cycles / inf.:  1,200,000 ≈ 10.000 ms on nucleo_l4r5zi (cortex-m4 at 120 MHz)")
    assert "not a measurement" in lines[0] and any("ART accelerator assumed to hit" in line for line in lines)
    assert "+50 cycles at most (10 loads x 5 flash wait states)" in lines[-1]
    assert cycles_lines({"cycle_model": None, "no_cycles_reason": NO_CYCLES}) == [
        f"estimated cycles:         none ({NO_CYCLES})"
    ]


def _bench_json(tmp_path: Path, board: str, *options: str) -> dict:
    import json

    from click.testing import CliRunner
    from corpus import corpus_path

    from tinygen.cli import cli

    result = CliRunner().invoke(cli, ["bench", str(corpus_path("conv_relu")), "--board", board, "--json",
                                      "--work-dir", str(tmp_path), *options])  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.emulator
def test_bench_json_estimates_cycles_per_layer_for_the_named_board(tmp_path: Path) -> None:
    """A nucleo_l4r5zi bench runs on its QEMU stand-in and estimates for its Cortex-M4 at 120 MHz."""
    report = _bench_json(tmp_path, "nucleo_l4r5zi")
    model = report["cycle_model"]
    assert (model["board"], model["core"], model["clock_hz"], model["estimated"]) == ("nucleo_l4r5zi", "cortex-m4",
                                                                                      120_000_000, True)  # fmt: skip
    assert model["name"].startswith("table model") and any("ART" in a for a in model["assumptions"])
    assert report["no_cycles_reason"] is None and report["machine"] == "mps2-an386"
    layers = report["layers"]
    assert sum(layer["estimated_cycles"] for layer in layers) == report["estimated_cycles"]
    assert report["estimated_ms"] == round(report["estimated_cycles"] / 120e6 * 1e3, 4)
    for layer in layers:
        # in-order M4: at least a cycle per instruction, and a load costs two
        assert layer["instructions"] <= layer["estimated_cycles"] <= 3 * layer["instructions"]
        assert layer["estimated_ms"] == round(layer["estimated_cycles"] / 120e6 * 1e3, 4)


@pytest.mark.emulator
def test_bench_without_cycles_or_without_llvm_mca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinygen.commands.bench import NO_CYCLES
    from tinygen.cycles import mca

    skipped = _bench_json(tmp_path / "a", "mps2_an386", "--no-cycles")
    assert skipped["no_cycles_reason"] == NO_CYCLES and skipped["instructions_per_inference"] > 0
    assert skipped["estimated_cycles"] is None and skipped["cycle_model"] is None
    assert {layer["estimated_cycles"] for layer in skipped["layers"]} == {None}
    # a Cortex-M7 board needs llvm-mca: without it bench still counts and says why there is no estimate
    monkeypatch.setattr(mca, "LLVM_MCA", ("llvm-mca-absent",))
    report = _bench_json(tmp_path / "b", "nucleo_h743zi")
    assert report["estimated_cycles"] is None and "llvm-mca is not installed" in report["no_cycles_reason"]
    assert report["method"] == "plugin" and all(layer["instructions"] > 0 for layer in report["layers"])


@pytest.mark.emulator
@needs_mca
def test_bench_estimates_helium_firmware_on_m55(tmp_path: Path) -> None:
    """Armv8.1-M code (MVE kernels, CSEL/CSNEG): every block QEMU ran is disassembled and timed."""
    report = _bench_json(tmp_path, "mps3_an547")
    assert report["no_cycles_reason"] is None, report["no_cycles_reason"]
    assert report["cycle_model"]["name"].endswith("-mcpu=cortex-m55")
    assert sum(layer["estimated_cycles"] for layer in report["layers"]) == report["estimated_cycles"] > 0
