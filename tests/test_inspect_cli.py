"""`tinygen inspect` through tinygen.cli.main: the table on corpus models, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import corpus_path

from tinygen import ir
from tinygen.cli import main
from tinygen.frontend.tflite import import_tflite


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["inspect", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", ["kws_dscnn", "residual_add", "float_io", "depthwise_m2"])
def test_inspect_table(capsys: pytest.CaptureFixture[str], name: str) -> None:
    path = corpus_path(name)
    code, out, err = _run(capsys, str(path))
    assert code == 0 and err == ""
    graph = import_tflite(path)
    for index, op in enumerate(graph.ops):
        row = next(line for line in out.splitlines() if line.split("│")[1:2] and line.split("│")[1].strip() == str(index))
        assert op.kind in row
        out_tensor = graph.tensors[op.outputs[0]]
        assert "×".join(map(str, out_tensor.shape)) in row
        assert f"{ir.op_macs(graph, op):,}" in row
    macs = sum(ir.op_macs(graph, op) for op in graph.ops)
    params = sum(t.nbytes for t in graph.tensors.values() if t.is_const)
    total = next(line for line in out.splitlines() if "total" in line)
    assert f"{macs:,}" in total and f"{params:,}" in total and f"{len(graph.ops)} ops" in total
    assert f"input {graph.inputs[0]!r}" in out


def test_inspect_real_model(capsys: pytest.CaptureFixture[str], shared_models: Path) -> None:
    code, out, _ = _run(capsys, str(shared_models / "person_detect.tflite"))
    assert code == 0
    assert "depthwise_conv2d+relu6" in out and "0.0235294 / -128" in out
    assert "7,157,888" in out  # person_detect's MACs


def _assert_one_line_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code != 0
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


def test_error_not_a_flatbuffer(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "text.tflite"
    path.write_text("hello world, definitely not a flatbuffer")
    _assert_one_line_error(*_run(capsys, str(path)), "not a TensorFlow Lite model")


def test_error_truncated(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "cut.tflite"
    data = corpus_path("ic_resnet8").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _assert_one_line_error(*_run(capsys, str(path)), "truncated or corrupt")


def _assert_shown_with_reason(code: int, out: str, err: str, unsupported: str, *reason: str) -> None:
    """A model tinygen cannot compile is still shown: every op as stored, the unsupported ones marked, then why."""
    assert code == 0 and not err and "Traceback" not in out
    rows = [line for line in out.splitlines() if line.startswith("│") and f" {unsupported} " in line]
    assert rows and all("NO" in row for row in rows), out
    why = out[out.index("tinygen cannot compile this model:"):]
    for needle in reason:
        assert needle in why


def test_float_model_is_shown_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, str(corpus_path("float32")))
    assert code == 0 and "float32" in out and "float model" in out and "int8" in out


def test_unsupported_op_is_shown_marked(capsys: pytest.CaptureFixture[str]) -> None:
    _assert_shown_with_reason(*_run(capsys, str(corpus_path("gelu"))), "GELU", "GELU", "supported ops")
    code, out, _ = _run(capsys, str(corpus_path("gelu")))
    assert "CONV_2D" in out and "yes" in out  # the supported ops are listed too


def test_svdf_model_is_shown(capsys: pytest.CaptureFixture[str], shared_models: Path) -> None:
    """TFLite Micro's keyword model: SVDF layers, its int16 input and int32 output, the state of each SVDF."""
    code, out, err = _run(capsys, str(shared_models / "keyword_scrambled_8bit.tflite"))
    assert code == 0 and not err and "cannot compile" not in out
    assert out.count("│ svdf ") == 7 and "int16 1×96" in out and "int32 1×2" in out
    assert out.count("kept between invocations") == 7


def test_lstm_states_show_their_types(capsys: pytest.CaptureFixture[str], shared_models: Path) -> None:
    """TFLite Micro's LSTM example: its int8 output state and int16 cell state, each with its own type."""
    code, out, err = _run(capsys, str(shared_models / "trained_lstm_int8.tflite"))
    assert code == 0 and not err
    states = [line for line in out.splitlines() if "kept between invocations" in line]
    assert len(states) == 2 and ": int8 " in states[0] and ": int16 " in states[1], states


def test_error_nonexistent(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _assert_one_line_error(*_run(capsys, str(tmp_path / "nope.tflite")), "no such file")


def test_inspect_keras_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A Keras file goes through the loader with the common model options (here --quantizer tflite)."""
    import keras

    keras.utils.set_random_seed(3)
    inp = keras.Input(shape=(12,), batch_size=1)
    model = keras.Model(inp, keras.layers.Dense(5, activation="relu")(keras.layers.Dense(8)(inp)))
    path = tmp_path / "tiny.keras"
    model.save(path)
    code, out, err = _run(capsys, str(path), "--calibration", "random", "--quantizer", "tflite")
    assert code == 0, err
    total = next(line for line in out.splitlines() if "total" in line)
    assert f"{12 * 8 + 8 * 5:,}" in total and "2 ops" in total  # MACs of the two Dense layers
