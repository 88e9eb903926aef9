"""``tinygen.toml``: a project file naming the model, its calibration data and the default board,
so ``tinygen build`` (and ``flash``) work without arguments in a project folder.

```toml
[model]
path = "kws.keras"            # relative to the folder of tinygen.toml
calibration = "calib.npy"     # Keras models only
observer = "minmax"
quantizer = "tinygen"
rounding = "double"

[build]
board = "nucleo_f746"
out = "out/kws-nucleo_f746"   # optional
```
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from tinygen.errors import TinygenError

FILENAME = "tinygen.toml"
_MODEL_KEYS = {"path", "calibration", "observer", "quantizer", "rounding"}
_BUILD_KEYS = {"board", "out"}


@dataclass(frozen=True)
class ProjectFile:
    path: Path
    model: Path
    calibration: str | None = None
    observer: str = "minmax"
    quantizer: str = "tinygen"
    rounding: str = "double"
    board: str | None = None
    out: Path | None = None


def find(start: str | Path = ".") -> Path | None:
    """``tinygen.toml`` in ``start`` (the current folder by default), or None."""
    path = Path(start) / FILENAME
    return path if path.is_file() else None


def load(path: str | Path) -> ProjectFile:
    path = Path(path)
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser, as a package (a dependency on Python 3.10)
        import tomli as tomllib

    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TinygenError(f"{path}: cannot read it ({exc}); fix the file or run 'tinygen init --force'") from exc
    model = data.get("model", {})
    build = data.get("build", {})
    if not isinstance(model, dict) or not isinstance(build, dict):
        raise TinygenError(f"{path}: [model] and [build] must be tables")
    unknown = sorted(set(model) - _MODEL_KEYS) + sorted(f"build.{k}" for k in set(build) - _BUILD_KEYS)
    if unknown:
        raise TinygenError(f"{path}: unknown keys {', '.join(unknown)}; allowed: model.{{{', '.join(sorted(_MODEL_KEYS))}}}, build.{{board, out}}")
    if "path" not in model:
        raise TinygenError(f"{path}: [model] has no 'path'; name the model file, e.g. path = \"model.tflite\"")
    base = path.resolve().parent

    def rel(value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else base / p

    calibration = model.get("calibration")
    if calibration is not None and calibration != "random":
        calibration = str(rel(calibration))
    return ProjectFile(
        path=path,
        model=rel(model["path"]),
        calibration=calibration,
        observer=model.get("observer", "minmax"),
        quantizer=model.get("quantizer", "tinygen"),
        rounding=model.get("rounding", "double"),
        board=build.get("board"),
        out=rel(build["out"]) if "out" in build else None,
    )


def render(
    model: str,
    board: str,
    calibration: str | None = None,
    observer: str = "minmax",
    quantizer: str = "tinygen",
    rounding: str = "double",
) -> str:
    """The text of a ``tinygen.toml`` (values are JSON strings, which are valid TOML strings)."""
    lines = ["# tinygen project: `tinygen build` and `tinygen flash` read this file", "", "[model]"]
    lines.append(f"path = {json.dumps(model)}")
    if calibration is not None:
        lines.append(f"calibration = {json.dumps(calibration)}")
    lines += [
        f"observer = {json.dumps(observer)}",
        f"quantizer = {json.dumps(quantizer)}",
        f"rounding = {json.dumps(rounding)}",
        "",
        "[build]",
        f"board = {json.dumps(board)}",
    ]
    return "\n".join(lines) + "\n"
