"""HARD_SWISH (Keras ``activation="hard_swish"`` / ``"hard_silu"``): ``x * relu6(x + 3) / 6``, int8 -> int8
with its own output quantization, bit-exact with TFLite Micro's int8 HARD_SWISH.

TFLite Micro (``HardSwishPrepare`` in hard_swish_common.cc, then ``reference_ops::HardSwish<int8_t>``):

* Prepare works in float32: ``hires_input_scale = (1/128) * input_scale``, ``reluish_scale = 3/32768``;
  ``output_multiplier = hires_input_scale / output_scale`` and ``reluish_multiplier = hires_input_scale /
  reluish_scale`` (float32 divisions, widened to double) each go through QuantizeMultiplier (the one step the
  rounding mode changes: single rounding saturates a shift above 30) and ``DownScaleInt32ToInt16Multiplier``
  (``(m + 2^15) >> 16``, 32767 when ``m >= INT32_MAX - 2^15``). Prepare requires ``output_multiplier_exponent
  <= 0`` (the output scale must not be much finer than the input scale / 128).
* Per element, all on int16: ``v = (x - input_zero_point) * 128``; ``p = SaturatingRoundingDoublingHighMul(v,
  output_multiplier_int16)``; the "reluish" value ``r = v``, ``SaturatingLeftShift(r, e - 1)`` if the reluish
  exponent ``e > 0``, ``SaturatingRoundingDoublingHighMul(r, reluish_multiplier_int16)``,
  ``SaturatingLeftShift(r, 1)`` if ``e > 0``, ``RoundingDivideByPOT(r, -e)`` if ``e < 0``; then ``r = (r +
  2^15) >> 1`` (in [0, 1] as Q0.15), ``SaturatingDoublingHighMul(r, p)`` (truncating, not rounding),
  ``RoundingDivideByPOT(., -output_multiplier_exponent)``, plus the output zero point (stored in int16), clamped
  to int8. gemmlowp's RoundingDivideByPOT on int16 builds its mask in int16: for exponents of 16 or more it
  gives 1 for non-negative values (0 included) and -1 for negative ones; this module reproduces that.

An int8 input takes only 256 values, so the lowering tabulates the output of each one offline with that
arithmetic (:func:`hard_swish_int8`) and the kernel (``tg_lut_s8``) looks them up; :func:`reference` runs the
arithmetic itself, not the table, so the generated C is checked against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygen import numerics
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import lut_call, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import OpDef, QatHooks, TfliteMapping

KIND = "hard_swish"

#: the Keras activation names of this op ("hard_silu" is Keras 3's name, "hard_swish" its alias)
KERAS_ACTIVATIONS = ("hard_swish", "hard_silu")

#: the reluish scale of TFLite's HARD_SWISH: 3.0 is 32768 (3.0f / 32768.0f)
RELUISH_SCALE = np.float32(3.0) / np.float32(32768.0)

#: the largest reluish exponent TFLite Micro computes with defined behaviour: SaturatingLeftShift(v, e - 1)
#: evaluates ``1 << (e - 1)`` in int, undefined from e - 1 = 31 on
MAX_RELUISH_EXPONENT = 31

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


@dataclass(frozen=True)
class HardSwishParams:
    """TFLite's HardSwishParams (int8)."""

    input_zero_point: int
    output_zero_point: int
    output_multiplier_fixedpoint_int16: int
    output_multiplier_exponent: int
    reluish_multiplier_fixedpoint_int16: int
    reluish_multiplier_exponent: int


def _check(graph: Graph, op: Op) -> None:
    common.unary_int8(graph, op)


def downscale_int32_to_int16_multiplier(m: int) -> int:
    """TFLite's DownScaleInt32ToInt16Multiplier of a non-negative int32 multiplier."""
    if m >= numerics.INT32_MAX - (1 << 15):
        return INT16_MAX
    return (m + (1 << 15)) >> 16


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> HardSwishParams:
    """HardSwishPrepare (int8) of hard_swish_common.cc."""
    x, out = common.unary_int8(graph, op)
    si, zi = common.qp(x, op)
    so, zo = common.qp(out, op)
    # in double precision, as the TFLite Micro release tinygen is checked against computes them (float32
    # arithmetic gives a different int16 multiplier where the exact value sits on a rounding boundary)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        hires = np.float64(si) / 128.0
        output_real = float(hires / np.float64(so))
        reluish_real = float(hires / np.float64(RELUISH_SCALE))
    if not (math.isfinite(output_real) and math.isfinite(reluish_real)):
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} scale {si:g} and output {out.name!r} scale {so:g} overflow "
            "TFLite's HARD_SWISH rescaling: the scales are corrupt; re-quantize the model"
        )
    out_m32, out_exp = numerics.quantize_multiplier(output_real, rounding)
    if out_exp > 0:
        raise TinygenError(
            f"{common.where(op)}: output {out.name!r} scale {so:g} is too fine for input {x.name!r} scale {si:g}: "
            f"(input scale / 128) / output scale = {output_real:g} needs exponent {out_exp}; TFLite Micro's "
            "HARD_SWISH requires an output scale above about input scale / 128 (exponent <= 0): re-quantize the model"
        )
    rel_m32, rel_exp = numerics.quantize_multiplier(reluish_real, rounding)
    if rel_exp > MAX_RELUISH_EXPONENT:
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} scale {si:g} gives a reluish multiplier exponent of {rel_exp}; "
            f"TFLite's int8 HARD_SWISH is defined up to {MAX_RELUISH_EXPONENT} (input scale below about 2.5e7): the "
            "scale is corrupt; re-quantize the model"
        )
    return HardSwishParams(
        input_zero_point=zi, output_zero_point=zo,
        output_multiplier_fixedpoint_int16=downscale_int32_to_int16_multiplier(out_m32),
        output_multiplier_exponent=out_exp,
        reluish_multiplier_fixedpoint_int16=downscale_int32_to_int16_multiplier(rel_m32),
        reluish_multiplier_exponent=rel_exp)


