"""REDUCE_MAX and SUM (tinygen/ops/reduce_max.py, sum.py, reduce_common.py; kernels templates/kernels/
tg_reduce_max_s8.{c,h}, tg_reduce_sum_s8.{c,h}).

* the checks: axes out of range, int32 axes only, the declared output shape, REDUCE_MAX's equal quantizations,
  SUM's int32 limit and left shift, int8 only;
* the canonical layout ``[K0, R0, K1, ..., Kg]`` against numpy (hypothesis);
* the reference against TFLite Micro's interpreter over random shapes, axes (negative, repeated, none), keep_dims
  and quantizations (hypothesis, hand-built single-op ``.tflite`` files), and models of TensorFlow's converter
  (Keras GlobalMaxPooling1D/2D, ``keras.ops.sum``);
* the generated C against the reference on the host (gcc and clang, ASan/UBSan, and the DSP path emulated) through
  every kernel path (rows with and without a channel tail, contiguous runs, the general path, in place), each
  kernel for every Cortex-M core, and in QEMU on Cortex-M3 and M7;
* the Keras flow (GlobalMaxPooling1D/2D, keepdims both ways), QAT, and ``tinygen convert``.
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

from tinygen import codegen, qparams, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import reduce_common, reduce_max
from tinygen.ops import sum as sum_op
from tinygen.oracle import tflm_run

BUILTINS = {"reduce_max": "REDUCE_MAX", "sum": "SUM"}
KERNELS = {"reduce_max": "tg_reduce_max_s8", "sum": "tg_reduce_sum_s8"}


# --------------------------------------------------------------------------- models


def reduced_shape(shape: tuple[int, ...], axes: Any, keep: bool) -> tuple[int, ...]:
    resolved = {int(a) % len(shape) for a in axes} if shape else set()
    if keep:
        return tuple(1 if i in resolved else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in resolved)


def single_op_model(kind: str, shape: tuple[int, ...], axes: Any, keep: bool, qin: tuple[float, int] = (0.05, 3),
                    qout: tuple[float, int] | None = None, out_shape: tuple[int, ...] | None = None,
                    axes_dtype: str = "int32") -> bytes:
    """A .tflite holding one int8 REDUCE_MAX or SUM, its axes a constant operand (as given: negative, repeated)."""
    axes_data = np.array(axes, dtype=np.int64 if axes_dtype == "int64" else np.int32)
    tensors = [FbTensor("x", shape, "int8", *qin), FbTensor("axes", (len(axes),), axes_dtype, data=axes_data),
               FbTensor("y", out_shape or reduced_shape(shape, axes, keep), "int8", *(qout or qin))]
    op = FbOp(BUILTINS[kind], [0, 1], [2], "ReducerOptions", {"KeepDims": keep})
    return build_tflite(tensors, [op], [0], [2])


def chain_model(shape: tuple[int, ...], steps: list[tuple[str, tuple[int, ...], bool]], scale: float = 0.05,
                zero_point: int = -7) -> bytes:
    """One int8 tensor through ``steps`` (kind, axes, keep_dims); a SUM's output gets a scale that fits its sums."""
    tensors, ops, current, q = [FbTensor("x", shape, "int8", scale, zero_point)], [], shape, (scale, zero_point)
    for k, (kind, axes, keep) in enumerate(steps):
        src = len(tensors) - 1
        n = int(np.prod([current[a] for a in {a % len(current) for a in axes}]))
        q = q if kind == "reduce_max" else (q[0] * max(1.0, np.sqrt(n) * 2.0), (zero_point + 11 * k) % 256 - 128)
        current = reduced_shape(current, axes, keep)
        tensors += [FbTensor(f"axes{k}", (len(axes),), "int32", data=np.array(axes, np.int32)),
                    FbTensor(f"t{k}", current, "int8", *q)]
        ops.append(FbOp(BUILTINS[kind], [src, src + 1], [src + 2], "ReducerOptions", {"KeepDims": keep}))
    return build_tflite(tensors, ops, [0], [len(tensors) - 1])


