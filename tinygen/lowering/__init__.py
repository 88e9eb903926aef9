"""Kernel-side support for the op lowerings (the lowerings themselves live in the op modules,
:mod:`tinygen.ops`): ``base`` the KernelCall / LoweringContext contract and constant kinds, ``args`` C
argument helpers, ``mac_common`` the bias folding and requantization constants of the MAC kernels,
``mac_ops`` / ``depthwise_ops`` / ``fc_ops`` / ``mve_ops`` the weight layouts and the mirrors of each
kernel's specialisation dispatch, ``window_lag`` the in-place lag of windowed kernels.
"""

from __future__ import annotations

from tinygen.lowering.base import KernelCall, LoweringContext

__all__ = ["KernelCall", "LoweringContext"]