# --------------------------------------------------------------------------- integer arithmetic (int16)


def wrap_int16(x: np.ndarray | int) -> np.ndarray:
    """static_cast<int16_t> (two's complement wrap, as gcc and clang do)."""
    return ((np.asarray(x, dtype=np.int64) + (1 << 15)) & 0xFFFF) - (1 << 15)


def srdhm16(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul<int16_t>."""
    a64, b64 = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    ab = a64 * b64
    total = ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    high = wrap_int16(np.where(total >= 0, total // (1 << 15), -((-total) // (1 << 15))))
    return np.where((a64 == INT16_MIN) & (b64 == INT16_MIN), INT16_MAX, high)


def sdhm16(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """TFLite's SaturatingDoublingHighMul (int16, truncating toward zero)."""
    a64, b64 = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    ab = a64 * b64
    high = wrap_int16(np.where(ab >= 0, ab // (1 << 15), -((-ab) // (1 << 15))))
    return np.where((a64 == INT16_MIN) & (b64 == INT16_MIN), INT16_MAX, high)


def saturating_left_shift16(x: np.ndarray, amount: int) -> np.ndarray:
    """TFLite's SaturatingLeftShift (int16, 0 <= amount <= 30)."""
    return np.clip(np.asarray(x, dtype=np.int64) * (1 << amount), INT16_MIN, INT16_MAX)


def rounding_divide_by_pot16(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT<int16_t> (0 <= exponent <= 31), its mask truncated to int16."""
    x64 = np.asarray(x, dtype=np.int64)
    mask = int(wrap_int16((1 << exponent) - 1))
    remainder = x64 & mask
    threshold = wrap_int16((mask >> 1) + (x64 < 0))
    return wrap_int16((x64 >> exponent) + (remainder > threshold))


def hard_swish_int8(x: np.ndarray, p: HardSwishParams) -> np.ndarray:
    """reference_ops::HardSwish<int8_t> of the int8 values ``x``, element by element."""
    v = wrap_int16(np.asarray(x, dtype=np.int64) - p.input_zero_point)
    hires = wrap_int16(v * (1 << 7))
    preshift = srdhm16(hires, p.output_multiplier_fixedpoint_int16)
    reluish = hires
    e = p.reluish_multiplier_exponent
    if e > 0:
        reluish = saturating_left_shift16(reluish, e - 1)
    reluish = srdhm16(reluish, p.reluish_multiplier_fixedpoint_int16)
    if e > 0:
        reluish = saturating_left_shift16(reluish, 1)
    if e < 0:
        reluish = rounding_divide_by_pot16(reluish, -e)
    reluish = wrap_int16((reluish + (1 << 15)) >> 1)
    out = sdhm16(reluish, preshift)
    out = rounding_divide_by_pot16(out, -p.output_multiplier_exponent)
    out = wrap_int16(out + p.output_zero_point)
    return np.clip(out, -128, 127).astype(np.int8)


def table(p: HardSwishParams) -> np.ndarray:
    """tg_lut_s8's table: the 256 outputs, entry k for the int8 input whose bits are k (``(uint8_t)x``):
    0..127, then -128..-1."""
    return hard_swish_int8(np.arange(256, dtype=np.uint8).view(np.int8), p)


def reference(graph: Graph, op: Op, p: HardSwishParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return hard_swish_int8(args[0], p)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    x = np.asarray(inputs[0])
    return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0


# --------------------------------------------------------------------------- import


def emit(b: Any, name: str, x: str) -> str:
    """The op of Keras activation "hard_swish"/"hard_silu" (``Dense(..., activation="hard_silu")``,
    ``Activation("hard_swish")``)."""
    return b.op(KIND, name, [x], b.shape(x))


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x = ctx.graph.tensor(op.inputs[0])
    return lut_call(ctx, op, table(p), f"hard_swish {shape_str(x)}, tabulated (input zero point "
                      f"{p.input_zero_point}, output multiplier {p.output_multiplier_fixedpoint_int16} exponent "
                      f"{p.output_multiplier_exponent}, reluish multiplier {p.reluish_multiplier_fixedpoint_int16} "
                      f"exponent {p.reluish_multiplier_exponent}, output zero point {p.output_zero_point})")


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    x = xs[0]
    return x * tf.nn.relu6(x + 3.0) / 6.0


OP = OpDef(
    kind=KIND,
    infer_shape=common.same_shape,
    num_inputs=(1, 1),
    check=_check,
    params=params,
    reference=reference,
    float_reference=float_reference,
    tflite=(TfliteMapping("HARD_SWISH", common.unary_from_tflite(KIND)),),
    keras_activations={name: emit for name in KERAS_ACTIVATIONS},
    lowerings=(lower,),
    in_place=common.same_layout,
    qat=QatHooks(forward=_qat_forward),
)