def ir_graph(kind: str, shape: tuple[int, ...], axes: Any, keep: bool = False, out_shape: Any = None,
             qin: tuple[float, int] = (0.05, 3), qout: tuple[float, int] = (0.05, 3), dtype: str = "int8") -> Graph:
    g = Graph("reduce")
    g.add_tensor(Tensor("x", shape, dtype, Quantization([qin[0]], [qin[1]])))
    g.add_tensor(Tensor("y", out_shape if out_shape is not None else reduced_shape(shape, axes, keep), "int8",
                        Quantization([qout[0]], [qout[1]])))
    g.add_op(Op(kind, "r", ["x"], ["y"], {"axes": axes, "keep_dims": keep}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def random_int8(shape: tuple[int, ...], count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(count)]


# --------------------------------------------------------------------------- checks


def test_values_by_hand() -> None:
    x = np.array([[1, -2, 3], [4, 5, -128]], np.int8)
    g = ir_graph("reduce_max", (2, 3), (-1, 1), keep=True)  # a negative axis and its repeat: axis 1 once
    g.validate()
    assert qparams.op_params(g, g.ops[0]) == reduce_max.ReduceMaxParams(axes=(1,), keep_dims=True)
    assert reference.run(g, x)["y"].tolist() == [[3], [5]]
    # SUM, scales 1 -> 2, zero points 3 -> -1: sums -1, -3, -131 of x - 3, halved: -0.5, -1.5, -65.5, which the
    # doubling high multiply rounds to 0, -1, -65 (negative halves toward zero), then the output zero point -1
    g = ir_graph("sum", (2, 3), (0,), qin=(1.0, 3), qout=(2.0, -1))
    p = qparams.op_params(g, g.ops[0])
    assert (p.num_elements, p.multiplier, p.shift) == (2, 1 << 30, 0)
    assert reference.run(g, x)["y"].tolist() == [-1, -2, -66]


@pytest.mark.parametrize("kind", sorted(BUILTINS))
def test_axis_out_of_range_is_refused(kind: str) -> None:
    with pytest.raises(TinygenError, match=r"axis 3 is out of range for input 'x' of shape \(2, 3, 4\): axes must be "
                                           r"in \[-3, 2\] \(TFLite Micro rejects it too\)"):
        ir_graph(kind, (2, 3, 4), (3,), out_shape=(2, 3, 4)).validate()
    with pytest.raises(TinygenError, match=r"axis -4 is outside \[-3, 2\] \(TFLite Micro rejects it too\); corrupt"):
        import_tflite(single_op_model(kind, (2, 3, 4), (1, -4), False, out_shape=(2, 4)))


@pytest.mark.parametrize("kind", sorted(BUILTINS))
def test_declared_output_shape_must_be_the_reduced_one(kind: str) -> None:
    with pytest.raises(TinygenError, match=r"output 'y' has shape \(2, 1, 4\), expected \(2, 4\)"):
        ir_graph(kind, (2, 3, 4), (1,), keep=False, out_shape=(2, 1, 4)).validate()
    with pytest.raises(TinygenError, match=r"expected \(1, 3, 1\)"):
        import_tflite(single_op_model(kind, (2, 3, 4), (0, 2), True, out_shape=(3,)))


@pytest.mark.parametrize("kind", sorted(BUILTINS))
def test_int64_axes_and_other_types_are_refused(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import test_reference_ops
    import tflite

    monkeypatch.setitem(test_reference_ops._FB_TYPES, "int64", tflite.TensorType.INT64)
    data = single_op_model(kind, (2, 3), (1,), False, axes_dtype="int64")
    with pytest.raises(TinygenError, match="TFLite Micro cannot load the model"):
        tflm_run(data, [np.zeros((2, 3), np.int8)])
    with pytest.raises(UnsupportedError, match=rf"its axes \(tensor 'axes' \[1\] int64\) must be int32: TFLite Micro's "
                                                rf"{BUILTINS[kind]} refuses other types"):
        import_tflite(data)
    with pytest.raises(UnsupportedError, match="tensor 'x' is int16.*int8 only"):
        ir_graph(kind, (2, 3), (1,), dtype="int16").validate()


@pytest.mark.parametrize("qout", [(0.1, 3), (0.05, 4), (float(np.nextafter(np.float32(0.05), np.float32(1))), 3)])
def test_reduce_max_other_output_quantization_is_refused(qout: tuple[float, int]) -> None:
    with pytest.raises(TinygenError, match=r"input 'x' has scale 0\.05, zero point 3 but output 'y' has scale .*; "
                                           r"TFLite Micro's int8 REDUCE_MAX requires them equal"):
        ir_graph("reduce_max", (2, 3), (1,), qout=qout).validate()
    data = single_op_model("reduce_max", (2, 3), (1,), False, qout=qout)
    with pytest.raises(TinygenError, match="TFLite Micro failed to run the model"):  # its Eval checks them too
        tflm_run(data, [np.zeros((2, 3), np.int8)])
    with pytest.raises(TinygenError, match="requires them equal"):
        import_tflite(data)


def test_sum_limits() -> None:
    n = reduce_common.MAX_SUM_ELEMENTS + 1
    ir_graph("sum", (1, n - 1), (1,)).validate()
    with pytest.raises(UnsupportedError, match=rf"axes \[1\] of input 'x' of shape \(1, {n}\) sum {n} elements per "
                                                rf"output; tinygen's int32 sum supports at most {n - 1}"):
        ir_graph("sum", (1, n), (-1,)).validate()
    g = ir_graph("sum", (2, 3), (1,), qin=(1.0, 0), qout=(2.0**-31, 0))
    g.validate()  # legal with single rounding (QuantizeMultiplier saturates the shift at 30), not with double:
    with pytest.raises(TinygenError, match=r"input 'x' / output 'y' scale ratio 2\.14748e\+09 needs a left shift of "
                                           r"32 bits; TFLite's requantization shifts int32 values by at most 30"):
        qparams.op_params(g, g.ops[0])
    assert qparams.op_params(g, g.ops[0], "single").shift == 30


def test_empty_input_reference_and_lowering(tmp_path: Path) -> None:
    """TFLite's reference leaves -128 (REDUCE_MAX) / 0 (SUM) where nothing was reduced; the lowering refuses."""
    for kind, value in (("reduce_max", -128), ("sum", 0)):
        g = ir_graph(kind, (2, 0, 3), (1,), qout=(0.05, 3) if kind == "reduce_max" else (0.5, 9))
        assert reference.run(g, np.zeros((2, 0, 3), np.int8))["y"].tolist() == [[value] * 3] * 2
        with pytest.raises(UnsupportedError, match=r"input 'x' of shape \(2, 0, 3\) is empty"):
            codegen.generate(g, tmp_path / kind, force=True)


@settings(max_examples=200, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=7).map(tuple), data=st.data())
def test_canonical_layout(shape: tuple[int, ...], data: st.DataObject) -> None:
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, max(len(shape) - 1, 0))))) if shape else ())
    dims = reduce_common.canonical_dims(shape, axes)
    assert len(dims) % 2 == 1 and len(dims) >= 3 and int(np.prod(dims)) == int(np.prod(shape))
    x = np.arange(int(np.prod(shape))).reshape(shape)
    want = x.max(axis=axes) if axes else x
    got = x.reshape(dims).max(axis=tuple(range(1, len(dims), 2)))
    np.testing.assert_array_equal(got.reshape(-1), want.reshape(-1))
    assert int(np.prod(dims[1::2])) == reduce_common.num_elements(shape, axes)


