"""tinygen.reference (and tinygen.qparams): hand-checked single-op cases, error paths, and bit-exact
comparison with TFLite Micro's interpreter on every tensor of converter-built and real models."""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from filelock import FileLock

from tinygen import qparams, reference
from tinygen.ops import add as add_op, mean as mean_op
from tinygen.ops.conv_common import ConvParams
from tinygen.ops.fully_connected import FullyConnectedParams
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op, Quantization, Tensor

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

CACHE = TESTS / ".cache" / "reference_ops"


# --------------------------------------------------------------------------- IR helpers


def _t(name: str, shape: tuple[int, ...], scale: Any = 1.0, zp: Any = 0, dtype: str = "int8",
       data: Any = None, axis: int | None = None) -> Tensor:
    quant = None if scale is None else Quantization(np.atleast_1d(scale), np.atleast_1d(zp), axis)
    arr = None if data is None else np.asarray(data).reshape(shape)
    return Tensor(name, shape, dtype, quant, arr)


def _graph(kind: str, inputs: list[Tensor], output: Tensor, **attrs: Any) -> Graph:
    g = Graph("t")
    for t in inputs + [output]:
        g.add_tensor(t)
    g.inputs = [t.name for t in inputs if not t.is_const]
    g.outputs = [output.name]
    g.add_op(Op(kind, "op", [t.name for t in inputs], [output.name], dict(attrs)))
    g.validate()
    return g


def _run1(g: Graph, *arrays: Any, rounding: str = "double") -> np.ndarray:
    ins = [np.asarray(a, dtype=g.tensor(n).dtype).reshape(g.tensor(n).shape) for a, n in zip(arrays, g.inputs)]
    return reference.run(g, ins, rounding)[g.outputs[0]]


CONV = dict(stride=(1, 1), dilation=(1, 1), activation="none")
X33 = np.arange(1, 10).reshape(1, 3, 3, 1)  # zero point 1 makes it [[0,1,2],[3,4,5],[6,7,8]]
W22 = [1, 2, 3, 4]


def _conv_graph(padding: str, bias: list[int] | None = None, activation: str = "none") -> Graph:
    ins = [_t("x", (1, 3, 3, 1), 0.5, 1), _t("w", (1, 2, 2, 1), 0.5, 0, data=W22)]
    if bias is not None:
        ins.append(_t("b", (1,), 0.25, 0, dtype="int32", data=bias))
    out_hw = 2 if padding == "valid" else 3
    attrs = dict(CONV, activation=activation)
    # multiplier: 0.5 * 0.5 / 0.25 = 1 exactly
    return _graph("conv2d", ins, _t("y", (1, out_hw, out_hw, 1), 0.25, -2), padding=padding, **attrs)


# --------------------------------------------------------------------------- hand-checked ops


def test_conv2d_valid_by_hand() -> None:
    out = _run1(_conv_graph("valid"), X33)
    # [[0,1],[3,4]]·[[1,2],[3,4]] = 27, then 37, 57, 67; minus 2 for the output zero point
    assert out.reshape(2, 2).tolist() == [[25, 35], [55, 65]]


def test_conv2d_same_pads_with_the_input_zero_point() -> None:
    out = _run1(_conv_graph("same"), X33).reshape(3, 3)
    # SAME with a 2x2 filter pads one row/column after; padded taps contribute real 0.0
    assert out[2, 2] == 8 - 2  # only the top-left tap (x=8, w=1) is inside
    assert out[0, 2] == (2 * 1 + 5 * 3) - 2
    assert out[0, 0] == 25


def test_conv2d_bias_and_relu() -> None:
    g = _conv_graph("valid", bias=[-40], activation="relu")
    out = _run1(g, X33).reshape(2, 2)
    # 27 - 40 = -13 -> clamped at relu's floor, the output zero point -2; 37 - 40 - 2 = -5 -> -2
    assert out.tolist() == [[-2, -2], [15, 25]]
    p = qparams.op_params(g, g.ops[0])
    assert isinstance(p, ConvParams)
    assert (p.input_offset, p.output_offset, p.act_min, p.act_max) == (-1, -2, -2, 127)
    assert p.multiplier.tolist() == [1 << 30] and p.shift.tolist() == [1]


def test_conv2d_stride_dilation_padding_params() -> None:
    g = _graph("conv2d", [_t("x", (1, 10, 9, 2)), _t("w", (3, 3, 2, 2), data=np.ones(36))],
               _t("y", (1, 5, 5, 3)), stride=(2, 2), dilation=(1, 2), padding="same", activation="none")
    p = qparams.op_params(g, g.ops[0])
    assert isinstance(p, ConvParams)
    # weights OHWI [3 out, kh 3, kw 2, 2 in]. rows: total pad (5-1)*2+3-10 = 1 -> top 0;
    # cols: dilated width (2-1)*2+1 = 3, total (5-1)*2+3-9 = 2 -> left 1
    assert (p.pad_top, p.pad_left, p.stride_h, p.dilation_w) == (0, 1, 2, 2)
    out = _run1(g, np.ones((1, 10, 9, 2)))
    # output (0,0): rows 0..2 inside, cols -1 (pad) and 1 -> 3 taps x 2 channels
    # output (4,4): rows 8, 9 inside (10 is pad), cols 7 and 9 (pad) -> 2 taps x 2 channels
    assert out[0, 0, 0, 0] == 6 and out[0, 4, 4, 0] == 4


def test_depthwise_multiplier_2_by_hand() -> None:
    g = _graph("depthwise_conv2d", [_t("x", (1, 1, 1, 2)), _t("w", (1, 1, 1, 4), data=[1, 2, 3, -1])],
               _t("y", (1, 1, 1, 4)), stride=(1, 1), dilation=(1, 1), padding="valid", depth_multiplier=2,
               activation="none")
    # output channel c reads input channel c // 2
    assert _run1(g, [3, -4]).ravel().tolist() == [3, 6, -12, 4]


def test_depthwise_per_channel_scales() -> None:
    w = _t("w", (1, 1, 1, 2), scale=[0.5, 0.25], zp=[0, 0], data=[4, 4], axis=3)
    g = _graph("depthwise_conv2d", [_t("x", (1, 1, 1, 2)), w], _t("y", (1, 1, 1, 2)), stride=(1, 1),
               dilation=(1, 1), padding="valid", depth_multiplier=1, activation="none")
    assert _run1(g, [10, 10]).ravel().tolist() == [20, 10]


