"""HARD_SWISH (tinygen/ops/hard_swish.py, kernel templates/kernels/tg_lut_s8.{c,h}).

* Prepare: TFLite Micro's int16 multipliers and exponents by hand, the refused output/input scales;
* the int16 building blocks (gemmlowp's RoundingDivideByPOT on int16 with its truncated mask);
* the reference against TFLite Micro's interpreter over all 256 int8 inputs for many input/output scales and
  zero points (hypothesis, hand-built single-op ``.tflite`` files), and on models of TensorFlow's converter;
* the generated C against the reference on the host (gcc and clang, -Wall -Wextra -Werror -pedantic,
  ASan/UBSan), in place and not, both rounding modes, and in QEMU on Cortex-M3 (portable) and M7 (DSP);
* the Keras flow (``activation="hard_silu"``, ``Activation("hard_swish")``), QAT, and ``tinygen convert``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hostbuild
import opcheck
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_reference_ops import FbOp, FbTensor, build_tflite

from tinygen import codegen, qparams, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import hard_swish, tanh
from tinygen.oracle import tflm_run
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
#: every int8 value, in order
ALL_INT8 = np.arange(-128, 128, dtype=np.int64).astype(np.int8)


# --------------------------------------------------------------------------- models


def single_op_model(in_quant: tuple[float, int], out_quant: tuple[float, int],
                    shape: tuple[int, ...] = (1, 256)) -> bytes:
    """A .tflite holding one int8 HARD_SWISH."""
    tensors = [FbTensor("x", shape, "int8", *in_quant), FbTensor("y", shape, "int8", *out_quant)]
    return build_tflite(tensors, [FbOp("HARD_SWISH", [0], [1])], [0], [1])


def chain_model(scale: float, zero_point: int, shape: tuple[int, ...] = (1, 259)) -> bytes:
    """``a = HARD_SWISH(x); s = ADD(x, a); y = HARD_SWISH(s)``: the first HARD_SWISH cannot write over its input
    (the ADD still reads it), the second one can (its input dies there). 259 elements: a 3-element loop tail."""
    a_scale = float(np.float32(scale * 0.9))
    sum_scale = float(np.float32(scale * 2.0))
    tensors = [
        FbTensor("x", shape, "int8", scale, zero_point),
        FbTensor("a", shape, "int8", a_scale, -100),
        FbTensor("s", shape, "int8", sum_scale, 5),
        FbTensor("y", shape, "int8", float(np.float32(scale * 1.5)), -90),
    ]
    ops = [
        FbOp("HARD_SWISH", [0], [1]),
        FbOp("ADD", [0, 1], [2], "AddOptions", {"FusedActivationFunction": 0}),
        FbOp("HARD_SWISH", [2], [3]),
    ]
    return build_tflite(tensors, ops, [0], [3])


def _ir_graph(in_quant: tuple[float, int], out_quant: tuple[float, int], dtype: str = "int8",
              shape: tuple[int, ...] = (1, 8)) -> Graph:
    g = Graph("hard_swish")
    g.add_tensor(Tensor("x", shape, dtype, Quantization([in_quant[0]], [in_quant[1]])))
    g.add_tensor(Tensor("y", shape, "int8", Quantization([out_quant[0]], [out_quant[1]])))
    g.add_op(Op("hard_swish", "hard_swish", ["x"], ["y"], {}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


# --------------------------------------------------------------------------- Prepare


def test_params_by_hand() -> None:
    """Input and output scale 1/16: hires scale 2^-11, output multiplier 2^-7 = 0.5 * 2^-6 (2^30 in int32, 2^14
    in int16, exponent -6); reluish multiplier 2^-11 / (3 * 2^-15) = 16/3 = 0.667 * 2^3: int16 round(2^15 * 2/3)
    = 21845, exponent 3. No rounding mode changes these."""
    g = _ir_graph((1.0 / 16.0, 3), (1.0 / 16.0, -7))
    g.validate()
    for rounding in ("double", "single"):
        p = qparams.op_params(g, g.ops[0], rounding)  # type: ignore[arg-type]
        assert p == hard_swish.HardSwishParams(
            input_zero_point=3, output_zero_point=-7, output_multiplier_fixedpoint_int16=1 << 14,
            output_multiplier_exponent=-6, reluish_multiplier_fixedpoint_int16=21845, reluish_multiplier_exponent=3)


def test_downscale_int32_to_int16_multiplier() -> None:
    down = hard_swish.downscale_int32_to_int16_multiplier
    assert down(1 << 30) == 1 << 14
    assert down((1 << 30) + (1 << 15) - 1) == 1 << 14 and down((1 << 30) + (1 << 15)) == (1 << 14) + 1
    assert down(2**31 - 1 - 2**15 - 1) == 32767 and down(2**31 - 1 - 2**15) == 32767 and down(2**31 - 1) == 32767


def test_values_by_hand() -> None:
    """Scale 1/16 both sides: -3 (and below) gives 0, 3 gives 3 (48), 6.25 itself (100); -1 gives -5 (float
    -5.33), 1 gives 11 (10.67), -0.5 gives -3 (-3.33), 0.5 gives 5 (4.67); TFLite Micro agrees."""
    x = np.array([[0, -48, 48, 100, -16, 16, -128, 127, -8, 8]], np.int8)
    g = _ir_graph((1.0 / 16.0, 0), (1.0 / 16.0, 0), shape=x.shape)
    y = reference.run(g, x)["y"]
    assert y.tolist() == [[0, 0, 48, 100, -5, 11, 0, 127, -3, 5]]
    data = single_op_model((1.0 / 16.0, 0), (1.0 / 16.0, 0), x.shape)
    np.testing.assert_array_equal(tflm_run(data, [x])["y"], y)


def test_int16_rounding_divide_by_pot_truncates_its_mask() -> None:
    """gemmlowp's RoundingDivideByPOT<int16_t>: below 16 it rounds half away from zero; from 16 on its mask is
    -1 in int16, so every non-negative value (0 too) gives 1 and every negative one -1."""
    f = hard_swish.rounding_divide_by_pot16
    x = np.array([0, 1, 2, 3, -1, -2, -3, 32767, -32768], np.int64)
    assert f(x, 1).tolist() == [0, 1, 1, 2, -1, -1, -2, 16384, -16384]
    assert f(x, 0).tolist() == x.tolist()
    assert f(x, 15).tolist() == [0, 0, 0, 0, 0, 0, 0, 1, -1]
    for e in (16, 20, 31):
        assert f(x, e).tolist() == [1, 1, 1, 1, -1, -1, -1, 1, -1]


def test_int16_multiplications() -> None:
    assert hard_swish.srdhm16(-32768, -32768) == 32767 and hard_swish.sdhm16(-32768, -32768) == 32767
    # rounding (nudge 2^14; gemmlowp's nudge 1 - 2^14 rounds a negative tie toward zero) against truncation
    assert hard_swish.srdhm16(3, 1 << 14) == 2 and hard_swish.sdhm16(3, 1 << 14) == 1  # 1.5
    assert hard_swish.srdhm16(-3, 1 << 14) == -1 and hard_swish.sdhm16(-3, 1 << 14) == -1  # -1.5
    assert hard_swish.srdhm16(-7, 1 << 13) == -2 and hard_swish.sdhm16(-7, 1 << 13) == -1  # -1.75
    assert hard_swish.saturating_left_shift16(np.array([100, -100, 20000]), 8).tolist() == [25600, -25600, 32767]


@pytest.mark.parametrize("out_scale", [0.05 / 256.0, 0.05 / 1000.0])
def test_too_fine_output_scale_is_refused_as_tflite_micro_does(out_scale: float) -> None:
    g = _ir_graph((0.05, 0), (out_scale, 0))
    with pytest.raises(TinygenError, match=r"output 'y' scale .* is too fine for input 'x' scale .*TFLite Micro's "
                                           r"HARD_SWISH requires an output scale above about input scale / 128"):
        qparams.op_params(g, g.ops[0])
    with pytest.raises(TinygenError, match="too fine"):
        reference.run(g, np.zeros((1, 8), np.int8))
    with pytest.raises(Exception):  # noqa: B017 - TFLite Micro's Prepare fails (output_multiplier_exponent <= 0)
        tflm_run(single_op_model((0.05, 0), (out_scale, 0)), [ALL_INT8.reshape(1, 256)])


def test_output_scale_just_coarse_enough_is_accepted() -> None:
    """hires / output just below 1: exponent 0, the largest TFLite Micro takes."""
    out_scale = float(np.float32(0.05 / 128.0 * 1.01))
    data = single_op_model((0.05, 0), (out_scale, 0))
    graph = import_tflite(data)
    assert qparams.op_params(graph, graph.ops[0]).output_multiplier_exponent == 0
    x = ALL_INT8.reshape(1, 256)
    np.testing.assert_array_equal(reference.run(graph, [x])["y"], tflm_run(data, [x])["y"])


@pytest.mark.parametrize("scale", [3e7, 1e20])
def test_absurd_input_scale_is_refused(scale: float) -> None:
    """A reluish exponent above 31 makes TFLite's SaturatingLeftShift shift ``1 << 31`` (undefined)."""
    g = _ir_graph((scale, 0), (scale, 0))
    with pytest.raises(TinygenError, match=r"input 'x' scale .* gives a reluish multiplier exponent of \d+; "
                                           r"TFLite's int8 HARD_SWISH is defined up to 31"):
        qparams.op_params(g, g.ops[0])


