"""The QEMU harness on a tiny bare-metal program whose instruction counts are known exactly.

The program (built here with arm-none-eabi-gcc for each machine) follows the firmware console
protocol: two "vectors", each an "inference" of two "layers" that are 5-instruction loops of
N·(v+1) and 2N·(v+1) iterations, written in assembly so the count between tg_mark() calls is
exact: layer 0 = 5·n + 3, layer 1 = 10·n + 3 (the loop plus bl, bx lr and one setup move).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from tinygen import emulator
from tinygen.emulator import MACHINES, run_firmware
from tinygen.errors import TinygenError

pytestmark = pytest.mark.emulator

N = 1000
VECTORS = 2

# Where each machine runs code and keeps data after reset (Secure aliases on TrustZone machines).
MEMORY = {
    "mps2-an385": (0x00000000, 0x20000000),
    "mps2-an386": (0x00000000, 0x20000000),
    "mps2-an500": (0x00000000, 0x20000000),
    "mps2-an505": (0x10000000, 0x38000000),
    "mps3-an547": (0x10000000, 0x30000000),
    "netduinoplus2": (0x08000000, 0x20000000),  # STM32F405: flash, SRAM
}

MAIN_C = r"""
#include <stdint.h>
extern uint32_t __stack_top;
int main(void);
void inference(uint32_t n);
static uint32_t semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
static void put(const char *s) { semihost(0x04, s); }
static void put_line(const char *tag, uint32_t a, const char *b) {
    char buf[96]; char digits[12]; int i = 0, d = 0;
    while (*tag) buf[i++] = *tag++;
    buf[i++] = ' ';
    do { digits[d++] = (char)('0' + a % 10u); a /= 10u; } while (a);
    while (d) buf[i++] = digits[--d];
    if (b) { buf[i++] = ' '; while (*b) buf[i++] = *b++; }
    buf[i++] = '\n'; buf[i] = 0;
    put(buf);
}
static void put_nums(const char *tag, uint32_t a, uint32_t b) {
    char buf[24]; int d = 0;
    put(tag); put(" ");
    do { buf[d++] = (char)('0' + a % 10u); a /= 10u; } while (a);
    while (d) { char c[2] = {buf[--d], 0}; put(c); }
    put(" ");
    do { buf[d++] = (char)('0' + b % 10u); b /= 10u; } while (b);
    while (d) { char c[2] = {buf[--d], 0}; put(c); }
    put("\n");
}
static void sh_exit(uint32_t code) {
    uint32_t block[2] = {0x20026u, code};
    semihost(0x20, block);
    for (;;) {}
}
void Reset_Handler(void) { sh_exit((uint32_t)main()); }
void HardFault_Handler(void) {
#ifdef FAULT_EXITS
    put("TG-FAULT HardFault\n"); sh_exit(3);
#endif
    for (;;) {}
}
void Default_Handler(void) { for (;;) {} }
__attribute__((section(".vectors"), used)) const void *const vectors[16] = {
    &__stack_top, (void *)Reset_Handler, (void *)Default_Handler, (void *)HardFault_Handler,
    (void *)HardFault_Handler, (void *)HardFault_Handler, (void *)HardFault_Handler,
    (void *)HardFault_Handler, 0, 0, 0, (void *)Default_Handler, (void *)Default_Handler, 0,
    (void *)Default_Handler, (void *)Default_Handler};
#define SYST ((volatile uint32_t *)0xE000E010u)
int main(void) {
    uint32_t v;
    put("boot banner that is not part of the protocol\n");
    put_line("TG-BEGIN selftest", VECTORS, 0);
    SYST[1] = 0xFFFFFFu; SYST[2] = 0; SYST[0] = 5u;   /* SysTick: CPU clock, no interrupt */
    for (v = 0; v < VECTORS; v++) {
        uint32_t start, ticks;
#ifdef CRASH
        *(volatile uint32_t *)0xFFFFFFF0u = 1u;
#endif
#ifdef HANG
        for (;;) { __asm__ volatile(""); }
#endif
        start = SYST[2];
#ifndef SKIP_INFERENCE
        inference(N * (v + 1u));
#endif
        ticks = (start - SYST[2]) & 0xFFFFFFu;
        put_line("TG-OUT", v, v ? "ff807f" : "00017f");
        put_nums("TG-TIME", v, ticks);
        put_line("TG-TENSOR", v, "0 0a0b");
    }
    put("TG-CHECKSUM " CHECKSUM "\n");
    put_line("TG-STACK", 136, 0);
    put_line("TG-END", 0, 0);
    return 0;
}
"""

LOOPS_S = r"""
    .syntax unified
    .thumb
    .text
    .global tg_mark
    .type tg_mark, %function
    .thumb_func
