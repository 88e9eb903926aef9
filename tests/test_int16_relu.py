"""int16 RELU and RELU6 (TFLite's 16x8 mode, issue 20 item 1): standalone activations (after the input, after a
Reshape: nowhere to fuse them) in a Keras model converted with TF's 16x8 mode. Every tensor of tinygen's reference
equals TFLite Micro's; the generated C (tg_relu_s16 with requantization, tg_relu_clamp_s16) equals the reference on
the host (every compiler and sanitizer build, the DSP path emulated, both roundings) and in QEMU (Cortex-M7 DSP,
Cortex-M3 portable); an int16 RELU with a non-zero zero point is refused as TFLite Micro refuses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import opcheck
import pytest

from test_int16_models import _assert_matches_tflm, _int16_vectors
from test_int16_ops import _save
from tinygen import ir, reference
from tinygen.errors import TinygenError
from tinygen.frontend.tflite import import_tflite

tf = pytest.importorskip("tensorflow")

KINDS = ["relu6", "fully_connected", "relu", "fully_connected", "add", "fully_connected"]
KERNELS = ["tg_relu_clamp_s16", "tg_fully_connected_s16", "tg_relu_s16", "tg_fully_connected_s16", "tg_add_s16",
           "tg_fully_connected_s16"]


@pytest.fixture(scope="module")
def relu_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ReLU and ReLU6 both on the input [24] (TF's converter fuses them into any op before them): ReLU with its
    own output scale (requantized), ReLU6 in the input's quantization (TFLite's RELU6: a clamp); a Dense(12) on
    each, their sum, Dense(5)."""
    tf.keras.utils.set_random_seed(3)
    inp = tf.keras.Input((24,))
    y = tf.keras.layers.Dense(12)(tf.keras.layers.ReLU()(inp))
    z = tf.keras.layers.Dense(12)(tf.keras.layers.ReLU(max_value=6.0)(inp))
    out = tf.keras.layers.Dense(5)(tf.keras.layers.Add()([y, z]))
    return _save(tmp_path_factory, "relu16", tf.keras.Model(inp, out), (24,))


def _vectors(g: ir.Graph, count: int, seed: int) -> np.ndarray:
    shape = g.tensor(g.inputs[0]).shape
    return _int16_vectors(count, int(np.prod(shape)), seed).reshape(count, *shape)


def test_reference_matches_tflm(relu_model: Path) -> None:
    data = relu_model.read_bytes()
    g = import_tflite(data, name="relu16")
    assert [op.kind for op in g.ops] == KINDS
    assert {g.tensor(n).dtype for op in g.ops if op.kind.startswith("relu") for n in (*op.inputs, *op.outputs)} == {"int16"}
    _assert_matches_tflm(data, g, _vectors(g, 12, seed=1))


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_c_matches_reference(relu_model: Path, rounding: str, tmp_path: Path) -> None:
    g = import_tflite(relu_model.read_bytes(), name="relu16")
    manifest = opcheck.check_c(g, tmp_path, _vectors(g, 6, seed=2).reshape(6, -1), rounding, dsp_emulate=True)
    assert [layer["kernel"] for layer in manifest["layers"]] == KERNELS


@pytest.mark.parametrize("board", ["mps2_an385", "mps2_an500"])
def test_in_qemu(relu_model: Path, board: str, tmp_path: Path) -> None:
    g = import_tflite(relu_model.read_bytes(), name="relu16")
    report = opcheck.check_qemu(relu_model, board, tmp_path, _vectors(g, 3, seed=5).view(np.int8), kernels=KERNELS)
    assert f"all {6 * g.tensor(g.outputs[0]).size * 2} values equal" in report


def test_int16_relu_with_a_zero_point_is_refused() -> None:
    q = ir.Quantization
    g = ir.Graph("relu16zp")
    g.add_tensor(ir.Tensor("x", (1, 8), "int16", q(np.float32(0.01), 3)))
    g.add_tensor(ir.Tensor("y", (1, 8), "int16", q(np.float32(0.01), 0)))
    g.add_op(ir.Op("relu", "act", ["x"], ["y"], {}))
    g.inputs, g.outputs = ["x"], ["y"]
    with pytest.raises(TinygenError, match=r"relu op 'act': int16 tensor 'x' has zero point 3; TFLite's int16 RELU "
                                           r"needs zero point 0"):
        reference.Executor(g)
