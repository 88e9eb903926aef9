"""TRANSPOSE_CONV (tinygen/ops/transpose_conv.py, kernel templates/kernels/tg_transpose_conv_s8.{c,h}).

* Prepare: the padding from the output size (ComputePaddingHeightWidth) by hand; the refused models (an output
  size whose convolution is not the input's, a declared output shape or output_shape operand that disagrees,
  stride 0, weights of another depth or quantization axis, an accumulator that could overflow);
* the reference against TFLite Micro's interpreter over random shapes, strides, paddings, output sizes (Keras'
  output_padding), fused activations and per-channel quantizations (hypothesis, hand-built single-op
  ``.tflite`` files), and on models of TensorFlow's converter (Keras ``Conv2DTranspose``);
* the phase decomposition of the kernels (per output phase an ordinary convolution with a flipped sub-kernel)
  against the scatter in numpy;
* the generated C (per phase an im2col + tg_conv_gemm_s8) against the reference on the host (gcc and clang,
  ASan/UBSan, and the DSP path emulated), for every Cortex-M core; the Helium kernel on the host (the
  intrinsics' C stand-ins) and cross-compiled for Cortex-M55; in QEMU on Cortex-M3, M7 and M55;
* the Keras flow (``Conv2DTranspose`` with BatchNormalization and ReLU folded/fused), and ``tinygen convert``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hostbuild
import numpy as np
import opcheck
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_reference_ops import FbOp, FbTensor, build_tflite

from tinygen import qparams, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ops import transpose_conv
from tinygen.oracle import tflm_run

#: TFLite's fused activation codes
ACTS = {"none": 0, "relu": 1, "relu_n1_to_1": 2, "relu6": 3}


# --------------------------------------------------------------------------- models


def single_op_model(x_shape: tuple[int, ...], out_hw: tuple[int, int], out_c: int, kernel: tuple[int, int],
                    stride: tuple[int, int], padding: str, *, act: str = "none", bias: bool = True,
                    per_channel: bool = True, in_q: tuple[float, int] = (0.05, 3), out_q: tuple[float, int] = (0.1, -5),
                    seed: int = 0, out_shape: tuple[int, ...] | None = None, shape_operand: Any = None,
                    options: bool = True, w_scale: tuple[float, float] = (0.002, 0.02)) -> bytes:
    """One int8 TRANSPOSE_CONV: operands (output_shape, weights, input[, bias]), random weights and bias."""
    rng = np.random.default_rng(seed)
    n, _, _, in_c = x_shape
    weights = rng.integers(-127, 128, (out_c, *kernel, in_c)).astype(np.int8)
    scales = rng.uniform(*w_scale, out_c if per_channel else 1).astype(np.float32)
    zeros = np.zeros(scales.size, np.int64)
    shape = out_shape or (n, *out_hw, out_c)
    operand = np.array(shape if shape_operand is None else shape_operand, np.int32)
    tensors = [
        FbTensor("output_shape", (4,), "int32", data=operand),
        FbTensor("w", weights.shape, "int8", scales, zeros, 0, weights),
        FbTensor("x", x_shape, "int8", *in_q),
        FbTensor("y", shape, "int8", *out_q),
    ]
    inputs = [0, 1, 2]
    if bias:
        values = rng.integers(-4000, 4000, out_c).astype(np.int32)
        tensors.append(FbTensor("b", (out_c,), "int32", (np.float32(in_q[0]) * scales).astype(np.float32), zeros, 0,
                                values))
        inputs.append(4)
    fields = {"Padding": 0 if padding == "same" else 1, "StrideH": stride[0], "StrideW": stride[1],
              "FusedActivationFunction": ACTS[act]}
    op = FbOp("TRANSPOSE_CONV", inputs, [3], "TransposeConvOptions" if options else None, fields if options else {})
    return build_tflite(tensors, [op], [2], [3])


def random_int8(shape: tuple[int, ...], count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(count)]


def output_sizes(in_size: int, k: int, stride: int, padding: str) -> range:
    """The output sizes whose convolution (k, stride, padding) has ``in_size`` pixels (Keras' output_padding)."""
    if padding == "same":
        return range((in_size - 1) * stride + 1, in_size * stride + 1)
    return range((in_size - 1) * stride + k, (in_size - 1) * stride + k + stride)


# --------------------------------------------------------------------------- Prepare and checks


@pytest.mark.parametrize(("out", "k", "s", "padding", "pad"), [
    (6, 3, 2, "same", 0),  # conv of 6 -> 3, total (3-1)*2 + 3 - 6 = 1
    (5, 4, 2, "same", 1),  # conv of 5 -> 3, total 4 + 4 - 5 = 3
    (10, 5, 1, "same", 2),
    (9, 3, 2, "valid", 0),
    (8, 2, 3, "valid", 0),
])
def test_padding_by_hand(out: int, k: int, s: int, padding: str, pad: int) -> None:
    in_size = transpose_conv.conv_output_size(out, k, s, 1, padding)[0]
    graph = import_tflite(single_op_model((1, in_size, 2, 3), (out, 2 * s), 4, (k, 1), (s, s), padding))
    p = qparams.op_params(graph, graph.ops[0])
    assert (p.pad_top, p.pad_left, p.stride_h, p.stride_w) == (pad, 0, s, s)
    assert graph.ops[0].attrs["output_size"] == (out, 2 * s)


def test_output_size_that_does_not_fit_the_input_is_refused() -> None:
    # a 'same' conv of 7 rows gives 4, not 3
    with pytest.raises(TinygenError, match=r"output height 7 does not fit input 'x' of shape \(1, 3, 4, 2\) with "
                                           r"filter 3x3, stride 2x2 and 'same' padding: a convolution of the output "
                                           r"would have height 4, not 3"):
        import_tflite(single_op_model((1, 3, 4, 2), (7, 8), 3, (3, 3), (2, 2), "same"))


def test_declared_output_shape_and_operand_must_agree() -> None:
    with pytest.raises(TinygenError, match=r"output shape operand .* says \[1, 6, 8, 3\] but the output tensor has "
                                           r"shape \[1, 6, 8, 4\]"):
        import_tflite(single_op_model((1, 3, 4, 2), (6, 8), 3, (3, 3), (2, 2), "same", out_shape=(1, 6, 8, 4),
                                      shape_operand=(1, 6, 8, 3)))
    with pytest.raises(TinygenError, match=r"output 'y' has shape \(1, 6, 8, 4\), expected \(1, 6, 8, 3\)"):
        import_tflite(single_op_model((1, 3, 4, 2), (6, 8), 3, (3, 3), (2, 2), "same", out_shape=(1, 6, 8, 4)))


def test_model_without_options_is_refused() -> None:
    with pytest.raises(TinygenError, match=r"stride \(0, 0\) must be 1 or more"):
        import_tflite(single_op_model((1, 3, 4, 2), (6, 8), 3, (3, 3), (2, 2), "same", options=False))


def test_int8_checks() -> None:
    graph = import_tflite(single_op_model((1, 3, 4, 2), (6, 8), 3, (3, 3), (2, 2), "same"))
    w = graph.tensors[graph.ops[0].inputs[1]]
    w.quant.axis = 3
    with pytest.raises(TinygenError, match="quantized per channel along axis 3; this op's output channels are axis 0"):
        graph.validate()
    w.quant.axis = 0
    b = graph.tensors[graph.ops[0].inputs[2]]
    b.data = np.full(3, 2**31 - 1000, np.int32)
    with pytest.raises(TinygenError, match=r"output channel 0 .* can overflow the int32 accumulator"):
        graph.validate()
    graph.ops[0].inputs[1:] = [graph.ops[0].inputs[1]]
    graph.tensors["x"].dtype = "int16"
    with pytest.raises(UnsupportedError, match="tensor 'x' is int16"):
        graph.validate()


def test_weights_of_another_depth_are_refused() -> None:
    graph = import_tflite(single_op_model((1, 3, 4, 2), (6, 8), 3, (3, 3), (2, 2), "same"))
    w = graph.tensors[graph.ops[0].inputs[1]]
    w.shape, w.data = (3, 3, 3, 1), w.data[..., :1]
    with pytest.raises(TinygenError, match=r"have depth 1 but input 'x' has 2 channels"):
        graph.validate()


# --------------------------------------------------------------------------- against TFLite Micro


@st.composite
def configs(draw: Any) -> dict[str, Any]:
    padding = draw(st.sampled_from(["same", "valid"]))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    x_shape = (draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 6)))
    out_hw = tuple(draw(st.sampled_from(output_sizes(x_shape[1 + i], k[i], s[i], padding))) for i in range(2))
    return {"x_shape": x_shape, "out_hw": out_hw, "out_c": draw(st.integers(1, 6)), "kernel": k, "stride": s,
            "padding": padding, "act": draw(st.sampled_from(sorted(ACTS))), "bias": draw(st.booleans()),
            "per_channel": draw(st.booleans()),
            "in_q": (float(np.float32(2.0 ** draw(st.floats(-9, 0)))), draw(st.integers(-128, 127))),
            "out_q": (float(np.float32(2.0 ** draw(st.floats(-7, 2)))), draw(st.integers(-128, 127))),
            "seed": draw(st.integers(0, 2**16))}


