"""Recurrent Keras layers in tinygen's quantizer: the LSTM's quantization (its op module knows TFLite's rules,
:func:`tinygen.ops.lstm.quantize_keras`) and the GRU's lowering to the integer building blocks tinygen already
has, unrolled over the time steps as TFLite's converter lowers a GRU (no fused GRU op exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygen.ir import Graph, Op, Quantization
from tinygen.ops import fully_connected, lstm
from tinygen.quantize.builder import Builder


def shared_outputs(op: Op) -> tuple[str, ...]:
    """Outputs of a float op that must share one int8 quantization (none for single-output ops)."""
    return lstm.shared_quantization(op) if op.kind == lstm.KIND else ()


def quantize_op(graph: Graph, fgraph: Graph, fop: Op, act: dict[str, Quantization],
                ranges: dict[str, tuple[float, float]]) -> bool:
    """Add the int8 form of a recurrent float op to ``graph``; False for any other op (the quantizer's own)."""
    if fop.kind != lstm.KIND:
        return False
    lstm.quantize_keras(graph, fgraph, fop, act, ranges)
    return True


# --------------------------------------------------------------------------- GRU


def _check_gru(layer: Any) -> None:
    """Refuse what the lowering cannot compute; dropout and recurrent_dropout are inference-time identities and
    unroll changes nothing at inference."""
    from tinygen.quantize.layers import layer_error

    cfg = layer.get_config()
    for key, want in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
        lstm.require_keras_activation(layer, key, want, "tinygen lowers the GRU to int8 LOGISTIC and TANH")
    for key, problem in (("go_backwards", "reverse the sequence before the model instead"),
                         ("return_state", "use return_sequences=True or False")):
        if cfg.get(key):
            raise layer_error(layer, f"{key}=True is not supported; {problem}")


@dataclass(frozen=True)
class _GruWeights:
    """Per gate (z, r, h) the input weights [U, F], recurrent weights [U, U], input and recurrent biases [U]."""

    w: tuple[np.ndarray, ...]
    r: tuple[np.ndarray, ...]
    bx: tuple[np.ndarray, ...]
    bh: tuple[np.ndarray, ...]
    reset_after: bool

    @property
    def units(self) -> int:
        return int(self.r[0].shape[0])


def _gru_weights(layer: Any) -> _GruWeights:
    values = [np.asarray(v.numpy() if hasattr(v, "numpy") else v, np.float32) for v in layer.cell.weights]
    kernel, recurrent = values[0], values[1]
    units = recurrent.shape[0]
    reset_after = bool(layer.get_config().get("reset_after", True))
    if len(values) > 2:
        bias = values[2].reshape(2 if reset_after else 1, 3 * units)
    else:
        bias = np.zeros((2 if reset_after else 1, 3 * units), np.float32)
    bh = bias[1] if reset_after else np.zeros(3 * units, np.float32)

    def gates(m: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(np.ascontiguousarray(m[..., k * units:(k + 1) * units].T) for k in range(3))

    return _GruWeights(gates(kernel), gates(recurrent), gates(bias[0]), gates(bh), reset_after)


class _Emit:
    """The float ops of one GRU layer, named after it (``gru/t3/z``...)."""

    def __init__(self, b: Builder, layer: str, units: int) -> None:
        self.b, self.layer, self.units = b, layer, units

    def fc(self, name: str, x: str, w: np.ndarray, bias: np.ndarray) -> str:
        n = self.b.shape(x)[0]
        ins = [x, self.b.const(f"{self.layer}/{name}/weights", w), self.b.const(f"{self.layer}/{name}/bias", bias)]
        return self.b.op(fully_connected.KIND, f"{self.layer}/{name}", ins, (n, w.shape[0]), activation="none",
                         keep_num_dims=False)

    def binary(self, kind: str, name: str, a: str, c: str) -> str:
        return self.b.op(kind, f"{self.layer}/{name}", [a, c], self.b.shape(a), activation="none")

    def unary(self, kind: str, name: str, x: str) -> str:
        return self.b.op(kind, f"{self.layer}/{name}", [x], self.b.shape(x))


def _gru_step(e: _Emit, g: _GruWeights, x: str, h: str | None, step: int) -> str:
    """One time step: ``z = sigmoid(x Wz + h Uz + b)``, ``r`` alike, ``hh = tanh(x Wh + r * (h Uh + bh))``
    (reset_after; else ``tanh(x Wh + (r * h) Uh + b)``), ``h' = hh + z * (h - hh)`` (= z h + (1 - z) hh, Keras's
    form, without the constant 1). The first step's state is zero: its recurrent products vanish (the recurrent
    bias folds into the z and r gates' input FCs, and in reset_after's candidate is a zero-weight FC's
    constant output), and ``h' = hh - z * hh``."""
    from tinygen.ops import add, logistic, mul, sub, tanh

    t, zeros = f"t{step}", np.zeros_like
    gate = []
    for k, name in ((0, "z"), (1, "r")):
        if h is None and not g.reset_after and k == 1:
            gate.append("")  # r multiplies the zero state: not needed
            continue
        pre = e.fc(f"{t}/{name}_x", x, g.w[k], g.bx[k] + g.bh[k])
        if h is not None:
            pre = e.binary(add.KIND, f"{t}/{name}_pre", pre, e.fc(f"{t}/{name}_h", h, g.r[k], zeros(g.bh[k])))
        gate.append(e.unary(logistic.KIND, f"{t}/{name}", pre))
    z, r = gate
    cand = e.fc(f"{t}/h_x", x, g.w[2], g.bx[2])
    if g.reset_after and (h is not None or np.any(g.bh[2])):
        rec = e.fc(f"{t}/h_h", h, g.r[2], g.bh[2]) if h is not None else \
            e.fc(f"{t}/h_h", x, np.zeros_like(g.w[2]), g.bh[2])  # the zero state's h Uh + bh: bh
        cand = e.binary(add.KIND, f"{t}/h_pre", cand, e.binary(mul.KIND, f"{t}/r_h", r, rec))
    elif not g.reset_after and h is not None:
        rh = e.binary(mul.KIND, f"{t}/r_h", r, h)
        cand = e.binary(add.KIND, f"{t}/h_pre", cand, e.fc(f"{t}/h_h", rh, g.r[2], zeros(g.bh[2])))
    hh = e.unary(tanh.KIND, f"{t}/hh", cand)
    if h is None:
        return e.binary(sub.KIND, f"{t}/h", hh, e.binary(mul.KIND, f"{t}/z_hh", z, hh))
    keep = e.binary(mul.KIND, f"{t}/z_d", z, e.binary(sub.KIND, f"{t}/d", h, hh))
    return e.binary(add.KIND, f"{t}/h", hh, keep)


def gru(b: Builder, layer: Any, inputs: list[str]) -> str:
    """keras.layers.GRU -> float FULLY_CONNECTED, ADD, SUB, MUL, LOGISTIC, TANH ops unrolled over the steps (each
    step's input a STRIDED_SLICE of the sequence); with return_sequences the steps' states are concatenated
    into [N, T, U]. Every intermediate is calibrated and quantized int8 like any other op's output. A stateful
    layer's last state is kept between invocations (``NAME_reset()`` zeroes it), quantized as the state it is
    read back as."""
    from tinygen.ops import concatenation, reshape, slice as slice_op
    from tinygen.quantize.layers import _require_rank, single_input

    _check_gru(layer)
    x = single_input(layer, inputs)
    _require_rank(layer, b, x, 3)
    n, steps, f = b.shape(x)
    g = _gru_weights(layer)
    e = _Emit(b, layer.name, g.units)
    stateful = bool(layer.get_config().get("stateful"))
    # stateful: the state kept between invocations (zero after NAME_reset()) is the first step's h
    h: str | None = b.keep_state(f"{layer.name}/h", (n, g.units)) if stateful else None
    first = h
    states = []
    for step in range(steps):
        xt = b.op(slice_op.KIND, f"{layer.name}/t{step}/x", [x], (n, f), slices=((0, n, 1), (step, step + 1, 1),
                                                                                   (0, f, 1)), shrink=(1,))
        h = _gru_step(e, g, xt, h, step)
        states.append(h)
    assert h is not None  # a sequence has at least one step (fixed_shape)
    if first is not None:
        b.write_state(first, h)
    if not layer.get_config().get("return_sequences"):
        return h
    rows = [b.op(reshape.KIND, f"{layer.name}/t{k}/row", [s], (n, 1, g.units)) for k, s in enumerate(states)]
    return b.op(concatenation.KIND, layer.name, rows, (n, steps, g.units), axis=1, activation="none")
