"""The depthwise kernels changed for issue 17 (no slow layers) bit-exact in QEMU on real models: the general kernel
tg_depthwise_s8 (depth multiplier 2), the 1-D kernel tg_depthwise_1d_s8 (3, 5 and 9 taps, both requantization
forms per channel), the pair
path's SIGNED_SAT line functions (no activation, zero point above -128) and the 3x3 kernels' fast requantization
with single rounding. Against tinygen's reference and TFLite Micro (double rounding; with single rounding against
the reference alone, TFLite Micro has no such mode) on the Cortex-M3 (portable C), M4 and M7 (DSP) and M55
(its DSP path runs tg_depthwise_s8 where the Helium kernels decline: multiplier > 1)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import opcheck

BOARDS = (*opcheck.QEMU_BOARDS, "mps2_an386", "mps3_an547")
#: model -> what it covers (the kernels it must use are checked below)
MODELS = {
    "tinymaix_mnist_dw_q": "tg_depthwise_s8, depth multiplier 2",
    "ambiq_heartkit_arrhythmia": "tg_depthwise_1d_s8, 1x5 and 1x3 kernels",
    "mltk_kws_alexa": "tg_depthwise_1d_s8, 9x1 kernels, general and fast requantization",
    "openmv_blazeface_front_128": "tg_depthwise_3x3_s8's pair path, DWVP_*_SIGNED_SAT",
}


def _model(shared_models: Path, name: str) -> Path:
    path = shared_models / "real" / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_depthwise_models_bit_exact_in_qemu(name: str, board: str, shared_models: Path, tmp_path: Path) -> None:
    def layout(manifest: dict) -> None:
        kernels = {layer["kernel"] for layer in manifest["layers"] if layer["op"] == "depthwise_conv2d"}
        assert kernels & {"tg_depthwise_s8", "tg_depthwise_1d_s8", "tg_depthwise_3x3_s8", "tg_depthwise_mve_s8"}, kernels
        if name == "openmv_blazeface_front_128" and board != "mps3_an547":  # (the M55 runs its Helium kernel)
            assert "DWVP_TWO_SIGNED_SAT" in manifest["variants"]

    opcheck.check_qemu(_model(shared_models, name), board, tmp_path, layout=layout)


@pytest.mark.parametrize("board", ("mps2_an385", "mps2_an500"))
@pytest.mark.parametrize("name", ["tinymaix_vww96_q", "tinymaix_mnist_dw_q"])
def test_single_rounding_bit_exact_in_qemu(name: str, board: str, shared_models: Path, tmp_path: Path) -> None:
    """--rounding single: the 3x3 kernels take their fast requantization (SMMLA) and equal the reference."""
    from test_emulator_models import cached_build

    from tinygen.commands.test import make_vectors, prepare, run_test

    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm is not installed (scripts/setup.sh installs it)")
    prep = prepare(_model(shared_models, name), board, tmp_path, rounding="single")
    if name == "tinymaix_vww96_q":
        # every 3x3 call takes the fast requantization (no generic line copies), as with double rounding
        depthwise = [v for v in prep.manifest["variants"] if v.startswith(("DW3_S", "DWVP_"))]
        assert depthwise and not [v for v in depthwise if v.endswith(("_GENERIC", "_ANY"))], depthwise
    outcome = run_test(prep, make_vectors(prep, 3), timeout=300, builder=cached_build)
    report = "\n".join(outcome.lines)
    assert outcome.ok and "ok    tinygen reference" in report, report