tg_mark:
    bx lr
    .global inference
    .type inference, %function
    .thumb_func
inference:
    push {r4, r5, r6, lr}
    mov r5, r0
    bl tg_mark
    mov r4, r5
1:  adds r1, r1, #1
    adds r2, r2, #2
    eors r3, r3, r1
    subs r4, r4, #1
    bne 1b
    bl tg_mark
    lsls r4, r5, #1
2:  adds r1, r1, #1
    adds r2, r2, #2
    eors r3, r3, r1
    subs r4, r4, #1
    bne 2b
    bl tg_mark
    pop {r4, r5, r6, pc}
"""


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")


#: CRC-32 of the outputs the program prints (00 01 7f, then ff 80 7f)
CHECKSUM = f"{zlib.crc32(bytes([0x00, 0x01, 0x7F, 0xFF, 0x80, 0x7F])):08x}"


def build_selftest(out_dir: Path, machine: str, *defines: str) -> Path:
    """Compile the self-test program for ``machine`` into ``out_dir``."""
    _need("arm-none-eabi-gcc")
    code, ram = MEMORY[machine]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "main.c").write_text(MAIN_C)
    (out_dir / "loops.S").write_text(LOOPS_S)
    (out_dir / "link.ld").write_text(
        f"MEMORY {{ CODE (rx) : ORIGIN = {code:#x}, LENGTH = 256K\n"
        f"         RAM (rwx) : ORIGIN = {ram:#x}, LENGTH = 64K }}\n"
        "SECTIONS {\n  .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } > CODE\n"
        "  .bss (NOLOAD) : { *(.bss*) *(COMMON) } > RAM\n"
        "  __stack_top = ORIGIN(RAM) + LENGTH(RAM);\n}\n"
    )
    if not any(d.startswith("CHECKSUM=") for d in defines):
        defines = (*defines, f'CHECKSUM="{CHECKSUM}"')
    name = "_".join([machine, *(re.sub(r"\W", "", d).lower() for d in defines)])
    elf = out_dir / f"{name}.elf"
    cmd = [
        "arm-none-eabi-gcc", f"-mcpu={MACHINES[machine].cpu}", "-mthumb", "-O1", "-std=c99",
        "-Wall", "-Wextra", "-Werror", "-nostdlib", "-nostartfiles", "-T", str(out_dir / "link.ld"),
        f"-DN={N}u", f"-DVECTORS={VECTORS}u", *(f"-D{d}" for d in defines),
        str(out_dir / "main.c"), str(out_dir / "loops.S"), "-o", str(elf),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return elf


@pytest.fixture(scope="module")
def selftest(tmp_path_factory: pytest.TempPathFactory):
    _need("qemu-system-arm")
    root = tmp_path_factory.mktemp("selftest")
    cache: dict[tuple[str, ...], Path] = {}

    def get(machine: str, *defines: str) -> Path:
        key = (machine, *defines)
        if key not in cache:
            cache[key] = build_selftest(root / "_".join(key), machine, *defines)
        return cache[key]

    return get


def expected_layers(v: int) -> list[int]:
    n = N * (v + 1)
    return [5 * n + 3, 10 * n + 3]


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_plugin_counts_are_exact(selftest, machine: str) -> None:
    result = run_firmware(selftest(machine), machine, timeout=30)
    assert result.ok, result.problem
    assert result.method == "plugin"
    assert result.layer_instructions == [expected_layers(v) for v in range(VECTORS)]
    assert result.inference_instructions == [sum(expected_layers(v)) for v in range(VECTORS)]
    assert len(result.marks) == VECTORS * 3


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_block_profile_agrees_with_the_exact_counts(selftest, machine: str) -> None:
    """blocks=True: the same plugin profiles blocks without changing a count, and block executions x block
    lengths give every layer's exact count (interval k: from mark k to mark k+1)."""
    plain = run_firmware(selftest(machine), machine, timeout=30)
    profiled = run_firmware(selftest(machine), machine, timeout=30, blocks=True)
    assert profiled.ok, profiled.problem
    assert (profiled.marks, profiled.total_instructions) == (plain.marks, plain.total_instructions)
    assert plain.block_profile is None
    profile = profiled.block_profile
    assert profile is not None and profile.error == "" and len(profile.intervals) == len(profiled.marks) + 1
    ran = [sum(execs * profile.blocks[b].insns for b, (execs, _) in i.counts.items()) for i in profile.intervals]
    assert ran[1:3] == expected_layers(0) and ran[4:6] == expected_layers(1)
    # (outside the layers, blocks left mid-way by semihosting calls count whole: no total to compare there)
    # layer 1 of vector 1: the first of its 4N iterations runs in the block that sets the counter up (6
    # instructions), the rest in the 5-instruction loop block, whose branch falls through once, at the end
    counts = {profile.blocks[b].insns: c for b, c in profile.intervals[5].counts.items()}
    assert counts[6] == (1, 0) and counts[5] == (4 * N - 1, 1)


