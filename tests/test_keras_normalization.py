"""Keras ``Normalization`` in tinygen's own Keras flow (``tinygen.api`` / ``tinygen convert model.keras
--calibration``): tinygen/ops/normalization.py makes it the internal per-channel affine op, which the quantizer's
passes fold into the conv/dense before it or lower to a 1x1 depthwise convolution (per-channel int8 weights).

* the float graph computes Keras 3's formula exactly: ``(x - mean) / max(sqrt(var), epsilon)``, ``invert=True``
  ``mean + x * max(sqrt(var), epsilon)``, for axis -1, None, 1 and several axes, adapted or given statistics;
* the int8 graph tracks the float model (SQNR >= 30 dB) with Normalization first and in the middle, 2-D, 3-D and
  4-D inputs, and is at least as accurate as TensorFlow's converter's SUB+MUL (MUL+ADD when inverted), whose
  ``.tflite`` imports and equals TFLite Micro;
* the generated C equals the reference (gcc/clang, ASan/UBSan); QAT reproduces post-training quantization;
  ``tinygen convert model.keras --calibration`` and ``tinygen.api.quantize(path)`` keep the adapted statistics;
* refusals: negative or non-finite statistics, too many per-element pairs, rank-1 inputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hostbuild
import numpy as np
import opcheck
import pytest

from tinygen import ops, reference
from tinygen.errors import UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph
from tinygen.ops import normalization
from tinygen.oracle import tflm_run
from tinygen.quantize.builder import AFFINE

keras = pytest.importorskip("keras")
L = keras.layers

#: what the other Keras tests require of one int8 layer (tests/test_quantizer.py SQNR_DB)
SQNR_DB = 30.0

#: per-feature spreads and centres of the test data (a factor 4 between spreads: a per-tensor int8 input keeps
#: every feature at >= 30 dB)
SPREADS = np.array([1.0, 2.5, 4.0, 1.5, 3.0, 1.2], np.float32)
CENTRES = np.array([1.0, -3.0, 6.0, 0.5, -1.0, 2.0], np.float32)


def _sqnr(expected: np.ndarray, got: np.ndarray) -> float:
    from tinygen.quantize.report import sqnr_db

    return sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))


def _features(shape: tuple[int, ...], n: int = 96, seed: int = 0) -> np.ndarray:
    """Samples whose last axis are features of different centres and spreads."""
    c = shape[-1]
    spreads, centres = np.resize(SPREADS, c), np.resize(CENTRES, c)
    return (np.random.default_rng(seed).standard_normal((n, *shape)) * spreads + centres).astype(np.float32)


def _model(name: str, shape: tuple[int, ...], body: Any, adapt: np.ndarray | None = None, seed: int = 3) -> Any:
    """A functional model; every Normalization layer in it without given statistics adapted on ``adapt`` (run
    through the layers before it)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape, batch_size=1)
    model = keras.Model(inputs, body(inputs), name=name)
    for layer in model.layers:
        if isinstance(layer, L.Normalization) and layer.input_mean is None and adapt is not None:
            before = keras.Model(model.inputs, layer.input)
            layer.adapt(np.asarray(before.predict(adapt, verbose=0)) if layer.input is not model.inputs[0] else adapt)
    return model


def tracks_float(model: Any, calibration: np.ndarray) -> tuple[Graph, float]:
    """tinygen's int8 graph of ``model`` and its SQNR against the float model on 32 samples (>= SQNR_DB)."""
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8

    graph = tg.quantize(model, calibration)
    test = calibration[:32]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = _sqnr(expected, got)
    print(f"{model.name}: tinygen int8 vs float SQNR {sqnr:.1f} dB, ops {[op.kind for op in graph.ops]}")
    assert sqnr >= SQNR_DB, f"{model.name}: SQNR {sqnr:.1f} dB < {SQNR_DB} dB"
    return graph, sqnr


def converter_graph(model: Any, calibration: np.ndarray) -> tuple[Graph, float]:
    """TensorFlow's converter on ``model``: the .tflite imports, tinygen's reference equals TFLite Micro on 3
    random int8 inputs; returns the imported graph and its SQNR against the float model."""
    from tinygen.quantize.report import run_int8
    from tinygen.tfconvert import keras_to_int8_tflite

    data = keras_to_int8_tflite(model, calibration)  # the calibration tinygen's quantizer had
    graph = import_tflite(data)
    shape = graph.tensors[graph.inputs[0]].shape
    for x in np.random.default_rng(1).integers(-128, 128, (3, *shape)).astype(np.int8):
        np.testing.assert_array_equal(reference.run(graph, [x])[graph.outputs[0]],
                                      tflm_run(data, [x])[graph.outputs[0]])
    test = calibration[:32]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    return graph, _sqnr(expected, got)


