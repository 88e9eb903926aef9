"""tg_conv_gemm_s8's four-group loop in asm, scheduled for the Cortex-M7's dual issue (issue 17, item 2: IC ResNet-8's
3x3 convolutions in estimated cycles). GCC's copy of the C loop issues about one instruction per cycle on LLVM's
Cortex-M7 model; the asm runs the same loads, SXTB16s and SMLADs with every SXTB16 but one just before an SMLAD that
does not wait on it (the pairs the model dual-issues) and without the C loop's spill of the weight pointer.

Here: the asm loop's instructions and pairing rules in the object code, its modelled cycles against the C loop's
(llvm-mca, deterministic), the builds that must take the C loop instead (clang, -Os, no optimization, TG_DSP_NO_ASM
for a frame pointer) compiling cleanly, and models whose 3x3 and 1x1 convolutions run the asm (depths 144-576: nine
to 36 iterations; 16 and 32: one and two; KWS's 40: two and the two-group remainder; partial last blocks) bit-exact
in QEMU on the Cortex-M3 (portable C), M4 and M7 (the asm) against tinygen's reference and TFLite Micro, and every
layer's output with either rounding against the reference.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import opcheck
from tinygen.cycles import mca
from tinygen.cycles.disasm import Insn, read_instructions
from tinygen.resources import resource_dir

ARM_GCC = "arm-none-eabi-gcc"
GEMM = resource_dir("templates") / "kernels" / "tg_conv_gemm_s8.c"
M7 = ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"]
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
#: the depth % 8 == 0 copy of a fast-requantized layer: the one that runs the asm
FULL_EVEN = ["-DTG_SELECTED_VARIANTS=1", "-DTG_VARIANT_GEMM_FULL_EVEN=1"]
#: what four groups execute, in the asm and in the C loop alike
QUAD_MIX = {"smlad": 48, "sxtb16": 16, "ldrd": 16}

pytestmark = pytest.mark.skipif(shutil.which(ARM_GCC) is None, reason=f"{ARM_GCC} is not installed")


def _object(tmp_path: Path, name: str, flags: list[str], compiler: list[str] | None = None) -> Path:
    out = tmp_path / f"{name}.o"
    cmd = [*(compiler or [ARM_GCC]), *M7, *WARN, *flags, f"-I{GEMM.parent}", "-c", str(GEMM), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    return out


def _quad_loops(obj: Path) -> list[list[Insn]]:
    """Every backward-branching loop of the object whose body runs the 48 SMLADs of four groups."""
    insns = read_instructions(obj, "cortex-m7")
    loops = []
    for insn in insns.values():
        if insn.mnemonic.startswith("b") and insn.target is not None and insn.target < insn.address:
            body = [i for a, i in sorted(insns.items()) if insn.target <= a <= insn.address]
            if sum(i.mnemonic == "smlad" for i in body) == QUAD_MIX["smlad"]:
                loops.append(body)
    return loops


def _mix(body: list[Insn]) -> dict[str, int]:
    return {name: sum(i.mnemonic == name for i in body) for name in QUAD_MIX}


def _asm_and_c_loops(tmp_path: Path) -> tuple[list[Insn], list[Insn]]:
    asm = _quad_loops(_object(tmp_path, "asm", ["-O2", *FULL_EVEN]))
    c = _quad_loops(_object(tmp_path, "c", ["-O2", "-DTG_DSP_NO_ASM", *FULL_EVEN]))
    assert len(asm) == 1 and len(c) == 1, (len(asm), len(c))
    return asm[0], c[0]


def test_asm_loop_pairs_each_sxtb16_with_an_smlad(tmp_path: Path) -> None:
    asm, c = _asm_and_c_loops(tmp_path)
    assert _mix(asm) == _mix(c) == QUAD_MIX
    # the same work in fewer instructions: no spill of the weight pointer (83 = 80 + the end test's LDR, CMP, BNE)
    assert len(asm) == 83 and len(c) > len(asm)
    lone = []
    for k, insn in enumerate(asm[:-1]):
        if insn.mnemonic == "sxtb16":
            nxt = asm[k + 1]
            written = insn.operands.split(",")[0]
            if nxt.mnemonic != "smlad" or written in [r.strip() for r in nxt.operands.split(",")]:
                lone.append(k)
    assert lone == [2], f"SXTB16s not followed by an independent SMLAD at {lone}"  # only the iteration's first


def test_asm_loop_in_fewer_modelled_cycles(tmp_path: Path) -> None:
    """LLVM's Cortex-M7 model: the asm loop's 83 instructions in 65 cycles (48 SMLADs + 16 LDRDs, which issue alone,
    + the first SXTB16), the C loop's about one instruction per cycle."""
    try:
        mca.find_llvm_mca()
    except Exception as exc:  # ToolMissingError: Debian's llvm-19 is not installed
        pytest.skip(str(exc))
    asm, c = _asm_and_c_loops(tmp_path)
    cycles = mca.block_cycles("cortex-m7", {0: asm, 1: c})
    assert round(cycles[0]) == 65
    assert cycles[1] > 80


@pytest.mark.parametrize("build", ["O0", "Os", "clang", "frame_pointer"])
def test_other_builds_take_the_c_loop(build: str, tmp_path: Path) -> None:
    """Builds the asm's 14 registers do not fit (or that do not optimize for speed) compile cleanly, on the C loop."""
    if build == "clang" and (shutil.which("clang") is None or not Path("/usr/lib/arm-none-eabi/include").is_dir()):
        pytest.skip("clang or the arm-none-eabi newlib headers are not installed")
    flags = {"O0": ["-O0"], "Os": ["-Os"], "clang": ["-O2"], "frame_pointer": ["-O2", "-fno-omit-frame-pointer",
                                                                             "-DTG_DSP_NO_ASM"]}[build]
    clang = ["clang", "--target=arm-none-eabi", "-isystem", "/usr/lib/arm-none-eabi/include"]
    compiler = clang if build == "clang" else None
    obj = _object(tmp_path, build, [*flags, *FULL_EVEN], compiler)
    assert all(len(loop) != 83 for loop in _quad_loops(obj))


BOARDS = ("mps2_an385", "mps2_an386", "mps2_an500")


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("name", ["mlperf_ic_resnet8_int8", "mlperf_kws_dscnn_int8"])
def test_models_bit_exact_in_qemu(name: str, board: str, shared_models: Path, tmp_path: Path) -> None:
    def layout(manifest: dict) -> None:
        assert "GEMM_FULL_EVEN" in manifest["variants"]

    opcheck.check_qemu(shared_models / f"{name}.tflite", board, tmp_path, layout=layout)


@pytest.mark.parametrize("board", ["mps2_an386", "mps2_an500"])
@pytest.mark.parametrize("rounding", ["double", "single"])
def test_every_layer_bit_exact_in_qemu(rounding: str, board: str, shared_models: Path, tmp_path: Path) -> None:
    """Every layer's output tensor dumped from the firmware equals tinygen's reference (not only the model's
    ten outputs), with either rounding."""
    from test_emulator_models import cached_build

    from tinygen.commands.test import _firmware_layer, golden, make_vectors, prepare

    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm is not installed (scripts/setup.sh installs it)")
    prep = prepare(shared_models / "mlperf_ic_resnet8_int8.tflite", board, tmp_path, rounding=rounding)
    assert "GEMM_FULL_EVEN" in prep.manifest["variants"]
    vectors = make_vectors(prep, 2)
    refs, _ = golden(prep, vectors)
    found = _firmware_layer(prep, vectors, refs, cached_build, 300)
    assert found["layer"] is None and "every layer's dump matches" in found["description"], found["description"]