def test_fully_connected_per_channel_by_hand() -> None:
    w = _t("w", (2, 3), scale=[1.0, 0.5], zp=[0, 0], data=[[1, 0, -1], [2, 2, 2]], axis=0)
    b = _t("b", (2,), scale=[1.0, 0.5], zp=[0, 0], dtype="int32", data=[5, -4], axis=0)
    g = _graph("fully_connected", [_t("x", (1, 3), 1.0, -1), w, b], _t("y", (1, 2), 1.0, 3),
               activation="none", keep_num_dims=False)
    # x + 1 = [2, 3, 4]: (2 - 4 + 5) * 1 = 3; (18 - 4) * 0.5 = 7; plus the output zero point 3
    assert _run1(g, [1, 2, 3]).ravel().tolist() == [6, 10]
    p = qparams.op_params(g, g.ops[0])
    assert isinstance(p, FullyConnectedParams) and p.per_channel and p.shift.tolist() == [1, 0]


def test_fully_connected_single_vs_double_rounding() -> None:
    # real multiplier 0.09375: double rounding 5 * 0.75 -> 4, / 8 -> 0.5 -> 1; single: 0.46875 -> 0
    g = _graph("fully_connected", [_t("x", (1, 1)), _t("w", (1, 1), 0.09375, data=[1])], _t("y", (1, 1)),
               activation="none", keep_num_dims=False)
    assert _run1(g, [5]).item() == 1
    assert _run1(g, [5], rounding="single").item() == 0


def test_fully_connected_flattens_batches() -> None:
    g = _graph("fully_connected", [_t("x", (2, 1, 2)), _t("w", (1, 2), data=[1, -1])], _t("y", (2, 1)),
               activation="none", keep_num_dims=False)
    assert _run1(g, [[[7, 2]], [[-3, 4]]]).ravel().tolist() == [5, -7]


def test_add_by_hand_with_rounding_ties() -> None:
    g = _graph("add", [_t("a", (4,), 0.5), _t("b", (4,), 0.5)], _t("y", (4,), 1.0), activation="none")
    # (3+1)/2 = 2, (-3-1)/2 = -2, 0.5 -> 1 and -0.5 -> -1 (ties away from zero)
    assert _run1(g, [3, -3, 1, -1], [1, -1, 0, 0]).tolist() == [2, -2, 1, -1]
    p = qparams.op_params(g, g.ops[0])
    assert isinstance(p, add_op.AddParams)
    assert (p.left_shift, p.input1_multiplier, p.input1_shift, p.output_shift) == (20, 1 << 30, 0, -19)


def test_add_broadcast_and_zero_points() -> None:
    g = _graph("add", [_t("a", (1, 2, 2, 2), 1.0, 3), _t("b", (1, 1, 1, 2), 1.0, -1)], _t("y", (1, 2, 2, 2), 1.0, 0),
               activation="relu")
    a = np.arange(8).reshape(1, 2, 2, 2)
    out = _run1(g, a, [[[[1, -11]]]])
    want = np.maximum((a - 3) + (np.array([1, -11]) + 1), 0)
    assert out.tolist() == want.tolist()


def test_mul_by_hand_and_broadcast() -> None:
    g = _graph("mul", [_t("a", (2, 2), 0.5, 1), _t("b", (1, 2), 0.25, 0)], _t("y", (2, 2), 0.125, 0),
               activation="none")
    # multiplier 0.5 * 0.25 / 0.125 = 1: (a - 1) * b
    assert _run1(g, [[3, -1], [1, 5]], [[4, -2]]).tolist() == [[8, 4], [0, -8]]


def test_avg_pool_rounds_half_away_from_zero() -> None:
    g = _graph("avg_pool2d", [_t("x", (1, 2, 2, 1))], _t("y", (1, 2, 1, 1)), filter=(1, 2), stride=(1, 2),
               padding="valid", activation="none")
    assert _run1(g, [[1, 2], [-1, -2]]).ravel().tolist() == [2, -2]


def test_avg_pool_same_counts_only_real_pixels() -> None:
    g = _graph("avg_pool2d", [_t("x", (1, 2, 2, 1))], _t("y", (1, 2, 2, 1)), filter=(3, 3), stride=(1, 1),
               padding="same", activation="none")
    # every window holds the 4 pixels: (11 + 2) / 4 = 3 (padding never counts)
    assert _run1(g, [[1, 2], [3, 5]]).ravel().tolist() == [3, 3, 3, 3]


def test_max_pool_same_ignores_padding() -> None:
    g = _graph("max_pool2d", [_t("x", (1, 2, 2, 1), 1.0, 5)], _t("y", (1, 2, 2, 1), 1.0, 5), filter=(3, 3),
               stride=(1, 1), padding="same", activation="relu")
    # all negative: padding (real 0 would be 5) must not win; relu clamps at the zero point 5
    assert _run1(g, [[-100, -50], [-20, -128]]).ravel().tolist() == [5, 5, 5, 5]
    g2 = _graph("max_pool2d", [_t("x", (1, 2, 2, 1))], _t("y", (1, 2, 2, 1)), filter=(3, 3), stride=(1, 1),
                padding="same", activation="none")
    assert _run1(g2, [[-100, -50], [-20, -128]]).ravel().tolist() == [-20] * 4


def test_mean_with_equal_quantization_still_requantizes() -> None:
    g = _graph("mean", [_t("x", (1, 2, 2, 1), 0.1, 4)], _t("y", (1, 1, 1, 1), 0.1, 4), axes=(1, 2), keep_dims=True)
    p = qparams.op_params(g, g.ops[0])
    assert isinstance(p, mean_op.MeanParams) and not p.same_quantization
    assert (p.multiplier, p.shift) == (1 << 30, -1)  # 1.0 = (2^30, 1), then / 4 folded in as 2^-2
    # sum - 4 * zp = -19: x 0.5 -> -9.5 -> -9 (high multiply), / 2 -> -4.5 -> -5, + 4 = -1 (a plain
    # truncating sum / n would give 0)
    assert _run1(g, [[-1, -2], [0, 0]]).item() == -1
    assert _run1(g, [[-9, -2], [0, 0]]).item() == -3  # -27 -> -13 -> -7 + 4


def test_mean_requantizing_folds_one_over_n() -> None:
    g = _graph("mean", [_t("x", (1, 2, 2, 1), 1.0, 0)], _t("y", (1, 1), 0.5, 0), axes=(1, 2), keep_dims=False)
    p = qparams.op_params(g, g.ops[0])
    assert isinstance(p, mean_op.MeanParams) and not p.same_quantization
    # base (2^30, 2) for 2.0; n = 4 folds in as 2^2: (2^30 << 2) // 4 = 2^30, shift 2 - 2 = 0
    assert (p.num_elements, p.multiplier, p.shift) == (4, 1 << 30, 0)
    # sum -3 * 0.5 = -1.5: the doubling high multiply rounds negative ties toward zero -> -1
    assert _run1(g, [[-1, -2], [0, 0]]).item() == -1
    assert _run1(g, [[10, 20], [30, 40]]).item() == 50


