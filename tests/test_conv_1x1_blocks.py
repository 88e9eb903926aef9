"""tg_conv_1x1_s8's column blocks: with stride 1 and in_c a multiple of 4, a block's three pixels follow each other in
memory and are copied group by group in one pass (tg_pair_put_consecutive, tg_conv_gemm_s8.h); a short last block,
strides and other depths copy column by column. Both ways == tinygen's reference, portable and emulated-DSP paths."""

from __future__ import annotations

from pathlib import Path

import pytest

_CONV = {"kind": "conv2d", "batch": 1, "h": 1, "w": 3, "c": 8, "out_c": 8, "mult": 1, "k": (1, 1), "stride": (1, 1),
         "dilation": (1, 1), "padding": "valid", "activation": "none", "per_channel": True, "bias": True}
#: depths 4, 8 and 16 (one, two and four groups), whole blocks only (3 pixels) and a short last block (7 = 3 + 3 + 1,
#: 2 x 4 = 3 + 3 + 2), batches (a block never spans two images), strides (the column path), a tail depth
CASES = {
    "c4_one_block": {"c": 4, "out_c": 6},
    "c8_short_last_block": {"c": 8, "w": 7, "out_c": 48, "activation": "relu6"},
    "c16_two_rows_batch2": {"c": 16, "h": 2, "w": 4, "batch": 2, "out_c": 5, "activation": "relu"},
    "c8_stride2": {"c": 8, "h": 5, "w": 5, "stride": (2, 2), "out_c": 8},
    "c6_tail": {"c": 6, "h": 2, "w": 3, "out_c": 4},
}


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("case", list(CASES))
def test_1x1_blocks_equal_reference(case: str, rounding: str, tmp_path: Path) -> None:
    from test_codegen import conv_graph
    from test_kernels_mac import _check

    from tinygen import codegen

    graph = conv_graph(7, {**_CONV, **CASES[case]})
    _check(graph, tmp_path, rounding)
    manifest = codegen.generate(graph, tmp_path / "kernel", force=True).manifest
    assert [layer["kernel"] for layer in manifest["layers"]] == ["tg_conv_1x1_s8"]
