"""PRELU (tinygen/ops/prelu.py, kernels templates/kernels/tg_prelu_s8.{c,h} and tg_lut_s8 for a one-value alpha).

* Prepare: TFLite Micro's integer parameters by hand; the refused configurations (shapes that do not broadcast,
  rank above 4, a run-time or per-channel alpha, int16, a wrong output shape, int32-overflowing scales);
* the reference against TFLite Micro's interpreter over random shapes, broadcasts, scales and zero points
  (hypothesis, hand-built single-op ``.tflite`` files), and on models of TensorFlow's converter (Keras PReLU
  with and without ``shared_axes``), whose alpha tensors tinygen's quantization reproduces;
* the generated C against the reference on the host (gcc and clang, ASan/UBSan) through every path (the lookup
  table, the per-channel loop, the general broadcast, an input smaller than the output), both rounding modes,
  in place; the kernel for every Cortex-M core, and in QEMU on Cortex-M3 and M7;
* the Keras flow (``PReLU``, ``shared_axes``) and ``tinygen convert``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hostbuild
import numpy as np
import opcheck
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_reference_ops import FbOp, FbTensor, build_tflite

from tinygen import qparams, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import prelu
from tinygen.oracle import tflm_run

X_QUANT, ALPHA_QUANT, OUT_QUANT = (0.05, 3), (0.01, -7), (0.04, -5)


# --------------------------------------------------------------------------- models


def single_op_model(x_shape: tuple[int, ...], alpha: np.ndarray, x_quant: tuple[float, int] = X_QUANT,
                    alpha_quant: tuple[float, int] = ALPHA_QUANT, out_quant: tuple[float, int] = OUT_QUANT) -> bytes:
    """A .tflite holding one int8 PRELU, its alpha a constant operand."""
    out = np.broadcast_shapes(x_shape, alpha.shape)
    tensors = [FbTensor("x", x_shape, "int8", *x_quant), FbTensor("alpha", alpha.shape, "int8", *alpha_quant, data=alpha),
               FbTensor("y", out, "int8", *out_quant)]
    return build_tflite(tensors, [FbOp("PRELU", [0, 1], [2])], [0], [2])


def chain_model(x_shape: tuple[int, ...], alphas: list[np.ndarray]) -> bytes:
    """PRELUs one after another (each input dies at its PRELU: they may run in place), each with its own quantization."""
    tensors, ops, shape = [FbTensor("x", x_shape, "int8", *X_QUANT)], [], x_shape
    for i, alpha in enumerate(alphas):
        shape = np.broadcast_shapes(shape, alpha.shape)
        tensors += [FbTensor(f"alpha{i}", alpha.shape, "int8", 0.004 * (i + 1), i - 2, data=alpha),
                    FbTensor(f"y{i}", shape, "int8", 0.03 + 0.01 * i, 9 - 11 * i)]
        ops.append(FbOp("PRELU", [len(tensors) - 3 if i else 0, len(tensors) - 2], [len(tensors) - 1]))
    return build_tflite(tensors, ops, [0], [len(tensors) - 1])


def ir_graph(x_shape: tuple[int, ...] = (1, 2, 3), alpha_shape: tuple[int, ...] = (3,), *, dtype: str = "int8",
             out_shape: tuple[int, ...] | None = None, alpha_const: bool = True, alpha_scales: int = 1,
             out_quant: tuple[float, int] = OUT_QUANT) -> Graph:
    g = Graph("prelu")
    g.add_tensor(Tensor("x", x_shape, dtype, Quantization([X_QUANT[0]], [X_QUANT[1]])))
    data = np.arange(int(np.prod(alpha_shape)), dtype=np.int8).reshape(alpha_shape) if alpha_const else None
    q = Quantization([0.01] * alpha_scales, [0] * alpha_scales, len(alpha_shape) - 1)
    g.add_tensor(Tensor("alpha", alpha_shape, "int8", q, data=data))
    shape = out_shape or np.broadcast_shapes(x_shape, alpha_shape)
    g.add_tensor(Tensor("y", shape, "int8", Quantization([out_quant[0]], [out_quant[1]])))
    g.add_op(Op("prelu", "prelu", ["x", "alpha"], ["y"], {}))
    g.inputs, g.outputs = ["x"] + ([] if alpha_const else ["alpha"]), ["y"]
    return g


def random_int8(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, shape).astype(np.int8)


# --------------------------------------------------------------------------- Prepare and checks


def test_params_by_hand() -> None:
    """QuantizeMultiplier, in double, of float32(0.05) / float32(0.04) ~ 1.25 = 0.625 * 2^1 and of
    float32(0.05) * float32(0.01) / float32(0.04) ~ 0.0125 = 0.8 * 2^-6."""
    g = ir_graph()
    g.validate()
    p = qparams.op_params(g, g.ops[0])
    s_x, s_a, s_out = (float(np.float32(v)) for v in (0.05, 0.01, 0.04))
    real1, real2 = s_x / s_out, s_x * s_a / s_out
    assert (p.input_offset, p.alpha_offset, p.output_offset) == (-3, 0, -5)
    assert (p.output_multiplier_1, p.output_shift_1) == (round(real1 / 2 * 2**31), 1)
    assert (p.output_multiplier_2, p.output_shift_2) == (round(real2 * 2**6 * 2**31), -6)
    # alpha = [0, 1, 2]: x = zp + 4 -> 4 * 1.25 = 5 steps; x = zp - 10 with alpha 2 -> -20 * 0.0125 = -0.25: 0 steps;
    # x = -128 with alpha 1: -131 * 0.0125 = -1.64 -> -2 steps; x = zp with any alpha: the zero point
    y = reference.run(g, np.array([[[3, -128, -7], [7, 3, 127]]], np.int8))["y"]
    assert y.tolist() == [[[-5, -7, -5], [0, -5, 127]]] and y.dtype == np.int8


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"alpha_shape": (2,), "out_shape": (1, 2, 3)}, TinygenError,
     r"input shape \(1, 2, 3\) and alpha shape \(2,\) do not broadcast"),
    ({"x_shape": (1, 2, 1, 1, 3)}, UnsupportedError,
     r"input has shape \(1, 2, 1, 1, 3\), rank 5; TFLite Micro's PRELU supports rank <= 4"),
    ({"alpha_shape": (1, 1, 1, 1, 3)}, UnsupportedError, "alpha has shape .* rank 5"),
    ({"out_shape": (1, 2, 1)}, TinygenError, r"output 'y' has shape \(1, 2, 1\), expected \(1, 2, 3\)"),
    ({"alpha_const": False}, UnsupportedError, "alpha 'alpha' .* is computed at run time; tinygen needs a constant"),
    ({"alpha_scales": 3}, UnsupportedError,
     "alpha 'alpha' has 3 quantization scales; TFLite Micro's int8 PRELU reads one"),
    ({"dtype": "int16"}, UnsupportedError, "tensor 'x' is int16.*int8 only"),
])
def test_refused(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ir_graph(**kwargs).validate()


@pytest.mark.parametrize(("which", "alpha_scale", "out_scale"), [("identity", 0.01, 1e-9), ("alpha", 1e8, 0.05)])
def test_overflowing_scales_are_refused(which: str, alpha_scale: float, out_scale: float) -> None:
    """Scales so far apart that the int32 ``d << shift`` (or ``d * alpha << shift``) of TFLite Micro's
    requantization overflows (undefined behaviour there)."""
    g = ir_graph(out_quant=(out_scale, 0))
    g.tensors["alpha"].quant = Quantization([alpha_scale], [0], 0)
    g.validate()
    with pytest.raises(TinygenError, match=rf"the {which} requantization .* leaves int32 .* re-quantize the model"):
        qparams.op_params(g, g.ops[0])


def test_alpha_quantized_like_the_converter() -> None:
    q, scale, zp = prelu.quantize_alpha(np.array([0.5, -0.25, 0.0, 0.127], np.float32))
    assert (scale, zp) == (float(np.float32(0.5 / 127)), 0) and q.tolist() == [127, -64, 0, 32]
    assert prelu.quantize_alpha(np.zeros(3, np.float32))[1:] == (float(np.float32(5e-7 / 127)), 0)


# --------------------------------------------------------------------------- against TFLite Micro


@st.composite
def broadcast_case(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(input shape, alpha shape), ranks 0..4, numpy-broadcastable: each alpha dimension the input's or 1 (or the
    reverse), the alpha's rank at most the input's or not."""
    rank = draw(st.integers(1, 4))
    full = [draw(st.integers(1, 4)) for _ in range(rank)]
    x = [d if draw(st.integers(0, 4)) else 1 for d in full]
    a = [d if draw(st.booleans()) else 1 for d in full][draw(st.integers(0, rank)):]
    return tuple(x), tuple(a)


