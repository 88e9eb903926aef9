"""SUB (tinygen/ops/sub.py, kernel templates/kernels/tg_sub_s8.{c,h}; same-shape tables through tg_add_table_s8 and
tg_add_lut_s8).

* Prepare: TFLite Micro's integer parameters by hand, values by hand, the refused quantizations and shapes;
* why SUB has its own kernel: ADD's arithmetic with input 2's multiplier negated differs from SUB (pinned case);
* the reference against TFLite Micro's interpreter on every int8 pair (a (256, 1) - (1, 256) broadcast) for many
  scales, zero points and fused activations, on random broadcast shapes with constant operands (hypothesis,
  hand-built single-op ``.tflite`` files), and on models of TensorFlow's converter;
* the lowering's tables against the reference on every pair, both rounding modes;
* the generated C against the reference on the host (gcc and clang, -Wall -Wextra -Werror -pedantic, ASan/UBSan),
  every kernel path, in place and not, both rounding modes, and in QEMU on Cortex-M3 (portable) and M7 (DSP);
* the Keras flow (``Subtract``), QAT, and ``tinygen convert``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import hostbuild
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_op_logistic import check_c
from test_reference_ops import FbOp, FbTensor, build_tflite

from tinygen import codegen, numerics, qparams, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import sub
from tinygen.oracle import tflm_run
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
#: every int8 value, in order
ALL_INT8 = np.arange(-128, 128, dtype=np.int64).astype(np.int8)
#: .tflite fused activation codes
ACT = {"none": 0, "relu": 1, "relu_n1_to_1": 2, "relu6": 3}

Quant = tuple[float, int]

#: ADD's kernel with input 2's multiplier negated is not SUB here: 32 pairs differ (double rounding), e.g. (-51, -24)
NEGATION_FAILS = ((0.25, 0), (0.05, 0), (float(np.float32(0.3)), 0))
#: quantizations whose same-shape SUB has no exact one-shift table (tg_add_lut_s8), in both rounding modes
NO_TABLE = ((0.0033867917954921722, -69), (0.028080245479941368, 114), (0.010443363338708878, -105))
#: scales where Prepare's multipliers differ between float32 and double division (TFLite Micro divides in double)
FLOAT32_DIFFERS = ((0.019583871588110924, -115), (0.023939765989780426, -128), (0.017528964206576347, -116))


# --------------------------------------------------------------------------- models


def single_op_model(qa: Quant, qb: Quant, qy: Quant, shape_a: tuple[int, ...], shape_b: tuple[int, ...],
                    activation: str = "none", const_a: np.ndarray | None = None,
                    const_b: np.ndarray | None = None) -> bytes:
    """A .tflite holding one int8 SUB ``a - b``; either operand may be a constant (not both)."""
    out_shape = tuple(int(d) for d in np.broadcast_shapes(shape_a, shape_b))
    tensors = [FbTensor("a", shape_a, "int8", *qa, data=const_a), FbTensor("b", shape_b, "int8", *qb, data=const_b),
               FbTensor("y", out_shape, "int8", *qy)]
    graph_inputs = [i for i, c in enumerate((const_a, const_b)) if c is None]
    op = FbOp("SUB", [0, 1], [2], "SubOptions", {"FusedActivationFunction": ACT[activation]})
    return build_tflite(tensors, [op], graph_inputs, [2])


#: the quantizations of chain_model's tensors x, c1, a, c2, b, y
CHAIN_QUANT = ((0.05, 3), (0.02, -7), (0.07, 11), (0.03, 100), (0.09, -20), (0.11, 4))


def chain_model(shape: tuple[int, int, int], quant: tuple[Quant, ...] = CHAIN_QUANT,
                scalar: bool = False) -> bytes:
    """One input x (1, H, W, C), three SUBs, every kernel path of a model with one input::

        a = SUB(x, c1)         c1 constant (C,), or a scalar (1,): tg_sub_s8, broadcast (input 2 hoisted if scalar)
        b = relu(SUB(c2, a))   c2 constant (1, H, 1, 1): tg_sub_s8, broadcast, input 1 hoisted per row
        y = SUB(b, x)          same shape: tg_sub_s8 below 512 elements, else tg_add_table_s8 or tg_add_lut_s8;
                               b dies here, so y may be written over it

    x is still read by the last SUB, so the first cannot run in place."""
    h, w, c = shape
    rng = np.random.default_rng(h * 100 + w * 10 + c)
    (sx, zx), (sc1, zc1), (sa, za), (sc2, zc2), (sb, zb), (sy, zy) = quant
    c1_shape = (1,) if scalar else (c,)
    tensors = [FbTensor("x", (1, h, w, c), "int8", sx, zx),
               FbTensor("c1", c1_shape, "int8", sc1, zc1, data=rng.integers(-128, 128, c1_shape).astype(np.int8)),
               FbTensor("a", (1, h, w, c), "int8", sa, za),
               FbTensor("c2", (1, h, 1, 1), "int8", sc2, zc2,
                        data=rng.integers(-128, 128, (1, h, 1, 1)).astype(np.int8)),
               FbTensor("b", (1, h, w, c), "int8", sb, zb),
               FbTensor("y", (1, h, w, c), "int8", sy, zy)]
    ops = [FbOp("SUB", [0, 1], [2], "SubOptions", {"FusedActivationFunction": ACT["none"]}),
           FbOp("SUB", [3, 2], [4], "SubOptions", {"FusedActivationFunction": ACT["relu"]}),
           FbOp("SUB", [4, 0], [5], "SubOptions", {"FusedActivationFunction": ACT["none"]})]
    return build_tflite(tensors, ops, [0], [5])


def _ir_graph(qa: Quant, qb: Quant, qy: Quant, shape_a: tuple[int, ...] = (1, 8), shape_b: tuple[int, ...] = (1, 8),
              out_shape: tuple[int, ...] | None = None, activation: str = "none", dtype: str = "int8") -> Graph:
    g = Graph("sub")
    out_shape = out_shape or tuple(int(d) for d in np.broadcast_shapes(shape_a, shape_b))
    g.add_tensor(Tensor("a", shape_a, dtype, Quantization([qa[0]], [qa[1]])))
    g.add_tensor(Tensor("b", shape_b, "int8", Quantization([qb[0]], [qb[1]])))
    g.add_tensor(Tensor("y", out_shape, "int8", Quantization([qy[0]], [qy[1]])))
    g.add_op(Op("sub", "sub", ["a", "b"], ["y"], {"activation": activation}))
    g.inputs, g.outputs = ["a", "b"], ["y"]
    return g


def every_pair() -> tuple[np.ndarray, np.ndarray]:
    """(256, 1) and (1, 256) int8 operands whose broadcast holds every pair (x1, x2) once."""
    return ALL_INT8.reshape(256, 1), ALL_INT8.reshape(1, 256)


def vectors_with_every_value(size: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.integers(-128, 128, (count, size)).astype(np.int8)
    out[0, : min(256, size)] = ALL_INT8[: min(256, size)]
    return out


# --------------------------------------------------------------------------- Prepare


def test_params_by_hand() -> None:
    """Equal input scales 1/64: both ratios are 1/2 (multiplier 2^30, shift 0); the output multiplier
    2 * (1/64) / (2^20 * 1/32) = 2^-20 is 2^30 with shift -19. No rounding mode changes these powers of two."""
    g = _ir_graph((1 / 64, 3), (1 / 64, -5), (1 / 32, 7), activation="relu")
    g.validate()
    for rounding in ("double", "single"):
        p = qparams.op_params(g, g.ops[0], rounding)  # type: ignore[arg-type]
        assert p == sub.SubParams(input1_offset=-3, input2_offset=5, output_offset=7, left_shift=20,
                                  input1_multiplier=1 << 30, input1_shift=0, input2_multiplier=1 << 30, input2_shift=0,
                                  output_multiplier=1 << 30, output_shift=-19, act_min=7, act_max=127)


def test_values_by_hand() -> None:
    """With the scales above and zero points 0: out = (x1 - x2) / 2 rounded half away from zero (s_i = x_i * 2^19,
    their difference times 2^-20 in TFLite's RoundingDivideByPOT); relu clamps at the zero point."""
    x1 = np.array([[3, 0, 1, 0, 127, -128, 5, -7]], np.int8)
    x2 = np.array([[0, 3, 0, 1, -128, 127, 5, -8]], np.int8)
    g = _ir_graph((1 / 64, 0), (1 / 64, 0), (1 / 32, 0))
    assert reference.run(g, [x1, x2])["y"].tolist() == [[2, -2, 1, -1, 127, -128, 0, 1]]
    g = _ir_graph((1 / 64, 0), (1 / 64, 0), (1 / 32, 0), activation="relu")
    assert reference.run(g, [x1, x2])["y"].tolist() == [[2, 0, 1, 0, 127, 0, 0, 1]]


def test_output_scale_too_small_is_refused() -> None:
    """TFLite Micro's Prepare aborts (QuantizeMultiplierSmallerThanOneExp) where 2 max(s1, s2) / (2^20 so) >= 1."""
    g = _ir_graph((1.0, 0), (0.5, 0), (2.0 / (1 << 20), 0))
    with pytest.raises(TinygenError, match=r"sub op 'sub': scales 1 - 0.5 -> 1.90735e-06 give the output multiplier "
                                           r".* = 1; TFLite's int8 SUB needs it below 1 \(an output scale above "
                                           r"1.90735e-06\).*re-quantize the model"):
        g.validate()
    # just above the bound is legal
    _ir_graph((1.0, 0), (0.5, 0), (float(np.nextafter(np.float32(2.0 / (1 << 20)), np.float32(1))), 0)).validate()


def test_refusals() -> None:
    with pytest.raises(UnsupportedError, match="tensor 'a' is int16.*int8 only"):
        _ir_graph((0.1, 0), (0.1, 0), (0.2, 0), dtype="int16").validate()
    with pytest.raises(UnsupportedError, match=r"inputs of shape \(1, 8\) and \(1, 3\) do not broadcast"):
        _ir_graph((0.1, 0), (0.1, 0), (0.2, 0), shape_b=(1, 3), out_shape=(1, 8)).validate()
    with pytest.raises(TinygenError, match=r"output 'y' has shape \(8, 1\), expected \(1, 8\)"):
        _ir_graph((0.1, 0), (0.1, 0), (0.2, 0), out_shape=(8, 1)).validate()
    with pytest.raises(TinygenError, match=r"output 'y' has shape \(1, 8\), expected \(2, 8\)"):
        _ir_graph((0.1, 0), (0.1, 0), (0.2, 0), shape_b=(2, 1), out_shape=(1, 8)).validate()
    with pytest.raises(TinygenError, match=r"zero point\(s\) \[200\] outside \[-128, 127\]"):
        _ir_graph((0.1, 200), (0.1, 0), (0.2, 0)).validate()
    with pytest.raises(TinygenError, match="scales must be finite and positive"):
        _ir_graph((0.1, 0), (-0.1, 0), (0.2, 0)).validate()
    with pytest.raises(TinygenError, match="attribute 'activation'"):
        _ir_graph((0.1, 0), (0.1, 0), (0.2, 0), activation="tanh").validate()
    g = _ir_graph((0.1, 0), (0.1, 0), (0.2, 0))
    g.tensors["b"] = Tensor("b", (1, 8), "int8", Quantization([0.1, 0.2], [0, 0], axis=1))
    with pytest.raises(UnsupportedError, match="per-channel quantized"):
        g.validate()
    g = _ir_graph((0.1, 0), (0.1, 0), (0.2, 0))
    g.ops[0].inputs.append("a")
    with pytest.raises(TinygenError, match="has 3 inputs, expected 2"):
        g.validate()


def test_broadcast_beyond_four_merged_dimensions_is_refused(tmp_path: Path) -> None:
    """Alternating broadcast dimensions cannot merge: five of them exceed tg_sub_s8's 4-D layout."""
    shape_a, shape_b = (2, 1, 2, 1, 2), (1, 2, 1, 2, 1)
    data = single_op_model((0.1, 0), (0.1, 0), (0.2, 0), shape_a, shape_b,
                           const_b=np.ones(shape_b, np.int8))
    graph = import_tflite(data)
    x = np.arange(8, dtype=np.int8).reshape(shape_a)
    np.testing.assert_array_equal(reference.run(graph, [x])["y"], tflm_run(data, [x])["y"])
    with pytest.raises(UnsupportedError, match=r"needs 5 dimensions after merging; tinygen's kernels support 4"):
        codegen.generate(graph, tmp_path / "lib", force=True)


def test_in_place_predicate() -> None:
    g = _ir_graph((0.1, 0), (0.1, 0), (0.2, 0), shape_a=(1, 8), shape_b=(8,))
    assert sub.OP.in_place is not None and sub.OP.in_place(g, g.ops[0])
    g = _ir_graph((0.1, 0), (0.1, 0), (0.2, 0), shape_a=(8,), shape_b=(4, 8))
    assert not sub.OP.in_place(g, g.ops[0])


def _add_form(p: sub.SubParams, x1: np.ndarray, x2: np.ndarray, rounding: str) -> np.ndarray:
    """ADD's arithmetic (tg_add_s8) with input 2's multiplier negated."""
    rnd: numerics.Rounding = rounding  # type: ignore[assignment]
    mqm, wrap = numerics.multiply_by_quantized_multiplier, numerics.wrap_int32
    s1 = mqm(wrap((x1.astype(np.int64) + p.input1_offset) << 20), p.input1_multiplier, p.input1_shift, rnd)
    s2 = mqm(wrap((x2.astype(np.int64) + p.input2_offset) << 20), -p.input2_multiplier, p.input2_shift, rnd)
    raw = mqm(wrap(s1 + s2), p.output_multiplier, p.output_shift, rnd) + p.output_offset
    return np.clip(raw, p.act_min, p.act_max)


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_negated_multiplier_in_add_is_not_sub(rounding: str) -> None:
    """Both roundings round ties up (SaturatingRoundingDoublingHighMul, single rounding's + 2^(n-1) >> n), so
    requantize(v, -m) != -requantize(v, m) on ties: with input 2 scale 0.05 (multiplier 0.1 = 1717986944 * 2^-34,
    seven trailing zero bits) ADD's kernel with a negated multiplier gets 32 (double rounding) or 16 (single
    rounding) of the 65,536 pairs wrong. TFLite Micro agrees with the reference on every pair."""
    qa, qb, qy = NEGATION_FAILS
    data = single_op_model(qa, qb, qy, (256, 1), (1, 256))
    graph = import_tflite(data)
    x1, x2 = every_pair()
    got = reference.run(graph, [x1, x2], rounding=rounding)["y"]
    if rounding == "double":
        np.testing.assert_array_equal(got, tflm_run(data, [x1, x2])["y"])
    p = qparams.op_params(graph, graph.ops[0], rounding)  # type: ignore[arg-type]
    wrong = _add_form(p, x1, x2, rounding) != got
    assert wrong.sum() == {"double": 32, "single": 16}[rounding], np.argwhere(wrong)[:4]
    assert wrong[-51 + 128, -24 + 128] == (rounding == "double")


# --------------------------------------------------------------------------- against TFLite Micro


def _float32(value: float) -> float:
    return float(np.float32(value))


#: realistic activation scales (any significand), powers of two and their simple multiples (ties in the rescaling)
SCALES = st.one_of(
    st.floats(-10.0, 2.0).map(lambda e: _float32(2.0**e)),
    st.integers(-10, 2).map(lambda e: _float32(2.0**e)),
    st.sampled_from([0.05, 0.1, 0.3, 0.75, 0.0123]).map(_float32),
)
ZERO_POINTS = st.integers(-128, 127)
ACTIVATIONS = st.sampled_from(list(ACT))


def _output_scale(s1: float, s2: float, factor: float) -> float:
    """An output scale around the difference's range, kept where Prepare is defined."""
    so = _float32((s1 + s2) * factor)
    bound = 2.0 * max(s1, s2) / float(1 << 20)
    return so if so > bound * 1.01 else _float32(bound * 1.01)


def _check_tables(p: sub.SubParams, want: np.ndarray, rounding: str) -> None:
    """The lowering's same-shape tables on every pair: the one-shift table (where it exists) and the
    rescaling tables (always)."""
    index = ALL_INT8.view(np.uint8)
    found = sub.sub_tables(p, rounding)
    if found is not None:
        k, t1, t2 = found
        assert k in sub.SUB_TABLE_SHIFTS and int(np.abs(t1).max()) + int(np.abs(t2).max()) < 1 << 31
        got = np.clip(np.clip((t1[index][:, None] + t2[index][None, :]) >> k, -128, 127), p.act_min, p.act_max)
        np.testing.assert_array_equal(got, want)
    s1, s2 = sub.rescaled_tables(p, rounding)
    lut1, lut2 = s1.astype(np.int32), (-s2).astype(np.int32)
    np.testing.assert_array_equal(lut1, s1)
    np.testing.assert_array_equal(lut2, -s2)
    got = sub.finish(p, lut1[index][:, None].astype(np.int64) + lut2[index][None, :], rounding)
    np.testing.assert_array_equal(got, want)


def check_every_pair(qa: Quant, qb: Quant, qy: Quant, activation: str) -> None:
    """A (256, 1) - (1, 256) SUB holds every int8 pair: the reference equals TFLite Micro on all of them, and the
    lowering's tables equal the reference, in both rounding modes."""
    data = single_op_model(qa, qb, qy, (256, 1), (1, 256), activation)
    graph = import_tflite(data)
    x1, x2 = every_pair()
    want = tflm_run(data, [x1, x2])[graph.outputs[0]]
    assert want.dtype == np.int8 and want.shape == (256, 256)
    np.testing.assert_array_equal(reference.run(graph, [x1, x2])[graph.outputs[0]], want)
    for rounding in ("double", "single"):
        p = qparams.op_params(graph, graph.ops[0], rounding)  # type: ignore[arg-type]
        ref = reference.run(graph, [x1, x2], rounding=rounding)[graph.outputs[0]]
        _check_tables(p, ref, rounding)


@settings(max_examples=150, deadline=None)
@given(s1=SCALES, s2=SCALES, factor=st.floats(0.05, 4.0), z1=ZERO_POINTS, z2=ZERO_POINTS, zo=ZERO_POINTS,
       activation=ACTIVATIONS)
@example(s1=1.0, s2=1.0, factor=2.0 / (1 << 21), z1=-128, z2=127, zo=0, activation="none")  # at the bound
@example(s1=4.0, s2=2.0**-10, factor=0.05, z1=127, z2=-128, zo=-128, activation="relu_n1_to_1")  # far-apart scales
def test_every_pair_matches_tflite_micro(s1: float, s2: float, factor: float, z1: int, z2: int, zo: int,
                                         activation: str) -> None:
    check_every_pair((s1, z1), (s2, z2), (_output_scale(s1, s2, factor), zo), activation)


@pytest.mark.parametrize(("quant", "activation"), [(NEGATION_FAILS, "none"), (NO_TABLE, "none"),
                                                   (NO_TABLE, "relu"), (FLOAT32_DIFFERS, "relu6")])
def test_pinned_quantizations_match_tflite_micro(quant: tuple[Quant, Quant, Quant], activation: str) -> None:
    check_every_pair(*quant, activation)
    if quant == NO_TABLE and activation == "none":  # the case the lowering takes tg_add_lut_s8 for
        for rounding in ("double", "single"):
            g = _ir_graph(*quant)
            assert sub.sub_tables(qparams.op_params(g, g.ops[0], rounding), rounding) is None  # type: ignore[arg-type]


def test_prepare_divides_in_double() -> None:
    """TFLite Micro's CalculateOpDataSub (as the oracle runs it) computes the real multipliers in double: these
    scales give other multipliers in float32 arithmetic, and outputs that differ from TFLite Micro's."""
    (s1, _), (s2, _), (so, _) = FLOAT32_DIFFERS
    f1, f2, fo = (np.float32(v) for v in (s1, s2, so))
    twice_max = np.float32(2) * max(f1, f2)
    in_float32 = (float(f1 / twice_max), float(f2 / twice_max), float(twice_max / (np.float32(1 << 20) * fo)))
    real = sub.real_multipliers(s1, s2, so)
    assert [numerics.quantize_multiplier(r) for r in real] != [numerics.quantize_multiplier(r) for r in in_float32]
    data = single_op_model(*FLOAT32_DIFFERS, (256, 1), (1, 256))
    graph = import_tflite(data)
    x1, x2 = every_pair()
    np.testing.assert_array_equal(reference.run(graph, [x1, x2])["y"], tflm_run(data, [x1, x2])["y"])


@st.composite
def broadcast_case(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...], str | None]:
    """Two shapes that broadcast (numpy rules, rank <= 5), and which operand, if any, is a constant. A rank-0
    operand is a constant (TFLite Micro's Python interpreter cannot set a rank-0 input)."""
    rank = draw(st.integers(0, 5))
    out = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    shapes = []
    for _ in range(2):
        drop = draw(st.integers(0, rank))
        shapes.append(tuple(d if draw(st.booleans()) else 1 for d in out[drop:]))
    const = draw(st.sampled_from([None, "a", "b"]))
    shape_a, shape_b = ((s if s or const == name else (1,)) for s, name in zip(shapes, "ab"))
    return shape_a, shape_b, const


