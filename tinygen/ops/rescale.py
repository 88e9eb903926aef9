"""RESCALE (Keras ``Rescaling(scale, offset)``): ``x * scale + offset`` with one scale and one offset for the whole
tensor, int8 -> int8 with the output's own calibrated quantization (OWN_RANGE).

TFLite has no such builtin (TensorFlow's converter turns Rescaling into MUL and ADD by constants, or folds it into
its input quantization). tinygen's own Keras flow emits it as one op whose int8 result is the float value rounded
to the nearest output step for each of the 256 inputs (:mod:`tinygen.ops.float_lut`), tabulated offline and looked
up by ``tg_lut_s8``. As a model's first layer (the usual ``Rescaling(1/255)``, MobileNet's ``Rescaling(1/127.5,
-1)``, and a ``Normalization`` with one mean and variance, which the quantizer's passes turn into this op) the
quantizer folds it into the input's quantization instead (:func:`tinygen.quantize.quantizer.plan_input_folds`):
the graph's int8 input means the raw, un-rescaled input on a grid the affine map sends exactly onto the rescaled
value's, and the op becomes a view (no code). It stays a table where that cannot be exact or would round coarser
(a negative scale, an offset below one output step, an input other layers read too, not the first layer).
Per-element (per-channel) scales or offsets are refused: a 256-entry table holds one function.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinygen.ir import Graph, Op
from tinygen.lowering.args import lut_call, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common, float_lut
from tinygen.ops.base import Attr, AttrError, OpDef, QatHooks

KIND = "rescale"


def finite_float(value: Any) -> float:
    """A finite number, stored as float32 (what Keras computes Rescaling with)."""
    if isinstance(value, (bool, np.bool_)):
        raise AttrError(f"{value!r} is not a number")
    try:
        with np.errstate(over="ignore"):  # beyond float32: inf, refused below
            v = float(np.float32(value))
    except (TypeError, ValueError):
        raise AttrError(f"{value!r} is not a number") from None
    if not math.isfinite(v):
        raise AttrError(f"{value!r} is not a finite float32 number")
    return v


def _affine(op: Op) -> Any:
    scale, offset = op.attrs["scale"], op.attrs["offset"]
    return lambda x: np.asarray(x, dtype=np.float64) * scale + offset


def _check(graph: Graph, op: Op) -> None:
    float_lut.params(graph, op)


def params(graph: Graph, op: Op, rounding: str) -> float_lut.FloatLutParams:
    """The quantizations the table is computed from (``rounding`` plays no part)."""
    return float_lut.params(graph, op)


def table(op: Op, p: float_lut.FloatLutParams) -> np.ndarray:
    return float_lut.table(_affine(op), p)


def reference(graph: Graph, op: Op, p: float_lut.FloatLutParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return float_lut.lut_int8(_affine(op), args[0], p)


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    f32 = np.float32
    return np.asarray(inputs[0], f32) * f32(op.attrs["scale"]) + f32(op.attrs["offset"])


# --------------------------------------------------------------------------- import


def _one_value(layer: Any, name: str, value: Any) -> float:
    """A Rescaling parameter as one number (a list of equal values counts as one)."""
    from tinygen.quantize.layers import layer_error

    try:
        values = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise layer_error(layer, f"{name}={value!r} is not a number") from None
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise layer_error(layer, f"{name}={value!r} is not a finite number")
    if np.any(values != values[0]):
        raise layer_error(
            layer, f"{name}={value!r} differs per element (per-channel rescaling); tinygen's Rescaling takes one scale "
            "and one offset for the whole tensor: normalise the data before the model, or fold the per-channel "
            "factors into the next layer's weights")
    return float(np.float32(values[0]))


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """keras.layers.Rescaling: one op anywhere in the model (one scale and one offset)."""
    from tinygen.quantize.layers import single_input

    x = single_input(layer, inputs)
    cfg = layer.get_config()
    scale = _one_value(layer, "scale", cfg.get("scale", 1.0))
    offset = _one_value(layer, "offset", cfg.get("offset", 0.0))
    return b.op(KIND, layer.name, [x], b.shape(x), scale=scale, offset=offset)


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    p = params(ctx.graph, op, ctx.rounding)
    x = ctx.graph.tensor(op.inputs[0])
    return lut_call(ctx, op, table(op, p), f"rescale {shape_str(x)} by {op.attrs['scale']:g} + "
                    f"{op.attrs['offset']:g}, tabulated ({float_lut.describe(p)})")


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return xs[0] * float(attrs["scale"]) + float(attrs["offset"])


OP = OpDef(
    kind=KIND,
    attrs=(Attr("scale", finite_float), Attr("offset", finite_float, 0.0)),
    infer_shape=common.same_shape,
    num_inputs=(1, 1),
    check=_check,
    params=params,
    reference=reference,
    float_reference=float_reference,
    keras_layers={"Rescaling": from_keras},
    lowerings=(lower,),
    in_place=common.same_layout,
    qat=QatHooks(forward=_qat_forward),
)
