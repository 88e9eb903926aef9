"""MAXIMUM and MINIMUM (tinygen/ops/minmax.py, kernel templates/kernels/tg_minmax_s8.{c,h}).

* the checks: the refused quantizations (TFLite Micro compares raw int8 values and checks nothing; tinygen
  refuses what would then not be the maximum/minimum of the real values), types, shapes, input counts;
* the reference against TFLite Micro's interpreter over random broadcastable shapes of rank 0..6, both
  operand orders, constant operands (hypothesis, hand-built single-op ``.tflite`` files), on models of
  TensorFlow's converter and on the real model that needs the op (Ambiq HeartKit's MINIMUMs);
* the kernel directly over many 4-D layouts (those the lowering emits and arbitrary strides), in place and
  not, portable and four-lane (DSP, emulated on the host) paths, gcc and clang, ASan/UBSan;
* the generated C against the reference on the host and in QEMU on Cortex-M3 (portable) and M7 (DSP);
* the Keras flow (``Maximum``, ``Minimum``, chained and broadcast), QAT, and ``tinygen convert``.
"""

from __future__ import annotations

import functools
import json
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import hostbuild
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes
from test_reference_ops import FbOp, FbTensor, build_tflite

from tinygen import codegen, qparams, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import binary_common, minmax
from tinygen.oracle import tflm_run
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
BUILTIN = {"maximum": "MAXIMUM", "minimum": "MINIMUM"}
NUMPY = {"maximum": np.maximum, "minimum": np.minimum}
HEARTKIT = Path("/work/shared/models/real/ambiq_heartkit_arrhythmia.tflite")


# --------------------------------------------------------------------------- models


def pair_model(kind: str, shape_a: tuple[int, ...], shape_b: tuple[int, ...], quant: tuple[float, int],
               const_a: np.ndarray | None = None, const_b: np.ndarray | None = None,
               quant_a: tuple[float, int] | None = None, quant_b: tuple[float, int] | None = None,
               out_shape: tuple[int, ...] | None = None) -> bytes:
    """A .tflite holding one int8 MAXIMUM/MINIMUM of ``a`` and ``b`` (graph inputs, or constants where given);
    every tensor quantized ``quant`` unless ``quant_a``/``quant_b`` say otherwise."""
    qa, qb = quant_a or quant, quant_b or quant
    out_shape = tuple(np.broadcast_shapes(shape_a, shape_b)) if out_shape is None else out_shape
    tensors = [FbTensor("a", shape_a, "int8", qa[0], qa[1], data=const_a),
               FbTensor("b", shape_b, "int8", qb[0], qb[1], data=const_b),
               FbTensor("y", out_shape, "int8", quant[0], quant[1])]
    inputs = [i for i, c in enumerate((const_a, const_b)) if c is None]
    return build_tflite(tensors, [FbOp(BUILTIN[kind], [0, 1], [2])], inputs, [2])


#: the chain model's input shape (120 elements: rows of 6 with a 2-element tail after four-lane steps)
CHAIN_SHAPE = (1, 4, 5, 6)


def chain_model(scale: float, zero_point: int) -> bytes:
    """One input ``x`` [1, 4, 5, 6] and every form of the op::

        m = AVERAGE_POOL_2D(x, 1x5)      [1, 4, 1, 6] (the mean of each row)
        a = MAXIMUM(x, m)                two activations, broadcast (x is still read later: not in place)
        b = MINIMUM(c, a)                constant [6] first, broadcast
        y = MAXIMUM(b, x)                same shapes (one row); b dies here: in place over b
        z = MINIMUM(y, s)                scalar constant (HeartKit's clip); in place over y
    """
    q = (scale, zero_point)
    c = np.array([-128, -40, 0, 17, 90, 127], np.int8)
    tensors = [
        FbTensor("x", CHAIN_SHAPE, "int8", *q),
        FbTensor("m", (1, 4, 1, 6), "int8", *q),
        FbTensor("a", CHAIN_SHAPE, "int8", *q),
        FbTensor("c", (6,), "int8", *q, data=c),
        FbTensor("b", CHAIN_SHAPE, "int8", *q),
        FbTensor("y", CHAIN_SHAPE, "int8", *q),
        FbTensor("s", (), "int8", *q, data=np.array(60, np.int8)),
        FbTensor("z", CHAIN_SHAPE, "int8", *q),
    ]
    pool = {"Padding": 1, "StrideW": 1, "StrideH": 1, "FilterWidth": 5, "FilterHeight": 1,
            "FusedActivationFunction": 0}  # VALID
    ops = [
        FbOp("AVERAGE_POOL_2D", [0], [1], "Pool2DOptions", pool),
        FbOp("MAXIMUM", [0, 1], [2]),
        FbOp("MINIMUM", [3, 2], [4]),
        FbOp("MAXIMUM", [4, 0], [5]),
        FbOp("MINIMUM", [5, 6], [7]),
    ]
    return build_tflite(tensors, ops, [0], [7])


