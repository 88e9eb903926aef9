"""The Helium kernels' assembly paths on the real instruction set: QEMU mps3-an547 (Cortex-M55).

Host tests (tests/test_mve.py) run the C stand-ins of the MVE kernels; the two-column GEMM loop is inline
assembly on the target only (optimized builds), so these runs check it bit for bit against tinygen's
reference and TFLite Micro: MLPerf Tiny and person detection models whose layers reach both assembly
branches (an odd step first or not: 1, 2, 3, 4, 8, 9, 16, 18 and 36 steps of 16), an odd last output pixel,
gathered windows (one input channel: 3x3 and 10x4 kernels, 27 values of a 3-channel 3x3 window),
depthwise and fully connected layers; and one model with single rounding.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import opcheck

BOARD = "mps3_an547"
MODELS = ("person_detect", "mlperf_kws_dscnn_int8", "mlperf_ic_resnet8_int8")


def _uses_mve_conv(manifest: dict[str, Any]) -> None:
    kernels = {layer["kernel"] for layer in manifest["layers"]}
    assert "tg_conv_mve_s8" in kernels, kernels


def _model(shared_models: Path, stem: str) -> Path:
    path = shared_models / f"{stem}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.mark.parametrize("stem", MODELS)
def test_mve_model_is_bit_exact_on_mps3_an547(stem: str, shared_models: Path, tmp_path: Path) -> None:
    opcheck.check_qemu(_model(shared_models, stem), BOARD, tmp_path, layout=_uses_mve_conv)


def test_mve_single_rounding_is_bit_exact_on_mps3_an547(shared_models: Path, tmp_path: Path) -> None:
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    from test_emulator_models import cached_build

    from tinygen.commands.test import make_vectors, prepare, run_test

    prep = prepare(_model(shared_models, "mlperf_kws_dscnn_int8"), BOARD, tmp_path, rounding="single")
    _uses_mve_conv(prep.manifest)
    outcome = run_test(prep, make_vectors(prep, 3), timeout=300, builder=cached_build)
    report = "\n".join(outcome.lines)
    assert outcome.ok and "ok    tinygen reference" in report, report
