"""Mixed int8/int16 precision in tinygen's quantizer (issue 20 items 3 and 4): ``--int16 LAYER[,...]``, ``all`` and
``auto`` (budgeted by extra arena bytes), and the 16-bit columns of ``convert --report``.

The model where int8 PTQ loses accuracy: a residual chain of Dense blocks (``h = h + Dense(Dense(h, relu))``) trained
here on made-up data (4 classes from the signs of two functions of 8 uniform features), then given a "massive
activation", as large trained models develop: one more stream channel holding :data:`OFFSET` throughout (the
embedding's bias writes it, no layer adds to it or reads it: its weights are exactly 0). The float model computes
the same function, but every stream tensor's int8 grid now spans the offset and the informative values of ~1 get a
few steps: int8 loses accuracy. No PTQ pass removes it (equalization rescales channels between two weighted
layers; the residual Adds pair none); 16-bit stream tensors do.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import opcheck
import pytest

from tinygen.errors import TinygenError

keras = pytest.importorskip("keras")

FEATURES, CLASSES, WIDTH, BLOCKS = 8, 4, 32, 4
#: the massive activation's offset on channel 0 of the residual stream
OFFSET = 100.0


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform feature vectors and their class: the signs of a linear form and of a product term."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, FEATURES)).astype(np.float32)
    a = x[:, 0] + 0.5 * x[:, 1] - 0.3 * x[:, 2]
    b = x[:, 3] * x[:, 4] + 0.5 * x[:, 5]
    return x, (a > 0).astype(np.int64) * 2 + (b > 0).astype(np.int64)


def residual_model(seed: int = 0, width: int = WIDTH) -> Any:
    """Dense embedding, BLOCKS residual blocks of two Dense layers on a stream of ``width`` channels, softmax head."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((FEATURES,), name="x")
    h = keras.layers.Dense(width, name="embed")(inp)
    for k in range(BLOCKS):
        t = keras.layers.Dense(WIDTH, activation="relu", name=f"mlp{k}_up")(h)
        h = keras.layers.Add(name=f"res{k}")([h, keras.layers.Dense(width, name=f"mlp{k}_down")(t)])
    return keras.Model(inp, keras.layers.Dense(CLASSES, activation="softmax", name="head")(h))


def with_massive_channel(trained: Any, offset: float = OFFSET) -> Any:
    """``trained`` with one more stream channel that holds ``offset`` throughout: the embedding writes it (weights
    0, bias ``offset``), the blocks add 0 to it and every reader's weights from it are 0. The same float function;
    the stream's range now spans ``offset``."""
    model = residual_model(width=WIDTH + 1)
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Dense):
            continue
        w, b = trained.get_layer(layer.name).get_weights()
        if layer.name == "embed" or layer.name.endswith("_down"):  # writers: a new output channel
            w, b = np.pad(w, ((0, 0), (0, 1))), np.append(b, offset if layer.name == "embed" else 0.0)
        else:  # readers: a new input row of zeros
            w = np.pad(w, ((0, 1), (0, 0)))
        layer.set_weights([w, b])
    return model


def trained_model(seed: int = 0) -> Any:
    """The residual classifier trained on :func:`data` (a few seconds), with the massive channel added."""
    x, y = data(4000, seed=seed)
    model = residual_model(seed)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=20, batch_size=64, verbose=0)
    return with_massive_channel(model)


