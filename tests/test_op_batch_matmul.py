"""BATCH_MATMUL (tinygen/ops/batch_matmul.py, kernel templates/kernels/tg_batch_matmul_s8.{c,h}).

* Prepare: the checks (ranks 2..5, batch broadcast, accumulation depth, output shape, types, the int32
  accumulator bound) and the parameters (the float32 product of the input scales, as TFLite Micro computes it);
* the reference against TFLite Micro's interpreter over random shapes, batch broadcasts, adj_x/adj_y, constant
  or activation operands and quantizations (hypothesis, hand-built single-op ``.tflite`` files), and on an
  attention block of TensorFlow's converter (``softmax(q k^T) v``);
* the lowering's canonical batch layout (merging, folding an lhs batch into the rows, offline transposes)
  against numpy (hypothesis);
* the generated C against the reference on the host (gcc and clang, ASan/UBSan, the DSP path emulated) with the
  operands transposed offline, in scratch or not at all, and in QEMU on Cortex-M3 and M7; ``tinygen convert``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hostbuild
import numpy as np
import opcheck
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_reference_ops import FbOp, FbTensor, build_tflite

from tinygen import numerics, qparams, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import batch_matmul
from tinygen.oracle import tflm_run

Q = tuple[float, int]


# --------------------------------------------------------------------------- models


def out_shape(ls: tuple[int, ...], rs: tuple[int, ...], adj_x: bool, adj_y: bool) -> tuple[int, ...]:
    return (*np.broadcast_shapes(ls[:-2], rs[:-2]), ls[-1] if adj_x else ls[-2], rs[-2] if adj_y else rs[-1])


def single_op_model(ls: tuple[int, ...], rs: tuple[int, ...], adj_x: bool = False, adj_y: bool = False,
                    quant: tuple[Q, Q, Q] = ((0.03, 5), (0.02, -3), (0.1, 7)), lhs_data: np.ndarray | None = None,
                    rhs_data: np.ndarray | None = None, out: tuple[int, ...] | None = None) -> bytes:
    """One int8 BATCH_MATMUL; an operand given data is a constant, the others are graph inputs."""
    (sl, zl), (sr, zr), (so, zo) = quant
    tensors = [FbTensor("lhs", ls, "int8", sl, zl, data=lhs_data), FbTensor("rhs", rs, "int8", sr, zr, data=rhs_data),
               FbTensor("y", out or out_shape(ls, rs, adj_x, adj_y), "int8", so, zo)]
    op = FbOp("BATCH_MATMUL", [0, 1], [2], "BatchMatMulOptions", {"AdjX": adj_x, "AdjY": adj_y})
    inputs = [i for i, d in enumerate((lhs_data, rhs_data)) if d is None]
    return build_tflite(tensors, [op], inputs, [2])


def chain_model() -> bytes:
    """Attention-like: ``s = q k^T`` (adj_y: no transpose), ``o = s v`` (v transposed in scratch), ``y = o W``
    (W constant, transposed offline; the batch folded into the rows)."""
    rng = np.random.default_rng(7)
    tensors = [FbTensor("q", (2, 6, 8), "int8", 0.05, -4), FbTensor("k", (2, 5, 8), "int8", 0.04, 9),
               FbTensor("v", (2, 5, 7), "int8", 0.06, -20), FbTensor("s", (2, 6, 5), "int8", 0.5, 3),
               FbTensor("o", (2, 6, 7), "int8", 4.0, -6), FbTensor("w", (7, 3), "int8", 0.01, 2,
                                                                   data=rng.integers(-128, 128, (7, 3), np.int8)),
               FbTensor("y", (2, 6, 3), "int8", 0.3, 1)]
    opt = "BatchMatMulOptions"
    ops = [FbOp("BATCH_MATMUL", [0, 1], [3], opt, {"AdjY": True}), FbOp("BATCH_MATMUL", [3, 2], [4], opt, {}),
           FbOp("BATCH_MATMUL", [4, 5], [6], opt, {})]
    return build_tflite(tensors, ops, [0, 1, 2], [6])


def ir_graph(ls: tuple[int, ...], rs: tuple[int, ...], out: tuple[int, ...], adj_x: bool = False,
             adj_y: bool = False, dtype: str = "int8", quant: tuple[Q, Q, Q] = ((0.5, 1), (0.25, -2), (1.0, 3))) -> Graph:
    g = Graph("bmm")
    for name, shape, (s, z), dt in (("a", ls, quant[0], dtype), ("b", rs, quant[1], "int8"), ("y", out, quant[2], "int8")):
        g.add_tensor(Tensor(name, shape, dt, Quantization([s], [z])))
    g.add_op(Op("batch_matmul", "mm", ["a", "b"], ["y"], {"adj_x": adj_x, "adj_y": adj_y}))
    g.inputs, g.outputs = ["a", "b"], ["y"]
    return g


def rand(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    return rng.integers(-128, 128, shape).astype(np.int8)


# --------------------------------------------------------------------------- Prepare


def test_values_by_hand() -> None:
    g = ir_graph((2, 3), (3, 2), (2, 2))
    g.validate()
    p = qparams.op_params(g, g.ops[0])
    assert p == batch_matmul.BatchMatmulParams(-1, 2, 3, 1 << 30, -2)  # 0.5 * 0.25 / 1 = 2^-3
    a = np.array([[1, 2, 3], [-1, 0, 5]], np.int8)
    b = np.array([[-2, 0], [0, 2], [6, -2]], np.int8)
    want = np.rint((a.astype(int) - 1) @ (b.astype(int) + 2) / 8 + 3)  # no ties here
    np.testing.assert_array_equal(reference.run(g, [a, b])["y"], want)
    g = ir_graph((3, 2), (2, 3), (2, 2), adj_x=True, adj_y=True)
    np.testing.assert_array_equal(reference.run(g, [a.T.copy(), b.T.copy()])["y"], want)
    # the float reference (a batch of 2 against one rhs)
    x = np.stack([a, -a]).astype(np.float32)
    got = batch_matmul.float_reference(g.ops[0], [np.swapaxes(x, 1, 2), b.T.astype(np.float32)])
    np.testing.assert_array_equal(got, x @ b.astype(np.float32))


@pytest.mark.parametrize(("ls", "rs", "out", "kwargs", "error", "match"), [
    ((6,), (6, 2), (2,), {}, UnsupportedError, (r"lhs 'a' has shape \(6,\) \(rank 1\); TFLite Micro's BATCH_MATMUL "
                                                r"supports ranks 2 to 5")),
    ((1, 1, 1, 1, 2, 3), (3, 2), (1, 1, 1, 1, 2, 2), {}, UnsupportedError, r"rank 6\); .* supports ranks 2 to 5"),
    ((2, 4, 3), (3, 3, 2), (3, 4, 2), {}, TinygenError, (r"batch dimensions of lhs 'a' \(2, 4, 3\) and rhs 'b' "
                                                         r"\(3, 3, 2\) do not broadcast \(dimension 0: 2 vs 3\)")),
    ((4, 3), (4, 2), (4, 2), {}, TinygenError, r"accumulates over 3 values but rhs 'b' \(4, 2\) \(adj_y=False\) over 4"),
    ((4, 3), (4, 2), (4, 2), {"adj_y": True}, TinygenError, r"\(adj_x=False\) accumulates over 3 .* over 2"),
    ((4, 3), (3, 2), (2, 4), {}, TinygenError, r"output 'y' has shape \(2, 4\), expected \(4, 2\)"),
    ((4, 3), (3, 2), (1, 4, 2), {}, TinygenError, r"output 'y' has shape \(1, 4, 2\), expected \(4, 2\)"),
    ((2, 33026), (33026, 2), (2, 2), {}, UnsupportedError, r"accumulates over 33026 values; beyond 33025"),
    ((4, 3), (3, 2), (4, 2), {"dtype": "int16"}, UnsupportedError, r"tensor 'a' is int16"),
])
def test_refusals(ls: Any, rs: Any, out: Any, kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ir_graph(ls, rs, out, **kwargs).validate()


def test_tflite_micro_refuses_what_tinygen_refuses() -> None:
    """Rank 6, batch dimensions that do not broadcast, unequal depths: TFLite Micro's Prepare fails too."""
    for ls, rs in (((1, 1, 1, 1, 2, 3), (3, 2)), ((2, 4, 3), (3, 3, 2)), ((4, 3), (4, 2))):
        data = single_op_model(ls, rs, out=(2, 2))
        with pytest.raises(TinygenError, match="TFLite Micro cannot load the model"):
            tflm_run(data, [np.zeros(ls, np.int8), np.zeros(rs, np.int8)])
        with pytest.raises(TinygenError, match="batch_matmul op"):
            import_tflite(data)


