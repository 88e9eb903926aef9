"""Integer parameters of each op, derived from the IR's float32 scales exactly as TFLite Micro's
kernels compute them in their Prepare functions.

``op_params(graph, op, rounding="double")`` returns the frozen parameter dataclass that the op's module
(:mod:`tinygen.ops`) defines. Both the numpy reference (:mod:`tinygen.reference`) and the C code
generator consume these, so the two can never disagree about a multiplier.

Conventions (TFLite's, and tg_common.h's):

* ``multiplier``/``shift`` pairs come from :func:`tinygen.numerics.quantize_multiplier`: Q0.31
  multiplier in [2^30, 2^31) (or 0), ``shift`` > 0 shifts left, < 0 shifts right, and
  ``requantize(x) = MultiplyByQuantizedMultiplier(x, multiplier, shift)``.
* ``input_offset`` is ``-input_zero_point`` (added to each input value); ``output_offset`` is
  ``+output_zero_point`` (added after requantization); then the result is clamped to
  ``[act_min, act_max]`` (the fused activation's range, CalculateActivationRangeQuantized).
* Per-channel arrays are read-only ``np.int32`` arrays, one entry per output channel.
* The ``rounding`` argument only changes the parameters where TFLite's ``TFLITE_SINGLE_ROUNDING``
  build changes them (QuantizeMultiplier's shift > 30 saturation, softmax's multiplier cap).
"""

from __future__ import annotations

from typing import Any

from tinygen import numerics, ops
from tinygen.errors import UnsupportedError
from tinygen.ir import Graph, Op


def op_params(graph: Graph, op: Op, rounding: numerics.Rounding = "double") -> Any:
    """The integer parameters of ``op`` (its module's dataclass), as TFLite Micro derives them."""
    numerics.check_rounding(rounding)
    defn = ops.get(op.kind)
    if defn.params is None:
        raise UnsupportedError(f"op {op.name!r}: op kind {op.kind!r} has no integer parameters in tinygen")
    return defn.params(graph, op, rounding)
