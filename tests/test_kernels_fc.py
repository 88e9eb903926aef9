"""Fully connected kernels: tg_fully_connected_dual_s8 (two rows per SMLAD) and tg_fully_connected_s8 (row
quads), with and without a bias (without one the kernels add the input offset to the inputs), bit-exact with
tinygen.reference on the host (portable and emulated-DSP paths, gcc and clang, ASan/UBSan) and in QEMU, the
lowering's choice between them, and the cross-compiled DSP inner loop. The dual kernel only pays for its
flash from fc_ops.DUAL_MIN_MACS MACs; the small graphs here lower to it because the autouse fixture lowers
that threshold (tests that want the plain kernel raise it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinygen.ir import Graph, Quantization
from tinygen.lowering import fc_ops
from tinygen.lowering.fc_ops import _DUAL_MAX_ABS_SUM, _dual_fits, _dual_layout
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"


@pytest.fixture(autouse=True)
def dual_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small graphs lower to the dual kernel too (when it is exact for their weights)."""
    monkeypatch.setattr(fc_ops, "DUAL_MIN_MACS", 0)


def plain_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fc_ops, "DUAL_MIN_MACS", 1 << 62)

#: (batch, in, out): quads only, tails of 1..3 inputs and rows, batches, an AD autoencoder shape (its 640-input
#: layers run in QEMU below and in tests/test_emulator_models.py)
FC_CASES = {
    "quads": (1, 64, 12),
    "tails": (1, 37, 7),
    "tail1_rows2": (1, 13, 6),
    "tail2_rows3": (2, 22, 11),
    "one_group": (1, 4, 4),
    "five_groups": (1, 20, 8),  # the four-group block and one single group
    "groups_8_4_3": (1, 61, 8),  # 15 groups and a tail: every loop of the inline assembly
    "batch3": (3, 9, 5),
    "one_in": (1, 1, 6),
    "one_out": (2, 20, 1),
    "ad_8_128": (1, 8, 128),
}


def _fc(seed: int, batch: int, n_in: int, n_out: int, act: str, per_channel: bool, out_scale: float = 0.0,
        out_zp: int | None = None, bias: bool = True) -> Graph:
    """A random fully connected graph; out_scale > 0 replaces the output scale (e.g. to force a left shift),
    out_zp the output zero point; bias False: no bias tensor (like TensorFlow's Dense(use_bias=False))."""
    from test_codegen import fc_graph

    g = fc_graph(seed, {"batch": batch, "in": n_in, "out": n_out, "activation": act, "per_channel": per_channel,
                        "bias": bias})
    if out_scale > 0:
        y = g.tensor("y")
        zp = y.quant.zero_point if out_zp is None else np.array([out_zp])
        y.quant = Quantization(np.array([out_scale], dtype=np.float32), zp)
    return g


def _mode(graph: Graph) -> str:
    from test_kernels_other import Driver

    from tinygen.ops.fully_connected import lower as lower_fully_connected

    class _Ctx(Driver):
        def scratch_ptr(self) -> str:
            return "scratch"

    call = lower_fully_connected(_Ctx(graph, "p_"), graph.ops[0])
    assert call.kernel == "tg_fully_connected_dual_s8"
    return call.args[7]


def test_every_requantization_mode_is_reached() -> None:
    """FULL (no clamp), RELU (no sign term, no upper clamp), FAST, and TFLite's general form for a left shift (tiny output
    scale) — the host and QEMU tests below run each."""
    assert _mode(_fc(0, 1, 20, 8, "none", True)) == "2"
    assert _mode(_fc(0, 1, 20, 8, "relu", True)) == "3"
    assert _mode(_fc(0, 1, 20, 8, "relu_n1_to_1", True)) == "1"
    assert _mode(_fc(0, 1, 20, 8, "relu6", True, 0.1, -128)) == "1"  # RELU also needs act_max 127
    assert _mode(_fc(0, 1, 20, 8, "none", True, out_scale=1e-7)) == "0"
    assert _mode(QEMU_GENERAL) == "0"


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_general_and_clamped_requantization_modes(rounding: str, tmp_path: Path) -> None:
    _check(_fc(0, 2, 21, 9, "none", False, out_scale=1e-7), tmp_path / "a", rounding)
    _check(_fc(1, 1, 36, 8, "relu", True, out_scale=2e-6), tmp_path / "b", rounding)
    _check(_fc(2, 1, 30, 8, "relu6", True, 0.1, -128), tmp_path / "c", rounding)


