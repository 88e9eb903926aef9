"""tg_depthwise_1d_s8 (1 x K and K x 1 depthwise filters, multiplier 1) on the host through its lowering: bit-exact
with tinygen.reference on the portable and the (emulated) DSP path, both roundings, every requantization form
(per channel too),
under ASan/UBSan; its weights stay TFLite's int8 bytes; and which layers the lowering gives it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_kernels_depthwise import check_both_roundings, dw_graph

from tinygen.lowering.mac_common import (
    RQ_FAST,
    RQ_FAST_FULL,
    RQ_GENERAL,
    RQ_MIXED,
    rq_values_per_channel,
)
from tinygen.ops import depthwise_conv2d

CONFIGS = [
    # (n, h, w, c, kernel, stride, padding, activation, out_scale)
    (1, 1, 50, 8, (1, 3), (1, 1), "same", "relu6", 16.0),  # heartkit-like: a 1-D signal, rows
    (1, 1, 41, 5, (1, 5), (1, 1), "same", "none", 8.0),  # odd channel count
    (1, 59, 1, 6, (9, 1), (2, 2), "same", "relu", 16.0),  # alexa-like: columns, stride 2
    (2, 15, 1, 3, (9, 1), (1, 1), "valid", "relu_n1_to_1", 1.0),  # batches, valid padding
    (1, 3, 17, 4, (1, 4), (2, 1), "same", "none", 1.0),  # even taps, several rows, stride across the rows
    (1, 9, 4, 7, (2, 1), (1, 2), "valid", "relu6", 1.0),  # columns of a 2-D image
    (1, 1, 30, 4, (1, 16), (1, 1), "same", "none", 16.0),  # the longest filter
    (1, 1, 12, 9, (1, 1), (1, 1), "same", "relu", 1e-4),  # one tap; shifts outside the fast forms
    (1, 1, 40, 8, (1, 3), (1, 3), "same", "none", 64.0),  # stride 3, saturating outputs
]


def _graph(index: int):
    n, h, w, c, k, stride, padding, act, out_scale = CONFIGS[index]
    return dw_graph(500 + index, n, h, w, c, stride, padding, act, k=k, out_scale=out_scale)


@pytest.mark.parametrize("dsp", [False, True])
@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_depthwise_1d_equals_reference(index: int, dsp: bool, tmp_path: Path) -> None:
    n, h, w, c, k, *_ = CONFIGS[index]
    graph = _graph(index)
    x = np.random.default_rng(index).integers(-128, 128, (n, h, w, c)).astype(np.int8)
    check_both_roundings(graph, x, tmp_path, dsp, index % 2 == 0, "tg_depthwise_1d_s8", k[0] * k[1] * c)


def test_configs_cover_every_requantization_mode() -> None:
    """The configs reach every form the lowering passes: general, both fast ones, and per-channel (mixed)."""
    modes = set()
    for index in range(len(CONFIGS)):
        graph = _graph(index)
        op = graph.ops[0]
        modes.add(rq_values_per_channel(op, depthwise_conv2d.params(graph, op, "double"), CONFIGS[index][3])[1])
    assert modes == {RQ_GENERAL, RQ_FAST, RQ_FAST_FULL, RQ_MIXED}


class _Ctx:
    """A LoweringContext that records nothing: only the kernel choice matters here."""

    rounding = "double"

    def __init__(self, graph) -> None:
        self.graph = graph

    def tensor_ptr(self, name: str) -> str:
        return name

    def const_array(self, hint: str, values: np.ndarray, ctype: str, kind: object) -> str:
        return hint

    def scratch_ptr(self) -> str:
        return "scratch"


@pytest.mark.parametrize(("shape", "k", "mult", "dilation", "kernel"), [
    ((1, 1, 20, 4), (1, 17), 1, (1, 1), "tg_depthwise_s8"),  # longer than TG_DEPTHWISE_1D_MAX_TAPS
    ((1, 1, 3, 4), (1, 3), 1, (1, 1), "tg_depthwise_s8"),  # output lines shorter than MIN_LINE_1D
    ((1, 1, 20, 4), (1, 3), 2, (1, 1), "tg_depthwise_s8"),  # multiplier 2
    ((1, 1, 20, 4), (1, 3), 1, (1, 2), "tg_depthwise_s8"),  # dilated along the line
    ((1, 20, 1, 4), (3, 1), 1, (1, 2), "tg_depthwise_1d_s8"),  # dilated across the line: no effect
    ((1, 5, 5, 4), (3, 3), 1, (1, 1), "tg_depthwise_3x3_s8"),
])
def test_kernel_choice(shape: tuple[int, int, int, int], k: tuple[int, int], mult: int, dilation: tuple[int, int],
                       kernel: str) -> None:
    n, h, w, c = shape
    graph = dw_graph(1, n, h, w, c, (1, 1), "same", "none", mult=mult, k=k, dilation=dilation)
    assert depthwise_conv2d.lower(_Ctx(graph), graph.ops[0]).kernel == kernel