QUANT = st.tuples(st.floats(-9.0, 2.0).map(lambda e: float(np.float32(2.0**e))), st.integers(-128, 127))


@settings(max_examples=80, deadline=None)
@given(case=broadcast_case(), xq=QUANT, aq=QUANT, oq=QUANT, seed=st.integers(0, 2**16))
@example(case=((1, 4, 5, 3), (1, 1, 3)), xq=(0.05, 127), aq=(0.01, -128), oq=(0.02, -128), seed=0)  # extreme offsets
@example(case=((2, 3), ()), xq=(0.5, -128), aq=(1.0, 0), oq=(0.5, 0), seed=1)  # scalar alpha, no negative input
def test_reference_matches_tflite_micro(case: tuple[tuple[int, ...], tuple[int, ...]], xq: tuple[float, int],
                                        aq: tuple[float, int], oq: tuple[float, int], seed: int) -> None:
    x_shape, a_shape = case
    data = single_op_model(x_shape, random_int8(a_shape, seed), xq, aq, oq)
    try:
        graph = import_tflite(data)
        qparams.op_params(graph, graph.ops[0])
    except TinygenError as exc:  # scales too far apart: refused (overflow), never computed differently
        assert "leaves int32" in str(exc) or "left shift" in str(exc), exc
        return
    for x in [random_int8(x_shape, seed + 1), np.full(x_shape, -128, np.int8), np.full(x_shape, 127, np.int8)]:
        want = tflm_run(data, [x])["y"]
        np.testing.assert_array_equal(reference.run(graph, [x])["y"], want)


