"""Every kernel source compiles for every Cortex-M core tinygen targets, with the library's warnings plus
-Wconversion -Wsign-conversion as errors, under both roundings: the portable C (M0, M3), the DSP paths (M4, M7, M33) and Helium
(M55; the MVE kernels only there). One place for all kernels, so a new kernel is covered without a test of
its own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import hostbuild
import pytest

from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
CORES = ("cortex-m0", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
SOURCES = sorted(p.name for p in KERNELS.glob("*.c"))


def test_there_are_kernels() -> None:
    assert len(SOURCES) > 40 and "tg_lut_s8.c" in SOURCES


@pytest.mark.parametrize("source", SOURCES)
def test_kernel_compiles_for_every_core(source: str, tmp_path: Path) -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (scripts/setup.sh installs it)")
    cores = ("cortex-m55",) if "_mve_" in source else CORES  # Helium kernels stop with #error elsewhere
    for cpu in cores:
        float_abi = ["-mfloat-abi=hard"] if cpu == "cortex-m55" else []
        for single in (0, 1):  # both requantization roundings (TG_SINGLE_ROUNDING, NAME_config.h)
            cmd = ["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", *float_abi, "-O2", *hostbuild.WARNINGS,
                   "-Wconversion", "-Wsign-conversion", f"-DTG_SINGLE_ROUNDING={single}", f"-I{KERNELS}", "-c",
                   str(KERNELS / source), "-o", str(tmp_path / "k.o")]
            res = subprocess.run(cmd, capture_output=True, text=True, check=False)
            assert res.returncode == 0, f"{source} for {cpu}, TG_SINGLE_ROUNDING={single}:\n{res.stderr}"


@pytest.mark.parametrize("source", SOURCES)
def test_kernel_compiles_keeping_the_frame_pointer(source: str, tmp_path: Path) -> None:
    """-fno-omit-frame-pointer takes a register the inline-assembly loops need: with TG_DSP_NO_ASM and
    TG_MVE_NO_ASM (README: build flags) every kernel compiles on the C loops (M7 for the DSP path, M55 for
    Helium)."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (scripts/setup.sh installs it)")
    cpu = ["-mcpu=cortex-m55", "-mfloat-abi=hard"] if "_mve_" in source else ["-mcpu=cortex-m7"]
    cmd = ["arm-none-eabi-gcc", *cpu, "-mthumb", "-O2", "-fno-omit-frame-pointer", "-DTG_DSP_NO_ASM",
           "-DTG_MVE_NO_ASM", *hostbuild.WARNINGS, f"-I{KERNELS}", "-c", str(KERNELS / source), "-o",
           str(tmp_path / "k.o")]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 0, f"{source} with -fno-omit-frame-pointer:\n{res.stderr}"