def test_block_profile_of_a_crash_is_still_a_crash(selftest) -> None:
    result = run_firmware(selftest("mps2-an385", "CRASH"), "mps2-an385", timeout=30, blocks=True)
    assert result.status == "crash" and "hard fault" in result.problem and result.block_profile is None


def test_console_protocol_is_parsed(selftest) -> None:
    result = run_firmware(selftest("mps2-an500"), "mps2-an500", timeout=30, num_layers=2)
    assert result.ok, result.problem
    assert (result.model, result.num_vectors, result.end_status, result.exit_code) == ("selftest", 2, 0, 0)
    assert result.outputs == {0: bytes([0x00, 0x01, 0x7F]), 1: bytes([0xFF, 0x80, 0x7F])}
    assert result.tensors == {0: {0: b"\x0a\x0b"}, 1: {0: b"\x0a\x0b"}}
    assert result.stack_bytes == 136
    assert result.checksum == int(CHECKSUM, 16)
    assert all(not line.startswith("boot") for line in result.console)


def test_same_firmware_counts_the_same_twice(selftest) -> None:
    elf = selftest("mps2-an386")
    # Under -icount (the default), even the SysTick values the program prints (and so the digits
    # it formats) are the same in every run: every instruction count is repeatable.
    first, second = (run_firmware(elf, "mps2-an386", timeout=30) for _ in range(2))
    assert first.ok and second.ok
    assert first.marks == second.marks
    assert first.total_instructions == second.total_instructions
    assert first.total_instructions is not None and first.total_instructions > 15 * N * VECTORS
    # Without -icount SysTick follows the host clock, but this program takes no interrupt, so the
    # counted layers do not depend on it.
    untimed = run_firmware(elf, "mps2-an386", timeout=30, icount=False)
    assert untimed.ok and untimed.layer_instructions == first.layer_instructions


def test_checksum_mismatch_is_a_failure(selftest) -> None:
    """Outputs that do not add up to the firmware's CRC mean a corrupted console: never a pass."""
    result = run_firmware(selftest("mps2-an385", 'CHECKSUM="0badc0de"'), "mps2-an385", timeout=30)
    assert result.status == "failed"
    assert "TG-CHECKSUM" in result.problem


def test_wrong_layer_count_is_reported(selftest) -> None:
    result = run_firmware(selftest("mps2-an385"), "mps2-an385", timeout=30, num_layers=5)
    assert not result.ok
    assert "tg_mark() ran 6 times for 2 vectors" in result.problem
    silent = run_firmware(selftest("mps2-an385", "SKIP_INFERENCE"), "mps2-an385", timeout=30)
    assert silent.status == "failed" and "tg_mark() ran 0 times for 2 vectors" in silent.problem


@pytest.mark.parametrize("machine", ["mps2-an385", "mps2-an500", "mps2-an505", "mps3-an547"])
def test_icount_fallback_counts_instructions(selftest, machine: str) -> None:
    """Without the plugin, SysTick under -icount counts instructions at the machine's clock."""
    elf = selftest(machine)
    exact = run_firmware(elf, machine, timeout=30)
    fallback = run_firmware(elf, machine, timeout=30, method="icount")
    assert fallback.ok, fallback.problem
    assert fallback.method == "icount"
    measured = fallback.inference_instructions
    # The firmware's timed region is the inference plus the same few call instructions for every
    # vector, so the difference between vectors is exact up to SysTick's resolution.
    exact_delta = exact.inference_instructions[1] - exact.inference_instructions[0]
    assert abs((measured[1] - measured[0]) - exact_delta) <= 1
    assert 0 <= measured[0] - exact.inference_instructions[0] <= 16


def test_without_a_compiler_auto_falls_back_to_icount(selftest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulator, "build_plugin", lambda: None)
    result = run_firmware(selftest("mps2-an500"), "mps2-an500", timeout=30)
    assert result.ok and result.method == "icount" and len(result.inference_instructions) == VECTORS
    assert result.layer_instructions == [] and result.marks == []
    with pytest.raises(TinygenError, match="no C compiler could build"):
        run_firmware(selftest("mps2-an500"), "mps2-an500", timeout=30, method="plugin")


