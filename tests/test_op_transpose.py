"""TRANSPOSE (tinygen/ops/transpose.py, kernel templates/kernels/tg_transpose_s8.{c,h}).

* the checks: the perm (a permutation of 0..rank-1, 1-D int32 constant at import), the rank (TFLite Micro
  prepares ranks up to 5), the quantizations (equal: the kernel copies bytes), the declared output shape;
* the offline canonicalisation (size-1 dimensions dropped, adjacent ones merged) and the kernel's
  arguments, against numpy over random shapes and permutations (hypothesis);
* the reference against TFLite Micro's interpreter over random shapes, permutations and quantizations
  (hypothesis, hand-built single-op ``.tflite`` files), MCUNet-VWW's own transpose, and models of
  TensorFlow's converter (Keras ``Permute``);
* the generated C against the reference on the host (gcc and clang, -Wall -Wextra -Werror -pedantic,
  ASan/UBSan) through every kernel path (strided rows with and without a tail, memcpy rows, 2-, 3- and 4-D
  canonical transposes, identities copied by tg_copy_s8), and in QEMU on Cortex-M3 and M7;
* the Keras flow (``Permute``), QAT, and ``tinygen convert``.
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
from tinygen.ops import transpose
from tinygen.oracle import tflm_run
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
#: MCUNet-VWW's transpose (op 58 of mcunet_vww.tflite): NHWC [1, 3, 3, 160] -> NCHW, its quantization
MCUNET = ((1, 3, 3, 160), (0, 3, 1, 2), 0.04854252561926842, 6)


# --------------------------------------------------------------------------- models


def permuted(shape: tuple[int, ...], perm: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape[p] for p in perm)


def single_op_model(shape: tuple[int, ...], perm: tuple[int, ...], scale: float = 0.05, zero_point: int = 3, *,
                    out_quant: tuple[float, int] | None = None, out_shape: tuple[int, ...] | None = None,
                    perm_dtype: str = "int32", perm_shape: tuple[int, ...] | None = None) -> bytes:
    """A .tflite holding one int8 TRANSPOSE, its perm a constant operand."""
    scale_out, zp_out = out_quant or (scale, zero_point)
    perm_data = np.array(perm, dtype=np.int64 if perm_dtype == "int64" else np.int32)
    tensors = [
        FbTensor("x", shape, "int8", scale, zero_point),
        FbTensor("perm", perm_shape or (len(perm),), perm_dtype, data=perm_data),
        FbTensor("y", out_shape or permuted(shape, perm), "int8", scale_out, zp_out),
    ]
    return build_tflite(tensors, [FbOp("TRANSPOSE", [0, 1], [2])], [0], [2])


def chain_model(shape: tuple[int, ...], steps: list[Any], scale: float = 0.05, zero_point: int = -7) -> bytes:
    """One int8 tensor through ``steps``, each a perm (TRANSPOSE) or ``("reshape", shape)`` (RESHAPE)."""
    tensors = [FbTensor("x", shape, "int8", scale, zero_point)]
    ops = []
    current = shape
    for k, step in enumerate(steps):
        src = len(tensors) - 1
        if step[0] == "reshape":
            current = tuple(step[1])
            tensors.append(FbTensor(f"shape{k}", (len(current),), "int32", data=np.array(current, np.int32)))
            tensors.append(FbTensor(f"t{k}", current, "int8", scale, zero_point))
            ops.append(FbOp("RESHAPE", [src, src + 1], [src + 2]))
        else:
            current = permuted(current, tuple(step))
            tensors.append(FbTensor(f"perm{k}", (len(step),), "int32", data=np.array(step, np.int32)))
            tensors.append(FbTensor(f"t{k}", current, "int8", scale, zero_point))
            ops.append(FbOp("TRANSPOSE", [src, src + 1], [src + 2]))
    return build_tflite(tensors, ops, [0], [len(tensors) - 1])


def _ir_graph(shape: tuple[int, ...], perm: Any, out_shape: tuple[int, ...] | None = None,
              in_quant: tuple[float, int] = (0.05, 3), out_quant: tuple[float, int] = (0.05, 3),
              dtype: str = "int8") -> Graph:
    g = Graph("transpose")
    g.add_tensor(Tensor("x", shape, dtype, Quantization([in_quant[0]], [in_quant[1]])))
    g.add_tensor(Tensor("y", out_shape if out_shape is not None else permuted(shape, tuple(perm)), "int8",
                        Quantization([out_quant[0]], [out_quant[1]])))
    g.add_op(Op("transpose", "t", ["x"], ["y"], {"perm": perm}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def random_int8(shape: tuple[int, ...], count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(count)]


# --------------------------------------------------------------------------- checks


def test_values_by_hand() -> None:
    g = _ir_graph((2, 3), (1, 0))
    g.validate()
    assert qparams.op_params(g, g.ops[0]) == transpose.TransposeParams(perm=(1, 0))
    x = np.array([[1, 2, 3], [4, 5, -6]], np.int8)
    assert reference.run(g, x)["y"].tolist() == [[1, 4], [2, 5], [3, -6]]


@pytest.mark.parametrize(("perm", "match"), [
    ((0, 0, 1), (r"perm \(0, 0, 1\) is not a permutation of 0\.\.2 \(input 'x' of shape \(2, 3, 4\)\): every "
                 r"dimension must appear exactly once")),
    ((0, 1, 3), r"perm \(0, 1, 3\) is not a permutation of 0\.\.2"),
    ((-3, 1, 2), r"perm \(-3, 1, 2\) is not a permutation of 0\.\.2"),
    ((1, 0), (r"perm \(1, 0\) has 2 entries for input 'x' of shape \(2, 3, 4\) \(rank 3\): give one entry per "
              r"dimension")),
    ((2, 1, 0, 3), r"has 4 entries"),
])
def test_perm_that_is_not_a_permutation_is_refused(perm: tuple[int, ...], match: str) -> None:
    g = _ir_graph((2, 3, 4), perm, out_shape=(2, 3, 4))
    with pytest.raises(TinygenError, match=match):
        g.validate()


def test_perm_attribute_must_be_integers() -> None:
    g = _ir_graph((2, 3), (1, 0))
    g.ops[0].attrs["perm"] = (1.0, 0.0)
    with pytest.raises(TinygenError, match=r"attribute 'perm': 1\.0 is not an integer"):
        g.validate()
    g.ops[0].attrs.pop("perm")
    with pytest.raises(TinygenError, match="missing attribute 'perm'"):
        g.validate()


def test_rank_above_five_is_refused() -> None:
    """TFLite Micro's Prepare: "Transpose op only supports 1D-5D input arrays" (a 6-D model fails to load)."""
    g = _ir_graph((1, 2, 1, 2, 1, 2), (5, 4, 3, 2, 1, 0))
    with pytest.raises(UnsupportedError, match=r"input 'x' has shape \(1, 2, 1, 2, 1, 2\) \(rank 6\); TFLite "
                                                r"Micro's TRANSPOSE supports ranks 1 to 5"):
        g.validate()
    data = single_op_model((1, 2, 1, 2, 1, 2), (5, 4, 3, 2, 1, 0))
    with pytest.raises(TinygenError, match="TFLite Micro cannot load the model"):
        tflm_run(data, [np.zeros((1, 2, 1, 2, 1, 2), np.int8)])
    with pytest.raises(UnsupportedError, match="ranks 1 to 5"):
        import_tflite(data)