@settings(max_examples=120, deadline=None)
@given(case=broadcast_case(), s1=SCALES, s2=SCALES, factor=st.floats(0.05, 4.0), z1=ZERO_POINTS, z2=ZERO_POINTS,
       zo=ZERO_POINTS, activation=ACTIVATIONS, seed=st.integers(0, 2**16))
@example(case=((1, 3, 4, 5), (5,), "b"), s1=0.1, s2=0.02, factor=1.0, z1=0, z2=3, zo=-1, activation="relu",
         seed=0)  # per-channel constant
@example(case=((), (2, 3), "a"), s1=0.1, s2=0.02, factor=1.0, z1=0, z2=3, zo=-1, activation="none", seed=0)
def test_broadcast_shapes_match_tflite_micro(case: tuple[tuple[int, ...], tuple[int, ...], str | None], s1: float,
                                             s2: float, factor: float, z1: int, z2: int, zo: int, activation: str,
                                             seed: int) -> None:
    shape_a, shape_b, const = case
    rng = np.random.default_rng(seed)
    xa, xb = (rng.integers(-128, 128, s).astype(np.int8) for s in (shape_a, shape_b))
    so = _output_scale(s1, s2, factor)
    data = single_op_model((s1, z1), (s2, z2), (so, zo), shape_a, shape_b, activation,
                           const_a=xa if const == "a" else None, const_b=xb if const == "b" else None)
    graph = import_tflite(data)
    inputs = [x for x, name in ((xa, "a"), (xb, "b")) if name != const]
    want = tflm_run(data, inputs)[graph.outputs[0]]
    got = reference.run(graph, inputs)[graph.outputs[0]]
    assert got.shape == want.shape == np.broadcast_shapes(shape_a, shape_b)
    np.testing.assert_array_equal(got, want)