def test_mean_over_one_negative_axis() -> None:
    g = _graph("mean", [_t("x", (1, 2, 3), 1.0, 0)], _t("y", (1, 2), 0.5, 0), axes=(-1,), keep_dims=False)
    assert _run1(g, [[1, 2, 3], [-3, -3, -4]]).ravel().tolist() == [4, -7]  # 2 / 0.5; -10/3/0.5 = -6.67


def test_softmax_by_hand() -> None:
    g = _graph("softmax", [_t("x", (3, 4), 0.1, 0)], _t("y", (3, 4), 1 / 256, -128), beta=1.0)
    out = _run1(g, [[5, 5, 5, 5], [9, 9, -128, -128], [127, -128, -128, -128]])
    assert out[0].tolist() == [-64] * 4  # 1/4 each
    assert out[1].tolist() == [0, 0, -128, -128]  # 1/2 each; exp(-13.7) ~ 1e-6 rounds to nothing
    assert out[2].tolist() == [127, -128, -128, -128]


def test_relu_requantizes() -> None:
    g = _graph("relu", [_t("x", (4,), 1.0, 0)], _t("y", (4,), 0.5, -128))
    assert _run1(g, [-5, 0, 3, 100]).tolist() == [-128, -128, -122, 72]


def test_relu6_clamps_in_input_units() -> None:
    g = _graph("relu6", [_t("x", (6,), 0.1, -10)], _t("y", (6,), 0.1, -10))
    # zero = -10, six = round(6 / 0.1) - 10 = 50
    assert _run1(g, [-128, -10, 0, 50, 51, 127]).tolist() == [-10, -10, 0, 50, 50, 50]


def test_quantize_float_to_int8_rounds_half_away() -> None:
    g = _graph("quantize", [_t("x", (6,), None, dtype="float32")], _t("y", (6,), 0.5, 1))
    out = _run1(g, np.array([0.25, -0.25, 0.75, 1000.0, -1000.0, -0.74], dtype=np.float32))
    assert out.tolist() == [2, 0, 3, 127, -128, 0]


def test_quantize_int8_requantize() -> None:
    g = _graph("quantize", [_t("x", (4,), 1.0, 0)], _t("y", (4,), 2.0, 5))
    # x / 2 with ties: 0.5 -> 1, -0.5 -> 0 (toward zero in the high multiply), 1.5 -> 2, 2 -> 2
    assert _run1(g, [1, -1, 3, 4]).tolist() == [6, 5, 7, 7]


def test_dequantize() -> None:
    g = _graph("dequantize", [_t("x", (3,), 0.5, 1)], _t("y", (3,), None, dtype="float32"))
    out = _run1(g, [1, 3, -128])
    assert out.dtype == np.float32 and out.tolist() == [0.0, 1.0, -64.5]


def test_pad_uses_output_zero_point() -> None:
    g = _graph("pad", [_t("x", (1, 1, 2, 1), 1.0, -3)], _t("y", (1, 2, 3, 1), 1.0, -3),
               paddings=((0, 0), (1, 0), (0, 1), (0, 0)))
    assert _run1(g, [[7, 8]]).reshape(2, 3).tolist() == [[-3, -3, -3], [7, 8, -3]]


def test_concatenation_and_reshape() -> None:
    g = _graph("concatenation", [_t("a", (1, 2, 1)), _t("b", (1, 2, 2))], _t("y", (1, 2, 3)), axis=-1,
               activation="none")
    assert _run1(g, [[[1], [2]]], [[[3, 4], [5, 6]]]).tolist() == [[[1, 3, 4], [2, 5, 6]]]
    r = _graph("reshape", [_t("a", (1, 2, 3))], _t("y", (1, 6)))
    assert _run1(r, np.arange(6)).tolist() == [[0, 1, 2, 3, 4, 5]]


def test_run_returns_every_tensor_and_accepts_a_single_array() -> None:
    g = Graph("two")
    for t in (_t("x", (1, 4)), _t("w", (2, 4), data=np.ones(8)), _t("h", (1, 2)), _t("y", (1, 2), 1 / 256, -128)):
        g.add_tensor(t)
    g.inputs, g.outputs = ["x"], ["y"]
    g.add_op(Op("fully_connected", "fc", ["x", "w"], ["h"], {"activation": "none", "keep_num_dims": False}))
    g.add_op(Op("softmax", "sm", ["h"], ["y"], {"beta": 1.0}))
    out = reference.run(g, np.array([[1, 2, 3, 4]], dtype=np.int8))
    assert set(out) == {"x", "h", "y"}
    assert out["h"].tolist() == [[10, 10]] and out["y"].tolist() == [[0, 0]]
    by_name = reference.run(g, {"x": np.array([[1, 2, 3, 4]], dtype=np.int8)})
    assert all(np.array_equal(by_name[k], out[k]) for k in out)
    with pytest.raises(TinygenError, match="missing"):
        reference.run(g, {"input": np.zeros((1, 4), np.int8)})


# --------------------------------------------------------------------------- error paths


def test_unknown_op_kind_is_a_clean_error() -> None:
    g = Graph("bad")
    g.add_tensor(_t("x", (2,)))
    g.add_tensor(_t("y", (2,)))
    g.inputs, g.outputs = ["x"], ["y"]
    g.add_op(Op("no_such_op", "t", ["x"], ["y"], {}))
    with pytest.raises(TinygenError, match="unknown op kind"):
        reference.run(g, np.zeros(2, np.int8))


def test_missing_attribute_and_runtime_weights_are_clean_errors() -> None:
    g = _conv_graph("valid")
    del g.ops[0].attrs["stride"]
    with pytest.raises(TinygenError, match="stride"):
        reference.run(g, np.zeros((1, 3, 3, 1), np.int8))
    g = Graph("w")
    for t in (_t("x", (1, 2)), _t("w", (1, 2)), _t("y", (1, 1))):
        g.add_tensor(t)
    g.inputs, g.outputs = ["x", "w"], ["y"]
    g.add_op(Op("fully_connected", "fc", ["x", "w"], ["y"], {"activation": "none", "keep_num_dims": False}))
    with pytest.raises(UnsupportedError, match="constant weights"):
        reference.run(g, [np.zeros((1, 2), np.int8), np.zeros((1, 2), np.int8)])


