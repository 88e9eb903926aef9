"""Keras frontend: loading .keras/.h5/SavedModel, the public API, the quantization report, and every
bad input through the command line (a one-line error, a non-zero exit, nothing written)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")
L = keras.layers

import tinygen.api as tg  # noqa: E402
from tinygen.cli import main  # noqa: E402
from tinygen.errors import TinygenError, UnsupportedError  # noqa: E402
from tinygen.ir import Graph  # noqa: E402

SHAPE = (8, 8, 1)


def _small_model() -> Any:
    keras.utils.set_random_seed(11)
    inputs = keras.Input(SHAPE, batch_size=1, name="image")
    x = L.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    x = L.MaxPooling2D()(x)
    x = L.Flatten()(x)
    outputs = L.Dense(5, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="small")


def _calibration(n: int = 32) -> np.ndarray:
    return np.random.default_rng(5).uniform(0, 1, (n, *SHAPE)).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory: Any) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("keras_models")
    model = _small_model()
    model.save(root / "small.keras")
    model.save(root / "small.h5")
    np.save(root / "calib.npy", _calibration())
    a, b = keras.Input((4,), batch_size=1), keras.Input((4,), batch_size=1)
    keras.Model([a, b], L.Add()([a, b])).save(root / "two_inputs.keras")
    x = keras.Input(SHAPE, batch_size=1)
    keras.Model(x, L.Conv3D(2, 1)(L.Reshape((*SHAPE, 1))(x)), name="volumetric").save(root / "unsupported.keras")
    (root / "garbage.keras").write_bytes(b"this is not a zip archive")
    (root / "garbage.h5").write_text("not hdf5 either")
    (root / "notes.txt").write_text("hello")
    (root / "empty_dir").mkdir()
    np.save(root / "empty.npy", np.zeros((0, *SHAPE), np.float32))
    np.save(root / "wrong_shape.npy", np.zeros((4, 10, 10, 1), np.float32))
    np.save(root / "wrong_dtype.npy", np.zeros((4, *SHAPE), np.uint8))
    return {p.name: p for p in root.iterdir()}


def _same_graph(a: Graph, b: Graph) -> None:
    assert [(op.kind, op.attrs) for op in a.ops] == [(op.kind, op.attrs) for op in b.ops]
    assert [t.shape for t in a.tensors.values()] == [t.shape for t in b.tensors.values()]
    for ta, tb in zip(a.tensors.values(), b.tensors.values()):
        np.testing.assert_array_equal(ta.quant.scale, tb.quant.scale)
        np.testing.assert_array_equal(ta.quant.zero_point, tb.quant.zero_point)
        if ta.is_const:
            np.testing.assert_array_equal(ta.data, tb.data)


@pytest.mark.parametrize("name", ["small.keras", "small.h5"])
def test_model_files_quantize_like_the_in_memory_model(files: dict[str, Path], name: str) -> None:
    expected = tg.quantize(_small_model(), _calibration())
    from_file = tg.quantize(files[name], str(files["calib.npy"]))
    assert from_file.name == "small"
    _same_graph(from_file, expected)
    assert [op.kind for op in from_file.ops] == ["conv2d", "max_pool2d", "reshape", "fully_connected", "softmax"]


def test_loader_dispatches_keras_files(files: dict[str, Path]) -> None:
    from tinygen.loader import load_graph

    graph = load_graph(files["small.keras"], calibration=str(files["calib.npy"]), observer="mse")
    graph.validate()
    assert graph.tensors[graph.inputs[0]].dtype == "int8"


def test_inspect_keras_model_through_cli(files: dict[str, Path], capsys: Any) -> None:
    assert main(["inspect", str(files["small.keras"]), "--calibration", str(files["calib.npy"])]) == 0
    out = capsys.readouterr().out
    assert "conv2d+relu" in out and "softmax" in out


def test_convert_keras_model_through_cli(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "lib"
    assert main(["convert", str(files["small.keras"]), "--calibration", str(files["calib.npy"]), "-o", str(out)]) == 0
    assert (out / "small.h").is_file() and (out / "small.c").is_file()


@pytest.mark.slow
def test_tflite_quantizer_through_cli(files: dict[str, Path], capsys: Any) -> None:
    args = ["inspect", str(files["small.keras"]), "--calibration", str(files["calib.npy"]), "--quantizer", "tflite"]
    assert main(args) == 0
    assert "fully_connected" in capsys.readouterr().out


@pytest.mark.slow
def test_tflite_quantizer_matches_tinygen_structure() -> None:
    """Both quantizers produce the same op sequence and the same activation zero points here."""
    model, calibration = _small_model(), _calibration()
    ours = tg.quantize(model, calibration)
    theirs = tg.quantize(model, calibration, quantizer="tflite")
    assert [op.kind for op in theirs.ops] == [op.kind for op in ours.ops]
    zps = [[g.tensors[op.outputs[0]].quant.zero_point[0] for op in g.ops] for g in (ours, theirs)]
    assert zps[0] == zps[1]


@pytest.mark.slow
def test_saved_model_directory(tmp_path: Path) -> None:
    model = _small_model()
    export = tmp_path / "exported"
    model.export(str(export), verbose=False)
    with pytest.raises(UnsupportedError, match=r"SavedModel.*no Keras layers.*--quantizer tflite"):
        tg.quantize(export, _calibration())
    graph = tg.quantize(export, _calibration(), quantizer="tflite")
    assert graph.name == "exported"
    assert [op.kind for op in graph.ops][-1] == "softmax"
    _, report = tg.quantize_with_report(export, _calibration(), quantizer="tflite", max_samples=8)
    assert report.top1_agreement is not None and report.output_sqnr_db >= 30.0


def test_quantization_report(capsys: Any) -> None:
    report = tg.quantization_report(_small_model(), _calibration(), max_samples=16)
    assert report.samples == 16 and report.quantizer == "tinygen"
    assert [layer.kind for layer in report.layers] == [
        "conv2d+relu", "max_pool2d", "reshape", "fully_connected", "softmax"]
    # Every layer tracks the float model (30 dB: ~3% RMS error; a wrong scale gives < 10 dB).
    assert all(layer.sqnr_db >= 30.0 for layer in report.layers), report.layers
    assert report.output_sqnr_db >= 30.0
    assert report.top1_agreement is not None and report.top1_agreement >= 0.9
    tg.print_report(report)
    out = capsys.readouterr().out
    assert "SQNR" in out and "max_pooling2d" in out and "top-1 agreement" in out


def test_random_calibration_through_api(capsys: Any) -> None:
    graph = tg.quantize(_small_model(), "random")
    graph.validate()
    assert "accuracy will suffer" in capsys.readouterr().err


# ---- bad input through the command line ---------------------------------------------------------------


BAD = {
    "nonexistent model": (["missing.keras", "--calibration", "{calib.npy}"], r"missing\.keras: no such file"),
    "not a model (.keras)": (["{garbage.keras}", "--calibration", "{calib.npy}"], r"Keras cannot load this file"),
    "not a model (.h5)": (["{garbage.h5}", "--calibration", "{calib.npy}"], r"Keras cannot load this file"),
    "not a model (.txt)": (["{notes.txt}", "--calibration", "{calib.npy}"], r"not a model tinygen can read"),
    "directory without a model": (["{empty_dir}", "--calibration", "{calib.npy}"], r"without saved_model\.pb"),
    "no calibration": (["{small.keras}"], r"needs calibration data.*--calibration"),
    "missing calibration file": (["{small.keras}", "--calibration", "nope.npy"], r"nope\.npy: no such file"),
    "not a calibration file": (["{small.keras}", "--calibration", "{notes.txt}"], r"not a \.npy/\.npz"),
    "empty calibration": (["{small.keras}", "--calibration", "{empty.npy}"], r"empty \(0 samples\)"),
    "wrong-shape calibration": (["{small.keras}", "--calibration", "{wrong_shape.npy}"],
                                r"shape \(4, 10, 10, 1\) but the model input has shape \(1, 8, 8, 1\)"),
    "wrong-dtype calibration": (["{small.keras}", "--calibration", "{wrong_dtype.npy}"], r"dtype uint8.*float32"),
    "two-input model, one array": (["{two_inputs.keras}", "--calibration", "{calib.npy}"],
                                   r"holds one array \(32, 8, 8, 1\) but the model has 2 inputs.*one float32 array "
                                   r"per model input, keyed by the input names"),
    "unsupported layer": (["{unsupported.keras}", "--calibration", "{calib.npy}"],
                          r"\(Conv3D\) is not supported.*supported layers"),
}


@pytest.mark.parametrize("command", ["inspect", "convert"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_clear_line(files: dict[str, Path], case: str, command: str, tmp_path: Path, capsys: Any,
                                     monkeypatch: Any) -> None:
    import re

    args, pattern = BAD[case]
    args = [str(files[a[1:-1]]) if a.startswith("{") else a for a in args]
    if command == "convert":
        args += ["-o", "out"]
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in Path(files["calib.npy"]).parent.iterdir())
    assert main([command, *args]) != 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert list(tmp_path.iterdir()) == []
    assert sorted(p.name for p in Path(files["calib.npy"]).parent.iterdir()) == before


def test_api_errors_are_tinygen_errors() -> None:
    with pytest.raises(TinygenError, match="unknown quantizer"):
        tg.quantize(_small_model(), _calibration(), quantizer="onnx")
    with pytest.raises(TinygenError, match="unknown observer"):
        tg.quantize(_small_model(), _calibration(), observer="kl")
    with pytest.raises(TinygenError, match="observer 'mse' applies to tinygen's quantizer only"):
        tg.quantize(_small_model(), _calibration(), observer="mse", quantizer="tflite")
    with pytest.raises(TinygenError, match="unknown quantizer"):
        tg.quantization_report(_small_model(), _calibration(), quantizer="onnx")


@pytest.mark.slow
def test_report_with_tflite_quantizer_is_end_to_end(files: dict[str, Path], capsys: Any) -> None:
    graph, report = tg.quantize_with_report(files["small.keras"], str(files["calib.npy"]), quantizer="tflite",
                                            max_samples=8)
    assert graph.name == "small" and report.quantizer == "tflite" and report.layers == []
    assert report.output_sqnr_db >= 30.0 and report.top1_agreement is not None
    tg.print_report(report)
    assert "output SQNR" in capsys.readouterr().out


def test_qat_model_files_route_to_the_qat_converter(tmp_path: Path) -> None:
    """A saved quantization-aware-trained model needs no calibration: its ranges come from training."""
    qat = pytest.importorskip("tinygen.qat")
    qat_model = qat.prepare(_small_model(), _calibration())
    qat_model.save(tmp_path / "trained.keras")
    graph = tg.quantize(tmp_path / "trained.keras", calibration=None)
    assert graph.name == "trained"
    expected = qat.convert(qat_model)
    expected.name = "trained"
    _same_graph(graph, expected)