def test_huge_scales_are_refused() -> None:
    # TFLite Micro rescales in double precision: nothing overflows, but the reluish exponent is far past 31
    g = _ir_graph((3e38, 0), (3e38, 0))
    with pytest.raises(TinygenError, match="gives a reluish multiplier exponent of"):
        qparams.op_params(g, g.ops[0])


def test_int8_only() -> None:
    with pytest.raises(UnsupportedError, match="tensor 'x' is int16.*int8 only"):
        _ir_graph((0.05, 0), (0.05, 0), dtype="int16").validate()


def test_wrong_output_shape_is_refused() -> None:
    g = _ir_graph((0.05, 0), (0.05, 0))
    g.tensors["y"] = Tensor("y", (1, 9), "int8", Quantization([0.05], [0]))
    with pytest.raises(TinygenError, match=r"output 'y' has shape \(1, 9\), expected \(1, 8\)"):
        g.validate()


def test_in_place_predicate() -> None:
    g = _ir_graph((0.05, 0), (0.05, 0))
    assert hard_swish.OP.in_place is not None and hard_swish.OP.in_place(g, g.ops[0])
    g.tensors["y"] = Tensor("y", (8, 1), "int8", Quantization([0.05], [0]))
    assert not hard_swish.OP.in_place(g, g.ops[0])


