"""What the int8 ops tabulated from a float function share (HARD_SIGMOID, SWISH, RESCALE): ops tinygen's own
Keras flow emits that have no TFLite builtin, so no TFLite Micro arithmetic to match. Their int8 result is
the float function's value rounded to the output grid, for each of the 256 int8 inputs::

    real = input_scale * (q - input_zero_point)          # float64 (the float32 scale widened: exact)
    out  = clamp(round_half_away(f(real) / output_scale) + output_zero_point, -128, 127)

computed in float64 offline (:func:`lut_int8`), looked up by ``tg_lut_s8`` at run time. Every entry is the
nearest int8 to ``f`` (ties away from zero, as TFLite's TfLiteRound), so the int8 op is the float op plus
at most half an output step, and the output quantization is the quantizer's calibrated range (OWN_RANGE).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from tinygen import numerics
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op
from tinygen.ops import common

#: every int8 value, in table order (entry k for the int8 whose bits are k): 0..127, then -128..-1
TABLE_ORDER = np.arange(256, dtype=np.uint8).view(np.int8)

FloatFunction = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FloatLutParams:
    """The float32 scales and the zero points of the input and the output."""

    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int


def params(graph: Graph, op: Op) -> FloatLutParams:
    """The quantizations, checked: int8 input and output, per tensor, finite positive scales."""
    x, out = common.unary_int8(graph, op)
    si, zi = common.qp(x, op)
    so, zo = common.qp(out, op)
    return FloatLutParams(input_scale=float(np.float32(si)), input_zero_point=zi,
                          output_scale=float(np.float32(so)), output_zero_point=zo)


def lut_int8(f: FloatFunction, x: np.ndarray, p: FloatLutParams) -> np.ndarray:
    """``f`` on the dequantized int8 values ``x``, rounded to the nearest output step, clamped to int8."""
    real = p.input_scale * (np.asarray(x, dtype=np.int64) - p.input_zero_point).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        y = np.asarray(f(real), dtype=np.float64)
        if np.isnan(y).any():  # cannot happen for finite scales; a guard against a wrong float function
            raise TinygenError(f"tabulated int8 op: the float function gave NaN for inputs {real[np.isnan(y)][:4]}")
        steps = np.clip(y / p.output_scale, -1e9, 1e9)  # beyond int8 either way; keeps the rounding finite
    q = numerics.round_half_away(steps) + p.output_zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def table(f: FloatFunction, p: FloatLutParams) -> np.ndarray:
    """tg_lut_s8's table: the 256 outputs in ``(uint8_t)x`` index order."""
    return lut_int8(f, TABLE_ORDER, p)


def describe(p: FloatLutParams) -> str:
    """The quantizations, for the generated code's comment."""
    return (f"input scale {p.input_scale:g} zero point {p.input_zero_point}, output scale {p.output_scale:g} "
            f"zero point {p.output_zero_point}")
