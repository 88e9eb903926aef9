"""UNIDIRECTIONAL_SEQUENCE_LSTM (tinygen/ops/lstm.py, kernel templates/kernels/tg_lstm_s8.{c,h}).

* the reference against TFLite Micro's interpreter over consecutive invocations (the output and cell states
  carried, as TFLite Micro keeps its VARIABLE tensors), on the Coral Keras LSTM model and on hand-built
  single-op models of random sizes, quantizations and cell clips (hypothesis);
* the refusals (peephole, projection, layer norm, CIFG, time major, int16 input, per-channel weights, ...);
* the generated C against the reference on the host (gcc and clang, ASan/UBSan) over consecutive invocations
  and after NAME_reset, the kernel for every core, and in QEMU on Cortex-M3 and M7 (``tinygen test``);
* ``tinygen convert``.

TensorFlow 2.21's converter does not fuse a Keras 3 LSTM into UNIDIRECTIONAL_SEQUENCE_LSTM (it emits a WHILE loop
over resource variables, whose calibration fails), so the random models are built by hand, as TFLite's converter
lays them out (24 inputs, the two states VARIABLE tensors, the cell state int16 with a power-of-two scale).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import opcheck
import pytest
import test_reference_ops
import tflite
from hypothesis import given, settings
from hypothesis import strategies as st
from test_reference_ops import FbOp, FbTensor, build_tflite

from tinygen import codegen, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ops import lstm
from tinygen.oracle import tflm_run

CORAL = Path(__file__).resolve().parents[2] / "shared" / "models" / "real" / "coral_keras_lstm_mnist_uint8.tflite"
OPTIONS = "UnidirectionalSequenceLSTMOptions"


def lstm_model(b: int, t: int, f: int, units: int, seed: int, cell_clip: float = 0.0, cell_power: int = -12,
               edits: dict[int, Any] | None = None, time_major: bool = False, x_dtype: str = "int8",
               activation: int = 4, scales: float = 1.0) -> bytes:
    """A .tflite of one int8 LSTM as TFLite's converter makes it. ``edits``: .tflite input position -> an
    extra FbTensor there (an optional operand) or -1 (an absent one); ``scales`` multiplies the input and weight
    scales (small ones give every requantization a right shift of 2 or more, the kernel's fast path)."""
    rng = np.random.default_rng(seed)
    sx, zx = float(np.float32(scales * rng.uniform(0.005, 0.05))), int(rng.integers(-20, 20))
    sh, zh = float(np.float32(rng.uniform(0.004, 0.01))), int(rng.integers(-10, 10))
    tensors = [FbTensor("x", (b, t, f), x_dtype, sx, zx if x_dtype == "int8" else 0)]
    inputs = [0]
    for k in range(8):  # input weights i, f, c, o then recurrent weights
        shape = (units, f) if k < 4 else (units, units)
        ws = float(np.float32(scales * rng.uniform(0.003, 0.02)))
        tensors.append(FbTensor(f"w{k}", shape, "int8", ws, 0, data=rng.integers(-127, 128, shape).astype(np.int8)))
        inputs.append(len(tensors) - 1)
    inputs += [-1, -1, -1]
    for k in range(4):
        tensors.append(FbTensor(f"b{k}", (units,), "int32", 1e-5, 0,
                                data=rng.integers(-3000, 3000, units).astype(np.int32)))
        inputs.append(len(tensors) - 1)
    inputs += [-1, -1]
    tensors.append(FbTensor("h", (b, units), "int8", sh, zh))
    tensors.append(FbTensor("c", (b, units), "int16", 2.0**cell_power, 0))
    inputs += [len(tensors) - 2, len(tensors) - 1, -1, -1, -1, -1]
    for position, extra in (edits or {}).items():
        if isinstance(extra, FbTensor):
            tensors.append(extra)
            extra = len(tensors) - 1
        inputs[position] = extra
    tensors.append(FbTensor("y", (b, t, units), "int8", sh, zh))
    op = FbOp("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, [len(tensors) - 1], OPTIONS,
              {"FusedActivationFunction": activation, "CellClip": cell_clip, "TimeMajor": time_major})
    return _with_variables(tensors, [op], {i for i, t in enumerate(tensors) if t.name in ("h", "c")})


def _with_variables(tensors: list[FbTensor], ops: list[FbOp], variables: set[int]) -> bytes:
    """build_tflite, with tensors ``variables`` marked VARIABLE and int16 tensors allowed."""
    counter = iter(range(len(tensors)))
    add_name = tflite.TensorAddName

    def add_name_and_flag(builder: Any, name: int) -> None:
        add_name(builder, name)
        if next(counter) in variables:
            tflite.TensorAddIsVariable(builder, True)

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(test_reference_ops._FB_TYPES, "int16", tflite.TensorType.INT16)
        mp.setattr(tflite, "TensorAddName", add_name_and_flag)
        return build_tflite(tensors, ops, [0], [len(tensors) - 1])


def run_both(model: bytes, vectors: np.ndarray, every_tensor: bool = False) -> None:
    """The reference equals TFLite Micro on every output and every final state (``every_tensor``: on every tensor),
    invocation after invocation (a model's state carried, as TFLite Micro keeps its VARIABLE tensors; also
    tests/test_op_svdf.py's check)."""
    g = import_tflite(model)
    state = None
    for v, x in enumerate(vectors):
        ref = reference.run(g, [x], state=state)
        state = reference.next_state(g, ref, state)
        got = tflm_run(model, [x], reset=v == 0)
        # the outputs and the states TFLite Micro keeps (an LSTM's int8 output state and int16 cell state)
        names = [n for n in got if n in ref] if every_tensor else g.outputs + [s.write for s in g.states]
        for name in names:
            assert ref[name].dtype == got[name].dtype, name
            np.testing.assert_array_equal(ref[name].reshape(-1), got[name].reshape(-1), err_msg=f"vector {v} {name}")


def random_inputs(model: bytes, count: int, seed: int) -> np.ndarray:
    g = import_tflite(model)
    t = g.tensor(g.inputs[0])
    rng = np.random.default_rng(seed)
    lo, hi = (0, 256) if t.dtype == "uint8" else (-128, 128)
    return rng.integers(lo, hi, (count, *t.shape)).astype(t.dtype)


# --------------------------------------------------------------------------- against TFLite Micro


@pytest.mark.skipif(not CORAL.exists(), reason="the Coral LSTM model is not in ../shared/models/real")
def test_coral_model_matches_tflite_micro_over_invocations() -> None:
    model = CORAL.read_bytes()
    g = import_tflite(model)
    assert [op.kind for op in g.ops][:2] == ["quantize", lstm.KIND]
    assert [s.initial.tolist() for s in g.states] == [[-1] * 20, [0] * 20]  # the zero points (TFLM's reset)
    assert [str(np.asarray(s.initial).dtype) for s in g.states] == ["int8", "int16"]
    run_both(model, random_inputs(model, 5, seed=1))
    run_both(model, random_inputs(model, 2, seed=2))  # reset=True for the first: from the initial state again


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 6), f=st.integers(1, 12), units=st.integers(1, 12),
       seed=st.integers(0, 2**16), clip=st.sampled_from([0.0, 0.3, 2.0, 10.0]), power=st.integers(-15, -9))