@pytest.mark.parametrize("bad", [0.0, -0.5, float("nan"), float("inf")])
def test_bad_scales_are_clean_errors(bad: float) -> None:
    g = _graph("relu", [_t("x", (2,))], _t("y", (2,), bad))
    with pytest.raises(TinygenError, match="finite and positive"):
        reference.run(g, np.zeros(2, np.int8))
    w = _t("w", (1, 2), [0.5], data=[1, 1])
    w.quant.scale[0] = bad  # type: ignore[union-attr]
    fc = _graph("fully_connected", [_t("x", (1, 2)), w], _t("y", (1, 1)), activation="none", keep_num_dims=False)
    with pytest.raises(TinygenError, match="finite and positive"):
        qparams.op_params(fc, fc.ops[0])


def test_int16_activation_is_a_clean_error() -> None:
    with pytest.raises(UnsupportedError, match="elu op 'op': tensor 'x' is int16 .* this op runs on int8 only"):
        g = _graph("elu", [_t("x", (2,), dtype="int16")], _t("y", (2,), dtype="int16"))  # tinygen has no int16 ELU
        reference.run(g, np.zeros(2, np.int16))


def test_missing_quantization_is_a_clean_error() -> None:
    g = _graph("relu", [_t("x", (2,), None)], _t("y", (2,)))
    with pytest.raises(UnsupportedError, match="no quantization"):
        reference.run(g, np.zeros(2, np.int8))


def test_concatenation_with_different_scales_is_refused() -> None:
    g = _graph("concatenation", [_t("a", (1, 2), 0.5), _t("b", (1, 2), 0.25)], _t("y", (1, 4), 0.5), axis=1,
               activation="none")
    with pytest.raises(TinygenError, match="equal quantization"):
        qparams.op_params(g, g.ops[0])


def test_fully_connected_bias_scale_is_checked_like_tflite_micro() -> None:
    def fc(bias_scale: float) -> Graph:
        return _graph("fully_connected", [_t("x", (1, 4), 0.01), _t("w", (2, 4), 0.02, data=np.ones(8)),
                                          _t("b", (2,), bias_scale, dtype="int32", data=[100, -100])],
                      _t("y", (1, 2), 0.001), activation="none", keep_num_dims=False)

    good = fc(0.01 * 0.02)
    # multiplier 0.01 * 0.02 / 0.001 = 0.2: (4 + 100) * 0.2 = 20.8 -> 21, (4 - 100) * 0.2 = -19.2 -> -19
    assert _run1(good, [1, 1, 1, 1]).ravel().tolist() == [21, -19]
    with pytest.raises(TinygenError, match="bias scale"):
        qparams.op_params(fc(0.5), fc(0.5).ops[0])


def test_softmax_output_quantization_is_checked() -> None:
    g = _graph("softmax", [_t("x", (1, 4), 0.1)], _t("y", (1, 4), 1 / 128, -128), beta=1.0)
    with pytest.raises(TinygenError, match="1/256"):
        reference.run(g, np.zeros((1, 4), np.int8))


def test_bad_inputs_are_clean_errors() -> None:
    g = _conv_graph("valid")
    with pytest.raises(TinygenError, match="expects"):
        reference.run(g, np.zeros((1, 4, 4, 1), np.int8))
    with pytest.raises(TinygenError, match="1 inputs"):
        reference.run(g, [np.zeros((1, 3, 3, 1), np.int8)] * 2)
    with pytest.raises(TinygenError, match="range"):
        reference.run(g, np.full((1, 3, 3, 1), 300))
    with pytest.raises(TinygenError, match="rounding"):
        reference.run(g, np.zeros((1, 3, 3, 1), np.int8), rounding="nearest")


def test_incompatible_broadcast_is_a_clean_error() -> None:
    g = Graph("b")
    for t in (_t("a", (2, 3)), _t("b", (2, 2)), _t("y", (2, 3))):
        g.add_tensor(t)
    g.inputs, g.outputs = ["a", "b"], ["y"]
    g.add_op(Op("add", "add", ["a", "b"], ["y"], {"activation": "none"}))
    with pytest.raises(UnsupportedError, match="broadcast"):
        reference.run(g, [np.zeros((2, 3), np.int8), np.zeros((2, 2), np.int8)])


# --------------------------------------------------------------------------- against TFLite Micro


