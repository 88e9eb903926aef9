"""UNIDIRECTIONAL_SEQUENCE_LSTM, int8 activations x int8 weights -> int16 cell state ("8x8_16"), bit-exact with
TFLite Micro's integer LSTM (kernels/unidirectional_sequence_lstm.cc, lstm_eval.h/.cc, lstm_eval_common.cc).

The op: a Keras LSTM (no peephole, no projection, no layer norm, not CIFG), batch major (``[batch, steps,
features]``), with its output state (int8) and cell state (int16) kept between invocations, as TFLite
Micro keeps the VARIABLE tensors (reset: the int8 hidden state to its zero point, the int16 cell state to 0;
``MicroInterpreterGraph::ResetTensorData``).

IR form (made by the ``.tflite`` converter below):

* inputs: ``x`` [B, T, F] int8; the hidden state read ``h`` [B, U] int8 and the cell state read ``c``
  [B, U] int16;
  the input weights of the input, forget, cell and output gates [U, F] int8; their recurrent weights [U, U];
  their biases [U] int32 (TFLite's input order);
* outputs: the output sequence [B, T, U] int8, the final hidden state [B, U] int8, the final cell state
  [B, U] int16; the graph's two :class:`tinygen.ir.State` read ``h``/``c`` and write the last two;
* attributes: ``cell_clip`` (TFLite's option; clipping only when > 0) and ``cell_scale`` (the int16 cell
  state's scale, a power of two). The cell gate's activation is TANH (the fused activation; TFLite Micro's
  integer LSTM computes no other: the schema has no SIGMOID, and anything else fails there).

Prepare (``PrepareGateParametersInteger``, ``CreateGateParams``, ``CreateInterGateMulParams``,
``CreateLstmCellStateInfo``): each gate's input FC requantizes ``x_scale * w_scale / 2^-12`` and its
recurrent FC ``h_scale * r_scale / 2^-12`` (QuantizeMultiplier) to int16 (Q3.12, zero point 0); the forget
gate x cell product ``2^-15 * c_scale / c_scale``, the input x cell gate product ``2^-30 / c_scale`` (int16
outputs) and the output gate x tanh(cell) product ``2^-30 / h_scale`` with the hidden zero point (int8). The
hidden quantization is the output-state tensor's (input 18) as TFLite Micro reads it (the op's
intermediates, such as effective_hidden_scale_intermediate, are not read by TFLite Micro, nor here).
``quantized_cell_clip = (int16)clamp(cell_clip / c_scale)`` (truncated); ``cell_state_scale_power =
log2(c_scale)``.

Each step (``LstmStep``): for the forget, input and cell gates ``gate = act(sat16(FC(x_t)) +_sat
sat16(FC(h)))`` (sigmoid for forget/input, tanh for the cell gate, both on int16 with
TFLite's 256-entry interpolated sigmoid table: ``reference_integer_ops::Logistic``/``Tanh`` with multiplier
3 on Q3.12); ``cell = mul(forget, cell) +_sat mul(input, cell_gate)``, clipped; the output gate alike; then
``h = mul(tanh(cell), output)`` (int8, tanh on the cell scale's power), which is also the step's output row.

Keras (tinygen's quantizer): :func:`from_keras` makes the float op (the states' initial values as constant
zeros; a third output, every step's cell state, to calibrate the cell's range), :func:`float_reference` runs it
and :func:`quantize_keras` makes the int8 op as TFLite's converter would: weights per tensor, the cell scale the
power of two that covers the calibrated cells (:func:`cell_scale`), the hidden state on the output's range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from tinygen import ir, numerics
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op
from tinygen.lowering.args import hint, shape_str
from tinygen.lowering.base import QUANT, WEIGHTS, KernelCall, LoweringContext
from tinygen.ops import common
from tinygen.ops.base import Attr, AttrError, OpDef, TfliteMapping
from tinygen.ops.logistic import SIGMOID_TABLE  # the integer gates use LOGISTIC's int16 table

KIND = "unidirectional_sequence_lstm"

#: gate names in TFLite's input order (input, forget, cell, output)
GATES = ("input", "forget", "cell", "output")
#: IR input positions
X, H, C = 0, 1, 2
W_IN, W_REC, BIAS = 3, 7, 11
NUM_INPUTS = 15
#: gate pre-activations are Q3.12 int16 (scale 2^-12), gate outputs Q0.15 (2^-15)
GATE_IN_SCALE, GATE_OUT_SCALE = 2.0**-12, 2.0**-15
#: log2 of the cell scale where TFLite's int16 tanh rescaling stays inside int32 (shift -31..14)
MIN_CELL_POWER, MAX_CELL_POWER = -43, 2


def _finite_float(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise AttrError(f"{value!r} is not a number") from None
    if not math.isfinite(v):
        raise AttrError(f"{v!r} is not finite")
    return float(np.float32(v))


def _power_of_two_scale(value: Any) -> float:
    v = _finite_float(value)
    if v <= 0 or math.frexp(v)[0] != 0.5 or not MIN_CELL_POWER <= math.frexp(v)[1] - 1 <= MAX_CELL_POWER:
        raise AttrError(f"{v!r} is not a power of two in [2^{MIN_CELL_POWER}, 2^{MAX_CELL_POWER}] (TFLite's integer "
                        "LSTM computes tanh of the cell state on its power of two)")
    return v


ATTRS = (Attr("cell_clip", _finite_float, 0.0), Attr("cell_scale", _power_of_two_scale),
         # the Keras flow's float op only: a stateful layer (its states kept between invocations)
         Attr("stateful", bool, False))


# --------------------------------------------------------------------------- shapes and checks


def _dims(graph: Graph, op: Op) -> tuple[int, int, int, int]:
    """(batches, steps, features, units)."""
    b, t, f = graph.tensor(op.inputs[X]).shape
    units = graph.tensor(op.inputs[W_IN]).shape[0]
    return b, t, f, units


def infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    b, t, _, units = _dims(graph, op)
    return (b, t, units)


def _check(graph: Graph, op: Op) -> None:
    w = common.where(op)
    x = graph.tensor(op.inputs[X])
    if len(x.shape) != 3:
        raise TinygenError(f"{w}: input {x.name!r} has shape {x.shape}; the LSTM needs [batch, steps, features]")
    b, _, f = x.shape
    wi = graph.tensor(op.inputs[W_IN])
    if len(wi.shape) != 2 or wi.shape[1] != f or wi.shape[0] < 1:
        raise TinygenError(f"{w}: input-to-input weights {wi.name!r} have shape {wi.shape}, expected [units, {f}]")
    units = wi.shape[0]
    for k, gate in enumerate(GATES):
        for first, what, shape in ((W_IN, "input", (units, f)), (W_REC, "recurrent", (units, units))):
            t_ = graph.tensor(op.inputs[first + k])
            if t_.shape != shape or t_.dtype != "int8" or not t_.is_const:
                raise UnsupportedError(f"{w}: {what}-to-{gate} weights {t_.name!r} ({t_.dtype}, shape {t_.shape}) must "
                                       f"be constant int8 of shape {list(shape)} (int8 weights only)")
            if t_.quant is None or t_.quant.scale.size != 1:
                raise UnsupportedError(f"{w}: {what}-to-{gate} weights {t_.name!r} must be quantized per tensor (one "
                                       "scale), as TFLite's LSTM requires")
            zp = common.qp(t_, op)[1]
            if zp != 0:
                raise TinygenError(f"{w}: {what}-to-{gate} weights {t_.name!r} have zero point {zp}; TFLite's integer "
                                   "LSTM needs symmetric weights (zero point 0): re-quantize the model")
        bias = graph.tensor(op.inputs[BIAS + k])
        if bias.shape != (units,) or bias.dtype != "int32" or not bias.is_const:
            raise UnsupportedError(f"{w}: {gate} gate bias {bias.name!r} ({bias.dtype}, shape {bias.shape}) must be a "
                                   f"constant int32 [{units}]")
    common.require_int8(x, op)
    common.qp(x, op)
    h, c = graph.tensor(op.inputs[H]), graph.tensor(op.inputs[C])
    common.require_int8(h, op)
    common.qp(h, op)
    if h.size != b * units or h.is_const:
        raise TinygenError(f"{w}: output state {h.name!r} (shape {h.shape}) must be a variable of {b}x{units} int8 values")
    if c.dtype != "int16" or c.size != b * units or c.is_const:
        raise TinygenError(f"{w}: cell state {c.name!r} ({c.dtype}, shape {c.shape}) must be a variable of {b}x{units} "
                           "int16 values")
    if len(op.outputs) != 3:
        raise TinygenError(f"{w}: has {len(op.outputs)} outputs, expected 3 (sequence, output state, cell state)")
    out, h_out, c_out = (graph.tensor(n) for n in op.outputs)
    common.require_int8(out, op)
    common.qp(out, op)
    for written, read, what in ((h_out, h, "output state"), (c_out, c, "cell state")):
        if written.dtype != read.dtype or written.size != read.size:
            raise TinygenError(f"{w}: final {what} {written.name!r} ({written.dtype}, shape {written.shape}) does not "
                               f"match {read.name!r} ({read.dtype}, shape {read.shape})")
    # TFLite's accumulators are int32 (overflow undefined there): refuse weights whose sums could leave it
    for k, gate in enumerate(GATES):
        for first, src in ((W_IN, x), (W_REC, h)):
            zp = int(src.quant.zero_point[0])  # type: ignore[union-attr]
            reach = max(abs(-128 - zp), abs(127 - zp))
            wsum = np.abs(np.asarray(graph.tensor(op.inputs[first + k]).data, np.int64)).sum(axis=1) * reach
            bias = np.abs(np.asarray(graph.tensor(op.inputs[BIAS + k]).data, np.int64)) if first == W_IN else 0
            if int(np.max(wsum + bias)) >= 2**31:
                raise TinygenError(f"{w}: the {gate} gate's weights and bias can take its int32 accumulator beyond "
                                   "int32, where TFLite's arithmetic is undefined: corrupt weights; re-quantize the model")


# --------------------------------------------------------------------------- Prepare


@dataclass(frozen=True)
class LstmParams:
    """TFLite Micro's OpDataLSTM (integer): per gate (GATES order) the input and recurrent FC multipliers and
    shifts, the three inter-gate multiplications, the zero points, the clip and the int16 tanh rescaling of the
    cell state (``(c * tanh_multiplier + round) >> tanh_shift``)."""

    input_zero_point: int
    hidden_zero_point: int
    input_mult: tuple[tuple[int, int], ...]
    recurrent_mult: tuple[tuple[int, int], ...]
    forget_cell_mult: tuple[int, int]
    input_cell_mult: tuple[int, int]
    hidden_mult: tuple[int, int]
    #: quantized_cell_clip, None when cell_clip <= 0 (no clipping)
    cell_clip: int | None
    tanh_multiplier: int
    tanh_shift: int


def params(graph: Graph, op: Op, rounding: numerics.Rounding) -> LstmParams:
    x, h = graph.tensor(op.inputs[X]), graph.tensor(op.inputs[H])
    sx, zx = common.qp(x, op)
    sh, zh = common.qp(h, op)

    def f32(v: float) -> float:  # TFLite keeps every scale as float32
        return float(np.float32(v))

    ins, recs = [], []
    for k, gate in enumerate(GATES):
        sw = common.qp(graph.tensor(op.inputs[W_IN + k]), op)[0]
        sr = common.qp(graph.tensor(op.inputs[W_REC + k]), op)[0]
        ins.append(common.multiplier(f32(sx) * f32(sw) / GATE_IN_SCALE, op, f"{gate} gate input", rounding))
        recs.append(common.multiplier(f32(sh) * f32(sr) / GATE_IN_SCALE, op, f"{gate} gate recurrent", rounding))
    cs = f32(op.attrs["cell_scale"])
    forget = common.multiplier(GATE_OUT_SCALE * cs / cs, op, "forget x cell", rounding)
    inp = common.multiplier(GATE_OUT_SCALE * GATE_OUT_SCALE / cs, op, "input x cell gate", rounding)
    hid = common.multiplier(GATE_OUT_SCALE * GATE_OUT_SCALE / f32(sh), op, "output x tanh(cell)", rounding)
    clip = f32(op.attrs["cell_clip"])
    qclip = int(min(max(clip / cs, -32768.0), 32767.0)) if clip > 0 else None
    power = math.frexp(cs)[1] - 1
    left = 15 + power - 3
    tanh_mult, tanh_shift = (3 << left, 0) if left >= 0 else (3, -left)
    return LstmParams(zx, zh, tuple(ins), tuple(recs), forget, inp, hid, qclip, tanh_mult, tanh_shift)


# --------------------------------------------------------------------------- integer arithmetic


def sigmoid16(v: np.ndarray) -> np.ndarray:
    """reference_integer_ops::Logistic (int16) with input_multiplier 0 (3 on Q3.12), left shift 0."""
    xin = np.asarray(v, np.int64) * 3
    a = np.abs(xin)
    uh = a >> 9
    idx = np.minimum(uh, 254)
    ua, ub = SIGMOID_TABLE[idx], SIGMOID_TABLE[idx + 1]
    res = np.where(uh >= 255, 0x7FFF << 10, (ua << 9) + (a & 0x1FF) * (ub - ua))
    res = np.where(xin >= 0, res + (1 << 9), (1 << 25) - res + (1 << 9) - 1)
    return res >> 10


def tanh16(v: np.ndarray, multiplier: int = 3, shift: int = 0) -> np.ndarray:
    """reference_integer_ops::Tanh (int16) with the multiplier/shift after its power-of-two rewrite."""
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    xin = (np.asarray(v, np.int64) * multiplier + rnd) >> shift
    a = np.abs(xin)
    uh = a >> 8
    idx = np.minimum(uh, 254)
    ua, ub = SIGMOID_TABLE[idx], SIGMOID_TABLE[idx + 1]
    res = np.where(uh >= 255, 0xFFFF << 8, (ua << 8) + (a & 0xFF) * (ub - ua))
    res = np.where(xin >= 0, res - (1 << 23) + (1 << 7), -res + (1 << 23) + (1 << 7) - 1)
    return res >> 8


def _mul(a: np.ndarray, b: np.ndarray, m: tuple[int, int], zp: int, lo: int, hi: int, rounding: str) -> np.ndarray:
    """MulElementwise of two symmetric int16 vectors."""
    return np.clip(zp + numerics.multiply_by_quantized_multiplier(a * b, m[0], m[1], rounding), lo, hi)


def _fc(v: np.ndarray, zp: int, w: np.ndarray, bias: np.ndarray | None, m: tuple[int, int], rounding: str) -> np.ndarray:
    acc = w.astype(np.int64) @ (v.astype(np.int64) - zp)
    if bias is not None:
        acc = acc + bias
    return np.clip(numerics.multiply_by_quantized_multiplier(numerics.wrap_int32(acc), m[0], m[1], rounding),
                   -32768, 32767)


def reference(graph: Graph, op: Op, p: LstmParams, args: list[np.ndarray], rounding: str
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(args[X])
    b, t, _ = x.shape
    w_in = [np.asarray(a) for a in args[W_IN:W_IN + 4]]
    w_rec = [np.asarray(a) for a in args[W_REC:W_REC + 4]]
    bias = [np.asarray(a, np.int64) for a in args[BIAS:BIAS + 4]]
    units = w_in[0].shape[0]
    h = np.asarray(args[H], np.int8).reshape(b, units).astype(np.int64)
    c = np.asarray(args[C], np.int16).reshape(b, units).astype(np.int64)
    out = np.zeros((b, t, units), np.int64)

    def gate(k: int, batch: int, step: int, act: str) -> np.ndarray:
        pre = np.clip(_fc(x[batch, step], p.input_zero_point, w_in[k], bias[k], p.input_mult[k], rounding)
                      + _fc(h[batch], p.hidden_zero_point, w_rec[k], None, p.recurrent_mult[k], rounding), -32768, 32767)
        return sigmoid16(pre) if act == "sigmoid" else tanh16(pre)

    for batch in range(b):
        for step in range(t):
            forget = gate(1, batch, step, "sigmoid")
            inp = gate(0, batch, step, "sigmoid")
            cell_gate = gate(2, batch, step, "tanh")
            cell = _mul(forget, c[batch], p.forget_cell_mult, 0, -32768, 32767, rounding)
            cell = np.clip(cell + _mul(inp, cell_gate, p.input_cell_mult, 0, -32768, 32767, rounding), -32768, 32767)
            if p.cell_clip is not None:
                cell = np.maximum(np.minimum(p.cell_clip, cell), -p.cell_clip)
            c[batch] = cell
            output = gate(3, batch, step, "sigmoid")
            h[batch] = _mul(tanh16(cell, p.tanh_multiplier, p.tanh_shift), output, p.hidden_mult, p.hidden_zero_point,
                            -128, 127, rounding)
            out[batch, step] = h[batch]
    return out.astype(np.int8), h.astype(np.int8), c.astype(np.int16)


# --------------------------------------------------------------------------- import


_OPTION_FIELDS = {"FusedActivationFunction": 0, "CellClip": 0.0, "ProjClip": 0.0, "TimeMajor": False,
                  "AsymmetricQuantizeInputs": False, "DiagonalRecurrentTensors": False}
#: optional .tflite inputs this op does not implement: index -> what it is
_REFUSED_INPUTS = {9: "cell-to-input (peephole) weights", 10: "cell-to-forget (peephole) weights",
                   11: "cell-to-output (peephole) weights", 16: "projection weights", 17: "projection bias",
                   20: "input layer-norm coefficients", 21: "forget layer-norm coefficients",
                   22: "cell layer-norm coefficients", 23: "output layer-norm coefficients"}
_SUPPORTED = ("tinygen supports the int8 LSTM of a Keras LSTM layer (int8 input and weights, int32 biases, int16 "
              "cell state, batch major, no peephole, projection, layer norm or CIFG)")


def unique_tensor_name(imp: Any, base: str) -> str:
    """``base``, made unique among the importer's tensor names (``base_1``, ``base_2``...)."""
    name, k = base, 0
    while name in imp.graph.tensors or name in imp.names:
        k += 1
        name = f"{base}_{k}"
    return name


