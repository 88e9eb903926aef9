"""The contract between the code generator and the per-op lowerings.

A lowering turns one IR op into one kernel call: which kernel (``tg_<op>[_variant]_s8``, whose
sources are ``templates/kernels/<kernel>.c`` and ``.h``), the C argument expressions, the
``static const`` data the call needs (weights, biases, multipliers, shifts), and the scratch bytes
it needs inside the arena. The code generator owns names, placement and emission; a lowering
only asks the context for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, Union

import numpy as np

from tinygen.ir import Graph


@dataclass(frozen=True)
class KernelCall:
    #: kernel function name; its sources are templates/kernels/<kernel>.{c,h}
    kernel: str
    #: C argument expressions, in order
    args: tuple[str, ...]
    #: other kernel sources this call needs (e.g. a helper shared by variants)
    extra_kernels: tuple[str, ...] = ()
    #: bytes of scratch the kernel needs in the arena while it runs (passed as an arg by the lowering)
    scratch_bytes: int = 0
    #: a one-line C comment describing the call (shapes, params)
    comment: str = ""
    #: the kernel specialisations this call runs (``TG_VARIANT(NAME)`` blocks in the kernel sources): the
    #: library compiles only the specialisations its calls name, which keeps unused copies out of flash.
    #: A kernel with selectable specialisations must be given every one its arguments dispatch to.
    variants: tuple[str, ...] = ()


#: What a const array holds, for the flash accounting (the manifest's ``const_bytes``):
#: WEIGHTS: the model's own constants, reordered (int8 weights, int32 biases with the input offset folded
#: in, constant tensors): what a .tflite file keeps in its buffers;
#: QUANT: requantization constants (multipliers, shifts, rounding terms): what a .tflite file keeps as
#: scales and zero points in its quantization tables;
#: TABLE: lookup tables computed offline from quantization parameters, in place of run-time arithmetic.
WEIGHTS, QUANT, TABLE = "weights", "quant", "table"
CONST_KINDS = (WEIGHTS, QUANT, TABLE)

#: a const array's kind, or its bytes per kind for an array that interleaves several (e.g. biases and
#: requantization constants side by side, so one pointer walks both)
ConstKind = Union[str, Mapping[str, int]]


class LoweringContext(Protocol):
    graph: Graph
    rounding: str

    def tensor_ptr(self, name: str) -> str:
        """C expression of a tensor's data pointer: into the arena for activations, the const
        array for constants (typed: ``(int8_t *)``/``(const int8_t *)``/``(const int32_t *)``)."""

    def const_array(self, hint: str, values: np.ndarray, ctype: str, kind: ConstKind) -> str:
        """Emit ``static const <ctype> NAME_<hint>[] = {...}`` (aligned, deduplicated) and return
        its C symbol. Use it for reordered weights, folded biases, multipliers and shifts; ``kind``
        says which of :data:`CONST_KINDS` it holds."""

    def scratch_ptr(self) -> str:
        """C expression (``int8_t *``) of this op's scratch buffer inside the arena; its size is
        the KernelCall's ``scratch_bytes``."""
