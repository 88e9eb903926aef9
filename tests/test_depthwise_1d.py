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
)
from tinygen.lowering.depthwise_ops import DW1D_FAST_RELU, DW1D_FAST_SIGNED
from tinygen.ops import depthwise_conv2d

HUGE_BIAS = 2**31 - 2**20  # past the fast form's bounds

CONFIGS: list[tuple] = [
    # (n, h, w, c, kernel, stride, padding, activation, out_scale[, output zero point[, bias range]])
    (1, 1, 50, 8, (1, 3), (1, 1), "same", "relu6", 16.0),  # heartkit-like: a 1-D signal, rows
    (1, 1, 41, 5, (1, 5), (1, 1), "same", "none", 8.0),  # odd channel count
    (1, 59, 1, 6, (9, 1), (2, 2), "same", "relu", 16.0),  # alexa-like: columns, stride 2
    (2, 15, 1, 3, (9, 1), (1, 1), "valid", "relu_n1_to_1", 1.0),  # batches, valid padding
    (1, 3, 17, 4, (1, 4), (2, 1), "same", "none", 1.0),  # even taps, several rows, stride across the rows
    (1, 9, 4, 7, (2, 1), (1, 2), "valid", "relu6", 1.0),  # columns of a 2-D image
    (1, 1, 30, 4, (1, 16), (1, 1), "same", "none", 16.0),  # the longest filter
    (1, 1, 12, 9, (1, 1), (1, 1), "same", "relu", 1e-4),  # one tap; shifts outside the fast forms
    (1, 1, 40, 8, (1, 3), (1, 3), "same", "none", 64.0),  # stride 3, saturating outputs
    # three taps, stride 1: straight from the input (tg_dw1d_run3)
    (1, 1, 7, 6, (1, 3), (1, 1), "valid", "none", 4.0),  # no padding, an odd count of outputs
    (2, 4, 9, 5, (3, 1), (1, 1), "same", "relu_n1_to_1", 64.0),  # columns of a 2-D image, batches, a clamp
    (1, 1, 4, 3, (1, 3), (1, 1), "same", "relu", 1.0),  # the shortest line
    (1, 1, 33, 7, (1, 3), (1, 1), "same", "relu", 4.0, -128),  # ReLU at the zero point -128: the full int8 range
    (1, 1, 20, 4, (1, 3), (1, 1), "same", "none", 1e-4),  # shifts outside the fast form: the line copy
    # five taps, stride 1: straight from the input on the DSP path (tg_dw1d_run5)
    (1, 1, 4, 6, (1, 5), (1, 1), "same", "relu", 4.0),  # a line shorter than the filter
    (1, 1, 9, 4, (1, 5), (1, 1), "valid", "relu6", 4.0, -128),  # no padding, the full int8 range
    (2, 12, 3, 5, (5, 1), (1, 1), "same", "relu_n1_to_1", 64.0),  # columns, batches, the sign correction, a clamp
    # sums past the fast form's bounds (HUGE_BIAS): the line copy in tg_requant_fast.h's forms
    (1, 1, 25, 6, (1, 5), (1, 1), "same", "relu", 2.0, -128, HUGE_BIAS),
    (1, 17, 1, 5, (9, 1), (1, 1), "same", "relu", 4.0, 10, HUGE_BIAS),
    (1, 3, 17, 4, (1, 3), (1, 1), "same", "none", 16.0, None, HUGE_BIAS),
]


def _graph(index: int):
    n, h, w, c, k, stride, padding, act, out_scale, *extra = CONFIGS[index]
    out_zp = extra[0] if extra else None
    bias_range = extra[1] if len(extra) > 1 else 3000
    return dw_graph(500 + index, n, h, w, c, stride, padding, act, k=k, out_scale=out_scale, out_zp=out_zp,
                    bias_range=bias_range)


@pytest.mark.parametrize("dsp", [False, True])
@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_depthwise_1d_equals_reference(index: int, dsp: bool, tmp_path: Path) -> None:
    n, h, w, c, k, *_ = CONFIGS[index]
    graph = _graph(index)
    x = np.random.default_rng(index).integers(-128, 128, (n, h, w, c)).astype(np.int8)
    # (the first config compiles every form: the whole source warning-free; the others only their call's forms)
    check_both_roundings(graph, x, tmp_path, dsp, index % 2 == 0, "tg_depthwise_1d_s8", k[0] * k[1] * c,
                         every_variant=index == 0)


def test_configs_cover_every_requantization_mode() -> None:
    """The configs reach every form the lowering passes (depthwise_ops.requant_1d): the doubled-sum fast form with
    and without the sign correction, and on layers it does not cover tg_requant_fast.h's general, both fast and
    per-channel (mixed) forms."""
    modes = set()
    for index in range(len(CONFIGS)):
        graph = _graph(index)
        op = graph.ops[0]
        call = depthwise_conv2d.lower(_Ctx(graph), op)
        modes.add(int(call.args[10]))  # the kernel's `mode`
    assert modes == {DW1D_FAST_RELU, DW1D_FAST_SIGNED, RQ_GENERAL, RQ_FAST, RQ_FAST_FULL, RQ_MIXED} == {DW1D_FAST_RELU, DW1D_FAST_SIGNED, RQ_GENERAL, RQ_FAST, RQ_FAST_FULL, RQ_MIXED}


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