def test_random_lstms_match_tflite_micro(b: int, t: int, f: int, units: int, seed: int, clip: float, power: int) -> None:
    model = lstm_model(b, t, f, units, seed, clip, power)
    run_both(model, random_inputs(model, 3, seed))


def test_integer_functions_by_hand() -> None:
    """sigmoid(0) = 1/2 and tanh(0) = 0 exactly (Q0.15); the Q3.12 ends +/-8: sigmoid 0.99966 (32757 / 2^15) and
    0.00034 (11), tanh saturated; odd symmetry of tanh."""
    v = np.array([0, 32767, -32768, 4096, -4096])
    assert lstm.sigmoid16(v).tolist()[:3] == [16384, 32757, 11]
    th = lstm.tanh16(v)
    assert th.tolist()[:3] == [0, 32767, -32767] and abs(th[3] + th[4]) <= 1


# --------------------------------------------------------------------------- refusals


def _refused(model: bytes, pattern: str, error: type = UnsupportedError) -> None:
    with pytest.raises(error, match=pattern):
        import_tflite(model)


@pytest.mark.parametrize("position, error, pattern", [
    (9, TinygenError, "its peephole operands \\[9, 10, 11\\] must be all present or all absent.*corrupt model"),
    (16, UnsupportedError, "has 0 intermediate tensors; TFLite's integer LSTM \\(8x8_16\\) needs 5"),
    (22, TinygenError, "its layer norm operands \\[20, 21, 22, 23\\] must be all present or all absent"),
], ids=["peephole", "projection", "layer-norm"])
def test_incomplete_variant_operands_are_refused(position: int, error: type, pattern: str) -> None:
    """One operand of a variant (peephole, projection, layer norm: tests/test_lstm_variants.py runs the complete
    ones) added to a plain LSTM: refused as corrupt, or for the quantization TFLite's variant needs."""
    extra = FbTensor("extra", (4, 4) if position == 16 else (4,), "int8", 0.01, 0, data=np.ones(16 if position == 16
                                                                                               else 4, np.int8))
    _refused(lstm_model(1, 2, 3, 4, 0, edits={position: extra}), pattern, error)


