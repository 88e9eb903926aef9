"""ARG_MAX and ARG_MIN (tinygen/ops/arg_min_max.py with arg_max.py/arg_min.py, kernel
templates/kernels/tg_arg_min_max_s8.{c,h}).

* the checks: the axis (one constant int32 value in [-rank, rank)), int32 output only (int64, TensorFlow's
  default output_type, is refused as TFLite Micro refuses it), int8 input, the declared output shape;
* the reference against TFLite Micro's interpreter over random shapes, axes (negative too) and values with many
  ties (hypothesis, hand-built ``.tflite`` files), and on a model of TensorFlow's converter (Dense + argmax);
* the generated C (an int32 output) against the reference on the host (gcc and clang, -Wall -Wextra -Werror
  -pedantic, ASan/UBSan; the DSP path emulated in C too) through both kernel paths, for every Cortex-M core, and
  in QEMU on Cortex-M3 and M7; ``tinygen convert``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hostbuild
import numpy as np
import opcheck
import pytest
import test_reference_ops
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_reference_ops import FbOp, FbTensor, build_tflite

from tinygen import qparams, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import arg_max, arg_min, arg_min_max
from tinygen.oracle import tflm_run

KERNEL = "tg_arg_min_max_s8"
BUILTINS = {"ARG_MAX": "ArgMaxOptions", "ARG_MIN": "ArgMinOptions"}
#: the .tflite TensorType codes the tests use (tests/test_reference_ops.py's table has no int64)
INT32, INT64 = 2, 4


# --------------------------------------------------------------------------- models


def without(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    return tuple(d for i, d in enumerate(shape) if i != axis % len(shape))


def model(shape: tuple[int, ...], ops: list[tuple[str, int]], *, out_dtype: str = "int32", option: int | None = INT32,
          axis_dtype: str = "int32", axis_shape: tuple[int, ...] = (1,), axis_data: Any = None,
          out_shape: tuple[int, ...] | None = None, x_quant: tuple[float, int] = (0.05, 3)) -> bytes:
    """A .tflite of int8 input ``x`` and one ARG_MAX/ARG_MIN per ``(builtin, axis)``, each output a graph output."""
    tensors = [FbTensor("x", shape, "int8", *x_quant)]
    fb_ops, outputs = [], []
    for k, (builtin, axis) in enumerate(ops):
        data = np.array(axis if axis_data is None else axis_data, np.int64 if axis_dtype == "int64" else np.int32)
        tensors.append(FbTensor(f"axis{k}", axis_shape, axis_dtype, data=data.reshape(axis_shape)))
        tensors.append(FbTensor(f"y{k}", out_shape or without(shape, axis), out_dtype))
        fields = {} if option is None else {"OutputType": option}
        fb_ops.append(FbOp(builtin, [0, len(tensors) - 2], [len(tensors) - 1], BUILTINS[builtin], fields))
        outputs.append(len(tensors) - 1)
    return build_tflite(tensors, fb_ops, [0], outputs)


def every_axis(shape: tuple[int, ...]) -> list[tuple[str, int]]:
    """ARG_MAX over each axis (non-negative) and ARG_MIN over each (negative): both kernel paths, every layout."""
    rank = len(shape)
    return [("ARG_MAX", a) for a in range(rank)] + [("ARG_MIN", a - rank) for a in range(rank)]


def tied_vectors(size: int, count: int, seed: int) -> np.ndarray:
    """``count`` int8 vectors rich in ties: all equal, a few distinct values, the extremes, then full range."""
    rng = np.random.default_rng(seed)
    out = [np.full(size, -128), np.full(size, 127), np.full(size, 5)]
    for width in (1, 2, 3):
        lo = int(rng.integers(-128, 128 - width))
        out.append(rng.integers(lo, lo + width + 1, size))
    out.append(np.where(rng.random(size) < 0.5, -128, 127))
    out += [rng.integers(-128, 128, size) for _ in range(max(0, count - len(out)))]
    return np.stack(out[:max(count, len(out))]).astype(np.int8)


def ir_graph(kind: str, shape: tuple[int, ...], axis: int, *, out_dtype: str = "int32", x_dtype: str = "int8",
             out_shape: tuple[int, ...] | None = None) -> Graph:
    g = Graph("argminmax")
    g.add_tensor(Tensor("x", shape, x_dtype, Quantization([0.05], [3])))
    g.add_tensor(Tensor("y", out_shape if out_shape is not None else without(shape, axis), out_dtype))
    g.add_op(Op(kind, "y", ["x"], ["y"], {"axis": axis}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


# --------------------------------------------------------------------------- semantics and checks


def test_values_by_hand() -> None:
    """Ties give the first index; the axis disappears from the shape; a column layout by hand."""
    x = np.array([[3, 7, 7, -1, 7], [-5, 2, -5, 9, -5]], np.int8)
    for kind, axis, want in [(arg_max.KIND, 1, [1, 3]), (arg_min.KIND, -1, [3, 0]), (arg_max.KIND, 0, [0, 0, 0, 1, 0]),
                             (arg_min.KIND, 0, [1, 1, 1, 0, 1])]:
        g = ir_graph(kind, (2, 5), axis)
        got = reference.run(g, x)["y"]
        assert got.dtype == np.int32 and got.tolist() == want, (kind, axis)
    g = ir_graph(arg_max.KIND, (4,), 0)
    assert g.tensors["y"].shape == () and reference.run(g, np.array([1, 4, 4, 0], np.int8))["y"].tolist() == 1


def test_params_layout() -> None:
    g = ir_graph(arg_min.KIND, (2, 3, 4, 5), -2)
    g.validate()
    assert qparams.op_params(g, g.ops[0]) == arg_min_max.ArgMinMaxParams(axis=2, is_max=False, outer=6, axis_size=4,
                                                                         inner=5)


@pytest.mark.parametrize("axis", [2, -3, 7])
def test_axis_out_of_range_is_refused(axis: int) -> None:
    g = ir_graph(arg_max.KIND, (2, 3), 0, out_shape=(3,))
    g.ops[0].attrs["axis"] = axis
    with pytest.raises(TinygenError, match=rf"axis {axis} is out of range for input 'x' of shape \(2, 3\): it must be "
                                           r"in \[-2, 1\]"):
        g.validate()


def test_declared_output_shape_must_drop_the_axis() -> None:
    with pytest.raises(TinygenError, match=r"output 'y' has shape \(2, 1\), expected \(2,\)"):
        ir_graph(arg_max.KIND, (2, 3), 1, out_shape=(2, 1)).validate()


def test_int8_input_and_int32_output_only() -> None:
    with pytest.raises(UnsupportedError, match="tensor 'x' is int16.*int8 only"):
        ir_graph(arg_max.KIND, (2, 3), 1, x_dtype="int16").validate()
    with pytest.raises(UnsupportedError, match=r"output 'y' is int8; TFLite Micro's ARG_MIN gives int32 indices only"):
        ir_graph(arg_min.KIND, (2, 3), 1, out_dtype="int8").validate()


def test_not_in_place_and_not_an_alias() -> None:
    for defn in (arg_max.OP, arg_min.OP):
        assert defn.in_place is None and not defn.alias and defn.in_place_lag is None


def _tflm_refuses(data: bytes) -> None:
    """TFLite Micro's Eval fails on the model (the interpreter raises at invoke)."""
    with pytest.raises(Exception):  # noqa: B017 - whatever the interpreter raises
        tflm_run(data, [np.zeros((2, 3), np.int8)])


