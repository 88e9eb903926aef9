"""RESHAPE (and SQUEEZE, EXPAND_DIMS, Keras Flatten/Reshape): the same bytes under another shape. TFLite Micro copies
the input to the output (a memcpy); tinygen's planner makes the output a view of the input, so no code
runs. The element count must not change; the output shape is the declared one (TFLite's shape operand
is dropped on import: the output shape says it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import const_ptr, in_out, shape_str
from tinygen.lowering.base import KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import SAME_AS_INPUT, OpDef, QatHooks, TfliteMapping

KIND = "reshape"


@dataclass(frozen=True)
class ReshapeParams:
    """reshape: a byte copy (or no-op in place)."""


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    """The declared output shape, which must hold the input's element count (any shape that does is legal)."""
    src, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if src.size != out.size:
        raise TinygenError(
            f"{common.where(op)}: input {src.name!r} of shape {src.shape} ({src.size} elements) cannot be reshaped to "
            f"output {out.name!r} of shape {out.shape} ({out.size} elements): a reshape keeps the element count; "
            "fix or re-export the model"
        )
    return out.shape


def params(graph: Graph, op: Op, rounding: str) -> ReshapeParams:
    return ReshapeParams()


def reference(graph: Graph, op: Op, p: ReshapeParams, args: list[np.ndarray], rounding: str) -> np.ndarray:
    return args[0].reshape(graph.tensor(op.outputs[0]).shape).copy()


def float_reference(op: Op, inputs: list[np.ndarray]) -> np.ndarray:
    return inputs[0]  # the caller reshapes to the output shape (with its batch size)


# --------------------------------------------------------------------------- import


def from_tflite(imp: Any, raw: Any) -> Op:
    x = imp.inputs(raw, 1)[0]
    return Op(KIND, "", [imp.activation_tensor(raw, x)], [], {})


def _reshape_to(b: Any, layer: Any, x: str, target: tuple[int, ...]) -> str:
    return b.op(KIND, layer.name, [x], target)


def from_keras_flatten(b: Any, layer: Any, inputs: list[str]) -> str:
    from tinygen.quantize.layers import _channels_last, single_input

    x = single_input(layer, inputs)
    _channels_last(layer)
    return _reshape_to(b, layer, x, (1, int(np.prod(b.shape(x)[1:]))))


def from_keras_reshape(b: Any, layer: Any, inputs: list[str]) -> str:
    from tinygen.quantize.layers import layer_error, single_input

    x = single_input(layer, inputs)
    target = [int(d) for d in layer.get_config()["target_shape"]]
    size = int(np.prod(b.shape(x)[1:]))
    if target.count(-1) == 1:
        known = int(np.prod([d for d in target if d != -1]))
        target[target.index(-1)] = size // known if known else 0
    if int(np.prod(target)) != size:
        raise layer_error(layer, f"target shape {tuple(target)} does not fit input shape {b.shape(x)}")
    return _reshape_to(b, layer, x, (1, *target))


# --------------------------------------------------------------------------- lowering


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    """Only for a context that does not alias (codegen emits no code for an alias): ``tg_copy_s8`` copies
    when the buffers differ and returns at once when ``src == dst``."""
    x, out = in_out(ctx, op)
    out_ptr = ctx.tensor_ptr(out.name)  # an int16 tensor's (16x8 models) as bytes
    args = (const_ptr(ctx, x.name), str(x.nbytes), out_ptr if out.dtype == "int8" else f"(int8_t *)(void *)({out_ptr})")
    comment = f"reshape {shape_str(x)} -> {shape_str(out)} (no-op when aliased)"
    return KernelCall("tg_copy_s8", args, comment=comment)


# --------------------------------------------------------------------------- QAT


def _qat_forward(tf: Any, xs: list[Any], attrs: dict[str, Any], out_shape: list[int]) -> Any:
    return tf.reshape(xs[0], (-1, *out_shape[1:]))


OP = OpDef(
    kind=KIND,
    infer_shape=infer_shape,
    # a (constant) shape operand may follow the data input; the output shape is what counts
    num_inputs=(1, 2),
    params=params,
    reference=reference,
    data_inputs=1,
    float_reference=float_reference,
    quant_rule=SAME_AS_INPUT,
    tflite=(
        TfliteMapping("RESHAPE", from_tflite, int16=True),
        TfliteMapping("SQUEEZE", from_tflite, int16=True),
        # every Conv1D exported to .tflite: [1, L, C] -> [1, 1, L, C] around a CONV_2D (the axis operand is
        # implied by the declared output shape, the bytes are the same)
        TfliteMapping("EXPAND_DIMS", from_tflite, int16=True),
    ),
    keras_layers={"Flatten": from_keras_flatten, "Reshape": from_keras_reshape},
    lowerings=(lower,),
    alias=True,
    qat=QatHooks(forward=_qat_forward),
)