def test_cifg_time_major_int16_and_activation_are_refused() -> None:
    _refused(lstm_model(1, 2, 3, 4, 0, edits={1: -1}),
             "the input gate's weights \\(inputs 1, 5\\) and bias \\(12\\) must be all present or all absent \\(CIFG\\); "
             "corrupt model", TinygenError)
    _refused(lstm_model(1, 2, 3, 4, 0, time_major=True), "is time major")
    _refused(lstm_model(1, 2, 3, 4, 0, x_dtype="int16"), "int16.*16x8")  # the importer refuses it first
    _refused(lstm_model(1, 2, 3, 4, 0, activation=1), "fused \\(cell\\) activation RELU.*TANH only")


def test_bad_cell_scale_and_state_are_refused() -> None:
    g = import_tflite(lstm_model(1, 2, 3, 4, 0))
    op = g.ops[0]
    op.attrs["cell_scale"] = 0.001
    with pytest.raises(TinygenError, match="cell_scale.*not a power of two"):
        g.validate()
    op.attrs["cell_scale"] = 2.0**-12
    g.tensors[op.inputs[lstm.C]].shape = (1, 2)  # (the graph's state check refuses it first in validate)
    with pytest.raises(TinygenError, match="cell state .* must be a variable of 1x4 int16 values"):
        lstm._check(g, op)
    g.tensors[op.inputs[lstm.C]].shape = (1, 4)
    op.outputs = op.outputs[:2]
    with pytest.raises(TinygenError, match="has 2 outputs, expected 3"):
        g.validate()


def test_per_channel_weights_are_refused() -> None:
    g = import_tflite(lstm_model(1, 2, 3, 4, 0))
    w = g.tensors[g.ops[0].inputs[lstm.W_IN + 1]]
    w.quant = type(w.quant)(np.full(4, 0.01, np.float32), np.zeros(4, np.int64), 0)
    with pytest.raises(UnsupportedError, match="input-to-forget weights .* per tensor"):
        g.validate()


# --------------------------------------------------------------------------- generated C


def _shifts(model: bytes) -> list[int]:
    g = import_tflite(model)
    p = lstm.params(g, next(op for op in g.ops if op.kind == lstm.KIND), "double")
    return [m[1] for m in (*p.input_mult, *p.recurrent_mult, p.forget_cell_mult, p.input_cell_mult, p.hidden_mult)]


#: the kernel's general path (a requantization with a right shift below 2: tg_requantize_mac) and its fast
#: path (tg_rq_fast everywhere: scales / 8), with features and units multiples of 4 and not
@pytest.mark.parametrize("shape, clip, power, scales, fast", [
    ((1, 5, 7, 9), 0.0, -12, 1.0, False), ((2, 3, 4, 17), 1.0, -10, 1.0, False), ((1, 4, 3, 5), 3.0, -15, 1.0, False),
    ((1, 5, 7, 9), 0.0, -12, 0.125, True), ((2, 4, 8, 12), 1.0, -11, 0.125, True),
    ((1, 3, 13, 6), 0.5, -14, 0.125, True)])
def test_c_matches_reference(tmp_path: Path, shape: tuple[int, int, int, int], clip: float, power: int,
                             scales: float, fast: bool) -> None:
    model = lstm_model(*shape, seed=sum(shape), cell_clip=clip, cell_power=power, scales=scales)
    assert all(-31 <= s <= -2 for s in _shifts(model)) == fast
    opcheck.check_c(import_tflite(model), tmp_path, random_inputs(model, 4, seed=3), dsp_emulate=True)


