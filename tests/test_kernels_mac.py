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
    "tg_depthwise_3x3_ch_s8.c",
    "tg_depthwise_3x3_vp_s8.c",
    "tg_fully_connected_s8.c",
    "tg_fully_connected_dual_s8.c",
]
#: the DSP instruction each kernel's DSP path must use
DSP_INSTRUCTION = {
    "tg_conv_gemm_s8.c": "smlad",
    "tg_fully_connected_s8.c": "smlad",
    "tg_fully_connected_dual_s8.c": "smlad",
    "tg_depthwise_3x3_vp_s8.c": "smlad",
    "tg_depthwise_3x3_s8.c": "smlabb",
    "tg_depthwise_3x3_ch_s8.c": "smlad",
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
    """KWS's whole library (the kernel specialisations it selects) builds with the board's flags."""
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


# --------------------------------------------------------------------------- bit-exactness on the host

import numpy as np  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tinygen.ir import ACTIVATIONS  # noqa: E402

_CONV = {"kind": "conv2d", "batch": 1, "h": 5, "w": 5, "c": 8, "out_c": 6, "mult": 1, "k": (1, 1), "stride": (1, 1),
         "dilation": (1, 1), "padding": "valid", "activation": "none", "per_channel": True, "bias": True}
#: shapes that reach every branch of the GEMM: odd pixel count and channel count, depth tails 1..3,
#: strides, padding, dilation, KWS's first conv (10x4 stride 2 on one channel), batches, activations
CONV_CASES = {
    "1x1_even": {},
    "1x1_odd_pixels_odd_channels_tail": {"h": 3, "w": 3, "c": 7, "out_c": 5, "activation": "relu"},
    "1x1_stride2_tail2": {"h": 6, "w": 7, "c": 6, "out_c": 9, "stride": (2, 2), "activation": "relu6"},
    "1x1_depth1": {"c": 1, "out_c": 3, "batch": 2},
    # depth tails as one more group (T0 / T1): t = 1 after a group, t = 2 and 3 without any group
    "1x1_tail1_after_group": {"c": 5, "out_c": 4, "activation": "relu"},
    "1x1_depth2": {"c": 2, "out_c": 4},
    "1x1_depth3_odd_channels": {"c": 3, "out_c": 5, "h": 3, "w": 3},
    "1x1_per_tensor_relu_n1": {"c": 12, "out_c": 16, "per_channel": False, "activation": "relu_n1_to_1"},
    "3x3_same": {"k": (3, 3), "padding": "same", "c": 3, "out_c": 16, "h": 7, "w": 6, "activation": "relu"},
    "3x3_stride2_batch2": {"k": (3, 3), "padding": "same", "c": 8, "out_c": 7, "stride": (2, 2), "batch": 2},
    "kws_first": {"k": (10, 4), "padding": "same", "c": 1, "out_c": 8, "h": 13, "w": 10, "stride": (2, 2),
                  "activation": "relu"},
    "dilated": {"k": (2, 3), "padding": "same", "c": 5, "out_c": 3, "dilation": (2, 2), "h": 7, "w": 7},
    "no_bias_valid": {"k": (2, 2), "c": 4, "out_c": 4, "bias": False, "h": 4, "w": 5},
}


def _check(graph, work: Path, rounding: str, seed: int = 0) -> None:
    from test_codegen import check_library

    check_library(graph, work, rounding=rounding, vectors=3, dsp=(False, True), seed=seed)


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv_equals_reference(case: str, rounding: str, tmp_path: Path) -> None:
    """conv2d (1x1 and im2col), portable and emulated-DSP paths, == tinygen.reference bit for bit."""
    from test_codegen import conv_graph

    _check(conv_graph(3, {**_CONV, **CONV_CASES[case]}), tmp_path, rounding)


FC_CASES = {"quads": (1, 64, 12), "tails": (1, 37, 7), "batch3": (3, 9, 5), "one_in": (1, 1, 6), "one_out": (2, 20, 1)}


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("case", list(FC_CASES))
def test_fully_connected_equals_reference(case: str, rounding: str, tmp_path: Path) -> None:
    from test_codegen import fc_graph

    batch, n_in, n_out = FC_CASES[case]
    for i, (act, per_channel) in enumerate([("none", True), ("relu", False)]):
        cfg = {"batch": batch, "in": n_in, "out": n_out, "activation": act, "per_channel": per_channel, "bias": True}
        _check(fc_graph(i, cfg), tmp_path / str(i), rounding)


@st.composite
def _conv2d_configs(draw: st.DrawFn) -> dict:
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (1, 1) if draw(st.booleans()) else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    return {
        "kind": "conv2d", "batch": draw(st.sampled_from([1, 1, 2])),
        "h": draw(st.integers((k[0] - 1) * dilation[0] + 1, 9)),
        "w": draw(st.integers((k[1] - 1) * dilation[1] + 1, 9)),
        "c": draw(st.integers(1, 13)), "out_c": draw(st.integers(1, 11)), "mult": 1, "k": k,
        "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))), "dilation": dilation,
        "padding": draw(st.sampled_from(["same", "valid"])), "activation": draw(st.sampled_from(ACTIVATIONS)),
        "per_channel": draw(st.booleans()), "bias": draw(st.booleans()),
        "rounding": draw(st.sampled_from(["double", "single"])),
    }


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cfg=_conv2d_configs(), seed=st.integers(0, 2**31))
def test_random_conv2d_equals_reference(tmp_path_factory: pytest.TempPathFactory, cfg: dict, seed: int) -> None:
    from test_codegen import conv_graph

    _check(conv_graph(seed, cfg), tmp_path_factory.mktemp("conv"), cfg["rounding"], seed)