# --------------------------------------------------------------------------- against TFLite Micro


@st.composite
def reduction(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...], bool]:
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=5)))
    rank = len(shape)
    axes = tuple(draw(st.lists(st.integers(-rank, rank - 1), min_size=0, max_size=rank + 1)))
    return shape, axes, draw(st.booleans())


def _scale(exponent: float) -> float:
    return float(np.float32(2.0**exponent))


@settings(max_examples=150, deadline=None)
@given(case=reduction(), scale=st.floats(-10.0, 2.0).map(_scale), zero_point=st.integers(-128, 127),
       seed=st.integers(0, 2**16))
@example(case=((1, 7, 7, 32), (1, 2), True), scale=0.1, zero_point=-128, seed=0)  # GlobalMaxPooling2D
@example(case=((2, 3, 4, 5, 3), (0, -1, 2, 0), False), scale=1.0, zero_point=127, seed=1)
def test_reduce_max_matches_tflite_micro(case: tuple[tuple[int, ...], tuple[int, ...], bool], scale: float,
                                         zero_point: int, seed: int) -> None:
    shape, axes, keep = case
    data = single_op_model("reduce_max", shape, axes, keep, (scale, zero_point))
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops] == ["reduce_max"]
    for x in random_int8(shape, 2, seed):
        np.testing.assert_array_equal(reference.run(graph, [x])["y"], tflm_run(data, [x])["y"])