def test_int64_output_is_refused_as_tflite_micro_refuses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(test_reference_ops._FB_TYPES, "int64", INT64)
    for builtin in BUILTINS:
        data = model((2, 3), [(builtin, 1)], out_dtype="int64", option=INT64)
        _tflm_refuses(data)
        with pytest.raises(UnsupportedError, match=rf"output tensor 'y0' \[2\] int64 holds int64 indices .*TFLite Micro's {builtin} gives "
                                                   r"int32 indices only and tinygen has no int64 tensors: convert with "
                                                   r"output_type=tf.int32"):
            import_tflite(data)
    # an int32 tensor whose options say int64 is inconsistent
    with pytest.raises(TinygenError, match=r"its options say output_type int64 but its output is tensor 'y0' \[2\] "
                                           r"int32; corrupt model"):
        import_tflite(model((2, 3), [("ARG_MAX", 1)], option=INT64))


def test_int64_axis_is_refused_as_tflite_micro_refuses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(test_reference_ops._FB_TYPES, "int64", INT64)
    data = model((2, 3), [("ARG_MIN", 1)], axis_dtype="int64")
    _tflm_refuses(data)
    with pytest.raises(UnsupportedError, match=r"its axis \(tensor 'axis0' \[1\] int64\) must be int32: TFLite Micro's "
                                               r"ARG_MIN refuses other axis types"):
        import_tflite(data)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"axis_shape": (2,), "axis_data": [1, 0]}, TinygenError, r"holds 2 values; ARG_MAX takes exactly one axis"),
    ({"axis_shape": (0,), "axis_data": []}, TinygenError, r"axis \(tensor 'axis0' \[0\] int32\) holds 0 values"),
    ({"axis_data": [2]}, TinygenError, r"axis 2 of tensor 'x' \[2, 3\] int8 is outside \[-2, 1\]"),
    ({"axis_data": [-3]}, TinygenError, r"axis -3 of tensor 'x' \[2, 3\] int8 is outside \[-2, 1\]"),
    ({"option": 3}, TinygenError, r"its options say output_type uint8 but its output is tensor 'y0' \[2\] int32; corrupt"),
    ({"out_dtype": "int8"}, UnsupportedError, r"its output tensor 'y0' \[2\] int8 must be int32"),
])
def test_bad_operands_are_refused_on_import(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        import_tflite(model((2, 3), [("ARG_MAX", 1)], **kwargs))


def test_axis_must_be_a_constant_and_options_may_be_absent() -> None:
    tensors = [FbTensor("x", (2, 3), "int8", 0.05, 3), FbTensor("axis", (1,), "int32"), FbTensor("y", (2,), "int32")]
    data = build_tflite(tensors, [FbOp("ARG_MAX", [0, 1], [2])], [0], [2])  # an axis without data
    with pytest.raises(TinygenError, match=r"its axis \(tensor 'axis' \[1\] int32\) must be a constant"):
        import_tflite(data)
    # no options table: TFLite Micro never reads it, the output tensor's type decides
    data = model((2, 3), [("ARG_MAX", -1)], option=None)
    x = np.array([[1, 9, 9], [4, 4, 0]], np.int8)
    graph = import_tflite(data)
    assert reference.run(graph, x)["y0"].tolist() == tflm_run(data, [x])["y0"].tolist() == [1, 0]


# --------------------------------------------------------------------------- against TFLite Micro


@st.composite
def cases(draw: st.DrawFn) -> tuple[tuple[int, ...], str, int, int]:
    """(shape, builtin, axis as written, tie width): ranks 1 to 5, negative axes, values in few levels."""
    rank = draw(st.integers(1, 5))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank)))
    axis = draw(st.integers(-rank, rank - 1))
    return shape, draw(st.sampled_from(sorted(BUILTINS))), axis, draw(st.sampled_from([0, 1, 2, 3, 255]))


