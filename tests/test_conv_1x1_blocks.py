"""tg_conv_1x1_s8's column blocks: with stride 1 and in_c a multiple of 4, a block's three pixels follow each other in
memory and are copied group by group in one pass (tg_pair_put_consecutive, tg_conv_gemm_s8.h); a short last block,
strides and other depths copy column by column. Both ways == tinygen's reference, portable and emulated-DSP paths.
Also the split of mixed layers (CONV1X1_MIXED) and tg_conv_1x1_c8_s8 (eight input channels: blocks of 16 pixels,
channel by channel), every requantization mode, activation and both roundings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
    "c12_short_last_block": {"c": 12, "w": 7, "out_c": 10, "activation": "relu6"},
    "c12_stride2": {"c": 12, "h": 5, "w": 5, "stride": (2, 2), "out_c": 8},
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
    kernel = "tg_conv_1x1_c8_s8" if CASES[case].get("c", _CONV["c"]) == 8 else "tg_conv_1x1_s8"
    assert [layer["kernel"] for layer in manifest["layers"]] == [kernel]


#: mixed layers that tg_conv_1x1_s8 splits (in_c % 4 == 0, out_c even): the full int8 range (the GEMM's fast copy
#: GEMM_FULL_EVEN / GEMM_FULL) and activations (its GEMM_ANY copy, every pair fast), short last blocks, strides (the
#: column path), batches; the mixed_graph channels cycle through general and fast shifts (tests/test_conv_requant.py)
SPLIT_CASES = {
    "c16_full_range": ({"c": 16, "out_c": 6}, ("GEMM_FULL_EVEN",)),
    "c12_relu_short_block": ({"c": 12, "h": 1, "w": 7, "out_c": 8, "activation": "relu"}, ("GEMM_ANY",)),
    "c4_relu6_batch2": ({"c": 4, "h": 2, "w": 5, "batch": 2, "out_c": 10, "activation": "relu6"}, ("GEMM_ANY",)),
    "c16_stride2": ({"c": 16, "h": 5, "w": 5, "stride": (2, 2), "out_c": 18}, ("GEMM_FULL_EVEN",)),
    "c20_full_range": ({"c": 20, "h": 2, "w": 2, "out_c": 6}, ("GEMM_FULL",)),
}


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("case", list(SPLIT_CASES))
def test_1x1_mixed_split_equals_reference(case: str, rounding: str, tmp_path: Path) -> None:
    """A mixed layer split by tg_conv_1x1_s8 (CONV1X1_MIXED: the pairs in the fast copy, the general channels
    again) == tinygen's reference on the portable and emulated-DSP paths; the GEMM copy is the fast layer's."""
    from test_codegen import check_library
    from test_conv_requant import mixed_graph

    from tinygen.lowering.mac_common import RQ_MIXED, rq_values_per_channel
    from tinygen.ops import conv2d

    change, gemm = SPLIT_CASES[case]
    graph = mixed_graph(sorted(SPLIT_CASES).index(case), change)
    op = graph.ops[0]
    values, mode = rq_values_per_channel(op, conv2d.params(graph, op, rounding), graph.tensor("w").shape[0])
    assert mode == RQ_MIXED and (values[:, 2] == 0).any() and (values[:, 2] != 0).any()
    lib = check_library(graph, tmp_path, rounding=rounding, vectors=3, dsp=(False, True), seed=5)
    assert [layer["kernel"] for layer in lib.manifest["layers"]] == ["tg_conv_1x1_s8"]
    assert "CONV1X1_MIXED" in lib.manifest["variants"] and set(gemm) <= set(lib.manifest["variants"])
    assert gemm == ("GEMM_ANY",) or "GEMM_ANY" not in lib.manifest["variants"]
    if rounding == "double":
        # the mirror (conv_1x1_split, conv_1x1_variants) names exactly the copies the traced run takes
        from test_codegen import random_inputs
        from test_variants_conv import _variants_of, taken_variants

        taken = taken_variants(lib, graph, tmp_path / "traced", random_inputs(graph, 2, 4), sanitize=False)
        assert _variants_of(sorted(taken)) == _variants_of(lib.manifest["variants"])


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-m0", "clang", "clang-dsp-emulate"])
def test_1x1_kernels_compile_everywhere(target: str, tmp_path: Path) -> None:
    """tg_conv_1x1_c8_s8 (both roundings) and tg_conv_1x1_s8 with the split selected compile warning-free on a DSP
    and a non-DSP core and with clang (the GEMM copies: tests/test_variants_conv.py)."""
    import shutil
    import subprocess

    from test_variants_conv import FLAGS, KERNELS, TARGETS

    if shutil.which(TARGETS[target][0]) is None:
        pytest.fail(f"{TARGETS[target][0]} is not installed (see README: toolchain)")
    mixed = ["-DTG_SELECTED_VARIANTS=1", "-DTG_VARIANT_CONV1X1_GROUPED=1", "-DTG_VARIANT_CONV1X1_MIXED=1",
             "-DTG_VARIANT_GEMM_FULL_EVEN=1"]
    for kernel, defines in (("tg_conv_1x1_c8_s8", []), ("tg_conv_1x1_c8_s8", ["-DTG_SINGLE_ROUNDING=1"]),
                            ("tg_conv_1x1_s8", mixed)):
        cmd = [*TARGETS[target], *FLAGS, *defines, f"-I{KERNELS}", "-c", str(KERNELS / f"{kernel}.c"),
               "-o", str(tmp_path / "k.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"{kernel} {defines}:\n{proc.stderr}"


def test_1x1_mixed_split_list() -> None:
    """The general channels' list after the GEMM's params: their count, then index, multiplier and shift; the GEMM
    sees stand-in fast values there, and the fast channels' values unchanged."""
    from tinygen.lowering.mac_common import RQ_FAST, RQ_FAST_FULL
    from tinygen.lowering.mac_ops import conv_1x1_mixed_split, conv_1x1_split

    rq = np.array([[1 << 30, 5, 3], [1 << 29, -1, 0], [1 << 28, 7, 4], [1 << 27, -25, 0]], dtype=np.int32)
    gemm_rq, listed, mode = conv_1x1_mixed_split(rq, act_full=True)
    assert mode == RQ_FAST_FULL and conv_1x1_mixed_split(rq, act_full=False)[2] == RQ_FAST
    assert listed.tolist() == [2, 1, 1 << 29, -1, 3, 1 << 27, -25]
    assert gemm_rq[[0, 2]].tolist() == rq[[0, 2]].tolist() and np.all(gemm_rq[[1, 3], 2] != 0)
    assert conv_1x1_split(3, 8, 6) and not conv_1x1_split(3, 6, 6) and not conv_1x1_split(3, 8, 7)
    assert not conv_1x1_split(2, 8, 6)