def _ir_graph(kind: str = "minimum", shapes: tuple[tuple[int, ...], ...] = ((1, 8), (1, 8), (1, 8)),
              quants: tuple[Any, ...] = ((0.05, 3),) * 3, dtypes: tuple[str, ...] = ("int8",) * 3) -> Graph:
    """An IR graph of one op ``y = kind(a, b)``; a quantization given as (scales list, zero points list) is
    per-channel along axis 0."""
    g = Graph("minmax")
    for name, shape, q, dtype in zip("aby", shapes, quants, dtypes):
        quant = Quantization(q[0], q[1], 0) if isinstance(q[0], list) else Quantization([q[0]], [q[1]])
        g.add_tensor(Tensor(name, shape, dtype, quant))
    g.add_op(Op(kind, kind, ["a", "b"], ["y"], {}))
    g.inputs, g.outputs = ["a", "b"], ["y"]
    return g


def _values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """int8 values, half of the time from a few values only (many ties between the operands)."""
    if rng.integers(2):
        return rng.choice(np.array([-128, -1, 0, 1, 127], np.int8), shape)
    return rng.integers(-128, 128, shape).astype(np.int8)


# --------------------------------------------------------------------------- checks


@pytest.mark.parametrize("kind", ["maximum", "minimum"])
def test_params_and_values_by_hand(kind: str) -> None:
    g = _ir_graph(kind, ((2, 3), (3,), (2, 3)))
    g.validate()
    assert qparams.op_params(g, g.ops[0]) == minmax.MinMaxParams(is_max=kind == "maximum")
    a = np.array([[-128, 5, 127], [0, -1, 3]], np.int8)
    b = np.array([4, -1, 3], np.int8)
    want = {"maximum": [[4, 5, 127], [4, -1, 3]], "minimum": [[-128, -1, 3], [0, -1, 3]]}[kind]
    assert reference.run(g, [a, b])["y"].tolist() == want


@pytest.mark.parametrize("kind", ["maximum", "minimum"])
@pytest.mark.parametrize(("which", "quant"), [
    ("y", (0.05, 4)), ("y", (0.06, 3)), ("a", (0.05, -3)), ("b", (0.1, 3)), ("b", (0.05000001, 3))])
def test_other_quantizations_are_refused(kind: str, which: str, quant: tuple[float, int]) -> None:
    """Raw comparison is the real maximum/minimum only with one quantization for all three tensors."""
    quants = tuple(quant if name == which else (0.05, 3) for name in "aby")
    g = _ir_graph(kind, quants=quants)
    bad = "a" if which == "a" else "b" if which == "b" else "a"
    with pytest.raises(TinygenError, match=rf"{kind} op '{kind}': input '{bad}' has scale .* but output 'y' has scale "
                                           rf".*TFLite Micro's int8 {BUILTIN[kind]} compares the raw int8 values, "
                                           rf"which is the {kind} of the real values only when both inputs and the "
                                           r"output share one scale and zero point: re-quantize"):
        g.validate()
    with pytest.raises(TinygenError, match="share one scale and zero point"):
        qparams.op_params(g, g.ops[0])


def test_tflite_micro_runs_what_tinygen_refuses() -> None:
    """TFLite Micro checks no quantization: with b on another scale it returns the larger raw value, which is
    not the larger real value; tinygen refuses the model at import."""
    data = pair_model("maximum", (1, 2), (1, 2), (1.0, 0), quant_b=(0.01, 0))
    a, b = np.array([[5, 5]], np.int8), np.array([[100, 4]], np.int8)  # real values a: 5, 5; b: 1.0, 0.04
    want = tflm_run(data, [a, b])
    assert list(want.values())[-1].tolist() == [[100, 5]]  # raw: 100 (b = 1.0 < 5.0, wrong), 5
    with pytest.raises(TinygenError, match="input 'b' has scale 0.01.* share one scale and zero point"):
        import_tflite(data)


@pytest.mark.parametrize("dtype_at", [0, 1, 2])
def test_int8_only(dtype_at: int) -> None:
    dtypes = tuple("int16" if i == dtype_at else "int8" for i in range(3))
    with pytest.raises(UnsupportedError, match=rf"tensor '{'aby'[dtype_at]}' is int16.*int8 only"):
        _ir_graph(dtypes=dtypes).validate()


def test_per_channel_operand_is_refused() -> None:
    g = _ir_graph(shapes=((2, 4), (2, 1), (2, 4)), quants=((0.05, 3), ([0.05, 0.05], [3, 3]), (0.05, 3)))
    with pytest.raises(UnsupportedError, match="tensor 'b' is per-channel quantized"):
        g.validate()


def test_missing_quantization_is_refused() -> None:
    g = _ir_graph()
    g.tensors["b"] = Tensor("b", (1, 8), "int8", None)
    with pytest.raises(UnsupportedError, match="tensor 'b' .* has no quantization"):
        g.validate()


