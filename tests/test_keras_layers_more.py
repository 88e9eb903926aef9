"""More Keras layers and activations for tinygen's own Keras flow (``tinygen.api`` / ``tinygen convert model.keras
--calibration``):

* ``ZeroPadding1D`` -> pad (tinygen/ops/pad.py), ``Multiply`` (two or more inputs, broadcast, lower ranks expanded
  at axis 1 as Keras does) -> mul (tinygen/ops/mul.py): the int8 graph tracks the float model, and TensorFlow's
  converter's ``.tflite`` of the same model imports and matches TFLite Micro;
* activations ``hard_sigmoid`` (Keras 3: relu6(x + 3) / 6) and ``silu``/``swish`` as int8 tables of the float
  function (tinygen/ops/hard_sigmoid.py, swish.py, tinygen/ops/float_lut.py): every table entry is the float
  value rounded to the nearest output step (checked with exact rational arithmetic), no TFLite builtin;
* ``Rescaling(scale, offset)`` (tinygen/ops/rescale.py): one tabulated op anywhere, folded into the input's
  quantization as the first layer (the int8 input is the raw input); per-channel factors refused;
* one model with all of them: the generated C equals the reference on the host (gcc/clang, ASan/UBSan), QAT
  reproduces post-training quantization, and ``tinygen convert model.keras --calibration``.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import hostbuild
import numpy as np
import opcheck
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tinygen import ops, qparams, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import float_lut, hard_sigmoid, rescale, swish
from tinygen.oracle import tflm_run

keras = pytest.importorskip("keras")
L = keras.layers

#: what the other Keras tests require of one int8 layer (tests/test_quantizer.py SQNR_DB)
SQNR_DB = 30.0
ALL_INT8 = np.arange(-128, 128, dtype=np.int64).astype(np.int8)


def _sqnr(expected: np.ndarray, got: np.ndarray) -> float:
    from tinygen.quantize.report import sqnr_db

    return sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))


def tracks_float(model: Any, calibration: np.ndarray) -> Graph:
    """tinygen's int8 graph of ``model``, checked to track the float model (SQNR >= SQNR_DB) on 24 samples."""
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8

    graph = tg.quantize(model, calibration)
    test = calibration[:24]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = _sqnr(expected, got)
    print(f"{model.name}: int8 vs float SQNR {sqnr:.1f} dB, ops {[op.kind for op in graph.ops]}")
    assert sqnr >= SQNR_DB, f"{model.name}: SQNR {sqnr:.1f} dB < {SQNR_DB} dB"
    return graph


def converter_matches_tflite_micro(model: Any, calibration: np.ndarray) -> Graph:
    """TensorFlow's converter on ``model``: the .tflite imports, and tinygen's reference equals TFLite Micro."""
    from tinygen.tfconvert import keras_to_int8_tflite

    data = keras_to_int8_tflite(model, calibration[:32])
    graph = import_tflite(data)
    shape = graph.tensors[graph.inputs[0]].shape
    for x in np.random.default_rng(1).integers(-128, 128, (3, *shape)).astype(np.int8):
        np.testing.assert_array_equal(reference.run(graph, [x])[graph.outputs[0]],
                                      tflm_run(data, [x])[graph.outputs[0]])
    return graph


def _model(name: str, shape: tuple[int, ...], body: Any, seed: int = 3) -> Any:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape, batch_size=1)
    return keras.Model(inputs, body(inputs), name=name)


def _calibration(shape: tuple[int, ...], n: int = 96, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, *shape)) * scale).astype(np.float32)