def accuracy(graph: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of tinygen's reference running ``graph`` (int8 or mixed) on float inputs."""
    from tinygen.quantize.report import run_int8

    scores = run_int8(graph, x)[graph.outputs[0]].reshape(len(x), -1)
    return float(np.mean(scores.argmax(axis=1) == y))


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The trained model saved as .keras, its calibration .npy (300 training samples), 600 test samples."""
    root = tmp_path_factory.mktemp("mixed")
    model = trained_model()
    x, _ = data(4000, seed=0)
    xt, yt = data(600, seed=1)
    np.save(root / "calibration.npy", x[:300])
    model.save(root / "residual.keras")
    return {"model": model, "path": root / "residual.keras", "calibration": root / "calibration.npy", "xt": xt,
            "yt": yt, "float_accuracy": float(np.mean(model.predict(xt, verbose=0).argmax(axis=1) == yt))}


def convert(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
            ) -> tuple[Any, str]:
    """``tinygen convert ARGS`` as a user runs it (tinygen.cli.main); returns the graph it generated the library
    from (a spy on the code generator) and what it printed."""
    import tinygen.codegen
    from tinygen.cli import main

    seen: list[Any] = []
    real = tinygen.codegen.generate

    def spy(graph: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(graph)
        return real(graph, *args, **kwargs)

    monkeypatch.setattr(tinygen.codegen, "generate", spy)
    code = main(["convert", *args])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    return seen[-1], out.out + out.err


def dtypes(graph: Any) -> dict[str, str]:
    return {op.name: graph.tensors[op.outputs[0]].dtype for op in graph.ops}


# --------------------------------------------------------------------------- auto


#: extra arena allowed to --int16 auto: less than the whole-model 16x8 mode needs (+32 bytes here)
BUDGET = 16


def test_auto_recovers_half_the_int8_loss(model_files: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``tinygen convert --int16 auto --int16-budget 16``: the chosen mixed graph recovers at least half of the
    accuracy int8 PTQ loses on 600 test samples, within the budget (the arena the library reports minus the int8
    one), prints what it chose, and its C equals tinygen's reference bit for bit on the host (gcc and clang,
    sanitizers, every layer) and in QEMU on the Cortex-M7 stand-in."""
    import tinygen.api as tg

    lib = tmp_path / "lib"
    graph, printed = convert([str(model_files["path"]), "--calibration", str(model_files["calibration"]),
                              "--int16", "auto", "--int16-budget", str(BUDGET), "-o", str(lib)], monkeypatch, capsys)
    int8 = tg.quantize(model_files["model"], np.load(model_files["calibration"]))
    xt, yt = model_files["xt"], model_files["yt"]
    floating, low, mixed = model_files["float_accuracy"], accuracy(int8, xt, yt), accuracy(graph, xt, yt)
    print(f"accuracy: float {floating:.4f}, int8 {low:.4f}, int16 auto {mixed:.4f}")
    assert floating - low >= 0.04, "the test model must lose accuracy in int8"
    assert mixed - low >= 0.5 * (floating - low)
    arena = re.search(r"arena (\d[\d,]*) -> (\d[\d,]*) bytes", printed)
    assert arena is not None, printed
    int8_arena, mixed_arena = (int(g.replace(",", "")) for g in arena.groups())
    assert 0 <= mixed_arena - int8_arena <= BUDGET
    import json

    manifest = json.loads((lib / "manifest.json").read_text())
    assert manifest["arena_bytes"] == mixed_arena
    assert "int16 auto (budget 16 bytes)" in printed and "layer(s) in 16x8" in printed
    assert {"int16", "int8"} <= set(dtypes(graph).values())
    assert graph.tensors[graph.inputs[0]].dtype == graph.tensors[graph.outputs[0]].dtype == "int8"
    vectors = opcheck.vectors_with_every_value(FEATURES, 40, seed=3)
    layers = opcheck.check_c(graph, tmp_path / "host", vectors, dsp_emulate=True)["layers"]
    assert "tg_fully_connected_s16" in {layer["kernel"] for layer in layers}
    assert {"tg_quantize_s8_s16", "tg_quantize_s16_s8"} <= {layer["kernel"] for layer in layers}
    _qemu_bit_exact(graph, vectors[:4], tmp_path / "qemu")


def _qemu_bit_exact(graph: Any, vectors: np.ndarray, work: Path) -> None:
    """``graph``'s library bit-exact with tinygen's reference in QEMU on the Cortex-M7 stand-in (tinygen test's
    machinery)."""
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    from tinygen.boards import get_board
    from tinygen.codegen import generate
    from tinygen.commands.test import Prepared, make_vectors, run_test

    library = generate(graph, work / "lib", force=True)
    prep = Prepared(graph, library, get_board("mps2_an500"), None, "double", work)
    outcome = run_test(prep, np.concatenate([vectors, make_vectors(prep, 2)]), timeout=300)
    report = "\n".join(outcome.lines)
    assert outcome.ok and "ok    tinygen reference" in report, report


def test_auto_target_db_stops_when_reached(model_files: dict[str, Any]) -> None:
    """``int16_target_db``: the search stops at the first choice whose held-out output SQNR reaches the target, and
    a target already met by int8 chooses nothing."""
    from tinygen.quantize.mixed import parse_request, using_int16
    from tinygen.quantize.pipeline import quantize_keras

    calibration = np.load(model_files["calibration"])
    with using_int16(parse_request("auto", target_db=-100.0)):
        met = quantize_keras(model_files["model"], calibration, ptq="plain").mixed
    assert met.layers == [] and met.steps == [] and met.mixed.sqnr_db == met.int8.sqnr_db
    target = met.int8.sqnr_db + 2.0
    with using_int16(parse_request("auto", target_db=target)):
        reached = quantize_keras(model_files["model"], calibration, ptq="plain").mixed
    assert reached.mixed.sqnr_db >= target and reached.steps
    before_last = reached.mixed.sqnr_db - reached.steps[-1].gain_db
    assert before_last < target  # it stopped at the first step past the target


# --------------------------------------------------------------------------- all, named layers


def test_all_is_the_whole_model_in_16x8(model_files: dict[str, Any], tmp_path: Path) -> None:
    """``int16="all"``: every tensor int16 (inputs and outputs too, TFLite's 16x8 mode: zero points 0, softmax output
    1/32768, int64 biases), more accurate than int8, and its C bit-exact with the reference on the host."""
    import tinygen.api as tg

    calibration = np.load(model_files["calibration"])
    graph = tg.quantize(model_files["model"], calibration, int16="all")
    assert set(t.dtype for t in graph.activation_tensors()) == {"int16"}
    assert all(int(t.quant.zero_point[0]) == 0 for t in graph.activation_tensors())
    assert {graph.tensors[op.inputs[2]].dtype for op in graph.ops if op.kind == "fully_connected"} == {"int64"}
    assert graph.tensors[graph.outputs[0]].quant.scalar()[0] == np.float32(1 / 32768)
    xt, yt = model_files["xt"], model_files["yt"]
    assert accuracy(graph, xt, yt) > accuracy(tg.quantize(model_files["model"], calibration), xt, yt)
    vectors = np.random.default_rng(4).integers(-32768, 32768, (6, FEATURES)).astype(np.int16)
    opcheck.check_c(graph, tmp_path, vectors)


def test_named_layers(model_files: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``--int16 mlp1_up,mlp1_down``: those layers' ops in 16x8, the rest int8, one QUANTIZE at each boundary (the
    block's input in, its output out), graph input and output int8; the C bit-exact on the host."""
    graph, printed = convert([str(model_files["path"]), "--calibration", str(model_files["calibration"]), "--int16",
                              "mlp1_up,mlp1_down", "-o", str(tmp_path / "lib")], monkeypatch, capsys)
    kinds = dtypes(graph)
    assert kinds["mlp1_up"] == kinds["mlp1_down"] == "int16"
    assert {kinds[n] for n in kinds if not n.startswith(("mlp1_", "res0/", "mlp1_down/"))} == {"int8"}
    quantizes = [op for op in graph.ops if op.kind == "quantize"]
    assert [(graph.tensors[op.inputs[0]].dtype, graph.tensors[op.outputs[0]].dtype) for op in quantizes] == [
        ("int8", "int16"), ("int16", "int8")]
    assert "int16 the named layers: 2 layer(s) in 16x8: mlp1_up, mlp1_down" in printed
    opcheck.check_c(graph, tmp_path / "host", opcheck.vectors_with_every_value(FEATURES, 33, seed=5))


def _pool_model() -> Any:
    """Dense -> Reshape -> MaxPooling2D -> Flatten -> Dense: a shared-scale group of three ops."""
    keras.utils.set_random_seed(7)
    inp = keras.Input((6,), name="x")
    h = keras.layers.Dense(16, name="fc1")(inp)
    h = keras.layers.Reshape((4, 4, 1), name="grid")(h)
    h = keras.layers.MaxPooling2D(2, name="pool")(h)
    h = keras.layers.Flatten(name="flat")(h)
    return keras.Model(inp, keras.layers.Dense(3, name="fc2")(h))


def test_shared_scale_group_is_one_precision(tmp_path: Path) -> None:
    """Naming the pool puts its whole shared-scale group (reshape, pool, flatten) in int16 with one quantization;
    the C is bit-exact on the host."""
    import tinygen.api as tg

    calibration = np.random.default_rng(8).normal(size=(64, 6)).astype(np.float32)
    graph = tg.quantize(_pool_model(), calibration, int16="pool")
    kinds = dtypes(graph)
    assert kinds["grid"] == kinds["pool"] == kinds["flat"] == "int16" and kinds["fc1"] == kinds["fc2"] == "int8"
    group = [graph.tensors[name].quant.scalar() for name in ("grid", "pool", "flat")]
    assert group[0] == group[1] == group[2] and group[0][1] == 0
    opcheck.check_c(graph, tmp_path, opcheck.vectors_with_every_value(6, 43, seed=9))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("spec, budget, match", [
    ("nope", None, r"--int16: the model has no layer 'nope'; its layers are"),
    ("leaky", None, r"--int16: layer 'leaky' \(LeakyReLU, op leaky_relu\) has no 16x8 \(int16 activation\) kernel"),
    ("auto", None, r"--int16 auto needs a limit: --int16-budget BYTES"),
    ("fc1", 100, r"--int16-budget and --int16-target-db apply to --int16 auto only"),
    ("dropout", None, r"layer 'dropout' \(Dropout\) computes nothing of its own"),
])
def test_errors(spec: str, budget: int | None, match: str) -> None:
    import tinygen.api as tg

    keras.utils.set_random_seed(10)
    inp = keras.Input((6,), name="x")
    h = keras.layers.Dense(8, name="fc1")(inp)
    h = keras.layers.LeakyReLU(name="leaky")(keras.layers.Dropout(0.1, name="dropout")(h))
    model = keras.Model(inp, keras.layers.Dense(3, name="fc2")(h))
    with pytest.raises(TinygenError, match=match):
        tg.quantize(model, np.zeros((8, 6), np.float32) + 0.5, int16=spec, int16_budget=budget)


def test_cli_refuses_int16_on_tflite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    model = tmp_path / "m.tflite"
    model.write_bytes(b"")
    assert main(["convert", str(model), "--int16", "auto", "--int16-budget", "8", "-o", str(tmp_path / "o")]) != 0
    assert "--int16 auto applies to Keras models quantized by tinygen's quantizer" in capsys.readouterr().err


# --------------------------------------------------------------------------- report


def test_report_shows_int8_and_16_bit_sqnr(model_files: dict[str, Any]) -> None:
    """The report's 16-bit columns: the embedding's output (the first stream tensor) held at 16 bits gains at least
    20 dB and lifts the model's output SQNR by at least 3 dB; every stream tensor (an Add's output) is measured; the
    printed table says what the columns mean."""
    import io

    from rich.console import Console

    import tinygen.api as tg

    report = tg.quantization_report(model_files["model"], np.load(model_files["calibration"]), max_samples=64)
    rows = {layer.op: layer for layer in report.layers}
    assert report.int16_samples == 64 and not report.mixed
    embed = rows["embed"]
    assert embed.int16_db is not None and embed.int8_db is not None and embed.int16_output_db is not None
    assert embed.int16_db >= embed.int8_db + 20.0 and embed.int16_output_db >= report.int8_output_db + 3.0
    assert embed.int16_arena is not None and embed.int16_arena >= 0
    assert all(rows[f"res{k}"].int16_output_db is not None for k in range(BLOCKS))
    text = io.StringIO()
    tg.print_report(report, Console(file=text, width=200))
    assert "in the model with this layer's output alone at 16 bits" in " ".join(text.getvalue().split())