#: tg_conv_1x1_c8_s8: several blocks of 16 pixels and a short last one (5 x 7 = 16 + 16 + 3), a pixel count that is a
#: multiple of 16, odd and even out_c, batches (blocks restart per image), strides, clamping activations (the
#: non-full range: tg_rq_chan), with (output zero point, real multiplier ratio): None keeps the graph's, a ratio of
#: 3.0 makes every channel general (TG_RQ_GENERAL)
C8_CASES: dict[str, tuple[dict, int | None, float | None]] = {
    "three_blocks_odd": ({"h": 5, "w": 7, "out_c": 11}, None, None),
    "two_blocks_relu_clamped": ({"h": 4, "w": 8, "out_c": 16, "activation": "relu"}, 9, None),
    "batch2_relu6": ({"h": 3, "w": 7, "batch": 2, "out_c": 6, "activation": "relu6"}, None, None),
    "stride2_relu_n1": ({"h": 9, "w": 9, "stride": (2, 2), "out_c": 7, "activation": "relu_n1_to_1"}, None, None),
    "general_odd": ({"h": 3, "w": 9, "out_c": 5, "per_channel": False}, None, 3.0),
    "one_channel": ({"h": 2, "w": 3, "out_c": 1}, None, None),
}


def _c8_graph(case: str):
    from test_codegen import conv_graph

    from tinygen.ir import Quantization

    change, zero_point, ratio = C8_CASES[case]
    graph = conv_graph(sorted(C8_CASES).index(case), {**_CONV, "c": 8, **change})
    x, w, y = (graph.tensor(n) for n in ("x", "w", "y"))
    if ratio is not None or zero_point is not None:
        scale = float(y.quant.scale[0])
        if ratio is not None:
            scale = float(np.float32(float(x.quant.scale[0]) * float(np.max(w.quant.scale)) / ratio))
        y.quant = Quantization([scale], [int(y.quant.zero_point[0]) if zero_point is None else zero_point])
    return graph


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("case", list(C8_CASES))
def test_1x1_c8_equals_reference(case: str, rounding: str, tmp_path: Path) -> None:
    """tg_conv_1x1_c8_s8 == tinygen's reference, portable and emulated-DSP paths (gcc), ASan/UBSan clean."""
    from test_codegen import check_library

    from tinygen.lowering.mac_common import RQ_GENERAL, rq_values_per_channel
    from tinygen.ops import conv2d

    graph = _c8_graph(case)
    op = graph.ops[0]
    mode = rq_values_per_channel(op, conv2d.params(graph, op, rounding), graph.tensor("w").shape[0])[1]
    assert mode == RQ_GENERAL or C8_CASES[case][2] is None
    lib = check_library(graph, tmp_path, rounding=rounding, vectors=3, dsp=(False, True), sanitize=True, seed=2)
    assert [layer["kernel"] for layer in lib.manifest["layers"]] == ["tg_conv_1x1_c8_s8"]


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_1x1_c8_mixed_layer_equals_reference(rounding: str, tmp_path: Path) -> None:
    """A mixed layer (general and fast channels, tests/test_conv_requant.py) on eight channels: each channel's own
    form in the same loop, no split, no GEMM."""
    from test_codegen import check_library
    from test_conv_requant import mixed_graph

    from tinygen.lowering.mac_common import RQ_MIXED, rq_values_per_channel
    from tinygen.ops import conv2d

    graph = mixed_graph(4, {"c": 8, "h": 5, "w": 7, "out_c": 13, "activation": "relu6"})
    op = graph.ops[0]
    assert rq_values_per_channel(op, conv2d.params(graph, op, rounding), 13)[1] == RQ_MIXED
    lib = check_library(graph, tmp_path, rounding=rounding, vectors=3, dsp=(False, True), seed=5)
    assert [layer["kernel"] for layer in lib.manifest["layers"]] == ["tg_conv_1x1_c8_s8"]
    assert not {v for v in lib.manifest["variants"] if v.startswith(("GEMM_", "CONV1X1_"))}


