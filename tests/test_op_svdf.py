"""SVDF (tinygen/ops/svdf.py, kernel templates/kernels/tg_svdf_s8.{c,h}) and the 16-bit edges of TFLite Micro's
keyword model (an int16 input through QUANTIZE int16 -> int8; SOFTMAX int8 -> int16 and QUANTIZE int16 -> int32 at
its output).

* the reference against TFLite Micro's interpreter over consecutive invocations (the state carried, as TFLite
  Micro keeps its VARIABLE tensor), on ``keyword_scrambled_8bit`` (every tensor) and on hand-built single-op
  models of random sizes, ranks, batches and quantizations, int8 and int16 states (hypothesis), with state
  scales small enough that the new feature values saturate;
* the refusals (a state that is no variable, time weights of another type than the state, a bias scale TFLite
  Micro refuses, an int16 input without QUANTIZE, a rank that does not divide the filters, accumulator overflow);
* the generated C against the reference on the host (gcc and clang, ASan/UBSan, the DSP and Helium paths
  emulated) over consecutive invocations, the keyword model through ``NAME_invoke_model`` (int16 in, int32 out) too, and in QEMU
  on Cortex-M3 and M7 (``tinygen test``), with the keyword model's instruction count guarded on M7.

TensorFlow's converter makes no SVDF from Keras, so the random models are built by hand as TFLite lays them out
(inputs x, feature weights, time weights, bias, the VARIABLE state; options rank and activation).
"""

from __future__ import annotations

from pathlib import Path

import hostbuild
import numpy as np
import opcheck
import pytest
from conftest import SHARED_MODELS
from hypothesis import given, settings
from hypothesis import strategies as st
from test_op_lstm import _with_variables, run_both
from test_reference_ops import FbOp, FbTensor

from tinygen import codegen, ports, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ops import svdf

KEYWORD = SHARED_MODELS / "keyword_scrambled_8bit.tflite"
needs_keyword = pytest.mark.skipif(not KEYWORD.exists(), reason=f"{KEYWORD} is absent (set TINYGEN_SHARED_MODELS)")


def svdf_model(b: int, size: int, filters: int, memory: int, rank: int, seed: int, state: str = "int8",
               bias: bool = True, state_scale: float | None = None, time_type: str | None = None,
               bias_scale: float | None = None, variable: bool = True, x_type: str = "int8") -> bytes:
    """A .tflite of one SVDF as TFLite lays it out. ``state_scale``: the state's scale (small: the new feature
    values saturate); ``time_type``: the time weights' type (default the state's)."""
    rng = np.random.default_rng(seed)
    units = filters // rank
    sx, zx = float(np.float32(rng.uniform(0.01, 0.1))), int(rng.integers(-20, 20))
    ss = float(np.float32(state_scale if state_scale is not None else rng.uniform(0.05, 0.5)))
    zs = int(rng.integers(-30, 30)) if state == "int8" else 0
    swf, swt = (float(np.float32(rng.uniform(0.003, 0.02))) for _ in range(2))
    time_type = time_type or state
    lo, hi = (-127, 128) if time_type == "int8" else (-2000, 2000)
    tensors = [FbTensor("x", (b, size), x_type, sx, zx),
               FbTensor("wf", (filters, size), "int8", swf, 0, data=rng.integers(-127, 128, (filters, size)).astype(np.int8)),
               FbTensor("wt", (filters, memory), time_type, swt, 0,
                        data=rng.integers(lo, hi, (filters, memory)).astype(time_type))]
    inputs = [0, 1, 2, -1]
    bias_values = rng.integers(-3000, 3000, units).astype(np.int32)  # drawn either way: the same other values
    if bias:
        sb = bias_scale if bias_scale is not None else float(np.float32(ss) * np.float32(swt))
        tensors.append(FbTensor("b", (units,), "int32", sb, 0, data=bias_values))
        inputs[3] = len(tensors) - 1
    tensors.append(FbTensor("s", (b, filters * memory), state, ss, zs))
    inputs.append(len(tensors) - 1)
    tensors.append(FbTensor("y", (b, units), "int8", float(np.float32(rng.uniform(0.05, 0.3))),
                            int(rng.integers(-128, 0))))
    op = FbOp("SVDF", inputs, [len(tensors) - 1], "SVDFOptions", {"Rank": rank, "FusedActivationFunction": 1})
    return _with_variables(tensors, [op], {len(tensors) - 2} if variable else set())


def random_inputs(graph_input_shape: tuple[int, ...], count: int, seed: int, dtype: type = np.int8) -> np.ndarray:
    info = np.iinfo(dtype)
    lo, hi = (info.min, info.max + 1) if dtype == np.int8 else (-4000, 4000)
    return np.random.default_rng(seed).integers(lo, hi, (count, *graph_input_shape)).astype(dtype)


