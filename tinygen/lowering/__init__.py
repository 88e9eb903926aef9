"""Op lowerings: importing this package registers every lowering into ``LOWERINGS``.

``mac_ops`` holds conv, ``fc_ops`` fully connected, ``depthwise_ops`` depthwise, ``other_ops`` the rest;
``mac_common`` their shared bias folding and requantization constants.
"""

from __future__ import annotations

from tinygen.lowering import depthwise_ops, fc_ops, mac_ops, other_ops, window_lag  # noqa: F401  (register on import)
from tinygen.lowering.base import LOWERINGS, KernelCall, LoweringContext, register

__all__ = ["LOWERINGS", "KernelCall", "LoweringContext", "register"]