@pytest.mark.parametrize(("shapes", "match"), [
    (((2, 3), (3,), (1, 2, 3)), r"output 'y' has shape \(1, 2, 3\), expected \(2, 3\)"),
    (((2, 3), (1, 3), (3,)), r"output 'y' has shape \(3,\), expected \(2, 3\)"),
    (((3,), (3,), (1, 3)), r"output 'y' has shape \(1, 3\), expected \(3,\)"),
    (((2, 3), (2, 1), (2, 1)), r"output 'y' has shape \(2, 1\), expected \(2, 3\)"),
    (((2, 3), (4,), (2, 4)), r"inputs of shape \(2, 3\) and \(4,\) do not broadcast"),
    (((1,) * 7, (1,), (1,) * 7), r"rank <= 6"),
])
def test_shapes_are_checked(shapes: tuple[tuple[int, ...], ...], match: str) -> None:
    with pytest.raises(TinygenError, match=match):
        _ir_graph("maximum", shapes).validate()


def test_input_count_and_attributes_are_checked() -> None:
    g = _ir_graph()
    g.ops[0].inputs = ["a"]
    with pytest.raises(TinygenError, match="has 1 inputs, expected 2"):
        g.validate()
    g = _ir_graph()
    g.ops[0].attrs["activation"] = "relu"
    with pytest.raises(TinygenError, match=r"unknown attribute\(s\) \['activation'\]; minimum takes none"):
        g.validate()
    tensors = [FbTensor(n, (1, 4), "int8", 0.05, 3) for n in "abcy"]
    three = build_tflite(tensors, [FbOp("MINIMUM", [0, 1, 2], [3])], [0, 1, 2], [3])
    with pytest.raises(TinygenError, match="has 3 inputs; MINIMUM takes exactly 2"):
        import_tflite(three)


def test_in_place_predicate() -> None:
    g = _ir_graph(shapes=((2, 4), (4,), (2, 4)))
    assert minmax.MAXIMUM_DEF.in_place is not None and minmax.MAXIMUM_DEF.in_place(g, g.ops[0])
    g = _ir_graph(shapes=((4,), (2, 4), (2, 4)))
    assert not minmax.MINIMUM_DEF.in_place(g, g.ops[0])  # type: ignore[misc]


def test_registry() -> None:
    from tinygen import ops

    assert ops.get("maximum") is minmax.MAXIMUM_DEF and ops.get("minimum") is minmax.MINIMUM_DEF
    builtins = ops.tflite_builtins()
    assert builtins["MAXIMUM"][0] is minmax.MAXIMUM_DEF and builtins["MINIMUM"][0] is minmax.MINIMUM_DEF
    layers = ops.keras_layers()
    assert {"Maximum", "Minimum"} <= set(layers)


# --------------------------------------------------------------------------- against TFLite Micro


#: quantizations: any scale, any zero point (one for all three tensors)
QUANTS = st.tuples(st.floats(-13.0, 3.0).map(lambda e: float(np.float32(2.0**e))), st.integers(-128, 127))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["maximum", "minimum"]),
       shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=6, max_side=4).map(
           lambda s: tuple(s.input_shapes)),
       quant=QUANTS, const=st.sampled_from([None, "a", "b"]), seed=st.integers(0, 2**32 - 1))
@example(kind="minimum", shapes=((1, 1, 1, 24), ()), quant=(0.003, -128), const="b", seed=0)  # HeartKit's clip
@example(kind="maximum", shapes=((), ()), quant=(1.0, 0), const=None, seed=1)  # rank 0
@example(kind="maximum", shapes=((3, 1, 5), (1, 4, 1)), quant=(0.5, 7), const=None, seed=2)  # both broadcast
@example(kind="minimum", shapes=((4, 1, 2, 1, 3, 1), (2, 1, 1, 2)), quant=(0.1, -3), const="a", seed=3)
def test_matches_tflite_micro(kind: str, shapes: Any, quant: tuple[float, int], const: str | None,
                              seed: int) -> None:
    shape_a, shape_b = shapes
    rng = np.random.default_rng(seed)
    a, b = _values(rng, shape_a), _values(rng, shape_b)
    # a rank-0 operand is a constant (as HeartKit's): TFLite Micro's Python wrapper cannot set a rank-0 input
    consts = {const} | {name for name, shape in (("a", shape_a), ("b", shape_b)) if shape == ()}
    data = pair_model(kind, shape_a, shape_b, quant, const_a=a if "a" in consts else None,
                      const_b=b if "b" in consts else None)
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops] == [kind]
    feeds = [v for name, v in (("a", a), ("b", b)) if name not in consts]
    want = tflm_run(data, feeds)[graph.outputs[0]]
    got = reference.run(graph, feeds)[graph.outputs[0]]
    assert want.dtype == got.dtype == np.int8 and got.shape == np.broadcast_shapes(shape_a, shape_b)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, NUMPY[kind](a, b))