# --------------------------------------------------------------------------- against TFLite Micro


@needs_keyword
def test_keyword_model_matches_tflite_micro_on_every_tensor() -> None:
    model = KEYWORD.read_bytes()
    g = import_tflite(model)
    kinds = [op.kind for op in g.ops]
    assert kinds.count(svdf.KIND) == 7 and kinds[0] == kinds[-1] == "quantize" and kinds[-2] == "softmax"
    assert g.tensor(g.inputs[0]).dtype == "int16" and g.tensor(g.outputs[0]).dtype == "int32"
    assert [s.initial[0] for s in g.states] == [-50, -13, 25, -1, 37, 10, -10]  # the zero points (TFLM's reset)
    run_both(model, random_inputs((1, 96), 6, seed=1, dtype=np.int16), every_tensor=True)
    run_both(model, random_inputs((1, 96), 2, seed=2, dtype=np.int16), every_tensor=True)  # from the reset state


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 2), size=st.integers(1, 20), filters=st.integers(1, 12), memory=st.integers(1, 10),
       rank=st.integers(1, 3), seed=st.integers(0, 2**16), state=st.sampled_from(["int8", "int16"]),
       saturate=st.booleans())
def test_random_svdfs_match_tflite_micro(b: int, size: int, filters: int, memory: int, rank: int, seed: int,
                                         state: str, saturate: bool) -> None:
    model = svdf_model(b, size, filters * rank, memory, rank, seed, state, state_scale=0.002 if saturate else None)
    run_both(model, random_inputs((b, size), 4, seed))


def test_saturated_features_wrap_with_the_state_zero_point() -> None:
    """The new feature values saturate, then the zero point is added and the sum wraps to int8 (the oracle's
    order): a state scale of 1e-3 makes nearly every value saturate, and a nonzero zero point wraps some."""
    model = svdf_model(1, 16, 8, 4, 1, seed=7, state_scale=0.001)
    g = import_tflite(model)
    zp = int(g.tensor(g.states[0].read).quant.zero_point[0])
    assert zp != 0
    x = random_inputs((1, 16), 1, seed=3)[0]
    after = reference.run(g, [x])[g.states[0].write].reshape(8, 4)[:, -1].astype(np.int64)
    assert set(after.tolist()) <= {(127 + zp + 128) % 256 - 128, (-128 + zp + 128) % 256 - 128}
    run_both(model, random_inputs((1, 16), 3, seed=4))


def test_missing_bias_is_a_zero_bias() -> None:
    """TFLite Micro crashes in Prepare on an SVDF without bias (it reads the bias scale), so the reference of one is
    checked against the same model with a zero bias."""
    without = import_tflite(svdf_model(1, 6, 4, 3, 2, seed=5, bias=False))
    with_zero = import_tflite(svdf_model(1, 6, 4, 3, 2, seed=5))
    with_zero.tensors[with_zero.ops[0].inputs[3]].data = np.zeros(2, np.int32)
    assert len(without.ops[0].inputs) == 4
    state_a = state_b = None
    for x in random_inputs((1, 6), 3, seed=6):
        a, b = reference.run(without, [x], state=state_a), reference.run(with_zero, [x], state=state_b)
        state_a, state_b = reference.next_state(without, a, state_a), reference.next_state(with_zero, b, state_b)
        np.testing.assert_array_equal(a[without.outputs[0]], b[with_zero.outputs[0]])


def softmax16_model(rows: int, depth: int, seed: int) -> bytes:
    """x int8 [rows, depth] -> SOFTMAX int8 -> int16 -> QUANTIZE int16 -> int32 (the keyword model's output side)."""
    rng = np.random.default_rng(seed)
    tensors = [FbTensor("x", (rows, depth), "int8", float(np.float32(rng.uniform(0.02, 0.2))), int(rng.integers(-20, 20))),
               FbTensor("p", (rows, depth), "int16", float(np.float32(1.5259022e-05)), -32768),
               FbTensor("y", (rows, depth), "int32", float(np.float32(rng.uniform(1e-5, 1e-4))), int(rng.integers(-9, 9)))]
    ops = [FbOp("SOFTMAX", [0], [1], "SoftmaxOptions", {"Beta": 1.0}), FbOp("QUANTIZE", [1], [2])]
    return _with_variables(tensors, ops, set())