@settings(max_examples=200, deadline=None)
@given(case=reduction(), in_scale=st.floats(-10.0, 2.0).map(_scale), ratio=st.floats(-6.0, 8.0),
       zps=st.tuples(st.integers(-128, 127), st.integers(-128, 127)), seed=st.integers(0, 2**16))
@example(case=((1, 7, 7, 32), (1, 2), False), in_scale=0.05, ratio=5.0, zps=(-128, 0), seed=0)
@example(case=((4, 5), (), False), in_scale=0.05, ratio=0.0, zps=(3, 3), seed=1)  # equal quantizations: requantized
@example(case=((3, 600), (1,), True), in_scale=1.0, ratio=-2.0, zps=(127, -128), seed=2)  # saturating
def test_sum_matches_tflite_micro(case: tuple[tuple[int, ...], tuple[int, ...], bool], in_scale: float, ratio: float,
                                  zps: tuple[int, int], seed: int) -> None:
    shape, axes, keep = case
    data = single_op_model("sum", shape, axes, keep, (in_scale, zps[0]), (_scale(np.log2(in_scale) + ratio), zps[1]))
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops] == ["sum"]
    for x in random_int8(shape, 2, seed) + [np.full(shape, v, np.int8) for v in (-128, 127)]:
        np.testing.assert_array_equal(reference.run(graph, [x])["y"], tflm_run(data, [x])["y"])


@pytest.fixture(scope="module")
def converter_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """TensorFlow's converter on Keras global max pooling (1-D, 2-D, keepdims both ways) and keras.ops.sum."""
    keras = pytest.importorskip("keras")
    from tinygen.tfconvert import keras_to_int8_tflite

    L = keras.layers
    bodies = {
        "gmp2d_keep": ((6, 5, 3), lambda x: L.GlobalMaxPooling2D(keepdims=True)(L.Conv2D(6, 3)(x))),
        "gmp1d": ((12, 4), lambda x: L.GlobalMaxPooling1D()(L.Conv1D(5, 3)(x))),
        "sum": ((4, 5, 6), lambda x: L.Lambda(lambda t: keras.ops.sum(t, axis=(1, 3)))(L.Dense(6)(x))),
    }
    folder = tmp_path_factory.mktemp("reduce_models")
    paths = {}
    for i, (name, (shape, body)) in enumerate(bodies.items()):
        keras.utils.set_random_seed(50 + i)
        inp = keras.Input(shape, batch_size=1)
        samples = np.random.default_rng(i).normal(0.0, 1.0, (32, *shape)).astype(np.float32)
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(keras_to_int8_tflite(keras.Model(inp, body(inp), name=name), samples))
    return paths