def test_float_reference() -> None:
    x = np.array([-5.0, -3.0, -1.0, 0.0, 1.0, 3.0, 4.0])
    np.testing.assert_allclose(hard_swish.OP.float_reference(None, [x]),  # type: ignore[misc,arg-type]
                               [0.0, 0.0, -1.0 / 3.0, 0.0, 2.0 / 3.0, 3.0, 4.0])


# --------------------------------------------------------------------------- against TFLite Micro


def _float32(value: float) -> float:
    return float(np.float32(value))


#: input scales: realistic ones (log-uniform over 2^-14..2^6) and any float32 where the reluish exponent is
#: defined (hypothesis favours edges)
IN_SCALES = st.one_of(
    st.floats(-14.0, 6.0).map(lambda e: _float32(2.0**e)),
    st.floats(_float32(1e-30), _float32(3e7), width=32),
)
#: output scale / input scale: log-uniform from just above 1/128 (exponent 0) to 2^12 (right shifts past 16)
RATIOS = st.floats(-6.99, 12.0).map(lambda e: 2.0**e)


#: (output exponent, reluish exponent) pairs the hypothesis test compared with TFLite Micro
SEEN: set[tuple[int, int]] = set()


@settings(max_examples=400, deadline=None)
@given(in_scale=IN_SCALES, in_zp=st.integers(-128, 127), ratio=RATIOS, out_zp=st.integers(-128, 127))
@example(in_scale=1.0 / 16.0, in_zp=0, ratio=1.0, out_zp=0)
@example(in_scale=0.05, in_zp=-128, ratio=2.0**-6.99, out_zp=127)  # output exponent 0: output zero point wraps
@example(in_scale=1e-6, in_zp=10, ratio=2.0**12, out_zp=-3)  # reluish right shift, output shift past 16
@example(in_scale=_float32(1.5e7), in_zp=0, ratio=1.0, out_zp=0)  # reluish exponent 31: SaturatingLeftShift by 30
@example(in_scale=1e-30, in_zp=0, ratio=1.0, out_zp=0)  # reluish multiplier below 2^-31: QuantizeMultiplier's 0
@example(in_scale=_float32(0.75 * 2.0**-8), in_zp=-100, ratio=3.0, out_zp=-128)  # short significands
# float32 rescaling puts the output multiplier exactly on 21520.5 x 2^16; TFLite Micro's double lands just below
@example(in_scale=0.022097086533904076, in_zp=0, ratio=0.380660292502841, out_zp=0)
def test_all_int8_inputs_match_tflite_micro(in_scale: float, in_zp: int, ratio: float, out_zp: int) -> None:
    out_scale = _float32(in_scale * ratio)
    data = single_op_model((in_scale, in_zp), (out_scale, out_zp))
    graph = import_tflite(data)
    x = ALL_INT8.reshape(1, 256)
    try:
        p = qparams.op_params(graph, graph.ops[0])
    except TinygenError as exc:
        # refused only where TFLite Micro's arithmetic is undefined (a reluish exponent above 31: input scales
        # from about 2.5e7) or its Prepare fails (output exponent above 0: a ratio just below 1/128 rounding up)
        if "reluish" in str(exc):
            assert in_scale > 2.5e7
            return
        assert "too fine" in str(exc)
        with pytest.raises(Exception):  # noqa: B017
            tflm_run(data, [x])
        return
    SEEN.add((p.output_multiplier_exponent, p.reluish_multiplier_exponent))
    want = tflm_run(data, [x])[graph.outputs[0]]
    assert want.dtype == np.int8
    got = reference.run(graph, [x])[graph.outputs[0]]
    np.testing.assert_array_equal(got, want)
    # the lowering's table (indexed by the input's bits) holds the same values
    np.testing.assert_array_equal(hard_swish.table(p)[x.view(np.uint8)], want)
    # single rounding differs only where QuantizeMultiplier saturates a shift above 30 (none here but exponent 31)
    single = reference.run(graph, [x], rounding="single")[graph.outputs[0]]
    if p.reluish_multiplier_exponent <= 30:
        np.testing.assert_array_equal(single, want)


