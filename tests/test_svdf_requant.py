"""tg_svdf_s8's requantizations take tg_requant_fast.h's form (one SMLAL and a shift) where the right shift allows it,
TFLite's general arithmetic elsewhere: the parameter block says which per requantization (tinygen/ops/svdf.py,
quant_words), and both forms give the reference's bytes."""

from __future__ import annotations

from pathlib import Path

import opcheck
import pytest
from test_op_svdf import random_inputs, svdf_model

from tinygen.frontend.tflite import import_tflite
from tinygen.ops import svdf


@pytest.mark.parametrize(("shift", "offset", "words"), [
    (-2, 0, (1, 1)), (-22, 0, (1 << 20, 21)), (-5, -3, ((1 << 3) - 3 * (1 << 4), 4)),
    (-1, 0, (0, 0)), (-23, 0, (0, 0)), (0, 5, (0, 0)), (3, 0, (0, 0)),
])
def test_fast_words_only_inside_the_fast_range(shift: int, offset: int, words: tuple[int, int]) -> None:
    assert svdf._fast_words(1 << 30, shift, offset) == words
    assert svdf._fast_words(-(1 << 30), shift, offset) == (0, 0)  # a negative multiplier: the general form


def _feature(model: bytes) -> tuple[float, int, tuple[int, ...]]:
    """The feature requantization's real multiplier and shift, and the layer's parameter block."""
    g = import_tflite(model)
    op = next(op for op in g.ops if op.kind == svdf.KIND)
    p = svdf.params(g, op, "double")
    m, shift = (int(v) for v in p.feature_mult)
    return m / 2**31 * 2.0**shift, shift, tuple(int(v) for v in svdf.quant_words(p))


def _model(state: str, state_scale: float) -> bytes:
    return svdf_model(2, 9, 6, 5, 3, seed=31, state=state, state_scale=state_scale)


#: the feature multiplier (input scale x weight scale / state scale) each case gives by its state scale: inside the
#: fast range (shift -5), in [0.25, 0.5) (shift -1) and above 1 (a left shift): both general
MULTIPLIERS = {"fast": 0.02, "right_1": 0.35, "left": 3.0}


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("state", ["int8", "int16"])
@pytest.mark.parametrize("form", list(MULTIPLIERS))
def test_both_forms_equal_reference(form: str, state: str, rounding: str, tmp_path: Path) -> None:
    """The feature requantization in the fast form and in the general one (right shift 1, a left shift), the output
    requantization alongside, int8 and int16 states, both roundings: == tinygen's reference, portable and DSP."""
    unit, _, _ = _feature(_model(state, 1.0))  # the state scale divides the multiplier
    model = _model(state, unit / MULTIPLIERS[form])
    _, shift, words = _feature(model)
    fast = words[svdf_q("FEATURE_FAST") + 1] != 0
    assert fast == (form == "fast") and (shift == -1) == (form == "right_1") and (shift > 0) == (form == "left")
    opcheck.check_c(import_tflite(model), tmp_path, random_inputs((2, 9), 4, seed=3), rounding=rounding,
                    dsp_emulate=True)


def svdf_q(name: str) -> int:
    """TG_SVDF_Q_<name> of tg_svdf_s8.h."""
    for line in (opcheck.KERNELS / "tg_svdf_s8.h").read_text().splitlines():
        if line.startswith(f"#define TG_SVDF_Q_{name} "):
            return int(line.split()[2])
    raise AssertionError(f"TG_SVDF_Q_{name} is not in tg_svdf_s8.h")


def test_parameter_block_matches_the_header() -> None:
    _, _, words = _feature(svdf_model(1, 8, 4, 3, 1, seed=5, state_scale=0.05))
    assert len(words) == svdf_q("WORDS")