@pytest.mark.parametrize(("name", "kind", "axes", "keep"), [
    ("gmp2d_keep", "reduce_max", (1, 2), True), ("gmp1d", "reduce_max", (1,), False), ("sum", "sum", (1, 3), False)])
def test_converter_models_match_tflite_micro(converter_models: dict[str, Path], name: str, kind: str,
                                             axes: tuple[int, ...], keep: bool) -> None:
    data = converter_models[name].read_bytes()
    graph = import_tflite(data)
    op = graph.ops[-1]
    assert (op.kind, op.attrs["axes"], op.attrs["keep_dims"]) == (kind, axes, keep), [o.kind for o in graph.ops]
    x_shape = graph.tensors[graph.inputs[0]].shape
    for x in random_int8(x_shape, 6, seed=5) + [np.full(x_shape, v, np.int8) for v in (-128, 127)]:
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for o in graph.ops:
            np.testing.assert_array_equal(got[o.outputs[0]], want[o.outputs[0]], err_msg=f"{o.kind} {o.name}")


# --------------------------------------------------------------------------- generated C on the host


#: chains through every kernel path: (input shape, steps (kind, axes, keep_dims), each step's canonical layout)
CHAINS: dict[str, tuple[tuple[int, ...], list[tuple[str, tuple[int, ...], bool]], list[list[int]]]] = {
    # rows of 23 channels (5 groups of 4 and a tail of 3) in 2 batches, 2 rows, no rows (the identity), a
    # contiguous run of 23 (DSP: words and a tail)
    "rows": ((2, 7, 1, 23), [("reduce_max", (1,), True), ("sum", (0, 2), True), ("reduce_max", (), False),
                             ("sum", (-1,), False)],
             [[2, 7, 23], [1, 2, 23], [1, 1, 23], [1, 23, 1]]),
    # rows of 3 channels (a tail only), no rows, runs of 46 (DSP words and a tail), of 3 (below the DSP's 8), of 4
    "runs": ((5, 3, 46), [("sum", (0,), True), ("reduce_max", (0,), True), ("reduce_max", (-1,), False),
                          ("sum", (1,), True), ("sum", (0, 0, -2), False)],
             [[1, 5, 138], [1, 1, 138], [3, 46, 1], [1, 3, 1], [1, 1, 1]]),
    # the general path: two reduced runs (channel blocks of 32 and a tail of 5), two ending in a reduced run, one run
    "general": ((2, 3, 4, 5, 37), [("sum", (1, 3), True), ("reduce_max", (0, 4), True), ("sum", (2,), False)],
                [[2, 3, 4, 5, 37], [1, 2, 4, 37, 1], [1, 4, 1]]),
    # three and four reduced runs (the most the kernels take)
    "runs4": ((2, 2, 3, 2, 3, 2, 7), [("sum", (1, 3, 5), True), ("reduce_max", (0, 2, 4, 6), True)],
              [[2, 2, 3, 2, 3, 2, 7], [1, 126, 1]]),
    "max4": ((2, 2, 3, 2, 3, 2, 7), [("reduce_max", (0, 2, 4, 6), True), ("sum", (1, 3, 5), True)],
             [[1, 2, 2, 3, 2, 3, 2, 7, 1], [1, 8, 1]]),
}