@pytest.fixture(scope="module")
def converter_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    """TensorFlow's converter on Keras PReLUs: per element (no shared axes), per channel (shared_axes=[1, 2]), one
    value (shared_axes=[1, 2, 3]), and after a Dense."""
    keras = pytest.importorskip("keras")
    from tinygen.tfconvert import keras_to_int8_tflite

    L, init = keras.layers, keras.initializers.RandomUniform(-0.6, 0.9)
    folder, out = tmp_path_factory.mktemp("prelu_models"), {}
    for i, (name, shape, shared) in enumerate([("element", (4, 5, 3), None), ("channel", (4, 5, 3), [1, 2]),
                                              ("single", (4, 5, 3), [1, 2, 3]), ("dense", (10,), None)]):
        keras.utils.set_random_seed(60 + i)
        inp = keras.Input(shape, batch_size=1)
        y = L.Dense(6)(inp) if name == "dense" else L.Conv2D(3, 1)(inp)
        model = keras.Model(inp, L.PReLU(alpha_initializer=init, shared_axes=shared)(y), name=name)
        samples = np.random.default_rng(i).normal(0.0, 1.0, (32, *shape)).astype(np.float32)
        out[name] = (folder / f"{name}.tflite", model, samples)
        out[name][0].write_bytes(keras_to_int8_tflite(model, samples))
    return out