def test_int16_softmax_and_int32_quantize(tmp_path: Path) -> None:
    """SOFTMAX int8 -> int16 and QUANTIZE int16 -> int32 on several rows (every int8 value in the first vector):
    the reference against TFLite Micro on every tensor, the C (the tabulated int16 softmax) against the reference."""
    model = softmax16_model(3, 100, seed=4)
    g = import_tflite(model)
    vectors = opcheck.vectors_with_every_value(300, 3, seed=5).reshape(3, 3, 100)
    run_both(model, vectors, every_tensor=True)
    manifest = opcheck.check_c(g, tmp_path, vectors)
    assert [layer["kernel"] for layer in manifest["layers"]] == ["tg_softmax_lut_s8_s16", "tg_quantize_s16_s32"]
    with pytest.raises(TinygenError, match="int16 output .* needs scale 1/65536 and zero point -32768"):
        g.tensors["p"].quant = type(g.tensors["p"].quant)(np.array([1e-4], np.float32), np.array([-32768]))
        reference.run(g, [vectors[0]])


# --------------------------------------------------------------------------- refusals


def test_refusals() -> None:
    with pytest.raises(UnsupportedError, match="state .* is not a variable tensor"):
        import_tflite(svdf_model(1, 4, 4, 2, 1, 0, variable=False))
    with pytest.raises(UnsupportedError, match="state .* is int8 and time weights .* int16.*both int8 or both int16"):
        import_tflite(svdf_model(1, 4, 4, 2, 1, 0, time_type="int16"))
    with pytest.raises(TinygenError, match="bias scale .* is not state scale x time weights scale"):
        import_tflite(svdf_model(1, 4, 4, 2, 1, 0, bias_scale=0.5))
    with pytest.raises(UnsupportedError, match="tinygen supports int8 activations only"):
        import_tflite(svdf_model(1, 4, 4, 2, 1, 0, x_type="int16"))  # the importer refuses the graph input first
    g = import_tflite(svdf_model(1, 4, 4, 2, 1, 0))
    g.ops[0].attrs["rank"] = 3
    with pytest.raises(TinygenError, match="4 filters are not a multiple of rank 3"):
        g.validate()


def test_accumulator_overflow_is_refused() -> None:
    g = import_tflite(svdf_model(1, 4, 4, 4, 1, 0, state="int16"))
    wt = g.tensors[g.ops[0].inputs[svdf.W_TIME]]
    wt.data = np.full(wt.shape, 32767, np.int16)
    with pytest.raises(TinygenError, match="beyond int32"):
        g.validate()


# --------------------------------------------------------------------------- generated C


@pytest.mark.parametrize("state", ["int8", "int16"])
@pytest.mark.parametrize("shape", [(1, 10, 8, 4, 1), (2, 7, 11, 5, 1), (1, 16, 6, 10, 2), (1, 3, 9, 1, 3),
                                   (2, 33, 5, 7, 5)])
def test_c_matches_reference(tmp_path: Path, shape: tuple[int, int, int, int, int], state: str) -> None:
    """Input sizes and memories that are multiples of 4 (of 2) and not, odd filter counts (the pair loop's last
    filter), batch 2 (the one-place shift crosses batch rows), saturating features, int8 and int16 states, over 5
    consecutive invocations."""
    b, size = shape[:2]
    model = svdf_model(*shape, seed=sum(shape), state=state, state_scale=0.004 if b == 2 else None)
    manifest = opcheck.check_c(import_tflite(model), tmp_path, random_inputs((b, size), 5, seed=1), dsp_emulate=True)
    assert [layer["kernel"] for layer in manifest["layers"]] == ["tg_svdf_s8"]
    assert manifest["states"][0]["bytes"] == b * shape[2] * shape[3] * (2 if state == "int16" else 1)


@pytest.mark.parametrize("state", ["int8", "int16"])
def test_c_matches_reference_with_single_rounding(tmp_path: Path, state: str) -> None:
    model = svdf_model(2, 9, 6, 5, 3, seed=21, state=state)
    opcheck.check_c(import_tflite(model), tmp_path, random_inputs((2, 9), 3, seed=2), rounding="single",
                    dsp_emulate=True)


@pytest.mark.parametrize("shape", [(1, 40, 6, 20, 2), (2, 7, 5, 3, 1)])
def test_helium_path_matches_reference(tmp_path: Path, shape: tuple[int, int, int, int, int]) -> None:
    """The Helium dot products (16 per VMLADAVA, the tail predicated) with the intrinsics emulated in C
    (TG_MVE_EMULATE, gcc with ASan/UBSan): input sizes and spans over 16 and not a multiple of it, and below 16."""
    b, size = shape[:2]
    g = import_tflite(svdf_model(*shape, seed=sum(shape)))
    x = random_inputs((b, size), 4, seed=2)
    refs, state = [], None
    for row in x:
        refs.append(reference.run(g, [row], state=state))
        state = reference.next_state(g, refs[-1], state)
    lib = codegen.generate(g, tmp_path / "lib")
    hb = hostbuild.build(lib.out_dir, lib.manifest, tmp_path / "mve", sanitize=True, opt="-DTG_MVE_EMULATE")
    out, _ = hostbuild.run(hb, x.reshape(4, -1))
    np.testing.assert_array_equal(out.reshape(4, -1), np.stack([r[g.outputs[0]].reshape(-1) for r in refs]))