def _vectors(shape: tuple[int, ...], seed: int) -> np.ndarray:
    size = int(np.prod(shape))
    extremes = [np.full(size, v, np.int8) for v in (-128, 127)]
    return np.stack([np.arange(size) % 256 - 128, *extremes, *random_int8((size,), 3, seed)]).astype(np.int8)


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_generated_c_equals_reference(tmp_path: Path, name: str) -> None:
    shape, steps, layouts = CHAINS[name]
    graph = import_tflite(chain_model(shape, steps), name=name)
    for op, layout in zip(graph.ops, layouts):
        assert reduce_common.canonical_dims(graph.tensors[op.inputs[0]].shape, op.attrs["axes"]) == layout
    vectors = _vectors(shape, len(name))
    manifest = opcheck.check_c(graph, tmp_path, vectors)
    assert [layer["kernel"] for layer in manifest["layers"]] == [KERNELS[kind] for kind, _, _ in steps]
    assert manifest["layers"][-1]["in_place"] == graph.ops[-1].inputs[0]  # its input dies there
    # the DSP path, emulated in C on the host
    hb = hostbuild.build(tmp_path / "lib", manifest, tmp_path / "dsp", sanitize=True, dsp_emulate=True, dump=True)
    _, dumps = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        ref = reference.run(graph, [x.reshape(shape)])
        for layer, got in zip(manifest["layers"], dumps[v]):
            np.testing.assert_array_equal(got, ref[layer["output_tensor"]].reshape(-1), err_msg=f"layer {layer}")


def test_global_pooling_rows_beyond_one_dsp_chunk(tmp_path: Path) -> None:
    """More than 256 rows: the DSP sum flushes its 16-bit lanes; extreme values would overflow them otherwise."""
    shape = (1, 20, 30, 8)
    graph = import_tflite(chain_model(shape, [("sum", (1, 2), False)]), name="chunks")
    manifest = opcheck.check_c(graph, tmp_path, _vectors(shape, 1))
    hb = hostbuild.build(tmp_path / "lib", manifest, tmp_path / "dsp", dsp_emulate=True)
    vectors = _vectors(shape, 2)
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(shape)])[graph.outputs[0]].reshape(-1))


def test_alternation_beyond_the_kernels_is_refused(tmp_path: Path) -> None:
    g = ir_graph("reduce_max", (2,) * 10, (1, 3, 5, 7, 9))
    with pytest.raises(UnsupportedError, match=r"alternate kept and reduced dimensions 5 times; tinygen's reduction "
                                                r"kernels handle at most 4"):
        codegen.generate(g, tmp_path / "lib", force=True)


# --------------------------------------------------------------------------- QEMU


#: single reductions with many outputs (QEMU compares the model's output): NHWC global pooling (the sum over 289
#: rows: more than one 16-bit chunk on the DSP path), the general path of each kernel, contiguous runs
QEMU_MODELS: dict[str, tuple[tuple[int, ...], list[tuple[str, tuple[int, ...], bool]]]] = {
    "pool_max": ((2, 9, 7, 23), [("reduce_max", (1, 2), False)]),
    "pool_sum": ((1, 17, 17, 22), [("sum", (1, 2), True)]),
    "general_sum": ((2, 3, 4, 5, 37), [("sum", (1, 3), False)]),
    "general_max": ((2, 3, 4, 5, 7), [("reduce_max", (0, 2, 4), True)]),
    "runs_sum": ((15, 46), [("sum", (-1,), False)]),
}


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
@pytest.mark.parametrize("name", sorted(QEMU_MODELS))
def test_bit_exact_in_qemu(board: str, name: str, tmp_path: Path) -> None:
    shape, steps = QEMU_MODELS[name]
    model = tmp_path / f"reduce_{name}.tflite"
    model.write_bytes(chain_model(shape, steps))
    kernels: list[str | None] = [KERNELS[kind] for kind, _, _ in steps]
    print(opcheck.check_qemu(model, board, tmp_path / "work", _vectors(shape, 0)[:3], kernels))


# --------------------------------------------------------------------------- Keras flow


#: what the other Keras tests require of one int8 layer (tests/test_quantizer.py SQNR_DB)
SQNR_DB = 30.0


