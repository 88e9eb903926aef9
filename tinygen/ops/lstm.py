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

16x8 (TFLite Micro's ``EvalLstm<int16_t, int8_t, int16_t, int64_t>``; the section "int16x8" below): the same op
with int16 input, output state and outputs (zero point 0), int64 biases and int64 gate accumulators requantized by
the int64 MultiplyByQuantizedMultiplier; imported from ``.tflite`` (TFLite's converter refuses this op in 16x8 mode,
TFLite Micro runs it) and made by tinygen's quantizer for a Keras LSTM under ``--int16`` (:func:`quantize_keras`).

Variants (:data:`VARIANT_KIND`): a ``.tflite`` LSTM with peephole (cell-to-gate weights, int16 [cells]),
projection (weights int8 [outputs, cells], optional bias int32 [outputs], ``proj_clip``), layer norm (per-gate
coefficients int16 [cells]; the gate bias then added inside the norm) or CIFG (no input gate: 1 - forget), in any
combination TFLite allows (a peephole with a projection that changes the size is refused: TFLite applies the
peephole over the output size), int8 activations (8x8_16). TFLite Micro refuses them, so the op is TensorFlow
Lite's own kernel, bit-exact with its interpreter (tests/test_lstm_variants.py; lstm_eval.cc
LstmStepInteger8x8_16, lstm.cc PopulateQuantizedLstmParams8x8_16), whose arithmetic differs from TFLite Micro's:

* the gate pre-activations: ``sat16(sat16(rq(W x + b)) + rq(R h)) [+sat rq(p * c)]``, each requantization on the
  gate's intermediate scale (the op's intermediates 0-3 with layer norm, else 2^-12); with layer norm
  ``PortableApplyLayerNorm`` (integer mean and variance, GetInvSqrtQuantizedMultiplierExp, the coefficients and
  the gate bias, requantized to Q3.12 by the coefficients' scale);
* the activations are gemmlowp's int16 fixed-point ``logistic`` (3 integer bits) and ``tanh`` (3 for the cell
  gate, ``15 + log2(cell scale)`` for the cell state, so the cell scale is 2^-15..2^-9), not the table;
* ``cell = sat16(rdiv(f * c, 15) + rdiv(i * g, 30 + log2(cell scale)))`` (rounding shifts), clipped;
* ``hidden = sat8(rq(o * tanh(c)) + zp)`` on the hidden intermediate's (4) scale; it is the output without a
  projection; with one, TFLite's hidden value is ``sat8(rq - zp)`` and the projection
  ``sat8(rq(P hidden + proj_b + zp * row sums) + output zp)``, clipped to ``±quantized proj_clip``.

A plain LSTM stays the op above, TFLite Micro's arithmetic (TFLite's interpreter differs from it by a few units).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

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


def _power_of_two_in(value: Any, lo: int, hi: int, why: str) -> float:
    """``value``, checked to be a power of two in [2^lo, 2^hi] (``why``: the reason, for the error)."""
    v = _finite_float(value)
    if v <= 0 or math.frexp(v)[0] != 0.5 or not lo <= math.frexp(v)[1] - 1 <= hi:
        raise AttrError(f"{v!r} is not a power of two in [2^{lo}, 2^{hi}] ({why})")
    return v


def _power_of_two_scale(value: Any) -> float:
    return _power_of_two_in(value, MIN_CELL_POWER, MAX_CELL_POWER,
                            "TFLite's integer LSTM computes tanh of the cell state on its power of two")


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
            _require_const(graph, op, first + k, f"{what}-to-{gate} weights", "int8", shape)
        bias = graph.tensor(op.inputs[BIAS + k])
        if bias.shape != (units,) or bias.dtype != _bias_dtype(graph, op) or not bias.is_const:
            raise UnsupportedError(f"{w}: {gate} gate bias {bias.name!r} ({bias.dtype}, shape {bias.shape}) must be a "
                                   f"constant {_bias_dtype(graph, op)} [{units}]")
    _require_activation(graph, op, x)
    common.qp(x, op)
    check_states(graph, op, b, units, units, str(x.dtype), lambda t_: _require_activation(graph, op, t_))
    h = graph.tensor(op.inputs[H])
    if is_16x8(graph, op):
        _check_s16(graph, op)
        return
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
    h = np.asarray(args[H], x.dtype).reshape(b, units).astype(np.int64)
    c = np.asarray(args[C], np.int16).reshape(b, units).astype(np.int64)
    out = np.zeros((b, t, units), np.int64)
    fc, (lo, hi) = (_fc_s16, (-32768, 32767)) if x.dtype == np.int16 else (_fc, (-128, 127))  # 16x8 or int8

    def gate(k: int, batch: int, step: int, act: str) -> np.ndarray:
        pre = np.clip(fc(x[batch, step], p.input_zero_point, w_in[k], bias[k], p.input_mult[k], rounding)
                      + fc(h[batch], p.hidden_zero_point, w_rec[k], None, p.recurrent_mult[k], rounding), -32768, 32767)
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
                            lo, hi, rounding)
            out[batch, step] = h[batch]
    return out.astype(x.dtype), h.astype(x.dtype), c.astype(np.int16)


# --------------------------------------------------------------------------- import


_OPTION_FIELDS = {"FusedActivationFunction": 0, "CellClip": 0.0, "ProjClip": 0.0, "TimeMajor": False,
                  "AsymmetricQuantizeInputs": False, "DiagonalRecurrentTensors": False}
