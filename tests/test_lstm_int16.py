"""The int16x8 UNIDIRECTIONAL_SEQUENCE_LSTM (tinygen/ops/lstm.py's 16x8 section, kernel
templates/kernels/tg_lstm_s16.{c,h}): int16 input, output state and output, int8 weights, int64 biases, int16 cell
state, as TFLite Micro computes it (``EvalLstm<int16_t, int8_t, int16_t, int64_t>``).

* the reference against TFLite Micro's interpreter over consecutive invocations (the states carried), on hand-built
  single-op models of random sizes, scales, cell scales and clips (hypothesis), and where the gate sums leave int32
  (large biases: the kernel's int64 requantization) or the FC shifts leave the kernel's one-multiply range;
* the refusals (non-zero int16 zero points, int32 biases, an int8 output state, accumulators TFLite cannot hold);
* the generated C against the reference on the host (gcc and clang, ASan/UBSan, the DSP path emulated), over
  consecutive invocations and after ``NAME_reset()``, and in QEMU on Cortex-M3, M7 and M55 (``tinygen test``:
  against the reference and TFLite Micro).

TensorFlow 2.21's converter refuses this op in 16x8 mode ("Quantization to 16x8-bit not yet supported for op:
'UNIDIRECTIONAL_SEQUENCE_LSTM'", with the fused LSTM of a tf_keras layer; a Keras 3 LSTM is not fused at all), so the
models are built by hand with the quantization TFLite Micro's own 16x8 test data has (lstm_test_data.cc,
Get2X2Int16LstmQuantizationSettings): symmetric int16 activations (zero point 0), per-tensor symmetric int8
weights, int64 biases on input scale x weight scale, the cell state on a power of two.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import hostbuild
import numpy as np
import opcheck
import pytest
import test_op_lstm
import test_reference_ops
import tflite
from hypothesis import given, settings
from hypothesis import strategies as st
from test_reference_ops import FbOp, FbTensor

from tinygen import codegen, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ops import lstm

#: the 16x8 LSTM on each core family's board: M3 (portable C), M7 (DSP), M55 (DSP; no Helium path)
BOARDS = ("mps2_an385", "mps2_an500", "mps3_an547")


def lstm16_model(b: int, t: int, f: int, units: int, seed: int, cell_clip: float = 0.0, cell_power: int = -12,
                 bias_bound: int = 2_000_000, scales: float = 1.0, hidden_scale: float | None = None,
                 edits: dict[str, Any] | None = None) -> bytes:
    """A .tflite of one 16x8 LSTM with TFLite's 16x8 quantization: input and hidden state int16 symmetric (the
    output shares the hidden state's parameters), weights int8 per tensor (``scales`` multiplies their scales),
    int64 biases of magnitude below ``bias_bound`` on input scale x weight scale. ``edits``: tensor name (x, h, y,
    b0...) -> FbTensor field overrides (a refusal's model)."""
    rng = np.random.default_rng(seed)
    sx = float(np.float32(rng.uniform(0.5, 4.0) / 32767))
    sh = float(np.float32(hidden_scale if hidden_scale is not None else rng.uniform(0.3, 1.0) / 32767))
    tensors = [FbTensor("x", (b, t, f), "int16", sx, 0)]
    inputs, w_scales = [0], []
    for k in range(8):  # input weights i, f, c, o then recurrent weights
        shape = (units, f) if k < 4 else (units, units)
        w_scales.append(float(np.float32(scales * rng.uniform(0.003, 0.02))))
        tensors.append(FbTensor(f"w{k}", shape, "int8", w_scales[-1], 0,
                                data=rng.integers(-127, 128, shape).astype(np.int8)))
        inputs.append(len(tensors) - 1)
    inputs += [-1, -1, -1]
    for k in range(4):
        tensors.append(FbTensor(f"b{k}", (units,), "int64", float(np.float32(sx * w_scales[k])), 0,
                                data=rng.integers(-bias_bound, bias_bound, units).astype(np.int64)))
        inputs.append(len(tensors) - 1)
    inputs += [-1, -1]
    tensors.append(FbTensor("h", (b, units), "int16", sh, 0))
    tensors.append(FbTensor("c", (b, units), "int16", 2.0**cell_power, 0))
    inputs += [len(tensors) - 2, len(tensors) - 1, -1, -1, -1, -1]
    tensors.append(FbTensor("y", (b, t, units), "int16", sh, 0))
    for tensor in tensors:
        for field, value in (edits or {}).get(tensor.name, {}).items():
            setattr(tensor, field, value)
    op = FbOp("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, [len(tensors) - 1], test_op_lstm.OPTIONS,
              {"FusedActivationFunction": 4, "CellClip": cell_clip, "TimeMajor": False})
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(test_reference_ops._FB_TYPES, "int64", tflite.TensorType.INT64)
        return test_op_lstm._with_variables(tensors, [op], {i for i, t_ in enumerate(tensors) if t_.name in ("h", "c")})


def random_inputs(model: bytes, count: int, seed: int) -> np.ndarray:
    g = import_tflite(model)
    return np.random.default_rng(seed).integers(-32768, 32768, (count, *g.tensor(g.inputs[0]).shape)).astype(np.int16)


def _shifts(model: bytes) -> list[int]:
    """The gate FCs' shifts (the kernel's one-multiply requantization takes -17..-2)."""
    g = import_tflite(model)
    p = lstm.params(g, g.ops[0], "double")
    return [m[1] for m in (*p.input_mult, *p.recurrent_mult)]


# --------------------------------------------------------------------------- against TFLite Micro


def test_imports_as_a_16x8_lstm_with_int16_states() -> None:
    g = import_tflite(lstm16_model(2, 3, 4, 5, seed=0))
    assert [op.kind for op in g.ops] == [lstm.KIND] and lstm.is_16x8(g, g.ops[0])
    assert [str(np.asarray(s.initial).dtype) for s in g.states] == ["int16", "int16"]
    assert [s.initial.tolist() for s in g.states] == [[0] * 10, [0] * 10]  # TFLM's reset: zero point 0, and 0
    assert [g.tensor(n).dtype for n in g.ops[0].outputs] == ["int16", "int16", "int16"]


@settings(max_examples=30, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 6), f=st.integers(1, 12), units=st.integers(1, 12),
       seed=st.integers(0, 2**16), clip=st.sampled_from([0.0, 0.3, 2.0, 10.0]), power=st.integers(-15, -8))