def _check(graph: Graph, work: Path, rounding: str, **kw):
    from test_codegen import check_library

    return check_library(graph, work, rounding=rounding, vectors=3, dsp=(False, True), **kw)


def _kernel(graph: Graph, work: Path) -> str:
    from tinygen import codegen

    lib = codegen.generate(graph, work / "k", force=True)
    return lib.manifest["layers"][0]["kernel"]


@pytest.mark.parametrize(("rounding", "kernel"), [("double", "dual"), ("single", "dual"), ("double", "plain")])
@pytest.mark.parametrize("case", list(FC_CASES))
def test_fully_connected_equals_reference(case: str, rounding: str, kernel: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shape case, three activations, with a folded bias and without a bias (offset on the inputs)."""
    if kernel == "plain":
        plain_only(monkeypatch)
    batch, n_in, n_out = FC_CASES[case]
    for i, (act, per_channel, bias) in enumerate([("none", True, True), ("relu", False, False), ("relu6", True, False)]):
        g = _fc(i, batch, n_in, n_out, act, per_channel, bias=bias)
        lib = _check(g, tmp_path / str(i), rounding)
        dual = kernel == "dual" and _dual_fits(g.tensor("w").data.reshape(n_out, -1), 255)
        assert lib.manifest["layers"][0]["kernel"] == ("tg_fully_connected_dual_s8" if dual else "tg_fully_connected_s8")


@pytest.mark.parametrize("kernel", ["dual", "plain"])
@pytest.mark.parametrize("case", ["tail2_rows3", "five_groups"])
def test_fully_connected_clang_and_sanitizers(case: str, kernel: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Both kernels, with a folded bias and without a bias."""
    if kernel == "plain":
        plain_only(monkeypatch)
    batch, n_in, n_out = FC_CASES[case]
    for bias in (True, False):
        g = _fc(5, batch, n_in, n_out, "relu", True, bias=bias)
        work = tmp_path / str(bias)
        lib = _check(g, work / "asan", "double", sanitize=True)  # clang's sanitizer runtime is not installed here
        assert lib.manifest["layers"][0]["kernel"].endswith("dual_s8" if kernel == "dual" else "connected_s8")
        _check(g, work / "clang", "double", compilers=("clang",))


def test_extreme_inputs_and_weights_at_the_bound(tmp_path: Path) -> None:
    """B rows at the exactness limit: every weight -127/127 with the input at -128/127, so |B| reaches its bound."""
    from test_codegen import check_library

    n_in = _DUAL_MAX_ABS_SUM // 127  # 516 inputs of |w| = 127: 128 * sum|w| just below 2^23
    g = _fc(7, 1, n_in, 8, "none", True)
    w = g.tensor("w")
    signs = np.where(np.arange(8 * n_in).reshape(8, n_in) % 3 == 0, -1, 1)
    w.data = (127 * signs).astype(np.int8)
    assert _dual_fits(w.data)
    assert _kernel(g, tmp_path) == "tg_fully_connected_dual_s8"
    check_library(g, tmp_path, vectors=2, dsp=(False, True))


def test_dual_kernel_only_where_exact(tmp_path: Path) -> None:
    """The lowering falls back to tg_fully_connected_s8 when a B row could overflow 2^23, or there is no quad."""
    g = _fc(3, 1, 640, 8, "none", True)
    assert _kernel(g, tmp_path / "a") == "tg_fully_connected_dual_s8"
    w = g.tensor("w")
    heavy = w.data.copy()
    heavy[1] = 127  # row 1 is a B row: 128 * 640 * 127 > 2^23
    w.data = heavy
    assert not _dual_fits(heavy)
    assert _kernel(g, tmp_path / "b") == "tg_fully_connected_s8"
    _check(g, tmp_path / "c", "double")
    heavy_a = w.data.copy()
    heavy_a[1] = w.data[2]
    heavy_a[0] = 127  # an A row has no bound
    w.data = heavy_a
    assert _dual_fits(heavy_a)
    _check(g, tmp_path / "d", "double")
    assert _kernel(_fc(0, 1, 64, 3, "none", True), tmp_path / "e") == "tg_fully_connected_s8"  # no quad
    assert _kernel(_fc(0, 1, 3, 8, "none", True), tmp_path / "f") == "tg_fully_connected_s8"  # no group


def test_dual_layout_keeps_every_weight_byte_once() -> None:
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (9, 11)).astype(np.int8)
    out = _dual_layout(w)
    assert out.dtype == np.int8 and out.size == w.size
    # first word of quad 0, group 0: [w00 + 128, w10, w02 + 128, w12]
    assert [int(v) & 0xFF for v in out[:4]] == [(int(w[0, 0]) + 128) & 0xFF, int(w[1, 0]) & 0xFF,
                                                (int(w[0, 2]) + 128) & 0xFF, int(w[1, 2]) & 0xFF]
    # tails (inputs 8..10 of rows 0..7) follow the quad part, then row 8 in full
    assert np.array_equal(out[16 * 2 * 2: 16 * 2 * 2 + 24], w[:8, 8:].reshape(-1))
    assert np.array_equal(out[-11:], w[8])