@pytest.mark.skipif(not CORAL.exists(), reason="the Coral LSTM model is not in ../shared/models/real")
def test_c_matches_reference_on_coral(tmp_path: Path) -> None:
    g = import_tflite(CORAL.read_bytes())
    lib = codegen.generate(g, tmp_path / "lib", force=True)
    assert lib.manifest["states"][1]["bytes"] == 40 and lib.manifest["layers"][0]["kernel"] == "tg_lstm_s8"


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
def test_qemu(tmp_path: Path, board: str) -> None:
    model = tmp_path / "lstm.tflite"
    model.write_bytes(lstm_model(1, 6, 5, 8, seed=11, cell_clip=2.0))
    opcheck.check_qemu(model, board, tmp_path, kernels=["tg_lstm_s8"])
    if CORAL.exists():
        opcheck.check_qemu(CORAL, board, tmp_path / "coral")


#: the Coral model's LSTM layer on mps2_an500 (Cortex-M7: the DSP path), instructions per inference counted
#: exactly by the QEMU plugin (912k with the portable kernel before it had the DSP path); the test fails more
#: than 1% above it, tests/test_emulator_models.py's rule for the models of tests/instruction_counts.json
CORAL_LSTM_M7_INSTRUCTIONS = 318_025


@pytest.mark.emulator
@pytest.mark.skipif(not CORAL.exists(), reason="the Coral LSTM model is not in ../shared/models/real")
def test_coral_lstm_instruction_count_has_not_regressed(tmp_path: Path) -> None:
    import shutil

    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    from test_emulator_models import cached_build

    from tinygen.commands.test import make_vectors, prepare, run_test

    prep = prepare(CORAL, "mps2_an500", tmp_path)
    assert prep.manifest["layers"][0]["kernel"] == "tg_lstm_s8"
    outcome = run_test(prep, make_vectors(prep, 2), timeout=300, builder=cached_build)
    assert outcome.ok, "\n".join(outcome.lines)
    assert outcome.run.method == "plugin"
    measured = max(layers[0] for layers in outcome.run.layer_instructions)
    assert measured <= CORAL_LSTM_M7_INSTRUCTIONS * 1.01, (
        f"the Coral LSTM layer on mps2_an500: {measured:,} instructions per inference, more than 1% above "
        f"{CORAL_LSTM_M7_INSTRUCTIONS:,}; if intended, update CORAL_LSTM_M7_INSTRUCTIONS")


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "lstm.tflite"
    model.write_bytes(lstm_model(1, 3, 4, 6, seed=5, cell_clip=1.0))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]] == [(lstm.KIND, "tg_lstm_s8")]
    assert [s["bytes"] for s in manifest["states"]] == [6, 12]


# --------------------------------------------------------------------------- the kernel's helpers, exhaustively

_HELPERS_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include "tg_lstm_s8.c"

/* every int16 input of the gate activations and of the cell tanh for each rescaling in argv, then the
   requantizations of the fast path against TFLite's MultiplyByQuantizedMultiplier, then a call with
   misaligned weights against the same call with aligned ones (the general path against the fast one) */