@pytest.fixture(scope="module")
def converter_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """TensorFlow's converter on Keras subtractions: Subtract of two branches with a ReLU after it (fused), and
    a constant minus a tensor and a tensor minus a constant (broadcast constants the converter keeps)."""
    keras = pytest.importorskip("keras")
    from tinygen.tfconvert import keras_to_int8_tflite

    L = keras.layers
    folder = tmp_path_factory.mktemp("sub_models")
    c = np.random.default_rng(0).normal(0.0, 1.0, (4,)).astype(np.float32)
    r = np.random.default_rng(1).normal(0.0, 1.0, (6, 1, 1)).astype(np.float32)

    def branches(x: object) -> object:
        return L.ReLU()(L.Subtract()([L.Dense(12)(x), L.Dense(12)(x)]))

    def constants(x: object) -> object:
        h = L.Conv2D(4, 3, padding="same", activation="relu")(x)
        return L.Lambda(lambda t: r - t)(L.Lambda(lambda t: t - c)(h))

    bodies = {"subtract_relu": ((10,), branches), "constants": ((6, 6, 3), constants)}
    paths = {}
    for i, (name, (shape, body)) in enumerate(bodies.items()):
        keras.utils.set_random_seed(50 + i)
        inp = keras.Input(shape, batch_size=1)
        model = keras.Model(inp, body(inp), name=name)
        samples = np.random.default_rng(i).normal(0.0, 2.0, (32, *shape)).astype(np.float32)
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(keras_to_int8_tflite(model, samples))
    return paths