def test_declared_output_shape_must_be_the_permuted_one() -> None:
    g = _ir_graph((2, 3, 4), (2, 0, 1), out_shape=(4, 3, 2))
    with pytest.raises(TinygenError, match=r"output 'y' has shape \(4, 3, 2\), expected \(4, 2, 3\)"):
        g.validate()
    with pytest.raises(TinygenError, match=r"expected \(4, 2, 3\)"):
        import_tflite(single_op_model((2, 3, 4), (2, 0, 1), out_shape=(4, 3, 2)))


@pytest.mark.parametrize("out_quant", [(0.1, 3), (0.05, 4), (float(np.nextafter(np.float32(0.05), np.float32(1))), 3)])
def test_other_output_quantization_is_refused(out_quant: tuple[float, int]) -> None:
    g = _ir_graph((2, 3), (1, 0), out_quant=out_quant)
    with pytest.raises(TinygenError, match=r"input 'x' has scale .*, zero point 3 but output 'y' has scale .*; "
                                           r"TFLite Micro's TRANSPOSE copies bytes, so they must be equal"):
        g.validate()
    with pytest.raises(TinygenError, match="copies bytes"):
        import_tflite(single_op_model((2, 3), (1, 0), out_quant=out_quant))


def test_int8_only() -> None:
    with pytest.raises(UnsupportedError, match="tensor 'x' is int16.*int8 only"):
        _ir_graph((2, 3), (1, 0), dtype="int16").validate()


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"perm_dtype": "int64"}, UnsupportedError, (r"its perm \(tensor 'perm' \[3\] int64\) must be int32: TFLite "
                                                 r"Micro reads it as int32")),
    ({"perm_shape": (1, 3)}, TinygenError, (r"its perm \(tensor 'perm' \[1, 3\] int32\) must be 1-D with one entry "
                                            r"per dimension of input tensor 'x' \[2, 3, 4\] int8 \(3\)")),
])
def test_bad_perm_operand_is_refused_on_import(kwargs: dict[str, Any], error: type, match: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import test_reference_ops
    import tflite

    monkeypatch.setitem(test_reference_ops._FB_TYPES, "int64", tflite.TensorType.INT64)
    with pytest.raises(error, match=match):
        import_tflite(single_op_model((2, 3, 4), (2, 0, 1), **kwargs))


def test_perm_without_data_is_refused_on_import() -> None:
    """A perm computed at run time (a tensor without a buffer): tinygen needs it when it generates the code."""
    tensors = [FbTensor("x", (2, 3), "int8", 0.05, 3), FbTensor("perm", (2,), "int32"),
               FbTensor("y", (3, 2), "int8", 0.05, 3)]
    data = build_tflite(tensors, [FbOp("TRANSPOSE", [0, 1], [2])], [0], [2])
    with pytest.raises(UnsupportedError, match=r"op 0 \(TRANSPOSE\): its perm \(tensor 'perm' \[2\] int32\) must be "
                                                r"a constant"):
        import_tflite(data)


def test_not_in_place_and_not_an_alias() -> None:
    assert transpose.OP.in_place is None and transpose.OP.in_place_lag is None and not transpose.OP.alias


# --------------------------------------------------------------------------- canonicalisation


@pytest.mark.parametrize(("shape", "perm", "dims", "cperm"), [
    ((1, 3, 3, 160), (0, 3, 1, 2), [9, 160], [1, 0]),  # MCUNet-VWW: a 2-D transpose
    ((2, 3, 4, 5), (0, 3, 1, 2), [2, 12, 5], [0, 2, 1]),
    ((2, 3, 4, 5), (1, 0, 2, 3), [2, 3, 20], [1, 0, 2]),  # rows of 20 stay together
    ((2, 3, 4, 5), (3, 2, 1, 0), [2, 3, 4, 5], [3, 2, 1, 0]),
    ((1, 1, 5, 3), (0, 2, 1, 3), [15], [0]),  # the same byte order
    ((1, 7), (1, 0), [7], [0]),
    ((1, 1), (1, 0), [], []),
    ((6,), (0,), [6], [0]),
    ((2, 3, 4, 5, 6), (0, 1, 4, 2, 3), [6, 20, 6], [0, 2, 1]),
    ((2, 3, 4, 5, 6), (4, 3, 2, 1, 0), [2, 3, 4, 5, 6], [4, 3, 2, 1, 0]),
])
def test_canonical_by_hand(shape: tuple[int, ...], perm: tuple[int, ...], dims: list[int], cperm: list[int]) -> None:
    assert transpose.canonical(shape, perm) == (dims, cperm)


def test_kernel_args_by_hand() -> None:
    """MCUNet's: output [160, 9] (padded to 4-D), reading input [9, 160] down its columns (stride 160)."""
    assert transpose.kernel_args([9, 160], [1, 0]) == ([1, 1, 160, 9], [0, 0, 1, 160])
    assert transpose.kernel_args([2, 3, 20], [1, 0, 2]) == ([1, 3, 2, 20], [0, 20, 60, 1])


def kernel_in_numpy(x: np.ndarray, dims: list[int], strides: list[int]) -> np.ndarray:
    """What tg_transpose_s8 computes: output (i0..i3) = input[sum i_k * strides[k]]."""
    index = np.zeros(dims, dtype=np.int64)
    for k in range(4):
        shape = [1, 1, 1, 1]
        shape[k] = dims[k]
        index = index + np.arange(dims[k]).reshape(shape) * strides[k]
    return x.reshape(-1)[index.reshape(-1)]


@st.composite
def shape_and_perm(draw: Any, max_rank: int = 5, max_dim: int = 4) -> tuple[tuple[int, ...], tuple[int, ...]]:
    rank = draw(st.integers(1, max_rank))
    shape = tuple(draw(st.lists(st.integers(1, max_dim), min_size=rank, max_size=rank)))
    perm = tuple(draw(st.permutations(range(rank))))
    return shape, perm


@settings(max_examples=400, deadline=None)
@given(case=shape_and_perm(max_rank=5, max_dim=3))
def test_canonical_transpose_moves_the_same_bytes(case: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    shape, perm = case
    x = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    want = np.transpose(x, perm).reshape(-1)
    dims, cperm = transpose.canonical(shape, perm)
    # no size-1 dimension, nothing left to merge, the same element count
    assert 1 not in dims and int(np.prod(dims, dtype=np.int64)) == x.size
    assert sorted(cperm) == list(range(len(dims)))
    assert all(cperm[k + 1] != cperm[k] + 1 for k in range(len(cperm) - 1))
    np.testing.assert_array_equal(np.transpose(x.reshape(dims), cperm).reshape(-1), want)
    if len(dims) <= 1:
        return  # identity: a copy
    if len(dims) <= transpose.KERNEL_DIMS:
        out_dims, strides = transpose.kernel_args(dims, cperm)
        np.testing.assert_array_equal(kernel_in_numpy(x, out_dims, strides), want)


# --------------------------------------------------------------------------- against TFLite Micro


def _float32(value: float) -> float:
    return float(np.float32(value))


@settings(max_examples=300, deadline=None)
@given(case=shape_and_perm(), scale=st.floats(-12.0, 3.0).map(lambda e: _float32(2.0**e)),
       zero_point=st.integers(-128, 127), seed=st.integers(0, 2**16))
@example(case=(MCUNET[0], MCUNET[1]), scale=MCUNET[2], zero_point=MCUNET[3], seed=0)
@example(case=((2, 3, 4, 5, 3), (4, 3, 2, 1, 0)), scale=0.1, zero_point=-128, seed=1)  # 5 canonical dims
@example(case=((1, 1, 5, 3), (0, 2, 1, 3)), scale=0.1, zero_point=127, seed=2)  # the identity on the bytes
@example(case=((7,), (0,)), scale=1.0, zero_point=0, seed=3)
def test_reference_matches_tflite_micro(case: tuple[tuple[int, ...], tuple[int, ...]], scale: float,
                                        zero_point: int, seed: int) -> None:
    shape, perm = case
    data = single_op_model(shape, perm, scale, zero_point)
    graph = import_tflite(data)
    assert [(op.kind, op.attrs["perm"]) for op in graph.ops] == [("transpose", perm)]
    assert graph.tensors[graph.outputs[0]].shape == permuted(shape, perm)
    for x in random_int8(shape, 2, seed):
        want = tflm_run(data, [x])[graph.outputs[0]]
        assert want.dtype == np.int8
        got = reference.run(graph, [x])[graph.outputs[0]]
        np.testing.assert_array_equal(got, want)


def test_mcunet_vww_transpose_matches_tflite_micro(shared_models: Path) -> None:
    """The real model's TRANSPOSE has :data:`MCUNET`'s shape, perm and quantization (so the single-op models above
    cover it), and inside the whole model run by TFLite Micro its output is the reference's of its input."""
    from tinygen.frontend.tflite import _parse, tensor_names

    path = shared_models / "real" / "mcunet_vww.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    data = path.read_bytes()
    raw, names = _parse(data, "mcunet_vww"), tensor_names(data)
    found = [op for op in raw.ops if op.name == "TRANSPOSE"]
    assert len(found) == 1
    x, perm = (raw.tensors[i] for i in found[0].inputs)
    y = raw.tensors[found[0].outputs[0]]
    assert x.shape == MCUNET[0] and tuple(np.frombuffer(perm.data, np.int32)) == MCUNET[1]
    for t in (x, y):
        assert (np.float32(t.scale[0]), int(t.zero_point[0])) == (np.float32(MCUNET[2]), MCUNET[3])
    graph = import_tflite(single_op_model(*MCUNET))
    rng = np.random.default_rng(8)
    for _ in range(3):
        tensors = tflm_run(data, [rng.uniform(-1.0, 1.0, (1, 80, 80, 3)).astype(np.float32)])
        x_values, y_values = tensors[names[found[0].inputs[0]]], tensors[names[found[0].outputs[0]]]
        assert len(np.unique(x_values)) > 20
        got = reference.run(graph, [x_values])[graph.outputs[0]]
        np.testing.assert_array_equal(got, y_values)


@pytest.fixture(scope="module")
def converter_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TensorFlow's converter on Keras ``Permute`` between convolutions (NHWC -> NCHW -> a 1x1 conv over W)."""
    keras = pytest.importorskip("keras")
    from tinygen.tfconvert import keras_to_int8_tflite

    L = keras.layers
    keras.utils.set_random_seed(11)
    inp = keras.Input((4, 5, 6), batch_size=1)
    y = L.Permute((3, 1, 2))(L.Conv2D(6, 3, padding="same", activation="relu")(inp))
    y = L.Permute((2, 1, 3))(L.Conv2D(3, 1)(y))
    model = keras.Model(inp, y, name="permute")
    samples = np.random.default_rng(4).normal(0.0, 1.0, (32, 4, 5, 6)).astype(np.float32)
    path = tmp_path_factory.mktemp("transpose_models") / "permute.tflite"
    path.write_bytes(keras_to_int8_tflite(model, samples))
    return path


def test_converter_model_matches_tflite_micro(converter_model: Path) -> None:
    data = converter_model.read_bytes()
    graph = import_tflite(data)
    assert [(op.kind, op.attrs.get("perm")) for op in graph.ops] == [
        ("conv2d", None), ("transpose", (0, 3, 1, 2)), ("conv2d", None), ("transpose", (0, 2, 1, 3))]
    x_shape = graph.tensors[graph.inputs[0]].shape
    for x in random_int8(x_shape, 8, seed=5) + [np.full(x_shape, v, np.int8) for v in (-128, 127)]:
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for op in graph.ops:
            np.testing.assert_array_equal(got[op.outputs[0]], want[op.outputs[0]], err_msg=f"{op.kind} {op.name}")


# --------------------------------------------------------------------------- generated C on the host


#: chains through every kernel path; each step a perm or a reshape, with the kernel it must lower to
CHAINS: dict[str, tuple[tuple[int, ...], list[Any], list[str]]] = {
    # MCUNet's 2-D transpose (rows of 9: one 4-step and a tail of 1), then rows of 3 copied with memcpy, a
    # 3-D reversal, an identity on the bytes (a copy), a 3-D transpose back to NHWC
    "nhwc": ((1, 3, 3, 160), [(0, 3, 1, 2), (0, 2, 1, 3), (3, 2, 1, 0), (0, 1, 3, 2), (2, 0, 3, 1)],
             ["tg_transpose_s8", "tg_transpose_s8", "tg_transpose_s8", "tg_copy_s8", "tg_transpose_s8"]),
    # a 4-D reversal (4 canonical dims, rows of 2), rows of 6 copied, then 5-D: 4 canonical dims with rows of 4
    # (one step, no tail), 2 canonical dims with rows of 3 (a tail only), and a 1-D identity
    "rank5": ((2, 3, 4, 5), [(3, 2, 1, 0), (1, 0, 2, 3), ("reshape", (5, 2, 2, 3, 2)), (3, 0, 4, 1, 2),
                             (1, 2, 3, 4, 0), ("reshape", (120,)), (0,)],
              ["tg_transpose_s8", "tg_transpose_s8", None, "tg_transpose_s8", "tg_transpose_s8", None, "tg_copy_s8"]),
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_generated_c_equals_reference(tmp_path: Path, name: str) -> None:
    shape, steps, kernels = CHAINS[name]
    graph = import_tflite(chain_model(shape, steps), name=name)
    size = int(np.prod(shape))
    vectors = np.stack([np.arange(size) % 256 - 128, *random_int8((size,), 3, seed=len(name))]).astype(np.int8)
    manifest = opcheck.check_c(graph, tmp_path, vectors)
    assert [layer["kernel"] for layer in manifest["layers"]] == kernels
    # never in place: each transpose writes its own buffer
    assert all(layer["in_place"] is None for layer in manifest["layers"] if layer["kernel"])


def test_generated_c_random_chain(tmp_path: Path) -> None:
    """Twelve random permutations of a 5-D tensor (one size-1 dimension: at most 4 canonical dims)."""
    rng = np.random.default_rng(2024)
    steps = [tuple(int(p) for p in rng.permutation(5)) for _ in range(12)]
    graph = import_tflite(chain_model((3, 2, 1, 5, 4), steps), name="random_chain")
    manifest = opcheck.check_c(graph, tmp_path, np.stack(random_int8((120,), 3, seed=9)))
    assert {layer["kernel"] for layer in manifest["layers"]} <= {"tg_transpose_s8", "tg_copy_s8"}


def test_five_canonical_dims_are_refused_by_the_lowering(tmp_path: Path) -> None:
    """TFLite Micro runs a 5-D transpose that nothing merges (the reference does too, see the hypothesis example
    above); tinygen's kernel walks 4 dimensions and says so."""
    graph = import_tflite(single_op_model((2, 3, 4, 5, 3), (4, 3, 2, 1, 0)))
    with pytest.raises(UnsupportedError, match=r"is a 5-D transpose of \(2, 3, 4, 5, 3\) by \(4, 3, 2, 1, 0\) after "
                                                r"dropping size-1 dimensions and merging those that stay adjacent; "
                                                r"tinygen's transpose kernel handles at most 4"):
        codegen.generate(graph, tmp_path / "lib", force=True)


def test_dims_and_strides_are_const_arrays(tmp_path: Path) -> None:
    lib = codegen.generate(import_tflite(single_op_model(*MCUNET[:2])), tmp_path / "lib", force=True)
    text = (lib.out_dir / f"{lib.name}_weights.c").read_text()
    # MCUNet's: output [160, 9] (padded to 4-D) read down the columns of input [9, 160]
    assert "_dims[4]" in text and "1, 1, 160, 9," in text and "_strides[4]" in text and "0, 0, 1, 160," in text, text
    assert lib.manifest["const_bytes"] == {"weights": 32, "quant": 0, "table": 0}
    source = (lib.out_dir / f"{lib.name}.c").read_text()
    assert f"{lib.name}_tg_transpose_s8(" in source


# --------------------------------------------------------------------------- QEMU


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    shape, steps, kernels = CHAINS["nhwc"]
    model = tmp_path / "transpose_chain.tflite"
    model.write_bytes(chain_model(shape, steps))
    size = int(np.prod(shape))
    print(opcheck.check_qemu(model, board, tmp_path / "work", (np.arange(size) % 256 - 128).reshape(1, -1), kernels))


# --------------------------------------------------------------------------- Keras flow


#: what the other Keras tests require of one int8 layer (tests/test_quantizer.py SQNR_DB)
SQNR_DB = 30.0


def _keras_permute_model() -> Any:
    keras = pytest.importorskip("keras")
    L = keras.layers
    keras.utils.set_random_seed(5)
    inputs = keras.Input((6, 5, 4), batch_size=1)
    y = L.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    y = L.Permute((3, 1, 2))(y)  # [1, 8, 6, 5]
    y = L.Conv2D(4, 1)(y)  # mixes the W axis
    y = L.Permute((2, 3, 1))(y)  # [1, 6, 4, 5]
    return keras.Model(inputs, L.Dense(3)(L.Flatten()(y)))


def test_keras_permute_tracks_the_float_model() -> None:
    import tinygen.api as tg
    from tinygen.quantize.report import run_int8, sqnr_db

    model = _keras_permute_model()
    calibration = np.random.default_rng(0).standard_normal((96, 6, 5, 4)).astype(np.float32)
    graph = tg.quantize(model, calibration)
    kinds = [op.kind for op in graph.ops]
    perms = [op.attrs["perm"] for op in graph.ops if op.kind == "transpose"]
    assert perms == [(0, 3, 1, 2), (0, 2, 3, 1)], kinds
    for op in graph.ops:
        if op.kind == "transpose":
            x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
            assert x.quant.scalar() == y.quant.scalar()  # SAME_AS_INPUT
    test = calibration[:24]
    expected = np.asarray(model.predict(test, verbose=0), np.float64)
    got = run_int8(graph, test)[graph.outputs[0]].reshape(expected.shape)
    sqnr = sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2)))
    print(f"int8 vs float SQNR {sqnr:.1f} dB")
    assert sqnr >= SQNR_DB, f"SQNR {sqnr:.1f} dB < {SQNR_DB} dB"
    # TensorFlow's converter gives the same op sequence and perms
    theirs = tg.quantize(model, calibration, quantizer="tflite")
    assert [op.kind for op in theirs.ops] == kinds
    assert [op.attrs["perm"] for op in theirs.ops if op.kind == "transpose"] == perms