@settings(max_examples=250, deadline=None)
@given(cfg=configs())
def test_reference_matches_tflite_micro(cfg: dict[str, Any]) -> None:
    data = single_op_model(**cfg)
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops] == ["transpose_conv"]
    for x in random_int8(cfg["x_shape"], 2, cfg["seed"]):
        want = tflm_run(data, [x])[graph.outputs[0]]
        np.testing.assert_array_equal(reference.run(graph, [x])[graph.outputs[0]], want)


@pytest.fixture(scope="module")
def keras_model() -> Any:
    """Conv2DTranspose layers: 'same' stride 2 with ReLU, 'valid' with output_padding, no bias with ReLU6, a
    BatchNormalization after one (folded by tinygen's quantizer); random biases."""
    keras = pytest.importorskip("keras")
    L = keras.layers
    keras.utils.set_random_seed(4)
    inputs = keras.Input((5, 6, 3), batch_size=1)
    y = L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(inputs)
    y = L.Conv2DTranspose(5, (2, 3), strides=(1, 2), padding="valid", output_padding=(0, 1))(y)
    y = L.BatchNormalization()(y)
    y = L.Conv2DTranspose(3, 4, strides=2, padding="valid", use_bias=False, activation="relu6")(y)
    model = keras.Model(inputs, y)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, L.Conv2DTranspose) and len(weights) == 2:
            layer.set_weights([weights[0], rng.normal(0.0, 0.3, weights[1].shape).astype(np.float32)])
        if isinstance(layer, L.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in weights])
    return model


