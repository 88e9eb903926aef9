"""ELU (Keras ``ELU`` layer with alpha 1, ``activation="elu"``): ``x < 0 ? e^x - 1 : x``, int8 -> int8 with
the output's own quantization, bit-exact with TFLite Micro's int8 ELU.

TFLite Micro (``CalculateOpData`` and ``PopulateLookupTable<int8_t>`` in micro/kernels/elu.cc) builds a
256-entry table in Prepare, all in float32:

* ``inverse_scale = 1 / output_scale`` (float division);
* for each int8 ``v``: ``dequantized = input_scale * (v - input_zero_point)`` (the int difference converted
  to float, a float product), ``transformed = dequantized < 0 ? std::exp(dequantized) - 1.0f :
  dequantized`` (expf, then a float subtraction; not expm1), ``rescaled = TfLiteRound(transformed *
  inverse_scale)`` (roundf: ties away from zero), ``quantized = static_cast<int32_t>(rescaled +
  output_zero_point)`` (a float addition), clamped to [-128, 127];
* Eval looks each input up (``table[(uint8_t)x]``). No rounding mode plays a part; Prepare checks nothing
  of the quantization. ELU has no alpha in TFLite.

The float-to-int32 conversion is undefined in C++ when ``rescaled + output_zero_point`` is out of int32's
range (an input scale absurdly large against the output scale): tinygen refuses those models.

tinygen tabulates the same arithmetic offline (:func:`elu_int8`) and reuses the kernel ``tg_lut_s8``;
:func:`reference` runs the arithmetic itself element by element. ``expf`` is not correctly rounded: the
oracle's is the C library's (glibc, on the x86-64 hosts TFLite Micro's Python interpreter runs on), about one
float32 result in 1500 differs from the correctly rounded one, which moves a table entry where the product
lands next to a rounding tie. :func:`glibc_expf` is glibc's algorithm (sysdeps/ieee754/flt-32/e_expf.c, the
ARM optimized-routines expf: a 32-entry table of 2^(i/32) and a cubic in double), so the tables do not depend
on the C library of the machine that generates them.
"""

from __future__ import annotations

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

KIND = "elu"

#: the Keras activation name of this op
KERAS_ACTIVATION = "elu"

#: every int8 value, in table order (entry k for the int8 whose bits are k): 0..127, then -128..-1
_TABLE_ORDER = np.arange(256, dtype=np.uint8).view(np.int8)


@dataclass(frozen=True)
class EluParams:
    """What TFLite Micro's PopulateLookupTable reads: the float32 scales and the zero points."""

    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int


# glibc's expf (e_expf.c, e_exp2f_data.c): EXP2F_TABLE_BITS 5, EXP2F_POLY_ORDER 3
_EXPF_N = 32
#: tab[i] = asuint64(2^(i/N)) - (i << 47)
_EXPF_TAB = np.array([
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
], dtype=np.uint64)
_EXPF_SHIFT = float.fromhex("0x1.8p+52")
_EXPF_INV_LN2_N = float.fromhex("0x1.71547652b82fep+0") * _EXPF_N
_EXPF_C = (float.fromhex("0x1.c6af84b912394p-5") / _EXPF_N / _EXPF_N / _EXPF_N,
           float.fromhex("0x1.ebfce50fac4f3p-3") / _EXPF_N / _EXPF_N,
           float.fromhex("0x1.62e42ff0c52d6p-1") / _EXPF_N)
#: below log(2^-150) expf is 0 (__math_uflowf)
_EXPF_UNDERFLOW = float(np.float32(-float.fromhex("0x1.9fe368p6")))


def glibc_expf(x: np.ndarray) -> np.ndarray:
    """glibc's expf of the float32 values ``x`` <= 0 (the only ones ELU takes the exponential of): x*N/ln2 =
    k + r (k rounded by adding and subtracting 1.5 * 2^52), 2^(k/N) from the table, 2^(r/N) a cubic, all in
    double (no fused multiply-adds: they give the same results here, checked in the tests), then rounded to
    float."""
    xd = np.asarray(x, dtype=np.float32).astype(np.float64)
    under = xd < _EXPF_UNDERFLOW  # -inf too
    xd = np.where(under, 0.0, xd)
    z = _EXPF_INV_LN2_N * xd
    kd = z + _EXPF_SHIFT
    ki = kd.view(np.uint64)
    kd = kd - _EXPF_SHIFT
    r = z - kd
    t = _EXPF_TAB[ki % np.uint64(_EXPF_N)] + (ki << np.uint64(52 - 5))  # wraps modulo 2^64, as in C
    s = t.view(np.float64)
    zz = _EXPF_C[0] * r + _EXPF_C[1]
    r2 = r * r
    y = _EXPF_C[2] * r + 1.0
    y = zz * r2 + y
    y = y * s
    return np.where(under, np.float32(0.0), y.astype(np.float32))


