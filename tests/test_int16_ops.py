"""int16x8 ops beyond same-shape elementwise (issue 20, item 1): broadcasting ADD/SUB/MUL, MEAN, and the Helium
16x8 FULLY_CONNECTED.

* Keras models converted with TF's 16x8 mode on calibration data made here: a squeeze-and-excitation block
  (MEAN over H, W with keep_dims; MUL, ADD, SUB of [1, H, W, C] with [1, 1, 1, C]; the scalar constants of a
  Rescaling layer; MEAN without keep_dims) and general broadcasts ([1, 4, 1, 3] with [1, 1, 5, 3], both operands
  broadcast; per-channel and scalar constant operands, the constant first; MEAN over one axis, over the
  channels), and MEAN over two axes around a kept one: every tensor of tinygen's reference equals TFLite Micro's, on vectors with the int16 extremes;
* the generated C against the reference on the host (gcc/clang, sanitizers, the DSP path emulated) and in QEMU
  (Cortex-M7 DSP, Cortex-M3 portable) bit-exact with the reference and TFLite Micro, and ``tinygen test --board
  mps2_an500`` itself;
* MEAN over more int16 values than its int32 sum holds: refused, naming the op and the limit;
* tg_fully_connected_mve_s16 (Cortex-M55): the C stand-ins of its intrinsics on the host and the real instruction
  set in QEMU mps3_an547 equal the reference (depth tails, partial output quads, several rows, per-tensor
  weights, sums past 2^32 with an int64 and an int32 accumulator), and it runs fewer instructions than the portable kernel there.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import hostbuild
import numpy as np
import opcheck
import pytest

from test_int16_models import _assert_matches_tflm, _convert, _fc16_graph, _int16_vectors
from tinygen import codegen, ir, reference
from tinygen.errors import TinygenError
from tinygen.frontend.tflite import import_tflite

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

M55_BOARD = "mps3_an547"


def _save(factory: pytest.TempPathFactory, name: str, model: object, shape: tuple[int, ...], per_tensor: bool = False
          ) -> Path:
    """``model`` in 16x8 with int16 I/O, calibrated on 32 normal samples of ``shape`` (x2), as a file."""
    calibration = np.random.default_rng(0).normal(size=(32, *shape)).astype(np.float32) * 2
    path = factory.mktemp(f"int16_{name}") / f"{name}.tflite"
    path.write_bytes(_convert(model, calibration, True, per_tensor))
    return path


@pytest.fixture(scope="module")
def se_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A squeeze-and-excitation block on 5x6x4: x * mean(x), + mean(x), - mean(x) (MEAN over H, W kept as 1s, so
    [1, 5, 6, 4] with [1, 1, 1, 4]), Rescaling(0.5, 1.0) (MUL and ADD of scalar constants), global average
    pooling (MEAN without keep_dims)."""
    tf.keras.utils.set_random_seed(1)
    inp = tf.keras.Input((5, 6, 4))
    pooled = tf.keras.layers.GlobalAveragePooling2D(keepdims=True)(inp)
    y = tf.keras.layers.Multiply()([inp, pooled])
    y = tf.keras.layers.Add()([y, pooled])
    y = tf.keras.layers.Subtract()([y, pooled])
    y = tf.keras.layers.Rescaling(0.5, 1.0)(y)
    out = tf.keras.layers.GlobalAveragePooling2D()(y)
    return _save(tmp_path_factory, "se", tf.keras.Model(inp, out), (5, 6, 4))


@pytest.fixture(scope="module")
def broadcast_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """On 4x5x3: a = mean over axis 2 ([1, 4, 1, 3]), b = mean over axis 1 ([1, 1, 5, 3]); a * b and b - a (both
    operands broadcast), their sum (same shapes), + a per-channel constant, x a per-channel constant written first,
    0.75 - that (a scalar constant first), the mean over the channels without keep_dims ([1, 4, 5])."""
    tf.keras.utils.set_random_seed(2)
    inp = tf.keras.Input((4, 5, 3))
    a = keras.ops.mean(inp, axis=2, keepdims=True)
    b = keras.ops.mean(inp, axis=1, keepdims=True)
    y = keras.ops.add(keras.ops.multiply(a, b), keras.ops.subtract(b, a))
    y = keras.ops.add(y, np.array([0.5, -1.0, 2.0], np.float32))
    y = keras.ops.multiply(np.array([1.5, -0.5, 0.25], np.float32), y)
    y = keras.ops.subtract(np.float32(0.75), y)
    out = keras.ops.mean(y, axis=-1)
    return _save(tmp_path_factory, "broadcast", tf.keras.Model(inp, out), (4, 5, 3))


