"""Every input that once broke tinygen (../shared/fuzz-crashers, found by fuzzing) now gets one clean error line
and a non-zero exit from `tinygen convert`, and leaves no output behind; a bad `-o` does the same.

The folder's README: each file must give a clean error, or, if accepted, C that is bit-exact with TFLite Micro
(the in-suite fuzz test covers accepted mutants). Every one of these is a model TFLite Micro cannot run as its
author meant it, and tinygen now refuses each one, naming the op, the tensor or attribute and the value.
Keras cases pair with a small model and calibration data of this test's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_MODELS
from tinygen.cli import main

CRASHERS = SHARED_MODELS.parent / "fuzz-crashers"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits"

#: what each refusal must name (a word of the problem), by file
EXPECTED = {
    "accepted_asan_fc_output_1gib": "shape",
    "accepted_asan_fc_rows_vs_output_shape": "shape",
    "accepted_asan_mean_output_shape": "shape",
    "accepted_c_does_not_compile_scale_1e-12": "scale",
    "accepted_differs_tflm_conv_options_missing": "stride",
    "accepted_differs_tflm_depth_multiplier_neg": "multiplier",
    "accepted_differs_tflm_dilation0": "dilation",
    "accepted_differs_tflm_is_variable": "variable",
    "accepted_differs_tflm_mean_axis5": "axis",
    "accepted_ubsan_bias_int32_min": "bias",
    "accepted_ubsan_dilation_int_max": "dilation",
    "accepted_ubsan_scale_3e38": "shift",
    "tb_int32_const_odd_bytes__ValueError_frontend_const": "bytes",
    "tb_softmax_beta_nan__ValueError_numerics_quantize_multiplier": "beta",
    "tb_stride0_same__ZeroDivisionError_ir_same_padding": "stride",
    "tb_stride0_valid__ZeroDivisionError_ir_conv_output_size": "stride",
}


def _crashers(suffix: str) -> list[Path]:
    return sorted(CRASHERS.glob(f"*{suffix}")) if CRASHERS.is_dir() else []


def _refused(argv: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; it must exit 1 with exactly one line on stderr starting 'error: ' and write nothing."""
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not out.exists() and not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    return err


@pytest.fixture(scope="module")
def crashers_folder() -> Path:
    if not CRASHERS.is_dir():
        pytest.skip(f"fuzz-crasher folder {CRASHERS} is absent (set TINYGEN_SHARED_MODELS)")
    return CRASHERS


def test_every_crasher_is_named_here(crashers_folder: Path) -> None:
    """A new .tflite crasher in the shared folder must get an expectation here (so none goes untested)."""
    assert {p.stem for p in _crashers(".tflite")} == set(EXPECTED)


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_tflite_crasher_is_refused_cleanly(stem: str, crashers_folder: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lib"
    err = _refused(["convert", str(crashers_folder / f"{stem}.tflite"), "-o", str(out)], out, capsys)
    assert EXPECTED[stem] in err.lower(), err


def _calibration(path: Path, shape: tuple[int, ...], magnitude: float = 1.0) -> Path:
    data = np.random.default_rng(0).normal(size=(8, *shape)).astype(np.float32) * np.float32(magnitude)
    np.save(path, data)
    return path


@pytest.mark.parametrize("name", ["accepted_keras_weights_nan", "tb_keras_weights_inf"])
def test_keras_model_with_broken_weights_is_refused(name: str, crashers_folder: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    model = crashers_folder / f"{name}.keras"
    calibration = _calibration(tmp_path / "calibration.npy", (20, 20, 2))
    out = tmp_path / "lib"
    err = _refused(["convert", str(model), "--calibration", str(calibration), "-o", str(out)], out, capsys)
    assert "layer '" in err and "NaN or infinite" in err


def test_calibration_that_overflows_float32_is_refused(crashers_folder: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import keras

    layers = keras.layers
    x = keras.Input((20, 20, 2), batch_size=1)
    y = layers.Conv2D(4, 3, dilation_rate=2, padding="same", activation="relu")(x)
    y = layers.DepthwiseConv2D(3, dilation_rate=2, padding="same")(y)
    y = layers.Dense(3)(layers.GlobalAveragePooling2D()(y))
    model = tmp_path / "dilated.keras"
    keras.Model(x, y).save(model)
    out = tmp_path / "lib"
    calibration = crashers_folder / "tb_calib_3e38_for_dilated.npy"
    err = _refused(["convert", str(model), "--calibration", str(calibration), "-o", str(out)], out, capsys)
    assert "non-finite" in err and "calibration" in err


@pytest.mark.parametrize("case", ["file_in_the_way", "parent_is_a_file", "name_too_long", "proc"])
def test_bad_output_folder_is_a_clean_error(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = EXAMPLE / "digits_cnn_int8.tflite"
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    out = {
        "file_in_the_way": blocker,
        "parent_is_a_file": blocker / "lib",
        "name_too_long": tmp_path / ("x" * 300),
        "proc": Path("/proc/self/tinygen-lib"),
    }[case]
    code = main(["convert", str(model), "-o", str(out)])
    err = capsys.readouterr().err
    if case == "file_in_the_way":  # refused by the command line's own option check (a usage error)
        assert code == 2 and "is a file" in err, err
    else:
        assert code == 1 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert blocker.read_text() == "not a folder"
