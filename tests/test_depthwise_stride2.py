"""tg_depthwise_3x3_s8's four-channel stride-2 path (issue 17, item 3: stride-2 depthwise was the slowest 3x3
layer, 0.12-0.19 MACs per instruction): on the DSP path every stride-2x2 call runs it (tg_dw3_g2: five input lines
as int16 pairs of four channels, each value converted once, two output lines per pass, 9 MACs in 6 instructions).

Bit-exact with tinygen's reference on the host, on the portable and the emulated DSP path, both roundings, in
exactly sized heap buffers (ASan/UBSan on every other case): same and valid padding (left padding 0 and 1), odd
and even sizes, lines as rows and as columns (taller than wide), channel counts below 4 and not a multiple of 4
(a partial group), one output line and one output value, two batches, every requantization mode of the path
(GENERIC, SAT, CLAMP, RELU_SAT, RELU_CLAMP) with odd and even output line counts (the TWO and ONE line functions:
see depthwise_ops.dw3_variants), inputs at the int8 extremes. And in
QEMU on real models (Cortex-M3 portable, M4 and M7 DSP) against the reference and TFLite Micro.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import opcheck
from test_kernels_depthwise import _Ctx, check_both_roundings, dw_graph
from tinygen.lowering import depthwise_ops
from tinygen.ops import depthwise_conv2d

HUGE_BIAS = 2**31 - 2**20  # past the fast requantization's bounds: the GENERIC mode

#: (n, h, w, c, padding, activation, output zero point, bias range) -> the mode its DSP call runs
CASES: dict[tuple, str] = {
    (1, 9, 8, 4, "same", "relu", -128, 3000): "RELU_SAT",
    (2, 13, 12, 6, "same", "none", 5, 3000): "SAT",  # a partial group, two batches
    (1, 17, 15, 8, "valid", "relu6", -128, 3000): "RELU_CLAMP",  # 8x7 output: lines are columns
    (1, 16, 9, 5, "same", "relu_n1_to_1", 5, 3000): "CLAMP",  # taller than wide, a partial group
    (1, 8, 9, 3, "valid", "none", 5, HUGE_BIAS): "GENERIC",  # fewer than 4 channels
    (1, 7, 7, 12, "same", "relu", -100, 3000): "RELU_CLAMP",  # odd sizes
    (1, 6, 11, 4, "same", "relu6", -128, 3000): "RELU_SAT",  # left padding 1
    (1, 3, 3, 4, "valid", "none", 5, 3000): "SAT",  # one output value
    (1, 1, 9, 8, "same", "relu", -128, 3000): "RELU_SAT",  # one output line
    (1, 25, 25, 20, "valid", "relu6", -128, 3000): "RELU_CLAMP",  # FOMO's shape, 20 channels
    (1, 48, 48, 16, "same", "relu6", -128, 3000): "RELU_CLAMP",  # person_detect's layer 3
}


def _graph(index: int):
    n, h, w, c, padding, act, zp, bias_range = list(CASES)[index]
    # a large output scale: right shifts, which the fast requantization needs
    return dw_graph(300 + index, n, h, w, c, (2, 2), padding, act, out_zp=zp, bias_range=bias_range, out_scale=16.0)


@pytest.mark.parametrize("dsp", [False, True])
@pytest.mark.parametrize("index", range(len(CASES)))
def test_stride2_equals_reference(index: int, dsp: bool, tmp_path: Path) -> None:
    graph = _graph(index)
    n, h, w, c = graph.tensor("x").shape
    rng = np.random.default_rng(index)
    x = rng.integers(-128, 128, (n, h, w, c)).astype(np.int8)
    if index % 3 == 1:
        x = np.where(rng.random(x.shape) < 0.5, -128, 127).astype(np.int8)  # the extremes: the largest sums
    check_both_roundings(graph, x, tmp_path, dsp, index % 2 == 0, "tg_depthwise_3x3_s8", 9 * c)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_stride2_calls_name_their_mode(index: int) -> None:
    """The lowering names the stride-2 path's line function of the case's mode (and nothing of the ring)."""
    graph = _graph(index)
    call = depthwise_conv2d.lower(_Ctx(graph, "double", False), graph.ops[0])
    assert call.kernel == "tg_depthwise_3x3_s8"
    _, oh, ow, _ = graph.tensor("y").shape
    mode, lines = list(CASES.values())[index], ow if oh > ow else oh
    assert call.variants == (f"DW3_G2_TWO_{mode}",) * (lines >= 2) + (f"DW3_G2_ONE_{mode}",) * (lines % 2)
    assert call.scratch_bytes >= 160 * ((max(oh, ow) + 2) // 2)


def test_only_stride_2x2_takes_the_path() -> None:
    assert depthwise_ops.uses_groups2(2, 2)
    assert not any(depthwise_ops.uses_groups2(sh, sw) for sh, sw in ((1, 1), (1, 2), (2, 1), (3, 3), (2, 3)))


#: real models with stride-2 3x3 depthwise layers: valid padding with odd sizes and lines as columns
#: (mltk_kws_mobilenetv2), same padding with 42 and 88 channels and no activation (openmv_blazeface_front_128)
QEMU_MODELS = ("mltk_kws_mobilenetv2", "openmv_blazeface_front_128")


# (M7, mps2_an500: every real model runs there bit-exact in tests/test_real_models.py)
@pytest.mark.parametrize("board", ("mps2_an385", "mps2_an386"))
@pytest.mark.parametrize("name", QEMU_MODELS)
def test_stride2_models_bit_exact_in_qemu(name: str, board: str, shared_models: Path, tmp_path: Path) -> None:
    path = shared_models / "real" / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")

    def layout(manifest: dict) -> None:
        assert any(v.startswith("DW3_G2_") for v in manifest["variants"]), manifest["variants"]

    opcheck.check_qemu(path, board, tmp_path, layout=layout)