@pytest.fixture(scope="module")
def axes_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """On 4x5x3: the mean over axes 1 and 3 kept as 1s ([1, 1, 5, 1]: two reduced runs around a kept one), x times
    it (broadcast along the height and the channels), the mean over axis 2 without keep_dims ([1, 4, 3])."""
    tf.keras.utils.set_random_seed(4)
    inp = tf.keras.Input((4, 5, 3))
    y = keras.ops.multiply(inp, keras.ops.mean(inp, axis=(1, 3), keepdims=True))
    return _save(tmp_path_factory, "axes", tf.keras.Model(inp, keras.ops.mean(y, axis=2)), (4, 5, 3))


MODELS = {
    "se_model": (["mean", "mul", "add", "sub", "mul", "add", "mean"],
                 ["tg_mean_s16", "tg_mul_broadcast_s16", "tg_add_broadcast_s16", "tg_add_broadcast_s16",
                  "tg_mul_broadcast_s16", "tg_add_broadcast_s16", "tg_mean_s16"]),
    "broadcast_model": (["mean", "mean", "mul", "sub", "add", "add", "mul", "sub", "mean"],
                        ["tg_mean_s16", "tg_mean_s16", "tg_mul_broadcast_s16", "tg_add_broadcast_s16", "tg_add_s16",
                         "tg_add_broadcast_s16", "tg_mul_broadcast_s16", "tg_add_broadcast_s16", "tg_mean_s16"]),
    "axes_model": (["mean", "mul", "mean"], ["tg_mean_s16", "tg_mul_broadcast_s16", "tg_mean_s16"]),
}


def _vectors(g: ir.Graph, count: int, seed: int) -> np.ndarray:
    """``count`` int16 vectors of the graph's input shape, the extremes and zero first."""
    shape = g.tensor(g.inputs[0]).shape
    return _int16_vectors(count, int(np.prod(shape)), seed).reshape(count, *shape)


