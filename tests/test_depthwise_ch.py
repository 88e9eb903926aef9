"""tg_depthwise_3x3_ch_s8 (3x3 depthwise of small images, issue 17): bit-exact with tinygen's reference on the host,
on the portable path and the emulated DSP path (its padded plane of int16 pairs), with both roundings, under
ASan/UBSan, on every geometry its DSP path distinguishes (stride 1 output pairs and the odd last output, stride 2
pairs, other strides column by column, batches, partial channel groups, one-pixel images whose taps are mostly
padding) and every requantization mode; in QEMU on a real model on the Cortex-M3, M4 and M7; and its DSP
instructions are there exactly where the core has them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import opcheck
from test_kernels_depthwise import _Ctx, check_both_roundings, dw_graph, run_kernel
from tinygen import reference
from tinygen.ops import depthwise_conv2d

KERNEL = "tg_depthwise_3x3_ch_s8"
HUGE_BIAS = 2**31 - 2**20  # past the fast requantization's bounds: the generic mode (DW3C_ANY)

#: (n, h, w, c), stride, padding, activation, output zero point, bias range -> the mode the lowering names
CASES: dict[str, tuple[tuple[int, int, int, int], tuple[int, int], str, str, int | None, int, str]] = {
    "corners_2x2_relu_sat": ((1, 2, 2, 16), (1, 1), "same", "relu", -128, 3000, "DW3C_RELU_SAT"),
    "s1_even_signed_sat": ((1, 4, 4, 20), (1, 1), "same", "none", 5, 3000, "DW3C_SIGNED_SAT"),
    "s1_odd_width_signed": ((1, 5, 7, 24), (1, 1), "same", "relu_n1_to_1", 5, 3000, "DW3C_SIGNED"),
    "one_pixel_valid_generic": ((1, 3, 3, 32), (1, 1), "valid", "relu", -128, HUGE_BIAS, "DW3C_ANY"),
    "s2_batches_odd_tail": ((2, 7, 5, 20), (2, 2), "same", "none", 5, 3000, "DW3C_SIGNED_SAT"),
    "s2_valid_13x13": ((1, 13, 13, 16), (2, 2), "valid", "relu", -128, 3000, "DW3C_RELU_SAT"),
    "s3_odd_stride": ((1, 9, 10, 16), (3, 3), "same", "relu", -100, 3000, "DW3C_RELU"),
    "rows_s1_cols_s2": ((1, 6, 9, 16), (1, 2), "valid", "relu", -100, 3000, "DW3C_RELU"),
    "rows_s2_cols_s1_generic": ((1, 7, 6, 16), (2, 1), "same", "none", 5, HUGE_BIAS, "DW3C_ANY"),
    "all_padding_but_centre": ((1, 1, 1, 16), (1, 1), "same", "relu", -128, 3000, "DW3C_RELU_SAT"),
    # channel counts the lowering routes elsewhere (not a multiple of 4), forced onto this kernel: partial groups
    "partial_group_s1": ((1, 6, 5, 18), (1, 1), "same", "relu", -128, 3000, "DW3C_RELU_SAT"),
    "partial_group_s2": ((2, 5, 5, 7), (2, 2), "same", "none", 5, 3000, "DW3C_SIGNED_SAT"),
    "partial_group_s3_generic": ((1, 7, 8, 3), (3, 3), "same", "relu", -100, HUGE_BIAS, "DW3C_ANY"),
}


@pytest.fixture
def forced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route every 3x3 call of these tests to tg_depthwise_3x3_ch_s8 (the lowering's size and channel rules
    would send some of them to tg_depthwise_3x3_s8)."""
    monkeypatch.setattr(depthwise_conv2d, "uses_ring", lambda graph, op: False)


#: (case, DSP path): the DSP path on every case; the portable path (the pixel loop tests/test_kernels_depthwise.py
#: checks on every geometry) on every third, which keeps the suite's time down
RUNS = [(case, dsp) for i, case in enumerate(sorted(CASES)) for dsp in (False, True) if dsp or i % 3 == 0]


