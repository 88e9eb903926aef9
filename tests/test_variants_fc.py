"""The fully connected kernels' specialisations (TG_VARIANT) against the lowering's mirror of their dispatch.

For every dispatch case of tg_fully_connected_s8 (row quads or not) and tg_fully_connected_dual_s8 (the copies
for FULL, RELU and FAST requantization with or without their eight-group loop, the general copy for GENERAL),
in a bias and a bias-less layer:
* the manifest's variants are the ones the case runs (fc_ops.fc_variants / dual_variants);
* in QEMU (Cortex-M7, the inline-assembly DSP path), the library as generated (only its variants compiled)
  equals the reference bit for bit;
* the same library rebuilt with every specialisation compiled and the kernels' TG_TRACE_VARIANT hook
  recording each specialised branch taken runs exactly the manifest's variants: the mirror neither misses a
  specialisation the dispatch takes (it would run the slower general path) nor names one it does not take
  (dead code in flash).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinygen import codegen, reference
from tinygen.ir import Graph
from tinygen.lowering import fc_ops

ARM_GCC = "arm-none-eabi-gcc"

#: (name, kernel, _fc arguments, _fc keywords, the variants the case runs, seed); the seeds give the random
#: graphs the requantization mode the case is about (the manifest test checks it)
CASES: list[tuple[str, str, tuple, dict, set[str], int]] = [
    ("plain_quads", "plain", (1, 64, 12, "none", True), {"bias": False}, {"FC_QUADS"}, 0),
    ("plain_quads_rows", "plain", (2, 37, 7, "relu", False), {}, {"FC_QUADS"}, 0),
    ("plain_rows_only", "plain", (1, 256, 2, "none", True), {"bias": False}, set(), 0),
    ("dual_g8_full", "dual", (1, 64, 8, "none", True), {"bias": False}, {"FC_DUAL_G8", "FC_DUAL_RQ_FULL"}, 0),
    ("dual_relu", "dual", (1, 20, 9, "relu", True), {}, {"FC_DUAL_RQ_RELU"}, 0),
    ("dual_g8_fast", "dual", (2, 37, 8, "relu_n1_to_1", False), {"bias": False}, {"FC_DUAL_G8", "FC_DUAL_RQ_FAST"}, 4),
    ("dual_g8_relu_tail", "dual", (1, 43, 12, "relu", True), {"bias": False}, {"FC_DUAL_G8", "FC_DUAL_RQ_RELU"}, 1),
    ("dual_general", "dual", (1, 21, 9, "none", True, 1e-7), {}, set(), 0),
    ("dual_general_40", "dual", (1, 40, 4, "relu", True, 1e-7), {"bias": False}, set(), 0),  # no G8 in general
]


def _graph(seed: int, args: tuple, kw: dict) -> Graph:
    from test_kernels_fc import _fc

    return _fc(seed, *args, **kw)


def _generate(case: tuple, out: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Graph, codegen.Library]:
    name, kernel, args, kw, _, seed = case
    monkeypatch.setattr(fc_ops, "DUAL_MIN_MACS", 0 if kernel == "dual" else 1 << 62)
    g = _graph(seed, args, kw)
    lib = codegen.generate(g, out / name, force=True, name=name)
    return g, lib


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_manifest_names_the_cases_variants(case: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, kernel, _, _, want, _ = case
    _, lib = _generate(case, tmp_path, monkeypatch)
    layer = lib.manifest["layers"][0]
    assert layer["kernel"] == ("tg_fully_connected_dual_s8" if kernel == "dual" else "tg_fully_connected_s8")
    assert set(lib.manifest["variants"]) == want


def test_the_threshold_picks_the_kernel(tmp_path: Path) -> None:
    """Below DUAL_MIN_MACS (summed over the graph) the plain kernel, from it on the dual one."""
    from test_kernels_fc import _fc

    small = _fc(2, 1, 64, 12, "none", True)  # KWS's classifier: 768 MACs
    assert 64 * 12 < fc_ops.DUAL_MIN_MACS
    assert codegen.generate(small, tmp_path / "a").manifest["layers"][0]["kernel"] == "tg_fully_connected_s8"
    big = _fc(2, 1, 256, 32, "none", True)  # 8,192 MACs
    assert 256 * 32 >= fc_ops.DUAL_MIN_MACS
    assert codegen.generate(big, tmp_path / "b").manifest["layers"][0]["kernel"] == "tg_fully_connected_dual_s8"


def test_bias_less_layers_emit_no_bias(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No bias in the model: the constants are the weights (same size) and the requantization, nothing else."""
    for kernel in ("plain", "dual"):
        case = (f"nobias_{kernel}", kernel, (1, 64, 12, "none", True), {"bias": False}, set(), 3)
        g, lib = _generate(case, tmp_path, monkeypatch)
        assert lib.manifest["const_bytes"]["weights"] == g.tensor("w").size
        assert "_fc_bias" not in (lib.out_dir / f"{lib.name}_weights.c").read_text()