# --------------------------------------------------------------------------- in-place 1x1

_IN_PLACE_MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "tg_conv_1x1_s8.h"
#include "tg_conv_gemm_s8.h"
#include "data.h"

int main(void)
{
    static int8_t buf[sizeof input];
    static int8_t separate[sizeof expected];
    static int16_t scratch[TG_CONV_BLOCK_INT16(IN_C)];
    memcpy(buf, input, sizeof input);
    tg_conv_1x1_s8(input, BATCHES, H, W, IN_C, weights, params, MODE, separate, H, W, OUT_C, 1, 1, OUT_OFFSET,
                   ACT_MIN, ACT_MAX, scratch);
    tg_conv_1x1_s8(buf, BATCHES, H, W, IN_C, weights, params, MODE, buf, H, W, OUT_C, 1, 1, OUT_OFFSET, ACT_MIN,
                   ACT_MAX, scratch);
    printf("separate %s, in place %s\n", memcmp(separate, expected, sizeof expected) ? "DIFFER" : "equal",
           memcmp(buf, expected, sizeof expected) ? "DIFFER" : "equal");
    return 0;
}
"""


class _Ctx:
    """A LoweringContext stand-in that keeps the lowering's const arrays."""

    def __init__(self, graph) -> None:
        self.graph, self.rounding, self.arrays = graph, "double", {}

    def const_array(self, hint: str, values: np.ndarray, ctype: str, kind: object) -> str:
        self.arrays[hint] = (np.asarray(values).reshape(-1), ctype)
        return hint

    def tensor_ptr(self, name: str) -> str:
        return name

    def scratch_ptr(self) -> str:
        return "scratch"


def _c_array(name: str, values: np.ndarray, ctype: str) -> str:
    return f"static const {ctype} {name}[] = {{{', '.join(str(int(v)) for v in values)}}};\n"


