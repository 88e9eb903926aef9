"""What an op module declares: :class:`OpDef`, the one definition of an op kind.

Every op kind lives in one module of :mod:`tinygen.ops` (one file per op, or per tight family such as
pooling). That module is the only place that knows the op; the rest of tinygen asks the registry
(:func:`tinygen.ops.get`) and never spells an op kind:

* the IR attributes with their checks, the number of inputs, shape inference and the per-op checks
  (:meth:`OpDef.check`, run by ``Graph.validate`` before anything is generated);
* the integer parameters (TFLite Micro's Prepare), the numpy reference (TFLite Micro's arithmetic),
  the float reference (calibration, quantization report) and the quantization rule;
* the ``.tflite`` import (builtin codes, their options with defaults) and the Keras layer/activation
  mappings;
* the lowerings (tried in order; the first that returns a call wins), the memory needs (may the output
  overwrite the first input, with what lag; is the output a view of the input) and the MAC count;
* the QAT hooks (TensorFlow forward and the exact integer result).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from tinygen.errors import TinygenError

if TYPE_CHECKING:  # imports for annotations only (the op modules import the real ones)
    from tinygen.ir import Graph, Op
    from tinygen.lowering.base import KernelCall, LoweringContext

#: largest filter, stride, dilation or padding tinygen accepts: far beyond any real model, small enough
#: that every index the C computes from it stays well inside int32
MAX_WINDOW = 1 << 16

REQUIRED = object()


class AttrError(ValueError):
    """An attribute value outside its legal range; the message says what is legal."""


@dataclass(frozen=True)
class Attr:
    """One IR attribute: its name, a checker that returns the normalised value or raises
    :class:`AttrError` saying what is legal, and its default (``REQUIRED``: none)."""

    name: str
    check: Callable[[Any], Any]
    default: Any = REQUIRED


# --------------------------------------------------------------------------- attribute checkers


def _int(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise AttrError(f"{value!r} is not an integer")
    return int(value)


def positive_pair(value: Any) -> tuple[int, int]:
    """(h, w), each in [1, MAX_WINDOW]: strides, dilations, filter sizes."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise AttrError(f"{value!r} is not a pair (h, w)")
    pair = (_int(value[0]), _int(value[1]))
    if not all(1 <= v <= MAX_WINDOW for v in pair):
        raise AttrError(f"{pair} has a value outside 1..{MAX_WINDOW}")
    return pair


def padding_mode(value: Any) -> str:
    if value not in ("same", "valid"):
        raise AttrError(f"{value!r} is neither 'same' nor 'valid'")
    return str(value)


def boolean(value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise AttrError(f"{value!r} is not a boolean")
    return bool(value)


def integer(value: Any) -> int:
    return _int(value)


def positive_int(value: Any) -> int:
    v = _int(value)
    if not 1 <= v <= MAX_WINDOW:
        raise AttrError(f"{v} is outside 1..{MAX_WINDOW}")
    return v


def positive_float(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise AttrError(f"{value!r} is not a number") from None
    if not math.isfinite(v) or v <= 0:
        raise AttrError(f"{v!r} is not a finite number > 0")
    return v


def int_tuple(value: Any) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)):
        raise AttrError(f"{value!r} is not a tuple of integers")
    return tuple(_int(v) for v in value)


def pad_pairs(value: Any) -> tuple[tuple[int, int], ...]:
    """((before, after), ...) per dimension, each in [0, MAX_WINDOW]."""
    if not isinstance(value, (tuple, list)):
        raise AttrError(f"{value!r} is not a tuple of (before, after) pairs")
    pairs = []
    for p in value:
        if not isinstance(p, (tuple, list)) or len(p) != 2:
            raise AttrError(f"{value!r} is not a tuple of (before, after) pairs")
        b, a = _int(p[0]), _int(p[1])
        if not (0 <= b <= MAX_WINDOW and 0 <= a <= MAX_WINDOW):
            raise AttrError(f"pair {(b, a)} is outside 0..{MAX_WINDOW}")
        pairs.append((b, a))
    return tuple(pairs)


def fused_activation(value: Any) -> str:
    from tinygen.activations import ACTIVATIONS

    if value not in ACTIVATIONS:
        raise AttrError(f"{value!r} is not one of {', '.join(ACTIVATIONS)}")
    return str(value)