def test_per_channel_and_attribute_checks() -> None:
    g = ir_graph((4, 3), (3, 2), (4, 2))
    g.tensors["b"].quant = Quantization([0.1, 0.2], [0, 0], 1)
    with pytest.raises(UnsupportedError, match="tensor 'b' is per-channel quantized"):
        reference.run(g, [np.zeros((4, 3), np.int8), np.zeros((3, 2), np.int8)])
    g = ir_graph((4, 3), (3, 2), (4, 2))
    g.ops[0].attrs["adj_x"] = 1
    with pytest.raises(TinygenError, match="attribute 'adj_x': 1 is not a boolean"):
        g.validate()


def test_multiplier_uses_the_double_product_of_the_scales() -> None:
    """The real multiplier is double(lhs_scale) * double(rhs_scale) / double(out_scale). One version of
    GetQuantizedConvolutionMultipler rounds the product to float32 first: a multiplier 64 / 2^31 away here, which
    changes accumulators right at a rounding threshold. Rows built to hit those: TFLite Micro rounds the double
    way."""
    sl, sr, so = 0.01619536615908146, 0.03029850870370865, 15.41565227508545
    product32 = float(np.float32(sl) * np.float32(sr))
    product64 = float(np.float32(sl)) * float(np.float32(sr))
    m64, m32 = (numerics.quantize_multiplier(p / float(np.float32(so))) for p in (product64, product32))
    assert m32 != m64
    acc = np.arange(-1_200_000, 1_200_000, dtype=np.int64)
    r64, r32 = (numerics.multiply_by_quantized_multiplier(acc, m, s, "double") for m, s in (m64, m32))
    hits = acc[r32 != r64]
    assert hits.size >= 2
    # a row of 64 values against the constant column [127] * 63 + [1] sums to any |acc| <= 63 * 127^2 + 127
    column = np.array([127] * 63 + [1], np.int8).reshape(64, 1)
    rows = []
    for a in hits:
        q, rem = divmod(abs(int(a)), 127)
        row = [127] * (q // 127) + [q % 127]
        rows.append(np.sign(a) * np.array(row + [0] * (63 - len(row)) + [rem]))
    lhs = np.array(rows, np.int8)
    data = single_op_model(lhs.shape, (64, 1), quant=((sl, 0), (sr, 0), (so, 0)), rhs_data=column)
    got = reference.run(import_tflite(data), [lhs])["y"].reshape(-1)
    np.testing.assert_array_equal(got, tflm_run(data, [lhs])["y"].reshape(-1))
    np.testing.assert_array_equal(got, r64[np.searchsorted(acc, hits)])
    assert np.all(got != r32[np.searchsorted(acc, hits)])


# --------------------------------------------------------------------------- reference == TFLite Micro


@st.composite
def configs(draw: Any, max_side: int = 7) -> dict[str, Any]:
    rank = draw(st.integers(2, 5))
    ls, rs = [], []
    for _ in range(rank - 2):
        d, who = draw(st.integers(1, 3)), draw(st.sampled_from(["both", "lhs", "rhs"]))
        ls.append(d if who != "rhs" else 1)
        rs.append(d if who != "lhs" else 1)
    # an operand may have fewer dimensions (its leading batch dimensions of 1 dropped)
    for dims in (ls, rs):
        while dims and dims[0] == 1 and draw(st.booleans()):
            del dims[0]
    rows, cols, depth = (draw(st.integers(1, max_side)) for _ in range(3))
    adj_x, adj_y = draw(st.booleans()), draw(st.booleans())
    ls += [depth, rows] if adj_x else [rows, depth]
    rs += [cols, depth] if adj_y else [depth, cols]
    sl, sr = draw(st.floats(1e-3, 0.5)), draw(st.floats(1e-3, 0.5))
    so = sl * sr * draw(st.floats(0.5, 30.0)) * depth ** 0.5 * 4
    zps = [draw(st.integers(-128, 127)) for _ in range(3)]
    const = draw(st.sampled_from([None, "lhs", "rhs"]))
    return {"ls": tuple(ls), "rs": tuple(rs), "adj_x": adj_x, "adj_y": adj_y, "const": const,
            "quant": ((sl, zps[0]), (sr, zps[1]), (so, zps[2])), "seed": draw(st.integers(0, 2**16))}


def config_model(c: dict[str, Any]) -> tuple[bytes, list[np.ndarray]]:
    """The model of a config and two input vectors (each a list of arrays, one per graph input)."""
    rng = np.random.default_rng(c["seed"])
    lhs_data = rand(c["ls"], rng) if c["const"] == "lhs" else None
    rhs_data = rand(c["rs"], rng) if c["const"] == "rhs" else None
    data = single_op_model(c["ls"], c["rs"], c["adj_x"], c["adj_y"], c["quant"], lhs_data, rhs_data)
    shapes = [s for s, d in ((c["ls"], lhs_data), (c["rs"], rhs_data)) if d is None]
    return data, [[rand(s, rng) for s in shapes] for _ in range(2)]


@settings(max_examples=150, deadline=None)
@given(configs())
def test_reference_matches_tflite_micro(c: dict[str, Any]) -> None:
    data, vectors = config_model(c)
    graph = import_tflite(data)
    for xs in vectors:
        np.testing.assert_array_equal(reference.run(graph, xs)["y"], tflm_run(data, xs)["y"], err_msg=str(c))


@settings(max_examples=150, deadline=None)
@given(configs(), st.booleans(), st.booleans())
def test_layout_walk_equals_numpy(c: dict[str, Any], lhs_const: bool, rhs_const: bool) -> None:
    """The kernel's walk over :func:`batch_matmul.layout` (offsets, scratch transposes, folded rows) in numpy."""
    rng = np.random.default_rng(c["seed"])
    a, b = rand(c["ls"], rng).astype(np.int64), rand(c["rs"], rng).astype(np.int64)
    g = Graph("g")
    for name, x in (("a", a), ("b", b)):
        g.add_tensor(Tensor(name, x.shape, "int8", Quantization([0.1], [0])))
    op = Op("batch_matmul", "mm", ["a", "b"], ["y"], {"adj_x": c["adj_x"], "adj_y": c["adj_y"]})
    geo = batch_matmul.geometry(g, op)
    # constants stored as the lowering stores them: lhs rows and rhs columns
    lmem = np.swapaxes(a, -1, -2) if lhs_const and c["adj_x"] else a
    rmem = np.swapaxes(b, -1, -2) if rhs_const and not c["adj_y"] else b
    lay = batch_matmul.layout(geo, c["adj_x"], c["adj_y"], lhs_const, rhs_const)
    lflat, rflat, out = lmem.reshape(-1), rmem.reshape(-1), []
    for b0, b1, b2 in np.ndindex(*lay.dims):
        lo = b0 * lay.lhs_strides[0] + b1 * lay.lhs_strides[1] + b2 * lay.lhs_strides[2]
        ro = b0 * lay.rhs_strides[0] + b1 * lay.rhs_strides[1] + b2 * lay.rhs_strides[2]
        lm = lflat[lo:lo + lay.rows * lay.depth]
        rm = rflat[ro:ro + lay.cols * lay.depth]
        lm = lm.reshape(lay.depth, lay.rows).T if lay.lhs_transpose else lm.reshape(lay.rows, lay.depth)
        rm = rm.reshape(lay.depth, lay.cols).T if lay.rhs_transpose else rm.reshape(lay.cols, lay.depth)
        out.append(lm @ rm.T)
    want = np.matmul(*batch_matmul._matrices(op, a, b))
    np.testing.assert_array_equal(np.concatenate(out).reshape(-1), want.reshape(-1))


@pytest.fixture(scope="module")
def attention_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TensorFlow's converter on ``softmax(q k^T / 4) v`` (Keras Lambdas over three inputs)."""
    keras = pytest.importorskip("keras")
    import tensorflow as tf

    from tinygen.tfconvert import keras_to_int8_tflite

    L = keras.layers
    keras.utils.set_random_seed(2)
    # one shape for all three: TensorFlow's converter feeds a calibration sample's arrays in the order of the
    # .tflite's inputs, which is not the model's (tinygen.tfconvert passes them in model order)
    q, k, v = (keras.Input((6, 8), batch_size=1) for _ in range(3))
    s = L.Lambda(lambda t: tf.linalg.matmul(t[0], t[1], transpose_b=True) * 0.25)([q, k])
    o = L.Lambda(lambda t: tf.linalg.matmul(t[0], t[1]))([L.Softmax()(s), v])
    model = keras.Model([q, k, v], o)
    rng = np.random.default_rng(0)
    samples = [[rng.normal(size=(1, 6, 8)).astype(np.float32) for _ in range(3)] for _ in range(24)]
    path = tmp_path_factory.mktemp("bmm") / "attention.tflite"
    path.write_bytes(keras_to_int8_tflite(model, samples))
    return path


def test_converter_attention_matches_tflite_micro(attention_model: Path, tmp_path: Path) -> None:
    data = attention_model.read_bytes()
    graph = import_tflite(data)
    kinds = [op.kind for op in graph.ops]
    assert kinds.count("batch_matmul") == 2 and kinds[-1] == "batch_matmul", kinds
    rng = np.random.default_rng(3)
    for _ in range(6):
        xs = [rand(graph.tensors[n].shape, rng) for n in graph.inputs]
        want, got = tflm_run(data, xs), reference.run(graph, xs)
        for op in graph.ops:
            np.testing.assert_array_equal(got[op.outputs[0]], want[op.outputs[0]], err_msg=f"{op.kind} {op.name}")
    check_c_inputs(graph, tmp_path, 2)


# --------------------------------------------------------------------------- generated C on the host


def check_c_inputs(graph: Graph, work: Path, count: int, seed: int = 0) -> dict[str, Any]:
    """opcheck.check_c on ``count`` random vectors of every input, plus the DSP path emulated on the host."""
    rng = np.random.default_rng(seed)
    rows = np.stack([np.concatenate([rand(graph.tensors[n].shape, rng).reshape(-1) for n in graph.inputs])
                     for _ in range(count)])
    return opcheck.check_c(graph, work, rows, dsp_emulate=True)


#: (lhs shape, rhs shape, adj_x, adj_y, constant operand, scratch bytes): every way an operand reaches the kernel
#: besides the chain's (no transpose, rhs in scratch, constant rhs with the rows folded) and the opcheck case
C_CASES: dict[str, tuple[Any, ...]] = {
    "both_in_scratch_broadcast": ((3, 1, 7, 5), (2, 7, 6), True, False, None, 5 * 7 + 6 * 7),
    "rank5_three_batch_dims": ((2, 1, 3, 3, 6), (1, 2, 1, 6, 5), False, False, None, 30),
    "lhs_in_scratch_const_rhs_adj_y": ((2, 3, 5, 12), (3, 4, 5), True, True, "rhs", 60),
    "const_lhs_adj_x": ((2, 9, 3), (2, 4, 9), True, True, "lhs", 0),
    # one row or column: the transposes are identities in memory (no scratch)
    "vector": ((1, 1), (1, 1), False, False, None, 0),
    "matrix_vector_adj_x": ((2, 9, 1), (2, 9, 1), True, False, None, 0),
    "vector_matrix": ((3, 1, 7), (7, 1), False, False, None, 0),
}


@pytest.mark.parametrize("name", sorted(C_CASES))
def test_generated_c_equals_reference(tmp_path: Path, name: str) -> None:
    ls, rs, adj_x, adj_y, const, scratch = C_CASES[name]
    c = {"ls": ls, "rs": rs, "adj_x": adj_x, "adj_y": adj_y, "const": const, "seed": len(name),
         "quant": ((0.05, -3), (0.03, 11), (0.1 * max(ls[-1], ls[-2]) ** 0.5, 4))}
    graph = import_tflite(config_model(c)[0], name=name)
    manifest = check_c_inputs(graph, tmp_path, 3)
    assert [layer["kernel"] for layer in manifest["layers"]] == ["tg_batch_matmul_s8"]
    assert manifest["layers"][0]["in_place"] is None
    # the kernel's scratch (the planner rounds it up to its alignment)
    assert scratch <= manifest["scratch_bytes"] < scratch + 16 and (scratch > 0) == (manifest["scratch_bytes"] > 0)


def test_generated_c_chain_and_folded_rows(tmp_path: Path) -> None:
    graph = import_tflite(chain_model(), name="chain")
    manifest = check_c_inputs(graph, tmp_path, 4)
    assert [layer["kernel"] for layer in manifest["layers"]] == ["tg_batch_matmul_s8"] * 3
    source = (tmp_path / "lib" / f"{manifest['name']}.c").read_text()
    assert "1 x (12x7 . 7x3)" in source and "rhs transposed in scratch" in source, source


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_fast_and_general_requantization(tmp_path: Path, rounding: str) -> None:
    """The kernel's two requantizations: tg_rq_fast (right shift 2..22), the general one (a right shift of 0 or
    1, a left shift), under both roundings, portable and DSP."""
    rng = np.random.default_rng(6)
    for i, so in enumerate((0.9, 0.004, 0.002, 5e-4)):
        data = single_op_model((3, 9), (9, 5), quant=((0.05, -3), (0.03, 11), (so, 4)))
        graph = import_tflite(data)
        shift = batch_matmul.params(graph, graph.ops[0], rounding).output_shift
        assert shift == (-9, -1, 0, 2)[i], shift
        vectors = np.stack([rand((27 + 45,), rng) for _ in range(3)])
        opcheck.check_c(graph, tmp_path / str(i), vectors, rounding, dsp_emulate=True)


def test_single_input_with_opcheck(tmp_path: Path) -> None:
    """A constant rhs: a one-input graph, through the shared opcheck.check_c."""
    rng = np.random.default_rng(4)
    graph = import_tflite(single_op_model((3, 4, 10), (10, 6), rhs_data=rand((10, 6), rng)))
    manifest = opcheck.check_c(graph, tmp_path, np.stack([rand((120,), rng) for _ in range(3)]))
    assert manifest["const_bytes"]["weights"] >= 60


def test_gram_matrix_of_one_tensor(tmp_path: Path) -> None:
    """``x x^T``: one tensor as both operands (adj_y: no copy)."""
    tensors = [FbTensor("x", (2, 5, 6), "int8", 0.05, -9), FbTensor("y", (2, 5, 5), "int8", 0.3, 2)]
    data = build_tflite(tensors, [FbOp("BATCH_MATMUL", [0, 0], [1], "BatchMatMulOptions", {"AdjY": True})], [0], [1])
    graph = import_tflite(data)
    vectors = np.stack([rand((60,), np.random.default_rng(i)) for i in range(3)])
    for x in vectors:
        np.testing.assert_array_equal(reference.run(graph, [x.reshape(2, 5, 6)])["y"],
                                      tflm_run(data, [x.reshape(2, 5, 6)])["y"])
    assert opcheck.check_c(graph, tmp_path, vectors)["scratch_bytes"] == 0


# --------------------------------------------------------------------------- Helium (MVE) on the host


def check_mve_inputs(graph: Graph, work: Path, count: int, seed: int = 0, compilers: Any = (("gcc", True),)
                     ) -> dict[str, Any]:
    """The library generated for MVE, compiled with tg_mve_s8.h's C stand-ins for the intrinsics
    (TG_MVE_EMULATE), on ``count`` random vectors of every input: every layer == the reference."""
    from tinygen import codegen

    rng = np.random.default_rng(seed)
    xs = [[rand(graph.tensors[n].shape, rng) for n in graph.inputs] for _ in range(count)]
    rows = np.stack([np.concatenate([x.reshape(-1) for x in v]) for v in xs])
    lib = codegen.generate(graph, work / "lib", force=True, mve=True)
    for compiler, sanitize in compilers:
        hb = hostbuild.build(lib.out_dir, lib.manifest, work / compiler, compiler=compiler, sanitize=sanitize,
                             dump=True, opt="-DTG_MVE_EMULATE")
        out, dumps = hostbuild.run(hb, rows)
        for v, x in enumerate(xs):
            ref = reference.run(graph, x)
            for layer, got in zip(lib.manifest["layers"], dumps[v]):
                want = ref[layer["output_tensor"]].reshape(-1)
                bad = np.flatnonzero(want != got)
                assert bad.size == 0, (f"{compiler} vector {v} layer {layer['index']} ({layer['kernel']}): {bad.size} "
                                       f"differ, first at {bad[0]}: C {got[bad[0]]} reference {want[bad[0]]}")
            np.testing.assert_array_equal(out[v], ref[graph.outputs[0]].reshape(-1))
    return lib.manifest


#: besides C_CASES: depths past one step of 16 with a tail, a partial last quad of columns, 16 exactly
MVE_CASES: dict[str, tuple[Any, ...]] = {
    **{name: case[:5] for name, case in C_CASES.items()},
    "const_rhs_32x64x32": ((32, 64), (64, 32), False, False, "rhs"),
    "depth37_cols13": ((2, 5, 37), (2, 37, 13), False, False, None),
    "depth16_cols4_adj": ((3, 16, 4), (3, 4, 16), True, True, None),
}


@pytest.mark.parametrize("name", sorted(MVE_CASES))
def test_mve_kernel_equals_reference(tmp_path: Path, name: str) -> None:
    ls, rs, adj_x, adj_y, const = MVE_CASES[name]
    c = {"ls": ls, "rs": rs, "adj_x": adj_x, "adj_y": adj_y, "const": const, "seed": len(name),
         "quant": ((0.05, -3), (0.03, 11), (0.1 * max(ls[-1], ls[-2]) ** 0.5, 4))}
    graph = import_tflite(config_model(c)[0], name=name)
    manifest = check_mve_inputs(graph, tmp_path, 3, compilers=(("gcc", True), ("clang", False)))
    assert [layer["kernel"] for layer in manifest["layers"]] == ["tg_batch_matmul_mve_s8"]


def test_mve_chain_and_extreme_offsets(tmp_path: Path) -> None:
    """The attention-like chain (operands transposed in scratch, broadcast rhs), and zero points at both ends
    of int8 with a long accumulation (the wrapping column and row terms)."""
    graph = import_tflite(chain_model(), name="chain")
    manifest = check_mve_inputs(graph, tmp_path / "chain", 3)
    assert [layer["kernel"] for layer in manifest["layers"]] == ["tg_batch_matmul_mve_s8"] * 3
    for zl, zr in ((-128, 127), (127, -128)):
        data = single_op_model((3, 200), (200, 5), quant=((0.01, zl), (0.01, zr), (2.0, 0)))
        check_mve_inputs(import_tflite(data), tmp_path / f"z{zl}", 3)


def test_mve_left_shift(tmp_path: Path) -> None:
    """A real multiplier above 1 (a left shift: tg_mve_requant_vec's has_left), small depths."""
    data = single_op_model((2, 3, 2), (2, 2, 5), quant=((0.5, 7), (0.5, -9), (0.01, 0)))
    assert batch_matmul.params(import_tflite(data), import_tflite(data).ops[0], "double").output_shift > 0
    check_mve_inputs(import_tflite(data), tmp_path, 4)


@pytest.mark.skipif(not __import__("shutil").which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc is not installed")
def test_mve_kernel_cross_compiles_for_m55(tmp_path: Path) -> None:
    import subprocess

    for single in (0, 1):
        cmd = ["arm-none-eabi-gcc", "-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", *hostbuild.WARNINGS,
               "-Wconversion", "-Wsign-conversion", "-O2", f"-DTG_SINGLE_ROUNDING={single}", f"-I{opcheck.KERNELS}",
               "-S", str(opcheck.KERNELS / "tg_batch_matmul_mve_s8.c"), "-o", str(tmp_path / "k.s")]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stderr
        assert "vmladava.s8" in (tmp_path / "k.s").read_text()


# --------------------------------------------------------------------------- QEMU


@pytest.mark.emulator
@pytest.mark.parametrize("board", [*opcheck.QEMU_BOARDS, "mps3_an547"])
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    """Cortex-M3 (portable C), M7 (DSP) and M55 (Helium) against the reference and TFLite Micro."""
    kernel = "tg_batch_matmul_mve_s8" if board == "mps3_an547" else "tg_batch_matmul_s8"
    model = tmp_path / "bmm_chain.tflite"
    model.write_bytes(chain_model())
    print(opcheck.check_qemu(model, board, tmp_path / "work", kernels=[kernel] * 3))
    rng = np.random.default_rng(11)
    model = tmp_path / "bmm_const.tflite"
    model.write_bytes(single_op_model((32, 64), (64, 32), quant=((0.05, -3), (0.03, 11), (1.5, 4)),
                                      rhs_data=rand((64, 32), rng)))
    print(opcheck.check_qemu(model, board, tmp_path / "work_const", kernels=[kernel]))


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "bmm.tflite"
    model.write_bytes(chain_model())
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [layer["kernel"] for layer in manifest["layers"]] == ["tg_batch_matmul_s8"] * 3
    graph = import_tflite(model)
    rng = np.random.default_rng(5)
    xs = [rand(graph.tensors[n].shape, rng) for n in graph.inputs]
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, np.concatenate([x.reshape(-1) for x in xs])[None])
    np.testing.assert_array_equal(got[0], reference.run(graph, xs)["y"].reshape(-1))
