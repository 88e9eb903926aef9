"""SWISH (Keras ``activation="silu"`` / ``"swish"``, ``Activation("silu")``): ``x * sigmoid(x)``, int8 -> int8
with the output's own calibrated quantization (OWN_RANGE).

TFLite has no SWISH builtin: TensorFlow's converter lowers the Keras activation to LOGISTIC and MUL, so there
is no TFLite Micro kernel to be bit-exact with and a ``.tflite`` never imports as this op. tinygen's own Keras
flow emits it as one op: the int8 result is the float function (float64, ``x / (1 + exp(-x))``) rounded to the
nearest output step for each of the 256 inputs (:mod:`tinygen.ops.float_lut`), tabulated offline and looked up
by ``tg_lut_s8`` (one lookup instead of the converter's LOGISTIC, its 1/256 grid, and a MUL);
:func:`reference` computes the same values element by element.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygen.ir import Graph, Op
from tinygen.lowering.args import lut_call, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common, float_lut
from tinygen.ops.base import OpDef, QatHooks

KIND = "swish"

#: the Keras activation names of this op ("silu" is what Keras 3 serialises, "swish" its alias)
KERAS_ACTIVATIONS = ("silu", "swish")


def swish(x: np.ndarray) -> np.ndarray:
    """``x * sigmoid(x)`` (``exp(-x)`` overflows to inf below about -709: the result is then -0, exactly right)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        return x / (1.0 + np.exp(-x))


def _check(graph: Graph, op: Op) -> None:
    float_lut.params(graph, op)


def params(graph: Graph, op: Op, rounding: str) -> float_lut.FloatLutParams:
    """The quantizations the table is computed from (``rounding`` plays no part)."""
    return float_lut.params(graph, op)


def table(p: float_lut.FloatLutParams) -> np.ndarray:
    return float_lut.table(swish, p)


def reference(graph: Graph, op: Op, p: float_lut.FloatLutParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return float_lut.lut_int8(swish, args[0], p)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return swish(inputs[0])


def emit(b: Any, name: str, x: str) -> str:
    """The op of Keras activation "silu"/"swish" (``Dense(..., activation="swish")``, ``Activation("silu")``)."""
    return b.op(KIND, name, [x], b.shape(x))


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)
    x = ctx.graph.tensor(op.inputs[0])
    return lut_call(ctx, op, table(p), f"swish {shape_str(x)}, tabulated ({float_lut.describe(p)})")


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return xs[0] * tf.sigmoid(xs[0])


OP = OpDef(
    kind=KIND,
    infer_shape=common.same_shape,
    num_inputs=(1, 1),
    check=_check,
    params=params,
    reference=reference,
    float_reference=float_reference,
    keras_activations={name: emit for name in KERAS_ACTIVATIONS},
    lowerings=(lower,),
    in_place=common.same_layout,
    qat=QatHooks(forward=_qat_forward),
)