ACTIVATION = Attr("activation", fused_activation, "none")


# --------------------------------------------------------------------------- mappings


@dataclass(frozen=True)
class TfliteMapping:
    """A ``.tflite`` builtin operator that imports as this op: its options table class, the fields read
    from it with their schema defaults (used where a model omits the table), and the converter
    ``convert(importer, raw_op) -> ir.Op`` (see :mod:`tinygen.frontend.tflite` for the importer's helpers).
    A converter may instead return a list of IR ops the operator is rewritten into (SPLIT into slices...),
    each with its outputs set (``importer.output(raw_op, kind, position)`` for the operator's own outputs,
    ``importer.derived(like, shape, suffix)`` for new intermediate tensors)."""

    builtin: str
    convert: Callable[[Any, Any], "Op | list[Op]"]
    options: type | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    #: the builtin also imports with int16 activations (TFLite's 16x8 mode: int16 zero point 0, int8 weights)
    int16: bool = False


@dataclass(frozen=True)
class QatHooks:
    """How QAT (:mod:`tinygen.qat.layers`) runs the op in TensorFlow. Each hook gets the TensorFlow module.

    ``forward(tf, xs, attrs, out_shape)``: the float result of a non-weighted op (fused activation applied
    by the caller). ``linear(tf, x, w, attrs, weight_shape)``: a weighted op without its bias (called on
    fake-quantized float values and on the exact integers). ``accumulate(tf, x, x_int, in_zp, attrs)``:
    ``(float result, integer accumulator)`` of a requantizing op without weights. ``exact(tf, x, params,
    attrs)``: ``[float result, exact int8 result dequantized]`` of an op whose int8 kernel is not a
    requantization (average pooling)."""

    forward: Callable[..., Any] | None = None
    linear: Callable[..., Any] | None = None
    accumulate: Callable[..., Any] | None = None
    exact: Callable[..., Any] | None = None


#: quantization rules (how tinygen's quantizer picks the output's parameters)
OWN_RANGE = "own_range"  # the output gets its calibrated range (the op requantizes)
SAME_AS_INPUT = "same_as_input"  # input 0 and output share one set (the kernel does not requantize)
SHARED_BY_ALL = "shared_by_all"  # every input and the output share one set (concatenation)


Lowering = Callable[["LoweringContext", "Op"], "KernelCall | None"]


