"""tg_depthwise_mve_s8's gather path (3x3, dilation 1, narrow rows; issue 17): channel quads outer, the quad's four
weight vectors held while its row is computed, the row copied into the planar ring eight channels per scatter.
On the target the quad loop is assembly for layers without left shifts whose activation range is all of int8
(two variants: every shift right, or some shifts zero); other layers, single rounding and the host stand-ins
run the C loop. Chains of depthwise layers reach each variant with paddings same/valid, strides 1, 2 and 2x1,
channel counts 4, 12 and 20 (not multiples of 8 or 16), every activation and both roundings: bit-exact on the
host (C stand-ins, gcc with sanitizers and clang; every layer compared) and in QEMU mps3_an547 (the real
instructions, assembly included; the chain's output compared, so each chain ends with a layer full of rounding
ties, where an error of one would show), against tinygen's reference."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import opcheck
from test_codegen import _act, _bias, _out_scale, _weights
from test_mve import BOTH, _mve_kernels, check_mve
from tinygen import codegen
from tinygen.ir import Graph, Op, conv_output_size
from tinygen.lowering.mve_ops import DW_GATHER

#: one layer: stride, padding, activation, output zero point (None: random), output scale factor (x8: every
#: multiplier < 0.5, all shifts right; /4: multipliers > 1, left shifts; 0 and -1: the tie layers below)
Layer = tuple[tuple[int, int], str, str, int | None, float]

FULL_RIGHT: Layer = ((1, 1), "same", "relu", -128, 8.0)  # the assembly, TG_DW_MVE_FIX_RIGHT
FULL_ANY: Layer = ((2, 2), "same", "none", None, 1.0)  # random multipliers around 1: assembly or C loop
LEFT: Layer = ((1, 1), "same", "relu", -128, 0.25)  # left shifts: the C loop
RELU6: Layer = ((2, 1), "valid", "relu6", None, 1.0)  # a clamp inside int8: the C loop
VALID_FULL: Layer = ((1, 1), "valid", "none", None, 8.0)  # the assembly, TG_DW_MVE_FIX_RIGHT
#: factor 0: weights in -2..2, small biases, equal weight scales and multipliers 0.375 (shift -1: half the
#: negative results are ties, where RoundingDivideByPOT rounds away from zero, and few saturate), every other
#: channel's doubled (0.75, shift 0: TG_DW_MVE_FIX_ANY)
TIES: Layer = ((1, 1), "same", "none", 0, 0.0)
#: factor -1: every multiplier 0.375 (TG_DW_MVE_FIX_RIGHT on ties)
TIES_RIGHT: Layer = ((2, 2), "same", "none", 10, -1.0)

#: name -> (input h, w, channels, layers)
CHAINS: dict[str, tuple[int, int, int, list[Layer]]] = {
    "c4_kws_like": (9, 5, 4, [FULL_RIGHT, FULL_ANY, LEFT, VALID_FULL, TIES]),
    "c12_wide": (8, 23, 12, [FULL_ANY, RELU6, FULL_RIGHT, TIES]),
    "c20_odd": (7, 6, 20, [VALID_FULL, FULL_RIGHT, LEFT, FULL_ANY, TIES_RIGHT]),
}


def _dw_chain(seed: int, h: int, w: int, c: int, layers: list[Layer]) -> Graph:
    """3x3 depthwise layers (multiplier 1, per-channel weights, bias) one after the other."""
    rng = np.random.default_rng(seed)
    g = Graph(f"dw_gather_{seed}")
    prev = g.add_tensor(_act(rng, "x", (1, h, w, c)))
    for i, ((sh, sw), padding, activation, zero_point, factor) in enumerate(layers):
        h, _ = conv_output_size(h, 3, sh, 1, padding)
        w, _ = conv_output_size(w, 3, sw, 1, padding)
        wt = _weights(rng, (1, 3, 3, c), 3, True)
        wt.name = f"w{i}"
        g.add_tensor(wt)
        b = _bias(rng, c)
        b.name = f"b{i}"
        g.add_tensor(b)
        if factor > 0:
            y = _act(rng, f"y{i}", (1, h, w, c), float(np.float32(_out_scale(rng, prev, wt, 9) * factor)))
        else:  # ties: weight scales s (multiplier 0.375) and, with factor 0 on odd channels, 2s (0.75)
            wt.data = rng.integers(-2, 3, wt.shape).astype(np.int8)
            b.data = rng.integers(-100, 100, c).astype(np.int32)
            wt.quant.scale[:] = np.where((np.arange(c) % 2 == 1) & (factor == 0), 0.02, 0.01).astype(np.float32)
            y = _act(rng, f"y{i}", (1, h, w, c), float(np.float32(float(prev.quant.scale[0]) * 0.01 / 0.375)))
        if zero_point is not None:
            y.quant.zero_point[0] = zero_point
        g.add_tensor(y)
        attrs = {"stride": (sh, sw), "dilation": (1, 1), "padding": padding, "depth_multiplier": 1,
                 "activation": activation}
        g.add_op(Op("depthwise_conv2d", f"op{i}", [prev.name, wt.name, b.name], [y.name], attrs))
        prev = y
    g.inputs, g.outputs = ["x"], [prev.name]
    return g


def _check_gather_layers(lib: codegen.Library, graph: Graph) -> None:
    """Every layer runs tg_depthwise_mve_s8 in the gather mode (its mode argument is the one before the scratch)."""
    assert _mve_kernels(lib) == {"tg_depthwise_mve_s8"}
    source = (lib.out_dir / f"{lib.name}.c").read_text()
    calls = source.split("tg_depthwise_mve_s8((")[1:]
    assert len(calls) == len(graph.ops)
    for call in calls:
        args = call.split(");")[0].split(",")
        assert int(args[-2]) == DW_GATHER, call


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_gather_chain_equals_reference_on_host(name: str, rounding: str, tmp_path: Path) -> None:
    graph = _dw_chain(len(name), *CHAINS[name])
    lib = check_mve(graph, tmp_path, rounding, vectors=3, compilers=BOTH if rounding == "double" else (("gcc", True),))
    _check_gather_layers(lib, graph)


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_gather_chain_is_bit_exact_on_mps3_an547(name: str, rounding: str, tmp_path: Path) -> None:
    """The target's instructions (the assembly quad loop with double rounding) == the reference, on vectors
    holding every int8 value and random ones."""
    from test_emulator_models import cached_build

    from tinygen.boards import get_board
    from tinygen.commands.test import Prepared, make_vectors, run_test

    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    graph = _dw_chain(len(name), *CHAINS[name])
    board = get_board("mps3_an547")
    lib = codegen.generate(graph, tmp_path / "lib", rounding=rounding, force=True, mve=board.has_mve)
    _check_gather_layers(lib, graph)
    prep = Prepared(graph, lib, board, None, rounding, tmp_path)
    size = int(np.prod(graph.tensor("x").shape))
    vectors = np.concatenate([opcheck.vectors_with_every_value(size, 2, seed=len(name)), make_vectors(prep, 2)])
    outcome = run_test(prep, vectors, timeout=300, builder=cached_build)
    report = "\n".join(outcome.lines)
    assert outcome.ok and "ok    tinygen reference" in report, report