@settings(max_examples=120, deadline=None)
@given(case=cases(), seed=st.integers(0, 2**16))
@example(case=((1, 10), "ARG_MAX", -1, 0), seed=0)  # all equal: index 0
@example(case=((1, 1000), "ARG_MIN", 1, 1), seed=1)
@example(case=((3, 1, 4), "ARG_MAX", 1, 255), seed=2)  # a size-1 axis: zeros
def test_reference_matches_tflite_micro(case: tuple[tuple[int, ...], str, int, int], seed: int) -> None:
    shape, builtin, axis, width = case
    data = model(shape, [(builtin, axis)], x_quant=(0.02, -7))
    graph = import_tflite(data)
    rng = np.random.default_rng(seed)
    lo = int(rng.integers(-128, 128 - width))
    for x in (rng.integers(lo, lo + width + 1, shape).astype(np.int8), rng.integers(-128, 128, shape).astype(np.int8)):
        want = tflm_run(data, [x])["y0"]
        got = reference.run(graph, [x])["y0"]
        assert want.dtype == got.dtype == np.int32
        np.testing.assert_array_equal(got, want)
        # numpy's first-occurrence argmax/argmin is the same rule
        np.testing.assert_array_equal(got, (np.argmax if builtin == "ARG_MAX" else np.argmin)(x, axis=axis))


@pytest.fixture(scope="module")
def converter_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """TensorFlow's converter on Dense + tf.math.argmax (int32 output, and the default int64)."""
    keras = pytest.importorskip("keras")
    import tensorflow as tf

    from tinygen.tfconvert import keras_to_int8_tflite

    out = {}
    for name, out_type in (("int32", tf.int32), ("int64", tf.int64)):
        keras.utils.set_random_seed(5)
        inp = keras.Input((12,), batch_size=1)
        dense = keras.layers.Dense(10)(inp)
        arg = keras.layers.Lambda(lambda t, o=out_type: tf.math.argmax(t, axis=-1, output_type=o))(dense)
        samples = np.random.default_rng(0).normal(0.0, 1.0, (32, 12)).astype(np.float32)
        out[name] = keras_to_int8_tflite(keras.Model(inp, arg), samples)
    return out


