"""Keras functional models with several inputs and outputs, through both quantizers.

The model: an image and a vector of scalar features in, class logits and a regression value out. Its input
names sort the other way round ("features" < "image"), as TensorFlow's converter orders a ``.tflite``'s inputs:
the graph must still take them (and give its outputs) in the Keras model's order, named as Keras names them.
Checked: the int8 outputs track the float model, the generated C equals tinygen's reference on the host,
``--quantizer tflite`` equals TFLite Micro per tensor, ``tinygen test`` is bit-exact in QEMU with the
calibration samples as test vectors, and bad calibration is one clear error naming the input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")
L = keras.layers

import hostbuild  # noqa: E402

import tinygen.api as tg  # noqa: E402
from tinygen import codegen, reference  # noqa: E402
from tinygen.cli import main  # noqa: E402
from tinygen.errors import TinygenError  # noqa: E402
from tinygen.quantize.calibration import load_calibration  # noqa: E402
from tinygen.quantize.report import quantize_input, run_int8, sqnr_db  # noqa: E402

SQNR_DB = 30.0  # as tests/test_quantizer.py
IMAGE, FEATURES = (8, 8, 1), (3,)
QUANTIZERS = ["tinygen", "tflite"]


def two_head_model() -> Any:
    keras.utils.set_random_seed(21)
    image = keras.Input(IMAGE, batch_size=1, name="image")
    features = keras.Input(FEATURES, batch_size=1, name="features")
    x = L.Conv2D(4, 3, activation="relu")(image)
    x = L.MaxPooling2D()(x)
    x = L.Flatten()(x)
    f = L.Dense(4, activation="relu")(features)
    h = L.Concatenate()([x, f])
    logits = L.Dense(5, name="logits")(h)
    value = L.Dense(1, name="value")(h)
    return keras.Model([image, features], [logits, value], name="two_head")


def calibration(n: int = 64, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"image": rng.uniform(0, 1, (n, *IMAGE)).astype(np.float32),
            "features": rng.uniform(-1, 1, (n, *FEATURES)).astype(np.float32)}


@pytest.fixture(scope="module")
def files(tmp_path_factory: Any) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("multi_io")
    two_head_model().save(root / "two_head.keras")
    data = calibration()
    np.savez(root / "calib.npz", **data)
    np.savez(root / "positional.npz", data["image"], data["features"])  # arr_0, arr_1
    np.savez(root / "reversed.npz", features=data["features"], image=data["image"])
    np.savez(root / "missing.npz", image=data["image"])
    np.savez(root / "extra.npz", **data, labels=np.zeros(64, np.float32))
    np.savez(root / "wrong_shape.npz", image=data["image"], features=np.zeros((64, 4), np.float32))
    np.savez(root / "counts.npz", image=data["image"], features=data["features"][:40])
    np.save(root / "one.npy", data["image"])
    return {p.name: p for p in root.iterdir()}


@pytest.fixture(scope="module")
def graphs() -> dict[str, Any]:
    model = two_head_model()
    return {q: tg.quantize(model, calibration(), quantizer=q) for q in QUANTIZERS}


# ---- the graph ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("quantizer", QUANTIZERS)
def test_inputs_and_outputs_in_the_model_order(graphs: dict[str, Any], quantizer: str) -> None:
    graph = graphs[quantizer]
    assert graph.inputs == ["image", "features"] and graph.outputs == ["logits", "value"]
    assert [graph.tensors[n].shape for n in graph.inputs] == [(1, *IMAGE), (1, *FEATURES)]
    assert [graph.tensors[n].shape for n in graph.outputs] == [(1, 5), (1, 1)]
    assert all(graph.tensors[n].dtype == "int8" for n in [*graph.inputs, *graph.outputs])


@pytest.mark.parametrize("quantizer", QUANTIZERS)
def test_int8_outputs_track_the_float_model(graphs: dict[str, Any], quantizer: str) -> None:
    graph, model = graphs[quantizer], two_head_model()
    test = calibration(24, seed=8)
    x = [test["image"], test["features"]]
    expected = model.predict(x, verbose=0)
    got = run_int8(graph, x)
    for name, want in zip(graph.outputs, expected):
        want = np.asarray(want, np.float64)
        sqnr = sqnr_db(float(np.sum(want**2)), float(np.sum((want - got[name].reshape(want.shape)) ** 2)))
        assert sqnr >= SQNR_DB, f"{quantizer} {name}: SQNR {sqnr:.1f} dB"


def test_both_quantizers_give_the_same_quantization(graphs: dict[str, Any]) -> None:
    ours, theirs = graphs["tinygen"], graphs["tflite"]
    for name in [*ours.inputs, *ours.outputs]:
        a, b = ours.tensors[name].quant, theirs.tensors[name].quant
        assert a.zero_point[0] == b.zero_point[0] and abs(a.scale[0] / b.scale[0] - 1) < 1e-5, name


@pytest.mark.parametrize("quantizer", QUANTIZERS)
def test_report_through_the_api(quantizer: str) -> None:
    graph, report = tg.quantize_with_report(two_head_model(), calibration(), quantizer=quantizer, max_samples=16)
    assert graph.inputs == ["image", "features"] and report.samples == 16
    assert report.output_sqnr_db >= SQNR_DB and report.top1_agreement is not None
    if quantizer == "tinygen":
        assert {layer.tensor for layer in report.layers} >= {"logits", "value"}


# ---- generated C, TFLite Micro ------------------------------------------------------------------------


@pytest.mark.parametrize("quantizer", QUANTIZERS)
def test_c_equals_the_reference_on_the_host(graphs: dict[str, Any], quantizer: str, tmp_path: Path) -> None:
    graph = graphs[quantizer]
    lib = codegen.generate(graph, tmp_path / "lib")
    header = (lib.out_dir / f"{graph.name}.h").read_text()
    assert f"#define {graph.name}_NUM_INPUTS 2" in header and f"#define {graph.name}_NUM_OUTPUTS 2" in header
    assert '"image"' in header and '"logits"' in header
    rng = np.random.default_rng(4)
    count = 6
    xs = [rng.integers(-128, 128, (count, *graph.tensors[n].shape[1:]), dtype=np.int8) for n in graph.inputs]
    refs = [reference.run(graph, [x[v:v + 1] for x in xs]) for v in range(count)]
    want = np.stack([np.concatenate([refs[v][n].reshape(-1) for n in graph.outputs]) for v in range(count)])
    hb = hostbuild.build(lib.out_dir, lib.manifest, tmp_path / "host", sanitize=True)
    out, _ = hostbuild.run(hb, np.concatenate([x.reshape(count, -1) for x in xs], axis=1))
    assert np.array_equal(out.view(np.int8).reshape(count, -1), want)


def test_tflite_quantizer_equals_tflite_micro() -> None:
    """The .tflite TensorFlow's converter makes, run by tinygen's reference and by TFLite Micro: every tensor
    equal. The graph --quantizer tflite gives is that graph with its inputs and outputs reordered and renamed."""
    pytest.importorskip("tflite_micro")
    from tinygen.frontend.keras import in_model_order
    from tinygen.frontend.tflite import import_tflite
    from tinygen.oracle import tflm_run
    from tinygen.tfconvert import keras_to_int8_tflite

    model, data = two_head_model(), calibration()
    samples = [[data["image"][i:i + 1], data["features"][i:i + 1]] for i in range(64)]
    flatbuffer = keras_to_int8_tflite(model, samples)
    raw = import_tflite(flatbuffer, name="two_head")
    assert len(raw.inputs) == 2 and raw.inputs[0].endswith("features:0")  # the converter's order: by name
    ordered = in_model_order(import_tflite(flatbuffer, name="two_head"), flatbuffer, model)
    test = calibration(6, seed=9)
    for v in range(6):
        x = {"image": quantize_input(ordered, test["image"][v:v + 1], 0),
             "features": quantize_input(ordered, test["features"][v:v + 1], 1)}
        raw_in = [x["features"], x["image"]]
        ref, tflm = reference.run(raw, raw_in), tflm_run(flatbuffer, raw_in)
        for op in raw.ops:
            name = op.outputs[0]
            assert ref[name].dtype == tflm[name].dtype and np.array_equal(ref[name], tflm[name]), (v, name)
        mine = reference.run(ordered, [x["image"], x["features"]])
        for new, old in zip(ordered.outputs, _raw_outputs(flatbuffer)):
            assert np.array_equal(mine[new], tflm[old]), (v, new)


def _raw_outputs(flatbuffer: bytes) -> list[str]:
    """The raw graph's outputs in the model's order (its signature's output_0, output_1)."""
    import tflite

    from tinygen.frontend.tflite import tensor_names

    names = tensor_names(flatbuffer)
    sig = tflite.Model.GetRootAs(flatbuffer, 0).SignatureDefs(0)
    by_key = {sig.Outputs(i).Name().decode(): names[sig.Outputs(i).TensorIndex()] for i in range(sig.OutputsLength())}
    return [by_key["output_0"], by_key["output_1"]]


def test_tfconvert_feeds_each_input_its_own_calibration() -> None:
    """TensorFlow's calibrator takes each sample's list in the .tflite's input order (sorted by name), not the
    model's: inputs of different shapes and ranges must each get their own array, as a list or a dict."""
    from tinygen.frontend.tflite import import_tflite
    from tinygen.tfconvert import keras_to_int8_tflite

    keras.utils.set_random_seed(2)
    zeta = keras.Input((4,), batch_size=1, name="zeta")
    alpha = keras.Input((2, 3), batch_size=1, name="alpha")
    y = L.Add()([L.Dense(3)(zeta), L.Dense(3)(L.Flatten()(alpha))])  # (a concatenation would share one scale)
    model = keras.Model([zeta, alpha], y)
    rng = np.random.default_rng(0)
    z = rng.uniform(0, 10, (32, 1, 4)).astype(np.float32)
    a = rng.uniform(-1, 1, (32, 1, 2, 3)).astype(np.float32)
    for samples in ([[z[i], a[i]] for i in range(32)], [{"alpha": a[i], "zeta": z[i]} for i in range(32)]):
        graph = import_tflite(keras_to_int8_tflite(model, samples))
        scales = {graph.tensors[n].shape: graph.tensors[n].quant.scalar()[0] for n in graph.inputs}
        assert scales[(1, 4)] == pytest.approx(z.max() / 255, rel=0.02)
        assert scales[(1, 2, 3)] == pytest.approx((a.max() - a.min()) / 255, rel=0.02)


# ---- calibration --------------------------------------------------------------------------------------

SPECS = [("image", (1, *IMAGE)), ("features", (1, *FEATURES))]


def test_calibration_forms(files: dict[str, Path]) -> None:
    data = calibration()
    want = [data["image"], data["features"]]
    forms = [data, [data["image"], data["features"]], str(files["calib.npz"]), files["positional.npz"],
             files["reversed.npz"],
             iter([{"image": data["image"][:10], "features": data["features"][:10]},
                   (data["image"][10:], data["features"][10:])])]
    for form in forms:
        got = load_calibration(form, SPECS)
        assert len(got) == 2 and all(np.array_equal(g, w) for g, w in zip(got, want)), form
    random = load_calibration("random", SPECS, warn_random=False)
    assert [r.shape[1:] for r in random] == [IMAGE, FEATURES] and random[0].shape[0] == random[1].shape[0]


BAD = {
    "missing.npz": r"calib.*missing\.npz has no array for model input\(s\) 'features'.*image \(1, 8, 8, 1\), "
                   r"features \(1, 3\)",
    "extra.npz": r"extra\.npz holds array\(s\) 'labels' that match no model input",
    "wrong_shape.npz": r"array 'features' has shape \(64, 4\) but the model input has shape \(1, 3\)",
    "counts.npz": r"different sample counts \(image: 64, features: 40\)",
    "one.npy": r"one\.npy holds one array \(64, 8, 8, 1\) but the model has 2 inputs.*\.npz",
}


@pytest.mark.parametrize("quantizer", QUANTIZERS)
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_calibration_is_one_clear_line(files: dict[str, Path], case: str, quantizer: str, tmp_path: Path,
                                           capsys: Any, monkeypatch: Any) -> None:
    import re

    monkeypatch.chdir(tmp_path)
    args = ["convert", str(files["two_head.keras"]), "--calibration", str(files[case]), "--quantizer", quantizer,
            "-o", "out"]
    assert main(args) != 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and line.startswith("error: ")]
    assert len(lines) == 1 and re.search(BAD[case], lines[0]), err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