def test_hypothesis_covered_the_shift_ranges() -> None:
    """After the test above (same module, in order): output right shifts from 0 past 16, and reluish exponents
    from negative (right shifts) to 31 were compared."""
    if not SEEN:
        pytest.skip("run with test_all_int8_inputs_match_tflite_micro")
    out_exps, rel_exps = {o for o, _ in SEEN}, {r for _, r in SEEN}
    assert 0 in out_exps and min(out_exps) < -16, sorted(out_exps)
    assert min(rel_exps) < 0 and 0 < max(rel_exps) and 31 in rel_exps, sorted(rel_exps)


def test_chain_with_add_matches_tflite_micro() -> None:
    data = chain_model(0.04, 11)
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops] == ["hard_swish", "add", "hard_swish"]
    for x in opcheck.vectors_with_every_value(259, 6, seed=1):
        want = tflm_run(data, [x.reshape(1, 259)])
        got = reference.run(graph, [x.reshape(1, 259)])
        for name in ("a", "s", "y"):
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.fixture(scope="module")
def converter_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """TensorFlow's converter on Keras hard swishes: a Dense with activation="hard_silu" and an
    Activation("hard_swish") layer after a convolution."""
    keras = pytest.importorskip("keras")
    from tinygen.tfconvert import keras_to_int8_tflite

    L = keras.layers
    folder = tmp_path_factory.mktemp("hard_swish_models")
    bodies = {
        "dense_hard_silu": ((12,), lambda x: L.Dense(6, activation="hard_silu")(L.Dense(16, activation="relu")(x))),
        "conv_hard_swish": ((6, 6, 3), lambda x: L.Activation("hard_swish")(L.Conv2D(4, 3, padding="same")(x))),
    }
    paths = {}
    for i, (name, (shape, body)) in enumerate(bodies.items()):
        keras.utils.set_random_seed(50 + i)
        inp = keras.Input(shape, batch_size=1)
        model = keras.Model(inp, body(inp), name=name)
        samples = np.random.default_rng(i).normal(0.0, 2.0, (32, *shape)).astype(np.float32)
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(keras_to_int8_tflite(model, samples))
    return paths


