"""Kernel dispatch never silently computes nothing (issue 13): every dispatch over a kernel's specialisations
(TG_VARIANT, docs/INTERNALS.md "Kernel specialisations") ends in a path that always computes or in
TG_UNREACHABLE() (tg_common.h), the one trap helper of the kernels.

Proof: a call whose library lacks the specialisation it needs (the lowering's Python mirror and the C dispatch
disagree, built here on purpose with a config that leaves the copy out) kills the process with the trap instead
of returning with its output unwritten, while the same call with the copy compiled returns and writes it; a
selection without any GEMM copy does not build; and the traps that the dispatch makes dead (the GEMM and im2col
chains end in their last compiled copy) cost no instruction: no trap instruction in any selection's object code.
"""

from __future__ import annotations

import itertools
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import hostbuild
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
ARM_GCC = "arm-none-eabi-gcc"
M7 = ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"]
#: how a host process ends at __builtin_trap: SIGILL (x86's UD2) or SIGTRAP (AArch64's BRK)
TRAPPED = (-signal.SIGILL, -signal.SIGTRAP)

#: calls that the dispatch of the (emulated) DSP path sends to the copy `missing`: the kernel, a selection with
#: the copies the call runs, the copy left out, and the call's geometry (in_h, in_w, stride, pad)
CASES = {
    # a library with a pair-path call (DW3_VP and its line function) whose stride-2 call needs the ring
    "dw3_ring_missing": ("dw3", ("DW3_VP", "DWVP_TWO_ANY", "DW3_RING"), "DW3_RING", (9, 9, 2, 1)),
    # the four-channel kernel: a call with the general requantization (fast = 0) needs DW3C_ANY, and the library
    # has only another mode's channel function
    "dw3c_mode_missing": ("dw3c", ("DW3C_RELU", "DW3C_ANY"), "DW3C_ANY", (9, 9, 2, 1)),
    # the pair path with 7 output lines (generic mode) needs the odd last line's function (vp_variants)
    "vp_last_line_missing": ("dw3", ("DW3_VP", "DWVP_TWO_ANY", "DWVP_ONE_ANY"), "DWVP_ONE_ANY", (7, 7, 1, 1)),
}

_MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "tg_depthwise_3x3_s8.h"
#include "tg_depthwise_3x3_ch_s8.h"

#define C 8
static int8_t input[@H@ * @W@ * C], output[@H@ * @W@ * C], filter[9 * C];
static int32_t bias[C], multiplier[C], shift[C];
static long long scratch[1024]; /* 8 KiB, 8-byte aligned: more than either kernel needs here */