def test_calibration_errors_through_the_api() -> None:
    data = calibration()
    with pytest.raises(TinygenError, match=r"one array \(64, 8, 8, 1\) but the model has 2 inputs"):
        tg.quantize(two_head_model(), data["image"])
    with pytest.raises(TinygenError, match=r"calibration batch 0 holds 1 array\(s\) but the model has 2 inputs"):
        tg.quantize(two_head_model(), iter([data["image"]]))
    with pytest.raises(TinygenError, match=r"array 'image' has dtype uint8"):
        tg.quantize(two_head_model(), {"image": data["image"].astype(np.uint8), "features": data["features"]})


# ---- the command line ---------------------------------------------------------------------------------


@pytest.mark.parametrize("calib", ["calib.npz", "positional.npz", "random"])
def test_convert_and_inspect(files: dict[str, Path], calib: str, tmp_path: Path, capsys: Any) -> None:
    arg = calib if calib == "random" else str(files[calib])
    assert main(["convert", str(files["two_head.keras"]), "--calibration", arg, "-o", str(tmp_path / "out")]) == 0
    header = (tmp_path / "out" / "two_head.h").read_text()
    assert "int two_head_invoke(const int8_t *input0, const int8_t *input1, int8_t *output0, int8_t *output1);" in header
    assert main(["inspect", str(files["two_head.keras"]), "--calibration", arg]) == 0
    assert "fully_connected" in capsys.readouterr().out


