"""HARD_SIGMOID (Keras ``activation="hard_sigmoid"``, ``Activation("hard_sigmoid")``): Keras 3's
``relu6(x + 3) / 6`` (0 up to -3, 1 from 3, ``x / 6 + 1/2`` between; not Keras 2's ``0.2 x + 0.5``), int8 -> int8
with the output's own calibrated quantization (OWN_RANGE).

TFLite has no HARD_SIGMOID builtin: TensorFlow's converter lowers the Keras activation to other ops (the + 3
folded into a preceding bias with a fused RELU6, or ADD and RELU6; then MUL by 1/6), so there is no TFLite Micro kernel to be bit-exact with and a ``.tflite``
never imports as this op. tinygen's own Keras flow emits it: the int8 result is the float function rounded to
the nearest output step for each of the 256 inputs (:mod:`tinygen.ops.float_lut`), tabulated offline and
looked up by ``tg_lut_s8``; :func:`reference` computes the same values element by element.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygen.ir import Graph, Op
from tinygen.lowering.args import lut_call, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common, float_lut
from tinygen.ops.base import OpDef, QatHooks

KIND = "hard_sigmoid"

#: the Keras activation name of this op
KERAS_ACTIVATION = "hard_sigmoid"


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    """Keras 3's hard sigmoid, ``relu6(x + 3) / 6``."""
    return np.clip(np.asarray(x) + 3.0, 0.0, 6.0) / 6.0


def _check(graph: Graph, op: Op) -> None:
    float_lut.params(graph, op)


def params(graph: Graph, op: Op, rounding: str) -> float_lut.FloatLutParams:
    """The quantizations the table is computed from (``rounding`` plays no part)."""
    return float_lut.params(graph, op)


def table(p: float_lut.FloatLutParams) -> np.ndarray:
    return float_lut.table(hard_sigmoid, p)


def reference(graph: Graph, op: Op, p: float_lut.FloatLutParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return float_lut.lut_int8(hard_sigmoid, args[0], p)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return hard_sigmoid(inputs[0])


def emit(b: Any, name: str, x: str) -> str:
    """The op of Keras activation "hard_sigmoid" (``Dense(..., activation="hard_sigmoid")``,
    ``Activation("hard_sigmoid")``)."""
    return b.op(KIND, name, [x], b.shape(x))


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)
    x = ctx.graph.tensor(op.inputs[0])
    return lut_call(ctx, op, table(p), f"hard_sigmoid {shape_str(x)}, tabulated ({float_lut.describe(p)})")


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return tf.nn.relu6(xs[0] + 3.0) / 6.0


OP = OpDef(
    kind=KIND,
    infer_shape=common.same_shape,
    num_inputs=(1, 1),
    check=_check,
    params=params,
    reference=reference,
    float_reference=float_reference,
    keras_activations={KERAS_ACTIVATION: emit},
    lowerings=(lower,),
    in_place=common.same_layout,
    qat=QatHooks(forward=_qat_forward),
)