def _random_inputs(graph: Graph, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = []
    for name in graph.inputs:
        t = graph.tensor(name)
        if t.dtype == "float32":
            arrays.append(rng.normal(0.0, 1.5, t.shape).astype(np.float32))
        else:
            arrays.append(rng.integers(-128, 128, t.shape).astype(np.int8))
    return arrays


def _assert_matches_tflm(model: bytes, seeds: tuple[int, ...] = (0, 1)) -> int:
    """Reference vs TFLite Micro on every tensor, for a few random inputs; returns the tensor count."""
    from tinygen.frontend.tflite import import_tflite
    from tinygen.oracle import tflm_run

    graph = import_tflite(model)
    for seed in seeds:
        inputs = _random_inputs(graph, seed)
        want = tflm_run(model, inputs)
        got = reference.run(graph, inputs)
        assert set(want) <= set(got), f"reference lacks tensors {sorted(set(want) - set(got))}"
        for name, value in want.items():
            ours = got[name].reshape(value.shape)
            if not np.array_equal(ours, value):
                diff = np.abs(ours.astype(np.float64) - value.astype(np.float64))
                producer = [op.kind for op in graph.ops if name in op.outputs]
                pytest.fail(f"tensor {name!r} ({producer}) differs from TFLite Micro in {int((diff > 0).sum())} of "
                            f"{diff.size} values (max {diff.max()}) for input seed {seed}")
    return len(want)


def _corpus_names() -> tuple[str, ...]:
    from corpus import CORPUS_NAMES

    return CORPUS_NAMES


@pytest.mark.parametrize("name", _corpus_names())
def test_corpus_model_matches_tflite_micro(name: str) -> None:
    from corpus import corpus_model

    assert _assert_matches_tflm(corpus_model(name)) >= 2


SHARED_INT8 = ("mlperf_kws_dscnn_int8", "mlperf_ic_resnet8_int8", "mlperf_ad01_int8", "person_detect",
               "micro_speech_quantized", "hello_world_int8")


@pytest.mark.parametrize("name", SHARED_INT8)
def test_real_model_matches_tflite_micro(name: str, shared_models: Path) -> None:
    assert _assert_matches_tflm((shared_models / f"{name}.tflite").read_bytes(), seeds=(0, 1, 2)) >= 2


def test_real_mlperf_inputs_match_tflite_micro(shared_models: Path) -> None:
    from tinygen.frontend.tflite import import_tflite
    from tinygen.oracle import tflm_run

    cases = [("mlperf_kws_dscnn_int8", np.load(shared_models / "mlperf_kws_inputs_int8.npy")[0]),
             ("mlperf_ic_resnet8_int8", (np.load(shared_models / "mlperf_ic_inputs_uint8.npy")[0].astype(np.int16) - 128))]
    for name, x in cases:
        model = (shared_models / f"{name}.tflite").read_bytes()
        graph = import_tflite(model)
        x = x.astype(np.int8).reshape(graph.tensor(graph.inputs[0]).shape)
        want = tflm_run(model, [x])
        got = reference.run(graph, x)
        out = graph.outputs[0]
        assert np.array_equal(got[out].reshape(want[out].shape), want[out])
        assert len(np.unique(want[out])) > 1  # a real input gives a non-degenerate output


def test_reference_is_fast_on_the_largest_mlperf_models() -> None:
    """ResNet-8 (12.5 M MACs) and MobileNet (7.5 M MACs) in well under a second of one core's CPU time
    (CPU time, single-threaded BLAS: wall time on a shared CI machine says little)."""
    from threadpoolctl import threadpool_limits

    from corpus import corpus_model
    from tinygen.frontend.tflite import import_tflite

    for name in ("ic_resnet8", "vww_mobilenet"):
        graph = import_tflite(corpus_model(name))
        inputs = _random_inputs(graph, 0)
        best = float("inf")
        with threadpool_limits(limits=1):
            for _ in range(3):
                start = time.process_time()
                reference.run(graph, inputs)
                best = min(best, time.process_time() - start)
        assert best < 1.0, f"{name} took {best:.2f} s of CPU time"


# Extra single-op models for what the shared corpus does not cover (per-tensor dense weights, MEAN
# variants, broadcasting ADD/MUL, softmax on a 4-D tensor, SAME pooling with large windows).


def _keras_layers() -> Any:
    import keras

    return keras.layers


def model_dense_per_tensor() -> tuple[Any, tuple[int, ...], bool]:
    L = _keras_layers()
    return (lambda x: L.Dense(9, activation="relu")(L.Dense(13)(x))), (17,), True


def model_mean_keepdims() -> tuple[Any, tuple[int, ...], bool]:
    L = _keras_layers()
    return (lambda x: L.GlobalAveragePooling2D(keepdims=True)(L.Conv2D(5, (3, 3))(x))), (7, 6, 3), False


def model_mean_large() -> tuple[Any, tuple[int, ...], bool]:
    L = _keras_layers()
    return (lambda x: L.GlobalAveragePooling2D()(x)), (12, 10, 3), False


def model_broadcast_add_mul() -> tuple[Any, tuple[int, ...], bool]:
    L = _keras_layers()

    def body(x: Any) -> Any:
        y = L.Conv2D(4, (3, 3), padding="same", activation="relu")(x)
        s = L.GlobalAveragePooling2D(keepdims=True)(y)
        return L.Add()([L.Multiply()([y, L.Conv2D(4, (1, 1), activation="relu")(s)]), L.Conv2D(4, (1, 1))(s)])

    return body, (6, 5, 3), False


def model_softmax_4d() -> tuple[Any, tuple[int, ...], bool]:
    L = _keras_layers()
    return (lambda x: L.Softmax(axis=-1)(L.Conv2D(6, (2, 2), padding="same")(x))), (4, 5, 2), False


def model_pool_same_large() -> tuple[Any, tuple[int, ...], bool]:
    L = _keras_layers()
    return (lambda x: L.MaxPooling2D((4, 4), strides=(3, 3), padding="same")(
        L.AveragePooling2D((5, 4), strides=(2, 3), padding="same")(x))), (9, 11, 3), False


EXTRA: dict[str, Callable[[], tuple[Any, tuple[int, ...], bool]]] = {
    f.__name__[len("model_"):]: f
    for f in (model_dense_per_tensor, model_mean_keepdims, model_mean_large, model_broadcast_add_mul,
              model_softmax_4d, model_pool_same_large)
}


def _convert(builder: Callable[[], tuple[Any, tuple[int, ...], bool]], name: str) -> bytes:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(40)
    body, shape, per_tensor = builder()
    inp = keras.Input(shape=shape, batch_size=1)
    model = keras.Model(inp, body(inp), name=name)
    samples = np.random.default_rng(41).normal(0.0, 1.0, (16, 1, *shape)).astype(np.float32)

    def dataset() -> Any:
        for s in samples:
            yield [s]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    if per_tensor:
        converter._experimental_disable_per_channel = True
    return bytes(converter.convert())


def _extra_model(name: str) -> bytes:
    """Build (once, cached by a hash of the builder source and TF version, file-locked) an extra model."""
    builder = EXTRA[name]
    digest = hashlib.sha256()
    for text in (inspect.getsource(builder), inspect.getsource(_convert), importlib.metadata.version("tensorflow-cpu")
                 if _has_dist("tensorflow-cpu") else importlib.metadata.version("tensorflow")):
        digest.update(text.encode() + b"\0")
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}-{digest.hexdigest()[:16]}.tflite"
    with FileLock(str(CACHE / f"{name}.lock")):
        if not path.exists():
            data = _convert(builder, name)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.rename(path)
    return path.read_bytes()


