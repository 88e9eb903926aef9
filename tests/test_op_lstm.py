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
               activation: int = 4) -> bytes:
    """A .tflite of one int8 LSTM as TFLite's converter makes it. ``edits``: .tflite input position -> an
    extra FbTensor there (an optional operand) or -1 (an absent one)."""
    rng = np.random.default_rng(seed)
    sx, zx = float(np.float32(rng.uniform(0.005, 0.05))), int(rng.integers(-20, 20))
    sh, zh = float(np.float32(rng.uniform(0.004, 0.01))), int(rng.integers(-10, 10))
    tensors = [FbTensor("x", (b, t, f), x_dtype, sx, zx if x_dtype == "int8" else 0)]
    inputs = [0]
    for k in range(8):  # input weights i, f, c, o then recurrent weights
        shape = (units, f) if k < 4 else (units, units)
        ws = float(np.float32(rng.uniform(0.003, 0.02)))
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


def run_both(model: bytes, vectors: np.ndarray) -> None:
    """The reference equals TFLite Micro on every output and both final states, invocation after invocation."""
    g = import_tflite(model)
    state = None
    for v, x in enumerate(vectors):
        ref = reference.run(g, [x], state=state)
        state = reference.next_state(g, ref, state)
        got = tflm_run(model, [x], reset=v == 0)
        # the outputs and the states TFLite Micro keeps (the int8 output state, the int16 cell state)
        for name in g.outputs + [s.write for s in g.states]:
            assert ref[name].dtype == got[name].dtype, name
            np.testing.assert_array_equal(ref[name].reshape(-1), got[name].reshape(-1), err_msg=f"vector {v} {name}")
        assert {str(np.asarray(s.initial).dtype) for s in g.states} == {"int8", "int16"}


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


@pytest.mark.parametrize("position, what", [(9, "peephole"), (16, "projection weights"), (22, "layer-norm")])
def test_unsupported_operands_are_refused(position: int, what: str) -> None:
    extra = FbTensor("extra", (4, 4) if position == 16 else (4,), "int8", 0.01, 0, data=np.ones(16 if position == 16
                                                                                               else 4, np.int8))
    _refused(lstm_model(1, 2, 3, 4, 0, edits={position: extra}), f"{what}.*tinygen supports the int8 LSTM")


def test_cifg_time_major_int16_and_activation_are_refused() -> None:
    _refused(lstm_model(1, 2, 3, 4, 0, edits={1: -1}), "no input-to-input weights \\(a CIFG LSTM")
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


@pytest.mark.parametrize("shape, clip, power", [((1, 5, 7, 9), 0.0, -12), ((2, 3, 4, 17), 1.0, -10),
                                                ((1, 4, 3, 5), 3.0, -15)])
def test_c_matches_reference(tmp_path: Path, shape: tuple[int, int, int, int], clip: float, power: int) -> None:
    model = lstm_model(*shape, seed=sum(shape), cell_clip=clip, cell_power=power)
    opcheck.check_c(import_tflite(model), tmp_path, random_inputs(model, 4, seed=3))


@pytest.mark.skipif(not CORAL.exists(), reason="the Coral LSTM model is not in ../shared/models/real")
def test_c_matches_reference_on_coral(tmp_path: Path) -> None:
    g = import_tflite(CORAL.read_bytes())
    lib = codegen.generate(g, tmp_path / "lib", force=True)
    assert lib.manifest["states"][1]["bytes"] == 40 and lib.manifest["layers"][0]["kernel"] == "tg_lstm_s8"


@pytest.mark.parametrize("cpu", opcheck.CORTEX_M)
def test_kernel_compiles_for_every_core(tmp_path: Path, cpu: str) -> None:
    opcheck.check_kernel_compiles("tg_lstm_s8", cpu, tmp_path)


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
def test_qemu(tmp_path: Path, board: str) -> None:
    model = tmp_path / "lstm.tflite"
    model.write_bytes(lstm_model(1, 6, 5, 8, seed=11, cell_clip=2.0))
    opcheck.check_qemu(model, board, tmp_path, kernels=["tg_lstm_s8"])
    if CORAL.exists():
        opcheck.check_qemu(CORAL, board, tmp_path / "coral")


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "lstm.tflite"
    model.write_bytes(lstm_model(1, 3, 4, 6, seed=5, cell_clip=1.0))
    out = tmp_path / "lib"
    assert main(["convert", str(model), "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(layer["op"], layer["kernel"]) for layer in manifest["layers"]] == [(lstm.KIND, "tg_lstm_s8")]
    assert [s["bytes"] for s in manifest["states"]] == [6, 12]