def test_an_all_zero_bias_is_stored_as_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bias of zeros (Keras' initial bias, which TensorFlow's converter drops) computes what no bias
    computes: no bias array either, and the library still equals the reference bit for bit."""
    import hostbuild
    from test_codegen import random_inputs

    for kernel in ("plain", "dual"):
        case = (f"zerobias_{kernel}", kernel, (1, 64, 12, "none", True), {}, set(), 3)
        monkeypatch.setattr(fc_ops, "DUAL_MIN_MACS", 0 if kernel == "dual" else 1 << 62)
        g = _graph(3, case[2], {})
        b = g.tensor(g.ops[0].inputs[2])
        b.data = np.zeros_like(b.data)
        lib = codegen.generate(g, tmp_path / case[0], force=True, name=case[0])
        assert lib.manifest["const_bytes"]["weights"] == g.tensor("w").size
        assert "_fc_bias" not in (lib.out_dir / f"{lib.name}_weights.c").read_text()
        x = random_inputs(g, 3, 7)
        want = np.stack([reference.run(g, x[v])["y"].reshape(-1) for v in range(3)])
        for dsp in (False, True):
            hb = hostbuild.build(lib.out_dir, lib.manifest, tmp_path / f"{kernel}{int(dsp)}", sanitize=True,
                                 dsp_emulate=dsp)
            out, _ = hostbuild.run(hb, x.reshape(3, -1))
            np.testing.assert_array_equal(np.stack(out), want)


_TRACE_H = """
void tg_trace_variant(const char *name);
#define TG_TRACE_VARIANT(name) tg_trace_variant(#name)
"""

_TRACE_C = r"""
static const char *tg_seen[16];
static int tg_nseen;
void tg_trace_variant(const char *name);
void tg_trace_variant(const char *name)
{
    int i, k;
    for (i = 0; i < tg_nseen; ++i)
    {
        for (k = 0; tg_seen[i][k] == name[k] && name[k] != 0; ++k) {}
        if (tg_seen[i][k] == name[k]) return;
    }
    if (tg_nseen < 16) tg_seen[tg_nseen++] = name;
}
static void tg_print_seen(void)
{
    int i;
    for (i = 0; i < tg_nseen; ++i)
    {
        tg_semihost(4, "V:");
        tg_semihost(4, tg_seen[i]);
        tg_semihost(4, "\n");
    }
    tg_semihost(4, "END\n");
    tg_nseen = 0;
}
"""


def _qemu(tmp_path: Path, libs: list[tuple[Graph, codegen.Library]], x: list[np.ndarray], trace: bool) -> str:
    from test_kernels_other import _ARM_IO, _LDSCRIPT

    calls = []
    for (g, lib), xv in zip(libs, x):
        data = ", ".join(str(int(b)) for b in xv.reshape(-1))
        calls.append(f"    {{ static const int8_t in[] = {{{data}}}; static int8_t out[{lib.name}_OUTPUT_SIZE];\n"
                     f"      if ({lib.name}_invoke(in, out) != 0) {{ return 1; }}\n"
                     f"      tg_dump((const unsigned char *)out, {lib.name}_OUTPUT_SIZE);"
                     f"{' tg_print_seen();' if trace else ''} }}\n")
    includes = "".join(f'#include "{lib.name}.h"\n' for _, lib in libs)
    tmp_path.mkdir(parents=True, exist_ok=True)
    main = tmp_path / "main.c"
    main.write_text(f"#include <stdint.h>\n{includes}{_ARM_IO}\n{_TRACE_C if trace else ''}\nint main(void)\n{{\n"
                    f"{''.join(calls)}    return 0;\n}}\n")
    (tmp_path / "link.ld").write_text(_LDSCRIPT)
    extra = []
    if trace:
        (tmp_path / "trace.h").write_text(_TRACE_H)
        extra = ["-include", str(tmp_path / "trace.h")]
    sources = [str(p) for _, lib in libs for p in sorted(lib.out_dir.glob("*.c"))]
    elf = tmp_path / "main.elf"
    cmd = [ARM_GCC, "-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16", "-O2", "-std=c99", "-Wall",
           "-Wextra", "-Werror", "-pedantic", *extra, *[f"-I{lib.out_dir}" for _, lib in libs], "-nostartfiles",
           "--specs=nosys.specs", "-T", str(tmp_path / "link.ld"), str(main), *sources, "-o", str(elf)]
    cc = subprocess.run(cmd, capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr[-4000:]
    run = subprocess.run(["qemu-system-arm", "-M", "mps2-an500", "-nographic", "-monitor", "none", "-serial", "none",
                          "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout + run.stderr


@pytest.mark.skipif(shutil.which(ARM_GCC) is None or shutil.which("qemu-system-arm") is None,
                    reason="arm-none-eabi-gcc or qemu-system-arm is not installed")
def test_the_dispatch_runs_exactly_the_mirrored_variants(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_codegen import random_inputs

    libs = [_generate(case, tmp_path / "gen", monkeypatch) for case in CASES]
    x = [random_inputs(g, 1, i)[0] for i, (g, _) in enumerate(libs)]
    want = [np.ascontiguousarray(reference.run(g, xv)["y"]).astype(np.int8).tobytes().hex() for (g, _), xv in zip(libs, x)]
    # as generated: only the selected specialisations compiled
    assert _qemu(tmp_path / "selected", libs, x, trace=False).split() == want
    # every specialisation compiled, the branches taken recorded
    for _, lib in libs:
        config = lib.out_dir / f"{lib.name}_config.h"
        text = config.read_text()
        assert "#define TG_SELECTED_VARIANTS 1" in text
        config.write_text(text.replace("#define TG_SELECTED_VARIANTS 1", "#define TG_SELECTED_VARIANTS 0"))
    lines = _qemu(tmp_path / "all", libs, x, trace=True).split()
    for i, (case, (_, lib)) in enumerate(zip(CASES, libs)):
        assert lines[0] == want[i], case[0]
        end = lines.index("END")
        taken = {line[2:] for line in lines[1:end]}
        assert taken == set(lib.manifest["variants"]) == case[4], case[0]
        lines = lines[end + 1:]
    assert lines == []


@pytest.mark.parametrize("case", [c for c in CASES if c[4]], ids=[c[0] for c in CASES if c[4]])
def test_without_its_specialisations_a_call_still_computes_every_byte(case: tuple, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The dispatchers' general paths (what runs if a specialisation were not compiled): the library with its
    TG_VARIANT_* defines removed equals the reference, on the host (portable and emulated-DSP paths, ASan/UBSan)."""
    import hostbuild
    from test_codegen import random_inputs

    g, lib = _generate(case, tmp_path, monkeypatch)
    config = lib.out_dir / f"{lib.name}_config.h"
    text = config.read_text()
    stripped = "\n".join(line for line in text.splitlines() if not line.startswith("#define TG_VARIANT_"))
    assert stripped != text and "#define TG_SELECTED_VARIANTS 1" in stripped
    config.write_text(stripped + "\n")
    x = random_inputs(g, 3, 5)
    want = np.stack([reference.run(g, x[v])["y"].reshape(-1) for v in range(3)])
    for dsp in (False, True):
        hb = hostbuild.build(lib.out_dir, lib.manifest, tmp_path / f"host{int(dsp)}", sanitize=True, dsp_emulate=dsp)
        out, _ = hostbuild.run(hb, x.reshape(3, -1))
        np.testing.assert_array_equal(np.stack(out), want)