@pytest.mark.parametrize(("name", "subs"), [("subtract_relu", 1), ("constants", 2)])
def test_converter_models_match_tflite_micro(converter_models: dict[str, Path], name: str, subs: int) -> None:
    data = converter_models[name].read_bytes()
    graph = import_tflite(data)
    kinds = [op.kind for op in graph.ops]
    assert kinds.count("sub") == subs, kinds
    if name == "subtract_relu":
        assert graph.ops[-1].activation == "relu"
    x_shape = graph.tensors[graph.inputs[0]].shape
    rng = np.random.default_rng(3)
    outputs = set()
    for x in [rng.integers(-128, 128, x_shape).astype(np.int8) for _ in range(12)] + [
            np.full(x_shape, v, np.int8) for v in (-128, 127)]:
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for op in graph.ops:
            np.testing.assert_array_equal(got[op.outputs[0]], want[op.outputs[0]], err_msg=f"{op.kind} {op.name}")
        outputs.add(got[graph.outputs[0]].tobytes())
    assert len(outputs) > 10


# --------------------------------------------------------------------------- generated C on the host


def test_chain_matches_tflite_micro() -> None:
    for shape, scalar in (((3, 5, 7), False), ((4, 16, 9), True)):
        data = chain_model(shape, scalar=scalar)
        graph = import_tflite(data)
        size = int(np.prod(shape))
        for x in vectors_with_every_value(size, 4, seed=size):
            x = x.reshape(1, *shape)
            want, got = tflm_run(data, [x]), reference.run(graph, [x])
            for name in ("a", "b", "y"):
                np.testing.assert_array_equal(got[name], want[name], err_msg=name)