def convert(imp: Any, raw: Any) -> list[Op]:
    where = f"{imp.where(raw)}"
    if len(raw.inputs) != 24 or len(raw.outputs) != 1:
        raise TinygenError(f"{where}: has {len(raw.inputs)} inputs and {len(raw.outputs)} outputs, expected 24 and 1; "
                           "corrupt model")
    for index, what in _REFUSED_INPUTS.items():
        if raw.inputs[index] != -1:
            raise UnsupportedError(f"{where}: has {what} ({imp.describe(raw.inputs[index])}); {_SUPPORTED}")
    for index, what in ((1, "input-to-input weights"), (5, "recurrent-to-input weights"), (12, "input gate bias")):
        if raw.inputs[index] == -1:
            raise UnsupportedError(f"{where}: has no {what} (a CIFG LSTM, coupled input and forget gates); {_SUPPORTED}")
    if raw.options["TimeMajor"]:
        raise UnsupportedError(f"{where}: is time major ([steps, batch, features]); {_SUPPORTED}: convert with "
                               "time_major=False")
    xt = imp.raw.tensors[raw.inputs[0]]
    if xt.type != tflite.TensorType.INT8:
        kind = {tflite.TensorType.INT16: "int16 (the 16x8 LSTM)", tflite.TensorType.FLOAT32: "float32 (a float or "
                "hybrid LSTM)"}.get(xt.type, f"type {xt.type}")
        raise UnsupportedError(f"{where}: input {imp.describe(raw.inputs[0])} is {kind}; {_SUPPORTED}: re-convert "
                               "with full-integer int8 quantization")
    x = imp.activation_tensor(raw, raw.inputs[0])
    code = raw.options["FusedActivationFunction"]
    if code != tflite.ActivationFunctionType.TANH:
        names = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
        raise UnsupportedError(f"{where}: fused (cell) activation {names.get(code, code)}; TFLite Micro's integer "
                               "LSTM computes TANH only (its other activations fail there)")
    if len(imp.raw.tensors[raw.inputs[0]].shape) != 3:
        raise UnsupportedError(f"{where}: input {imp.describe(raw.inputs[0])} must have 3 dimensions [batch, steps, "
                               "features]")
    b = imp.raw.tensors[raw.inputs[0]].shape[0]
    w_in = imp.raw.tensors[raw.inputs[2]]
    units = int(w_in.shape[0]) if len(w_in.shape) == 2 else 0
    weights = []
    for index in (1, 2, 3, 4, 5, 6, 7, 8):
        if imp.raw.tensors[raw.inputs[index]].scale is not None and imp.raw.tensors[raw.inputs[index]].scale.size > 1:
            raise UnsupportedError(f"{where}: weights {imp.describe(raw.inputs[index])} are quantized per channel; "
                                   "TFLite's LSTM takes per-tensor weights only")
        weights.append(imp.weights(raw, raw.inputs[index], units, 0))
    biases = [imp.bias(raw, raw.inputs[index], units)[0] for index in (12, 13, 14, 15)]
    # the two VARIABLE tensors: each a state whose read tensor is an input of the op, written by its outputs
    h_index, c_index = raw.inputs[18], raw.inputs[19]
    ht, ct = imp.raw.tensors[h_index], imp.raw.tensors[c_index]
    for t, what in ((ht, "output state"), (ct, "cell state")):
        if not t.is_variable:
            raise UnsupportedError(f"{where}: its {what} {imp.describe(t.index)} is not a variable tensor (TFLite Micro "
                                   "requires it to be)")
        others = [o for o in imp.consumers.get(t.index, []) if o is not raw]
        if others or t.index in imp.raw.outputs or t.index in imp.raw.inputs or t.index in imp.producer:
            raise UnsupportedError(f"{where}: its {what} {imp.describe(t.index)} is used elsewhere in the model; "
                                   "tinygen supports an LSTM state used by the LSTM alone")
    if ht.type != tflite.TensorType.INT8 or ht.scale is None or ht.scale.size != 1:
        raise UnsupportedError(f"{where}: output state {imp.describe(h_index)} must be int8 quantized per tensor")
    if ct.type != tflite.TensorType.INT16 or ct.scale is None or ct.scale.size != 1:
        raise UnsupportedError(f"{where}: cell state {imp.describe(c_index)} must be int16 quantized per tensor "
                               "(TFLite Micro's integer LSTM)")
    n = int(np.prod(ht.shape))
    if n != int(np.prod(ct.shape)) or units < 1 or n != b * units:
        raise TinygenError(f"{where}: state sizes {list(ht.shape)} and {list(ct.shape)} do not fit batch {b} and "
                           f"{units} units; corrupt model")
    if not -128 <= int(ht.zero_point[0]) <= 127:
        raise TinygenError(f"{where}: output state {imp.describe(h_index)} has zero point {int(ht.zero_point[0])} "
                           "outside [-128, 127]: corrupt model; re-quantize it")
    hq = ir.Quantization(ht.scale, ht.zero_point)
    h_name, c_name = imp.names[h_index], imp.names[c_index]
    g = imp.graph
    h_read = g.add_tensor(ir.Tensor(unique_tensor_name(imp, f"{h_name}/before"), tuple(ht.shape), "int8", hq)).name
    cq = ir.Quantization(ct.scale, ct.zero_point)
    c_read = g.add_tensor(ir.Tensor(unique_tensor_name(imp, f"{c_name}/before"), (b, units), "int16", cq)).name
    # the final output state keeps the variable's own name (TFLite Micro's tensor after the invocation)
    h_write = g.add_tensor(ir.Tensor(h_name if h_name not in g.tensors else unique_tensor_name(imp, h_name),
                                     tuple(ht.shape), "int8", hq)).name
    c_write = g.add_tensor(ir.Tensor(c_name if c_name not in g.tensors else unique_tensor_name(imp, c_name),
                                     (b, units), "int16", cq)).name
    out = imp.output(raw, KIND)
    # ResetVariableTensors: an int8 variable starts at its zero point, any other at 0
    g.states.append(ir.State(h_name, h_read, h_write, np.full(n, int(ht.zero_point[0]), np.int8)))
    g.states.append(ir.State(c_name, c_read, c_write, np.zeros(n, np.int16)))
    attrs = {"cell_clip": float(raw.options["CellClip"]), "cell_scale": float(ct.scale[0])}
    return [Op(KIND, out, [x, h_read, c_read, *weights, *biases], [out, h_write, c_write], attrs)]


