"""What ``tinygen validate`` checks (the C bit-exact with the reference, and each threshold given on the command
line), as JUnit cases and failure messages; and the files it writes (``--json``, ``--save-outputs``), each
written to a temporary file and renamed, so a failed run leaves no half-written file."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygen.errors import TinygenError

SAVE_OUTPUTS_HELP = (
    "Write the samples' inputs and outputs to this .npz: inputs_int8 (the int8 input of each sample, "
    "N x input shape), outputs_int8 (the int8 outputs; int32 for an index output), outputs_dequantized, "
    "outputs_float (when there is a float model), labels (with --labels); a model's input/output K > 0 "
    "gets the suffix _K (inputs_int8_1, outputs_int8_1...)."
)


@dataclass(frozen=True)
class Threshold:
    option: str
    #: the figure's name in messages and JUnit case names
    what: str
    #: the figure checked, from the result dict (None: not measured)
    figure: Callable[[dict[str, Any]], float | None]
    minimum: bool
    #: how to print the figure and the threshold
    fmt: Callable[[float], str]

    def case(self, value: float) -> str:
        return f"{self.what} {'>=' if self.minimum else '<='} {self.fmt(value)}"

    def failure(self, figure: float, value: float) -> str | None:
        if (figure >= value) if self.minimum else (figure <= value):
            return None
        return f"{self.what} {self.fmt(figure)} is {'below' if self.minimum else 'above'} {self.option} {self.fmt(value)}"


def _errors(key: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda result: result["errors"][key] if "errors" in result else None


def _pct(value: float) -> str:
    return f"{value:.2%}"


THRESHOLDS = {
    "min_accuracy": Threshold("--min-accuracy", "int8 top-1 accuracy",
                              lambda r: r["accuracy"]["int8"] if "accuracy" in r else None, True, _pct),
    "max_rmse": Threshold("--max-rmse", "RMSE", _errors("rmse"), False, lambda v: f"{v:.4g}"),
    "min_snr": Threshold("--min-snr", "SNR (dB)", _errors("snr_db"), True, lambda v: f"{v:.3g}"),
    "min_cosine": Threshold("--min-cosine", "cosine similarity", _errors("cosine"), True, lambda v: f"{v:.6g}"),
    "min_agreement": Threshold("--min-agreement", "float/int8 top-1 agreement", lambda r: r.get("top1_agreement"),
                               True, _pct),
}


def check_requirements(given: dict[str, float | None], labels: bool, float_side: bool, expected: bool) -> None:
    """Fail before running when a threshold cannot be measured with the options given."""
    for key, value in given.items():
        if value is None:
            continue
        option = THRESHOLDS[key].option
        if key == "min_accuracy" and not labels:
            raise TinygenError(f"{option} needs --labels")
        if key == "min_agreement" and not float_side:
            raise TinygenError(f"{option} needs a float model: a Keras MODEL, or --float-model for a .tflite")
        if key in ("max_rmse", "min_snr", "min_cosine") and not (float_side or expected):
            raise TinygenError(f"{option} needs float outputs to compare with: --expected Y.npy, or a Keras MODEL "
                               "(--float-model for a .tflite)")


def run_checks(result: dict[str, Any], given: dict[str, float | None]) -> Any:
    """The checks as a tinygen.junit.Suite: the C bit-exact with the reference, then each threshold given."""
    from tinygen.junit import Suite

    suite = Suite(f"tinygen validate {result['name']}")
    c = result["c_bit_exact"]
    from tinygen.validation.lines import where_c_ran

    where = where_c_ran(result["run"])
    failure = None
    if c["mismatched"]:
        shown = ", ".join(map(str, c["mismatched"][:10])) + (" ..." if len(c["mismatched"]) > 10 else "")
        failure = (f"the generated C ({where}) differs from tinygen's reference on {len(c['mismatched'])} sample(s): "
                   f"sample {shown} (0-based)")
        if c["first_differing_layer"]:
            failure += f"; {c['first_differing_layer']['text']}"
    suite.add("C bit-exact with the reference", failure,
              output=f"{c['bit_exact']} of {c['samples']} samples bit-exact {where}")
    for key, value in given.items():
        if value is None:
            continue
        t = THRESHOLDS[key]
        figure = t.figure(result)
        if figure is None:
            suite.add(t.case(value), f"{t.option}: {t.what} was not measured")
        else:
            suite.add(t.case(value), t.failure(figure, value), output=f"{t.what}: {t.fmt(figure)}")
    return suite


def jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def write_json(path: str, result: dict[str, Any]) -> None:
    from tinygen.filewrite import write_file_atomically

    write_file_atomically(path, (json.dumps(jsonable(result), indent=2) + "\n").encode(), force=True)


def save_outputs(path: str, arrays: dict[str, np.ndarray]) -> None:
    from tinygen.filewrite import write_file_atomically

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_file_atomically(path, buffer.getvalue(), force=True)