#: (shape, quantizations, scalar c1, the last SUB's kernel)
C_CASES = [
    ((3, 5, 7), CHAIN_QUANT, False, "tg_sub_s8"),  # 105 elements: same shape below the table threshold
    ((4, 16, 9), CHAIN_QUANT, True, "tg_add_table_s8"),  # 576 elements, exact one-shift tables; c1 a scalar
    # 544 elements, the last SUB quantized as NO_TABLE (b - x): no exact one-shift table
    ((2, 16, 17), (NO_TABLE[1], *CHAIN_QUANT[1:4], NO_TABLE[0], NO_TABLE[2]), False, "tg_add_lut_s8"),
]


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize(("shape", "quant", "scalar", "last"), C_CASES)
def test_generated_c_equals_reference_in_place_and_not(tmp_path: Path, shape: tuple[int, int, int],
                                                       quant: tuple[Quant, ...], scalar: bool, last: str,
                                                       rounding: str) -> None:
    graph = import_tflite(chain_model(shape, quant, scalar))
    size = int(np.prod(shape))
    manifest = check_c(graph, tmp_path, rounding, vectors_with_every_value(size, 4, seed=size))
    layers = manifest["layers"]
    assert [(layer["op"], layer["kernel"]) for layer in layers] == [("sub", "tg_sub_s8"), ("sub", "tg_sub_s8"),
                                                                     ("sub", last)]
    # x is read again by the last SUB; the second SUB's first input is a constant; b dies at the last SUB
    assert layers[0]["in_place"] is None and layers[1]["in_place"] is None
    assert layers[2]["in_place"] == "b" and layers[2]["arena_offset"] == layers[1]["arena_offset"]