# --------------------------------------------------------------------------- Keras (tinygen's quantizer)

#: what TFLite Micro's integer LSTM computes, for the errors naming a Keras layer it cannot run
_KERAS_SUPPORTED = ("TFLite Micro's integer LSTM computes activation='tanh' and recurrent_activation='sigmoid', "
                    "forwards in time, on [batch, steps, features] inputs")
#: TFLite's converter extends the cell state's range to 2^pot with pot in [0, 10] (quantize_model's
#: GetPowerOfTwoScale: the smallest such 2^pot >= max|cell|) and quantizes it to int16 on that power
MAX_CELL_POT = 10


def require_keras_activation(layer: Any, key: str, want: str, why: str = _KERAS_SUPPORTED) -> None:
    """Refuse a recurrent layer whose activation ``key`` (activation, recurrent_activation) is not ``want``."""
    from tinygen.quantize.layers import layer_error

    act = layer.get_config().get(key, want)
    if isinstance(act, dict):
        act = act.get("config", {}).get("name", act.get("class_name", "?"))
    if str(act) != want:
        raise layer_error(layer, f"{key}={act!r} is not supported; {why}: retrain with {key}={want!r}")


def _keras_checks(layer: Any) -> None:
    """Refuse what TFLite Micro's integer LSTM cannot compute; dropout and recurrent_dropout are inference-time
    identities, unroll changes nothing at inference, stateful is honoured (the state kept between calls)."""
    from tinygen.quantize.layers import layer_error

    cfg = layer.get_config()
    require_keras_activation(layer, "activation", "tanh")
    require_keras_activation(layer, "recurrent_activation", "sigmoid")
    if cfg.get("go_backwards"):
        raise layer_error(layer, f"go_backwards=True is not supported; {_KERAS_SUPPORTED}: reverse the sequence "
                                 "before the model instead")
    if cfg.get("return_state"):
        raise layer_error(layer, "return_state=True is not supported (tinygen keeps the states inside the op); use "
                                 "return_sequences=True or False")


