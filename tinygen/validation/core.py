"""Run a validation: every sample through the float model, tinygen's int8 reference and the generated C, batch
by batch (bounded memory, any number of samples), and gather the figures in one JSON-ready dict."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinygen.errors import TinygenError


@dataclass
class Validation:
    #: what :func:`validate` returns (see its docstring)
    result: dict[str, Any]
    #: the arrays ``--save-outputs`` writes (see tinygen.validation.checks.save_outputs); None unless kept
    arrays: dict[str, np.ndarray] | None = None
    #: the int8 graph validated and its generated library (a tinygen.codegen.Library: manifest and memory plan;
    #: its files are gone), for the HTML report
    graph: Any = None
    library: Any = None


def validate(model: str, inputs: str, labels: str | None = None, expected: str | None = None,
             calibration: str | None = None, observer: str = "minmax", quantizer: str = "tinygen",
             rounding: str = "double", *, board: str | None = None, float_model: str | None = None,
             timeout: float = 300.0, batch_size: int | None = None) -> dict[str, Any]:
    """Validate ``model`` on the samples in ``inputs``; the result, JSON-ready (what ``--json`` writes, what the
    HTML report reads). Keys (absent when they do not apply):

    - ``model`` (path), ``name`` (the library's), ``samples``, ``classes`` (values of output 0), ``rounding``,
      ``batch_size``, ``float_source`` ("float model", "--float-model F.keras" or None);
    - ``board`` (its id; None on the host), ``instructions_per_inference`` (the first sample's, as ``tinygen
      bench``/``test`` give it; None on the host), as in ``tinygen bench``'s dict;
    - ``run``: where the C ran: ``where`` ("host" or "qemu"); in QEMU also ``board``, ``machine``, ``core``,
      ``kernels`` ("mve", "dsp" or "scalar"), ``instructions`` per inference over every sample ({first, min,
      max, mean} or None), ``instruction_method``, ``stack_bytes``, ``summary`` (the printed instruction lines);
    - ``c_bit_exact``: ``samples``, ``bit_exact`` (count), ``mismatched`` (0-based sample indices),
      ``first_differing_layer`` (None, or for the first mismatched sample: ``sample``, ``layer``, ``name``,
      ``op``, ``differing``, ``size``, ``first_index``, ``expected``, ``actual``, ``missing``, ``text``);
    - output 0, with ``--labels``: ``accuracy`` ({int8, float}), ``top_k_accuracy`` ({k, int8, float}, more than
      5 classes), ``confusion_matrix`` (int8; rows: label, columns: predicted);
    - output 0: ``top1_agreement`` (float vs int8 arg-max), ``errors`` ({against, rmse, mae, l2_relative,
      cosine, snr_db}: the dequantized int8 outputs against the float outputs or ``--expected``);
    - ``other_outputs``: outputs 1.. as ``{index, name, shape, top1_agreement, errors}`` (against the float
      outputs);
    - ``layers_sqnr``: per layer ``{name, op, tensor, sqnr_db}`` of the int8 reference against tinygen's float
      graph on these samples (Keras models with tinygen's quantizer).

    Accuracy and error figures are of tinygen's int8 reference outputs (the C's, wherever they are bit-exact).
    A streaming model's state carries from sample to sample within a batch and restarts at each batch, in the
    reference and the C alike. Non-finite floats (an exact SNR is +inf) are kept as floats here; ``--json``
    writes them as "inf"/"-inf".
    """
    return run_validation(model, inputs, labels, expected, calibration, observer, quantizer, rounding, board=board,
                          float_model=float_model, timeout=timeout, batch_size=batch_size).result


def run_validation(model: str, inputs: str, labels: str | None = None, expected: str | None = None,
                   calibration: str | None = None, observer: str = "minmax", quantizer: str = "tinygen",
                   rounding: str = "double", *, board: str | None = None, float_model: str | None = None,
                   timeout: float = 300.0, batch_size: int | None = None, keep_arrays: bool = False,
                   port: Any = None) -> Validation:
    """:func:`validate`, and with ``keep_arrays`` the arrays for ``--save-outputs``. ``port``: a
    tinygen.validation.runners.PortTarget: the C runs on the board ``board`` over that serial port."""
    from tinygen import ports
    from tinygen.validation.data import load_arrays, load_inputs
    from tinygen.validation.models import load_model

    if labels and expected:
        raise TinygenError("give --labels or --expected, not both")
    if batch_size is not None and batch_size < 1:
        raise TinygenError(f"--batch-size must be at least 1, not {batch_size}")
    load_arrays(inputs, "--inputs")  # before the (slow) quantization: a bad file fails fast
    board_info = _board(board)
    loaded = load_model(model, calibration, observer, quantizer, float_model)
    graph = loaded.graph
    _, ins, _ = ports.split(graph)
    data = load_inputs(inputs, graph, ins, rounding)
    with tempfile.TemporaryDirectory(prefix="tinygen-validate-") as tmp:
        prep = _prepare(graph, board_info, rounding, Path(tmp))
        gathered = _run_batches(prep, loaded, data, timeout, batch_size, keep_arrays, port)
    return _figures(model, prep, loaded, gathered, labels, expected, keep_arrays)


def _board(board: str | None) -> Any:
    if board is None:
        return None
    from tinygen.boards import get_board

    return get_board(board)


def _prepare(graph: Any, board: Any, rounding: str, work: Path) -> Any:
    """tinygen test's Prepared (no TFLite Micro oracle): the board's core picks the kernels (Helium where it
    has MVE); on the host, the portable ones."""
    from tinygen import progress
    from tinygen.codegen import generate
    from tinygen.commands.test import Prepared

    with progress.step("generating the C library"):
        library = generate(graph, work / "lib", rounding=rounding, force=True,
                           mve=bool(board is not None and board.has_mve))
    return Prepared(graph, library, board, None, rounding, work)


@dataclass
class _Gathered:
    #: per output: the reference's core values (N, size)
    int8: list[np.ndarray]
    #: per output: float outputs (N, size), None without a float side
    floats: list[np.ndarray] | None
    mismatched: list[int]
    difference: dict[str, Any] | None
    run: dict[str, Any]
    batch_size: int
    layers_sqnr: list[dict[str, Any]] | None
    vectors: np.ndarray | None
    count: int


def _run_batches(prep: Any, loaded: Any, data: Any, timeout: float, batch_size: int | None,
                 keep_arrays: bool, port: Any = None) -> _Gathered:
    from tinygen import progress
    from tinygen.commands.test import core_outputs, golden
    from tinygen.validation.metrics import LayerSqnr
    from tinygen.validation.runners import make_runner

    _, outs = prep.ports
    runner = make_runner(prep, timeout, port)
    batch = min(batch_size or runner.batch_size, runner.batch_size)
    count = data.count
    int8: list[list[np.ndarray]] = [[] for _ in outs]
    floats: list[list[np.ndarray]] = [[] for _ in outs]
    vectors_kept, mismatched = [], []
    difference = None
    sqnr = LayerSqnr(prep.graph) if loaded.float_graph is not None else None
    where = "C on the host" if prep.board is None else ("C on the board" if port is not None else "C in QEMU")
    batches = (count + batch - 1) // batch
    with progress.bar("validating", count) as advance:
        for b, start in enumerate(range(0, count, batch)):
            stop = min(count, start + batch)
            of = f"batch {b + 1}/{batches}"
            vectors, xs = data.batch(start, stop)
            advance(0, f"{of}, int8 reference")
            refs, _ = golden(prep, vectors)
            advance(0, f"{of}, {where}")
            for i, (ref, got) in enumerate(zip(refs, runner.run(vectors))):
                if core_outputs(prep, ref) != got:
                    mismatched.append(start + i)
                    if difference is None:
                        difference = _difference(runner.locate(vectors[i], ref), start + i)
            for k, port in enumerate(outs):
                int8[k].append(np.stack([ref[port.core].reshape(-1) for ref in refs]))
            if loaded.has_float:
                advance(0, f"{of}, float model")
                float_outs, values = loaded.float_outputs(xs)
                for k, out in enumerate(float_outs):
                    floats[k].append(_float_rows(out, int8[k][-1], k))
                if sqnr is not None and values is not None:
                    sqnr.add(values, refs)
            if keep_arrays:
                vectors_kept.append(vectors)
            advance(stop - start, of)
    return _Gathered([np.concatenate(parts) for parts in int8],
                     [np.concatenate(parts) for parts in floats] if loaded.has_float else None,
                     mismatched, difference, runner.info(), batch, sqnr.layers() if sqnr is not None else None,
                     np.concatenate(vectors_kept) if keep_arrays else None, count)


def _float_rows(out: np.ndarray, int8: np.ndarray, index: int) -> np.ndarray:
    rows = np.asarray(out, np.float64).reshape(len(out), -1)
    if rows.shape != int8.shape:
        raise TinygenError(f"the float model's output {index} has {rows.shape[1]} values per sample, the int8 "
                           f"model's {int8.shape[1]}")
    return rows


def _difference(layer: Any, sample: int) -> dict[str, Any]:
    """The first differing layer (a tinygen.compare.LayerDifference, on a one-vector rerun) as a dict."""
    if layer is None:
        return {"sample": sample, "layer": None,
                "text": f"sample {sample}: every layer's output matches: the difference is in the output copy"}
    text = layer.describe().replace(", vector 0", f", sample {sample}")
    fields = {k: getattr(layer, k) for k in ("layer", "name", "op", "differing", "size", "first_index", "expected",
                                              "actual", "missing")}
    return {"sample": sample, **fields, "text": text}


def _dequantized(graph: Any, port: Any, values: np.ndarray) -> np.ndarray:
    """int8 (int16 in a 16x8 model) values dequantized with the core output's quantization; an int32 (index)
    output as it is."""
    t = graph.tensor(port.core)
    if t.dtype not in ("int8", "int16") or t.quant is None:
        return values.astype(np.float64)
    scale, zero_point = t.quant.scalar()
    return (values.astype(np.float64) - zero_point) * float(scale)


def _figures(model: str, prep: Any, loaded: Any, g: _Gathered, labels: str | None, expected: str | None,
             keep_arrays: bool) -> Validation:
    from tinygen.validation.data import load_expected, load_labels
    from tinygen.validation.metrics import classification, output_figures

    graph = prep.graph
    _, outs = prep.ports
    deq = [_dequantized(graph, port, values) for port, values in zip(outs, g.int8)]
    classes = deq[0].shape[1]
    result: dict[str, Any] = {
        "model": str(model), "name": prep.library.name, "samples": g.count, "classes": classes,
        "rounding": prep.rounding, "batch_size": g.batch_size, "float_source": loaded.float_source,
        "board": g.run.get("board"),
        "instructions_per_inference": g.run["instructions"]["first"] if g.run.get("instructions") else None,
        "run": g.run,
        "c_bit_exact": {"samples": g.count, "bit_exact": g.count - len(g.mismatched), "mismatched": g.mismatched,
                        "first_differing_layer": g.difference},
    }
    y = load_labels(labels, g.count, classes) if labels else None
    if y is not None:
        result.update(classification(y, deq[0], g.floats[0] if g.floats else None))
    target, against = (g.floats[0], loaded.float_source) if g.floats else (None, None)
    if expected:
        target = load_expected(expected, g.count, classes, tuple(graph.tensor(outs[0].core).shape))
        against = f"--expected {Path(expected).name}"
    result.update(output_figures(deq[0], g.floats[0] if g.floats else None, target, against))
    if len(outs) > 1:
        result["other_outputs"] = [
            {"index": k, "name": port.declared, "shape": list(graph.tensor(port.core).shape),
             **output_figures(deq[k], g.floats[k] if g.floats else None, g.floats[k] if g.floats else None,
                              loaded.float_source)}
            for k, port in enumerate(outs) if k > 0]
    if g.layers_sqnr is not None:
        result["layers_sqnr"] = g.layers_sqnr
    arrays = _arrays(prep, g, deq, y) if keep_arrays else None
    return Validation(result, arrays, graph, prep.library)


def _arrays(prep: Any, g: _Gathered, deq: list[np.ndarray], labels: np.ndarray | None) -> dict[str, np.ndarray]:
    """The ``--save-outputs`` arrays (keys: see tinygen.validation.checks.SAVE_OUTPUTS_HELP)."""
    ins, outs = prep.ports
    assert g.vectors is not None
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for k, port in enumerate(ins):
        core = prep.graph.tensor(port.core)
        part = np.ascontiguousarray(g.vectors[:, offset:offset + core.nbytes]).view(core.dtype)  # its bytes
        offset += core.nbytes
        arrays["inputs_int8" + _suffix(k)] = part.reshape(g.count, *core.shape[1:])
    for k, port in enumerate(outs):
        shape = tuple(prep.graph.tensor(port.core).shape[1:])
        arrays["outputs_int8" + _suffix(k)] = g.int8[k].reshape(g.count, *shape)
        arrays["outputs_dequantized" + _suffix(k)] = deq[k].reshape(g.count, *shape)
        if g.floats is not None:
            arrays["outputs_float" + _suffix(k)] = g.floats[k].reshape(g.count, *shape)
    if labels is not None:
        arrays["labels"] = labels
    return arrays


def _suffix(index: int) -> str:
    return "" if index == 0 else f"_{index}"