@pytest.mark.parametrize("name", ["dense_hard_silu", "conv_hard_swish"])
def test_converter_models_match_tflite_micro(converter_models: dict[str, Path], name: str) -> None:
    data = converter_models[name].read_bytes()
    graph = import_tflite(data)
    kinds = [op.kind for op in graph.ops]
    assert kinds[-1] == "hard_swish" and kinds.count("hard_swish") == 1, kinds
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


def check_c(graph: Graph, work: Path, rounding: str, vectors: np.ndarray) -> dict[str, Any]:
    """The generated C against the reference under every compiler/sanitizer build (tests/opcheck.py)."""
    return opcheck.check_c(graph, work, vectors, rounding)


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize(("scale", "zero_point"), [(0.04, 11), (1.0 / 16.0, -128), (0.0123, 100), (5.0, 0)])
def test_generated_c_equals_reference_in_place_and_not(tmp_path: Path, scale: float, zero_point: int,
                                                       rounding: str) -> None:
    graph = import_tflite(chain_model(scale, zero_point))
    manifest = check_c(graph, tmp_path, rounding, opcheck.vectors_with_every_value(259, 4, seed=zero_point & 0xFF))
    layers = manifest["layers"]
    assert [(layer["op"], layer["kernel"]) for layer in layers] == [
        ("hard_swish", "tg_lut_s8"), ("add", layers[1]["kernel"]), ("hard_swish", "tg_lut_s8")]
    # the first HARD_SWISH's input is still read by the ADD; the second one's dies there: it runs in place
    assert layers[0]["in_place"] is None
    assert layers[2]["in_place"] == "s" and layers[2]["arena_offset"] == layers[1]["arena_offset"]


