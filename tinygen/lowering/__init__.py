"""Op lowerings: importing this package registers every lowering into ``LOWERINGS``.

``mac_ops`` holds conv and fully connected, ``depthwise_ops`` depthwise, ``other_ops`` the rest.
"""

from __future__ import annotations

from tinygen.lowering import depthwise_ops, mac_ops, other_ops  # noqa: F401  (register on import)
from tinygen.lowering.base import LOWERINGS, KernelCall, LoweringContext, register

__all__ = ["LOWERINGS", "KernelCall", "LoweringContext", "register"]
