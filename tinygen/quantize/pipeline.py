"""tinygen's post-training quantizer end to end: Keras model -> float graph -> [PTQ passes] -> calibrate -> int8.

A PTQ *pipeline* (:class:`Ptq`) is an optional equalization of the float graph (``cle``: weight ranges,
:mod:`~tinygen.quantize.equalize`; ``smooth``: activation ranges, :mod:`~tinygen.quantize.smooth`), optional
bias correction (``bc``, :mod:`~tinygen.quantize.bias_correction`) and an observer (``minmax``, ``mse``,
``percentile``), written joined by ``+`` (``cle+bc+mse``); ``plain`` is min-max alone (TFLite's converter).
``auto`` (the default) measures the candidates on held-out calibration samples and keeps the best, never
worse than plain (:mod:`~tinygen.quantize.ptq_select`).
"""

from __future__ import annotations

import contextlib
import copy
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from tinygen.errors import TinygenError
from tinygen.ir import Graph
from tinygen.quantize.calibration import as_inputs, load_calibration
from tinygen.quantize.extract import keras_input_name, keras_to_float_graph
from tinygen.quantize.floatexec import run_float
from tinygen.quantize.observers import OBSERVERS, Ranges, observe
from tinygen.quantize.quantizer import quantize_graph

if TYPE_CHECKING:
    from tinygen.quantize.ptq_select import Choice

#: Float activations held at once while calibrating (elements), bounding memory on big models.
CHUNK_ELEMENTS = 1 << 24

EQUALIZERS = ("cle", "smooth")
AUTO = "auto"
PLAIN = "plain"
BIAS_CORRECTION = "bc"

#: the PTQ pipeline of every Keras quantization in this context (see :func:`using_ptq`)
_PTQ: ContextVar[str] = ContextVar("tinygen_ptq", default=AUTO)
#: where :func:`using_ptq` collects what each quantization chose
_CHOICES: ContextVar[list[Any] | None] = ContextVar("tinygen_ptq_choices", default=None)


@dataclass(frozen=True)
class Ptq:
    """One PTQ pipeline: an equalization ("none", "cle", "smooth"), bias correction, an observer."""

    equalize: str = "none"
    bias_correction: bool = False
    observer: str = "minmax"

    @property
    def name(self) -> str:
        parts = [self.equalize] * (self.equalize != "none") + [BIAS_CORRECTION] * self.bias_correction
        parts += [self.observer] * (self.observer != "minmax")
        return "+".join(parts) or PLAIN


PTQ_HELP = (
    "auto (measure the candidates on held-out calibration samples, keep the best; never worse than plain), plain "
    "(min-max, as TensorFlow's converter), or passes joined by '+': cle (weight-range equalization), smooth "
    "(activation-range equalization), bc (bias correction), and an observer minmax, mse or percentile "
    "(e.g. cle+bc, smooth+mse)"
)


def parse_ptq(spec: str, observer: str = "minmax") -> Ptq | None:
    """The pipeline ``spec`` names (None for ``auto``); ``observer`` applies when the spec names none."""
    spec = spec.strip().lower()
    if spec == AUTO:
        return None
    equalize, bc, chosen = "none", False, None
    for token in [t for t in spec.split("+") if t]:
        if token in EQUALIZERS and equalize == "none":
            equalize = token
        elif token == BIAS_CORRECTION and not bc:
            bc = True
        elif token in OBSERVERS and chosen is None:
            chosen = token
        elif token != PLAIN:
            raise TinygenError(f"--ptq {spec!r}: {token!r} is unknown or repeated (at most one equalization, one "
                               f"observer); give {PTQ_HELP}")
    return Ptq(equalize, bc, chosen or observer)


@contextlib.contextmanager
def using_ptq(spec: str | None) -> Iterator[None]:
    """Quantize Keras models with the PTQ pipeline ``spec`` in this block (None: the default, auto)."""
    if spec is not None:
        parse_ptq(spec)  # refuse a bad spec before any work
    token = _PTQ.set(spec or AUTO)
    try:
        yield
    finally:
        _PTQ.reset(token)


@contextlib.contextmanager
def collecting_choices() -> Iterator[list[Any]]:
    """Yields a list that collects the :class:`~tinygen.quantize.ptq_select.Choice` of each ``auto`` quantization
    in this block (to say what was chosen and why)."""
    choices: list[Any] = []
    token = _CHOICES.set(choices)
    try:
        yield choices
    finally:
        _CHOICES.reset(token)


@dataclass
class Quantized:
    #: the float model, folded and fused; after an equalization its rescaled equivalent (the same outputs up to
    #: float32 rounding, channels scaled inside), so that per-layer comparisons with ``graph`` line up
    float_graph: Graph
    graph: Graph
    #: the calibration samples: one array, or for a model with several inputs a list of arrays (one per input)
    calibration: np.ndarray | list[np.ndarray]
    ranges: Ranges
    observer: str
    #: the PTQ pipeline that made ``graph`` (its name: "plain", "cle+bc"...)
    ptq: str = PLAIN
    #: the float graph that was calibrated and quantized: ``float_graph`` with the biases corrected (``bc``)
    quantized_from: Graph | None = None
    #: what ``auto`` measured and why it chose ``ptq`` (None when the pipeline was pinned)
    choice: Choice | None = None
    #: with ``--int16``: the all-int8 graph (``graph`` is then the mixed one) and what was chosen
    int8_graph: Graph | None = None
    mixed: Any = None


