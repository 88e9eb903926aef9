"""The MAC kernels cross-compile for Cortex-M with -Werror: the DSP path (SXTB16/SMLAD) on M4/M7, the
portable path on cores without the DSP extension, and a whole emitted library for the M7 board flags.
(Their bit-exactness on the host, portable and emulated-DSP paths, is tested in test_codegen.py;
they run in QEMU in the emulator tests.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tinygen.resources import resource_dir

ARM_GCC = "arm-none-eabi-gcc"
KERNELS = resource_dir("templates") / "kernels"
MAC_SOURCES = [
    "tg_conv_gemm_s8.c",
    "tg_conv_s8.c",
    "tg_conv_1x1_s8.c",
    "tg_depthwise_s8.c",
    "tg_depthwise_3x3_s8.c",
    "tg_fully_connected_s8.c",
]
#: the DSP instruction each kernel's DSP path must use
DSP_INSTRUCTION = {
    "tg_conv_gemm_s8.c": "smlad",
    "tg_fully_connected_s8.c": "smlad",
    "tg_depthwise_3x3_s8.c": "smlabb",
    "tg_conv_s8.c": "sxtb16",
    "tg_conv_1x1_s8.c": "sxtb16",
}
CORES = {
    "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m3": ["-mcpu=cortex-m3", "-mthumb"],
    "cortex-m0": ["-mcpu=cortex-m0", "-mthumb"],
}
FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-ffunction-sections"]

pytestmark = pytest.mark.skipif(shutil.which(ARM_GCC) is None, reason=f"{ARM_GCC} is not installed")


def _compile(source: Path, core: str, out: Path, extra: tuple[str, ...] = ()) -> None:
    cmd = [ARM_GCC, *CORES[core], *FLAGS, *extra, f"-I{source.parent}", "-c", str(source), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"


def _disassembly(obj: Path) -> str:
    return subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("core", list(CORES))
@pytest.mark.parametrize("source", MAC_SOURCES)
def test_kernel_cross_compiles(source: str, core: str, tmp_path: Path) -> None:
    obj = tmp_path / (source + ".o")
    _compile(KERNELS / source, core, obj)
    asm = _disassembly(obj)
    has_dsp = core in ("cortex-m7", "cortex-m4")
    if source in DSP_INSTRUCTION:
        found = DSP_INSTRUCTION[source] in asm
        assert found == has_dsp, f"{source} on {core}: DSP path {'missing' if has_dsp else 'leaked'}"


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_emitted_library_cross_compiles_for_m7(rounding: str, shared_models: Path, tmp_path: Path) -> None:
    """KWS uses every MAC kernel variant; its whole library builds with the board's flags."""
    from tinygen import codegen
    from tinygen.frontend.tflite import import_tflite

    lib = codegen.generate(import_tflite(shared_models / "mlperf_kws_dscnn_int8.tflite"), tmp_path / "lib",
                           rounding=rounding)
    for source in sorted(lib.out_dir.glob("*.c")):
        _compile(source, "cortex-m7", tmp_path / (source.name + ".o"), ("-DTG_ARENA_SECTION=\".dtcm_bss\"",))
    asm = _disassembly(tmp_path / f"{lib.name}.c.o")
    assert f"<{lib.name}_run>:" in asm
    sections = subprocess.run(["arm-none-eabi-objdump", "-h", str(tmp_path / f"{lib.name}.c.o")],
                              capture_output=True, text=True, check=True).stdout
    assert ".dtcm_bss" in sections, "TG_ARENA_SECTION places the arena"
    # every global symbol carries the model prefix, so two models link into one firmware
    objects = sorted(str(p) for p in tmp_path.glob("*.o"))
    nm = subprocess.run(["arm-none-eabi-nm", "-g", "--defined-only", *objects], capture_output=True, text=True,
                        check=True).stdout
    symbols = [line.split()[-1] for line in nm.splitlines() if len(line.split()) == 3]
    assert symbols and all(sym.startswith(lib.name + "_") for sym in symbols), symbols


_REQUANT_CHECK = r"""
#include <stdio.h>
#include "tg_conv_dsp_s8.h"

static uint64_t state = 0x9E3779B97F4A7C15u;
static uint32_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 16);
}

int main(void)
{
    static const int32_t edges[] = {0, 1, -1, 2, -2, 127, -128, 32767, -32768, 1 << 30, -(1 << 30),
                                    INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1};
    const int n_edges = (int)(sizeof edges / sizeof edges[0]);
    long i, bad = 0, total = 0;
    for (i = 0; i < 3000000; ++i)
    {
        const int32_t x = (i % 7 == 0) ? edges[next() % n_edges] : (int32_t)next();
        const int32_t m = (i % 5 == 0) ? (int32_t)(next() % 4 == 0 ? INT32_MAX : (1 << 30)) : (int32_t)((next() & 0x3fffffffu) | 0x40000000u);
        const int32_t shift = (int32_t)(next() % 62) - 31;
        ++total;
        if (tg_requantize_mac(x, m, shift) != tg_requantize(x, m, shift))
        {
            if (bad++ < 5)
                printf("x=%ld m=%ld shift=%ld: %ld vs %ld\n", (long)x, (long)m, (long)shift,
                       (long)tg_requantize_mac(x, m, shift), (long)tg_requantize(x, m, shift));
        }
    }
    printf("%ld of %ld differ\n", bad, total);
    return bad != 0;
}
"""


@pytest.mark.parametrize("single", [0, 1])
def test_fast_requantize_equals_tflite_arithmetic(single: int, tmp_path: Path) -> None:
    """tg_requantize_mac (the kernels' shortcut) == tg_common.h's MultiplyByQuantizedMultiplier, on a host."""
    source = tmp_path / "check.c"
    source.write_text(_REQUANT_CHECK)
    exe = tmp_path / "check"
    cmd = ["gcc", *FLAGS, f"-DTG_SINGLE_ROUNDING={single}", "-fsanitize=undefined", "-fno-sanitize-recover=all",
           f"-I{KERNELS}", str(source), "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("0 of 3000000 differ")