@needs_keyword
def test_keyword_model_c_through_every_entry_point(tmp_path: Path) -> None:
    """The keyword model's library: ``NAME_invoke`` on the int8 core and ``NAME_invoke_model`` on the declared
    int16 input (the QUANTIZE edge) give the reference's int32 output, invocation after invocation."""
    model = KEYWORD.read_bytes()
    g = import_tflite(model)
    lib = codegen.generate(g, tmp_path / "lib")
    assert [layer["kernel"] for layer in lib.manifest["layers"]][-2:] == ["tg_softmax_lut_s8_s16", "tg_quantize_s16_s32"]
    _, ins, _ = ports.split(g)
    x = random_inputs((1, 96), 4, seed=9, dtype=np.int16)
    refs, state = [], None
    for row in x:
        refs.append(reference.run(g, [row], state=state))
        state = reference.next_state(g, refs[-1], state)
    want = np.stack([r[g.outputs[0]].reshape(-1) for r in refs])
    core = np.stack([r[ins[0].core].reshape(-1) for r in refs])
    for compiler, sanitize in opcheck.builds():
        for mode, rows in (("int8", core), ("model", x.reshape(4, -1))):
            hb = hostbuild.build(lib.out_dir, lib.manifest, tmp_path / f"{compiler}{int(sanitize)}{mode}",
                                 compiler=compiler, sanitize=sanitize, mode=mode)
            out, _ = hostbuild.run(hb, rows)
            np.testing.assert_array_equal(out.reshape(4, -1), want, err_msg=f"{compiler} {sanitize} {mode}")


@needs_keyword
def test_int16_edge_table_and_sources() -> None:
    """The int16 -> int8 edge: its table is the reference QUANTIZE of every int16 value (monotonic, every int8 value
    made here), and the sources it gives make back the int8 values asked for."""
    g = import_tflite(KEYWORD.read_bytes())
    _, ins, _ = ports.split(g)
    table = ports.edge_table(g, ins[0])
    assert table is not None and table.size == 65536 and np.all(np.diff(table.astype(np.int64)) >= 0)
    every = np.arange(-128, 128).astype(np.int8)
    sources = ports.edge_sources(g, ins[0], every)
    assert sources.dtype == np.int16 and np.array_equal(table[sources.astype(np.int64) + 32768], every)
    assert np.array_equal(ports.core_values(g, ins[0], sources), every)


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
def test_qemu(tmp_path: Path, board: str) -> None:
    model = tmp_path / "svdf.tflite"
    model.write_bytes(svdf_model(2, 13, 6, 5, 2, seed=11, state_scale=0.01))
    opcheck.check_qemu(model, board, tmp_path, kernels=["tg_svdf_s8"])
    model.write_bytes(svdf_model(1, 9, 4, 7, 1, seed=12, state="int16"))
    opcheck.check_qemu(model, board, tmp_path / "int16", kernels=["tg_svdf_s8"])
    if KEYWORD.exists():
        opcheck.check_qemu(KEYWORD, board, tmp_path / "keyword")


#: keyword_scrambled_8bit on mps2_an500 (Cortex-M7: the DSP path), instructions per inference (vector 0) counted
#: exactly by the QEMU plugin (120,126 with the first kernel: a byte-wise memmove for the shift, tg_requantize and a
#: dot product per filter of a unit; 83,894 before the per-requantization fast forms); the test fails more than 1%
#: above it, tests/test_emulator_models.py's rule for tests/instruction_counts.json
KEYWORD_M7_INSTRUCTIONS = 77_733


@pytest.mark.emulator
@needs_keyword
def test_keyword_instruction_count_has_not_regressed(tmp_path: Path) -> None:
    import shutil

    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    from test_emulator_models import cached_build

    from tinygen.commands.test import make_vectors, prepare, run_test

    prep = prepare(KEYWORD, "mps2_an500", tmp_path)
    outcome = run_test(prep, make_vectors(prep, 1), timeout=300, builder=cached_build)
    assert outcome.ok, "\n".join(outcome.lines)
    assert outcome.run.method == "plugin"
    measured = outcome.run.inference_instructions[0]
    assert measured <= KEYWORD_M7_INSTRUCTIONS * 1.01, (
        f"keyword_scrambled_8bit on mps2_an500: {measured:,} instructions per inference, more than 1% above "
        f"{KEYWORD_M7_INSTRUCTIONS:,}; if intended, update KEYWORD_M7_INSTRUCTIONS")
