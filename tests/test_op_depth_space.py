"""DEPTH_TO_SPACE and SPACE_TO_DEPTH (tinygen/ops/depth_to_space.py, tinygen/ops/space_to_depth.py, kernel
templates/kernels/tg_space_depth_s8.{c,h}).

* the checks: block size >= 1, rank 4, channels (DEPTH_TO_SPACE) or height and width (SPACE_TO_DEPTH) divisible
  as TFLite Micro's Prepare requires, one quantization for input and output, int8, the declared output shape;
* the reference against TFLite Micro's element loop (the DCR order) written out in Python, and the kernel's
  (outer, rows, cols, run) view against the reference, over random shapes and block sizes (hypothesis);
* the reference against TFLite Micro's interpreter over random shapes, block sizes and quantizations
  (hypothesis, hand-built single-op ``.tflite`` files), and on a model of TensorFlow's converter
  (``tf.nn.depth_to_space`` / ``tf.nn.space_to_depth`` in Keras ``Lambda`` layers);
* the generated C against the reference on the host (gcc and clang, -Wall -Wextra -Werror -pedantic,
  ASan/UBSan) through every kernel path (byte runs, memcpy runs, batches, byte-order-keeping swaps copied by
  tg_copy_s8), the kernel for every Cortex-M core, and in QEMU on Cortex-M3 and M7; ``tinygen convert``.
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
from tinygen.ops import depth_to_space, space_to_depth
from tinygen.oracle import tflm_run

D2S, S2D = "DEPTH_TO_SPACE", "SPACE_TO_DEPTH"
OPTIONS = {D2S: "DepthToSpaceOptions", S2D: "SpaceToDepthOptions"}
KIND = {D2S: depth_to_space.KIND, S2D: space_to_depth.KIND}


def out_shape(builtin: str, shape: tuple[int, ...], b: int) -> tuple[int, ...]:
    n, h, w, c = shape
    return (n, h * b, w * b, c // (b * b)) if builtin == D2S else (n, h // b, w // b, c * b * b)


# --------------------------------------------------------------------------- models


def single_op_model(builtin: str, shape: tuple[int, ...], b: int, scale: float = 0.05, zero_point: int = 3, *,
                    out_quant: tuple[float, int] | None = None, y_shape: tuple[int, ...] | None = None,
                    options: bool = True) -> bytes:
    """A .tflite holding one int8 DEPTH_TO_SPACE or SPACE_TO_DEPTH (``options=False``: no options table)."""
    so, zo = out_quant or (scale, zero_point)
    y = y_shape or (out_shape(builtin, shape, 1) if b < 1 else out_shape(builtin, shape, b))
    tensors = [FbTensor("x", shape, "int8", scale, zero_point), FbTensor("y", y, "int8", so, zo)]
    op = FbOp(builtin, [0], [1], OPTIONS[builtin], {"BlockSize": b}) if options else FbOp(builtin, [0], [1])
    return build_tflite(tensors, [op], [0], [1])


def chain_model(shape: tuple[int, ...], steps: list[tuple[str, int]], scale: float = 0.05, zero_point: int = -7) -> bytes:
    """One int8 tensor through ``steps``, each (DEPTH_TO_SPACE or SPACE_TO_DEPTH, block size)."""
    tensors, ops, current = [FbTensor("x", shape, "int8", scale, zero_point)], [], shape
    for k, (builtin, b) in enumerate(steps):
        current = out_shape(builtin, current, b)
        tensors.append(FbTensor(f"t{k}", current, "int8", scale, zero_point))
        ops.append(FbOp(builtin, [k], [k + 1], OPTIONS[builtin], {"BlockSize": b}))
    return build_tflite(tensors, ops, [0], [len(steps)])


def _ir_graph(builtin: str, shape: tuple[int, ...], b: Any, y_shape: tuple[int, ...] | None = None,
              out_quant: tuple[float, int] = (0.05, 3), dtype: str = "int8") -> Graph:
    g = Graph("depth_space")
    g.add_tensor(Tensor("x", shape, dtype, Quantization([0.05], [3])))
    g.add_tensor(Tensor("y", y_shape or out_shape(builtin, shape, b), "int8", Quantization([out_quant[0]], [out_quant[1]])))
    g.add_op(Op(KIND[builtin], "op", ["x"], ["y"], {"block_size": b}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def random_int8(shape: tuple[int, ...], count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(count)]


# --------------------------------------------------------------------------- checks


def test_values_by_hand() -> None:
    """DCR: DEPTH_TO_SPACE puts channels (0, 1 | 2, 3 | 4, 5 | 6, 7) of a pixel at (row 0: left, right),
    (row 1: left, right), two channels each; SPACE_TO_DEPTH undoes it."""
    g = _ir_graph(D2S, (1, 1, 1, 8), 2)
    g.validate()
    assert qparams.op_params(g, g.ops[0]) == depth_to_space.BlockParams(block_size=2)
    x = np.arange(1, 9, dtype=np.int8).reshape(1, 1, 1, 8)
    y = reference.run(g, x)["y"]
    assert y.tolist() == [[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]]
    g = _ir_graph(S2D, (1, 2, 2, 2), 2)
    assert reference.run(g, y)["y"].tolist() == x.tolist()


@pytest.mark.parametrize("builtin", [D2S, S2D])
@pytest.mark.parametrize("b", [0, -2, 1 << 17, 2.0])
def test_block_size_below_one_is_refused(builtin: str, b: Any) -> None:
    g = _ir_graph(builtin, (1, 4, 4, 16), b, y_shape=(1, 4, 4, 16))
    match = r"is not an integer" if isinstance(b, float) else rf"attribute 'block_size': {b} is outside 1\.\.65536"
    with pytest.raises(TinygenError, match=match):
        g.validate()
    if isinstance(b, int) and b <= 0:  # also from a .tflite (and without an options table TFLite Micro reads 0)
        for data in (single_op_model(builtin, (1, 4, 4, 16), b), single_op_model(builtin, (1, 4, 4, 16), 2, options=False)):
            with pytest.raises(TinygenError, match=r"'block_size': -?\d+ is outside 1\.\.65536"):
                import_tflite(data)
    if builtin == D2S:  # TFLite Micro's DEPTH_TO_SPACE refuses it too (its SPACE_TO_DEPTH divides by zero)
        with pytest.raises(TinygenError, match="TFLite Micro cannot load the model"):
            tflm_run(single_op_model(builtin, (1, 4, 4, 16), 0), [np.zeros((1, 4, 4, 16), np.int8)])


@pytest.mark.parametrize(("builtin", "shape", "b", "match"), [
    (D2S, (1, 2, 2, 10), 2, (r"input 'x' has shape \(1, 2, 2, 10\): its 10 channels are not a multiple of "
                             r"block_size\^2 = 4 \(block_size 2\); TFLite Micro's DEPTH_TO_SPACE needs that")),
    (D2S, (1, 2, 2, 8), 3, r"its 8 channels are not a multiple of block_size\^2 = 9"),
    (S2D, (1, 6, 4, 3), 3, (r"input 'x' has shape \(1, 6, 4, 3\): its height 6 and width 4 must be multiples of "
                            r"block_size 3 \(TFLite Micro's SPACE_TO_DEPTH needs that\)")),
    (S2D, (2, 5, 4, 1), 2, r"its height 5 and width 4 must be multiples of block_size 2"),
])
def test_indivisible_shapes_are_refused(builtin: str, shape: tuple[int, ...], b: int, match: str) -> None:
    g = _ir_graph(builtin, shape, b, y_shape=shape)
    with pytest.raises(TinygenError, match=match):
        g.validate()
    data = single_op_model(builtin, shape, b, y_shape=shape)
    with pytest.raises(TinygenError, match=match):
        import_tflite(data)
    with pytest.raises(TinygenError, match="TFLite Micro cannot load the model"):
        tflm_run(data, [np.zeros(shape, np.int8)])


@pytest.mark.parametrize("builtin", [D2S, S2D])
def test_rank_other_than_four_is_refused(builtin: str) -> None:
    g = _ir_graph(builtin, (4, 4, 8), 2, y_shape=(4, 4, 8))
    with pytest.raises(TinygenError, match=rf"input 'x' has shape \(4, 4, 8\) \(rank 3\); TFLite Micro's {builtin} "
                                           r"needs a rank-4 NHWC input"):
        g.validate()
    data = build_tflite([FbTensor("x", (4, 4, 8), "int8", 0.05, 3), FbTensor("y", (4, 4, 8), "int8", 0.05, 3)],
                        [FbOp(builtin, [0], [1], OPTIONS[builtin], {"BlockSize": 2})], [0], [1])
    with pytest.raises(UnsupportedError, match=r"input tensor 'x' \[4, 4, 8\] int8 must have 4 dimensions"):
        import_tflite(data)


@pytest.mark.parametrize("builtin", [D2S, S2D])
def test_second_operand_is_refused_on_import(builtin: str) -> None:
    tensors = [FbTensor("x", (1, 2, 2, 4), "int8", 0.05, 3), FbTensor("y", out_shape(builtin, (1, 2, 2, 4), 2), "int8",
                                                                      0.05, 3)]
    data = build_tflite(tensors, [FbOp(builtin, [0, 0], [1], OPTIONS[builtin], {"BlockSize": 2})], [0], [1])
    with pytest.raises(TinygenError, match=rf"op 0 \({builtin}\): has 2 inputs; {builtin} takes 1; corrupt model"):
        import_tflite(data)
    with pytest.raises(TinygenError, match="TFLite Micro cannot load the model"):
        tflm_run(data, [np.zeros((1, 2, 2, 4), np.int8)])


@pytest.mark.parametrize(("builtin", "y_shape", "want"), [
    (D2S, (1, 4, 4, 4), r"\(1, 4, 4, 1\)"), (D2S, (1, 8, 2, 1), r"\(1, 4, 4, 1\)"), (S2D, (1, 1, 1, 64), r"\(1, 2, 2, 16\)")])
def test_declared_output_shape_must_be_exact(builtin: str, y_shape: tuple[int, ...], want: str) -> None:
    shape = (1, 2, 2, 4) if builtin == D2S else (1, 4, 4, 4)
    with pytest.raises(TinygenError, match=rf"output 'y' has shape .*, expected {want}"):
        _ir_graph(builtin, shape, 2, y_shape=y_shape).validate()
    with pytest.raises(TinygenError, match=rf"expected {want}"):
        import_tflite(single_op_model(builtin, shape, 2, y_shape=y_shape))


@pytest.mark.parametrize("builtin", [D2S, S2D])
@pytest.mark.parametrize("out_quant", [(0.1, 3), (0.05, 4), (float(np.nextafter(np.float32(0.05), np.float32(1))), 3)])
def test_other_output_quantization_is_refused(builtin: str, out_quant: tuple[float, int]) -> None:
    match = (rf"input 'x' has scale 0\.05, zero point 3 but output 'y' has scale .*; TFLite Micro's {builtin} "
             r"copies bytes, so they must be equal")
    with pytest.raises(TinygenError, match=match):
        _ir_graph(builtin, (1, 2, 2, 4), 2, out_quant=out_quant).validate()
    with pytest.raises(TinygenError, match="copies bytes"):
        import_tflite(single_op_model(builtin, (1, 2, 2, 4), 2, out_quant=out_quant))


@pytest.mark.parametrize("builtin", [D2S, S2D])
def test_int8_only_and_never_in_place(builtin: str) -> None:
    with pytest.raises(UnsupportedError, match="tensor 'x' is int16.*int8 only"):
        _ir_graph(builtin, (1, 2, 2, 4), 2, dtype="int16").validate()
    for op in (depth_to_space.OP, space_to_depth.OP):
        assert op.in_place is None and op.in_place_lag is None and not op.alias


# --------------------------------------------------------------------------- semantics, kernel view


def tflm_loop(builtin: str, x: np.ndarray, b: int) -> np.ndarray:
    """reference_ops::DepthToSpace / SpaceToDepth, their loops written out (one element at a time)."""
    if builtin == D2S:
        y = np.zeros(out_shape(D2S, x.shape, b), np.int8)
        for n, h, w, d in np.ndindex(*y.shape):
            y[n, h, w, d] = x[n, h // b, w // b, d + ((h % b) * b + w % b) * y.shape[3]]
    else:
        y = np.zeros(out_shape(S2D, x.shape, b), np.int8)
        for n, h, w, d in np.ndindex(*x.shape):
            y[n, h // b, w // b, d + ((h % b) * b + w % b) * x.shape[3]] = x[n, h, w, d]
    return y


@st.composite
def case(draw: Any, builtin: str, max_dim: int = 4, max_block: int = 4) -> tuple[tuple[int, ...], int]:
    """(input shape, block size) that TFLite Micro's Prepare accepts."""
    b = draw(st.integers(1, max_block))
    n, h, w, c = (draw(st.integers(1, m)) for m in (2, max_dim, max_dim, 2 * max_dim))
    return ((n, h, w, c * b * b), b) if builtin == D2S else ((n, h * b, w * b, c), b)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), builtin=st.sampled_from([D2S, S2D]))