_SUPPORTED = ("tinygen supports the int8 LSTM of a Keras LSTM layer (int8 input and weights, int32 biases, int16 "
              "cell state, batch major; its peephole, projection, layer-norm and CIFG variants as TFLite computes them) and its 16x8 form (int16 input, "
              "output state and output with zero point 0, int8 weights, int64 biases)")


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
    if is_variant(raw):  # peephole, projection, layer norm or CIFG: TFLite's own kernel (TFLite Micro refuses them)
        return convert_variant(imp, raw)
    for index, what in ((1, "input-to-input weights"), (5, "recurrent-to-input weights"), (12, "input gate bias")):
        if raw.inputs[index] == -1:
            raise UnsupportedError(f"{where}: has no {what} (a CIFG LSTM, coupled input and forget gates); {_SUPPORTED}")
    if raw.options["TimeMajor"]:
        raise UnsupportedError(f"{where}: is time major ([steps, batch, features]); {_SUPPORTED}: convert with "
                               "time_major=False")
    xt = imp.raw.tensors[raw.inputs[0]]
    if xt.type not in (tflite.TensorType.INT8, tflite.TensorType.INT16):
        kind = {tflite.TensorType.FLOAT32: "float32 (a float or hybrid LSTM)"}.get(xt.type, f"type {xt.type}")
        raise UnsupportedError(f"{where}: input {imp.describe(raw.inputs[0])} is {kind}; {_SUPPORTED}: re-convert "
                               "with full-integer int8 quantization")
    s16 = xt.type == tflite.TensorType.INT16  # 16x8: int16 activations and states, int64 biases
    act = "int16" if s16 else "int8"
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
    biases = [imp.bias(raw, raw.inputs[index], units, int64=s16)[0] for index in (12, 13, 14, 15)]
    # the two VARIABLE tensors: each a state whose read tensor is an input of the op, written by its outputs
    h_index, c_index = raw.inputs[18], raw.inputs[19]
    ht, ct = imp.raw.tensors[h_index], imp.raw.tensors[c_index]
    check_state_variables(imp, raw, where, ht, ct)
    if ht.type != xt.type or ht.scale is None or ht.scale.size != 1:
        raise UnsupportedError(f"{where}: output state {imp.describe(h_index)} must be {act} quantized per tensor, "
                               f"as the input {imp.describe(raw.inputs[0])} is{' (a 16x8 LSTM)' if s16 else ''}")
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
    h_read = g.add_tensor(ir.Tensor(unique_tensor_name(imp, f"{h_name}/before"), tuple(ht.shape), act, hq)).name
    cq = ir.Quantization(ct.scale, ct.zero_point)
    c_read = g.add_tensor(ir.Tensor(unique_tensor_name(imp, f"{c_name}/before"), (b, units), "int16", cq)).name
    # the final output state keeps the variable's own name (TFLite Micro's tensor after the invocation)
    h_write = g.add_tensor(ir.Tensor(h_name if h_name not in g.tensors else unique_tensor_name(imp, h_name),
                                     tuple(ht.shape), act, hq)).name
    c_write = g.add_tensor(ir.Tensor(c_name if c_name not in g.tensors else unique_tensor_name(imp, c_name),
                                     (b, units), "int16", cq)).name
    out = imp.output(raw, KIND)
    # ResetVariableTensors: an int8 variable starts at its zero point, any other at 0
    g.states.append(ir.State(h_name, h_read, h_write, np.full(n, 0 if s16 else int(ht.zero_point[0]), act)))
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
    layer: ``NAME_reset()`` clears them). With an int16 input (``--int16``) the 16x8 LSTM: the hidden state and
    outputs int16 (TFLite's 16x8 parameters, zero point 0), the biases int64."""
    from tinygen.quantize.quantizer import quantize_bias, quantize_weights

    x = fop.inputs[X]
    inputs = [x, fop.inputs[H], fop.inputs[C]]
    # 16x8 (--int16: the input int16): the hidden state and outputs int16 with zero point 0, the biases int64
    act_dtype, bias_bits = ("int16", 64) if graph.tensors[x].dtype == "int16" else ("int8", 32)
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
        q, scale = quantize_bias(np.asarray(fgraph.tensors[name].data)[None], act[x].scale[0], w_scales[k], bias_bits)
        graph.add_tensor(ir.Tensor(name, q.shape[1:], f"int{bias_bits}", ir.Quantization(scale, [0]), data=q[0]))
        inputs.append(name)
    seq, h_last, cells = fop.outputs
    hq = act[seq]
    lo, hi = ranges[cells]
    cq = ir.Quantization([cell_scale(max(abs(lo), abs(hi)))], [0])
    h_shape = fgraph.tensors[h_last].shape
    graph.add_tensor(ir.Tensor(fop.inputs[H], h_shape, act_dtype, hq))
    graph.add_tensor(ir.Tensor(fop.inputs[C], h_shape, "int16", cq))
    graph.add_tensor(ir.Tensor(seq, fgraph.tensors[seq].shape, act_dtype, hq))
    graph.add_tensor(ir.Tensor(h_last, h_shape, act_dtype, hq))
    c_last = unique_name(graph, f"{fop.name}/c_last")
    graph.add_tensor(ir.Tensor(c_last, h_shape, "int16", cq))
    stateful = bool(fop.attrs.get("stateful", False))
    size = int(np.prod(h_shape))
    graph.states.append(ir.State(fop.inputs[H], fop.inputs[H], h_last if stateful else None,
                                 np.full(size, int(hq.zero_point[0]), act_dtype)))
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


# --------------------------------------------------------------------------- int16x8 (16x8)
#
# TFLite Micro's EvalLstm<int16_t, int8_t, int16_t, int64_t>: the int8 LSTM's arithmetic (Prepare, the gate
# activations, the element-wise products) with int16 input, output state and output (zero point 0, what TFLite's 16x8
# quantization makes; tinygen's 16x8 kernels need it), int64 biases, and int64 gate accumulators requantized by the
# int64 MultiplyByQuantizedMultiplier (the multiplier rounded to Q0.15: numerics.requantize_int64, the same in both
# rounding modes); the hidden product saturates to int16. Kernel: tg_lstm_s16.

#: TFLite's int64 MultiplyByQuantizedMultiplier needs |accumulator| < 2^47 and a shift <= 7
ACC64_LIMIT, MAX_SHIFT64 = 2**47, 7


def is_16x8(graph: Graph, op: Op) -> bool:
    """A 16x8 LSTM: int16 input (the states, output and biases are checked to match)."""
    return graph.tensor(op.inputs[X]).dtype == "int16"


def _bias_dtype(graph: Graph, op: Op) -> str:
    return "int64" if is_16x8(graph, op) else "int32"


def _require_activation(graph: Graph, op: Op, t: ir.Tensor) -> None:
    """``t`` (the input, output state or output) is int8, or in a 16x8 LSTM int16 with zero point 0."""
    if not is_16x8(graph, op):
        common.require_int8(t, op)
        return
    w = common.where(op)
    if t.dtype != "int16":
        raise UnsupportedError(f"{w}: input {op.inputs[X]!r} is int16 (a 16x8 LSTM) but {t.name!r} is {t.dtype}; a 16x8 "
                               "LSTM has int16 input, output state and output: re-convert the model")
    if t.quant is not None and np.any(t.quant.zero_point != 0):
        raise UnsupportedError(f"{w}: int16 tensor {t.name!r} has zero point {int(t.quant.zero_point[0])}; tinygen's "
                               "16x8 LSTM needs zero point 0 (what TFLite's 16x8 quantization makes): re-quantize the model")


def _check_s16(graph: Graph, op: Op) -> None:
    """TFLite's preconditions of the int64 requantization of each gate's input and recurrent FC (|acc| < 2^47, shift
    <= 7), beyond which its arithmetic (and the kernel's) is undefined."""
    x, h = graph.tensor(op.inputs[X]), graph.tensor(op.inputs[H])
    for k, gate in enumerate(GATES):
        for first, src in ((W_IN, x), (W_REC, h)):
            wt = graph.tensor(op.inputs[first + k])
            rows = np.abs(np.asarray(wt.data, np.int64)).sum(axis=1) * 32768
            bias = np.abs(np.asarray(graph.tensor(op.inputs[BIAS + k]).data, np.int64)) if first == W_IN else 0
            real = common.qp(src, op)[0] * common.qp(wt, op)[0] / GATE_IN_SCALE
            if int(np.max(rows + bias)) >= ACC64_LIMIT or real >= 2.0**MAX_SHIFT64:
                raise TinygenError(f"{common.where(op)}: the {gate} gate's {'input' if first == W_IN else 'recurrent'} "
                                   "FC may take its int64 accumulator to 2^47 or beyond, or has a scale of 2^7 or more "
                                   "(TFLite's int64 requantization needs both below): corrupt bias or scales; "
                                   "re-quantize the model")


def _fc_s16(v: np.ndarray, zp: int, w: np.ndarray, bias: np.ndarray | None, m: tuple[int, int], rounding: str
            ) -> np.ndarray:
    """A 16x8 gate FC: TFLite's int64 accumulator and int64 requantization (``rounding`` does not change it)."""
    acc = w.astype(np.int64) @ (v.astype(np.int64) - zp)
    if bias is not None:
        acc = acc + bias
    return np.clip(numerics.requantize_int64(acc, m[0], m[1]), -32768, 32767)


def unit_quads_s16(w: np.ndarray) -> np.ndarray:
    """The 16x8 kernel's weights (tg_lstm_s16.c): :func:`unit_quads` of the gate rows [4][U][n] with each row's
    complete groups of four in tg_fully_connected_s16's order w0 w2 w1 w3 (SXTB16 then gives (w0, w1) and, rotated
    by 8, (w2, w3): the pairs of two int16 inputs that SMLAD reads)."""
    from tinygen.lowering.fc_ops import s16_layout

    gates, units, n = w.shape
    return unit_quads(s16_layout(w.reshape(gates * units, n)).reshape(gates, units, n))


def lower_s16(ctx: LoweringContext, op: Op) -> KernelCall | None:
    """tg_lstm_s16 for a 16x8 LSTM; None for an int8 one."""
    g = ctx.graph
    if not is_16x8(g, op):
        return None
    p = params(g, op, ctx.rounding)  # type: ignore[arg-type]
    b, t, f, units = _dims(g, op)
    w_in = unit_quads_s16(np.stack([np.asarray(g.tensor(op.inputs[W_IN + k]).data, np.int8) for k in range(4)]))
    w_rec = unit_quads_s16(np.stack([np.asarray(g.tensor(op.inputs[W_REC + k]).data, np.int8) for k in range(4)]))
    # zero points 0 (_require_activation): the input FC's bias is the gate's own, the recurrent FC has none
    bias = np.ascontiguousarray(np.stack([np.asarray(g.tensor(op.inputs[BIAS + k]).data, np.int64)
                                          for k in range(4)]).T)  # [U][4]
    args = (
        ctx.tensor_ptr(op.inputs[X]), ctx.tensor_ptr(op.inputs[H]), ctx.tensor_ptr(op.inputs[C]),
        str(b), str(t), str(f), str(units),
        ctx.const_array(hint(op, "w_in"), w_in, "int8_t", WEIGHTS),
        ctx.const_array(hint(op, "w_rec"), w_rec, "int8_t", WEIGHTS),
        ctx.const_array(hint(op, "bias"), bias, "int64_t", WEIGHTS),
        ctx.const_array(hint(op, "q"), quant_words(p), "int32_t", QUANT),
        ctx.tensor_ptr(op.outputs[0]), ctx.tensor_ptr(op.outputs[1]), ctx.tensor_ptr(op.outputs[2]),
    )
    comment = (f"lstm 16x8 {shape_str(g.tensor(op.inputs[X]))} -> {units} units, clip "
               f"{'none' if p.cell_clip is None else p.cell_clip}, cell scale 2^{math.frexp(op.attrs['cell_scale'])[1] - 1}")
    return KernelCall("tg_lstm_s16", args, comment=comment)


OP = OpDef(
    kind=KIND,
    infer_shape=infer_shape,
    attrs=ATTRS,
    num_inputs=(NUM_INPUTS, NUM_INPUTS),
    check=_check,
    params=params,
    reference=reference,
    tflite=(TfliteMapping("UNIDIRECTIONAL_SEQUENCE_LSTM", convert, tflite.UnidirectionalSequenceLSTMOptions,
                          _OPTION_FIELDS, int16=True),),
    lowerings=(lower_s16, lower),
    macs=macs,
    float_reference=float_reference,
    keras_layers={"LSTM": from_keras},
)


# --------------------------------------------------------------------------- variants (TFLite's own kernel)
#
# UNIDIRECTIONAL_SEQUENCE_LSTM with peephole, projection, layer norm or CIFG: TFLite Micro refuses these, so the
# op is TFLite's (tensorflow/lite/kernels/lstm_eval.cc, LstmStepInteger8x8_16; lstm.cc,
# PopulateQuantizedLstmParams8x8_16 and PopulatePrecomputedZPTimesWeightsWithBias), whose arithmetic differs from
# TFLite Micro's even on a plain LSTM: gemmlowp's int16 fixed-point logistic and tanh (not the interpolated
# table), single-rounding shifts for the cell products, and its own layer norm. tinygen imports a plain LSTM as
# the op above (TFLite Micro's arithmetic) and every variant as VARIANT_KIND.

VARIANT_KIND = "unidirectional_sequence_lstm_variant"
#: the gates with peephole weights (TFLite's cell_to_input/forget/output)
PEEPHOLE_GATES = (0, 1, 3)
#: TFLite's ApplyTanh takes 0..6 integer bits: 15 + log2(cell scale) must be in that range
MIN_VARIANT_CELL_POWER, MAX_VARIANT_CELL_POWER = -15, -9


def _variant_cell_scale(value: Any) -> float:
    return _power_of_two_in(value, MIN_VARIANT_CELL_POWER, MAX_VARIANT_CELL_POWER,
                            "TFLite's integer LSTM computes tanh of the cell state with 0 to 6 integer bits")


def _four_scales(value: Any) -> tuple[float, ...]:
    try:
        scales = tuple(_finite_float(v) for v in value)
    except TypeError:
        raise AttrError(f"{value!r} is not a list of four scales") from None
    if len(scales) != 4 or min(scales) <= 0:
        raise AttrError(f"{value!r} is not four positive scales (the gates' intermediate scales)")
    return scales


VARIANT_ATTRS = (Attr("cifg", bool, False), Attr("peephole", bool, False), Attr("layer_norm", bool, False),
                 Attr("projection", bool, False), Attr("projection_bias", bool, False),
                 Attr("cell_clip", _finite_float, 0.0), Attr("proj_clip", _finite_float, 0.0),
                 Attr("cell_scale", _variant_cell_scale),
                 # the op's intermediates: the four gates' (layer norm only) and the hidden state's (4)
                 Attr("gate_scales", _four_scales, (GATE_IN_SCALE,) * 4),
                 Attr("hidden_scale", _finite_float), Attr("hidden_zero_point", int, 0))


def variant_gates(attrs: dict[str, Any]) -> tuple[int, ...]:
    """The gates an LSTM computes (GATES indices): a CIFG LSTM has no input gate (it uses 1 - forget)."""
    return (1, 2, 3) if attrs.get("cifg") else (0, 1, 2, 3)


def variant_layout(attrs: dict[str, Any]) -> dict[str, dict[int, int]]:
    """The variant op's IR input positions after x, h, c: per kind of operand, gate (or 0) -> position; the
    present gates' input weights, recurrent weights and biases, then the peephole weights, the layer-norm
    coefficients, the projection weights and bias, each group only when the op has it."""
    gates = variant_gates(attrs)
    groups = (("w_in", gates), ("w_rec", gates), ("bias", gates),
              ("peephole", tuple(g for g in gates if g in PEEPHOLE_GATES) if attrs.get("peephole") else ()),
              ("layer_norm", gates if attrs.get("layer_norm") else ()),
              ("projection", (0,) if attrs.get("projection") else ()),
              ("projection_bias", (0,) if attrs.get("projection") and attrs.get("projection_bias") else ()))
    layout, pos = {}, 3
    for key, members in groups:
        layout[key] = {g: pos + k for k, g in enumerate(members)}
        pos += len(members)
    return layout


def variant_num_inputs(attrs: dict[str, Any]) -> int:
    return 3 + sum(len(v) for v in variant_layout(attrs).values())


def _variant_dims(graph: Graph, op: Op) -> tuple[int, int, int, int, int]:
    """(batches, steps, features, cells, outputs): outputs = the projection's rows, else the cells."""
    b, t, f = graph.tensor(op.inputs[X]).shape
    layout = variant_layout(op.attrs)
    cells = graph.tensor(op.inputs[layout["w_in"][1]]).shape[0]
    outputs = graph.tensor(op.inputs[layout["projection"][0]]).shape[0] if op.attrs.get("projection") else cells
    return b, t, f, cells, outputs


def variant_infer_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    b, t, _, _, outputs = _variant_dims(graph, op)
    return (b, t, outputs)


def _require_const(graph: Graph, op: Op, index: int, what: str, dtype: str, shape: tuple[int, ...],
                   symmetric: bool = True) -> None:
    t_ = graph.tensor(op.inputs[index])
    w = common.where(op)
    if t_.shape != shape or t_.dtype != dtype or not t_.is_const:
        raise UnsupportedError(f"{w}: {what} {t_.name!r} ({t_.dtype}, shape {t_.shape}) must be constant {dtype} of "
                               f"shape {list(shape)}, as TFLite's integer LSTM takes it")
    if t_.quant is None or t_.quant.scale.size != 1:
        raise UnsupportedError(f"{w}: {what} {t_.name!r} must be quantized per tensor (one scale), as TFLite's LSTM "
                               "requires")
    zp = common.qp(t_, op)[1]
    if symmetric and zp != 0:
        raise TinygenError(f"{w}: {what} {t_.name!r} has zero point {zp}; TFLite's integer LSTM needs it symmetric "
                           "(zero point 0): re-quantize the model")


def _variant_check(graph: Graph, op: Op) -> None:
    w = common.where(op)
    if len(op.inputs) != variant_num_inputs(op.attrs):
        raise TinygenError(f"{w}: has {len(op.inputs)} inputs, expected {variant_num_inputs(op.attrs)} for its "
                           "variant (cifg, peephole, layer_norm, projection attributes)")
    x = graph.tensor(op.inputs[X])
    if len(x.shape) != 3:
        raise TinygenError(f"{w}: input {x.name!r} has shape {x.shape}; the LSTM needs [batch, steps, features]")
    common.require_int8(x, op)
    common.qp(x, op)
    b, _, f = x.shape
    layout = variant_layout(op.attrs)
    forget = graph.tensor(op.inputs[layout["w_in"][1]])
    cells = forget.shape[0] if len(forget.shape) == 2 else 0
    if cells < 1:
        raise TinygenError(f"{w}: input-to-forget weights {op.inputs[layout['w_in'][1]]!r} must be [cells, {f}]")
    outputs = cells
    if op.attrs.get("projection"):
        pw = graph.tensor(op.inputs[layout["projection"][0]])
        outputs = pw.shape[0] if len(pw.shape) == 2 and pw.shape[0] >= 1 else 0
        _require_const(graph, op, layout["projection"][0], "projection weights", "int8", (outputs, cells))
        if op.attrs.get("projection_bias"):
            _require_const(graph, op, layout["projection_bias"][0], "projection bias", "int32", (outputs,))
    for g in variant_gates(op.attrs):
        _require_const(graph, op, layout["w_in"][g], f"input-to-{GATES[g]} weights", "int8", (cells, f))
        _require_const(graph, op, layout["w_rec"][g], f"recurrent-to-{GATES[g]} weights", "int8", (cells, outputs))
        _require_const(graph, op, layout["bias"][g], f"{GATES[g]} gate bias", "int32", (cells,))
        if g in layout["peephole"]:
            _require_const(graph, op, layout["peephole"][g], f"cell-to-{GATES[g]} (peephole) weights", "int16",
                           (cells,))
        if g in layout["layer_norm"]:
            _require_const(graph, op, layout["layer_norm"][g], f"{GATES[g]} layer-norm coefficients", "int16", (cells,))
    if op.attrs.get("peephole") and outputs != cells:
        # lstm_eval.cc applies the peephole over n_output entries of the cell state (VectorBatchVectorCwise
        # ProductAccumulate(cell_to_gate_weights, n_output, ...)): only defined when the two sizes agree
        raise UnsupportedError(f"{w}: a peephole LSTM whose projection changes the size ({cells} cells -> {outputs} "
                               "outputs) is not supported: TFLite's kernel applies the peephole over the output size")
    check_states(graph, op, b, outputs, cells, "int8", lambda t_: common.require_int8(t_, op))
    if not -128 <= int(op.attrs.get("hidden_zero_point", 0)) <= 127:
        raise TinygenError(f"{w}: hidden zero point {op.attrs['hidden_zero_point']} is outside [-128, 127]: corrupt "
                           "model")
    _variant_check_ranges(graph, op)


def check_states(graph: Graph, op: Op, batches: int, outputs: int, cells: int, dtype: str,
                 require: Callable[[ir.Tensor], None]) -> None:
    """The state reads (inputs ``H``, ``C``: variables of ``batches x outputs`` ``dtype`` and ``batches x
    cells`` int16 values) and the three outputs (the sequence, the final output and cell states, matching the
    reads); ``require``: the activation type check of the output state and the sequence."""
    w = common.where(op)
    h, c = graph.tensor(op.inputs[H]), graph.tensor(op.inputs[C])
    require(h)
    common.qp(h, op)
    if h.size != batches * outputs or h.is_const:
        raise TinygenError(f"{w}: output state {h.name!r} (shape {h.shape}) must be a variable of {batches}x{outputs} "
                           f"{dtype} values")
    if c.dtype != "int16" or c.size != batches * cells or c.is_const:
        raise TinygenError(f"{w}: cell state {c.name!r} ({c.dtype}, shape {c.shape}) must be a variable of "
                           f"{batches}x{cells} int16 values")
    if len(op.outputs) != 3:
        raise TinygenError(f"{w}: has {len(op.outputs)} outputs, expected 3 (sequence, output state, cell state)")
    out, h_out, c_out = (graph.tensor(n) for n in op.outputs)
    require(out)
    common.qp(out, op)
    for written, read, what in ((h_out, h, "output state"), (c_out, c, "cell state")):
        if written.dtype != read.dtype or written.size != read.size:
            raise TinygenError(f"{w}: final {what} {written.name!r} ({written.dtype}, shape {written.shape}) does not "
                               f"match {read.name!r} ({read.dtype}, shape {read.shape})")


def _variant_check_ranges(graph: Graph, op: Op) -> None:
    """TFLite's accumulators are int32 (overflow undefined there): refuse weights whose sums could leave it."""
    layout = variant_layout(op.attrs)
    zx = int(graph.tensor(op.inputs[X]).quant.zero_point[0])  # type: ignore[union-attr]
    zh = int(graph.tensor(op.inputs[H]).quant.zero_point[0])  # type: ignore[union-attr]
    rows = [(layout["w_in"][g], layout["bias"][g], zx) for g in variant_gates(op.attrs)]
    rows += [(layout["w_rec"][g], None, zh) for g in variant_gates(op.attrs)]
    if op.attrs.get("projection"):
        rows.append((layout["projection"][0], layout["projection_bias"].get(0), int(op.attrs["hidden_zero_point"])))
    for wi, bi, zp in rows:
        reach = max(abs(-128 - zp), abs(127 - zp)) + abs(zp)
        wsum = np.abs(np.asarray(graph.tensor(op.inputs[wi]).data, np.int64)).sum(axis=1) * reach
        bias = np.abs(np.asarray(graph.tensor(op.inputs[bi]).data, np.int64)) if bi is not None else 0
        if int(np.max(wsum + bias)) >= 2**31:
            raise TinygenError(f"{common.where(op)}: weights {op.inputs[wi]!r} and their bias can take the int32 "
                               "accumulator beyond int32, where TFLite's arithmetic is undefined: re-quantize the "
                               "model")


@dataclass(frozen=True)
class VariantParams:
    """TFLite's IntegerLstmParameter (8x8_16) for the gates ``gates`` (GATES indices): multipliers and shifts
    as (m, s) per gate index, the effective biases (zero points folded in; the gate bias only without layer
    norm), the layer norms' variance guards, the clips (0: none) and the cell scale's power of two."""

    gates: tuple[int, ...]
    input_mult: dict[int, tuple[int, int]]
    recurrent_mult: dict[int, tuple[int, int]]
    peephole_mult: dict[int, tuple[int, int]]
    layer_norm_mult: dict[int, tuple[int, int]]
    variance_guard: dict[int, int]
    hidden_mult: tuple[int, int]
    proj_mult: tuple[int, int]
    hidden_zero_point: int
    output_zero_point: int
    cell_clip: int
    proj_clip: int
    cell_power: int
    bias_in: dict[int, np.ndarray]
    bias_rec: dict[int, np.ndarray]
    proj_bias: np.ndarray | None


def _f32(v: float) -> np.float32:
    return np.float32(v)


def _zp_times_rows(weights: np.ndarray, zero_point: int, bias: np.ndarray | None) -> np.ndarray:
    """PrecomputeZeroPointTimesWeightWithBias: bias (or 0) + zero_point * row sums, int32."""
    out = np.zeros(weights.shape[0], np.int64) if bias is None else np.asarray(bias, np.int64).copy()
    return numerics.wrap_int32(out + zero_point * np.asarray(weights, np.int64).sum(axis=1))


def variant_params(graph: Graph, op: Op, rounding: numerics.Rounding) -> VariantParams:
    a, layout = op.attrs, variant_layout(op.attrs)
    sx, zx = common.qp(graph.tensor(op.inputs[X]), op)
    sh, zh = common.qp(graph.tensor(op.inputs[H]), op)
    ln = bool(a.get("layer_norm"))
    inter = [_f32(s) if ln else _f32(GATE_IN_SCALE) for s in a.get("gate_scales", (GATE_IN_SCALE,) * 4)]
    hidden_scale = _f32(a["hidden_scale"])
    power = math.frexp(float(a["cell_scale"]))[1] - 1

    def scale(index: int) -> np.float32:
        return _f32(common.qp(graph.tensor(op.inputs[index]), op)[0])

    def data(index: int) -> np.ndarray:
        return np.asarray(graph.tensor(op.inputs[index]).data)

    def mult(real: np.float32, what: str) -> tuple[int, int]:
        return common.multiplier(float(real), op, what, rounding)

    ins, recs, peeps, lns, guards, b_in, b_rec = {}, {}, {}, {}, {}, {}, {}
    for g in variant_gates(a):
        ins[g] = mult(scale(layout["w_in"][g]) * _f32(sx) / inter[g], f"{GATES[g]} gate input")
        recs[g] = mult(scale(layout["w_rec"][g]) * _f32(sh) / inter[g], f"{GATES[g]} gate recurrent")
        if g in layout["peephole"]:
            peeps[g] = mult(_f32(2.0**power) * scale(layout["peephole"][g]) / inter[g], f"{GATES[g]} gate peephole")
        if g in layout["layer_norm"]:
            lns[g] = mult(scale(layout["layer_norm"][g]), f"{GATES[g]} gate layer norm")
            guards[g] = max(1, int(np.float32(10000) * scale(layout["layer_norm"][g])))
        b_in[g] = _zp_times_rows(data(layout["w_in"][g]), -zx, None if ln else data(layout["bias"][g]))
        b_rec[g] = _zp_times_rows(data(layout["w_rec"][g]), -zh, None)
    hidden = mult(_f32(2.0**-15) / hidden_scale * _f32(2.0**-15), "output x tanh(cell)")
    proj, proj_bias = (0, 0), None
    if a.get("projection"):
        proj = mult(scale(layout["projection"][0]) * hidden_scale / _f32(sh), "projection")
        pb = data(layout["projection_bias"][0]) if a.get("projection_bias") else None
        proj_bias = _zp_times_rows(data(layout["projection"][0]), int(a.get("hidden_zero_point", 0)), pb)
    cs, out_scale = _f32(a["cell_scale"]), _f32(common.qp(graph.tensor(op.outputs[0]), op)[0])
    clip, pclip = _f32(a.get("cell_clip", 0.0)), _f32(a.get("proj_clip", 0.0))
    qclip = int(min(max(clip / cs, -32768.0), 32767.0)) if clip > 0 else 0
    qpclip = int(min(max(pclip / out_scale, -128.0), 127.0)) if pclip > 0 else 0
    return VariantParams(variant_gates(a), ins, recs, peeps, lns, guards, hidden, proj,
                         int(a.get("hidden_zero_point", 0)), zh, qclip, qpclip, power, b_in, b_rec, proj_bias)


# gemmlowp's int16 fixed point (fixedpoint.h), as TFLite's ApplySigmoid / ApplyTanh compute it


def _w16(x: Any) -> np.ndarray:
    return ((np.asarray(x, np.int64) + 32768) & 0xFFFF) - 32768


def _fx16_mul(a: Any, b: Any) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul on int16."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    q = a * b + np.where(a * b >= 0, 1 << 14, 1 - (1 << 14))
    q = np.where(q >= 0, q >> 15, -((-q) >> 15))  # C++ divides, truncating
    return np.where((a == -32768) & (b == -32768), 32767, q)


def _fx16_pot(x: Any, exponent: int) -> np.ndarray:
    """SaturatingRoundingMultiplyByPOT on int16."""
    x = np.asarray(x, np.int64)
    if exponent <= 0:
        return numerics.rounding_divide_by_pot(x, -exponent) if exponent else x
    t = (1 << (15 - exponent)) - 1
    return np.where(x > t, 32767, np.where(x < -t, -32768, x << exponent))


def _fx16_const(raw32: int) -> int:
    """GEMMLOWP_CHECKED_FIXEDPOINT_CONSTANT for int16: the int32 constant rounding-shifted right by 16."""
    return int(numerics.rounding_divide_by_pot(np.int64(raw32), 16))


_FX16_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401),
                (4, 242))


