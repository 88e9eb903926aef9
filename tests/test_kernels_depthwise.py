"""tg_depthwise_3x3_s8 on the host, called directly through its lowering: bit-exact with
tinygen.reference on the portable and the (emulated) DSP path, out of place and in place
(output pointer == input pointer), in exactly sized heap buffers under ASan/UBSan; its weights stay
TFLite's int8 bytes; and the in-place predicate accepts exactly what the kernel supports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinygen import reference
from tinygen.ir import Graph, Op, Quantization, Tensor, conv_output_size
from tinygen.lowering import depthwise_ops
from tinygen.lowering.base import KernelCall
from tinygen.ops import depthwise_conv2d
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
CC = shutil.which("gcc")
pytestmark = pytest.mark.skipif(CC is None, reason="gcc is not installed")


def dw_graph(seed: int, n: int, h: int, w: int, c: int, stride: tuple[int, int], padding: str, activation: str,
             out_zp: int | None = None, bias_range: int = 3000, mult: int = 1, k: tuple[int, int] = (3, 3),
             out_scale: float = 1.0, dilation: tuple[int, int] = (1, 1)) -> Graph:
    rng = np.random.default_rng(seed)
    oh, _ = conv_output_size(h, k[0], stride[0], dilation[0], padding)
    ow, _ = conv_output_size(w, k[1], stride[1], dilation[1], padding)
    out_c = c * mult
    g = Graph("dw")
    x_scale = float(rng.uniform(0.005, 0.1))
    g.add_tensor(Tensor("x", (n, h, w, c), "int8", Quantization([x_scale], [int(rng.integers(-128, 128))])))
    w_scales = rng.uniform(0.002, 0.02, out_c).astype(np.float32)
    g.add_tensor(Tensor("w", (1, *k, out_c), "int8", Quantization(w_scales, np.zeros(out_c, dtype=np.int64), axis=3),
                        rng.integers(-127, 128, (1, *k, out_c)).astype(np.int8)))
    bias = rng.integers(-bias_range, bias_range + 1, out_c).astype(np.int32)
    g.add_tensor(Tensor("b", (out_c,), "int32", None, bias))
    typical = x_scale * float(np.mean(w_scales)) * 64.0 * 3.0 / 127.0
    y_scale = float(np.float32(typical * rng.uniform(0.5, 4.0) * out_scale))
    zp = int(rng.integers(-128, 128)) if out_zp is None else out_zp
    g.add_tensor(Tensor("y", (n, oh, ow, out_c), "int8", Quantization([y_scale], [zp])))
    attrs = {"stride": stride, "dilation": dilation, "padding": padding, "activation": activation,
             "depth_multiplier": mult}
    g.add_op(Op("depthwise_conv2d", "dw0", ["x", "w", "b"], ["y"], attrs))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


class _Ctx:
    """A LoweringContext that emits C: const arrays as text, tensors as the harness's buffers."""

    def __init__(self, graph: Graph, rounding: str, in_place: bool) -> None:
        self.graph, self.rounding, self.in_place = graph, rounding, in_place
        self.arrays: list[str] = []
        self.weight_bytes = 0

    def tensor_ptr(self, name: str) -> str:
        if name == self.graph.inputs[0]:
            return "(const int8_t *)io_in"
        return "io_in" if self.in_place else "io_out"

    def const_array(self, hint: str, values: np.ndarray, ctype: str, kind: object) -> str:
        flat = np.asarray(values).reshape(-1)
        if hint.endswith("_w"):
            self.weight_bytes += flat.size * np.dtype(values.dtype).itemsize
        body = ", ".join(f"{int(v)}" if ctype != "int32_t" else f"(int32_t){int(v)}" for v in flat)
        self.arrays.append(f"static const {ctype} {hint}[{flat.size}] = {{{body}}};")
        return hint

    def scratch_ptr(self) -> str:
        return "scratch"


