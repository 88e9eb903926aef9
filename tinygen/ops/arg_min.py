"""ARG_MIN: the index (int32) of the smallest int8 value along one axis, ties to the first; see
:mod:`tinygen.ops.arg_min_max` for TFLite Micro's semantics, the checks and the kernel."""

from __future__ import annotations

from tinygen.ops import arg_min_max

KIND = "arg_min"

OP = arg_min_max.op_def(KIND, "ARG_MIN", is_max=False)
