"""tg_depthwise_ch1_s8 (a one-channel input, any depth multiplier) on the host through its lowering: bit-exact
with tinygen.reference on the portable and the (emulated) DSP path, both roundings, under ASan/UBSan; its
weights stay TFLite's int8 bytes; and person_detect's first layer bit-exact in QEMU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import opcheck
import pytest
from test_kernels_depthwise import check_both_roundings, dw_graph

CONFIGS = [
    # (n, h, w, mult, kernel, stride, dilation, padding, activation, out_scale)
    (1, 13, 12, 8, (3, 3), (2, 2), (1, 1), "same", "relu6", 16.0),  # MobileNet's first layer, odd size
    (1, 12, 11, 8, (3, 3), (2, 2), (1, 1), "valid", "none", 1.0),
    (2, 7, 9, 3, (3, 3), (1, 1), (1, 1), "same", "relu", 16.0),  # interior and border windows, batches
    (1, 10, 10, 4, (3, 3), (1, 1), (2, 2), "same", "relu_n1_to_1", 1.0),  # dilated 3x3: the general window
    (1, 6, 7, 1, (3, 3), (1, 1), (1, 1), "same", "none", 1.0),  # multiplier 1
    (1, 8, 8, 6, (3, 3), (2, 2), (1, 1), "same", "none", 1e-4),  # shifts outside the fast requantization
    (1, 8, 8, 8, (3, 3), (1, 1), (1, 1), "same", "none", 64.0),  # large right shifts, saturating outputs
]


@pytest.mark.parametrize("dsp", [False, True])
@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_depthwise_one_channel_equals_reference(index: int, dsp: bool, tmp_path: Path) -> None:
    n, h, w, mult, k, stride, dilation, padding, act, out_scale = CONFIGS[index]
    graph = dw_graph(300 + index, n, h, w, 1, stride, padding, act, mult=mult, k=k, out_scale=out_scale,
                     dilation=dilation)
    x = np.random.default_rng(index).integers(-128, 128, (n, h, w, 1)).astype(np.int8)
    check_both_roundings(graph, x, tmp_path, dsp, index % 2 == 0, "tg_depthwise_ch1_s8", k[0] * k[1] * mult)


def test_one_channel_configs_cover_every_requantization_mode() -> None:
    """The configs above reach the general requantization form and both fast ones (tg_requant_fast.h)."""
    from tinygen.lowering.mac_common import RQ_FAST, RQ_FAST_FULL, RQ_GENERAL, rq_values
    from tinygen.ops import depthwise_conv2d

    modes = set()
    for index in range(len(CONFIGS)):
        n, h, w, mult, k, stride, dilation, padding, act, out_scale = CONFIGS[index]
        graph = dw_graph(300 + index, n, h, w, 1, stride, padding, act, mult=mult, k=k, out_scale=out_scale,
                         dilation=dilation)
        op = graph.ops[0]
        modes.add(rq_values(op, depthwise_conv2d.params(graph, op, "double"), mult)[1])
    assert modes == {RQ_GENERAL, RQ_FAST, RQ_FAST_FULL}


@pytest.mark.parametrize("k", [(5, 5), (1, 4), (10, 8)])
def test_other_windows_run_as_conv(k: tuple[int, int]) -> None:
    """One input channel with a window other than 3x3 lowers to the conv kernels (im2col + GEMM are faster there:
    micro_speech's 10x8 window at 0.51 MACs/instruction against 0.19)."""
    from test_kernels_depthwise import _Ctx
    from tinygen.ops import depthwise_conv2d

    graph = dw_graph(330, 1, 12, 12, 1, (1, 1), "same", "relu", mult=4, k=k, out_scale=16.0)
    assert depthwise_conv2d.lower(_Ctx(graph, "double", False), graph.ops[0]).kernel == "tg_conv_s8"


#: conv layers of one input channel and a 3x3 window (a first layer on a grey image or a spectrogram)
ONE_CHANNEL_CONVS = {
    "stride2_same_relu6": {"h": 13, "w": 12, "out_c": 8, "stride": (2, 2), "padding": "same", "activation": "relu6"},
    "stride2_valid_4out": {"h": 12, "w": 11, "out_c": 4, "stride": (2, 2), "padding": "valid", "activation": "none"},
    "stride1_same_odd_out": {"h": 7, "w": 9, "out_c": 5, "stride": (1, 1), "padding": "same", "activation": "relu"},
}


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("case", list(ONE_CHANNEL_CONVS))
def test_one_channel_conv_runs_the_one_channel_kernel(case: str, rounding: str, tmp_path: Path) -> None:
    """A conv layer of one input channel and a 3x3 window runs tg_depthwise_ch1_s8 (the same sums as the
    one-channel depthwise layer of multiplier out_c): the library equals tinygen's reference on the portable and
    emulated-DSP paths."""
    from test_codegen import check_library, conv_graph
    from test_kernels_depthwise import _Ctx
    from tinygen.ops import conv2d

    spec = {"kind": "conv2d", "batch": 1, "c": 1, "mult": 1, "k": (3, 3), "dilation": (1, 1), "per_channel": True,
            "bias": True, **ONE_CHANNEL_CONVS[case]}
    graph = conv_graph(sorted(ONE_CHANNEL_CONVS).index(case), spec)
    assert conv2d.lower(_Ctx(graph, rounding, False), graph.ops[0]).kernel == "tg_depthwise_ch1_s8"
    check_library(graph, tmp_path, rounding=rounding, vectors=3, dsp=(False, True), seed=5)


@pytest.mark.parametrize("board", (*opcheck.QEMU_BOARDS, "mps2_an386"))
def test_person_detect_first_layer_bit_exact_in_qemu(board: str, shared_models: Path, tmp_path: Path) -> None:
    """person_detect's first layer (one input channel, multiplier 8, stride 2) runs tg_depthwise_ch1_s8 on the
    Cortex-M3 (portable C), M4 and M7 (DSP) and equals tinygen's reference and TFLite Micro."""
    path = shared_models / "person_detect.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")

    def layout(manifest: dict) -> None:
        assert manifest["layers"][0]["kernel"] == "tg_depthwise_ch1_s8"

    opcheck.check_qemu(path, board, tmp_path, layout=layout)
