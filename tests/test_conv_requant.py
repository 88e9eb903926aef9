"""Conv layers whose per-channel shifts are only partly in the fast range (2..22 right) take the mixed
requantization mode (TG_RQ_MIXED, tg_requant_fast.h): each channel its own form, the fast one where its shift
allows it and the general one (left shifts, shift 0 and -1, right shifts beyond 22) elsewhere. Bit-exact on the
host (portable and emulated-DSP paths, both roundings) and in QEMU on a real model with such a layer (FOMO's
1x1 on 8 input channels: shifts -23..-1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import opcheck
from tinygen.ir import Graph, Quantization
from tinygen.lowering.mac_common import RQ_FAST_FULL, RQ_GENERAL, RQ_MIXED, rq_values_per_channel
from tinygen.ops import conv2d

#: real multipliers per channel (cycled over the channels): shifts +2, +1, 0, -1 (general), -2, -5, -12 (fast),
#: -25 (general: beyond 22)
RATIOS = (3.0, 1.5, 0.7, 0.3, 0.2, 0.02, 2.0**-12, 2.0**-25)

_CONV = {"kind": "conv2d", "batch": 1, "h": 5, "w": 5, "c": 8, "out_c": 6, "mult": 1, "k": (1, 1), "stride": (1, 1),
         "dilation": (1, 1), "padding": "valid", "activation": "none", "per_channel": True, "bias": True}
CASES = {
    "1x1_odd_channels": {"out_c": 9},
    "1x1_tail_relu": {"c": 5, "out_c": 8, "activation": "relu"},
    "1x1_stride2_relu6": {"c": 6, "out_c": 8, "stride": (2, 2), "h": 6, "w": 7, "activation": "relu6"},
    "3x3_same_odd": {"k": (3, 3), "padding": "same", "c": 3, "out_c": 11, "h": 6, "w": 5},
    "3x3_dilated_relu_n1": {"k": (3, 3), "padding": "same", "c": 4, "out_c": 8, "dilation": (2, 2), "h": 7, "w": 7,
                            "activation": "relu_n1_to_1"},
}


def mixed_graph(seed: int, change: dict) -> Graph:
    """A conv whose weight scales put channel c's real multiplier at RATIOS[c % len(RATIOS)]; the channels with
    multipliers of 0.3 and more get one weight of +-1 and a zero bias, so that their outputs are not all
    saturated (sums of a few hundred at most)."""
    from test_codegen import conv_graph

    graph = conv_graph(seed, {**_CONV, **change})
    x, w, y = (graph.tensor(n) for n in ("x", "w", "y"))
    out_c = w.shape[0]
    sx = float(x.quant.scale[0])
    sy = float(y.quant.scale[0])
    ratios = np.array([RATIOS[c % len(RATIOS)] for c in range(out_c)])
    rng = np.random.default_rng(seed)
    data = w.data.copy()
    bias = graph.tensor("b").data.copy()
    for c in np.flatnonzero(ratios >= 0.3):
        row = np.zeros(data[c].size, dtype=data.dtype)
        row[rng.integers(row.size)] = rng.choice([-1, 1])
        data[c] = row.reshape(data[c].shape)
        bias[c] = 0
    w.data, graph.tensor("b").data = data, bias
    w.quant = Quantization([float(np.float32(r * sy / sx)) for r in ratios], [0] * out_c, w.quant.axis)
    return graph


def _lowered_mode(graph: Graph) -> tuple[np.ndarray, int]:
    op = graph.ops[0]
    p = conv2d.params(graph, op, "double")
    return rq_values_per_channel(op, p, graph.tensor(op.inputs[1]).shape[0])


def test_mixed_layer_keeps_each_channels_form() -> None:
    graph = mixed_graph(0, CASES["1x1_odd_channels"])
    values, mode = _lowered_mode(graph)
    assert mode == RQ_MIXED
    shift = np.asarray(conv2d.params(graph, graph.ops[0], "double").shift)
    fast = (shift <= -2) & (shift >= -22)
    assert fast.any() and (~fast).any(), shift
    # the fast form's third value is e - 1 >= 1, the general form's 0 (tg_rq_chan tells them apart by it)
    assert np.array_equal(values[fast, 2], -shift[fast] - 1) and np.all(values[~fast, 2] == 0)
    assert np.array_equal(values[~fast, 1], shift[~fast])


def test_uniform_layers_keep_their_modes() -> None:
    """All channels fast or all general: the modes of rq_values, unchanged."""
    from test_codegen import conv_graph

    for ratio, mode in ((0.01, RQ_FAST_FULL), (0.3, RQ_GENERAL), (3.0, RQ_GENERAL), (2.0**-25, RQ_GENERAL)):
        graph = conv_graph(1, _CONV)
        x, w, y = (graph.tensor(n) for n in ("x", "w", "y"))
        scale = float(np.float32(ratio * float(y.quant.scale[0]) / float(x.quant.scale[0])))
        w.quant = Quantization([scale] * w.shape[0], [0] * w.shape[0], w.quant.axis)
        assert _lowered_mode(graph)[1] == mode, ratio


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("case", list(CASES))
def test_mixed_layer_equals_reference(case: str, rounding: str, tmp_path: Path) -> None:
    """Portable and emulated-DSP paths == tinygen.reference bit for bit."""
    from test_codegen import check_library

    graph = mixed_graph(sorted(CASES).index(case), CASES[case])
    assert _lowered_mode(graph)[1] == RQ_MIXED
    check_library(graph, tmp_path, rounding=rounding, vectors=3, dsp=(False, True), seed=5)


@pytest.mark.parametrize("board", (*opcheck.QEMU_BOARDS, "mps2_an386", "mps3_an547"))
def test_fomo_mixed_layer_bit_exact_in_qemu(board: str, shared_models: Path, tmp_path: Path) -> None:
    """openmv_fomo_face_detection: its 1x1 conv on 8 channels (shifts -23..-1, mixed fast and general
    requantization) runs tg_conv_1x1_c8_s8 (each channel's own form); the model equals tinygen's reference and
    TFLite Micro on the Cortex-M3, M4, M7 and M55 (whose Helium kernel takes the layer where its vector
    requantization allows, the DSP path elsewhere)."""

    def layout(manifest: dict) -> None:
        if board != "mps3_an547":
            assert manifest["layers"][3]["kernel"] == "tg_conv_1x1_c8_s8"

    path = shared_models / "real" / "openmv_fomo_face_detection.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    opcheck.check_qemu(path, board, tmp_path, layout=layout)


@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
def test_fomo_single_rounding_bit_exact_in_qemu(board: str, shared_models: Path, tmp_path: Path) -> None:
    """The same with --rounding single, against tinygen's reference (TFLite Micro has no such mode)."""
    import shutil

    from test_emulator_models import cached_build

    from tinygen.commands.test import make_vectors, prepare, run_test

    path = shared_models / "real" / "openmv_fomo_face_detection.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm is not installed (scripts/setup.sh installs it)")
    prep = prepare(path, board, tmp_path, rounding="single")
    outcome = run_test(prep, make_vectors(prep, 3), timeout=300, builder=cached_build)
    report = "\n".join(outcome.lines)
    assert outcome.ok and "ok    tinygen reference" in report, report