@pytest.mark.parametrize("quantizer", QUANTIZERS)
def test_inputs_file_as_test_vectors(files: dict[str, Path], quantizer: str, tmp_path: Path) -> None:
    from tinygen.commands.test import graph_input, input_vectors, prepare

    prep = prepare(files["two_head.keras"], "mps2_an500", tmp_path, calibration=str(files["calib.npz"]),
                   quantizer=quantizer)
    vectors = input_vectors(prep, str(files["calib.npz"]))
    assert vectors.shape == (64, 8 * 8 + 3) and vectors.dtype == np.int8
    data = calibration()
    for v in range(4):
        image, features = graph_input(prep, vectors[v])
        for got, want, name in ((image, data["image"][v], "image"), (features, data["features"][v], "features")):
            scale, zero_point = prep.graph.tensors[name].quant.scalar()
            real = (got.astype(np.float64).reshape(-1) - zero_point) * scale
            assert np.max(np.abs(real - want.reshape(-1))) <= scale / 2 + 1e-6, name
    positional = input_vectors(prep, str(files["positional.npz"]))
    assert np.array_equal(positional, vectors)
    with pytest.raises(TinygenError, match=r"missing\.npz has no array for model input\(s\) 'features'"):
        input_vectors(prep, str(files["missing.npz"]))
    with pytest.raises(TinygenError, match=r"counts\.npz: the inputs have different sample counts"):
        input_vectors(prep, str(files["counts.npz"]))


