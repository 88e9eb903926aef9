"""Float32 IR graph + activation ranges -> int8 IR graph, in TFLite's int8 scheme.

* Weights: symmetric per output channel (conv axis 0 of OHWI, depthwise axis 3, dense axis 0), values
  in [-127, 127], scale = max|w| / 127, round half away from zero.
* Biases: int32, scale = input_scale * weight_scale[c], zero point 0.
* Activations: per tensor, asymmetric, range widened to include 0, zero point nudged
  (:func:`~tinygen.quantize.observers.activation_params`). A fused ReLU shows in the observed range.
* Ops whose int8 kernels do not requantize (max/avg pool, reshape, pad, concatenation) need the
  same parameters on their inputs and output: those tensors form one group (union-find) quantized
  with the union of their ranges, which is what TFLite's input->output propagation gives for
  pools/reshape/pad and its shared scale for concatenation.
* Softmax outputs are scale 1/256, zero point -128.
* A per-tensor affine first layer (Keras ``Rescaling``, a ``Normalization`` with one mean and variance: a
  ``rescale`` op whose input is a graph input it alone reads) is folded into that input's quantization
  (:func:`plan_input_folds`): the library's int8 input means the raw input and no pass over it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen import ops
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op, Quantization, State, Tensor
from tinygen.ops.common import INT_RANGES
from tinygen.quantize import recurrent
from tinygen.quantize.precision import tensor_groups, with_boundaries
from tinygen.quantize.observers import QMAX, QMIN, Ranges, activation_params

INT32_MAX = 2**31 - 1
INT16_MAX = 32767


def round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize_weights(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(int8 values, float32 per-channel scales) of symmetric narrow-range weights."""
    other = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w.astype(np.float64)).max(axis=other)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    return _quantize_with(w, scale, axis), scale


def _quantize_with(w: np.ndarray, scale: np.ndarray, axis: int) -> np.ndarray:
    shape = [1] * w.ndim
    shape[axis] = -1
    q = round_half_away(w.astype(np.float64) / scale.astype(np.float64).reshape(shape))
    return np.clip(q, -127, 127).astype(np.int8)