def from_keras(b: Any, layer: Any, inputs: list[str]) -> str:
    """keras.layers.LSTM -> the float LSTM op: the IR's inputs (the states' initial values as constant zeros, the
    kernel's [F, 4U] and recurrent kernel's [U, 4U] split per gate and transposed to [U, F] / [U, U], Keras's gate
    order i, f, c, o being TFLite's) and three outputs: the sequence, the last hidden state and every step's cell
    state [1, T, U] (its calibrated range sets the int16 cell scale, :func:`quantize_keras`). The layer's output
    is the sequence (``return_sequences``) or the last hidden state."""
    from tinygen.quantize.layers import _require_rank, single_input

    _keras_checks(layer)
    x = single_input(layer, inputs)
    _require_rank(layer, b, x, 3)
    n, t, f = b.shape(x)
    weights = [np.asarray(w.numpy() if hasattr(w, "numpy") else w, np.float32) for w in layer.cell.weights]
    kernel, recurrent = weights[0], weights[1]
    units = recurrent.shape[0]
    bias = weights[2] if len(weights) > 2 else np.zeros(4 * units, np.float32)
    name = layer.name
    w_in = [b.const(f"{name}/w_{g}", kernel[:, k * units:(k + 1) * units].T) for k, g in enumerate(GATES)]
    w_rec = [b.const(f"{name}/r_{g}", recurrent[:, k * units:(k + 1) * units].T) for k, g in enumerate(GATES)]
    biases = [b.const(f"{name}/b_{g}", bias[k * units:(k + 1) * units]) for k, g in enumerate(GATES)]
    h0 = b.const(f"{name}/h", np.zeros((n, units), np.float32))
    c0 = b.const(f"{name}/c", np.zeros((n, units), np.float32))
    seq, h_last, cells = (b.act(f"{name}{suffix}", shape) for suffix, shape in
                          (("", (n, t, units)), ("/h_last", (n, units)), ("/cells", (n, t, units))))
    # cell_scale is set from the calibrated cells when quantizing; 1.0 stands in on the float graph
    attrs = {"cell_clip": 0.0, "cell_scale": 1.0, "stateful": bool(layer.get_config().get("stateful", False))}
    b.graph.add_op(Op(KIND, b.unique_op(name), [x, h0, c0, *w_in, *w_rec, *biases], [seq, h_last, cells], attrs))
    return seq if layer.get_config().get("return_sequences") else h_last