# --------------------------------------------------------------------------- the float map is Keras's


FORMULA_CASES = {
    # name: (input shape, layer factory (adapt data given), op kinds of the float graph)
    "last_2d": ((6,), lambda: L.Normalization(), ["depthwise_conv2d"]),
    "last_4d": ((3, 4, 6), lambda: L.Normalization(), ["depthwise_conv2d"]),
    "last_3d": ((5, 6), lambda: L.Normalization(axis=-1), ["depthwise_conv2d"]),
    "scalar": ((5, 6), lambda: L.Normalization(axis=None), ["depthwise_conv2d"]),
    "axis1_3d": ((5, 6), lambda: L.Normalization(axis=1), ["reshape", "depthwise_conv2d", "reshape"]),
    "axes12_4d": ((3, 4, 6), lambda: L.Normalization(axis=(1, 2)), ["reshape", "depthwise_conv2d", "reshape"]),
    "invert": ((3, 4, 6), lambda: L.Normalization(invert=True), ["depthwise_conv2d"]),
    "given": ((6,), lambda: L.Normalization(mean=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                                            variance=[0.0, 1.0, 4.0, 0.25, 9.0, 1e-16]), ["depthwise_conv2d"]),
    "given_scalar_invert": ((4, 6), lambda: L.Normalization(mean=3.0, variance=2.0, invert=True),
                            ["depthwise_conv2d"]),
}


@pytest.mark.parametrize("case", sorted(FORMULA_CASES))
def test_float_graph_is_keras_formula(case: str) -> None:
    """The float graph (after the passes: the op the int8 graph will have) equals the Keras layer, including the
    epsilon floor of a zero variance (``given``: variances 0 and 1e-16 divide by epsilon, not by 0 or 1e-8)."""
    from tinygen.quantize.extract import keras_to_float_graph
    from tinygen.quantize.floatexec import run_float

    shape, factory, kinds = FORMULA_CASES[case]
    layer = factory()
    model = _model(f"formula_{case}", shape, layer, adapt=_features(shape, 64, seed=2))
    fgraph = keras_to_float_graph(model)
    assert [op.kind for op in fgraph.ops if op.kind != "reshape" or kinds[0] == "reshape"] == kinds
    assert not any(op.kind == AFFINE for op in fgraph.ops)  # the passes lowered it
    x = _features(shape, 16, seed=5) * 1.5
    want = np.asarray(model.predict(x, verbose=0))
    got = run_float(fgraph, x)[fgraph.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6 * float(np.max(np.abs(want))))
    if case == "given":  # var 0 and 1e-16: (x - mean) / 1e-7 (x * 1e7 - 1e7 in float32: absolute error ~ 1e7 ulps)
        exact = (x[:, 0].astype(np.float64) - 1.0) / float(np.float32(1e-7))
        np.testing.assert_allclose(got[:, 0], exact, rtol=0, atol=2e-6 * float(np.max(np.abs(exact))))


def test_affine_registry_entry() -> None:
    """The Keras mapping lives on the internal affine kind's entry (never an int8 op: no parameters/lowering)."""
    affine = ops.get(AFFINE)
    assert affine is normalization.OP and ops.keras_layers()["Normalization"] is normalization.from_keras
    assert affine.params is None and affine.reference is None and not affine.lowerings
    from tinygen.quantize.layers import supported_layers

    assert "Normalization" in supported_layers()


# --------------------------------------------------------------------------- int8: first and in the middle


def _first_2d(x: Any) -> Any:
    return L.Dense(3)(L.Dense(8, activation="relu")(L.Normalization()(x)))


def _first_4d(x: Any) -> Any:
    return L.Conv2D(4, 3)(L.Normalization()(x))


def _middle_2d(x: Any) -> Any:  # after a Dense: folded into its weights (no op)
    return L.Dense(3)(L.Normalization()(L.Dense(6)(x)))


def _middle_2d_relu(x: Any) -> Any:  # after a Dense with ReLU: a depthwise conv on [1, 1, 1, 6]
    return L.Dense(3)(L.Normalization()(L.Dense(6, activation="relu")(x)))


def _middle_4d(x: Any) -> Any:  # after a conv with ReLU: a 1x1 depthwise conv
    return L.Conv2D(3, 1)(L.Normalization()(L.Conv2D(6, 3, activation="relu")(x)))


def _middle_3d_axis1(x: Any) -> Any:  # per time step: [1, 6, 4] -> 24 per-element pairs
    return L.Dense(2)(L.Flatten()(L.Normalization(axis=1)(L.Conv1D(4, 3, activation="relu")(x))))