int main(void)
{
    const int out_h = (@H@ + 2 * @P@ - 3) / @S@ + 1, out_w = (@W@ + 2 * @P@ - 3) / @S@ + 1;
    int i, written = 0;
    for (i = 0; i < (int)sizeof input; ++i)
        input[i] = (int8_t)(i % 7 - 3);
    for (i = 0; i < (int)sizeof filter; ++i)
        filter[i] = (int8_t)(i % 5 - 2);
    for (i = 0; i < C; ++i)
    {
        multiplier[i] = 1 << 30;
        shift[i] = -1;
    }
    memset(output, 0x5a, sizeof output); /* a byte no output of these inputs takes */
    @CALL@(input, 1, @H@, @W@, C, filter, bias, multiplier, shift, output, out_h, out_w, @S@, @S@, @P@, @P@, 0, 0,
           -128, 127, 0, (void *)scratch);
    for (i = 0; i < out_h * out_w * C; ++i)
        written += output[i] != 0x5a;
    printf("returned, %d of %d outputs written\n", written, out_h * out_w * C);
    return written == out_h * out_w * C ? 0 : 1;
}
"""

_KERNEL = {"dw3": "tg_depthwise_3x3_s8", "dw3c": "tg_depthwise_3x3_ch_s8"}


def _compilers() -> list[str]:
    found = hostbuild.compilers()
    if not found:
        pytest.fail("neither gcc nor clang is installed")
    return found


def _build(work: Path, compiler: str, kernel: str, selection: tuple[str, ...] | None, geometry: tuple[int, ...],
           extra: tuple[str, ...] = ()) -> Path:
    """The call of CASES on the host's emulated DSP path, its library compiling `selection` (None: every copy);
    `extra`: flags of the kernels' compilation (not the test main's)."""
    h, w, s, p = geometry
    work.mkdir(parents=True, exist_ok=True)
    main = work / "main.c"
    text = _MAIN.replace("@CALL@", _KERNEL[kernel])
    for key, value in (("@H@", h), ("@W@", w), ("@S@", s), ("@P@", p)):
        text = text.replace(key, str(value))
    main.write_text(text)
    defines = [] if selection is None else ["-DTG_SELECTED_VARIANTS=1", *(f"-DTG_VARIANT_{v}=1" for v in selection)]
    exe = work / "dispatch"
    objects = []
    for source, flags in ((KERNELS / f"{_KERNEL[kernel]}.c", extra), (KERNELS / "tg_depthwise_3x3_vp_s8.c", extra),
                          (main, ())):
        objects.append(str(work / f"{source.stem}.o"))
        cmd = [compiler, *hostbuild.WARNINGS, "-O2", "-DTG_DSP_EMULATE", *defines, *flags, f"-I{KERNELS}", "-c",
               str(source), "-o", objects[-1]]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    proc = subprocess.run([compiler, *objects, "-o", str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return exe


@pytest.mark.parametrize("case", sorted(CASES))
def test_missing_specialisation_traps(case: str, tmp_path: Path) -> None:
    """The call returns with every output written when its copy is compiled (alone, and with every copy), and dies
    at the trap, before returning, when the copy is left out."""
    kernel, needed, missing, geometry = CASES[case]
    for compiler in _compilers():
        for name, selection in (("all", None), ("needed", needed)):
            exe = _build(tmp_path / compiler / name, compiler, kernel, selection, geometry)
            proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, f"{case} {compiler} {name}: exited {proc.returncode}: {proc.stdout}"
        broken = tuple(v for v in needed if v != missing)
        exe = _build(tmp_path / compiler / "broken", compiler, kernel, broken, geometry)
        proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
        assert "returned" not in proc.stdout, f"{case} {compiler}: returned without {missing}: {proc.stdout}"
        assert proc.returncode in TRAPPED, f"{case} {compiler}: exited {proc.returncode}, not at the trap"


def test_trap_without_gnu_builtins_never_returns(tmp_path: Path) -> None:
    """TG_UNREACHABLE() of a compiler without __builtin_trap (here gcc without __GNUC__) is an endless loop: the
    broken call never returns; the C is ISO C99 (-pedantic -Werror) that way too."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is not installed")
    kernel, needed, missing, geometry = CASES["dw3_ring_missing"]
    broken = tuple(v for v in needed if v != missing)
    exe = _build(tmp_path, "gcc", kernel, broken, geometry, extra=("-U__GNUC__",))
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([str(exe)], capture_output=True, timeout=2)