@pytest.mark.parametrize("fixture", sorted(MODELS))
def test_reference_matches_tflm(fixture: str, request: pytest.FixtureRequest) -> None:
    """Every tensor of tinygen's reference equals TFLite Micro's on 12 vectors; the constant operands are int16
    (TF's converter writes them so, zero point 0) and the broadcasts are the ones the models name."""
    data = request.getfixturevalue(fixture).read_bytes()
    g = import_tflite(data, name=fixture)
    assert [op.kind for op in g.ops] == MODELS[fixture][0]
    consts = [g.tensor(name) for op in g.ops for name in op.inputs if g.tensor(name).is_const]
    assert all(t.dtype == "int16" and int(t.quant.zero_point[0]) == 0 for t in consts)
    assert consts or fixture == "axes_model"
    _assert_matches_tflm(data, g, _vectors(g, 12, seed=3))


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("fixture", sorted(MODELS))
def test_c_matches_reference(fixture: str, rounding: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The generated C equals the reference on every layer (every compiler and sanitizer build, the DSP path
    emulated; both roundings): the broadcasting kernels where the operands differ in shape, tg_add_s16 where they do
    not."""
    g = import_tflite(request.getfixturevalue(fixture).read_bytes(), name=fixture)
    vectors = _vectors(g, 6, seed=4)
    manifest = opcheck.check_c(g, tmp_path, vectors.reshape(6, -1), rounding, dsp_emulate=True)
    assert [layer["kernel"] for layer in manifest["layers"]] == MODELS[fixture][1]


def test_mean_over_too_many_int16_values_is_refused() -> None:
    """A 16x8 MEAN of 40000 values per output: its int32 sum could overflow (32767 is the most): refused at
    validation, naming the op, the input and the limit."""
    q = ir.Quantization
    g = ir.Graph("mean16")
    g.add_tensor(ir.Tensor("x", (1, 200, 200, 2), "int16", q(np.float32(0.001), 0)))
    g.add_tensor(ir.Tensor("y", (1, 2), "int16", q(np.float32(0.001), 0)))
    g.add_op(ir.Op("mean", "gap", ["x"], ["y"], {"axes": (1, 2), "keep_dims": False}))
    g.inputs, g.outputs = ["x"], ["y"]
    with pytest.raises(TinygenError, match=r"mean op 'gap': axes \[1, 2\] of int16 input 'x' .* average 40000 "
                                           r"elements; the int32 sum supports at most 32767"):
        g.validate()


@pytest.mark.parametrize("fixture, board", [("se_model", "mps2_an500"), ("broadcast_model", "mps2_an385"),
                                            ("broadcast_model", "mps2_an500"), ("axes_model", "mps2_an500")])
def test_models_in_qemu(fixture: str, board: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Each model through ``tinygen test``'s path in QEMU (Cortex-M7 DSP, Cortex-M3 portable): int16 vectors with
    the extremes (their bytes) and 3 random ones, bit-exact with the reference and TFLite Micro."""
    path = request.getfixturevalue(fixture)
    g = import_tflite(path.read_bytes(), name=fixture)
    report = opcheck.check_qemu(path, board, tmp_path, _vectors(g, 3, seed=5).view(np.int8),
                                kernels=MODELS[fixture][1])
    assert f"all {6 * g.tensor(g.outputs[0]).size * 2} values equal" in report


def test_cli_test(se_model: Path, tmp_path: Path) -> None:
    """``tinygen test --board mps2_an500`` on the squeeze-and-excitation block: PASS, TFLite Micro compared."""
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("QEMU or the Arm toolchain is not installed (scripts/setup.sh installs them)")
    result = subprocess.run(["tinygen", "test", str(se_model), "--board", "mps2_an500", "-n", "3",
                             "--work-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    TFLite Micro: all 24 values equal" in result.stdout and "PASS" in result.stdout


# --------------------------------------------------------------------------- Helium 16x8 FULLY_CONNECTED


@pytest.fixture(scope="module")
def fc_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three rows of 21 features -> Dense(13, relu) -> Dense(7) -> Dense(300) -> Dense(6): depths 21, 13, 7 and
    300 (tails of 5, 5, 7 and 4 past the steps of 8), output quads cut at 13, 7 and 6, three rows per layer."""
    tf.keras.utils.set_random_seed(7)
    model = tf.keras.Sequential([
        tf.keras.Input((3, 21), batch_size=1),
        tf.keras.layers.Dense(13, activation="relu", bias_initializer="random_normal"),
        tf.keras.layers.Dense(7, bias_initializer="random_normal"),
        tf.keras.layers.Dense(300, bias_initializer="random_normal"),
        tf.keras.layers.Dense(6, bias_initializer="random_normal"),
    ])
    return _save(tmp_path_factory, "fc_mve", model, (3, 21))


@pytest.fixture(scope="module")
def fc_per_tensor_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 features -> Dense(16, relu) -> Dense(8), per-tensor weights (one multiplier, rq_step 0)."""
    tf.keras.utils.set_random_seed(8)
    model = tf.keras.Sequential([
        tf.keras.Input((20,)), tf.keras.layers.Dense(16, activation="relu", bias_initializer="random_normal"),
        tf.keras.layers.Dense(8, bias_initializer="random_normal"),
    ])
    return _save(tmp_path_factory, "fc_mve_pt", model, (20,), per_tensor=True)


def _check_mve_host(g: ir.Graph, work: Path, vectors: np.ndarray, rounding: str = "double") -> dict:
    """The MVE library of ``g`` with the C stand-ins of the intrinsics (gcc with ASan/UBSan, clang) equals the
    reference on every layer; returns the manifest."""
    lib = codegen.generate(g, work / "lib", rounding=rounding, force=True, mve=True)
    refs = [reference.run(g, [v], rounding=rounding) for v in vectors]
    for compiler, sanitize in (("gcc", True), ("clang", False)):
        # hostbuild's `opt` slot carries the define (the build is then unoptimized: the C loop, as on the host)
        hb = hostbuild.build(lib.out_dir, lib.manifest, work / compiler, compiler=compiler, sanitize=sanitize,
                             dump=True, opt="-DTG_MVE_EMULATE")
        _, dumps = hostbuild.run(hb, vectors.reshape(len(vectors), -1))
        for v, ref in enumerate(refs):
            for layer, got in zip(lib.manifest["layers"], dumps[v]):
                want = np.ascontiguousarray(ref[layer["output_tensor"]]).reshape(-1).view(np.int8)
                np.testing.assert_array_equal(got, want, err_msg=f"{compiler} vector {v} layer {layer['index']}")
    return lib.manifest


def _uses_mve_fc(manifest: dict) -> None:
    fcs = [layer for layer in manifest["layers"] if layer["op"] == "fully_connected"]
    assert fcs and all(layer["kernel"] == "tg_fully_connected_mve_s16" for layer in fcs)


@pytest.mark.parametrize("fixture", ["fc_model", "fc_per_tensor_model"])
def test_fc_mve_s16_host(fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """tg_fully_connected_mve_s16 on the host (the intrinsics' C stand-ins) equals the reference on every layer."""
    g = import_tflite(request.getfixturevalue(fixture).read_bytes(), name=fixture)
    _uses_mve_fc(_check_mve_host(g, tmp_path, _vectors(g, 6, seed=9)))


@pytest.mark.parametrize("bias_dtype, rounding", [("int64", "double"), ("int32", "double"), ("int32", "single")])
def test_fc_mve_s16_host_sums_beyond_int32(bias_dtype: str, rounding: str, tmp_path: Path) -> None:
    """A 1024-deep 16x8 layer on alternating extremes (tests/test_int16_models.py's graph): its exact sum passes
    2^32; the kernel's 64-bit sums give TFLite's int64 accumulator (int64 bias) and, wrapped, its int32 one (with
    either rounding of its int32 requantization)."""
    vectors = _int16_vectors(6, 1024, seed=3)
    vectors[3] = np.where(np.arange(1024) % 2, 32767, -32768)
    g = _fc16_graph(1024, bias_dtype, seed=3)
    _uses_mve_fc(_check_mve_host(g, tmp_path, vectors.reshape(6, 1, 1024), rounding))


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc is not installed")
@pytest.mark.parametrize("opt", ["-O2", "-Os", "-O0", "-O2 -fno-omit-frame-pointer"])
def test_fc_mve_s16_cross_compiles_for_m55(opt: str, tmp_path: Path) -> None:
    """-Werror -pedantic clean for Cortex-M55 in both rounding modes; optimized builds run the assembly loop (10
    instructions per step of 8 inputs x 4 outputs), the others the C loop, on the same intrinsics."""
    source = opcheck.KERNELS / "tg_fully_connected_mve_s16.c"
    for single in (0, 1):
        cmd = ["arm-none-eabi-gcc", "-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", *hostbuild.WARNINGS,
               *opt.split(), f"-DTG_SINGLE_ROUNDING={single}", f"-I{opcheck.KERNELS}", "-S", str(source), "-o",
               str(tmp_path / "k.s")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        asm = (tmp_path / "k.s").read_text()  # (objdump 2.40 cannot decode MVE: read the compiler's assembly)
        assert "vmlaldava.s16" in asm and "vldrb.s16" in asm, asm[:2000]


def test_fc_mve_s16_in_qemu(fc_model: Path, tmp_path: Path) -> None:
    """The MVE library on the real instruction set (QEMU mps3_an547): bit-exact with the reference and TFLite Micro
    on the extreme vectors and 3 random ones."""
    g = import_tflite(fc_model.read_bytes(), name="fc_model")
    opcheck.check_qemu(fc_model, M55_BOARD, tmp_path, _vectors(g, 3, seed=10).view(np.int8),
                       kernels=["tg_fully_connected_mve_s16"] * 4)


def test_fc_mve_s16_runs_fewer_instructions(fc_model: Path, tmp_path: Path) -> None:
    """On Cortex-M55 (QEMU mps3_an547, exact counts) the Helium kernel runs the model's four 16x8 layers in fewer
    than half the instructions of the portable kernel, with the same outputs."""
    from tinygen import emulator
    from tinygen.boards import get_board
    from tinygen.commands.test import Prepared, build_firmware, make_vectors

    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm or arm-none-eabi-gcc is not installed")
    g = import_tflite(fc_model.read_bytes(), name="fc_model")
    board = get_board(M55_BOARD)
    runs = {}
    for mve in (False, True):
        lib = codegen.generate(g, tmp_path / f"lib{int(mve)}", force=True, mve=mve)
        prep = Prepared(g, lib, board, None, "double", tmp_path / f"w{int(mve)}")
        built = build_firmware(prep, make_vectors(prep, 2))
        runs[mve] = emulator.run_firmware(built.elf, board.machine, timeout=120, num_layers=prep.num_layers)
        assert runs[mve].status == "ok", runs[mve]
    assert runs[True].outputs == runs[False].outputs
    portable, helium = runs[False].inference_instructions[0], runs[True].inference_instructions[0]
    assert helium * 2 < portable, (helium, portable)