def _invert_last(x: Any) -> Any:  # a de-normalizing output layer
    return L.Normalization(invert=True)(L.Dense(6, activation="tanh")(x))


INT8_CASES = {
    # name: (input shape, body, op kinds of tinygen's int8 graph)
    "first_2d": ((6,), _first_2d, ["reshape", "depthwise_conv2d", "reshape", "fully_connected", "fully_connected"]),
    "first_4d": ((6, 6, 6), _first_4d, ["depthwise_conv2d", "conv2d"]),
    "middle_2d": ((6,), _middle_2d, ["fully_connected", "fully_connected"]),
    "middle_2d_relu": ((6,), _middle_2d_relu,
                       ["fully_connected", "reshape", "depthwise_conv2d", "reshape", "fully_connected"]),
    "middle_4d": ((8, 8, 6), _middle_4d, ["conv2d", "depthwise_conv2d", "conv2d"]),
    # Conv1D is a conv2d between reshapes; every reshape is a view (no code)
    "middle_3d_axis1": ((8, 6), _middle_3d_axis1, ["reshape", "conv2d", "reshape", "reshape", "depthwise_conv2d",
                                                   "reshape", "reshape", "fully_connected"]),
    "invert_last": ((6,), _invert_last, ["fully_connected", "tanh", "reshape", "depthwise_conv2d", "reshape"]),
}


def _int8_model(case: str) -> tuple[Any, np.ndarray]:
    shape, body, _ = INT8_CASES[case]
    calibration = _features(shape)
    model = _model(case, shape, body, adapt=calibration)
    if case == "invert_last":  # de-normalize to the training data's statistics
        norm = model.layers[-1]
        norm.adapt(_features((6,), 256, seed=9) * 3.0 + 10.0)
    return model, calibration


@pytest.fixture(scope="module")
def int8_models() -> dict[str, tuple[Any, np.ndarray, Graph, float]]:
    built = {}
    for case in INT8_CASES:
        model, calibration = _int8_model(case)
        graph, sqnr = tracks_float(model, calibration)
        built[case] = (model, calibration, graph, sqnr)
    return built


@pytest.mark.parametrize("case", sorted(INT8_CASES))
def test_int8_tracks_float(case: str, int8_models: dict[str, tuple[Any, np.ndarray, Graph, float]]) -> None:
    _, _, graph, sqnr = int8_models[case]
    kinds = [op.kind for op in graph.ops]
    assert kinds == INT8_CASES[case][2], kinds
    assert sqnr >= SQNR_DB
    for op in graph.ops:
        if op.kind == "depthwise_conv2d":  # per-channel weights, one per channel: each exactly +-127 or 0
            w = graph.tensors[op.inputs[1]]
            assert w.quant.scale.size == w.shape[-1] and np.all(np.isin(np.abs(w.data), (0, 127)))


@pytest.mark.parametrize("case", sorted(INT8_CASES))
def test_converter_imports_equals_tflite_micro(case: str,
                                               int8_models: dict[str, tuple[Any, np.ndarray, Graph, float]]) -> None:
    """TensorFlow's converter on the same model: its ``.tflite`` imports and tinygen's reference of it equals
    TFLite Micro. What it emits for Normalization: SUB then MUL by per-tensor quantized constants (MUL then ADD
    with ``invert``), or nothing where it folds the map into the fully connected layer after it. tinygen's
    depthwise form is at least as accurate (within 0.5 dB) everywhere."""
    model, calibration, _, ours = int8_models[case]
    graph, theirs = converter_graph(model, calibration)
    kinds = [op.kind for op in graph.ops]
    print(f"{case}: converter ops {kinds}, SQNR {theirs:.1f} dB; tinygen {ours:.1f} dB")
    assert ours >= theirs - 0.5, (case, ours, theirs, kinds)


# --------------------------------------------------------------------------- generated C, QAT, CLI


@pytest.mark.parametrize("case", ["first_2d", "middle_4d", "middle_3d_axis1"])
def test_generated_c_equals_reference(case: str, int8_models: dict[str, tuple[Any, np.ndarray, Graph, float]],
                                      tmp_path: Path) -> None:
    _, _, graph, _ = int8_models[case]
    size = graph.tensors[graph.inputs[0]].size
    vectors = np.random.default_rng(5).integers(-128, 128, (3, size)).astype(np.int8)
    vectors[0] = np.resize(np.arange(-128, 128), size)  # every int8 value
    manifest = opcheck.check_c(graph, tmp_path, vectors)
    kernels = [layer["kernel"] for layer in manifest["layers"] if layer["op"] == "depthwise_conv2d"]
    assert len(kernels) == 1 and kernels[0].startswith("tg_depthwise"), manifest["layers"]