#: tg_conv_s8's staged im2col (in_c % 4 != 0) copies kernel rows of k_w * in_c bytes: fewer than four one by
#: one, otherwise word by word with the last word overlapping; every span 1..10, inside and border windows
STAGED = {f"span{kw * c}_c{c}_k{kh}x{kw}": (c, kh, kw) for c, kh, kw in
          ((1, 1, 2), (1, 3, 1), (2, 1, 1), (1, 3, 3), (1, 2, 4), (5, 1, 1), (3, 2, 2), (7, 1, 1), (2, 2, 4),
           (3, 3, 3), (5, 1, 2))}


@pytest.mark.parametrize("case", sorted(STAGED))
def test_staged_row_copies_equal_reference(case: str, tmp_path: Path) -> None:
    """Every row length of the staged copy, stride 2 with same padding (border windows) and stride 1 valid,
    portable and emulated-DSP paths, relu6."""
    from test_codegen import check_library, conv_graph

    c, kh, kw = STAGED[case]
    for stride, padding in (((2, 2), "same"), ((1, 1), "valid")):
        graph = conv_graph(sorted(STAGED).index(case), {**_CONV, "c": c, "k": (kh, kw), "h": 7, "w": 9, "out_c": 5,
                                                        "stride": stride, "padding": padding, "activation": "relu6"})
        check_library(graph, tmp_path / padding, vectors=2, dsp=(False, True), seed=1)
