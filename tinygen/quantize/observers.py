"""Activation range observers: min-max (TFLite's calibrator, the default), percentile and MSE.

All three see the float graph's activations on the calibration set. Min-max keeps the global
extremes. Percentile and MSE need the distribution: a second pass fills a histogram (``BINS`` bins
over the min-max range) per tensor, then percentile clips the tails at ``PERCENTILE`` and MSE picks
the range (the min-max range scaled by a factor in (0, 1]) that minimises the expected squared
quantize-dequantize error over the histogram.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from tinygen.errors import TinygenError

OBSERVERS = ("minmax", "percentile", "mse")
BINS = 2048
PERCENTILE = 99.99
MSE_CANDIDATES = 200
QMIN, QMAX = -128, 127

Ranges = dict[str, tuple[float, float]]


def activation_params(rmin: float, rmax: float) -> tuple[np.float32, int]:
    """TFLite's asymmetric int8 parameters for a float range: the range is widened to include 0.0,
    scale = (max - min) / 255, and the zero point (solved from whichever end adds less rounding error)
    is nudged to the nearest integer inside [-128, 127], so 0.0 is exactly representable."""
    rmin, rmax = min(float(rmin), 0.0), max(float(rmax), 0.0)
    if rmax - rmin < np.finfo(np.float64).eps:  # all zeros: any scale represents them
        return np.float32(1.0), QMIN
    scale = (rmax - rmin) / (QMAX - QMIN)
    zp_from_min, err_min = QMIN - rmin / scale, abs(QMIN) + abs(rmin / scale)
    zp_from_max, err_max = QMAX - rmax / scale, abs(QMAX) + abs(rmax / scale)
    zp = zp_from_min if err_min < err_max else zp_from_max
    if zp < QMIN:
        nudged = QMIN
    elif zp > QMAX:
        nudged = QMAX
    else:
        nudged = int(np.floor(zp + 0.5)) if zp >= 0 else -int(np.floor(-zp + 0.5))  # half away from zero
    return np.float32(scale), nudged


def _fake_quant_error(centers: np.ndarray, counts: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Expected squared error of quantize-dequantize with each candidate range (vectorised)."""
    errors = np.empty(lo.shape[0])
    for i in range(lo.shape[0]):
        scale, zp = activation_params(lo[i], hi[i])
        q = np.clip(np.round(centers / np.float64(scale)) + zp, QMIN, QMAX)
        errors[i] = np.sum(counts * (centers - (q - zp) * np.float64(scale)) ** 2)
    return errors


def _percentile_range(hist: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
    cdf = np.cumsum(hist) / max(hist.sum(), 1)
    tail = (100.0 - PERCENTILE) / 100.0
    lo_bin = int(np.searchsorted(cdf, tail, side="left"))
    hi_bin = int(np.searchsorted(cdf, 1.0 - tail, side="left"))
    return float(edges[min(lo_bin, len(hist) - 1)]), float(edges[min(hi_bin + 1, len(hist))])


def _mse_range(hist: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
    centers = (edges[:-1] + edges[1:]) / 2
    lo, hi = min(edges[0], 0.0), max(edges[-1], 0.0)
    factors = np.linspace(1.0 / MSE_CANDIDATES, 1.0, MSE_CANDIDATES)
    errors = _fake_quant_error(centers, hist.astype(np.float64), lo * factors, hi * factors)
    best = factors[int(np.argmin(errors))]
    return float(lo * best), float(hi * best)


def observe(
    names: list[str],
    batches: Callable[[], Iterator[dict[str, np.ndarray]]],
    observer: str = "minmax",
) -> Ranges:
    """Float range (lo, hi) of each tensor in ``names``; ``batches()`` yields every tensor's values for
    successive chunks of the calibration set (called once per pass)."""
    if observer not in OBSERVERS:
        raise TinygenError(f"unknown observer {observer!r}; choose one of {', '.join(OBSERVERS)}")
    lo = {n: np.inf for n in names}
    hi = {n: -np.inf for n in names}
    for values in batches():
        for n in names:
            lo[n] = min(lo[n], float(values[n].min()))
            hi[n] = max(hi[n], float(values[n].max()))
    ranges: Ranges = {n: (lo[n], hi[n]) for n in names}
    if observer == "minmax":
        return ranges
    hists = {n: np.zeros(BINS, np.int64) for n in names}
    edges = {n: np.linspace(lo[n], hi[n] if hi[n] > lo[n] else lo[n] + 1e-12, BINS + 1) for n in names}
    for values in batches():
        for n in names:
            hists[n] += np.histogram(values[n], bins=edges[n])[0]
    pick = _percentile_range if observer == "percentile" else _mse_range
    return {n: pick(hists[n], edges[n]) for n in names}
