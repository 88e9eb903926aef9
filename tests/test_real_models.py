"""The real third-party models of ../shared/models/real (vendor SDKs, model zoos, open-source projects), as a
user runs them: `tinygen test --board mps2_an500` must pass (bit-exact with tinygen's reference and with
TFLite Micro) for every model tinygen accepts, and every other model must be refused with one clean error that
names what blocks it. The table below is the state of support; a model that starts to convert fails its
refusal test until it moves to ACCEPTED (so progress is recorded, never hidden).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED_MODELS
from tinygen.cli import main

REAL = SHARED_MODELS / "real"

#: accepted and bit-exact on the Cortex-M7 stand-in
ACCEPTED = (
    "ambiq_har_conv1d",
    "ambiq_heartkit_arrhythmia",
    "arduino_magic_wand",
    "arm_micronet_cifar10",
    "coral_keras_lstm_mnist_uint8",  # uint8 input and output, UNIDIRECTIONAL_SEQUENCE_LSTM (its state carried)
    "mcunet_detection",  # 3 outputs, float32 input and outputs
    "mcunet_vww",
    "mltk_autoencoder_example",
    "mltk_kws_alexa",
    "mltk_kws_mobilenetv2",
    "mww_okay_nabu_v2",  # resource variables (state kept between the test's consecutive invocations), SPLIT_V
    "openmv_blazeface_front_128",  # 4 outputs, float32 input and outputs
    "openmv_fomo_face_detection",
    "openmv_movenet_singlepose_192",  # uint8 input, float32 output, RESIZE_BILINEAR
    "openmv_yolo_lc_192",  # uint8 input, float32 output
    "tinymaix_mnist_dw_q",
    "tinymaix_vww96_q",
)

#: refused, with a word of the (first) blocker the error names
REFUSED = {
    # uint8 quantization throughout (TF1's): TFLite Micro refuses it too (its CONV_2D fails to prepare)
    "coral_mobilenet_v1_0.25_128_uint8": "uint8",
}


@pytest.fixture(scope="module")
def real_models() -> Path:
    if not REAL.is_dir():
        pytest.skip(f"real-model folder {REAL} is absent (set TINYGEN_SHARED_MODELS)")
    return REAL


def test_every_real_model_is_in_the_table(real_models: Path) -> None:
    assert {p.stem for p in real_models.glob("*.tflite")} == set(ACCEPTED) | set(REFUSED)


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_model_is_bit_exact_in_qemu(name: str, real_models: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["test", str(real_models / f"{name}.tflite"), "--board", "mps2_an500", "-n", "3",
                 "--work-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS: every output is bit-exact" in out
    assert "TFLite Micro: all" in out and "tinygen reference: all" in out


#: the Keras models (with their calibration data), through both quantizers
KERAS = ("keras_ambiq_har_conv1d", "keras_mltk_kws_on_off")


def test_every_keras_model_is_in_the_table(real_models: Path) -> None:
    assert {p.stem for p in real_models.glob("*.h5")} == set(KERAS)


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("quantizer", ["tinygen", "tflite"])
@pytest.mark.parametrize("name", KERAS)
def test_keras_model_is_bit_exact_in_qemu(name: str, quantizer: str, real_models: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["test", str(real_models / f"{name}.h5"), "--calibration", str(real_models / f"{name}_calib.npy"),
                 "--quantizer", quantizer, "--board", "mps2_an500", "-n", "3", "--work-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS: every output is bit-exact" in out


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_model_names_its_blocker(name: str, real_models: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lib"
    assert main(["convert", str(real_models / f"{name}.tflite"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and REFUSED[name] in err, err
    assert not out.exists()