def float_chunks(fgraph: Graph, samples: np.ndarray | list[np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
    """Every float tensor's values, a chunk of calibration samples at a time (``samples``: one array, or a list
    with one array per graph input)."""
    per_sample = sum(t.size for t in fgraph.activation_tensors())
    chunk = max(1, CHUNK_ELEMENTS // max(per_sample, 1))
    inputs = as_inputs(samples)
    for start in range(0, inputs[0].shape[0], chunk):
        yield run_float(fgraph, [x[start:start + chunk] for x in inputs])


def observe_ranges(fgraph: Graph, samples: np.ndarray | list[np.ndarray], observer: str) -> Ranges:
    names = [t.name for t in fgraph.activation_tensors()]
    with np.errstate(over="ignore", invalid="ignore"):
        ranges = observe(names, lambda: float_chunks(fgraph, samples), observer)
    _check_ranges(fgraph, ranges, samples)
    return ranges


def apply_ptq(fgraph: Graph, samples: np.ndarray | list[np.ndarray], ptq: Ptq) -> Quantized:
    """Quantize ``fgraph`` with the pipeline ``ptq`` (the passes work on copies; ``fgraph`` is left as it is)."""
    from tinygen.quantize.bias_correction import observe_and_correct
    from tinygen.quantize.equalize import equalize_weights
    from tinygen.quantize.smooth import equalize_activations

    work = fgraph
    if ptq.equalize != "none":
        work = copy.deepcopy(fgraph)
        if ptq.equalize == "cle":
            equalize_weights(work)
        else:
            equalize_activations(work, samples)
    equalized = work
    ranges = observe_ranges(work, samples, ptq.observer)
    if ptq.bias_correction:
        work, ranges = observe_and_correct(work, samples, ranges, ptq.observer)
    return Quantized(equalized, quantize_graph(work, ranges), samples, ranges, ptq.observer, ptq.name, work)


def quantize_ptq(fgraph: Graph, samples: np.ndarray | list[np.ndarray], observer: str = "minmax",
                 ptq: str | None = None) -> Quantized:
    """Quantize with the pipeline ``ptq`` (None: this context's, see :func:`using_ptq`; "auto" chooses)."""
    spec = ptq or _PTQ.get()
    pinned = parse_ptq(spec, observer)
    collected = _CHOICES.get()
    if pinned is not None:
        if collected is not None:
            collected.append(Pinned(pinned))
        return apply_ptq(fgraph, samples, pinned)
    from tinygen.quantize.ptq_select import choose

    choice = choose(fgraph, samples, observer)
    result = apply_ptq(fgraph, samples, choice.chosen)
    result.choice = choice
    if collected is not None:
        collected.append(choice)
    return result


@dataclass(frozen=True)
class Pinned:
    """A quantization made with the pipeline the user named (what :func:`collecting_choices` collects for it)."""

    chosen: Ptq

    @property
    def reason(self) -> str:
        return f"ptq {self.chosen.name} (pinned by --ptq)"


def _check_ranges(fgraph: Graph, ranges: Ranges, samples: np.ndarray | list[np.ndarray]) -> None:
    """Every calibrated range finite: float32 overflow (huge calibration values) cannot be quantized."""
    producers = fgraph.producers()
    for name in [*fgraph.inputs, *(op.outputs[0] for op in fgraph.ops)]:  # the first one in execution order
        lo, hi = ranges.get(name, (0.0, 0.0))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            op = producers.get(name)
            where = f"the output of op {op.name!r} ({op.kind})" if op else f"input {name!r}"
            raise TinygenError(
                f"calibration: {where} takes non-finite values (float32 overflow) on the calibration data, whose "
                f"largest magnitude is {max(float(np.max(np.abs(x))) for x in as_inputs(samples)):g}; give "
                "calibration inputs in the range the "
                "model was trained on"
            )


def quantize_keras(model: Any, calibration: Any, observer: str = "minmax", name: str | None = None,
                   ptq: str | None = None) -> Quantized:
    """Quantize an in-memory Keras model with tinygen's quantizer; keeps the float graph and data. ``ptq``: the
    PTQ pipeline (None: this context's, by default "auto")."""
    fgraph = keras_to_float_graph(model, name)
    if len(fgraph.inputs) == 1:
        samples = load_calibration(calibration, fgraph.tensors[fgraph.inputs[0]].shape)
    else:  # one array per input, keyed by the Keras input names (the graph's inputs are in the model's order)
        specs = [(keras_input_name(t), fgraph.tensors[n].shape) for t, n in zip(model.inputs, fgraph.inputs)]
        samples = load_calibration(calibration, specs)
    result = quantize_ptq(fgraph, samples, observer, ptq)
    return with_int16(result, model)


def with_int16(result: Quantized, model: Any) -> Quantized:
    """``result`` with the layers this context's ``--int16`` asks for in 16x8 (:mod:`tinygen.quantize.mixed`), its
    choice collected as the PTQ choices are; unchanged without one."""
    from tinygen.quantize import mixed

    request = mixed.current_request()
    if request is None:
        return result
    graph, choice = mixed.choose(result, mixed.keras_layers(model), request)
    result.int8_graph, result.graph, result.mixed = result.graph, graph, choice
    collected = _CHOICES.get()
    if collected is not None:
        collected.append(choice)
    return result