ARM_GCC = "arm-none-eabi-gcc"
CORES = {
    "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m33": ["-mcpu=cortex-m33", "-mthumb"],
    "cortex-m55": ["-mcpu=cortex-m55", "-mthumb"],
    "cortex-m3": ["-mcpu=cortex-m3", "-mthumb"],
    "cortex-m0": ["-mcpu=cortex-m0", "-mthumb"],
}


@pytest.mark.skipif(shutil.which(ARM_GCC) is None, reason=f"{ARM_GCC} is not installed")
@pytest.mark.parametrize("opt", ["-O2", "-O0", "-Os"])
@pytest.mark.parametrize("core", list(CORES))
def test_dual_kernel_cross_compiles(core: str, opt: str, tmp_path: Path) -> None:
    """-Werror on every core and optimisation level (the inline assembly must find its registers); DSP cores
    run the UXTB16/SMLAD loop with one LDM per group."""
    obj = tmp_path / "fc.o"
    source = KERNELS / "tg_fully_connected_dual_s8.c"
    cmd = [ARM_GCC, *CORES[core], "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", opt, f"-I{KERNELS}", "-c",
           str(source), "-o", str(obj)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True, check=True).stdout
    dsp = core not in ("cortex-m3", "cortex-m0")
    assert ("uxtb16" in dis) == dsp
    assert ("smlad" in dis) == dsp


# --------------------------------------------------------------------------- the DSP paths in QEMU

#: (batch, in, out, activation, per_channel[, out_scale, out_zp]), keyword arguments of _fc, and the kernel:
#: every requantization mode of the dual kernel, tails, remaining rows, batches, both bias cases, and the plain
#: kernel (quads, single rows, no quad at all)
QEMU_CASES: list[tuple[tuple, dict, str]] = [
    ((1, 37, 7, "relu", True), {}, "dual"),  # RELU mode, tail 1, three remaining rows
    ((2, 22, 11, "none", False), {"bias": False}, "dual"),  # FULL, per-tensor, tail 2, batches, no bias
    ((1, 23, 8, "relu_n1_to_1", True), {}, "dual"),  # FAST (act_min below the output zero point), tail 3
    ((1, 60, 12, "relu6", True), {"bias": False}, "dual"),  # 15 groups: the eight-group loop and seven single
    ((1, 640, 8, "relu", True), {}, "dual"),
    ((1, 640, 8, "none", True), {"bias": False}, "dual"),  # AD's bias-less 128 -> 640 kind, inputs + offset
    ((1, 30, 8, "relu6", True, 0.1, -128), {}, "dual"),  # FAST with both bounds inside -128..127
    ((2, 37, 7, "relu", True), {"bias": False}, "plain"),  # quads, tail, three single rows, no bias
    ((1, 64, 12, "none", True), {"bias": False}, "plain"),  # KWS's bias-less 64 -> 12 kind
    ((1, 256, 2, "none", False), {"bias": False}, "plain"),  # VWW's 256 -> 2: no quad at all
    ((1, 21, 9, "relu6", False), {}, "plain"),
]
#: the general requantization mode (a left shift), in QEMU too
QEMU_GENERAL = _fc(20, 1, 21, 9, "none", True, out_scale=1e-7)
QEMU_MACHINES = {"cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500", "cortex-m3": "mps2-an385"}