class FakeBuilder:
    """Just enough of tinygen.quantize.builder.Builder for a converter that refuses before emitting."""

    def __init__(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.shapes = shapes

    def shape(self, name: str) -> tuple[int, ...]:
        return self.shapes[name]


# --------------------------------------------------------------------------- ZeroPadding1D


def test_zero_padding1d() -> None:
    model = _model("pad1d", (10, 3), lambda x: L.Dense(4)(L.Flatten()(
        L.Conv1D(5, 3)(L.ZeroPadding1D((1, 3))(L.Conv1D(6, 3, activation="relu")(x))))))
    calibration = _calibration((10, 3))
    graph = tracks_float(model, calibration)
    pads = [op for op in graph.ops if op.kind == "pad"]
    assert [op.attrs["paddings"] for op in pads] == [((0, 0), (1, 3), (0, 0))]
    assert graph.tensors[pads[0].outputs[0]].shape == (1, 12, 6)  # conv 10 -> 8, padded by 1 + 3
    theirs = converter_matches_tflite_micro(model, calibration)
    assert "pad" in [op.kind for op in theirs.ops]


def test_zero_padding1d_refusals() -> None:
    from tinygen.quantize.extract import keras_to_float_graph

    model = _model("pad1d_cf", (4, 3), lambda x: L.ZeroPadding1D(1, data_format="channels_first")(x))
    with pytest.raises(UnsupportedError, match=r"data_format='channels_first' is not supported"):
        keras_to_float_graph(model)

    class Layer:
        name = "zp"

        @staticmethod
        def get_config() -> dict[str, Any]:
            return {"padding": (1, -2), "data_format": "channels_last"}

    with pytest.raises(UnsupportedError, match=r"layer 'zp' \(Layer\): padding=\(1, -2\) is not an integer or a "
                                                r"\(left, right\) pair of integers >= 0"):
        ops.get("pad").keras_layers["ZeroPadding1D"](FakeBuilder({"x": (1, 4, 3)}), Layer(), ["x"])
    with pytest.raises(UnsupportedError, match=r"input shape \(1, 4, 3, 2\) has rank 4, tinygen needs rank 3"):
        ops.get("pad").keras_layers["ZeroPadding1D"](FakeBuilder({"x": (1, 4, 3, 2)}), Layer(), ["x"])


# --------------------------------------------------------------------------- Multiply


def _multiply_body(case: str) -> tuple[tuple[int, ...], Any]:
    def same(x: Any) -> Any:
        return L.Multiply()([L.Dense(6)(x), L.Dense(6, activation="sigmoid")(x)])

    def three(x: Any) -> Any:
        return L.Multiply()([L.Dense(5)(x), L.Dense(5)(x), L.Dense(5, activation="tanh")(x)])

    def broadcast(x: Any) -> Any:  # a squeeze-and-excite style gate: [1, 4, 4, 6] * [1, 1, 1, 6]
        y = L.Conv2D(6, 3, padding="same")(x)
        gate = L.Reshape((1, 1, 6))(L.Dense(6, activation="sigmoid")(L.GlobalAveragePooling2D()(y)))
        return L.Multiply()([y, gate])

    def ranks(x: Any) -> Any:  # [1, 4, 3] * [1, 3]: Keras expands the second at axis 1
        y = L.Conv1D(3, 1)(x)
        return L.Multiply()([y, L.Dense(3)(L.Flatten()(x))])

    return {"same": ((8,), same), "three": ((8,), three), "broadcast": ((4, 4, 3), broadcast),
            "ranks": ((4, 2), ranks)}[case]


@pytest.mark.parametrize("case", ["same", "three", "broadcast", "ranks"])
def test_multiply(case: str) -> None:
    shape, body = _multiply_body(case)
    model = _model(f"multiply_{case}", shape, body)
    calibration = _calibration(shape)
    graph = tracks_float(model, calibration)
    muls = [op for op in graph.ops if op.kind == "mul"]
    assert len(muls) == (2 if case == "three" else 1) and graph.ops[-1].kind == "mul"
    if case == "ranks":
        assert [graph.tensors[n].shape for n in muls[0].inputs] == [(1, 4, 3), (1, 1, 3)]
    if case in ("same", "broadcast"):
        assert "mul" in [op.kind for op in converter_matches_tflite_micro(model, calibration).ops]


def test_multiply_refusals() -> None:
    convert = ops.get("mul").keras_layers["Multiply"]

    class Layer:
        name = "times"

    b = FakeBuilder({"a": (1, 4, 3), "b": (1, 2, 3)})
    with pytest.raises(UnsupportedError, match=r"layer 'times' \(Layer\): input shapes \[\(1, 4, 3\), \(1, 2, 3\)\] "
                                                r"do not broadcast: each dimension must be equal or 1"):
        convert(b, Layer(), ["a", "b"])
    with pytest.raises(UnsupportedError, match="needs at least two inputs, got 1"):
        convert(b, Layer(), ["a"])


# --------------------------------------------------------------------------- tabulated activations


def _exact_lut(f: Any, p: float_lut.FloatLutParams) -> list[int]:
    """The table computed independently: exact rationals (Fraction) where ``f`` is, one float operation else."""
    out = []
    for k in range(256):  # entry k is for the int8 whose bits are k
        x = Fraction(p.input_scale) * ((k - 256 if k >= 128 else k) - p.input_zero_point)
        v = f(x) / Fraction(p.output_scale)
        n = math.floor(abs(v) + Fraction(1, 2)) * (1 if v >= 0 else -1)  # nearest, ties away from zero
        out.append(max(-128, min(127, n + p.output_zero_point)))
    return out


def _exact_hard_sigmoid(x: Fraction) -> Fraction:
    return min(max(x + 3, Fraction(0)), Fraction(6)) / 6


def _float_swish(x: Fraction) -> Fraction:
    return Fraction(float(x) / (1.0 + math.exp(-float(x)))) if float(x) > -700 else Fraction(0)


def _float32(value: float) -> float:
    return float(np.float32(value))


SCALES = st.floats(-12.0, 4.0).map(lambda e: _float32(2.0**e))


@settings(max_examples=150, deadline=None)
@given(si=SCALES, zi=st.integers(-128, 127), so=SCALES, zo=st.integers(-128, 127))
@example(si=3.0 / 256.0, zi=0, so=1.0 / 256.0, zo=-128)  # ties: hard_sigmoid(k * 3/256) * 256 = 128 + k/2
@example(si=1e-3, zi=-128, so=1e3, zo=127)
def test_tables_are_the_rounded_float_function(si: float, zi: int, so: float, zo: int) -> None:
    p = float_lut.FloatLutParams(si, zi, so, zo)
    assert hard_sigmoid.table(p).tolist() == _exact_lut(_exact_hard_sigmoid, p)
    want = _exact_lut(_float_swish, p)
    got = swish.table(p).tolist()
    # float64 exp differs from math.exp by at most an ulp: only an entry that lands on a tie could move
    assert sum(g != w for g, w in zip(got, want)) == 0, (got, want)
    affine = Op(rescale.KIND, "r", ["x"], ["y"], {"scale": _float32(-0.3), "offset": 1.5})
    assert rescale.table(affine, p).tolist() == _exact_lut(lambda x: x * Fraction(_float32(-0.3)) + Fraction(1.5), p)


def _unary_graph(kind: str, in_quant: tuple[float, int], out_quant: tuple[float, int], dtype: str = "int8",
                 attrs: dict[str, Any] | None = None) -> Graph:
    g = Graph(kind)
    g.add_tensor(Tensor("x", (1, 256), dtype, Quantization([in_quant[0]], [in_quant[1]])))
    g.add_tensor(Tensor("y", (1, 256), "int8", Quantization([out_quant[0]], [out_quant[1]])))
    g.add_op(Op(kind, kind, ["x"], ["y"], dict(attrs or {})))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


@pytest.mark.parametrize("kind", ["hard_sigmoid", "swish", "rescale"])
def test_op_definitions(kind: str) -> None:
    """No TFLite builtin imports as these ops; the reference is the table; int8 only; the shape is the input's."""
    attrs = {"scale": 0.5, "offset": -1.0} if kind == "rescale" else {}
    defn = ops.get(kind)
    assert defn.tflite == () and defn.quant_rule == "own_range" and defn.qat is not None
    g = _unary_graph(kind, (0.05, -3), (0.01, -100), attrs=attrs)
    g.validate()
    p = qparams.op_params(g, g.ops[0])
    table = rescale.table(g.ops[0], p) if kind == "rescale" else {"swish": swish, "hard_sigmoid": hard_sigmoid}[kind].table(p)
    x = ALL_INT8.reshape(1, 256)
    np.testing.assert_array_equal(reference.run(g, [x])["y"], table[x.view(np.uint8)])
    assert defn.in_place is not None and defn.in_place(g, g.ops[0])
    with pytest.raises(UnsupportedError, match="tensor 'x' is int16.*int8 only"):
        _unary_graph(kind, (0.05, 0), (0.05, 0), dtype="int16", attrs=attrs).validate()
    g.tensors["y"] = Tensor("y", (1, 255), "int8", Quantization([0.01], [0]))
    with pytest.raises(TinygenError, match=r"output 'y' has shape \(1, 255\), expected \(1, 256\)"):
        g.validate()


def test_rescale_attributes_are_checked() -> None:
    for bad, match in ((float("nan"), "is not a finite float32 number"), (1e39, "is not a finite float32 number"),
                       ("x", "is not a number"), (True, "is not a number")):
        g = _unary_graph("rescale", (0.05, 0), (0.05, 0), attrs={"scale": bad})
        with pytest.raises(TinygenError, match=f"attribute 'scale': .*{match}"):
            g.validate()
    with pytest.raises(TinygenError, match="missing attribute 'scale'"):
        _unary_graph("rescale", (0.05, 0), (0.05, 0)).validate()


@pytest.mark.parametrize("case", ["dense_hard_sigmoid", "layer_hard_sigmoid", "dense_swish", "layer_silu"])
def test_keras_activations(case: str) -> None:
    kind = "hard_sigmoid" if "hard" in case else "swish"
    name = case.split("_", 1)[1]
    if case.startswith("dense"):
        model = _model(case, (10,), lambda x: L.Dense(7, activation=name)(x))
    else:
        model = _model(case, (6, 6, 3), lambda x: L.Activation(name)(L.Conv2D(4, 3)(x)))
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    calibration = _calibration(shape, 128, scale=2.0)
    graph = tracks_float(model, calibration)
    assert [op.kind for op in graph.ops][-1] == kind and [op.kind for op in graph.ops].count(kind) == 1
    if case.startswith("dense"):  # TensorFlow's converter lowers the activation to builtins (MUL, LOGISTIC...)
        theirs = [op.kind for op in converter_matches_tflite_micro(model, calibration).ops]
        assert kind not in theirs and theirs[-1] == "mul", theirs


# --------------------------------------------------------------------------- Rescaling


@pytest.mark.parametrize(("scale", "offset"), [(1.0 / 255.0, 0.0), (1.0 / 127.5, -1.0)])
def test_rescaling_first_layer(scale: float, offset: float) -> None:
    """As the first layer, Rescaling folds into the input's quantization (tests/test_keras_rescaling_fold.py): the
    int8 input means the raw input (0..255 here) and a view (no code) hands its bytes to the next layer on the
    rescaled value's grid. Rescaling(1/127.5, -1): the rescaled grid is nudged to steps of 1/127 so that the
    offset is a whole number of them (-127)."""
    model = _model("rescaled", (6, 6, 3), lambda x: L.Dense(3)(L.Flatten()(
        L.Conv2D(4, 3, activation="relu")(L.Rescaling(scale, offset=offset)(x)))))
    calibration = np.random.default_rng(0).integers(0, 256, (96, 6, 6, 3)).astype(np.float32)
    graph = tracks_float(model, calibration)
    first = graph.ops[0]
    assert "rescale" not in [op.kind for op in graph.ops]
    assert first.kind == "reshape" and first.inputs == graph.inputs and first.name.startswith("rescaling")
    in_scale, in_zp = graph.tensors[graph.inputs[0]].quant.scalar()
    out_scale, out_zp = graph.tensors[first.outputs[0]].quant.scalar()
    if offset == 0.0:
        assert (float(in_scale), int(in_zp)) == (1.0, -128)  # 0..255 raw
        assert (float(out_scale), int(out_zp)) == (pytest.approx(scale, rel=1e-6), -128)  # 255 * scale wide
    else:
        assert float(out_scale) == pytest.approx(1.0 / 127.0, rel=1e-6)
        assert int(in_zp) == int(out_zp) - 127 and float(in_scale) == pytest.approx(127.5 / 127.0, rel=1e-6)


def test_rescaling_anywhere_and_per_channel_refused() -> None:
    model = _model("rescaled_mid", (8,), lambda x: L.Dense(4)(L.Rescaling(-0.25, offset=0.5)(L.Dense(6)(x))))
    graph = tracks_float(model, _calibration((8,)))
    assert [op.kind for op in graph.ops] == ["fully_connected", "rescale", "fully_connected"]
    from tinygen.quantize.extract import keras_to_float_graph

    model = _model("per_channel", (4, 4, 3), lambda x: L.Conv2D(2, 1)(L.Rescaling([0.5, 0.25, 0.125])(x)))
    with pytest.raises(UnsupportedError, match=r"layer 'rescaling.*' \(Rescaling\): scale=\[0\.5, 0\.25, 0\.125\] "
                                                r"differs per element \(per-channel rescaling\); tinygen's Rescaling "
                                                r"takes one scale and one offset"):
        keras_to_float_graph(model)


# --------------------------------------------------------------------------- all of them: C, QAT, CLI


def _all_layers_model() -> Any:
    def body(x: Any) -> Any:
        # a negative scale: not folded into the input's quantization (tests/test_keras_rescaling_fold.py), the
        # table op stays
        y = L.Conv1D(6, 3, activation="swish")(L.Rescaling(-1.0 / 64.0, offset=1.0)(x))  # [1, 10, 6]
        y = L.ZeroPadding1D((2, 1))(y)  # [1, 13, 6]
        a = L.Conv1D(5, 3, activation="hard_sigmoid")(y)  # [1, 11, 5]
        c = L.Activation("silu")(L.Conv1D(5, 3)(y))
        gate = L.Dense(5, activation="sigmoid")(L.GlobalAveragePooling1D()(y))  # [1, 5]: expanded to [1, 1, 5]
        return L.Dense(4)(L.Flatten()(L.Multiply()([a, c, gate])))

    return _model("more_layers", (12, 2), body, seed=11)


@pytest.fixture(scope="module")
def all_layers() -> tuple[Any, np.ndarray, Graph]:
    import tinygen.api as tg

    model = _all_layers_model()
    calibration = np.random.default_rng(4).uniform(0.0, 128.0, (96, 12, 2)).astype(np.float32)
    return model, calibration, tg.quantize(model, calibration)


def test_all_layers_generated_c_equals_reference(all_layers: tuple[Any, np.ndarray, Graph], tmp_path: Path) -> None:
    model, calibration, graph = all_layers
    kinds = [op.kind for op in graph.ops]
    for kind in ("rescale", "swish", "pad", "hard_sigmoid", "mul", "reshape"):
        assert kind in kinds, kinds
    tracks_float(model, calibration)
    vectors = np.random.default_rng(5).integers(-128, 128, (3, 24)).astype(np.int8)
    vectors[0, :] = np.resize(ALL_INT8, 24)
    manifest = opcheck.check_c(graph, tmp_path, vectors)
    kernels = {layer["op"]: layer["kernel"] for layer in manifest["layers"]}
    assert kernels["rescale"] == kernels["swish"] == kernels["hard_sigmoid"] == "tg_lut_s8", kernels
    assert kernels["pad"] == "tg_pad_s8" and kernels["mul"].startswith("tg_mul"), kernels


def test_all_layers_qat_reproduces_post_training_quantization(all_layers: tuple[Any, np.ndarray, Graph]) -> None:
    from tinygen import qat

    model, calibration, ptq = all_layers
    prepared = qat.prepare(model, calibration)
    graph = qat.convert(prepared)
    assert [(op.kind, op.inputs, op.outputs, op.attrs) for op in graph.ops] == [
        (op.kind, op.inputs, op.outputs, op.attrs) for op in ptq.ops]
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
    expected = np.asarray(model.predict(calibration[:16], verbose=0), np.float64)
    got = np.asarray(prepared.predict(calibration[:16], verbose=0), np.float64)
    assert _sqnr(expected, got) >= SQNR_DB


def test_convert_cli(all_layers: tuple[Any, np.ndarray, Graph], tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model, calibration, graph = all_layers
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "c.npy", calibration)
    out = tmp_path / "lib"
    argv = ["convert", str(tmp_path / "model.keras"), "--calibration", str(tmp_path / "c.npy"), "-o", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [layer["op"] for layer in manifest["layers"]] == [op.kind for op in graph.ops]
    vectors = np.random.default_rng(7).integers(-128, 128, (2, 24)).astype(np.int8)
    got, _ = hostbuild.run(hostbuild.build(out, manifest, tmp_path / "build"), vectors)
    for v, x in enumerate(vectors):
        want = reference.run(graph, [x.reshape(1, 12, 2)])[graph.outputs[0]].reshape(-1)
        np.testing.assert_array_equal(got[v], want)