_C8_IN_PLACE_MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "tg_conv_1x1_c8_s8.h"
#include "data.h"

int main(void)
{
    static int8_t buf[sizeof input];
    static int8_t separate[sizeof expected];
    static int16_t scratch[8 * TG_CONV_1X1_C8_PIXELS];
    memcpy(buf, input, sizeof input);
    tg_conv_1x1_c8_s8(input, BATCHES, H, W, weights, params, separate, H, W, OUT_C, 1, 1, OUT_OFFSET, ACT_MIN, ACT_MAX,
                      scratch);
    tg_conv_1x1_c8_s8(buf, BATCHES, H, W, weights, params, buf, H, W, OUT_C, 1, 1, OUT_OFFSET, ACT_MIN, ACT_MAX,
                      scratch);
    printf("separate %s, in place %s\n", memcmp(separate, expected, sizeof expected) ? "DIFFER" : "equal",
           memcmp(buf, expected, sizeof expected) ? "DIFFER" : "equal");
    return 0;
}
"""


@pytest.mark.parametrize("dsp", [False, True])
@pytest.mark.parametrize("shape", [(1, 5, 7, 8), (2, 4, 8, 5)])
def test_1x1_c8_runs_in_place(shape: tuple[int, ...], dsp: bool, tmp_path: Path) -> None:
    """tg_conv_1x1_c8_s8 with output == input (stride 1, out_c <= 8; blocks of 16 pixels) == reference, ASan/UBSan
    clean, as the lowering's in-place rule for 1x1 convolutions allows."""
    import subprocess

    import hostbuild
    from test_codegen import conv_graph
    from test_kernels_mac import KERNELS, _c_array, _Ctx

    from tinygen import reference
    from tinygen.ops.conv2d import OP as CONV2D, lower as lower_conv2d

    batch, h, w, out_c = shape
    graph = conv_graph(6, {**_CONV, "batch": batch, "h": h, "w": w, "c": 8, "out_c": out_c, "activation": "relu"})
    assert CONV2D.in_place is not None and CONV2D.in_place(graph, graph.ops[0])
    ctx = _Ctx(graph)
    call = lower_conv2d(ctx, graph.ops[0])
    assert call.kernel == "tg_conv_1x1_c8_s8"
    x = np.random.default_rng(2).integers(-128, 128, graph.tensor("x").shape).astype(np.int8)
    arrays = {"weights": ctx.arrays["conv_w"], "params": ctx.arrays["conv_params"], "input": (x.reshape(-1), "int8_t"),
              "expected": (reference.run(graph, {"x": x})["y"].reshape(-1), "int8_t")}
    # the call's arguments 12..14: output offset, act_min, act_max
    defines = {"BATCHES": batch, "H": h, "W": w, "OUT_C": out_c, **dict(zip(("OUT_OFFSET", "ACT_MIN", "ACT_MAX"),
                                                                           call.args[12:15]))}
    (tmp_path / "data.h").write_text("".join(_c_array(n, v, t) for n, (v, t) in arrays.items())
                                     + "".join(f"#define {k} ({v})\n" for k, v in defines.items()))
    (tmp_path / "main.c").write_text(_C8_IN_PLACE_MAIN)
    exe = tmp_path / "inplace"
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", *hostbuild.SANITIZE]
    proc = subprocess.run(["gcc", *flags, *(["-DTG_DSP_EMULATE"] if dsp else []), f"-I{KERNELS}", f"-I{tmp_path}",
                           str(tmp_path / "main.c"), str(KERNELS / "tg_conv_1x1_c8_s8.c"), "-o", str(exe)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "separate equal, in place equal"


@pytest.fixture(scope="module")
def c8_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two Keras models whose output is an eight-channel 1x1 conv (so every output value is compared in QEMU):
    16 channels without activation (the full range: the DSP path's asm pair loop) and 11 with a relu (clamped), on
    9 x 11 pixels (six blocks of 16 and three pixels, an odd count)."""
    from tinygen.tfconvert import keras_to_int8_tflite

    keras = pytest.importorskip("tensorflow").keras
    out = tmp_path_factory.mktemp("c8_models")
    data = np.random.default_rng(0).uniform(-1, 1, (32, 9, 11, 8)).astype(np.float32)
    paths = {}
    for name, (channels, activation) in {"full": (16, None), "relu": (11, "relu")}.items():
        keras.utils.set_random_seed(1)
        x = keras.Input((9, 11, 8), batch_size=1)
        model = keras.Model(x, keras.layers.Conv2D(channels, (1, 1), activation=activation)(x))
        paths[name] = out / f"c8_{name}.tflite"
        paths[name].write_bytes(keras_to_int8_tflite(model, data))
    return paths


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("board", ("mps2_an385", "mps2_an386", "mps2_an500"))
@pytest.mark.parametrize("model", ["full", "relu"])
def test_1x1_c8_output_bit_exact_in_qemu(model: str, board: str, rounding: str, c8_models: dict[str, Path],
                                         tmp_path: Path) -> None:
    """tg_conv_1x1_c8_s8 as a model's output layer, bit-exact in QEMU on the Cortex-M3 (portable path), M4 and M7
    (the asm pair loop, then the odd last pixel) against tinygen's reference and TFLite Micro (double rounding;
    single: the reference, TFLite Micro has no such mode)."""
    import opcheck
    from test_emulator_models import cached_build

    from tinygen.commands.test import make_vectors, prepare, run_test

    kernels = ["tg_conv_1x1_c8_s8"]
    if rounding == "double":
        opcheck.check_qemu(c8_models[model], board, tmp_path, kernels=kernels)
        return
    prep = prepare(c8_models[model], board, tmp_path, rounding="single")
    assert [layer["kernel"] for layer in prep.manifest["layers"]] == kernels
    outcome = run_test(prep, make_vectors(prep, 3), timeout=300, builder=cached_build)
    report = "\n".join(outcome.lines)
    assert outcome.ok and "ok    tinygen reference" in report, report