@pytest.mark.parametrize("case", ["first_4d", "middle_2d", "middle_2d_relu", "invert_last"])
def test_qat_reproduces_post_training_quantization(case: str, int8_models: dict[str, Any]) -> None:
    """tinygen.qat prepare/convert (no training) gives the post-training graph: same ops, attributes, tensors and
    quantization (the Normalization is a depthwise conv or folded into a dense in both)."""
    from tinygen import qat

    model, calibration, ptq, _ = int8_models[case]
    prepared = qat.prepare(model, calibration)
    graph = qat.convert(prepared)
    assert [(op.kind, op.inputs, op.outputs) for op in graph.ops] == [
        (op.kind, op.inputs, op.outputs) for op in ptq.ops]
    for op, want in zip(graph.ops, ptq.ops):
        assert op.attrs == want.attrs, op.name
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
        if t.is_const:
            np.testing.assert_array_equal(graph.tensors[name].data, t.data, err_msg=name)
    expected = np.asarray(model.predict(calibration[:16], verbose=0), np.float64)
    got = np.asarray(prepared.predict(calibration[:16], verbose=0), np.float64)
    assert _sqnr(expected, got) >= SQNR_DB


def test_saved_model_convert_cli_and_api(int8_models: dict[str, tuple[Any, np.ndarray, Graph, float]],
                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A saved .keras keeps the adapted statistics: ``tinygen convert model.keras --calibration`` and
    ``tinygen.api.quantize(path)`` give the in-memory model's graph, and the library runs it."""
    import tinygen.api as tg
    from tinygen.cli import main

    model, calibration, graph, _ = int8_models["first_4d"]
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "c.npy", calibration)
    from_path = tg.quantize(tmp_path / "model.keras", tmp_path / "c.npy")
    assert [op.kind for op in from_path.ops] == [op.kind for op in graph.ops]
    for a, b in zip(from_path.ops, graph.ops):
        for x, y in zip(a.inputs, b.inputs):
            ta, tb = from_path.tensors[x], graph.tensors[y]
            np.testing.assert_array_equal(ta.quant.scale, tb.quant.scale)
            if tb.is_const:
                np.testing.assert_array_equal(ta.data, tb.data)
    out = tmp_path / "lib"
    argv = ["convert", str(tmp_path / "model.keras"), "--calibration", str(tmp_path / "c.npy"), "-o", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [layer["op"] for layer in manifest["layers"]] == [op.kind for op in graph.ops]
    shape = graph.tensors[graph.inputs[0]].shape
    vectors = np.random.default_rng(7).integers(-128, 128, (2, int(np.prod(shape)))).astype(np.int8)
    got, _ = hostbuild.run(hostbuild.build(out, manifest, tmp_path / "build"), vectors)
    for v, x in enumerate(vectors):
        want = reference.run(graph, [x.reshape(shape)])[graph.outputs[0]].reshape(-1)
        np.testing.assert_array_equal(got[v], want)


# --------------------------------------------------------------------------- refusals


def _float_graph(shape: tuple[int, ...], layer: Any) -> Any:
    from tinygen.quantize.extract import keras_to_float_graph

    return keras_to_float_graph(_model("refused", shape, lambda x: L.Dense(2)(L.Flatten()(layer(x)))))


def test_refusals() -> None:
    with pytest.raises(UnsupportedError, match=r"layer 'normalization.*' \(Normalization\): variance holds negative "
                                               r"values \(-1\); a variance is >= 0"):
        _float_graph((3,), L.Normalization(mean=[0.0, 1.0, 2.0], variance=[1.0, -1.0, 1.0]))
    with pytest.raises(UnsupportedError, match=r"\(Normalization\): mean holds NaN or infinite values"):
        _float_graph((3,), L.Normalization(mean=[0.0, float("nan"), 2.0], variance=[1.0, 1.0, 1.0]))
    big = L.Normalization(axis=(1, 2, 3))
    big.adapt(np.ones((2, 64, 64, 17), np.float32))
    with pytest.raises(UnsupportedError, match=r"axis=\(1, 2, 3\) on input \(1, 64, 64, 17\) gives 69632 per-element "
                                               r"scale/shift pairs \(dimensions 1\.\.3\), more than 65536: normalize "
                                               r"over the last axis"):
        _float_graph((64, 64, 17), big)
    with pytest.raises(UnsupportedError, match=r"input shape \(1,\): tinygen needs a batched input of rank 2"):
        from tinygen.quantize.extract import keras_to_float_graph

        keras_to_float_graph(_model("rank1", (), lambda x: L.Normalization(axis=None, mean=1.0, variance=4.0)(x)))
