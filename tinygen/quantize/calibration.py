"""Calibration data: load it (.npy, .npz, an array, an iterable of batches, or "random"), check it
against the model input, and return one float32 array of N samples shaped (N, *input_shape[1:]).

A model with several inputs takes one array per input, all with the same N samples (sample i of every array
together is one model input): an ``.npz`` keyed by the model's input names (or ``arr_0``, ``arr_1``... in
input order, what ``np.savez(path, a, b)`` writes), a dict by input name, a list of arrays in input order, or
an iterable of batches that are such lists or dicts. :func:`load_calibration` given the inputs as a list of
``(name, shape)`` returns a list of arrays, one per input."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

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


def load_calibration(data: Any, input_shape: Any, warn_random: bool = True) -> Any:
    """Calibration samples as float32 (N, *input_shape[1:]); raises TinygenError naming the problem.

    ``input_shape`` may instead be the model's inputs as a list of ``(name, shape)``: then the result is a list
    of arrays, one per input, with the same N (see the module docstring)."""
    if is_input_specs(input_shape):
        return load_inputs(data, input_shape, warn_random)
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


# ---- several inputs -------------------------------------------------------------------------------

#: one model input: (name, shape with the batch dimension 1)
InputSpec = tuple[str, tuple[int, ...]]


def is_input_specs(value: Any) -> bool:
    """True for a list of (name, shape) pairs (the inputs of a model), False for one shape."""
    return (isinstance(value, (list, tuple)) and len(value) > 0
            and all(isinstance(v, (list, tuple)) and len(v) == 2 and isinstance(v[0], str) for v in value))


def describe_inputs(specs: Sequence[InputSpec]) -> str:
    return ", ".join(f"{name} {tuple(shape)}" for name, shape in specs)


def _how_to_several(specs: Sequence[InputSpec]) -> str:
    arrays = ", ".join(f"{name}=(N, {', '.join(str(d) for d in shape[1:])})" for name, shape in specs)
    return (
        f"pass calibration data: --calibration data.npz holding one float32 array per model input, keyed by the "
        f"input names ({arrays}; np.savez('data.npz', {', '.join(f'{n}=...' for n, _ in specs)})), or in the "
        "Python API a dict by input name or a list of arrays in input order; --calibration random works but "
        "accuracy will suffer"
    )


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or (hasattr(value, "__array__") and not isinstance(value, (list, tuple, dict)))


def _by_name(arrays: Mapping[str, Any], specs: Sequence[InputSpec], where: str) -> list[tuple[str, Any]]:
    """(key, array) per model input from arrays keyed by input name (or arr_0, arr_1... in input order)."""
    names = [name for name, _ in specs]
    keys = [str(k) for k in arrays]
    positional = [f"arr_{i}" for i in range(len(specs))]
    if set(names) <= set(keys):
        chosen = names
    elif sorted(keys) == sorted(positional) and not set(keys) & set(names):
        chosen = positional
    else:
        missing = [n for n in names if n not in keys]
        raise TinygenError(
            f"{where} has no array for model input(s) {', '.join(repr(n) for n in missing)} (it holds "
            f"{', '.join(repr(k) for k in keys) or 'nothing'}); the model's inputs are {describe_inputs(specs)}: "
            "give one array per input keyed by the input names (or arr_0, arr_1... in input order)"
        )
    extra = [k for k in keys if k not in chosen]
    if extra:
        raise TinygenError(
            f"{where} holds array(s) {', '.join(repr(k) for k in extra)} that match no model input; the model's "
            f"inputs are {describe_inputs(specs)}: give exactly one array per input"
        )
    return [(key, arrays[key]) for key in chosen]


def _check_all(pairs: list[tuple[str, Any]], specs: Sequence[InputSpec], where: str) -> list[np.ndarray]:
    checked = []
    for (key, array), (name, shape) in zip(pairs, specs):
        what = f"{where} array {key!r}" + ("" if key == name else f" (model input {name!r})")
        checked.append(_check(np.asarray(array), tuple(int(d) for d in shape), what))
    counts = [a.shape[0] for a in checked]
    if len(set(counts)) > 1:
        raise TinygenError(
            f"{where}: the model inputs have different sample counts ("
            + ", ".join(f"{name}: {count}" for (name, _), count in zip(specs, counts))
            + "); give the same N samples for every input (sample i of each array together is one model input)"
        )
    return checked


def _load_npz(path: Path, specs: Sequence[InputSpec]) -> list[tuple[str, np.ndarray]]:
    if not path.is_file():
        raise TinygenError(f"calibration file {path}: no such file; {_how_to_several(specs)}")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise TinygenError(f"calibration file {path} is not a .npz array file ({exc}); {_how_to_several(specs)}")
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise TinygenError(
            f"calibration file {path} holds one array {tuple(np.shape(data))} but the model has {len(specs)} inputs "
            f"({describe_inputs(specs)}); {_how_to_several(specs)}"
        )
    with data:
        return [(key, np.asarray(value)) for key, value in _by_name({k: data[k] for k in data}, specs,
                                                                      f"calibration file {path}")]


def _batch_arrays(batch: Any, specs: Sequence[InputSpec], index: int) -> list[tuple[str, Any]]:
    where = f"calibration batch {index}"
    if isinstance(batch, Mapping):
        return _by_name(batch, specs, where)
    if isinstance(batch, (list, tuple)) and len(batch) == len(specs):
        return [(name, array) for (name, _), array in zip(specs, batch)]
    count = len(batch) if isinstance(batch, (list, tuple)) else 1
    raise TinygenError(
        f"{where} holds {count} array(s) but the model has {len(specs)} inputs ({describe_inputs(specs)}); give each "
        "batch as a list of arrays in input order or a dict by input name"
    )


def load_inputs(data: Any, specs: Sequence[InputSpec], warn_random: bool = True) -> list[np.ndarray]:
    """Calibration samples of a model with the inputs ``specs``: one float32 (N, *shape[1:]) array per input."""
    specs = [(str(name), tuple(int(d) for d in shape)) for name, shape in specs]
    if len(specs) == 1:
        if isinstance(data, Mapping) and len(data) == 1:
            data = next(iter(data.values()))
        elif isinstance(data, (list, tuple)) and len(data) == 1 and _is_array(data[0]):
            data = data[0]
        return [load_calibration(data, specs[0][1], warn_random)]
    if data is None:
        raise TinygenError(f"a Keras model needs calibration data to be quantized to int8; {_how_to_several(specs)}")
    if isinstance(data, str) and data == "random":
        if warn_random:
            _random(specs[0][1], True)
        rng = np.random.default_rng(RANDOM_SEED)
        return [rng.standard_normal((RANDOM_SAMPLES, *shape[1:])).astype(np.float32) for _, shape in specs]
    if isinstance(data, (str, Path)):
        path = Path(data)
        return _check_all(_load_npz(path, specs), specs, f"calibration file {path}")
    if isinstance(data, Mapping):
        return _check_all(_by_name(data, specs, "calibration data"), specs, "calibration data")
    if _is_array(data):
        raise TinygenError(
            f"calibration data is one array {tuple(np.shape(data))} but the model has {len(specs)} inputs "
            f"({describe_inputs(specs)}); {_how_to_several(specs)}"
        )
    if isinstance(data, (list, tuple)) and len(data) == len(specs) and all(_is_array(a) for a in data):
        return _check_all([(name, a) for (name, _), a in zip(specs, data)], specs, "calibration data")
    if isinstance(data, Iterable):
        per_input: list[list[np.ndarray]] = [[] for _ in specs]
        count = 0
        for index, batch in enumerate(data):
            checked = _check_all(_batch_arrays(batch, specs, index), specs, f"calibration batch {index}")
            for bucket, array in zip(per_input, checked):
                bucket.append(array)
            count += 1
        if not count:
            raise TinygenError(f"calibration data is empty (no batches); {_how_to_several(specs)}")
        return [np.concatenate(bucket, axis=0) for bucket in per_input]
    raise TinygenError(f"calibration data of type {type(data).__name__} is not understood; {_how_to_several(specs)}")


def as_inputs(samples: Any) -> list[np.ndarray]:
    """Loaded calibration samples as a list with one array per input (one array: a single-input model)."""
    return [np.asarray(s) for s in samples] if isinstance(samples, (list, tuple)) else [np.asarray(samples)]


def head(samples: Any, count: int) -> Any:
    """The first ``count`` samples of loaded calibration data (one array, or a list with one per input)."""
    if isinstance(samples, (list, tuple)):
        return [np.asarray(s)[:count] for s in samples]
    return samples[:count]


def num_samples(samples: Any) -> int:
    return int(as_inputs(samples)[0].shape[0])
