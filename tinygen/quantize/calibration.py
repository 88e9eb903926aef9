"""Calibration data: load it (.npy, .npz, an array, an iterable of batches, or "random"), check it
against the model input, and return one float32 array of N samples shaped (N, *input_shape[1:])."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from tinygen.errors import TinygenError

#: Samples drawn for ``calibration="random"``.
RANDOM_SAMPLES = 64
RANDOM_SEED = 0

HOW_TO = (
    "pass calibration data: --calibration data.npy (or .npz) holding N representative inputs shaped "
    "(N, {shape}) as float32, or calibration=<array or iterable of batches> in the Python API; "
    "--calibration random works but accuracy will suffer"
)


def _how_to(input_shape: tuple[int, ...]) -> str:
    return HOW_TO.format(shape=", ".join(str(d) for d in input_shape[1:]))


def _load_file(path: Path, input_shape: tuple[int, ...]) -> np.ndarray:
    if not path.is_file():
        raise TinygenError(f"calibration file {path}: no such file; {_how_to(input_shape)}")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise TinygenError(f"calibration file {path} is not a .npy/.npz array file ({exc}); {_how_to(input_shape)}")
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            keys = list(data.keys())
            if len(keys) != 1:
                raise TinygenError(
                    f"calibration file {path} holds {len(keys)} arrays ({', '.join(keys) or 'none'}); "
                    "give an .npz with exactly one array, or a .npy"
                )
            return np.asarray(data[keys[0]])
    return np.asarray(data)


def _random(input_shape: tuple[int, ...], warn: bool) -> np.ndarray:
    if warn:
        print(
            f"warning: calibrating with {RANDOM_SAMPLES} random inputs: activation ranges will not match real data "
            "and int8 accuracy will suffer; pass representative inputs with --calibration data.npy",
            file=sys.stderr,
        )
    rng = np.random.default_rng(RANDOM_SEED)
    return rng.standard_normal((RANDOM_SAMPLES, *input_shape[1:])).astype(np.float32)


def _batches(data: Iterable[Any]) -> list[np.ndarray]:
    batches: list[np.ndarray] = []
    for item in data:
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, (list, tuple)):
            if len(item) != 1:
                raise TinygenError(
                    f"calibration batch holds {len(item)} arrays; tinygen models have one input, give one array per batch"
                )
            item = item[0]
        batches.append(np.asarray(item))
    return batches


def _check(array: np.ndarray, input_shape: tuple[int, ...], what: str) -> np.ndarray:
    """Accept (N, *input_shape[1:]) or (N, *input_shape) (a list of batch-1 samples)."""
    if array.dtype.kind not in "f":
        raise TinygenError(
            f"{what} has dtype {array.dtype} but the model input is float32 with shape {input_shape}; "
            "give the inputs exactly as the float model expects them (after any scaling/normalisation), as float32"
        )
    if array.ndim == len(input_shape) + 1 and array.shape[1:] == input_shape:
        array = array.reshape(-1, *input_shape[1:])
    elif array.shape == input_shape[1:]:  # one sample without its batch dimension
        array = array[None]
    if array.ndim != len(input_shape) or array.shape[1:] != input_shape[1:]:
        expected = "(N, " + ", ".join(str(d) for d in input_shape[1:]) + ")"
        raise TinygenError(
            f"{what} has shape {array.shape} but the model input has shape {input_shape}; "
            f"give N samples shaped {expected}"
        )
    if array.shape[0] == 0:
        raise TinygenError(f"{what} is empty (0 samples); {_how_to(input_shape)}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise TinygenError(f"{what} contains NaN or infinite values; give finite inputs")
    return array


def load_calibration(data: Any, input_shape: tuple[int, ...], warn_random: bool = True) -> np.ndarray:
    """Calibration samples as float32 (N, *input_shape[1:]); raises TinygenError naming the problem."""
    input_shape = tuple(int(d) for d in input_shape)
    if data is None:
        raise TinygenError(f"a Keras model needs calibration data to be quantized to int8; {_how_to(input_shape)}")
    if isinstance(data, str) and data == "random":
        return _random(input_shape, warn_random)
    if isinstance(data, (str, Path)):
        path = Path(data)
        return _check(_load_file(path, input_shape), input_shape, f"calibration data {path}")
    if isinstance(data, np.ndarray) or hasattr(data, "__array__") and not hasattr(data, "__next__"):
        return _check(np.asarray(data), input_shape, "calibration data")
    if isinstance(data, Iterable):
        batches = _batches(data)
        if not batches:
            raise TinygenError(f"calibration data is empty (no batches); {_how_to(input_shape)}")
        checked = [_check(b, input_shape, f"calibration batch {i}") for i, b in enumerate(batches)]
        return np.concatenate(checked, axis=0)
    raise TinygenError(
        f"calibration data of type {type(data).__name__} is not understood; {_how_to(input_shape)}"
    )