def test_no_gemm_copy_does_not_build(tmp_path: Path) -> None:
    """A selection without any copy of the GEMM's channel pairs (the odd-channel copy alone, or nothing) is a
    build error naming the mirror to fix, not a kernel that computes nothing."""
    compiler = _compilers()[0]
    for selection in ((), ("GEMM_ODD_CH",)):
        defines = ["-DTG_SELECTED_VARIANTS=1", *(f"-DTG_VARIANT_{v}=1" for v in selection)]
        cmd = [compiler, *hostbuild.WARNINGS, "-O2", *defines, f"-I{KERNELS}", "-c",
               str(KERNELS / "tg_conv_gemm_s8.c"), "-o", str(tmp_path / "gemm.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode != 0 and "gemm_variants()" in proc.stderr, f"{selection}: {proc.stderr}"


def _selections(names: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [c for n in range(1, len(names) + 1) for c in itertools.combinations(names, n)]


def _arm_disassembly(source: str, selection: tuple[str, ...], work: Path) -> str:
    defines = ["-DTG_SELECTED_VARIANTS=1", *(f"-DTG_VARIANT_{v}=1" for v in selection)]
    obj = work / "k.o"
    cmd = [ARM_GCC, *M7, *hostbuild.WARNINGS, "-O2", *defines, f"-I{KERNELS}", "-c", str(KERNELS / source),
           "-o", str(obj)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{source} {selection}:\n{proc.stderr}"
    return subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True,
                          check=True).stdout


def test_dead_traps_cost_nothing(tmp_path: Path) -> None:
    """The GEMM and im2col dispatches end in their last compiled copy (its test is 1), so their traps are dead
    code the compiler drops: no selection's Cortex-M7 object holds a trap instruction (UDF); the depthwise pair
    path alone keeps its live one."""
    if shutil.which(ARM_GCC) is None:
        pytest.fail(f"{ARM_GCC} is not installed (see README: toolchain)")
    gemm = ("GEMM_FULL_EVEN", "GEMM_FULL", "GEMM_ANY")
    for pairs in _selections(gemm):
        for selection in (pairs, (*pairs, "GEMM_ODD_CH")):
            asm = _arm_disassembly("tg_conv_gemm_s8.c", selection, tmp_path)
            assert "udf" not in asm, f"tg_conv_gemm_s8 {selection}: a trap instruction in the object"
    for im2col in _selections(("CONV_GROUPED", "CONV_STAGED")):
        for selection in (im2col, (*im2col, "CONV_DILATED")):
            asm = _arm_disassembly("tg_conv_s8.c", (*selection, "GEMM_ODD_CH"), tmp_path)
            assert "udf" not in asm, f"tg_conv_s8 {selection}: a trap instruction in the object"
            # without the odd-channel copy, the one live trap: an odd out_c (tested once per layer)
            assert "udf" in _arm_disassembly("tg_conv_s8.c", selection, tmp_path)
    assert "udf" in _arm_disassembly("tg_depthwise_3x3_s8.c", ("DW3_VP",), tmp_path)


_MAIN_1X1 = r"""
#include <stdio.h>
#include <string.h>
#include "tg_conv_1x1_s8.h"
#include "tg_requant_fast.h"

#define PIXELS 6
#define IN_C 4
#define OUT_C 3
static int8_t input[PIXELS * IN_C], output[PIXELS * OUT_C], filter[OUT_C * IN_C];
static int32_t params[4 * OUT_C];
static int16_t scratch[1024];

int main(void)
{
    int i, written = 0;
    for (i = 0; i < (int)sizeof input; ++i)
        input[i] = (int8_t)(i % 7 - 3);
    for (i = 0; i < (int)sizeof filter; ++i)
        filter[i] = (int8_t)(i % 5 - 2);
    memset(output, 0x5a, sizeof output);
    tg_conv_1x1_s8(input, 1, 2, 3, IN_C, filter, params, TG_RQ_GENERAL, output, 2, 3, OUT_C, 1, 1, 0, -128, 127,
                   scratch);
    for (i = 0; i < (int)sizeof output; ++i)
        written += output[i] != 0x5a;
    printf("returned, %d of %d outputs written\n", written, (int)sizeof output);
    return written == (int)sizeof output ? 0 : 1;
}
"""


def test_odd_channel_without_its_copy_traps(tmp_path: Path) -> None:
    """A conv with an odd number of output channels in a library without GEMM_ODD_CH (its last channel would be
    left unwritten) stops at the trap on entry; with the copy it returns with every output written."""
    compiler = _compilers()[0]
    base = ("CONV1X1_GROUPED", "GEMM_ANY")
    for selection, ok in ((base + ("GEMM_ODD_CH",), True), (base, False)):
        work = tmp_path / ("with" if ok else "without")
        work.mkdir()
        (work / "main.c").write_text(_MAIN_1X1)
        defines = ["-DTG_SELECTED_VARIANTS=1", *(f"-DTG_VARIANT_{v}=1" for v in selection)]
        objects = []
        for source in (KERNELS / "tg_conv_1x1_s8.c", KERNELS / "tg_conv_gemm_s8.c", work / "main.c"):
            objects.append(str(work / f"{source.stem}.o"))
            cmd = [compiler, *hostbuild.WARNINGS, "-O2", "-DTG_DSP_EMULATE", *defines, f"-I{KERNELS}", "-c",
                   str(source), "-o", objects[-1]]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
        subprocess.run([compiler, *objects, "-o", str(work / "conv")], check=True)
        proc = subprocess.run([str(work / "conv")], capture_output=True, text=True, timeout=60)
        if ok:
            assert proc.returncode == 0, proc.stdout
        else:
            assert "returned" not in proc.stdout and proc.returncode in TRAPPED, (proc.returncode, proc.stdout)


def test_one_trap_helper() -> None:
    """Every kernel stops through TG_UNREACHABLE (tg_common.h): no other trap, and no empty dispatch branch."""
    for path in sorted(KERNELS.glob("tg_*.[ch]")):
        text = path.read_text()
        if path.name != "tg_common.h":
            assert "__builtin_trap" not in text, f"{path.name}: a trap of its own (use TG_UNREACHABLE)"
        assert not re.search(r"\belse\s*\{\s*\}", text), f"{path.name}: an empty else branch"