def float_reference(op: Op, inputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The float LSTM on a batch: (sequence [N, T, U], last hidden state [N, U], every step's cell [N, T, U])."""
    x = np.asarray(inputs[X], np.float64)
    n, t, _ = x.shape
    w_in = [np.asarray(a, np.float64) for a in inputs[W_IN:W_IN + 4]]
    w_rec = [np.asarray(a, np.float64) for a in inputs[W_REC:W_REC + 4]]
    bias = [np.asarray(a, np.float64) for a in inputs[BIAS:BIAS + 4]]
    units = w_in[0].shape[0]
    h = np.broadcast_to(np.asarray(inputs[H], np.float64).reshape(-1, units)[:1], (n, units)).copy()
    c = np.broadcast_to(np.asarray(inputs[C], np.float64).reshape(-1, units)[:1], (n, units)).copy()
    seq, cells = np.zeros((n, t, units)), np.zeros((n, t, units))
    clip = float(op.attrs.get("cell_clip", 0.0))

    def sigmoid(v: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-v))

    for step in range(t):
        pre = [x[:, step] @ w_in[k].T + h @ w_rec[k].T + bias[k] for k in range(4)]
        c = sigmoid(pre[1]) * c + sigmoid(pre[0]) * np.tanh(pre[2])
        if clip > 0:
            c = np.clip(c, -clip, clip)
        h = sigmoid(pre[3]) * np.tanh(c)
        seq[:, step], cells[:, step] = h, c
    return seq.astype(np.float32), h.astype(np.float32), cells.astype(np.float32)


def shared_quantization(op: Op) -> tuple[str, ...]:
    """The float op's outputs that share one int8 quantization: the sequence and the last hidden state (the
    kernel writes the same hidden values to both; TFLite's output state takes the output's parameters)."""
    return (op.outputs[0], op.outputs[1])


def cell_scale(max_abs: float) -> float:
    """The int16 cell state's scale from its calibrated range (TFLite's converter): 2^pot / 32768."""
    pot = 0
    while pot < MAX_CELL_POT and 2.0**pot < max_abs:
        pot += 1
    return 2.0 ** (pot - 15)


def quantize_keras(graph: Graph, fgraph: Graph, fop: Op, act: dict[str, ir.Quantization],
                   ranges: dict[str, tuple[float, float]]) -> None:
    """Add the int8 LSTM of float op ``fop`` to ``graph`` (its input already there), with TFLite's converter's
    choices: weights int8 symmetric per tensor, each gate's bias int32 on ``x_scale * w_scale``, the hidden state
    (the sequence's and last state's shared parameters) int8, the cell state int16 on a power of two
    (:func:`cell_scale`). The states start at zero each invocation, or are kept between invocations (a stateful
    layer: ``NAME_reset()`` clears them)."""
    from tinygen.quantize.quantizer import quantize_bias, quantize_weights

    x = fop.inputs[X]
    inputs = [x, fop.inputs[H], fop.inputs[C]]
    w_scales = []
    for first in (W_IN, W_REC):
        for k in range(4):
            name = fop.inputs[first + k]
            w = np.asarray(fgraph.tensors[name].data)
            q, scale = quantize_weights(w[None], 0)  # one channel: per tensor
            graph.add_tensor(ir.Tensor(name, w.shape, "int8", ir.Quantization(scale, [0]), data=q[0]))
            inputs.append(name)
            w_scales.append(scale)
    for k in range(4):
        name = fop.inputs[BIAS + k]
        q, scale = quantize_bias(np.asarray(fgraph.tensors[name].data)[None], act[x].scale[0], w_scales[k])
        graph.add_tensor(ir.Tensor(name, q.shape[1:], "int32", ir.Quantization(scale, [0]), data=q[0]))
        inputs.append(name)
    seq, h_last, cells = fop.outputs
    hq = act[seq]
    lo, hi = ranges[cells]
    cq = ir.Quantization([cell_scale(max(abs(lo), abs(hi)))], [0])
    h_shape = fgraph.tensors[h_last].shape
    graph.add_tensor(ir.Tensor(fop.inputs[H], h_shape, "int8", hq))
    graph.add_tensor(ir.Tensor(fop.inputs[C], h_shape, "int16", cq))
    graph.add_tensor(ir.Tensor(seq, fgraph.tensors[seq].shape, "int8", hq))
    graph.add_tensor(ir.Tensor(h_last, h_shape, "int8", hq))
    c_last = unique_name(graph, f"{fop.name}/c_last")
    graph.add_tensor(ir.Tensor(c_last, h_shape, "int16", cq))
    stateful = bool(fop.attrs.get("stateful", False))
    size = int(np.prod(h_shape))
    graph.states.append(ir.State(fop.inputs[H], fop.inputs[H], h_last if stateful else None,
                                 np.full(size, int(hq.zero_point[0]), np.int8)))
    graph.states.append(ir.State(fop.inputs[C], fop.inputs[C], c_last if stateful else None, np.zeros(size, np.int16)))
    attrs = {"cell_clip": float(fop.attrs.get("cell_clip", 0.0)), "cell_scale": float(cq.scale[0])}
    graph.add_op(Op(KIND, fop.name, inputs, [seq, h_last, c_last], attrs))


def unique_name(graph: Graph, base: str) -> str:
    name, k = base, 0
    while name in graph.tensors:
        k += 1
        name = f"{base}_{k}"
    return name


# --------------------------------------------------------------------------- lowering


def _folded_biases(graph: Graph, op: Op, p: LstmParams) -> tuple[np.ndarray, np.ndarray]:
    """The input FC's bias with ``-input_zero_point * sum(w)`` folded in, and the recurrent FC's
    ``-hidden_zero_point * sum(r)`` (its only bias): [4][U] int32 each, GATES order (sums inside int32: _check)."""
    b_in, b_rec = [], []
    for k in range(4):
        w = np.asarray(graph.tensor(op.inputs[W_IN + k]).data, np.int64)
        r = np.asarray(graph.tensor(op.inputs[W_REC + k]).data, np.int64)
        bias = np.asarray(graph.tensor(op.inputs[BIAS + k]).data, np.int64)
        b_in.append(bias - p.input_zero_point * w.sum(axis=1))
        b_rec.append(-p.hidden_zero_point * r.sum(axis=1))
    return (numerics.wrap_int32(np.stack(b_in)).astype(np.int32), numerics.wrap_int32(np.stack(b_rec)).astype(np.int32))


def quant_words(p: LstmParams) -> np.ndarray:
    """The kernel's int32 parameter block (tg_lstm_s8.h, TG_LSTM_Q_*)."""
    words: list[int] = []
    for m in (*p.input_mult, *p.recurrent_mult, p.forget_cell_mult, p.input_cell_mult, p.hidden_mult):
        words += [m[0], m[1]]
    words += [p.hidden_zero_point, -1 if p.cell_clip is None else p.cell_clip, p.tanh_multiplier, p.tanh_shift]
    return np.asarray(words, np.int32)


def unit_quads(w: np.ndarray) -> np.ndarray:
    """The gate weights [4][U][n] (GATES order) in the kernel's layout (tg_lstm_s8.c): per unit its four gate
    rows as a quad, [U][n // 4][4][4] (per group of four columns each gate's four bytes, what SXTB16 and SMLAD
    read four rows at a time), then each gate's ``n % 4`` last bytes, [U][4][n % 4]."""
    _, units, n = w.shape
    full = n & ~3
    rows = w.transpose(1, 0, 2)  # [U][4][n]
    groups = rows[:, :, :full].reshape(units, 4, full // 4, 4).transpose(0, 2, 1, 3).reshape(units, -1)
    return np.ascontiguousarray(np.concatenate([groups, rows[:, :, full:].reshape(units, -1)], axis=1)).reshape(-1)


def lower(ctx: LoweringContext, op: Op) -> KernelCall:
    g = ctx.graph
    p = params(g, op, ctx.rounding)  # type: ignore[arg-type]
    b, t, f, units = _dims(g, op)
    w_in = unit_quads(np.stack([np.asarray(g.tensor(op.inputs[W_IN + k]).data, np.int8) for k in range(4)]))
    w_rec = unit_quads(np.stack([np.asarray(g.tensor(op.inputs[W_REC + k]).data, np.int8) for k in range(4)]))
    b_in, b_rec = (np.ascontiguousarray(bias.T) for bias in _folded_biases(g, op, p))  # [U][4]
    args = (
        f"(const int8_t *)({ctx.tensor_ptr(op.inputs[X])})",
        f"(const int8_t *)({ctx.tensor_ptr(op.inputs[H])})",
        f"(const int8_t *)(const void *)({ctx.tensor_ptr(op.inputs[C])})",  # the int16 state's bytes
        str(b), str(t), str(f), str(units),
        ctx.const_array(hint(op, "w_in"), w_in, "int8_t", WEIGHTS),
        ctx.const_array(hint(op, "w_rec"), w_rec, "int8_t", WEIGHTS),
        ctx.const_array(hint(op, "b_in"), b_in, "int32_t", WEIGHTS),
        ctx.const_array(hint(op, "b_rec"), b_rec, "int32_t", WEIGHTS),
        ctx.const_array(hint(op, "q"), quant_words(p), "int32_t", QUANT),
        ctx.scratch_ptr(),
        ctx.tensor_ptr(op.outputs[0]), ctx.tensor_ptr(op.outputs[1]),
        f"(int8_t *)(void *)({ctx.tensor_ptr(op.outputs[2])})",  # the final int16 cell state's bytes
    )
    x = g.tensor(op.inputs[X])
    comment = (f"lstm {shape_str(x)} -> {units} units, clip "
               f"{'none' if p.cell_clip is None else p.cell_clip}, cell scale 2^{math.frexp(op.attrs['cell_scale'])[1] - 1}")
    return KernelCall("tg_lstm_s8", args, scratch_bytes=scratch_bytes(units), comment=comment)


def scratch_bytes(units: int) -> int:
    """One int16 vector of ``units`` (16-byte aligned in the arena): the cell state being updated (copied from
    and to the state's bytes, which need not be 2-byte aligned); the kernel computes the gates unit by unit."""
    return 2 * units


def macs(graph: Graph, op: Op) -> int:
    b, t, f, units = _dims(graph, op)
    return b * t * 4 * units * (f + units)


OP = OpDef(
    kind=KIND,
    infer_shape=infer_shape,
    attrs=ATTRS,
    num_inputs=(NUM_INPUTS, NUM_INPUTS),
    check=_check,
    params=params,
    reference=reference,
    tflite=(TfliteMapping("UNIDIRECTIONAL_SEQUENCE_LSTM", convert, tflite.UnidirectionalSequenceLSTMOptions,
                          _OPTION_FIELDS),),
    lowerings=(lower,),
    macs=macs,
    float_reference=float_reference,
    keras_layers={"LSTM": from_keras},
)