def test_random_16x8_lstms_match_tflite_micro(b: int, t: int, f: int, units: int, seed: int, clip: float,
                                              power: int) -> None:
    model = lstm16_model(b, t, f, units, seed, clip, power)
    test_op_lstm.run_both(model, random_inputs(model, 3, seed), every_tensor=True)


#: sums beyond int32 (biases up to 2^40: the int64 requantization), FC shifts beyond the one-multiply range
#: (weight scales x 64: shifts above -2), and an output state scale whose product requantization has shift 0
EDGE_CASES = {"int64 sums": dict(bias_bound=2**40), "large scales": dict(scales=64.0),
              "tiny hidden scale": dict(hidden_scale=2.0**-30)}


@pytest.mark.parametrize("case", EDGE_CASES)
def test_edge_cases_match_tflite_micro(case: str) -> None:
    model = lstm16_model(2, 4, 6, 5, seed=7, cell_clip=1.0, **EDGE_CASES[case])
    if case == "large scales":
        assert max(_shifts(model)) > -2
    test_op_lstm.run_both(model, random_inputs(model, 3, seed=2), every_tensor=True)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("edits, error, pattern", [
    ({"x": {"zero_point": 3}}, UnsupportedError, "int16 tensor 'x' has zero point 3.*16x8 LSTM needs zero point 0"),
    ({"h": {"zero_point": -2}, "y": {"zero_point": -2}}, UnsupportedError, "zero point -2"),
    ({"b1": {"dtype": "int32", "data": np.zeros(4, np.int32)}}, UnsupportedError, "forget gate bias .* constant int64"),
    ({"h": {"dtype": "int8"}}, UnsupportedError, "output state .* must be int16 .*16x8 LSTM"),
    ({"b2": {"data": np.full(4, 2**47, np.int64)}}, TinygenError, "cell gate's input FC .* 2\\^47"),
], ids=["input-zero-point", "state-zero-point", "int32-bias", "int8-state", "bias-beyond-2^47"])
def test_refusals(edits: dict[str, Any], error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        import_tflite(lstm16_model(1, 2, 3, 4, seed=0, edits=edits))


# --------------------------------------------------------------------------- generated C


#: multi-batch, several step counts, clip on and off, features and units multiples of 4 and not, more than 256
#: columns (the kernel's int32 blocks), and the edge cases above (the kernel's general requantizations)
C_CASES = [((1, 5, 7, 9), 0.0, -12, {}), ((3, 3, 8, 12), 1.0, -10, {}), ((1, 2, 300, 6), 0.5, -11, {}),
           ((2, 4, 6, 5), 1.0, -12, EDGE_CASES["int64 sums"]),
           ((1, 3, 5, 4), 0.0, -13, {**EDGE_CASES["large scales"], **EDGE_CASES["tiny hidden scale"]})]


@pytest.mark.parametrize("shape, clip, power, extra", C_CASES, ids=[str(c[0]) + ",".join(c[3]) for c in C_CASES])
def test_c_matches_reference(tmp_path: Path, shape: tuple[int, int, int, int], clip: float, power: int,
                             extra: dict[str, Any]) -> None:
    model = lstm16_model(*shape, seed=sum(shape), cell_clip=clip, cell_power=power, **extra)
    manifest = opcheck.check_c(import_tflite(model), tmp_path, random_inputs(model, 4, seed=3), dsp_emulate=True)
    assert [layer["kernel"] for layer in manifest["layers"]] == ["tg_lstm_s16"]



def test_c_matches_reference_with_single_rounding(tmp_path: Path) -> None:
    """TFLITE_SINGLE_ROUNDING: the element-wise products' requantizations change, the gate FCs' int64 ones do not."""
    model = lstm16_model(2, 4, 9, 7, seed=9, cell_clip=1.0)
    opcheck.check_c(import_tflite(model), tmp_path, random_inputs(model, 3, seed=1), rounding="single",
                    dsp_emulate=True)


_RESET_MAIN = r"""
#include <stdio.h>
#include "lstm16.h"
/* runs 0..2, NAME_reset(), runs 3..5: int16 sequences in on stdin, the int16 outputs out on stdout */
int main(void)
{
    static int16_t in[%(inputs)d], out[%(outputs)d];
    int v;
    for (v = 0; v < 6; ++v)
    {
        if (v == 3)
            lstm16_reset();
        if (fread(in, sizeof in, 1, stdin) != 1 || lstm16_invoke(in, out) != 0)
            return 2;
        fwrite(out, sizeof out, 1, stdout);
    }
    return 0;
}
"""


def test_c_keeps_state_between_runs_and_resets(tmp_path: Path) -> None:
    model = lstm16_model(2, 3, 5, 6, seed=21, cell_clip=2.0)
    g = import_tflite(model)
    g.name = "lstm16"
    lib = codegen.generate(g, tmp_path / "lib")
    xs = random_inputs(model, 6, seed=4)
    xs[3:] = xs[:3]  # after the reset the same sequences give the same outputs
    want = []
    for part in (xs[:3], xs[3:]):  # the reference from the initial state, then again after the reset
        state = None
        for x in part:
            ref = reference.run(g, [x], state=state)
            state = reference.next_state(g, ref, state)
            want.append(ref[g.outputs[0]].reshape(-1))
    main = tmp_path / "main.c"
    main.write_text(_RESET_MAIN % {"inputs": xs[0].size, "outputs": want[0].size})
    exe = tmp_path / "lstm16"
    sources = [str(p) for p in sorted(lib.out_dir.glob("*.c"))]
    cmd = ["gcc", *hostbuild.WARNINGS, *hostbuild.SANITIZE, "-O1", f"-I{lib.out_dir}", *sources, str(main), "-o",
           str(exe)]
    subprocess.run(cmd, check=True, capture_output=True)
    out = subprocess.run([str(exe)], input=xs.tobytes(), capture_output=True, check=True).stdout
    got = np.frombuffer(out, np.int16).reshape(6, -1)
    np.testing.assert_array_equal(got, np.stack(want))
    # the state matters: the second sequence from the initial state gives another output
    assert not np.array_equal(got[1], reference.run(g, [xs[1]])[g.outputs[0]].reshape(-1))


@pytest.mark.emulator
@pytest.mark.parametrize("board", BOARDS)
def test_qemu(tmp_path: Path, board: str) -> None:
    model = tmp_path / "lstm16.tflite"
    model.write_bytes(lstm16_model(2, 6, 5, 8, seed=11, cell_clip=2.0))
    opcheck.check_qemu(model, board, tmp_path, kernels=["tg_lstm_s16"])


# --------------------------------------------------------------------------- Keras (tinygen's quantizer, --int16)


@pytest.fixture(scope="module")
def trained_lstm(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """tests/test_keras_recurrent.py's LSTM sequence classifier (its recipe), trained."""
    import test_keras_recurrent as recipe

    return recipe.Trained(recipe.classifier(lambda: recipe.keras.layers.LSTM(12, name="lstm"), seed=1),
                          tmp_path_factory.mktemp("lstm16"))


@pytest.mark.parametrize("spec, kinds", [
    ("lstm", [("quantize", "int8"), (lstm.KIND, "int16"), ("quantize", "int16"), ("fully_connected", "int8")]),
    ("all", [(lstm.KIND, "int16"), ("fully_connected", "int16")])])
def test_keras_lstm_in_16x8(trained_lstm: Any, tmp_path: Path, spec: str, kinds: list[tuple[str, str]]) -> None:
    """``--int16 lstm`` (QUANTIZE to int16 and back around the layer) and ``--int16 all``: the LSTM in 16x8
    (int64 biases, int16 states), closer to float than the int8 model, within 1 point of float accuracy, and its C
    bit-exact with the reference."""
    from tinygen.quantize.mixed import parse_request, using_int16
    from tinygen.quantize.pipeline import quantize_keras
    from tinygen.quantize.report import run_int8

    with using_int16(parse_request(spec)):
        graph = quantize_keras(trained_lstm.model, trained_lstm.calibration).graph
    assert [(op.kind, graph.tensor(op.inputs[0]).dtype) for op in graph.ops] == kinds
    op = next(op for op in graph.ops if op.kind == lstm.KIND)
    assert {graph.tensor(n).dtype for n in op.inputs[lstm.BIAS:lstm.BIAS + 4]} == {"int64"}
    assert [str(np.asarray(s.initial).dtype) for s in graph.states] == ["int16", "int16"]
    want = np.asarray(trained_lstm.model.predict(trained_lstm.x, verbose=0), np.float64)

    def sqnr(g: Any) -> float:
        got = run_int8(g, trained_lstm.x)[g.outputs[0]]
        return float(10 * np.log10(np.sum(want**2) / np.sum((want - got) ** 2)))

    assert sqnr(graph) > sqnr(trained_lstm.quantized.graph)
    got = run_int8(graph, trained_lstm.x)[graph.outputs[0]]
    accuracy = float(np.mean(np.argmax(got, axis=1) == trained_lstm.y))
    assert accuracy >= trained_lstm.float_accuracy() - 0.01
    t = graph.tensor(graph.inputs[0])
    rng = np.random.default_rng(5)
    vectors = (opcheck.vectors_with_every_value(t.size, 2, seed=1) if t.dtype == "int8"
               else rng.integers(-32768, 32768, (2, t.size)).astype(np.int16))
    opcheck.check_c(graph, tmp_path, vectors, dsp_emulate=True)


_MISALIGNED_MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "tg_lstm_s16.c"

/* the same call with 4-byte aligned weights (the fast path) and with weights one byte off (two single-word loads,
   each requantization's own form): the same outputs */
int main(void)
{
    static int8_t wi[4 * 6 * 11 + 1], wr[4 * 6 * 6 + 1];
    static int64_t bias[4 * 6];
    int32_t q[TG_LSTM_Q_WORDS];
    int16_t x[2 * 3 * 11], h0[2 * 6], c0[2 * 6], out_a[2 * 3 * 6], out_b[2 * 3 * 6], h_a[12], h_b[12], c_a[12], c_b[12];
    uint32_t seed = 777u;
    int32_t i;
    for (i = 0; i < (int32_t)sizeof wi; ++i)
        wi[i] = (int8_t)((seed = seed * 1664525u + 1013904223u) >> 24);
    for (i = 0; i < (int32_t)sizeof wr; ++i)
        wr[i] = (int8_t)((seed = seed * 1664525u + 1013904223u) >> 24);
    for (i = 0; i < 24; ++i)
        bias[i] = (int64_t)(int32_t)(seed = seed * 1664525u + 1013904223u) >> 8;
    for (i = 0; i < (int32_t)(sizeof x / sizeof x[0]); ++i)
        x[i] = (int16_t)((seed = seed * 1664525u + 1013904223u) >> 16);
    for (i = 0; i < 12; ++i)
    {
        h0[i] = (int16_t)(i * 2000 - 9000);
        c0[i] = (int16_t)(i * 1500 - 7000);
    }
    for (i = 0; i < 11; ++i)
    {
        q[2 * i] = 1518500250 + i;
        q[2 * i + 1] = i < 8 ? -9 : -14;
    }
    q[TG_LSTM_Q_HIDDEN_ZP] = 0;
    q[TG_LSTM_Q_CLIP] = 20000;
    q[TG_LSTM_Q_TANH_MULT] = 3;
    q[TG_LSTM_Q_TANH_SHIFT] = 1;
    tg_lstm_s16(x, h0, c0, 2, 3, 11, 6, wi, wr, bias, q, out_a, h_a, c_a);
    memmove(wi + 1, wi, sizeof wi - 1);
    memmove(wr + 1, wr, sizeof wr - 1);
    tg_lstm_s16(x, h0, c0, 2, 3, 11, 6, wi + 1, wr + 1, bias, q, out_b, h_b, c_b);
    printf("misaligned %s\n", memcmp(out_a, out_b, sizeof out_a) || memcmp(h_a, h_b, sizeof h_a) ||
                                  memcmp(c_a, c_b, sizeof c_a) ? "differs" : "same");
    return 0;
}
"""


@pytest.mark.parametrize("dsp", [False, True])
def test_kernel_misaligned_weights(tmp_path: Path, dsp: bool) -> None:
    """A direct call with weights at an odd address (never so in a generated library) equals the aligned call."""
    src = tmp_path / "main.c"
    src.write_text(_MISALIGNED_MAIN)
    exe = tmp_path / "misaligned"
    cmd = ["gcc", *hostbuild.WARNINGS, "-O2", *hostbuild.SANITIZE, f"-I{opcheck.KERNELS}", str(src), "-o", str(exe)]
    res = subprocess.run(cmd + (["-DTG_DSP_EMULATE"] if dsp else []), capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, check=True)
    assert run.stdout.splitlines() == ["misaligned same"]