def test_reference_and_kernel_view_follow_tflite_micros_loop(data: Any, builtin: str) -> None:
    shape, b = data.draw(case(builtin, max_dim=3))
    x = np.arange(int(np.prod(shape))).astype(np.int8).reshape(shape)  # distinct values (up to 256 elements)
    g = _ir_graph(builtin, shape, b)
    got = reference.run(g, x)["y"]
    np.testing.assert_array_equal(got, tflm_loop(builtin, x, b))
    # tg_space_depth_s8: [outer][rows][cols][run] -> [outer][cols][rows][run]
    outer, rows, cols, run = (depth_to_space if builtin == D2S else space_to_depth).kernel_dims(shape, b)
    swapped = x.reshape(outer, rows, cols, run).transpose(0, 2, 1, 3).reshape(got.shape)
    np.testing.assert_array_equal(swapped, got)


# --------------------------------------------------------------------------- against TFLite Micro


def _float32(value: float) -> float:
    return float(np.float32(value))


def builtin_and_case(max_dim: int, max_block: int) -> Any:
    """(builtin, (input shape, block size))."""
    return st.sampled_from([D2S, S2D]).flatmap(lambda b: st.tuples(st.just(b), case(b, max_dim, max_block)))


@settings(max_examples=300, deadline=None)
@given(bc=builtin_and_case(max_dim=5, max_block=5), scale=st.floats(-12.0, 3.0).map(lambda e: _float32(2.0**e)),
       zero_point=st.integers(-128, 127), seed=st.integers(0, 2**16))
