"""Depthwise layers of depth multiplier > 1 (issue 17's slow layers).

tg_depthwise_mult_s8 (3x3 layers of a multi-channel input: the multiplier-1 3x3 kernel over the input with each
channel repeated, on the DSP path; a pixel-by-pixel loop on the portable path), and tg_depthwise_ch1_s8's row path
for one-channel inputs with 1 x 7 / 1 x 8 windows (depthwise layers, and conv layers of one input channel) and its
fast depthwise requantization: the generated library bit-exact with tinygen's reference on the host (portable and
emulated DSP paths, both roundings), and the real models in QEMU on the Cortex-M3 (portable C), M4 and M7 (DSP):
TinyMaix MNIST's multiplier-2 layer, HeartKit's 1 x 7 first layer."""

from __future__ import annotations

import shutil
from pathlib import Path

import opcheck
import pytest
from test_kernels_depthwise import _Ctx, dw_graph

from tinygen.lowering import depthwise_ops
from tinygen.ops import depthwise_conv2d

#: (n, h, w, c, stride, padding, activation, multiplier, output scale factor: 16 gives right shifts in the fast
#: requantization's range, 1e-4 and 1e3 shifts outside it)
CONFIGS = [
    (1, 7, 7, 16, (1, 1), "same", "relu", 2, 16.0),  # TinyMaix MNIST: the repeated input in the output buffer
    (2, 6, 9, 5, (1, 1), "same", "relu6", 3, 16.0),  # batches, odd channels, the pair path's lines (>= 6)
    (1, 5, 4, 3, (1, 1), "same", "none", 4, 16.0),  # short lines: the ring
    (1, 9, 8, 6, (2, 2), "same", "relu_n1_to_1", 2, 16.0),  # stride 2: the input repeated in scratch
    (1, 8, 9, 7, (1, 1), "valid", "relu", 2, 16.0),  # valid: smaller output, scratch
    (1, 11, 6, 3, (2, 1), "valid", "none", 3, 1.0),  # stride 2x1
    (1, 6, 6, 8, (1, 1), "same", "none", 2, 1e-4),  # tiny output scale: the general requantization
    (1, 6, 6, 4, (1, 1), "same", "relu", 2, 1e3),  # huge output scale: large right shifts, saturation
]


def _graph(index: int):
    n, h, w, c, stride, padding, act, mult, scale = CONFIGS[index]
    return dw_graph(400 + index, n, h, w, c, stride, padding, act, mult=mult, out_scale=scale)


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_depthwise_mult_equals_reference(index: int, rounding: str, tmp_path: Path) -> None:
    """The lowering picks tg_depthwise_mult_s8 with TFLite's int8 weights, and the library equals the reference on
    the portable and emulated-DSP paths, under ASan/UBSan (scratch sized exactly)."""
    from test_codegen import check_library

    graph = _graph(index)
    ctx = _Ctx(graph, rounding, False)
    call = depthwise_conv2d.lower(ctx, graph.ops[0])
    assert call.kernel == "tg_depthwise_mult_s8"
    assert ctx.weight_bytes == graph.tensor("w").data.size  # TFLite's bytes, unchanged
    check_library(graph, tmp_path, rounding=rounding, vectors=2, dsp=(False, True), sanitize=True, seed=index)


def test_configs_cover_both_buffers_and_requantizations() -> None:
    """The configs above repeat the input into the output buffer and into scratch, with the 3x3 kernels' fast
    requantization and without it."""
    where, fast = set(), set()
    for index in range(len(CONFIGS)):
        graph = _graph(index)
        op = graph.ops[0]
        p = depthwise_conv2d.params(graph, op, "double")
        x, y = graph.tensor("x"), graph.tensor("y")
        where.add(depthwise_ops.mult_expands_in_output(x.shape, y.shape, p))
        fast.add(depthwise_conv2d.lower(_Ctx(graph, "double", False), op).args[-2])
    assert where == {True, False} and fast == {"0", "1"}


@pytest.mark.parametrize("k, dilation", [((5, 5), (1, 1)), ((3, 3), (2, 2))])
def test_other_windows_keep_the_general_kernel(k: tuple[int, int], dilation: tuple[int, int]) -> None:
    """Multiplier > 1 with another window or a dilation stays on tg_depthwise_s8."""
    graph = dw_graph(420, 1, 9, 9, 4, (1, 1), "same", "relu", mult=2, k=k, out_scale=16.0, dilation=dilation)
    assert depthwise_conv2d.lower(_Ctx(graph, "double", False), graph.ops[0]).kernel == "tg_depthwise_s8"


#: one input channel, a 1 x 7 / 1 x 8 window: (n, h, w, multiplier, kernel, stride, padding, activation, scale)
ROW_CONFIGS = [
    (1, 1, 40, 24, (1, 7), (1, 2), "same", "relu6", 16.0),  # HeartKit's first layer (as a depthwise layer)
    (2, 3, 19, 5, (1, 8), (1, 1), "same", "relu", 16.0),  # 1 x 8, batches, several rows, odd channel count
    (1, 2, 15, 4, (1, 7), (2, 3), "valid", "none", 16.0),  # valid padding, strides
    (1, 1, 20, 6, (1, 7), (1, 1), "same", "none", 1e-4),  # tiny output scale: the general requantization
    (1, 1, 16, 4, (1, 7), (1, 1), "same", "relu", 1e3),  # huge output scale: large right shifts
]