@pytest.mark.parametrize(("shape_a", "shape_b", "const"), [
    ((1, 3), (1, 3), "b"),  # same shape, three elements
    ((1, 1), (1, 1), "b"),  # one element
    ((2, 3, 4), (3, 1), "b"),  # input 2 hoisted along the row
    ((1, 5), (4, 1), "a"),  # constant first operand, both broadcast
    ((4, 1, 3), (1, 2, 1), "a"),  # input 1 a column: hoisted along the row
])
def test_generated_c_single_op_shapes(tmp_path: Path, shape_a: tuple[int, ...], shape_b: tuple[int, ...],
                                      const: str) -> None:
    rng = np.random.default_rng(len(shape_a) * 10 + len(shape_b))
    fixed = rng.integers(-128, 128, shape_a if const == "a" else shape_b).astype(np.int8)
    data = single_op_model((0.07, -20), (0.03, 9), (0.09, 3), shape_a, shape_b, "relu6",
                           const_a=fixed if const == "a" else None, const_b=fixed if const == "b" else None)
    graph = import_tflite(data)
    x_shape = graph.tensors[graph.inputs[0]].shape
    size = int(np.prod(x_shape))
    every = np.resize(ALL_INT8, -(-256 // size) * size).reshape(-1, size)
    vectors = np.concatenate([every, vectors_with_every_value(size, 2, seed=size)])
    check_c(graph, tmp_path, "double", vectors)


# --------------------------------------------------------------------------- QEMU


@pytest.mark.emulator
@pytest.mark.parametrize("board", ["mps2_an385", "mps2_an500"])  # Cortex-M3 (portable C), Cortex-M7 (DSP)
@pytest.mark.parametrize(("shape", "quant", "scalar", "last"), [C_CASES[1], C_CASES[2]])
def test_bit_exact_in_qemu(board: str, shape: tuple[int, int, int], quant: tuple[Quant, ...], scalar: bool,
                           last: str, tmp_path: Path) -> None:
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    from test_emulator_models import cached_build

    from tinygen.commands.test import make_vectors, prepare, run_test

    model = tmp_path / "sub_chain.tflite"
    model.write_bytes(chain_model(shape, quant, scalar))
    prep = prepare(model, board, tmp_path / "work")
    layers = prep.manifest["layers"]
    assert [layer["kernel"] for layer in layers] == ["tg_sub_s8", "tg_sub_s8", last]
    assert layers[2]["in_place"] == "b"
    size = int(np.prod(shape))
    vectors = np.concatenate([vectors_with_every_value(size, 1, seed=0), make_vectors(prep, 3)])
    outcome = run_test(prep, vectors, timeout=300, builder=cached_build)
    report = "\n".join(outcome.lines)
    print(f"\n{report}")
    assert outcome.ok, report
    # compared with tinygen's reference and with TFLite Micro, every vector
    assert "ok    tinygen reference" in report and "ok    TFLite Micro" in report
    assert len(outcome.run.outputs) == len(vectors)


# --------------------------------------------------------------------------- Keras flow


#: what the other Keras tests require of one int8 layer (tests/test_quantizer.py SQNR_DB)
SQNR_DB = 30.0


def _subtract_model(keras: object, seed: int) -> object:
    L = keras.layers  # type: ignore[attr-defined]
    keras.utils.set_random_seed(seed)  # type: ignore[attr-defined]
    inputs = keras.Input((10,), batch_size=1)  # type: ignore[attr-defined]
    difference = L.Subtract()([L.Dense(8)(inputs), L.Dense(8, activation="relu")(inputs)])
    return keras.Model(inputs, L.ReLU()(difference))  # type: ignore[attr-defined]


def test_keras_subtract_tracks_the_float_model() -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db

    model = _subtract_model(keras, 3)
    calibration = np.random.default_rng(0).standard_normal((128, 10)).astype(np.float32)
    graph = tg.quantize(model, calibration)
    kinds = [op.kind for op in graph.ops]
    assert kinds[-1] == "sub" and kinds.count("sub") == 1, kinds
    assert graph.ops[-1].activation == "relu"  # the ReLU after it fuses
    test = calibration[:24]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    print(f"Subtract: int8 vs float SQNR {sqnr:.1f} dB")
    assert sqnr >= SQNR_DB, f"SQNR {sqnr:.1f} dB < {SQNR_DB} dB"
    # TensorFlow's converter gives the same op sequence
    theirs = tg.quantize(model, calibration, quantizer="tflite")
    assert [(op.kind, op.activation) for op in theirs.ops] == [(op.kind, op.activation) for op in graph.ops]


def test_keras_subtract_of_different_shapes_is_refused() -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg

    L = keras.layers
    inputs = keras.Input((4, 3), batch_size=1)
    model = keras.Model(inputs, L.Subtract()([inputs, L.Dense(1)(inputs)]))
    with pytest.raises(TinygenError, match="broadcasting Subtract is not supported"):
        tg.quantize(model, np.zeros((4, 4, 3), np.float32))


def test_qat_prepare_reproduces_post_training_quantization() -> None:
    """QAT of a model with a Subtract: convert(prepare(model)) is the post-training graph."""
    keras = pytest.importorskip("keras")
    from tinygen import qat
    from tinygen.api import quantize

    model = _subtract_model(keras, 9)
    calibration = np.random.default_rng(1).standard_normal((64, 10)).astype(np.float32)
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    assert [(op.kind, op.inputs, op.outputs) for op in graph.ops] == [(op.kind, op.inputs, op.outputs) for op in ptq.ops]
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
        if t.is_const:
            np.testing.assert_array_equal(graph.tensors[name].data, t.data, err_msg=name)
    # the QAT model's forward is a - b (its predictions track the float model)
    expected = np.asarray(model.predict(calibration[:16], verbose=0), np.float64)
    predicted = np.asarray(prepared.predict(calibration[:16], verbose=0), np.float64)
    assert np.abs(predicted - expected).max() < 0.1 * np.abs(expected).max()


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "sub.tflite"
    model.write_bytes(chain_model((4, 16, 9)))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]] == [
        ("sub", "tg_sub_s8"), ("sub", "tg_sub_s8"), ("sub", "tg_add_table_s8")]
    assert any(p.name.endswith("tg_sub_s8.c") for p in out.iterdir()), sorted(p.name for p in out.iterdir())
    # the emitted library computes what the reference does
    graph = import_tflite(model)
    vectors = vectors_with_every_value(576, 2, seed=5)
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(1, 4, 16, 9)])["y"].reshape(-1))