@pytest.mark.usefixtures("forced")
@pytest.mark.parametrize("case, dsp", RUNS)
def test_kernel_equals_reference(case: str, dsp: bool, tmp_path: Path) -> None:
    shape, stride, padding, act, zp, bias_range, mode = CASES[case]
    index = sorted(CASES).index(case)
    # a large output scale: right shifts, which the fast requantization needs
    graph = dw_graph(300 + index, *shape, stride, padding, act, out_zp=zp, bias_range=bias_range, out_scale=16.0)
    x = opcheck.vectors_with_every_value(int(np.prod(shape)), 1, index).reshape(shape)
    for rounding in ("double", "single"):
        want = reference.run(graph, x, rounding=rounding)["y"]
        # (ASan/UBSan on every fourth case: the suite stays fast)
        got, call, _ = run_kernel(graph, x, tmp_path, in_place=False, dsp=dsp, sanitize=index % 4 == 0,
                                  rounding=rounding)
        assert call.kernel == KERNEL and call.variants == (mode,)
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, f"{rounding}: {bad.size} of {want.size} differ, first at {bad[0]}"


def test_small_images_take_this_kernel() -> None:
    """The lowering's rule (tg_depthwise_3x3_s8 from lines of RING_MIN_LINE on): the models' small layers run here."""
    for h, w, stride, padding in ((2, 2, 1, "same"), (6, 6, 1, "same"), (13, 13, 2, "valid"), (12, 12, 2, "same")):
        graph = dw_graph(0, 1, h, w, 96, (stride, stride), padding, "relu6")
        assert not depthwise_conv2d.uses_ring(graph, graph.ops[0])


@pytest.mark.parametrize("dsp", [False, True])
def test_tiny_stride2_outputs_take_the_generic_kernel(dsp: bool, tmp_path: Path) -> None:
    """Stride 2x2 to outputs of at most 2x2 (depthwise_ops.GENERIC_MAX_LINE_S2): tg_depthwise_s8, faster there than
    this kernel's plane (mltk_kws_mobilenetv2's 4x4x96 layer), bit-exact with both roundings; from 3x3 outputs on
    (person_detect's 6x6x128 layer) this kernel."""
    graph = dw_graph(11, 1, 4, 4, 96, (2, 2), "same", "relu6", out_scale=16.0)
    x = opcheck.vectors_with_every_value(4 * 4 * 96, 1, 11).reshape(1, 4, 4, 96)
    check_both_roundings(graph, x, tmp_path, dsp, True, "tg_depthwise_s8", 9 * 96)
    for h, c, kernel in ((3, 96, "tg_depthwise_s8"), (6, 128, KERNEL), (5, 96, KERNEL)):
        graph = dw_graph(12, 1, h, h, c, (2, 2), "same", "relu6")
        assert depthwise_conv2d.lower(_Ctx(graph, "double", False), graph.ops[0]).kernel == kernel


@pytest.mark.parametrize("core", ["cortex-m7", "cortex-m4", "cortex-m3", "cortex-m0"])
def test_cross_compiles_with_dsp_exactly_where_the_core_has_it(core: str, tmp_path: Path) -> None:
    """-Werror clean for Cortex-M; the plane's pairs (PKHBT/SXTB16), the MACs (SMLAD, SMLATB) and the fast
    requantization (SMMLAR, SSAT) on M4/M7 only."""
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    obj = tmp_path / f"{KERNEL}.o"
    cmd = [gcc, f"-mcpu={core}", "-mthumb", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2",
           f"-I{opcheck.KERNELS}", "-c", str(opcheck.KERNELS / f"{KERNEL}.c"), "-o", str(obj)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    asm = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True, check=True).stdout
    dsp = core in ("cortex-m7", "cortex-m4")
    for instruction in ("pkhbt", "sxtb16", "smlad", "smlatb", "smmlar", "ssat"):
        assert (instruction in asm) == dsp, instruction


@pytest.mark.parametrize("board", ("mps2_an385", "mps2_an386", "mps2_an500"))
def test_model_bit_exact_in_qemu(board: str, shared_models: Path, tmp_path: Path) -> None:
    """mltk_kws_mobilenetv2: this kernel at stride 1 (4x4, 2x2) and 2 (9x9 -> 4x4; its 5x5 -> 2x2 layer on
    tg_depthwise_s8: depthwise_ops.GENERIC_MAX_LINE_S2), against the reference and TFLite Micro."""
    model = shared_models / "real" / "mltk_kws_mobilenetv2.tflite"
    if not model.is_file():
        pytest.skip(f"{model} is absent")

    def layout(manifest: dict) -> None:
        calls = [layer for layer in manifest["layers"] if layer["kernel"] == KERNEL]
        assert len(calls) == 10
        assert sum(layer["kernel"] == "tg_depthwise_s8" for layer in manifest["layers"]) == 1
        assert "DW3C_RELU_SAT" in manifest["variants"]

    opcheck.check_qemu(model, board, tmp_path, layout=layout)
