"""Keras LSTM and GRU through tinygen's quantizer: sequence classifiers trained here on sequences made here (which
of four frequencies dominates a short noisy two-channel signal), quantized int8, bit-exact in C against tinygen's
reference (host; QEMU on M4/M7 with the ``emulator`` mark), within 1 point of float accuracy; the variants
(stacked LSTMs, return_sequences, reset_after=False, stateful LSTM and GRU) and the layers TFLite Micro cannot run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from opcheck import check_c, vectors_with_every_value

from tinygen import reference
from tinygen.errors import UnsupportedError
from tinygen.ops import lstm
from tinygen.quantize.pipeline import quantize_keras
from tinygen.quantize.report import quantize_input, run_int8

keras = pytest.importorskip("keras")

STEPS, FEATURES, CLASSES = 12, 2, 4
#: held-out samples the accuracies are measured on, calibration samples
HELD_OUT, CALIBRATION = 300, 200


def sequences(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy sinusoid pairs (sin, cos) whose frequency, 1 to 4 cycles per sequence, is the class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    angle = 2 * np.pi * (y[:, None] + 1) * np.arange(STEPS) / STEPS + rng.uniform(0, 2 * np.pi, (n, 1))
    x = np.stack([np.sin(angle), np.cos(angle)], axis=-1) + rng.normal(0, 0.4, (n, STEPS, FEATURES))
    return x.astype(np.float32), y


def classifier(recurrent: Any, seed: int) -> Any:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((STEPS, FEATURES))
    model = keras.Model(inp, keras.layers.Dense(CLASSES)(recurrent()(inp)))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class Trained:
    """A trained classifier, its calibration samples and held-out data, saved for the CLI."""

    def __init__(self, model: Any, folder: Path) -> None:
        x, y = sequences(2000, seed=0)
        model.fit(x, y, epochs=8, batch_size=32, verbose=0)
        self.model, self.calibration = model, x[:CALIBRATION]
        self.x, self.y = sequences(HELD_OUT, seed=1)
        self.path, self.calibration_path = folder / "model.keras", folder / "calibration.npy"
        model.save(self.path)
        np.save(self.calibration_path, self.calibration)
        self.quantized = quantize_keras(model, self.calibration)

    def float_accuracy(self) -> float:
        return float(np.mean(np.argmax(self.model.predict(self.x, verbose=0), axis=1) == self.y))

    def int8_accuracy(self) -> float:
        graph = self.quantized.graph
        return float(np.mean(np.argmax(run_int8(graph, self.x)[graph.outputs[0]], axis=1) == self.y))


@pytest.fixture(scope="module")
def trained_lstm(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return Trained(classifier(lambda: keras.layers.LSTM(12), seed=1), tmp_path_factory.mktemp("lstm"))


@pytest.fixture(scope="module")
def trained_gru(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return Trained(classifier(lambda: keras.layers.GRU(12), seed=1), tmp_path_factory.mktemp("gru"))


@pytest.mark.parametrize("which", ["trained_lstm", "trained_gru"])
def test_int8_accuracy_within_one_point_of_float(which: str, request: pytest.FixtureRequest) -> None:
    trained: Trained = request.getfixturevalue(which)
    float_acc, int8_acc = trained.float_accuracy(), trained.int8_accuracy()
    assert float_acc > 0.9, f"the float model did not learn the task ({float_acc:.3f}): the check would be vacuous"
    assert int8_acc >= float_acc - 0.01, f"int8 {int8_acc:.3f} vs float {float_acc:.3f}"


def test_lstm_is_one_fused_op(trained_lstm: Trained) -> None:
    """The Keras LSTM becomes TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM with TFLite's quantization rules, its states
    zero at each invocation (not written back: a stateless layer)."""
    graph = trained_lstm.quantized.graph
    op = graph.ops[0]
    assert [o.kind for o in graph.ops] == [lstm.KIND, "fully_connected"]
    assert graph.tensors[op.inputs[lstm.C]].dtype == "int16"
    weights = [graph.tensors[n] for n in op.inputs[lstm.W_IN:lstm.BIAS]]
    assert all(w.quant.scale.size == 1 and int(np.abs(w.data).max()) == 127 for w in weights)
    cells = trained_lstm.quantized.ranges[trained_lstm.quantized.float_graph.ops[0].outputs[2]]
    pot = int(np.log2(op.attrs["cell_scale"])) + 15
    assert 2.0 ** (pot - 1) < max(abs(cells[0]), abs(cells[1])) <= 2.0**pot or pot == 0
    assert [s.write for s in graph.states] == [None, None]
    sample = quantize_input(graph, trained_lstm.x[:1], 0)
    first = reference.run(graph, [sample])
    again = reference.run(graph, [sample], state=reference.next_state(graph, first))
    np.testing.assert_array_equal(first[graph.outputs[0]], again[graph.outputs[0]])


@pytest.mark.parametrize("which", ["trained_lstm", "trained_gru"])
def test_c_bit_exact_on_host(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    graph = request.getfixturevalue(which).quantized.graph
    manifest = check_c(graph, tmp_path, vectors_with_every_value(STEPS * FEATURES, 3, seed=0))
    kernels = {layer["kernel"] for layer in manifest["layers"]}
    assert ("tg_lstm_s8" in kernels) == (which == "trained_lstm")


def test_convert_cli_end_to_end(trained_gru: Trained, tmp_path: Path) -> None:
    """``tinygen convert model.keras --calibration c.npy`` as a user runs it."""
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "tinygen", "convert", str(trained_gru.path), "--calibration",
                             str(trained_gru.calibration_path), "-o", str(out), "--name", "gru"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "gru.h").is_file() and (out / "gru.c").is_file()
    assert "gru_invoke" in (out / "gru.h").read_text()


@pytest.mark.emulator
@pytest.mark.parametrize("board", ["mps2_an386", "mps2_an500"])
@pytest.mark.parametrize("which", ["trained_lstm", "trained_gru"])
def test_qemu_bit_exact(which: str, board: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    import shutil

    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    from test_emulator_models import cached_build

    from tinygen.commands.test import make_vectors, prepare, run_test

    trained: Trained = request.getfixturevalue(which)
    prep = prepare(trained.path, board, tmp_path, calibration=str(trained.calibration_path))
    vectors = make_vectors(prep, 3)
    outcome = run_test(prep, vectors, timeout=300, builder=cached_build)
    report = "\n".join(outcome.lines)
    assert outcome.ok and "ok    tinygen reference" in report, report


# --------------------------------------------------------------------------- variants (untrained: quantization and C)


def _sqnr_db(model: Any, x: np.ndarray) -> tuple[float, Any]:
    quantized = quantize_keras(model, x, ptq="plain")
    graph = quantized.graph
    want = np.asarray(model.predict(x, verbose=0), np.float64).reshape(len(x), -1)
    got = run_int8(graph, x)[graph.outputs[0]].reshape(len(x), -1)
    return float(10 * np.log10(np.sum(want**2) / np.sum((want - got) ** 2))), graph


def _model(*layers: Any, batch_size: int | None = None) -> Any:
    keras.utils.set_random_seed(3)
    inp = keras.Input((STEPS, FEATURES), batch_size=batch_size)
    out = inp
    for layer in layers:
        out = layer(out)
    return keras.Model(inp, out)


@pytest.mark.parametrize("make", [
    lambda: [keras.layers.LSTM(10, return_sequences=True, unroll=True), keras.layers.LSTM(6)],
    lambda: [keras.layers.LSTM(8, return_sequences=True, use_bias=False, recurrent_dropout=0.2)],
    lambda: [keras.layers.GRU(8, reset_after=False), keras.layers.Dense(3)],
    lambda: [keras.layers.GRU(6, return_sequences=True, unroll=True)],
], ids=["stacked-lstm", "lstm-sequence-no-bias", "gru-reset-before", "gru-sequence"])
def test_variants_track_float_and_run_bit_exact(make: Any, tmp_path: Path) -> None:
    x, _ = sequences(40, seed=5)
    sqnr, graph = _sqnr_db(_model(*make()), x)
    assert sqnr > 25.0, f"output SQNR {sqnr:.1f} dB"
    check_c(graph, tmp_path, vectors_with_every_value(STEPS * FEATURES, 2, seed=1))


def test_stateful_lstm_keeps_its_state(tmp_path: Path) -> None:
    """stateful=True: the hidden and cell states are written back after each invocation (NAME_reset() clears
    them), in the reference and in C (check_c runs its vectors one after the other)."""
    x, _ = sequences(20, seed=6)
    graph = quantize_keras(_model(keras.layers.LSTM(6, stateful=True), batch_size=1), x, ptq="plain").graph
    assert all(s.write is not None for s in graph.states)
    sample = quantize_input(graph, x[:1], 0)
    first = reference.run(graph, [sample])
    again = reference.run(graph, [sample], state=reference.next_state(graph, first))
    assert not np.array_equal(first[graph.outputs[0]], again[graph.outputs[0]])
    check_c(graph, tmp_path, vectors_with_every_value(STEPS * FEATURES, 3, seed=2))


def test_stateful_gru_keeps_its_state(tmp_path: Path) -> None:
    """A stateful GRU (lowered to FC/LOGISTIC/TANH/MUL/ADD/SUB) on two-step sequences, where the kept state
    matters: its last hidden state is written back after each invocation, on the grid it is read back on, and
    calibration runs the samples as a stream (each from the state the one before left). Over five invocations in
    a row the int8 output follows Keras's stateful float layer within 3 steps of its grid, while a fresh-state
    float run is over 10 steps away; C keeps the state the same way (check_c runs its vectors one after the
    other against the reference carrying the state)."""
    x = sequences(40, seed=6)[0][:, :2]
    keras.utils.set_random_seed(3)
    inp = keras.Input((2, FEATURES), batch_size=1)
    model = keras.Model(inp, keras.layers.GRU(6, stateful=True, return_sequences=True)(inp))
    graph = quantize_keras(model, x, ptq="plain").graph
    assert len(graph.states) == 1 and graph.states[0].write is not None
    read, write = graph.tensor(graph.states[0].read), graph.tensor(graph.states[0].write)
    assert read.quant.scalar() == write.quant.scalar() and read.shape == write.shape
    fresh = keras.models.clone_model(model)
    fresh.set_weights(model.get_weights())

    def reset(m: Any) -> None:
        for layer in m.layers:
            if getattr(layer, "stateful", False):
                layer.reset_state()

    reset(model)
    scale, zero_point = graph.tensor(graph.outputs[0]).quant.scalar()
    state = None
    for i in range(5):
        values = reference.run(graph, [quantize_input(graph, x[i:i + 1], 0)], state=state)
        state = reference.next_state(graph, values, state)
        got = (values[graph.outputs[0]].astype(np.float64) - zero_point) * scale
        want = np.asarray(model.predict(x[i:i + 1], verbose=0), np.float64)
        reset(fresh)
        stateless = np.asarray(fresh.predict(x[i:i + 1], verbose=0), np.float64)
        assert float(np.max(np.abs(got - want))) < 3 * scale, f"invocation {i}: int8 {got} vs Keras's stateful {want}"
        if i > 0:
            assert float(np.max(np.abs(want - stateless))) > 10 * scale
    check_c(graph, tmp_path, vectors_with_every_value(2 * FEATURES, 3, seed=2))


@pytest.mark.parametrize("layer, message", [
    (lambda: keras.layers.LSTM(4, activation="relu"), "activation='relu' is not supported"),
    (lambda: keras.layers.LSTM(4, recurrent_activation="hard_sigmoid"), "recurrent_activation='hard_sigmoid'"),
    (lambda: keras.layers.LSTM(4, go_backwards=True), "go_backwards=True is not supported"),
    (lambda: keras.layers.GRU(4, activation="relu"), "activation='relu' is not supported"),
    (lambda: keras.layers.GRU(4, go_backwards=True), "go_backwards=True is not supported"),
], ids=["lstm-relu", "lstm-hard-sigmoid", "lstm-backwards", "gru-relu", "gru-backwards"])
def test_refuses_what_tflite_micro_cannot_compute(layer: Any, message: str) -> None:
    model = _model(layer())
    name = model.layers[-1].name
    with pytest.raises(UnsupportedError, match=message) as info:
        quantize_keras(model, sequences(4, seed=0)[0], ptq="plain")
    assert f"layer {name!r}" in str(info.value)


@pytest.mark.parametrize("ptq", ["bc", "cle+bc+mse", "smooth+percentile"])
def test_every_ptq_pipeline_takes_recurrent_layers(ptq: str) -> None:
    """The PTQ passes run through the LSTM's several outputs (a Dense reading its last state) and the GRU's
    lowering, and the result still tracks float."""
    x, _ = sequences(30, seed=7)
    model = _model(keras.layers.LSTM(8, return_sequences=True), keras.layers.GRU(6), keras.layers.Dense(3))
    graph = quantize_keras(model, x, ptq=ptq).graph
    assert graph.ops[0].kind == lstm.KIND
    want = np.asarray(model.predict(x, verbose=0), np.float64)
    got = run_int8(graph, x)[graph.outputs[0]]
    assert 10 * np.log10(np.sum(want**2) / np.sum((want - got) ** 2)) > 20.0