@example(bc=(D2S, ((2, 3, 2, 45), 3)), scale=0.5, zero_point=-128, seed=0)  # runs of 15 bytes
@example(bc=(S2D, ((1, 8, 4, 3), 4)), scale=1.0, zero_point=127, seed=1)  # the output one pixel wide
@example(bc=(D2S, ((1, 2, 2, 256), 16)), scale=0.02, zero_point=0, seed=2)  # a large block
def test_reference_matches_tflite_micro(bc: tuple[str, tuple[tuple[int, ...], int]], scale: float, zero_point: int,
                                        seed: int) -> None:
    builtin, (shape, b) = bc
    model = single_op_model(builtin, shape, b, scale, zero_point)
    graph = import_tflite(model)
    assert [(op.kind, op.attrs["block_size"]) for op in graph.ops] == [(KIND[builtin], b)]
    for x in random_int8(shape, 2, seed):
        want = tflm_run(model, [x])[graph.outputs[0]]
        assert want.dtype == np.int8 and want.shape == out_shape(builtin, shape, b)
        np.testing.assert_array_equal(reference.run(graph, [x])[graph.outputs[0]], want)


@pytest.fixture(scope="module")
def converter_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TensorFlow's converter on ``tf.nn.depth_to_space`` and ``tf.nn.space_to_depth`` in Keras Lambda layers
    between convolutions: it emits DEPTH_TO_SPACE and SPACE_TO_DEPTH with one quantization in and out."""
    keras = pytest.importorskip("keras")
    import tensorflow as tf

    from tinygen.tfconvert import keras_to_int8_tflite

    L = keras.layers
    keras.utils.set_random_seed(12)
    inp = keras.Input((4, 6, 8), batch_size=1)
    y = L.Lambda(lambda t: tf.nn.depth_to_space(t, 2))(L.Conv2D(8, 3, padding="same", activation="relu")(inp))
    y = L.Lambda(lambda t: tf.nn.space_to_depth(t, 4))(L.Conv2D(3, 1)(y))
    model = keras.Model(inp, L.Conv2D(5, 1)(y), name="depth_space")
    samples = np.random.default_rng(4).normal(0.0, 1.0, (32, 4, 6, 8)).astype(np.float32)
    path = tmp_path_factory.mktemp("depth_space_models") / "depth_space.tflite"
    path.write_bytes(keras_to_int8_tflite(model, samples))
    return path


def test_converter_model_matches_tflite_micro(converter_model: Path) -> None:
    data = converter_model.read_bytes()
    graph = import_tflite(data)
    assert [(op.kind, op.attrs.get("block_size")) for op in graph.ops] == [
        ("conv2d", None), ("depth_to_space", 2), ("conv2d", None), ("space_to_depth", 4), ("conv2d", None)]
    assert graph.tensors[graph.ops[3].outputs[0]].shape == (1, 2, 3, 48)
    x_shape = graph.tensors[graph.inputs[0]].shape
    for x in random_int8(x_shape, 6, seed=5) + [np.full(x_shape, v, np.int8) for v in (-128, 127)]:
        want, got = tflm_run(data, [x]), reference.run(graph, [x])
        for op in graph.ops:
            np.testing.assert_array_equal(got[op.outputs[0]], want[op.outputs[0]], err_msg=f"{op.kind} {op.name}")


# --------------------------------------------------------------------------- generated C on the host


#: chains through every kernel path: each step with the kernel it must lower to
CHAINS: dict[str, tuple[tuple[int, ...], list[tuple[str, int]], list[str]]] = {
    # runs of 12 bytes (byte loop), then 18 (memcpy), a block size 1 (a copy)
    "mixed": ((1, 3, 5, 36), [(D2S, 3), (S2D, 3), (D2S, 2), (S2D, 2), (D2S, 1)],
              ["tg_space_depth_s8"] * 4 + ["tg_copy_s8"]),
    # batches of 2, runs of 15 (just below memcpy's 16) and 10 bytes, a block size 1
    "short": ((2, 2, 2, 45), [(D2S, 3), (S2D, 2), (D2S, 2), (S2D, 3), (S2D, 1)],
              ["tg_space_depth_s8"] * 4 + ["tg_copy_s8"]),
    # the shortest runs: 2 bytes
    "tiny": ((1, 4, 6, 1), [(S2D, 2), (D2S, 2)], ["tg_space_depth_s8"] * 2),
    # runs of 32 and 64 bytes, a block of 16 (runs of 16), then swaps that keep the byte order: the output
    # one pixel wide (SPACE_TO_DEPTH), the input one pixel wide (DEPTH_TO_SPACE)
    "long": ((1, 4, 4, 64), [(D2S, 2), (S2D, 4), (D2S, 16), (S2D, 16), (S2D, 2), (D2S, 2)],
             ["tg_space_depth_s8"] * 4 + ["tg_copy_s8"] * 2),
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_generated_c_equals_reference(tmp_path: Path, name: str) -> None:
    shape, steps, kernels = CHAINS[name]
    graph = import_tflite(chain_model(shape, steps), name=name)
    size = int(np.prod(shape))
    vectors = np.stack([np.arange(size) % 256 - 128, *random_int8((size,), 2, seed=len(name))]).astype(np.int8)
    manifest = opcheck.check_c(graph, tmp_path, vectors)
    assert [layer["kernel"] for layer in manifest["layers"]] == kernels
    assert all(layer["in_place"] is None for layer in manifest["layers"])


# --------------------------------------------------------------------------- QEMU


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    shape, steps, kernels = CHAINS["mixed"]
    model = tmp_path / "depth_space_chain.tflite"
    model.write_bytes(chain_model(shape, steps))
    size = int(np.prod(shape))
    print(opcheck.check_qemu(model, board, tmp_path / "work", (np.arange(size) % 256 - 128).reshape(1, -1), kernels))


# --------------------------------------------------------------------------- command line


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    shape, steps, kernels = CHAINS["mixed"]
    model = tmp_path / "depth_space.tflite"
    model.write_bytes(chain_model(shape, steps))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]] == [
        (KIND[builtin], k) for (builtin, _), k in zip(steps, kernels)]
    assert any(p.name.endswith("tg_space_depth_s8.c") for p in out.iterdir()), sorted(p.name for p in out.iterdir())
    graph = import_tflite(model)
    vectors = np.stack(random_int8((int(np.prod(shape)),), 2, seed=7))
    hb = hostbuild.build(out, manifest, tmp_path / "build")
    got, _ = hostbuild.run(hb, vectors)
    for v, x in enumerate(vectors):
        np.testing.assert_array_equal(got[v], reference.run(graph, [x.reshape(shape)])[graph.outputs[0]].reshape(-1))