int main(int argc, char **argv)
{
    static int8_t wi[4 * 8 * 12 + 1], wr[4 * 8 * 8 + 1];
    static const int32_t bias[4 * 8] = {0};
    int32_t q[TG_LSTM_Q_WORDS] = {0};
    int8_t x[3 * 12], h0[8], c0[16], out_a[3 * 8], out_b[3 * 8], h_a[8], h_b[8], c_a[16], c_b[16];
    int16_t scratch[8];
    int32_t v, k, i;
    uint32_t seed = 12345u;
    long bad = 0;
    for (v = -32768; v <= 32767; ++v)
    {
        printf("%d %d", (int)tg_lstm_sigmoid(v), (int)tg_lstm_tanh_of(v * 3));
        for (k = 1; k + 1 < argc; k += 2)
        {
            const int32_t mult = atoi(argv[k]), shift = atoi(argv[k + 1]);
            const int32_t round = shift > 0 ? (INT32_C(1) << (shift - 1)) : 0;
            printf(" %d", (int)tg_lstm_tanh_of((v * mult + round) >> shift));
        }
        printf("\n");
    }
    for (i = 0; i < 200000; ++i)
    {
        int32_t m, shift, acc;
        tg_lstm_rq_t r;
        seed = seed * 1664525u + 1013904223u;
        m = (int32_t)((seed >> 1) | 0x40000000u);
        shift = -1 - (int32_t)(seed % 31u);
        seed = seed * 1664525u + 1013904223u;
        acc = (int32_t)seed >> (int32_t)(i % 24);
        q[0] = m;
        q[1] = shift;
        r = tg_lstm_rq_prepare(q);
        if (r.e1 < 0 || tg_lstm_rq(acc, &r, r.e1 >= 1) != tg_requantize(acc, m, shift))
        {
            ++bad;
        }
    }
    printf("requantize mismatches %ld\n", bad);
    for (i = 0; i < (int32_t)sizeof wi; ++i)
    {
        seed = seed * 1664525u + 1013904223u;
        wi[i] = (int8_t)(seed >> 24);
    }
    for (i = 0; i < (int32_t)sizeof wr; ++i)
    {
        seed = seed * 1664525u + 1013904223u;
        wr[i] = (int8_t)(seed >> 24);
    }
    for (i = 0; i < (int32_t)sizeof x; ++i)
    {
        x[i] = (int8_t)(i * 37 - 100);
    }
    memset(h0, 3, sizeof h0);
    memset(c0, 0, sizeof c0);
    for (i = 0; i < 11; ++i)
    {
        q[2 * i] = 1518500250 + i;
        q[2 * i + 1] = i < 8 ? -9 : i == 8 ? -14 : i == 9 ? -17 : -22;
    }
    q[TG_LSTM_Q_HIDDEN_ZP] = -1;
    q[TG_LSTM_Q_CLIP] = -1;
    q[TG_LSTM_Q_TANH_MULT] = 3;
    q[TG_LSTM_Q_TANH_SHIFT] = 0;
    tg_lstm_s8(x, h0, c0, 1, 3, 12, 8, wi, wr, bias, bias, q, (int8_t *)scratch, out_a, h_a, c_a);
    memmove(wi + 1, wi, sizeof wi - 1);
    memmove(wr + 1, wr, sizeof wr - 1);
    tg_lstm_s8(x, h0, c0, 1, 3, 12, 8, wi + 1, wr + 1, bias, bias, q, (int8_t *)scratch, out_b, h_b, c_b);
    printf("misaligned %s\n", memcmp(out_a, out_b, sizeof out_a) || memcmp(h_a, h_b, sizeof h_a) ||
                                  memcmp(c_a, c_b, sizeof c_a) ? "differs" : "same");
    return 0;
}
"""


@pytest.mark.parametrize("dsp", [False, True])
def test_kernel_helpers_exhaustively(tmp_path: Path, dsp: bool) -> None:
    """The kernel's sigmoid and tanh (its DSP form interpolates with one SMLAD of a packed table) on every int16
    input against the reference's, for cell scales 2^-15..2^2; its fast requantization against tg_requantize;
    misaligned weights (the general path) against aligned ones."""
    import subprocess

    import hostbuild

    powers = list(range(-15, 3))
    rescales = [(3 << (12 + p), 0) if 12 + p >= 0 else (3, -(12 + p)) for p in powers]
    src = tmp_path / "main.c"
    src.write_text(_HELPERS_MAIN)
    exe = tmp_path / "helpers"
    cmd = ["gcc", *hostbuild.WARNINGS, "-O2", *hostbuild.SANITIZE, f"-I{opcheck.KERNELS}", str(src), "-o", str(exe)]
    if dsp:
        cmd.append("-DTG_DSP_EMULATE")
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    run = subprocess.run([str(exe), *[str(n) for r in rescales for n in r]], capture_output=True, text=True,
                         check=True)
    lines = run.stdout.splitlines()
    got = np.array([line.split() for line in lines[:65536]], np.int64)
    v = np.arange(-32768, 32768)
    np.testing.assert_array_equal(got[:, 0], lstm.sigmoid16(v))
    np.testing.assert_array_equal(got[:, 1], lstm.tanh16(v))
    for k, (mult, shift) in enumerate(rescales):
        np.testing.assert_array_equal(got[:, 2 + k], lstm.tanh16(v, mult, shift), err_msg=f"cell tanh {mult} {shift}")
    assert lines[65536:] == ["requantize mismatches 0", "misaligned same"]