@pytest.mark.emulator
@pytest.mark.parametrize("quantizer", QUANTIZERS)
def test_bit_exact_in_qemu(files: dict[str, Path], quantizer: str, tmp_path: Path, capsys: Any) -> None:
    import shutil

    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    argv = ["test", str(files["two_head.keras"]), "--board", "mps2_an500", "--calibration", str(files["calib.npz"]),
            "--inputs", str(files["calib.npz"]), "--quantizer", quantizer, "-n", "3", "--work-dir", str(tmp_path / "work")]
    assert main(argv) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "67 input vectors" in out and "PASS: every output is bit-exact" in out


@pytest.mark.slow
def test_exported_saved_model(tmp_path: Path) -> None:
    """A model.export() directory (TensorFlow's converter only): its 'serve' endpoint gives the input order."""
    export = tmp_path / "exported"
    two_head_model().export(str(export), verbose=False)
    graph, report = tg.quantize_with_report(export, calibration(), quantizer="tflite", max_samples=8)
    assert graph.inputs == ["image", "features"] and graph.outputs == ["output_0", "output_1"]
    assert [graph.tensors[n].shape for n in graph.outputs] == [(1, 5), (1, 1)]
    assert report.output_sqnr_db >= SQNR_DB


def test_unnamed_inputs_with_a_free_batch() -> None:
    """keras.Input without names or batch size: the converter's copy keeps the inputs' tensor names."""
    keras.utils.set_random_seed(5)
    a, b = keras.Input((6,)), keras.Input((2, 2))
    model = keras.Model([a, b], [L.Dense(3)(L.Concatenate()([a, L.Flatten()(b)])), L.Dense(2)(a)])
    rng = np.random.default_rng(1)
    data = [rng.uniform(-1, 1, (32, 6)).astype(np.float32), rng.uniform(-1, 1, (32, 2, 2)).astype(np.float32)]
    names = [t._keras_history[0].name for t in model.inputs]
    for quantizer in QUANTIZERS:
        graph = tg.quantize(model, data, quantizer=quantizer)
        assert graph.inputs == names and [graph.tensors[n].shape for n in graph.outputs] == [(1, 3), (1, 2)]
        got = run_int8(graph, [x[:8] for x in data])
        for name, want in zip(graph.outputs, model.predict([x[:8] for x in data], verbose=0)):
            want = np.asarray(want, np.float64)
            assert sqnr_db(float(np.sum(want**2)), float(np.sum((want - got[name].reshape(want.shape)) ** 2))) >= SQNR_DB
