"""tinygen's numpy reference equals TFLite Micro bit for bit, on every tensor, for every model.

For each corpus model and each real model of ../shared/models (except the two error-path ones):
random int8 inputs (plus the extremes and the zero point), then every activation tensor TFLite Micro
exposes — intermediates and outputs — must equal the reference executor's tensor of the same IR name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from corpus import CORPUS_NAMES, corpus_model

from tinygen import reference
from tinygen.frontend.tflite import import_tflite
from tinygen.ir import Graph
from tinygen.oracle import tflm_run

REAL_MODELS = (
    "mlperf_kws_dscnn_int8",
    "mlperf_ic_resnet8_int8",
    "mlperf_ad01_int8",
    "person_detect",
    "micro_speech_quantized",
    "hello_world_int8",
)
RANDOM_INPUTS = 20


def _inputs(graph: Graph, seed: int) -> list[np.ndarray]:
    """RANDOM_INPUTS random inputs, then all -128, all 127 and all the zero point (real 0.0)."""
    tensor = graph.tensors[graph.inputs[0]]
    rng = np.random.default_rng(seed)
    if tensor.dtype == "float32":
        # A float input feeds a QUANTIZE: cover its int8 range and a little beyond (saturation).
        quantize = graph.consumers(tensor.name)[0]
        q = graph.tensors[quantize.outputs[0]].quant
        assert q is not None
        scale, zero_point = q.scalar()
        lo, hi = scale * (-128 - zero_point), scale * (127 - zero_point)
        span = hi - lo
        samples = [rng.uniform(lo - 0.1 * span, hi + 0.1 * span, tensor.shape).astype(np.float32) for _ in range(RANDOM_INPUTS)]
        return samples + [np.full(tensor.shape, v, np.float32) for v in (lo, hi, 0.0)]
    assert tensor.dtype == "int8" and tensor.quant is not None
    samples = [rng.integers(-128, 128, tensor.shape, dtype=np.int8) for _ in range(RANDOM_INPUTS)]
    zero_point = int(tensor.quant.zero_point[0])
    return samples + [np.full(tensor.shape, v, np.int8) for v in (-128, 127, zero_point)]


def _compare(graph: Graph, data: bytes, x: np.ndarray, label: str) -> dict[str, np.ndarray]:
    ours = reference.run(graph, [x])
    oracle = tflm_run(data, [x])
    assert set(oracle) == {t.name for t in graph.activation_tensors()}, f"{label}: tensor sets differ"
    # Walk in execution order so the first mismatch named is the op that introduced it.
    for index, op in enumerate(graph.ops):
        name = op.outputs[0]
        want, got = oracle[name], ours[name]
        if got.dtype != want.dtype or got.shape != want.shape or not np.array_equal(got, want):
            diff = np.argwhere(got.reshape(want.shape).astype(np.int64) != want.astype(np.int64)) if got.size == want.size else []
            where = tuple(int(i) for i in diff[0]) if len(diff) else ()
            raise AssertionError(
                f"{label}: op {index} ({op.kind}, attrs {op.attrs}) output {name!r}: reference {got.dtype}{got.shape} "
                f"vs TFLite Micro {want.dtype}{want.shape}; {len(diff)} elements differ, first at {where}: "
                f"reference {got.reshape(want.shape)[where] if len(diff) else '-'} vs TFLM {want[where] if len(diff) else '-'}"
            )
    return oracle


def _check_model(data: bytes, label: str, seed: int) -> None:
    graph = import_tflite(data, name=label)
    distinct: set[bytes] = set()
    for x in _inputs(graph, seed):
        oracle = _compare(graph, data, x, label)
        distinct.add(b"".join(oracle[op.outputs[0]].tobytes() for op in graph.ops))
    # The comparison means something only if the tensors depend on the input.
    assert len(distinct) > 1, f"{label}: every input gave the same tensors"


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_corpus_model_matches_tflm(name: str) -> None:
    _check_model(corpus_model(name), name, seed=CORPUS_NAMES.index(name))


@pytest.mark.parametrize("name", REAL_MODELS)
def test_real_model_matches_tflm(shared_models: Path, name: str) -> None:
    _check_model((shared_models / f"{name}.tflite").read_bytes(), name, seed=100 + REAL_MODELS.index(name))


def test_real_kws_input(shared_models: Path) -> None:
    data = (shared_models / "mlperf_kws_dscnn_int8.tflite").read_bytes()
    graph = import_tflite(data)
    samples = np.load(shared_models / "mlperf_kws_inputs_int8.npy")
    assert samples.dtype == np.int8 and samples.shape == (1, 1, 49, 10, 1)
    for sample in samples:
        oracle = _compare(graph, data, sample, "mlperf_kws_dscnn_int8 (real input)")
        assert oracle[graph.outputs[0]].max() > -128  # a real utterance gives a non-degenerate softmax


def test_real_ic_input(shared_models: Path) -> None:
    data = (shared_models / "mlperf_ic_resnet8_int8.tflite").read_bytes()
    graph = import_tflite(data)
    samples = np.load(shared_models / "mlperf_ic_inputs_uint8.npy")
    assert samples.dtype == np.uint8 and samples.shape == (1, 1, 32, 32, 3)
    for sample in samples:
        x = (sample.astype(np.int16) - 128).astype(np.int8)  # the model's input is value - 128
        oracle = _compare(graph, data, x, "mlperf_ic_resnet8_int8 (real input)")
        assert oracle[graph.outputs[0]].max() > -128


def test_oracle_output_is_tflm_output() -> None:
    """tflm_run's output tensor is the interpreter's own output, and repeated runs agree."""
    from tflite_micro.python.tflite_micro import runtime

    data = corpus_model("dense_softmax")
    graph = import_tflite(data)
    x = np.random.default_rng(5).integers(-128, 128, graph.tensors[graph.inputs[0]].shape, dtype=np.int8)
    interpreter = runtime.Interpreter.from_bytes(data)
    interpreter.set_input(x, 0)
    interpreter.invoke()
    first = tflm_run(data, [x])
    assert np.array_equal(first[graph.outputs[0]], interpreter.get_output(0))
    assert np.array_equal(tflm_run(data, {graph.inputs[0]: x})[graph.outputs[0]], first[graph.outputs[0]])
    assert np.array_equal(first[graph.inputs[0]], x)