def test_float_reference_on_a_batch() -> None:
    x = np.arange(2 * 1 * 3 * 4, dtype=np.float32).reshape(2, 1, 3, 4)
    op = Op("transpose", "t", ["x"], ["y"], {"perm": (0, 3, 1, 2)})
    np.testing.assert_array_equal(transpose.float_reference(op, [x]), np.transpose(x, (0, 3, 1, 2)))
    # a perm that moves the batch dimension transposes each sample
    op = Op("transpose", "t", ["x"], ["y"], {"perm": (1, 0, 3, 2)})
    got = transpose.float_reference(op, [x])
    np.testing.assert_array_equal(got, np.stack([np.transpose(x[i:i + 1], (1, 0, 3, 2)) for i in range(2)]))


def test_keras_permute_that_is_not_a_permutation_is_refused() -> None:
    class FakeLayer:
        name = "permute"

        @staticmethod
        def get_config() -> dict[str, Any]:
            return {"dims": (1, 1, 2)}

    class FakeBuilder:
        @staticmethod
        def shape(name: str) -> tuple[int, ...]:
            return (1, 2, 3, 4)

    with pytest.raises(UnsupportedError, match=r"layer 'permute' \(FakeLayer\): dims \(1, 1, 2\) are not a "
                                                r"permutation of 1\.\.3"):
        transpose.from_keras(FakeBuilder(), FakeLayer(), ["x"])


