"""The guarded choice of PTQ pipeline (``--ptq auto``, the default).

The calibration samples are split: the candidates are calibrated on the first part and measured on the rest
(held out), each by the output SQNR of its int8 graph (run by :mod:`tinygen.reference`) against the float
model. The search is greedy: the equalizations (none, ``cle``, ``smooth``), then bias correction on the best,
then the ``mse`` observer (and ``percentile`` where it clips no channel's signal) on the best so far. Plain
min-max stays when it already reaches :data:`LOSSLESS_DB` (then nothing else is tried: a naturally trained
small model keeps TensorFlow's converter's numbers, and converting costs one measurement more), or when no
candidate beats it by :data:`MARGIN_DB`: the choice is never worse than plain as measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinygen.errors import TinygenError
from tinygen.ir import Graph
from tinygen.quantize.calibration import as_inputs, num_samples
from tinygen.quantize.observers import PERCENTILE
from tinygen.quantize.pipeline import Ptq, apply_ptq, float_chunks, observe_ranges

#: fewer calibration samples than this: candidates are measured on the samples they were calibrated on
MIN_SPLIT = 20
#: share of the calibration samples held out (at least MIN_HELD_OUT, at most MAX_HELD_OUT)
HELD_OUT_SHARE = 0.25
MIN_HELD_OUT, MAX_HELD_OUT = 10, 64
#: plain min-max at least this good (output SQNR, dB) is kept without trying anything else
LOSSLESS_DB = 30.0
#: a candidate replaces plain min-max only if its output SQNR is this much higher (dB)
MARGIN_DB = 0.5
#: percentile is no candidate when it would clip more than this share of any channel's values: ten times the
#: share it clips of the whole tensor, so a channel that takes most of the clipping (a wide channel) is signal
MAX_CHANNEL_CLIP = 10 * (100.0 - PERCENTILE) / 100.0


@dataclass
class Choice:
    chosen: Ptq
    #: held-out output SQNR (dB) of each candidate measured, by pipeline name, in the order tried
    sqnr_db: dict[str, float] = field(default_factory=dict)
    held_out: int = 0
    calibrated_on: int = 0
    #: why percentile was left out (empty when it was measured)
    skipped: list[str] = field(default_factory=list)
    #: the pipeline every candidate must beat: min-max (or the observer the user gave) without passes
    baseline: str = "plain"

    @property
    def reason(self) -> str:
        plain, best = self.sqnr_db[self.baseline], self.sqnr_db[self.chosen.name]
        base = "plain min-max" if self.baseline == "plain" else f"{self.baseline} without passes"
        where = (f"{self.held_out} held-out calibration samples (calibrated on {self.calibrated_on})"
                 if self.calibrated_on else f"the {self.held_out} calibration samples (too few to hold some out)")
        tried = ", ".join(f"{name} {db:.1f}" for name, db in self.sqnr_db.items())
        if self.chosen.name == self.baseline and len(self.sqnr_db) == 1:
            why = f"{base} already reaches {plain:.1f} dB output SQNR (>= {LOSSLESS_DB:g} dB), nothing else tried"
        elif self.chosen.name == self.baseline:
            why = f"no candidate beat {base} ({plain:.1f} dB) by {MARGIN_DB} dB"
        else:
            why = f"{best:.1f} dB output SQNR against {base}'s {plain:.1f} dB"
        skipped = "".join(f"; {s}" for s in self.skipped)
        return f"ptq {self.chosen.name}: {why} on {where}; measured (dB): {tried}{skipped}"


def split(samples: Any) -> tuple[Any, Any, bool]:
    """(calibration part, held-out part, whether they differ)."""
    n = num_samples(samples)
    if n < MIN_SPLIT:
        return samples, samples, False
    held = int(min(max(round(n * HELD_OUT_SHARE), MIN_HELD_OUT), MAX_HELD_OUT))
    xs = as_inputs(samples)
    fit, test = [x[:n - held] for x in xs], [x[n - held:] for x in xs]
    return (fit, test, True) if isinstance(samples, (list, tuple)) else (fit[0], test[0], True)


def output_sqnr(graph: Graph, float_outputs: list[np.ndarray], test: Any) -> float:
    """The lowest output SQNR (dB) of the int8 ``graph`` (reference executor) against the float outputs."""
    from tinygen.quantize.report import run_int8, sqnr_db

    got = run_int8(graph, test)
    worst = np.inf
    for name, want in zip(graph.outputs, float_outputs):
        f = want.astype(np.float64).reshape(want.shape[0], -1)
        q = got[name].reshape(f.shape)
        worst = min(worst, sqnr_db(float(np.sum(f**2)), float(np.sum((f - q) ** 2))))
    return float(worst)


def percentile_clips_channels(fgraph: Graph, samples: Any) -> str | None:
    """Why the percentile observer would clip signal (a tensor with a channel more than MAX_CHANNEL_CLIP of whose
    values fall outside the percentile range), or None."""
    ranges = observe_ranges(fgraph, samples, "percentile")
    names = [t.name for t in fgraph.activation_tensors()]
    clipped = {n: np.zeros(int(fgraph.tensors[n].shape[-1])) for n in names}
    counts = {n: 0 for n in names}
    for values in float_chunks(fgraph, samples):
        for n in names:
            v = values[n].reshape(-1, values[n].shape[-1])
            lo, hi = ranges[n]
            clipped[n] += ((v < lo) | (v > hi)).sum(axis=0)
            counts[n] += v.shape[0]
    for n in names:
        share = clipped[n] / max(counts[n], 1)
        if share.max() > MAX_CHANNEL_CLIP:
            return (f"percentile not tried: it would clip {100 * share.max():.1f}% of channel {int(share.argmax())} "
                    f"of {n!r} (signal, not outliers)")
    return None


def choose(fgraph: Graph, samples: Any, observer: str = "minmax") -> Choice:
    """Measure the candidate pipelines on held-out calibration samples and pick one (see the module docstring).
    An observer other than min-max given by the user is kept for every candidate."""
    from tinygen.quantize.floatexec import run_float

    fit, test, held_out = split(samples)
    values = run_float(fgraph, test)
    float_outputs = [values[name] for name in fgraph.outputs]
    plain = Ptq(observer=observer)
    choice = Choice(plain, held_out=num_samples(test), calibrated_on=num_samples(fit) if held_out else 0,
                    baseline=plain.name)

    def measure(ptq: Ptq) -> float:
        if ptq.name not in choice.sqnr_db:
            try:
                graph = apply_ptq(fgraph, fit, ptq).graph
            except TinygenError as exc:  # a candidate the quantizer refuses (e.g. a bias beyond int32) is no choice
                if ptq == plain:
                    raise
                choice.skipped.append(f"{ptq.name} not possible: {exc}")
                return -np.inf
            choice.sqnr_db[ptq.name] = output_sqnr(graph, float_outputs, test)
        return choice.sqnr_db[ptq.name]

    if measure(plain) >= LOSSLESS_DB:
        return choice
    best = max((Ptq(eq, False, observer) for eq in ("none", "cle", "smooth")), key=measure)
    best = max([best, Ptq(best.equalize, True, observer)], key=measure)
    if observer == "minmax":
        observers = ["mse"]
        why_not = percentile_clips_channels(fgraph, fit)
        if why_not:
            choice.skipped.append(why_not)
        else:
            observers.append("percentile")
        best = max([best, *(Ptq(best.equalize, best.bias_correction, o) for o in observers)], key=measure)
    if measure(best) >= measure(plain) + MARGIN_DB:
        choice.chosen = best
    return choice