@pytest.mark.parametrize("dsp", [False, True])
@pytest.mark.parametrize("shape", [(1, 5, 5, 16, 16), (2, 3, 5, 12, 7), (1, 1, 3, 5, 5)])
def test_1x1_conv_runs_in_place(shape: tuple[int, ...], dsp: bool, tmp_path: Path) -> None:
    """tg_conv_1x1_s8 with output == input (stride 1, out_c <= in_c) == reference, ASan/UBSan clean; the
    lowering registers exactly these configurations as in place."""
    from test_codegen import conv_graph

    from tinygen import reference
    from tinygen.ops.conv2d import OP as CONV2D, lower as lower_conv2d

    batch, h, w, in_c, out_c = shape
    graph = conv_graph(5, {**_CONV, "batch": batch, "h": h, "w": w, "c": in_c, "out_c": out_c, "activation": "relu"})
    op = graph.ops[0]
    assert CONV2D.in_place is not None and CONV2D.in_place(graph, op)
    ctx = _Ctx(graph)
    call = lower_conv2d(ctx, op)
    assert call.kernel == "tg_conv_1x1_s8"
    x = np.random.default_rng(1).integers(-128, 128, graph.tensor("x").shape).astype(np.int8)
    want = reference.run(graph, {"x": x})["y"].reshape(-1)
    a = call.args
    data = "".join(_c_array(n, v, t) for n, (v, t) in ctx.arrays.items()).replace("conv_w", "weights")
    data = data.replace("conv_params", "params")
    data += _c_array("input", x.reshape(-1), "int8_t") + _c_array("expected", want, "int8_t")
    data += "".join(f"#define {k} ({v})\n" for k, v in {
        "BATCHES": batch, "H": h, "W": w, "IN_C": in_c, "OUT_C": out_c, "MODE": a[7], "OUT_OFFSET": a[14],
        "ACT_MIN": a[15], "ACT_MAX": a[16]}.items())
    (tmp_path / "data.h").write_text(data)
    (tmp_path / "main.c").write_text(_IN_PLACE_MAIN)
    exe = tmp_path / "inplace"
    cmd = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-fsanitize=address,undefined",
           "-fno-sanitize-recover=all", *(["-DTG_DSP_EMULATE"] if dsp else []), f"-I{KERNELS}", f"-I{tmp_path}",
           str(tmp_path / "main.c"), str(KERNELS / "tg_conv_1x1_s8.c"), str(KERNELS / "tg_conv_gemm_s8.c"),
           "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "separate equal, in place equal"


def test_in_place_predicate_only_where_the_kernel_allows_it() -> None:
    from test_codegen import conv_graph

    from tinygen.ops.conv2d import OP as CONV2D

    def allowed(**change) -> bool:
        graph = conv_graph(0, {**_CONV, **change})
        assert CONV2D.in_place is not None
        return CONV2D.in_place(graph, graph.ops[0])

    assert allowed() and allowed(c=8, out_c=8) and allowed(batch=2)
    assert not allowed(c=8, out_c=9)  # outputs would overtake the input
    assert not allowed(stride=(2, 2))
    assert not allowed(k=(3, 3), padding="same")


@pytest.mark.parametrize("ratio", [0.6, 3.0, 2.0**-24])
def test_general_requantization_mode(ratio: float, tmp_path: Path) -> None:
    """Layers whose right shift is outside 2..22 (a left shift, or a tiny multiplier) take the general
    requantization of tg_requant_fast.h, bit-exact too."""
    from test_codegen import conv_graph

    from tinygen.ir import Quantization
    from tinygen.lowering.mac_common import RQ_GENERAL
    from tinygen.ops.conv2d import lower as lower_conv2d

    graph = conv_graph(2, {**_CONV, "c": 5, "out_c": 3, "per_channel": False})
    x, w, y = (graph.tensor(n) for n in ("x", "w", "y"))
    scale = float(np.float32(float(x.quant.scale[0]) * float(w.quant.scale[0]) / ratio))
    y.quant = Quantization([scale], [int(y.quant.zero_point[0])])
    assert lower_conv2d(_Ctx(graph), graph.ops[0]).args[7] == str(RQ_GENERAL)
    for rounding in ("double", "single"):
        _check(graph, tmp_path / rounding, rounding)
