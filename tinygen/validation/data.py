"""The user's samples, labels and expected outputs: read, checked against the model, quantized batch by batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygen import ports
from tinygen.errors import TinygenError


def load_array(path: str, what: str) -> np.ndarray:
    """One array from a .npy (memory-mapped: batches read only their part), or a .npz holding one array."""
    arrays = load_arrays(path, what)
    if len(arrays) != 1:
        raise TinygenError(f"{what} {path}: the .npz holds {len(arrays)} arrays ({', '.join(arrays) or 'none'}); "
                           "give one array")
    return next(iter(arrays.values()))


def load_arrays(path: str, what: str) -> dict[str, np.ndarray]:
    """Every array of a .npz by key, or ``{"": array}`` for a .npy."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise TinygenError(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
        raise TinygenError(f"{what} {path}: not a .npy/.npz file (save the array with numpy.save or numpy.savez)")
    try:
        data = np.load(path, allow_pickle=False, mmap_mode="r")
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                return {key: np.asarray(data[key]) for key in data}
        return {"": data}
    except (OSError, ValueError, EOFError) as exc:
        raise TinygenError(f"{what} {path}: cannot read it as .npy/.npz ({str(exc).splitlines()[0]})") from None


@dataclass
class Inputs:
    """The samples of every model input (one array per input port, N samples each, batch first)."""

    graph: Any  # tinygen.ir.Graph
    ports: list[Any]  # tinygen.ports.Port
    arrays: list[np.ndarray]
    path: str
    rounding: str

    @property
    def count(self) -> int:
        return len(self.arrays[0])

    def batch(self, start: int, stop: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """(core input vectors as bytes [n, every core input one after the other], float inputs per model input
        [n, *shape] for the float model) of samples ``start:stop``. Float values are quantized with the core
        input's quantization (TFLite's QUANTIZE); data of the core input's type (int8, int16 in a 16x8 model) is
        taken as it is (and dequantized for the float model), as is uint8 or int16 data behind an input edge of
        that type."""
        vectors, floats = [], []
        for port, array in zip(self.ports, self.arrays):
            core = self.graph.tensor(port.core)
            flat = np.ascontiguousarray(array[start:stop]).reshape(stop - start, core.size)
            q = ports.core_values(self.graph, port, flat, self.rounding)
            declared = self.graph.tensor(port.declared).dtype
            if array.dtype == np.dtype(core.dtype) or (array.dtype == np.dtype(declared) and
                                          ports.edge_table(self.graph, port, self.rounding) is not None):
                scale, zero_point = core.quant.scalar()
                f = (q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
            else:
                f = flat.astype(np.float32)
            # the library's input bytes: an int16 core input (a 16x8 model) as its two bytes per value
            vectors.append(np.ascontiguousarray(q, dtype=core.dtype).view(np.int8).reshape(stop - start, -1))
            floats.append(f.reshape(stop - start, *core.shape[1:]))
        return np.ascontiguousarray(np.concatenate(vectors, axis=1)), floats


def load_inputs(path: str, graph: Any, ins: list[Any], rounding: str) -> Inputs:
    """``--inputs``: a .npy/.npz with one array, or for a model with several inputs an .npz keyed by the input
    names (or arr_0, arr_1... in input order), as calibration data is read."""
    from tinygen.quantize.calibration import _by_name

    if len(ins) == 1:
        chosen = [load_array(path, "--inputs")]
    else:
        arrays = load_arrays(path, "--inputs")
        specs = [(p.declared, tuple(graph.tensor(p.declared).shape)) for p in ins]
        if "" in arrays:
            raise TinygenError(f"--inputs {path}: one array, but model {graph.name!r} has {len(ins)} inputs ("
                               + ", ".join(f"{n} {s}" for n, s in specs) + "); give an .npz with one array per input "
                               "keyed by the input names (or arr_0, arr_1... in input order)")
        chosen = [array for _, array in _by_name(arrays, specs, f"--inputs {path}")]
    for port, array in zip(ins, chosen):
        _check_input(graph, port, array, path, len(ins) > 1)
    counts = {len(a) for a in chosen}
    if len(counts) > 1:
        raise TinygenError(f"--inputs {path}: the inputs have different sample counts ("
                           + ", ".join(f"{p.declared}: {len(a)}" for p, a in zip(ins, chosen)) + ")")
    return Inputs(graph, ins, chosen, path, rounding)


def _check_input(graph: Any, port: Any, data: np.ndarray, path: str, named: bool) -> None:
    core = graph.tensor(port.core)
    shape = tuple(core.shape[1:]) if len(core.shape) > 1 else tuple(core.shape)
    what = f"--inputs {path}" + (f" (input {port.declared!r})" if named else "")
    if data.ndim < 1 or int(np.prod(data.shape[1:], dtype=np.int64)) != core.size or data.shape[0] == 0:
        raise TinygenError(f"{what}: shape {data.shape} is not N samples of the model input's shape "
                           f"{tuple(core.shape)} (batch first: (N, {', '.join(map(str, shape))}))")
    if not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
        raise TinygenError(f"{what}: {data.dtype} data; give float values or int8 (already quantized)")


def load_labels(path: str, count: int, classes: int) -> np.ndarray:
    """``--labels``: one class index per sample, or one-hot rows."""
    data = np.asarray(load_array(path, "--labels"))
    if data.ndim == 2 and data.shape[1] == classes and classes > 1:  # one-hot (or scores)
        data = np.argmax(data, axis=1)
    data = data.reshape(-1) if data.ndim == 2 and data.shape[1] == 1 else data
    if data.ndim != 1:
        raise TinygenError(f"--labels {path}: shape {data.shape}; give one class index per sample (N,) or one-hot "
                           f"(N, {classes})")
    if len(data) != count:
        raise TinygenError(f"--labels {path}: {len(data)} labels for {count} input samples; give one per sample")
    if not np.issubdtype(data.dtype, np.integer) and (
            not np.issubdtype(data.dtype, np.floating) or np.any(data != np.round(data))):
        raise TinygenError(f"--labels {path}: {data.dtype} values; give integer class indices")
    labels = data.astype(np.int64)
    if labels.min() < 0 or labels.max() >= classes:
        raise TinygenError(f"--labels {path}: class indices from {labels.min()} to {labels.max()}, the model has "
                           f"{classes} classes (0 to {classes - 1})")
    return labels


def load_expected(path: str, count: int, size: int, shape: tuple[int, ...]) -> np.ndarray:
    """``--expected``: the expected values of output 0 per sample, as (N, size) float64."""
    target = np.asarray(load_array(path, "--expected"), dtype=np.float64)
    if target.ndim < 1 or len(target) != count or target.size != count * size:
        raise TinygenError(f"--expected {path}: shape {target.shape}; the model gives {count} samples of "
                           f"{shape} (N, {size})")
    return target.reshape(count, size)