def quantize_bias(bias: np.ndarray, input_scale: np.float32, weight_scale: np.ndarray, bits: int = 32
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(int32 values, or int64 with ``bits`` 64 (16x8 layers), float32 scales) with scale = input_scale *
    weight_scale[c]."""
    scale = np.float64(input_scale) * weight_scale.astype(np.float64)
    q = round_half_away(bias.astype(np.float64) / scale)
    limit = INT32_MAX if bits == 32 else float(2**62)
    return np.clip(q, -limit, limit).astype(f"int{bits}"), scale.astype(np.float32)


def quantization_rule(kind: str) -> tuple[str, tuple[float, int] | None]:
    """(rule, fixed output quantization or None) of an op kind (its module's ``quant_rule``)."""
    defn = ops.get(kind)
    return defn.quant_rule, defn.fixed_output_quant


def weight_axis(kind: str) -> int | None:
    """The per-channel weight axis of a weighted op kind (inputs x, weights, bias), else None."""
    return ops.get(kind).weight_axis


def int16_params(rmin: float, rmax: float) -> tuple[np.float32, int]:
    """TFLite's 16x8 activation parameters for a float range: symmetric, scale = max(|min|, |max|) / 32767, zero
    point 0."""
    bound = max(abs(float(rmin)), abs(float(rmax)))
    return (np.float32(bound / INT16_MAX) if bound > 0 else np.float32(1.0)), 0


def int16_fixed_quant(fixed: tuple[float, int]) -> tuple[float, int]:
    """The int16 output quantization of an op whose int8 output quantization is fixed (softmax, logistic: 1/256 and
    -128; tanh: 1/128 and 0): the bound of that fixed int8 range (1.0 for all three) over 32768, zero point 0, as
    TFLite's 16x8 converter fixes them (its int16 LOGISTIC, TANH and SOFTMAX kernels require 2^-15)."""
    scale, zero_point = fixed
    return scale * max(128 + zero_point, 128 - zero_point) / 32768.0, 0


def activation_quantization(graph: Graph, ranges: Ranges, int16: frozenset[str] = frozenset()
                            ) -> dict[str, Quantization]:
    """Per-tensor (scale, zero point) of every activation tensor, with TFLite's constraints; the tensors ``int16``
    (whole shared-scale groups, :func:`tinygen.quantize.precision.with_boundaries` makes them so) get TFLite's
    16x8 parameters."""
    groups = tensor_groups(graph)
    fixed: dict[str, tuple[np.float32, int]] = {}
    for op in graph.ops:
        _, fixed_quant = quantization_rule(op.kind)
        if fixed_quant is not None:
            if op.outputs[0] in int16:
                fixed_quant = int16_fixed_quant(fixed_quant)
            fixed[op.outputs[0]] = (np.float32(fixed_quant[0]), int(fixed_quant[1]))
    names = [t.name for t in graph.activation_tensors()]
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    for name in names:
        root = groups.find(name)
        if name not in ranges:
            raise TinygenError(f"tensor {name!r} has no calibrated range")
        lo[root] = min(lo.get(root, np.inf), ranges[name][0])
        hi[root] = max(hi.get(root, -np.inf), ranges[name][1])
    wide = {groups.find(name) for name in int16}
    root_params = {root: (int16_params if root in wide else activation_params)(lo[root], hi[root]) for root in lo}
    for name, params in fixed.items():
        root = groups.find(name)
        members = [n for n in names if groups.find(n) == root and n != name]
        if any(n in fixed and fixed[n] != params for n in members):
            raise TinygenError(f"tensor {name!r}: two fixed quantizations meet in one shared-scale group")
        root_params[root] = params
    return {n: Quantization([root_params[groups.find(n)][0]], [root_params[groups.find(n)][1]]) for n in names}


def bias_limit(weights_per_channel: int) -> float:
    """The largest |int32 bias| that leaves a channel's accumulator room for every input: |bias| + 256 x 127 x K
    (K weights of magnitude <= 127, each times an input plus offset of magnitude <= 256) stays within int32, so
    the kernels never overflow (the op modules refuse a model where they could)."""
    return float(max(INT32_MAX - 256 * 127 * int(weights_per_channel), 1 << 24))


def _widen_for_bias(bias: np.ndarray, input_scale: np.float32, scale: np.ndarray, weights_per_channel: int) -> np.ndarray:
    """Widen weight scales whose bias would overflow int32, with the accumulator's headroom (TFLite's converter
    adjusts them the same way, without the headroom)."""
    limit = np.abs(bias.astype(np.float64)) / (np.float64(input_scale) * bias_limit(weights_per_channel))
    return np.maximum(scale, limit.astype(np.float32) * np.float32(1.0 + 1e-6)).astype(np.float32)


# --------------------------------------------------------------------------- input rescaling folded

#: how far ``offset / s_y`` may be from an integer and still count as one (float32 scales: ~1e-5 at most)
FOLD_TOLERANCE = 1e-3


@dataclass(frozen=True)
class InputFold:
    """A per-tensor affine ``y = x * scale + offset`` (a ``rescale`` op) folded into graph input ``x``'s
    quantization: ``x`` gets ``(s_in, z_in)``, the rescaled tensor ``y`` keeps its own ``(s_y, z_y)`` and the op
    becomes a view (no code, no copy) between the two names: the same int8 bytes mean ``x`` on one grid and
    ``y`` on the other.

    Why it is exact: with ``s_in = s_y / scale`` and ``z_in = z_y + offset / s_y`` (an integer),
    ``scale * s_in * (q - z_in) + offset = s_y * (q - z_in + offset / s_y) = s_y * (q - z_y)`` for every int8
    ``q``: the affine map sends each point of x's grid onto the point of y's grid with the same integer, so
    ``q_y = q_x`` (the rescale op's table is the identity) and the ops after it see exactly the int8 values
    and quantization they would see after the op. Quantizing a raw input with ``(s_in, z_in)`` rounds once,
    to the same grid, where the op would have rounded twice (x's own grid, then y's)."""

    op: str  # the rescale op's name (the view keeps it)
    input: str
    output: str
    scale: float
    offset: float
    #: y's calibrated range, widened so that ``offset / s_y`` is an integer (or y's own when ``offset`` is 0)
    output_range: tuple[float, float]
    input_quant: tuple[np.float32, int]  # (s_in, z_in)
    output_quant: tuple[np.float32, int]  # (s_y, z_y)


def fold_range(lo: float, hi: float, offset: float) -> tuple[float, float] | None:
    """The narrowest widening of y's range ``[lo, hi]`` (0 included) whose int8 quantization ``(s, z)`` makes
    ``offset / s`` an integer ``k`` with ``z + k`` (the input's zero point) in [-128, 127]; None if there is none.

    ``s = |offset| / m`` for a whole ``m`` from 1 to 255 (|z + k| stays within int8 only for |k| <= 255); the
    largest ``m`` whose ``s`` still covers the range with some zero point wins (the finest grid), and the zero
    point closest to centring the range. Idempotent: the range it returns gives the same ``(s, z)`` again (also
    after a float32 round trip, as QAT stores it)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi - lo < np.finfo(np.float64).eps:
        return None
    if offset == 0.0:
        return lo, hi
    s0 = (hi - lo) / (QMAX - QMIN)
    top = min(QMAX - QMIN, int(np.floor(abs(offset) / s0 + 1e-4)))
    for m in range(top, 0, -1):
        s = abs(offset) / m
        k = m if offset > 0 else -m
        # s * (QMIN - z) <= lo and s * (QMAX - z) >= hi, z and z + k within int8 (a hair of slack: float error)
        z_min = max(int(np.ceil(QMIN - lo / s - 1e-4)), QMIN, QMIN - k)
        z_max = min(int(np.floor(QMAX - hi / s + 1e-4)), QMAX, QMAX - k)
        if z_min > z_max:
            continue
        z = int(min(max(round((QMIN + QMAX - (lo + hi) / s) / 2), z_min), z_max))
        return s * (QMIN - z), s * (QMAX - z)
    return None


def _fold_candidates(fgraph: Graph) -> list[Op]:
    """``rescale`` ops (scale > 0) that are the only reader of a graph input and whose output is no graph output."""
    from tinygen.ops import rescale

    found = []
    for op in fgraph.ops:
        if op.kind != rescale.KIND or op.inputs[0] not in fgraph.inputs or op.outputs[0] in fgraph.outputs:
            continue
        if len(fgraph.consumers(op.inputs[0])) != 1 or not float(op.attrs["scale"]) > 0.0:
            continue  # a negative scale reverses the grid: no (s_in > 0, z_in) maps onto y's
        found.append(op)
    return found


def _fold_params(op: Op, quant: Quantization) -> tuple[np.float32, int] | None:
    """``(s_in, z_in)`` of a fold with y quantized as ``quant``, or None if the grids do not map exactly."""
    scale, offset = float(op.attrs["scale"]), float(op.attrs["offset"])
    s_y, z_y = quant.scalar()
    k = offset / float(s_y)
    z_in = z_y + round(k)
    if abs(k - round(k)) > FOLD_TOLERANCE or not QMIN <= z_in <= QMAX:
        return None
    s_in = np.float32(float(s_y) / scale)
    if not (np.isfinite(s_in) and s_in >= np.finfo(np.float32).tiny):
        return None
    return s_in, z_in


def _no_coarser(op: Op, ranges: Ranges, widened: tuple[float, float]) -> bool:
    """Whether the fold's one rounding (to y's widened grid, step ``s``) is no coarser than the table op's two (to
    x's own grid, step ``s_x`` in x, then to y's own, step ``s_y``), in expected squared error:
    ``s^2 <= (scale * s_x)^2 + s_y^2``. A wide nudge (an offset of one or two of y's steps: ``s`` up to twice
    ``s_y``) may not be."""
    x, y = op.inputs[0], op.outputs[0]
    s = float(activation_params(*widened)[0])
    s_y = float(activation_params(*ranges[y])[0])
    s_x = float(activation_params(*ranges[x])[0]) * float(op.attrs["scale"]) if x in ranges else 0.0
    return s * s <= (s_x * s_x + s_y * s_y) * (1.0 + 1e-6)


def plan_input_folds(fgraph: Graph, ranges: Ranges) -> list[InputFold]:
    """The input rescalings :func:`quantize_graph` folds (QAT freezes the same grids, :mod:`tinygen.qat.graph`):
    every candidate whose range :func:`fold_range` can nudge without rounding coarser than the op would
    (:func:`_no_coarser`), kept if the quantization of y's group (other tensors may share it: a pool or
    concatenation after y) still maps exactly."""
    plans: list[tuple[Op, tuple[float, float]]] = []
    for op in _fold_candidates(fgraph):
        y = op.outputs[0]
        if y not in ranges:
            continue
        widened = fold_range(ranges[y][0], ranges[y][1], float(op.attrs["offset"]))
        if widened is not None and _no_coarser(op, ranges, widened):
            plans.append((op, widened))
    while plans:
        nudged = dict(ranges)
        nudged.update({op.outputs[0]: widened for op, widened in plans})
        act = activation_quantization(fgraph, nudged)
        bad = [i for i, (op, _) in enumerate(plans) if _fold_params(op, act[op.outputs[0]]) is None]
        if not bad:
            folds = []
            for op, widened in plans:
                quant = act[op.outputs[0]]
                s_in, z_in = _fold_params(op, quant)  # type: ignore[misc]
                s_y, z_y = quant.scalar()
                folds.append(InputFold(op.name, op.inputs[0], op.outputs[0], float(op.attrs["scale"]),
                                       float(op.attrs["offset"]), widened, (s_in, z_in), (np.float32(s_y), z_y)))
            return folds
        plans = [p for i, p in enumerate(plans) if i not in bad]
    return []


def quantize_graph(fgraph: Graph, ranges: Ranges, fold_inputs: bool = True, int16_ops: frozenset[str] = frozenset(),
                   int16_edges: bool = False) -> Graph:
    """The int8 graph of a float graph (same tensor and op names). ``fold_inputs``: fold a per-tensor affine
    first layer into its input's quantization (:func:`plan_input_folds`; False: keep it as a ``rescale`` op).
    ``int16_ops``: the ops that run in 16x8 (int16 activations, int8 weights, int64 biases), with QUANTIZE ops
    added at the int8/int16 boundaries (named after the tensor they convert: ``x/int16``); ``int16_edges``: the
    graph's inputs and outputs int16 too (the whole-model 16x8 mode)."""
    from tinygen.ops import reshape

    int16: frozenset[str] = frozenset()
    if int16_ops or int16_edges:
        mixed = with_boundaries(fgraph, int16_ops, int16_edges)
        fgraph, int16 = mixed.graph, mixed.int16
        ranges = {**ranges, **{copy: ranges[source] for copy, source in mixed.sources.items()}}
    folds = {f.op: f for f in plan_input_folds(fgraph, ranges)} if fold_inputs and not int16_edges else {}
    if folds:
        ranges = {**ranges, **{f.output: f.output_range for f in folds.values()}}
    act = activation_quantization(fgraph, ranges, int16)
    for f in folds.values():
        act[f.input] = Quantization([f.input_quant[0]], [f.input_quant[1]])

    def dtype(name: str) -> str:
        return "int16" if name in int16 else "int8"

    graph = Graph(fgraph.name, inputs=list(fgraph.inputs), outputs=list(fgraph.outputs))
    for name in fgraph.inputs:
        graph.add_tensor(Tensor(name, fgraph.tensors[name].shape, dtype(name), act[name]))
    for state in fgraph.states:  # a stateful layer's state: its initial value on the grid it shares with its write
        assert state.read is not None
        q, kind = act[state.read], dtype(state.read)
        graph.add_tensor(Tensor(state.read, fgraph.tensors[state.read].shape, kind, q))
        initial = round_half_away(np.asarray(state.initial, np.float64) / float(q.scale[0])) + int(q.zero_point[0])
        graph.states.append(State(state.name, state.read, state.write, np.clip(initial, *INT_RANGES[kind]).astype(kind)))
    for fop in fgraph.ops:
        if fop.name in folds:  # the rescale op folded: a view of the input (alias: no code) on y's grid
            out = fop.outputs[0]
            graph.add_tensor(Tensor(out, fgraph.tensors[out].shape, "int8", act[out]))
            graph.add_op(Op(reshape.KIND, fop.name, [fop.inputs[0]], [out], {}))
            continue
        if recurrent.quantize_op(graph, fgraph, fop, act, ranges):
            continue
        inputs = list(fop.inputs)
        axis = weight_axis(fop.kind)
        if axis is not None:
            _quantize_weighted(graph, fgraph, fop, act[fop.inputs[0]].scale[0], wide=fop.inputs[0] in int16)
        else:
            for name in inputs:
                if fgraph.tensors[name].is_const:
                    raise TinygenError(f"op {fop.name!r} ({fop.kind}): constant input {name!r} is not supported")
        out = fop.outputs[0]
        graph.add_tensor(Tensor(out, fgraph.tensors[out].shape, dtype(out), act[out]))
        graph.add_op(Op(fop.kind, fop.name, inputs, [out], dict(fop.attrs)))
    graph.validate()
    return graph


def _quantize_weighted(graph: Graph, fgraph: Graph, fop: Op, in_scale: np.float32, wide: bool) -> None:
    """Add the int8 per-channel weights and the bias of a weighted op to ``graph``: int32 (the weight scales widened
    where it would overflow), or for a 16x8 op (``wide``) int64, as TFLite's 16x8 converter makes it."""
    _, wname, bname = fop.inputs
    axis = weight_axis(fop.kind)
    assert axis is not None
    w, bias = fgraph.tensors[wname].data, fgraph.tensors[bname].data
    qw, wscale = quantize_weights(w, axis)
    if not wide:
        adjusted = _widen_for_bias(bias, in_scale, wscale, w.size // max(wscale.size, 1))
        if not np.array_equal(adjusted, wscale):
            wscale, qw = adjusted, _quantize_with(w, adjusted, axis)
    qb, bscale = quantize_bias(bias, in_scale, wscale, bits=64 if wide else 32)
    zeros = np.zeros(wscale.size, np.int64)
    graph.add_tensor(Tensor(wname, w.shape, "int8", Quantization(wscale, zeros, axis), data=qw))
    graph.add_tensor(Tensor(bname, bias.shape, f"int{64 if wide else 32}", Quantization(bscale, zeros, 0), data=qb))