def _fx16_exp_quarter(a: np.ndarray) -> np.ndarray:
    """exp_on_interval_between_negative_one_quarter_and_0_excl (F0)."""
    x = _w16(a + 4096)
    x2 = _fx16_mul(x, x)
    x3, x4 = _fx16_mul(x2, x), _fx16_mul(x2, x2)
    poly = _fx16_pot(_w16(_fx16_mul(_w16(_fx16_pot(x4, -2) + x3), _fx16_const(715827883)) + x2), -1)
    c = _fx16_const(1895147668)
    return np.clip(c + _fx16_mul(c, _w16(x + poly)), -32768, 32767)


def _fx16_exp_negative(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """exp_on_negative_values of an int16 fixed point with ``integer_bits``."""
    frac = 15 - integer_bits
    quarter = 1 << (frac - 2)
    a_mod = _w16((a & (quarter - 1)) - quarter)
    result = _fx16_exp_quarter(_fx16_pot(a_mod, integer_bits))
    remainder = _w16(a_mod - a) & 0xFFFF
    for exponent, m in _FX16_BARREL:
        if integer_bits > exponent:
            result = np.where(remainder & (1 << (frac + exponent)), _fx16_mul(result, _fx16_const(m)), result)
    if integer_bits > 5:
        result = np.where(a < _fx16_const(-(1 << (36 - integer_bits))), 0, result)
    return np.where(a == 0, 32767, result)


def _fx16_newton(a: np.ndarray) -> np.ndarray:
    """The Newton-Raphson division of one_over_one_plus_x_for_x_in_0_1 (F2): 1 / (1 + a)."""
    s = np.asarray(a, np.int64) + 32767
    half = np.where(s >= 0, (s + 1) // 2, -((1 - s) // 2))  # RoundingHalfSum: (s + sign(s)) / 2, truncating
    x = _w16(_fx16_const(1515870810) + _fx16_mul(half, _fx16_const(-1010580540)))
    for _ in range(3):
        x = _w16(x + _fx16_pot(_fx16_mul(x, _w16(8192 - _fx16_mul(half, x))), 2))
    return x


def gemmlowp_logistic16(v: Any, integer_bits: int = 3) -> np.ndarray:
    """gemmlowp::logistic on int16 (TFLite's ApplySigmoid: 3 integer bits in, Q0.15 out)."""
    a = np.asarray(v, np.int64)
    positive = a > 0
    r = _fx16_pot(_fx16_newton(_fx16_exp_negative(_w16(-np.where(positive, a, _w16(-a))), integer_bits)), 1)
    return np.where(a == 0, 16384, np.where(positive, r, _w16(32767 - r)))


def gemmlowp_tanh16(v: Any, integer_bits: int) -> np.ndarray:
    """gemmlowp::tanh on int16 (TFLite's ApplyTanh(integer_bits)), Q0.15 out."""
    a = np.asarray(v, np.int64)
    negative = a < 0
    t = _fx16_pot(_w16(_fx16_newton(_fx16_exp_negative(np.where(negative, a, _w16(-a)), integer_bits + 1)) - 8192), 2)
    return np.where(a == 0, 0, np.where(negative, _w16(-t), t))


def inv_sqrt_multiplier(value: int) -> tuple[int, int]:
    """GetInvSqrtQuantizedMultiplierExp(value, reverse_shift=-1): (multiplier, shift) of 1/sqrt(value)."""
    if value <= 1:
        return 2**31 - 1, 0
    shift = 11
    while value >= 1 << 29:
        value //= 4
        shift += 1
    pairs = ((32 - value.bit_length()) - 1) // 2 - 1
    shift -= pairs
    value <<= 2 * pairs
    mul, pot = numerics.saturating_rounding_doubling_high_mul, numerics.saturating_rounding_multiply_by_pot
    half_input = numerics.rounding_divide_by_pot(np.int64(value >> 1), 1)
    half_three = int(numerics.rounding_divide_by_pot(np.int64((1 << 28) + (1 << 27)), 0))
    x = np.int64(1 << 28)  # F3 one
    for _ in range(5):
        x3 = pot(mul(mul(x, x), x), 6)
        x = pot(numerics.wrap_int32(mul(half_three, x) - mul(half_input, x3)), 3)
    m = int(mul(x, 1518500250))
    if shift < 0:
        m, shift = m << -shift, 0
    return m, -shift


def layer_norm16(v: np.ndarray, coefficients: np.ndarray, bias: np.ndarray, m: tuple[int, int], guard: int,
                 rounding: str) -> np.ndarray:
    """PortableApplyLayerNorm on one batch row of int16 gate values."""
    v = np.asarray(v, np.int64)
    n = v.size
    total, squares = int(v.sum()), int((v * v).sum())
    mean = _c_div(total * 1024, n)
    variance = _c_div(squares * (2**20 // n) - mean * mean, 2**20)
    inv = inv_sqrt_multiplier(variance if variance >= 1 else guard)
    rescaled = numerics.multiply_by_quantized_multiplier(numerics.wrap_int32(1024 * v - mean), inv[0], inv[1], rounding)
    # int32 arithmetic in TFLite (rescaled * coefficient + bias), then rounded to the nearest 1/1024
    weighted = numerics.wrap_int32(rescaled * np.asarray(coefficients, np.int64) + np.asarray(bias, np.int64))
    shifted = np.where(weighted > 0, weighted + 512, weighted - 512)
    shifted = np.where(shifted >= 0, shifted // 1024, -((-shifted) // 1024))
    out = numerics.multiply_by_quantized_multiplier(shifted, m[0], m[1] + 12, rounding)
    return np.clip(out, -32768, 32767)


def _c_div(a: int, b: int) -> int:
    """C's integer division (truncating toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _acc16(prev: np.ndarray, acc: np.ndarray, m: tuple[int, int], rounding: str) -> np.ndarray:
    """MatrixBatchVectorMultiplyAccumulate's int16 step: sat16(prev + rq(acc))."""
    return np.clip(prev + numerics.multiply_by_quantized_multiplier(numerics.wrap_int32(acc), m[0], m[1], rounding),
                   -32768, 32767)


def _variant_gate(g: int, p: VariantParams, args: list[np.ndarray], layout: dict[str, dict[int, int]],
                  x: np.ndarray, xzp_h: np.ndarray, c: np.ndarray, rounding: str) -> np.ndarray:
    """CalculateLstmGateInteger8x8_16 for one batch row: both FCs, the peephole, the layer norm, the activation."""
    w_in = np.asarray(args[layout["w_in"][g]], np.int64)
    w_rec = np.asarray(args[layout["w_rec"][g]], np.int64)
    gate = _acc16(np.zeros(w_in.shape[0], np.int64), w_in @ x + p.bias_in[g], p.input_mult[g], rounding)
    gate = _acc16(gate, w_rec @ xzp_h + p.bias_rec[g], p.recurrent_mult[g], rounding)
    if g in p.peephole_mult:
        peep = np.asarray(args[layout["peephole"][g]], np.int64)
        gate = _acc16(gate, peep * c, p.peephole_mult[g], rounding)
    if g in p.layer_norm_mult:
        gate = layer_norm16(gate, np.asarray(args[layout["layer_norm"][g]]), np.asarray(args[layout["bias"][g]]),
                            p.layer_norm_mult[g], p.variance_guard[g], rounding)
    return gemmlowp_tanh16(gate, 3) if g == 2 else gemmlowp_logistic16(gate)


def _variant_step(p: VariantParams, args: list[np.ndarray], layout: dict[str, dict[int, int]], x: np.ndarray,
                  h: np.ndarray, c: np.ndarray, rounding: str) -> tuple[np.ndarray, np.ndarray]:
    """LstmStepInteger8x8_16 for one batch row: (new int8 output state, new int16 cell state)."""
    gate = {g: _variant_gate(g, p, args, layout, x, h, c, rounding) for g in p.gates if g != 3}
    shift = 30 + p.cell_power
    new_c = numerics.rounding_divide_by_pot(gate[1] * c, 15)
    input_gate = 32767 - gate[1] if 0 not in gate else gate[0]
    new_c = np.clip(new_c + _w16(numerics.rounding_divide_by_pot(input_gate * gate[2], shift)), -32768, 32767)
    if p.cell_clip > 0:
        new_c = np.clip(new_c, -p.cell_clip, p.cell_clip)
    out_gate = _variant_gate(3, p, args, layout, x, h, new_c, rounding)
    t = gemmlowp_tanh16(new_c, 15 + p.cell_power)
    # TFLite's hidden state: rq + zp as the output when there is no projection; rq - zp as the projection's
    # input, whose effective bias adds zp * row sums back (what TFLite computes, observed: they differ where
    # the int8 clamp bites)
    zp = p.hidden_zero_point if p.proj_bias is None else -p.hidden_zero_point
    hidden = np.clip(numerics.multiply_by_quantized_multiplier(out_gate * t, p.hidden_mult[0], p.hidden_mult[1],
                                                               rounding) + zp, -128, 127)
    if p.proj_bias is None:
        return hidden, new_c
    w = np.asarray(args[layout["projection"][0]], np.int64)
    out = np.clip(numerics.multiply_by_quantized_multiplier(numerics.wrap_int32(w @ hidden + p.proj_bias),
                                                            p.proj_mult[0], p.proj_mult[1], rounding)
                  + p.output_zero_point, -128, 127)
    if p.proj_clip > 0:
        out = np.clip(out, -p.proj_clip, p.proj_clip)
    return out, new_c


def variant_reference(graph: Graph, op: Op, p: VariantParams, args: list[np.ndarray], rounding: str
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    layout = variant_layout(op.attrs)
    x = np.asarray(args[X], np.int64)
    b, t, _ = x.shape
    _, _, _, cells, outputs = _variant_dims(graph, op)
    h = np.asarray(args[H]).reshape(b, outputs).astype(np.int64)
    c = np.asarray(args[C]).reshape(b, cells).astype(np.int64)
    out = np.zeros((b, t, outputs), np.int64)
    for batch in range(b):
        for step in range(t):
            h[batch], c[batch] = _variant_step(p, args, layout, x[batch, step], h[batch], c[batch], rounding)
            out[batch, step] = h[batch]
    return out.astype(np.int8), h.astype(np.int8), c.astype(np.int16)


#: .tflite input positions of the variants' operands, GATES order (-1: that gate has none)
_TFL_W_IN, _TFL_W_REC, _TFL_BIAS = (1, 2, 3, 4), (5, 6, 7, 8), (12, 13, 14, 15)
_TFL_PEEPHOLE, _TFL_LAYER_NORM = (9, 10, -1, 11), (20, 21, 22, 23)


def is_variant(raw: Any) -> bool:
    """Whether a .tflite UNIDIRECTIONAL_SEQUENCE_LSTM has a peephole, projection, layer norm or is CIFG."""
    return raw.inputs[1] == -1 or any(raw.inputs[i] != -1 for i in (9, 10, 11, 16, 17, 20, 21, 22, 23))


def _variant_flags(imp: Any, raw: Any, where: str) -> dict[str, bool]:
    """The variant's flags, with TFLite's all-or-none rules (CheckInputTensorDimensions) checked."""
    present = [i != -1 for i in raw.inputs]
    cifg = not present[1]
    if present[5] == cifg or present[12] == cifg:
        raise TinygenError(f"{where}: the input gate's weights (inputs 1, 5) and bias (12) must be all present or all "
                           "absent (CIFG); corrupt model")
    flags = {"cifg": cifg}
    for key, positions in (("peephole", (9, 10, 11)), ("layer_norm", (20, 21, 22, 23))):
        needed = [p for p in positions if not (cifg and p in (9, 20))]
        flags[key] = present[needed[0]]
        if any(present[p] != flags[key] for p in needed) or (cifg and present[positions[0]]):
            raise TinygenError(f"{where}: its {key.replace('_', ' ')} operands {list(positions)} must be all present "
                               "or all absent (the input gate's absent in a CIFG LSTM); corrupt model")
    flags["projection"], flags["projection_bias"] = present[16], present[17]
    if present[17] and not present[16]:
        raise TinygenError(f"{where}: has a projection bias but no projection weights; corrupt model")
    return flags


def _intermediate_quant(imp: Any, raw: Any, where: str, layer_norm: bool) -> dict[str, Any]:
    """The op's five intermediates (lstm.cc reads the gates' scales with layer norm, the hidden state's always)."""
    if len(raw.intermediates) != 5:
        raise UnsupportedError(f"{where}: has {len(raw.intermediates)} intermediate tensors; TFLite's integer LSTM "
                               "(8x8_16) needs 5 (the gates' and the hidden state's quantization): re-convert it with "
                               "TFLite's quantizer")
    quant = []
    for index in raw.intermediates:
        t = imp.raw.tensors[index] if 0 <= index < len(imp.raw.tensors) else None
        if t is None or t.scale is None or t.scale.size != 1 or not float(t.scale[0]) > 0:
            raise TinygenError(f"{where}: intermediate tensor {index} has no per-tensor quantization; corrupt model")
        quant.append((float(t.scale[0]), int(t.zero_point[0])))
    return {"gate_scales": tuple(q[0] for q in quant[:4]) if layer_norm else (GATE_IN_SCALE,) * 4,
            "hidden_scale": quant[4][0], "hidden_zero_point": quant[4][1]}


def _variant_const(imp: Any, raw: Any, index: int, where: str, what: str, dtype: int) -> str:
    t = imp.raw.tensors[index]
    if t.type != dtype or t.data is None or t.scale is None or t.scale.size != 1:
        name = {tflite.TensorType.INT8: "int8", tflite.TensorType.INT16: "int16", tflite.TensorType.INT32: "int32"}
        raise UnsupportedError(f"{where}: {what} {imp.describe(index)} must be a constant {name[dtype]} tensor "
                               "quantized per tensor, as TFLite's integer LSTM takes it")
    return imp.tensor(index, axis=0)


def convert_variant(imp: Any, raw: Any) -> list[Op]:
    """A peephole, projection, layer-norm or CIFG LSTM -> VARIANT_KIND (TFLite's kernel; TFLite Micro refuses it)."""
    where = imp.where(raw)
    flags = _variant_flags(imp, raw, where)
    if raw.options["TimeMajor"]:
        raise UnsupportedError(f"{where}: is time major ([steps, batch, features]); tinygen supports batch-major "
                               "LSTMs: convert with time_major=False")
    xt = imp.raw.tensors[raw.inputs[0]]
    if xt.type != tflite.TensorType.INT8 or len(xt.shape) != 3:
        raise UnsupportedError(f"{where}: input {imp.describe(raw.inputs[0])} must be int8 [batch, steps, features]: "
                               "tinygen supports the peephole, projection, layer-norm and CIFG LSTM with int8 "
                               "activations (TFLite's 8x8_16 kernel)")
    if raw.options["FusedActivationFunction"] != tflite.ActivationFunctionType.TANH:
        raise UnsupportedError(f"{where}: fused (cell) activation code {raw.options['FusedActivationFunction']}; "
                               "TFLite's integer LSTM computes TANH only")
    x = imp.activation_tensor(raw, raw.inputs[0])
    gates = (1, 2, 3) if flags["cifg"] else (0, 1, 2, 3)
    operands = []
    for positions, what, dtype in ((_TFL_W_IN, "input-to-{} weights", tflite.TensorType.INT8),
                                   (_TFL_W_REC, "recurrent-to-{} weights", tflite.TensorType.INT8),
                                   (_TFL_BIAS, "{} gate bias", tflite.TensorType.INT32),
                                   *(((_TFL_PEEPHOLE, "cell-to-{} weights", tflite.TensorType.INT16),)
                                     if flags["peephole"] else ()),
                                   *(((_TFL_LAYER_NORM, "{} layer-norm coefficients", tflite.TensorType.INT16),)
                                     if flags["layer_norm"] else ())):
        for g in gates:
            if positions[g] != -1:
                operands.append(_variant_const(imp, raw, raw.inputs[positions[g]], where, what.format(GATES[g]), dtype))
    if flags["projection"]:
        operands.append(_variant_const(imp, raw, raw.inputs[16], where, "projection weights", tflite.TensorType.INT8))
        if flags["projection_bias"]:
            operands.append(_variant_const(imp, raw, raw.inputs[17], where, "projection bias", tflite.TensorType.INT32))
    h_index, c_index = raw.inputs[18], raw.inputs[19]
    ht, ct = imp.raw.tensors[h_index], imp.raw.tensors[c_index]
    _variant_state_checks(imp, raw, where, ht, ct)
    attrs = {**flags, **_intermediate_quant(imp, raw, where, flags["layer_norm"]),
             "cell_clip": float(raw.options["CellClip"]), "proj_clip": float(raw.options["ProjClip"]),
             "cell_scale": float(ct.scale[0])}
    h_read, c_read, h_write, c_write = _state_tensors(imp, h_index, c_index, tuple(ht.shape), tuple(ct.shape))
    out = imp.output(raw, VARIANT_KIND)
    return [Op(VARIANT_KIND, out, [x, h_read, c_read, *operands], [out, h_write, c_write], attrs)]


def check_state_variables(imp: Any, raw: Any, where: str, ht: Any, ct: Any) -> None:
    """The output and cell states (.tflite inputs 18, 19) must be VARIABLE tensors the LSTM alone uses."""
    for t, what in ((ht, "output state"), (ct, "cell state")):
        if not t.is_variable:
            raise UnsupportedError(f"{where}: its {what} {imp.describe(t.index)} is not a variable tensor (TFLite "
                                   "requires it to be)")
        others = [o for o in imp.consumers.get(t.index, []) if o is not raw]
        if others or t.index in imp.raw.outputs or t.index in imp.raw.inputs or t.index in imp.producer:
            raise UnsupportedError(f"{where}: its {what} {imp.describe(t.index)} is used elsewhere in the model; "
                                   "tinygen supports an LSTM state used by the LSTM alone")


def _variant_state_checks(imp: Any, raw: Any, where: str, ht: Any, ct: Any) -> None:
    check_state_variables(imp, raw, where, ht, ct)
    if ht.type != tflite.TensorType.INT8 or ht.scale is None or ht.scale.size != 1:
        raise UnsupportedError(f"{where}: output state {imp.describe(ht.index)} must be int8 quantized per tensor")
    if ct.type != tflite.TensorType.INT16 or ct.scale is None or ct.scale.size != 1:
        raise UnsupportedError(f"{where}: cell state {imp.describe(ct.index)} must be int16 quantized per tensor")
    if not -128 <= int(ht.zero_point[0]) <= 127:
        raise TinygenError(f"{where}: output state {imp.describe(ht.index)} has zero point {int(ht.zero_point[0])} "
                           "outside [-128, 127]: corrupt model; re-quantize it")


def _state_tensors(imp: Any, h_index: int, c_index: int, h_shape: tuple[int, ...], c_shape: tuple[int, ...]
                   ) -> tuple[str, str, str, str]:
    """The two VARIABLE tensors as states (read before, written after the op; TFLite's reset values: the int8
    output state at its zero point, the cell state at 0): (h read, c read, h write, c write)."""
    g = imp.graph
    ht, ct = imp.raw.tensors[h_index], imp.raw.tensors[c_index]
    hq, cq = ir.Quantization(ht.scale, ht.zero_point), ir.Quantization(ct.scale, ct.zero_point)
    names = []
    for index, shape, dtype, q in ((h_index, h_shape, "int8", hq), (c_index, c_shape, "int16", cq)):
        base = imp.names[index]
        read = g.add_tensor(ir.Tensor(unique_tensor_name(imp, f"{base}/before"), shape, dtype, q)).name
        write = g.add_tensor(ir.Tensor(base if base not in g.tensors else unique_tensor_name(imp, base), shape, dtype,
                                       q)).name
        n = int(np.prod(shape))
        start = np.full(n, int(ht.zero_point[0]), np.int8) if dtype == "int8" else np.zeros(n, np.int16)
        g.states.append(ir.State(base, read, write, start))
        names.append((read, write))
    return names[0][0], names[1][0], names[0][1], names[1][1]


def variant_quant_words(p: VariantParams, attrs: dict[str, Any]) -> np.ndarray:
    """The variant kernel's int32 parameter block (tg_lstm_s8_variant.h, TG_LSTMV_Q_*)."""
    words: list[int] = []
    for g in range(4):
        for table in (p.input_mult, p.recurrent_mult, p.peephole_mult, p.layer_norm_mult):
            words += list(table.get(g, (0, 0)))
        words.append(p.variance_guard.get(g, 1))
    zp = p.hidden_zero_point if p.proj_bias is None else -p.hidden_zero_point  # as _variant_step adds it
    flags = (1 if attrs.get("cifg") else 0) | (2 if attrs.get("peephole") else 0) | \
        (4 if attrs.get("layer_norm") else 0) | (8 if p.proj_bias is not None else 0)
    words += [*p.hidden_mult, *p.proj_mult, zp, p.output_zero_point, p.cell_clip, p.proj_clip, p.cell_power, flags]
    return np.asarray(words, np.int32)


def lower_variant(ctx: LoweringContext, op: Op) -> KernelCall:
    g, a = ctx.graph, op.attrs
    p = variant_params(g, op, ctx.rounding)  # type: ignore[arg-type]
    layout = variant_layout(a)
    b, t, f, cells, outputs = _variant_dims(g, op)

    def stack(key: str, dtype: Any, gates: tuple[int, ...] = p.gates) -> np.ndarray:
        return np.concatenate([np.asarray(g.tensor(op.inputs[layout[key][k]]).data, dtype).reshape(-1)
                               if k in layout[key] else np.zeros(cells, dtype) for k in gates])

    def arr(name: str, values: np.ndarray, ctype: str, kind: str = WEIGHTS) -> str:
        return ctx.const_array(hint(op, name), np.ascontiguousarray(values), ctype, kind)

    peephole = arr("peephole", stack("peephole", np.int16), "int16_t") if a.get("peephole") else "NULL"
    ln_w = arr("ln_w", stack("layer_norm", np.int16), "int16_t") if a.get("layer_norm") else "NULL"
    ln_b = arr("ln_b", stack("bias", np.int32), "int32_t") if a.get("layer_norm") else "NULL"
    proj = a.get("projection")
    args = (
        f"(const int8_t *)({ctx.tensor_ptr(op.inputs[X])})",
        f"(const int8_t *)({ctx.tensor_ptr(op.inputs[H])})",
        f"(const int8_t *)(const void *)({ctx.tensor_ptr(op.inputs[C])})",
        str(b), str(t), str(f), str(cells), str(outputs),
        arr("w_in", stack("w_in", np.int8), "int8_t"), arr("w_rec", stack("w_rec", np.int8), "int8_t"),
        arr("b_in", np.concatenate([p.bias_in[k] for k in p.gates]).astype(np.int32), "int32_t"),
        arr("b_rec", np.concatenate([p.bias_rec[k] for k in p.gates]).astype(np.int32), "int32_t"),
        peephole, ln_w, ln_b,
        arr("proj_w", np.asarray(g.tensor(op.inputs[layout["projection"][0]]).data, np.int8).reshape(-1), "int8_t")
        if proj else "NULL",
        arr("proj_b", np.asarray(p.proj_bias, np.int32), "int32_t") if proj else "NULL",
        arr("q", variant_quant_words(p, a), "int32_t", QUANT),
        ctx.scratch_ptr(),
        ctx.tensor_ptr(op.outputs[0]), ctx.tensor_ptr(op.outputs[1]),
        f"(int8_t *)(void *)({ctx.tensor_ptr(op.outputs[2])})",
    )
    kinds = [k for k in ("cifg", "peephole", "layer_norm", "projection") if a.get(k)]
    comment = (f"lstm ({', '.join(kinds)}) {shape_str(g.tensor(op.inputs[X]))} -> {cells} cells, {outputs} outputs, "
               f"cell scale 2^{p.cell_power}")
    # int32 sums of a gate (or the projection), the four gates, the cell state (int16), the hidden state (int8)
    return KernelCall("tg_lstm_s8_variant", args, scratch_bytes=4 * max(cells, outputs) + 11 * cells, comment=comment)


def variant_macs(graph: Graph, op: Op) -> int:
    b, t, f, cells, outputs = _variant_dims(graph, op)
    projection = cells * outputs if op.attrs.get("projection") else 0
    return b * t * (len(variant_gates(op.attrs)) * cells * (f + outputs) + projection)


VARIANT_OP = OpDef(
    kind=VARIANT_KIND,
    infer_shape=variant_infer_shape,
    attrs=VARIANT_ATTRS,
    num_inputs=(3 + 9, None),
    check=_variant_check,
    params=variant_params,
    reference=variant_reference,
    lowerings=(lower_variant,),
    macs=variant_macs,
)
OPS = (VARIANT_OP,)
