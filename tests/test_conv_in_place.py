"""Convolutions that write their output over their own input, starting a lag before it
(tinygen/lowering/window_lag.py): the lag formula against a brute-force simulation of the kernels'
raster order, and whole generated libraries that run in place bit-exact under ASan/UBSan."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_codegen import check_library, conv_graph

from tinygen.lowering.window_lag import window_lag
from tinygen.ops.conv2d import OP as CONV2D
from tinygen import codegen
from tinygen.planner import ALIGN, plan

_BASE = {"kind": "conv2d", "batch": 1, "h": 8, "w": 7, "c": 8, "out_c": 8, "k": (3, 3), "stride": (1, 1),
         "dilation": (1, 1), "padding": "same", "activation": "relu", "per_channel": True, "bias": True}


def _brute_force_lag(graph, op, block: int) -> int:
    """Simulate blocks of ``block`` output pixels in raster order: the lag must keep every byte a later
    block reads above every byte written so far."""
    from tinygen.qparams import op_params

    x, w, y = (graph.tensor(n) for n in (op.inputs[0], op.inputs[1], op.outputs[0]))
    p = op_params(graph, op, "double")
    n, h, wd, c = x.shape
    _, oh, ow, oc = y.shape
    reads = []
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                lo = None
                for ky in range(w.shape[1]):
                    for kx in range(w.shape[2]):
                        iy, ix = oy * p.stride_h - p.pad_top + ky * p.dilation_h, ox * p.stride_w - p.pad_left + kx * p.dilation_w
                        if 0 <= iy < h and 0 <= ix < wd:
                            byte = ((b * h + iy) * wd + ix) * c
                            lo = byte if lo is None else min(lo, byte)
                reads.append(lo)
    lag = 0
    pixels = len(reads)
    for end in range(block, pixels, block):  # after writing pixels [0, end)
        later = [r for r in reads[end:] if r is not None]
        if later:
            lag = max(lag, end * oc - min(later))
    return lag


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"c": 3, "out_c": 16},
        {"c": 16, "out_c": 4, "stride": (2, 2)},
        {"c": 1, "out_c": 12, "k": (10, 4), "stride": (2, 2), "h": 20, "w": 10},
        {"dilation": (2, 2), "batch": 2},
        {"k": (1, 1), "padding": "valid", "out_c": 12},
        {"padding": "valid", "c": 4, "out_c": 20},
    ],
)
def test_lag_is_the_smallest_safe_one(change: dict) -> None:
    graph = conv_graph(0, {**_BASE, **change})
    op = graph.ops[0]
    assert CONV2D.in_place_lag is not None
    lag = CONV2D.in_place_lag(graph, op)
    assert lag is not None
    # safe for any block size (the kernels use pairs), and exactly the pixel-by-pixel bound
    assert lag == _brute_force_lag(graph, op, 1)
    for block in (2, 3, 4):
        assert lag >= _brute_force_lag(graph, op, block)


def test_same_3x3_conv_trails_by_one_row() -> None:
    assert window_lag((1, 32, 32, 16), (1, 32, 32, 16), (3, 3), (1, 1), (1, 1), (1, 1)) == 33 * 16
    assert window_lag((1, 32, 32, 16), (1, 16, 16, 32), (3, 3), (2, 2), (1, 1), (0, 0)) == 0


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"c": 3, "out_c": 16, "h": 9, "w": 9},
        {"c": 16, "out_c": 24, "stride": (2, 2), "padding": "same"},
        {"c": 1, "out_c": 12, "k": (10, 4), "stride": (2, 2), "h": 20, "w": 10},
        {"dilation": (2, 2), "batch": 2, "c": 5, "out_c": 7},
        {"k": (1, 1), "padding": "valid", "out_c": 12},
    ],
)
def test_conv_runs_over_its_input(change: dict, tmp_path: Path) -> None:
    """The planner puts the output its lag before the input (one buffer); the generated library is
    bit-exact on the portable and DSP paths under ASan/UBSan."""
    graph = conv_graph(3, {**_BASE, **change})
    memory = plan(graph, {i: codegen.op_needs(graph, op) for i, op in enumerate(graph.ops)})
    assert memory.in_place == {0: "x"}
    lag = memory.in_place_lag.get(0, 0)
    assert lag % ALIGN == 0 and memory.offsets["x"] - memory.offsets["y"] == lag
    both = graph.tensor("x").nbytes + graph.tensor("y").nbytes
    assert memory.arena_size < both + sum(size for _, size in memory.scratch.values())
    check_library(graph, tmp_path, vectors=2, dsp=(False, True), sanitize=True)