def _calibration(count: int = 64) -> np.ndarray:
    return np.random.default_rng(1).normal(0.0, 1.0, (count, 5, 6, 3)).astype(np.float32)


def test_converter_model_matches_tflite_micro(keras_model: Any) -> None:
    from tinygen.tfconvert import keras_to_int8_tflite

    data = keras_to_int8_tflite(keras_model, _calibration())
    graph = import_tflite(data)
    tconvs = [op for op in graph.ops if op.kind == "transpose_conv"]
    assert [op.attrs["output_size"] for op in tconvs] == [(10, 12), (11, 26), (24, 54)]
    for x in random_int8(graph.tensors[graph.inputs[0]].shape, 3, seed=2):
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for op in graph.ops:
            np.testing.assert_array_equal(got[op.outputs[0]], want[op.outputs[0]], err_msg=f"{op.kind} {op.name}")


# --------------------------------------------------------------------------- generated C


#: (name, model kwargs): channel counts on and off the DSP step of four, 'same'/'valid', strides above the
#: kernel (output pixels no tap reaches), the general requantization mode (a real multiplier above 1/4: right
#: shift below 2), fused activations
CASES = {
    "same_s2": {"x_shape": (1, 4, 5, 8), "out_hw": (8, 10), "out_c": 5, "kernel": (3, 3), "stride": (2, 2),
                "padding": "same", "act": "relu"},
    "valid_gaps": {"x_shape": (2, 3, 2, 3), "out_hw": (11, 8), "out_c": 4, "kernel": (2, 3), "stride": (4, 3),
                   "padding": "valid", "act": "relu6", "bias": False},
    "general_rq": {"x_shape": (1, 3, 3, 6), "out_hw": (5, 6), "out_c": 3, "kernel": (3, 2), "stride": (2, 2),
                   "padding": "same", "per_channel": False, "w_scale": (0.3, 0.6), "out_q": (0.05, 7),
                   "act": "relu_n1_to_1"},
    # in_c % 4 == 0 (straight into the column block), blocks of a phase spanning two output rows (odd phase
    # widths), batches, an odd out_c, sub-kernels of 2 x 2 taps
    "grouped_k4_batch2": {"x_shape": (2, 3, 5, 8), "out_hw": (6, 10), "out_c": 7, "kernel": (4, 4),
                          "stride": (2, 2), "padding": "same", "in_q": (0.05, -128)},
    # stride 1 (one phase: an ordinary convolution with the flipped filter), depth 3 * 3 * 5 (staged, tail)
    "stride1": {"x_shape": (1, 4, 3, 5), "out_hw": (4, 3), "out_c": 6, "kernel": (3, 3), "stride": (1, 1),
                "padding": "same", "in_q": (0.05, 127)},
    # one tap per phase (stride = filter), asymmetric strides, 'valid' with output padding, depth 16
    "stride_eq_kernel": {"x_shape": (1, 2, 3, 16), "out_hw": (6, 7), "out_c": 9, "kernel": (3, 2),
                         "stride": (3, 2), "padding": "valid", "act": "relu"},
}


