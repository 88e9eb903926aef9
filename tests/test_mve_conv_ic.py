"""tg_conv_mve_s8's assembly paths on the real instruction set: QEMU mps3-an547 (Cortex-M55).

The host tests (tests/test_mve.py) run the kernel's C stand-ins; on the target (optimized builds, out_c a
multiple of 4) the column pairs go through one assembly routine per requantization variant (double rounding:
"right", every channel shifts right, and "any", left shifts and unshifted channels too; single rounding:
"single" where every channel shifts right, the C GEMM elsewhere), and interior windows are copied by an
assembly loop (kernel rows of a multiple of 16 bytes). One chain of convs reaches them all, each layer compared
with tinygen's reference bit for bit: steps of 16 per column 1, 2, 3, 4, 6, 9 and 12 (every entry of the step
dispatch: 0 to 3 single steps, 0 to 2 loops of four), odd pixel counts (an odd last column), padding
same/valid, strides, dilation, gathered windows (1, 3 and 4 gathers), kernel rows of 16-multiple and other byte
counts, channel counts not a multiple of 4 (the C GEMM), both variants; then the same chain with single rounding.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from test_codegen import _act, _bias, _out_scale, _weights
from tinygen import codegen
from tinygen.ir import Graph, Op, Quantization, Tensor

BOARD = "mps3_an547"

#: (kernel, out_c, stride, dilation, padding, shifts): "right" = the usual scales (every channel shifts right);
#: "any" = small weights and an output scale that gives some channels left or no shifts
CHAIN = [
    ((3, 3), 20, (1, 1), (1, 1), "same", "right"),   # 16 ch: 9 steps, rows of 48 bytes, 99 pixels
    ((3, 3), 8, (2, 1), (1, 1), "same", "any"),      # 20 ch: 12 steps, rows of 60 bytes, 55 pixels
    ((1, 1), 24, (1, 1), (1, 1), "valid", "right"),  # pointwise, 1 step
    ((2, 2), 16, (1, 1), (1, 1), "valid", "any"),    # 24 ch: 6 steps, rows of 48 bytes
    ((3, 3), 5, (1, 1), (1, 1), "same", "right"),    # 16 ch, 5 outputs: the C GEMM
    ((3, 3), 12, (1, 1), (1, 1), "same", "any"),     # 5 ch: 3 steps, three gathers a window
    ((3, 3), 8, (1, 1), (2, 2), "same", "right"),    # dilated: every window copied tap by tap
    ((1, 1), 7, (1, 2), (1, 1), "valid", "any"),     # 8 ch strided 1x1: 1 step, 7 outputs (the C GEMM)
    ((3, 3), 32, (1, 1), (1, 1), "same", "right"),   # 7 ch: 4 steps, four gathers a window
    ((2, 1), 8, (1, 1), (1, 1), "valid", "right"),   # 32 ch: 4 steps, rows of 32 bytes
]


def _small_weights(rng: np.random.Generator, w: Tensor) -> None:
    """Weights of -1, 0 and 1, mostly 0: sums small enough for multipliers >= 0.5 to keep outputs in range."""
    values = rng.choice(np.array([-1, 0, 0, 0, 1], dtype=np.int8), size=w.shape)
    w.data = values.astype(np.int8)


def conv_chain(seed: int, in_shape: tuple[int, int, int, int]) -> Graph:
    """The convs of CHAIN one after the other (per-channel weights, bias, relu on every other layer)."""
    rng = np.random.default_rng(seed)
    g = Graph("t_mve_conv_chain")
    prev = g.add_tensor(_act(rng, "x", in_shape))
    for i, (k, out_c, stride, dil, padding, shifts) in enumerate(CHAIN):
        _, h, w_, c = prev.shape
        wt = _weights(rng, (out_c, *k, c), 0, True)
        wt.name = f"w{i}"
        if shifts == "any":
            _small_weights(rng, wt)
        g.add_tensor(wt)
        b = _bias(rng, out_c)
        b.name = f"b{i}"
        if shifts == "any":
            b.data = rng.integers(-40, 40, out_c).astype(np.int32)
        g.add_tensor(b)
        oh = (h + stride[0] - 1) // stride[0] if padding == "same" else (h - dil[0] * (k[0] - 1) - 1) // stride[0] + 1
        ow = (w_ + stride[1] - 1) // stride[1] if padding == "same" else (w_ - dil[1] * (k[1] - 1) - 1) // stride[1] + 1
        depth = k[0] * k[1] * c
        if shifts == "any":  # real multipliers of about 0.25..2.5 (weight scales 0.002..0.02)
            scale = float(np.float32(float(prev.quant.scale[0]) * 0.008))
        else:  # every real multiplier below 0.5
            scale = max(_out_scale(rng, prev, wt, depth), 2.1 * float(prev.quant.scale[0]) * float(max(wt.quant.scale)))
        y = g.add_tensor(Tensor(f"y{i}", (1, oh, ow, out_c), "int8",
                                Quantization([scale], [int(rng.integers(-100, 100))])))
        attrs = {"stride": stride, "dilation": dil, "padding": padding, "activation": "relu" if i % 2 else "none"}
        g.add_op(Op("conv2d", f"op{i}", [prev.name, wt.name, b.name], [y.name], attrs))
        prev = y
    g.inputs, g.outputs = ["x"], [prev.name]
    return g


def _shifts_left(graph: Graph, i: int) -> np.ndarray:
    """Per output channel of layer i: whether its real multiplier is >= 0.5 (TFLite's shift >= 0: no right shift)."""
    op = graph.ops[i]
    x, w, y = (graph.tensor(name) for name in (op.inputs[0], op.inputs[1], op.outputs[0]))
    real = float(x.quant.scale[0]) * np.asarray(w.quant.scale, dtype=np.float64) / float(y.quant.scale[0])
    return real >= 0.5


def test_chain_reaches_both_requantization_variants() -> None:
    graph = conv_chain(11, (1, 9, 11, 16))
    for i, (*_, shifts) in enumerate(CHAIN):
        left = _shifts_left(graph, i)
        if shifts == "right":
            assert not left.any(), i
        else:
            assert left.any() and not left.all(), i


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_mve_conv_chain_is_bit_exact_on_mps3_an547(rounding: str, tmp_path: Path) -> None:
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    from test_emulator_models import cached_build

    from tinygen.boards import get_board
    from tinygen.commands.test import Prepared, make_vectors, run_test

    graph = conv_chain(11, (1, 9, 11, 16))
    board = get_board(BOARD)
    lib = codegen.generate(graph, tmp_path / "lib", rounding=rounding, force=True, mve=board.has_mve)
    assert [layer["kernel"] for layer in lib.manifest["layers"]] == ["tg_conv_mve_s8"] * len(CHAIN)
    prep = Prepared(graph, lib, board, None, rounding, tmp_path)
    outcome = run_test(prep, make_vectors(prep, 3), timeout=300, builder=cached_build)
    report = "\n".join(outcome.lines)
    assert outcome.ok and "ok    tinygen reference" in report, report