def test_qat_prepare_reproduces_post_training_quantization() -> None:
    """QAT of a model with Permute: convert(prepare(model)) is the post-training graph."""
    from tinygen import qat
    from tinygen.api import quantize

    model = _keras_permute_model()
    calibration = np.random.default_rng(1).standard_normal((48, 6, 5, 4)).astype(np.float32)
    prepared = qat.prepare(model, calibration)
    graph, ptq = qat.convert(prepared), quantize(model, calibration)
    assert [(op.kind, op.inputs, op.outputs, op.attrs.get("perm")) for op in graph.ops] == [
        (op.kind, op.inputs, op.outputs, op.attrs.get("perm")) for op in ptq.ops]
    for name, t in ptq.tensors.items():
        np.testing.assert_array_equal(graph.tensors[name].quant.scale, t.quant.scale, err_msg=name)
        np.testing.assert_array_equal(graph.tensors[name].quant.zero_point, t.quant.zero_point, err_msg=name)
    # the QAT model's (fake-quantized) forward pass transposes like the float model
    from tinygen.quantize.report import sqnr_db

    expected = np.asarray(model.predict(calibration[:16], verbose=0), np.float64)
    got = np.asarray(prepared.predict(calibration[:16], verbose=0), np.float64)
    assert sqnr_db(float(np.sum(expected**2)), float(np.sum((expected - got) ** 2))) >= SQNR_DB


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    shape, steps, kernels = CHAINS["nhwc"]
    model = tmp_path / "transpose.tflite"
    model.write_bytes(chain_model(shape, steps))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]] == [("transpose", k) for k in kernels]
    assert any(p.name.endswith("tg_transpose_s8.c") for p in out.iterdir()), sorted(p.name for p in out.iterdir())
    # the emitted library computes what the reference does
    graph = import_tflite(model)
    vectors = np.stack(random_int8((int(np.prod(shape)),), 2, seed=7))
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(shape)])[graph.outputs[0]].reshape(-1))