def test_converter_model_matches_tflite_micro(converter_models: dict[str, bytes]) -> None:
    data = converter_models["int32"]
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops] == ["fully_connected", arg_max.KIND]
    assert graph.tensors[graph.outputs[0]].dtype == "int32"
    rng = np.random.default_rng(3)
    seen = set()
    for _ in range(24):
        x = rng.integers(-128, 128, (1, 12)).astype(np.int8)
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for op in graph.ops:
            np.testing.assert_array_equal(got[op.outputs[0]], want[op.outputs[0]], err_msg=op.kind)
        seen.add(int(got[graph.outputs[0]][0]))
    assert len(seen) > 3
    with pytest.raises(UnsupportedError, match=r"holds int64 indices .*convert with output_type=tf.int32"):
        import_tflite(converter_models["int64"])


# --------------------------------------------------------------------------- generated C


def check_c_int32(graph: Graph, work: Path, vectors: np.ndarray) -> dict[str, Any]:
    """opcheck.check_c (every layer and output as bytes: int32 outputs too) plus the DSP path emulated."""
    return opcheck.check_c(graph, work, vectors, dsp_emulate=True)


@pytest.mark.parametrize("shape", [(1, 10), (3, 37), (1, 1000), (2, 3, 4, 5), (7,), (4, 1, 9), (1, 1)])
def test_generated_c_equals_reference(tmp_path: Path, shape: tuple[int, ...]) -> None:
    """Every axis of each shape, both ops: contiguous rows below, at and above the four-lane step (tails 1..3),
    strided columns, size-1 axes, a rank-1 input (scalar output)."""
    ops = every_axis(shape)
    graph = import_tflite(model(shape, ops))
    size = int(np.prod(shape))
    manifest = check_c_int32(graph, tmp_path, tied_vectors(size, 12, seed=size))
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]] == [
        (arg_max.KIND if b == "ARG_MAX" else arg_min.KIND, KERNEL) for b, _ in ops]
    assert [p["dtype"] for p in manifest["outputs"]] == ["int32"] * len(ops)


def test_argmax_of_an_intermediate_and_the_header(tmp_path: Path) -> None:
    """ADD -> ARG_MAX: the argmax reads the arena; the header's invoke takes an int32_t output and the int8 API of
    float32 (invoke_f32) is absent for an index output."""
    tensors = [FbTensor("x", (1, 33), "int8", 0.05, 3), FbTensor("s", (1, 33), "int8", 0.1, -2),
               FbTensor("axis", (), "int32", data=np.array(1, np.int32)), FbTensor("y", (1,), "int32")]
    ops = [FbOp("ADD", [0, 0], [1], "AddOptions", {"FusedActivationFunction": 0}),
           FbOp("ARG_MAX", [1, 2], [3], "ArgMaxOptions", {"OutputType": INT32})]
    data = build_tflite(tensors, ops, [0], [3])
    graph = import_tflite(data, name="clf")
    vectors = tied_vectors(33, 10, seed=4)
    for x in vectors:
        np.testing.assert_array_equal(reference.run(graph, x.reshape(1, 33))["y"], tflm_run(data, [x.reshape(1, 33)])["y"])
    manifest = check_c_int32(graph, tmp_path, vectors)
    header = (tmp_path / "lib" / "clf.h").read_text()
    assert "int clf_invoke(const int8_t *input, int32_t *output);" in header, header
    assert not manifest["invoke_f32"]
    source = (tmp_path / "lib" / "clf.c").read_text()
    assert "arg_max 1x33 over axis 1 -> int32 1, as [1, 33, 1] (rows)" in source


# --------------------------------------------------------------------------- QEMU


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    shape = (3, 37)
    path = tmp_path / "argminmax.tflite"
    path.write_bytes(model(shape, every_axis(shape)))
    report = opcheck.check_qemu(path, board, tmp_path / "work", tied_vectors(111, 8, seed=7), [KERNEL] * 4)
    print(report)


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    path = tmp_path / "argmax.tflite"
    path.write_bytes(model((1, 10), [("ARG_MAX", -1)]))
    out = tmp_path / "lib"
    assert main(["convert", str(path), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]] == [(arg_max.KIND, KERNEL)]
    assert (out / f"{manifest['name']}_{KERNEL}.c").exists() or any(p.name.endswith(f"{KERNEL}.c") for p in out.iterdir())
    graph = import_tflite(path)
    vectors = tied_vectors(10, 9, seed=2)
    got, _ = hostbuild.run(hostbuild.build(out, manifest, tmp_path / "build"), vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(1, 10)])["y0"].reshape(-1))