@dataclass(frozen=True)
class OpDef:
    """The definition of one op kind. Only ``kind`` and ``infer_shape`` are required; an op without
    ``params``/``reference`` cannot run, one without lowerings cannot be compiled, and the errors say so."""

    kind: str
    #: output shape from the op's input shapes and attributes (``graph.tensor(op.inputs[i]).shape``)
    infer_shape: Callable[["Graph", "Op"], tuple[int, ...]]
    attrs: tuple[Attr, ...] = ()
    #: (fewest, most) inputs; most None: any number
    num_inputs: tuple[int, int | None] = (1, 1)
    #: further checks of the op's tensors (types, constant inputs, consistency), raising TinygenError
    check: Callable[["Graph", "Op"], None] | None = None
    #: integer parameters ``params(graph, op, rounding)``
    params: Callable[["Graph", "Op", str], Any] | None = None
    #: numpy reference ``reference(graph, op, params, args, rounding) -> output`` (a tuple of arrays, one per
    #: output, for an op with several outputs)
    reference: Callable[..., np.ndarray] | None = None
    #: leading inputs the reference receives as arrays (the rest are parameters it reads from the graph)
    data_inputs: int | None = None
    #: requantization of an integer accumulator ``from_accumulator(params, acc, rounding)``: what the
    #: reference does after accumulating (QAT computes its exact forward value with it)
    from_accumulator: Callable[[Any, np.ndarray, str], np.ndarray] | None = None
    #: float reference ``float_reference(op, inputs) -> output`` on batches (inputs include constants)
    float_reference: Callable[["Op", list[np.ndarray]], np.ndarray] | None = None
    quant_rule: str = OWN_RANGE
    #: a fixed output (scale, zero point) for tinygen's quantizer (softmax: 1/256, -128)
    fixed_output_quant: tuple[float, int] | None = None
    #: weighted ops (inputs x, weights, bias): the per-channel axis of the weights
    weight_axis: int | None = None
    #: a following ReLU/ReLU6 may become this op's fused activation
    fuses_activation: bool = False
    #: a following BatchNormalization folds into the weights (needs ``weight_axis``)
    folds_batchnorm: bool = False
    #: a following fused-activation op (relu, relu6) this op is, for fusion: its activation name
    is_activation: str | None = None
    #: the op may read or write float32 at the graph's edge (QUANTIZE in, DEQUANTIZE out)
    float_edge: str | None = None
    tflite: tuple[TfliteMapping, ...] = ()
    #: Keras layer class name -> ``convert(builder, layer, inputs) -> output name``
    keras_layers: Mapping[str, Callable[..., str]] = field(default_factory=dict)
    #: Keras activation name (``activation="..."``) -> ``emit(builder, name, x) -> output name``
    keras_activations: Mapping[str, Callable[..., str]] = field(default_factory=dict)
    #: portable/DSP lowerings, tried in order; a lowering returns None for a configuration it does not cover
    lowerings: tuple[Lowering, ...] = ()
    #: Helium (MVE) lowerings, tried first on a core with MVE
    mve_lowerings: tuple[Lowering, ...] = ()
    #: the output is a view of the first input: no code, the planner gives both one buffer
    alias: bool = False
    #: the kernel may write the output over its first input at the same offset
    in_place: Callable[["Graph", "Op"], bool] | None = None
    #: the kernel may write the output over its first input starting ``lag`` bytes before it (None: not here)
    in_place_lag: Callable[["Graph", "Op"], "int | None"] | None = None
    macs: Callable[["Graph", "Op"], int] | None = None
    qat: QatHooks | None = None

    # -- checks ----------------------------------------------------------------------------------

    def validate(self, graph: "Graph", op: "Op", index: int, quantized: bool = True) -> None:
        """Attributes, input count, the op's own checks (``quantized``: the graph is the int8 one, not the
        Keras flow's float graph, whose tensors the checks of types and quantization do not apply to),
        output shape = inferred shape. An op with several outputs (an LSTM's final states) checks the
        number and shapes of the others in its ``check``."""
        where = describe(op, index)
        lo, hi = self.num_inputs
        if len(op.inputs) < lo or (hi is not None and len(op.inputs) > hi):
            want = f"{lo}" if hi == lo else f"{lo} or more" if hi is None else f"{lo} to {hi}"
            raise TinygenError(f"{where}: has {len(op.inputs)} inputs, expected {want}")
        if not op.outputs:
            raise TinygenError(f"{where}: has no output")
        known = {a.name for a in self.attrs}
        unknown = sorted(set(op.attrs) - known)
        if unknown:
            raise TinygenError(f"{where}: unknown attribute(s) {unknown}; {self.kind} takes {sorted(known) or 'none'}")
        for attr in self.attrs:
            if attr.name not in op.attrs:
                if attr.default is REQUIRED:
                    raise TinygenError(f"{where}: missing attribute {attr.name!r}")
                op.attrs[attr.name] = attr.default
                continue
            try:
                op.attrs[attr.name] = attr.check(op.attrs[attr.name])
            except AttrError as exc:
                raise TinygenError(f"{where}: attribute {attr.name!r}: {exc}: fix or re-export the model") from None
        if self.check is not None and quantized:
            self.check(graph, op)
        try:
            expected = tuple(int(d) for d in self.infer_shape(graph, op))
        except TinygenError:
            raise
        except (ValueError, IndexError, ZeroDivisionError, TypeError) as exc:
            raise TinygenError(f"{where}: its input shapes do not fit its attributes ({exc})") from None
        out = graph.tensor(op.outputs[0])
        if expected != tuple(out.shape):
            raise TinygenError(
                f"{where}: output {out.name!r} has shape {tuple(out.shape)}, expected {expected} from its inputs "
                "and attributes: fix or re-export the model"
            )


def describe(op: "Op", index: int | None = None) -> str:
    """How messages name an op: ``op 3 (conv2d 'name')``."""
    return f"op {index} ({op.kind} {op.name!r})" if index is not None else f"{op.kind} op {op.name!r}"