def _rescaled(x: np.ndarray, p: EluParams) -> np.ndarray:
    """``rescaled + output_zero_point`` of PopulateLookupTable, float32 (before the int32 conversion)."""
    f32 = np.float32
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        inverse_scale = f32(1.0) / f32(p.output_scale)
        d = (np.asarray(x, dtype=np.int64) - p.input_zero_point).astype(f32)  # |d| <= 255: exact
        dequantized = (f32(p.input_scale) * d).astype(f32)
        exp = glibc_expf(np.minimum(dequantized, f32(0.0)))  # std::exp(float) is expf
        transformed = np.where(dequantized < f32(0.0), (exp - f32(1.0)).astype(f32), dequantized).astype(f32)
        product = (transformed * inverse_scale).astype(f32)
        rescaled = numerics.round_half_away(product).astype(f32)  # roundf: the rounded float is a float32
        return (rescaled + f32(p.output_zero_point)).astype(f32)


def _check(graph: Graph, op: Op) -> None:
    common.unary_int8(graph, op)


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> EluParams:
    """The quantization PopulateLookupTable reads (``rounding`` plays no part: it is all float)."""
    x, out = common.unary_int8(graph, op)
    si, zi = common.qp(x, op)
    so, zo = common.qp(out, op)
    p = EluParams(input_scale=float(np.float32(si)), input_zero_point=zi, output_scale=float(np.float32(so)),
                  output_zero_point=zo)
    values = _rescaled(_TABLE_ORDER, p).astype(np.float64)
    ok = np.isfinite(values) & (values >= numerics.INT32_MIN) & (values <= numerics.INT32_MAX)
    if not ok.all():
        raise TinygenError(
            f"{common.where(op)}: input {x.name!r} scale {si:g} against output {out.name!r} scale {so:g} puts "
            f"ELU's rescaled value out of int32's range (the float-to-int conversion of TFLite Micro's ELU is "
            f"then undefined); the input scale divided by the output scale must stay below about 2^31/256: "
            "re-quantize the model"
        )
    return p


def elu_int8(x: np.ndarray, p: EluParams) -> np.ndarray:
    """TFLite Micro's int8 ELU (PopulateLookupTable's arithmetic) of the int8 values ``x``."""
    quantized = _rescaled(x, p).astype(np.float64)
    return np.clip(np.trunc(quantized), -128, 127).astype(np.int8)


def table(p: EluParams) -> np.ndarray:
    """tg_lut_s8's table: the 256 outputs, entry k for the int8 input whose bits are k."""
    return elu_int8(_TABLE_ORDER, p)


def reference(graph: Graph, op: Op, p: EluParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return elu_int8(args[0], p)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    x = np.asarray(inputs[0])
    return np.where(x < 0, np.expm1(np.minimum(x, 0)), x)


# --------------------------------------------------------------------------- import


def emit(b: Any, name: str, x: str) -> str:
    """The op of Keras activation "elu" (``Dense(..., activation="elu")``, ``Activation("elu")``): alpha 1."""
    return b.op(KIND, name, [x], b.shape(x))


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """keras.layers.ELU: alpha 1 only (TFLite's ELU has no alpha)."""
    from tinygen.quantize.layers import layer_error, single_input

    x = single_input(layer, inputs)
    alpha = layer.get_config().get("alpha", 1.0)
    if alpha is None or float(alpha) != 1.0:
        raise layer_error(layer, f"alpha={alpha} is not supported; TFLite's ELU has alpha 1 only")
    return emit(b, layer.name, x)


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)  # type: ignore[arg-type]
    x = ctx.graph.tensor(op.inputs[0])
    return lut_call(ctx, op, table(p), f"elu {shape_str(x)}, tabulated (input scale {p.input_scale:g} "
                      f"zero point {p.input_zero_point}, output scale {p.output_scale:g} zero point "
                      f"{p.output_zero_point})")


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return tf.nn.elu(xs[0])


OP = OpDef(
    kind=KIND,
    infer_shape=common.same_shape,
    num_inputs=(1, 1),
    check=_check,
    params=params,
    reference=reference,
    float_reference=float_reference,
    tflite=(TfliteMapping("ELU", common.unary_from_tflite(KIND)),),
    keras_layers={"ELU": from_keras},
    keras_activations={KERAS_ACTIVATION: emit},
    lowerings=(lower,),
    in_place=common.same_layout,
    qat=QatHooks(forward=_qat_forward),
)