@pytest.mark.parametrize("shape", [(1, 256), (2, 3, 5, 7), (1, 3), (1, 1)])
def test_generated_c_single_op_shapes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    """Sizes below, at and off the 4-element step; a single op writes over the graph input."""
    graph = import_tflite(single_op_model((0.07, -20), (0.05, -60), shape))
    size = int(np.prod(shape))
    every = np.resize(ALL_INT8, -(-256 // size) * size).reshape(-1, size)
    vectors = np.concatenate([every, opcheck.vectors_with_every_value(size, 2, seed=size)])
    manifest = check_c(graph, tmp_path, "double", vectors)
    assert manifest["layers"][0]["in_place"] == graph.inputs[0]


def _lut_arrays(graph: Graph, work: Path) -> tuple[list[str], dict[str, int]]:
    lib = codegen.generate(graph, work / "lib", force=True)
    text = (lib.out_dir / f"{lib.name}_weights.c").read_text()
    return [line for line in text.splitlines() if line.startswith("const int8_t") and "_lut[" in line], \
        lib.manifest["const_bytes"]


def test_tables_are_256_byte_const_arrays(tmp_path: Path) -> None:
    """Each HARD_SWISH reads a 256-entry int8 table, counted as table bytes; two HARD_SWISHes of one input and
    output quantization share one; a TANH of that input has a table of its own (another function, same kernel)."""
    arrays, const_bytes = _lut_arrays(import_tflite(chain_model(0.04, 11)), tmp_path / "chain")
    assert len(arrays) == 2 and all("_lut[256]" in line for line in arrays), arrays
    assert const_bytes == {"weights": 0, "quant": 0, "table": 512}
    tensors = [FbTensor("x", (1, 9), "int8", 0.03, 4), FbTensor("a", (1, 9), "int8", 0.02, -100),
               FbTensor("b", (1, 9), "int8", 0.02, -100), FbTensor("y", (1, 9), "int8", 0.05, 0)]
    ops = [FbOp("HARD_SWISH", [0], [1]), FbOp("HARD_SWISH", [0], [2]),
           FbOp("ADD", [1, 2], [3], "AddOptions", {"FusedActivationFunction": 0})]
    twins = build_tflite(tensors, ops, [0], [3])
    arrays, const_bytes = _lut_arrays(import_tflite(twins), tmp_path / "twins")
    assert len(arrays) == 1 and const_bytes["table"] == 256, arrays
    tensors[2] = FbTensor("b", (1, 9), "int8", *tanh.OUTPUT_QUANT)
    ops[1] = FbOp("TANH", [0], [2])
    mixed = build_tflite(tensors, ops, [0], [3])
    arrays, const_bytes = _lut_arrays(import_tflite(mixed), tmp_path / "mixed")
    assert len(arrays) == 2 and const_bytes["table"] == 512, arrays


# --------------------------------------------------------------------------- QEMU


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)  # Cortex-M3 (portable C), Cortex-M7 (DSP)
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    print(opcheck.check_activation_chain_qemu(chain_model(0.04, 11), hard_swish.KIND, board, tmp_path))


# --------------------------------------------------------------------------- Keras flow


#: what the other Keras tests require of one int8 layer (tests/test_quantizer.py SQNR_DB)
SQNR_DB = 30.0


@pytest.mark.parametrize("case", ["dense_activation", "activation_layer"])
def test_keras_hard_swish_tracks_the_float_model(case: str) -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db

    L = keras.layers
    keras.utils.set_random_seed(3)
    shape = {"dense_activation": (10,), "activation_layer": (6, 6, 3)}[case]
    inputs = keras.Input(shape, batch_size=1)
    if case == "dense_activation":
        outputs = L.Dense(7, activation="hard_silu")(inputs)
    else:
        outputs = L.Activation("hard_swish")(L.Conv2D(4, 3)(inputs))
    model = keras.Model(inputs, outputs)
    calibration = np.random.default_rng(0).standard_normal((128, *shape)).astype(np.float32) * 2.0
    graph = tg.quantize(model, calibration)
    kinds = [op.kind for op in graph.ops]
    assert kinds[-1] == "hard_swish" and kinds.count("hard_swish") == 1, kinds
    test = calibration[:24]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    print(f"{case}: int8 vs float SQNR {sqnr:.1f} dB")
    assert sqnr >= SQNR_DB, f"{case}: SQNR {sqnr:.1f} dB < {SQNR_DB} dB"
    # TensorFlow's converter gives the same op sequence
    theirs = tg.quantize(model, calibration, quantizer="tflite")
    assert [op.kind for op in theirs.ops] == kinds


def test_qat_prepare_reproduces_post_training_quantization() -> None:
    """QAT of a model with a hard swish: convert(prepare(model)) is the post-training graph."""
    keras = pytest.importorskip("keras")
    from tinygen import qat
    from tinygen.api import quantize

    L = keras.layers
    keras.utils.set_random_seed(9)
    inputs = keras.Input((10,), batch_size=1)
    model = keras.Model(inputs, L.Dense(5, activation="hard_silu")(L.Dense(8, activation="relu")(inputs)))
    calibration = np.random.default_rng(1).standard_normal((64, 10)).astype(np.float32)
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    assert [(op.kind, op.inputs, op.outputs) for op in graph.ops] == [(op.kind, op.inputs, op.outputs) for op in ptq.ops]
    assert graph.ops[-1].kind == "hard_swish"
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
        if t.is_const:
            np.testing.assert_array_equal(graph.tensors[name].data, t.data, err_msg=name)
    # the QAT model's predictions sit on the output's grid
    scale, zp = ptq.tensors[ptq.outputs[0]].quant.scalar()
    steps = prepared.predict(calibration[:16], verbose=0) / float(scale) + zp
    np.testing.assert_allclose(steps, np.rint(steps), atol=1e-3)
    assert steps.min() >= -128 - 1e-3 and steps.max() <= 127 + 1e-3


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "hard_swish.tflite"
    model.write_bytes(chain_model(0.04, 11))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]][::2] == [("hard_swish", "tg_lut_s8")] * 2
    assert any(p.name.endswith("tg_lut_s8.c") for p in out.iterdir()), sorted(p.name for p in out.iterdir())
    graph = import_tflite(model)
    vectors = opcheck.vectors_with_every_value(259, 2, seed=5)
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(1, 259)])["y"].reshape(-1))