def _row_graph(index: int):
    n, h, w, mult, k, stride, padding, act, scale = ROW_CONFIGS[index]
    return dw_graph(430 + index, n, h, w, 1, stride, padding, act, mult=mult, k=k, out_scale=scale)


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("index", range(len(ROW_CONFIGS)))
def test_one_channel_rows_equal_reference(index: int, rounding: str, tmp_path: Path) -> None:
    """One input channel, a 1 x 7 / 1 x 8 window: tg_depthwise_ch1_s8 (its row path), equal to the reference on the
    portable and emulated-DSP paths under ASan/UBSan."""
    from test_codegen import check_library

    graph = _row_graph(index)
    assert depthwise_conv2d.lower(_Ctx(graph, rounding, False), graph.ops[0]).kernel == "tg_depthwise_ch1_s8"
    check_library(graph, tmp_path, rounding=rounding, vectors=2, dsp=(False, True), sanitize=True, seed=index)


def test_one_channel_configs_cover_the_fast_depthwise_forms() -> None:
    """The row configs above and tg_depthwise_ch1_s8's 3x3 configs (tests/test_depthwise_ch1.py) reach its fast
    depthwise requantization with the full range (TG_RQ_FAST_FULL) and a clamp (TG_RQ_FAST), and layers without it."""
    from tinygen.lowering.mac_common import RQ_FAST, RQ_FAST_FULL

    forms = set()
    for index in range(len(ROW_CONFIGS)):
        graph = _row_graph(index)
        args = depthwise_conv2d.lower(_Ctx(graph, "double", False), graph.ops[0]).args
        forms.add((int(args[10]), args[-2]))  # (the requantization mode, the dw_fast flag)
    assert {(RQ_FAST_FULL, "1"), (RQ_FAST, "1")} <= forms and any(flag == "0" for _, flag in forms)


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_one_channel_row_conv_runs_the_one_channel_kernel(rounding: str, tmp_path: Path) -> None:
    """A conv layer of one input channel and a 1 x 7 window (HeartKit's first layer) runs tg_depthwise_ch1_s8 and
    equals the reference on the portable and emulated-DSP paths."""
    from test_codegen import check_library, conv_graph

    from tinygen.ops import conv2d

    spec = {"kind": "conv2d", "batch": 1, "h": 1, "w": 37, "c": 1, "mult": 1, "out_c": 7, "k": (1, 7),
            "stride": (1, 2), "dilation": (1, 1), "padding": "same", "activation": "relu6", "per_channel": True,
            "bias": True}
    graph = conv_graph(440, spec)
    assert conv2d.lower(_Ctx(graph, rounding, False), graph.ops[0]).kernel == "tg_depthwise_ch1_s8"
    check_library(graph, tmp_path, rounding=rounding, vectors=3, dsp=(False, True), seed=7)


def _mnist(shared_models: Path) -> Path:
    path = shared_models / "real" / "tinymaix_mnist_dw_q.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


def _layout(manifest: dict) -> None:
    assert manifest["layers"][3]["kernel"] == "tg_depthwise_mult_s8"


@pytest.mark.parametrize("board", (*opcheck.QEMU_BOARDS, "mps2_an386"))
def test_mnist_multiplier_2_bit_exact_in_qemu(board: str, shared_models: Path, tmp_path: Path) -> None:
    """TinyMaix MNIST (its layer 3: multiplier 2, the input repeated into the output buffer) equals tinygen's
    reference and TFLite Micro on the Cortex-M3, M4 and M7."""
    opcheck.check_qemu(_mnist(shared_models), board, tmp_path, layout=_layout)


@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
def test_mnist_single_rounding_bit_exact_in_qemu(board: str, shared_models: Path, tmp_path: Path) -> None:
    """--rounding single: TinyMaix MNIST equals tinygen's reference (TFLite Micro has no such mode)."""
    from test_emulator_models import cached_build

    from tinygen.commands.test import make_vectors, prepare, run_test

    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm is not installed (scripts/setup.sh installs it)")
    prep = prepare(_mnist(shared_models), board, tmp_path, rounding="single")
    _layout(prep.manifest)
    outcome = run_test(prep, make_vectors(prep, 3), timeout=300, builder=cached_build)
    report = "\n".join(outcome.lines)
    assert outcome.ok and "ok    tinygen reference" in report, report


@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
def test_heartkit_one_channel_row_bit_exact_in_qemu(board: str, shared_models: Path, tmp_path: Path) -> None:
    """HeartKit's first layer (a 1 x 7 conv of one input channel, stride 2 along the row) runs tg_depthwise_ch1_s8's
    row path and equals tinygen's reference and TFLite Micro on the Cortex-M3 and M7."""
    path = shared_models / "real" / "ambiq_heartkit_arrhythmia.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")

    def layout(manifest: dict) -> None:
        assert manifest["layers"][0]["kernel"] == "tg_depthwise_ch1_s8"

    opcheck.check_qemu(path, board, tmp_path, layout=layout)