def test_crash_is_reported_not_passed(selftest) -> None:
    """A fault handler that spins forever: the plugin sees it and ends QEMU without a timeout."""
    result = run_firmware(selftest("mps2-an385", "CRASH"), "mps2-an385", timeout=30)
    assert result.status == "crash" and not result.ok
    assert "hard fault" in result.problem
    with pytest.raises(TinygenError, match="crash"):
        result.check()


def test_crash_reported_by_firmware(selftest) -> None:
    """A fault handler that prints TG-FAULT and exits: a crash in both counting methods."""
    elf = selftest("mps2-an500", "CRASH", "FAULT_EXITS")
    for method in ("plugin", "icount"):
        result = run_firmware(elf, "mps2-an500", timeout=30, method=method)
        assert result.status == "crash", method
        assert "HardFault" in result.problem
        assert result.exit_code == 3


def test_hang_is_a_timeout(selftest) -> None:
    result = run_firmware(selftest("mps2-an385", "HANG"), "mps2-an385", timeout=1.5)
    assert result.status == "timeout" and not result.ok
    assert "did not finish within 1.5 s" in result.problem
    # QEMU was stopped with SIGTERM, so the plugin still wrote how far the guest got.
    assert result.total_instructions is not None and result.total_instructions > 1_000_000


def test_unknown_machine_and_missing_elf(tmp_path: Path) -> None:
    with pytest.raises(TinygenError, match="not supported; use one of"):
        run_firmware(tmp_path / "x.elf", "mps2-an999")
    with pytest.raises(TinygenError, match="firmware ELF not found"):
        run_firmware(tmp_path / "x.elf", "mps2-an500")
    (tmp_path / "bad.elf").write_bytes(b"not an elf")
    with pytest.raises(TinygenError, match="where mps3-an547 reads its vector table"):
        run_firmware(build_selftest(tmp_path / "m4", "mps2-an386"), "mps3-an547")
    with pytest.raises(TinygenError, match="cannot read the firmware ELF"):
        run_firmware(tmp_path / "bad.elf", "mps2-an500")


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_plugin_compiles_cleanly(tmp_path: Path, compiler: str) -> None:
    _need(compiler)
    cmd = [compiler, "-shared", "-fPIC", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-pedantic",
           str(emulator.plugin_source()), "-o", str(tmp_path / "p.so")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------------------------------------
# The comparison report (tinygen.compare): no QEMU needed.


def test_compare_outputs_counts_every_difference() -> None:
    from tinygen.compare import compare_outputs

    expected = [np.array([1, 2, 3], np.int8), np.array([-1, -2, -3], np.int8)]
    same = compare_outputs("ref", expected, {0: bytes([1, 2, 3]), 1: np.array([-1, -2, -3]).astype(np.int8).tobytes()})
    assert same.ok and same.values == 6 and same.summary() == "ref: all 6 values equal"
    diff = compare_outputs("ref", expected, {0: bytes([1, 2, 3]), 1: np.array([-1, 7, 9], np.int8).tobytes()})
    assert not diff.ok and diff.differing == 2
    assert diff.summary() == "ref: 2 of 6 values differ; first at vector 1, index 1: expected -2, got 7"
    short = compare_outputs("ref", expected, {0: bytes([1, 2])})
    assert short.missing == [0, 1] and not short.ok


def test_first_differing_layer_is_the_earliest_over_all_vectors() -> None:
    from tinygen.compare import first_differing_layer

    layers = [{"index": i, "name": f"l{i}", "op": "conv2d", "output_tensor": f"t{i}"} for i in range(3)]
    golden = [{f"t{i}": np.full(4, i, np.int8) for i in range(3)} for _ in range(2)]
    dumps = {v: {i: bytes([i] * 4) for i in range(3)} for v in range(2)}
    assert first_differing_layer(layers, golden, dumps) is None
    dumps[0][2] = bytes([2, 2, 9, 2])  # vector 0 goes wrong at layer 2 ...
    dumps[1][1] = bytes([1, 5, 1, 1])  # ... but vector 1 already at layer 1
    found = first_differing_layer(layers, golden, dumps)
    assert found is not None and (found.vector, found.layer, found.first_index, found.expected, found.actual) == (1, 1, 1, 1, 5)
    assert found.describe().startswith("first differing layer: 1 (conv2d 'l1'), vector 1: 1 of 4 values differ")
    del dumps[0][0]  # a missing dump is a difference, never skipped
    missing = first_differing_layer(layers, golden, dumps)
    assert missing is not None and missing.missing and missing.layer == 0