def run_kernel(graph: Graph, x: np.ndarray, work: Path, in_place: bool, dsp: bool, sanitize: bool,
               rounding: str = "double", every_variant: bool = False) -> tuple[np.ndarray, KernelCall, _Ctx]:
    """Compile the lowered call with the specialisations it names (as its library would: a missing one traps), or
    with ``every_variant`` compiled, run it on ``x`` and return (output, call, context)."""
    ctx = _Ctx(graph, rounding, in_place)
    call = depthwise_conv2d.lower(ctx, graph.ops[0])
    in_size = x.size
    out_size = int(np.prod(graph.tensor("y").shape))
    # in place, the buffer holds the larger of the two (the planner gives both the same offset)
    size = max(in_size, out_size) if in_place else in_size
    src = "\n".join([
        "#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>", "#include <stdint.h>",
        f'#include "{call.kernel}.c"',
        '#include "tg_depthwise_3x3_vp_s8.c"',  # the DSP pair path both 3x3 kernels call (a library gets it too)
        *ctx.arrays,
        f"static const int8_t x_data[{in_size}] = {{{', '.join(str(int(v)) for v in x.reshape(-1))}}};",
        "int main(void) {",
        f"    int8_t *io_in = malloc({size});",
        f"    int8_t *io_out = malloc({out_size});",
        f"    int8_t *scratch = malloc({max(call.scratch_bytes, 1)});",
        f"    memcpy(io_in, x_data, {in_size});",
        f"    memset(scratch, 0xa5, {max(call.scratch_bytes, 1)});",
        f"    {call.kernel}({', '.join(call.args)});",
        f"    fwrite({'io_in' if in_place else 'io_out'}, 1, {out_size}, stdout);",
        "    free(io_in); free(io_out); free(scratch);",
        "    return 0;",
        "}",
    ]) + "\n"
    (work / "main.c").write_text(src)
    flags = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wno-overlength-strings", "-g"]
    if dsp:
        flags.append("-DTG_DSP_EMULATE")
    if rounding == "single":
        flags.append("-DTG_SINGLE_ROUNDING=1")
    if sanitize:
        flags += ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    if not every_variant:
        flags += ["-DTG_SELECTED_VARIANTS=1", *(f"-DTG_VARIANT_{v}=1" for v in call.variants)]
    exe = work / "dw"
    proc = subprocess.run([CC, *flags, f"-I{KERNELS}", str(work / "main.c"), "-o", str(exe)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    run = subprocess.run([str(exe)], capture_output=True)
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    out = run.stdout
    assert len(out) == out_size
    return np.frombuffer(out, dtype=np.int8).reshape(graph.tensor("y").shape), call, ctx


def check_both_roundings(graph: Graph, x: np.ndarray, work: Path, dsp: bool, sanitize: bool, kernel: str,
                         weight_bytes: int, every_variant: bool = False) -> None:
    """The lowering of ``graph``'s depthwise op picks ``kernel``, whose output equals the reference bit for bit
    with either rounding (compiled with the call's specialisations, or ``every_variant``), and emits
    ``weight_bytes`` bytes of weights (TFLite's int8 bytes, reordered at most)."""
    for rounding in ("double", "single"):
        want = reference.run(graph, x, rounding=rounding)["y"]
        got, call, ctx = run_kernel(graph, x, work, in_place=False, dsp=dsp, sanitize=sanitize, rounding=rounding,
                                    every_variant=every_variant)
        assert call.kernel == kernel
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, f"{rounding}: {bad.size} of {want.size} differ, first at {bad[0]}"
        assert ctx.weight_bytes == weight_bytes


CONFIGS = [
    # (n, h, w, c, stride, padding, activation)
    (1, 25, 5, 8, (1, 1), "same", "relu"),  # KWS-like: narrow, lines are columns
    (1, 6, 9, 5, (1, 1), "same", "none"),
    (2, 7, 7, 3, (1, 1), "same", "relu6"),
    (1, 9, 8, 4, (2, 2), "same", "relu6"),  # MobileNet stride 2
    (1, 8, 9, 6, (2, 2), "valid", "none"),
    (1, 5, 11, 2, (1, 2), "same", "relu_n1_to_1"),
    (1, 11, 4, 3, (2, 1), "valid", "relu"),
    (1, 10, 10, 2, (3, 3), "same", "none"),  # stride > 2: the plain path
    (1, 3, 3, 7, (1, 1), "valid", "none"),  # one output pixel
    (1, 1, 1, 4, (1, 1), "same", "relu"),  # every tap but the centre is padding
    # four channels at a time (small images, >= 16 channels, a multiple of 4)
    (1, 6, 6, 16, (1, 1), "same", "relu6"),
    (2, 7, 5, 20, (2, 2), "same", "none"),
    (1, 3, 3, 32, (1, 1), "valid", "relu"),
    (1, 5, 4, 16, (2, 1), "valid", "relu_n1_to_1"),
    # the DSP pair path (stride 1, lines >= 6) with a partial channel group and valid padding; by columns
    (1, 8, 9, 10, (1, 1), "valid", "relu"),
    (1, 7, 6, 20, (1, 1), "same", "none"),
    # stride 2 with longer lines: the ring by rows and by columns (taller than wide), four channels at a time
    (1, 13, 12, 6, (2, 2), "same", "relu6"),
    (2, 16, 9, 5, (2, 2), "same", "relu"),
    (1, 15, 13, 20, (2, 2), "valid", "none"),
]
#: the configs compiled with every specialisation of their kernel (the first of each kernel: the whole source under
#: -Wall -Wextra -Werror on the host; the others compile only what their call names, as a library does)
EVERY_VARIANT = (0, 10)
#: the kernel each config must select
KERNEL = (["tg_depthwise_3x3_s8"] * 10 + ["tg_depthwise_3x3_ch_s8"] * 4 + ["tg_depthwise_3x3_s8", "tg_depthwise_3x3_ch_s8"]
          + ["tg_depthwise_3x3_s8"] * 2 + ["tg_depthwise_3x3_ch_s8"])


@pytest.mark.parametrize("dsp", [False, True])
@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_depthwise_3x3_equals_reference(index: int, dsp: bool, tmp_path: Path) -> None:
    n, h, w, c, stride, padding, act = CONFIGS[index]
    graph = dw_graph(100 + index, n, h, w, c, stride, padding, act)
    x = np.random.default_rng(index).integers(-128, 128, (n, h, w, c)).astype(np.int8)
    check_both_roundings(graph, x, tmp_path, dsp, index % 3 == 0, KERNEL[index], 9 * c, index in EVERY_VARIANT)


@pytest.mark.parametrize("dsp", [False, True])
@pytest.mark.parametrize("shape", [(1, 25, 5, 16), (1, 12, 12, 8), (2, 5, 7, 3), (1, 2, 9, 5)])
def test_depthwise_3x3_in_place_equals_reference(shape: tuple[int, int, int, int], dsp: bool, tmp_path: Path) -> None:
    n, h, w, c = shape
    graph = dw_graph(h * w + c, n, h, w, c, (1, 1), "same", "relu6")
    assert depthwise_conv2d.OP.in_place(graph, graph.ops[0])
    x = np.random.default_rng(c).integers(-128, 128, shape).astype(np.int8)
    want = reference.run(graph, x)["y"]
    got, _, _ = run_kernel(graph, x, tmp_path, in_place=True, dsp=dsp, sanitize=True)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("channels", [8, 16])
@pytest.mark.parametrize("bias_range", [3000, 2**31 - 2**20])
def test_fast_requantization_bounds(channels: int, bias_range: int, tmp_path: Path) -> None:
    """Huge biases push the accumulator past the fast requantization's int32 bounds: the lowering
    then passes fast = 0 (generic requantization), still exact; saturating outputs (zero point -128,
    relu) take the SSAT variant. Both kernels. (A large output scale: right shifts, which the fast
    form needs.)"""
    graph = dw_graph(7, 1, 6, 6, channels, (1, 1), "same", "relu", out_zp=-128, bias_range=bias_range, out_scale=16.0)
    x = np.random.default_rng(7).integers(-128, 128, (1, 6, 6, channels)).astype(np.int8)
    want = reference.run(graph, x)["y"]
    got, call, _ = run_kernel(graph, x, tmp_path, in_place=False, dsp=True, sanitize=True)
    assert call.args[-2] == ("1" if bias_range == 3000 else "0")  # the fast flag
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("core", ["cortex-m7", "cortex-m4", "cortex-m3", "cortex-m0"])
@pytest.mark.parametrize("kernel", ["tg_depthwise_3x3_s8", "tg_depthwise_3x3_ch_s8", "tg_depthwise_3x3_vp_s8",
                                    "tg_depthwise_ch1_s8", "tg_depthwise_1d_s8"])
def test_kernels_cross_compile(kernel: str, core: str, tmp_path: Path) -> None:
    """-Werror clean for Cortex-M; the DSP path (SMLAD/SMLABB, SMMLAR) exactly on M4/M7 (the pair path
    has no code elsewhere; the one-channel and 1-D kernels: SMLAD over tap pairs)."""
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    obj = tmp_path / f"{kernel}.o"
    cmd = [gcc, f"-mcpu={core}", "-mthumb", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2",
           f"-I{KERNELS}", "-c", str(KERNELS / f"{kernel}.c"), "-o", str(obj)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    asm = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True, check=True).stdout
    dsp = core in ("cortex-m7", "cortex-m4")
    if kernel == "tg_depthwise_3x3_ch_s8":  # int16 pairs; its own checks: tests/test_depthwise_ch.py
        assert ("smlad" in asm and "smmlar" in asm) == dsp
        return
    if kernel in ("tg_depthwise_ch1_s8", "tg_depthwise_1d_s8"):
        assert ("smlad" in asm) == dsp
        return
    if kernel == "tg_depthwise_3x3_vp_s8":
        assert ("smlad" in asm and "smlatb" in asm and "smmlar" in asm and "pkhbt" in asm) == dsp
        assert "tg_depthwise_3x3_vp_s8" in asm or not dsp
        return
    assert ("smlabb" in asm and "smmlar" in asm) == dsp
    assert ("smlad" in asm) == (dsp and kernel == "tg_depthwise_3x3_s8")
    assert ("tg_depthwise_3x3_vp_s8" in asm) == dsp  # stride 1 with longer lines: the pair path


def test_channel_group_packing_keeps_the_bytes() -> None:
    w = np.arange(9 * 10, dtype=np.int64).reshape(1, 3, 3, 10).astype(np.int8)
    packed = depthwise_ops.pack_channel_groups(w)
    assert sorted(packed.tolist()) == sorted(w.reshape(-1).tolist())
    taps = w.reshape(9, 10)
    assert packed[(9 * 1 + 4) * 4 + 2] == taps[4, 6]  # group 1, tap 4, channel 4 + 2
    assert packed[36 * 2 + 9 * 1 + 7] == taps[7, 9]  # past the groups: channel 9, tap 7


def test_in_place_predicate() -> None:
    pred = depthwise_conv2d.OP.in_place
    assert pred(dw_graph(0, 1, 8, 8, 4, (1, 1), "same", "none"), dw_graph(0, 1, 8, 8, 4, (1, 1), "same", "none").ops[0])
    rejected = [
        dw_graph(0, 1, 8, 8, 4, (2, 2), "same", "none"),  # output smaller
        dw_graph(0, 1, 8, 8, 4, (1, 1), "valid", "none"),  # shape changes
        dw_graph(0, 1, 8, 8, 4, (1, 1), "same", "none", mult=2),  # general kernel
        dw_graph(0, 1, 8, 8, 4, (1, 1), "same", "none", k=(5, 5)),  # general kernel
        dw_graph(0, 1, 8, 8, 1, (1, 1), "same", "none"),  # one channel: runs as conv
        dw_graph(0, 1, 6, 6, 16, (1, 1), "same", "none"),  # tg_depthwise_3x3_ch_s8
    ]
    for graph in rejected:
        assert not pred(graph, graph.ops[0])