def test_chain_matches_tflite_micro() -> None:
    data = chain_model(0.05, -7)
    graph = import_tflite(data)
    assert [op.kind for op in graph.ops] == ["avg_pool2d", "maximum", "minimum", "maximum", "minimum"]
    rng = np.random.default_rng(4)
    for _ in range(6):
        x = _values(rng, CHAIN_SHAPE)
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for name in ("m", "a", "b", "y", "z"):
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.fixture(scope="module")
def converter_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """TensorFlow's converter on a Keras Minimum layer (broadcast) and on a clip (``keras.ops.minimum`` and
    ``maximum`` with scalars, as HeartKit's hard sigmoid); the Keras flow test converts a three-input Maximum."""
    keras = pytest.importorskip("keras")
    from tinygen.tfconvert import keras_to_int8_tflite

    L = keras.layers

    def gap_min(c: Any) -> Any:
        return L.Minimum()([c, L.GlobalAveragePooling2D(keepdims=True)(c)])

    bodies = {
        "conv_min_broadcast": ((6, 6, 3), lambda x: gap_min(L.Conv2D(4, 3, padding="same")(x))),
        "clip": ((10,), lambda x: keras.ops.maximum(keras.ops.minimum(L.Dense(8)(x), 0.5), -0.25)),
    }
    folder = tmp_path_factory.mktemp("minmax_models")
    paths = {}
    for i, (name, (shape, body)) in enumerate(bodies.items()):
        keras.utils.set_random_seed(60 + i)
        inp = keras.Input(shape, batch_size=1)
        model = keras.Model(inp, body(inp), name=name)
        samples = np.random.default_rng(i).normal(0.0, 1.0, (32, *shape)).astype(np.float32)
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(keras_to_int8_tflite(model, samples))
    return paths


@pytest.mark.parametrize(("name", "kinds"), [("conv_min_broadcast", {"minimum": 1}),
                                              ("clip", {"minimum": 1, "maximum": 1})])
def test_converter_models_match_tflite_micro(converter_models: dict[str, Path], name: str,
                                             kinds: dict[str, int]) -> None:
    data = converter_models[name].read_bytes()
    graph = import_tflite(data)
    found = [op.kind for op in graph.ops]
    assert {k: found.count(k) for k in kinds} == kinds, found
    x_shape = graph.tensors[graph.inputs[0]].shape
    rng = np.random.default_rng(5)
    for x in [rng.integers(-128, 128, x_shape).astype(np.int8) for _ in range(10)] + [
            np.full(x_shape, v, np.int8) for v in (-128, 127)]:
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for op in graph.ops:
            np.testing.assert_array_equal(got[op.outputs[0]], want[op.outputs[0]], err_msg=f"{op.kind} {op.name}")


@pytest.mark.skipif(not HEARTKIT.is_file(), reason=f"{HEARTKIT} is not here")
def test_heartkit_matches_tflite_micro() -> None:
    """Ambiq HeartKit's arrhythmia model: twelve MINIMUMs with a scalar constant (hard sigmoid's clip); every
    layer bit-exact."""
    data = HEARTKIT.read_bytes()
    graph = import_tflite(data)
    assert sum(op.kind == "minimum" for op in graph.ops) == 12
    rng = np.random.default_rng(6)
    x_shape = graph.tensors[graph.inputs[0]].shape
    for x in (rng.integers(-128, 128, x_shape).astype(np.int8), np.clip(rng.normal(0, 30, x_shape), -128, 127)
              .astype(np.int8)):
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for op in graph.ops:
            np.testing.assert_array_equal(got[op.outputs[0]], want[op.outputs[0]], err_msg=f"{op.kind} {op.name}")


# --------------------------------------------------------------------------- the kernel directly


@functools.lru_cache(maxsize=1)
def _clang_sanitizers() -> bool:
    """Whether clang links ASan/UBSan here (its runtimes are a separate package: libclang-rt-dev)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text("int main(void) { return 0; }\n")
        res = subprocess.run(["clang", *hostbuild.SANITIZE, str(src), "-o", str(Path(tmp) / "probe")],
                             capture_output=True, text=True, check=False)
        return res.returncode == 0


def builds() -> list[tuple[str, bool, bool]]:
    """(compiler, sanitize, DSP path emulated) triples, each -std=c99 -Wall -Wextra -Werror -pedantic -O2."""
    if tuple(hostbuild.compilers()) != ("gcc", "clang"):
        pytest.fail(f"gcc and clang are both needed, found {hostbuild.compilers()}: install them (scripts/setup.sh)")
    out = [("gcc", True, False), ("gcc", True, True), ("gcc", False, False), ("clang", False, True)]
    return out + ([("clang", True, False)] if _clang_sanitizers() else [])


def _c_array(values: Any) -> str:
    return "{" + ", ".join(str(int(v)) for v in np.asarray(values).reshape(-1)) + "}"


def _strided_reference(a: np.ndarray, b: np.ndarray, dims: list[int], sa: list[int], sb: list[int],
                       is_max: bool) -> np.ndarray:
    """The kernel's contract: output element (i0, i1, i2, i3) row-major is op(a[sum ik * sa[k]], b[sum ik * sb[k]])."""
    idx = np.indices(dims).reshape(4, -1)
    ia, ib = (np.asarray(sa)[:, None] * idx).sum(axis=0), (np.asarray(sb)[:, None] * idx).sum(axis=0)
    return (np.maximum if is_max else np.minimum)(a[ia], b[ib]).astype(np.int8)