def _keras_model(layer: str, keep: bool) -> tuple[Any, tuple[int, ...]]:
    keras = pytest.importorskip("keras")
    L = keras.layers
    keras.utils.set_random_seed(7)
    if layer == "GlobalMaxPooling2D":
        shape: tuple[int, ...] = (8, 7, 3)
        inputs = keras.Input(shape, batch_size=1)
        y = L.GlobalMaxPooling2D(keepdims=keep)(L.Conv2D(12, 3, padding="same", activation="relu")(inputs))
    else:
        shape = (16, 4)
        inputs = keras.Input(shape, batch_size=1)
        y = L.GlobalMaxPooling1D(keepdims=keep)(L.Conv1D(10, 3, activation="relu")(inputs))
    return keras.Model(inputs, L.Dense(4)(L.Flatten()(y) if keep else y)), shape


@pytest.mark.parametrize(("layer", "keep"), [("GlobalMaxPooling2D", False), ("GlobalMaxPooling1D", True)])
def test_keras_global_max_pooling_tracks_the_float_model(layer: str, keep: bool) -> None:
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db

    model, shape = _keras_model(layer, keep)
    calibration = np.random.default_rng(0).standard_normal((96, *shape)).astype(np.float32)
    graph = tg.quantize(model, calibration)
    ops = [op for op in graph.ops if op.kind == "reduce_max"]
    assert len(ops) == 1 and ops[0].attrs["keep_dims"] == keep
    assert ops[0].attrs["axes"] == ((1, 2) if layer == "GlobalMaxPooling2D" else (1,))
    x, y = graph.tensors[ops[0].inputs[0]], graph.tensors[ops[0].outputs[0]]
    assert x.quant.scalar() == y.quant.scalar()  # SAME_AS_INPUT
    test = calibration[:24]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    print(f"{layer} keepdims={keep}: int8 vs float SQNR {sqnr:.1f} dB")
    assert sqnr >= SQNR_DB, f"SQNR {sqnr:.1f} dB < {SQNR_DB} dB"
    # TensorFlow's converter makes the same REDUCE_MAX (its reshapes differ: Conv1D as a 2-D convolution, Flatten
    # folded into the Dense)
    theirs = tg.quantize(model, calibration, quantizer="tflite")
    assert [(op.attrs["axes"], op.attrs["keep_dims"]) for op in theirs.ops if op.kind == "reduce_max"] == [
        (ops[0].attrs["axes"], keep)]


def test_float_references_on_a_batch() -> None:
    x = np.random.default_rng(0).standard_normal((3, 4, 5, 2)).astype(np.float32)
    op = Op("reduce_max", "r", ["x"], ["y"], {"axes": (-2, 1, 1), "keep_dims": True})
    np.testing.assert_array_equal(reduce_max.float_reference(op, [x]), x.max(axis=(1, 2), keepdims=True))
    op = Op("sum", "s", ["x"], ["y"], {"axes": (3,), "keep_dims": False})
    np.testing.assert_array_equal(sum_op.float_reference(op, [x]), x.sum(axis=3))


def test_qat_prepare_reproduces_post_training_quantization() -> None:
    from tinygen import qat
    from tinygen.api import quantize

    model, shape = _keras_model("GlobalMaxPooling2D", True)
    calibration = np.random.default_rng(1).standard_normal((48, *shape)).astype(np.float32)
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    assert [(op.kind, op.inputs, op.outputs, op.attrs.get("axes")) for op in graph.ops] == [
        (op.kind, op.inputs, op.outputs, op.attrs.get("axes")) for op in ptq.ops]
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    shape, steps, _ = CHAINS["rows"]
    model = tmp_path / "reduce.tflite"
    model.write_bytes(chain_model(shape, steps))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]] == [(k, KERNELS[k]) for k, _, _ in steps]
    names = sorted(p.name for p in out.iterdir())
    assert any(n.endswith("tg_reduce_max_s8.c") for n in names) and any(n.endswith("tg_reduce_sum_s8.c") for n in names)
    graph = import_tflite(model)
    vectors = np.stack(random_int8((int(np.prod(shape)),), 2, seed=7))
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(shape)])[graph.outputs[0]].reshape(-1))
