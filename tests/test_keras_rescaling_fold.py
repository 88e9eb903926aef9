"""A per-tensor affine first layer (Keras ``Rescaling``, a ``Normalization`` with one mean and variance) folded into
the graph input's quantization by tinygen's own quantizer (tinygen/quantize/quantizer.py ``plan_input_folds``):

* the folded graph has no ``rescale`` op (a view, no code, between the input and the rescaled tensor) and its input
  quantization is ``s_in = s_y / scale``, ``z_in = z_y + offset / s_y`` (an integer), ``(s_y, z_y)`` the rescaled
  tensor's calibrated quantization, nudged where ``offset / s_y`` is not an integer (``Rescaling(1/127.5, -1)``);
* where it folds, the int8 output equals the unfolded graph's (the rescale op kept, the same quantization) for every
  int8 input: that op's table is the identity; the int8 model tracks the float one (SQNR >= 30 dB), measured against
  today's table op with the input's own calibrated range;
* the op is kept where it cannot fold: a negative scale, an input read by other layers too, a Rescaling that is not
  the first layer, an offset smaller than the rescaled tensor's step;
* QAT freezes the same grids: ``qat.convert(qat.prepare(model, calibration))`` is the folded PTQ graph;
* ``tinygen convert model.keras --calibration``: the generated C equals the reference on the host.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hostbuild
import numpy as np
import opcheck
import pytest

from tinygen import reference
from tinygen.ir import Graph, Quantization
from tinygen.ops import float_lut, rescale
from tinygen.quantize.observers import activation_params

keras = pytest.importorskip("keras")
L = keras.layers

SQNR_DB = 30.0
ALL_INT8 = np.arange(-128, 128, dtype=np.int64).astype(np.int8)


def _sqnr(expected: np.ndarray, got: np.ndarray) -> float:
    from tinygen.quantize.report import sqnr_db

    return sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))


def _model(name: str, shape: tuple[int, ...], first: Any, seed: int = 3) -> Any:
    """``first`` (a layer) then a small conv net ('same' padding: the border reads the input's zero point)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape, batch_size=1)
    x = L.Conv2D(6, 3, padding="same", activation="relu")(first(inputs))
    x = L.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = L.Conv2D(8, 1, activation="relu")(x)
    return keras.Model(inputs, L.Dense(5)(L.GlobalAveragePooling2D()(x)), name=name)


def _images(n: int = 64, shape: tuple[int, ...] = (8, 8, 3), seed: int = 0) -> np.ndarray:
    """uint8-like images: whole numbers 0..255 (both ends present)."""
    x = np.random.default_rng(seed).integers(0, 256, (n, *shape)).astype(np.float32)
    x[0].flat[0], x[0].flat[1] = 0.0, 255.0
    return x


def _normalization(data: np.ndarray) -> Any:
    layer = L.Normalization(axis=None)
    layer.adapt(data)
    return layer


#: (name, first layer factory, calibration): the folded cases
FOLDED = {
    "rescale_1_255": (lambda: L.Rescaling(1.0 / 255.0), _images),
    "rescale_mobilenet": (lambda: L.Rescaling(1.0 / 127.5, offset=-1.0), _images),
    "normalization_scalar": (lambda: _normalization(_images(256, seed=9)), _images),
    "rescale_continuous": (lambda: L.Rescaling(0.5, offset=0.25),
                           lambda: np.random.default_rng(2).uniform(-3.0, 5.0, (64, 8, 8, 3)).astype(np.float32)),
}


def _quantized(name: str) -> tuple[Any, np.ndarray, Any]:
    from tinygen.quantize.pipeline import quantize_keras

    make_layer, data = FOLDED[name]
    model = _model(name, (8, 8, 3), make_layer())
    calibration = data()
    return model, calibration, quantize_keras(model, calibration)


def _int8_sqnr(model: Any, graph: Graph, x: np.ndarray) -> float:
    from tinygen.quantize.report import run_int8

    expected = np.asarray(model.predict(x, verbose=0), np.float64)
    return _sqnr(expected, run_int8(graph, x)[graph.outputs[0]].reshape(expected.shape))


@pytest.mark.parametrize("name", list(FOLDED))
def test_fold_is_exact_and_tracks_float(name: str) -> None:
    from tinygen.quantize.quantizer import plan_input_folds, quantize_graph

    model, calibration, q = _quantized(name)
    fgraph, graph = q.float_graph, q.graph
    first = fgraph.ops[0]
    assert first.kind == rescale.KIND and first.inputs == fgraph.inputs  # Normalization too: a scalar rescale
    scale, offset = float(first.attrs["scale"]), float(first.attrs["offset"])
    kinds = [op.kind for op in graph.ops]
    assert rescale.KIND not in kinds and kinds[0] == "reshape", kinds
    view = graph.ops[0]
    assert (view.name, view.inputs, view.outputs) == (first.name, first.inputs, first.outputs)

    # the input quantization: s_in = s_y / scale, z_in = z_y + offset / s_y (a whole number in int8)
    s_in, z_in = graph.tensors[graph.inputs[0]].quant.scalar()
    s_y, z_y = graph.tensors[first.outputs[0]].quant.scalar()
    k = offset / s_y
    assert abs(k - round(k)) < 1e-4 and z_in == z_y + round(k) and -128 <= z_in <= 127
    assert np.float32(s_in) == np.float32(s_y / scale)
    # (s_y, z_y) quantizes a range containing y's calibrated one, its step no coarser than the table op's two
    # roundings (x's own grid, then y's own) in expected squared error
    lo, hi = q.ranges[first.outputs[0]]
    assert s_y * (-128 - z_y) <= min(lo, 0.0) + 1e-6 and s_y * (127 - z_y) >= max(hi, 0.0) - 1e-6
    s_x = float(activation_params(*q.ranges[first.inputs[0]])[0]) * scale
    assert s_y**2 <= (s_x**2 + float(activation_params(lo, hi)[0]) ** 2) * (1 + 1e-6)
    if offset == 0.0:  # nothing to nudge: the rescaled tensor keeps its own calibrated quantization
        assert (np.float32(s_y), z_y) == activation_params(lo, hi)

    # the unfolded graph with the same quantizations: its rescale table is the identity, and every int8 input gives
    # the same int8 values everywhere downstream
    (fold,) = plan_input_folds(fgraph, q.ranges)
    unfolded = quantize_graph(fgraph, {**q.ranges, fold.output: fold.output_range}, fold_inputs=False)
    assert unfolded.ops[0].kind == rescale.KIND
    unfolded.tensors[unfolded.inputs[0]].quant = Quantization([s_in], [z_in])
    from tinygen import qparams

    table = rescale.table(unfolded.ops[0], qparams.op_params(unfolded, unfolded.ops[0]))
    np.testing.assert_array_equal(table, float_lut.TABLE_ORDER)
    vectors = np.random.default_rng(1).integers(-128, 128, (4, *graph.tensors[graph.inputs[0]].shape)).astype(np.int8)
    vectors[0] = np.resize(ALL_INT8, vectors[0].shape)
    for x in vectors:
        a, b = reference.run(graph, [x]), reference.run(unfolded, [x])
        for t in graph.tensors:
            if not graph.tensors[t].is_const:
                np.testing.assert_array_equal(a[t], b[t], err_msg=t)

    # accuracy against the float model, and against today's table op (the input on its own calibrated range)
    today = quantize_graph(fgraph, q.ranges, fold_inputs=False)
    assert rescale.KIND in [op.kind for op in today.ops]
    test = calibration[:32]
    folded_db, today_db = _int8_sqnr(model, graph, test), _int8_sqnr(model, today, test)
    print(f"\n{name}: input ({float(s_in):.6g}, {z_in}), rescaled ({float(s_y):.6g}, {z_y}); int8 vs float SQNR "
          f"folded {folded_db:.2f} dB, table op {today_db:.2f} dB")
    assert folded_db >= SQNR_DB
    assert folded_db >= today_db - 1.0


def test_uint8_images_are_exact_on_the_input_grid() -> None:
    """Rescaling(1/255) on 0..255 images: the library's int8 input is ``pixel - 128`` exactly (scale 1), as today's
    graph had it, and the whole int8 graph is today's without the table op (which was the identity)."""
    from tinygen.quantize.quantizer import quantize_graph
    from tinygen.quantize.report import quantize_input

    _, calibration, q = _quantized("rescale_1_255")
    graph = q.graph
    assert graph.tensors[graph.inputs[0]].quant.scalar() == (1.0, -128)
    pixels = calibration[:4]
    np.testing.assert_array_equal(quantize_input(graph, pixels).astype(np.int64), pixels.astype(np.int64) - 128)
    today = quantize_graph(q.float_graph, q.ranges, fold_inputs=False)
    for x in quantize_input(graph, pixels):
        np.testing.assert_array_equal(reference.run(graph, [x[None]])[graph.outputs[0]],
                                      reference.run(today, [x[None]])[graph.outputs[0]])


def _kept(first: Any, data: np.ndarray, body: Any = None) -> Graph:
    from tinygen.quantize.pipeline import quantize_keras

    keras.utils.set_random_seed(5)
    inputs = keras.Input(data.shape[1:], batch_size=1)
    out = body(inputs, first(inputs)) if body else L.Dense(3)(L.Flatten()(L.Conv2D(4, 3)(first(inputs))))
    graph = quantize_keras(keras.Model(inputs, out), data).graph
    assert graph.ops[0].kind == rescale.KIND or rescale.KIND in [op.kind for op in graph.ops]
    return graph


def test_cases_that_keep_the_op() -> None:
    images = _images(32, (6, 6, 3))
    # a negative scale reverses the order: no grid of x maps onto y's with the same integers
    graph = _kept(lambda x: L.Rescaling(-1.0 / 255.0, offset=1.0)(x), images)
    assert graph.ops[0].kind == rescale.KIND and graph.tensors[graph.inputs[0]].quant.scalar() == (1.0, -128)
    # the input is read by another layer too
    graph = _kept(lambda x: L.Rescaling(1.0 / 255.0)(x), images,
                  body=lambda x, y: L.Add()([L.Conv2D(3, 1)(y), L.Conv2D(3, 1)(x)]))
    assert graph.ops[0].kind == rescale.KIND
    # not the first layer
    graph = _kept(lambda x: L.Rescaling(0.5, offset=0.25)(L.Conv2D(3, 1)(x)), images)
    assert [op.kind for op in graph.ops][:2] == ["conv2d", rescale.KIND]
    # an offset of a quarter of the rescaled tensor's step: offset / s_y is 0.25 at the finest and 0 is no fold
    graph = _kept(lambda x: L.Rescaling(1.0 / 255.0, offset=0.001)(x), images)
    assert graph.ops[0].kind == rescale.KIND
    # an offset of 1.5 steps: the only fold (offset / s_y = 1) needs a step 1.5 times y's own, coarser than the
    # table op's two roundings (x's own grid is exact on whole pixels, then y's)
    graph = _kept(lambda x: L.Rescaling(1.0 / 255.0, offset=1.5 / 255.0)(x), images)
    assert graph.ops[0].kind == rescale.KIND


def test_fold_range_rules() -> None:
    from tinygen.quantize.quantizer import fold_range

    # MobileNet's [-1, 1]: 1/127 steps (-1 and 1 on the grid), the input's zero point at -127 or -128
    lo, hi = fold_range(-1.0, 1.0, -1.0)
    s, z = activation_params(lo, hi)
    assert float(s) == pytest.approx(1.0 / 127.0) and z in (-1, 0) and lo <= -1.0 and hi >= 1.0
    assert fold_range(lo, hi, -1.0) == pytest.approx((lo, hi))  # idempotent
    assert fold_range(np.float32(lo), np.float32(hi), -1.0) == pytest.approx((lo, hi))  # after float32
    assert fold_range(0.0, 1.0, 0.0) == (0.0, 1.0)
    assert fold_range(0.0, 1.0, 0.001) is None  # a quarter of a step
    assert fold_range(0.0, 0.0, 1.0) is None  # nothing to quantize
    # an offset of many ranges: possible with offset / s_y up to 255 (the input's zero point in int8), but 500
    # times coarser (offset / s_y = 254): plan_input_folds refuses it (coarser than the op)
    lo, hi = fold_range(-1.0, 1.0, 1000.0)
    assert float(activation_params(lo, hi)[0]) == pytest.approx(1000.0 / 254)


def test_qat_reproduces_the_folded_quantization() -> None:
    from tinygen import qat
    from tinygen.quantize.report import quantize_input

    for name in ("rescale_mobilenet", "normalization_scalar"):
        model, calibration, q = _quantized(name)
        prepared = qat.prepare(model, calibration)
        graph = qat.convert(prepared)
        ptq = q.graph
        assert [(op.kind, op.name, op.inputs, op.outputs, op.attrs) for op in graph.ops] == \
            [(op.kind, op.name, op.inputs, op.outputs, op.attrs) for op in ptq.ops]
        assert set(graph.tensors) == set(ptq.tensors)
        for tname, t in ptq.tensors.items():
            np.testing.assert_array_equal(graph.tensors[tname].quant.scale, t.quant.scale, err_msg=tname)
            np.testing.assert_array_equal(graph.tensors[tname].quant.zero_point, t.quant.zero_point, err_msg=tname)
            if t.is_const:
                np.testing.assert_array_equal(graph.tensors[tname].data, t.data, err_msg=tname)
        # the fake-quantized model predicts the int8 graph's outputs
        x = calibration[:16]
        scale, zero_point = ptq.tensors[ptq.outputs[0]].quant.scalar()
        predicted = np.rint(prepared.predict(x, verbose=0) / float(scale) + zero_point)
        expected = np.stack([reference.run(ptq, quantize_input(ptq, x[i:i + 1]))[ptq.outputs[0]].reshape(-1)
                             for i in range(len(x))])
        np.testing.assert_array_equal(predicted, expected, err_msg=name)
        # training keeps the folded grids (frozen: the raw data's range) and convert folds again
        prepared.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        prepared.fit(x, model.predict(x, verbose=0), epochs=1, batch_size=8, verbose=0)
        trained = qat.convert(prepared)
        assert rescale.KIND not in [op.kind for op in trained.ops]
        for tname in (ptq.inputs[0], ptq.ops[0].outputs[0]):
            assert trained.tensors[tname].quant.scalar() == ptq.tensors[tname].quant.scalar(), tname


def test_convert_cli_and_generated_c(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model, calibration, q = _quantized("rescale_mobilenet")
    graph = q.graph
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "c.npy", calibration)
    out = tmp_path / "lib"
    argv = ["convert", str(tmp_path / "model.keras"), "--calibration", str(tmp_path / "c.npy"), "-o", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [layer["op"] for layer in manifest["layers"]] == [op.kind for op in graph.ops]
    s_in, z_in = graph.tensors[graph.inputs[0]].quant.scalar()
    assert (manifest["input"]["scale"], manifest["input"]["zero_point"]) == pytest.approx((s_in, z_in))
    size = graph.tensors[graph.inputs[0]].size
    vectors = np.random.default_rng(7).integers(-128, 128, (3, size)).astype(np.int8)
    vectors[0] = np.resize(ALL_INT8, size)
    got, _ = hostbuild.run(hostbuild.build(out, manifest, tmp_path / "build"), vectors)
    for v, x in enumerate(vectors):
        want = reference.run(graph, [x.reshape(graph.tensors[graph.inputs[0]].shape)])[graph.outputs[0]].reshape(-1)
        np.testing.assert_array_equal(got[v], want)
    opcheck.check_c(graph, tmp_path / "check", vectors)
