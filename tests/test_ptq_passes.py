"""The PTQ passes on the float graph: equalization (weight ranges, activation ranges) is an exact transformation
of the float model (its outputs unchanged up to float32 rounding), never rescales through a ReLU6, and the
``--ptq`` names parse or are refused by name."""

from __future__ import annotations

import copy
import re
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")
L = keras.layers

from tinygen.errors import TinygenError  # noqa: E402
from tinygen.quantize.equalize import equalize_weights, find_pairs  # noqa: E402
from tinygen.quantize.extract import keras_to_float_graph  # noqa: E402
from tinygen.quantize.floatexec import run_float  # noqa: E402
from tinygen.quantize.pipeline import Ptq, parse_ptq  # noqa: E402
from tinygen.quantize.smooth import equalize_activations  # noqa: E402

#: float32 rounding of a few chained layers: each rescaled weight is one float32 rounding away
FLOAT32_RTOL = 1e-5


def _model() -> Any:
    """Every kind of pair: conv -> conv (ReLU), conv -> pool -> depthwise (multiplier 2), depthwise -> conv,
    conv -> Flatten -> Dense, Dense -> Dense, and one pair through ReLU6 (which must stay as it is). BatchNorm
    statistics are random, so channel ranges differ by up to ~100x."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((10, 10, 3), batch_size=1)
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, padding="same")(inputs)))
    x = L.Conv2D(12, 3, padding="same", activation="relu")(x)
    x = L.MaxPooling2D(2)(x)
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu")(x)
    x = L.Conv2D(8, 1, activation="relu6", name="relu6_first")(x)
    x = L.Conv2D(6, 3, name="after_relu6", activation="relu")(x)
    x = L.Dense(16, activation="relu")(L.Flatten()(x))
    model = keras.Model(inputs, L.Dense(5)(x))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            scale = np.exp(rng.uniform(-2.5, 2.5, gamma.shape)).astype(np.float32)
            layer.set_weights([gamma * scale, rng.normal(0, 1, beta.shape).astype(np.float32), mean, var])
    return model


def _data(n: int = 48) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, 10, 10, 3)).astype(np.float32)


def _assert_same_function(before: Any, after: Any, x: np.ndarray) -> None:
    want = run_float(before, x)[before.outputs[0]]
    got = run_float(after, x)[after.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=FLOAT32_RTOL, atol=FLOAT32_RTOL * float(np.abs(want).max()))


def _weights(graph: Any) -> dict[str, np.ndarray]:
    return {n: t.data.copy() for n, t in graph.tensors.items() if t.is_const}


@pytest.mark.parametrize("equalize", ["cle", "smooth"])
def test_equalization_is_an_exact_transformation(equalize: str) -> None:
    fgraph = keras_to_float_graph(_model())
    x = _data()
    work = copy.deepcopy(fgraph)
    pairs = equalize_weights(work) if equalize == "cle" else equalize_activations(work, x)
    assert pairs == 5, [(p.first.name, p.second.name) for p in find_pairs(work)]
    before, after = _weights(fgraph), _weights(work)
    changed = {n for n in before if not np.array_equal(before[n], after[n])}
    # the pass did something: every pair's second weights were rescaled
    assert {p.second.inputs[1] for p in find_pairs(work)} <= changed
    # nothing crosses the ReLU6: no pair starts at it, so the op after it reads its output unscaled
    relu6 = next(op for op in work.ops if op.activation == "relu6")
    assert relu6.name not in {p.first.name for p in find_pairs(work)}
    assert relu6.name in {p.second.name for p in find_pairs(work)}
    _assert_same_function(fgraph, work, x)


def test_equalization_evens_out_the_channel_ranges() -> None:
    """What the passes are for: the widest over the narrowest channel range of the BatchNorm'd tensor shrinks."""
    from tinygen.quantize.smooth import channel_ranges

    fgraph = keras_to_float_graph(_model())
    x = _data()
    tensor = find_pairs(fgraph)[0].path[0]
    spread = {}
    for name, equalize in (("none", None), ("cle", equalize_weights),
                           ("smooth", lambda g: equalize_activations(g, x))):
        work = copy.deepcopy(fgraph)
        if equalize is not None:
            equalize(work)
        r = channel_ranges(work, x, [tensor])[tensor]
        spread[name] = float(r.max() / r[r > 0].min())
    print(spread)
    assert spread["cle"] < spread["none"] / 4 and spread["smooth"] < spread["none"] / 4


def test_ptq_names_parse() -> None:
    assert parse_ptq("auto") is None
    assert parse_ptq("plain") == Ptq()
    assert parse_ptq("plain", "mse") == Ptq(observer="mse")
    assert parse_ptq("cle+bc+mse") == Ptq("cle", True, "mse")
    assert parse_ptq("smooth") == Ptq("smooth")
    assert Ptq("cle", True, "percentile").name == "cle+bc+percentile" and Ptq().name == "plain"


@pytest.mark.parametrize("spec, bad", [("cle+smooth", "smooth"), ("bc+bc", "bc"), ("kl", "kl"), ("mse+minmax", "minmax")])
def test_bad_ptq_names_are_refused(spec: str, bad: str) -> None:
    with pytest.raises(TinygenError, match=re.escape(f"--ptq '{spec}': '{bad}' is unknown or repeated (at most one")):
        parse_ptq(spec)


def test_percentile_is_no_candidate_where_it_clips_a_wide_channel() -> None:
    """A tensor with one channel 20x wider than the others: percentile's clipped tail is that channel's signal."""
    from tinygen.quantize.ptq_select import percentile_clips_channels

    inputs = keras.Input((16,), batch_size=1)
    hidden, head = L.Dense(16, activation="relu"), L.Dense(4)
    model = keras.Model(inputs, head(hidden(inputs)))
    # fixed weights, not Keras's random initialisation: the hidden channels are relu(x), alike unless x's are not
    hidden.set_weights([np.eye(16, dtype=np.float32), np.zeros(16, np.float32)])
    head.set_weights([np.random.default_rng(3).standard_normal((16, 4)).astype(np.float32), np.zeros(4, np.float32)])
    fgraph = keras_to_float_graph(model)
    x = np.random.default_rng(2).standard_normal((4000, 16)).astype(np.float32)
    assert percentile_clips_channels(fgraph, x) is None
    x[:, 3] *= 20.0
    assert "percentile not tried: it would clip" in (percentile_clips_channels(fgraph, x) or "")


def test_api_takes_the_pipeline() -> None:
    import tinygen.api as tg

    model, x = _model(), _data()
    plain, cle = tg.quantize(model, x, ptq="plain"), tg.quantize(model, x, ptq="cle")
    first = plain.ops[0].inputs[1]
    assert not np.array_equal(plain.tensors[first].quant.scale, cle.tensors[first].quant.scale)
    with pytest.raises(TinygenError, match="ptq='cle' applies to tinygen's quantizer only"):
        tg.quantize(model, x, quantizer="tflite", ptq="cle")