def _has_dist(name: str) -> bool:
    try:
        importlib.metadata.version(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_extra_single_op_model_matches_tflite_micro(name: str) -> None:
    assert _assert_matches_tflm(_extra_model(name), seeds=(0, 1, 2)) >= 2


# --------------------------------------------------------------------------- hand-made .tflite models
# TensorFlow's converter only produces the parameters calibration gives it. To test any scale, zero
# point, beta or shape against TFLite Micro, build single-op flatbuffers directly with the ``tflite``
# package's generated builders.

_FB_TYPES = {"float32": 0, "int32": 2, "uint8": 3, "int8": 9}


@dataclass
class FbTensor:
    name: str
    shape: tuple[int, ...]
    dtype: str = "int8"
    scale: Any = None
    zero_point: Any = None
    axis: int = 0
    data: np.ndarray | None = None


@dataclass
class FbOp:
    code: str  # BuiltinOperator name
    inputs: list[int]
    outputs: list[int]
    options: str | None = None  # BuiltinOptions name
    fields: dict[str, Any] = field(default_factory=dict)


def build_tflite(tensors: list[FbTensor], ops: list[FbOp], inputs: list[int], outputs: list[int]) -> bytes:
    import flatbuffers
    import tflite

    b = flatbuffers.Builder(1024)

    def vec_offsets(offsets: list[int]) -> int:
        b.StartVector(4, len(offsets), 4)
        for o in reversed(offsets):
            b.PrependUOffsetTRelative(o)
        return b.EndVector()

    buffers = [None] + [t.data for t in tensors if t.data is not None]
    buffer_index, k = [], 1
    for t in tensors:
        buffer_index.append(k if t.data is not None else 0)
        k += t.data is not None
    buf_offsets = []
    for data in buffers:
        vec = None if data is None else b.CreateNumpyVector(np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8))
        tflite.BufferStart(b)
        if vec is not None:
            tflite.BufferAddData(b, vec)
        buf_offsets.append(tflite.BufferEnd(b))
    t_offsets = []
    for t, bi in zip(tensors, buffer_index):
        name = b.CreateString(t.name)
        shape = b.CreateNumpyVector(np.array(t.shape, np.int32))
        q = None
        if t.scale is not None:
            sc = b.CreateNumpyVector(np.atleast_1d(np.asarray(t.scale, np.float32)))
            zp = b.CreateNumpyVector(np.atleast_1d(np.asarray(t.zero_point, np.int64)))
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, sc)
            tflite.QuantizationParametersAddZeroPoint(b, zp)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.axis)
            q = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, _FB_TYPES[t.dtype])
        tflite.TensorAddBuffer(b, bi)
        tflite.TensorAddName(b, name)
        if q is not None:
            tflite.TensorAddQuantization(b, q)
        t_offsets.append(tflite.TensorEnd(b))
    codes = sorted({op.code for op in ops})
    code_offsets = []
    for c in codes:
        value = getattr(tflite.BuiltinOperator, c)
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(value, 127))
        tflite.OperatorCodeAddBuiltinCode(b, value)
        tflite.OperatorCodeAddVersion(b, 1)
        code_offsets.append(tflite.OperatorCodeEnd(b))
    op_offsets = []
    for op in ops:
        opt = None
        if op.options is not None:
            getattr(tflite, op.options + "Start")(b)
            for fname, value in op.fields.items():
                getattr(tflite, op.options + "Add" + fname)(b, value)
            opt = getattr(tflite, op.options + "End")(b)
        ins = b.CreateNumpyVector(np.array(op.inputs, np.int32))
        outs = b.CreateNumpyVector(np.array(op.outputs, np.int32))
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, codes.index(op.code))
        tflite.OperatorAddInputs(b, ins)
        tflite.OperatorAddOutputs(b, outs)
        if opt is not None:
            tflite.OperatorAddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, op.options))
            tflite.OperatorAddBuiltinOptions(b, opt)
        op_offsets.append(tflite.OperatorEnd(b))
    tvec, ovec = vec_offsets(t_offsets), vec_offsets(op_offsets)
    ivec = b.CreateNumpyVector(np.array(inputs, np.int32))
    outvec = b.CreateNumpyVector(np.array(outputs, np.int32))
    sname = b.CreateString("main")
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tvec)
    tflite.SubGraphAddInputs(b, ivec)
    tflite.SubGraphAddOutputs(b, outvec)
    tflite.SubGraphAddOperators(b, ovec)
    tflite.SubGraphAddName(b, sname)
    sg = tflite.SubGraphEnd(b)
    sgvec, cvec, bvec = vec_offsets([sg]), vec_offsets(code_offsets), vec_offsets(buf_offsets)
    desc = b.CreateString("tinygen test")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, cvec)
    tflite.ModelAddSubgraphs(b, sgvec)
    tflite.ModelAddDescription(b, desc)
    tflite.ModelAddBuffers(b, bvec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


_ACT = {"none": 0, "relu": 1, "relu_n1_to_1": 2, "relu6": 3}


def _scale(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.float32(np.exp(rng.uniform(np.log(lo), np.log(hi)))))


def _zp(rng: np.random.Generator) -> int:
    return int(rng.integers(-128, 128))


def _act(rng: np.random.Generator) -> str:
    return "none" if rng.integers(0, 2) else str(rng.choice(list(_ACT)))


def _near(rng: np.random.Generator, real_std: float) -> float:
    """An output scale putting ``real_std`` at 10 to 100 steps: outputs spread, rarely saturate."""
    return float(np.float32(real_std / np.exp(rng.uniform(np.log(10.0), np.log(100.0)))))


def _rand_conv(rng: np.random.Generator, depthwise: bool) -> bytes:
    h, w, c = (int(v) for v in rng.integers(3, 9, 3))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    sh, sw, dh, dw = (int(v) for v in rng.integers(1, 3, 4))
    padding = int(rng.integers(0, 2))  # SAME, VALID
    mult = int(rng.integers(1, 3)) if depthwise else 1
    oc = c * mult if depthwise else int(rng.integers(1, 6))
    eff_h, eff_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == 0:
        oh, ow = -(-h // sh), -(-w // sw)
    else:
        h, w = max(h, eff_h), max(w, eff_w)
        oh, ow = (h - eff_h) // sh + 1, (w - eff_w) // sw + 1
    s_in = _scale(rng, 0.005, 0.5)
    s_w = np.array([_scale(rng, 1e-4, 0.05) for _ in range(oc)], np.float32)
    s_out = _near(rng, 74.0 * 74.0 * np.sqrt(kh * kw * (1 if depthwise else c)) * s_in * float(np.median(s_w)))
    wshape = (1, kh, kw, oc) if depthwise else (oc, kh, kw, c)
    weights = rng.integers(-127, 128, wshape).astype(np.int8)
    bias = rng.integers(-3000, 3000, oc).astype(np.int32)
    tensors = [
        FbTensor("x", (1, h, w, c), "int8", s_in, _zp(rng)),
        FbTensor("w", wshape, "int8", s_w, np.zeros(oc, np.int64), 3 if depthwise else 0, weights),
        FbTensor("b", (oc,), "int32", (np.float64(s_in) * s_w).astype(np.float32), np.zeros(oc, np.int64), 0, bias),
        FbTensor("y", (1, oh, ow, oc), "int8", s_out, _zp(rng)),
    ]
    fields = {"Padding": padding, "StrideW": sw, "StrideH": sh, "DilationWFactor": dw, "DilationHFactor": dh,
              "FusedActivationFunction": _ACT[_act(rng)]}
    if depthwise:
        fields["DepthMultiplier"] = mult
        op = FbOp("DEPTHWISE_CONV_2D", [0, 1, 2], [3], "DepthwiseConv2DOptions", fields)
    else:
        op = FbOp("CONV_2D", [0, 1, 2], [3], "Conv2DOptions", fields)
    return build_tflite(tensors, [op], [0], [3])


def _rand_fc(rng: np.random.Generator) -> bytes:
    batch, n_in, n_out = int(rng.integers(1, 4)), int(rng.integers(1, 40)), int(rng.integers(1, 12))
    s_in = _scale(rng, 0.005, 0.5)
    per_channel = bool(rng.integers(0, 2))
    s_w = np.array([_scale(rng, 1e-4, 0.05) for _ in range(n_out if per_channel else 1)], np.float32)
    tensors = [
        FbTensor("x", (batch, n_in), "int8", s_in, _zp(rng)),
        FbTensor("w", (n_out, n_in), "int8", s_w, np.zeros(s_w.size, np.int64), 0,
                 rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)),
        FbTensor("b", (n_out,), "int32", (np.float64(s_in) * s_w).astype(np.float32), np.zeros(s_w.size, np.int64), 0,
                 rng.integers(-3000, 3000, n_out).astype(np.int32)),
        FbTensor("y", (batch, n_out), "int8", _near(rng, 74.0 * 74.0 * np.sqrt(n_in) * s_in * float(np.median(s_w))),
                 _zp(rng)),
    ]
    op = FbOp("FULLY_CONNECTED", [0, 1, 2], [3], "FullyConnectedOptions", {"FusedActivationFunction": _ACT[_act(rng)]})
    return build_tflite(tensors, [op], [0], [3])


def _rand_binary(rng: np.random.Generator, code: str) -> bytes:
    shape = tuple(int(v) for v in rng.integers(1, 5, 4))
    other = tuple(d if rng.integers(0, 2) else 1 for d in shape)  # broadcast some dimensions
    s_a, s_b = _scale(rng, 0.01, 1.0), _scale(rng, 0.01, 1.0)
    s_y = _near(rng, 74.0 * (s_a + s_b) if code == "ADD" else 74.0 * 74.0 * s_a * s_b)
    # zero points near the middle, so values of both signs occur
    tensors = [FbTensor("a", shape, "int8", s_a, int(rng.integers(-30, 30))),
               FbTensor("b", other, "int8", s_b, int(rng.integers(-30, 30))),
               FbTensor("y", shape, "int8", s_y, _zp(rng))]
    options = "AddOptions" if code == "ADD" else "MulOptions"
    return build_tflite(tensors, [FbOp(code, [0, 1], [2], options, {"FusedActivationFunction": _ACT[_act(rng)]})],
                        [0, 1], [2])


def _rand_pool(rng: np.random.Generator, code: str) -> bytes:
    h, w, c = (int(v) for v in rng.integers(2, 9, 3))
    fh, fw, sh, sw = (int(v) for v in rng.integers(1, 4, 4))
    padding = int(rng.integers(0, 2))
    if padding == 0:
        oh, ow = -(-h // sh), -(-w // sw)
    else:
        h, w = max(h, fh), max(w, fw)
        oh, ow = (h - fh) // sh + 1, (w - fw) // sw + 1
    s, z = _scale(rng, 0.005, 0.05), int(rng.integers(-60, 60))
    tensors = [FbTensor("x", (1, h, w, c), "int8", s, z), FbTensor("y", (1, oh, ow, c), "int8", s, z)]
    fields = {"Padding": padding, "StrideW": sw, "StrideH": sh, "FilterWidth": fw, "FilterHeight": fh,
              "FusedActivationFunction": _ACT[_act(rng)]}
    return build_tflite(tensors, [FbOp(code, [0], [1], "Pool2DOptions", fields)], [0], [1])


def _rand_mean(rng: np.random.Generator) -> bytes:
    h, w, c = (int(v) for v in rng.integers(1, 13, 3))
    keep = bool(rng.integers(0, 2))
    s_in, z_in = _scale(rng, 0.01, 0.5), _zp(rng)
    s_out, z_out = (s_in, z_in) if rng.integers(0, 2) else (_scale(rng, s_in / 8, s_in / 2), _zp(rng) // 4)
    tensors = [FbTensor("x", (1, h, w, c), "int8", s_in, z_in),
               FbTensor("axes", (2,), "int32", data=np.array([1, 2], np.int32)),
               FbTensor("y", (1, 1, 1, c) if keep else (1, c), "int8", s_out, z_out)]
    return build_tflite(tensors, [FbOp("MEAN", [0, 1], [2], "ReducerOptions", {"KeepDims": keep})], [0], [2])


def _rand_unary(rng: np.random.Generator, code: str) -> bytes:
    shape = tuple(int(v) for v in rng.integers(1, 6, int(rng.integers(1, 5))))
    s_in, z_in = _scale(rng, 0.001, 2.0), _zp(rng)
    options: tuple[str | None, dict[str, Any]] = (None, {})
    if code == "SOFTMAX":
        out = FbTensor("y", shape, "int8", 1 / 256, -128)
        options = ("SoftmaxOptions", {"Beta": float(rng.choice([1.0, _scale(rng, 0.05, 20.0)]))})
    elif code == "RELU6":
        out = FbTensor("y", shape, "int8", s_in, z_in)
        s_in = _scale(rng, 0.03, 2.0)  # six must be representable: TFLite Micro checks it
    else:
        out = FbTensor("y", shape, "int8", _scale(rng, s_in / 4, s_in * 4), int(rng.integers(-40, 40)))
    tensors = [FbTensor("x", shape, "int8", s_in, z_in), out]
    if code == "RELU6":
        tensors[1] = FbTensor("y", shape, "int8", s_in, z_in)
    return build_tflite(tensors, [FbOp(code, [0], [1], *options)], [0], [1])


RANDOM_OPS: dict[str, Callable[[np.random.Generator], bytes]] = {
    "conv2d": lambda r: _rand_conv(r, False),
    "depthwise_conv2d": lambda r: _rand_conv(r, True),
    "fully_connected": _rand_fc,
    "add": lambda r: _rand_binary(r, "ADD"),
    "mul": lambda r: _rand_binary(r, "MUL"),
    "avg_pool2d": lambda r: _rand_pool(r, "AVERAGE_POOL_2D"),
    "max_pool2d": lambda r: _rand_pool(r, "MAX_POOL_2D"),
    "mean": _rand_mean,
    "softmax": lambda r: _rand_unary(r, "SOFTMAX"),
    "relu": lambda r: _rand_unary(r, "RELU"),
    "relu6": lambda r: _rand_unary(r, "RELU6"),
    "quantize_int8": lambda r: _rand_unary(r, "QUANTIZE"),
}


@pytest.mark.parametrize("kind", sorted(RANDOM_OPS))
def test_random_parameters_match_tflite_micro(kind: str) -> None:
    """Random shapes, scales, zero points, strides, paddings and activations, 12 models per op kind."""
    for seed in range(12):
        rng = np.random.default_rng([seed, sorted(RANDOM_OPS).index(kind)])
        model = RANDOM_OPS[kind](rng)
        from tinygen.frontend.tflite import import_tflite

        assert [op.kind for op in import_tflite(model).ops] == [kind.replace("_int8", "")]
        _assert_matches_tflm(model, seeds=(seed, seed + 100))


def test_float_quantize_and_dequantize_match_tflite_micro() -> None:
    """Ties (x / scale = k + 1/2), out-of-range, infinite and NaN inputs: exactly as TFLite Micro."""
    from tinygen.frontend.tflite import import_tflite
    from tinygen.oracle import tflm_run

    special = np.array([1e6, -1e6, 3e9, -3e9, np.inf, -np.inf, np.nan, -0.0], np.float32)
    for scale, zp in ((0.25, -3), (0.25, 100), (0.0123, 7), (0.0774193555, -20)):
        # values at and one float step around every half-way point (k + 1/2) * scale: there a float32
        # and a double division round differently
        ties = ((np.arange(-140, 141) + 0.5) * np.float32(scale)).astype(np.float32)
        x = np.concatenate([ties, np.nextafter(ties, np.float32(np.inf)), np.nextafter(ties, np.float32(-np.inf)),
                            np.arange(-140, 141) * np.float32(0.125), special]).astype(np.float32)
        n = x.size
        tensors = [FbTensor("x", (1, n), "float32"), FbTensor("q", (1, n), "int8", scale, zp),
                   FbTensor("y", (1, n), "float32")]
        model = build_tflite(tensors, [FbOp("QUANTIZE", [0], [1]), FbOp("DEQUANTIZE", [1], [2])], [0], [2])
        graph = import_tflite(model)
        want = tflm_run(model, [x.reshape(1, n)])
        got = reference.run(graph, x.reshape(1, n))
        assert np.array_equal(got["q"], want["q"]), f"scale {scale} zero point {zp}"
        assert got["y"].dtype == np.float32
        assert np.array_equal(got["y"].view(np.uint32), want["y"].view(np.uint32))  # bit-identical floats
    # the float32 division matters: with a double division this many values would round differently
    x = ((np.arange(-140, 141) + 0.5) * np.float32(0.0123)).astype(np.float32)
    in_double = np.floor(x.astype(np.float64) / float(np.float32(0.0123)) + 0.5)
    in_float = np.floor((x / np.float32(0.0123)).astype(np.float64) + 0.5)
    assert np.count_nonzero(in_double != in_float) > 10


def test_uint8_to_int8_quantize_matches_tflite_micro() -> None:
    from tinygen.oracle import tflm_run

    x = np.arange(256, dtype=np.uint8).reshape(1, 256)
    for (s_in, z_in), (s_out, z_out) in (((1.0, 128), (1.0, 0)), ((0.02, 100), (0.03, -7)), ((0.5, 0), (0.125, -128))):
        tensors = [FbTensor("x", (1, 256), "uint8", s_in, z_in), FbTensor("y", (1, 256), "int8", s_out, z_out)]
        model = build_tflite(tensors, [FbOp("QUANTIZE", [0], [1])], [0], [1])
        want = tflm_run(model, [x])["y"]
        # tinygen's importer refuses uint8 graph inputs; the same op built directly in the IR:
        graph = _graph("quantize", [_t("x", (1, 256), s_in, z_in, dtype="uint8")], _t("y", (1, 256), s_out, z_out))
        assert np.array_equal(reference.run(graph, x)["y"], want)
        assert len(np.unique(want)) > 10


def test_add_with_unrepresentable_scales_is_a_clean_error() -> None:
    g = _graph("add", [_t("a", (2,), 1.0), _t("b", (2,), 1.0)], _t("y", (2,), 1e-7), activation="none")
    with pytest.raises(TinygenError, match="output scale is far too small"):
        reference.run(g, [np.zeros(2, np.int8), np.zeros(2, np.int8)])


def test_fused_activation_range_divides_in_float32_like_tflite_micro() -> None:
    """6 / s is 77.4999993 in double but exactly 77.5 in float32: roundf gives 78, so relu6's top is
    -128 + 78 = -50 (double precision would clamp at -51)."""
    from tinygen.frontend.tflite import import_tflite
    from tinygen.oracle import tflm_run

    s = 0.07741935551166534
    assert float(np.float32(6.0) / np.float32(s)) == 77.5 and 6.0 / s < 77.5
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16, 1)
    tensors = [FbTensor("x", (1, 16, 16, 1), "int8", s, -128), FbTensor("y", (1, 16, 16, 1), "int8", s, -128)]
    pool = {"Padding": 1, "StrideW": 1, "StrideH": 1, "FilterWidth": 1, "FilterHeight": 1, "FusedActivationFunction": 3}
    model = build_tflite(tensors, [FbOp("MAX_POOL_2D", [0], [1], "Pool2DOptions", pool)], [0], [1])
    want = tflm_run(model, [x])["y"]
    got = reference.run(import_tflite(model), x)["y"]
    assert int(want.max()) == -50
    assert np.array_equal(got, want)


def test_effective_scale_is_computed_in_double_like_tflite_micro() -> None:
    """input_scale * weight_scale / output_scale in double, not a float32 product: these scales (found
    by search) give multipliers one LSB apart and outputs that differ, for FC and for a 1x1 conv."""
    from tinygen import numerics
    from tinygen.frontend.tflite import import_tflite
    from tinygen.oracle import tflm_run

    si, sw, so = 0.01749611459672451, 0.0075667486526072025, 0.08918758481740952
    double = numerics.quantize_multiplier(si * sw / so)
    single_product = numerics.quantize_multiplier(float(np.float32(si) * np.float32(sw)) / so)
    assert double != single_product
    rng = np.random.default_rng(312)
    w = rng.integers(-127, 128, (8, 512)).astype(np.int8)
    x = rng.integers(-128, 128, (256, 512)).astype(np.int8)
    acc = x.astype(np.int64) @ w.T.astype(np.int64)
    wrong = np.clip(numerics.multiply_by_quantized_multiplier(acc, *single_product), -128, 127)
    fc = build_tflite([FbTensor("x", (256, 512), "int8", si, 0), FbTensor("w", (8, 512), "int8", sw, 0, 0, w),
                       FbTensor("y", (256, 8), "int8", so, 0)],
                      [FbOp("FULLY_CONNECTED", [0, 1], [2], "FullyConnectedOptions", {})], [0], [2])
    conv = build_tflite([FbTensor("x", (1, 16, 16, 512), "int8", si, 0),
                         FbTensor("w", (8, 1, 1, 512), "int8", [sw] * 8, [0] * 8, 0, w.reshape(8, 1, 1, 512)),
                         FbTensor("y", (1, 16, 16, 8), "int8", so, 0)],
                        [FbOp("CONV_2D", [0, 1], [2], "Conv2DOptions", {"Padding": 1, "StrideW": 1, "StrideH": 1})],
                        [0], [2])
    for model in (fc, conv):
        graph = import_tflite(model)
        xin = x.reshape(graph.tensor(graph.inputs[0]).shape)
        want = tflm_run(model, [xin])["y"]
        got = reference.run(graph, xin)["y"]
        assert np.array_equal(got, want)
        assert not np.array_equal(got.reshape(256, 8), wrong)