def _vectors(graph: Any, seed: int) -> np.ndarray:
    shape = graph.tensors[graph.inputs[0]].shape
    return np.stack([np.full(shape, -128, np.int8), np.full(shape, 127, np.int8), *random_int8(shape, 3, seed)])


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_c_equals_reference(tmp_path: Path, name: str) -> None:
    """Portable C (gcc/clang, sanitizers) and the DSP path (SMLAD, emulated on the host), both roundings."""
    graph = import_tflite(single_op_model(**CASES[name]), name=name)
    vectors = _vectors(graph, seed=len(name))
    for rounding in ("double", "single"):
        manifest = opcheck.check_c(graph, tmp_path / rounding, vectors, rounding, dsp_emulate=True)
        layers = [(layer["kernel"], layer["in_place"]) for layer in manifest["layers"]]
        assert layers == [("tg_transpose_conv_s8", None)]


@settings(max_examples=40, deadline=None)
@given(cfg=configs())
def test_phase_convolutions_equal_the_scatter(cfg: dict[str, Any]) -> None:
    """The kernels' decomposition in numpy: per phase (ry, rx) an ordinary convolution of the input (pads: 0
    after the offset) with the flipped sub-kernel of :func:`transpose_conv.phases` gives the scatter's sums."""
    graph = import_tflite(single_op_model(**cfg))
    op = graph.ops[0]
    p = qparams.op_params(graph, op)
    w = np.asarray(graph.tensor(op.inputs[1]).data, np.int64)
    x = random_int8(cfg["x_shape"], 1, cfg["seed"])[0].astype(np.int64) + p.input_offset
    (sh, sw), (oh, ow) = cfg["stride"], cfg["out_hw"]
    want = transpose_conv.scatter(x, w, (sh, sw), (p.pad_top, p.pad_left), (oh, ow))
    got = np.full(want.shape, np.nan)
    subs = iter(transpose_conv.phases(w, (sh, sw)))
    n, h, wd, _ = x.shape
    for ry in range(sh):
        for rx in range(sw):
            sub = next(subs)
            ny, nx = sub.shape[1:3]
            for oy in range((ry - p.pad_top) % sh, oh, sh):
                for ox in range((rx - p.pad_left) % sw, ow, sw):
                    y0, x0 = (oy + p.pad_top - ry) // sh - ny + 1, (ox + p.pad_left - rx) // sw - nx + 1
                    window = np.zeros((n, ny, nx, x.shape[3]), np.int64)
                    for m in range(ny):
                        for k in range(nx):
                            if 0 <= y0 + m < h and 0 <= x0 + k < wd:
                                window[:, m, k] = x[:, y0 + m, x0 + k]
                    got[:, oy, ox] = np.einsum("nyxi,cyxi->nc", window, sub)
    np.testing.assert_array_equal(got, want)