def _layout_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Kernel cases: the layouts the lowering derives from random broadcastable shapes, and arbitrary strides
    (the kernel's general row, never emitted by tinygen); some written in place over input 1."""
    cases = []
    shape_pairs = [((1, 4, 5, 6), (1, 4, 1, 6)), ((6,), (1, 4, 5, 6)), ((1, 4, 5, 6), ()), ((), (7,)),
                   ((3, 1, 5), (1, 4, 1)), ((2, 1, 3, 1, 2), (1, 1, 3, 4, 1)), ((9,), (9,)), ((1,), (1,)),
                   ((2, 3, 4), (2, 3, 4)), ((5, 1), (1, 11))]
    for _ in range(30):
        rank = int(rng.integers(0, 6))
        out = [int(d) for d in rng.integers(1, 6, rank)]
        pa = [d if rng.random() < 0.6 else 1 for d in out]
        pb = [d if rng.random() < 0.6 else 1 for d in out]
        shape_pairs.append((tuple(pa[int(rng.integers(0, rank + 1)):]), tuple(pb)))
    for shape_a, shape_b in shape_pairs:
        out_shape = tuple(np.broadcast_shapes(shape_a, shape_b))
        ta, tb, to = (Tensor(n, s, "int8") for n, s in (("a", shape_a), ("b", shape_b), ("y", out_shape)))
        try:
            dims, sa, sb = binary_common.broadcast_layout(Op("maximum", "k", ["a", "b"], ["y"], {}), ta, tb, to)
        except UnsupportedError:
            continue  # more than 4 dimensions after merging (the codegen test covers the refusal)
        a, b = _values(rng, shape_a).reshape(-1), _values(rng, shape_b).reshape(-1)
        for is_max in (True, False):
            in_place = shape_a == out_shape and bool(rng.integers(2))
            cases.append({"a": a, "b": b, "dims": dims, "sa": sa, "sb": sb, "is_max": is_max, "in_place": in_place})
    for _ in range(16):  # arbitrary non-negative strides (inner strides 2..6, transposed and repeated rows)
        dims = [int(d) for d in rng.integers(1, 5, 4)]
        sa, sb = ([int(s) if d > 1 else 0 for s, d in zip(rng.integers(0, 7, 4), dims)] for _ in range(2))
        size_a, size_b = (1 + sum((d - 1) * s for d, s in zip(dims, strides)) for strides in (sa, sb))
        a, b = _values(rng, (size_a,)), _values(rng, (size_b,))
        cases.append({"a": a, "b": b, "dims": dims, "sa": sa, "sb": sb, "is_max": bool(rng.integers(2)),
                      "in_place": False})
    return cases


def test_kernel_layouts(tmp_path: Path) -> None:
    cases = _layout_cases(np.random.default_rng(7))
    lines = ['#include <stdio.h>', '#include "tg_minmax_s8.h"']
    calls = []
    wants = []
    for i, c in enumerate(cases):
        n = int(np.prod(c["dims"]))
        want = _strided_reference(c["a"], c["b"], c["dims"], c["sa"], c["sb"], c["is_max"])
        wants.append(want)
        lines.append(f"static const int8_t b{i}[] = {_c_array(c['b'])};")
        lines += [f"static const int32_t d{i}[] = {_c_array(c['dims'])};",
                  f"static const int32_t sa{i}[] = {_c_array(c['sa'])};",
                  f"static const int32_t sb{i}[] = {_c_array(c['sb'])};"]
        if c["in_place"]:
            assert c["a"].size == n
            lines.append(f"static int8_t a{i}[] = {_c_array(c['a'])};")
            calls.append(f"tg_minmax_s8(a{i}, b{i}, d{i}, sa{i}, sb{i}, {int(c['is_max'])}, a{i}); "
                         f"fwrite(a{i}, 1, {n}, stdout);")
        else:
            lines.append(f"static const int8_t a{i}[] = {_c_array(c['a'])};")
            lines.append(f"static int8_t o{i}[{n}];")
            calls.append(f"tg_minmax_s8(a{i}, b{i}, d{i}, sa{i}, sb{i}, {int(c['is_max'])}, o{i}); "
                         f"fwrite(o{i}, 1, {n}, stdout);")
    lines += ["int main(void)", "{", *calls, "return 0;", "}"]
    driver = tmp_path / "driver.c"
    driver.write_text("\n".join(lines) + "\n")
    want = np.concatenate(wants)
    assert any(c["in_place"] for c in cases) and len(cases) > 80
    for compiler, sanitize, dsp in builds():
        exe = tmp_path / f"k_{compiler}{int(sanitize)}{int(dsp)}"
        cmd = [compiler, *hostbuild.WARNINGS, "-O2", f"-I{KERNELS}", *(hostbuild.SANITIZE if sanitize else ()),
               *(["-DTG_DSP_EMULATE"] if dsp else []), str(driver), str(KERNELS / "tg_minmax_s8.c"), "-o", str(exe)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stderr[-4000:]
        run = subprocess.run([str(exe)], capture_output=True, check=False, timeout=60)
        assert run.returncode == 0, run.stderr.decode(errors="replace")[-4000:]
        got = np.frombuffer(run.stdout, np.int8)
        assert got.size == want.size
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, f"{compiler} sanitize={sanitize} dsp={dsp}: {bad.size} differ, first at {bad[0]}"


# --------------------------------------------------------------------------- generated C on the host


def check_c(graph: Graph, work: Path, vectors: np.ndarray, every_build: bool = True) -> dict[str, Any]:
    """Generate the library, compile it (:func:`builds`, or only gcc with ASan/UBSan on both paths), run
    ``vectors``, require every layer's output to equal the reference; return the manifest."""
    lib = codegen.generate(graph, work / "lib", force=True)
    shape = graph.tensors[graph.inputs[0]].shape
    refs = [reference.run(graph, v.reshape(shape)) for v in vectors]
    for compiler, sanitize, dsp in builds() if every_build else [("gcc", True, False), ("gcc", True, True)]:
        hb = hostbuild.build(lib.out_dir, lib.manifest, work / f"{compiler}{int(sanitize)}{int(dsp)}",
                             compiler=compiler, sanitize=sanitize, dsp_emulate=dsp, dump=True)
        out, dumps = hostbuild.run(hb, vectors.reshape(len(vectors), -1))
        for v, ref in enumerate(refs):
            for layer, got in zip(lib.manifest["layers"], dumps[v]):
                want = ref[layer["output_tensor"]].reshape(-1)
                bad = np.flatnonzero(got != want)
                assert bad.size == 0, (f"{compiler} sanitize={sanitize} dsp={dsp} vector {v} layer {layer['index']} "
                                       f"{layer['op']} ({layer['kernel']}): {bad.size} differ, first at {bad[0]}")
            np.testing.assert_array_equal(out[v], ref[graph.outputs[0]].reshape(-1))
    return lib.manifest


def _vectors(shape: tuple[int, ...], count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([_values(rng, shape) for _ in range(count)] + [np.full(shape, v, np.int8) for v in (-128, 127)])


@pytest.mark.parametrize(("scale", "zero_point"), [(0.05, -7), (1.5, 127)])
def test_generated_c_equals_reference_in_place_and_not(tmp_path: Path, scale: float, zero_point: int) -> None:
    graph = import_tflite(chain_model(scale, zero_point))
    manifest = check_c(graph, tmp_path, _vectors(CHAIN_SHAPE, 4, seed=zero_point & 0xFF))
    layers = manifest["layers"]
    assert [(layer["op"], layer["kernel"]) for layer in layers[1:]] == [
        ("maximum", "tg_minmax_s8"), ("minimum", "tg_minmax_s8"), ("maximum", "tg_minmax_s8"),
        ("minimum", "tg_minmax_s8")]
    # x is still read after the first MAXIMUM, and the MINIMUM's first input is a constant: no in place there;
    # b and y die at the op that reads them first: written over
    assert layers[1]["in_place"] is None and layers[2]["in_place"] is None
    assert layers[3]["in_place"] == "b" and layers[3]["arena_offset"] == layers[2]["arena_offset"]
    assert layers[4]["in_place"] == "y" and layers[4]["arena_offset"] == layers[3]["arena_offset"]


@pytest.mark.parametrize(("kind", "shape_a", "shape_b", "const"), [
    ("minimum", (1, 1, 1, 24), (), "b"),  # HeartKit's
    ("maximum", (1, 259), (1, 259), "b"),  # one row with a 3-element tail
    ("maximum", (2, 3, 5, 7), (7,), "b"),
    ("minimum", (3, 1), (1, 3, 4), "a"),  # constant first, both broadcast
    ("maximum", (1, 1), (1,), "b"),
])
def test_generated_c_single_op(tmp_path: Path, kind: str, shape_a: tuple[int, ...], shape_b: tuple[int, ...],
                               const: str) -> None:
    rng = np.random.default_rng(8)
    c = _values(rng, shape_b if const == "b" else shape_a)
    shape_in = shape_a if const == "b" else shape_b
    data = pair_model(kind, shape_a, shape_b, (0.02, 5), const_a=c if const == "a" else None,
                      const_b=c if const == "b" else None)
    graph = import_tflite(data)
    manifest = check_c(graph, tmp_path, _vectors(shape_in, 4, seed=9), every_build=False)
    layer = manifest["layers"][0]
    assert layer["kernel"] == "tg_minmax_s8"
    # a single op writes over the graph input where that is its first operand of the output's shape
    out_shape = tuple(np.broadcast_shapes(shape_a, shape_b))
    assert layer["in_place"] == (graph.inputs[0] if const == "b" and shape_a == out_shape else None)
    # and TFLite Micro agrees on these vectors too
    for v in _vectors(shape_in, 2, seed=10):
        np.testing.assert_array_equal(tflm_run(data, [v])[graph.outputs[0]], reference.run(graph, [v])["y"])


def test_each_library_compiles_only_the_ops_it_runs(tmp_path: Path) -> None:
    """The lowering names its op's specialisation (MINMAX_MAX/MINMAX_MIN): the traced run of a library with
    every specialisation compiled takes exactly those the manifest lists; a library lacking the one its call
    needs stops at the trap instead of computing the other op."""
    c = np.array([3, -3, 9], np.int8)
    graphs = {"chain": import_tflite(chain_model(0.05, -7)),
              "single": import_tflite(pair_model("minimum", (2, 3), (3,), (0.1, 2), const_b=c))}
    libs = {key: codegen.generate(graph, tmp_path / key, force=True) for key, graph in graphs.items()}
    for key, want in (("chain", {"MINMAX_MAX", "MINMAX_MIN"}), ("single", {"MINMAX_MIN"})):
        lib, graph = libs[key], graphs[key]
        assert {v for v in lib.manifest["variants"] if v.startswith("MINMAX_")} == want
        x = _vectors(graph.tensors[graph.inputs[0]].shape, 2, seed=15)
        out, taken = hostbuild.traced_run(lib.out_dir, lib.manifest, tmp_path / f"traced_{key}", x, dsp_emulate=True)
        assert {v for v in taken if v.startswith("MINMAX_")} == want
        for v, vector in enumerate(x):
            np.testing.assert_array_equal(out[v], reference.run(graph, [vector])[graph.outputs[0]].reshape(-1))
    chain = libs["chain"]
    lacking = hostbuild.config_copy(chain.out_dir, chain.manifest["name"], tmp_path / "lacking",
                                    "#define TG_VARIANT_MINMAX_MAX 1", "#define TG_VARIANT_MINMAX_MAX 0")
    hb = hostbuild.build(lacking, chain.manifest, tmp_path / "lacking_build")
    proc = subprocess.run([str(hb.exe), "1"], input=bytes(hb.input_bytes), capture_output=True, timeout=60,
                          check=False)
    assert proc.returncode in (-signal.SIGILL, -signal.SIGTRAP), proc.returncode


def test_lowering_layouts() -> None:
    """Same-size operands become one contiguous row; a broadcast keeps the fewest dimensions."""
    calls = {}

    class Ctx:
        rounding = "double"

        def __init__(self, graph: Graph) -> None:
            self.graph = graph

        def tensor_ptr(self, name: str) -> str:
            return f"&{name}"

        def const_array(self, hint: str, values: np.ndarray, ctype: str, kind: Any) -> str:
            calls[hint.rsplit("_", 1)[1]] = values.tolist()
            return hint

    g = _ir_graph("maximum", ((2, 3, 4), (2, 3, 4), (2, 3, 4)))
    call = minmax.lower(Ctx(g), g.ops[0])  # type: ignore[arg-type]
    assert call.kernel == "tg_minmax_s8" and call.args[5] == "1" and call.variants == ("MINMAX_MAX",)
    assert calls == {"dims": [1, 1, 1, 24], "strides1": [0, 0, 0, 1], "strides2": [0, 0, 0, 1]}
    g = _ir_graph("minimum", ((1, 4, 5, 6), (1, 4, 1, 6), (1, 4, 5, 6)))
    call = minmax.lower(Ctx(g), g.ops[0])  # type: ignore[arg-type]
    assert call.args[5] == "0" and call.variants == ("MINMAX_MIN",)
    assert calls == {"dims": [1, 4, 5, 6], "strides1": [0, 30, 6, 1], "strides2": [0, 6, 0, 1]}


def test_broadcast_beyond_four_dimensions_is_refused(tmp_path: Path) -> None:
    data = pair_model("maximum", (2, 1, 2, 1, 2), (1, 2, 1, 2, 1), (0.1, 0))
    graph = import_tflite(data)  # the reference runs it
    a, b = np.arange(8, dtype=np.int8).reshape(2, 1, 2, 1, 2), np.full((1, 2, 1, 2, 1), 3, np.int8)
    np.testing.assert_array_equal(reference.run(graph, [a, b])["y"], tflm_run(data, [a, b])["y"])
    single = pair_model("maximum", (2, 1, 2, 1, 2), (1, 2, 1, 2, 1), (0.1, 0), const_b=b)
    with pytest.raises(UnsupportedError, match=r"needs 5 dimensions after merging; tinygen's kernels support 4"):
        codegen.generate(import_tflite(single), tmp_path / "lib", force=True)


# --------------------------------------------------------------------------- QEMU


@pytest.mark.emulator
@pytest.mark.parametrize("board", ["mps2_an385", "mps2_an500"])  # Cortex-M3 (portable C), Cortex-M7 (DSP)
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    from test_emulator_models import cached_build

    from tinygen.commands.test import make_vectors, prepare, run_test

    model = tmp_path / "minmax_chain.tflite"
    model.write_bytes(chain_model(0.05, -7))
    prep = prepare(model, board, tmp_path / "work")
    layers = prep.manifest["layers"]
    assert [layer["kernel"] for layer in layers][1:] == ["tg_minmax_s8"] * 4
    assert layers[3]["in_place"] == "b" and layers[4]["in_place"] == "y"
    vectors = np.concatenate([_vectors(CHAIN_SHAPE, 2, seed=11).reshape(4, -1), make_vectors(prep, 3)])
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


def _keras_model(keras: Any) -> Any:
    """Maximum of three convolutions (a chain of two ops), then Minimum with its own global average (broadcast
    over the spatial dimensions)."""
    L = keras.layers
    keras.utils.set_random_seed(12)
    inputs = keras.Input((6, 6, 3), batch_size=1)
    convs = [L.Conv2D(4, 3, padding="same")(inputs) for _ in range(3)]
    m = L.Maximum()(convs)
    return keras.Model(inputs, L.Minimum()([m, L.GlobalAveragePooling2D(keepdims=True)(m)]))


def test_keras_maximum_minimum_track_the_float_model() -> None:
    keras = pytest.importorskip("keras")
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db

    model = _keras_model(keras)
    calibration = np.random.default_rng(0).standard_normal((128, 6, 6, 3)).astype(np.float32)
    graph = tg.quantize(model, calibration)
    kinds = [op.kind for op in graph.ops]
    assert kinds.count("maximum") == 2 and kinds.count("minimum") == 1 and kinds[-1] == "minimum", kinds
    # one shared quantization: the three convolutions, both maximums, the mean and the minimum
    shared = {graph.tensors[n].quant.scalar() for op in graph.ops if op.kind in ("maximum", "minimum")
              for n in (*op.inputs, *op.outputs)}
    assert len(shared) == 1, shared
    test = calibration[:24]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    print(f"int8 vs float SQNR {sqnr:.1f} dB")
    assert sqnr >= SQNR_DB, f"SQNR {sqnr:.1f} dB < {SQNR_DB} dB"
    # TensorFlow's converter gives the same ops
    theirs = tg.quantize(model, calibration, quantizer="tflite")
    assert sorted(op.kind for op in theirs.ops) == sorted(kinds)


def test_keras_layer_errors() -> None:
    keras = pytest.importorskip("keras")
    from tinygen.quantize.builder import Builder

    b = Builder(Graph("g"))
    x, y = b.act("x", (1, 4, 3)), b.act("y", (1, 3))
    convert = minmax.MAXIMUM_DEF.keras_layers["Maximum"]
    layer = keras.layers.Maximum(name="mx")
    with pytest.raises(UnsupportedError, match=r"layer 'mx' \(Maximum\): needs at least two inputs, got 1"):
        convert(b, layer, [x])
    with pytest.raises(UnsupportedError, match=r"layer 'mx' \(Maximum\): inputs have different ranks"):
        convert(b, layer, [x, y])
    z = b.act("z", (1, 2, 3))
    with pytest.raises(UnsupportedError, match=r"input shapes .* do not broadcast"):
        convert(b, layer, [x, z])
    w = b.act("w", (1, 1, 3))
    out = convert(b, layer, [x, w, x])
    assert [(op.kind, op.name, b.shape(op.outputs[0])) for op in b.graph.ops] == [
        ("maximum", "mx/0", (1, 4, 3)), ("maximum", "mx", (1, 4, 3))]
    assert b.graph.ops[-1].outputs == [out]


def test_qat_prepare_reproduces_post_training_quantization() -> None:
    """QAT of a model with Maximum/Minimum: convert(prepare(model)) is the post-training graph."""
    keras = pytest.importorskip("keras")
    from tinygen import qat
    from tinygen.api import quantize

    model = _keras_model(keras)
    calibration = np.random.default_rng(1).standard_normal((64, 6, 6, 3)).astype(np.float32)
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    assert [(op.kind, op.inputs, op.outputs) for op in graph.ops] == [
        (op.kind, op.inputs, op.outputs) for op in ptq.ops]
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
        if t.is_const:
            np.testing.assert_array_equal(graph.tensors[name].data, t.data, err_msg=name)
    prepared.predict(calibration[:4], verbose=0)  # the QAT forward runs


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "minmax.tflite"
    model.write_bytes(chain_model(0.05, -7))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]][1:] == [
        ("maximum", "tg_minmax_s8"), ("minimum", "tg_minmax_s8"), ("maximum", "tg_minmax_s8"),
        ("minimum", "tg_minmax_s8")]
    assert any(p.name.endswith("tg_minmax_s8.c") for p in out.iterdir()), sorted(p.name for p in out.iterdir())
    # the emitted library computes what the reference does
    graph = import_tflite(model)
    vectors = _vectors(CHAIN_SHAPE, 2, seed=13).reshape(4, -1)
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(CHAIN_SHAPE)])["z"].reshape(-1))


@pytest.mark.skipif(not HEARTKIT.is_file(), reason=f"{HEARTKIT} is not here")
def test_convert_cli_heartkit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real model that needed the op converts, and its library equals the reference (ASan/UBSan)."""
    from tinygen.cli import main

    out = tmp_path / "lib"
    assert main(["convert", str(HEARTKIT), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [layer["kernel"] for layer in manifest["layers"] if layer["op"] == "minimum"] == ["tg_minmax_s8"] * 12
    # only MINIMUM's copy of the kernel is compiled
    assert "MINMAX_MIN" in manifest["variants"] and "MINMAX_MAX" not in manifest["variants"]
    graph = import_tflite(HEARTKIT)
    shape = graph.tensors[graph.inputs[0]].shape
    vectors = np.random.default_rng(14).integers(-128, 128, (2, int(np.prod(shape)))).astype(np.int8)
    hb = hostbuild.build(out, manifest, tmp_path / "build", sanitize=True)
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(shape)])[graph.outputs[0]].reshape(-1))
