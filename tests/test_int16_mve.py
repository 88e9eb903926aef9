"""Helium (MVE, Cortex-M55) 16x8 CONV_2D and DEPTHWISE_CONV_2D (issue 20, item 1: "Helium where hot"):
tg_conv_mve_s16 and tg_depthwise_mve_s16.

* tests/test_int16_conv.py's Keras CNNs (same/valid padding, stride 2, multiplier 2, channel tails, ReLU/ReLU6, a
  one-channel input, a whole CNN) and its one-layer models (dilations, strides 2x3, multiplier 3, 5x4 windows, no
  bias, 7 channels, RELU_N1_TO_1, multipliers beyond the fast requantization, an int32 bias whose accumulator
  wraps, sums beyond int32): the MVE library with the intrinsics' C stand-ins equals the reference on every layer
  on the host (gcc with sanitizers, clang; both roundings of the int32 accumulator), and in QEMU mps3_an547 on the
  real instruction set bit-exact with the reference and TFLite Micro;
* each of the conv kernel's three forms (fast int32, int32 with TFLite's requantization, exact int64) is chosen
  where it is exact; the depthwise kernel leaves layers whose sums pass int32 to tg_depthwise_s16;
* both sources are -Werror -pedantic clean for Cortex-M55 at -O0/-Os/-O2, and the M55 runs the CNNs in fewer
  instructions than with the DSP kernels (exact QEMU counts).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import hostbuild
import numpy as np
import opcheck
import pytest
from test_int16_conv import (LAYERS, _alternating_vectors, _layer_model, _save, _vectors,  # noqa: F401
                             cnn_models)  # (a fixture)
from test_int16_ops import M55_BOARD, _check_mve_host

from tinygen import codegen
from tinygen.frontend.tflite import import_tflite

pytest.importorskip("tensorflow")

MVE_KERNELS = {"tg_conv_s16": "tg_conv_mve_s16", "tg_depthwise_s16": "tg_depthwise_mve_s16",
               "tg_fully_connected_s16": "tg_fully_connected_mve_s16"}
CNN_KERNELS = {
    "cnn_a": ["tg_conv_mve_s16", "tg_depthwise_mve_s16", "tg_conv_mve_s16"],
    "cnn_b": ["tg_depthwise_mve_s16", "tg_conv_mve_s16", "tg_depthwise_mve_s16", "tg_depthwise_mve_s16",
              "tg_conv_mve_s16"],
    "cnn": ["tg_conv_mve_s16", "tg_depthwise_mve_s16", "tg_conv_mve_s16", "tg_pool_s16", None,
            "tg_fully_connected_mve_s16", "tg_softmax_s16"],
}
#: one-layer models beyond test_int16_conv.LAYERS: sums past int32 with an int32 and an int64 bias (64 channels)
DEEP = {"conv_int32_bias": ("CONV_2D", {"bias": "int32", "in_c": 64}), "conv_int64_deep": ("CONV_2D", {"in_c": 64})}
ALL_LAYERS = {**LAYERS, **DEEP}


def _kernels(manifest: dict) -> list[str | None]:
    return [layer["kernel"] for layer in manifest["layers"]]


def _sums(lib_dir: Path, name: str) -> list[str]:
    """The sums forms (fast, int32 or int64) the comments of the MVE conv/depthwise layers in library ``name``'s C
    name."""
    return re.findall(r", (\w+) sums \(MVE\)", (lib_dir / f"{name}.c").read_text())


@pytest.mark.parametrize("name", sorted(CNN_KERNELS))
def test_cnn_mve_host(cnn_models: dict[str, Path], name: str, tmp_path: Path) -> None:  # noqa: F811
    """Every layer of the CNNs (convs and depthwise convs on the MVE kernels) equals the reference on the host."""
    g = import_tflite(cnn_models[name].read_bytes(), name=name)
    assert _kernels(_check_mve_host(g, tmp_path, _vectors(cnn_models[name], 5, seed=5))) == CNN_KERNELS[name]


#: the sums form of each one-layer model: fast where conv_common.fast_requant_16x8 applies, int32 where exact
SUMS = {**{name: "fast" for name in LAYERS}, "conv_tiny_multiplier": "int32", "dw_tiny_multiplier": "int32",
        "conv_int32_bias": "int32", "conv_int64_deep": "int64"}


@pytest.mark.parametrize("name", sorted(ALL_LAYERS))
def test_layer_mve_host(name: str, tmp_path: Path) -> None:
    """Dilations, strides, valid padding, multipliers 2 and 3, channel tails, no bias, clamping activations, the
    int32 form with TFLite's requantization (tiny multipliers; the wrapping int32 accumulator of an int32 bias) and
    exact int64 sums (3x3x64 windows of alternating extremes, past 2^31): the C stand-ins equal the reference."""
    kind, options = ALL_LAYERS[name]
    g = import_tflite(_layer_model(kind, **options), name=name)  # type: ignore[arg-type]
    manifest = _check_mve_host(g, tmp_path, _alternating_vectors(g.tensor(g.inputs[0]).size))
    assert _kernels(manifest) == ["tg_conv_mve_s16" if kind == "CONV_2D" else "tg_depthwise_mve_s16"]
    assert _sums(tmp_path / "lib", name) == [SUMS[name]]


def test_int32_accumulator_single_rounding(tmp_path: Path) -> None:
    """The int32 accumulator's requantization (tg_requantize) in TFLite's single-rounding mode too."""
    kind, options = DEEP["conv_int32_bias"]
    g = import_tflite(_layer_model(kind, **options), name="single")  # type: ignore[arg-type]
    _check_mve_host(g, tmp_path, _alternating_vectors(g.tensor(g.inputs[0]).size), rounding="single")


def test_depthwise_beyond_int32_falls_back(tmp_path: Path) -> None:
    """A depthwise window of 600 taps of +-127 may sum past 2^31: int32 sums would not be exact, so the layer keeps
    tg_depthwise_s16 (exact int64) on an MVE target, and its C equals the reference."""
    from test_reference_ops import FbOp, FbTensor, build_tflite
    import test_reference_ops
    import tflite

    w = np.where(np.arange(20 * 30 * 4).reshape(1, 20, 30, 4) % 2, 127, -127).astype(np.int8)
    tensors = [FbTensor("x", (1, 20, 30, 4), "int16", 1e-4, 0),
               FbTensor("w", w.shape, "int8", np.full(4, 0.01), np.zeros(4), 3, w),
               FbTensor("b", (4,), "int64", np.full(4, 1e-6), np.zeros(4), 0, np.arange(4, dtype=np.int64)),
               FbTensor("y", (1, 1, 1, 4), "int16", 1.0, 0)]
    fields = {"Padding": tflite.Padding.VALID, "StrideH": 1, "StrideW": 1, "DilationHFactor": 1, "DilationWFactor": 1,
              "FusedActivationFunction": tflite.ActivationFunctionType.NONE, "DepthMultiplier": 1}
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(test_reference_ops._FB_TYPES, "int16", tflite.TensorType.INT16)
        mp.setitem(test_reference_ops._FB_TYPES, "int64", tflite.TensorType.INT64)
        data = build_tflite(tensors, [FbOp("DEPTHWISE_CONV_2D", [0, 1, 2], [3], "DepthwiseConv2DOptions", fields)],
                            [0], [3])
    g = import_tflite(data, name="dw_deep")
    vectors = _alternating_vectors(g.tensor(g.inputs[0]).size)
    assert _kernels(_check_mve_host(g, tmp_path, vectors)) == ["tg_depthwise_s16"]


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc is not installed")
@pytest.mark.parametrize("opt", ["-O2", "-Os", "-O0", "-O2 -fno-omit-frame-pointer"])
def test_cross_compiles_for_m55(opt: str, tmp_path: Path) -> None:
    """-Werror -pedantic clean for Cortex-M55 in both rounding modes, on the Helium instructions."""
    wanted = {"tg_conv_mve_s16.c": ("vmladava.s16", "vmlaldava.s16", "vrmulh.s32"),
              "tg_depthwise_mve_s16.c": ("vmullb.s16", "vmullt.s16", "vmovnt.i32")}
    for source, instructions in wanted.items():
        for single in (0, 1):
            cmd = ["arm-none-eabi-gcc", "-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", *hostbuild.WARNINGS,
                   *opt.split(), f"-DTG_SINGLE_ROUNDING={single}", f"-I{opcheck.KERNELS}", "-S",
                   str(opcheck.KERNELS / source), "-o", str(tmp_path / "k.s")]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
            asm = (tmp_path / "k.s").read_text()
            assert all(i in asm for i in instructions), (source, [i for i in instructions if i not in asm])


@pytest.mark.parametrize("name", ["cnn_a", "cnn_b", "cnn"])
def test_cnn_in_qemu(cnn_models: dict[str, Path], name: str, tmp_path: Path) -> None:  # noqa: F811
    """Each CNN on the real instruction set (QEMU mps3_an547): bit-exact with the reference and TFLite Micro."""
    opcheck.check_qemu(cnn_models[name], M55_BOARD, tmp_path, _vectors(cnn_models[name], 3, seed=6).view(np.int8),
                       kernels=CNN_KERNELS[name])


@pytest.mark.parametrize("name", ["conv_int32_bias", "conv_int64_deep", "conv_dilated_valid_stride",
                                  "conv_tiny_multiplier", "dw_mult3_stride", "dw_7_channels", "dw_dilated",
                                  "dw_tiny_multiplier"])
def test_layer_in_qemu(name: str, tmp_path: Path) -> None:
    """The three conv forms, the depthwise gather (multiplier 3), channel tails, dilations and the int32 form with
    TFLite's requantization in QEMU mps3_an547, the alternating extremes among the vectors: bit-exact with the
    reference and TFLite Micro."""
    kind, options = ALL_LAYERS[name]
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(_layer_model(kind, **options))  # type: ignore[arg-type]
    g = import_tflite(path.read_bytes(), name=name)
    vectors = _alternating_vectors(g.tensor(g.inputs[0]).size)
    opcheck.check_qemu(path, M55_BOARD, tmp_path / "work", vectors.view(np.int8),
                       kernels=["tg_conv_mve_s16" if kind == "CONV_2D" else "tg_depthwise_mve_s16"])


def _m55_instructions(g: object, work: Path, mve: bool) -> tuple[list[int], list[list[int]]]:
    """The per-layer instruction counts and outputs of ``g`` on mps3_an547, with the Helium kernels or without."""
    from tinygen import emulator
    from tinygen.boards import get_board
    from tinygen.commands.test import Prepared, build_firmware, make_vectors

    board = get_board(M55_BOARD)
    lib = codegen.generate(g, work / "lib", force=True, mve=mve)  # type: ignore[arg-type]
    prep = Prepared(g, lib, board, None, "double", work / "fw")
    run = emulator.run_firmware(build_firmware(prep, make_vectors(prep, 1)).elf, board.machine, timeout=300,
                                num_layers=prep.num_layers)
    assert run.status == "ok", run
    return run.layer_instructions[0], run.outputs


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16x8 CNN of a real model's widths on 12x12: conv 3x3 16 -> 32, depthwise 3x3 on 32 channels, conv 1x1
    32 -> 32 (ReLU, random biases)."""
    tf = pytest.importorskip("tensorflow")
    layers = tf.keras.layers
    tf.keras.utils.set_random_seed(5)
    bias = {"bias_initializer": "random_normal", "activation": "relu"}
    inp = tf.keras.Input((12, 12, 16))
    out = layers.Conv2D(32, 3, padding="same", **bias)(inp)
    out = layers.DepthwiseConv2D(3, padding="same", **bias)(out)
    out = layers.Conv2D(32, 1, **bias)(out)
    return _save(tmp_path_factory, "wide", inp, out, 7)


def test_runs_fewer_instructions(wide_model: Path, tmp_path: Path) -> None:
    """On Cortex-M55 (QEMU, exact counts) the Helium kernels run a CNN of real widths with the same outputs as the
    DSP kernels in under a third (3x3 conv), under half (1x1 conv: four steps of depth per pixel) and under 40 %
    (depthwise) of their instructions."""
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm or arm-none-eabi-gcc is not installed")
    g = import_tflite(wide_model.read_bytes(), name="wide")
    (dsp, out_dsp), (helium, out_helium) = (_m55_instructions(g, tmp_path / str(m), m) for m in (False, True))
    assert out_dsp == out_helium
    for limit, before, after in zip((1 / 3, 0.4, 1 / 2), dsp, helium):
        assert after < limit * before, (before, after)