@pytest.mark.parametrize("name", ["element", "channel", "single", "dense"])
def test_converter_models_match_tflite_micro(converter_models: dict[str, Any], name: str) -> None:
    path, model, samples = converter_models[name]
    data = path.read_bytes()
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops][-1] == "prelu"
    x_shape = graph.tensors[graph.inputs[0]].shape
    for x in [random_int8(x_shape, s) for s in range(6)] + [np.full(x_shape, v, np.int8) for v in (-128, 127)]:
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for op in graph.ops:
            np.testing.assert_array_equal(got[op.outputs[0]], want[op.outputs[0]], err_msg=f"{op.kind} {op.name}")
    # tinygen's quantizer gives the alpha the converter's int8 tensor: same shape, values, scale, zero point
    import tinygen.api as tg

    ours = tg.quantize(model, samples)
    theirs = graph.tensors[graph.ops[-1].inputs[1]]
    q, scale, zp = prelu.alpha_values(ours, ours.ops[-1])
    assert q.shape == theirs.shape and np.array_equal(q, theirs.data.reshape(theirs.shape))
    assert (np.float32(scale), zp) == (theirs.quant.scale[0], theirs.quant.zero_point[0])


# --------------------------------------------------------------------------- generated C on the host


#: (input shape, alpha shapes of a chain of PReLUs, the kernels they lower to)
CHAINS = {
    # per channel over rows of 7 (alpha (7,) and (1, 1, 7)), one value (lookup table), per element (one row)
    "channel": ((1, 3, 5, 7), [(7,), (1, 1, 7), (1, 1, 1, 1), (3, 5, 7)], ["tg_prelu_s8"] * 2 + ["tg_lut_s8", "tg_prelu_s8"]),
    # general broadcasts: per row, per column; then an input smaller than the output
    "broadcast": ((2, 3, 4), [(3, 1), (2, 1, 4), (5, 2, 3, 4)], ["tg_prelu_s8"] * 3),
}


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_generated_c_equals_reference(tmp_path: Path, name: str, rounding: str) -> None:
    shape, alpha_shapes, kernels = CHAINS[name]
    alphas = [random_int8(s, i) if s != (1, 1, 1, 1) else np.full(s, -90, np.int8) for i, s in enumerate(alpha_shapes)]
    graph = import_tflite(chain_model(shape, alphas))
    size = int(np.prod(shape))
    vectors = np.stack([np.arange(size) % 256 - 128, *(random_int8((size,), s) for s in range(3))]).astype(np.int8)
    manifest = opcheck.check_c(graph, tmp_path, vectors, rounding)
    layers = manifest["layers"]
    assert [layer["kernel"] for layer in layers] == kernels
    # every PRELU whose input has the output's shape writes over it
    for layer, op in zip(layers, graph.ops):
        same = graph.tensors[op.inputs[0]].shape == graph.tensors[op.outputs[0]].shape
        assert (layer["in_place"] is not None) == same, layer
    if name == "channel":
        assert "(per channel;" in (tmp_path / "lib" / f"{manifest['name']}.c").read_text()


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    shape, alpha_shapes, _ = CHAINS["channel"]
    model = tmp_path / "prelu_chain.tflite"
    model.write_bytes(chain_model(shape, [random_int8(s, i) for i, s in enumerate(alpha_shapes[:2])]
                                  + [random_int8((3, 1, 7), 5)]))
    size = int(np.prod(shape))
    print(opcheck.check_qemu(model, board, tmp_path / "work", (np.arange(size) % 256 - 128).reshape(1, -1),
                             ["tg_prelu_s8"] * 3))


# --------------------------------------------------------------------------- Keras flow


#: what the other Keras tests require of one int8 layer (tests/test_quantizer.py SQNR_DB)
SQNR_DB = 30.0


