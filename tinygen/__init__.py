"""tinygen: an ahead-of-time int8 TinyML code generator for Cortex-M microcontrollers."""

from __future__ import annotations

__version__ = "0.1.0"

from tinygen.errors import TinygenError  # noqa: E402

__all__ = ["TinygenError", "__version__"]
