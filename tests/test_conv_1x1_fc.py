"""A conv with one output pixel whose window is its whole unpadded input (a 1x1 conv on a 1x1 image, a K x L conv
on a K x L image: microWakeWord's streaming layers) runs as a fully connected layer on tg_fully_connected_s8
(tinygen/lowering/mac_ops.py, is_pixel_fc), not on the GEMM's three-column blocks; it never runs in place."""

from __future__ import annotations

from pathlib import Path

import pytest
from opcheck import QEMU_BOARDS, check_qemu

from tinygen import codegen
from tinygen.ops import conv2d

_CONV = {"kind": "conv2d", "batch": 1, "h": 1, "w": 1, "c": 64, "out_c": 64, "mult": 1, "k": (1, 1),
         "stride": (1, 1), "dilation": (1, 1), "padding": "same", "activation": "relu", "per_channel": True,
         "bias": True}
#: one pixel: quads and single rows, depth tails, whole-input windows, batches, per-tensor scales, no bias
CASES = {
    "mww_64x64_relu": {},
    "odd_rows_tail_relu6": {"c": 13, "out_c": 7, "activation": "relu6"},
    "window_3x2_valid_batch2": {"h": 3, "w": 2, "c": 5, "out_c": 9, "k": (3, 2), "padding": "valid", "batch": 2},
    "per_tensor_no_bias": {"c": 8, "out_c": 4, "per_channel": False, "bias": False, "activation": "none"},
    "one_channel_out": {"c": 3, "out_c": 1, "k": (1, 1), "activation": "relu_n1_to_1"},
}


def _graph(case: str, seed: int = 0):
    from test_codegen import conv_graph

    return conv_graph(seed, {**_CONV, **CASES[case]})


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("case", list(CASES))
def test_one_pixel_conv_equals_reference(case: str, rounding: str, tmp_path: Path) -> None:
    """Portable and emulated-DSP paths == tinygen.reference bit for bit, on tg_fully_connected_s8."""
    from test_kernels_mac import _check

    graph = _graph(case)
    _check(graph, tmp_path, rounding)
    manifest = codegen.generate(graph, tmp_path / "kernel", force=True).manifest
    assert [layer["kernel"] for layer in manifest["layers"]] == ["tg_fully_connected_s8"]


@pytest.mark.parametrize("case", list(CASES))
def test_one_pixel_conv_never_runs_in_place(case: str) -> None:
    graph = _graph(case)
    op = graph.ops[0]
    assert not conv2d.in_place(graph, op)
    assert conv2d.in_place_lag(graph, op) is None


def test_larger_images_keep_the_gemm(tmp_path: Path) -> None:
    """Two pixels, or a window smaller than the image (stride 2 on 2x2: one pixel, not the whole input), or padding:
    tg_conv_1x1_s8 / tg_conv_s8 as before."""
    from test_codegen import conv_graph

    cases = [({"h": 1, "w": 2}, "tg_conv_1x1_s8"), ({"h": 2, "w": 2, "stride": (2, 2)}, "tg_conv_1x1_s8"),
             ({"h": 1, "w": 1, "k": (3, 3), "c": 4}, "tg_conv_s8")]
    for i, (cfg, kernel) in enumerate(cases):
        graph = conv_graph(0, {**_CONV, **cfg})
        manifest = codegen.generate(graph, tmp_path / str(i), force=True).manifest
        assert [layer["kernel"] for layer in manifest["layers"]] == [kernel], cfg


@pytest.mark.parametrize("board", QEMU_BOARDS)
def test_mww_one_pixel_convs_in_qemu(board: str, shared_models: Path, tmp_path: Path) -> None:
    """microWakeWord's one-pixel convs (a 5x1 window on a 5x1 input, 1x1 on 1x1) on the fully connected kernel,
    bit-exact in QEMU against the reference and TFLite Micro."""
    model = shared_models / "real" / "mww_okay_nabu_v2.tflite"

    def layout(manifest: dict) -> None:
        convs = [layer for layer in manifest["layers"] if layer["op"] == "conv2d" and layer["output_shape"][1:3] == [1, 1]]
        assert convs and all(layer["kernel"] == "tg_fully_connected_s8" for layer in convs)
        assert all(layer["in_place"] is None for layer in convs)

    check_qemu(model, board, tmp_path, layout=layout)