@pytest.mark.parametrize("shared", [None, [1, 2], [1, 2, 3]])
def test_keras_prelu_tracks_the_float_model(tmp_path: Path, shared: list[int] | None) -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db

    L = keras.layers
    keras.utils.set_random_seed(5)
    inputs = keras.Input((6, 6, 3), batch_size=1)
    layer = L.PReLU(alpha_initializer=keras.initializers.RandomUniform(-0.5, 1.0), shared_axes=shared)
    model = keras.Model(inputs, layer(L.Conv2D(4, 3)(inputs)))
    calibration = np.random.default_rng(0).standard_normal((128, 6, 6, 3)).astype(np.float32)
    graph = tg.quantize(model, calibration)
    assert [op.kind for op in graph.ops] == ["conv2d", "prelu"]
    test = calibration[:24]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    print(f"shared_axes={shared}: int8 vs float SQNR {sqnr:.1f} dB")
    assert sqnr >= SQNR_DB, f"SQNR {sqnr:.1f} dB < {SQNR_DB} dB"
    # its generated C (the alpha quantized by tinygen, a const array of the library) equals the reference
    kernel = "tg_lut_s8" if shared == [1, 2, 3] else "tg_prelu_s8"
    manifest = opcheck.check_c(graph, tmp_path, np.stack([random_int8((108,), s) for s in range(2)]))
    assert [layer["kernel"] for layer in manifest["layers"]][-1] == kernel
    # the float reference is Keras' own, on a batch
    z = np.random.default_rng(1).standard_normal((5, 4, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(prelu.float_reference(graph.ops[1], [z]), np.asarray(layer(z)))


def test_qat_prepare_reproduces_post_training_quantization() -> None:
    """QAT of a model with a PReLU: convert(prepare(model)) is the post-training graph, and the QAT model predicts
    on the int8 output grid, next to the int8 graph (its forward uses the int8 alpha, dequantized)."""
    keras = pytest.importorskip("keras")
    from tinygen import qat
    from tinygen.api import quantize
    from tinygen.quantize.report import run_int8

    L = keras.layers
    keras.utils.set_random_seed(9)
    inputs = keras.Input((6, 6, 3), batch_size=1)
    layer = L.PReLU(alpha_initializer=keras.initializers.RandomUniform(-0.5, 1.0), shared_axes=[1, 2])
    model = keras.Model(inputs, layer(L.Conv2D(4, 3)(inputs)))
    calibration = np.random.default_rng(1).standard_normal((64, 6, 6, 3)).astype(np.float32)
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    assert [(op.kind, op.inputs) for op in graph.ops] == [(op.kind, op.inputs) for op in ptq.ops]
    np.testing.assert_array_equal(graph.ops[1].attrs["alpha"], ptq.ops[1].attrs["alpha"])
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
    # on the output's int8 grid, and at most one step from the int8 graph (the QAT conv rounds in float)
    scale, zp = ptq.tensors[ptq.outputs[0]].quant.scalar()
    steps = prepared.predict(calibration[:8], verbose=0) / scale + zp
    int8 = run_int8(ptq, calibration[:8])[ptq.outputs[0]].reshape(steps.shape) / scale + zp
    np.testing.assert_allclose(steps, np.rint(steps), rtol=0, atol=1e-3)
    assert np.abs(np.rint(steps) - np.rint(int8)).max() <= 1 and np.mean(np.rint(steps) == np.rint(int8)) > 0.95


def test_keras_rank_five_is_refused() -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg

    inputs = keras.Input((2, 3, 4, 2), batch_size=1)
    model = keras.Model(inputs, keras.layers.PReLU(name="p5")(inputs))
    with pytest.raises(UnsupportedError, match=r"'p5' \(PReLU\).*rank 5; TFLite's PRELU supports rank <= 4"):
        tg.quantize(model, np.zeros((2, 2, 3, 4, 2), np.float32))


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "prelu.tflite"
    model.write_bytes(chain_model((1, 4, 4, 5), [random_int8((5,), 1), random_int8((4, 1, 5), 2)]))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [layer["kernel"] for layer in manifest["layers"]] == ["tg_prelu_s8"] * 2
    graph = import_tflite(model)
    vectors = np.stack([random_int8((80,), s) for s in range(2)])
    got, _ = hostbuild.run(hostbuild.build(out, manifest, tmp_path / "build"), vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(1, 4, 4, 5)])["y1"].reshape(-1))