def test_general_requantization_mode_is_used() -> None:
    from tinygen.lowering.mac_common import RQ_GENERAL, rq_values

    graph = import_tflite(single_op_model(**CASES["general_rq"]))
    op = graph.ops[0]
    assert rq_values(op, qparams.op_params(graph, op), 3)[1] == RQ_GENERAL


@pytest.mark.parametrize(("name", "rounding"), [(name, "double") for name in sorted(CASES)]
                         + [("same_s2", "single"), ("general_rq", "single")])
def test_mve_kernel_equals_reference(tmp_path: Path, name: str, rounding: str) -> None:
    """tg_transpose_conv_mve_s8 with tg_mve_s8.h's C stand-ins for the intrinsics (gcc with ASan/UBSan, clang)."""
    from test_mve import BOTH, check_mve

    graph = import_tflite(single_op_model(**CASES[name]), name=name)
    lib = check_mve(graph, tmp_path, rounding, vectors=3, seed=len(name),
                    compilers=BOTH if rounding == "double" else BOTH[:1])
    assert [layer["kernel"] for layer in lib.manifest["layers"]] == ["tg_transpose_conv_mve_s8"]


@pytest.mark.skipif(not __import__("shutil").which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc is not installed")
def test_mve_kernel_cross_compiles_for_m55(tmp_path: Path) -> None:
    import subprocess

    for single in (0, 1):
        cmd = ["arm-none-eabi-gcc", "-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", *hostbuild.WARNINGS,
               "-Wconversion", "-Wsign-conversion", "-O2", f"-DTG_SINGLE_ROUNDING={single}", f"-I{opcheck.KERNELS}",
               "-S", str(opcheck.KERNELS / "tg_transpose_conv_mve_s8.c"), "-o", str(tmp_path / "k.s")]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stderr
        assert "vmladava.s8" in (tmp_path / "k.s").read_text()


@pytest.mark.emulator
@pytest.mark.parametrize("board", [*opcheck.QEMU_BOARDS, "mps3_an547"])
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    """Cortex-M3 (portable C), M7 (DSP) and M55 (Helium) against the reference and TFLite Micro: stride 2 'same'
    (odd out_c) and the phases no tap reaches ('valid', stride above the filter)."""
    kernel = "tg_transpose_conv_mve_s8" if board == "mps3_an547" else "tg_transpose_conv_s8"
    for name in ("same_s2", "valid_gaps", "grouped_k4_batch2"):
        model = tmp_path / f"{name}.tflite"
        model.write_bytes(single_op_model(**CASES[name]))
        size = int(np.prod(CASES[name]["x_shape"]))
        print(opcheck.check_qemu(model, board, tmp_path / name, np.full((1, size), 127, np.int8), [kernel]))


# --------------------------------------------------------------------------- Keras flow


#: what the other Keras tests require of one int8 layer (tests/test_quantizer.py SQNR_DB)
SQNR_DB = 30.0


def test_keras_conv2d_transpose_tracks_the_float_model(keras_model: Any) -> None:
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db

    calibration = _calibration()
    graph = tg.quantize(keras_model, calibration)
    # the BatchNormalization folds into the second layer, the ReLUs fuse
    assert [(op.kind, op.activation) for op in graph.ops] == [
        ("transpose_conv", "relu"), ("transpose_conv", "none"), ("transpose_conv", "relu6")]
    test = calibration[:16]
    expected = np.asarray(keras_model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    print(f"int8 vs float SQNR {sqnr:.1f} dB")
    assert sqnr >= SQNR_DB, f"SQNR {sqnr:.1f} dB < {SQNR_DB} dB"
    theirs = tg.quantize(keras_model, calibration, quantizer="tflite")
    assert [op.attrs["output_size"] for op in theirs.ops if op.kind == "transpose_conv"] == [
        op.attrs["output_size"] for op in graph.ops]


@pytest.mark.parametrize(("kernel", "strides", "padding", "output_padding"), [
    (3, 2, "same", None), ((2, 3), (1, 2), "valid", (0, 1)), (4, 3, "same", 2), (1, 3, "valid", None)])
def test_float_reference_equals_keras(kernel: Any, strides: Any, padding: str, output_padding: Any) -> None:
    keras = pytest.importorskip("keras")
    from tinygen.ir import Op

    layer = keras.layers.Conv2DTranspose(4, kernel, strides=strides, padding=padding, output_padding=output_padding)
    x = _calibration(3)
    layer.build(x.shape)
    kernel_w, bias = layer.get_weights()
    bias = np.random.default_rng(0).normal(size=bias.shape).astype(np.float32)
    layer.set_weights([kernel_w, bias])
    want = np.asarray(layer(x))
    s = layer.strides
    op = Op("transpose_conv", "t", ["x", "w", "b"], ["y"], {"stride": s, "padding": padding,
                                                            "output_size": want.shape[1:3]})
    got = transpose_conv.float_reference(op, [x, kernel_w.transpose(2, 0, 1, 3), bias])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_dilated_keras_layer_is_refused() -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg

    inputs = keras.Input((4, 4, 2), batch_size=1)
    model = keras.Model(inputs, keras.layers.Conv2DTranspose(3, 3, dilation_rate=2)(inputs))
    with pytest.raises(UnsupportedError, match=r"dilation_rate=\(2, 2\) is not supported"):
        tg.quantize(model, _calibration(8)[:, :4, :4, :2])


def test_qat_prepare_reproduces_post_training_quantization() -> None:
    """QAT (the hook runs tf.nn.conv2d_transpose): convert(prepare(model)) is the post-training graph."""
    keras = pytest.importorskip("keras")
    from tinygen import qat
    from tinygen.api import quantize
    from tinygen.quantize.report import sqnr_db

    L = keras.layers
    keras.utils.set_random_seed(9)
    inputs = keras.Input((5, 6, 3), batch_size=1)
    y = L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(inputs)
    model = keras.Model(inputs, L.Conv2DTranspose(3, (2, 3), strides=(1, 2), output_padding=(0, 1))(y))
    calibration = _calibration(32)
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    def ops(g: Any) -> list[Any]:
        return [(op.kind, op.inputs, op.outputs) for op in g.ops]

    assert ops(graph) == ops(ptq)
    for name, t in ptq.tensors.items():
        if t.quant is not None:
            np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
            np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
        if t.is_const:
            np.testing.assert_array_equal(graph.tensors[name].data, t.data, err_msg=name)
    expected = np.asarray(model.predict(calibration[:8], verbose=0), np.float64)
    got = np.asarray(prepared.predict(calibration[:8], verbose=0), np.float64)
    assert sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2))) >= SQNR_DB


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "transpose_conv.tflite"
    model.write_bytes(single_op_model(**CASES["valid_gaps"]))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    layers = [(layer["op"], layer["kernel"]) for layer in manifest["layers"]]
    assert layers == [("transpose_conv", "tg_transpose_conv_s8")]
    graph = import_tflite(model)
    vectors = _vectors(graph, seed=3)
    got, _ = hostbuild.run(hostbuild.build(out, manifest, tmp_path / "build"), vectors.reshape(len(vectors), -1))
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x])[graph.outputs[0]].reshape(-1))
