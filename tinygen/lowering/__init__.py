"""Op lowerings: importing this package registers every lowering into ``LOWERINGS``.

``mac_ops`` holds conv/depthwise/fully connected; ``other_ops`` (written separately) holds the rest.
"""

from __future__ import annotations

import importlib

from tinygen.lowering import mac_ops  # noqa: F401  (registers on import)
from tinygen.lowering.base import LOWERINGS, KernelCall, LoweringContext, register

try:
    importlib.import_module("tinygen.lowering.other_ops")
except ModuleNotFoundError as exc:  # not written yet: only a missing other_ops itself is tolerated
    if exc.name != "tinygen.lowering.other_ops":
        raise

__all__ = ["LOWERINGS", "KernelCall", "LoweringContext", "register"]