@pytest.mark.skipif(shutil.which(ARM_GCC) is None or shutil.which("qemu-system-arm") is None,
                    reason="arm-none-eabi-gcc or qemu-system-arm is not installed")
@pytest.mark.parametrize(("cpu", "rounding"), [("cortex-m7", "double"), ("cortex-m7", "single"), ("cortex-m4", "double"),
                                              ("cortex-m3", "single")])
def test_fully_connected_in_qemu(cpu: str, rounding: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated libraries (inline-assembly DSP loop on M4/M7, portable C on M3) equal the reference in QEMU."""
    from test_codegen import random_inputs
    from test_kernels_other import _ARM_IO, _LDSCRIPT

    from tinygen import codegen, reference

    sources, calls, want = [], [], []
    cases = [(_fc(10 + i, *args, **kw), kernel) for i, (args, kw, kernel) in enumerate(QEMU_CASES)]
    cases.append((QEMU_GENERAL, "dual"))
    graphs = [g for g, _ in cases]
    for i, (g, kernel) in enumerate(cases):
        name = f"fc{i}"
        monkeypatch.setattr(fc_ops, "DUAL_MIN_MACS", 0 if kernel == "dual" else 1 << 62)
        lib = codegen.generate(g, tmp_path / name, rounding=rounding, force=True, name=name)
        assert lib.manifest["layers"][0]["kernel"] == f"tg_fully_connected_{'dual_' if kernel == 'dual' else ''}s8"
        sources += sorted(str(p) for p in lib.out_dir.glob("*.c"))
        x = random_inputs(g, 2, i)
        for v in range(2):
            data = ", ".join(str(int(b)) for b in x[v].reshape(-1))
            calls.append(f"    {{ static const int8_t in[] = {{{data}}}; static int8_t out[{name}_OUTPUT_SIZE];\n"
                         f"      if ({name}_invoke(in, out) != 0) {{ return 1; }}\n"
                         f"      tg_dump((const unsigned char *)out, {name}_OUTPUT_SIZE); }}\n")
            want.append(np.ascontiguousarray(reference.run(g, x[v], rounding=rounding)["y"]).astype(np.int8).tobytes().hex())
    includes = "".join(f'#include "fc{i}.h"\n' for i in range(len(graphs)))
    (tmp_path / "main.c").write_text(f"#include <stdint.h>\n{includes}{_ARM_IO}\nint main(void)\n{{\n{''.join(calls)}    return 0;\n}}\n")
    (tmp_path / "link.ld").write_text(_LDSCRIPT)
    elf = tmp_path / "main.elf"
    incs = [f"-I{tmp_path / f'fc{i}'}" for i in range(len(graphs))]
    cmd = [ARM_GCC, f"-mcpu={cpu}", "-mthumb", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", *incs,
           "-nostartfiles", "--specs=nosys.specs", "-T", str(tmp_path / "link.ld"), str(tmp_path / "main.c"), *sources,
           "-o", str(elf)]
    cc = subprocess.run(cmd, capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr[-4000:]
    run = subprocess.run(["qemu-system-arm", "-M", QEMU_MACHINES[cpu], "-nographic", "-monitor", "none", "-serial", "none",
                          "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    got = (run.stdout + run.stderr).split()
    assert got == want
